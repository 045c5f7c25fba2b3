//! Captures: what the kernel copies out of a traced process's memory besides
//! the raw registers (strings, argv, socket addresses, data buffers), and the
//! record that carries them. The one name for these copies everywhere: the
//! kernel captures, userspace pairs a capture with its call and decodes it.
//!
//! Per syscall number, a [`CaptureSpec`] (set by the daemon from its decode
//! table) says which arguments point at strings, an argv array, a socket
//! address or a data buffer. The copies go out in a capture record, a
//! [`CaptureHeader`] and [`CaptureItem`]s, written before the syscall's
//! [`crate::SyscallRecord`] (at entry for inputs, at exit for outputs) and
//! paired with it by thread and entry time.
//!
//! Both halves of the format are here: the layout the kernel writes
//! (strace-ebpf's `capture.rs` is the writer) and the reader userspace walks
//! a record's items with ([`parse`], [`items`], [`find`]); [`build`] writes
//! items in userspace (copies read from /proc, and tests).

/// Global (read-only, set at load): a [`CaptureTable`].
pub const CAPTURE: &str = "CAPTURE";
/// Syscall numbers the CAPTURE table covers.
pub const CAPTURE_ENTRIES: u32 = 1024;
/// The CAPTURE table: a [`CaptureSpec`] per syscall number.
pub type CaptureTable = [CaptureSpec; CAPTURE_ENTRIES as usize];
/// A capture record stays below this many bytes.
pub const MAX_CAPTURE_BYTES: usize = 2048;
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

/// The head of a capture record; `count` items follow, each an [`CaptureItem`] and
/// its payload padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureHeader {
    /// Always `RecordKind::Capture as u16`.
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

pub const CAPTURE_HEADER_BYTES: usize = core::mem::size_of::<CaptureHeader>();

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureItem {
    /// The argument it belongs to (0..=5).
    pub arg: u8,
    /// `CaptureItem::STRING` and friends.
    pub kind: u8,
    /// `CaptureItem::TRUNCATED`, `CaptureItem::FAULT`, `CaptureItem::MORE`.
    pub flags: u8,
    /// Position in an argv array.
    pub index: u8,
    /// Payload bytes (for strings: without the NUL).
    pub len: u16,
    pub _pad: u16,
}

pub const CAPTURE_ITEM_BYTES: usize = core::mem::size_of::<CaptureItem>();

impl CaptureItem {
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
    CAPTURE_ITEM_BYTES + ((len + 7) & !7)
}

/// One captured piece of argument memory, as the reader yields it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub arg: u8,
    pub kind: u8,
    pub flags: u8,
    pub index: u8,
    pub data: &'a [u8],
}

impl Item<'_> {
    pub fn truncated(&self) -> bool {
        self.flags & CaptureItem::TRUNCATED != 0
    }
    pub fn fault(&self) -> bool {
        self.flags & CaptureItem::FAULT != 0
    }
}

/// The head of a capture record and its items' bytes; `None` if malformed.
pub fn parse(bytes: &[u8]) -> Option<(CaptureHeader, &[u8])> {
    if bytes.len() < CAPTURE_HEADER_BYTES {
        return None;
    }
    // SAFETY: length checked; plain data valid for any bit pattern.
    let head: CaptureHeader = unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast()) };
    let end = (head.len as usize).min(bytes.len());
    (end >= CAPTURE_HEADER_BYTES).then(|| (head, &bytes[CAPTURE_HEADER_BYTES..end]))
}

/// The items of an items region (a record's, as [`parse`] gives it, or as
/// kept with an event). A cut item ends the walk.
pub fn items(mut region: &[u8]) -> impl Iterator<Item = Item<'_>> {
    core::iter::from_fn(move || {
        if region.len() < CAPTURE_ITEM_BYTES {
            return None;
        }
        // SAFETY: length checked; plain data valid for any bit pattern.
        let head: CaptureItem = unsafe { core::ptr::read_unaligned(region.as_ptr().cast()) };
        let len = head.len as usize;
        let data = region.get(CAPTURE_ITEM_BYTES..CAPTURE_ITEM_BYTES + len)?;
        let item = Item { arg: head.arg, kind: head.kind, flags: head.flags, index: head.index, data };
        region = region.get(item_span(len)..).unwrap_or(&[]);
        Some(item)
    })
}

