//! `sched:sched_switch`: the CPU leaves a task, so its batched records go
//! out now; a batch only ever holds the running thread's records. Attached
//! with the syscall hooks: it costs every context switch on the host a
//! per-CPU array access while something is watched. The daemon also runs it
//! on every CPU when it detaches the hooks: it returns 1 if it had to leave
//! records behind (the buffer was busy), so the daemon tries again.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::batch;

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn task_switch(_ctx: RawTracePointContext) -> i32 {
    if batch::flush_idle() { 0 } else { 1 }
}
