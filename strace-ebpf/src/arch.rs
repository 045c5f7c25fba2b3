//! Where the syscall arguments live in `struct pt_regs`, per architecture.

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
}

#[cfg(bpf_target_arch = "aarch64")]
mod regs {
    /// `struct user_pt_regs` x0..x5 (at entry x0 still holds the first argument).
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Window([u64; 6]);
    pub const OFFSET: usize = 0;
    pub fn args(w: &Window) -> [u64; 6] {
        w.0
    }
}

/// The six raw syscall arguments from the `pt_regs` the `sys_enter` tracepoint passes.
#[inline(always)]
pub fn syscall_args(regs: *const u8) -> [u64; 6] {
    // SAFETY: `regs` is the tracepoint's BTF-typed `struct pt_regs *`: the
    // verifier checks each load against the struct and makes it fault-safe.
    let w = unsafe { core::ptr::read_volatile(regs.wrapping_add(regs::OFFSET) as *const regs::Window) };
    regs::args(&w)
}
