//! fd → path, as `strace -y` shows it (`read(3</etc/hosts>, …)`), for the
//! watches that ask for it (`--fd-paths`, `?fd_paths=true`).
//!
//! Each such process has a table of its open fds, kept from the calls it
//! makes, in the order it makes them, at ingest: `open` and friends add
//! the path they opened (resolved in the process's root, as the kernel
//! names the file), `socket`, `pipe` and `accept` what `/proc/PID/fd`
//! names (`socket:[1234]`, read when the call is ingested), the calls that
//! make anonymous inodes their name (`anon_inode:[eventpoll]`), `dup` and
//! `fcntl(F_DUPFD)` a copy, `close` removes, `execve` closes the
//! close-on-exec ones, `rename` and `unlink` rename and mark deleted,
//! `chdir` moves the working directory. A watch seeds its table from
//! `/proc/PID/fd` when it begins; a followed child starts with its
//! parent's. Each call's capture then gets the paths its fd arguments had
//! at that call (and its returned fd's), as FD_PATH items.
//!
//! Bounded: at most MAX_FDS entries a process (the rest counted in `full`
//! and shown without a path), and a table goes with its watch.
use std::{
    collections::BTreeMap,
    fs,
    sync::{Arc, LazyLock},
};

use rustc_hash::FxHashMap;
use strace_common::{
    SyscallRecord,
    capture::{self, CaptureItem, Item, RETURNED},
};
use syscalls::Sysno;

use super::resolve::Root;

/// Open fds remembered per process at most.
pub const MAX_FDS: usize = 4096;

#[derive(Clone, Debug)]
struct Entry {
    path: Arc<str>,
    cloexec: bool,
}

#[derive(Clone, Debug)]
struct Table {
    fds: BTreeMap<i32, Entry>,
    cwd: Option<Arc<str>>,
    root: Option<Arc<Root>>,
}

/// What a watch's table starts from: `/proc/PID/fd`, its close-on-exec
/// flags and the working directory, read when the watch begins.
#[derive(Debug, Default)]
pub struct Seed {
    fds: Vec<(i32, String, bool)>,
    cwd: Option<String>,
    root: Option<Arc<Root>>,
}

impl Seed {
    /// Reads process `pid`'s fds from /proc (needs ptrace access, as
    /// /proc/PID/fd does; without it the table starts empty). Blocking.
    pub fn read(pid: u32) -> Seed {
        let mut fds = vec![];
        if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
            for e in dir.flatten() {
                let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
                let Ok(target) = fs::read_link(e.path()) else { continue };
                let cloexec = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok().is_some_and(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                        .is_some_and(|f| f & libc::O_CLOEXEC as u32 != 0)
                });
                fds.push((fd, target.to_string_lossy().into_owned(), cloexec));
            }
        }
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok().map(|p| p.to_string_lossy().into_owned());
        Seed { fds, cwd, root: Root::of(pid).map(Arc::new) }
    }
}

/// The fd tables of the processes whose watches show paths.
#[derive(Debug, Default)]
pub struct FdTables {
    by_pid: FxHashMap<u32, Table>,
    /// Tables as a fork copied them, by the child's pid, with the parent's,
    /// until the child's watch begins: the parent may change its own before
    /// the child's first call (which is when the daemon hears of the child).
    forks: FxHashMap<u32, (u32, Table)>,
    /// Fds not remembered because their process's table was full.
    pub full: u64,
}

/// Forks whose table is kept for a child not yet seen, at most.
const MAX_FORKS: usize = 1024;

