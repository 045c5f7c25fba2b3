//! Copies of what a traced call's arguments point at (strings, argv, socket
//! addresses, data buffers, and the structs, arrays and counts of the
//! CopySpecs), for the syscalls the daemon's CAPTURE table names. Only
//! watched threads get here, and only for those calls: the cost of any other
//! call is one load from the table (its `when` byte).
//!
//! A capture record is assembled in place in this CPU's batch (batch.rs), at
//! the batch's next record offset. Every offset from there is masked below
//! LIMIT, and no single copy is longer than MAX_ONE_COPY, so the verifier can
//! see each access stays inside the buffer.
use aya_ebpf::{
    Global,
    cty::c_void,
    helpers::{
        bpf_probe_read_kernel,
        generated::{bpf_get_current_task, bpf_probe_read_user, bpf_probe_read_user_str},
    },
};
use strace_common::{
    RecordKind, ThreadSlot,
    capture::{
        CAPTURE_ENTRIES, CAPTURE_HEADER_BYTES, CAPTURE_ITEM_BYTES, COPIES, CaptureHeader, CaptureItem, CaptureSpec,
        CaptureTable, CopySpec, MAX_ARGV, MAX_ARGV_STRING, MAX_BUFFER, MAX_CAPTURE_BYTES, MAX_COPY, MAX_POINTER_CHUNKS,
        MAX_RECORDS, MAX_SOCKADDR, MAX_STRING, POINTER_CHUNK, RETURNED, item_span, position,
    },
};

use crate::{batch::Open, maps::FD_INODE_OFFSETS};

/// Set by the loader (.rodata): read at a constant address plus the syscall
/// number, where a map lookup's key would go through the stack.
#[unsafe(no_mangle)]
static CAPTURE: CaptureTable = [CaptureSpec::NONE; CAPTURE_ENTRIES as usize];

#[unsafe(no_mangle)]
static BUFFER_BYTES: Global<u32> = Global::new(0);

/// Records stay below this many bytes; offsets are masked with LIMIT - 1.
const LIMIT: usize = MAX_CAPTURE_BYTES;

/// What syscall `nr` copies (`CaptureSpec::AT_ENTRY`, `AT_EXIT`; 0: nothing):
/// the one byte load every traced call pays.
#[inline(always)]
pub fn when(nr: i32) -> u8 {
    let nr = nr as u32;
    if nr >= CAPTURE_ENTRIES {
        return 0;
    }
    // SAFETY: nr < CAPTURE_ENTRIES; `when` is the entry's first byte.
    // Volatile: the compiler would otherwise read the placeholder the
    // loader replaces.
    unsafe { core::ptr::read_volatile((&raw const CAPTURE as *const CaptureSpec).add(nr as usize) as *const u8) }
}

/// The capture spec of syscall `nr` in the table, if it covers it: its
/// fields are read where they are needed (a copy of the whole spec would
/// take 112 bytes of the programs' 512-byte stack).
#[inline(always)]
fn spec(nr: i32) -> Option<*const CaptureSpec> {
    let nr = nr as u32;
    if nr >= CAPTURE_ENTRIES {
        return None;
    }
    // SAFETY: nr < CAPTURE_ENTRIES.
    Some(unsafe { (&raw const CAPTURE as *const CaptureSpec).add(nr as usize) })
}

/// Reads one field of a table entry (volatile, as in `when`).
macro_rules! field {
    ($spec:expr, $name:ident) => {
        // SAFETY: a field of an entry of the table.
        unsafe { core::ptr::read_volatile(&raw const (*$spec).$name) }
    };
}

