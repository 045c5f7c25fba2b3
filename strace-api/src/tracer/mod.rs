//! The service's state and its operations: which processes are watched, in
//! the kernel and in the recorder, kept consistent; records coming in from the
//! drain; readers waiting for events; processes exiting.
mod ingest;
mod kernel;
mod pending_aux;
pub mod watches;

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

pub use ingest::Ingest;
pub use kernel::{InFlight, Kernel, KernelCounters, KernelReads, NullKernel, ProgramStats, Unsettled};
use pending_aux::PendingAux;
use serde::Serialize;
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};
use watches::{Origin, Start, Watch, Watches};

use crate::{
    clock::Clock,
    drain::{RingTotals, RingUse},
    procs::{self, Lookup},
    recorder::{Limits, LogStats, ProcessLog, Recorder},
};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("{tid} is a thread of process {tgid}; watch the process {tgid}")]
    Thread { tid: u32, tgid: u32 },
    #[error("pid {0} is strace-api itself")]
    Myself(u32),
    #[error("pid {0} is a kernel thread: it makes no syscalls")]
    KernelThread(u32),
    #[error("pid {0} is not watched")]
    NotWatched(u32),
    #[error("the kernel refused: {0}")]
    Kernel(String),
}

/// What `Tracer::watch` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Watched {
    New,
    Already,
    /// The process is gone; its history is still readable.
    Exited,
}

/// A watched process's state and counters, as the API reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchStats {
    pub pid: u32,
    pub alive: bool,
    /// RFC 3339 time the process exited, if it did.
    pub exited_at: Option<String>,
    pub origin: Origin,
    pub parent: Option<u32>,
    pub children: bool,
    /// Events delivered to userspace.
    pub seen: u64,
    pub retained: u64,
    pub evicted: u64,
    /// Events lost in the kernel (ring buffer or thread table full).
    pub dropped: u64,
    pub last_seq: u64,
    /// Its command name and line, as last read: at the watch's start (the
    /// name again at its exit), so an exited process can still be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cmdline: Vec<String>,
}

/// Totals for /healthz.
#[derive(Clone, Debug, Serialize)]
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
    /// Argument copies that found no syscall record to go with.
    pub aux_unpaired: u64,
    pub kernel: KernelCounters,
    pub ring: RingTotals,
    /// Whether the syscall hooks are attached (they are not while nothing is watched).
    pub hooks_attached: bool,
    pub programs: Vec<ProgramStats>,
}

/// A process to watch for its exit (consumed by `lifecycle`); no pidfd when
/// it is gone already.
#[derive(Debug)]
pub enum ExitTracking {
    Track { pid: u32, id: u64, pidfd: Option<OwnedFd> },
    Cancel { id: u64 },
}

struct Inner {
    watches: Watches,
    recorder: Recorder,
    /// Aux copies waiting for their syscall record, by thread.
    pending_aux: PendingAux,
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
    pub drain_now: Notify,
    pub drained: tokio::sync::watch::Sender<u64>,
    exits: Option<mpsc::UnboundedSender<ExitTracking>>,
    pub clock: Clock,
    /// How long an exited process's history is kept.
    pub retention: Duration,
    /// The kernel times calls (`--durations`, on unless turned off).
    pub durations: bool,
    /// How full the kernel ring buffer got (the drain notes it).
    pub ring: RingUse,
}

impl Tracer {
    pub fn new(
        kernel: Box<dyn Kernel>,
        limits: Limits,
        clock: Clock,
        retention: Duration,
        exits: Option<mpsc::UnboundedSender<ExitTracking>>,
    ) -> Tracer {
        Tracer {
            reads: kernel.reads(),
            kernel: Mutex::new(kernel),
            inner: Mutex::new(Inner {
                watches: Watches::default(),
                recorder: Recorder::new(limits),
                pending_aux: PendingAux::default(),
            }),
            malformed: AtomicU64::new(0),
            arrivals: Notify::new(),
            closing: AtomicBool::new(false),
            drain_now: Notify::new(),
            drained: tokio::sync::watch::Sender::new(0),
            exits,
            clock,
            retention,
            durations: true,
            ring: RingUse::default(),
        }
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
        if pid == std::process::id() {
            return Err(WatchError::Myself(pid));
        }
        let start_ticks = match procs::lookup(pid) {
            Lookup::Process { start_ticks } => start_ticks,
            Lookup::Thread { tgid } => return Err(WatchError::Thread { tid: pid, tgid }),
            Lookup::KernelThread => return Err(WatchError::KernelThread(pid)),
            Lookup::Missing if self.inner().watches.get(pid).is_some() => return Ok(Watched::Exited),
            Lookup::Missing => return Err(WatchError::NoSuchProcess(pid)),
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
            return Err(WatchError::Kernel(e));
        }
        let mut inner = self.inner();
        let id = match inner.watches.start(pid, Some(start_ticks), Origin::Requested, children, None) {
            Start::Exited { .. } => return Ok(Watched::Exited),
            // Touch the kernel's entry only to turn following on or off:
            // rewriting it on every request would race with its counters.
            // Off, the children watched already stay watched.
            Start::Already { children_added, .. } => {
                let turned_off = !children && inner.watches.set_follow_children(pid, false);
                if !children_added && !turned_off {
                    return Ok(Watched::Already);
                }
                let host = inner.watches.get(pid).and_then(|w| w.host_pid);
                if let Err(e) = kernel.watch(pid, host, children) {
                    // As it was: the kernel kept its entry.
                    inner.watches.set_follow_children(pid, !children);
                    return Err(WatchError::Kernel(e));
                }
                drop(inner);
                self.settle(kernel);
                return Ok(Watched::Already);
            }
            Start::New { id, replaced } => {
                if replaced {
                    inner.recorder.replace(pid);
                } else {
                    inner.recorder.open(pid);
                }
                inner.watches.set_names(pid, id, names);
                id
            }
        };
        // Attached above, unless the history lock was taken before (then at
        // once: attached already, or a zombie's history swept meanwhile).
        if let Err(e) = kernel.set_active(true).and_then(|()| kernel.watch(pid, None, children)) {
            inner.watches.remove(pid);
            inner.recorder.close(pid);
            self.watch_ended(kernel, inner);
            return Err(WatchError::Kernel(e));
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
            kernel.unwatch(pid, watch.host_pid).map_err(WatchError::Kernel)?;
        }
        inner.watches.remove(pid);
        inner.recorder.close(pid);
        inner.pending_aux.forget_process(pid);
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
        let dropped = host.map_or(0, |h| self.reads.lost(h));
        inner.watches.exited(pid, id, Instant::now().into_std(), SystemTime::now(), dropped);
        if let Err(e) = kernel.unwatch(pid, host) {
            tracing::warn!("pid {pid} exited, but its kernel watch could not be removed: {e}");
        }
        inner.pending_aux.forget_process(pid);
        self.watch_ended(kernel, inner);
        tracing::debug!(pid, "watched process exited");
        self.arrivals.notify_waiters();
    }

