//! `PUT /v1/watch/{pid}?children=&syscalls=&fd_paths=`, `DELETE /v1/watch/{pid}`, `GET /v1/watch`,
//! and the JSON shape of a watch.
use std::{sync::Arc, time::SystemTime};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse as _};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError,
    audit::Who,
    blocking::off_the_workers,
    error::ErrorBody,
    extract::{ApiQuery, NoQuery, Page, PageQuery, PidPath},
};
use crate::{
    redact,
    tracer::{Origin, Tracer, WatchFilter, WatchOptions, WatchStats, Watched},
};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Follow the processes it forks (default true).
    children: Option<bool>,
    /// Show fds with their paths, as strace -y (default: the daemon's
    /// `--fd-paths` for a new watch, unchanged for one that exists).
    fd_paths: Option<bool>,
    /// Record only these calls, in the kernel (strace's `-e trace=` list:
    /// names, `%classes`, `!` first for all but these; `all` for every
    /// call). The calls left out cost no copy, record or ring space. On a
    /// watch that exists, it replaces the filter; left out, the filter
    /// stays as it is. Followed children inherit it.
    syscalls: Option<String>,
}

/// A watched process's state and counters.
#[derive(Serialize, ToSchema)]
pub struct WatchView {
    pid: u32,
    alive: bool,
    /// RFC 3339 time the process exited, if it did.
    exited_at: Option<String>,
    /// `requested`, `child` or `auto` (`--watch-all`).
    origin: &'static str,
    parent: Option<u32>,
    children: bool,
    /// Fds are shown with their paths (`strace -y`).
    fd_paths: bool,
    /// Events delivered to userspace.
    seen: u64,
    retained: u64,
    evicted: u64,
    /// Events lost in the kernel: the ring buffer or the thread table was
    /// full, or the process was over its share of either.
    dropped: u64,
    /// Of `dropped`, those throttled: the process had written more than its
    /// share of a nearly full ring buffer (`--fair-ring`).
    throttled: u64,
    /// Of `dropped`, the calls of its threads beyond its share of the thread
    /// table (`--max-threads-per-pid`).
    thread_share: u64,
    last_seq: u64,
    /// Its command name and line as read when the watch began (the name
    /// again at its exit); `null` when they could not be read (a child that
    /// was gone before anyone looked).
    comm: Option<String>,
    cmdline: Option<Vec<String>>,
    /// Its kernel-side filter as asked for (`syscalls=`), `null`: every call.
    syscalls: Option<String>,
}

impl From<WatchStats> for WatchView {
    fn from(w: WatchStats) -> WatchView {
        WatchView {
            pid: w.pid,
            alive: w.alive,
            exited_at: w.exited_at.map(rfc3339),
            origin: match w.origin {
                Origin::Requested => "requested",
                Origin::Child => "child",
                Origin::Auto => "auto",
            },
            parent: w.parent,
            children: w.children,
            fd_paths: w.fd_paths,
            seen: w.seen,
            retained: w.retained,
            evicted: w.evicted,
            dropped: w.losses.dropped,
            throttled: w.losses.throttled,
            thread_share: w.losses.thread_share,
            last_seq: w.last_seq,
            comm: w.comm.map(|c| redact::text(&c).into_owned()),
            cmdline: (!w.cmdline.is_empty()).then(|| w.cmdline.iter().map(|a| redact::text(a).into_owned()).collect()),
            syscalls: w.syscalls,
        }
    }
}

/// A time as the API writes it: RFC 3339, UTC, milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Starts watching; 201 when new, 200 when it was watched already.
#[utoipa::path(
    put,
    path = "/v1/watch/{pid}",
    tag = "watch",
    params(("pid" = u32, Path, description = "A process's pid (in the daemon's PID namespace)"), WatchQuery),
    responses(
        (status = 201, description = "Watched from now on", body = WatchView),
        (status = 200, description = "Watched already (with `children` and `syscalls` as asked now)", body = WatchView),
        (status = 400, description = "A malformed pid or parameter (an unknown syscall or class names it), a kernel thread, or the daemon itself", body = ErrorBody),
        (status = 404, description = "No such process, or it has exited", body = ErrorBody),
        (status = 403, description = "A read-only token: starting a watch needs the operator's", body = ErrorBody),
        (status = 409, description = "Another request unwatched it before this one could answer", body = ErrorBody),
        (status = 503, description = "The kernel refused: its watch or filter table is full", body = ErrorBody),
    )
)]
pub async fn start(
    State(tracer): State<Arc<Tracer>>,
    who: Who,
    PidPath(pid): PidPath,
    ApiQuery(q): ApiQuery<WatchQuery>,
) -> Result<(StatusCode, Json<WatchView>), ApiError> {
    who.must_operate("starting a watch", pid)?;
    let answer = start_watch(tracer, pid, q).await;
    who.log_result("start", pid, &answer);
    answer
}

async fn start_watch(tracer: Arc<Tracer>, pid: u32, q: WatchQuery) -> Result<(StatusCode, Json<WatchView>), ApiError> {
    let filter = match q.syscalls {
        None => None,
        Some(spec) => Some(WatchFilter::parse(&spec).map_err(|e| ApiError::bad_request(format!("syscalls: {e}")))?),
    };
    let t = tracer.clone();
    let children = q.children.unwrap_or(true);
    let options = WatchOptions { filter, fd_paths: q.fd_paths };
    let status = match off_the_workers("the watch change", move || t.watch_with(pid, children, options)).await?? {
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
    Ok((status, Json(stats.into())))
}

/// Stops watching and frees the history; answers with the final counters.
#[utoipa::path(
    delete,
    path = "/v1/watch/{pid}",
    tag = "watch",
    params(("pid" = u32, Path, description = "A watched process's pid")),
    responses(
        (status = 200, description = "No longer watched; its final counters", body = WatchView),
        (status = 400, description = "A malformed pid, or a query parameter (it takes none)", body = ErrorBody),
        (status = 403, description = "A read-only token: stopping a watch needs the operator's", body = ErrorBody),
        (status = 404, description = "Not watched", body = ErrorBody),
        (status = 503, description = "The kernel refused", body = ErrorBody),
    )
)]
pub async fn stop(
    State(tracer): State<Arc<Tracer>>,
    who: Who,
    PidPath(pid): PidPath,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<WatchView>, ApiError> {
    who.must_operate("stopping a watch", pid)?;
    let answer =
        async { Ok(Json(off_the_workers("the watch change", move || tracer.unwatch(pid)).await??.into())) }.await;
    who.log_result("stop", pid, &answer);
    answer
}

/// A page of the watched processes (and exited ones whose history is kept),
/// by pid (`after`, `limit`), with a `Link` to the next when full.
#[utoipa::path(
    get,
    path = "/v1/watch",
    tag = "watch",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the watches, by pid; a `Link` header to the next page when full", body = Vec<WatchView>),
        (status = 400, description = "A malformed `after` or `limit`, or another parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(tracer): State<Arc<Tracer>>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<axum::response::Response, ApiError> {
    let page = Page::of(q)?;
    let _turn = super::render::turn(page.limit).await?;
    let watches = tracer.watched_page(page.after, page.limit, false);
    let next = page.next_link("/v1/watch", watches.len(), watches.last().map(|w| w.pid));
    let views: Vec<WatchView> = watches.into_iter().map(WatchView::from).collect();
    Ok((next.into_iter().collect::<axum::http::HeaderMap>(), Json(views)).into_response())
}