/// Copies the inputs of the call in `slot` (at `sys_enter`) into `batch`.
#[inline(never)]
pub fn entry(batch: &mut Open, slot: &ThreadSlot, stack: u64) {
    let Some(spec) = spec(slot.nr) else { return };
    let mut w = Writer::new(batch);
    // The first copy may be a count (a loop): made first, from the one
    // state the record starts in.
    w.copy(spec, 0, &slot.args, 0, stack, false, true);
    w.settle();
    let strings = field!(spec, strings);
    for i in 0..6u8 {
        if strings & (1 << i) != 0 {
            w.string(i, CaptureItem::STRING, 0, nth(&slot.args, i), MAX_STRING);
        }
        w.settle();
    }
    if let Some(a) = position(field!(spec, argv)) {
        w.argv(a, nth(&slot.args, a));
    }
    w.settle();
    if let (Some(a), Some(l)) = (position(field!(spec, addr_in)), position(field!(spec, addr_in_len))) {
        w.bytes(a, CaptureItem::SOCKADDR, 0, nth(&slot.args, a), nth(&slot.args, l), MAX_SOCKADDR as u64, MAX_SOCKADDR);
    }
    w.settle();
    let buffer = BUFFER_BYTES.load() as u64;
    if let (Some(a), Some(l), true) = (position(field!(spec, buf_in)), position(field!(spec, buf_in_len)), buffer > 0) {
        w.bytes(a, CaptureItem::BYTES, 0, nth(&slot.args, a), nth(&slot.args, l), buffer, MAX_BUFFER);
    }
    w.settle();
    for i in 1..COPIES {
        w.copy(spec, i, &slot.args, 0, stack, false, false);
        w.settle();
    }
    w.send(slot, batch);
}

/// Copies the outputs of the call in `slot` that returned `ret` (at
/// `sys_exit`) into `batch`.
#[inline(never)]
pub fn exit(batch: &mut Open, slot: &ThreadSlot, ret: i64) {
    if ret < 0 {
        return; // nothing was written
    }
    let Some(spec) = spec(slot.nr) else { return };
    let mut w = Writer::new(batch);
    w.copy(spec, 0, &slot.args, ret, 0, true, true);
    w.settle();
    if let (Some(a), Some(l)) = (position(field!(spec, addr_out)), position(field!(spec, addr_out_len)))
        && let Some(len) = read_u32(nth(&slot.args, l))
    {
        w.bytes(a, CaptureItem::SOCKADDR, 0, nth(&slot.args, a), len as u64, MAX_SOCKADDR as u64, MAX_SOCKADDR);
    }
    w.settle();
    let buffer = BUFFER_BYTES.load() as u64;
    if let (Some(a), true) = (position(field!(spec, buf_out)), buffer > 0) {
        w.bytes(a, CaptureItem::BYTES, 0, nth(&slot.args, a), ret as u64, buffer, MAX_BUFFER);
    }
    w.settle();
    for i in 1..COPIES {
        w.copy(spec, i, &slot.args, ret, 0, true, false);
        w.settle();
    }
    w.send(slot, batch);
}

/// The u32 at `ptr` in the process's memory, if readable.
#[inline(always)]
fn read_u32(ptr: u64) -> Option<u32> {
    if ptr == 0 {
        return None; // never read at NULL (see `Writer`)
    }
    let mut v: u32 = 0;
    // SAFETY: the helper copies 4 bytes from user memory into `v`, or fails.
    (unsafe { bpf_probe_read_user((&raw mut v).cast(), 4, ptr as *const c_void) } == 0).then_some(v)
}

/// Argument `i` of six. LLVM re-derives a checked index from the unchecked
/// value (and turns a `match` into the same indexed load), so the verifier
/// sees an unbounded offset; a volatile copy makes the check and the access
/// use one register.
#[inline(always)]
fn nth(args: &[u64; 6], i: u8) -> u64 {
    // SAFETY: reads a local.
    let i = unsafe { core::ptr::read_volatile(&(i as u64)) };
    if i < 6 {
        // SAFETY: i < 6.
        unsafe { *args.as_ptr().add(i as usize) }
    } else {
        0
    }
}

