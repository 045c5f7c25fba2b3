//! Loading the eBPF object, in named steps: the object with its load-time
//! globals (`object`), the programs (`programs`), the maps the daemon keeps
//! (`Maps::take`).
use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{Array, HashMap, Map, MapData, MapError, PerCpuArray, RingBuf},
};
use aya_log::EbpfLogger;
use strace_common::{
    WatchEntry,
    capture::{self, CaptureSpec, CaptureTable},
    filter::{FILTERS, SyscallFilter},
    limits,
    maps::{self, globals, programs},
};

use super::{
    FLUSH_HOOKS, SCHED_HOOKS, Settings, StartupError, btf, btf_tracepoint, filters::FilterSlots,
    namespace::PidNamespace, raw_tracepoint, reads::reopen, threads::ThreadTable,
};
use crate::{kernel::chain, syscall};

/// The BPF object built by build.rs from the `strace-ebpf` crate.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/strace"));

/// What the programs read as constants (`.rodata`, so the verifier sees
/// them): the daemon's namespace and settings, this architecture's syscall
/// numbers, `task_struct` offsets and what to capture for each syscall.
pub struct Globals {
    ns_mode: u32,
    ns: PidNamespace,
    self_pid: u32,
    watch_all: u32,
    durations: u32,
    threads_mask: u32,
    thread_share: u32,
    ring_warm: u64,
    ring_busy: u64,
    ring_share: u64,
    task_pid_offset: u32,
    fd_inode_offsets: [u32; 6],
    task_tgid_offset: u32,
    nr_exit: i32,
    nr_exit_group: i32,
    nr_execve: i32,
    nr_execveat: i32,
    nr_rt_sigreturn: i32,
    nr_forks: [i32; 4],
    buffer_bytes: u32,
    capture: CaptureTable,
    wake_bytes: u64,
}

impl Globals {
    pub fn new(settings: &Settings, ns: PidNamespace) -> Result<Globals, StartupError> {
        let offsets = btf::task_offsets().map_err(StartupError::NoBtf)?;
        let (nr_exit, nr_exit_group) = syscall::no_return_numbers();
        let (nr_execve, nr_execveat, nr_rt_sigreturn) = syscall::register_replacing_numbers();
        let (ring_warm, ring_busy, ring_share) = limits::ring_share(settings.ring_bytes.into());
        Ok(Globals {
            ns_mode: u32::from(!ns.is_initial()),
            ns,
            self_pid: std::process::id(),
            watch_all: match (settings.watch_all, settings.watch_all_filter) {
                (false, _) => 0,
                (true, None) => WatchEntry::FOLLOW_CHILDREN,
                // Its filter's slot beside the flags, as PENDING values have them.
                (true, Some(_)) => WatchEntry::pending(WatchEntry::FOLLOW_CHILDREN, FilterSlots::WATCH_ALL),
            },
            durations: u32::from(settings.durations),
            threads_mask: settings.thread_table_size() - 1,
            thread_share: settings.max_threads_per_pid.unwrap_or(limits::thread_share(settings.thread_table_size())),
            ring_warm: if settings.fair_ring { ring_warm } else { 0 },
            ring_busy,
            ring_share,
            task_pid_offset: offsets.pid,
            fd_inode_offsets: offsets.fd_inode.unwrap_or_default(),
            task_tgid_offset: offsets.tgid,
            nr_exit,
            nr_exit_group,
            nr_execve,
            nr_execveat,
            nr_rt_sigreturn,
            nr_forks: syscall::fork_numbers(),
            buffer_bytes: settings.capture_bytes,
            capture: capture_table(settings.capture_bytes, settings.capture_structs),
            wake_bytes: wake_bytes(settings.ring_bytes),
        })
    }

    fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global(globals::NS_MODE, &self.ns_mode, true)
            .override_global(globals::NS_DEV, &self.ns.dev, true)
            .override_global(globals::NS_INO, &self.ns.ino, true)
            .override_global(globals::SELF_PID, &self.self_pid, true)
            .override_global(globals::WATCH_ALL, &self.watch_all, true)
            .override_global(globals::DURATIONS, &self.durations, true)
            .override_global(globals::THREADS_MASK, &self.threads_mask, true)
            .override_global(globals::THREAD_SHARE, &self.thread_share, true)
            .override_global(globals::RING_WARM, &self.ring_warm, true)
            .override_global(globals::RING_BUSY, &self.ring_busy, true)
            .override_global(globals::RING_SHARE, &self.ring_share, true)
            .override_global(globals::TASK_PID_OFFSET, &self.task_pid_offset, true)
            .override_global(globals::FD_INODE_OFFSETS, &self.fd_inode_offsets, true)
            .override_global(globals::TASK_TGID_OFFSET, &self.task_tgid_offset, true)
            .override_global(globals::NR_EXIT, &self.nr_exit, true)
            .override_global(globals::NR_EXIT_GROUP, &self.nr_exit_group, true)
            .override_global(globals::NR_EXECVE, &self.nr_execve, true)
            .override_global(globals::NR_EXECVEAT, &self.nr_execveat, true)
            .override_global(globals::NR_RT_SIGRETURN, &self.nr_rt_sigreturn, true)
            .override_global(globals::NR_FORKS, &self.nr_forks, true)
            .override_global(capture::BUFFER_BYTES, &self.buffer_bytes, true)
            .override_global(capture::CAPTURE, &self.capture, true)
            .override_global(globals::WAKE_BYTES, &self.wake_bytes, true);
    }
}

/// The object, its maps sized from the settings and its globals set.
pub fn object(settings: &Settings, globals: &Globals) -> Result<Ebpf, StartupError> {
    let table_size = settings.thread_table_size();
    let mut loader = EbpfLoader::new();
    loader
        .map_max_entries(maps::EVENTS, settings.ring_bytes)
        .map_max_entries(maps::WATCHED, settings.max_watched)
        .map_max_entries(maps::THREADS, table_size)
        .map_max_entries(maps::CLAIMS, table_size)
        .map_max_entries(maps::OWNERS, table_size);
    globals.apply(&mut loader);
    loader.load(OBJECT).map_err(StartupError::object)
}

/// The kernel-side log reader, if the object has one.
pub fn kernel_log(ebpf: &mut Ebpf) -> Option<EbpfLogger<&'static dyn log::Log>> {
    EbpfLogger::init(ebpf).inspect_err(|e| tracing::warn!("kernel-side log unavailable: {e}")).ok()
}

/// Loads every program: the scheduler hooks attached for good, the flush
/// and syscall hooks loaded for `Probe::attach`, and `forget_tgid` and
/// `change_watch`, which are run rather than attached. Returns (name, kernel id) of each, for their
/// statistics.
pub fn programs(
    ebpf: &mut Ebpf,
    syscall_hooks: &'static [(&'static str, &'static str)],
) -> Result<Vec<(&'static str, u32)>, StartupError> {
    let mut ids = Vec::new();
    for (name, hook) in SCHED_HOOKS {
        let program = raw_tracepoint(ebpf, name).map_err(|e| StartupError::program(name, e))?;
        program.load().map_err(|e| StartupError::program(name, e))?;
        ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
        program.attach(hook).map_err(|e| StartupError::Attach { program: name, hook, error: chain(&e) })?;
    }
    for (name, _) in FLUSH_HOOKS {
        let program = raw_tracepoint(ebpf, name).map_err(|e| StartupError::program(name, e))?;
        program.load().map_err(|e| StartupError::program(name, e))?;
        ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
    }
    for run in [programs::FORGET_TGID, programs::CHANGE_WATCH] {
        raw_tracepoint(ebpf, run).and_then(|p| p.load()).map_err(|e| StartupError::program(run, e))?;
    }
    let btf = Btf::from_sys_fs().map_err(|e| StartupError::NoBtf(e.to_string()))?;
    for &(name, hook) in syscall_hooks {
        let program = btf_tracepoint(ebpf, name).map_err(|e| StartupError::program(name, e))?;
        program.load(hook, &btf).map_err(|e| StartupError::program(name, e))?;
        let info = program.info().map_err(|e| StartupError::program(name, e))?;
        // The verifier's work (its limit is a million): how near a change came.
        tracing::debug!(program = name, verified = ?info.verified_instruction_count(), "loaded");
        ids.push((name, info.id()));
    }
    Ok(ids)
}

/// The maps the daemon keeps, taken out of the object.
pub struct Maps {
    pub watched: HashMap<MapData, u32, WatchEntry>,
    /// A second handle on WATCHED, for the read side.
    pub watched_read: HashMap<MapData, u32, WatchEntry>,
    pub pending: HashMap<MapData, u32, u32>,
    pub threads: ThreadTable,
    pub counters: PerCpuArray<MapData, u64>,
    pub events: RingBuf<MapData>,
    pub filters: Array<MapData, SyscallFilter>,
}

