//! What the arguments of the calls people debug mean, beyond their C types:
//! which are paths, flags, fds, socket addresses, data buffers, and which
//! point at structs the call reads or fills. The one table drives both what
//! the kernel copies (`capture_specs`, loaded into its CAPTURE table) and how
//! a call is shown (decode.rs). Calls not listed are shown from their
//! signature's C types. Keyed by `Sysno`, so the
//! table holds for every architecture the `syscalls` crate knows.
use std::{collections::HashMap, sync::LazyLock};

#[cfg(test)]
use strace_common::capture::COPIES;
use strace_common::capture::{CaptureSpec, CopySpec, MAX_COPY};
use syscalls::Sysno;

use super::{ArgKind, arch, flags, layout, signature};

/// How one argument is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Fd,
    /// A directory fd of the `*at` calls: `AT_FDCWD` or a number.
    DirFd,
    /// A NUL-terminated string the kernel reads (copied at entry).
    Path,
    /// An argv array (copied at entry).
    Argv,
    OpenFlags,
    /// The mode of `open`/`openat`: shown only when the flags use it.
    OpenMode,
    Mode,
    AtFlags,
    AccessMode,
    Prot,
    MmapFlags,
    Domain,
    SockType,
    /// SOCK_NONBLOCK / SOCK_CLOEXEC alone (`accept4`).
    SockFlags,
    /// O_* bits without an access mode (`pipe2`, `dup3`): `0` when none.
    OFlags,
    FcntlCmd,
    /// TIMER_ABSTIME or 0.
    TimerFlags,
    /// An `ioctl` request: its name for the common terminal and file ones, else hex.
    IoctlCmd,
    /// A resource of `getrlimit` and the like: `RLIMIT_NOFILE`.
    Resource,
    /// An `arch_prctl` code: `ARCH_SET_FS`.
    #[allow(dead_code, reason = "only for architectures with arch_prctl")]
    ArchCode,
    /// `mknod`'s mode: the file type by name, then the permissions.
    NodeMode,
    /// `mknod`'s device, after the mode before it: `makedev(major, minor)`,
    /// not shown for a node that is not a device.
    NodeDev,
    /// `fcntl`'s third argument, read after its command: flags for
    /// F_SETFL and F_SETFD, a number for the others, none for the F_GET*.
    FcntlArg,
    Signal,
    WaitOptions,
    Whence,
    SigHow,
    ClockId,
    MsgFlags,
    /// A socket address the kernel reads; its length is argument `len`.
    AddrIn {
        len: u8,
    },
    /// A socket address the kernel fills; argument `len` points at its length.
    AddrOut {
        len: u8,
    },
    /// Data the process hands the kernel; its length is argument `len`.
    BufIn {
        len: u8,
    },
    /// Data the kernel fills; its length is the return value.
    BufOut,
    /// Another pointer the kernel fills (a struct): its address.
    Out,
    /// A struct, array or count the kernel reads at entry (copied then).
    In(Kind),
    /// One the kernel fills (copied at exit, after a call that succeeded).
    Filled(Kind),
    /// One the kernel reads and then fills (copied at both).
    InOut(Kind),
    /// A string the kernel reads that is not a path (an xattr's name):
    /// copied at entry as a path is, shown up to the string limit.
    Str,
    /// The environment array of `execve`: its address and how many
    /// variables it holds (counted by the kernel).
    EnvCount,
    /// `getrandom`'s buffer: random bytes, often key material, so hidden
    /// as the data buffers are (shown with `--capture-bytes`, in hex).
    Random,
    /// `futex`'s operation, and the arguments each operation uses (strace
    /// leaves out the others).
    FutexOp,
    FutexVal,
    FutexTimeout,
    FutexAddr2,
    FutexVal3,
    /// A socket level (`SOL_TCP`) and an option name at that level.
    SockLevel,
    SockOpt,
    /// The protocol of `socket`, named by the family (`IPPROTO_TCP`).
    Protocol,
    /// `ioctl`'s third argument: an int for the FIO* requests that take one.
    IoctlArg,
    /// A uid or gid: `-1` for "unchanged", as strace prints it.
    Id,
    /// Enums and flags named by a table in flags.rs.
    Named(&'static [(u64, &'static str)]),
    Bits(&'static [(u64, &'static str)]),
    /// `statx`'s flags: `AT_STATX_SYNC_AS_STAT` (0) named when no sync bit is set.
    StatxFlags,
    /// `prctl`'s option and the arguments it uses.
    PrctlOption,
    PrctlArg,
    /// `clone`'s arguments, which strace names: `child_stack=`, `flags=`…
    CloneArg,
    /// `rt_sigreturn` has no argument: strace shows the mask it restores
    /// (from the signal frame on the stack).
    SigFrame,
    /// A file offset: hex unless 0 (as strace prints mmap's).
    Offset,
    /// By its C type alone.
    Raw(ArgKind),
}

