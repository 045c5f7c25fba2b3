//! `raw_syscalls:sys_enter(struct pt_regs *regs, long id)`, as a BTF tracepoint.
//!
//! Hot path for every process on the host: an unwatched one leaves after
//! reading one byte (`state::traced`), and so does a filtered one's call its
//! filter leaves out, after testing the call's bit. A watched thread's call is remembered in
//! its slot (inserted once per thread, then updated in place) until
//! `sys_exit` emits it. With durations off the entry is not timed (a clock
//! read costs ~20-30 ns here): the slot counts the thread's calls instead, which
//! still pairs a call with its capture records.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use aya_log_ebpf::warn;
use strace_common::{Counter, SyscallRecord, ThreadSlot, capture::CaptureSpec};

use crate::{
    arch, batch, capture, emit,
    maps::{DURATIONS, NR_EXIT, NR_EXIT_GROUP, THREAD_SHARE, WATCHED, atomic_inc, count},
    ns, state, threads,
};

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    let (tgid, tid) = state::current();
    // A call its watch's filter leaves out stops here: no slot, no copy, no record.
    if !state::traced(tgid, || ctx.arg::<i64>(1) as i32) {
        return 0;
    }
    let nr = ctx.arg::<i64>(1) as i32;
    let timed = DURATIONS.load() != 0;
    let (stamp, flags) =
        if timed { (unsafe { bpf_ktime_get_ns() }, 0) } else { (0, SyscallRecord::NO_ENTER_TIME as u32) };
    let regs = ctx.arg::<*const u8>(0);
    let args = arch::syscall_args(regs);
    let slot = match threads::find(tid) {
        Some(p) => threads::begin(p, nr, timed.then_some(stamp), args, flags),
        // Untimed, a thread's call numbers start from the clock (cold path),
        // so they do not repeat across threads or a reused tid.
        None => {
            match first_slot(&ctx, nr, if timed { stamp } else { unsafe { bpf_ktime_get_ns() } }, args, flags, true) {
                Some(p) => p,
                None => return 0,
            }
        }
    };
    if capture::when(nr) & CaptureSpec::AT_ENTRY != 0 {
        match batch::open(slot.owner) {
            Some(mut b) => capture::entry(&mut b, slot, arch::stack_pointer(regs)),
            None => slot.flags |= SyscallRecord::CAPTURE_LOST as u32,
        }
    }
    // exit and exit_group never reach sys_exit: record them now.
    if nr == NR_EXIT.load() || nr == NR_EXIT_GROUP.load() {
        let at = if timed { slot.enter_ns } else { unsafe { bpf_ktime_get_ns() } };
        emit::syscall(slot, SyscallRecord::NO_RETURN, at, 0);
    }
    0
}

/// The thread's first traced syscall: claim its slot (the namespace ids are
/// looked up once, here). A full table leaves the call untraced, counted
/// when `count_full`.
#[inline(never)]
pub(super) fn first_slot(
    ctx: &BtfTracePointContext,
    nr: i32,
    enter_ns: u64,
    args: [u64; 6],
    flags: u32,
    count_full: bool,
) -> Option<&'static mut ThreadSlot> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (host_pid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    let watch = WATCHED.get_ptr_mut(&host_pid)?;
    // SAFETY: pointer to a live map value, from the lookup above. Before
    // the namespace ids: a thread over the share comes back at every call.
    if unsafe { (*watch).threads } as i64 >= THREAD_SHARE.load() as i64 {
        // The process holds its share of the table: this thread goes
        // untraced, so that it cannot take the slots others need.
        if count_full {
            count(Counter::ThreadShare);
            unsafe {
                atomic_inc(&raw mut (*watch).untracked);
                atomic_inc(&raw mut (*watch).over_thread_share);
            }
        }
        return None;
    }
    let (ns_pid, ns_tid) = ns::ids(pid_tgid)?;
    let Some(slot) = threads::claim(host_pid, tid) else {
        if !count_full {
            return None;
        }
        // Thread table full: this call goes unrecorded, but counted.
        if count(Counter::ThreadsFull) == 0 {
            warn!(ctx, "thread table full: calls of tid {} (pid {}) are not traced", ns_tid, ns_pid);
        }
        // SAFETY: pointer to a live map value, from the lookup above.
        atomic_inc(unsafe { &raw mut (*watch).untracked });
        return None;
    };
    // SAFETY: from the lookup above; thread_exit takes it back.
    atomic_inc(unsafe { &raw mut (*watch).threads });
    // SAFETY: just claimed; only this thread writes its slot. Field by
    // field: the owner stays as the claim wrote it (see threads::fill).
    unsafe {
        (*slot).pid = ns_pid;
        (*slot).tid = ns_tid;
    }
    Some(threads::begin(slot, nr, Some(enter_ns), args, flags))
}
