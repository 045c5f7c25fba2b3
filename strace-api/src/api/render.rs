//! JSON bodies of event pages. A big page (up to 10,000 events, a few ms of
//! decoding and serialising) is built on tokio's blocking pool: on an async
//! worker it would hold up every request queued behind it on that worker.
use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::ApiError;

/// Pages of at most this many events are built where the request runs.
pub const INLINE_MAX: usize = 256;

/// The JSON response of `build()`, a page of `events` events.
pub async fn json<T, F>(events: usize, build: F) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce() -> T + Send + 'static,
{
    if events <= INLINE_MAX {
        return Ok(Json(build()).into_response());
    }
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&build()))
        .await
        .map_err(|e| internal(format!("rendering the page failed: {e}")))?
        .map_err(|e| internal(format!("serialising the page failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn internal(message: String) -> ApiError {
    ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message }
}
