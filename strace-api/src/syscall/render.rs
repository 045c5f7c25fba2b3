//! strace-style text: `openat(-100, 0x7ffd…, 0, 0) = -1 ENOENT (No such file or directory)`.
use std::fmt::Write as _;

use syscalls::Sysno;

use super::{ArgKind, errno_description, errno_name, errno_of, name, signature};
use crate::recorder::Event;

/// The whole line for one event.
pub fn line(ev: &Event) -> String {
    let mut s = String::with_capacity(96);
    s.push_str(&name(ev.nr));
    s.push('(');
    match signature(ev.nr) {
        Some(sig) => {
            for (i, (arg, raw)) in sig.args.iter().zip(ev.args).enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&format_arg(arg.kind, raw));
            }
        }
        // Unknown signature: all six registers, like strace for unknown calls.
        None => {
            let all: Vec<_> = ev.args.iter().map(|&a| format_arg(ArgKind::Hex, a)).collect();
            s.push_str(&all.join(", "));
        }
    }
    s.push_str(") = ");
    match ev.returns() {
        true => s.push_str(&format_ret(ev.nr, ev.ret)),
        false => s.push('?'),
    }
    s
}

pub fn format_arg(kind: ArgKind, raw: u64) -> String {
    match kind {
        ArgKind::Pointer if raw == 0 => "NULL".into(),
        ArgKind::Hex | ArgKind::Mode if raw == 0 => "0".into(),
        ArgKind::Pointer | ArgKind::Hex => format!("{raw:#x}"),
        ArgKind::Int => (raw as u32 as i32).to_string(),
        ArgKind::UInt => (raw as u32).to_string(),
        ArgKind::Long => (raw as i64).to_string(),
        ArgKind::ULong => raw.to_string(),
        ArgKind::Mode => format!("0{:o}", raw as u32),
    }
}

/// `3`, `0x7f…` for calls that return addresses, `-1 ENOENT (No such file or directory)`.
pub fn format_ret(nr: i32, ret: i64) -> String {
    if let Some(e) = errno_of(ret) {
        let mut s = String::from("-1 ");
        match errno_name(e) {
            Some(n) => s.push_str(n),
            None => write!(s, "errno {e}").expect("writing to a String"),
        }
        if let Some(d) = errno_description(e) {
            write!(s, " ({d})").expect("writing to a String");
        }
        return s;
    }
    let returns_address = [Sysno::mmap, Sysno::brk, Sysno::mremap, Sysno::shmat].iter().any(|s| s.id() == nr);
    if returns_address { format!("{ret:#x}") } else { ret.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strace_common::SyscallRecord;

    fn ev(nr: Sysno, args: [u64; 6], ret: i64) -> Event {
        Event { nr: nr.id(), args, ret, ..Default::default() }
    }

    #[test]
    fn failing_openat() {
        let e = ev(Sysno::openat, [(-100i64) as u64, 0x7ffd_1234, 0, 0, 0, 0], -2);
        assert_eq!(line(&e), "openat(-100, 0x7ffd1234, 0, 0) = -1 ENOENT (No such file or directory)");
    }

    #[test]
    fn arity_follows_the_signature() {
        assert_eq!(line(&ev(Sysno::getppid, [9; 6], 42)), "getppid() = 42");
        assert_eq!(line(&ev(Sysno::write, [2, 0x5000, 5, 9, 9, 9], 5)), "write(2, 0x5000, 5) = 5");
        assert_eq!(line(&ev(Sysno::close, [3, 0, 0, 0, 0, 0], 0)), "close(3) = 0");
    }

    #[test]
    fn modes_pointers_and_addresses() {
        let e = ev(Sysno::openat, [3, 0, 0x241, 0o644, 0, 0], 4);
        assert_eq!(line(&e), "openat(3, NULL, 0x241, 0644) = 4");
        let m = ev(Sysno::mmap, [0, 4096, 3, 0x22, u64::MAX, 0], 0x7f00_0000_0000);
        assert_eq!(line(&m), "mmap(0, 4096, 0x3, 0x22, 18446744073709551615, 0) = 0x7f0000000000");
    }

    #[test]
    fn calls_that_do_not_return() {
        let e = Event { flags: SyscallRecord::NO_RETURN, ..ev(Sysno::exit_group, [3, 0, 0, 0, 0, 0], 0) };
        assert_eq!(line(&e), "exit_group(3) = ?");
    }

    #[test]
    fn unknown_syscalls_and_errnos() {
        let e = Event { nr: 4000, args: [1, 2, 3, 4, 5, 6], ret: -4000, ..Default::default() };
        assert_eq!(line(&e), "syscall_0xfa0(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 errno 4000");
    }
}