/// Counts the pointers of a NULL-terminated array at `array`, reading
/// POINTER_CHUNK at a time, at most `max` bytes of them: the count, and
/// above bit 32 the item's flags (MORE: no NULL found; FAULT: a read
/// failed). A global function of scalars, so the verifier checks its loop
/// once, not once for every way the programs reach it.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn strace_count_pointers(array: u64, max: u64) -> u64 {
    let chunks = max / (POINTER_CHUNK as u64 * 8);
    let mut chunk = [0u64; POINTER_CHUNK];
    let mut n: u64 = 0;
    for k in 0..MAX_POINTER_CHUNKS as u64 {
        if k >= chunks {
            break;
        }
        let at = array.wrapping_add(k * POINTER_CHUNK as u64 * 8) as *const c_void;
        // SAFETY: copies POINTER_CHUNK pointers into `chunk`, or fails.
        if unsafe { bpf_probe_read_user(chunk.as_mut_ptr().cast(), (POINTER_CHUNK * 8) as u32, at) } != 0 {
            return n | (CaptureItem::FAULT as u64) << 32;
        }
        for p in chunk {
            if p == 0 {
                return n;
            }
            n += 1;
        }
    }
    n | (CaptureItem::MORE as u64) << 32
}

/// Counts the records of the `total` bytes at `ptr`, each starting with its
/// own length as a u16 at offset `field`: one 2-byte read per record, at
/// most MAX_RECORDS of them. The count, and above bit 32 the item's flags
/// (MORE: the walk stopped early; FAULT: a read failed). Global, as above.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn strace_count_records(ptr: u64, total: u64, field: u64) -> u64 {
    let mut pos: u64 = 0;
    let mut n: u64 = 0;
    for _ in 0..MAX_RECORDS {
        if pos >= total {
            return n;
        }
        let mut reclen: u16 = 0;
        let at = ptr.wrapping_add(pos).wrapping_add(field) as *const c_void;
        // SAFETY: the helper copies 2 bytes of user memory into `reclen`, or fails.
        if unsafe { bpf_probe_read_user((&raw mut reclen).cast(), 2, at) } != 0 {
            return n | (CaptureItem::FAULT as u64) << 32;
        }
        if reclen == 0 {
            break; // not a record: the count stops here
        }
        pos += reclen as u64;
        n += 1;
    }
    n | (CaptureItem::MORE as u64) << 32
}

/// The inode number of the calling thread's fd `fd` (0 if there is none):
/// task → files → fdt → fd[fd] → f_inode → i_ino, at the offsets the loader
/// read from the kernel's BTF. Global, as above (verified once).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn strace_fd_inode(fd: u64) -> u64 {
    let [files, fdt, max_fds, fd_array, f_inode, i_ino] = FD_INODE_OFFSETS.load();
    if files == 0 || fdt == 0 || fd_array == 0 || f_inode == 0 || i_ino == 0 {
        return 0;
    }
    let read = |at: u64| -> u64 {
        // SAFETY: a kernel pointer read through the probe helper, which tolerates faults.
        unsafe { bpf_probe_read_kernel(at as *const u64) }.unwrap_or(0)
    };
    // SAFETY: no arguments; the current task's address.
    let task = unsafe { bpf_get_current_task() };
    let files = read(task + files as u64);
    if files == 0 {
        return 0;
    }
    let fdt = read(files + fdt as u64);
    if fdt == 0 {
        return 0;
    }
    // SAFETY: as above.
    let max = unsafe { bpf_probe_read_kernel((fdt + max_fds as u64) as *const u32) }.unwrap_or(0);
    if fd >= max as u64 {
        return 0;
    }
    let array = read(fdt + fd_array as u64);
    let file = if array == 0 { 0 } else { read(array + 8 * fd) };
    let inode = if file == 0 { 0 } else { read(file + f_inode as u64) };
    if inode == 0 { 0 } else { read(inode + i_ino as u64) }
}

/// Builds a capture record. A NULL pointer (an optional argument left out:
/// recvfrom's and accept4's address and its length, utimensat's path) is
/// never read: it cannot be, and a read that faults costs a page-fault
/// exception, ~2 µs a call in the VMs measured (bench/README.md, item 38),
/// where a read of the length costs tens of ns. Its item says FAULT, as a
/// failed read's does.
struct Writer {
    buf: *mut u8,
    off: usize,
    count: u16,
}

impl Writer {
    /// Writes at the batch's next record offset.
    fn new(batch: &mut Open) -> Writer {
        Writer { buf: batch.at(), off: CAPTURE_HEADER_BYTES, count: 0 }
    }

