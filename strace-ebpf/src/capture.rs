//! Copies of what a traced call's arguments point at (strings, argv, socket
//! addresses, data buffers), for the syscalls the daemon's CAPTURE table
//! names. Only watched threads get here, and only for those calls: the cost of
//! any other call is one load from the table.
//!
//! A capture record is assembled in place in this CPU's batch (batch.rs), at
//! the batch's next record offset. Every offset from there is masked below
//! LIMIT, and no single copy is longer than MAX_STRING, so the verifier can
//! see each access stays inside the buffer.
use aya_ebpf::{
    Global,
    cty::c_void,
    helpers::generated::{bpf_probe_read_user, bpf_probe_read_user_str},
};
use strace_common::{
    RecordKind, ThreadSlot,
    capture::{
        CAPTURE_ENTRIES, CAPTURE_HEADER_BYTES, CAPTURE_ITEM_BYTES, CaptureHeader, CaptureItem, CaptureSpec,
        CaptureTable, MAX_ARGV, MAX_ARGV_STRING, MAX_BUFFER, MAX_CAPTURE_BYTES, MAX_SOCKADDR, MAX_STRING, item_span,
        position,
    },
};

use crate::batch::Open;

/// Set by the loader (.rodata): read at a constant address plus the syscall
/// number, where a map lookup's key would go through the stack.
#[unsafe(no_mangle)]
static CAPTURE: CaptureTable = [CaptureSpec::NONE; CAPTURE_ENTRIES as usize];

#[unsafe(no_mangle)]
static BUFFER_BYTES: Global<u32> = Global::new(0);

/// Records stay below this many bytes; offsets are masked with LIMIT - 1.
const LIMIT: usize = MAX_CAPTURE_BYTES;

/// The capture spec of syscall `nr`, if the table covers it.
#[inline(always)]
pub fn spec(nr: i32) -> Option<CaptureSpec> {
    let nr = nr as u32;
    if nr >= CAPTURE_ENTRIES {
        return None;
    }
    // SAFETY: nr < CAPTURE_ENTRIES. Volatile: the compiler would otherwise
    // read the placeholder the loader replaces.
    Some(unsafe { core::ptr::read_volatile((&raw const CAPTURE as *const CaptureSpec).add(nr as usize)) })
}

/// Copies the inputs of the call in `slot` (at `sys_enter`) into `batch`.
#[inline(never)]
pub fn entry(batch: &mut Open, slot: &ThreadSlot, spec: &CaptureSpec) {
    let mut w = Writer::new(batch);
    for i in 0..6u8 {
        if spec.strings & (1 << i) != 0 {
            w.string(i, CaptureItem::STRING, 0, nth(&slot.args, i), MAX_STRING);
        }
    }
    if let Some(a) = position(spec.argv) {
        w.argv(a, nth(&slot.args, a));
    }
    if let (Some(a), Some(l)) = (position(spec.addr_in), position(spec.addr_in_len)) {
        w.bytes(a, CaptureItem::SOCKADDR, nth(&slot.args, a), nth(&slot.args, l), MAX_SOCKADDR as u64, MAX_SOCKADDR);
    }
    let buffer = BUFFER_BYTES.load() as u64;
    if let (Some(a), Some(l), true) = (position(spec.buf_in), position(spec.buf_in_len), buffer > 0) {
        w.bytes(a, CaptureItem::BYTES, nth(&slot.args, a), nth(&slot.args, l), buffer, MAX_BUFFER);
    }
    w.send(slot, batch);
}

/// Copies the outputs of the call in `slot` that returned `ret` (at
/// `sys_exit`) into `batch`.
#[inline(never)]
pub fn exit(batch: &mut Open, slot: &ThreadSlot, spec: &CaptureSpec, ret: i64) {
    if ret < 0 {
        return; // nothing was written
    }
    let mut w = Writer::new(batch);
    if let (Some(a), Some(l)) = (position(spec.addr_out), position(spec.addr_out_len)) {
        let mut len: u32 = 0;
        let len_ptr = nth(&slot.args, l) as *const c_void;
        // SAFETY: the helper copies 4 bytes from user memory into `len`, or fails.
        if !len_ptr.is_null() && unsafe { bpf_probe_read_user((&raw mut len).cast(), 4, len_ptr) } == 0 {
            w.bytes(a, CaptureItem::SOCKADDR, nth(&slot.args, a), len as u64, MAX_SOCKADDR as u64, MAX_SOCKADDR);
        }
    }
    let buffer = BUFFER_BYTES.load() as u64;
    if let (Some(a), true) = (position(spec.buf_out), buffer > 0) {
        w.bytes(a, CaptureItem::BYTES, nth(&slot.args, a), ret as u64, buffer, MAX_BUFFER);
    }
    w.send(slot, batch);
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

/// Builds a capture record. A NULL pointer (an optional argument left out:
/// recvfrom's and accept4's address and its length, utimensat's path) is
/// never read: it cannot be, and a read that faults costs a page-fault
/// exception, ~2 µs a call in the VMs measured (bench/README.md, item 37),
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
        let len = len & 0x1ff;
        let item = CaptureItem { arg, kind, flags, index, len: len as u16, _pad: 0 };
        // SAFETY: off < LIMIT, and the batch has room for LIMIT + CAPTURE_ITEM_BYTES
        // bytes after its next record offset (strace_common::batch::BATCH_BYTES).
        unsafe { (self.buf.add(off) as *mut CaptureItem).write_unaligned(item) };
        self.off = off + item_span(len);
        self.count += 1;
    }

    fn payload(&self) -> *mut u8 {
        // SAFETY: masked offset; every copy is at most MAX_STRING bytes, and the
        // batch has room for LIMIT + CAPTURE_ITEM_BYTES + MAX_STRING bytes here.
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
            self.string(arg, CaptureItem::ARGV, i as u8, ptr, MAX_ARGV_STRING);
        }
        // Stopped at MAX_ARGV: say whether there is more.
        let mut next: u64 = 0;
        let at = array.wrapping_add(8 * MAX_ARGV as u64) as *const c_void;
        // SAFETY: as above.
        if unsafe { bpf_probe_read_user((&raw mut next).cast(), 8, at) } == 0 && next != 0 {
            self.finish(arg, CaptureItem::ARGV, MAX_ARGV as u8, CaptureItem::MORE, 0);
        }
    }

    /// Copies `len` bytes at `ptr`, but no more than `limit` (at most the
    /// constant `max`, which bounds the copy for the verifier).
    fn bytes(&mut self, arg: u8, kind: u8, ptr: u64, len: u64, limit: u64, max: usize) {
        if !self.fits(max) {
            return;
        }
        let truncated = len > limit;
        let n = (if truncated { limit } else { len } as usize).min(max);
        if n == 0 {
            self.finish(arg, kind, 0, 0, 0);
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
        self.finish(arg, kind, 0, flags, if r != 0 { 0 } else { n });
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
