//! Sending records to userspace: syscall records go through this CPU's batch
//! (batch.rs); the rare process records go straight to the ring buffer. A
//! record that does not fit is counted, globally (per CPU) and for its process.
use aya_ebpf::bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use strace_common::{Counter, ProcessRecord, RecordKind, SyscallRecord, ThreadSlot};

use crate::{
    batch::{self, Open},
    maps::{COUNTERS, EVENTS, WAKE_BYTES, WATCHED, add, count_lost},
};

/// Submit flags for a write of `bytes`: no wake-up (the reader drains on a
/// short timer), except for the write that takes a CPU past WAKE_BYTES since
/// it last woke the reader, so a burst cannot fill the ring while the reader
/// sleeps. Waking the reader on every record cost more than writing the
/// record; asking the ring how full it is cost a helper call per record (see
/// bench/README.md).
#[inline(always)]
pub fn wake_flags(bytes: u64) -> u64 {
    let Some(since) = COUNTERS.get_ptr_mut(Counter::SinceWake as u32) else {
        return BPF_RB_NO_WAKEUP as u64;
    };
    // SAFETY: this CPU's slot (an interrupting tick may lose an update: it
    // only shifts when the next wake-up comes).
    unsafe {
        *since += bytes;
        if *since < WAKE_BYTES.load() {
            return BPF_RB_NO_WAKEUP as u64;
        }
        *since = 0;
    }
    BPF_RB_FORCE_WAKEUP as u64
}

/// A write did not fit: the next one wakes the reader.
#[cold]
pub fn wake_next() {
    if let Some(since) = COUNTERS.get_ptr_mut(Counter::SinceWake as u32) {
        // SAFETY: this CPU's slot.
        unsafe { *since = WAKE_BYTES.load() };
    }
}

/// The record of the call in `slot`.
#[inline(always)]
pub fn record(slot: &ThreadSlot, flags: u16, exit_ns: u64, ret: i64) -> SyscallRecord {
    SyscallRecord {
        kind: RecordKind::Syscall as u16,
        flags: flags | (slot.flags as u16 & (SyscallRecord::CAPTURE_LOST | SyscallRecord::NO_ENTER_TIME)),
        nr: slot.nr,
        pid: slot.pid,
        tid: slot.tid,
        enter_ns: slot.enter_ns,
        exit_ns,
        ret,
        args: slot.args,
    }
}

/// Appends the record of the call in `slot` to this CPU's batch.
#[inline(always)]
pub fn syscall(slot: &ThreadSlot, flags: u16, exit_ns: u64, ret: i64) {
    if let Some(mut b) = batch_for(slot) {
        b.syscall(record(slot, flags, exit_ns, ret));
    }
}

/// This CPU's batch for the thread of `slot`; if there is none (the map
/// lookup failed), the call's record is counted as lost.
#[inline(always)]
pub fn batch_for(slot: &ThreadSlot) -> Option<Open> {
    let b = batch::open(slot.owner);
    if b.is_none() {
        lost(slot.host_pid(), 1, false);
    }
    b
}

/// False if the ring is full (not counted here: the caller counts the call
/// it could not record, see state.rs). Goes straight to the ring, after
/// this CPU's batch: the thread may still have calls batched from a watch
/// that ended, and they must not land after the new watch's start.
pub fn process(record: ProcessRecord) -> bool {
    let _ = batch::flush_idle();
    if EVENTS.output(&record, wake_flags(ProcessRecord::SIZE as u64)).is_err() {
        wake_next();
        return false;
    }
    true
}

/// `calls` syscall records of `host_pid` that never reached the ring: the
/// ring was full, or the process was `throttled` (over its share, fair.rs).
#[cold]
pub fn lost(host_pid: u32, calls: u64, throttled: bool) {
    count_lost(if throttled { Counter::Throttled } else { Counter::RingFull }, calls);
    if let Some(w) = WATCHED.get_ptr_mut(&host_pid) {
        // SAFETY: pointer to a live map value.
        add(unsafe { &raw mut (*w).dropped }, calls);
        if throttled {
            add(unsafe { &raw mut (*w).throttled }, calls);
        }
    }
}
