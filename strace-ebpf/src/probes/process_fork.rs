//! `sched:sched_process_fork(struct task_struct *parent, struct task_struct *child)`,
//! run by the parent. A new process (not a thread) starts with a clean slate
//! (its tgid may have belonged to a watched process before), and is watched
//! from its first syscall when its parent is watched with FOLLOW_CHILDREN
//! (with the parent's syscall filter, if it has one; the parent's batched
//! calls are written out first).
use aya_ebpf::{helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext};
use strace_common::{Counter, WatchEntry};

use crate::{
    batch,
    maps::{TASK_PID_OFFSET, TASK_TGID_OFFSET, WATCHED, count},
    state, task,
};

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn process_fork(ctx: RawTracePointContext) -> i32 {
    let child: *const u8 = ctx.arg(1);
    let (Some(pid), Some(tgid)) =
        (task::read_u32(child, TASK_PID_OFFSET.load()), task::read_u32(child, TASK_TGID_OFFSET.load()))
    else {
        return 0;
    };
    if pid != tgid {
        return 0; // a new thread of the parent's process
    }
    let _ = WATCHED.remove(&tgid);
    state::forget(tgid);
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Some(p) = (unsafe { WATCHED.get(&parent) }) else {
        return 0;
    };
    if p.flags & WatchEntry::FOLLOW_CHILDREN == 0 {
        return 0;
    }
    let entry = WatchEntry {
        flags: (p.flags & !WatchEntry::AUTO) | WatchEntry::CHILD,
        parent_ns_pid: p.ns_pid,
        filter: p.filter,
        ..Default::default()
    };
    if WATCHED.insert(&tgid, &entry, 0).is_err() {
        count(Counter::WatchedFull);
        // Its first syscall tells userspace it is not watched (state.rs).
        state::refuse_later(tgid);
    }
    // The parent's calls so far go out before any of the child's: the
    // child's fd table (`--fd-paths`) is its parent's as the fork copied it,
    // which the daemon knows once it has read the calls before the fork.
    let _ = batch::flush_idle();
    0
}
