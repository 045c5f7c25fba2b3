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
    maps::{Array, HashMap},
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

/// A bitmap of syscall numbers (ONLY_WORDS words: strace_common's
/// SyscallFilter, as a filtered watch's kernel tests it) and, after it, a word
/// that is non-zero when only those calls are counted (a filtered watch's).
#[map(name = "ONLY")]
static ONLY: Array<u64> = Array::with_max_entries(ONLY_WORDS + 1, 0);
const ONLY_WORDS: u32 = 16;

#[btf_tracepoint(function = "sys_exit")]
pub fn count_exit(ctx: BtfTracePointContext) -> i32 {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if !counted(&ctx) {
        return 0;
    }
    if let Some(n) = COUNTED.get_ptr_mut(&tgid) {
        // SAFETY: a live map value; BPF_ATOMIC add (several CPUs may count).
        unsafe { core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(n, 1) };
    }
    0
}

/// Whether the call is one to count: any, unless ONLY is on.
#[inline(always)]
fn counted(ctx: &BtfTracePointContext) -> bool {
    if ONLY.get(ONLY_WORDS).is_none_or(|on| *on == 0) {
        return true;
    }
    nr_bit(ctx)
}

/// The call's bit in ONLY: its number is `orig_ax` (offset 120 of x86_64's
/// `struct pt_regs`, a checked load through the BTF-typed pointer).
#[cfg(bpf_target_arch = "x86_64")]
#[inline(always)]
fn nr_bit(ctx: &BtfTracePointContext) -> bool {
    let regs = ctx.arg::<*const u8>(0);
    // SAFETY: a load the verifier checks against pt_regs' BTF.
    let nr = unsafe { core::ptr::read_volatile(regs.wrapping_add(120) as *const u64) };
    // (-1 after rt_sigreturn reads as a huge number: not counted.)
    nr < 64 * ONLY_WORDS as u64 && ONLY.get((nr >> 6) as u32).is_some_and(|w| (*w >> (nr & 63)) & 1 != 0)
}

/// Elsewhere the number is not read: every call counts.
#[cfg(not(bpf_target_arch = "x86_64"))]
#[inline(always)]
fn nr_bit(_ctx: &BtfTracePointContext) -> bool {
    true
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
