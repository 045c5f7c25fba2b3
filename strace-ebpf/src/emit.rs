//! Sending records to userspace: syscall records go through this CPU's batch
//! (batch.rs); the rare process records go straight to the ring buffer. A
//! record that does not fit is counted, globally (per CPU) and for its process.
use aya_ebpf::bindings::{BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use strace_common::{Counter, ProcessRecord, RecordKind, SyscallRecord, ThreadSlot};

use crate::{
    batch,
    maps::{COUNTERS, EVENTS, WAKE_BYTES, WATCHED, atomic_inc, count},
};

/// Submit flags for a write of `bytes`: no wake-up (the reader drains on a
/// short timer), except once a CPU has written WAKE_BYTES since it last
/// woke the reader, so a burst cannot fill the ring while the reader sleeps.
/// Waking the reader on every record cost more than writing the record;
/// asking the ring how full it is cost a helper call per record (see
/// bench/README.md).
#[inline(always)]
pub fn wake_flags(bytes: u64) -> u64 {
    let Some(since) = COUNTERS.get_ptr_mut(Counter::SinceWake as u32) else {
        return BPF_RB_NO_WAKEUP as u64;
    };
    // SAFETY: this CPU's slot (an interrupting tick may lose an update: it
    // only shifts when the next wake-up comes).
    unsafe {
        if *since < WAKE_BYTES.load() {
            *since += bytes;
            return BPF_RB_NO_WAKEUP as u64;
        }
        *since = 0;
    }
    BPF_RB_FORCE_WAKEUP as u64
}

/// Appends the record of the call in `slot` to this CPU's batch.
#[inline(always)]
pub fn syscall(slot: &ThreadSlot, flags: u16, exit_ns: u64, ret: i64) {
    let record = SyscallRecord {
        kind: RecordKind::Syscall as u16,
        flags: flags | (slot.flags as u16 & (SyscallRecord::AUX_LOST | SyscallRecord::NO_ENTER_TIME)),
        nr: slot.nr,
        pid: slot.pid,
        tid: slot.tid,
        enter_ns: slot.enter_ns,
        exit_ns,
        ret,
        args: slot.args,
    };
    match batch::open(slot.owner) {
        Some(b) => b.syscall(record),
        None => lost(slot.host_pid()),
    }
}

/// False if the ring is full (counted). The calling thread's batched records
/// go first, so a process record is never overtaken by later ones.
pub fn process(record: ProcessRecord) -> bool {
    batch::flush_idle();
    if EVENTS.output(&record, wake_flags(ProcessRecord::SIZE as u64)).is_err() {
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
