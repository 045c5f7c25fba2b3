//! The thread table: an open-addressed table in an array map (lookups are
//! inlined, where a hash-map lookup is a helper call). A thread's slot is one
//! of `ThreadSlot::PROBES` consecutive slots from a home hashed from its tid
//! (`ThreadSlot::index`), the one whose owner is that thread.
//!
//! Claiming a slot is the cold path (a thread's first traced syscall): an
//! insert with BPF_NOEXIST into CLAIMS, keyed by slot index, decides which of
//! two threads racing for a free slot gets it (the program is built for the
//! generic BPF CPU, which has no compare-and-swap).
use aya_ebpf::bindings::BPF_NOEXIST;
use strace_common::ThreadSlot;

use crate::maps::{CLAIMS, OWNERS, THREADS, THREADS_MASK};

/// The slot `tid` owns, if any.
#[inline(always)]
pub fn find(tid: u32) -> Option<*mut ThreadSlot> {
    locate(tid).map(|(_, slot)| slot)
}

#[inline(always)]
fn locate(tid: u32) -> Option<(u32, *mut ThreadSlot)> {
    let mask = THREADS_MASK.load();
    for probe in 0..ThreadSlot::PROBES {
        let index = ThreadSlot::index(tid, probe, mask);
        let slot = THREADS.get_ptr_mut(index)?;
        // SAFETY: pointer to a live map value.
        if unsafe { (*slot).host_tid() } == tid {
            return Some((index, slot));
        }
    }
    None
}

/// Starts call `nr` in the slot `p`, which the calling thread owns: at
/// `stamp`, or untimed (None) as the thread's next call number, which pairs
/// the call with its capture records.
#[inline(always)]
pub fn begin(p: *mut ThreadSlot, nr: i32, stamp: Option<u64>, args: [u64; 6], flags: u32) -> &'static mut ThreadSlot {
    // SAFETY: the slot belongs to this thread; only this thread writes it.
    unsafe {
        (*p).nr = nr;
        (*p).state = ThreadSlot::IN_SYSCALL;
        (*p).enter_ns = match stamp {
            Some(t) => t,
            None => (*p).enter_ns.wrapping_add(1),
        };
        (*p).args = args;
        (*p).flags = flags;
        &mut *p
    }
}

/// Claims a free slot for the calling thread; None if all its slots are taken.
#[inline(never)]
pub fn claim(host_pid: u32, tid: u32) -> Option<*mut ThreadSlot> {
    let mask = THREADS_MASK.load();
    for probe in 0..ThreadSlot::PROBES {
        let index = ThreadSlot::index(tid, probe, mask);
        let slot = THREADS.get_ptr_mut(index)?;
        // SAFETY: pointer to a live map value. A non-zero owner is taken; a
        // zero one may be claimed by another thread right now: CLAIMS decides.
        if unsafe { (*slot).owner } != 0 || CLAIMS.insert(&index, &tid, BPF_NOEXIST as u64).is_err() {
            continue;
        }
        // SAFETY: this thread won the slot.
        unsafe { core::ptr::write_volatile(&raw mut (*slot).owner, ThreadSlot::owner_of(host_pid, tid)) };
        set_owner(index, host_pid);
        return Some(slot);
    }
    None
}

/// Writes every field of `from` into the slot but its owner: a slot's owner
/// is only written by a claim, a free, and the daemon's retiring it, so a
/// whole-slot write here could bring back an owner the daemon just retired.
#[inline(always)]
pub fn fill(slot: &mut ThreadSlot, from: &ThreadSlot) {
    slot.pid = from.pid;
    slot.tid = from.tid;
    slot.nr = from.nr;
    slot.state = from.state;
    slot.enter_ns = from.enter_ns;
    slot.args = from.args;
    slot.flags = from.flags;
}

/// Frees the slot `tid` owns, if any; returns what it held.
#[inline(always)]
pub fn free(tid: u32) -> Option<ThreadSlot> {
    let (index, slot) = locate(tid)?;
    // SAFETY: the slot is this thread's; a copy is taken before it is freed.
    let copy = unsafe { *slot };
    unsafe {
        (*slot).state = ThreadSlot::IDLE;
        core::ptr::write_volatile(&raw mut (*slot).owner, 0);
    }
    set_owner(index, 0);
    let _ = CLAIMS.remove(&index);
    Some(copy)
}

#[inline(always)]
fn set_owner(index: u32, host_pid: u32) {
    if let Some(p) = OWNERS.get_ptr_mut(index) {
        // SAFETY: pointer to a live map value.
        unsafe { core::ptr::write_volatile(p, host_pid as u64) };
    }
}
