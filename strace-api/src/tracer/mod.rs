//! The daemon's hub: which processes are watched, in the kernel and in the
//! recorder, kept consistent; records coming in from the drain (`ingest`);
//! readers waiting for events; processes exiting (`lifecycle`).
//!
//! Seams: the tracer drives the kernel through `kernel::Kernel` (never the
//! probe itself), stores into `recorder`, pairs captures with `capture`; the
//! drain calls `Tracer::ingest`, the API calls the rest. It knows neither.
mod ingest;
mod lifecycle;
mod refused;
mod scrape;
mod watches;

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

pub use ingest::Ingest;
pub use lifecycle::follow_exits;
pub use scrape::{ProcessCounts, Scrape, series_of};
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};
pub use watches::{Origin, WatchFilter};
use watches::{Start, Watch, Watches};

use crate::{
    capture,
    clock::Clock,
    export::{ExportTotals, Outlet},
    kernel::{
        CallInProgress, Kernel, KernelCounters, KernelError, KernelReads, KernelThreads, Losses, ProgramStats,
        RingTotals, RingUse,
    },
    procs::{self, NotAProcess},
    recorder::{Cursor, Entry, Limits, LogStats, ProcessLog, Recorder},
};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    NotAProcess(#[from] NotAProcess),
    #[error("pid {0} is not watched")]
    NotWatched(u32),
    #[error("the kernel refused: {0}")]
    Kernel(#[from] KernelError),
}

/// A watch someone asked for (or a child it followed), as a restarted
/// daemon takes it up again: the process is the same when its pid and start
/// time are.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AskedFor {
    pub pid: u32,
    pub start_ticks: u64,
    pub children: bool,
    /// Its kernel-side filter as given (`%file,connect`), if it has one.
    #[serde(default)]
    pub syscalls: Option<String>,
    /// Whether its fds show their paths.
    #[serde(default)]
    pub fd_paths: bool,
}

/// What `Tracer::watch` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    New,
    Already,
    /// The process is gone; its history is still readable.
    Exited,
}

/// How `Tracer::watch_with` sets a watch up; left out (`None`), a new
/// watch gets the daemon's defaults and one that exists stays as it is.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// The kernel-side filter: `Some(None)` for none (every call recorded).
    pub filter: Option<Option<WatchFilter>>,
    /// Whether fds show their paths, as strace -y (`--fd-paths`).
    pub fd_paths: Option<bool>,
}

/// How the tracer keeps what it records.
#[derive(Clone, Debug)]
pub struct TracerConfig {
    pub limits: Limits,
    /// Converts the kernel's timestamps to wall-clock time.
    pub clock: Clock,
    /// How long an exited process's history is kept.
    pub retention: Duration,
    /// The kernel times calls (`--durations`, on unless turned off).
    pub durations: bool,
    /// The kernel ring buffer's size, for /healthz.
    pub ring_bytes: u64,
    /// Watches show fds' paths unless asked otherwise (`--fd-paths`).
    pub fd_paths: bool,
    /// Exited processes whose histories are kept at most (the oldest go
    /// first, before their retention time is up).
    pub max_exited: usize,
    /// The filter the kernel gives the processes it watches by itself
    /// (`--watch-all-syscalls`; `None`: every call).
    pub watch_all_filter: Option<WatchFilter>,
}

/// A watched process's state and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchStats {
    pub pid: u32,
    pub alive: bool,
    /// When the process exited, if it did.
    pub exited_at: Option<SystemTime>,
    pub origin: Origin,
    pub parent: Option<u32>,
    pub children: bool,
    /// Its fds are shown with their paths.
    pub fd_paths: bool,
    /// Events delivered to userspace.
    pub seen: u64,
    pub retained: u64,
    pub evicted: u64,
    /// Events lost in the kernel, and why.
    pub losses: Losses,
    pub last_seq: u64,
    /// Its command name and line, as last read: at the watch's start (the
    /// name again at its exit), so an exited process can still be told.
    pub comm: Option<String>,
    pub cmdline: Vec<String>,
    /// The kernel-side filter, as asked for (`None`: every call recorded).
    pub syscalls: Option<String>,
}

