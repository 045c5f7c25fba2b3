//! `raw_syscalls:sys_exit(struct pt_regs *regs, long ret)`.
//!
//! Hot path for every process on the host: only threads that have a slot (made
//! by `sys_enter` for watched processes) get past the one lookup.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use strace_common::ThreadSlot;

use crate::{emit, maps::THREADS};

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(slot) = THREADS.get_ptr_mut(&tid) else {
        return 0;
    };
    // SAFETY: the slot belongs to this thread; only this thread writes it.
    let slot = unsafe { &mut *slot };
    if slot.state != ThreadSlot::IN_SYSCALL {
        return 0;
    }
    slot.state = ThreadSlot::IDLE;
    let now = unsafe { bpf_ktime_get_ns() };
    emit::syscall(slot, 0, now, ctx.arg::<i64>(1));
    0
}
