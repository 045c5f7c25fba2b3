//! The service's state and its operations: which processes are watched, in
//! the kernel and in the recorder, kept consistent; records coming in from the
//! drain; readers waiting for events; processes exiting.
mod ingest;
pub mod watches;

use std::{
    os::fd::OwnedFd,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

pub use ingest::Ingest;
use serde::Serialize;
use strace_common::ThreadSlot;
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};
use watches::{Origin, Start, Watch, Watches};

use crate::{
    clock::Clock,
    procs::{self, Lookup},
    recorder::{Limits, LogStats, ProcessLog, Recorder},
};

/// The kernel side as the tracer uses it (the real one is `probe::Probe`).
pub trait Kernel: Send {
    /// True when the daemon's pids are host pids (initial PID namespace).
    fn host_pids(&self) -> bool;
    /// Attaches the syscall hooks when something is to be watched, detaches
    /// them when nothing is (idle overhead: zero).
    fn set_active(&mut self, on: bool) -> Result<(), String>;
    fn active(&self) -> bool;
    /// Starts tracing process `ns_pid`; `host_pid` is its host tgid when known,
    /// otherwise the kernel resolves it at the process's next syscall.
    fn watch(&mut self, ns_pid: u32, host_pid: Option<u32>, follow_children: bool) -> Result<(), String>;
    /// Stops tracing it and frees the kernel state of its threads.
    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), String>;
    /// Records of host process `host_pid` lost in the kernel so far.
    fn lost(&self, host_pid: u32) -> u64;
    /// The syscalls its threads are in right now.
    fn in_flight(&self, host_pid: u32) -> Vec<ThreadSlot>;
    fn counters(&self) -> KernelCounters;
    fn programs(&self) -> Vec<ProgramStats>;
}

/// A kernel that does nothing, for measuring the userspace side alone
/// (benchmarks, profiling).
pub struct NullKernel;

impl Kernel for NullKernel {
    fn host_pids(&self) -> bool {
        true
    }
    fn set_active(&mut self, _on: bool) -> Result<(), String> {
        Ok(())
    }
    fn active(&self) -> bool {
        false
    }
    fn watch(&mut self, _: u32, _: Option<u32>, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn unwatch(&mut self, _: u32, _: Option<u32>) -> Result<(), String> {
        Ok(())
    }
    fn lost(&self, _: u32) -> u64 {
        0
    }
    fn in_flight(&self, _: u32) -> Vec<ThreadSlot> {
        vec![]
    }
    fn counters(&self) -> KernelCounters {
        KernelCounters::default()
    }
    fn programs(&self) -> Vec<ProgramStats> {
        vec![]
    }
}

/// Host-wide kernel loss counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelCounters {
    /// Records lost because the ring buffer was full.
    pub ring_full: u64,
    /// Syscalls not traced because the thread table was full.
    pub threads_full: u64,
    /// Processes not watched because the watch table was full.
    pub watched_full: u64,
    /// Argument copies (strings, addresses) lost because the ring buffer was full.
    pub aux_lost: u64,
}

/// One attached eBPF program; run counts and times stay 0 unless the kernel's
/// BPF statistics are enabled (`sysctl kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProgramStats {
    pub name: &'static str,
    pub id: u32,
    pub run_count: u64,
    pub run_time_ns: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("{tid} is a thread of process {tgid}; watch the process {tgid}")]
    Thread { tid: u32, tgid: u32 },
    #[error("pid {0} is strace-api itself")]
    Myself(u32),
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

/// Entry-side copies arrive when a call starts, its record when it ends:
/// each thread has at most one call in progress.
#[derive(Default)]
pub(crate) struct PendingAux {
    by_tid: rustc_hash::FxHashMap<u32, (u32, u64, Vec<u8>)>,
    /// Copies whose syscall record never came (or came for another call).
    unpaired: u64,
}

impl PendingAux {
    /// Bound on threads with copies waiting; beyond it the oldest are dropped.
    const MAX: usize = 65_536;

    /// Adds copies for the call of `tid` that entered at `enter_ns`.
    fn add(&mut self, pid: u32, tid: u32, enter_ns: u64, items: &[u8]) {
        if self.by_tid.len() >= Self::MAX && !self.by_tid.contains_key(&tid) {
            self.unpaired += self.by_tid.len() as u64;
            self.by_tid.clear();
        }
        let entry = self.by_tid.entry(tid).or_insert_with(|| (pid, enter_ns, Vec::new()));
        if entry.1 != enter_ns {
            if !entry.2.is_empty() {
                self.unpaired += 1;
            }
            *entry = (pid, enter_ns, Vec::new());
        }
        entry.2.extend_from_slice(items);
    }

