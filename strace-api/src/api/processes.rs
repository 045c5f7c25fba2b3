//! `GET /v1/processes` and `GET /v1/processes/{pid}`: the processes of the
//! daemon's PID namespace as `ps` would list them, with their watch state.
use std::sync::Arc;

use axum::{Json, extract::State};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::{
    ApiError,
    blocking::off_the_workers,
    extract::{ApiQuery, NoQuery, PidPath},
};
use crate::{
    procs::{self, ProcInfo, ThreadInfo},
    tracer::{Tracer, WatchStats},
};

#[derive(Serialize)]
pub struct ProcessView {
    pub pid: u32,
    /// False for an exited process whose history is still kept.
    pub alive: bool,
    #[serde(flatten)]
    pub info: Option<ProcInfo>,
    pub watched: bool,
    /// Counters of its watch, when it is (or was) watched.
    pub watch: Option<WatchStats>,
}

#[derive(Serialize)]
pub struct ProcessDetail {
    #[serde(flatten)]
    pub process: ProcessView,
    /// Its threads (`threads` is their number, as in the list).
    pub tasks: Vec<ThreadInfo>,
    /// Pids of its live children.
    pub children: Vec<u32>,
}

fn view(info: Option<ProcInfo>, watch: Option<WatchStats>, pid: u32) -> ProcessView {
    let alive = info.is_some();
    let watched = watch.as_ref().is_some_and(|w| w.alive);
    ProcessView { pid, alive, info, watched, watch }
}

/// Both endpoints read /proc: a file or more per process, ms for a host's
/// thousands, so they run off the async workers, this many at a time: a
/// client polling them hard must not take the blocking pool that watch
/// changes and exits use. The others wait here, holding no thread.
static PROC_READERS: Semaphore = Semaphore::const_new(4);

pub async fn list(
    State(tracer): State<Arc<Tracer>>,
    ApiQuery(_): ApiQuery<NoQuery>,
) -> Result<Json<Vec<ProcessView>>, ApiError> {
    let _turn = PROC_READERS.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    off_the_workers("listing the processes", move || Json(all(&tracer))).await
}

pub async fn detail(State(tracer): State<Arc<Tracer>>, PidPath(pid): PidPath) -> Result<Json<ProcessDetail>, ApiError> {
    let _turn = PROC_READERS.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    off_the_workers("reading the process", move || one(&tracer, pid)).await?.map(Json)
}

fn all(tracer: &Tracer) -> Vec<ProcessView> {
    let mut watches: std::collections::HashMap<u32, WatchStats> =
        tracer.watched().into_iter().map(|w| (w.pid, w)).collect();
    let me = std::process::id();
    let mut all: Vec<ProcessView> = procs::all()
        .into_iter()
        .filter(|p| p.pid != me)
        .map(|p| {
            let pid = p.pid;
            // A watch of an earlier process with this pid is not this process's.
            let w = watches.remove(&pid).filter(|w| w.alive);
            view(Some(p), w, pid)
        })
        .collect();
    // Exited processes whose history is kept.
    all.extend(watches.into_values().filter(|w| !w.alive).map(|w| view(None, Some(w.clone()), w.pid)));
    all.sort_by_key(|p| p.pid);
    all
}

fn one(tracer: &Tracer, pid: u32) -> Result<ProcessDetail, ApiError> {
    let info = procs::info(pid).filter(|_| pid != std::process::id());
    let watch = tracer.stats(pid).filter(|w| info.is_some() == w.alive);
    if info.is_none() && watch.is_none() {
        if pid == std::process::id() {
            return Err(ApiError::not_found(format!("pid {pid} is strace-api itself, which it does not list")));
        }
        if let procs::Lookup::Thread { tgid } = procs::lookup(pid) {
            return Err(ApiError::not_found(format!("{pid} is a thread of process {tgid}")));
        }
        return Err(ApiError::not_found(format!("no process with pid {pid}")));
    }
    let children = if info.is_some() {
        procs::all().into_iter().filter(|p| p.ppid == pid).map(|p| p.pid).collect()
    } else {
        vec![]
    };
    let tasks = procs::threads(pid);
    Ok(ProcessDetail { process: view(info, watch, pid), tasks, children })
}
