//! The benchmark's floor: empty programs on the same hooks, of the same kind
//! (BTF tracepoints), as the real syscall programs, so `cargo xtask bench` can
//! show what the kernel charges for any program there (the physical limit of
//! this design), and the same programs reading the clock once each: the
//! least that timing every call (durations) can cost.
#![no_std]
#![no_main]

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::btf_tracepoint, programs::BtfTracePointContext};

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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
