//! Bounds of every kernel-side table. Userspace may lower or raise the sizing
//! defaults at load time; these are the defaults and the hard ceilings.

/// Default ring-buffer size in bytes (a power of two, a multiple of the page size).
pub const DEFAULT_RING_BYTES: u32 = 8 << 20;
/// Smallest ring buffer the daemon accepts.
pub const MIN_RING_BYTES: u32 = 64 << 10;
/// Largest ring buffer the daemon accepts.
pub const MAX_RING_BYTES: u32 = 1 << 30;

/// Processes (thread groups) that can be watched at once, by default.
pub const MAX_WATCHED: u32 = 8192;
/// The most `--max-watched` may ask for.
pub const MAX_WATCHED_LIMIT: u32 = 1 << 20;

/// Watch requests waiting for the kernel to see their process.
pub const MAX_PENDING: u32 = 1024;

/// Default number of per-thread syscall-entry slots (threads of watched
/// processes that made a syscall since they were watched). The table size is
/// this rounded up to a power of two.
pub const DEFAULT_MAX_THREADS: u32 = 16384;
/// Largest thread table the daemon accepts.
pub const MAX_THREADS: u32 = 1 << 22;

/// A process's share of the thread table by default: a quarter of it.
pub const fn thread_share(table_size: u32) -> u32 {
    if table_size / 4 == 0 { 1 } else { table_size / 4 }
}

/// The ring's fair share (strace-ebpf's `fair.rs`) for a ring of `ring`
/// bytes: (warm, busy, share) in bytes. Above half full writers' shares are
/// kept; above three quarters one over its share is throttled; a share is
/// 1/256 of the ring, at least 16 KiB (20 calls with their copies and more).
pub const fn ring_share(ring: u64) -> (u64, u64, u64) {
    let share = if ring / 256 < 16 << 10 { 16 << 10 } else { ring / 256 };
    (ring / 2, ring / 4 * 3, share)
}

/// The thread table's size for a configured maximum: the next power of two.
pub const fn thread_table_size(max_threads: u32) -> u32 {
    let n = if max_threads == 0 { 1 } else { max_threads };
    if n > MAX_THREADS { MAX_THREADS } else { n.next_power_of_two() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ThreadSlot;

    #[test]
    fn the_thread_table_is_a_power_of_two_within_bounds() {
        assert_eq!(thread_table_size(DEFAULT_MAX_THREADS), DEFAULT_MAX_THREADS);
        assert_eq!(thread_table_size(100), 128);
        assert_eq!(thread_table_size(0), 1);
        assert_eq!(thread_table_size(u32::MAX), MAX_THREADS);
    }

    #[test]
    fn a_threads_slots_wrap_around_the_table() {
        let mask = thread_table_size(64) - 1;
        let home = ThreadSlot::index(62, 0, mask);
        let slots: [u32; ThreadSlot::PROBES as usize] = core::array::from_fn(|p| ThreadSlot::index(62, p as u32, mask));
        assert_eq!(slots, core::array::from_fn(|p| (home + p as u32) & mask));
        assert!(slots.iter().all(|&s| s <= mask));
        let slot = ThreadSlot { owner: ThreadSlot::owner_of(7, 9), ..Default::default() };
        assert_eq!((slot.host_pid(), slot.host_tid()), (7, 9));
    }

    /// Threads with consecutive tids do not share slots: a burst of 64 of
    /// them in the default table has runs that never overlap.
    #[test]
    fn consecutive_tids_have_separate_runs() {
        let mask = DEFAULT_MAX_THREADS - 1;
        let homes: [u32; 64] = core::array::from_fn(|i| ThreadSlot::index(10_300 + i as u32, 0, mask));
        for (i, a) in homes.iter().enumerate() {
            for b in &homes[i + 1..] {
                let gap = a.wrapping_sub(*b) & mask;
                assert!(gap >= ThreadSlot::PROBES && gap <= mask + 1 - ThreadSlot::PROBES, "{a} and {b} overlap");
            }
        }
    }
}