impl Ty {
    /// Filled by the kernel: not known while the call is in progress.
    pub fn is_output(self) -> bool {
        matches!(self, Ty::AddrOut { .. } | Ty::BufOut | Ty::Out | Ty::Filled(_) | Ty::Random)
    }
}

/// A struct, array or count a call reads or fills: how the kernel copies
/// it (`layout_of`, below) and how it is shown (structs.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stat,
    Statx,
    Statfs,
    /// The kernel's `struct sigaction` (handler, flags, restorer, mask).
    Sigaction,
    /// A `sigset_t` of the kernel's size (8 bytes).
    Sigset,
    Rlimit,
    Timespec,
    /// `utimensat`'s two.
    Timespecs,
    Timeval,
    Itimerspec,
    Itimerval,
    /// An array of `struct pollfd`, as many as argument `count` says.
    Pollfds {
        count: u8,
    },
    /// `wait4`'s status: shown only when a child was reaped.
    WaitStatus,
    Rusage,
    /// A `socklen_t` the kernel reads and rewrites: `[128 => 16]`.
    SockLen,
    /// A socket option's value: as long as argument `len` says at entry
    /// (`setsockopt`), as long as the length it points at says at exit
    /// (`getsockopt`).
    SockOptVal {
        len: u8,
    },
    /// Two fds (`pipe2`, `socketpair`).
    FdPair,
    Sysinfo,
    Utsname,
    /// `struct flock`, for `fcntl`'s lock commands.
    Flock,
    /// `struct clone_args`, as long as argument `size` says.
    CloneArgs {
        size: u8,
    },
    EpollEvent,
    /// `epoll_wait`'s events: as many as it returned.
    EpollEvents,
    /// An array of `struct iovec`, as many as argument `count` says.
    Iovecs {
        count: u8,
    },
    StackT,
    /// A CPU mask: as long as the call returned (`sched_getaffinity`).
    CpuMask,
    /// A CPU mask as long as argument `len` says (`sched_setaffinity`).
    CpuMaskIn {
        len: u8,
    },
    /// `getdents64`'s buffer: the kernel counts its entries.
    Dirents,
    /// `struct msghdr`'s head (its iovecs' data is a buffer's).
    Msghdr,
    /// A string the kernel writes with its length as the return value
    /// (`getcwd`: the NUL included; `readlink`: without one).
    Written,
}

use Ty::*;

