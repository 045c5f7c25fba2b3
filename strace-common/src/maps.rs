//! Names and value types of the maps and globals the program defines.
//!
//! The names are the symbols in the eBPF object; userspace looks maps up by them.

/// `HashMap<u32, WatchEntry>`: watched thread groups, keyed by host tgid. The
/// authority the kernel's cache ([`state`]) is filled from.
pub const WATCHED: &str = "WATCHED";
/// `HashMap<u32, u32>`: watch requests by namespace pid for processes the
/// kernel has not seen yet (value: [`WatchEntry`] flags and filter slot,
/// [`WatchEntry::pending`]).
pub const PENDING: &str = "PENDING";
/// `Array<ThreadSlot>` (mmapable): one slot per traced thread, in an
/// open-addressed table keyed by host tid (see [`ThreadSlot`]).
pub const THREADS: &str = "THREADS";
/// `HashMap<u32, u32>`: THREADS slot index → the host tid that claimed it
/// (an insert that fails if the key exists decides races for a free slot).
pub const CLAIMS: &str = "CLAIMS";
/// `Array<u64>` (mmapable): the host tgid owning each THREADS slot, 0 if free
/// (the daemon scans this to find a process's slots).
pub const OWNERS: &str = "OWNERS";
/// `RingBuf` of records (see [`crate::record`]).
pub const EVENTS: &str = "EVENTS";
/// `PerCpuArray<u64>` indexed by [`Counter`].
pub const COUNTERS: &str = "COUNTERS";

/// Values of the cache bytes: a byte per host thread-group id, in the
/// program's global data (not a named map), saying whether the process is
/// watched. The hot-path filter; userspace resets a byte by running
/// [`programs::FORGET_TGID`].
pub mod state {
    /// Not looked at since the process started (or since the cache was reset):
    /// the next syscall classifies it.
    pub const UNKNOWN: u8 = 0;
    /// Not watched.
    pub const IGNORED: u8 = 1;
    /// Watched.
    pub const WATCHED: u8 = 2;
    /// A child the fork hook could not watch (the watch table was full):
    /// its first syscall tells userspace (a [`super::WatchEntry::REFUSED`]
    /// process record), then the byte becomes IGNORED.
    pub const REFUSED: u8 = 255;
    /// Watched with a kernel-side filter: the byte is `filtered(slot)`, from
    /// FILTERED_BASE on, so the filter is found without looking the watch
    /// up (see [`crate::filter`]).
    pub const FILTERED_BASE: u8 = 3;
    /// Host tgids the cache covers (PID_MAX_LIMIT on 64-bit).
    pub const TGIDS: u32 = 1 << 22;

    /// The cache byte of a process watched with filter `slot` (1..MAX_FILTERS);
    /// WATCHED for none (0) or a slot out of range.
    pub const fn filtered(slot: u32) -> u8 {
        if slot == 0 || slot >= crate::filter::MAX_FILTERS { WATCHED } else { FILTERED_BASE - 1 + slot as u8 }
    }

    /// The filter slot of a cache byte that is at least FILTERED_BASE.
    #[inline(always)]
    pub const fn filter_slot(byte: u8) -> u32 {
        (byte - (FILTERED_BASE - 1)) as u32
    }
}

