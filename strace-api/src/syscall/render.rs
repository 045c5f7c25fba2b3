//! strace-style lines: `openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3`.
use std::fmt::Write as _;

use syscalls::Sysno;

use strace_common::capture::{self, CaptureItem};

use super::{ArgKind, Call, Decoded, decode, errno_description, errno_name, errno_of, flags, name, restarts, structs};
use crate::recorder::Event;

/// The whole line for one event; with `durations`, strace -T's `<0.000012>`.
pub fn line(ev: &Event, durations: bool) -> String {
    line_of(ev, &decode(ev), durations)
}

/// The same, from arguments decoded already.
pub fn line_of(ev: &Event, args: &[Decoded], durations: bool) -> String {
    let mut s = call(ev, args, false);
    s.push_str(" = ");
    match (ev.returns(), returned_flags(ev)) {
        // C's %#x, as strace: 0, 0x8802.
        (true, Some(flags)) if ev.ret == 0 => write!(s, "0 (flags {flags})").expect("writing to a String"),
        (true, Some(flags)) => write!(s, "{:#x} (flags {flags})", ev.ret).expect("writing to a String"),
        (true, None) => {
            s.push_str(&format_ret(ev.nr(), ev.ret));
            if ev.ret >= 0
                && let Some(p) = super::decode::fd_path(ev, capture::RETURNED as usize, 0)
            {
                write!(s, "<{}>", super::fd_path_text(p)).expect("writing to a String");
            }
            if let Some(note) = annotation(ev) {
                write!(s, " ({note})").expect("writing to a String");
            }
        }
        (false, _) => s.push('?'),
    }
    if durations && let Some(ns) = ev.duration_ns() {
        write!(s, " <{}.{:06}>", ns / 1_000_000_000, (ns % 1_000_000_000) / 1000).expect("writing to a String");
    }
    s
}