impl Maps {
    pub fn take(ebpf: &mut Ebpf, table_size: u32) -> Result<Maps, StartupError> {
        let mut take =
            |name: &'static str| ebpf.take_map(name).ok_or_else(|| StartupError::Missing(format!("map `{name}`")));
        let filters = take(FILTERS)?;
        let (watched, pending, threads, owners, claims, counters, events) = (
            take(maps::WATCHED)?,
            take(maps::PENDING)?,
            take(maps::THREADS)?,
            take(maps::OWNERS)?,
            take(maps::CLAIMS)?,
            take(maps::COUNTERS)?,
            take(maps::EVENTS)?,
        );
        let threads = ThreadTable::new(threads, owners, claims, table_size)
            .map_err(|error| StartupError::Map { name: maps::THREADS, error })?;
        let watched_read = reopen(&watched).map_err(|error| StartupError::Map { name: maps::WATCHED, error })?;
        Ok(Maps {
            watched: typed(maps::WATCHED, watched)?,
            watched_read: typed(maps::WATCHED, watched_read)?,
            pending: typed(maps::PENDING, pending)?,
            threads,
            counters: typed(maps::COUNTERS, counters)?,
            events: typed(maps::EVENTS, events)?,
            filters: typed(FILTERS, filters)?,
        })
    }
}

fn typed<T: TryFrom<Map, Error = MapError>>(name: &'static str, map: Map) -> Result<T, StartupError> {
    T::try_from(map).map_err(|e| StartupError::Map { name, error: chain(&e) })
}

/// Bytes a CPU writes between wake-ups: an eighth of the ring per CPU, so
/// the ring cannot fill from records nobody was woken for.
fn wake_bytes(ring_bytes: u32) -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    (ring_bytes as u64 / 8 / cpus).max(1)
}

/// Tells the kernel what to capture for which syscall (from `syscall::table`).
fn capture_table(capture_bytes: u32, structs: bool) -> CaptureTable {
    let mut table = [CaptureSpec::NONE; capture::CAPTURE_ENTRIES as usize];
    for (nr, spec) in syscall::capture_specs() {
        // Buffers off (the default): the kernel would set up a capture for
        // every read and write and find nothing to do.
        let spec = if capture_bytes == 0 { spec.without_buffers() } else { spec };
        let spec = if structs { spec } else { spec.without_copies() };
        match usize::try_from(nr).ok().and_then(|nr| table.get_mut(nr)) {
            Some(entry) => *entry = spec,
            // The decode table's own test keeps every number in range.
            None => tracing::warn!("syscall {nr} is beyond the capture table: its arguments are not captured"),
        }
    }
    table
}

impl Settings {
    /// The thread table's size: `max_threads` rounded up to a power of two.
    pub fn thread_table_size(&self) -> u32 {
        limits::thread_table_size(self.max_threads)
    }
}

#[cfg(test)]
mod tests {
    use syscalls::Sysno;

    use super::*;

    #[test]
    fn with_buffers_off_the_kernel_sets_up_no_buffer_capture() {
        let entry = |table: &CaptureTable, s: Sysno| table[s.id() as usize];
        let off = capture_table(0, true);
        assert_eq!(entry(&off, Sysno::write), CaptureSpec::NONE);
        assert_eq!(entry(&off, Sysno::read), CaptureSpec::NONE);
        let recvfrom = entry(&off, Sysno::recvfrom);
        assert_eq!((recvfrom.addr_out, recvfrom.buf_out), (5, 0), "the address is still captured");
        assert_eq!(entry(&off, Sysno::openat).strings, 0b10);
        let on = capture_table(64, true);
        assert_eq!((entry(&on, Sysno::write).buf_in, entry(&on, Sysno::read).buf_out), (2, 2));
        let bare = capture_table(0, false);
        assert_eq!(entry(&bare, Sysno::fstat), CaptureSpec::NONE, "no struct copies: nothing to do");
        let stat = entry(&bare, Sysno::newfstatat);
        assert_eq!((stat.strings, stat.when), (0b10, CaptureSpec::AT_ENTRY), "its path is still copied");
        assert!(entry(&off, Sysno::fstat).at_exit());
    }
}
