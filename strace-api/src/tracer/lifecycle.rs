//! Process lifetimes: each watched process's pidfd becomes readable when it
//! exits; exited processes' histories are freed after the retention time.
use std::{collections::HashMap, os::fd::OwnedFd, sync::Arc, time::Duration};

use tokio::{
    io::{Interest, unix::AsyncFd},
    task::AbortHandle,
};

use super::{ExitTracking, Exits, Tracer};

/// Ends the watches of processes that exit and frees exited processes'
/// histories after the retention time; runs until `requests` closes (its
/// sender is the tracer's, see `Tracer::with_exits`).
pub async fn follow_exits(tracer: Arc<Tracer>, mut requests: Exits) {
    let mut waiting: HashMap<u64, AbortHandle> = HashMap::new();
    let retention = tracer.config.retention;
    let mut sweep = tokio::time::interval(Duration::from_secs(1).min(retention.max(Duration::from_millis(100))));
    loop {
        tokio::select! {
            req = requests.recv() => match req {
                Some(ExitTracking::Track { pid, id, pidfd }) => {
                    waiting.retain(|_, h| !h.is_finished());
                    let t = tracer.clone();
                    let task = tokio::spawn(async move {
                        if let Some(pidfd) = pidfd
                            && let Err(e) = wait_exit(pidfd).await
                        {
                            tracing::warn!(pid, "cannot wait for the process to exit: {e}");
                            return;
                        }
                        // Its last records may still be in the ring.
                        t.flush().await;
                        // It waits for a kernel grace period: off the workers.
                        let _ = tokio::task::spawn_blocking(move || {
                            t.exited(pid, id);
                            crate::memory::release_thread();
                        })
                        .await;
                    });
                    waiting.insert(id, task.abort_handle());
                }
                Some(ExitTracking::Cancel { id }) => {
                    if let Some(h) = waiting.remove(&id) {
                        h.abort();
                    }
                }
                None => return,
            },
            _ = sweep.tick() => {
                let freed = tracer.sweep();
                if freed > 0 {
                    tracing::debug!(freed, "freed the history of exited processes");
                }
            }
        }
    }
}

async fn wait_exit(pidfd: OwnedFd) -> std::io::Result<()> {
    // SAFETY: the AsyncFd owns the pidfd for as long as it is registered.
    let fd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    let _ready = fd.readable().await?;
    Ok(())
}
