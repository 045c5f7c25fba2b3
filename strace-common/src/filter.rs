//! A watch's kernel-side syscall filter (`PUT /v1/watch/{pid}?syscalls=`):
//! a bitmap of the syscall numbers to record, one per distinct filter in
//! the FILTERS array map, shared by the watches that use it. A watch's
//! [`crate::WatchEntry::filter`] names its slot (0: none, record every call),
//! and its process's cache byte says it is filtered
//! ([`crate::maps::state::filtered`]), so only filtered processes look their
//! filter up: `sys_enter` (and `sys_exit_only`) test the call's bit before the
//! thread's slot is written or anything copied, and a call whose bit is clear
//! leaves no record, costs no ring space and is not counted.
//!
//! The daemon writes the bitmaps ([`SyscallFilter::allow`]); the programs
//! read them ([`SyscallFilter::allows`]).

/// `Array<SyscallFilter>` of [`MAX_FILTERS`] slots; slot 0 is never used
/// (a `WatchEntry::filter` of 0 means none).
pub const FILTERS: &str = "FILTERS";
/// Distinct filters the kernel holds at once (slots 1..=MAX_FILTERS - 1).
pub const MAX_FILTERS: u32 = 64;
/// Syscall numbers a filter covers (as the CAPTURE table does); a number
/// beyond is never recorded by a filtered watch.
pub const FILTER_SYSCALLS: u32 = 1024;
const WORDS: usize = FILTER_SYSCALLS as usize / 64;

/// Bit `nr` set: record syscall `nr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyscallFilter {
    pub bits: [u64; WORDS],
}

impl SyscallFilter {
    /// Lets syscall `nr` through; false if the filter cannot hold it.
    pub fn allow(&mut self, nr: i32) -> bool {
        match u32::try_from(nr) {
            Ok(n) if n < FILTER_SYSCALLS => {
                self.bits[(n / 64) as usize] |= 1 << (n % 64);
                true
            }
            _ => false,
        }
    }

    /// Whether syscall `nr` is recorded. The word is read whatever `nr` is,
    /// at an index masked into the bitmap, before `nr` is compared: had the
    /// comparison come first, the compiler would have dropped the mask as
    /// redundant and indexed with a register the verifier cannot bound.
    #[inline(always)]
    pub fn allows(&self, nr: i32) -> bool {
        let n = nr as u32;
        let at = ((n >> 6) as usize) & (WORDS - 1);
        // SAFETY: `at` < WORDS; a volatile read stays where it is, unconditional.
        let word = unsafe { core::ptr::read_volatile(self.bits.as_ptr().add(at)) };
        n < FILTER_SYSCALLS && word & (1 << (n & 63)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }
}

const _: () = assert!(FILTER_SYSCALLS.is_multiple_of(64) && WORDS.is_power_of_two());
// The cache byte holds a filtered process's slot (maps::state::filtered).
const _: () = assert!(crate::maps::state::FILTERED_BASE as u32 + MAX_FILTERS <= 256);

#[cfg(feature = "user")]
// SAFETY: plain #[repr(C)] data; every bit pattern is valid.
unsafe impl aya::Pod for SyscallFilter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_through_exactly_the_numbers_allowed() {
        let mut f = SyscallFilter::default();
        assert!(f.is_empty());
        for nr in [0, 63, 64, 257, 1023] {
            assert!(f.allow(nr));
        }
        assert!(!f.allow(1024) && !f.allow(-1), "beyond the bitmap");
        for nr in 0..FILTER_SYSCALLS as i32 {
            assert_eq!(f.allows(nr), [0, 63, 64, 257, 1023].contains(&nr), "{nr}");
        }
        assert!(!f.allows(-1) && !f.allows(1024) && !f.allows(i32::MIN));
    }
}
