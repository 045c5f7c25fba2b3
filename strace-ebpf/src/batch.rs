//! The per-CPU buffer where a thread's records wait to go to the ring buffer
//! together (the format is strace_common::batch's).
//!
//! Writers: `sys_enter` and `sys_exit` append (in task context);
//! `sched_switch` and `thread_exit` flush, so the buffer only ever holds the
//! running thread's records; the timer tick (an interrupt, which may arrive
//! while a task-context program is halfway through an append) flushes too,
//! unless the buffer is marked busy.
use core::sync::atomic::{Ordering, compiler_fence};

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::map, maps::PerCpuArray};
use strace_common::{
    Counter, LossRecord, RecordKind, SyscallRecord, ThreadSlot,
    batch::{BATCH_BYTES, BatchHeader, FLUSH_AT, HEADER_BYTES, next_offset},
    loss::{PENDING_LOSSES, RECORD_PID_OFFSET, RECORD_TID_OFFSET},
};

use crate::{
    emit, fair,
    maps::{EVENTS, count_lost},
    threads,
};

#[repr(C, align(8))]
pub struct Batch {
    /// Bytes used in `data`, header included (0: empty).
    len: u32,
    count: u32,
    /// How many of the records are capture records.
    captures: u32,
    /// Non-zero while a task-context program changes the buffer.
    busy: u32,
    /// `ThreadSlot::owner` of the thread whose records these are.
    owner: u64,
    /// The call (its `enter_ns`) of the last capture record added.
    last_capture: u64,
    /// Losses waiting for room in the ring (strace_common::loss), one per
    /// process; `count` 0 is a free entry. `waiting` counts the others.
    losses: [LossRecord; PENDING_LOSSES],
    /// Where a new loss record is built, in the map rather than on the
    /// stack (the verifier's 512 bytes are nearly all used by the deepest
    /// chain of calls, which can end here).
    scratch: LossRecord,
    waiting: u32,
    _pad: u32,
    data: [u8; BATCH_BYTES],
}

impl Batch {
    /// Bytes in use, counting the header's room even while empty: where the
    /// next record goes.
    #[inline(always)]
    fn used(&self) -> usize {
        if self.len == 0 { HEADER_BYTES } else { self.len as usize }
    }
}

const _: () = assert!(core::mem::size_of::<Batch>() == strace_common::batch::CPU_BUFFER_BYTES);

#[map(name = "BATCH")]
static BATCH: PerCpuArray<Batch> = PerCpuArray::with_max_entries(1, 0);