/// The calls of every architecture; those of one only are its `arch::SPECIAL`.
#[rustfmt::skip]
pub(super) static SPECIAL: &[(Sysno, &[Ty])] = &[
    (Sysno::read, &[Fd, BufOut, Raw(ArgKind::ULong)]),
    (Sysno::write, &[Fd, BufIn { len: 2 }, Raw(ArgKind::ULong)]),
    (Sysno::pread64, &[Fd, BufOut, Raw(ArgKind::ULong), Raw(ArgKind::Long)]),
    (Sysno::pwrite64, &[Fd, BufIn { len: 2 }, Raw(ArgKind::ULong), Raw(ArgKind::Long)]),
    (Sysno::close, &[Fd]),
    (Sysno::dup, &[Fd]),
    (Sysno::dup3, &[Fd, Fd, OFlags]),
    (Sysno::lseek, &[Fd, Raw(ArgKind::Long), Whence]),
    (Sysno::openat, &[DirFd, Path, OpenFlags, OpenMode]),
    (Sysno::openat2, &[DirFd, Path, Raw(ArgKind::Pointer), Raw(ArgKind::ULong)]),
    (Sysno::statx, &[DirFd, Path, StatxFlags, Bits(flags::STATX_MASK), Filled(Kind::Statx)]),
    (Sysno::fstat, &[Fd, Filled(Kind::Stat)]),
    (Sysno::faccessat, &[DirFd, Path, AccessMode]),
    (Sysno::faccessat2, &[DirFd, Path, AccessMode, AtFlags]),
    (Sysno::readlinkat, &[DirFd, Path, Filled(Kind::Written), Raw(ArgKind::Int)]),
    (Sysno::unlinkat, &[DirFd, Path, AtFlags]),
    (Sysno::mkdirat, &[DirFd, Path, Mode]),
    (Sysno::renameat, &[DirFd, Path, DirFd, Path]),
    (Sysno::renameat2, &[DirFd, Path, DirFd, Path, Raw(ArgKind::Hex)]),
    (Sysno::linkat, &[DirFd, Path, DirFd, Path, AtFlags]),
    (Sysno::symlinkat, &[Path, DirFd, Path]),
    (Sysno::chdir, &[Path]),
    (Sysno::fchdir, &[Fd]),
    (Sysno::fchmod, &[Fd, Mode]),
    (Sysno::fchmodat, &[DirFd, Path, Mode]),
    (Sysno::fchownat, &[DirFd, Path, Id, Id, AtFlags]),
    (Sysno::truncate, &[Path, Raw(ArgKind::Long)]),
    (Sysno::mount, &[Path, Path, Path, Raw(ArgKind::Hex), Raw(ArgKind::Pointer)]),
    (Sysno::umount2, &[Path, Raw(ArgKind::Hex)]),
    (Sysno::execve, &[Path, Argv, EnvCount]),
    (Sysno::execveat, &[DirFd, Path, Argv, EnvCount, AtFlags]),
    (Sysno::socket, &[Domain, SockType, Protocol]),
    (Sysno::socketpair, &[Domain, SockType, Protocol, Filled(Kind::FdPair)]),
    (Sysno::connect, &[Fd, AddrIn { len: 2 }, Raw(ArgKind::Int)]),
    (Sysno::bind, &[Fd, AddrIn { len: 2 }, Raw(ArgKind::Int)]),
    (Sysno::accept, &[Fd, AddrOut { len: 2 }, InOut(Kind::SockLen)]),
    (Sysno::accept4, &[Fd, AddrOut { len: 2 }, InOut(Kind::SockLen), SockFlags]),
    (Sysno::getsockname, &[Fd, AddrOut { len: 2 }, InOut(Kind::SockLen)]),
    (Sysno::getpeername, &[Fd, AddrOut { len: 2 }, InOut(Kind::SockLen)]),
    (Sysno::sendto, &[Fd, BufIn { len: 2 }, Raw(ArgKind::ULong), MsgFlags, AddrIn { len: 5 }, Raw(ArgKind::Int)]),
    (Sysno::recvfrom, &[Fd, BufOut, Raw(ArgKind::ULong), MsgFlags, AddrOut { len: 5 }, InOut(Kind::SockLen)]),
    (Sysno::mmap, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong), Prot, MmapFlags, Fd, Offset]),
    (Sysno::mprotect, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong), Prot]),
    (Sysno::munmap, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong)]),
    (Sysno::brk, &[Raw(ArgKind::Pointer)]),
    (Sysno::clone, &[CloneArg, CloneArg, CloneArg, CloneArg, CloneArg]),
    (Sysno::fcntl, &[Fd, FcntlCmd, FcntlArg]),
    (Sysno::ioctl, &[Fd, IoctlCmd, IoctlArg]),
    (Sysno::prlimit64, &[Raw(ArgKind::Int), Resource, In(Kind::Rlimit), Filled(Kind::Rlimit)]),
    (Sysno::getrlimit, &[Resource, Filled(Kind::Rlimit)]),
    (Sysno::setrlimit, &[Resource, In(Kind::Rlimit)]),
    (Sysno::kill, &[Raw(ArgKind::Int), Signal]),
    (Sysno::tkill, &[Raw(ArgKind::Int), Signal]),
    (Sysno::tgkill, &[Raw(ArgKind::Int), Raw(ArgKind::Int), Signal]),
    (Sysno::rt_sigaction, &[Signal, In(Kind::Sigaction), Filled(Kind::Sigaction), Raw(ArgKind::ULong)]),
    (Sysno::rt_sigprocmask, &[SigHow, In(Kind::Sigset), Filled(Kind::Sigset), Raw(ArgKind::ULong)]),
    (Sysno::wait4, &[Raw(ArgKind::Int), Filled(Kind::WaitStatus), WaitOptions, Filled(Kind::Rusage)]),
    (Sysno::waitid, &[Raw(ArgKind::Int), Raw(ArgKind::Int), Out, WaitOptions, Out]),
    (Sysno::nanosleep, &[In(Kind::Timespec), Out]),
    (Sysno::clock_nanosleep, &[ClockId, TimerFlags, In(Kind::Timespec), Out]),
    (Sysno::clock_gettime, &[ClockId, Filled(Kind::Timespec)]),
    (Sysno::clock_getres, &[ClockId, Filled(Kind::Timespec)]),
    (Sysno::pipe2, &[Filled(Kind::FdPair), OFlags]),
    (Sysno::umask, &[Mode]),
    (Sysno::mknodat, &[DirFd, Path, NodeMode, NodeDev]),
    (Sysno::getdents64, &[Fd, Filled(Kind::Dirents), Raw(ArgKind::UInt)]),
    (Sysno::getcwd, &[Filled(Kind::Written), Raw(ArgKind::ULong)]),
    (Sysno::statfs, &[Path, Filled(Kind::Statfs)]),
    (Sysno::fstatfs, &[Fd, Filled(Kind::Statfs)]),
    (Sysno::sysinfo, &[Filled(Kind::Sysinfo)]),
    (Sysno::uname, &[Filled(Kind::Utsname)]),
    (Sysno::rt_sigreturn, &[SigFrame]),
    (Sysno::rt_sigsuspend, &[In(Kind::Sigset), Raw(ArgKind::ULong)]),
    (Sysno::sigaltstack, &[In(Kind::StackT), Filled(Kind::StackT)]),
    (Sysno::ppoll, &[InOut(Kind::Pollfds { count: 1 }), Raw(ArgKind::UInt), In(Kind::Timespec), In(Kind::Sigset), Raw(ArgKind::ULong)]),
    (Sysno::epoll_create1, &[Bits(flags::EPOLL_FLAGS)]),
    (Sysno::epoll_ctl, &[Fd, Named(flags::EPOLL_CTL), Fd, In(Kind::EpollEvent)]),
    (Sysno::epoll_pwait, &[Fd, Filled(Kind::EpollEvents), Raw(ArgKind::Int), Raw(ArgKind::Int), In(Kind::Sigset), Raw(ArgKind::ULong)]),
    (Sysno::futex, &[Raw(ArgKind::Pointer), FutexOp, FutexVal, FutexTimeout, FutexAddr2, FutexVal3]),
    (Sysno::getrandom, &[Random, Raw(ArgKind::ULong), Bits(flags::GRND)]),
    (Sysno::rseq, &[Raw(ArgKind::Pointer), Raw(ArgKind::Hex), Bits(flags::RSEQ), Raw(ArgKind::Hex)]),
    (Sysno::setsockopt, &[Fd, SockLevel, SockOpt, In(Kind::SockOptVal { len: 4 }), Raw(ArgKind::Int)]),
    (Sysno::getsockopt, &[Fd, SockLevel, SockOpt, Filled(Kind::SockOptVal { len: 4 }), InOut(Kind::SockLen)]),
    (Sysno::shutdown, &[Fd, Named(flags::SHUTDOWN)]),
    (Sysno::listen, &[Fd, Raw(ArgKind::Int)]),
    (Sysno::madvise, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong), Named(flags::MADVISE)]),
    (Sysno::fadvise64, &[Fd, Raw(ArgKind::Long), Raw(ArgKind::Long), Named(flags::FADVISE)]),
    (Sysno::prctl, &[PrctlOption, PrctlArg, PrctlArg, PrctlArg, PrctlArg]),
    (Sysno::clone3, &[In(Kind::CloneArgs { size: 1 }), Raw(ArgKind::ULong)]),
    (Sysno::sched_getaffinity, &[Raw(ArgKind::Int), Raw(ArgKind::UInt), Filled(Kind::CpuMask)]),
    (Sysno::sched_setaffinity, &[Raw(ArgKind::Int), Raw(ArgKind::UInt), In(Kind::CpuMaskIn { len: 1 })]),
    (Sysno::utimensat, &[DirFd, Path, In(Kind::Timespecs), AtFlags]),
    (Sysno::getxattr, &[Path, Str, Out, Raw(ArgKind::ULong)]),
    (Sysno::lgetxattr, &[Path, Str, Out, Raw(ArgKind::ULong)]),
    (Sysno::fgetxattr, &[Fd, Str, Out, Raw(ArgKind::ULong)]),
    (Sysno::timerfd_create, &[ClockId, Bits(flags::TFD)]),
    (Sysno::timerfd_settime, &[Fd, Bits(flags::TFD_TIMER), In(Kind::Itimerspec), Filled(Kind::Itimerspec)]),
    (Sysno::timerfd_gettime, &[Fd, Filled(Kind::Itimerspec)]),
    (Sysno::setitimer, &[Named(flags::ITIMERS), In(Kind::Itimerval), Filled(Kind::Itimerval)]),
    (Sysno::getitimer, &[Named(flags::ITIMERS), Filled(Kind::Itimerval)]),
    (Sysno::eventfd2, &[Raw(ArgKind::UInt), Bits(flags::EFD)]),
    (Sysno::writev, &[Fd, In(Kind::Iovecs { count: 2 }), Raw(ArgKind::Int)]),
    (Sysno::readv, &[Fd, In(Kind::Iovecs { count: 2 }), Raw(ArgKind::Int)]),
    (Sysno::sendmsg, &[Fd, In(Kind::Msghdr), MsgFlags]),
    (Sysno::recvmsg, &[Fd, Filled(Kind::Msghdr), MsgFlags]),
    (Sysno::fchown, &[Fd, Id, Id]),
    (Sysno::flock, &[Fd, Bits(flags::LOCK)]),
    (Sysno::memfd_create, &[Str, Bits(flags::MFD)]),
    (Sysno::gettimeofday, &[Filled(Kind::Timeval), Raw(ArgKind::Pointer)]),
    (Sysno::exit, &[Raw(ArgKind::Int)]),
    (Sysno::exit_group, &[Raw(ArgKind::Int)]),
];

