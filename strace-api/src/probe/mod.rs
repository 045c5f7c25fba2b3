//! The kernel program seen from userspace: load and attach it, and keep its
//! watch tables. Dropping the `Probe` detaches every program.
mod blocked;
mod btf;
mod error;
mod hooks;
pub mod namespace;
pub mod preflight;
mod reads;
mod threads;

use std::sync::{Arc, atomic::Ordering};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::{
        BtfTracePoint, RawTracePoint, RawTracePointRunOptions, TestRun as _, raw_trace_point::RawTracePointLinkId,
        tp_btf::BtfTracePointLinkId,
    },
};
use aya_log::EbpfLogger;
pub use error::StartupError;
use hooks::wait_for_running_programs;
use namespace::PidNamespace;
use reads::ProbeReads;
use strace_common::{
    WatchEntry,
    capture::{self, CaptureSpec, CaptureTable},
    maps::{self, globals, programs, state},
};
use threads::ThreadTable;

use crate::{
    syscall,
    tracer::{Kernel, KernelReads, Unsettled},
};

/// The BPF object built by build.rs from the `strace-ebpf` crate.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/strace"));

/// How to load the program.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub ring_bytes: u32,
    pub max_threads: u32,
    /// Watch every process of the daemon's namespace (following children).
    pub watch_all: bool,
    /// Bytes of read/write buffers to copy (0: none).
    pub capture_bytes: u32,
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
    pending: HashMap<MapData, u32, u32>,
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
    pub fn load(settings: Settings) -> Result<(Probe, Streams), StartupError> {
        preflight::check()?;
        let offsets = btf::task_offsets().map_err(StartupError::NoBtf)?;
        let ns = PidNamespace::own().map_err(|e| StartupError::Namespace(e.to_string()))?;
        let ns_mode = u32::from(!ns.is_initial());
        let self_pid = std::process::id();
        let watch_all = if settings.watch_all { WatchEntry::FOLLOW_CHILDREN } else { 0 };
        let (nr_exit, nr_exit_group) = syscall::no_return_numbers();
        let (nr_execve, nr_execveat, nr_rt_sigreturn) = syscall::register_replacing_numbers();
        let nr_forks = syscall::fork_numbers();
        let table_size = strace_common::limits::thread_table_size(settings.max_threads);
        let threads_mask = table_size - 1;
        let capture_table = capture_table(settings.capture_bytes);
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(maps::EVENTS, settings.ring_bytes)
            .map_max_entries(maps::THREADS, table_size)
            .map_max_entries(maps::CLAIMS, table_size)
            .map_max_entries(maps::OWNERS, table_size)
            .override_global(globals::THREADS_MASK, &threads_mask, true)
            .override_global(globals::DURATIONS, &u32::from(settings.durations), true)
            .override_global(globals::NR_EXIT, &nr_exit, true)
            .override_global(globals::NR_EXIT_GROUP, &nr_exit_group, true)
            .override_global(globals::NR_EXECVE, &nr_execve, true)
            .override_global(globals::NR_EXECVEAT, &nr_execveat, true)
            .override_global(globals::NR_RT_SIGRETURN, &nr_rt_sigreturn, true)
            .override_global(globals::NR_FORKS, &nr_forks, true)
            .override_global(globals::NS_MODE, &ns_mode, true)
            .override_global(globals::NS_DEV, &ns.dev, true)
            .override_global(globals::NS_INO, &ns.ino, true)
            .override_global(globals::SELF_PID, &self_pid, true)
            .override_global(globals::WATCH_ALL, &watch_all, true)
            .override_global(globals::TASK_PID_OFFSET, &offsets.pid, true)
            .override_global(globals::TASK_TGID_OFFSET, &offsets.tgid, true)
            .override_global(capture::BUFFER_BYTES, &settings.capture_bytes, true)
            .override_global(capture::CAPTURE, &capture_table, true)
            .override_global(globals::WAKE_BYTES, &wake_bytes(settings.ring_bytes), true)
            .load(OBJECT)
            .map_err(StartupError::object)?;
        let log = match EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("kernel-side log unavailable: {e}");
                None
            }
        };
        let mut ids = Vec::new();
        for (name, hook) in SCHED_HOOKS {
            let program = raw_tracepoint(&mut ebpf, name).map_err(|e| StartupError::program(name, e))?;
            program.load().map_err(|e| StartupError::program(name, e))?;
            ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
            program.attach(hook).map_err(|e| StartupError::Attach { program: name, hook, error: error::chain(&e) })?;
        }
        for (name, _) in FLUSH_HOOKS {
            let program = raw_tracepoint(&mut ebpf, name).map_err(|e| StartupError::program(name, e))?;
            program.load().map_err(|e| StartupError::program(name, e))?;
            ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
        }
        let forget = programs::FORGET_TGID;
        raw_tracepoint(&mut ebpf, forget).and_then(|p| p.load()).map_err(|e| StartupError::program(forget, e))?;
        let btf = aya::Btf::from_sys_fs().map_err(|e| StartupError::NoBtf(e.to_string()))?;
        let syscall_hooks: &'static [(&str, &str)] =
            if settings.entry_hook { &SYSCALL_HOOKS } else { &EXIT_ONLY_HOOKS };
        for &(name, hook) in syscall_hooks {
            let program = btf_tracepoint(&mut ebpf, name).map_err(|e| StartupError::program(name, e))?;
            program.load(hook, &btf).map_err(|e| StartupError::program(name, e))?;
            ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
        }
        let mut take =
            |name: &'static str| ebpf.take_map(name).ok_or_else(|| StartupError::Missing(format!("map `{name}`")));
        let (w, p, t, ow, cl, c, e) = (
            take(maps::WATCHED)?,
            take(maps::PENDING)?,
            take(maps::THREADS)?,
            take(maps::OWNERS)?,
            take(maps::CLAIMS)?,
            take(maps::COUNTERS)?,
            take(maps::EVENTS)?,
        );
        let map_err = |name| move |e: MapError| StartupError::Map { name, error: error::chain(&e) };
        let threads = ThreadTable::new(t, ow, cl, table_size)
            .map_err(|error| StartupError::Map { name: maps::THREADS, error })?;
        let watched_read = reads::reopen(&w).map_err(|error| StartupError::Map { name: maps::WATCHED, error })?;
        let reads = ProbeReads::new(
            HashMap::try_from(watched_read).map_err(map_err(maps::WATCHED))?,
            threads.view(),
            PerCpuArray::try_from(c).map_err(map_err(maps::COUNTERS))?,
            ids,
            syscall_hooks == EXIT_ONLY_HOOKS,
        );
        let mut probe = Probe {
            host_pids: ns_mode == 0,
            watch_all: settings.watch_all,
            syscall_hooks,
            syscall_links: vec![],
            flush_links: vec![],
            watched: HashMap::try_from(w).map_err(map_err(maps::WATCHED))?,
            pending: HashMap::try_from(p).map_err(map_err(maps::PENDING))?,
            threads,
            unsettled: vec![],
            detaches: 0,
            detached: None,
            reads: Arc::new(reads),
            ebpf,
        };
        if settings.watch_all {
            let (program, hook) = syscall_hooks[0];
            probe.set_active(true).map_err(|error| StartupError::Attach { program, hook, error })?;
        }
        let events = RingBuf::try_from(e).map_err(map_err(maps::EVENTS))?;
        tracing::info!(
            pid_namespace = if ns.is_initial() { "initial" } else { "own" },
            watch_all = settings.watch_all,
            "eBPF programs attached"
        );
        Ok((probe, Streams { events, log }))
    }

    /// Makes the kernel look at `host_pid` afresh on its next syscall: runs
    /// the program that resets its cache byte (the cache is the program's
    /// global data, which userspace cannot write a byte of).
    fn forget(&mut self, host_pid: u32) -> Result<(), String> {
        if host_pid >= state::TGIDS {
            return Ok(());
        }
        let mut opts = RawTracePointRunOptions::new();
        opts.args[0] = u64::from(host_pid);
        raw_tracepoint(&mut self.ebpf, programs::FORGET_TGID)
            .and_then(|p| p.test_run(opts))
            .map(|_| ())
            .map_err(|e| format!("resetting pid {host_pid}'s cache byte: {}", error::chain(&e)))
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

/// Bytes a CPU writes between wake-ups: an eighth of the ring per CPU, so
/// the ring cannot fill from records nobody was woken for.
fn wake_bytes(ring_bytes: u32) -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    (ring_bytes as u64 / 8 / cpus).max(1)
}

