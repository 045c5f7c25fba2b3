//! The ring's fair share: one process cannot fill the ring so that
//! another's records find no room (issue #22).
//!
//! Each batch about to be written asks the ring how much it holds waiting
//! for the reader (one helper call a batch, ~50 calls). Below RING_WARM
//! (half the ring) nothing more happens: a process alone at full speed
//! keeps the ring under it. Above, the process's `debt` in its watch entry
//! grows by the batch's bytes (whether they are written or not) and shrinks
//! with time, by RING_SHARE bytes about every second; above RING_BUSY
//! (three quarters) a process whose debt is over RING_SHARE has its batch
//! dropped, counted to it as throttled (and in its `dropped`), with a loss
//! record where it happened, as long as another process wrote there in
//! the last second (a process alone is not throttled). So the last quarter
//! of the ring is left to the processes that wrote little while it filled:
//! a flooder is throttled there, a process making a few calls is not.
use aya_ebpf::{bindings::BPF_RB_AVAIL_DATA, helpers::bpf_ktime_get_ns};

use crate::maps::{EVENTS, RING_BUSY, RING_SHARE, RING_WARM, WATCHED};

/// The process whose batch was last counted above RING_WARM, and when a
/// batch of another one last came after one of it there: the ring is shared
/// (contended) for a second after that. A process alone is never throttled,
/// however full it gets the ring (as before fairness: it only loses what
/// does not fit). Updated without atomics from every CPU: a lost update
/// shifts the estimate, it counts nothing.
static mut LAST_PID: u32 = 0;
static mut SHARED_NS: u64 = 0;

/// Whether the batch of `len` bytes of process `host_pid` is to be dropped.
#[inline(never)]
pub fn over_share(host_pid: u32, len: u64) -> bool {
    let warm = RING_WARM.load();
    if warm == 0 {
        return false;
    }
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if waiting < warm {
        return false;
    }
    let Some(w) = WATCHED.get_ptr_mut(&host_pid) else { return false };
    let share = RING_SHARE.load();
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: pointer to a live map value. Two CPUs may update one process's
    // debt at once and lose one update: it is an estimate, not a count.
    unsafe {
        let elapsed = now.wrapping_sub((*w).debt_ns);
        let debt = if elapsed >= 1 << 30 { 0 } else { (*w).debt.saturating_sub((elapsed * share) >> 30) };
        (*w).debt_ns = now;
        let cap = share * 4;
        let new = debt + len;
        (*w).debt = if new > cap { cap } else { new };
        let last = core::ptr::read_volatile(&raw const LAST_PID);
        if last != host_pid {
            if last != 0 {
                core::ptr::write_volatile(&raw mut SHARED_NS, now);
            }
            core::ptr::write_volatile(&raw mut LAST_PID, host_pid);
        }
        let shared = now.wrapping_sub(core::ptr::read_volatile(&raw const SHARED_NS)) < 1 << 30;
        shared && waiting >= RING_BUSY.load() && debt > share
    }
}
