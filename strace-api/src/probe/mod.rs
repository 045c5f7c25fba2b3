//! The kernel program seen from userspace: load and attach it, and keep its
//! watch tables. Dropping the `Probe` detaches every program.
mod btf;
mod error;
mod filters;
mod hooks;
mod load;
mod namespace;
mod preflight;
mod reads;
mod threads;

use std::sync::{Arc, atomic::Ordering};

use aya::{
    Ebpf,
    maps::{HashMap, MapData, MapError, RingBuf},
    programs::{
        BtfTracePoint, RawTracePoint, RawTracePointRunOptions, TestRun as _, raw_trace_point::RawTracePointLinkId,
        tp_btf::BtfTracePointLinkId,
    },
};
use aya_log::EbpfLogger;
pub use error::StartupError;
use filters::FilterSlots;
use hooks::wait_for_running_programs;
use namespace::PidNamespace;
use reads::ProbeReads;
use strace_common::filter::SyscallFilter;
use strace_common::{
    WatchEntry, limits,
    maps::{self, programs, state},
};
use threads::ThreadTable;

use crate::kernel::{Kernel, KernelError, KernelReads, Unsettled};

/// How to load the program.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub ring_bytes: u32,
    pub max_threads: u32,
    /// Thread slots one process may hold (None: a quarter of the table).
    pub max_threads_per_pid: Option<u32>,
    /// Size of the watch table.
    pub max_watched: u32,
    /// The ring's fair share (see strace-ebpf's fair.rs).
    pub fair_ring: bool,
    /// Watch every process of the daemon's namespace (following children).
    pub watch_all: bool,
    /// With `watch_all`: the kernel-side filter those watches start with.
    pub watch_all_filter: Option<SyscallFilter>,
    /// Bytes of read/write buffers to copy (0: none).
    pub capture_bytes: u32,
    /// Copy structs, arrays and counts (the CaptureSpecs' copies).
    pub capture_structs: bool,
    /// Read the clock at entry too (durations); off saves one read a call.
    pub durations: bool,
    /// Attach sys_enter; off, calls are recorded whole at sys_exit.
    pub entry_hook: bool,
}