fn raw_tracepoint<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut RawTracePoint, aya::programs::ProgramError> {
    ebpf.program_mut(name).ok_or(aya::programs::ProgramError::NotLoaded)?.try_into()
}

fn btf_tracepoint<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut BtfTracePoint, aya::programs::ProgramError> {
    ebpf.program_mut(name).ok_or(aya::programs::ProgramError::NotLoaded)?.try_into()
}

/// Tells the kernel what to copy for which syscall (from `syscall::table`).
fn capture_table(capture_bytes: u32) -> CaptureTable {
    let mut table = [CaptureSpec::NONE; capture::CAPTURE_ENTRIES as usize];
    for (nr, spec) in syscall::capture_specs() {
        // Buffers off (the default): the kernel would set up a copy for every
        // read and write and find nothing to do.
        let spec = if capture_bytes == 0 { spec.without_buffers() } else { spec };
        match usize::try_from(nr).ok().and_then(|nr| table.get_mut(nr)) {
            Some(entry) => *entry = spec,
            // The decode table's own test keeps every number in range.
            None => tracing::warn!("syscall {nr} is beyond the capture table: its arguments are not copied"),
        }
    }
    table
}

impl Kernel for Probe {
    fn host_pids(&self) -> bool {
        self.host_pids
    }