impl FdTables {
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    pub fn is_on(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// Starts keeping `pid`'s table, from `seed`.
    pub fn start(&mut self, pid: u32, seed: Seed) {
        let mut t = Table { fds: BTreeMap::new(), cwd: seed.cwd.map(Into::into), root: seed.root };
        for (fd, path, cloexec) in seed.fds.into_iter().take(MAX_FDS) {
            t.fds.insert(fd, Entry { path: path.into(), cloexec });
        }
        self.by_pid.insert(pid, t);
    }

    /// A child forked from `parent` starts with its table as the fork
    /// copied it: kept when the parent's fork returned, if the daemon read
    /// that first, else the parent's now (the kernel wrote out the parent's
    /// calls before the fork, and its later ones come after the fork's own
    /// record). False if the parent keeps none.
    pub fn inherit(&mut self, parent: u32, child: u32) -> bool {
        // Kept for this parent's child: a pid reused since was another's.
        let t = match self.forks.remove(&child).filter(|(p, _)| *p == parent) {
            Some((_, t)) => t,
            None => match self.by_pid.get(&parent) {
                Some(t) => t.clone(),
                None => return false,
            },
        };
        self.by_pid.insert(child, t);
        true
    }

    pub fn forget(&mut self, pid: u32) {
        self.by_pid.remove(&pid);
        self.forks.remove(&pid);
    }

    /// The capture of a call `pid` is in now (`nr`, `args`), with the paths
    /// its fd arguments have now added: shown while it is in progress.
    pub fn in_progress(&self, pid: u32, nr: i32, args: &[u64; 6], capture: Option<Box<[u8]>>) -> Option<Box<[u8]>> {
        let Some(t) = self.by_pid.get(&pid) else { return capture };
        let region = capture.map(Vec::from).unwrap_or_default();
        let added = t.arg_paths(nr, args, &region);
        with_paths(region, &added).map(Vec::into_boxed_slice)
    }

    /// The call of `r` with its capture, with the paths of its fds added
    /// (as they were at the call), and its effect on the table applied.
    pub fn annotate(&mut self, r: &SyscallRecord, capture: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let Some(t) = self.by_pid.get_mut(&r.pid) else { return capture };
        let region = capture.unwrap_or_default();
        let returns = r.flags & SyscallRecord::NO_RETURN == 0;
        let ret = if returns { Some(r.ret) } else { None };
        let nr = r.nr;
        // The fd arguments, before the call changes anything.
        let mut added = t.arg_paths(nr, &r.args, &region);
        let full = effect(t, r.pid, nr, &r.args, ret, &region);
        self.full += full;
        // A new process: its table is this one as it is now, until its
        // watch begins.
        if let Some(child) = ret.filter(|&r| r > 0).map(|r| r as u32)
            && forks_process(nr, &r.args, &region)
            && !self.by_pid.contains_key(&child)
        {
            if self.forks.len() >= MAX_FORKS {
                self.forks.clear();
            }
            let t = self.by_pid.get(&r.pid).cloned();
            if let Some(t) = t {
                self.forks.insert(child, (r.pid, t));
            }
        }
        let Some(t) = self.by_pid.get_mut(&r.pid) else { return Some(region) };
        // What it returned or filled in, after.
        if let Some(ret) = ret.filter(|&r| r >= 0)
            && crate::syscall::returns_fd(nr, &r.args)
            && let Some(p) = t.path(ret as i32)
        {
            added.push((RETURNED, 0, p));
        }
        if let Some((i, pair)) = fd_pair(nr, &region, ret) {
            for (k, fd) in pair.into_iter().enumerate() {
                if let Some(p) = t.path(fd) {
                    added.push((i, k as u8, p));
                }
            }
        }
        with_paths(region, &added)
    }
}

/// `region` with an FD_PATH item for each of `added` (argument, index,
/// path); `None` if that leaves it empty.
fn with_paths(mut region: Vec<u8>, added: &[(u8, u8, Arc<str>)]) -> Option<Vec<u8>> {
    if !added.is_empty() {
        let items: Vec<(u8, u8, u8, u8, &[u8])> =
            added.iter().map(|(a, k, p)| (*a, CaptureItem::FD_PATH, 0, *k, p.as_bytes())).collect();
        region.extend_from_slice(&capture::build(&items));
    }
    (!region.is_empty()).then_some(region)
}

impl Table {
    /// The paths of the fd arguments of call `nr` (items: argument, index, path).
    fn arg_paths(&self, nr: i32, args: &[u64; 6], region: &[u8]) -> Vec<(u8, u8, Arc<str>)> {
        let mut added = vec![];
        for &(i, kind) in crate::syscall::fd_args(nr) {
            match kind {
                crate::syscall::FdArg::Fd => {
                    if let Some(p) = self.path(args[i] as u32 as i32) {
                        added.push((i as u8, 0, p));
                    }
                }
                crate::syscall::FdArg::DirFd => {
                    let fd = args[i] as u32 as i32;
                    let p = if fd == libc::AT_FDCWD { self.cwd.clone() } else { self.path(fd) };
                    if let Some(p) = p {
                        added.push((i as u8, 0, p));
                    }
                }
                crate::syscall::FdArg::Pollfds => {
                    if let Some(c) = copy_item(region, i, 0) {
                        for (k, pfd) in c.data.as_chunks::<8>().0.iter().enumerate().take(u8::MAX as usize) {
                            let fd = i32::from_ne_bytes([pfd[0], pfd[1], pfd[2], pfd[3]]);
                            if let Some(p) = self.path(fd) {
                                added.push((i as u8, k as u8, p));
                            }
                        }
                    }
                }
            }
        }
        added
    }

