//! `PUT /v1/watch/{pid}`, `DELETE /v1/watch/{pid}`, `GET /v1/watch`.
use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};

use super::{ApiError, extract::PidPath};
use crate::tracer::{Tracer, WatchError, WatchStats};

/// Starts watching; 201 when new, 200 when it was watched already.
pub async fn start(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
) -> Result<(StatusCode, Json<WatchStats>), ApiError> {
    let new = tracer.watch(pid)?;
    let stats = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?;
    Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(stats)))
}

/// Stops watching and frees the history; answers with the final counters.
pub async fn stop(State(tracer): State<Arc<Tracer>>, PidPath(pid): PidPath) -> Result<Json<WatchStats>, ApiError> {
    Ok(Json(tracer.unwatch(pid)?))
}

pub async fn list(State(tracer): State<Arc<Tracer>>) -> Json<Vec<WatchStats>> {
    Json(tracer.watched())
}
