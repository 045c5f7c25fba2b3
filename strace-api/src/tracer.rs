//! The service's state and its operations: which processes are watched, in
//! the kernel and in the recorder, kept consistent; records coming in from the
//! drain; readers waiting for events.
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use strace_common::SyscallRecord;
use tokio::{sync::Notify, time::Instant};

use crate::{
    clock::Clock,
    procs::{self, Lookup},
    recorder::{Event, Limits, LogStats, ProcessLog, Recorder},
};

/// The kernel side as the tracer uses it (the real one is `probe::Probe`).
pub trait Kernel: Send {
    /// Starts tracing thread group `pid`; a no-op if it is traced already.
    fn watch(&mut self, pid: u32) -> Result<(), String>;
    /// Stops tracing `pid` and frees the kernel state of its threads `tids`.
    fn unwatch(&mut self, pid: u32, tids: &[u32]) -> Result<(), String>;
    /// Records of `pid` lost in the kernel so far.
    fn lost(&self, pid: u32) -> u64;
    fn counters(&self) -> KernelCounters;
    fn programs(&self) -> Vec<ProgramStats>;
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

/// Host-wide kernel loss counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelCounters {
    /// Records lost because the ring buffer was full.
    pub ring_full: u64,
    /// Syscalls not traced because the thread table was full.
    pub threads_full: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("{tid} is a thread of process {tgid}; watch the process {tgid}")]
    Thread { tid: u32, tgid: u32 },
    #[error("pid {0} is not watched")]
    NotWatched(u32),
    #[error("the kernel refused: {0}")]
    Kernel(String),
}

/// A watched process's counters, as the API reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WatchStats {
    pub pid: u32,
    /// Events delivered to userspace.
    pub seen: u64,
    pub retained: u64,
    pub evicted: u64,
    /// Events lost in the kernel (ring buffer or thread table full).
    pub dropped: u64,
    pub last_seq: u64,
}

impl WatchStats {
    fn new(pid: u32, log: LogStats, dropped: u64) -> WatchStats {
        WatchStats {
            pid,
            seen: log.seen,
            retained: log.retained,
            evicted: log.evicted,
            dropped,
            last_seq: log.last_seq,
        }
    }
}

/// Totals for /healthz.
#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    pub watched: usize,
    pub memory_bytes: usize,
    /// Events that arrived after their process stopped being watched.
    pub late: u64,
    /// Ring-buffer records that could not be decoded.
    pub malformed: u64,
    pub kernel: KernelCounters,
    pub programs: Vec<ProgramStats>,
}

pub struct Tracer {
    // Lock order: kernel, then recorder.
    kernel: Mutex<Box<dyn Kernel>>,
    recorder: Mutex<Recorder>,
    malformed: std::sync::atomic::AtomicU64,
    arrivals: Notify,
    pub clock: Clock,
}

impl Tracer {
    pub fn new(kernel: Box<dyn Kernel>, limits: Limits, clock: Clock) -> Tracer {
        Tracer {
            kernel: Mutex::new(kernel),
            recorder: Mutex::new(Recorder::new(limits)),
            malformed: Default::default(),
            arrivals: Notify::new(),
            clock,
        }
    }

    fn kernel(&self) -> MutexGuard<'_, Box<dyn Kernel>> {
        self.kernel.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching `pid`; `Ok(false)` if it was watched already.
    pub fn watch(&self, pid: u32) -> Result<bool, WatchError> {
        match procs::lookup(pid) {
            Lookup::Process => {}
            Lookup::Thread { tgid } => return Err(WatchError::Thread { tid: pid, tgid }),
            Lookup::Missing => return Err(WatchError::NoSuchProcess(pid)),
        }
        let mut kernel = self.kernel();
        // The log first, so the first records find it.
        let new = self.recorder().open(pid);
        if let Err(e) = kernel.watch(pid) {
            if new {
                self.recorder().close(pid);
            }
            return Err(WatchError::Kernel(e));
        }
        Ok(new)
    }

    /// Stops watching `pid` and frees its history, returning its final counters.
    pub fn unwatch(&self, pid: u32) -> Result<WatchStats, WatchError> {
        let mut kernel = self.kernel();
        if self.recorder().log(pid).is_none() {
            return Err(WatchError::NotWatched(pid));
        }
        let dropped = kernel.lost(pid);
        kernel.unwatch(pid, &procs::tids(pid)).map_err(WatchError::Kernel)?;
        let log = self.recorder().close(pid).unwrap_or_default();
        Ok(WatchStats::new(pid, log, dropped))
    }

    pub fn stats(&self, pid: u32) -> Option<WatchStats> {
        let kernel = self.kernel();
        let log = self.recorder().log(pid)?.stats();
        Some(WatchStats::new(pid, log, kernel.lost(pid)))
    }

    pub fn watched(&self) -> Vec<WatchStats> {
        let kernel = self.kernel();
        let recorder = self.recorder();
        let mut all: Vec<_> = recorder
            .pids()
            .filter_map(|pid| Some(WatchStats::new(pid, recorder.log(pid)?.stats(), kernel.lost(pid))))
            .collect();
        all.sort_by_key(|s| s.pid);
        all
    }