    fn set_active(&mut self, on: bool) -> Result<(), String> {
        // The kernel may be watching processes userspace has not heard of yet
        // (a child not announced, a pending request): keep the hooks for them.
        let changed =
            if on || self.watch_all || self.kernel_watches_live_processes() { self.attach() } else { self.detach() };
        // Halfway too: what a failed attempt left attached stays.
        self.reads.active.store(!self.syscall_links.is_empty(), Ordering::Relaxed);
        changed
    }

    fn watch(&mut self, ns_pid: u32, host_pid: Option<u32>, follow_children: bool) -> Result<(), String> {
        let flags = if follow_children { WatchEntry::FOLLOW_CHILDREN } else { 0 };
        let host_pid = host_pid.or(self.host_pids.then_some(ns_pid));
        let Some(host) = host_pid else {
            return self.pending.insert(&ns_pid, &flags, 0).map_err(|e| describe(&e, maps::PENDING));
        };
        let existing = self.watched.get(&host, 0).ok();
        let entry = match existing {
            Some(e) => WatchEntry { flags: (e.flags & !WatchEntry::FOLLOW_CHILDREN) | flags, ..e },
            None => WatchEntry { ns_pid, flags, ..Default::default() },
        };
        self.watched.insert(&host, &entry, 0).map_err(|e| describe(&e, maps::WATCHED))?;
        if let Err(e) = self.forget(host) {
            // Not left watching a process the tracer gives up on.
            if existing.is_none() {
                let _ = self.watched.remove(&host);
            }
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

    fn unwatch(&mut self, ns_pid: u32, host_pid: Option<u32>) -> Result<(), String> {
        let _ = self.pending.remove(&ns_pid);
        let Some(host) = host_pid.or(self.host_pids.then_some(ns_pid)) else { return Ok(()) };
        match self.watched.remove(&host) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(describe(&e, maps::WATCHED)),
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

fn describe(e: &MapError, map: &str) -> String {
    let limit =
        if map == maps::PENDING { strace_common::limits::MAX_PENDING } else { strace_common::limits::MAX_WATCHED };
    match e {
        MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG) => {
            format!("the kernel's {map} table is full ({limit} processes)")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use syscalls::Sysno;

    use super::*;

    #[test]
    fn with_buffers_off_the_kernel_sets_up_no_buffer_copy() {
        let entry = |table: &CaptureTable, s: Sysno| table[s.id() as usize];
        let off = capture_table(0);
        assert_eq!(entry(&off, Sysno::write), CaptureSpec::NONE);
        assert_eq!(entry(&off, Sysno::read), CaptureSpec::NONE);
        let recvfrom = entry(&off, Sysno::recvfrom);
        assert_eq!((recvfrom.addr_out, recvfrom.buf_out), (5, 0), "the address is still copied");
        assert_eq!(entry(&off, Sysno::openat).strings, 0b10);
        let on = capture_table(64);
        assert_eq!((entry(&on, Sysno::write).buf_in, entry(&on, Sysno::read).buf_out), (2, 2));
    }
}
