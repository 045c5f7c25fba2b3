//! `sched:sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
//!
//! When a thread other than the leader calls execve, the kernel gives it the
//! leader's id: its call in progress (the execve) moves to that id, so
//! `sys_exit` finds it, and the old id's slot does not linger.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use strace_common::{Counter, ThreadSlot};

use crate::{
    maps::{WATCHED, add, count},
    state, threads,
};

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn process_exec(ctx: RawTracePointContext) -> i32 {
    let old_tid = ctx.arg::<u64>(1) as u32;
    let (tgid, tid) = state::current();
    if old_tid == tid {
        return 0;
    }
    let Some(old) = threads::free(old_tid) else {
        return 0;
    };
    let Some(slot) = threads::claim(tgid, tid) else {
        // The execve goes unrecorded: its slot is gone (counted as a full
        // table), and so is the process's hold on it (as at a thread's exit).
        count(Counter::ThreadsFull);
        if let Some(w) = WATCHED.get_ptr_mut(&tgid) {
            // SAFETY: pointer to a live map value: the process's share of slots.
            add(unsafe { &raw mut (*w).threads }, u64::MAX);
        }
        return 0;
    };
    // SAFETY: just claimed; only this thread writes its slot. The thread is
    // now the leader: its namespace tid is the process's pid.
    threads::fill(unsafe { &mut *slot }, &ThreadSlot { tid: old.pid, ..old });
    0
}
