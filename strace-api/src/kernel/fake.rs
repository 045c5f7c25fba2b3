//! An in-memory kernel: for tests that need no root, and for measuring the
//! userspace side alone (the benchmarks, with the `fake-kernel` feature).
//! By default it accepts every change at once and reports nothing lost.
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
};

use strace_common::filter::SyscallFilter;

use super::{KernelCounters, KernelError, KernelReads, KernelThreads, Losses, ProgramStats, Unsettled};

#[derive(Default)]
pub struct FakeKernel {
    /// ns pid → (host pid, follow children, filter)
    pub watched: HashMap<u32, (Option<u32>, bool, Option<SyscallFilter>)>,
    /// The read side: whether the hooks are attached, and what `lost`
    /// answers for every process.
    pub reads: Arc<FakeReads>,
    /// How many times the hooks went from detached to attached (shared, so a
    /// test can read it after the tracer owns the kernel).
    pub attaches: Arc<AtomicU32>,
    /// Host pids whose watch changed, not yet handed over by `unsettled`.
    pub pending: Vec<u32>,
    /// Host pids the tracer settled, in order (shared, as `attaches`).
    pub settled: Arc<Mutex<Vec<u32>>>,
    /// Stands for the kernel's grace period (by default none).
    pub grace_period: Option<fn()>,
    /// Runs as the hooks go from detached to attached: stands for the wait
    /// an attach can have in the kernel (by default none).
    pub attach: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl super::Kernel for FakeKernel {
    fn host_pids(&self) -> bool {
        true
    }
    fn set_active(&mut self, on: bool) -> Result<(), KernelError> {
        if on && !self.reads.active.load(Ordering::Relaxed) {
            self.attaches.fetch_add(1, Ordering::Relaxed);
            if let Some(attach) = &self.attach {
                attach();
            }
        }
        self.reads.active.store(on, Ordering::Relaxed);
        Ok(())
    }
    fn watch(
        &mut self,
        ns_pid: u32,
        host_pid: Option<u32>,
        follow: bool,
        filter: Option<&SyscallFilter>,
    ) -> Result<(), KernelError> {
        self.watched.insert(ns_pid, (host_pid.or(Some(ns_pid)), follow, filter.copied()));
        self.pending.push(host_pid.unwrap_or(ns_pid));
        Ok(())
    }
    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), KernelError> {
        self.watched.remove(&ns_pid);
        self.pending.push(host_pid.unwrap_or(ns_pid));
        Ok(())
    }
    fn unsettled(&mut self) -> Unsettled {
        let tgids = std::mem::take(&mut self.pending);
        match self.grace_period {
            Some(wait) => Unsettled { tgids, wait, ..Default::default() },
            None => Unsettled { tgids, ..Default::default() },
        }
    }
    fn settle(&mut self, changes: Unsettled) {
        self.settled.lock().unwrap_or_else(|p| p.into_inner()).extend(changes.tgids);
    }
    fn reads(&self) -> Arc<dyn KernelReads> {
        self.reads.clone()
    }
}

#[derive(Default)]
pub struct FakeReads {
    pub active: AtomicBool,
    pub lost: Losses,
}

impl KernelReads for FakeReads {
    fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }
    fn losses(&self, _host_pid: u32) -> Losses {
        self.lost
    }
    /// As if the programs had seen every thread of the process make its
    /// last call: no call is in progress, and none is read from /proc.
    fn threads(&self, host_pid: u32) -> KernelThreads {
        let tasks = std::fs::read_dir(format!("/proc/{host_pid}/task")).into_iter().flatten();
        let known = tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok()).collect();
        KernelThreads { known, calls: vec![] }
    }
    fn counters(&self) -> KernelCounters {
        KernelCounters::default()
    }
    fn programs(&self) -> Vec<ProgramStats> {
        vec![]
    }
}
