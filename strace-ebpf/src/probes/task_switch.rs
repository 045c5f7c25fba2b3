//! `sched:sched_switch`: the CPU leaves a task, so its batched records go
//! out now; a batch only ever holds the running thread's records. Attached
//! with the syscall hooks: it costs every context switch on the host a
//! per-CPU array access while something is watched. The daemon also runs it
//! on every CPU when it detaches the hooks: it returns 1 if it had to leave
//! records behind (the buffer was busy), so the daemon tries again.
use core::ffi::c_void;

use crate::batch;

// Not `#[raw_tracepoint]`: aya's macro returns 0 whatever the function
// answers, and the daemon reads the answer (`BPF_PROG_TEST_RUN`'s retval).
#[unsafe(no_mangle)]
#[unsafe(link_section = "raw_tp/sched_switch")]
pub fn task_switch(_ctx: *mut c_void) -> u32 {
    if batch::flush_idle() { 0 } else { 1 }
}
