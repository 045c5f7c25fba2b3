//! Names of flag bits and enum values, from the `libc` crate's constants for
//! the architecture the daemon (and the processes it traces) runs on.
//! Presentation follows strace: `O_RDONLY|O_CLOEXEC`, unknown bits as hex.
use libc as c;

pub type Table = &'static [(u64, &'static str)];

/// Bits joined with `|`; bits no name covers are appended in hex.
pub fn bits(value: u64, table: Table) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = value;
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || names.is_empty() {
        names.push(if rest == 0 { "0".to_string() } else { format!("{rest:#x}") });
    }
    names
}

/// The name of an enum value, or `None`.
pub fn name(value: u64, table: Table) -> Option<&'static str> {
    table.iter().find(|&&(v, _)| v == value).map(|&(_, n)| n)
}

/// `open`/`openat` flags: the access mode (O_RDONLY is 0), then the other bits.
pub fn open_flags(value: u64) -> Vec<String> {
    let mode = match value & c::O_ACCMODE as u64 {
        0 => "O_RDONLY".to_string(),
        1 => "O_WRONLY".to_string(),
        2 => "O_RDWR".to_string(),
        _ => "O_ACCMODE".to_string(),
    };
    let rest = value & !(c::O_ACCMODE as u64);
    let mut out = vec![mode];
    if rest != 0 {
        out.extend(bits(rest, OPEN));
    }
    out
}

/// Whether open flags make the kernel use the mode argument.
pub fn open_uses_mode(flags: u64) -> bool {
    flags & c::O_CREAT as u64 != 0 || flags & c::O_TMPFILE as u64 == c::O_TMPFILE as u64
}

/// `socket` type: the type, then SOCK_NONBLOCK / SOCK_CLOEXEC.
pub fn socket_type(value: u64) -> Vec<String> {
    let kind = value & 0xf;
    let mut out = vec![name(kind, SOCK_TYPES).map_or_else(|| kind.to_string(), str::to_string)];
    let rest = value & !0xf;
    if rest != 0 {
        out.extend(bits(rest, SOCK_FLAGS));
    }
    out
}

/// `mmap` flags: the mapping type (low four bits, an enum), then the other bits.
pub fn mmap_flags(value: u64) -> Vec<String> {
    let kind = value & 0xf;
    let mut out = vec![match kind {
        1 => "MAP_SHARED".to_string(),
        2 => "MAP_PRIVATE".to_string(),
        3 => "MAP_SHARED_VALIDATE".to_string(),
        k => format!("{k:#x}"),
    }];
    let rest = value & !0xf;
    if rest != 0 {
        out.extend(bits(rest, MAP));
    }
    out
}

/// `clone` flags: the bits, then the exit signal in the low byte.
pub fn clone_flags(value: u64) -> Vec<String> {
    let mut out = if value & !0xff != 0 { bits(value & !0xff, CLONE) } else { vec![] };
    if value & 0xff != 0 {
        out.push(signal(value & 0xff));
    }
    if out.is_empty() {
        out.push("0".into());
    }
    out
}

/// A signal number: `SIGTERM`, `SIGRTMIN`, `SIGRT_3`, or the number.
pub fn signal(value: u64) -> String {
    let n = value as i32;
    if let Some(s) = name(n as u64, SIGNALS) {
        return s.to_string();
    }
    let rtmin = 34; // glibc reserves 32 and 33; the kernel's SIGRTMIN is 32
    match n {
        32 | 33 => format!("SIGRT_{}", n - 32),
        n if n == rtmin => "SIGRTMIN".into(),
        n if (rtmin..=64).contains(&n) => format!("SIGRT_{}", n - 32),
        n => n.to_string(),
    }
}

macro_rules! table {
    ($name:ident: $($c:ident),* $(,)?) => {
        pub static $name: Table = &[$((c::$c as u64, stringify!($c))),*];
    };
}

table!(OPEN: O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK, O_DSYNC, O_ASYNC, O_DIRECT, O_LARGEFILE,
    O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_CLOEXEC, O_PATH, O_SYNC);
table!(AT: AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH,
    AT_STATX_FORCE_SYNC, AT_STATX_DONT_SYNC, AT_EACCESS);
table!(ACCESS: R_OK, W_OK, X_OK);
table!(PROT: PROT_READ, PROT_WRITE, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP);
table!(MAP: MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_DENYWRITE,
    MAP_EXECUTABLE, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB, MAP_SYNC,
    MAP_FIXED_NOREPLACE);
table!(CLONE: CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT,
    CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED,
    CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
    CLONE_NEWNET, CLONE_IO);
