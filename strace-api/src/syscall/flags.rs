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

/// A signal number as strace names it: `SIGTERM`, the kernel's `SIGRTMIN`
/// (32), `SIGRT_2` (glibc's SIGRTMIN, 34), or the number.
pub fn signal(value: u64) -> String {
    let n = value as i32;
    if let Some(s) = name(n as u64, SIGNALS) {
        return s.to_string();
    }
    match n {
        32 => "SIGRTMIN".into(),
        33..=64 => format!("SIGRT_{}", n - 32),
        n => n.to_string(),
    }
}

/// A signal in a set, as strace writes it: without `SIG` (`INT`, `RTMIN`, `RT_2`).
pub fn signal_in_set(n: u32) -> String {
    let s = signal(n as u64);
    match s.strip_prefix("SIG") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// A signal mask as strace writes it: `[INT TERM]`, `[]`, or its
/// complement when 2/3 or more of its bits are set: `~[RTMIN RT_1]`.
pub fn sigset(bytes: &[u8]) -> String {
    let mut mask = [0u8; 8];
    let n = bytes.len().min(8);
    mask[..n].copy_from_slice(&bytes[..n]);
    let mut m = u64::from_ne_bytes(mask);
    let words = n.div_ceil(4) as u32;
    let bits = words * 32;
    let mut out = String::new();
    if m.count_ones() >= bits * 2 / 3 && bits > 0 {
        out.push('~');
        m = !m & if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
    }
    let names: Vec<String> = (0..bits).filter(|b| m >> b & 1 != 0).map(|b| signal_in_set(b + 1)).collect();
    out.push('[');
    out.push_str(&names.join(" "));
    out.push(']');
    out
}

/// A signal set as JSON: the names of its signals.
pub fn sigset_names(bytes: &[u8]) -> Vec<String> {
    let mut mask = [0u8; 8];
    let n = bytes.len().min(8);
    mask[..n].copy_from_slice(&bytes[..n]);
    let m = u64::from_ne_bytes(mask);
    (0..64).filter(|b| m >> b & 1 != 0).map(|b| signal(b + 1)).collect()
}

/// `statx`'s flags: strace names `AT_STATX_SYNC_AS_STAT` (0) first unless
/// another sync mode is set.
pub fn statx_flags(value: u64) -> Vec<String> {
    let value = value as u32 as u64;
    let sync = value & c::AT_STATX_SYNC_TYPE as u64;
    let mut out = match sync {
        0 => vec!["AT_STATX_SYNC_AS_STAT".to_string()],
        s => bits(
            s,
            &[
                (c::AT_STATX_FORCE_SYNC as u64, "AT_STATX_FORCE_SYNC"),
                (c::AT_STATX_DONT_SYNC as u64, "AT_STATX_DONT_SYNC"),
            ],
        ),
    };
    let rest = value & !(c::AT_STATX_SYNC_TYPE as u64);
    if rest != 0 {
        out.extend(bits(rest, AT));
    }
    out
}

/// A uid or gid: `-1` for "unchanged", as strace prints `(uid_t) -1`.
pub fn id(value: u64) -> String {
    match value as u32 {
        u32::MAX => "-1".into(),
        v => v.to_string(),
    }
}

/// A futex operation: `FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`, as
/// strace's table has them, or hex.
pub fn futex_op(op: u64) -> Option<String> {
    let op = op as u32;
    let cmd = op & 0x7f;
    let base = name(cmd as u64, FUTEX_CMDS)?;
    let private = op & c::FUTEX_PRIVATE_FLAG as u32 != 0;
    let realtime = op & c::FUTEX_CLOCK_REALTIME as u32 != 0;
    if op & !(0x7f | c::FUTEX_PRIVATE_FLAG as u32 | c::FUTEX_CLOCK_REALTIME as u32) != 0 {
        return None;
    }
    // Only the waits have a FUTEX_CLOCK_REALTIME form in strace's table,
    // and FUTEX_FD no _PRIVATE name.
    let waits = [c::FUTEX_WAIT, c::FUTEX_WAIT_BITSET, c::FUTEX_WAIT_REQUEUE_PI].map(|w| w as u32);
    if realtime && !waits.contains(&cmd) {
        return None;
    }
    let mut s = base.to_string();
    if private {
        s.push_str(if cmd == c::FUTEX_FD as u32 { "|FUTEX_PRIVATE_FLAG" } else { "_PRIVATE" });
    }
    if realtime {
        s.push_str("|FUTEX_CLOCK_REALTIME");
    }
    Some(s)
}

/// A `prctl` option's name.
pub fn prctl_option(value: u64) -> Option<&'static str> {
    name(value as u32 as u64, PRCTL).or_else(|| name(value as u32 as u64, PRCTL_MORE))
}