static TYPES: LazyLock<HashMap<i32, &'static [Ty]>> =
    LazyLock::new(|| SPECIAL.iter().chain(arch::SPECIAL).map(|&(s, t)| (s.id(), t)).collect());

/// The presentation type of argument `i` of syscall `nr`.
pub fn ty(nr: i32, i: usize) -> Ty {
    if let Some(t) = TYPES.get(&nr).and_then(|t| t.get(i)) {
        return *t;
    }
    let Some(arg) = signature(nr).and_then(|s| s.args.get(i)) else { return Raw(ArgKind::Hex) };
    match arg.kind {
        ArgKind::Int | ArgKind::UInt | ArgKind::ULong if is_fd_name(arg.name) => Fd,
        ArgKind::Int if matches!(arg.name, "dfd" | "olddfd" | "newdfd" | "old_dfd" | "new_dfd" | "dirfd") => DirFd,
        kind => Raw(kind),
    }
}

/// The kernel's names of fd parameters: `fd`, `epfd`, `out_fd`, `fd_in`, …
fn is_fd_name(name: &str) -> bool {
    matches!(name, "fd" | "epfd" | "ufd" | "oldfd" | "newfd" | "pidfd" | "fildes" | "mntfd")
        || name.ends_with("_fd")
        || name.starts_with("fd_")
}