table!(DOMAINS: AF_UNSPEC, AF_UNIX, AF_INET, AF_AX25, AF_IPX, AF_APPLETALK, AF_NETROM, AF_BRIDGE, AF_ATMPVC, AF_X25,
    AF_INET6, AF_ROSE, AF_DECnet, AF_NETBEUI, AF_SECURITY, AF_KEY, AF_NETLINK, AF_PACKET, AF_ASH, AF_ECONET,
    AF_ATMSVC, AF_RDS, AF_SNA, AF_IRDA, AF_PPPOX, AF_WANPIPE, AF_LLC, AF_CAN, AF_TIPC, AF_BLUETOOTH, AF_IUCV,
    AF_RXRPC, AF_ISDN, AF_PHONET, AF_IEEE802154, AF_CAIF, AF_ALG, AF_NFC, AF_VSOCK, AF_XDP);
table!(SOCK_TYPES: SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET, SOCK_DCCP);
table!(SOCK_FLAGS: SOCK_CLOEXEC, SOCK_NONBLOCK);
table!(LEASES: F_RDLCK, F_WRLCK, F_UNLCK);
table!(TIMER: TIMER_ABSTIME);
table!(IOCTLS: TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP, TIOCSCTTY, TIOCNOTTY,
    TIOCOUTQ, TIOCGPTN, TIOCSPTLCK, FIONREAD, FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX);
table!(RLIMITS: RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS, RLIMIT_NPROC,
    RLIMIT_NOFILE, RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_NICE,
    RLIMIT_RTPRIO, RLIMIT_RTTIME);
/// `arch_prctl`'s codes, where the architecture has the call.
pub use super::arch::ARCH_PRCTL;
table!(FILE_TYPES: S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFDIR, S_IFLNK);
table!(FD_FLAGS: FD_CLOEXEC);
table!(FCNTL: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW, F_SETOWN, F_GETOWN,
    F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE, F_GETLEASE, F_NOTIFY,
    F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS);
table!(SIGNALS: SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2,
    SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU,
    SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS);
table!(WAIT: WNOHANG, WUNTRACED, WCONTINUED, WEXITED, WNOWAIT, __WNOTHREAD, __WALL, __WCLONE);
table!(SEEK: SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE);
table!(SIGPROCMASK: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK);
table!(CLOCKS: CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW,
    CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM,
    CLOCK_TAI);
table!(MSG: MSG_OOB, MSG_PEEK, MSG_DONTROUTE, MSG_CTRUNC, MSG_TRUNC, MSG_DONTWAIT, MSG_EOR, MSG_WAITALL, MSG_NOSIGNAL,
    MSG_MORE, MSG_CMSG_CLOEXEC);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_read_like_strace() {
        assert_eq!(open_flags(0).join("|"), "O_RDONLY");
        assert_eq!(open_flags((c::O_RDONLY | c::O_CLOEXEC) as u64).join("|"), "O_RDONLY|O_CLOEXEC");
        let creat = (c::O_WRONLY | c::O_CREAT | c::O_TRUNC) as u64;
        assert_eq!(open_flags(creat).join("|"), "O_WRONLY|O_CREAT|O_TRUNC");
        assert!(open_uses_mode(creat) && !open_uses_mode(c::O_RDWR as u64));
        assert_eq!(open_flags(c::O_RDWR as u64 | 0x4000_0000).join("|"), "O_RDWR|0x40000000");
    }

    #[test]
    fn bits_and_enums() {
        assert_eq!(bits((c::PROT_READ | c::PROT_WRITE) as u64, PROT).join("|"), "PROT_READ|PROT_WRITE");
        assert_eq!(bits(0, PROT).join("|"), "0");
        assert_eq!(mmap_flags((c::MAP_PRIVATE | c::MAP_ANONYMOUS) as u64).join("|"), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(mmap_flags(0x3).join("|"), "MAP_SHARED_VALIDATE");
        assert_eq!(name(c::AF_INET as u64, DOMAINS), Some("AF_INET"));
        assert_eq!(name(9999, DOMAINS), None);
        assert_eq!(socket_type((c::SOCK_STREAM | c::SOCK_CLOEXEC) as u64).join("|"), "SOCK_STREAM|SOCK_CLOEXEC");
        let clone = (c::CLONE_CHILD_CLEARTID | c::CLONE_CHILD_SETTID) as u64 | c::SIGCHLD as u64;
        assert_eq!(clone_flags(clone).join("|"), "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD");
        assert_eq!(clone_flags(c::SIGCHLD as u64).join("|"), "SIGCHLD");
    }

    #[test]
    fn signals() {
        assert_eq!(signal(c::SIGTERM as u64), "SIGTERM");
        assert_eq!(signal(34), "SIGRTMIN");
        assert_eq!(signal(40), "SIGRT_8");
        assert_eq!(signal(99), "99");
    }
}
