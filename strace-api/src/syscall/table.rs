//! What the arguments of the calls people debug mean, beyond their C types:
//! which are paths, flags, fds, socket addresses, data buffers. Calls not
//! listed are shown from their signature's C types. Keyed by `Sysno`, so the
//! table holds for every architecture the `syscalls` crate knows.
use std::{collections::HashMap, sync::LazyLock};

use strace_common::capture::CaptureSpec;
use syscalls::Sysno;

use super::{ArgKind, arch, signature};

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
    /// The environment array: only its address (strace: `/* N vars */`).
    Envp,
    OpenFlags,
    /// The mode of `open`/`openat`: shown only when the flags use it.
    OpenMode,
    Mode,
    AtFlags,
    AccessMode,
    Prot,
    MmapFlags,
    CloneFlags,
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
    /// A file offset: hex unless 0 (as strace prints mmap's).
    Offset,
    /// By its C type alone.
    Raw(ArgKind),
}

impl Ty {
    /// Filled by the kernel: not known while the call is in progress.
    pub fn is_output(self) -> bool {
        matches!(self, Ty::AddrOut { .. } | Ty::BufOut | Ty::Out)
    }
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
    (Sysno::statx, &[DirFd, Path, AtFlags, Raw(ArgKind::Hex), Out]),
    (Sysno::fstat, &[Fd, Out]),
    (Sysno::faccessat, &[DirFd, Path, AccessMode]),
    (Sysno::faccessat2, &[DirFd, Path, AccessMode, AtFlags]),
    (Sysno::readlinkat, &[DirFd, Path, Out, Raw(ArgKind::Int)]),
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
    (Sysno::fchownat, &[DirFd, Path, Raw(ArgKind::UInt), Raw(ArgKind::UInt), AtFlags]),
    (Sysno::truncate, &[Path, Raw(ArgKind::Long)]),
    (Sysno::mount, &[Path, Path, Path, Raw(ArgKind::Hex), Raw(ArgKind::Pointer)]),
    (Sysno::umount2, &[Path, Raw(ArgKind::Hex)]),
    (Sysno::execve, &[Path, Argv, Envp]),
    (Sysno::execveat, &[DirFd, Path, Argv, Envp, AtFlags]),
    (Sysno::socket, &[Domain, SockType, Raw(ArgKind::Int)]),
    (Sysno::socketpair, &[Domain, SockType, Raw(ArgKind::Int), Out]),
    (Sysno::connect, &[Fd, AddrIn { len: 2 }, Raw(ArgKind::Int)]),
    (Sysno::bind, &[Fd, AddrIn { len: 2 }, Raw(ArgKind::Int)]),
    (Sysno::accept, &[Fd, AddrOut { len: 2 }, Raw(ArgKind::Pointer)]),
    (Sysno::accept4, &[Fd, AddrOut { len: 2 }, Raw(ArgKind::Pointer), SockFlags]),
    (Sysno::getsockname, &[Fd, AddrOut { len: 2 }, Raw(ArgKind::Pointer)]),
    (Sysno::getpeername, &[Fd, AddrOut { len: 2 }, Raw(ArgKind::Pointer)]),
    (Sysno::sendto, &[Fd, BufIn { len: 2 }, Raw(ArgKind::ULong), MsgFlags, AddrIn { len: 5 }, Raw(ArgKind::Int)]),
    (Sysno::recvfrom, &[Fd, BufOut, Raw(ArgKind::ULong), MsgFlags, AddrOut { len: 5 }, Raw(ArgKind::Pointer)]),
    (Sysno::mmap, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong), Prot, MmapFlags, Fd, Offset]),
    (Sysno::mprotect, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong), Prot]),
    (Sysno::munmap, &[Raw(ArgKind::Pointer), Raw(ArgKind::ULong)]),
    (Sysno::brk, &[Raw(ArgKind::Pointer)]),
    (Sysno::clone, &[CloneFlags, Raw(ArgKind::Pointer), Raw(ArgKind::Pointer), Raw(ArgKind::Pointer), Raw(ArgKind::Pointer)]),
    (Sysno::fcntl, &[Fd, FcntlCmd, FcntlArg]),
    (Sysno::ioctl, &[Fd, IoctlCmd, Raw(ArgKind::Hex)]),
    (Sysno::prlimit64, &[Raw(ArgKind::Int), Resource, Raw(ArgKind::Pointer), Out]),
    (Sysno::getrlimit, &[Resource, Out]),
    (Sysno::setrlimit, &[Resource, Raw(ArgKind::Pointer)]),
    (Sysno::kill, &[Raw(ArgKind::Int), Signal]),
    (Sysno::tkill, &[Raw(ArgKind::Int), Signal]),
    (Sysno::tgkill, &[Raw(ArgKind::Int), Raw(ArgKind::Int), Signal]),
    (Sysno::rt_sigaction, &[Signal, Raw(ArgKind::Pointer), Out, Raw(ArgKind::ULong)]),
    (Sysno::rt_sigprocmask, &[SigHow, Raw(ArgKind::Pointer), Out, Raw(ArgKind::ULong)]),
    (Sysno::wait4, &[Raw(ArgKind::Int), Out, WaitOptions, Out]),
    (Sysno::waitid, &[Raw(ArgKind::Int), Raw(ArgKind::Int), Out, WaitOptions, Out]),
    (Sysno::nanosleep, &[Raw(ArgKind::Pointer), Out]),
    (Sysno::clock_nanosleep, &[ClockId, TimerFlags, Raw(ArgKind::Pointer), Out]),
    (Sysno::clock_gettime, &[ClockId, Out]),
    (Sysno::pipe2, &[Out, OFlags]),
    (Sysno::umask, &[Mode]),
    (Sysno::mknodat, &[DirFd, Path, NodeMode, NodeDev]),
    (Sysno::getdents64, &[Fd, Out, Raw(ArgKind::UInt)]),
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
        ArgKind::Int | ArgKind::UInt if arg.name == "fd" => Fd,
        kind => Raw(kind),
    }
}