    /// The copies for the call of `tid` that entered at `enter_ns`.
    fn take(&mut self, tid: u32, enter_ns: u64) -> Option<Vec<u8>> {
        match self.by_tid.get(&tid) {
            Some((_, e, _)) if *e == enter_ns => self.by_tid.remove(&tid).map(|(_, _, items)| items),
            Some(_) => {
                self.by_tid.remove(&tid);
                self.unpaired += 1;
                None
            }
            None => None,
        }
    }

    /// The copies for an execve by a thread that was not the leader: the
    /// kernel gave the thread the leader's id, so they wait under its old one.
    fn take_moved(&mut self, pid: u32, enter_ns: u64) -> Option<Vec<u8>> {
        let tid = self.by_tid.iter().find(|(_, (p, e, _))| *p == pid && *e == enter_ns).map(|(&t, _)| t)?;
        self.by_tid.remove(&tid).map(|(_, _, items)| items)
    }

    /// The copies of `tid`'s call in progress, if they are for `enter_ns`.
    fn peek(&self, tid: u32, enter_ns: u64) -> Option<&[u8]> {
        self.by_tid.get(&tid).filter(|(_, e, _)| *e == enter_ns).map(|(_, _, items)| &items[..])
    }

    fn forget_process(&mut self, pid: u32) {
        self.by_tid.retain(|_, (p, _, _)| *p != pid);
    }
}

pub struct Tracer {
    // Lock order: kernel, then inner.
    kernel: Mutex<Box<dyn Kernel>>,
    inner: Mutex<Inner>,
    malformed: AtomicU64,
    arrivals: Notify,
    /// Asks the drain for a pass now; it counts finished passes in `drained`.
    pub drain_now: Notify,
    pub drained: tokio::sync::watch::Sender<u64>,
    exits: Option<mpsc::UnboundedSender<ExitTracking>>,
    pub clock: Clock,
    /// How long an exited process's history is kept.
    pub retention: Duration,
}

