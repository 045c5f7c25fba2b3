//! What /metrics reads of the tracer: the counters of each process (copied
//! under the history lock, a few KiB a process, and turned into metric
//! families after it is released), within a cap on the series they make,
//! and the drain's lag.
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Tracer, watches::Watch};
use crate::{
    clock,
    recorder::{
        EventTotals,
        counts::{BUCKETS, SyscallCount},
    },
};

/// One process's counters, as /metrics shows them.
#[derive(Clone, Debug)]
pub struct ProcessCounts {
    pub pid: u32,
    pub comm: Option<String>,
    pub alive: bool,
    /// Records lost in the kernel.
    pub dropped: u64,
    pub rows: Vec<SyscallCount>,
}

/// The processes' counters within the series cap, and what it left out.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub processes: Vec<ProcessCounts>,
    /// Series the processes shown make.
    pub series: usize,
    /// Series of the processes left out by the cap, and how many processes.
    pub series_refused: usize,
    pub processes_refused: usize,
    pub events: EventTotals,
    /// Heap bytes of all processes' counters.
    pub counters_bytes: usize,
}

/// The series one process makes: its drop counter, and for each syscall a
/// call counter, an error counter per errno, and (when timed) a histogram
/// (its buckets, sum and count).
pub fn series_of(rows: &[SyscallCount]) -> usize {
    1 + rows.iter().map(|r| 1 + r.errors.len() + if r.timed() > 0 { BUCKETS + 2 } else { 0 }).sum::<usize>()
}

impl Tracer {
    /// The processes' counters, live processes first, then exited ones,
    /// each in the order their watches began; a process whose series would
    /// pass `max_series` is left out whole (counted), and the next ones are
    /// tried. The oldest watches come first, so the set shown changes little
    /// from one scrape to the next.
    pub fn scrape(&self, max_series: usize) -> Scrape {
        let inner = self.inner();
        let mut watches: Vec<&Watch> = inner.watches.all().collect();
        watches.sort_by_key(|w| (w.exited.is_some(), w.id));
        let mut s = Scrape { events: inner.recorder.event_totals(), ..Default::default() };
        let mut hosts = vec![];
        for w in watches {
            let Some(log) = inner.recorder.log(w.pid) else { continue };
            let rows = log.counts().rows();
            let n = series_of(rows);
            if s.series + n > max_series {
                s.series_refused += n;
                s.processes_refused += 1;
                continue;
            }
            s.series += n;
            if w.final_losses.is_none() {
                hosts.push((s.processes.len(), w.host_pid));
            }
            s.processes.push(ProcessCounts {
                pid: w.pid,
                comm: w.comm.clone(),
                alive: w.exited.is_none(),
                dropped: w.final_losses.map_or(0, |l| l.dropped),
                rows: rows.to_vec(),
            });
        }
        s.counters_bytes = inner.recorder.logs().map(|(_, log)| log.counts().bytes()).sum();
        drop(inner);
        // The kernel's counts of live processes, a map lookup each, without the lock.
        for (i, host) in hosts {
            s.processes[i].dropped = host.map_or(0, |h| self.reads.losses(h).dropped);
        }
        s
    }

    /// How long the drain's last pass, and its slowest, took to store a
    /// record after the call returned.
    pub fn drain_lag(&self) -> (u64, u64) {
        (self.lag.last.load(Ordering::Relaxed), self.lag.max.load(Ordering::Relaxed))
    }
}

/// The drain's lag: from a call's return (its record's time) to its
/// storing, for the first record of each pass (the oldest, as it waited
/// longest), in ns.
#[derive(Debug, Default)]
pub struct DrainLag {
    last: AtomicU64,
    max: AtomicU64,
}

impl DrainLag {
    /// The lag of a record of kernel time `ns`, now.
    pub fn since(ns: u64) -> u64 {
        u64::try_from(clock::monotonic_ns()).unwrap_or(0).saturating_sub(ns)
    }

    pub fn note(&self, lag_ns: u64) {
        self.last.store(lag_ns, Ordering::Relaxed);
        self.max.fetch_max(lag_ns, Ordering::Relaxed);
    }
}
