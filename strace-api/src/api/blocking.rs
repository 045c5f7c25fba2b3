//! Work that can block runs on tokio's blocking pool: a watch change waits
//! for a kernel grace period (a few ms, more when the host stops a vCPU),
//! and a big page takes ms to build. On an async worker it would hold up
//! every request queued behind it on that worker. The blocking threads give
//! back what they freed after each job (see `memory`).
use super::ApiError;

/// Runs `f` on the blocking pool; `what` names it in the error if it panics.
pub async fn off_the_workers<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let run = move || {
        let out = f();
        // What it built is on its way out; what it freed goes back now.
        crate::memory::release_thread();
        out
    };
    tokio::task::spawn_blocking(run).await.map_err(|e| ApiError::internal(format!("{what} failed: {e}")))
}
