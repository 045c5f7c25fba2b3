//! `GET /v1/processes/{pid}/events?after=SEQ&limit=N&durations=`: a watched
//! process's events, oldest first, newer than the cursor `after`, and the
//! calls its threads are in right now.
use std::sync::Arc;

use axum::{extract::State, response::Response};
use serde::{Deserialize, Serialize};

use super::{
    ApiError,
    extract::{ApiQuery, PidPath, Uint, durations, query_in_range},
    render,
    view::{EventView, InFlightView},
    watch::rfc3339,
};
use crate::{
    clock,
    tracer::{Tracer, WatchError},
};

pub const MAX_LIMIT: u64 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after: Option<Uint>,
    limit: Option<Uint>,
    /// Append strace -T's `<seconds>` to each line.
    durations: Option<bool>,
}

#[derive(Serialize)]
pub struct EventsPage {
    pid: u32,
    /// False once the process has exited (its history stays for a while).
    alive: bool,
    exited_at: Option<String>,
    /// Events lost in the kernel for this process.
    dropped: u64,
    /// Events pushed out of the history (by newer ones or the memory cap).
    evicted: u64,
    /// Newest sequence number; poll again with `after` set to it.
    last_seq: u64,
    events: Vec<EventView>,
    /// Calls in progress now, one per thread that is in one.
    in_flight: Vec<InFlightView>,
}

pub async fn page(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let limit = query_in_range("limit", q.limit, 1000, 1..=MAX_LIMIT)?;
    let after = q.after.map_or(0, |Uint(a)| a);
    let durations = durations(q.durations, tracer.durations())?;
    let stats = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?;
    let _turn = render::turn(limit as usize).await?;
    let clock = *tracer.clock();
    // Copy under the lock (with the cursor, so both are of one moment),
    // render outside it.
    let (last_seq, events): (u64, Vec<_>) = tracer
        .read(pid, |log| (log.stats().last_seq, log.after(after, limit as usize).collect()))
        .ok_or(WatchError::NotWatched(pid))?;
    let now = clock::monotonic_ns() as u64;
    let in_flight = tracer.in_flight(pid);
    render::json(events.len(), move || EventsPage {
        pid,
        alive: stats.alive,
        exited_at: stats.exited_at.map(rfc3339),
        dropped: stats.dropped,
        evicted: stats.evicted,
        last_seq,
        events: events.iter().map(|(seq, ev)| EventView::new(pid, *seq, ev, &clock, durations)).collect(),
        in_flight: in_flight.iter().map(|ev| InFlightView::new(ev, &clock, now)).collect(),
    })
    .await
}
