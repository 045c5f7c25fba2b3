//! `sched:sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
//!
//! When a thread other than the leader calls execve, the kernel gives it the
//! leader's id: its call in progress (the execve) moves to that id, so
//! `sys_exit` finds it, and the old id's slot does not linger.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::{maps::THREADS, state};

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn process_exec(ctx: RawTracePointContext) -> i32 {
    let old_tid = ctx.arg::<u64>(1) as u32;
    let (_, tid) = state::current();
    if old_tid == tid {
        return 0;
    }
    // SAFETY: a copy of a map value.
    let Some(mut slot) = (unsafe { THREADS.get(&old_tid) }).copied() else {
        return 0;
    };
    let _ = THREADS.remove(&old_tid);
    // The thread is now the leader: its namespace tid is the process's pid.
    slot.tid = slot.pid;
    let _ = THREADS.insert(&tid, &slot, 0);
    0
}
