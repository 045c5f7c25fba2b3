//! The sizes and places of kernel structs that differ between
//! architectures, for the one the daemon runs on (and so the processes it
//! traces): the rest of the decoder reads structs through the `libc`
//! crate's definitions, which follow each architecture's kernel ABI.

/// `struct stat` as `fstat` and `newfstatat` fill it (x86_64: 144 bytes,
/// aarch64: the generic 128).
pub const STAT: u16 = size_of::<libc::stat>() as u16;
/// The kernel's `struct statfs` on 64-bit architectures (the libc crate's
/// hides `f_flags` in its padding).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}
/// `struct statfs` (120 bytes).
pub const STATFS: u16 = size_of::<Statfs>() as u16;
/// `struct epoll_event`: packed on x86_64 (12 bytes), 16 elsewhere.
pub const EPOLL_EVENT: u16 = size_of::<libc::epoll_event>() as u16;

/// Where `rt_sigreturn` finds the signal mask it restores, from the stack
/// pointer at its entry: x86_64's frame starts 8 bytes below the stack
/// pointer (the handler's return popped `pretcode`), then `struct ucontext`
/// (flags, link, stack: 40 bytes; `struct sigcontext`: 256) holds the mask.
#[cfg(target_arch = "x86_64")]
pub const SIGFRAME_MASK: u16 = 40 + 256;
/// aarch64's frame is at the stack pointer: `siginfo` (128 bytes), then
/// `struct ucontext` (flags, link, stack: 40 bytes) with the mask first.
#[cfg(target_arch = "aarch64")]
pub const SIGFRAME_MASK: u16 = 128 + 40;

/// `O_LARGEFILE` as the kernel's ABI has it: the C library's constant is 0
/// on 64-bit targets, but the flag still shows in `F_GETFL` and `open` flags.
#[cfg(target_arch = "x86_64")]
pub const O_LARGEFILE: u64 = 0o100000;
#[cfg(target_arch = "aarch64")]
pub const O_LARGEFILE: u64 = 0o400000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x86_64_sizes() {
        assert_eq!((STAT, STATFS, EPOLL_EVENT), (144, 120, 12));
    }
}
