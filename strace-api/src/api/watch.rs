//! `PUT /v1/watch/{pid}?children=`, `DELETE /v1/watch/{pid}`, `GET /v1/watch`.
use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;

use super::{
    ApiError,
    blocking::off_the_workers,
    extract::{ApiQuery, NoQuery, PidPath},
};
use crate::tracer::{Tracer, WatchStats, Watched};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Follow the processes it forks (default true).
    children: Option<bool>,
}

/// Starts watching; 201 when new, 200 when it was watched already.
pub async fn start(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    ApiQuery(q): ApiQuery<WatchQuery>,
) -> Result<(StatusCode, Json<WatchStats>), ApiError> {
    let t = tracer.clone();
    let status = match off_the_workers("the watch change", move || t.watch(pid, q.children.unwrap_or(true))).await?? {
        Watched::New => StatusCode::CREATED,
        Watched::Already => StatusCode::OK,
        Watched::Exited => {
            return Err(ApiError::not_found(format!(
                "process {pid} has exited; its history is at /v1/processes/{pid}/events"
            )));
        }
    };
    // The watch was made; a DELETE from another client may have ended it
    // since: that is a conflict, not "not watched".
    let stats = tracer
        .stats(pid)
        .ok_or_else(|| ApiError::conflict(format!("pid {pid} was watched, then unwatched by another request")))?;
    Ok((status, Json(stats)))
}

/// Stops watching and frees the history; answers with the final counters.
pub async fn stop(State(tracer): State<Arc<Tracer>>, PidPath(pid): PidPath) -> Result<Json<WatchStats>, ApiError> {
    Ok(Json(off_the_workers("the watch change", move || tracer.unwatch(pid)).await??))
}

pub async fn list(State(tracer): State<Arc<Tracer>>, ApiQuery(_): ApiQuery<NoQuery>) -> Json<Vec<WatchStats>> {
    Json(tracer.watched())
}
