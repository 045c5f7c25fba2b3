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
/// argv entries copied from `execve`, and bytes of each (NUL included): a
/// longer one is cut, and so is one the record has no more room for.
pub const MAX_ARGV: usize = 16;
pub const MAX_ARGV_STRING: usize = 1024;
/// Longest socket address copied.
pub const MAX_SOCKADDR: usize = 128;
/// Largest `BUFFER_BYTES`.
pub const MAX_BUFFER: usize = 256;
/// Longest struct or array a [`CopySpec`] copies.
pub const MAX_COPY: usize = 512;
/// The longest single copy of any kind: the slack a batch keeps after a
/// capture record's last item (strace_common::batch::BATCH_BYTES).
pub const MAX_ONE_COPY: usize = max(max(MAX_STRING, MAX_ARGV_STRING), max(MAX_COPY, max(MAX_SOCKADDR, MAX_BUFFER)));
/// Copy descriptors per syscall.
pub const COPIES: usize = 4;
/// A [`CopySpec::COUNT_POINTERS`] walk reads this many pointers at a time,
/// at most [`MAX_POINTER_CHUNKS`] times.
pub const POINTER_CHUNK: usize = 4;
pub const MAX_POINTER_CHUNKS: usize = 128;
/// A [`CopySpec::COUNT_RECORDS`] walk counts at most this many records.
pub const MAX_RECORDS: usize = 1024;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Argument positions are stored plus one, so 0 means "none". Aligned so
/// the kernel reads the entry's first word (`when`) in one load.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureSpec {
    /// What there is to do: [`CaptureSpec::AT_ENTRY`], [`CaptureSpec::AT_EXIT`]
    /// (0: nothing). Derived from the rest by [`CaptureSpec::sealed`]: the
    /// one byte a call that captures nothing costs.
    pub when: u8,
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
    pub _pad: [u8; 6],
    /// Structs, arrays and counts: what a call reads at entry or writes at
    /// exit, as the decode table names them (unused slots have `arg` 0).
    pub copies: [CopySpec; COPIES],
}

/// One copy of argument memory besides strings, addresses and buffers: `len`
/// bytes at the pointer in argument `arg` (plus `offset`), at entry or at
/// exit, where `len` is `elem` times a count from a fixed 1, an argument,
/// the return value or the `u32` a pointer argument points at, at most
/// `max` bytes; or a count of what is there (pointers up to a NULL,
/// self-sized records). Optionally only when another argument holds one of
/// a set of values (a command). The item it makes has kind
/// [`CaptureItem::COPY`], `arg`, and `index` 0 at entry, 1 at exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopySpec {
    /// The argument whose pointer is copied from, plus one (0: unused), or
    /// [`CopySpec::STACK`].
    pub arg: u8,
    /// [`CopySpec::AT_EXIT`] and an operation (`BYTES` when none is set).
    pub flags: u8,
    /// Where the count of `elem`s comes from: [`CopySpec::ONE`], an
    /// argument's value ([`CopySpec::arg_value`]), the return value
    /// ([`CopySpec::RETURN`]), or the u32 an argument points at
    /// ([`CopySpec::pointed_u32`]).
    pub count: u8,
    /// The argument a condition tests, plus one (0: always copied).
    pub cond_arg: u8,
    /// Bytes of one element (COUNT_RECORDS: the offset of the u16 length
    /// in each record).
    pub elem: u16,
    /// At most this many bytes are copied (COUNT_*: walked); copies at most
    /// MAX_COPY.
    pub max: u16,
    /// The condition: with `v = (args[cond_arg] as u32 & cond_mask) - cond_base`,
    /// copied only when `v < 64` and bit `v` of `cond_set` is set.
    pub cond_mask: u32,
    pub cond_base: u16,
    /// Added to the pointer (the place of a field in the stack's frame).
    pub offset: u16,
    pub cond_set: u64,
}

impl CopySpec {
    /// Copied at exit (else at entry). At exit only after a call that succeeded.
    pub const AT_EXIT: u8 = 1;
    /// Count the non-NULL pointers of a NULL-terminated array (`envp`):
    /// the item holds the count as a u32, flagged MORE if `max / 8`
    /// pointers were read without a NULL.
    pub const COUNT_POINTERS: u8 = 2;
    /// Count the records of a buffer of `count` bytes each of which starts
    /// its own length as a u16 at offset `elem` (`getdents64`): the item
    /// holds the count as a u32, flagged MORE if the walk stopped early.
    pub const COUNT_RECORDS: u8 = 4;
    /// The inode numbers of new fds (`socket:[1234]`, `pipe:[1234]`): of
    /// the fd the call returned (`arg` RETURNED_FD), or of the two in the
    /// int[2] argument `arg` points at (`pipe2`, `socketpair`). At exit. The
    /// item ([`CaptureItem::INODES`]) holds a u64 per fd (0: unknown).
    pub const FD_INODES: u8 = 8;

