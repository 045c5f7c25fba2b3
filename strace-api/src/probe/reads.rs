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

use super::{blocked, threads::ThreadView};
use crate::tracer::{InFlight, KernelCounters, KernelReads, ProgramStats};

/// Threads of one process whose call in progress is read from /proc in one
/// request, at most: a file each, ~6 µs, read on the async worker serving
/// the request (on the blocking pool every page paid 10-20% more).
const MAX_PROC_THREADS: usize = 64;

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
    MapData::from_fd(fd).map(Map::HashMap).map_err(|e| super::error::chain(&e))
}

impl KernelReads for ProbeReads {
    fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn lost(&self, host_pid: u32) -> u64 {
        self.watched.get(&host_pid, 0).map_or(0, |w| w.dropped + w.untracked)
    }

    /// The calls the programs saw begin, and, from /proc, those of the
    /// threads they have not seen begin any: blocked since before the watch.
    /// Those come without an entry time, their inputs read from the
    /// process's memory (see `blocked`).
    fn in_flight(&self, host_pid: Option<u32>, ns_pid: u32) -> Vec<InFlight> {
        // Exit hook alone: a slot is IN_SYSCALL only while its call is being
        // written out, already finished, and /proc is asked about every
        // thread. So it is for a process whose host tgid is not known yet (no
        // syscall since its watch began, in a namespace of the daemon's own):
        // it has no slots.
        let slots: Vec<ThreadSlot> = match host_pid {
            Some(host) if !self.exit_only => self.threads.of(host).map(|(_, s)| s).collect(),
            _ => vec![],
        };
        let mut seen: Vec<u32> = slots.iter().map(|s| s.tid).collect();
        seen.sort_unstable();
        let mut calls: Vec<InFlight> = slots
            .into_iter()
            .filter(|s| s.state == ThreadSlot::IN_SYSCALL)
            .map(|slot| InFlight { slot, copies: None })
            .collect();
        calls.extend(blocked::calls(ns_pid, &seen, MAX_PROC_THREADS).into_iter().map(|b| InFlight {
            slot: ThreadSlot {
                pid: ns_pid,
                tid: b.tid,
                nr: b.nr,
                state: ThreadSlot::IN_SYSCALL,
                args: b.args,
                flags: u32::from(SyscallRecord::NO_ENTER_TIME),
                ..Default::default()
            },
            copies: b.copies,
        }));
        calls
    }

    fn counters(&self) -> KernelCounters {
        let sum = |c: Counter| self.counters.get(&(c as u32), 0).map_or(0, |v| v.iter().sum());
        KernelCounters {
            ring_full: sum(Counter::RingFull),
            threads_full: sum(Counter::ThreadsFull),
            watched_full: sum(Counter::WatchedFull),
            aux_lost: sum(Counter::AuxLost),
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
