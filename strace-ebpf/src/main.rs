//! The kernel side of strace-api.
//!
//! Data path: `sys_enter` (filter: `state`, a byte per tgid; remember the
//! call in the thread's slot) → `sys_exit` (one record per completed call into
//! this CPU's batch) → the ring buffer (a batch at a time: when it is full, on
//! a task switch, at thread exit, on the timer tick) → userspace.
//! `process_fork` follows children and clears reused pids; `thread_exit`
//! frees a thread's slot.
#![no_std]
#![no_main]
// atomic_xadd: the BPF target has an atomic add but no compare-and-swap, so
// core's Atomic*::fetch_add is unavailable.
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod arch;
mod batch;
mod capture;
mod emit;
mod fair;
mod maps;
mod ns;
mod probes;
mod state;
mod task;
mod threads;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

// bpf_probe_read_kernel and the ring buffer helpers are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
