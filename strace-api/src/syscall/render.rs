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

/// poll (x86_64 only) or ppoll.
fn is_poll(nr: i32) -> bool {
    #[cfg(target_arch = "x86_64")]
    if nr == Sysno::poll.id() {
        return true;
    }
    nr == Sysno::ppoll.id()
}

/// What strace adds after some calls' return values: `(Timeout)`, what
/// `poll` returned in its fds, the name of `prctl`'s answer.
fn annotation(ev: &Event) -> Option<String> {
    if ev.ret < 0 {
        return None;
    }
    let nr = ev.nr();
    if is_poll(nr) {
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

/// Whole lines with what the kernel copied, each as strace 6.1 printed the
/// same call (from runs of a small C program under `strace -f -y`).
#[cfg(test)]
mod copied {
    use strace_common::capture::{CaptureItem, RETURNED, build};
    use syscalls::Sysno;

    use super::line;
    use crate::recorder::Event;

    /// Item kinds and directions, for short tables below.
    const COPY: u8 = CaptureItem::COPY;
    const AT_ENTRY: u8 = 0;
    const AT_EXIT: u8 = 1;

    fn ev(nr: Sysno, args: [u64; 6], ret: i64, items: &[(u8, u8, u8, u8, &[u8])]) -> Event {
        let capture = (!items.is_empty()).then(|| build(items).into_boxed_slice());
        Event { nr: Event::stored_nr(nr.id()), args, ret, capture, ..Default::default() }
    }

    fn u64s(v: &[u64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    fn i32s(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    const CWD: u64 = libc::AT_FDCWD as u32 as u64;

    #[test]
    fn stat_sigaction_rlimit() {
        // SAFETY: all-zero is a valid stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_mode = libc::S_IFREG | 0o644;
        st.st_size = 35151;
        // SAFETY: plain data.
        let stb =
            unsafe { std::slice::from_raw_parts((&st as *const libc::stat).cast::<u8>(), size_of::<libc::stat>()) };
        let e = ev(
            Sysno::newfstatat,
            [3, 0x1000, 0x2000, libc::AT_EMPTY_PATH as u64, 0, 0],
            0,
            &[(1, CaptureItem::STRING, 0, 0, b""), (2, COPY, 0, AT_EXIT, stb)],
        );
        assert_eq!(
            line(&e, false),
            r#"newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=35151, ...}, AT_EMPTY_PATH) = 0"#
        );
        let act = u64s(&[0x55e3_c4e9_c599, 0x0400_0000 | 0x1000_0000 | 4, 0x7f62_363f_0050, 1 << 14]);
        let old = u64s(&[0, 0, 0, 0]);
        let e = ev(
            Sysno::rt_sigaction,
            [10, 0x1000, 0x2000, 8, 0, 0],
            0,
            &[(1, COPY, 0, AT_ENTRY, &act), (2, COPY, 0, AT_EXIT, &old)],
        );
        assert_eq!(
            line(&e, false),
            "rt_sigaction(SIGUSR1, {sa_handler=0x55e3c4e9c599, sa_mask=[TERM], sa_flags=SA_RESTORER|SA_RESTART|SA_SIGINFO, sa_restorer=0x7f62363f0050}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0"
        );
        let full = u64s(&[!(3 << 31)]);
        let e = ev(
            Sysno::rt_sigprocmask,
            [0, 0x1000, 0x2000, 8, 0, 0],
            0,
            &[(1, COPY, 0, AT_ENTRY, &full), (2, COPY, 0, AT_EXIT, &u64s(&[0]))],
        );
        assert_eq!(line(&e, false), "rt_sigprocmask(SIG_BLOCK, ~[RTMIN RT_1], [], 8) = 0");
        let e = ev(
            Sysno::prlimit64,
            [0, libc::RLIMIT_NOFILE as u64, 0x1000, 0, 0, 0],
            -1,
            &[(2, COPY, 0, AT_ENTRY, &u64s(&[1000, u64::MAX]))],
        );
        assert_eq!(
            line(&e, false),
            "prlimit64(0, RLIMIT_NOFILE, {rlim_cur=1000, rlim_max=RLIM64_INFINITY}, NULL) = -1 EPERM (Operation not permitted)"
        );
    }

    #[test]
    fn poll_futex_clone() {
        let fds = i32s(&[5, libc::POLLIN as i32, 6, libc::POLLOUT as i32]);
        let out = i32s(&[5, libc::POLLIN as i32, 6, libc::POLLOUT as i32 | (libc::POLLOUT as i32) << 16]);
        let e =
            ev(Sysno::poll, [0x1000, 2, 0, 0, 0, 0], 1, &[(0, COPY, 0, AT_ENTRY, &fds), (0, COPY, 0, AT_EXIT, &out)]);
        assert_eq!(
            line(&e, false),
            "poll([{fd=5, events=POLLIN}, {fd=6, events=POLLOUT}], 2, 0) = 1 ([{fd=6, revents=POLLOUT}])"
        );
        let e = ev(Sysno::poll, [0x1000, 1, 0, 0, 0, 0], 0, &[(0, COPY, 0, AT_ENTRY, &fds[..8])]);
        assert_eq!(line(&e, false), "poll([{fd=5, events=POLLIN}], 1, 0) = 0 (Timeout)");
        let wake = (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as u64;
        let e = ev(Sysno::futex, [0x7fff_6815_2f2c, wake, 1, 0x55, 0x66, 7], 0, &[]);
        assert_eq!(line(&e, false), "futex(0x7fff68152f2c, FUTEX_WAKE_PRIVATE, 1) = 0");
        let wait = (libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u64;
        let e = ev(
            Sysno::futex,
            [0x7fff_6815_2f2c, wait, 0, 0x1000, 0, u32::MAX as u64],
            -110,
            &[(3, COPY, 0, AT_ENTRY, &u64s(&[0, 1000]))],
        );
        assert_eq!(
            line(&e, false),
            "futex(0x7fff68152f2c, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, FUTEX_BITSET_MATCH_ANY) = -1 ETIMEDOUT (Connection timed out)"
        );
        let flags = (libc::CLONE_CHILD_CLEARTID | libc::CLONE_CHILD_SETTID | libc::SIGCHLD) as u64;
        let e = ev(Sysno::clone, [flags, 0, 0, 0x7fb9_4d99_fa10, 0, 0], 20773, &[]);
        assert_eq!(
            line(&e, false),
            "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fb94d99fa10) = 20773"
        );
    }

    #[test]
    fn sockets_and_fds() {
        let e = ev(
            Sysno::getsockname,
            [7, 0, 0x2000, 0, 0, 0],
            0,
            &[(2, COPY, 0, AT_ENTRY, &128u32.to_ne_bytes()), (2, COPY, 0, AT_EXIT, &16u32.to_ne_bytes())],
        );
        assert_eq!(line(&e, false), "getsockname(7, NULL, [128 => 16]) = 0");
        let e = ev(
            Sysno::setsockopt,
            [7, libc::SOL_TCP as u64, libc::TCP_NODELAY as u64, 0x1000, 4, 0],
            0,
            &[(3, COPY, 0, AT_ENTRY, &1i32.to_ne_bytes())],
        );
        assert_eq!(line(&e, false), "setsockopt(7, SOL_TCP, TCP_NODELAY, [1], 4) = 0");
        let e = ev(Sysno::socket, [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 6, 0, 0, 0], 7, &[]);
        assert_eq!(line(&e, false), "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 7");
        let e = ev(
            Sysno::pipe2,
            [0x1000, libc::O_CLOEXEC as u64, 0, 0, 0, 0],
            0,
            &[
                (0, COPY, 0, AT_EXIT, &i32s(&[3, 4])),
                (0, CaptureItem::FD_PATH, 0, 0, b"pipe:[293060]"),
                (0, CaptureItem::FD_PATH, 0, 1, b"pipe:[293060]"),
            ],
        );
        assert_eq!(line(&e, false), "pipe2([3<pipe:[293060]>, 4<pipe:[293060]>], O_CLOEXEC) = 0");
        let e = ev(
            Sysno::openat,
            [CWD, 0x1000, libc::O_CLOEXEC as u64, 0, 0, 0],
            3,
            &[
                (0, CaptureItem::FD_PATH, 0, 0, b"/tmp/dec"),
                (1, CaptureItem::STRING, 0, 0, b"/lib/x86_64-linux-gnu/libc.so.6"),
                (RETURNED, CaptureItem::FD_PATH, 0, 0, b"/usr/lib/x86_64-linux-gnu/libc.so.6"),
            ],
        );
        assert_eq!(
            line(&e, false),
            r#"openat(AT_FDCWD</tmp/dec>, "/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3</usr/lib/x86_64-linux-gnu/libc.so.6>"#
        );
        let e = ev(Sysno::close, [3, 0, 0, 0, 0, 0], 0, &[(0, CaptureItem::FD_PATH, 0, 0, b"/a<b>")]);
        assert_eq!(line(&e, false), r"close(3</a\74b\76>) = 0", "< and > escaped, as strace -y does");
        let e = ev(Sysno::fcntl, [0, libc::F_GETFD as u64, 0, 0, 0, 0], 0, &[]);
        assert_eq!(line(&e, false), "fcntl(0, F_GETFD) = 0");
        let e = ev(Sysno::fcntl, [0, libc::F_GETFL as u64, 0, 0, 0, 0], 0x8000, &[]);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(line(&e, false), "fcntl(0, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)");
        // SAFETY: all-zero is a valid flock.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_RDLCK as i16;
        fl.l_start = 100;
        fl.l_len = 1;
        // SAFETY: plain data.
        let flb =
            unsafe { std::slice::from_raw_parts((&fl as *const libc::flock).cast::<u8>(), size_of::<libc::flock>()) };
        let e = ev(Sysno::fcntl, [12, libc::F_SETLK as u64, 0x1000, 0, 0, 0], 0, &[(2, COPY, 0, AT_ENTRY, flb)]);
        assert_eq!(
            line(&e, false),
            "fcntl(12, F_SETLK, {l_type=F_RDLCK, l_whence=SEEK_SET, l_start=100, l_len=1}) = 0"
        );
    }

    #[test]
    fn counts_strings_and_frames() {
        let e = ev(
            Sysno::getdents64,
            [15, 0x7fff_6815_30f0, 4096, 0, 0, 0],
            120,
            &[(1, COPY, 0, AT_EXIT, &5u32.to_ne_bytes())],
        );
        assert_eq!(line(&e, false), "getdents64(15, 0x7fff681530f0 /* 5 entries */, 4096) = 120");
        let e = ev(
            Sysno::execve,
            [0x1000, 0x2000, 0x7fff_c5f9_4ec8, 0, 0, 0],
            0,
            &[
                (0, CaptureItem::STRING, 0, 0, b"./p"),
                (1, CaptureItem::ARGV, 0, 0, b"./p"),
                (2, COPY, 0, AT_ENTRY, &35u32.to_ne_bytes()),
            ],
        );
        assert_eq!(line(&e, false), r#"execve("./p", ["./p"], 0x7fffc5f94ec8 /* 35 vars */) = 0"#);
        let e = ev(Sysno::getcwd, [0x1000, 4096, 0, 0, 0, 0], 9, &[(0, COPY, 0, AT_EXIT, b"/tmp/dec\0")]);
        assert_eq!(line(&e, false), r#"getcwd("/tmp/dec", 4096) = 9"#);
        let e = ev(
            Sysno::readlink,
            [0x1000, 0x2000, 4096, 0, 0, 0],
            10,
            &[(0, CaptureItem::STRING, 0, 0, b"/proc/self/exe"), (1, COPY, 0, AT_EXIT, b"/tmp/dec/p")],
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(line(&e, false), r#"readlink("/proc/self/exe", "/tmp/dec/p", 4096) = 10"#);
        let e =
            ev(Sysno::wait4, [20773, 0x1000, 0, 0, 0, 0], 20773, &[(1, COPY, 0, AT_EXIT, &(3i32 << 8).to_ne_bytes())]);
        assert_eq!(line(&e, false), "wait4(20773, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 20773");
        let mask = u64s(&[1 << 1 | 1 << 33 | 1 << 39]);
        let e = ev(Sysno::rt_sigreturn, [0; 6], 0, &[(0, COPY, 0, AT_ENTRY, &mask)]);
        assert_eq!(line(&e, false), "rt_sigreturn({mask=[INT RT_2 RT_8]}) = 0");
        assert_eq!(line(&ev(Sysno::rt_sigreturn, [0; 6], 0, &[]), false), "rt_sigreturn() = 0", "no frame copied");
        let e = ev(Sysno::rseq, [0x7f62_363b_2060, 0x20, 0, 0x5305_3053, 0, 0], 0, &[]);
        assert_eq!(line(&e, false), "rseq(0x7f62363b2060, 0x20, 0, 0x53053053) = 0");
        let e = ev(
            Sysno::getrandom,
            [0x1000, 8, 1, 0, 0, 0],
            8,
            &[(0, CaptureItem::BYTES, 0, 0, b"\x70\xe5\xfa\xf4\xf6\x28\xb0\x1e")],
        );
        assert_eq!(line(&e, false), r#"getrandom("\x70\xe5\xfa\xf4\xf6\x28\xb0\x1e", 8, GRND_NONBLOCK) = 8"#);
        let e = ev(Sysno::getrandom, [0x1000, 8, 1, 0, 0, 0], 8, &[]);
        assert_eq!(line(&e, false), "getrandom(0x1000, 8, GRND_NONBLOCK) = 8", "hidden as the buffers are");
        let e = ev(
            Sysno::prctl,
            [libc::PR_SET_NAME as u64, 0x1000, 0, 0, 0, 0],
            0,
            &[(1, COPY, 0, AT_ENTRY, b"probe\0\0\0\0\0\0\0\0\0\0\0")],
        );
        assert_eq!(line(&e, false), r#"prctl(PR_SET_NAME, "probe") = 0"#);
        let e = ev(Sysno::prctl, [libc::PR_GET_DUMPABLE as u64, 0, 0, 0, 0, 0], 1, &[]);
        assert_eq!(line(&e, false), "prctl(PR_GET_DUMPABLE) = 1 (SUID_DUMP_USER)");
        let e = ev(Sysno::madvise, [0x7f62_3659_d000, 8192, libc::MADV_DONTNEED as u64, 0, 0, 0], 0, &[]);
        assert_eq!(line(&e, false), "madvise(0x7f623659d000, 8192, MADV_DONTNEED) = 0");
        let e = ev(Sysno::fchown, [12, u32::MAX as u64, 0, 0, 0, 0], 0, &[]);
        assert_eq!(line(&e, false), "fchown(12, -1, 0) = 0");
    }
}