    pub fn totals(&self) -> Totals {
        let (kernel, programs) = {
            let k = self.kernel();
            (k.counters(), k.programs())
        };
        let recorder = self.recorder();
        Totals {
            watched: recorder.pids().count(),
            memory_bytes: recorder.bytes(),
            late: recorder.late(),
            malformed: self.malformed.load(std::sync::atomic::Ordering::Relaxed),
            kernel,
            programs,
        }
    }

    /// Runs `f` on `pid`'s log while holding the recorder (keep `f` short).
    pub fn read<R>(&self, pid: u32, f: impl FnOnce(&ProcessLog) -> R) -> Option<R> {
        self.recorder().log(pid).map(f)
    }

    /// Starts a batch of ring-buffer records; readers wait until it is dropped.
    pub fn ingest(&self) -> Ingest<'_> {
        Ingest { recorder: Some(self.recorder()), malformed: 0, tracer: self }
    }

    /// Waits until `pid` has at least `n` events retained, or until `deadline`.
    pub async fn wait_for(&self, pid: u32, n: u64, deadline: Instant) {
        loop {
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let retained = self.read(pid, |log| log.len() as u64);
            if retained.is_none_or(|r| r >= n) {
                return;
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                return;
            }
        }
    }
}

/// A batch of records being stored (see [`Tracer::ingest`]).
pub struct Ingest<'a> {
    recorder: Option<MutexGuard<'a, Recorder>>,
    malformed: u64,
    tracer: &'a Tracer,
}

impl Ingest<'_> {
    pub fn record(&mut self, bytes: &[u8]) {
        let recorder = self.recorder.as_mut().expect("held until drop");
        match SyscallRecord::read(bytes) {
            Some(r) => {
                let (pid, ev) = Event::from_record(&r);
                recorder.push(pid, ev);
            }
            None => self.malformed += 1,
        }
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        drop(self.recorder.take());
        if self.malformed > 0 {
            self.tracer.malformed.fetch_add(self.malformed, std::sync::atomic::Ordering::Relaxed);
        }
        self.tracer.arrivals.notify_waiters();
    }
}

#[cfg(test)]
pub mod fake {
    //! An in-memory kernel for tests that need no root.
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    pub struct FakeKernel {
        pub watched: HashMap<u32, u64>,
    }

    impl Kernel for FakeKernel {
        fn watch(&mut self, pid: u32) -> Result<(), String> {
            self.watched.entry(pid).or_default();
            Ok(())
        }
        fn unwatch(&mut self, pid: u32, _tids: &[u32]) -> Result<(), String> {
            self.watched.remove(&pid);
            Ok(())
        }
        fn lost(&self, pid: u32) -> u64 {
            self.watched.get(&pid).copied().unwrap_or(0)
        }
        fn counters(&self) -> KernelCounters {
            KernelCounters::default()
        }
        fn programs(&self) -> Vec<ProgramStats> {
            vec![]
        }
    }

    pub fn tracer() -> Tracer {
        let limits = Limits { per_process: 100, memory_bytes: 1 << 20 };
        Tracer::new(Box::<FakeKernel>::default(), limits, Clock::from_offset(0))
    }
}

#[cfg(test)]
mod tests {
    use strace_common::RecordKind;

    use super::*;

    fn record(pid: u32, nr: i32) -> SyscallRecord {
        SyscallRecord { kind: RecordKind::Syscall as u16, pid, tid: pid, nr, ..Default::default() }
    }

    #[test]
    fn watch_is_idempotent_and_validated() {
        let t = fake::tracer();
        let me = std::process::id();
        assert_eq!(t.watch(me), Ok(true));
        assert_eq!(t.watch(me), Ok(false));
        assert_eq!(t.watch(i32::MAX as u32), Err(WatchError::NoSuchProcess(i32::MAX as u32)));
        assert_eq!(t.watched().len(), 1);
    }

    #[test]
    fn ingest_counts_everything() {
        let t = fake::tracer();
        let me = std::process::id();
        t.watch(me).unwrap();
        let (a, b) = (record(me, 1), record(me + 1, 2));
        let junk = [0u8; 3];
        let mut batch = t.ingest();
        for bytes in [a.as_bytes(), b.as_bytes(), &junk[..]] {
            batch.record(bytes);
        }
        drop(batch);
        let s = t.stats(me).unwrap();
        assert_eq!((s.seen, s.retained, s.last_seq), (1, 1, 1));
        let totals = t.totals();
        assert_eq!((totals.late, totals.malformed), (1, 1));
        let end = t.unwatch(me).unwrap();
        assert_eq!(end.seen, 1);
        assert_eq!(t.unwatch(me), Err(WatchError::NotWatched(me)));
    }

    #[tokio::test]
    async fn waiters_wake_on_arrival_or_deadline() {
        let t = std::sync::Arc::new(fake::tracer());
        let me = std::process::id();
        t.watch(me).unwrap();
        let start = Instant::now();
        t.wait_for(me, 1, start + std::time::Duration::from_millis(50)).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));

        let t2 = t.clone();
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let r = record(me, 7);
            t2.ingest().record(r.as_bytes());
        });
        let start = Instant::now();
        t.wait_for(me, 1, start + std::time::Duration::from_secs(10)).await;
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        feeder.await.unwrap();
    }
}
