//! Maps and load-time globals. Sizes here are placeholders where the loader
//! sets them from the daemon's configuration (see strace-common's limits).
use aya_ebpf::{
    Global,
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use strace_common::{
    Counter, ThreadSlot, WatchEntry,
    filter::{MAX_FILTERS, SyscallFilter},
    limits,
};

#[map(name = "WATCHED")]
pub static WATCHED: HashMap<u32, WatchEntry> = HashMap::with_max_entries(limits::MAX_WATCHED, 0);

#[map(name = "PENDING")]
pub static PENDING: HashMap<u32, u32> = HashMap::with_max_entries(limits::MAX_PENDING, 0);

/// Mmapable, so userspace reads the calls in progress without a syscall per slot.
#[map(name = "THREADS")]
pub static THREADS: Array<ThreadSlot> = Array::with_max_entries(limits::DEFAULT_MAX_THREADS, BPF_F_MMAPABLE);

/// Which thread claimed a THREADS slot (by index): see threads.rs.
#[map(name = "CLAIMS")]
pub static CLAIMS: HashMap<u32, u32> = HashMap::with_max_entries(limits::DEFAULT_MAX_THREADS, 0);

/// The host tgid that owns each THREADS slot (0: free), written when a slot
/// is claimed or freed: 8 bytes a slot (array elements are 8-byte aligned),
/// so the daemon finds a process's slots by scanning this, not the whole table.
#[map(name = "OWNERS")]
pub static OWNERS: Array<u64> = Array::with_max_entries(limits::DEFAULT_MAX_THREADS, BPF_F_MMAPABLE);

#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(limits::DEFAULT_RING_BYTES, 0);

/// The watches' syscall filters, by slot (see strace_common::filter).
#[map(name = "FILTERS")]
pub static FILTERS: Array<SyscallFilter> = Array::with_max_entries(MAX_FILTERS, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

// Globals the loader overrides (see strace_common::maps::globals).
#[unsafe(no_mangle)]
pub static NR_EXIT: Global<i32> = Global::new(-1);
#[unsafe(no_mangle)]
pub static NR_EXIT_GROUP: Global<i32> = Global::new(-1);
#[unsafe(no_mangle)]
pub static NS_MODE: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static NS_DEV: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
pub static NS_INO: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
pub static SELF_PID: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static WATCH_ALL: Global<u32> = Global::new(0);
/// Every this many bytes a CPU wakes the reader (see emit::wake_flags).
#[unsafe(no_mangle)]
pub static WAKE_BYTES: Global<u64> = Global::new(1);
#[unsafe(no_mangle)]
pub static TASK_PID_OFFSET: Global<u32> = Global::new(0);
#[unsafe(no_mangle)]
pub static TASK_TGID_OFFSET: Global<u32> = Global::new(0);
/// See strace_common::maps::globals::FD_INODE_OFFSETS.
#[unsafe(no_mangle)]
pub static FD_INODE_OFFSETS: Global<[u32; 6]> = Global::new([0; 6]);
/// 0: no clock read at entry (see SyscallRecord::NO_ENTER_TIME).
#[unsafe(no_mangle)]
pub static DURATIONS: Global<u32> = Global::new(1);
#[unsafe(no_mangle)]
pub static NR_EXECVE: Global<i32> = Global::new(-1);
#[unsafe(no_mangle)]
pub static NR_EXECVEAT: Global<i32> = Global::new(-1);
#[unsafe(no_mangle)]
pub static NR_RT_SIGRETURN: Global<i32> = Global::new(-1);
#[unsafe(no_mangle)]
pub static NR_FORKS: Global<[i32; 4]> = Global::new([-1; 4]);
#[unsafe(no_mangle)]
pub static THREADS_MASK: Global<u32> = Global::new(limits::DEFAULT_MAX_THREADS - 1);
#[unsafe(no_mangle)]
pub static THREAD_SHARE: Global<u32> = Global::new(limits::DEFAULT_MAX_THREADS / 4);
/// See strace_common::maps::globals::RING_WARM and fair.rs.
#[unsafe(no_mangle)]
pub static RING_WARM: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
pub static RING_BUSY: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
pub static RING_SHARE: Global<u64> = Global::new(0);

/// Adds one to a per-CPU counter that only task-context programs change;
/// returns the old value.
#[inline(always)]
pub fn count(counter: Counter) -> u64 {
    match COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot; programs in task context do not nest on a CPU.
        Some(p) => unsafe {
            let old = *p;
            *p = old + 1;
            old
        },
        None => 0,
    }
}

/// Adds `n` to a per-CPU loss counter (RingFull, CaptureLost), which the timer
/// tick's flush may change in the middle of a task-context program: an
/// atomic add, so neither update is lost.
#[inline(always)]
pub fn count_lost(counter: Counter, n: u64) {
    if let Some(p) = COUNTERS.get_ptr_mut(counter as u32) {
        add(p, n);
    }
}

/// Adds one to a `u64` in a map value shared between CPUs.
#[inline(always)]
pub fn atomic_inc(p: *mut u64) {
    add(p, 1)
}

/// Adds `n` to a `u64` in a map value shared between CPUs.
#[inline(always)]
pub fn add(p: *mut u64, n: u64) {
    // SAFETY: `p` points into a live map value; BPF_ATOMIC add.
    unsafe { core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(p, n) };
}
