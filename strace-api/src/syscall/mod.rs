//! What a syscall number and its raw values mean: names and errno names from
//! the `syscalls` crate, argument signatures from the kernel's own metadata,
//! and strace-style rendering.
mod render;
mod signature;

pub use render::{format_arg, format_ret, line};
pub use signature::{Arg, ArgKind, Signature, signature};
use syscalls::{Errno, Sysno};

/// The syscall's name, or strace's `syscall_0x…` for numbers the table lacks.
pub fn name(nr: i32) -> std::borrow::Cow<'static, str> {
    match known(nr) {
        Some(s) => s.name().into(),
        None => format!("syscall_{:#x}", nr as u32).into(),
    }
}

fn known(nr: i32) -> Option<Sysno> {
    usize::try_from(nr).ok().and_then(Sysno::new)
}

/// Syscall numbers of `exit` and `exit_group` on this architecture (the kernel
/// program records these at entry, since they never return).
pub fn no_return_numbers() -> (i32, i32) {
    (Sysno::exit.id(), Sysno::exit_group.id())
}

/// Kernel convention: a return value in -4095..=-1 is `-errno`.
pub fn errno_of(ret: i64) -> Option<i32> {
    (-4095..=-1).contains(&ret).then_some(-ret as i32)
}

/// `ENOENT`, or `None` for numbers without a name.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Errno::new(errno).name()
}

pub fn errno_description(errno: i32) -> Option<&'static str> {
    Errno::new(errno).description()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_table() {
        assert_eq!(name(Sysno::openat.id()), "openat");
        assert_eq!(name(100_000), "syscall_0x186a0");
        assert_eq!(name(-1), "syscall_0xffffffff");
    }

    #[test]
    fn errno_range() {
        assert_eq!(errno_of(-2), Some(2));
        assert_eq!(errno_of(-4095), Some(4095));
        assert_eq!(errno_of(-4096), None);
        assert_eq!(errno_of(0), None);
        assert_eq!(errno_name(2), Some("ENOENT"));
        assert_eq!(errno_description(2), Some("No such file or directory"));
    }
}
