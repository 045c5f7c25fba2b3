//! `PUT /v1/watch/{pid}?children=`, `DELETE /v1/watch/{pid}`, `GET /v1/watch`,
//! and the JSON shape of a watch.
use std::{sync::Arc, time::SystemTime};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse as _};
use serde::{Deserialize, Serialize};

use super::{
    ApiError,
    audit::Who,
    blocking::off_the_workers,
    extract::{ApiQuery, NoQuery, Page, PageQuery, PidPath},
};
use crate::{
    redact,
    tracer::{Origin, Tracer, WatchStats, Watched},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Follow the processes it forks (default true).
    children: Option<bool>,
}

/// A watched process's state and counters.
#[derive(Serialize)]
pub struct WatchView {
    pid: u32,
    alive: bool,
    /// RFC 3339 time the process exited, if it did.
    exited_at: Option<String>,
    /// `requested`, `child` or `auto` (`--watch-all`).
    origin: &'static str,
    parent: Option<u32>,
    children: bool,
    /// Events delivered to userspace.
    seen: u64,
    retained: u64,
    evicted: u64,
    /// Events lost in the kernel (ring buffer or thread table full).
    dropped: u64,
    last_seq: u64,
    /// Its command name and line as read when the watch began (the name
    /// again at its exit); `null` when they could not be read (a child that
    /// was gone before anyone looked).
    comm: Option<String>,
    cmdline: Option<Vec<String>>,
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
            seen: w.seen,
            retained: w.retained,
            evicted: w.evicted,
            dropped: w.dropped,
            last_seq: w.last_seq,
            comm: w.comm.map(|c| redact::text(&c).into_owned()),
            cmdline: (!w.cmdline.is_empty()).then(|| w.cmdline.iter().map(|a| redact::text(a).into_owned()).collect()),
        }
    }
}

/// A time as the API writes it: RFC 3339, UTC, milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Starts watching; 201 when new, 200 when it was watched already.
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
    Ok((status, Json(stats.into())))
}

/// Stops watching and frees the history; answers with the final counters.
pub async fn stop(
    State(tracer): State<Arc<Tracer>>,
    who: Who,
    PidPath(pid): PidPath,
    ApiQuery(_): ApiQuery<NoQuery>,
) -> Result<Json<WatchView>, ApiError> {
    who.must_operate("stopping a watch", pid)?;
    let answer =
        async { Ok(Json(off_the_workers("the watch change", move || tracer.unwatch(pid)).await??.into())) }.await;
    who.log_result("stop", pid, &answer);
    answer
}

/// A page of the watches, by pid (`after`, `limit`), with a `Link` to the
/// next when full.
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