/// Read-only globals set by the loader (`.rodata`, so the verifier sees constants).
pub mod globals {
    /// Syscall number of `exit` on the running architecture.
    pub const NR_EXIT: &str = "NR_EXIT";
    /// Syscall number of `exit_group` on the running architecture.
    pub const NR_EXIT_GROUP: &str = "NR_EXIT_GROUP";
    /// 0: the daemon is in the initial PID namespace (ids are host ids);
    /// 1: translate with `bpf_get_ns_current_pid_tgid(NS_DEV, NS_INO)`.
    pub const NS_MODE: &str = "NS_MODE";
    pub const NS_DEV: &str = "NS_DEV";
    pub const NS_INO: &str = "NS_INO";
    /// The daemon's own pid in its namespace: never watched.
    pub const SELF_PID: &str = "SELF_PID";
    /// Non-zero: watch every process of the namespace, with these [`super::WatchEntry`] flags.
    pub const WATCH_ALL: &str = "WATCH_ALL";
    /// Every this many bytes written a CPU wakes the reader; in between the
    /// reader drains on a timer.
    pub const WAKE_BYTES: &str = "WAKE_BYTES";
    /// Byte offsets of `pid` and `tgid` in `struct task_struct`, from the kernel's BTF.
    pub const TASK_PID_OFFSET: &str = "TASK_PID_OFFSET";
    pub const TASK_TGID_OFFSET: &str = "TASK_TGID_OFFSET";
    /// Byte offsets, from the kernel's BTF, of what leads from a task to an
    /// fd's inode number: `task_struct.files`, `files_struct.fdt`,
    /// `fdtable.max_fds`, `fdtable.fd`, `file.f_inode`, `inode.i_ino` (a
    /// `[u32; 6]`; zeros when the BTF lacks one: no inode is read).
    pub const FD_INODE_OFFSETS: &str = "FD_INODE_OFFSETS";
    /// 1: read the clock at entry too, for durations; 0: at exit only.
    pub const DURATIONS: &str = "DURATIONS";
    /// execve and execveat: with the entry hook off, their arguments are
    /// gone at exit when they succeed.
    pub const NR_EXECVE: &str = "NR_EXECVE";
    pub const NR_EXECVEAT: &str = "NR_EXECVEAT";
    /// rt_sigreturn, whose number at exit is -1 (the signal frame's).
    pub const NR_RT_SIGRETURN: &str = "NR_RT_SIGRETURN";
    /// clone, clone3, fork, vfork (-1 where there is none): a new thread's
    /// first exit is its side of one of these, returning 0.
    pub const NR_FORKS: &str = "NR_FORKS";
    /// THREADS has a power-of-two number of slots; this is that number - 1.
    pub const THREADS_MASK: &str = "THREADS_MASK";
    /// Thread slots one process may hold at most (its fair share of THREADS).
    pub const THREAD_SHARE: &str = "THREAD_SHARE";
    /// The ring's fair share (see strace-ebpf's `fair.rs`): bytes waiting in
    /// the ring above which writers' shares are kept (0: never, fairness
    /// off), above which a process over its share is throttled, and the
    /// share, in bytes written while the ring is that full (paid back at
    /// about a share a second). `u64`s.
    pub const RING_WARM: &str = "RING_WARM";
    pub const RING_BUSY: &str = "RING_BUSY";
    pub const RING_SHARE: &str = "RING_SHARE";
}

/// Program names (the functions in `strace-ebpf`).
pub mod programs {
    pub const SYS_ENTER: &str = "sys_enter";
    pub const SYS_EXIT: &str = "sys_exit";
    /// sys_exit with no sys_enter (`--entry-hook false`).
    pub const SYS_EXIT_ONLY: &str = "sys_exit_only";
    pub const THREAD_EXIT: &str = "thread_exit";
    pub const PROCESS_FORK: &str = "process_fork";
    pub const PROCESS_EXEC: &str = "process_exec";
    pub const TASK_SWITCH: &str = "task_switch";
    pub const TICK: &str = "tick";
    /// Never attached: the daemon runs it to reset a tgid's cache byte.
    pub const FORGET_TGID: &str = "forget_tgid";
    /// Never attached: the daemon runs it to change a watch's flags and
    /// filter in place, leaving the kernel's counters in it alone.
    pub const CHANGE_WATCH: &str = "change_watch";
}

/// Per-watched-process state kept by the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchEntry {
    /// Records of this process lost because the ring buffer was full.
    pub dropped: u64,
    /// Syscalls of this process not traced because the thread table was full.
    pub untracked: u64,
    /// The process's pid in the daemon's namespace; 0 until the kernel has seen it.
    pub ns_pid: u32,
    /// The namespace pid of the watched parent it was followed from, or 0.
    pub parent_ns_pid: u32,
    /// `WatchEntry::FOLLOW_CHILDREN` and friends.
    pub flags: u32,
    /// Its kernel-side syscall filter's slot in FILTERS (0: none, every call
    /// recorded); children it follows inherit it. See [`crate::filter`].
    pub filter: u32,
    /// Of `dropped`, the records dropped because the process had written
    /// more than its share of a ring that was nearly full (throttled).
    pub throttled: u64,
    /// Of `untracked`, the calls of threads beyond the process's share of
    /// the thread table.
    pub over_thread_share: u64,
    /// Thread slots the process holds (kernel-kept; may dip below 0 as an
    /// `i64` after a race, read as 0).
    pub threads: u64,
    /// Bytes it wrote while the ring was nearly full, less what time paid
    /// back (see strace-ebpf's `fair.rs`), and when that was last worked out.
    pub debt: u64,
    pub debt_ns: u64,
}

impl WatchEntry {
    /// A PENDING value: the watch's flags and its filter slot.
    pub const fn pending(flags: u32, filter: u32) -> u32 {
        flags & 0xffff | filter << 16
    }

    /// The (flags, filter slot) of a PENDING value.
    pub const fn from_pending(value: u32) -> (u32, u32) {
        (value & 0xffff, value >> 16)
    }

