//! Several records in one ring-buffer write.
//!
//! The kernel collects a CPU's syscall and capture records in a per-CPU buffer
//! and writes them to the ring buffer together: a [`BatchHeader`], then the
//! records, each starting 8-byte aligned. One ring write costs about as much
//! as the rest of a traced call (see bench/README.md), so a batch of ~40
//! records saves most of it.
//!
//! Every record in a batch belongs to one thread: the buffer is flushed when
//! its CPU switches tasks, so it only ever holds the running thread's
//! records. It is also flushed when it reaches [`FLUSH_AT`] bytes, when the
//! thread exits, and on hrtimer expiries (the scheduler tick among them,
//! every 1/HZ on a busy CPU, in high-resolution timer mode), so a thread
//! that stops making syscalls without leaving its CPU still has its records
//! delivered. When the hooks are detached, the daemon writes out every CPU's
//! buffer.
use crate::{RecordKind, SyscallRecord, capture::CaptureHeader, record::ProcessRecord};

/// Head of a batch record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchHeader {
    /// Always `RecordKind::Batch as u16`.
    pub kind: u16,
    pub _pad: u16,
    /// Records that follow.
    pub count: u32,
    /// Bytes of the whole batch, header included.
    pub len: u32,
    /// Host thread-group id of the thread whose records these are.
    pub host_pid: u32,
}

pub const HEADER_BYTES: usize = core::mem::size_of::<BatchHeader>();
/// A batch is written out once it holds this many bytes (a power of two:
/// before each record is added the buffer holds less, so the offset it goes
/// to can be masked with `FLUSH_AT - 1`).
pub const FLUSH_AT: usize = 4096;
/// The per-CPU buffer: room for `FLUSH_AT` bytes plus the largest record
/// (a capture record, below MAX_CAPTURE_BYTES, with up to MAX_STRING bytes of slack
/// for a copy in progress). A power of two, for the same reason.
pub const BATCH_BYTES: usize = 8192;

/// Bytes of a CPU's whole buffer as the kernel lays it out (strace-ebpf's
/// `batch::Batch`): 32 bytes of bookkeeping (`len` and `count` first, as
/// u32s), the losses waiting for room and a record being built
/// ([`crate::loss`]), 8 more bytes, then the `BATCH_BYTES` of records.
pub const CPU_BUFFER_BYTES: usize = 32 + (crate::loss::PENDING_LOSSES + 1) * crate::LossRecord::SIZE + 8 + BATCH_BYTES;

/// Where the next record goes after one of `len` bytes at `at`.
pub const fn next_offset(at: usize, len: usize) -> usize {
    (at + len + 7) & !7
}

impl BatchHeader {
    pub fn read(bytes: &[u8]) -> Option<BatchHeader> {
        if bytes.len() < HEADER_BYTES || RecordKind::of(bytes)? != RecordKind::Batch {
            return None;
        }
        // SAFETY: length checked; plain data, valid for any bit pattern.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) })
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: #[repr(C)] plain data without padding.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast(), HEADER_BYTES) }
    }
}

/// The records of a batch, in order. A record that does not parse ends the
/// walk; `Records::rest` then tells how many of the header's count were not
/// seen.
pub fn records(bytes: &[u8]) -> Option<Records<'_>> {
    let head = BatchHeader::read(bytes)?;
    let end = (head.len as usize).min(bytes.len());
    Some(Records { bytes: &bytes[..end], at: HEADER_BYTES, left: head.count })
}

pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
    left: u32,
}

impl Records<'_> {
    /// Records the header announced that the walk did not yield.
    pub fn rest(&self) -> u32 {
        self.left
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let rest = self.bytes.get(self.at..)?;
        let len = match RecordKind::of(rest)? {
            RecordKind::Syscall => SyscallRecord::SIZE,
            RecordKind::Process => ProcessRecord::SIZE,
            RecordKind::Capture => {
                let head = rest.get(..core::mem::size_of::<CaptureHeader>())?;
                // SAFETY: length checked; plain data.
                let head: CaptureHeader = unsafe { core::ptr::read_unaligned(head.as_ptr().cast()) };
                head.len as usize
            }
            RecordKind::Loss => crate::LossRecord::SIZE,
            RecordKind::Batch => return None, // batches do not nest
        };
        let record = rest.get(..len).filter(|_| len > 0)?;
        self.at = next_offset(self.at, len);
        self.left -= 1;
        Some(record)
    }
}

