//! Work that can block runs on tokio's blocking pool: a watch change waits
//! for a kernel grace period (a few ms, more when the host stops a vCPU),
//! and a big page takes ms to build. On an async worker it would hold up
//! every request queued behind it on that worker.
use super::ApiError;

/// Runs `f` on the blocking pool; `what` names it in the error if it panics.
pub async fn off_the_workers<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("{what} failed: {e}")))
}