    fn path(&self, fd: i32) -> Option<Arc<str>> {
        self.fds.get(&fd).map(|e| e.path.clone())
    }

    /// Sets `fd`; false if the table is full.
    fn set(&mut self, fd: i32, path: Arc<str>, cloexec: bool) -> bool {
        if fd < 0 {
            return true;
        }
        if self.fds.len() >= MAX_FDS && !self.fds.contains_key(&fd) {
            return false;
        }
        self.fds.insert(fd, Entry { path, cloexec });
        true
    }

    /// `path` (of call argument dirfd `dirfd`) as the kernel names it.
    fn resolve(&self, pid: u32, dirfd: Option<i32>, path: &[u8], follow: bool) -> Option<Arc<str>> {
        let path = std::str::from_utf8(path).ok()?;
        let base = match dirfd {
            Some(fd) if fd != libc::AT_FDCWD => self.path(fd),
            _ => self.cwd.clone(),
        };
        let base = base.as_deref().filter(|b| b.starts_with('/'));
        match &self.root {
            Some(root) => root.resolve(pid, base, path, follow).map(Into::into),
            None => super::resolve::lexical(base, path).map(Into::into),
        }
    }
}

/// Whether the call made a new process (not a thread).
fn forks_process(nr: i32, args: &[u64; 6], region: &[u8]) -> bool {
    let thread = libc::CLONE_THREAD as u64;
    if nr == Sysno::clone.id() {
        args[0] & thread == 0
    } else if nr == Sysno::clone3.id() {
        copy_item(region, 0, 0)
            .and_then(|c| c.data.get(..8))
            .is_some_and(|f| u64::from_ne_bytes(f.try_into().unwrap_or_default()) & thread == 0)
    } else {
        let [.., fork, vfork] = *FORKS;
        nr == fork || nr == vfork
    }
}

/// clone, clone3, fork and vfork's numbers (-1: not on this architecture),
/// looked up once: the drain asks for every record that returned > 0.
static FORKS: LazyLock<[i32; 4]> = LazyLock::new(crate::syscall::fork_numbers);
/// pipe's number (-1: not on this architecture).
static PIPE: LazyLock<i32> = LazyLock::new(|| "pipe".parse::<Sysno>().map_or(-1, |s| s.id()));

/// The copy a CopySpec made of argument `i` (at entry: 0, at exit: 1).
fn copy_item(region: &[u8], i: usize, index: u8) -> Option<Item<'_>> {
    capture::items(region)
        .find(|x| x.arg as usize == i && x.kind == CaptureItem::COPY && x.index == index && !x.fault())
}

