//! Records the kernel writes to the ring buffer.
//!
//! Every record starts with a `u16` [`RecordKind`] so more kinds can be added
//! without breaking the reader.

/// The first two bytes of every ring-buffer record.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A [`SyscallRecord`].
    Syscall = 1,
    /// A [`ProcessRecord`].
    Process = 2,
    /// Copies of argument memory: [`crate::capture::CaptureHeader`] and items.
    Capture = 3,
    /// Several syscall and capture records of one thread: [`crate::batch`].
    Batch = 4,
    /// Syscall records of a process the ring had no room for: [`crate::loss`].
    Loss = 5,
}

impl RecordKind {
    pub fn of(bytes: &[u8]) -> Option<RecordKind> {
        match u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]) {
            1 => Some(RecordKind::Syscall),
            2 => Some(RecordKind::Process),
            3 => Some(RecordKind::Capture),
            4 => Some(RecordKind::Batch),
            5 => Some(RecordKind::Loss),
            _ => None,
        }
    }
}

/// The kernel started watching a process by itself: a child of a watched
/// process, a `--watch-all` process, or a pending watch it resolved. Comes
/// before any [`SyscallRecord`] of that process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Always `RecordKind::Process as u16`.
    pub kind: u16,
    pub _pad: u16,
    /// [`crate::WatchEntry`] flags.
    pub flags: u32,
    /// Host thread-group id.
    pub host_pid: u32,
    /// Pid in the daemon's namespace.
    pub ns_pid: u32,
    /// Namespace pid of the watched parent it was followed from, or 0.
    pub parent_ns_pid: u32,
    /// Its [`crate::WatchEntry::filter`] (inherited from that parent).
    pub filter: u32,
}

impl ProcessRecord {
    pub const SIZE: usize = core::mem::size_of::<ProcessRecord>();

    pub fn read(bytes: &[u8]) -> Option<ProcessRecord> {
        read_record(bytes, RecordKind::Process)
    }

    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }
}

/// A record of `kind` from ring-buffer bytes; `None` if too short or of another kind.
pub(crate) fn read_record<T: Copy>(bytes: &[u8], kind: RecordKind) -> Option<T> {
    if bytes.len() < core::mem::size_of::<T>() || RecordKind::of(bytes)? != kind {
        return None;
    }
    // SAFETY: length checked; the record types are plain data valid for any bit pattern.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) })
}

/// A record's bytes, as the kernel writes them (for tests and benchmarks).
pub(crate) fn bytes_of<T>(record: &T) -> &[u8] {
    // SAFETY: the record types are #[repr(C)] plain data without padding.
    unsafe { core::slice::from_raw_parts((record as *const T).cast(), core::mem::size_of::<T>()) }
}

/// One completed syscall (written at `sys_exit`), or one that never returns
/// (`exit`, `exit_group`: written at `sys_enter` with [`SyscallRecord::NO_RETURN`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallRecord {
    /// Always `RecordKind::Syscall as u16`.
    pub kind: u16,
    /// `SyscallRecord::NO_RETURN` and friends.
    pub flags: u16,
    pub nr: i32,
    /// Thread-group id and thread id in the daemon's PID namespace.
    pub pid: u32,
    pub tid: u32,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) at entry; with
    /// [`SyscallRecord::NO_ENTER_TIME`], the thread's call number instead.
    pub enter_ns: u64,
    /// `bpf_ktime_get_ns()` at exit (equal to `enter_ns` for `NO_RETURN`,
    /// unless `NO_ENTER_TIME`).
    pub exit_ns: u64,
    pub ret: i64,
    pub args: [u64; 6],
}

impl SyscallRecord {
    /// The call does not return (`exit`, `exit_group`); `ret` is meaningless.
    pub const NO_RETURN: u16 = 1;
    /// The copies of its argument memory were lost (ring buffer full).
    pub const CAPTURE_LOST: u16 = 2;
    /// Durations are off (`--durations false`, one clock read a call fewer):
    /// `enter_ns` is the thread's call number, which pairs capture records, not a
    /// time.
    pub const NO_ENTER_TIME: u16 = 4;
    /// The arguments are gone: a successful execve seen only at its exit
    /// (`--entry-hook false`), when the registers are the new program's.
    pub const ARGS_LOST: u16 = 8;
    pub const SIZE: usize = core::mem::size_of::<SyscallRecord>();

    /// Reads a record from ring-buffer bytes; `None` if too short or of another kind.
    pub fn read(bytes: &[u8]) -> Option<SyscallRecord> {
        read_record(bytes, RecordKind::Syscall)
    }

    /// The record's bytes, as the kernel would write them (for tests and benchmarks).
    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }
}

// No padding: as_bytes() exposes every byte.
const _: () = assert!(SyscallRecord::SIZE == 2 + 2 + 4 + 4 + 4 + 8 + 8 + 8 + 48);
const _: () = assert!(ProcessRecord::SIZE == 2 + 2 + 4 * 5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_bytes() {
        let r = SyscallRecord {
            kind: RecordKind::Syscall as u16,
            flags: 0,
            nr: 257,
            pid: 10,
            tid: 11,
            enter_ns: 100,
            exit_ns: 150,
            ret: -2,
            args: [1, 2, 3, 4, 5, 6],
        };
        assert_eq!(SyscallRecord::read(r.as_bytes()), Some(r));
    }

    #[test]
    fn process_records_round_trip() {
        let p = ProcessRecord { kind: RecordKind::Process as u16, host_pid: 900, ns_pid: 1, ..Default::default() };
        assert_eq!(ProcessRecord::read(p.as_bytes()), Some(p));
        assert_eq!(SyscallRecord::read(p.as_bytes()), None);
        assert_eq!(RecordKind::of(p.as_bytes()), Some(RecordKind::Process));
    }

    #[test]
    fn rejects_short_and_foreign_records() {
        let r = SyscallRecord { kind: RecordKind::Syscall as u16, ..Default::default() };
        assert_eq!(SyscallRecord::read(&r.as_bytes()[..SyscallRecord::SIZE - 1]), None);
        let other = SyscallRecord { kind: 99, ..Default::default() };
        assert_eq!(SyscallRecord::read(other.as_bytes()), None);
        assert_eq!(RecordKind::of(&[]), None);
    }
}