    /// Room for an item of up to `max` payload bytes?
    fn fits(&self, max: usize) -> bool {
        self.off + item_span(max) < LIMIT
    }

    /// Writes an item's head at the current offset; the payload is already in place.
    fn finish(&mut self, arg: u8, kind: u8, index: u8, flags: u8, len: usize) {
        let off = self.off & (LIMIT - 1);
        let len = len & 0x7ff;
        let item = CaptureItem { arg, kind, flags, index, len: len as u16, _pad: 0 };
        // SAFETY: off < LIMIT, and the batch has room for LIMIT + CAPTURE_ITEM_BYTES
        // bytes after its next record offset (strace_common::batch::BATCH_BYTES).
        unsafe { (self.buf.add(off) as *mut CaptureItem).write_unaligned(item) };
        // Masked like every offset: the callers made sure it fits (so the
        // mask changes nothing), and every path from here leaves the same
        // range for the verifier, so the paths of an argv's entries, copied
        // whole, cut or faulting, merge instead of multiplying.
        self.off = (off + item_span(len)) & (LIMIT - 1);
        self.count += 1;
    }

    fn payload(&self) -> *mut u8 {
        // SAFETY: masked offset; every copy is at most MAX_ONE_COPY bytes, and the
        // batch has room for LIMIT + CAPTURE_ITEM_BYTES + MAX_ONE_COPY bytes here.
        unsafe { self.buf.add((self.off & (LIMIT - 1)) + CAPTURE_ITEM_BYTES) }
    }

    fn string(&mut self, arg: u8, kind: u8, index: u8, ptr: u64, max: usize) {
        if !self.fits(max) {
            return;
        }
        // SAFETY: copies at most `max` bytes into the payload area (none
        // from NULL: see `Writer`).
        let n = if ptr == 0 {
            -1
        } else {
            unsafe { bpf_probe_read_user_str(self.payload().cast(), max as u32, ptr as *const c_void) }
        };
        if n <= 0 {
            self.finish(arg, kind, index, CaptureItem::FAULT, 0);
            return;
        }
        let flags = if n as usize >= max { CaptureItem::TRUNCATED } else { 0 };
        self.finish(arg, kind, index, flags, n as usize - 1);
    }

    /// Forgets, for the verifier, what it knows of the offset: whether the
    /// last copy wrote an item or not, and how long, the offset is then
    /// some value below LIMIT. The paths through a copy (nothing to do, a
    /// NULL, a fault, a cut, a whole copy) then reach the next one as one
    /// state, and the copies' paths add up instead of multiplying. The
    /// value goes through the record's own head (written last, in `send`).
    #[inline(always)]
    fn settle(&mut self) {
        // The item count too: known exactly on each path, it would keep
        // them apart as well.
        // SAFETY: the record's head has room for two u32s at offset 24 (its
        // `len` and padding, which `send` writes later); volatile, so they
        // are really read back.
        unsafe {
            let at = self.buf.add(24) as *mut u32;
            core::ptr::write_volatile(at, self.off as u32);
            core::ptr::write_volatile(at.add(1), self.count as u32);
            self.off = core::ptr::read_volatile(at) as usize & (LIMIT - 1);
            self.count = core::ptr::read_volatile(at.add(1)) as u16;
        }
    }

    /// Payload bytes left for one more item (0 when none).
    fn room(&self) -> usize {
        let used = self.off + CAPTURE_ITEM_BYTES + 8;
        if used < LIMIT { LIMIT - used } else { 0 }
    }