/// Detaches the syscall hooks when no live process is watched.
fn idle_check(kernel: &mut dyn Kernel, inner: &Inner) {
    let live = inner.watches.all().any(|w| w.exited.is_none());
    if let Err(e) = kernel.set_active(live) {
        tracing::warn!("could not {} the syscall hooks: {e}", if live { "attach" } else { "detach" });
    }
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
            kernel: Mutex::new(kernel),
            inner: Mutex::new(Inner {
                watches: Watches::default(),
                recorder: Recorder::new(limits),
                pending_aux: PendingAux::default(),
            }),
            malformed: AtomicU64::new(0),
            arrivals: Notify::new(),
            drain_now: Notify::new(),
            drained: tokio::sync::watch::Sender::new(0),
            exits,
            clock,
            retention,
        }
    }

    fn kernel(&self) -> MutexGuard<'_, Box<dyn Kernel>> {
        self.kernel.lock().unwrap_or_else(|p| p.into_inner())
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
            Lookup::Missing if self.inner().watches.get(pid).is_some() => return Ok(Watched::Exited),
            Lookup::Missing => return Err(WatchError::NoSuchProcess(pid)),
        };
        let mut kernel = self.kernel();
        kernel.set_active(true).map_err(WatchError::Kernel)?;
        let mut inner = self.inner();
        let id = match inner.watches.start(pid, Some(start_ticks), Origin::Requested, children, None) {
            // Touch the kernel's entry only to turn following on: rewriting it
            // on every request would race with its counters.
            Start::Already { children_added: false, .. } => return Ok(Watched::Already),
            Start::Already { children_added: true, .. } => {
                let host = inner.watches.get(pid).and_then(|w| w.host_pid);
                kernel.watch(pid, host, true).map_err(WatchError::Kernel)?;
                return Ok(Watched::Already);
            }
            Start::New { id, replaced } => {
                if replaced {
                    inner.recorder.close(pid);
                }
                inner.recorder.open(pid);
                id
            }
        };
        if let Err(e) = kernel.watch(pid, None, children) {
            inner.watches.remove(pid);
            inner.recorder.close(pid);
            idle_check(&mut **kernel, &inner);
            return Err(WatchError::Kernel(e));
        }
        if kernel.host_pids() {
            inner.watches.set_host_pid(pid, pid);
        }
        drop((inner, kernel));
        self.track_exit(pid, id);
        Ok(Watched::New)
    }

    /// Stops watching `pid` and frees its history, returning its final counters.
    pub fn unwatch(&self, pid: u32) -> Result<WatchStats, WatchError> {
        let mut kernel = self.kernel();
        let mut inner = self.inner();
        let watch = inner.watches.get(pid).cloned().ok_or(WatchError::NotWatched(pid))?;
        let stats = self.stats_of(&**kernel, &inner, &watch);
        if watch.exited.is_none() {
            kernel.unwatch(pid, watch.host_pid).map_err(WatchError::Kernel)?;
        }
        inner.watches.remove(pid);
        inner.recorder.close(pid);
        inner.pending_aux.forget_process(pid);
        idle_check(&mut **kernel, &inner);
        drop((inner, kernel));
        if let Some(tx) = &self.exits {
            let _ = tx.send(ExitTracking::Cancel { id: watch.id });
        }
        self.arrivals.notify_waiters();
        Ok(stats)
    }

    /// Called by `lifecycle` when the process of watch `id` has exited.
    pub fn exited(&self, pid: u32, id: u64) {
        let mut kernel = self.kernel();
        let mut inner = self.inner();
        if !inner.watches.is_live(pid, id) {
            return;
        }
        let host = inner.watches.get(pid).and_then(|w| w.host_pid);
        // The kernel's counters go with its entry: keep the final count.
        let dropped = host.map_or(0, |h| kernel.lost(h));
        inner.watches.exited(pid, id, Instant::now().into_std(), SystemTime::now(), dropped);
        if let Err(e) = kernel.unwatch(pid, host) {
            tracing::warn!("pid {pid} exited, but its kernel watch could not be removed: {e}");
        }
        inner.pending_aux.forget_process(pid);
        idle_check(&mut **kernel, &inner);
        drop((inner, kernel));
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
        let _ = tx.send(ExitTracking::Track { pid, id, pidfd });
    }

    fn stats_of(&self, kernel: &dyn Kernel, inner: &Inner, w: &Watch) -> WatchStats {
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
            dropped: w.final_dropped.unwrap_or_else(|| w.host_pid.map_or(0, |h| kernel.lost(h))),
            last_seq,
        }
    }

    pub fn stats(&self, pid: u32) -> Option<WatchStats> {
        let kernel = self.kernel();
        let inner = self.inner();
        let w = inner.watches.get(pid)?;
        Some(self.stats_of(&**kernel, &inner, w))
    }

    pub fn watched(&self) -> Vec<WatchStats> {
        let kernel = self.kernel();
        let inner = self.inner();
        let mut all: Vec<_> = inner.watches.all().map(|w| self.stats_of(&**kernel, &inner, w)).collect();
        all.sort_by_key(|s| s.pid);
        all
    }

    /// The syscalls `pid`'s threads are in right now (blocked, most likely),
    /// as events without a return, with the copies of their inputs.
    pub fn in_flight(&self, pid: u32) -> Vec<crate::recorder::Event> {
        let Some(host) = self.inner().watches.get(pid).filter(|w| w.exited.is_none()).and_then(|w| w.host_pid) else {
            return vec![];
        };
        // The kernel's thread table is read without the history's lock, so
        // the drain is not held up.
        let mut slots = self.kernel().in_flight(host);
        slots.sort_by_key(|s| s.tid);
        let inner = self.inner();
        slots
            .into_iter()
            .map(|s: ThreadSlot| crate::recorder::Event {
                enter_ns: s.enter_ns,
                exit_ns: 0,
                ret: 0,
                args: s.args,
                aux: inner.pending_aux.peek(s.tid, s.enter_ns).map(|a| Box::new(a.to_vec())),
                tid: s.tid,
                nr: s.nr,
                flags: strace_common::SyscallRecord::NO_RETURN,
            })
            .collect()
    }

    pub fn totals(&self) -> Totals {
        let (kernel, programs, hooks_attached) = {
            let k = self.kernel();
            (k.counters(), k.programs(), k.active())
        };
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

    /// Starts a batch of ring-buffer records; readers wait until it is dropped.
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest::new(self)
    }

    /// Waits until `pid` has at least `n` events retained, has exited or is
    /// no longer watched, or until `deadline`.
    pub async fn wait_for(&self, pid: u32, n: u64, deadline: Instant) {
        loop {
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
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
