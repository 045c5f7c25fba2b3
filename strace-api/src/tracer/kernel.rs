//! The kernel side as the tracer sees it: two traits, one for changes and
//! one for reads (the real ones are `probe::Probe` and `probe::ProbeReads`;
//! `NullKernel` and the tests' fake stand in), and what they report.
use std::sync::Arc;

use serde::Serialize;
use strace_common::ThreadSlot;

/// The kernel side as the tracer uses it (the real one is `probe::Probe`).
pub trait Kernel: Send {
    /// True when the daemon's pids are host pids (initial PID namespace).
    fn host_pids(&self) -> bool;
    /// Attaches the syscall hooks when something is to be watched, detaches
    /// them when nothing is (idle overhead: zero). What a detach leaves
    /// attached until the programs running have ended (the hooks that write
    /// out the CPUs' batches) goes with the next `unsettled`.
    fn set_active(&mut self, on: bool) -> Result<(), String>;
    /// Starts tracing process `ns_pid`; `host_pid` is its host tgid when known,
    /// otherwise the kernel resolves it at the process's next syscall.
    fn watch(&mut self, ns_pid: u32, host_pid: Option<u32>, follow_children: bool) -> Result<(), String>;
    /// Stops tracing it; the kernel state of its live threads is retired,
    /// to be freed once no program can be using it (see `unsettled`).
    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), String>;
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

/// What the tracer reads from the kernel side, without the lock its changes
/// take: an attach can wait for a kernel grace period (10-40 ms here), and
/// a request for counters or for calls in progress does not wait with it.
pub trait KernelReads: Send + Sync {
    /// Whether the syscall hooks are attached.
    fn active(&self) -> bool;
    /// Records of host process `host_pid` lost in the kernel so far.
    fn lost(&self, host_pid: u32) -> u64;
    /// The syscalls the threads of process `ns_pid` (host tgid `host_pid`,
    /// when known) are in right now.
    fn in_flight(&self, host_pid: Option<u32>, ns_pid: u32) -> Vec<InFlight>;
    fn counters(&self) -> KernelCounters;
    fn programs(&self) -> Vec<ProgramStats>;
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

/// A call a thread is in now: its slot in the kernel's table, or one made
/// up from /proc for a call the programs did not see begin, with copies of
/// its inputs read there (the kernel's own copies are in its aux records).
#[derive(Debug)]
pub struct InFlight {
    pub slot: ThreadSlot,
    pub copies: Option<Box<[u8]>>,
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
    fn watch(&mut self, _: u32, _: Option<u32>, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn unwatch(&mut self, _: u32, _: Option<u32>) -> Result<(), String> {
        Ok(())
    }
    fn reads(&self) -> Arc<dyn KernelReads> {
        Arc::new(NullKernel)
    }
}

impl KernelReads for NullKernel {
    fn active(&self) -> bool {
        false
    }
    fn lost(&self, _: u32) -> u64 {
        0
    }
    fn in_flight(&self, _: Option<u32>, _: u32) -> Vec<InFlight> {
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