pub struct Probe {
    host_pids: bool,
    watch_all: bool,
    /// The syscall hooks' programs: SYSCALL_HOOKS, or EXIT_ONLY_HOOKS.
    syscall_hooks: &'static [(&'static str, &'static str)],
    /// The syscall hooks' links while attached (see `Kernel::set_active`).
    syscall_links: Vec<(&'static str, BtfTracePointLinkId)>,
    /// The batch-flushing hooks' links, attached with the syscall hooks.
    flush_links: Vec<(&'static str, RawTracePointLinkId)>,
    watched: HashMap<MapData, u32, WatchEntry>,
    /// WATCHED's size (`--max-watched`), for the message of a full table.
    max_watched: u32,
    pending: HashMap<MapData, u32, u32>,
    filters: FilterSlots,
    threads: ThreadTable,
    /// Host pids whose watch began or ended since the last `unsettled`.
    unsettled: Vec<u32>,
    /// Detaches so far; the last one's number if it came since the last
    /// `unsettled`.
    detaches: u64,
    detached: Option<u64>,
    reads: Arc<ProbeReads>,
    // Last: programs detach when this drops.
    ebpf: Ebpf,
}

/// What loading hands over besides the probe: the ring buffer to drain and
/// the kernel-side log reader.
pub struct Streams {
    pub events: RingBuf<MapData>,
    pub log: Option<EbpfLogger<&'static dyn log::Log>>,
}

/// The scheduler hooks follow forks, clear reused pids and free exiting
/// threads' slots: they stay attached (they cost a fork or an exit, not a
/// syscall), so the kernel's caches stay right while the syscall hooks are off.
const SCHED_HOOKS: [(&str, &str); 3] = [
    (programs::THREAD_EXIT, "sched_process_exit"),
    (programs::PROCESS_FORK, "sched_process_fork"),
    (programs::PROCESS_EXEC, "sched_process_exec"),
];

/// The syscall hooks, BTF tracepoints (see strace-ebpf/src/probes/mod.rs for
/// why): attached only while something is watched, so an idle daemon costs
/// the host's syscalls nothing.
const SYSCALL_HOOKS: [(&str, &str); 2] = [(programs::SYS_EXIT, "sys_exit"), (programs::SYS_ENTER, "sys_enter")];
/// With `--entry-hook false`.
const EXIT_ONLY_HOOKS: [(&str, &str); 1] = [(programs::SYS_EXIT_ONLY, "sys_exit")];

/// The hooks that write out each CPU's batch of records: on a task switch and
/// on the timer tick (raw tracepoints). Attached before the syscall hooks and
/// detached after them, once every batch has been written out.
const FLUSH_HOOKS: [(&str, &str); 2] =
    [(programs::TASK_SWITCH, "sched_switch"), (programs::TICK, "hrtimer_expire_entry")];

impl Probe {
    /// Loads the programs, attaches the scheduler hooks (and with
    /// `--watch-all` the syscall hooks), and hands over the ring buffer.
    pub fn load(settings: Settings) -> Result<(Probe, Streams), StartupError> {
        preflight::check()?;
        let ns = PidNamespace::own().map_err(|e| StartupError::Namespace(e.to_string()))?;
        let globals = load::Globals::new(&settings, ns)?;
        let mut ebpf = load::object(&settings, &globals)?;
        let log = load::kernel_log(&mut ebpf);
        let syscall_hooks: &'static [(&str, &str)] =
            if settings.entry_hook { &SYSCALL_HOOKS } else { &EXIT_ONLY_HOOKS };
        let programs = load::programs(&mut ebpf, syscall_hooks)?;
        let maps = load::Maps::take(&mut ebpf, settings.thread_table_size())?;
        let reads = ProbeReads::new(
            maps.watched_read,
            maps.threads.view(),
            maps.counters,
            programs,
            syscall_hooks == EXIT_ONLY_HOOKS,
        );
        let mut probe = Probe {
            host_pids: ns.is_initial(),
            watch_all: settings.watch_all,
            syscall_hooks,
            syscall_links: vec![],
            flush_links: vec![],
            watched: maps.watched,
            max_watched: settings.max_watched,
            pending: maps.pending,
            filters: FilterSlots::new(maps.filters, settings.watch_all_filter.as_ref())
                .map_err(|e| StartupError::Map { name: strace_common::filter::FILTERS, error: e.to_string() })?,
            threads: maps.threads,
            unsettled: vec![],
            detaches: 0,
            detached: None,
            reads: Arc::new(reads),
            ebpf,
        };
        if settings.watch_all {
            let (program, hook) = syscall_hooks[0];
            probe.set_active(true).map_err(|e| StartupError::Attach { program, hook, error: e.to_string() })?;
        }
        tracing::info!(
            pid_namespace = if ns.is_initial() { "initial" } else { "own" },
            watch_all = settings.watch_all,
            "eBPF programs attached"
        );
        Ok((probe, Streams { events: maps.events, log }))
    }

    /// Makes the kernel look at `host_pid` afresh on its next syscall: runs
    /// the program that resets its cache byte (the cache is the program's
    /// global data, which userspace cannot write a byte of).
    fn forget(&mut self, host_pid: u32) -> Result<(), KernelError> {
        if host_pid >= state::TGIDS {
            return Ok(());
        }
        let mut opts = RawTracePointRunOptions::new();
        opts.args[0] = u64::from(host_pid);
        raw_tracepoint(&mut self.ebpf, programs::FORGET_TGID)
            .and_then(|p| p.test_run(opts))
            .map(|_| ())
            .map_err(|source| KernelError::Forget { pid: host_pid, source })
    }

    /// Changes the watch of `host_pid` in place (the program resets its cache
    /// byte too); false if it has none.
    fn change(&mut self, host_pid: u32, follow_children: bool, filter: u32) -> Result<bool, KernelError> {
        let mut opts = RawTracePointRunOptions::new();
        opts.args[..3].copy_from_slice(&[u64::from(host_pid), u64::from(follow_children), u64::from(filter)]);
        let program = programs::CHANGE_WATCH;
        let run = raw_tracepoint(&mut self.ebpf, program)
            .and_then(|p| p.test_run(opts))
            .map_err(|source| KernelError::Program { program, source })?;
        Ok(run.return_value == 0)
    }

    /// Whether WATCHED or PENDING hold entries the kernel still acts on.
    /// Entries of processes that are gone are removed on the way (in the
    /// initial namespace, where /proc shows host pids).
    fn kernel_watches_live_processes(&mut self) -> bool {
        if self.pending.keys().next().is_some() {
            return true;
        }
        let hosts: Vec<u32> = self.watched.keys().filter_map(Result::ok).collect();
        let mut live = false;
        for h in hosts {
            if self.host_pids && !std::path::Path::new(&format!("/proc/{h}")).exists() {
                let _ = self.watched.remove(&h);
            } else {
                live = true;
            }
        }
        live
    }
}

fn raw_tracepoint<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut RawTracePoint, aya::programs::ProgramError> {
    ebpf.program_mut(name).ok_or(aya::programs::ProgramError::NotLoaded)?.try_into()
}

fn btf_tracepoint<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut BtfTracePoint, aya::programs::ProgramError> {
    ebpf.program_mut(name).ok_or(aya::programs::ProgramError::NotLoaded)?.try_into()
}

impl Kernel for Probe {
    fn host_pids(&self) -> bool {
        self.host_pids
    }

    fn set_active(&mut self, on: bool) -> Result<(), KernelError> {
        // The kernel may be watching processes userspace has not heard of yet
        // (a child not announced, a pending request): keep the hooks for them.
        let changed =
            if on || self.watch_all || self.kernel_watches_live_processes() { self.attach() } else { self.detach() };
        // Halfway too: what a failed attempt left attached stays.
        self.reads.active.store(!self.syscall_links.is_empty(), Ordering::Relaxed);
        changed
    }

    fn watch(
        &mut self,
        ns_pid: u32,
        host_pid: Option<u32>,
        follow_children: bool,
        filter: Option<&SyscallFilter>,
    ) -> Result<(), KernelError> {
        let flags = if follow_children { WatchEntry::FOLLOW_CHILDREN } else { 0 };
        let slot = match filter {
            Some(f) => self.filters.slot(f, &self.watched, &self.pending)?,
            None => 0,
        };
        let host_pid = host_pid.or(self.host_pids.then_some(ns_pid));
        let Some(host) = host_pid else {
            let value = WatchEntry::pending(flags, slot);
            return self
                .pending
                .insert(&ns_pid, &value, 0)
                .map_err(|e| map_error(e, maps::PENDING, limits::MAX_PENDING));
        };
        // A watch that exists is changed in place, by the kernel: its
        // counters keep counting meanwhile (a rewrite from here would undo
        // what the programs added since it was read).
        if self.change(host, follow_children, slot)? {
            self.unsettled.push(host);
            return Ok(());
        }
        let entry = WatchEntry { ns_pid, flags, filter: slot, ..Default::default() };
        // Only if there is none: one the kernel started meanwhile (a followed
        // child) is not replaced, but changed as above.
        match self.watched.insert(&host, &entry, BPF_NOEXIST) {
            Ok(()) => {}
            Err(MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) && self.change(host, follow_children, slot)? =>
            {
                self.unsettled.push(host);
                return Ok(());
            }
            Err(e) => return Err(map_error(e, maps::WATCHED, self.max_watched)),
        }
        if let Err(e) = self.forget(host) {
            // Not left watching a process the tracer gives up on.
            let _ = self.watched.remove(&host);
            return Err(e);
        }
        self.unsettled.push(host);
        Ok(())
    }

    fn unsettled(&mut self) -> Unsettled {
        Unsettled {
            retired: self.threads.take_retired(),
            tgids: std::mem::take(&mut self.unsettled),
            detached: std::mem::take(&mut self.detached),
            // A program runs for microseconds, but the host can stop a vCPU
            // in the middle of one for milliseconds: a fixed wait would not do.
            wait: wait_for_running_programs,
        }
    }

    fn settle(&mut self, changes: Unsettled) {
        self.threads.free(changes.retired);
        for host in changes.tgids {
            if let Err(e) = self.forget(host) {
                tracing::warn!("pid {host}'s cache byte may be stale (traced or not, wrongly): {e}");
            }
        }
        // Unless a watch has attached the syscall hooks again meanwhile (the
        // flush hooks stayed, so the batches are still written out), or
        // detached them again: programs from in between may still run, and
        // that detach's settle comes after its own grace period.
        if changes.detached == Some(self.detaches)
            && self.syscall_links.is_empty()
            && let Err(e) = self.detach_flush_hooks()
        {
            tracing::warn!("could not detach the batch-flushing hooks: {e}");
        }
    }

    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), KernelError> {
        let _ = self.pending.remove(&ns_pid);
        let Some(host) = host_pid.or(self.host_pids.then_some(ns_pid)) else { return Ok(()) };
        match self.watched.remove(&host) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(map_error(e, maps::WATCHED, self.max_watched)),
        }
        self.forget(host)?;
        self.threads.retire_process(host);
        self.unsettled.push(host);
        Ok(())
    }

    fn reads(&self) -> Arc<dyn KernelReads> {
        self.reads.clone()
    }
}

/// A map update's flag: only if the key has no value yet.
const BPF_NOEXIST: u64 = 1;

/// A map operation that failed: a full table (of `limit` entries) says so.
fn map_error(source: MapError, map: &'static str, limit: u32) -> KernelError {
    match &source {
        MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG) => {
            KernelError::TableFull { map, limit }
        }
        _ => KernelError::Map { map, source },
    }
}
