//! What a syscall number and its raw values mean: names and errno names from
//! the `syscalls` crate, argument signatures from the kernel's own metadata,
//! and strace-style rendering.
mod arch;
mod call;
mod decode;
pub mod flags;
#[cfg(test)]
mod properties;
mod render;
mod signature;
mod sockaddr;
mod table;

pub use arch::ENTRY_HOOK_OPTIONAL;
pub use call::Call;
pub use decode::{Decoded, decode};
pub use render::{format_arg, format_ret, line, line_of, unfinished};
pub use signature::{Arg, ArgKind, Signature, signature};
pub use table::{capture_spec, capture_specs};

use std::{collections::HashMap, sync::LazyLock};

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

/// execve, execveat and rt_sigreturn: the calls that replace the registers
/// their arguments were in (see `SyscallRecord::ARGS_LOST`).
pub fn register_replacing_numbers() -> (i32, i32, i32) {
    (Sysno::execve.id(), Sysno::execveat.id(), Sysno::rt_sigreturn.id())
}

/// clone, clone3, fork and vfork (-1 for those this architecture lacks).
pub fn fork_numbers() -> [i32; 4] {
    ["clone", "clone3", "fork", "vfork"].map(|n| n.parse::<Sysno>().map_or(-1, |s| s.id()))
}

/// Kernel convention: a return value in -4095..=-1 is `-errno`.
pub fn errno_of(ret: i64) -> Option<i32> {
    (-4095..=-1).contains(&ret).then(|| -ret as i32)
}

/// Bytes as strace quotes them: `"..."`, C escapes, other non-printable
/// bytes in octal, and `...` after the quote when the data went on; with
/// `--redact` patterns, their matches masked (see `redact`).
pub fn quote(bytes: &[u8], truncated: bool) -> String {
    quote_shown(&crate::redact::bytes(bytes), truncated)
}

/// `quote` of bytes already redacted.
fn quote_shown(bytes: &[u8], truncated: bool) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                // Short octal unless a digit follows (strace's rule).
                let next_is_digit = bytes.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                if next_is_digit { s.push_str(&format!("\\{b:03o}")) } else { s.push_str(&format!("\\{b:o}")) }
            }
        }
    }
    s.push('"');
    if truncated {
        s.push_str("...");
    }
    s
}

/// `ENOENT`, or `None` for numbers without a name.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Errno::new(errno).name()
}

/// What strace says after the name: the C library's message (the kernel's
/// headers word some otherwise, "Try again" for EAGAIN; for the kernel's
/// own codes it has none: "Unknown error 524"), and strace's own for the
/// codes of interrupted calls (`restarts`).
pub fn errno_description(errno: i32) -> Option<&'static str> {
    static MESSAGES: LazyLock<HashMap<i32, String>> = LazyLock::new(|| {
        (1..=4095)
            .filter(|&e| Errno::new(e).name().is_some())
            .filter_map(|e| {
                let message = std::io::Error::from_raw_os_error(e).to_string();
                Some((e, message.strip_suffix(&format!(" (os error {e})"))?.to_string()))
            })
            .collect()
    });
    match errno {
        ERESTARTSYS => Some("To be restarted if SA_RESTART is set"),
        ERESTARTNOINTR => Some("To be restarted"),
        ERESTARTNOHAND => Some("To be restarted if no handler"),
        ERESTART_RESTARTBLOCK => Some("Interrupted by signal"),
        e => MESSAGES.get(&e).map(String::as_str).or_else(|| Errno::new(e).description()),
    }
}

const ERESTARTSYS: i32 = 512;
const ERESTARTNOINTR: i32 = 513;
const ERESTARTNOHAND: i32 = 514;
const ERESTART_RESTARTBLOCK: i32 = 516;

/// A call a signal interrupted, which the kernel restarts or fails with
/// EINTR: the program never sees this code (strace shows `= ?`).
pub fn restarts(errno: i32) -> bool {
    matches!(errno, ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK)
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
    fn quotes_like_strace() {
        assert_eq!(quote(b"/etc/hosts", false), r#""/etc/hosts""#);
        assert_eq!(quote(b"a\"b\\c\n\t", false), r#""a\"b\\c\n\t""#);
        assert_eq!(quote(b"\x00\x011\x1b", true), r#""\0\0011\33"..."#);
    }

    #[test]
    fn errno_range() {
        assert_eq!(errno_of(-2), Some(2));
        assert_eq!(errno_of(-4095), Some(4095));
        assert_eq!(errno_of(-4096), None);
        assert_eq!(errno_of(0), None);
        assert_eq!(errno_of(i64::MIN), None, "no overflow negating it (found by cargo xtask fuzz)");
        assert_eq!(errno_name(2), Some("ENOENT"));
        assert_eq!(errno_description(2), Some("No such file or directory"));
        // The C library's words, as strace prints them, not the kernel headers'.
        assert_eq!(errno_description(11), Some("Resource temporarily unavailable"));
        assert_eq!(errno_description(9), Some("Bad file descriptor"));
        assert_eq!(errno_name(512), Some("ERESTARTSYS"));
        assert_eq!(errno_description(512), Some("To be restarted if SA_RESTART is set"));
        assert_eq!(errno_description(524), Some("Unknown error 524"), "ENOTSUPP, as strace shows it");
        assert!(restarts(512) && restarts(516) && !restarts(4) && !restarts(515));
    }
}