    fn argv(&mut self, arg: u8, array: u64) {
        if array == 0 {
            self.finish(arg, CaptureItem::ARGV, 0, CaptureItem::FAULT, 0);
            return;
        }
        for i in 0..MAX_ARGV {
            let mut ptr: u64 = 0;
            let at = array.wrapping_add(8 * i as u64) as *const c_void;
            // SAFETY: the helper copies 8 bytes of user memory into `ptr`, or fails.
            if unsafe { bpf_probe_read_user((&raw mut ptr).cast(), 8, at) } != 0 {
                self.finish(arg, CaptureItem::ARGV, i as u8, CaptureItem::FAULT, 0);
                return;
            }
            if ptr == 0 {
                return;
            }
            // As much of the string as the record has room for: a long
            // one first does not crowd out the rest entirely.
            if self.room() < 16 {
                self.finish_more(arg, i as u8);
                return;
            }
            self.argv_string(arg, i as u8, ptr);
            self.settle();
        }
        // Stopped at MAX_ARGV: say whether there is more.
        let mut next: u64 = 0;
        let at = array.wrapping_add(8 * MAX_ARGV as u64) as *const c_void;
        // SAFETY: as above.
        if unsafe { bpf_probe_read_user((&raw mut next).cast(), 8, at) } == 0 && next != 0 {
            self.finish_more(arg, MAX_ARGV as u8);
        }
    }

    /// More entries follow than were copied (an empty item, if it fits).
    fn finish_more(&mut self, arg: u8, index: u8) {
        if self.fits(0) {
            self.finish(arg, CaptureItem::ARGV, index, CaptureItem::MORE, 0);
        }
    }

    /// An argv string: copied up to MAX_ARGV_STRING bytes (a constant: a
    /// size that followed the room left would make the verifier tell every
    /// offset apart), into the slack after the record if need be, then cut
    /// to the room the record has left.
    fn argv_string(&mut self, arg: u8, index: u8, ptr: u64) {
        // SAFETY: copies at most MAX_ARGV_STRING bytes into the payload area.
        let n = unsafe { bpf_probe_read_user_str(self.payload().cast(), MAX_ARGV_STRING as u32, ptr as *const c_void) };
        if n <= 0 {
            self.finish(arg, CaptureItem::ARGV, index, CaptureItem::FAULT, 0);
            return;
        }
        let mut len = n as usize - 1;
        let mut flags = if n as usize >= MAX_ARGV_STRING { CaptureItem::TRUNCATED } else { 0 };
        let room = self.room();
        if len > room {
            len = room;
            flags = CaptureItem::TRUNCATED;
        }
        self.finish(arg, CaptureItem::ARGV, index, flags, len);
    }

