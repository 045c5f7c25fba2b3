//! `raw_syscalls:sys_exit` with no `sys_enter` (`--entry-hook false`): every
//! process pays for one hook instead of two while anything is watched, and a
//! watched call is recorded whole at its exit, from the registers: its
//! number, its arguments and the copies of what they point at, input and
//! output alike. Given up: durations, calls in progress, exit/exit_group
//! (which never return), and the arguments of the calls that replace the
//! registers: a successful execve (flagged ARGS_LOST), and rt_sigreturn
//! (no arguments; its number reads -1 at exit). A new thread's or process's
//! side of the fork or clone that made it, which returns 0 there and whose
//! entry the thread never made, is not recorded, as with both hooks.
use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::btf_tracepoint, programs::BtfTracePointContext};
use strace_common::maps::state as cache;

use super::{
    sys_enter::first_slot,
    sys_exit::{call_from_registers, finish_from_registers},
};
use crate::{maps::NR_RT_SIGRETURN, state, threads};

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit_only(ctx: BtfTracePointContext) -> i32 {
    let (tgid, tid) = state::current();
    // No sys_enter to classify a process the cache does not know yet: here.
    let verdict = state::verdict(tgid, true);
    if verdict == cache::IGNORED {
        return 0;
    }
    let ret = ctx.arg::<i64>(1);
    let Some((mut nr, mut args, flags)) = call_from_registers(&ctx, ret) else {
        return 0;
    };
    if nr < 0 {
        // rt_sigreturn restores the signal frame's registers, orig_ax -1
        // among them (so does a call a tracer skipped, or syscall(-1): rare).
        nr = NR_RT_SIGRETURN.load();
        args = [0; 6];
    }
    // A filtered watch's call its filter leaves out: nothing is copied or recorded.
    if verdict != cache::WATCHED && !state::allows(verdict, nr) {
        return 0;
    }
    let slot = match threads::find(tid) {
        Some(p) => threads::begin(p, nr, None, args, flags),
        // A thread's call numbers start from the clock, so they do not
        // repeat across threads or a reused tid.
        None => match first_slot(&ctx, nr, unsafe { bpf_ktime_get_ns() }, args, flags, true) {
            Some(p) => p,
            None => return 0,
        },
    };
    finish_from_registers(slot, tid, ret, flags);
    0
}
