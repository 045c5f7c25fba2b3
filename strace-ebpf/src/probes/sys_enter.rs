//! `raw_syscalls:sys_enter(struct pt_regs *regs, long id)`.
//!
//! Hot path for every process on the host: an unwatched one leaves after one
//! hash lookup. A watched thread's call is remembered in its slot (inserted
//! once per thread, then updated in place) until `sys_exit` emits it.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use aya_log_ebpf::warn;
use strace_common::{Counter, SyscallRecord, ThreadSlot};

use crate::{
    arch, emit,
    maps::{NR_EXIT, NR_EXIT_GROUP, THREADS, WATCHED, atomic_inc, count},
};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let Some(watch) = WATCHED.get_ptr_mut(&tgid) else {
        return 0;
    };
    let tid = pid_tgid as u32;
    let nr = ctx.arg::<i64>(1) as i32;
    let slot = ThreadSlot {
        pid: tgid,
        tid,
        nr,
        state: ThreadSlot::IN_SYSCALL,
        enter_ns: unsafe { bpf_ktime_get_ns() },
        args: arch::syscall_args(ctx.arg::<*const u8>(0)),
    };
    // exit and exit_group never reach sys_exit: record them now.
    if nr == NR_EXIT.load() || nr == NR_EXIT_GROUP.load() {
        emit::syscall(&slot, SyscallRecord::NO_RETURN, slot.enter_ns, 0);
        return 0;
    }
    match THREADS.get_ptr_mut(&tid) {
        // SAFETY: the slot belongs to this thread; only this thread writes it.
        Some(p) => unsafe { *p = slot },
        None => {
            if THREADS.insert(&tid, &slot, BPF_NOEXIST as u64).is_err() {
                // Thread table full: this call goes unrecorded, but counted.
                if count(Counter::ThreadsFull) == 0 {
                    warn!(&ctx, "thread table full: calls of tid {} (pid {}) are not traced", tid, tgid);
                }
                // SAFETY: pointer to a live map value, from the lookup above.
                atomic_inc(unsafe { &raw mut (*watch).untracked });
            }
        }
    }
    0
}