// No padding: as_bytes() exposes every byte.
const _: () = assert!(HEADER_BYTES == 16);
const _: () = assert!(SyscallRecord::SIZE.is_multiple_of(8));
const _: () = assert!(FLUSH_AT.is_power_of_two() && BATCH_BYTES.is_power_of_two());
const _: () = assert!(
    FLUSH_AT + crate::capture::MAX_CAPTURE_BYTES + crate::capture::CAPTURE_ITEM_BYTES + crate::capture::MAX_STRING
        <= BATCH_BYTES
);

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::capture::CAPTURE_HEADER_BYTES;

    fn batch(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = std::vec![0u8; HEADER_BYTES];
        for p in parts {
            out.extend_from_slice(p);
            out.resize(next_offset(out.len(), 0), 0);
        }
        let head = BatchHeader {
            kind: RecordKind::Batch as u16,
            count: parts.len() as u32,
            len: out.len() as u32,
            host_pid: 7,
            ..Default::default()
        };
        out[..HEADER_BYTES].copy_from_slice(head.as_bytes());
        out
    }

    fn capture(len: usize) -> Vec<u8> {
        let head = CaptureHeader { kind: RecordKind::Capture as u16, len: len as u32, ..Default::default() };
        let mut bytes = std::vec![0u8; len];
        // SAFETY: plain data.
        let head_bytes =
            unsafe { core::slice::from_raw_parts((&head as *const CaptureHeader).cast::<u8>(), CAPTURE_HEADER_BYTES) };
        bytes[..CAPTURE_HEADER_BYTES].copy_from_slice(head_bytes);
        bytes
    }

    #[test]
    fn walks_records_of_every_length_in_order() {
        let a = SyscallRecord { kind: RecordKind::Syscall as u16, nr: 1, ..Default::default() };
        let b = SyscallRecord { kind: RecordKind::Syscall as u16, nr: 2, ..Default::default() };
        let x = capture(45); // not a multiple of 8
        let bytes = batch(&[x.as_slice(), a.as_bytes(), b.as_bytes()]);
        let mut walk = records(&bytes).unwrap();
        assert_eq!(walk.next(), Some(x.as_slice()));
        assert_eq!(walk.next().and_then(SyscallRecord::read), Some(a));
        assert_eq!(walk.next().and_then(SyscallRecord::read), Some(b));
        assert_eq!(walk.next(), None);
        assert_eq!(walk.rest(), 0);
    }

    #[test]
    fn a_truncated_or_nested_batch_stops_the_walk_and_says_what_is_missing() {
        let a = SyscallRecord { kind: RecordKind::Syscall as u16, ..Default::default() };
        let bytes = batch(&[a.as_bytes(), a.as_bytes()]);
        let mut walk = records(&bytes[..HEADER_BYTES + SyscallRecord::SIZE + 10]).unwrap();
        assert!(walk.next().is_some());
        assert_eq!(walk.next(), None);
        assert_eq!(walk.rest(), 1);

        let inner = batch(&[a.as_bytes()]);
        let outer = batch(&[inner.as_slice()]);
        let mut walk = records(&outer).unwrap();
        assert_eq!(walk.next(), None);
        assert_eq!(walk.rest(), 1);
        assert!(records(a.as_bytes()).is_none());
    }

    #[test]
    fn a_capture_record_claiming_zero_bytes_is_not_an_endless_walk() {
        let bytes = batch(&[capture(CAPTURE_HEADER_BYTES).as_slice()]);
        let mut b = bytes.clone();
        b[HEADER_BYTES + 24..HEADER_BYTES + 28].copy_from_slice(&0u32.to_ne_bytes());
        let mut walk = records(&b).unwrap();
        assert_eq!(walk.next(), None);
        assert_eq!(walk.rest(), 1);
    }
}

/// Whatever bytes the ring hands over, the walk ends, stays inside them and
/// yields no more records than the header announced.
#[cfg(test)]
mod properties {
    extern crate std;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_walk_safely(mut bytes in proptest::collection::vec(any::<u8>(), 0..600), kind in 0u16..6, count in 0u32..64) {
            if bytes.len() >= HEADER_BYTES {
                // Often a batch header, so the walk goes further than the first check.
                bytes[..2].copy_from_slice(&kind.to_ne_bytes());
                bytes[4..8].copy_from_slice(&count.to_ne_bytes());
            }
            if let Some(mut walk) = records(&bytes) {
                let seen: Vec<&[u8]> = walk.by_ref().collect();
                let head = BatchHeader::read(&bytes).unwrap();
                prop_assert!(seen.len() as u32 <= head.count);
                prop_assert_eq!(seen.len() as u32 + walk.rest(), head.count);
                let base = bytes.as_ptr() as usize;
                for r in seen {
                    let at = r.as_ptr() as usize - base;
                    prop_assert!(!r.is_empty() && at + r.len() <= bytes.len());
                }
            }
        }
    }
}