/// Where an fd argument is, for fd paths (`--fd-paths`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdArg {
    Fd,
    /// An `*at` call's directory: AT_FDCWD is the working directory.
    DirFd,
    /// An array of pollfds (copied at entry): the fd of each.
    Pollfds,
}

/// The fd arguments of syscall `nr`, where strace -y shows their paths:
/// worked out once per number (the drain asks for every record of a watch
/// that shows fds' paths).
pub fn fd_args(nr: i32) -> &'static [(usize, FdArg)] {
    static BY_NR: LazyLock<Vec<Vec<(usize, FdArg)>>> =
        LazyLock::new(|| (0..strace_common::filter::FILTER_SYSCALLS as i32).map(fd_args_of).collect());
    usize::try_from(nr).ok().and_then(|n| BY_NR.get(n)).map_or(&[], Vec::as_slice)
}

fn fd_args_of(nr: i32) -> Vec<(usize, FdArg)> {
    let arity = arity(nr).unwrap_or(0);
    (0..arity)
        .filter_map(|i| match ty(nr, i) {
            Fd => Some((i, FdArg::Fd)),
            DirFd => Some((i, FdArg::DirFd)),
            InOut(Kind::Pollfds { .. }) => Some((i, FdArg::Pollfds)),
            // (ioctl FICLONE's source fd: strace -y shows no path there.)
            _ => None,
        })
        .collect()
}

/// Whether syscall `nr` (with `args`) returns a new fd, which strace -y shows
/// with its path.
pub fn returns_fd(nr: i32, args: &[u64; 6]) -> bool {
    static CALLS: LazyLock<Vec<i32>> = LazyLock::new(|| {
        [
            "open",
            "openat",
            "openat2",
            "creat",
            "socket",
            "accept",
            "accept4",
            "dup",
            "dup2",
            "dup3",
            "epoll_create",
            "epoll_create1",
            "eventfd",
            "eventfd2",
            "timerfd_create",
            "signalfd",
            "signalfd4",
            "inotify_init",
            "inotify_init1",
            "memfd_create",
            "pidfd_open",
            "pidfd_getfd",
            "userfaultfd",
            "fanotify_init",
            "perf_event_open",
            "open_by_handle_at",
            "io_uring_setup",
            "open_tree",
            "fsopen",
            "fsmount",
            "fspick",
            "memfd_secret",
        ]
        .iter()
        .filter_map(|n| n.parse::<Sysno>().ok().map(|s| s.id()))
        .collect()
    });
    CALLS.contains(&nr) || (nr == Sysno::fcntl.id() && matches!(args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC))
}

/// How many arguments syscall `nr` shows: its signature's, or the table's
/// when it lists one the kernel's signature does not have (`rt_sigreturn`'s
/// signal frame).
pub fn arity(nr: i32) -> Option<usize> {
    let sig = signature(nr).map(|s| s.args.len());
    match TYPES.get(&nr) {
        Some(t) if sig.is_none_or(|n| t.len() > n) => Some(t.len()),
        _ => sig,
    }
}

/// What the kernel must capture for each syscall, from the types above.
pub fn capture_specs() -> Vec<(i32, CaptureSpec)> {
    let mut specs: Vec<_> = TYPES.iter().filter_map(|(&nr, types)| spec_of(nr, types).map(|s| (nr, s))).collect();
    specs.sort_by_key(|&(nr, _)| nr);
    specs
}

