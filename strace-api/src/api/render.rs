//! JSON (and text) bodies of event pages. A big page (up to 10,000 events,
//! a few ms of decoding and serialising) is built on tokio's blocking pool,
//! a few at a time: each holds a copy of its events and its body (~5 MB at
//! 10,000), and 200 built at once took the daemon's memory to half a gigabyte.
use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{ApiError, blocking::off_the_workers};

/// Big pages being read and built at once, at most; the others wait their
/// turn, holding nothing.
static BIG_PAGES: Semaphore = Semaphore::const_new(2);

/// A turn to read and build a page of up to `events` events: taken before
/// the events are copied out of the history. Small pages need none.
pub async fn turn(events: usize) -> Result<Option<SemaphorePermit<'static>>, ApiError> {
    if events <= INLINE_MAX {
        return Ok(None);
    }
    BIG_PAGES.acquire().await.map(Some).map_err(|e| ApiError::internal(e.to_string()))
}

/// Pages of at most this many events are built where the request runs.
pub const INLINE_MAX: usize = 256;

/// Room reserved per event: an openat event with its path takes ~450 bytes
/// of JSON, a getppid one ~200. Growing the body by doubling from nothing
/// copied it over and over.
const BYTES_PER_EVENT: usize = 512;

/// The JSON response of `build()`, a page of `events` events.
pub async fn json<T, F>(events: usize, build: F) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce() -> T + Send + 'static,
{
    let render = move || {
        let mut body = Vec::with_capacity(256 + events * BYTES_PER_EVENT);
        serde_json::to_writer(&mut body, &build()).map(|()| body)
    };
    let body = if events <= INLINE_MAX { render() } else { off_the_workers("rendering the page", render).await? };
    let body = body.map_err(|e| ApiError::internal(format!("serialising the page failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The text response of `build()`, `events` lines (see `text::lines`),
/// built where `json` would build its page.
pub async fn text<F>(events: usize, build: F) -> Result<Response, ApiError>
where
    F: FnOnce() -> String + Send + 'static,
{
    let body = if events <= INLINE_MAX { build() } else { off_the_workers("rendering the page", build).await? };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}