/// Totals for /healthz.
#[derive(Clone, Debug)]
pub struct Totals {
    /// Processes watched and alive.
    pub watched: usize,
    /// Exited processes whose history is still kept.
    pub exited: usize,
    pub memory_bytes: usize,
    /// Events that arrived for a process no longer watched.
    pub late: u64,
    /// Ring-buffer records that could not be decoded.
    pub malformed: u64,
    /// Captures that found no syscall record to go with.
    pub capture_unpaired: u64,
    /// Fds shown without a path because their process's fd table was full.
    pub fd_table_full: u64,
    pub kernel: KernelCounters,
    pub ring: RingTotals,
    /// Whether the syscall hooks are attached (they are not while nothing is watched).
    pub hooks_attached: bool,
    pub programs: Vec<ProgramStats>,
    /// The event export's state, when it is on.
    pub export: Option<ExportTotals>,
}

/// A process to watch for its exit (consumed by `lifecycle`); no pidfd when
/// it is gone already.
#[derive(Debug)]
pub enum ExitTracking {
    Track { pid: u32, id: u64, pidfd: Option<OwnedFd> },
    Cancel { id: u64 },
}

/// What `lifecycle` receives: the processes whose exits to follow.
pub type Exits = mpsc::UnboundedReceiver<ExitTracking>;

/// Threads of one process whose call in progress is read from /proc in one
/// request, at most: a file each, ~6 µs, read on the async worker serving
/// the request (on the blocking pool every page paid 10-20% more).
const MAX_PROC_THREADS: usize = 64;

struct Inner {
    watches: Watches,
    recorder: Recorder,
    /// Captures waiting for their syscall record, by thread.
    pending: capture::Pending,
    /// The fd tables of the watches that show fds' paths.
    fds: capture::FdTables,
}

impl Inner {
    /// Starts watching `pid` in the books: a new watch gets a history (an
    /// exited process's history with the same pid is replaced).
    fn start(
        &mut self,
        pid: u32,
        start_ticks: Option<u64>,
        origin: Origin,
        follow: bool,
        parent: Option<u32>,
    ) -> Start {
        let start = self.watches.start(pid, start_ticks, origin, follow, parent);
        if let Start::New { replaced, .. } = start {
            if replaced {
                self.recorder.replace(pid);
            } else {
                self.recorder.open(pid);
            }
        }
        start
    }
}

pub struct Tracer {
    // Lock order: kernel, then inner.
    kernel: Mutex<Box<dyn Kernel>>,
    /// The kernel's read side: taken without the kernel lock, under the
    /// history lock where a count must agree with the watches (a watch's
    /// final loss count is kept in `inner` as its kernel entry goes).
    reads: Arc<dyn KernelReads>,
    inner: Mutex<Inner>,
    malformed: AtomicU64,
    arrivals: Notify,
    /// The daemon is shutting down: requests waiting for events answer now.
    closing: AtomicBool,
    /// Asks the drain for a pass now; it counts finished passes in `drained`.
    drain_now: Notify,
    drained: tokio::sync::watch::Sender<u64>,
    exits: Option<mpsc::UnboundedSender<ExitTracking>>,
    config: TracerConfig,
    /// How full the kernel ring buffer got (the drain notes it).
    ring: RingUse,
    /// How long records waited to be stored (the drain notes it).
    lag: scrape::DrainLag,
    /// Where selected events are exported, when they are.
    outlet: Option<Outlet>,
    /// Processes the kernel was to watch and could not (its watch table was
    /// full): listed as not watched, with the reason. The newest
    /// `MAX_REFUSED`; a watch of the pid takes it off.
    refused: std::sync::Mutex<refused::Refused>,
}

/// Refused processes remembered at most.
const MAX_REFUSED: usize = 65536;

