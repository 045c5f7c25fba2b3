//! What the kernel copies out of a traced process's memory besides the raw
//! registers, and the record that carries it.
//!
//! Per syscall number, a [`CaptureSpec`] (set by the daemon from its decode
//! table) says which arguments point at strings, an argv array, a socket
//! address or a data buffer. The copies go out in an [`AuxHeader`] record with
//! [`AuxItem`]s, written before the syscall's [`crate::SyscallRecord`] (at
//! entry for inputs, at exit for outputs) and paired with it by thread and
//! entry time.

/// Global (read-only, set at load): a [`CaptureTable`].
pub const CAPTURE: &str = "CAPTURE";
/// Syscall numbers the CAPTURE table covers.
pub const CAPTURE_ENTRIES: u32 = 1024;
/// The CAPTURE table: a [`CaptureSpec`] per syscall number.
pub type CaptureTable = [CaptureSpec; CAPTURE_ENTRIES as usize];
/// An aux record stays below this many bytes.
pub const MAX_AUX_BYTES: usize = 2048;
/// Global: bytes of read/write buffers to copy (0: none, the default).
pub const BUFFER_BYTES: &str = "BUFFER_BYTES";

/// Longest string (path) copied, NUL included; longer ones are truncated.
pub const MAX_STRING: usize = 256;
/// argv entries copied from `execve`, and bytes of each.
pub const MAX_ARGV: usize = 6;
pub const MAX_ARGV_STRING: usize = 128;
/// Longest socket address copied.
pub const MAX_SOCKADDR: usize = 128;
/// Largest `BUFFER_BYTES`.
pub const MAX_BUFFER: usize = 256;

/// Argument positions are stored plus one, so 0 means "none". Aligned so
/// the kernel reads a table entry in two loads, not sixteen.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Bit i: argument i is a string, copied at entry.
    pub strings: u8,
    /// Argument holding an argv array (`char *const *`), copied at entry.
    pub argv: u8,
    /// Argument holding a socket address read by the kernel, and the
    /// argument holding its length (a value), copied at entry.
    pub addr_in: u8,
    pub addr_in_len: u8,
    /// Argument holding a socket address filled by the kernel, and the
    /// argument holding a pointer to its length, copied at exit.
    pub addr_out: u8,
    pub addr_out_len: u8,
    /// Argument holding data the process writes, and the argument holding its
    /// length, copied at entry (only with BUFFER_BYTES > 0).
    pub buf_in: u8,
    pub buf_in_len: u8,
    /// Argument holding data the kernel fills (length: the return value),
    /// copied at exit (only with BUFFER_BYTES > 0).
    pub buf_out: u8,
    pub _pad: [u8; 7],
}

impl CaptureSpec {
    /// Nothing to copy.
    pub const NONE: CaptureSpec = CaptureSpec {
        strings: 0,
        argv: 0,
        addr_in: 0,
        addr_in_len: 0,
        addr_out: 0,
        addr_out_len: 0,
        buf_in: 0,
        buf_in_len: 0,
        buf_out: 0,
        _pad: [0; 7],
    };

    pub fn at_entry(&self) -> bool {
        self.strings != 0 || self.argv != 0 || self.addr_in != 0 || self.buf_in != 0
    }
    pub fn at_exit(&self) -> bool {
        self.addr_out != 0 || self.buf_out != 0
    }

    /// The same without the data buffers, for a kernel told to copy none:
    /// a read or write then leaves its hooks without setting up a copy.
    pub fn without_buffers(self) -> CaptureSpec {
        CaptureSpec { buf_in: 0, buf_in_len: 0, buf_out: 0, ..self }
    }
}

/// The argument a [`CaptureSpec`] field names: positions are stored plus
/// one; 0 is "none".
#[inline(always)]
pub fn position(stored: u8) -> Option<u8> {
    (1..=6).contains(&stored).then(|| stored - 1)
}

/// The head of an aux record; `count` items follow, each an [`AuxItem`] and
/// its payload padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxHeader {
    /// Always `RecordKind::Aux as u16`.
    pub kind: u16,
    pub count: u16,
    pub nr: i32,
    pub pid: u32,
    pub tid: u32,
    /// The syscall's entry time: pairs it with its SyscallRecord.
    pub enter_ns: u64,
    /// Bytes of the whole record.
    pub len: u32,
    pub _pad: u32,
}

pub const AUX_HEADER_BYTES: usize = core::mem::size_of::<AuxHeader>();

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxItem {
    /// The argument it belongs to (0..=5).
    pub arg: u8,
    /// `AuxItem::STRING` and friends.
    pub kind: u8,
    /// `AuxItem::TRUNCATED`, `AuxItem::FAULT`, `AuxItem::MORE`.
    pub flags: u8,
    /// Position in an argv array.
    pub index: u8,
    /// Payload bytes (for strings: without the NUL).
    pub len: u16,
    pub _pad: u16,
}

pub const AUX_ITEM_BYTES: usize = core::mem::size_of::<AuxItem>();

impl AuxItem {
    pub const STRING: u8 = 1;
    pub const ARGV: u8 = 2;
    pub const SOCKADDR: u8 = 3;
    pub const BYTES: u8 = 4;

    /// The data went on beyond what was copied.
    pub const TRUNCATED: u8 = 1;
    /// The pointer could not be read (NULL, unmapped).
    pub const FAULT: u8 = 2;
    /// (argv) more entries follow than were copied.
    pub const MORE: u8 = 4;
}

/// Bytes an item takes in the record: its head and its payload rounded up to 8.
pub const fn item_span(len: usize) -> usize {
    AUX_ITEM_BYTES + ((len + 7) & !7)
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] data; every bit pattern is valid.
    unsafe impl aya::Pod for super::CaptureSpec {}
}
