//! Loss in the timeline: where a process's records went missing.
//!
//! When a batch does not fit in the ring buffer its syscall records are
//! counted lost (for the process, [`crate::WatchEntry::dropped`], and
//! host-wide), and the kernel also writes a [`LossRecord`] saying how many,
//! for which process and thread, into the ring: at once if that small record
//! fits, otherwise ahead of the next write that does on that CPU (a CPU
//! keeps up to [`PENDING_LOSSES`] processes' losses waiting, adding up
//! those of one process; a loss that finds no room to wait is only counted,
//! [`crate::Counter::LossUnplaced`]). So the record comes after the
//! process's records that reached the ring before the loss and before those
//! that came after it: the daemon puts a gap there in the process's history.
//!
//! Writer (strace-ebpf's `batch.rs`) and reader ([`LossRecord::read`]) share
//! this layout. The process and thread are read from the lost batch's first
//! record: syscall and capture records both keep the namespace pid and tid
//! at the same offsets ([`RECORD_PID_OFFSET`], [`RECORD_TID_OFFSET`]).
use crate::{
    RecordKind, SyscallRecord,
    capture::CaptureHeader,
    record::{bytes_of, read_record},
};

/// Losses a CPU keeps waiting for room in the ring, one per process.
pub const PENDING_LOSSES: usize = 4;

/// Where the namespace pid and tid are in a syscall and in a capture record.
pub const RECORD_PID_OFFSET: usize = core::mem::offset_of!(SyscallRecord, pid);
pub const RECORD_TID_OFFSET: usize = core::mem::offset_of!(SyscallRecord, tid);
const _: () = assert!(RECORD_PID_OFFSET == core::mem::offset_of!(CaptureHeader, pid));
const _: () = assert!(RECORD_TID_OFFSET == core::mem::offset_of!(CaptureHeader, tid));

/// `count` syscall records of process `pid` the ring had no room for.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossRecord {
    /// Always `RecordKind::Loss as u16`.
    pub kind: u16,
    /// Why: [`LossRecord::RING_FULL`] or [`LossRecord::THROTTLED`].
    pub reason: u16,
    /// The process (namespace pid) and the thread whose records were lost
    /// first (namespace tid).
    pub pid: u32,
    pub tid: u32,
    /// Host thread-group id.
    pub host_pid: u32,
    /// Syscall records lost (capture records are counted host-wide only).
    pub count: u64,
    /// `bpf_ktime_get_ns()` when the first of them was lost.
    pub at_ns: u64,
}

impl LossRecord {
    /// The ring buffer had no room.
    pub const RING_FULL: u16 = 0;
    /// The ring was nearly full and the process had written more than its
    /// share: its records were dropped so that others' still fit.
    pub const THROTTLED: u16 = 1;

    pub const SIZE: usize = core::mem::size_of::<LossRecord>();

    pub fn read(bytes: &[u8]) -> Option<LossRecord> {
        read_record(bytes, RecordKind::Loss)
    }

    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }
}

// No padding: as_bytes() exposes every byte.
const _: () = assert!(LossRecord::SIZE == 2 + 2 + 4 * 3 + 8 * 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_records_round_trip_and_are_told_apart() {
        let l = LossRecord {
            kind: RecordKind::Loss as u16,
            pid: 7,
            tid: 8,
            host_pid: 900,
            count: 41,
            ..Default::default()
        };
        assert_eq!(LossRecord::read(l.as_bytes()), Some(l));
        assert_eq!(RecordKind::of(l.as_bytes()), Some(RecordKind::Loss));
        assert_eq!(SyscallRecord::read(l.as_bytes()), None);
        assert_eq!(LossRecord::read(&l.as_bytes()[..LossRecord::SIZE - 1]), None);
    }

    #[test]
    fn a_batch_carries_loss_records_among_the_others() {
        let s = SyscallRecord { kind: RecordKind::Syscall as u16, pid: 7, ..Default::default() };
        let l = LossRecord { kind: RecordKind::Loss as u16, pid: 7, count: 3, ..Default::default() };
        let mut bytes = std::vec![0u8; crate::batch::HEADER_BYTES];
        bytes.extend_from_slice(l.as_bytes());
        bytes.extend_from_slice(s.as_bytes());
        let head = crate::batch::BatchHeader {
            kind: RecordKind::Batch as u16,
            count: 2,
            len: bytes.len() as u32,
            ..Default::default()
        };
        bytes[..crate::batch::HEADER_BYTES].copy_from_slice(head.as_bytes());
        let walked: std::vec::Vec<_> = crate::batch::records(&bytes).unwrap().collect();
        assert_eq!(walked, [l.as_bytes(), s.as_bytes()]);
    }

    extern crate std;
}