/// The string argument `i` (a path), if copied whole.
fn string_arg(region: &[u8], i: usize) -> Option<&[u8]> {
    capture::find(region, i, CaptureItem::STRING).filter(|s| !s.fault() && !s.truncated()).map(|s| s.data)
}

/// The two fds `pipe`, `pipe2` and `socketpair` filled in, and their argument.
fn fd_pair(nr: i32, region: &[u8], ret: Option<i64>) -> Option<(u8, [i32; 2])> {
    ret.filter(|&r| r == 0)?;
    let arg = if nr == Sysno::socketpair.id() {
        3
    } else if nr == Sysno::pipe2.id() || nr == *PIPE {
        0
    } else {
        return None;
    };
    let c = copy_item(region, arg, 1).filter(|c| c.data.len() >= 8)?;
    let fd = |o: usize| i32::from_ne_bytes([c.data[o], c.data[o + 1], c.data[o + 2], c.data[o + 3]]);
    Some((arg as u8, [fd(0), fd(4)]))
}

/// What the kernel names a new socket or pipe: `socket:[1234]`, from the
/// inode number it read at the call (`k`th of argument `arg`'s, or of the
/// returned fd), else what `/proc/PID/fd/N` names now, if the fd is still
/// open and still of that kind.
fn new_inode(region: &[u8], arg: u8, k: usize, pid: u32, fd: i32, prefix: &str) -> Option<Arc<str>> {
    let ino = capture::items(region)
        .find(|x| x.arg == arg && x.kind == CaptureItem::INODES)
        .and_then(|x| x.data.get(8 * k..8 * k + 8))
        .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
        .filter(|&ino| ino != 0);
    if let Some(ino) = ino {
        return Some(format!("{prefix}[{ino}]").into());
    }
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let s = target.to_string_lossy();
    s.starts_with(prefix).then(|| s.as_ref().into())
}

