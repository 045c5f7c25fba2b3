//! Never attached: userspace runs it (`BPF_PROG_TEST_RUN`: the tgid, whether
//! it follows its children, its filter slot) to change a watch that exists,
//! in place. Userspace could only replace the whole entry, and the programs
//! add to its counters (dropped, throttled, threads, the fair share's debt)
//! meanwhile: what they added between its read and its write was lost, or
//! went into the old element after it was replaced. Here only the two
//! fields change, and the process's cache byte is reset so that its next
//! syscall reads the new filter. Answers 1 if the process is not watched.
use core::ffi::c_void;

use aya_ebpf::programs::RawTracePointContext;
use strace_common::WatchEntry;

use crate::{maps::WATCHED, state};

// Not `#[raw_tracepoint]`: aya's macro returns 0 whatever the function
// answers, and the daemon reads the answer (`BPF_PROG_TEST_RUN`'s retval).
#[unsafe(no_mangle)]
#[unsafe(link_section = "raw_tp")]
pub fn change_watch(ctx: *mut c_void) -> u32 {
    let ctx = RawTracePointContext::new(ctx);
    let tgid = ctx.arg::<u64>(0) as u32;
    let follow = if ctx.arg::<u64>(1) != 0 { WatchEntry::FOLLOW_CHILDREN } else { 0 };
    let Some(e) = WATCHED.get_ptr_mut(&tgid) else {
        return 1;
    };
    // SAFETY: pointer into a live map value; the programs never write these
    // two fields of an entry that exists, only userspace (through here) does.
    unsafe {
        (*e).flags = ((*e).flags & !WatchEntry::FOLLOW_CHILDREN) | follow;
        (*e).filter = ctx.arg::<u64>(2) as u32;
    }
    state::forget(tgid);
    0
}