    /// `arg`: the pointer is the stack pointer at entry (rt_sigreturn's
    /// signal frame); not copied when the call is seen only at its exit.
    pub const STACK: u8 = 7;

    /// `arg` of an FD_INODES copy: the fd the call returned.
    pub const RETURNED_FD: u8 = 8;

    /// The count is one: `elem` bytes.
    pub const ONE: u8 = 0;
    /// The count is the return value.
    pub const RETURN: u8 = 7;

    /// The count is argument `i`'s value.
    pub const fn arg_value(i: u8) -> u8 {
        1 + i
    }
    /// The count is the u32 argument `i` points at, read when the copy is made.
    pub const fn pointed_u32(i: u8) -> u8 {
        8 + i
    }

    pub fn at_exit(&self) -> bool {
        self.flags & CopySpec::AT_EXIT != 0
    }

    /// Whether the condition holds for these arguments.
    #[inline(always)]
    pub fn holds(&self, cond: u64) -> bool {
        let v = (cond as u32 & self.cond_mask).wrapping_sub(self.cond_base as u32);
        v < 64 && (self.cond_set >> v) & 1 != 0
    }
}

impl CaptureSpec {
    /// [`CaptureSpec::when`]: something is copied at entry.
    pub const AT_ENTRY: u8 = 1;
    /// [`CaptureSpec::when`]: something is copied at exit.
    pub const AT_EXIT: u8 = 2;

    /// Nothing to copy.
    pub const NONE: CaptureSpec = CaptureSpec {
        when: 0,
        strings: 0,
        argv: 0,
        addr_in: 0,
        addr_in_len: 0,
        addr_out: 0,
        addr_out_len: 0,
        buf_in: 0,
        buf_in_len: 0,
        buf_out: 0,
        _pad: [0; 6],
        copies: [CopySpec {
            arg: 0,
            flags: 0,
            count: 0,
            cond_arg: 0,
            elem: 0,
            max: 0,
            cond_mask: 0,
            cond_base: 0,
            offset: 0,
            cond_set: 0,
        }; COPIES],
    };

    pub fn at_exit(&self) -> bool {
        self.when & CaptureSpec::AT_EXIT != 0
    }

    /// The same with `when` set from what it copies.
    pub fn sealed(self) -> CaptureSpec {
        let used = |c: &&CopySpec| c.arg != 0;
        // (An FD_INODES copy is at exit: the fds are new then.)
        let entry = self.strings != 0
            || self.argv != 0
            || self.addr_in != 0
            || self.buf_in != 0
            || self.copies.iter().filter(used).any(|c| !c.at_exit());
        let exit = self.addr_out != 0 || self.buf_out != 0 || self.copies.iter().filter(used).any(|c| c.at_exit());
        let when = if entry { CaptureSpec::AT_ENTRY } else { 0 } | if exit { CaptureSpec::AT_EXIT } else { 0 };
        CaptureSpec { when, ..self }
    }

    /// The same without the data buffers, for a kernel told to copy none:
    /// a read or write then leaves its hooks without setting up a copy.
    pub fn without_buffers(self) -> CaptureSpec {
        CaptureSpec { buf_in: 0, buf_in_len: 0, buf_out: 0, ..self }.sealed()
    }

    /// The same without the struct copies and counts (`--capture-structs false`).
    pub fn without_copies(self) -> CaptureSpec {
        CaptureSpec { copies: CaptureSpec::NONE.copies, ..self }.sealed()
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
    /// A [`CopySpec`]'s copy (`index`: 0 at entry, 1 at exit).
    pub const COPY: u8 = 5;
    /// Made in userspace: the path an fd argument had at the call
    /// (`--fd-paths`); `arg` [`RETURNED`] is the returned fd, `index` an
    /// fd's position in an array (`pipe2`'s pair).
    pub const FD_PATH: u8 = 6;
    /// A [`CopySpec::FD_INODES`] copy (`arg` [`RETURNED`] for a returned fd).
    pub const INODES: u8 = 7;

    /// The data went on beyond what was copied.
    pub const TRUNCATED: u8 = 1;
    /// The pointer could not be read (NULL, unmapped).
    pub const FAULT: u8 = 2;
    /// (argv) more entries follow than were copied.
    pub const MORE: u8 = 4;
}

/// The `arg` of an FD_PATH item for the fd a call returned.
pub const RETURNED: u8 = 6;

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
// The kernel reads `when` as the first byte of the entry, each copy as 24.
const _: () = assert!(core::mem::size_of::<CopySpec>() == 24);
const _: () = assert!(core::mem::size_of::<CaptureSpec>() == 16 + 24 * COPIES);
// Item lengths are masked with 0x7ff in the writer.
const _: () = assert!(MAX_ONE_COPY < 0x800 && MAX_CAPTURE_BYTES <= 0x800);
const _: () = assert!(POINTER_CHUNK * 8 <= MAX_COPY);

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