    /// One CopySpec's copy, if it applies now (at exit: `at_exit`, with the
    /// call's return value `ret`; `stack`: the stack pointer at entry, or 0).
    /// Counts only when `counts` (the table puts a count first).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        spec: *const CaptureSpec,
        i: usize,
        args: &[u64; 6],
        ret: i64,
        stack: u64,
        at_exit: bool,
        counts: bool,
    ) {
        // SAFETY: copy `i` (< COPIES) of a table entry.
        let c: CopySpec = unsafe { core::ptr::read_volatile((&raw const (*spec).copies as *const CopySpec).add(i)) };
        if c.arg == 0 || c.at_exit() != at_exit {
            return;
        }
        if let Some(k) = position(c.cond_arg)
            && !c.holds(nth(args, k))
        {
            return;
        }
        let index = at_exit as u8;
        if c.flags & CopySpec::FD_INODES != 0 {
            self.fd_inodes(&c, args, ret, index);
            return;
        }
        let (a, base) = match position(c.arg) {
            Some(a) => (a, nth(args, a)),
            None if c.arg == CopySpec::STACK => (0, stack),
            None => return,
        };
        if base == 0 {
            return; // NULL: nothing to copy, shown as NULL
        }
        let ptr = base.wrapping_add(c.offset as u64);
        let op = c.flags & (CopySpec::COUNT_POINTERS | CopySpec::COUNT_RECORDS);
        if op != 0 && !counts {
            return;
        }
        if counts && c.flags & CopySpec::COUNT_POINTERS != 0 {
            self.count_item(a, index, strace_count_pointers(ptr, c.max as u64));
            return;
        }
        let count = match c.count {
            CopySpec::ONE => 1,
            CopySpec::RETURN => ret as u64,
            n @ 1..=6 => nth(args, n - 1),
            n @ 8..=13 => match read_u32(nth(args, n - 8)) {
                Some(v) => v as u64,
                None => return,
            },
            _ => return,
        };
        if counts && c.flags & CopySpec::COUNT_RECORDS != 0 {
            let total = if count < c.max as u64 { count } else { c.max as u64 };
            self.count_item(a, index, strace_count_records(ptr, total, c.elem as u64));
            return;
        }
        // More than MAX_COPY bytes either way: no overflow in the product.
        let len = if count > MAX_COPY as u64 { MAX_COPY as u64 + 1 } else { count * c.elem as u64 };
        self.bytes(a, CaptureItem::COPY, index, ptr, len, c.max as u64, MAX_COPY);
    }

    /// The inode numbers of the fds a call made (see CopySpec::FD_INODES).
    fn fd_inodes(&mut self, c: &CopySpec, args: &[u64; 6], ret: i64, index: u8) {
        if ret < 0 || !self.fits(16) {
            return;
        }
        let scratch = self.payload() as *mut u64;
        if c.arg == CopySpec::RETURNED_FD {
            // SAFETY: the payload area has room for 16 bytes (checked above).
            unsafe { scratch.write_unaligned(strace_fd_inode(ret as u64)) };
            self.finish(RETURNED, CaptureItem::INODES, index, 0, 8);
            return;
        }
        let Some(a) = position(c.arg) else { return };
        if nth(args, a) == 0 {
            return;
        }
        let mut pair = [0i32; 2];
        // SAFETY: the helper copies the int[2] from user memory, or fails.
        if unsafe { bpf_probe_read_user(pair.as_mut_ptr().cast(), 8, nth(args, a) as *const c_void) } != 0 {
            return;
        }
        // SAFETY: as above.
        unsafe {
            scratch.write_unaligned(strace_fd_inode(pair[0] as u32 as u64));
            scratch.add(1).write_unaligned(strace_fd_inode(pair[1] as u32 as u64));
        }
        self.finish(a, CaptureItem::INODES, index, 0, 16);
    }

    /// A count's item: the u32 `counted` packs below its item flags.
    fn count_item(&mut self, arg: u8, index: u8, counted: u64) {
        if !self.fits(4) {
            return;
        }
        // SAFETY: the payload area has room for the count.
        unsafe { (self.payload() as *mut u32).write_unaligned(counted as u32) };
        self.finish(arg, CaptureItem::COPY, index, (counted >> 32) as u8, 4);
    }

    /// Copies `len` bytes at `ptr`, but no more than `limit` (at most the
    /// constant `max`, which bounds the copy for the verifier).
    fn bytes(&mut self, arg: u8, kind: u8, index: u8, ptr: u64, len: u64, limit: u64, max: usize) {
        if !self.fits(max) {
            return;
        }
        let truncated = len > limit;
        let n = (if truncated { limit } else { len } as usize).min(max);
        if n == 0 {
            self.finish(arg, kind, index, 0, 0);
            return;
        }
        // SAFETY: copies n <= max bytes into the payload area (none from
        // NULL: see `Writer`).
        let r = if ptr == 0 {
            -1
        } else {
            unsafe { bpf_probe_read_user(self.payload().cast(), n as u32, ptr as *const c_void) }
        };
        let flags = if r != 0 {
            CaptureItem::FAULT
        } else if truncated {
            CaptureItem::TRUNCATED
        } else {
            0
        };
        self.finish(arg, kind, index, flags, if r != 0 { 0 } else { n });
    }

    /// Writes the head and adds the record to the batch (if it has items).
    fn send(self, slot: &ThreadSlot, batch: &mut Open) {
        if self.count == 0 {
            return;
        }
        let len = self.off & (LIMIT - 1);
        let head = CaptureHeader {
            kind: RecordKind::Capture as u16,
            count: self.count,
            nr: slot.nr,
            pid: slot.pid,
            tid: slot.tid,
            enter_ns: slot.enter_ns,
            len: len as u32,
            _pad: 0,
        };
        // SAFETY: the record starts with room for the head, 8-byte aligned.
        unsafe { (self.buf as *mut CaptureHeader).write(head) };
        batch.commit_capture(len, slot.enter_ns);
    }
}
