//! The kernel side as the rest of the daemon sees it: two traits, one for
//! changes and one for reads, and what they report. `probe` implements them
//! with the real eBPF programs; `fake::FakeKernel` stands in where no kernel
//! is wanted (tests without root, the userspace benchmarks). Both sides
//! import this module; neither imports the other.
mod error;
#[cfg(any(test, feature = "fake-kernel"))]
pub mod fake;
mod ring;

use std::sync::Arc;

use strace_common::filter::SyscallFilter;

pub use error::{KernelError, chain};
pub use ring::{RingTotals, RingUse};

/// Changes to what the kernel traces (the real one is `probe::Probe`).
pub trait Kernel: Send {
    /// True when the daemon's pids are host pids (initial PID namespace).
    fn host_pids(&self) -> bool;
    /// Attaches the syscall hooks when something is to be watched, detaches
    /// them when nothing is (idle overhead: zero). What a detach leaves
    /// attached until the programs running have ended (the hooks that write
    /// out the CPUs' batches) goes with the next `unsettled`.
    fn set_active(&mut self, on: bool) -> Result<(), KernelError>;
    /// Starts tracing process `ns_pid`, or changes how; `host_pid` is its
    /// host tgid when known, otherwise the kernel resolves it at the
    /// process's next syscall. With `filter`, only the calls it lets through
    /// are recorded (the children it follows from now on inherit it).
    fn watch(
        &mut self,
        ns_pid: u32,
        host_pid: Option<u32>,
        follow_children: bool,
        filter: Option<&SyscallFilter>,
    ) -> Result<(), KernelError>;
    /// Stops tracing it; the kernel state of its live threads is retired,
    /// to be freed once no program can be using it (see `unsettled`).
    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), KernelError>;
    /// Takes the watch changes made since the last call that must wait for
    /// every program run that began before them to end, then be finished
    /// by `settle`: the thread slots `unwatch` retired are freed (a program
    /// may still be writing one), and the processes' cache bytes are reset
    /// again (a classification that read the maps just before the change may
    /// have written its stale verdict after the first reset); after a
    /// detach, the batches are written out and their hooks detached. The tracer
    /// waits in between (`Unsettled::wait`, a grace period of a few ms)
    /// holding no lock.
    fn unsettled(&mut self) -> Unsettled {
        Unsettled::default()
    }
    /// Finishes `changes` (see `unsettled`).
    fn settle(&mut self, _changes: Unsettled) {}
    /// Its read side, shared.
    fn reads(&self) -> Arc<dyn KernelReads>;
}

/// What the daemon reads from the kernel side, without the lock its changes
/// take: an attach can wait for a kernel grace period (10-40 ms here), and
/// a request for counters or for calls in progress does not wait with it.
pub trait KernelReads: Send + Sync {
    /// Whether the syscall hooks are attached.
    fn active(&self) -> bool;
    /// Records of host process `host_pid` lost in the kernel so far.
    fn losses(&self, host_pid: u32) -> Losses;
    /// The threads of host process `host_pid` the programs know, and the
    /// calls they saw them begin and not end yet.
    fn threads(&self, host_pid: u32) -> KernelThreads;
    fn counters(&self) -> KernelCounters;
    fn programs(&self) -> Vec<ProgramStats>;
}

/// A process's calls lost in the kernel so far, and of them, those lost to
/// its own excess (the rest: the ring or the thread table was full).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Every call lost: the ring buffer or the thread table was full, or
    /// the process was over its share of either.
    pub dropped: u64,
    /// Of `dropped`, calls throttled: the process was over its share of a
    /// nearly full ring (`--fair-ring`).
    pub throttled: u64,
    /// Of `dropped`, calls of threads beyond the process's share of the
    /// thread table (`--max-threads-per-pid`).
    pub thread_share: u64,
}

/// Watch changes waiting for the programs running when they were made.
#[derive(Debug)]
pub struct Unsettled {
    /// Thread-table slots retired by `unwatch`.
    pub retired: Vec<usize>,
    /// Host tgids whose cache byte is to be reset again.
    pub tgids: Vec<u32>,
    /// The syscall hooks were detached (the kernel's count of detaches so
    /// far): the batch-flushing hooks follow, unless a later detach is
    /// pending (its own settle does it, after its own grace period).
    pub detached: Option<u64>,
    /// Returns once every program run that began before the call has ended.
    pub wait: fn(),
}

impl Default for Unsettled {
    fn default() -> Unsettled {
        Unsettled { retired: vec![], tgids: vec![], detached: None, wait: || {} }
    }
}

impl Unsettled {
    pub fn is_empty(&self) -> bool {
        self.retired.is_empty() && self.tgids.is_empty() && self.detached.is_none()
    }
}

/// A syscall a thread is in now (blocked, most likely): one the programs saw
/// begin, or one read from /proc for a thread they have not seen begin any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallInProgress {
    /// Thread id in the daemon's namespace.
    pub tid: u32,
    pub nr: i32,
    pub args: [u64; 6],
    /// When it began (CLOCK_MONOTONIC), if the entry was timed.
    pub since_ns: Option<u64>,
    /// The key its capture records carry, which pairs them with it (the
    /// kernel slot's `enter_ns`: the entry time, or with durations off the
    /// thread's call number); 0 for a call read from /proc.
    pub capture_key: u64,
    /// Copies of what its input arguments point at (a capture items region).
    pub capture: Option<Box<[u8]>>,
}

/// One process's threads as the kernel's thread table has them.
#[derive(Debug, Default)]
pub struct KernelThreads {
    /// Namespace tids the programs have seen make a call since the watch
    /// began: a call of theirs in progress is among `calls`.
    pub known: Vec<u32>,
    /// Their calls in progress, the capture of their inputs not included (it
    /// travels in the ring buffer).
    pub calls: Vec<CallInProgress>,
}

/// Host-wide kernel loss counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Records lost because the ring buffer was full.
    pub ring_full: u64,
    /// Syscalls not traced because the thread table was full.
    pub threads_full: u64,
    /// Processes not watched because the watch table was full.
    pub watched_full: u64,
    /// Captures (strings, addresses) lost because the ring buffer was full,
    /// or went with a throttled batch.
    pub capture_lost: u64,
    /// Records lost whose place in their process's history is not marked
    /// (their CPU had too many other losses waiting): counted in `ring_full`
    /// (or `throttled`) and the process's `dropped`, shown as no gap.
    pub loss_unplaced: u64,
    /// Records dropped because their process had more than its share of a
    /// nearly full ring (the ring's fair share).
    pub throttled: u64,
    /// Syscalls not traced because their process held its share of the
    /// thread table.
    pub thread_share: u64,
}

/// One loaded eBPF program; run counts and times stay 0 unless the kernel's
/// BPF statistics are enabled (`sysctl kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    pub id: u32,
    pub run_count: u64,
    pub run_time_ns: u64,
}
