//! `GET /v1/processes/{pid}/summary?since=&format=&latency=` and the
//! filters: strace -c's table over the process's retained history (or the
//! part of it since `since`), with latency percentiles; as text, the table
//! as `strace -c -w` prints it.
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::{extract::State, http::HeaderMap, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError,
    blocking::off_the_workers,
    error::ErrorBody,
    extract::{ApiQuery, PidPath},
    filters::{filter, filter_query},
    render,
    text::{self, Format},
    watch::rfc3339,
};
use crate::{
    summary::{Latency, Row, Summary, Tally},
    tracer::{Tracer, WatchError},
};

/// Events read per hold of the history's lock: the drain waits no longer
/// than that takes.
const SLICE: usize = 8192;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Only calls that entered at or after this time: RFC 3339
    /// (`2026-11-26T09:00:00Z`) or a duration ago (`30s`, `5m`, `1h`).
    since: Option<String>,
    /// `json` (default) or `text`: the table as `strace -c -w` prints it
    /// (also with `Accept: text/plain`).
    format: Option<Format>,
    /// With `format=text`: a second table after it, the latency percentiles.
    latency: Option<bool>,
    /// Syscalls by name and strace class, as strace's `-e trace=`.
    syscall: Option<String>,
    /// strace's classes: `%file,%network`, …
    class: Option<String>,
    /// `true`: failed calls only (strace -c -Z); `false`: successful ones only.
    failed: Option<bool>,
    /// Calls that took at least this many microseconds.
    #[param(value_type = Option<u64>)]
    min_duration_us: Option<super::extract::Uint>,
    /// Only these threads: `1234,1235`.
    tid: Option<String>,
}
filter_query!(SummaryQuery);

/// Latency of a syscall's timed calls, in ns.
#[derive(Serialize, ToSchema)]
pub struct LatencyView {
    avg: u64,
    p50: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RowView {
    syscall: String,
    /// -1 for the total.
    nr: i32,
    calls: u64,
    /// Calls that returned an error.
    errors: u64,
    /// Their durations added up (calls that did not return, or were not
    /// timed, add nothing).
    time_ns: u64,
    /// Share of the table's time, as strace's `% time`.
    percent_time: f64,
    /// strace's `usecs/call`: time over calls.
    usecs_per_call: u64,
    /// Calls with a duration, of which `latency_ns` is.
    timed: u64,
    latency_ns: Option<LatencyView>,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    pid: u32,
    alive: bool,
    /// The `since` asked for, as a time.
    since: Option<String>,
    /// The events summarised are those with `first_seq <= seq <= last_seq`
    /// that the filters let through (and entered at or after `since`), but
    /// `missed`: evicted while being read.
    first_seq: u64,
    last_seq: u64,
    missed: u64,
    /// Whether calls are timed (`--durations`): without, times are 0.
    durations: bool,
    /// Most time first, as strace sorts.
    syscalls: Vec<RowView>,
    total: RowView,
}

/// strace -c's table of a process.
#[utoipa::path(
    get,
    path = "/v1/processes/{pid}/summary",
    tag = "events",
    params(("pid" = u32, Path, description = "A watched (or exited, still kept) process's pid"), SummaryQuery),
    responses(
        (status = 200, description = "The table (or, as `text/plain`, strace -c -w's)", 
         content((SummaryView = "application/json"), (String = "text/plain"))),
        (status = 400, description = "A malformed pid, time or parameter: an unknown syscall or class names it", body = ErrorBody),
        (status = 404, description = "The process is not watched", body = ErrorBody),
    )
)]
pub async fn summary(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Response, ApiError> {
    let filter = filter(&q, tracer.durations())?;
    let since = q.since.as_deref().map(since).transpose()?;
    let text = text::wants_text(q.format, &headers);
    if q.latency.is_some() && !text {
        return Err(ApiError::bad_request("latency is for format=text: the JSON always has latency_ns"));
    }
    let stats = tracer.stats(pid).ok_or(WatchError::NotWatched(pid))?;
    let from_ns = since.map(|t| tracer.clock().monotonic(t));
    let t = tracer.clone();
    // Up to a million events' durations: off the workers.
    let (table, first_seq, last_seq, missed) = off_the_workers("summarising", move || {
        let mut tally = Tally::default();
        let last_seq = t.read(pid, |log| log.stats().last_seq)?;
        let (mut cursor, mut first_seq, mut missed) = (0, None, 0);
        while cursor < last_seq {
            let (first, seen) = t.read(pid, |log| {
                let first = log.stats().last_seq + 1 - log.len() as u64;
                let (_, seen) = log.after_matching(cursor, SLICE, SLICE, |seq, ev| {
                    if seq <= last_seq && ev_in(ev, from_ns, &filter) {
                        tally.add(ev);
                    }
                    false
                });
                (first, seen)
            })?;
            let first = first.max(1);
            if first_seq.is_none() {
                first_seq = Some(first);
            } else if first > cursor + 1 {
                missed += first - cursor - 1;
            }
            if seen == cursor {
                break; // nothing more to read
            }
            cursor = seen.min(last_seq);
            if seen >= last_seq {
                break;
            }
        }
        Some((tally.finish(), first_seq.unwrap_or(last_seq + 1), cursor, missed))
    })
    .await?
    .ok_or(WatchError::NotWatched(pid))?;
    if text {
        let mut out = table.text();
        if q.latency == Some(true) {
            out.push('\n');
            out.push_str(&table.latency_text());
        }
        return render::text(0, move || out).await;
    }
    let durations = tracer.durations();
    render::json(0, move || SummaryView {
        pid,
        alive: stats.alive,
        since: since.map(rfc3339),
        first_seq,
        last_seq,
        missed,
        durations,
        syscalls: table.rows.iter().map(|r| row(r, &table)).collect(),
        total: row(&table.total, &table),
    })
    .await
}

fn ev_in(ev: &crate::recorder::Event, from_ns: Option<u64>, filter: &crate::filter::Filter) -> bool {
    from_ns.is_none_or(|t| ev.time_ns() >= t) && filter.matches(ev)
}

fn row(r: &Row, table: &Summary) -> RowView {
    RowView {
        syscall: r.name.to_string(),
        nr: r.nr,
        calls: r.calls,
        errors: r.errors,
        time_ns: r.time_ns,
        percent_time: (r.percent(table.total.time_ns) * 100.0).round() / 100.0,
        usecs_per_call: r.usecs_per_call(),
        timed: r.timed,
        latency_ns: r.latency.map(|Latency { avg, p50, p95, p99, max }| LatencyView { avg, p50, p95, p99, max }),
    }
}

/// `since`: an RFC 3339 time, or a duration before now.
fn since(s: &str) -> Result<SystemTime, ApiError> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) if d <= Duration::from_secs(10 * 365 * 86_400) => Ok(SystemTime::now() - d),
        _ => Err(ApiError::bad_request(format!(
            "since must be an RFC 3339 time (2026-11-26T09:00:00Z) or a duration ago (30s, 5m), not {:?}",
            s.chars().take(40).collect::<String>()
        ))),
    }
}
