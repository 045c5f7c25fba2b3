//! Writing records to the ring buffer; a record that does not fit is counted,
//! globally (per CPU) and for its process.
use strace_common::{Counter, ProcessRecord, RecordKind, SyscallRecord, ThreadSlot};

use crate::maps::{EVENTS, WATCHED, atomic_inc, count};

#[inline(always)]
pub fn syscall(slot: &ThreadSlot, flags: u16, exit_ns: u64, ret: i64) {
    match EVENTS.reserve::<SyscallRecord>(0) {
        Some(mut entry) => {
            entry.write(SyscallRecord {
                kind: RecordKind::Syscall as u16,
                flags: flags | (slot.flags as u16 & SyscallRecord::AUX_LOST),
                nr: slot.nr,
                pid: slot.pid,
                tid: slot.tid,
                enter_ns: slot.enter_ns,
                exit_ns,
                ret,
                args: slot.args,
            });
            entry.submit(0);
        }
        None => lost(slot.host_pid),
    }
}

pub fn process(record: ProcessRecord) {
    if EVENTS.output(&record, 0).is_err() {
        count(Counter::RingFull);
    }
}

#[cold]
fn lost(host_pid: u32) {
    count(Counter::RingFull);
    if let Some(w) = WATCHED.get_ptr_mut(&host_pid) {
        // SAFETY: pointer to a live map value.
        atomic_inc(unsafe { &raw mut (*w).dropped });
    }
}
