//! Names and value types of the maps and globals the program defines.
//!
//! The names are the symbols in the eBPF object; userspace looks maps up by them.

/// `HashMap<u32, WatchEntry>`: thread-group ids (host pid namespace) to trace.
pub const WATCHED: &str = "WATCHED";
/// `HashMap<u32, ThreadSlot>`: one slot per traced thread, keyed by host tid.
pub const THREADS: &str = "THREADS";
/// `RingBuf` of records (see [`crate::record`]).
pub const EVENTS: &str = "EVENTS";
/// `PerCpuArray<u64>` indexed by [`Counter`].
pub const COUNTERS: &str = "COUNTERS";

/// Read-only globals set by the loader (`.rodata`, so the verifier sees constants).
pub mod globals {
    /// Syscall number of `exit` on the running architecture.
    pub const NR_EXIT: &str = "NR_EXIT";
    /// Syscall number of `exit_group` on the running architecture.
    pub const NR_EXIT_GROUP: &str = "NR_EXIT_GROUP";
}

/// Program names (the functions in `strace-ebpf`).
pub mod programs {
    pub const SYS_ENTER: &str = "sys_enter";
    pub const SYS_EXIT: &str = "sys_exit";
    pub const THREAD_EXIT: &str = "thread_exit";
}

/// Per-watched-process state kept by the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchEntry {
    /// Records of this process lost because the ring buffer was full.
    pub dropped: u64,
    /// Records of this process lost because the thread table was full.
    pub untracked: u64,
}

/// A thread's syscall in progress, written at `sys_enter` and read at `sys_exit`.
///
/// One slot per thread, inserted at the thread's first traced syscall and then
/// updated in place (an insert and a delete on every syscall cost more than the
/// record itself). Slots are removed when the thread exits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSlot {
    pub pid: u32,
    pub tid: u32,
    pub nr: i32,
    /// [`ThreadSlot::IDLE`] or [`ThreadSlot::IN_SYSCALL`].
    pub state: u32,
    pub enter_ns: u64,
    pub args: [u64; 6],
}

impl ThreadSlot {
    pub const IDLE: u32 = 0;
    pub const IN_SYSCALL: u32 = 1;
}

/// Indices of the per-CPU counter array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Ring-buffer reservations that failed: records lost.
    RingFull = 0,
    /// Syscalls of watched threads not traced because the thread table was full.
    ThreadsFull = 1,
}

impl Counter {
    pub const COUNT: u32 = 2;
    pub const ALL: [Counter; Self::COUNT as usize] = [Counter::RingFull, Counter::ThreadsFull];
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] data without padding holes that matter and without pointers.
    unsafe impl aya::Pod for super::WatchEntry {}
    unsafe impl aya::Pod for super::ThreadSlot {}
}
