//! Moves records from the kernel ring buffer into the tracer, woken by the
//! ring buffer's epoll readiness.
use std::sync::Arc;

use aya::maps::{MapData, RingBuf};
use tokio::io::{Interest, unix::AsyncFd};

use crate::tracer::Tracer;

/// Records handed to the tracer per lock, so readers are not starved while a
/// full ring drains.
const BATCH: usize = 1024;

pub async fn run(ring: RingBuf<MapData>, tracer: Arc<Tracer>) -> std::io::Result<()> {
    // SAFETY: the RingBuf owns its fd and keeps it open for as long as the AsyncFd lives.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    loop {
        let mut guard = fd.readable_mut().await?;
        drain_all(guard.get_inner_mut(), &tracer);
        guard.clear_ready();
        // A record may have landed between the last read and clear_ready.
        drain_all(fd.get_mut(), &tracer);
    }
}

/// Drains what is in the ring now.
pub fn drain_all(ring: &mut RingBuf<MapData>, tracer: &Tracer) {
    loop {
        let mut taken = 0;
        let mut batch = tracer.ingest();
        while taken < BATCH {
            let Some(item) = ring.next() else { break };
            batch.record(&item);
            taken += 1;
        }
        drop(batch);
        if taken < BATCH {
            return;
        }
    }
}

/// Forwards the kernel program's aya-log records to the daemon's log.
pub async fn run_log(logger: aya_log::EbpfLogger<&'static dyn log::Log>) -> std::io::Result<()> {
    // SAFETY: the logger owns its map fd for as long as the AsyncFd lives.
    let mut fd =
        unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    loop {
        let mut guard = fd.readable_mut().await?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}
