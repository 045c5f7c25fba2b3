//! How full the kernel ring buffer gets: the producer's and the consumer's
//! positions, read from a read-only mapping of their two pages of our own
//! (two loads, no syscall). Their difference is what is written and not yet
//! read, record headers included.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use serde::Serialize;

pub struct RingFill {
    /// The consumer's page, then the producer's.
    pages: NonNull<u8>,
    page: usize,
}

// SAFETY: a read-only shared mapping, read with atomic loads only.
unsafe impl Send for RingFill {}

impl RingFill {
    /// Maps the first two pages of the ring buffer map `fd`: the consumer's
    /// position, then the producer's (the kernel allows both read-only).
    pub fn map(fd: BorrowedFd<'_>) -> io::Result<RingFill> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).map_err(io::Error::other)?;
        // SAFETY: a new shared read-only mapping of the map's fd; unmapped on drop.
        let ptr =
            unsafe { libc::mmap(std::ptr::null_mut(), 2 * page, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let pages = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(RingFill { pages, page })
    }

    /// Bytes in the ring now, written and not read yet.
    pub fn used(&self) -> u64 {
        // SAFETY: each position is the first, aligned u64 of its mapped page.
        let position = |at: usize| unsafe { AtomicU64::from_ptr(self.pages.as_ptr().add(at).cast()) };
        // The consumer first: the producer is never behind a position it
        // passed before.
        let consumer = position(0).load(Ordering::Acquire);
        let producer = position(self.page).load(Ordering::Acquire);
        used_bytes(producer, consumer)
    }
}

impl Drop for RingFill {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`.
        unsafe { libc::munmap(self.pages.as_ptr().cast(), 2 * self.page) };
    }
}

/// Positions only grow (and would wrap around together).
fn used_bytes(producer: u64, consumer: u64) -> u64 {
    producer.wrapping_sub(consumer)
}

/// The ring's size and the most it has held since the daemon started, for
/// /healthz: how close the drain came to losing records.
#[derive(Debug, Default)]
pub struct RingUse {
    size: AtomicU64,
    /// Whether the drain reads the ring's fill level (it could map the
    /// positions): the peak means nothing otherwise.
    tracked: AtomicBool,
    peak: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RingTotals {
    pub size_bytes: u64,
    /// The most the ring held when the drain looked (before each pass, and
    /// every few hundred records during one); `null` if the drain cannot
    /// read the fill level (it says why in the log).
    pub peak_used_bytes: Option<u64>,
}

impl RingUse {
    pub fn set_size(&self, bytes: u64) {
        self.size.store(bytes, Ordering::Relaxed);
    }

    /// The drain reads the fill level from now on.
    pub fn track(&self) {
        self.tracked.store(true, Ordering::Relaxed);
    }

    pub fn note(&self, used: u64) {
        self.peak.fetch_max(used, Ordering::Relaxed);
    }

    pub fn totals(&self) -> RingTotals {
        RingTotals {
            size_bytes: self.size.load(Ordering::Relaxed),
            peak_used_bytes: self.tracked.load(Ordering::Relaxed).then(|| self.peak.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_is_the_distance_between_the_positions() {
        assert_eq!(used_bytes(4096, 4096), 0);
        assert_eq!(used_bytes(10_000, 4096), 5904);
        assert_eq!(used_bytes(5, u64::MAX - 2), 8, "positions that wrapped around");
    }

    #[test]
    fn the_peak_only_grows() {
        let r = RingUse::default();
        r.set_size(1 << 20);
        assert_eq!(r.totals().peak_used_bytes, None, "not tracked yet");
        r.track();
        for used in [100, 70_000, 5, 0] {
            r.note(used);
        }
        assert_eq!(r.totals(), RingTotals { size_bytes: 1 << 20, peak_used_bytes: Some(70_000) });
    }
}