/// A socket option's name at `level`, if strace names that level's options.
pub fn sockopt(level: u64, opt: u64) -> Option<&'static str> {
    let table = match level as i32 {
        c::SOL_SOCKET => SO,
        c::SOL_TCP => TCP,
        c::SOL_IP => IP,
        c::SOL_IPV6 => IPV6,
        _ => return None,
    };
    name(opt as u32 as u64, table)
}

/// `socket`'s protocol, named for the family where strace names it.
pub fn protocol(family: u64, value: u64) -> Option<&'static str> {
    match family as i32 {
        c::AF_INET | c::AF_INET6 => name(value, IPPROTO),
        c::AF_NETLINK => name(value, NETLINK),
        _ => None,
    }
}

/// A table of the `libc` crate's constants, each as the 32-bit value the
/// kernel takes (`EPOLLET` and `CLONE_IO` are negative `int`s there).
macro_rules! table {
    ($name:ident: $($c:ident),* $(,)? $(; $(($v:expr, $n:expr)),* $(,)?)?) => {
        pub static $name: Table = &[$((c::$c as u32 as u64, stringify!($c)),)* $($(($v, $n)),*)?];
    };
}

/// Open flags in strace's order (O_SYNC before O_DSYNC, O_TMPFILE before
/// O_DIRECTORY), O_LARGEFILE with the kernel's value.
pub static OPEN: Table = &[
    (c::O_CREAT as u64, "O_CREAT"),
    (c::O_EXCL as u64, "O_EXCL"),
    (c::O_NOCTTY as u64, "O_NOCTTY"),
    (c::O_TRUNC as u64, "O_TRUNC"),
    (c::O_APPEND as u64, "O_APPEND"),
    (c::O_NONBLOCK as u64, "O_NONBLOCK"),
    (c::O_SYNC as u64, "O_SYNC"),
    (c::O_DSYNC as u64, "O_DSYNC"),
    (c::O_DIRECT as u64, "O_DIRECT"),
    (super::layout::O_LARGEFILE, "O_LARGEFILE"),
    (c::O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (c::O_NOATIME as u64, "O_NOATIME"),
    (c::O_CLOEXEC as u64, "O_CLOEXEC"),
    (c::O_PATH as u64, "O_PATH"),
    (c::O_TMPFILE as u64, "O_TMPFILE"),
    (c::O_DIRECTORY as u64, "O_DIRECTORY"),
    (c::O_ASYNC as u64, "O_ASYNC"),
];
table!(AT: AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH,
    AT_STATX_FORCE_SYNC, AT_STATX_DONT_SYNC, AT_RECURSIVE);
table!(ACCESS: R_OK, W_OK, X_OK);
table!(PROT: PROT_READ, PROT_WRITE, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP);
table!(MAP: MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_DENYWRITE,
    MAP_EXECUTABLE, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB, MAP_SYNC,
    MAP_FIXED_NOREPLACE);
table!(CLONE: CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT,
    CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED,
    CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
    CLONE_NEWNET, CLONE_IO);
// `clone3`'s flags: `clone`'s but CLONE_DETACHED (which clone3 refuses),
// and the two only clone3 takes (above 32 bits: not in libc's `int`s).
table!(CLONE3: CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT,
    CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID,
    CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
    CLONE_NEWNET, CLONE_IO; (0x1_0000_0000, "CLONE_CLEAR_SIGHAND"), (0x2_0000_0000, "CLONE_INTO_CGROUP"));
/// Capabilities by number (linux/capability.h).
pub static CAPS: Table = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (2, "CAP_DAC_READ_SEARCH"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (9, "CAP_LINUX_IMMUTABLE"),
    (10, "CAP_NET_BIND_SERVICE"),
    (11, "CAP_NET_BROADCAST"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (14, "CAP_IPC_LOCK"),
    (15, "CAP_IPC_OWNER"),
    (16, "CAP_SYS_MODULE"),
    (17, "CAP_SYS_RAWIO"),
    (18, "CAP_SYS_CHROOT"),
    (19, "CAP_SYS_PTRACE"),
    (20, "CAP_SYS_PACCT"),
    (21, "CAP_SYS_ADMIN"),
    (22, "CAP_SYS_BOOT"),
    (23, "CAP_SYS_NICE"),
    (24, "CAP_SYS_RESOURCE"),
    (25, "CAP_SYS_TIME"),
    (26, "CAP_SYS_TTY_CONFIG"),
    (27, "CAP_MKNOD"),
    (28, "CAP_LEASE"),
    (29, "CAP_AUDIT_WRITE"),
    (30, "CAP_AUDIT_CONTROL"),
    (31, "CAP_SETFCAP"),
    (32, "CAP_MAC_OVERRIDE"),
    (33, "CAP_MAC_ADMIN"),
    (34, "CAP_SYSLOG"),
    (35, "CAP_WAKE_ALARM"),
    (36, "CAP_BLOCK_SUSPEND"),
    (37, "CAP_AUDIT_READ"),
    (38, "CAP_PERFMON"),
    (39, "CAP_BPF"),
    (40, "CAP_CHECKPOINT_RESTORE"),
];
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
/// ioctls strace names with two names (one number, two subsystems).
pub static IOCTLS_SHARED: Table = &[(c::FICLONE as u32 as u64, "BTRFS_IOC_CLONE or FICLONE")];
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
/// A statx mask as strace prints it: the whole groups first.
pub static STATX_MASK: Table = &[
    (0xfff, "STATX_ALL"),
    (c::STATX_BASIC_STATS as u64, "STATX_BASIC_STATS"),
    (c::STATX_TYPE as u64, "STATX_TYPE"),
    (c::STATX_MODE as u64, "STATX_MODE"),
    (c::STATX_NLINK as u64, "STATX_NLINK"),
    (c::STATX_UID as u64, "STATX_UID"),
    (c::STATX_GID as u64, "STATX_GID"),
    (c::STATX_ATIME as u64, "STATX_ATIME"),
    (c::STATX_MTIME as u64, "STATX_MTIME"),
    (c::STATX_CTIME as u64, "STATX_CTIME"),
    (c::STATX_INO as u64, "STATX_INO"),
    (c::STATX_SIZE as u64, "STATX_SIZE"),
    (c::STATX_BLOCKS as u64, "STATX_BLOCKS"),
    (c::STATX_BTIME as u64, "STATX_BTIME"),
    (c::STATX_MNT_ID as u64, "STATX_MNT_ID"),
    (c::STATX_DIOALIGN as u64, "STATX_DIOALIGN"),
];
table!(STATX_ATTRS: STATX_ATTR_COMPRESSED, STATX_ATTR_IMMUTABLE, STATX_ATTR_APPEND, STATX_ATTR_NODUMP,
    STATX_ATTR_ENCRYPTED, STATX_ATTR_AUTOMOUNT, STATX_ATTR_MOUNT_ROOT, STATX_ATTR_VERITY, STATX_ATTR_DAX);
table!(EPOLL_FLAGS: EPOLL_CLOEXEC);
table!(EPOLL_CTL: EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD);
// (EPOLLNVAL is not in the libc crate.)
table!(EPOLL_EVENTS: EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM, EPOLLRDBAND,
    EPOLLWRNORM, EPOLLWRBAND, EPOLLMSG, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET);
table!(POLL: POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND,
    POLLRDHUP);
table!(GRND: GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE);
/// `rseq` flags (linux/rseq.h).
pub static RSEQ: Table = &[(1, "RSEQ_FLAG_UNREGISTER")];
table!(SHUTDOWN: SHUT_RD, SHUT_WR, SHUT_RDWR);
table!(MADVISE: MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE, MADV_REMOVE,
    MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
    MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
    MADV_COLLAPSE, MADV_HWPOISON, MADV_SOFT_OFFLINE);
table!(FADVISE: POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED,
    POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE);
table!(TFD: TFD_CLOEXEC, TFD_NONBLOCK);
table!(TFD_TIMER: TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET);
table!(ITIMERS: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF);
table!(EFD: EFD_SEMAPHORE, EFD_CLOEXEC, EFD_NONBLOCK);
table!(LOCK: LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN);
table!(MFD: MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB);
/// `struct sigaction`'s flags in strace's order.
pub static SA: Table = &[
    (0x0400_0000, "SA_RESTORER"),
    (c::SA_ONSTACK as u64, "SA_ONSTACK"),
    (c::SA_RESTART as u64, "SA_RESTART"),
    (0x2000_0000, "SA_INTERRUPT"),
    (c::SA_NODEFER as u64, "SA_NODEFER"),
    (c::SA_RESETHAND as u64, "SA_RESETHAND"),
    (c::SA_SIGINFO as u64, "SA_SIGINFO"),
    (c::SA_NOCLDSTOP as u64, "SA_NOCLDSTOP"),
    (c::SA_NOCLDWAIT as u64, "SA_NOCLDWAIT"),
];
/// `stack_t`'s flags.
pub static SS: Table = &[(1, "SS_ONSTACK"), (2, "SS_DISABLE"), (1 << 31, "SS_AUTODISARM")];
/// `statfs`'s `f_flags` in strace's order.
pub static ST: Table = &[
    (0x0020, "ST_VALID"),
    (0x0001, "ST_RDONLY"),
    (0x0002, "ST_NOSUID"),
    (0x0004, "ST_NODEV"),
    (0x0008, "ST_NOEXEC"),
    (0x0010, "ST_SYNCHRONOUS"),
    (0x0040, "ST_MANDLOCK"),
    (0x0400, "ST_NOATIME"),
    (0x0800, "ST_NODIRATIME"),
    (0x1000, "ST_RELATIME"),
    (0x2000, "ST_NOSYMFOLLOW"),
];
/// File system magic numbers strace names (the common ones).
pub static FS_MAGIC: Table = &[
    (0x0000_9fa0, "PROC_SUPER_MAGIC"),
    (0x0000_ef53, "EXT2_SUPER_MAGIC"),
    (0x0102_1994, "TMPFS_MAGIC"),
    (0x794c_7630, "OVERLAYFS_SUPER_MAGIC"),
    (0x5846_5342, "XFS_SUPER_MAGIC"),
    (0x9123_683e, "BTRFS_SUPER_MAGIC"),
    (0x6265_6572, "SYSFS_MAGIC"),
    (0x0000_1cd1, "DEVPTS_SUPER_MAGIC"),
    (0x6367_7270, "CGROUP2_SUPER_MAGIC"),
    (0x0027_e0eb, "CGROUP_SUPER_MAGIC"),
    (0x0000_6969, "NFS_SUPER_MAGIC"),
    (0x6573_5546, "FUSE_SUPER_MAGIC"),
    (0x0909_4934, "ANON_INODE_FS_MAGIC"),
    (0x0000_4d44, "MSDOS_SUPER_MAGIC"),
    (0x5346_544e, "NTFS_SB_MAGIC"),
    (0x0000_9660, "ISOFS_SUPER_MAGIC"),
    (0x7363_6673, "SECURITYFS_MAGIC"),
    (0xf97c_ff8c, "SELINUX_MAGIC"),
    (0x6462_6720, "DEBUGFS_MAGIC"),
    (0x7472_6163, "TRACEFS_MAGIC"),
    (0xcafe_4a11, "BPF_FS_MAGIC"),
    (0x2fc1_2fc1, "ZFS_SUPER_MAGIC"),
    (0x0102_1997, "V9FS_MAGIC"),
    (0x0000_0187, "AUTOFS_SUPER_MAGIC"),
    (0x1980_0202, "MQUEUE_MAGIC"),
    (0x958458f6, "HUGETLBFS_MAGIC"),
    (0x6e736673, "NSFS_MAGIC"),
    (0x5345_4d53, "SMACK_MAGIC"),
    (0x4244_4446, "SQUASHFS_MAGIC"),
];
table!(SOL: SOL_IP, SOL_SOCKET, SOL_TCP, SOL_UDP, SOL_IPV6, SOL_ICMPV6, SOL_RAW, SOL_PACKET, SOL_NETLINK, SOL_TLS);
table!(SO: SO_DEBUG, SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_DONTROUTE, SO_BROADCAST, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE,
    SO_OOBINLINE, SO_NO_CHECK, SO_PRIORITY, SO_LINGER, SO_BSDCOMPAT, SO_REUSEPORT, SO_PASSCRED, SO_PEERCRED,
    SO_RCVLOWAT, SO_SNDLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_BINDTODEVICE, SO_ATTACH_FILTER, SO_DETACH_FILTER,
    SO_PEERNAME, SO_TIMESTAMP, SO_ACCEPTCONN, SO_PEERSEC, SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_PASSSEC,
    SO_TIMESTAMPNS, SO_MARK, SO_TIMESTAMPING, SO_PROTOCOL, SO_DOMAIN, SO_RXQ_OVFL, SO_WIFI_STATUS, SO_PEEK_OFF,
    SO_NOFCS, SO_LOCK_FILTER, SO_SELECT_ERR_QUEUE, SO_BUSY_POLL, SO_MAX_PACING_RATE, SO_BPF_EXTENSIONS,
    SO_INCOMING_CPU, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF, SO_CNX_ADVICE,
    SO_MEMINFO, SO_INCOMING_NAPI_ID, SO_COOKIE, SO_PEERGROUPS, SO_ZEROCOPY, SO_TXTIME, SO_BINDTOIFINDEX);
table!(TCP: TCP_NODELAY, TCP_MAXSEG, TCP_CORK, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_SYNCNT, TCP_LINGER2,
    TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP, TCP_INFO, TCP_QUICKACK, TCP_CONGESTION, TCP_MD5SIG, TCP_THIN_LINEAR_TIMEOUTS,
    TCP_THIN_DUPACK, TCP_USER_TIMEOUT, TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, TCP_REPAIR_OPTIONS,
    TCP_FASTOPEN, TCP_TIMESTAMP, TCP_NOTSENT_LOWAT, TCP_CC_INFO, TCP_SAVE_SYN, TCP_SAVED_SYN, TCP_REPAIR_WINDOW,
    TCP_FASTOPEN_CONNECT, TCP_ULP, TCP_MD5SIG_EXT, TCP_FASTOPEN_KEY, TCP_FASTOPEN_NO_COOKIE, TCP_ZEROCOPY_RECEIVE,
    TCP_INQ);
table!(IP: IP_TOS, IP_TTL, IP_HDRINCL, IP_OPTIONS, IP_RECVOPTS, IP_RETOPTS, IP_PKTINFO, IP_MTU_DISCOVER,
    IP_RECVERR, IP_RECVTTL, IP_RECVTOS, IP_MTU, IP_FREEBIND, IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT,
    IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP);
table!(IPV6: IPV6_ADDRFORM, IPV6_2292PKTINFO, IPV6_2292HOPOPTS, IPV6_2292DSTOPTS, IPV6_2292RTHDR,
    IPV6_2292PKTOPTIONS, IPV6_CHECKSUM, IPV6_2292HOPLIMIT, IPV6_NEXTHOP, IPV6_AUTHHDR, IPV6_UNICAST_HOPS,
    IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_ADD_MEMBERSHIP, IPV6_DROP_MEMBERSHIP,
    IPV6_ROUTER_ALERT, IPV6_MTU_DISCOVER, IPV6_MTU, IPV6_RECVERR, IPV6_V6ONLY, IPV6_JOIN_ANYCAST,
    IPV6_LEAVE_ANYCAST, IPV6_RECVPKTINFO, IPV6_PKTINFO, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, IPV6_RECVTCLASS,
    IPV6_TCLASS);
table!(IPPROTO: IPPROTO_IP, IPPROTO_ICMP, IPPROTO_IGMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_EGP, IPPROTO_PUP,
    IPPROTO_UDP, IPPROTO_IDP, IPPROTO_TP, IPPROTO_DCCP, IPPROTO_IPV6, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
    IPPROTO_RSVP, IPPROTO_GRE, IPPROTO_ESP, IPPROTO_AH, IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_DSTOPTS, IPPROTO_MTP,
    IPPROTO_BEETPH, IPPROTO_ENCAP, IPPROTO_PIM, IPPROTO_COMP, IPPROTO_SCTP, IPPROTO_MH, IPPROTO_UDPLITE,
    IPPROTO_MPLS, IPPROTO_ETHERNET, IPPROTO_RAW, IPPROTO_MPTCP);
table!(NETLINK: NETLINK_ROUTE, NETLINK_UNUSED, NETLINK_USERSOCK, NETLINK_FIREWALL, NETLINK_SOCK_DIAG,
    NETLINK_NFLOG, NETLINK_XFRM, NETLINK_SELINUX, NETLINK_ISCSI, NETLINK_AUDIT, NETLINK_FIB_LOOKUP,
    NETLINK_CONNECTOR, NETLINK_NETFILTER, NETLINK_IP6_FW, NETLINK_DNRTMSG, NETLINK_KOBJECT_UEVENT,
    NETLINK_GENERIC, NETLINK_SCSITRANSPORT, NETLINK_ECRYPTFS, NETLINK_RDMA, NETLINK_CRYPTO);
table!(FUTEX_CMDS: FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP, FUTEX_LOCK_PI,
    FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET, FUTEX_WAIT_REQUEUE_PI,
    FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2);
/// `FUTEX_OP_*` and `FUTEX_OP_CMP_*` of FUTEX_WAKE_OP's encoded operation.
pub static FUTEX_WAKE_OPS: Table =
    &[(0, "FUTEX_OP_SET"), (1, "FUTEX_OP_ADD"), (2, "FUTEX_OP_OR"), (3, "FUTEX_OP_ANDN"), (4, "FUTEX_OP_XOR")];
pub static FUTEX_WAKE_CMPS: Table = &[
    (0, "FUTEX_OP_CMP_EQ"),
    (1, "FUTEX_OP_CMP_NE"),
    (2, "FUTEX_OP_CMP_LT"),
    (3, "FUTEX_OP_CMP_LE"),
    (4, "FUTEX_OP_CMP_GT"),
    (5, "FUTEX_OP_CMP_GE"),
];
table!(PRCTL: PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_GET_UNALIGN, PR_SET_UNALIGN,
    PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_GET_FPEMU, PR_SET_FPEMU, PR_GET_FPEXC, PR_SET_FPEXC, PR_GET_TIMING,
    PR_SET_TIMING, PR_SET_NAME, PR_GET_NAME, PR_GET_ENDIAN, PR_SET_ENDIAN, PR_GET_SECCOMP, PR_SET_SECCOMP,
    PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_GET_TSC, PR_SET_TSC, PR_GET_SECUREBITS, PR_SET_SECUREBITS,
    PR_SET_TIMERSLACK, PR_GET_TIMERSLACK, PR_TASK_PERF_EVENTS_DISABLE, PR_TASK_PERF_EVENTS_ENABLE, PR_MCE_KILL,
    PR_MCE_KILL_GET, PR_SET_MM, PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS,
    PR_GET_NO_NEW_PRIVS, PR_GET_TID_ADDRESS, PR_SET_THP_DISABLE, PR_GET_THP_DISABLE, PR_SET_FP_MODE,
    PR_GET_FP_MODE, PR_CAP_AMBIENT, PR_SCHED_CORE,
    PR_SET_VMA, PR_SET_PTRACER);
/// prctl options the libc crate lacks (linux/prctl.h).
pub static PRCTL_MORE: Table = &[
    // In the libc crate for x86_64 only.
    (52, "PR_GET_SPECULATION_CTRL"),
    (53, "PR_SET_SPECULATION_CTRL"),
    (55, "PR_SET_TAGGED_ADDR_CTRL"),
    (56, "PR_GET_TAGGED_ADDR_CTRL"),
    (57, "PR_SET_IO_FLUSHER"),
    (58, "PR_GET_IO_FLUSHER"),
    (59, "PR_SET_SYSCALL_USER_DISPATCH"),
];
/// What `prctl(PR_GET_DUMPABLE)` returns, as strace annotates it.
pub static DUMPABLE: Table = &[(0, "SUID_DUMP_DISABLE"), (1, "SUID_DUMP_USER"), (2, "SUID_DUMP_ROOT")];
table!(MREMAP: MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP);
table!(RENAME: RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT);
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
        // CLONE_IO is a negative int in libc: its bit, not sign-extended.
        assert_eq!(bits(0x8000_0000, CLONE3), ["CLONE_IO"]);
        assert_eq!(bits(0x1_0000_0000 | c::CLONE_VM as u64, CLONE3), ["CLONE_VM", "CLONE_CLEAR_SIGHAND"]);
    }

    #[test]
    fn signals() {
        assert_eq!(signal(c::SIGTERM as u64), "SIGTERM");
        assert_eq!(signal(32), "SIGRTMIN");
        assert_eq!(signal(34), "SIGRT_2");
        assert_eq!(signal(40), "SIGRT_8");
        assert_eq!(signal(99), "99");
    }

    /// As strace printed them for the same masks.
    #[test]
    fn signal_sets() {
        let set = |sigs: &[u32]| sigs.iter().fold(0u64, |m, s| m | 1 << (s - 1)).to_ne_bytes();
        assert_eq!(sigset(&set(&[])), "[]");
        assert_eq!(sigset(&set(&[c::SIGINT as u32, 34, 40])), "[INT RT_2 RT_8]");
        assert_eq!(sigset(&(!(3u64 << 31)).to_ne_bytes()), "~[RTMIN RT_1]");
        assert_eq!(sigset(&(!(3u64 << 31) & !(1 << 8) & !(1 << 18)).to_ne_bytes()), "~[KILL STOP RTMIN RT_1]");
        assert_eq!(sigset(&set(&[c::SIGTERM as u32])), "[TERM]");
    }

    #[test]
    fn futex_ops_as_strace_names_them() {
        assert_eq!(futex_op(129).as_deref(), Some("FUTEX_WAKE_PRIVATE"));
        assert_eq!(futex_op(0).as_deref(), Some("FUTEX_WAIT"));
        assert_eq!(futex_op(9 | 128 | 256).as_deref(), Some("FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME"));
        assert_eq!(futex_op(1 | 256), None, "no such name in strace's table");
    }

    #[test]
    fn open_flags_in_stracess_order() {
        let f = (c::O_RDONLY | c::O_NONBLOCK | c::O_DIRECTORY | c::O_CLOEXEC) as u64;
        assert_eq!(open_flags(f).join("|"), "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(open_flags(0x28800).join("|"), "O_RDONLY|O_NONBLOCK|O_LARGEFILE|O_NOFOLLOW");
    }
}
