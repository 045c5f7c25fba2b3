//! `GET /v1/processes/{pid}/events?after=SEQ&limit=N&durations=&format=` and
//! the filters: a watched process's events, oldest first, newer than the
//! cursor `after`, and the calls its threads are in right now; or, as text,
//! the events' strace lines.
use std::sync::Arc;

use axum::{extract::State, http::HeaderMap, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError,
    error::ErrorBody,
    extract::{ApiQuery, PidPath, Uint, durations, query_in_range},
    filters::{filter, filter_query},
    render,
    text::{self, Format},
    view::{EventView, GapView, InFlightView},
    watch::rfc3339,
};
use crate::{
    clock,
    tracer::{Tracer, WatchError},
};

pub const MAX_LIMIT: u64 = 10_000;
/// Events a filtered page looks at, at most, for its `limit` matches: a
/// page's cost stays bounded whatever the history's size.
pub const MAX_SCAN: usize = 100_000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a greater sequence number (default 0).
    #[param(value_type = Option<u64>)]
    after: Option<Uint>,
    /// At most this many events (1–10000, default 1000).
    #[param(value_type = Option<u64>)]
    limit: Option<Uint>,
    /// Append strace -T's `<seconds>` to each line.
    durations: Option<bool>,
    /// `json` (default) or `text`: one strace line per line (also with
    /// `Accept: text/plain`).
    format: Option<Format>,
    /// Syscalls by name and strace class, as strace's `-e trace=`:
    /// `openat,connect,%network`; `!` first for all but these.
    syscall: Option<String>,
    /// strace's classes: `%file,%network,%process,%signal,%ipc,%desc,%memory`, …
    class: Option<String>,
    /// `true`: failed calls only (strace -Z); `false`: successful ones only (-z).
    failed: Option<bool>,
    /// Calls that took at least this many microseconds.
    #[param(value_type = Option<u64>)]
    min_duration_us: Option<super::extract::Uint>,
    /// Only these threads: `1234,1235`.
    tid: Option<String>,
}
filter_query!(EventsQuery);

#[derive(Serialize, ToSchema)]
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
    /// Where the next page starts: the last event looked at (with filters,
    /// it may be past the last one returned). Page with `after` set to it.
    next_after: u64,
    events: Vec<EventView>,
    /// Where calls are missing among those this page looked at (after
    /// `after`, up to `next_after`), in order: `after` the event they
    /// follow, `count`, `reason` (`dropped` or `throttled` by the kernel,
    /// or `evicted` before this reader got there). Each gap is in one page: one after
    /// the newest event shows once an event follows it.
    gaps: Vec<GapView>,
    /// Calls in progress now, one per thread that is in one.
    in_flight: Vec<InFlightView>,
}

/// A watched process's events.
#[utoipa::path(
    get,
    path = "/v1/processes/{pid}/events",
    tag = "events",
    params(("pid" = u32, Path, description = "A process's pid (in the daemon's PID namespace)"), EventsQuery),
    responses(
        (status = 200, description = "A page of events (or `text/plain` strace lines)", 
         content((EventsPage = "application/json"), (String = "text/plain"))),
        (status = 400, description = "A malformed pid or parameter: an unknown syscall or class names it", body = ErrorBody),
        (status = 404, description = "The process is not watched", body = ErrorBody),
    )
)]
pub async fn page(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let limit = query_in_range("limit", q.limit, 1000, 1..=MAX_LIMIT)? as usize;
    let after = q.after.map_or(0, |Uint(a)| a);
    let durations = durations(q.durations, tracer.durations())?;
    let filter = filter(&q, tracer.durations())?;
    let text = text::wants_text(q.format, &headers);
    let stats = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?;
    let _turn = render::turn(limit).await?;
    let clock = *tracer.clock();
    // Copy under the lock (with the cursor, so both are of one moment),
    // render outside it.
    let (last_seq, (events, next_after), gaps) = tracer
        .read(pid, |log| {
            let page = if filter.is_everything() {
                let events: Vec<_> = log.after(after, limit).collect();
                let next = events.last().map_or(after, |(seq, _)| *seq);
                (events, next)
            } else {
                log.after_matching(after, limit, MAX_SCAN, |_, ev| filter.matches(ev))
            };
            // The calls missing among those the page looked at.
            let gaps = log.gaps_in(after, page.1);
            (log.stats().last_seq, page, gaps)
        })
        .ok_or(WatchError::NotWatched(pid))?;
    if text {
        return render::text(events.len(), move || text::lines(&text::event_lines(&events, &gaps, durations))).await;
    }
    let now = clock::monotonic_ns() as u64;
    let in_flight = tracer.in_flight(pid);
    render::json(events.len(), move || EventsPage {
        pid,
        alive: stats.alive,
        exited_at: stats.exited_at.map(rfc3339),
        dropped: stats.losses.dropped,
        evicted: stats.evicted,
        last_seq,
        next_after: next_after.max(after),
        events: events.iter().map(|(seq, ev)| EventView::new(pid, *seq, ev, &clock, durations)).collect(),
        gaps: gaps.iter().map(|g| GapView::new(g, &clock)).collect(),
        in_flight: in_flight.iter().map(|ev| InFlightView::new(ev, &clock, now)).collect(),
    })
    .await
}
