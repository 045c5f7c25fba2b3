//! The benchmark's floor: empty programs on the same hooks, of the same kind
//! (BTF tracepoints), as the real syscall programs, so `cargo xtask bench` can
//! show what the kernel charges for any program there (the physical limit of
//! this design), and the same programs reading the clock once each: the
//! least that timing every call (durations) can cost. Empty programs on the
//! batch-flushing hooks (raw tracepoints, as the daemon's) complete the floor
//! of a server, which switches tasks and takes timer interrupts. And
//! `count_exit`, which counts the calls of chosen processes: the independent
//! count the nginx scenario's accounting identity is checked against.
#![no_std]
#![no_main]
// atomic_xadd: the BPF target has an atomic add but no compare-and-swap.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map, raw_tracepoint},
    maps::HashMap,
    programs::{BtfTracePointContext, RawTracePointContext},
};

#[btf_tracepoint(function = "sys_enter")]
pub fn floor_enter(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn floor_exit(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sys_enter")]
pub fn floor_enter_clock(_ctx: BtfTracePointContext) -> i32 {
    core::hint::black_box(unsafe { bpf_ktime_get_ns() });
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn floor_exit_clock(_ctx: BtfTracePointContext) -> i32 {
    core::hint::black_box(unsafe { bpf_ktime_get_ns() });
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn floor_switch(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "hrtimer_expire_entry")]
pub fn floor_tick(_ctx: RawTracePointContext) -> i32 {
    0
}

/// Calls completed, by host tgid: userspace inserts the processes to count.
#[map(name = "COUNTED")]
static COUNTED: HashMap<u32, u64> = HashMap::with_max_entries(64, 0);

#[btf_tracepoint(function = "sys_exit")]
pub fn count_exit(_ctx: BtfTracePointContext) -> i32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if let Some(n) = COUNTED.get_ptr_mut(&tgid) {
        // SAFETY: a live map value; BPF_ATOMIC add (several CPUs may count).
        unsafe { core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(n, 1) };
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