    /// Frees the histories of processes that exited longer ago than `retention`.
    pub fn sweep(&self) -> usize {
        let mut inner = self.inner();
        let expired = inner.watches.expired(Instant::now().into_std(), self.retention);
        for &pid in &expired {
            inner.watches.remove(pid);
            inner.recorder.close(pid);
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
            exited_at: w.exited.map(|e| humantime::format_rfc3339_millis(e.wall).to_string()),
            origin: w.origin,
            parent: w.parent,
            children: w.follow_children,
            seen,
            retained,
            evicted,
            dropped: w.final_dropped.unwrap_or_else(|| w.host_pid.map_or(0, |h| self.reads.lost(h))),
            last_seq,
            comm: w.comm.clone(),
            cmdline: w.cmdline.clone(),
        }
    }

    pub fn stats(&self, pid: u32) -> Option<WatchStats> {
        let inner = self.inner();
        let w = inner.watches.get(pid)?;
        Some(self.stats_of(&inner, w))
    }

    pub fn watched(&self) -> Vec<WatchStats> {
        let inner = self.inner();
        let mut all: Vec<_> = inner.watches.all().map(|w| self.stats_of(&inner, w)).collect();
        all.sort_by_key(|s| s.pid);
        all
    }

    /// The syscalls `pid`'s threads are in right now (blocked, most likely),
    /// as events without a return, with the copies of their inputs.
    pub fn in_flight(&self, pid: u32) -> Vec<crate::recorder::Event> {
        // In a PID namespace of its own the daemon learns a process's host
        // tgid at its next syscall, which a hung process does not make: its
        // calls are then all read from /proc.
        let Some(host) = self.inner().watches.get(pid).filter(|w| w.exited.is_none()).map(|w| w.host_pid) else {
            return vec![];
        };
        // The kernel's thread table is read without the history's lock, so
        // the drain is not held up.
        let mut calls = self.reads.in_flight(host, pid);
        calls.sort_by_key(|c| c.slot.tid);
        let inner = self.inner();
        calls
            .into_iter()
            .map(|InFlight { slot: s, copies }| crate::recorder::Event {
                enter_ns: s.enter_ns,
                exit_ns: 0,
                ret: 0,
                args: s.args,
                aux: copies.or_else(|| inner.pending_aux.peek(s.tid, s.enter_ns).map(Box::from)),
                tid: s.tid,
                nr: crate::recorder::Event::stored_nr(s.nr),
                flags: strace_common::SyscallRecord::NO_RETURN
                    | (s.flags as u16 & strace_common::SyscallRecord::NO_ENTER_TIME),
            })
            .collect()
    }

    pub fn totals(&self) -> Totals {
        let (kernel, programs, hooks_attached) = (self.reads.counters(), self.reads.programs(), self.reads.active());
        let inner = self.inner();
        let exited = inner.watches.all().filter(|w| w.exited.is_some()).count();
        Totals {
            watched: inner.watches.len() - exited,
            exited,
            memory_bytes: inner.recorder.bytes(),
            late: inner.recorder.late(),
            malformed: self.malformed.load(Ordering::Relaxed),
            aux_unpaired: inner.pending_aux.unpaired,
            kernel,
            ring: self.ring.totals(),
            hooks_attached,
            programs,
        }
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
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx.wait_for(|&g| g > before)).await;
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
pub mod fake;

#[cfg(test)]
mod tests;
