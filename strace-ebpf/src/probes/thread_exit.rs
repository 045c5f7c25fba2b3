//! `sched:sched_process_exit(struct task_struct *p)`, run by every exiting
//! thread: frees its slot so the thread table only holds live threads.
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext};

use crate::maps::THREADS;

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn thread_exit(_ctx: RawTracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = THREADS.remove(&tid);
    0
}
