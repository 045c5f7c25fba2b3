//! `GET /v1/processes/{pid}/events?after=SEQ&limit=N`: a watched process's
//! events, oldest first, newer than the cursor `after`.
use std::sync::Arc;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use super::{
    ApiError,
    extract::{ApiQuery, PidPath, query_in_range},
    view::EventView,
};
use crate::tracer::{Tracer, WatchError};

pub const MAX_LIMIT: u64 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after: Option<u64>,
    limit: Option<u64>,
}

#[derive(Serialize)]
pub struct EventsPage {
    pid: u32,
    /// Events lost in the kernel for this process.
    dropped: u64,
    /// Events pushed out of the history (by newer ones or the memory cap).
    evicted: u64,
    /// Newest sequence number; poll again with `after` set to it.
    last_seq: u64,
    events: Vec<EventView>,
}

pub async fn page(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    let limit = query_in_range("limit", q.limit, 1000, 1..=MAX_LIMIT)?;
    let after = q.after.unwrap_or(0);
    let stats = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?;
    let clock = tracer.clock;
    // Copy under the lock, render outside it.
    let events: Vec<_> = tracer
        .read(pid, |log| log.after(after, limit as usize).map(|(seq, ev)| (seq, *ev)).collect())
        .ok_or(WatchError::NotWatched(pid))?;
    let events = events.iter().map(|(seq, ev)| EventView::new(pid, *seq, ev, &clock)).collect();
    Ok(Json(EventsPage { pid, dropped: stats.dropped, evicted: stats.evicted, last_seq: stats.last_seq, events }))
}
