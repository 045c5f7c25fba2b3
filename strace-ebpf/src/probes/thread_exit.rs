//! `sched:sched_process_exit(struct task_struct *p)`, run by every exiting
//! thread: writes out its batched records (before the daemon can see it
//! gone), frees its slot, so the thread table only holds live threads, and
//! gives it back to its process's share, and forgets the cached state of an exiting group leader.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext};

use crate::{
    batch,
    maps::{WATCHED, add},
    state, threads,
};

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn thread_exit(_ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (tgid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    let _ = batch::flush_idle();
    if let Some(slot) = threads::free(tid)
        && let Some(w) = WATCHED.get_ptr_mut(&slot.host_pid())
    {
        // SAFETY: pointer to a live map value: the process's share of slots.
        add(unsafe { &raw mut (*w).threads }, u64::MAX);
    }
    if tid == tgid {
        state::forget(tgid);
    }
    0
}