/// Applies the call's effect on the table; returns how many fds it could
/// not remember (the table was full).
fn effect(t: &mut Table, pid: u32, nr: i32, args: &[u64; 6], ret: Option<i64>, region: &[u8]) -> u64 {
    let Some(ret) = ret else { return 0 };
    let fd = |i: usize| args[i] as u32 as i32;
    let mut full = 0;
    let mut set = |t: &mut Table, fd: i32, path: Option<Arc<str>>, cloexec: bool| {
        if let Some(p) = path
            && !t.set(fd, p, cloexec)
        {
            full += 1;
        }
    };
    let s = Sysno::new(nr as usize);
    let ok = ret >= 0;
    let cloexec_of = |flags: u64| flags & libc::O_CLOEXEC as u64 != 0;
    match s {
        Some(Sysno::openat) | Some(Sysno::openat2) if ok => {
            let flags = if s == Some(Sysno::openat) { args[2] } else { 0 };
            let follow = follows_last(flags);
            let p = string_arg(region, 1).and_then(|p| t.resolve(pid, Some(fd(0)), p, follow));
            set(t, ret as i32, p, cloexec_of(flags));
        }
        Some(Sysno::socket) | Some(Sysno::accept) | Some(Sysno::accept4) if ok => {
            let cloexec = match s {
                Some(Sysno::socket) => args[1] & libc::SOCK_CLOEXEC as u64 != 0,
                Some(Sysno::accept4) => args[3] & libc::SOCK_CLOEXEC as u64 != 0,
                _ => false,
            };
            set(t, ret as i32, new_inode(region, RETURNED, 0, pid, ret as i32, "socket:"), cloexec);
        }
        Some(Sysno::socketpair) | Some(Sysno::pipe2) if ok => {
            let (prefix, cloexec) = if s == Some(Sysno::socketpair) {
                ("socket:", args[1] & libc::SOCK_CLOEXEC as u64 != 0)
            } else {
                ("pipe:", cloexec_of(args[1]))
            };
            if let Some((arg, pair)) = fd_pair(nr, region, Some(ret)) {
                for (k, f) in pair.into_iter().enumerate() {
                    set(t, f, new_inode(region, arg, k, pid, f, prefix), cloexec);
                }
            }
        }
        Some(Sysno::dup) if ok => {
            let p = t.path(fd(0));
            set(t, ret as i32, p, false);
        }
        Some(Sysno::dup3) if ok => {
            let p = t.path(fd(0));
            set(t, fd(1), p, cloexec_of(args[2]));
        }
        Some(Sysno::fcntl) if ok => match args[1] as i32 {
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
                let p = t.path(fd(0));
                set(t, ret as i32, p, args[1] as i32 == libc::F_DUPFD_CLOEXEC);
            }
            libc::F_SETFD => {
                if let Some(e) = t.fds.get_mut(&fd(0)) {
                    e.cloexec = args[2] & libc::FD_CLOEXEC as u64 != 0;
                }
            }
            _ => {}
        },
        Some(Sysno::ioctl)
            if ok && matches!(args[1] as u32, x if x == libc::FIOCLEX as u32 || x == libc::FIONCLEX as u32) =>
        {
            if let Some(e) = t.fds.get_mut(&fd(0)) {
                e.cloexec = args[1] as u32 == libc::FIOCLEX as u32;
            }
        }
        // A close that failed with EINTR closed the fd all the same.
        Some(Sysno::close) if ok || ret == -(libc::EINTR as i64) => {
            t.fds.remove(&fd(0));
        }
        Some(Sysno::close_range) if ok => {
            let (first, last) = (args[0] as u32, args[1] as u32);
            let cloexec_only = args[2] & 4 != 0; // CLOSE_RANGE_CLOEXEC
            let range: Vec<i32> = t
                .fds
                .range(first.min(i32::MAX as u32) as i32..)
                .map(|(&f, _)| f)
                .take_while(|&f| f as u32 <= last)
                .collect();
            for f in range {
                if cloexec_only {
                    if let Some(e) = t.fds.get_mut(&f) {
                        e.cloexec = true;
                    }
                } else {
                    t.fds.remove(&f);
                }
            }
        }
        Some(Sysno::execve) | Some(Sysno::execveat) if ret == 0 => {
            t.fds.retain(|_, e| !e.cloexec);
        }
        Some(Sysno::chdir) if ok => {
            if let Some(p) = string_arg(region, 0).and_then(|p| t.resolve(pid, None, p, true)) {
                t.cwd = Some(p);
            }
        }
        Some(Sysno::fchdir) if ok => {
            if let Some(p) = t.path(fd(0)) {
                t.cwd = Some(p);
            }
        }
        Some(Sysno::renameat) | Some(Sysno::renameat2) if ok => {
            let old = string_arg(region, 1).and_then(|p| t.resolve(pid, Some(fd(0)), p, false));
            let new = string_arg(region, 3).and_then(|p| t.resolve(pid, Some(fd(2)), p, false));
            if let (Some(old), Some(new)) = (old, new) {
                renamed(t, &old, &new);
            }
        }
        Some(Sysno::unlinkat) if ok => {
            if let Some(p) = string_arg(region, 1).and_then(|p| t.resolve(pid, Some(fd(0)), p, false)) {
                deleted(t, &p);
            }
        }
        Some(Sysno::memfd_create) if ok => {
            let name = string_arg(region, 0).map(|n| String::from_utf8_lossy(n).into_owned());
            let p = name.map(|n| Arc::from(format!("/memfd:{n} (deleted)")));
            set(t, ret as i32, p, args[1] & libc::MFD_CLOEXEC as u64 != 0);
        }
        Some(other) if ok => {
            if let Some((name, cloexec)) = anon_inode(other, args) {
                set(t, ret as i32, Some(name.into()), cloexec);
            } else {
                legacy(t, pid, nr, args, ret, region, &mut set);
            }
        }
        _ => {}
    }
    full
}

