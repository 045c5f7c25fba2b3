//! Everything on the userspace side that differs between architectures, one
//! file each, with the same items:
//!
//! - `SIGNATURES`: the signature table (`../signatures/<arch>.txt`);
//! - `KERNEL_NAMES`: calls whose kernel function, after which the table names
//!   its entries, is named otherwise on this architecture only (the ones
//!   every architecture shares are in `signature.rs`);
//! - `SPECIAL`: the presentation types (`table.rs`) of the calls only this
//!   architecture has, or names differently;
//! - `ARCH_PRCTL`: the names of `arch_prctl`'s codes, where there is one;
//! - `ENTRY_HOOK_OPTIONAL`: whether the kernel program reads a call's number
//!   and arguments at its exit (`exit_nr` in `strace-ebpf/src/arch.rs`), which
//!   `--entry-hook false` needs.
//!
//! Porting to another architecture is adding `<arch>.rs` here (and its
//! signature table) plus a `cfg` block for its `struct pt_regs` in
//! `strace-ebpf/src/arch.rs`.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

// Also compiled (unused) on other architectures for its tests, which check
// the derived signature table against the `syscalls` crate's aarch64 list.
#[cfg(any(target_arch = "aarch64", test))]
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "strace-api supports x86_64 and aarch64: another architecture needs its own \
     strace-api/src/syscall/arch/<arch>.rs and a cfg block in strace-ebpf/src/arch.rs"
);
