//! Writing records to the ring buffer; a record that does not fit is counted,
//! globally (per CPU) and for its process.
use aya_ebpf::bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use strace_common::{Counter, ProcessRecord, RecordKind, SyscallRecord, ThreadSlot};

use crate::maps::{COUNTERS, EVENTS, WAKE_EVERY, WATCHED, atomic_inc, count};

/// Submit flags: no wake-up (the reader drains on a short timer), except for
/// every WAKE_EVERY-th record of a CPU, so a burst cannot fill the ring while
/// the reader sleeps. Waking the reader on every record cost more than
/// writing the record; asking the ring how full it is cost a helper call per
/// record (see bench/README.md).
#[inline(always)]
pub fn wake_flags() -> u64 {
    let Some(since) = COUNTERS.get_ptr_mut(Counter::SinceWake as u32) else {
        return BPF_RB_NO_WAKEUP as u64;
    };
    // SAFETY: this CPU's slot; programs on one CPU do not run concurrently here.
    unsafe {
        if *since < WAKE_EVERY.load() {
            *since += 1;
            return BPF_RB_NO_WAKEUP as u64;
        }
        *since = 0;
    }
    BPF_RB_FORCE_WAKEUP as u64
}

/// One helper call (bpf_ringbuf_output) rather than reserve + submit.
#[inline(always)]
pub fn syscall(slot: &ThreadSlot, flags: u16, exit_ns: u64, ret: i64) {
    let record = SyscallRecord {
        kind: RecordKind::Syscall as u16,
        flags: flags | (slot.flags as u16 & SyscallRecord::AUX_LOST),
        nr: slot.nr,
        pid: slot.pid,
        tid: slot.tid,
        enter_ns: slot.enter_ns,
        exit_ns,
        ret,
        args: slot.args,
    };
    if EVENTS.output(&record, wake_flags()).is_err() {
        lost(slot.host_pid());
    }
}

/// False if the ring is full (counted).
pub fn process(record: ProcessRecord) -> bool {
    if EVENTS.output(&record, wake_flags()).is_err() {
        count(Counter::RingFull);
        return false;
    }
    true
}

#[cold]
fn lost(host_pid: u32) {
    count(Counter::RingFull);
    if let Some(w) = WATCHED.get_ptr_mut(&host_pid) {
        // SAFETY: pointer to a live map value.
        atomic_inc(unsafe { &raw mut (*w).dropped });
    }
}