/// What the kernel captures of syscall `nr`'s arguments, if anything.
pub fn capture_spec(nr: i32) -> Option<CaptureSpec> {
    TYPES.get(&nr).and_then(|types| spec_of(nr, types))
}

/// Bytes of one element of `kind`, where its count comes from, and the
/// most bytes copied (or, for the counts, walked).
fn layout_of(kind: Kind) -> (u16, u8, u16, u8) {
    use CopySpec as C;
    let one = |bytes: u16| (bytes, C::ONE, bytes, 0);
    match kind {
        Kind::Stat => one(layout::STAT),
        Kind::Statx => one(size_of::<libc::statx>() as u16),
        Kind::Statfs => one(layout::STATFS),
        Kind::Sigaction => one(32),
        Kind::Sigset => one(8),
        Kind::Rlimit | Kind::Timespec | Kind::Timeval => one(16),
        Kind::Timespecs | Kind::Itimerspec | Kind::Itimerval => one(32),
        Kind::Pollfds { count } => (8, C::arg_value(count), MAX_COPY as u16, 0),
        Kind::WaitStatus | Kind::SockLen => one(4),
        Kind::Rusage => one(size_of::<libc::rusage>() as u16),
        Kind::SockOptVal { len } => (1, C::arg_value(len), 64, 0),
        Kind::FdPair => one(8),
        Kind::Sysinfo => one(size_of::<libc::sysinfo>() as u16),
        Kind::Utsname => one(size_of::<libc::utsname>() as u16),
        Kind::Flock => one(size_of::<libc::flock>() as u16),
        Kind::CloneArgs { size } => (1, C::arg_value(size), 88, 0),
        Kind::EpollEvent => one(layout::EPOLL_EVENT),
        Kind::EpollEvents => (layout::EPOLL_EVENT, C::RETURN, MAX_COPY as u16, 0),
        Kind::Iovecs { count } => (16, C::arg_value(count), MAX_COPY as u16, 0),
        Kind::StackT => one(size_of::<libc::stack_t>() as u16),
        Kind::CpuMask => (1, C::RETURN, 128, 0),
        Kind::CpuMaskIn { len } => (1, C::arg_value(len), 128, 0),
        // The record length (d_reclen) is at offset 16; up to 64 KiB walked.
        Kind::Dirents => (16, C::RETURN, u16::MAX, C::COUNT_RECORDS),
        Kind::Written => (1, C::RETURN, MAX_COPY as u16, 0),
        Kind::Msghdr => one(size_of::<libc::msghdr>() as u16),
    }
}

/// The copy of `kind` at argument `i` (at exit or at entry).
fn copy_of(kind: Kind, i: usize, at_exit: bool) -> CopySpec {
    let (elem, mut count, max, op) = layout_of(kind);
    if let Kind::SockOptVal { len } = kind
        && at_exit
    {
        count = CopySpec::pointed_u32(len); // getsockopt: the length it wrote
    }
    CopySpec {
        arg: i as u8 + 1,
        flags: op | if at_exit { CopySpec::AT_EXIT } else { 0 },
        count,
        elem,
        max,
        ..Default::default()
    }
}

/// A copy only when argument `arg`, masked, is one of `values`.
fn when(c: CopySpec, arg: usize, mask: u32, values: &[u32]) -> CopySpec {
    let base = values.iter().copied().min().unwrap_or(0);
    let set = values.iter().fold(0u64, |set, v| set | 1 << (v - base));
    CopySpec { cond_arg: arg as u8 + 1, cond_mask: mask, cond_base: base as u16, cond_set: set, ..c }
}

/// The fcntl commands whose argument is a `struct flock`, and those of
/// them that fill it.
pub const LOCK_COMMANDS: [u32; 6] = [
    libc::F_GETLK as u32,
    libc::F_SETLK as u32,
    libc::F_SETLKW as u32,
    libc::F_OFD_GETLK as u32,
    libc::F_OFD_SETLK as u32,
    libc::F_OFD_SETLKW as u32,
];
pub const LOCK_QUERIES: [u32; 2] = [libc::F_GETLK as u32, libc::F_OFD_GETLK as u32];
/// The ioctls whose argument points at an int they read.
pub const IOCTL_INTS: [u32; 2] = [libc::FIONBIO as u32, libc::FIOASYNC as u32];
/// The futex operations whose fourth argument is a timeout.
pub const FUTEX_TIMED: [u32; 5] = [
    libc::FUTEX_WAIT as u32,
    libc::FUTEX_LOCK_PI as u32,
    libc::FUTEX_WAIT_BITSET as u32,
    libc::FUTEX_WAIT_REQUEUE_PI as u32,
    13, // FUTEX_LOCK_PI2
];

