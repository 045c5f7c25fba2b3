//! `raw_syscalls:sys_exit(struct pt_regs *regs, long ret)`, as a BTF tracepoint.
//!
//! Hot path for every process on the host: an unwatched one leaves after
//! reading the same byte as in `sys_enter`.
use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::btf_tracepoint, programs::BtfTracePointContext};
use strace_common::{SyscallRecord, ThreadSlot, capture::CaptureSpec, maps::state as cache};

use super::sys_enter::first_slot;
use crate::{
    arch,
    batch::Open,
    capture, emit,
    maps::{NR_EXECVE, NR_EXECVEAT, NR_FORKS},
    state, threads,
};

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    // No classification here. A process the cache calls IGNORED has no slot;
    // an UNKNOWN one may (its cache entry was reset while it was in a call),
    // and the slot lookup below settles it.
    let (tgid, tid) = state::current();
    // SAFETY: a byte of the cache.
    if unsafe { *state::byte(tgid) } == cache::IGNORED {
        return 0;
    }
    let Some(slot) = threads::find(tid) else {
        // No slot: the process is not watched, or this thread's call began
        // before it was (its cache byte was reset then: classified here,
        // once), or its filter left all its calls out so far.
        let verdict = state::verdict(tgid, false);
        if verdict != cache::IGNORED {
            resumed(&ctx, tid, ctx.arg::<i64>(1), verdict);
        }
        return 0;
    };
    // SAFETY: the slot belongs to this thread; only this thread writes it.
    let slot = unsafe { &mut *slot };
    if slot.state != ThreadSlot::IN_SYSCALL {
        return 0;
    }
    finish(slot, tid, ctx.arg::<i64>(1), 0, |_, _| {});
    0
}

/// A call of a watched process whose entry no program saw: the thread was
/// in it when the watch began (a blocked read, a sleep). Recorded from the
/// registers, as the exit hook alone records every call (strace's `<...
/// resumed>`), with no entry time, unless the watch's filter leaves it out
/// (`verdict`, the process's cache byte). Left out: a fork's return in the new
/// thread (not a call it made), rt_sigreturn (its registers are the signal
/// frame's), and, uncounted, a thread the full table has no slot for (its
/// calls are counted at their entry).
// Inlined: its frame and sys_exit's are one, which keeps the deepest
// chain of calls (this, the exit's copies, the fd-to-inode walk) within
// the kernel's 512-byte stack.
#[inline(always)]
fn resumed(ctx: &BtfTracePointContext, tid: u32, ret: i64, verdict: u8) {
    let Some((nr, args, flags)) = call_from_registers(ctx, ret) else {
        return;
    };
    if nr < 0 || !state::allows(verdict, nr) {
        return;
    }
    let Some(slot) = first_slot(ctx, nr, unsafe { bpf_ktime_get_ns() }, args, flags, false) else {
        return;
    };
    finish_from_registers(slot, tid, ret, flags);
}

/// The call a thread returns from (which returned `ret`), read from its
/// registers at exit, with its record's flags: none for a fork's return in
/// the new thread, which is not a call it made; a successful execve's
/// arguments are the new program's registers, so they are flagged lost. The
/// number reads -1 after rt_sigreturn (the signal frame's registers).
#[inline(always)]
pub(super) fn call_from_registers(ctx: &BtfTracePointContext, ret: i64) -> Option<(i32, [u64; 6], u32)> {
    let (nr, mut args) = arch::exit_call(ctx.arg::<*const u8>(0))?;
    if ret == 0 && NR_FORKS.load().contains(&nr) {
        return None;
    }
    let mut flags = SyscallRecord::NO_ENTER_TIME as u32;
    if ret == 0 && (nr == NR_EXECVE.load() || nr == NR_EXECVEAT.load()) {
        args = [0; 6];
        flags |= SyscallRecord::ARGS_LOST as u32;
    }
    Some((nr, args, flags))
}

/// Ends a call recorded whole at its exit (`flags` as begun): its inputs
/// are copied now, unless the registers are gone (ARGS_LOST).
#[inline(always)]
pub(super) fn finish_from_registers(slot: &mut ThreadSlot, tid: u32, ret: i64, flags: u32) {
    let copy_inputs = flags & SyscallRecord::ARGS_LOST as u32 == 0;
    finish(slot, tid, ret, flags as u16 & SyscallRecord::ARGS_LOST, |b, slot| {
        if copy_inputs && capture::when(slot.nr) & CaptureSpec::AT_ENTRY != 0 {
            // The stack pointer at exit is not the entry's (rt_sigreturn's
            // frame is gone): stack copies are left out.
            capture::entry(b, slot, 0);
        }
    });
}

/// Ends the call in `slot` (thread `tid`), which returned `ret`: `before`
/// adds what goes ahead of the exit's copies (sys_exit_only's input copies),
/// then the copies of its outputs and its record, with `flags` besides the
/// slot's own (see `emit::record`).
#[inline(always)]
pub(super) fn finish(
    slot: &mut ThreadSlot,
    tid: u32,
    ret: i64,
    flags: u16,
    before: impl FnOnce(&mut Open, &ThreadSlot),
) {
    // One batch from the copies to the record: the tick cannot write out the
    // one without the other, and a lost batch that held the copies flags the
    // record (the slot is still IN_SYSCALL; see batch::lost).
    if let Some(mut b) = emit::batch_for(slot) {
        before(&mut b, slot);
        if capture::when(slot.nr) & CaptureSpec::AT_EXIT != 0 {
            capture::exit(&mut b, slot, ret);
        }
        let now = unsafe { bpf_ktime_get_ns() };
        b.syscall(emit::record(slot, flags, now, ret));
    }
    // Unless the daemon retired the slot meanwhile (an unwatch): it is no
    // longer this thread's, and nobody claims it before this run has ended.
    if slot.host_tid() == tid {
        slot.state = ThreadSlot::IDLE;
    }
}
