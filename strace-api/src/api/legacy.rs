//! `GET /strace/{pid}/{n}?wait_ms=`: the original strace-api endpoint.
//!
//! Returns the last `n` syscalls of `pid` as `[{"data": "<strace line>"}]`,
//! oldest first; the last of them are the calls its threads are in right now
//! (`read(3, <unfinished ...>`); where calls are missing among them, a line
//! says how many (`--- 12 calls missing here: … ---`, not counted in `n`).
//! If `pid` is not watched yet this starts
//! watching it and waits up to `wait_ms` (default 1000) for `n` events, then
//! returns what it has.
use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::HeaderMap, response::Response};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

use super::{
    ApiError,
    audit::Who,
    auth::Scope,
    blocking::off_the_workers,
    error::ErrorBody,
    extract::{ApiQuery, TwoSegments, Uint, durations, in_range, pid, query_in_range},
    render,
    text::{self, Format},
};
use crate::{recorder::Gap, syscall, tracer::Tracer};

pub const MAX_LINES: u64 = 10_000;
pub const MAX_WAIT_MS: u64 = 30_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LegacyQuery {
    /// How long to wait for `n` events, in ms (0–30000, default 1000).
    #[param(value_type = Option<u64>)]
    wait_ms: Option<Uint>,
    /// Append strace -T's `<seconds>` to each line.
    durations: Option<bool>,
    /// `json` (default) or `text`: one strace line per line, with `[pid N]`
    /// before each when more than one thread made them (also with
    /// `Accept: text/plain`).
    format: Option<Format>,
}

#[derive(Serialize, ToSchema)]
pub struct Line {
    data: String,
}

/// The last `n` syscalls of `pid` as strace lines (the original endpoint).
#[utoipa::path(
    get,
    path = "/strace/{pid}/{n}",
    tag = "legacy",
    params(
        ("pid" = u32, Path, description = "A process's pid; watched from now on if it is not yet"),
        ("n" = u32, Path, description = "How many lines (1–10000)"),
        LegacyQuery,
    ),
    responses(
        (status = 200, description = "The lines, oldest first; the last are the calls in progress",
         content((Vec<Line> = "application/json"), (String = "text/plain"))),
        (status = 400, description = "A malformed pid, n or parameter", body = ErrorBody),
        (status = 404, description = "No such process", body = ErrorBody),
        (status = 409, description = "Another request unwatched it meanwhile", body = ErrorBody),
        (status = 503, description = "The kernel refused the watch (its table is full)", body = ErrorBody),
    )
)]
pub async fn last_lines(
    State(tracer): State<Arc<Tracer>>,
    who: Who,
    TwoSegments(pid_s, n_s): TwoSegments,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LegacyQuery>,
) -> Result<Response, ApiError> {
    let pid = pid(&pid_s)?;
    let n = in_range("n", &n_s, 1..=MAX_LINES)?;
    let wait = query_in_range("wait_ms", q.wait_ms, 1000, 0..=MAX_WAIT_MS)?;
    let durations = durations(q.durations, tracer.durations())?;
    let text = text::wants_text(q.format, &headers);
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
    // And where calls are missing among them (a gap line in its place).
    let (events, gaps): (Vec<_>, Vec<Gap>) = tracer
        .read(pid, |log| {
            let events: Vec<_> = log.last(completed).collect();
            let gaps = match (events.first(), events.last()) {
                (Some((first, _)), Some((last, _))) => log.gaps_in(first - 1, *last),
                _ => vec![],
            };
            (events, gaps)
        })
        .ok_or_else(|| ApiError::conflict(format!("pid {pid} was unwatched by another request meanwhile")))?;
    let count = events.len();
    let lines = move || {
        let mut lines = text::event_lines(&events, &gaps, durations);
        lines.extend(in_flight.iter().map(|call| (call.tid, syscall::unfinished(call))));
        lines
    };
    if text {
        return render::text(count, move || text::lines(&lines())).await;
    }
    render::json(count, move || lines().into_iter().map(|(_, data)| Line { data }).collect::<Vec<_>>()).await
}