/// The copies argument `i` of type `t` needs.
fn copies(t: Ty, i: usize) -> Vec<CopySpec> {
    match t {
        In(k) => vec![copy_of(k, i, false)],
        // The pair's inode numbers too (`pipe:[1234]`, for fd paths).
        Filled(Kind::FdPair) => vec![copy_of(Kind::FdPair, i, true), fd_inodes(i as u8 + 1)],
        Filled(k) => vec![copy_of(k, i, true)],
        InOut(k) => vec![copy_of(k, i, false), copy_of(k, i, true)],
        FcntlArg => vec![
            when(copy_of(Kind::Flock, i, false), 1, u32::MAX, &LOCK_COMMANDS),
            when(copy_of(Kind::Flock, i, true), 1, u32::MAX, &LOCK_QUERIES),
        ],
        IoctlArg => vec![when(copy_of(Kind::WaitStatus, i, false), 1, u32::MAX, &IOCTL_INTS)],
        FutexTimeout => vec![when(copy_of(Kind::Timespec, i, false), 1, 0x7f, &FUTEX_TIMED)],
        // The name PR_SET_NAME sets and PR_GET_NAME gets (TASK_COMM_LEN).
        PrctlArg if i == 1 => vec![
            when(
                CopySpec { elem: 16, max: 16, ..copy_of(Kind::Sigset, i, false) },
                0,
                u32::MAX,
                &[libc::PR_SET_NAME as u32],
            ),
            when(
                CopySpec { elem: 16, max: 16, ..copy_of(Kind::Sigset, i, true) },
                0,
                u32::MAX,
                &[libc::PR_GET_NAME as u32],
            ),
        ],
        EnvCount => {
            vec![CopySpec { arg: i as u8 + 1, flags: CopySpec::COUNT_POINTERS, max: 8 * 1024, ..Default::default() }]
        }
        SigFrame => vec![CopySpec {
            arg: CopySpec::STACK,
            count: CopySpec::ONE,
            elem: 8,
            max: 8,
            offset: layout::SIGFRAME_MASK,
            ..Default::default()
        }],
        _ => vec![],
    }
}

/// The inode numbers of the fds a call makes: of the int[2] argument `arg`
/// (stored plus one) points at, or CopySpec::RETURNED_FD.
fn fd_inodes(arg: u8) -> CopySpec {
    CopySpec { arg, flags: CopySpec::FD_INODES | CopySpec::AT_EXIT, ..Default::default() }
}

/// The calls that return a new socket, whose inode number the kernel reads
/// (`socket:[1234]`, for fd paths: the fd may be gone when the daemon reads
/// the call).
const NEW_SOCKETS: [Sysno; 3] = [Sysno::socket, Sysno::accept, Sysno::accept4];

/// Whether a copy is a count (a walk, not a copy).
fn counts(c: &CopySpec) -> bool {
    c.flags & (CopySpec::COUNT_POINTERS | CopySpec::COUNT_RECORDS) != 0
}

fn spec_of(nr: i32, types: &[Ty]) -> Option<CaptureSpec> {
    let at = |i: usize| i as u8 + 1;
    let mut s = CaptureSpec::default();
    // A count goes first: the kernel makes only the first copy a count
    // (its loop is verified once that way).
    let mut all = all_copies(nr, types);
    all.sort_by_key(|c| !counts(c));
    for (slot, c) in s.copies.iter_mut().zip(all) {
        *slot = c; // the table's test checks no call needs more
    }
    for (i, t) in types.iter().enumerate() {
        match *t {
            Path | Str => s.strings |= 1 << i,
            Argv => s.argv = at(i),
            AddrIn { len } => (s.addr_in, s.addr_in_len) = (at(i), at(len as usize)),
            AddrOut { len } => (s.addr_out, s.addr_out_len) = (at(i), at(len as usize)),
            BufIn { len } => (s.buf_in, s.buf_in_len) = (at(i), at(len as usize)),
            BufOut | Random => s.buf_out = at(i),
            _ => {}
        }
    }
    let s = s.sealed();
    (s.when != 0).then_some(s)
}