/// Whether an open with `flags` followed a link in its path's last
/// component: not with O_NOFOLLOW, nor with O_CREAT|O_EXCL, which fails on
/// a link (so the file it made is there, whatever is there when the daemon
/// looks: git makes a file, then puts a link in its place to probe them).
fn follows_last(flags: u64) -> bool {
    let excl = (libc::O_CREAT | libc::O_EXCL) as u64;
    flags & libc::O_NOFOLLOW as u64 == 0 && flags & excl != excl
}

/// The calls that make an anonymous inode: its name, and whether it is
/// close-on-exec.
fn anon_inode(s: Sysno, args: &[u64; 6]) -> Option<(&'static str, bool)> {
    let cloexec = |i: usize| args[i] & libc::O_CLOEXEC as u64 != 0;
    Some(match s {
        Sysno::epoll_create1 => ("anon_inode:[eventpoll]", cloexec(0)),
        Sysno::eventfd2 => ("anon_inode:[eventfd]", cloexec(1)),
        Sysno::timerfd_create => ("anon_inode:[timerfd]", cloexec(1)),
        Sysno::signalfd4 if args[0] as u32 as i32 == -1 => ("anon_inode:[signalfd]", cloexec(3)),
        Sysno::inotify_init1 => ("anon_inode:inotify", cloexec(0)),
        Sysno::pidfd_open => ("anon_inode:[pidfd]", true),
        Sysno::userfaultfd => ("anon_inode:[userfaultfd]", cloexec(0)),
        Sysno::fanotify_init => ("anon_inode:[fanotify]", cloexec(0)),
        _ => return None,
    })
}

