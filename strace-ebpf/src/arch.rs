//! Where the syscall arguments live in `struct pt_regs`, per architecture: the
//! one architecture-specific place on the kernel side. `bpf_target_arch` is
//! set by aya-build from the target the daemon is built for. Porting to
//! another architecture is a `regs` module here plus its userspace file in
//! `strace-api/src/syscall/arch/`.

#[cfg(bpf_target_arch = "x86_64")]
mod regs {
    /// `struct pt_regs` from `r10` (offset 56) to `di` (offset 112).
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Window {
        r10: u64,
        r9: u64,
        r8: u64,
        _ax: u64,
        _cx: u64,
        dx: u64,
        si: u64,
        di: u64,
    }
    pub const OFFSET: usize = 56;
    /// x86_64 syscall ABI: di, si, dx, r10, r8, r9.
    pub fn args(w: &Window) -> [u64; 6] {
        [w.di, w.si, w.dx, w.r10, w.r8, w.r9]
    }
    /// `sp` (offset 152).
    pub const SP: usize = 152;
    /// `orig_ax` (offset 120): the call's number, kept to its exit. The
    /// argument registers are unchanged at exit too, but after a successful
    /// execve they are the new program's.
    #[inline(always)]
    pub fn exit_nr(regs: *const u8) -> Option<i32> {
        // SAFETY: as in `syscall_args`, a checked load from `struct pt_regs`.
        Some(unsafe { core::ptr::read_volatile(regs.wrapping_add(120) as *const i64) } as i32)
    }
}

#[cfg(bpf_target_arch = "aarch64")]
mod regs {
    /// `struct pt_regs` `regs[0]`..`regs[5]` (x0..x5, offset 0): the arm64
    /// syscall ABI's arguments. At `sys_enter` x0 still holds the first.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Window([u64; 6]);
    pub const OFFSET: usize = 0;
    /// `sp` (after x0..x30).
    pub const SP: usize = 31 * 8;
    pub fn args(w: &Window) -> [u64; 6] {
        w.0
    }
    /// Not implemented, so the daemon refuses `--entry-hook false` on arm64
    /// (`ENTRY_HOOK_OPTIONAL` in strace-api/src/syscall/arch/aarch64.rs). At
    /// exit x0 holds the return value: the number would be `syscallno` (s32,
    /// offset 280) and the first argument `orig_x0` (offset 272), neither of
    /// which this reads, and nothing here runs on an arm64 kernel to test it.
    #[inline(always)]
    pub fn exit_nr(_regs: *const u8) -> Option<i32> {
        None
    }
}

#[cfg(not(any(bpf_target_arch = "x86_64", bpf_target_arch = "aarch64")))]
compile_error!("no `struct pt_regs` layout for this bpf_target_arch: add a `regs` module to strace-ebpf/src/arch.rs");

/// At `sys_exit`: the call's number and its six arguments, where that is
/// implemented (the daemon accepts `--entry-hook false` only there).
#[inline(always)]
pub fn exit_call(regs: *const u8) -> Option<(i32, [u64; 6])> {
    regs::exit_nr(regs).map(|nr| (nr, syscall_args(regs)))
}

/// The six raw syscall arguments from the `pt_regs` the `sys_enter` tracepoint passes.
#[inline(always)]
pub fn syscall_args(regs: *const u8) -> [u64; 6] {
    // SAFETY: `regs` is the tracepoint's BTF-typed `struct pt_regs *`: the
    // verifier checks each load against the struct and makes it fault-safe.
    let w = unsafe { core::ptr::read_volatile(regs.wrapping_add(regs::OFFSET) as *const regs::Window) };
    regs::args(&w)
}

/// The stack pointer in the `pt_regs` the `sys_enter` tracepoint passes.
#[inline(always)]
pub fn stack_pointer(regs: *const u8) -> u64 {
    // SAFETY: as in `syscall_args`, a checked load from `struct pt_regs`.
    unsafe { core::ptr::read_volatile(regs.wrapping_add(regs::SP) as *const u64) }
}