/// This CPU's buffer, marked busy until dropped.
pub struct Open(&'static mut Batch);

/// Opens this CPU's buffer for the thread `owner` (a `ThreadSlot::owner`).
#[inline(always)]
pub fn open(owner: u64) -> Option<Open> {
    // SAFETY: this CPU's buffer; programs in task context do not nest on a
    // CPU, and the tick leaves a busy buffer alone.
    let b = unsafe { &mut *BATCH.get_ptr_mut(0)? };
    set_busy(b, true);
    if b.owner != owner {
        // Another thread's records, if any: normally sched_switch has
        // written them out already and the buffer is empty.
        flush(b);
        b.owner = owner;
    }
    Some(Open(b))
}

impl Open {
    /// Where the next record goes: 8-byte aligned, below FLUSH_AT, with
    /// room after it for the largest record.
    #[inline(always)]
    pub fn at(&mut self) -> *mut u8 {
        let len = self.0.used();
        // SAFETY: the mask keeps the offset inside `data` (see BATCH_BYTES).
        unsafe { self.0.data.as_mut_ptr().add(len & (FLUSH_AT - 1)) }
    }

    /// Appends a syscall record.
    #[inline(always)]
    pub fn syscall(&mut self, record: SyscallRecord) {
        // SAFETY: `at` is 8-byte aligned with room for any record.
        unsafe { (self.at() as *mut SyscallRecord).write(record) };
        self.commit(SyscallRecord::SIZE);
    }

    /// Counts the capture record of `len` bytes just written at `at()`, for the
    /// call that entered at `enter_ns`.
    #[inline(always)]
    pub fn commit_capture(&mut self, len: usize, enter_ns: u64) {
        self.0.captures += 1;
        self.0.last_capture = enter_ns;
        self.commit(len);
    }

    /// Counts the `len` bytes just written at `at()` as a record, and writes
    /// the batch out once it is full.
    #[inline(always)]
    fn commit(&mut self, len: usize) {
        let b = &mut *self.0;
        b.len = next_offset(b.used(), len) as u32;
        b.count += 1;
        if b.len as usize >= FLUSH_AT {
            flush(b);
        }
    }
}

impl Drop for Open {
    #[inline(always)]
    fn drop(&mut self) {
        set_busy(self.0, false);
    }
}

/// Marks the buffer busy or not. The fences keep the compiler from moving
/// the buffer's other writes outside the busy stretch (a volatile write only
/// orders against other volatile accesses); on one CPU nothing more is needed.
#[inline(always)]
fn set_busy(b: &mut Batch, busy: bool) {
    compiler_fence(Ordering::SeqCst);
    // SAFETY: a field of a live map value.
    unsafe { core::ptr::write_volatile(&raw mut b.busy, busy as u32) };
    compiler_fence(Ordering::SeqCst);
}

/// Writes out this CPU's buffer unless a program it interrupted is using it
/// (from sched_switch, thread exit and the tick). False if it had to leave
/// records there for that reason.
#[inline(always)]
pub fn flush_idle() -> bool {
    let Some(b) = BATCH.get_ptr_mut(0) else { return true };
    // SAFETY: this CPU's buffer, not busy: nothing else on this CPU uses it.
    let b = unsafe { &mut *b };
    if b.count == 0 && b.waiting == 0 {
        return true;
    }
    if unsafe { core::ptr::read_volatile(&raw const b.busy) } != 0 {
        return false;
    }
    set_busy(b, true);
    flush(b);
    set_busy(b, false);
    true
}

/// One ring write for the whole batch; if it does not fit, its records are
/// counted as lost, for the process too, and a loss record marks the place.
/// Losses waiting for room go first: they happened before these records.
/// A process over its share of a nearly full ring (fair.rs) has the batch
/// dropped instead, and its loss waits (it would take ring room the
/// others need): the next write or the tick places it.
#[inline(never)]
fn flush(b: &mut Batch) {
    if b.count != 0 {
        let len = b.len as usize & (BATCH_BYTES - 1);
        let host_pid = (b.owner >> 32) as u32;
        if fair::over_share(host_pid, len as u64) {
            lost(b, LossRecord::THROTTLED);
        } else {
            if b.waiting != 0 {
                place_losses(b);
            }
            let head =
                BatchHeader { kind: RecordKind::Batch as u16, _pad: 0, count: b.count, len: len as u32, host_pid };
            // SAFETY: `data` starts with room for the header; len < BATCH_BYTES.
            let bytes = unsafe {
                (b.data.as_mut_ptr() as *mut BatchHeader).write(head);
                core::slice::from_raw_parts(b.data.as_ptr(), len)
            };
            if EVENTS.output(bytes, emit::wake_flags(len as u64)).is_err() {
                lost(b, LossRecord::RING_FULL);
                emit::wake_next();
            }
        }
    } else if b.waiting != 0 {
        place_losses(b);
    }
    b.len = 0;
    b.count = 0;
    b.captures = 0;
}

#[cold]
fn lost(b: &mut Batch, reason: u16) {
    let calls = (b.count - b.captures) as u64;
    emit::lost((b.owner >> 32) as u32, calls, reason == LossRecord::THROTTLED);
    if calls != 0 {
        note_loss(b, calls, reason);
    }
    if b.captures != 0 {
        count_lost(Counter::CaptureLost, b.captures as u64);
        // If the last copies lost were for the call the thread is in, its
        // record (still to come) says so; sys_enter clears the flag.
        if let Some(slot) = threads::find(b.owner as u32) {
            // SAFETY: pointer to a live map value; a flag bit only.
            unsafe {
                if (*slot).state == ThreadSlot::IN_SYSCALL && (*slot).enter_ns == b.last_capture {
                    (*slot).flags |= SyscallRecord::CAPTURE_LOST as u32;
                }
            }
        }
    }
}

/// Marks where `calls` syscall records of the batch's process went missing:
/// a loss record, into the ring now if it has room for that much (not when
/// throttled), else waiting in this CPU's buffer (added to the process's
/// waiting one for the same reason, if any, so its losses stay in order)
/// until a write finds room.
#[inline(never)]
fn note_loss(b: &mut Batch, calls: u64, reason: u16) {
    let host_pid = (b.owner >> 32) as u32;
    for i in 0..PENDING_LOSSES {
        let w = &mut b.losses[i];
        if w.count != 0 && w.host_pid == host_pid && w.reason == reason {
            w.count += calls;
            return;
        }
    }
    // SAFETY: the batch's first record starts right after the header, with
    // the process's ids at these offsets whatever its kind (loss.rs).
    let (pid, tid) = unsafe {
        let first = b.data.as_ptr().add(HEADER_BYTES);
        (
            core::ptr::read_unaligned(first.add(RECORD_PID_OFFSET) as *const u32),
            core::ptr::read_unaligned(first.add(RECORD_TID_OFFSET) as *const u32),
        )
    };
    let at_ns = unsafe { bpf_ktime_get_ns() };
    let r = &mut b.scratch;
    r.kind = RecordKind::Loss as u16;
    r.reason = reason;
    r.pid = pid;
    r.tid = tid;
    r.host_pid = host_pid;
    r.count = calls;
    r.at_ns = at_ns;
    if reason == LossRecord::THROTTLED {
        // Room to wait: the others waiting go to the ring now (it has room:
        // it is only nearly full).
        if b.waiting as usize >= PENDING_LOSSES {
            place_losses(b);
        }
    } else if EVENTS.output(&b.scratch, emit::wake_flags(LossRecord::SIZE as u64)).is_ok() {
        return;
    }
    for i in 0..PENDING_LOSSES {
        if b.losses[i].count == 0 {
            b.losses[i] = b.scratch;
            b.waiting += 1;
            return;
        }
    }
    count_lost(Counter::LossUnplaced, calls);
}

/// Writes the losses waiting in this CPU's buffer, oldest slot first, as
/// far as the ring has room.
#[inline(never)]
fn place_losses(b: &mut Batch) {
    for i in 0..PENDING_LOSSES {
        let w = &mut b.losses[i];
        if w.count != 0 {
            if EVENTS.output(&*w, emit::wake_flags(LossRecord::SIZE as u64)).is_err() {
                return;
            }
            w.count = 0;
            b.waiting -= 1;
        }
    }
}
