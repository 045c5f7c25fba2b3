//! `GET /strace/{pid}/{n}?wait_ms=`: the original strace-api endpoint.
//!
//! Returns the last `n` syscalls of `pid` as `[{"data": "<strace line>"}]`,
//! oldest first; the last of them are the calls its threads are in right now
//! (`read(3, <unfinished ...>`). If `pid` is not watched yet this starts
//! watching it and waits up to `wait_ms` (default 1000) for `n` events, then
//! returns what it has.
use std::{sync::Arc, time::Duration};

use axum::{extract::State, response::Response};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{
    ApiError,
    audit::Who,
    auth::Scope,
    blocking::off_the_workers,
    extract::{ApiQuery, TwoSegments, Uint, durations, in_range, pid, query_in_range},
    render,
};
use crate::{syscall, tracer::Tracer};

pub const MAX_LINES: u64 = 10_000;
pub const MAX_WAIT_MS: u64 = 30_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyQuery {
    wait_ms: Option<Uint>,
    /// Append strace -T's `<seconds>` to each line.
    durations: Option<bool>,
}

#[derive(Serialize)]
pub struct Line {
    data: String,
}

pub async fn last_lines(
    State(tracer): State<Arc<Tracer>>,
    who: Who,
    TwoSegments(pid_s, n_s): TwoSegments,
    ApiQuery(q): ApiQuery<LegacyQuery>,
) -> Result<Response, ApiError> {
    let pid = pid(&pid_s)?;
    let n = in_range("n", &n_s, 1..=MAX_LINES)?;
    let wait = query_in_range("wait_ms", q.wait_ms, 1000, 0..=MAX_WAIT_MS)?;
    let durations = durations(q.durations, tracer.durations())?;
    // Starts watching (following children), or finds the history of a process
    // that has exited. Starting, or turning following on, waits for a
    // kernel grace period: off the workers.
    // A read-only token gets the lines of a process watched (or kept)
    // already; starting a watch, or following its children, is the operator's.
    let read_only = who.caller.scope == Scope::Read;
    if !tracer.watching(pid, true) && !(read_only && tracer.stats(pid).is_some()) {
        who.must_operate("starting a watch", pid)?;
        let t = tracer.clone();
        let answer = async { Ok(off_the_workers("the watch change", move || t.watch(pid, true)).await??) }.await;
        who.log_result("start (legacy)", pid, &answer);
        answer?;
    }
    tracer.wait_for(pid, n, Instant::now() + Duration::from_millis(wait)).await;
    let _turn = render::turn(n as usize).await?;
    // The last lines are the calls in progress, as strace shows a call that
    // has not returned; completed calls fill the rest of the n.
    let mut in_flight = tracer.in_flight(pid);
    in_flight.truncate(n as usize);
    let completed = n as usize - in_flight.len();
    // Copy under the lock, render outside it.
    let events: Vec<_> = tracer
        .read(pid, |log| log.last(completed).map(|(_, ev)| ev).collect())
        .ok_or_else(|| ApiError::conflict(format!("pid {pid} was unwatched by another request meanwhile")))?;
    render::json(events.len(), move || {
        let mut lines: Vec<Line> = events.iter().map(|ev| Line { data: syscall::line(ev, durations) }).collect();
        lines.extend(in_flight.iter().map(|call| Line { data: syscall::unfinished(call) }));
        lines
    })
    .await
}