impl Tracer {
    /// The kernel could not watch process `pid` (its watch table was full).
    pub(crate) fn note_refused(&self, pid: u32) {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).note(pid);
    }

    /// Why the kernel does not watch `pid`, if it was to and could not.
    pub fn not_watched_because(&self, pid: u32) -> Option<&'static str> {
        let r = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        r.contains(pid).then_some("watch table full")
    }

    fn forget_refused(&self, pid: u32) {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).forget(pid);
    }

    /// A tracer whose watches end only when unwatched (tests, benchmarks).
    pub fn new(kernel: Box<dyn Kernel>, config: TracerConfig) -> Tracer {
        Tracer::build(kernel, config, None)
    }

    /// A tracer whose watches end when their process exits, and whose exited
    /// processes' histories are freed after the retention time: run
    /// `follow_exits` with what this returns.
    pub fn with_exits(kernel: Box<dyn Kernel>, config: TracerConfig) -> (Tracer, Exits) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Tracer::build(kernel, config, Some(tx)), rx)
    }

    fn build(
        kernel: Box<dyn Kernel>,
        config: TracerConfig,
        exits: Option<mpsc::UnboundedSender<ExitTracking>>,
    ) -> Tracer {
        let ring = RingUse::default();
        ring.set_size(config.ring_bytes);
        Tracer {
            reads: kernel.reads(),
            kernel: Mutex::new(kernel),
            inner: Mutex::new(Inner {
                watches: Watches::default(),
                recorder: Recorder::new(config.limits),
                pending: capture::Pending::default(),
                fds: capture::FdTables::default(),
            }),
            malformed: AtomicU64::new(0),
            refused: std::sync::Mutex::new(refused::Refused::new(MAX_REFUSED)),
            arrivals: Notify::new(),
            closing: AtomicBool::new(false),
            drain_now: Notify::new(),
            drained: tokio::sync::watch::Sender::new(0),
            exits,
            config,
            ring,
            lag: scrape::DrainLag::default(),
            outlet: None,
        }
    }

    /// Offers the events `outlet` selects to the export, as they are stored.
    pub fn with_outlet(mut self, outlet: Outlet) -> Tracer {
        self.outlet = Some(outlet);
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.config.clock
    }

    /// Whether the kernel times calls (`--durations`).
    pub fn durations(&self) -> bool {
        self.config.durations
    }

    /// How full the kernel ring buffer got: the drain notes it here.
    pub fn ring(&self) -> &RingUse {
        &self.ring
    }

    /// For the drain: wakes when someone wants a pass now (see `flush`).
    pub async fn pass_wanted(&self) {
        self.drain_now.notified().await
    }

    /// For the drain: a pass over the ring has ended.
    pub fn pass_done(&self) {
        self.drained.send_modify(|passes| *passes += 1);
    }

    fn kernel(&self) -> MutexGuard<'_, Box<dyn Kernel>> {
        self.kernel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a watch ended: detaches the hooks if nothing live is watched any
    /// more, and settles the change (see `settle`). The history lock goes
    /// first: the drain and the histories' readers go on meanwhile. Without
    /// the kernel lock, live watches change only when the drain adds a child
    /// it hears of, and the kernel keeps its hooks for those itself
    /// (set_active checks the kernel's own table).
    fn watch_ended(&self, mut kernel: MutexGuard<'_, Box<dyn Kernel>>, inner: MutexGuard<'_, Inner>) {
        let live = inner.watches.all().any(|w| w.exited.is_none());
        drop(inner);
        if let Err(e) = kernel.set_active(live) {
            tracing::warn!("could not {} the syscall hooks: {e}", if live { "attach" } else { "detach" });
        }
        self.settle(kernel);
    }

    /// Finishes the kernel's watch changes (`Kernel::unsettled`): the grace
    /// period they wait for (a few ms) passes with no lock held, so the
    /// drain, readers and other requests go on.
    fn settle(&self, mut kernel: MutexGuard<'_, Box<dyn Kernel>>) {
        let changes = kernel.unsettled();
        drop(kernel);
        if changes.is_empty() {
            return;
        }
        (changes.wait)();
        self.kernel().settle(changes);
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching process `pid` (following its children when `children`).
    pub fn watch(&self, pid: u32, children: bool) -> Result<Watched, WatchError> {
        self.watch_with(pid, children, WatchOptions::default())
    }

    /// The same, with `options`: the kernel-side filter and whether fds
    /// show their paths. The fd table of a watch that shows them from now
    /// on is read from /proc (blocking).
    pub fn watch_with(&self, pid: u32, children: bool, options: WatchOptions) -> Result<Watched, WatchError> {
        let watched = self.watch_inner(pid, children, options.filter)?;
        if watched == Watched::Exited {
            return Ok(watched);
        }
        let want = match (watched, options.fd_paths) {
            (_, Some(on)) => on,
            (Watched::New, None) => self.config.fd_paths,
            _ => return Ok(watched),
        };
        if self.inner().fds.is_on(pid) == want {
            return Ok(watched);
        }
        // Read after the kernel began recording: the calls since are applied
        // on top, and an fd opened or closed in between ends up right.
        let seed = want.then(|| capture::Seed::read(pid));
        let mut inner = self.inner();
        if inner.watches.get(pid).is_none_or(|w| w.exited.is_some()) {
            return Ok(watched);
        }
        match seed {
            Some(seed) => inner.fds.start(pid, seed),
            None => inner.fds.forget(pid),
        }
        inner.watches.set_fd_paths(pid, want);
        Ok(watched)
    }

    /// `watch`, and sets the kernel-side filter: `Some(None)` for none
    /// (every call recorded), `None` to leave it as it is (none for a new
    /// watch).
    fn watch_inner(
        &self,
        pid: u32,
        children: bool,
        filter: Option<Option<WatchFilter>>,
    ) -> Result<Watched, WatchError> {
        let start_ticks = match procs::process(pid) {
            Ok(start_ticks) => start_ticks,
            Err(NotAProcess::Missing(_)) if self.inner().watches.get(pid).is_some() => return Ok(Watched::Exited),
            Err(e) => return Err(e.into()),
        };
        let names = procs::names(pid);
        let mut kernel = self.kernel();
        // The hooks are attached while anything is watched. Attaching can
        // wait for a kernel grace period (10-40 ms here), so it comes before
        // the history lock is taken: the drain and the readers go on
        // meanwhile. A zombie's history needs no hooks (attaching and
        // detaching them on every request for it cost a grace period each).
        let zombie = self.inner().watches.has_exited(pid, start_ticks);
        if !zombie
            && !self.reads.active()
            && let Err(e) = kernel.set_active(true)
        {
            self.watch_ended(kernel, self.inner());
            return Err(e.into());
        }
        let mut inner = self.inner();
        let id = match inner.start(pid, Some(start_ticks), Origin::Requested, children, None) {
            Start::Exited { .. } => return Ok(Watched::Exited),
            // Touch the kernel's entry only to turn following on or off:
            // rewriting it on every request would race with its counters.
            // Off, the children watched already stay watched.
            Start::Already { children_added, .. } => {
                let turned_off = !children && inner.watches.set_follow_children(pid, false);
                let current = inner.watches.get(pid).and_then(|w| w.filter.clone());
                let refilter = filter.filter(|f| *f != current);
                if !children_added && !turned_off && refilter.is_none() {
                    return Ok(Watched::Already);
                }
                let host = inner.watches.get(pid).and_then(|w| w.host_pid);
                let follow = inner.watches.get(pid).is_some_and(|w| w.follow_children);
                let wanted = refilter.clone().unwrap_or(current.clone());
                if let Err(e) = kernel.watch(pid, host, follow, wanted.as_ref().map(|f| &f.bits)) {
                    // As it was: the kernel kept its entry.
                    if children_added || turned_off {
                        inner.watches.set_follow_children(pid, !children);
                    }
                    return Err(e.into());
                }
                if let Some(f) = refilter {
                    inner.watches.set_filter(pid, f);
                }
                drop(inner);
                self.settle(kernel);
                return Ok(Watched::Already);
            }
            Start::New { id, .. } => {
                inner.watches.set_names(pid, id, names);
                inner.watches.set_filter(pid, filter.clone().flatten());
                id
            }
        };
        let bits = filter.flatten().map(|f| f.bits);
        // Attached above, unless the history lock was taken before (then at
        // once: attached already, or a zombie's history swept meanwhile).
        if let Err(e) = kernel.set_active(true).and_then(|()| kernel.watch(pid, None, children, bits.as_ref())) {
            inner.watches.remove(pid);
            inner.recorder.close(pid);
            self.watch_ended(kernel, inner);
            return Err(e.into());
        }
        if kernel.host_pids() {
            inner.watches.set_host_pid(pid, pid);
        }
        drop(inner);
        // Its exit is followed first: settling takes a few ms, in which the
        // pid could be reused.
        self.track_exit(pid, id);
        self.settle(kernel);
        Ok(Watched::New)
    }

    /// Whether `watch(pid, children)` would change nothing: `pid` is watched,
    /// has not exited, and follows its children exactly as asked. Unlike
    /// `watch`, it never blocks (and reads no /proc): the API skips the
    /// blocking pool with it. `watch` also compares the process's start time,
    /// in case the pid was reused; here a watch whose exit is followed
    /// stands for that, as it ends when the process exits. One whose exit
    /// is not followed answers false, so `watch` checks.
    pub fn watching(&self, pid: u32, children: bool) -> bool {
        let inner = self.inner();
        inner.watches.get(pid).is_some_and(|w| w.exited.is_none() && w.exit_tracked && w.follow_children == children)
    }

    /// Stops watching `pid` and frees its history, returning its final counters.
    pub fn unwatch(&self, pid: u32) -> Result<WatchStats, WatchError> {
        let mut kernel = self.kernel();
        let mut inner = self.inner();
        let watch = inner.watches.get(pid).cloned().ok_or(WatchError::NotWatched(pid))?;
        let stats = self.stats_of(&inner, &watch);
        if watch.exited.is_none() {
            kernel.unwatch(pid, watch.host_pid)?;
        }
        inner.watches.remove(pid);
        inner.recorder.close(pid);
        inner.pending.forget_process(pid);
        inner.fds.forget(pid);
        self.watch_ended(kernel, inner);
        if let Some(tx) = &self.exits {
            let _ = tx.send(ExitTracking::Cancel { id: watch.id });
        }
        self.arrivals.notify_waiters();
        Ok(stats)
    }

    /// Called by `lifecycle` when the process of watch `id` has exited.
    pub fn exited(&self, pid: u32, id: u64) {
        // A zombie still has its name: the one it ran last, after any exec.
        let names = procs::names(pid);
        let mut kernel = self.kernel();
        let mut inner = self.inner();
        if !inner.watches.is_live(pid, id) {
            return;
        }
        inner.watches.set_names(pid, id, names);
        let host = inner.watches.get(pid).and_then(|w| w.host_pid);
        // The kernel's counters go with its entry: keep the final count.
        let losses = host.map_or(Losses::default(), |h| self.reads.losses(h));
        inner.watches.exited(pid, id, Instant::now().into_std(), SystemTime::now(), losses);
        inner.recorder.exited(pid);
        if let Err(e) = kernel.unwatch(pid, host) {
            tracing::warn!("pid {pid} exited, but its kernel watch could not be removed: {e}");
        }
        inner.pending.forget_process(pid);
        inner.fds.forget(pid);
        self.watch_ended(kernel, inner);
        tracing::debug!(pid, "watched process exited");
        self.arrivals.notify_waiters();
    }

    /// Frees the histories of processes that exited longer ago than `retention`.
    pub fn sweep(&self) -> usize {
        let mut inner = self.inner();
        let expired = inner.watches.expired(Instant::now().into_std(), self.config.retention, self.config.max_exited);
        for &pid in &expired {
            inner.watches.remove(pid);
            inner.recorder.close(pid);
            inner.fds.forget(pid);
        }
        expired.len()
    }

    /// Has `lifecycle` end the watch when the process exits. A process may be
    /// gone already (a short-lived child whose records are still being
    /// drained): `lifecycle` then ends the watch after a drain pass, never from
    /// here, in the middle of a batch of that process's records.
    fn track_exit(&self, pid: u32, id: u64) {
        let Some(tx) = &self.exits else { return };
        let pidfd = match procs::pidfd(pid) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => None,
            Err(e) => {
                tracing::warn!(pid, "cannot follow the process's exit ({e}); its watch ends when it is unwatched");
                return;
            }
        };
        if tx.send(ExitTracking::Track { pid, id, pidfd }).is_ok() {
            self.inner().watches.set_exit_tracked(pid, id);
        }
    }

    fn stats_of(&self, inner: &Inner, w: &Watch) -> WatchStats {
        let log = inner.recorder.log(w.pid).map(ProcessLog::stats).unwrap_or_default();
        let LogStats { seen, retained, evicted, last_seq } = log;
        WatchStats {
            pid: w.pid,
            alive: w.exited.is_none(),
            exited_at: w.exited.map(|e| e.wall),
            origin: w.origin,
            parent: w.parent,
            children: w.follow_children,
            fd_paths: w.fd_paths,
            seen,
            retained,
            evicted,
            losses: w.final_losses.unwrap_or_else(|| w.host_pid.map_or(Losses::default(), |h| self.reads.losses(h))),
            last_seq,
            comm: w.comm.clone(),
            cmdline: w.cmdline.clone(),
            syscalls: w.filter.as_ref().map(|f| f.spec.clone()),
        }
    }

    pub fn stats(&self, pid: u32) -> Option<WatchStats> {
        let inner = self.inner();
        let w = inner.watches.get(pid)?;
        Some(self.stats_of(&inner, w))
    }

    pub fn watched(&self) -> Vec<WatchStats> {
        self.watched_page(0, usize::MAX, false)
    }

    /// The watches (of exited processes only, with `exited_only`) of pids
    /// above `after`, by pid, at most `limit`: only the page's counters are
    /// built (a list of exited processes can be long).
    pub fn watched_page(&self, after: u32, limit: usize, exited_only: bool) -> Vec<WatchStats> {
        let inner = self.inner();
        let mut pids: Vec<u32> = inner
            .watches
            .all()
            .filter(|w| w.pid > after && (!exited_only || w.exited.is_some()))
            .map(|w| w.pid)
            .collect();
        pids.sort_unstable();
        pids.truncate(limit);
        pids.iter().filter_map(|&p| inner.watches.get(p)).map(|w| self.stats_of(&inner, w)).collect()
    }

    /// The live watches someone asked for, and their followed children, by
    /// pid: what a restarted daemon takes up again (`--watch-all`'s come
    /// back by themselves).
    pub fn asked_for(&self) -> Vec<AskedFor> {
        let inner = self.inner();
        let mut out: Vec<AskedFor> = inner
            .watches
            .all()
            .filter(|w| w.exited.is_none() && w.origin != Origin::Auto)
            .filter_map(|w| {
                Some(AskedFor {
                    pid: w.pid,
                    start_ticks: w.start_ticks?,
                    children: w.follow_children,
                    syscalls: w.filter.as_ref().map(|f| f.spec.clone()),
                    fd_paths: w.fd_paths,
                })
            })
            .collect();
        out.sort_by_key(|a| a.pid);
        out
    }

    /// The watches of `pids`, where there are, under one lock.
    pub fn stats_of_pids(&self, pids: &[u32]) -> Vec<Option<WatchStats>> {
        let inner = self.inner();
        pids.iter().map(|&p| inner.watches.get(p).map(|w| self.stats_of(&inner, w))).collect()
    }

    /// The syscalls `pid`'s threads are in right now (blocked, most
    /// likely), by thread, with the captures of their inputs: those the
    /// programs saw begin, and, from /proc, those of the threads they have
    /// seen make no call since the watch began (blocked since before it).
    pub fn in_flight(&self, pid: u32) -> Vec<CallInProgress> {
        // In a PID namespace of its own the daemon learns a process's host
        // tgid at its next syscall, which a hung process does not make: its
        // calls are then all read from /proc.
        let Some(host) = self.inner().watches.get(pid).filter(|w| w.exited.is_none()).map(|w| w.host_pid) else {
            return vec![];
        };
        // The kernel's thread table is read without the history's lock, so
        // the drain is not held up.
        let KernelThreads { mut known, mut calls } = host.map(|h| self.reads.threads(h)).unwrap_or_default();
        {
            let inner = self.inner();
            for c in &mut calls {
                c.capture = inner.pending.peek(c.tid, c.capture_key).map(Box::from);
            }
        }
        known.sort_unstable();
        calls.extend(capture::blocked_calls(pid, &known, MAX_PROC_THREADS));
        calls.sort_by_key(|c| c.tid);
        // Fd paths: as the fds are now.
        let inner = self.inner();
        if inner.fds.is_on(pid) {
            for c in &mut calls {
                c.capture = inner.fds.in_progress(pid, c.nr, &c.args, c.capture.take());
            }
        }
        drop(inner);
        calls
    }

    pub fn totals(&self) -> Totals {
        let (kernel, programs, hooks_attached) = (self.reads.counters(), self.reads.programs(), self.reads.active());
        let inner = self.inner();
        let exited = inner.watches.exited_count();
        Totals {
            watched: inner.watches.len() - exited,
            exited,
            memory_bytes: inner.recorder.bytes(),
            late: inner.recorder.late(),
            malformed: self.malformed.load(Ordering::Relaxed),
            capture_unpaired: inner.pending.unpaired,
            fd_table_full: inner.fds.full,
            kernel,
            ring: self.ring.totals(),
            hooks_attached,
            programs,
            export: self.outlet.as_ref().map(Outlet::totals),
        }
    }

    /// For a reader of `pid`'s history at `cursor`: what it has not read
    /// (at most `limit` events, with the gaps; see `ProcessLog::read`),
    /// the cursor after it, and whether the process has exited (its last
    /// records are in: nothing more comes). `None` if `pid` has no history.
    pub fn read_entries(&self, pid: u32, cursor: Cursor, limit: usize) -> Option<(Vec<Entry>, Cursor, bool)> {
        let inner = self.inner();
        let exited = inner.watches.get(pid).is_some_and(|w| w.exited.is_some());
        let (entries, next) = inner.recorder.log(pid)?.read(cursor, limit, exited);
        Some((entries, next, exited))
    }

    /// Wakes its waiters whenever records were stored, a watch ended, or the
    /// daemon began shutting down (see `closing`). Enable a `Notified`
    /// before looking, as `wait_for` does.
    pub fn arrivals(&self) -> &Notify {
        &self.arrivals
    }

    /// The daemon is shutting down: readers end now.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Runs `f` on `pid`'s log while holding the lock (keep `f` short).
    pub fn read<R>(&self, pid: u32, f: impl FnOnce(&ProcessLog) -> R) -> Option<R> {
        self.inner().recorder.log(pid).map(f)
    }

    /// Waits until the drain has read everything in the ring now (or a short
    /// while has passed): records are drained on a timer, so a process that
    /// just exited may still have records in the ring.
    pub async fn flush(&self) {
        let mut rx = self.drained.subscribe();
        let before = *rx.borrow_and_update();
        self.drain_now.notify_one();
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.wait_for(|&g| g > before)).await;
    }

    /// The daemon is shutting down: requests waiting for events (`wait_for`)
    /// answer with what there is, so the server's graceful shutdown does not
    /// wait out their `wait_ms`.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.arrivals.notify_waiters();
    }

    /// Starts a batch of ring-buffer records; readers wait until it is dropped.
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest::new(self)
    }

    /// Waits until `pid` has at least `n` events retained, has exited or is
    /// no longer watched, or until `deadline`, or the daemon shuts down.
    pub async fn wait_for(&self, pid: u32, n: u64, deadline: Instant) {
        loop {
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if self.closing.load(Ordering::SeqCst) {
                return;
            }
            let done = {
                let inner = self.inner();
                let alive = inner.watches.get(pid).is_some_and(|w| w.exited.is_none());
                let retained = inner.recorder.log(pid).map_or(0, |l| l.len() as u64);
                !alive || retained >= n
            };
            if done || tokio::time::timeout_at(deadline, arrival).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
impl Tracer {
    /// Stores `ev` as if the drain had (false: `pid` has no history).
    pub fn push_for_test(&self, pid: u32, ev: crate::recorder::Event) -> bool {
        self.inner().recorder.push(pid, ev)
    }
}

/// Tracers over the in-memory kernel, for tests.
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::kernel::fake::FakeKernel;

    pub fn config(per_process: usize, memory_bytes: usize) -> TracerConfig {
        TracerConfig {
            limits: Limits { per_process, memory_bytes, keep_per_process: 0 },
            clock: Clock::from_offset(0),
            retention: Duration::from_secs(600),
            durations: true,
            ring_bytes: 1 << 20,
            fd_paths: false,
            max_exited: 10_000,
            watch_all_filter: None,
        }
    }

    pub fn tracer() -> Tracer {
        with_kernel(FakeKernel::default())
    }

    pub fn with_kernel(kernel: FakeKernel) -> Tracer {
        Tracer::new(Box::new(kernel), config(100, 1 << 20))
    }

    /// A tracer keeping `per_process` events of each process.
    pub fn with_history(per_process: usize) -> Tracer {
        Tracer::new(Box::new(FakeKernel::default()), config(per_process, 64 << 20))
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
