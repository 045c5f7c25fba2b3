//! Never attached: userspace runs it (`BPF_PROG_TEST_RUN`, the tgid as the
//! first argument) to reset a process's cache byte when it starts or stops
//! a watch, since it cannot write the cache (state.rs) directly.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::state;

#[raw_tracepoint]
pub fn forget_tgid(ctx: RawTracePointContext) -> i32 {
    state::forget(ctx.arg::<u64>(0) as u32);
    0
}
