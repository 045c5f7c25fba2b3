//! The probe's read side: loss counters, calls in progress and program
//! statistics, read through handles of their own, so that a reader never
//! waits for the tracer's kernel lock (held across an attach, which can wait
//! for a kernel grace period).
use std::{
    os::fd::AsFd as _,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use aya::maps::{HashMap, Map, MapData, PerCpuArray};
use strace_common::{Counter, SyscallRecord, ThreadSlot, WatchEntry};

use super::threads::ThreadView;
use crate::kernel::{CallInProgress, KernelCounters, KernelReads, KernelThreads, Losses, ProgramStats};

pub struct ProbeReads {
    /// A second handle on WATCHED (the probe writes through its own).
    watched: HashMap<MapData, u32, WatchEntry>,
    threads: Arc<ThreadView>,
    counters: PerCpuArray<MapData, u64>,
    /// (name, kernel program id) of each program loaded.
    programs: Vec<(&'static str, u32)>,
    /// Only the exit hook: no call is ever seen in progress.
    exit_only: bool,
    /// Set by the probe as it attaches and detaches the syscall hooks.
    pub(super) active: AtomicBool,
}

impl ProbeReads {
    /// `watched` is a handle of its own on WATCHED (see `reopen`).
    pub(super) fn new(
        watched: HashMap<MapData, u32, WatchEntry>,
        threads: Arc<ThreadView>,
        counters: PerCpuArray<MapData, u64>,
        programs: Vec<(&'static str, u32)>,
        exit_only: bool,
    ) -> ProbeReads {
        ProbeReads { watched, threads, counters, programs, exit_only, active: AtomicBool::new(false) }
    }
}

/// A second handle on hash map `map`, with a file descriptor of its own.
pub(super) fn reopen(map: &Map) -> Result<Map, String> {
    let Map::HashMap(data) = map else { return Err("not a hash map".into()) };
    let fd = data.fd().as_fd().try_clone_to_owned().map_err(|e| format!("dup: {e}"))?;
    MapData::from_fd(fd).map(Map::HashMap).map_err(|e| crate::kernel::chain(&e))
}

impl KernelReads for ProbeReads {
    fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn losses(&self, host_pid: u32) -> Losses {
        self.watched.get(&host_pid, 0).map_or(Losses::default(), |w| Losses {
            dropped: w.dropped + w.untracked,
            throttled: w.throttled,
            thread_share: w.over_thread_share,
        })
    }

    /// The threads the programs have seen make a call, and the calls of
    /// theirs in progress. With the exit hook alone a slot is IN_SYSCALL
    /// only while its call is being written out, already finished: no call
    /// is seen in progress, and no thread is known to have one (whoever
    /// asks /proc asks about every thread).
    fn threads(&self, host_pid: u32) -> KernelThreads {
        if self.exit_only {
            return KernelThreads::default();
        }
        let slots: Vec<ThreadSlot> = self.threads.of(host_pid).map(|(_, s)| s).collect();
        KernelThreads {
            known: slots.iter().map(|s| s.tid).collect(),
            calls: slots
                .into_iter()
                .filter(|s| s.state == ThreadSlot::IN_SYSCALL)
                .map(|s| CallInProgress {
                    tid: s.tid,
                    nr: s.nr,
                    args: s.args,
                    since_ns: (s.flags & u32::from(SyscallRecord::NO_ENTER_TIME) == 0).then_some(s.enter_ns),
                    capture_key: s.enter_ns,
                    capture: None,
                })
                .collect(),
        }
    }

    fn counters(&self) -> KernelCounters {
        let sum = |c: Counter| self.counters.get(&(c as u32), 0).map_or(0, |v| v.iter().sum());
        KernelCounters {
            ring_full: sum(Counter::RingFull),
            threads_full: sum(Counter::ThreadsFull),
            watched_full: sum(Counter::WatchedFull),
            capture_lost: sum(Counter::CaptureLost),
            loss_unplaced: sum(Counter::LossUnplaced),
            throttled: sum(Counter::Throttled),
            thread_share: sum(Counter::ThreadShare),
        }
    }

    fn programs(&self) -> Vec<ProgramStats> {
        let infos: Vec<_> = aya::programs::loaded_programs().filter_map(Result::ok).collect();
        self.programs
            .iter()
            .map(|&(name, id)| {
                let info = infos.iter().find(|i| i.id() == id);
                ProgramStats {
                    name,
                    id,
                    run_count: info.map_or(0, |i| i.run_count()),
                    run_time_ns: info.map_or(0, |i| i.run_time().as_nanos() as u64),
                }
            })
            .collect()
    }
}
