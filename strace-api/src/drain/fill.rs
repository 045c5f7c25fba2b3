//! How full the kernel ring buffer gets: the producer's and the consumer's
//! positions, read from a read-only mapping of their two pages of our own
//! (two loads, no syscall). Their difference is what is written and not yet
//! read, record headers included.
use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_is_the_distance_between_the_positions() {
        assert_eq!(used_bytes(4096, 4096), 0);
        assert_eq!(used_bytes(10_000, 4096), 5904);
        assert_eq!(used_bytes(5, u64::MAX - 2), 8, "positions that wrapped around");
    }
}