    /// Processes it forks are watched too, from their first syscall.
    pub const FOLLOW_CHILDREN: u32 = 1;
    /// Watched because of `--watch-all`.
    pub const AUTO: u32 = 2;
    /// Watched because its parent was.
    pub const CHILD: u32 = 4;
    /// In a [`crate::ProcessRecord`]: the process was to be watched, but the
    /// watch table (WATCHED) was full: it is not.
    pub const REFUSED: u32 = 8;
}

/// A thread's syscall in progress, written at `sys_enter` and read at `sys_exit`.
///
/// One slot per thread, claimed at the thread's first traced syscall and then
/// updated in place; freed when the thread exits. The slots form an
/// open-addressed table in an array: a thread's slot is the first of
/// [`ThreadSlot::PROBES`] consecutive slots from its home
/// ([`ThreadSlot::index`]) whose owner is that thread. Array lookups are
/// inlined by the verifier, where a hash-map lookup is a call
/// (bench/README.md: ~8 ns per hook).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSlot {
    /// `host_tgid << 32 | host_tid`, or 0 when the slot is free, or
    /// [`ThreadSlot::RETIRED`] between an unwatch and its grace period's end.
    /// Whoever sets it holds the slot's key in CLAIMS, so two threads cannot
    /// take one slot.
    pub owner: u64,
    /// Namespace ids (what records carry).
    pub pid: u32,
    pub tid: u32,
    pub nr: i32,
    /// [`ThreadSlot::IDLE`] or [`ThreadSlot::IN_SYSCALL`].
    pub state: u32,
    pub enter_ns: u64,
    pub args: [u64; 6],
    /// `SyscallRecord` flags for the call in progress (e.g. CAPTURE_LOST).
    pub flags: u32,
    pub _pad: u32,
}

impl ThreadSlot {
    pub const IDLE: u32 = 0;
    pub const IN_SYSCALL: u32 = 1;
    /// Slots looked at for one thread: a thread whose slots are all taken by
    /// others is not traced (counted as `Counter::ThreadsFull`).
    pub const PROBES: u32 = 8;
    /// The owner of a slot the daemon is freeing (an unwatch): no thread
    /// finds it (no tid is u32::MAX) and none may claim it until the daemon
    /// has waited for the programs that found it before to finish; then it
    /// becomes free (0).
    pub const RETIRED: u64 = u64::MAX;

    pub const fn owner_of(host_pid: u32, host_tid: u32) -> u64 {
        (host_pid as u64) << 32 | host_tid as u64
    }

    /// Host thread-group id of the owner (to count losses against the right process).
    pub const fn host_pid(&self) -> u32 {
        (self.owner >> 32) as u32
    }

    pub const fn host_tid(&self) -> u32 {
        self.owner as u32
    }

    /// Table index of the `probe`-th slot a thread may own: consecutive
    /// from the thread's home, `host_tid` times an odd constant (Fibonacci
    /// hashing). With `tid & mask` as the home, threads with consecutive tids
    /// (a fork burst, a thread pool) had overlapping runs of slots, and one
    /// thread pushed off its home could leave a neighbour none of its eight:
    /// never traced, counted as ThreadsFull with the table 1% full.
    pub const fn index(host_tid: u32, probe: u32, mask: u32) -> u32 {
        host_tid.wrapping_mul(0x9e37_79b1).wrapping_add(probe) & mask
    }
}

/// Indices of the per-CPU counter array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Records lost because the ring buffer was full.
    RingFull = 0,
    /// Syscalls of watched threads not traced because the thread table was full.
    ThreadsFull = 1,
    /// Processes that should have been watched (children, `--watch-all`, pending
    /// watches) but did not fit in the watch table.
    WatchedFull = 2,
    /// Capture records (argument copies) lost because the ring buffer was full;
    /// a syscall whose copies were lost without it is flagged
    /// `SyscallRecord::CAPTURE_LOST`.
    CaptureLost = 3,
    /// Bytes written since this CPU last woke the reader (not a loss).
    SinceWake = 4,
    /// Loss records (see [`crate::loss`]) that found no room to wait in:
    /// their counts are still in their processes' `dropped`, but have no
    /// place in the timeline.
    LossUnplaced = 5,
    /// Syscall records dropped because their process had more than its
    /// share of a nearly full ring (also in its `dropped`).
    Throttled = 6,
    /// Syscalls not traced because their process held its share of the
    /// thread table (also in its `dropped`; not in ThreadsFull).
    ThreadShare = 7,
}

impl Counter {
    pub const COUNT: u32 = 8;
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] data without pointers; every bit pattern is valid.
    unsafe impl aya::Pod for super::WatchEntry {}
    unsafe impl aya::Pod for super::ThreadSlot {}
}