/// Every copy syscall `nr` with these types asks for (the kernel has room
/// for COPIES).
fn all_copies(nr: i32, types: &[Ty]) -> Vec<CopySpec> {
    let mut all: Vec<CopySpec> = types.iter().enumerate().flat_map(|(i, &t)| copies(t, i)).collect();
    if NEW_SOCKETS.iter().any(|s| s.id() == nr) {
        all.push(fd_inodes(CopySpec::RETURNED_FD));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_the_kernels_signatures() {
        for (sysno, types) in SPECIAL.iter().chain(arch::SPECIAL) {
            // Without one, a call is shown with six raw registers.
            let sig = signature(sysno.id()).unwrap_or_else(|| panic!("{} has no signature", sysno.name()));
            if *sysno == Sysno::rt_sigreturn {
                continue; // its one "argument" is the signal frame
            }
            assert_eq!(types.len(), sig.args.len(), "{} takes {} arguments", sysno.name(), sig.args.len());
            let all = all_copies(sysno.id(), types);
            assert!(all.len() <= COPIES, "{} needs more than {COPIES} copies", sysno.name());
            assert!(
                all.iter().filter(|c| counts(c)).count() <= 1,
                "{}: the kernel makes one count a call",
                sysno.name()
            );
        }
    }

    #[test]
    fn struct_copies_follow_the_types() {
        let get = |s: Sysno| capture_spec(s.id()).unwrap();
        let stat = get(Sysno::newfstatat);
        assert_eq!((stat.strings, stat.when), (0b10, CaptureSpec::AT_ENTRY | CaptureSpec::AT_EXIT));
        assert_eq!(
            stat.copies[0],
            CopySpec { arg: 3, flags: CopySpec::AT_EXIT, elem: layout::STAT, max: layout::STAT, ..Default::default() }
        );
        let sa = get(Sysno::rt_sigaction);
        assert_eq!(
            (sa.copies[0].arg, sa.copies[0].at_exit(), sa.copies[1].arg, sa.copies[1].at_exit()),
            (2, false, 3, true)
        );
        let poll = get(Sysno::poll);
        assert_eq!((poll.copies[0].count, poll.copies[0].elem), (CopySpec::arg_value(1), 8));
        assert!(poll.copies[1].at_exit());
        let fcntl = get(Sysno::fcntl);
        assert!(fcntl.copies[0].holds(libc::F_SETLK as u64) && !fcntl.copies[0].holds(libc::F_GETFL as u64));
        assert!(fcntl.copies[1].holds(libc::F_OFD_GETLK as u64) && !fcntl.copies[1].holds(libc::F_SETLK as u64));
        let futex = get(Sysno::futex);
        assert!(futex.copies[0].holds((libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG) as u64));
        assert!(!futex.copies[0].holds((libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as u64));
        let getsockopt = get(Sysno::getsockopt);
        assert_eq!(getsockopt.copies[0].count, CopySpec::pointed_u32(4));
        assert_eq!(get(Sysno::execve).copies[0].flags, CopySpec::COUNT_POINTERS);
        assert_eq!(get(Sysno::getdents64).copies[0].flags, CopySpec::COUNT_RECORDS | CopySpec::AT_EXIT);
        assert_eq!(get(Sysno::rt_sigreturn).copies[0].arg, CopySpec::STACK);
        assert!(capture_spec(Sysno::getppid.id()).is_none(), "a call that copies nothing has no spec");
        assert!(capture_spec(Sysno::close.id()).is_none());
        let inodes = |s: Sysno| get(s).copies.iter().find(|c| c.flags & CopySpec::FD_INODES != 0).map(|c| c.arg);
        assert_eq!(inodes(Sysno::accept4), Some(CopySpec::RETURNED_FD));
        assert_eq!(inodes(Sysno::pipe2), Some(1));
        assert_eq!(inodes(Sysno::socket), Some(CopySpec::RETURNED_FD));
    }

    #[test]
    fn capture_specs_follow_the_types() {
        let specs = capture_specs();
        let get = |s: Sysno| specs.iter().find(|(nr, _)| *nr == s.id()).map(|(_, spec)| *spec).unwrap();
        assert_eq!(get(Sysno::openat).strings, 0b10);
        assert_eq!(get(Sysno::renameat2).strings, 0b1010);
        let execve = get(Sysno::execve);
        assert_eq!((execve.strings, execve.argv), (0b1, 2));
        let connect = get(Sysno::connect);
        assert_eq!((connect.addr_in, connect.addr_in_len), (2, 3));
        let recvfrom = get(Sysno::recvfrom);
        assert_eq!((recvfrom.addr_out, recvfrom.addr_out_len, recvfrom.buf_out), (5, 6, 2));
        assert_eq!((get(Sysno::write).buf_in, get(Sysno::write).buf_in_len), (2, 3));
        assert!(specs.iter().all(|(nr, _)| *nr >= 0 && (*nr as u32) < strace_common::capture::CAPTURE_ENTRIES));
    }

    #[test]
    fn fds_and_raw_types_by_default() {
        assert_eq!(ty(Sysno::close.id(), 0), Fd);
        assert_eq!(ty(Sysno::fsync.id(), 0), Fd);
        assert_eq!(ty(Sysno::getppid.id(), 0), Raw(ArgKind::Hex));
    }
}
