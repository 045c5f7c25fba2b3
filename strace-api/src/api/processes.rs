//! `GET /v1/processes` and `GET /v1/processes/{pid}`: the processes of the
//! daemon's PID namespace as `ps` would list them, with their watch state.
use std::{collections::HashSet, sync::Arc};

use axum::{
    Json,
    extract::State,
    response::{IntoResponse as _, Response},
};
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use super::{
    ApiError,
    blocking::off_the_workers,
    error::ErrorBody,
    extract::{ApiQuery, NoQuery, Page, PageQuery, PidPath},
    watch::{WatchView, rfc3339},
};
use crate::{
    procs::{self, NotAProcess, ProcInfo, ThreadInfo},
    redact,
    tracer::{Tracer, WatchStats},
};

#[derive(Serialize, ToSchema)]
pub struct ProcessView {
    pid: u32,
    /// False for an exited process whose history is still kept.
    alive: bool,
    #[serde(flatten)]
    info: Option<InfoView>,
    watched: bool,
    /// Why a live process that was to be watched is not: `watch table full`
    /// (the kernel's, `--max-watched`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Counters of its watch, when it is (or was) watched.
    watch: Option<WatchView>,
}

/// What `ps` shows of a live process.
#[derive(Serialize, ToSchema)]
struct InfoView {
    ppid: u32,
    comm: String,
    cmdline: Vec<String>,
    uid: u32,
    user: Option<String>,
    /// `R`, `S`, `D`, `Z`, … as in `ps`.
    state: String,
    /// RFC 3339 wall-clock start time.
    started: String,
    threads: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessDetail {
    #[serde(flatten)]
    process: ProcessView,
    /// Its threads (`threads` is their number, as in the list).
    tasks: Vec<TaskView>,
    /// Pids of its live children.
    children: Vec<u32>,
}

#[derive(Serialize, ToSchema)]
struct TaskView {
    tid: u32,
    comm: String,
    state: String,
}

fn view(tracer: &Tracer, info: Option<ProcInfo>, watch: Option<WatchStats>, pid: u32) -> ProcessView {
    let alive = info.is_some();
    let watched = watch.as_ref().is_some_and(|w| w.alive);
    let reason = if alive && !watched { tracer.not_watched_because(pid) } else { None };
    let info = info.map(|p| InfoView {
        ppid: p.ppid,
        comm: redact::text(&p.comm).into_owned(),
        cmdline: p.cmdline.iter().map(|a| redact::text(a).into_owned()).collect(),
        uid: p.uid,
        user: p.user,
        state: p.state,
        started: rfc3339(p.started),
        threads: p.threads,
    });
    ProcessView { pid, alive, info, watched, reason, watch: watch.map(WatchView::from) }
}

/// Both endpoints read /proc: a file or more per process, ms for a host's
/// thousands, so they run off the async workers, this many at a time: a
/// client polling them hard must not take the blocking pool that watch
/// changes and exits use. The others wait here, holding no thread.
static PROC_READERS: Semaphore = Semaphore::const_new(4);

/// A page of the processes of the daemon's PID namespace, as `ps` lists
/// them, by pid (`after`, `limit`), with a `Link` to the next when full.
#[utoipa::path(
    get,
    path = "/v1/processes",
    tag = "processes",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the processes, and of exited ones whose history is kept; a `Link` header to the next page when full", body = Vec<ProcessView>),
        (status = 400, description = "A malformed `after` or `limit`, or another parameter", body = ErrorBody),
    )
)]
pub async fn list(State(tracer): State<Arc<Tracer>>, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let page = Page::of(q)?;
    let _turn = PROC_READERS.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    let views = off_the_workers("listing the processes", move || listed(&tracer, page)).await?;
    let next = page.next_link("/v1/processes", views.len(), views.last().map(|v| v.pid));
    Ok((next.into_iter().collect::<axum::http::HeaderMap>(), Json(views)).into_response())
}

/// One process, with its threads and children.
#[utoipa::path(
    get,
    path = "/v1/processes/{pid}",
    tag = "processes",
    params(("pid" = u32, Path, description = "A process's pid (in the daemon's PID namespace)")),
    responses(
        (status = 200, description = "The process", body = ProcessDetail),
        (status = 400, description = "A malformed pid, or a query parameter (it takes none)", body = ErrorBody),
        (status = 404, description = "No such process (or a thread, or the daemon itself)", body = ErrorBody),
    )
)]
pub async fn detail(
    State(tracer): State<Arc<Tracer>>,
    PidPath(pid): PidPath,
    _query: ApiQuery<NoQuery>,
) -> Result<Json<ProcessDetail>, ApiError> {
    let _turn = PROC_READERS.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    off_the_workers("reading the process", move || one(&tracer, pid)).await?.map(Json)
}

/// The page: live processes (their watches beside them) and exited ones
/// whose history is kept, merged by pid. Each source gives at most a page.
fn listed(tracer: &Tracer, page: Page) -> Vec<ProcessView> {
    let me = std::process::id();
    let live: Vec<ProcInfo> = procs::page(page.after, page.limit + 1).into_iter().filter(|p| p.pid != me).collect();
    let pids: Vec<u32> = live.iter().map(|p| p.pid).collect();
    let live_watches = tracer.stats_of_pids(&pids);
    let mut all: Vec<ProcessView> = live
        .into_iter()
        .zip(live_watches)
        .map(|(p, w)| {
            let pid = p.pid;
            // A watch of an earlier process with this pid is not this process's.
            view(tracer, Some(p), w.filter(|w| w.alive), pid)
        })
        .collect();
    let live_pids: HashSet<u32> = pids.into_iter().collect();
    // Exited processes whose history is kept (a live process with the same
    // pid is another: it is listed, not them).
    all.extend(
        tracer.watched_page(page.after, page.limit, true).into_iter().filter(|w| !live_pids.contains(&w.pid)).map(
            |w| {
                let pid = w.pid;
                view(tracer, None, Some(w), pid)
            },
        ),
    );
    all.sort_by_key(|p| p.pid);
    all.truncate(page.limit);
    all
}

fn one(tracer: &Tracer, pid: u32) -> Result<ProcessDetail, ApiError> {
    let info = procs::info(pid).filter(|_| pid != std::process::id());
    let watch = tracer.stats(pid).filter(|w| info.is_some() == w.alive);
    if info.is_none() && watch.is_none() {
        // Not a process it lists: say what it is instead.
        let why = procs::process(pid).err().unwrap_or(NotAProcess::Missing(pid));
        return Err(ApiError::not_found(why.to_string()));
    }
    let children = if info.is_some() {
        procs::all().into_iter().filter(|p| p.ppid == pid).map(|p| p.pid).collect()
    } else {
        vec![]
    };
    let tasks = procs::threads(pid)
        .into_iter()
        .map(|ThreadInfo { tid, comm, state }| TaskView { tid, comm: redact::text(&comm).into_owned(), state })
        .collect();
    Ok(ProcessDetail { process: view(tracer, info, watch, pid), tasks, children })
}