/// The older calls only some architectures have (x86_64's open, dup2, …).
#[cfg(target_arch = "x86_64")]
fn legacy(
    t: &mut Table,
    pid: u32,
    nr: i32,
    args: &[u64; 6],
    ret: i64,
    region: &[u8],
    set: &mut impl FnMut(&mut Table, i32, Option<Arc<str>>, bool),
) {
    let fd = |i: usize| args[i] as u32 as i32;
    match Sysno::new(nr as usize) {
        Some(Sysno::open) => {
            let p = string_arg(region, 0).and_then(|p| t.resolve(pid, None, p, follows_last(args[1])));
            set(t, ret as i32, p, args[1] & libc::O_CLOEXEC as u64 != 0);
        }
        Some(Sysno::creat) => {
            let p = string_arg(region, 0).and_then(|p| t.resolve(pid, None, p, true));
            set(t, ret as i32, p, false);
        }
        Some(Sysno::dup2) => {
            let p = t.path(fd(0));
            set(t, fd(1), p, false);
        }
        Some(Sysno::pipe) => {
            if let Some((arg, pair)) = fd_pair(nr, region, Some(ret)) {
                for (k, f) in pair.into_iter().enumerate() {
                    set(t, f, new_inode(region, arg, k, pid, f, "pipe:"), false);
                }
            }
        }
        Some(Sysno::epoll_create) => set(t, ret as i32, Some("anon_inode:[eventpoll]".into()), false),
        Some(Sysno::eventfd) => set(t, ret as i32, Some("anon_inode:[eventfd]".into()), false),
        Some(Sysno::signalfd) if fd(0) == -1 => set(t, ret as i32, Some("anon_inode:[signalfd]".into()), false),
        Some(Sysno::inotify_init) => set(t, ret as i32, Some("anon_inode:inotify".into()), false),
        Some(Sysno::rename) => {
            let old = string_arg(region, 0).and_then(|p| t.resolve(pid, None, p, false));
            let new = string_arg(region, 1).and_then(|p| t.resolve(pid, None, p, false));
            if let (Some(old), Some(new)) = (old, new) {
                renamed(t, &old, &new);
            }
        }
        Some(Sysno::unlink) | Some(Sysno::rmdir) => {
            if let Some(p) = string_arg(region, 0).and_then(|p| t.resolve(pid, None, p, false)) {
                deleted(t, &p);
            }
        }
        _ => {}
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn legacy(
    _t: &mut Table,
    _pid: u32,
    _nr: i32,
    _args: &[u64; 6],
    _ret: i64,
    _region: &[u8],
    _set: &mut impl FnMut(&mut Table, i32, Option<Arc<str>>, bool),
) {
}

/// A rename: the fds open on `old`, or below it, now name `new`.
fn renamed(t: &mut Table, old: &str, new: &str) {
    let rename = |p: &Arc<str>| -> Option<Arc<str>> {
        if p.as_ref() == old {
            Some(new.into())
        } else {
            p.strip_prefix(old).filter(|rest| rest.starts_with('/')).map(|rest| format!("{new}{rest}").into())
        }
    };
    for e in t.fds.values_mut() {
        if let Some(p) = rename(&e.path) {
            e.path = p;
        }
    }
    if let Some(p) = t.cwd.as_ref().and_then(rename) {
        t.cwd = Some(p);
    }
}

/// An unlink: the fds open on `path` name a deleted file, as the kernel
/// shows them.
fn deleted(t: &mut Table, path: &str) {
    for e in t.fds.values_mut() {
        if e.path.as_ref() == path {
            e.path = format!("{path} (deleted)").into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strace_common::RecordKind;

    fn rec(pid: u32, nr: Sysno, args: [u64; 6], ret: i64) -> SyscallRecord {
        SyscallRecord { kind: RecordKind::Syscall as u16, nr: nr.id(), pid, tid: pid, ret, args, ..Default::default() }
    }

    fn paths(region: &Option<Vec<u8>>) -> Vec<(u8, u8, String)> {
        capture::items(region.as_deref().unwrap_or_default())
            .filter(|i| i.kind == CaptureItem::FD_PATH)
            .map(|i| (i.arg, i.index, String::from_utf8_lossy(i.data).into_owned()))
            .collect()
    }

    fn tables(pid: u32) -> FdTables {
        let mut t = FdTables::default();
        t.start(pid, Seed { fds: vec![(0, "/dev/null".into(), false)], cwd: Some("/".into()), root: None });
        t
    }

    #[test]
    fn opens_dups_and_closes_in_call_order() {
        let mut t = tables(7);
        let cwd = libc::AT_FDCWD as u32 as u64;
        let open = capture::build(&[(1, CaptureItem::STRING, 0, 0, b"/etc/hosts")]);
        let o = t.annotate(&rec(7, Sysno::openat, [cwd, 1, libc::O_CLOEXEC as u64, 0, 0, 0], 3), Some(open));
        assert_eq!(paths(&o), [(0, 0, "/".into()), (RETURNED, 0, "/etc/hosts".into())]);
        let blocked = t.in_progress(7, Sysno::read.id(), &[3, 0, 1, 0, 0, 0], None).map(Vec::from);
        assert_eq!(paths(&blocked), [(0, 0, "/etc/hosts".into())], "a call in progress, as the fds are now");
        let d = t.annotate(&rec(7, Sysno::dup3, [3, 0, 0, 0, 0, 0], 0), None);
        assert_eq!(
            paths(&d),
            [(0, 0, "/etc/hosts".into()), (1, 0, "/dev/null".into()), (RETURNED, 0, "/etc/hosts".into())],
            "the arguments before the call, what it returned after"
        );
        let r = t.annotate(&rec(7, Sysno::read, [0, 0, 1, 0, 0, 0], 1), None);
        assert_eq!(paths(&r), [(0, 0, "/etc/hosts".into())], "after it");
        t.annotate(&rec(7, Sysno::close, [3, 0, 0, 0, 0, 0], 0), None);
        assert!(paths(&t.annotate(&rec(7, Sysno::read, [3, 0, 1, 0, 0, 0], -9), None)).is_empty());
        // execve closes the close-on-exec ones.
        t.annotate(&rec(7, Sysno::fcntl, [0, libc::F_SETFD as u64, 1, 0, 0, 0], 0), None);
        t.annotate(&rec(7, Sysno::execve, [0; 6], 0), None);
        assert!(paths(&t.annotate(&rec(7, Sysno::read, [0, 0, 1, 0, 0, 0], 1), None)).is_empty());
    }

    #[test]
    fn relative_paths_renames_and_children() {
        let mut t = tables(8);
        let cwd = libc::AT_FDCWD as u32 as u64;
        let chdir = capture::build(&[(0, CaptureItem::STRING, 0, 0, b"/tmp/x")]);
        t.annotate(&rec(8, Sysno::chdir, [1, 0, 0, 0, 0, 0], 0), Some(chdir));
        let open = capture::build(&[(1, CaptureItem::STRING, 0, 0, b"a/../b.lock")]);
        t.annotate(&rec(8, Sysno::openat, [cwd, 1, 0, 0, 0, 0], 4), Some(open));
        let rename = capture::build(&[(1, CaptureItem::STRING, 0, 0, b"b.lock"), (3, CaptureItem::STRING, 0, 0, b"b")]);
        t.annotate(&rec(8, Sysno::renameat2, [cwd, 1, cwd, 2, 0, 0], 0), Some(rename));
        assert!(t.inherit(8, 9));
        let c = t.annotate(&rec(9, Sysno::close, [4, 0, 0, 0, 0, 0], 0), None);
        assert_eq!(paths(&c), [(0, 0, "/tmp/x/b".into())]);
        // A fork the daemon reads before the child's first call: the child
        // gets the table as it was then, not as the parent changed it since.
        t.annotate(&rec(8, Sysno::clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0], 12), None);
        t.annotate(&rec(8, Sysno::close, [4, 0, 0, 0, 0, 0], 0), None);
        assert!(t.inherit(8, 12));
        assert_eq!(
            paths(&t.annotate(&rec(12, Sysno::close, [4, 0, 0, 0, 0, 0], 0), None)),
            [(0, 0, "/tmp/x/b".into())]
        );
        assert!(!t.inherit(10, 11));
        // A table kept for pid 13, forked by 8: not another parent's child 13.
        t.annotate(&rec(8, Sysno::clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0], 13), None);
        assert!(!t.inherit(10, 13), "pid 13 reused: its parent 10 keeps no table");
        let e = t.annotate(&rec(8, Sysno::epoll_create1, [libc::O_CLOEXEC as u64, 0, 0, 0, 0, 0], 5), None);
        assert_eq!(paths(&e), [(RETURNED, 0, "anon_inode:[eventpoll]".into())]);
    }

    #[test]
    fn exclusive_creates_and_nofollow_do_not_follow_the_last_link() {
        assert!(follows_last(libc::O_RDONLY as u64));
        assert!(follows_last(libc::O_CREAT as u64));
        assert!(!follows_last((libc::O_CREAT | libc::O_EXCL | libc::O_RDWR) as u64));
        assert!(!follows_last(libc::O_NOFOLLOW as u64));
    }

    #[test]
    fn tables_are_bounded() {
        let mut t = FdTables::default();
        t.start(3, Seed::default());
        let cwd = libc::AT_FDCWD as u32 as u64;
        for fd in 0..MAX_FDS as i64 + 10 {
            let open = capture::build(&[(1, CaptureItem::STRING, 0, 0, b"/f")]);
            t.annotate(&rec(3, Sysno::openat, [cwd, 1, 0, 0, 0, 0], fd), Some(open));
        }
        assert_eq!(t.full, 10);
        t.forget(3);
        assert!(t.is_empty());
    }
}
