//! `timer:hrtimer_expire_entry`, in interrupt context: a thread that stays on
//! its CPU and stops making syscalls (a busy loop) would otherwise leave its
//! last records in the batch. Every hrtimer expiry runs this, the scheduler
//! tick among them (every 1/HZ on a busy CPU, when timers run in
//! high-resolution mode, the usual one); it writes the batch out unless
//! the program it interrupted is using it (then the next expiry does).
//! Attached with the syscall hooks.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::batch;

#[raw_tracepoint(tracepoint = "hrtimer_expire_entry")]
pub fn tick(_ctx: RawTracePointContext) -> i32 {
    let _ = batch::flush_idle();
    0
}