/// What the kernel must capture for each syscall, from the types above.
pub fn capture_specs() -> Vec<(i32, CaptureSpec)> {
    let mut specs: Vec<_> = TYPES.iter().filter_map(|(&nr, types)| spec_of(types).map(|s| (nr, s))).collect();
    specs.sort_by_key(|&(nr, _)| nr);
    specs
}

/// What the kernel captures of syscall `nr`'s arguments, if anything.
pub fn capture_spec(nr: i32) -> Option<CaptureSpec> {
    TYPES.get(&nr).and_then(|types| spec_of(types))
}

fn spec_of(types: &[Ty]) -> Option<CaptureSpec> {
    let at = |i: usize| i as u8 + 1;
    let mut s = CaptureSpec::default();
    for (i, t) in types.iter().enumerate() {
        match *t {
            Path => s.strings |= 1 << i,
            Argv => s.argv = at(i),
            AddrIn { len } => (s.addr_in, s.addr_in_len) = (at(i), at(len as usize)),
            AddrOut { len } => (s.addr_out, s.addr_out_len) = (at(i), at(len as usize)),
            BufIn { len } => (s.buf_in, s.buf_in_len) = (at(i), at(len as usize)),
            BufOut => s.buf_out = at(i),
            _ => {}
        }
    }
    (s != CaptureSpec::default()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_the_kernels_signatures() {
        for (sysno, types) in SPECIAL.iter().chain(arch::SPECIAL) {
            // Without one, a call is shown with six raw registers.
            let sig = signature(sysno.id()).unwrap_or_else(|| panic!("{} has no signature", sysno.name()));
            assert_eq!(types.len(), sig.args.len(), "{} takes {} arguments", sysno.name(), sig.args.len());
        }
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