/// The item of kind `kind` for argument `arg`, if captured.
pub fn find(region: &[u8], arg: usize, kind: u8) -> Option<Item<'_>> {
    items(region).find(|i| i.arg as usize == arg && i.kind == kind)
}

/// An items region of (arg, kind, flags, index, data), laid out as the
/// kernel writes them: for captures made in userspace (a blocked call's
/// inputs read from /proc) and tests.
#[cfg(feature = "user")]
pub fn build(items: &[(u8, u8, u8, u8, &[u8])]) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::new();
    for &(arg, kind, flags, index, data) in items {
        let head = CaptureItem { arg, kind, flags, index, len: data.len() as u16, _pad: 0 };
        // SAFETY: #[repr(C)] plain data without padding.
        let bytes: [u8; CAPTURE_ITEM_BYTES] = unsafe { core::mem::transmute(head) };
        out.extend_from_slice(&bytes);
        out.extend_from_slice(data);
        out.resize(out.len() + (item_span(data.len()) - CAPTURE_ITEM_BYTES - data.len()), 0);
    }
    out
}

// No padding: `build` and the kernel's writer expose every byte.
const _: () = assert!(CAPTURE_ITEM_BYTES == 8 && CAPTURE_HEADER_BYTES == 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] data; every bit pattern is valid.
    unsafe impl aya::Pod for super::CaptureSpec {}
}

#[cfg(all(test, feature = "user"))]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let region =
            build(&[(1, CaptureItem::STRING, 0, 0, b"/etc/hosts"), (2, CaptureItem::ARGV, CaptureItem::MORE, 6, b"")]);
        let all: alloc::vec::Vec<_> = items(&region).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].data, b"/etc/hosts");
        assert_eq!((all[1].arg, all[1].flags, all[1].index), (2, CaptureItem::MORE, 6));
        assert_eq!(find(&region, 1, CaptureItem::STRING).unwrap().data, b"/etc/hosts");
        assert!(find(&region, 0, CaptureItem::STRING).is_none());
        assert_eq!(items(&region[..5]).count(), 0, "a cut record yields nothing");
    }

    #[test]
    fn parse_checks_lengths() {
        assert!(parse(&[0; 10]).is_none());
        let head = CaptureHeader { kind: 3, count: 0, len: CAPTURE_HEADER_BYTES as u32, ..Default::default() };
        // SAFETY: plain data.
        let bytes: [u8; CAPTURE_HEADER_BYTES] = unsafe { core::mem::transmute(head) };
        let (h, region) = parse(&bytes).unwrap();
        assert_eq!((h.kind, region.len()), (3, 0));
    }
}

/// Whatever bytes a capture record holds, reading it stays inside them.
#[cfg(all(test, feature = "user"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_bytes_parse_and_walk_safely(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let region = match parse(&bytes) {
                Some((_, region)) => region,
                None => &bytes[..],
            };
            let base = region.as_ptr() as usize;
            for item in items(region) {
                let at = item.data.as_ptr() as usize - base;
                prop_assert!(at + item.data.len() <= region.len());
            }
        }

        #[test]
        fn what_build_writes_reads_back(parts in proptest::collection::vec((0u8..6, 1u8..5, any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..8)) {
            let items_in: alloc::vec::Vec<_> = parts.iter().map(|(a, k, f, i, d)| (*a, *k, *f, *i, &d[..])).collect();
            let region = build(&items_in);
            let back: alloc::vec::Vec<_> = items(&region).map(|i| (i.arg, i.kind, i.flags, i.index, i.data)).collect();
            prop_assert_eq!(back, items_in);
        }
    }
}