/// The path of the fd `ev` returned, if known (`--fd-paths`).
pub fn returned_path(ev: &Event) -> Option<String> {
    (ev.returns() && ev.ret >= 0)
        .then(|| super::decode::fd_path(ev, capture::RETURNED as usize, 0))
        .flatten()
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// What the flags `fcntl(F_GETFL)` and `fcntl(F_GETFD)` returned mean, as
/// strace adds them: `= 0x8802 (flags O_RDWR|O_NONBLOCK|O_LARGEFILE)`.
fn returned_flags(ev: &Event) -> Option<String> {
    if ev.nr() != Sysno::fcntl.id() || !ev.returns() || ev.ret < 0 {
        return None;
    }
    match ev.args[1] as i32 {
        libc::F_GETFL => Some(flags::open_flags(ev.ret as u64).join("|")),
        // strace says nothing of no flags.
        libc::F_GETFD if ev.ret != 0 => Some(flags::bits(ev.ret as u64, flags::FD_FLAGS).join("|")),
        _ => None,
    }
}

/// What strace adds after some calls' return values: `(Timeout)`, what
/// `poll` returned in its fds, the name of `prctl`'s answer.
fn annotation(ev: &Event) -> Option<String> {
    if ev.ret < 0 {
        return None;
    }
    let nr = ev.nr();
    if nr == Sysno::poll.id() || nr == Sysno::ppoll.id() {
        if ev.ret == 0 {
            return Some("Timeout".into());
        }
        let fds = capture::items(ev.capture()).find(|x| x.arg == 0 && x.kind == CaptureItem::COPY && x.index == 1)?;
        return (!fds.fault()).then(|| structs::poll_revents(fds.data).0);
    }
    #[cfg(target_arch = "x86_64")]
    if nr == Sysno::select.id() && ev.ret == 0 {
        return Some("Timeout".into());
    }
    if nr == Sysno::pselect6.id() && ev.ret == 0 {
        return Some("Timeout".into());
    }
    if nr == Sysno::prctl.id() && ev.args[0] as i32 == libc::PR_GET_DUMPABLE {
        return flags::name(ev.ret as u64, flags::DUMPABLE).map(str::to_string);
    }
    None
}

/// A call still in progress, as strace shows it: `read(3, <unfinished ...>`.
pub fn unfinished(ev: &(impl Call + ?Sized)) -> String {
    let mut s = call(ev, &decode(ev), true);
    s.truncate(s.len() - 1); // the closing parenthesis
    if !s.ends_with('(') {
        s.push_str(", ");
    }
    s.push_str("<unfinished ...>");
    s
}

/// `name(args)`; with `inputs_only`, the arguments up to the first one the
/// kernel fills.
fn call(ev: &(impl Call + ?Sized), args: &[Decoded], inputs_only: bool) -> String {
    if ev.args_lost() {
        return format!("{}(?)", name(ev.nr()));
    }
    let mut shown: Vec<&Decoded> =
        args.iter().take_while(|a| !(inputs_only && a.output)).filter(|a| !a.hidden).collect();
    shown.sort_by_key(|a| a.order);
    let args: Vec<&str> = shown.iter().map(|a| a.text.as_str()).collect();
    format!("{}({})", name(ev.nr()), args.join(", "))
}

pub fn format_arg(kind: ArgKind, raw: u64) -> String {
    match kind {
        ArgKind::Pointer if raw == 0 => "NULL".into(),
        ArgKind::Hex if raw == 0 => "0".into(),
        ArgKind::Pointer | ArgKind::Hex => format!("{raw:#x}"),
        ArgKind::Int => (raw as u32 as i32).to_string(),
        ArgKind::UInt => (raw as u32).to_string(),
        ArgKind::Long => (raw as i64).to_string(),
        ArgKind::ULong => raw.to_string(),
        // C's `%#03o`, as strace: 000, 022, 0644.
        ArgKind::Mode => format!("{:0>3}", format!("0{:o}", raw as u32)),
    }
}

/// `3`, `0x7f…` for calls that return addresses, `-1 ENOENT (No such file
/// or directory)`, `? ERESTARTSYS (…)` for a call a signal interrupted.
pub fn format_ret(nr: i32, ret: i64) -> String {
    if let Some(e) = errno_of(ret) {
        let mut s = String::from(if restarts(e) { "? " } else { "-1 " });
        match errno_name(e) {
            Some(n) => s.push_str(n),
            None => write!(s, "errno {e}").expect("writing to a String"),
        }
        if let Some(d) = errno_description(e) {
            write!(s, " ({d})").expect("writing to a String");
        }
        return s;
    }
    if nr == Sysno::umask.id() {
        return format_arg(ArgKind::Mode, ret as u64);
    }

    let returns_address = [Sysno::mmap, Sysno::brk, Sysno::mremap, Sysno::shmat].iter().any(|s| s.id() == nr);
    if returns_address { format!("{ret:#x}") } else { ret.to_string() }
}

#[cfg(test)]
mod tests {
    use strace_common::SyscallRecord;

    use super::*;

    fn ev(nr: Sysno, args: [u64; 6], ret: i64) -> Event {
        Event { nr: Event::stored_nr(nr.id()), args, ret, ..Default::default() }
    }

    #[test]
    fn failing_openat() {
        let e = ev(Sysno::openat, [(-100i64) as u64, 0x7ffd_1234, 0, 0, 0, 0], -2);
        assert_eq!(line(&e, false), "openat(AT_FDCWD, 0x7ffd1234, O_RDONLY) = -1 ENOENT (No such file or directory)");
    }

    #[test]
    fn arity_follows_the_signature() {
        assert_eq!(line(&ev(Sysno::getppid, [9; 6], 42), false), "getppid() = 42");
        assert_eq!(line(&ev(Sysno::write, [2, 0x5000, 5, 9, 9, 9], 5), false), "write(2, 0x5000, 5) = 5");
        assert_eq!(line(&ev(Sysno::close, [3, 0, 0, 0, 0, 0], 0), false), "close(3) = 0");
        // Named otherwise in the kernel's table (newfstat).
        assert_eq!(line(&ev(Sysno::fstat, [3, 0x7000, 9, 9, 9, 9], 0), false), "fstat(3, 0x7000) = 0");
    }

    #[test]
    fn addresses_and_durations() {
        let m = ev(Sysno::brk, [0, 0, 0, 0, 0, 0], 0x5555_0000);
        assert_eq!(line(&m, false), "brk(NULL) = 0x55550000");
        let t = Event { enter_ns: 1_000, exit_ns: 13_500, ..ev(Sysno::getppid, [0; 6], 1) };
        assert_eq!(line(&t, true), "getppid() = 1 <0.000012>");
    }

    #[test]
    fn arguments_lost_with_the_registers_show_as_a_question_mark() {
        let e = Event { flags: SyscallRecord::ARGS_LOST, ..ev(Sysno::execve, [0; 6], 0) };
        assert_eq!(line(&e, false), "execve(?) = 0");
        assert!(super::decode(&e).is_empty(), "no arguments to decode");
    }

    #[test]
    fn calls_that_do_not_return_or_have_not_yet() {
        let e = Event { flags: SyscallRecord::NO_RETURN, ..ev(Sysno::exit_group, [3, 0, 0, 0, 0, 0], 0) };
        assert_eq!(line(&e, true), "exit_group(3) = ?");
        assert_eq!(unfinished(&ev(Sysno::read, [3, 0x1000, 4096, 0, 0, 0], 0)), "read(3, <unfinished ...>");
        assert_eq!(unfinished(&ev(Sysno::getppid, [0; 6], 0)), "getppid(<unfinished ...>");
        let w = ev(Sysno::wait4, [u64::MAX, 0x10, 0, 0, 0, 0], 0);
        assert_eq!(unfinished(&w), "wait4(-1, <unfinished ...>");
    }

    /// As strace shows them (compared on the same calls).
    #[test]
    fn flags_modes_and_null_addresses() {
        let cloexec = libc::O_CLOEXEC as u64;
        let l = |nr, args, ret| line(&ev(nr, args, ret), false);
        assert_eq!(
            l(Sysno::accept4, [3, 0, 0, libc::SOCK_CLOEXEC as u64, 0, 0], 4),
            "accept4(3, NULL, NULL, SOCK_CLOEXEC) = 4"
        );
        assert_eq!(l(Sysno::pipe2, [0x7000, 0, 0, 0, 0, 0], 0), "pipe2(0x7000, 0) = 0");
        assert_eq!(l(Sysno::pipe2, [0x7000, cloexec, 0, 0, 0, 0], 0), "pipe2(0x7000, O_CLOEXEC) = 0");
        assert_eq!(l(Sysno::dup3, [3, 4, cloexec, 0, 0, 0], 4), "dup3(3, 4, O_CLOEXEC) = 4");
        assert_eq!(l(Sysno::umask, [0o77, 0, 0, 0, 0, 0], 0o22), "umask(077) = 022");
        assert_eq!(l(Sysno::umask, [0, 0, 0, 0, 0, 0], 0o77), "umask(000) = 077");
        let (setfl, getfl) = (libc::F_SETFL as u64, libc::F_GETFL as u64);
        let nonblock = libc::O_NONBLOCK as u64;
        assert_eq!(l(Sysno::fcntl, [4, setfl, nonblock, 0, 0, 0], 0), "fcntl(4, F_SETFL, O_RDONLY|O_NONBLOCK) = 0");
        assert_eq!(l(Sysno::fcntl, [4, getfl, 0x7fff, 0, 0, 0], 2), "fcntl(4, F_GETFL) = 0x2 (flags O_RDWR)");
        assert_eq!(l(Sysno::fcntl, [4, getfl, 0, 0, 0, 0], 0), "fcntl(4, F_GETFL) = 0 (flags O_RDONLY)");
        let getfd = libc::F_GETFD as u64;
        assert_eq!(l(Sysno::fcntl, [4, getfd, 0, 0, 0, 0], 1), "fcntl(4, F_GETFD) = 0x1 (flags FD_CLOEXEC)");
        let setfd = libc::F_SETFD as u64;
        assert_eq!(l(Sysno::fcntl, [4, setfd, 1, 0, 0, 0], 0), "fcntl(4, F_SETFD, FD_CLOEXEC) = 0");
        let dupfd = libc::F_DUPFD_CLOEXEC as u64;
        assert_eq!(l(Sysno::fcntl, [4, dupfd, 10, 0, 0, 0], 10), "fcntl(4, F_DUPFD_CLOEXEC, 10) = 10");
        assert_eq!(l(Sysno::sendto, [4, 0x5000, 4, 0, 0, 0], 4), "sendto(4, 0x5000, 4, 0, NULL, 0) = 4");
        let cwd = libc::AT_FDCWD as u64;
        assert_eq!(
            l(Sysno::mknodat, [cwd, 0x5000, 0o10600, 0, 0, 0], 0),
            "mknodat(AT_FDCWD, 0x5000, S_IFIFO|0600) = 0"
        );
        let chr = libc::S_IFCHR as u64 | 0o600;
        assert_eq!(
            l(Sysno::mknodat, [cwd, 0x5000, chr, libc::makedev(1, 3), 0, 0], 0),
            "mknodat(AT_FDCWD, 0x5000, S_IFCHR|0600, makedev(0x1, 0x3)) = 0"
        );
        let both = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
        assert_eq!(
            l(Sysno::accept4, [3, 0, 0, both, 0, 0], 4),
            "accept4(3, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK) = 4"
        );
        // TCGETS on x86_64 and arm64.
        assert_eq!(l(Sysno::ioctl, [1, 0x5401, 0x7000, 0, 0, 0], 0), "ioctl(1, TCGETS, 0x7000) = 0");
        assert_eq!(
            l(Sysno::ioctl, [1, 0xc0de, 0x7000, 0, 0, 0], -25).split(" = ").next(),
            Some("ioctl(1, 0xc0de, 0x7000)")
        );
        let nofile = libc::RLIMIT_NOFILE as u64;
        assert_eq!(
            l(Sysno::prlimit64, [0, nofile, 0, 0x7000, 0, 0], 0),
            "prlimit64(0, RLIMIT_NOFILE, NULL, 0x7000) = 0"
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(l(Sysno::arch_prctl, [0x1002, 0x7f00, 0, 0, 0, 0], 0), "arch_prctl(ARCH_SET_FS, 0x7f00) = 0");
        let (monotonic, abs) = (libc::CLOCK_MONOTONIC as u64, libc::TIMER_ABSTIME as u64);
        assert_eq!(
            l(Sysno::clock_nanosleep, [monotonic, abs, 0x7000, 0, 0, 0], 0),
            "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, 0x7000, NULL) = 0"
        );
        let lease = libc::F_SETLEASE as u64;
        assert_eq!(l(Sysno::fcntl, [4, lease, libc::F_UNLCK as u64, 0, 0, 0], 0), "fcntl(4, F_SETLEASE, F_UNLCK) = 0");
    }

    #[test]
    fn unknown_syscalls_and_errnos() {
        let e = Event { nr: 4000, args: [1, 2, 3, 4, 5, 6], ret: -4000, ..Default::default() };
        assert_eq!(line(&e, false), "syscall_0xfa0(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 errno 4000");
        // Interrupted by a signal: restarted or EINTR, never seen by the program.
        let r = ev(Sysno::read, [4, 0x1000, 1, 0, 0, 0], -512);
        assert_eq!(line(&r, false), "read(4, 0x1000, 1) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)");
    }
}
