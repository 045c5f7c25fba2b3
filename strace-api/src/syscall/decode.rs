//! Arguments decoded: strace-style text for the line, and a typed value for
//! JSON, so a dashboard never parses the text.
use serde::Serialize;
use serde_json::{Value, json};
use strace_common::capture::{self, CaptureItem, Item};
use syscalls::Sysno;

use super::{
    ArgKind, Call, flags, format_arg, quote, quote_hex, string_limit, structs,
    table::{self, Kind, Ty, ty},
};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decoded {
    /// The kernel's parameter name.
    pub name: &'static str,
    /// `fd`, `path`, `argv`, `flags`, `enum`, `mode`, `signal`, `sockaddr`,
    /// `bytes`, `device` (`{"major", "minor"}`), `int`, `uint`, `pointer`,
    /// `hex`, `string`, or a struct's kind (`stat`, `sigaction`, …: see
    /// `kind_name`) with an object or array as its value.
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub value: Value,
    /// The path of an fd (`--fd-paths`), as `strace -y` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The copied string or data went on beyond what was copied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The kernel could not read what the pointer points at (NULL, unmapped,
    /// or not paged in when the call started).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
    /// The string was not UTF-8: `value` is written with strace's escapes
    /// (`\377`), so no byte is lost.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub escaped: bool,
    /// How the line shows it.
    #[serde(skip)]
    pub text: String,
    /// Not shown in the line (strace omits open's mode without O_CREAT).
    #[serde(skip)]
    pub hidden: bool,
    /// Filled by the kernel (not known while the call is in progress).
    #[serde(skip)]
    pub output: bool,
    /// Where the line shows it, when not in argument order (`clone`).
    #[serde(skip)]
    pub order: u8,
}

/// The arguments of `ev`: as many as its syscall takes (six when unknown).
pub fn decode(ev: &(impl Call + ?Sized)) -> Vec<Decoded> {
    if ev.args_lost() {
        return vec![];
    }
    let sig = super::signature(ev.nr());
    let arity = table::arity(ev.nr()).unwrap_or(6);
    (0..arity)
        .map(|i| {
            let name = sig.and_then(|s| s.args.get(i)).map_or(ARG_NAMES[i], |a| a.name);
            let t = ty(ev.nr(), i);
            let mut d = one(ev, i, t);
            d.name = if t == Ty::SigFrame { "frame" } else { name };
            d.output |= t.is_output();
            if d.order == BY_POSITION {
                d.order = i as u8;
            }
            if t == Ty::OpenMode {
                let flags_at = (0..arity).find(|&j| ty(ev.nr(), j) == Ty::OpenFlags);
                d.hidden = flags_at.is_some_and(|j| !flags::open_uses_mode(ev.args()[j]));
            }
            d
        })
        .collect()
}

/// `Decoded::order` of an argument shown where it is.
const BY_POSITION: u8 = u8::MAX;

const ARG_NAMES: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

pub(super) fn d(ty: &'static str, value: Value, text: String) -> Decoded {
    Decoded {
        name: "",
        ty,
        value,
        path: None,
        truncated: false,
        unreadable: false,
        escaped: false,
        text,
        hidden: false,
        output: false,
        order: BY_POSITION,
    }
}

fn names(ty: &'static str, names: Vec<String>) -> Decoded {
    let text = names.join("|");
    d(ty, json!(names), text)
}

/// `raw` by its name in `table`, or as a number.
fn named(raw: u64, table: flags::Table) -> Decoded {
    match flags::name(raw, table) {
        Some(n) => d("enum", json!(n), n.into()),
        None => d("int", json!(raw as i64), (raw as i64).to_string()),
    }
}

fn pointer(raw: u64) -> Decoded {
    match raw {
        0 => d("pointer", Value::Null, "NULL".into()),
        p => d("pointer", json!(format!("{p:#x}")), format!("{p:#x}")),
    }
}

fn hidden(mut x: Decoded) -> Decoded {
    x.hidden = true;
    x
}

/// The copy a CopySpec made of argument `i`: at entry or at exit.
fn copy_of(ev: &(impl Call + ?Sized), i: usize, at_exit: bool) -> Option<Item<'_>> {
    capture::items(ev.capture())
        .find(|x| x.arg as usize == i && x.kind == CaptureItem::COPY && x.index == at_exit as u8)
}

/// A string shown up to the string limit (`--capture-bytes`, as strace's
/// `-s`): not paths, which strace shows whole.
fn limited(bytes: &[u8], truncated: bool) -> (&[u8], bool) {
    match string_limit() {
        Some(limit) if bytes.len() > limit => (&bytes[..limit], true),
        _ => (bytes, truncated),
    }
}

fn string(ty: &'static str, bytes: &[u8], truncated: bool) -> Decoded {
    let (value, escaped) = string_value(bytes);
    Decoded { truncated, escaped, ..d(ty, json!(value), quote(bytes, truncated)) }
}

fn one(ev: &(impl Call + ?Sized), i: usize, t: Ty) -> Decoded {
    let raw = ev.args()[i];
    let copied = |kind| capture::find(ev.capture(), i, kind).filter(|item| !item.fault());
    let faulted = |kind| capture::find(ev.capture(), i, kind).is_some_and(|item| item.fault());
    let unreadable = |kind| Decoded { unreadable: raw != 0 && faulted(kind), ..pointer(raw) };
    let op = || ev.args()[1];
    match t {
        Ty::Fd => with_path(ev, i, 0, d("fd", json!(raw as u32 as i32), (raw as u32 as i32).to_string())),
        Ty::DirFd if raw as u32 as i32 == libc::AT_FDCWD => {
            with_path(ev, i, 0, d("fd", json!("AT_FDCWD"), "AT_FDCWD".into()))
        }
        Ty::DirFd => one(ev, i, Ty::Fd),
        Ty::Path => match copied(CaptureItem::STRING) {
            Some(s) => string("path", s.data, s.truncated()),
            None => unreadable(CaptureItem::STRING),
        },
        Ty::Str => match copied(CaptureItem::STRING) {
            Some(s) => {
                let (b, truncated) = limited(s.data, s.truncated());
                string("string", b, truncated)
            }
            None => unreadable(CaptureItem::STRING),
        },
        Ty::Argv => argv(ev, i, raw),
        Ty::Out => pointer(raw),
        Ty::EnvCount => match copy_of(ev, i, false).filter(|c| c.data.len() == 4 && !c.fault()) {
            Some(c) => {
                let n = u32::from_ne_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]);
                let more = c.flags & CaptureItem::MORE != 0;
                let vars = format!("{n}{} var{}", if more { "+" } else { "" }, if n == 1 { "" } else { "s" });
                Decoded {
                    truncated: more,
                    ..d("envp", json!({"address": format!("{raw:#x}"), "count": n}), format!("{raw:#x} /* {vars} */"))
                }
            }
            None => pointer(raw),
        },
        Ty::OpenFlags => names("flags", flags::open_flags(raw)),
        Ty::OpenMode | Ty::Mode => {
            let m = format_arg(ArgKind::Mode, raw);
            d("mode", json!(m), m.clone())
        }
        Ty::AtFlags => names("flags", flags::bits(raw as u32 as u64, flags::AT)),
        Ty::StatxFlags => names("flags", flags::statx_flags(raw)),
        Ty::AccessMode if raw == 0 => names("flags", vec!["F_OK".into()]),
        Ty::AccessMode => names("flags", flags::bits(raw, flags::ACCESS)),
        Ty::Prot if raw == 0 => names("flags", vec!["PROT_NONE".into()]),
        Ty::Prot => names("flags", flags::bits(raw, flags::PROT)),
        Ty::MmapFlags => names("flags", flags::mmap_flags(raw)),
        Ty::Domain => named(raw, flags::DOMAINS),
        Ty::SockType => names("flags", flags::socket_type(raw)),
        Ty::SockFlags => names("flags", flags::bits(raw, flags::SOCK_FLAGS)),
        Ty::OFlags => names("flags", flags::bits(raw, flags::OPEN)),
        Ty::FcntlCmd => named(raw, flags::FCNTL),
        Ty::FcntlArg => fcntl_arg(ev, i, op(), raw),
        Ty::IoctlCmd => match flags::name(raw as u32 as u64, flags::IOCTLS)
            .or_else(|| flags::name(raw as u32 as u64, flags::IOCTLS_SHARED))
        {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Hex, raw as u32 as u64),
        },
        // FICLONE's argument is the source fd.
        Ty::IoctlArg if op() as u32 == libc::FICLONE as u32 => one(ev, i, Ty::Fd),
        Ty::IoctlArg => match copy_of(ev, i, false).filter(|c| c.data.len() == 4) {
            Some(c) => {
                let v = i32::from_ne_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]);
                d("int", json!(v), format!("[{v}]"))
            }
            None => raw_arg(ArgKind::Hex, raw),
        },
        Ty::TimerFlags => names("flags", flags::bits(raw, flags::TIMER)),
        Ty::Resource => named(raw as u32 as u64, flags::RLIMITS),
        Ty::ArchCode => named(raw as u32 as u64, flags::ARCH_PRCTL),
        Ty::NodeMode => {
            let perms = format_arg(ArgKind::Mode, raw & 0o7777);
            let text = match flags::name(raw & libc::S_IFMT as u64, flags::FILE_TYPES) {
                Some(t) => format!("{t}|{perms}"),
                None => perms,
            };
            d("mode", json!(text), text.clone())
        }
        Ty::NodeDev => {
            let device = matches!(ev.args()[i - 1] as u32 & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK);
            let (text, value) = structs::makedev(raw);
            Decoded { hidden: !device, ..d("device", value, text) }
        }
        Ty::Signal => {
            let s = flags::signal(raw);
            d("signal", json!(s), s.clone())
        }
        Ty::WaitOptions => names("flags", flags::bits(raw, flags::WAIT)),
        Ty::MsgFlags => names("flags", flags::bits(raw, flags::MSG)),
        Ty::Whence => named(raw, flags::SEEK),
        Ty::SigHow => named(raw, flags::SIGPROCMASK),
        Ty::ClockId => named(raw, flags::CLOCKS),
        Ty::Named(table) => named(raw as u32 as u64, table),
        Ty::Bits(table) => names("flags", flags::bits(raw as u32 as u64, table)),
        Ty::Id => {
            let s = flags::id(raw);
            d("int", json!(if raw as u32 == u32::MAX { -1 } else { raw as u32 as i64 }), s)
        }
        Ty::Protocol => match flags::protocol(ev.args()[0], raw) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Int, raw),
        },
        Ty::SockLevel => match flags::name(raw as u32 as u64, flags::SOL) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Int, raw),
        },
        Ty::SockOpt => match flags::sockopt(ev.args()[1], raw) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Int, raw),
        },
        Ty::FutexOp => match flags::futex_op(raw) {
            Some(n) => d("enum", json!(n), n),
            None => d("hex", json!(format!("{:#x}", raw as u32)), format!("{:#x} /* FUTEX_??? */", raw as u32)),
        },
        Ty::FutexVal | Ty::FutexTimeout | Ty::FutexAddr2 | Ty::FutexVal3 => futex_arg(ev, i, t, raw),
        Ty::PrctlOption => match flags::prctl_option(raw) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Hex, raw),
        },
        Ty::PrctlArg => prctl_arg(ev, i, raw),
        Ty::CloneArg => clone_arg(ev, i, raw),
        Ty::SigFrame => match copy_of(ev, 0, false).filter(|c| c.data.len() == 8 && !c.fault()) {
            Some(c) => d(
                "sigframe",
                json!({"mask": flags::sigset_names(c.data)}),
                format!("{{mask={}}}", flags::sigset(c.data)),
            ),
            None => Decoded { hidden: true, ..d("sigframe", Value::Null, String::new()) },
        },
        Ty::AddrIn { .. } | Ty::AddrOut { .. } if raw == 0 => pointer(raw),
        Ty::AddrIn { .. } | Ty::AddrOut { .. } => match copied(CaptureItem::SOCKADDR) {
            Some(a) => {
                let (text, value) = super::sockaddr::decode(a.data);
                d("sockaddr", value, text)
            }
            None => unreadable(CaptureItem::SOCKADDR),
        },
        Ty::BufIn { .. } | Ty::BufOut => match copied(CaptureItem::BYTES) {
            Some(b) => bytes(b.data, b.truncated(), false),
            None => unreadable(CaptureItem::BYTES),
        },
        Ty::Random => match copied(CaptureItem::BYTES) {
            Some(b) => bytes(b.data, b.truncated(), true),
            None => unreadable(CaptureItem::BYTES),
        },
        Ty::In(kind) => struct_arg(ev, i, raw, kind, copy_of(ev, i, false)),
        Ty::Filled(kind) => struct_arg(ev, i, raw, kind, copy_of(ev, i, true)),
        Ty::InOut(Kind::SockLen) => socklen(ev, i, raw),
        Ty::InOut(kind) => struct_arg(ev, i, raw, kind, copy_of(ev, i, false)),
        Ty::Offset if raw == 0 => d("int", json!(0), "0".into()),
        Ty::Offset => d("int", json!(raw), format!("{raw:#x}")),
        Ty::Raw(kind) => raw_arg(kind, raw),
    }
}

/// The path the fd (or the `index`th of an array) of argument `i` had, if
/// known (`--fd-paths`): its text gets strace -y's `<path>`, its JSON `path`.
fn with_path(ev: &(impl Call + ?Sized), i: usize, index: u8, x: Decoded) -> Decoded {
    match fd_path(ev, i, index) {
        Some(p) => Decoded {
            text: format!("{}<{}>", x.text, super::fd_path_text(p)),
            path: Some(String::from_utf8_lossy(p).into_owned()),
            ..x
        },
        None => x,
    }
}

/// The FD_PATH item of argument `i` (`index`th fd), if any.
pub fn fd_path(ev: &(impl Call + ?Sized), i: usize, index: u8) -> Option<&[u8]> {
    capture::items(ev.capture())
        .find(|x| x.arg as usize == i && x.kind == CaptureItem::FD_PATH && x.index == index)
        .map(|x| x.data)
}

/// Copied data as strace quotes it (in hex for random bytes), `...` after
/// what went on.
fn bytes(data: &[u8], truncated: bool, force_hex: bool) -> Decoded {
    let text = if force_hex { quote_hex(data, truncated) } else { quote(data, truncated) };
    let inner = text[1..text.len() - if truncated { 4 } else { 1 }].to_string();
    Decoded { truncated, ..d("bytes", json!(inner), text) }
}

/// A struct, array or count argument of `kind`, from its copy: as strace
/// shows it, or the pointer when there is none (NULL, unreadable, a call
/// that failed, or one in progress whose output is not there yet).
fn struct_arg(ev: &(impl Call + ?Sized), arg: usize, raw: u64, kind: Kind, copy: Option<Item<'_>>) -> Decoded {
    let Some(c) = copy else { return pointer(raw) };
    if c.fault() {
        return Decoded { unreadable: true, ..pointer(raw) };
    }
    let ty = kind_name(kind);
    match kind {
        Kind::WaitStatus if ev.ret().is_none_or(|r| r <= 0) => pointer(raw),
        Kind::Rusage if ev.ret().is_none_or(|r| r <= 0) => pointer(raw),
        Kind::Dirents if c.data.len() == 4 => {
            let n = u32::from_ne_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]);
            if c.flags & CaptureItem::MORE != 0 {
                return pointer(raw); // not all counted: not strace's number
            }
            let entries = format!("{n} entr{}", if n == 1 { "y" } else { "ies" });
            d(ty, json!({"address": format!("{raw:#x}"), "entries": n}), format!("{raw:#x} /* {entries} */"))
        }
        Kind::Written => {
            // getcwd counts the NUL; readlink writes none.
            let data = c.data.strip_suffix(b"\0").unwrap_or(c.data);
            let data = match data.iter().position(|&b| b == 0) {
                Some(end) if ev.nr() == Sysno::getcwd.id() => &data[..end],
                _ => data,
            };
            if ev.nr() == Sysno::getcwd.id() {
                string("path", data, c.truncated())
            } else {
                let (b, truncated) = limited(data, c.truncated());
                string("string", b, truncated)
            }
        }
        Kind::FdPair if c.data.len() >= 8 => {
            let fd = |o: usize| i32::from_ne_bytes([c.data[o], c.data[o + 1], c.data[o + 2], c.data[o + 3]]);
            let one = |k: u8, fd: i32| match fd_path(ev, arg, k) {
                Some(p) => {
                    (format!("{fd}<{}>", super::fd_path_text(p)), json!({"fd": fd, "path": String::from_utf8_lossy(p)}))
                }
                None => (fd.to_string(), json!(fd)),
            };
            let ((a, av), (b, bv)) = (one(0, fd(0)), one(1, fd(4)));
            d(ty, json!([av, bv]), format!("[{a}, {b}]"))
        }
        Kind::Pollfds { .. } => {
            let paths: Vec<Option<String>> = (0..c.data.len() / 8)
                .map(|k| u8::try_from(k).ok().and_then(|k| fd_path(ev, arg, k)).map(super::fd_path_text))
                .collect();
            let (text, value) = structs::pollfds(c.data, c.truncated(), &paths);
            d(ty, value, text)
        }
        Kind::CloneArgs { .. } => match structs::decode(kind, c.data, c.truncated()) {
            Some((mut text, value)) => {
                let fl = c.data.get(..8).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default()));
                if let Some(ret) = ev.ret().filter(|&r| r > 0)
                    && fl & libc::CLONE_PARENT_SETTID as u64 != 0
                {
                    text.push_str(&format!(" => {{parent_tid={}}}", structs::parent_tid(ret)));
                }
                d(ty, value, text)
            }
            None => pointer(raw),
        },
        _ => match structs::decode(kind, c.data, c.truncated()) {
            Some((text, value)) => Decoded { truncated: c.truncated(), ..d(ty, value, text) },
            None => pointer(raw),
        },
    }
}

/// The JSON `type` of a struct argument.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Stat => "stat",
        Kind::Statx => "statx",
        Kind::Statfs => "statfs",
        Kind::Sigaction => "sigaction",
        Kind::Sigset => "sigset",
        Kind::Rlimit => "rlimit",
        Kind::Timespec => "timespec",
        Kind::Timespecs => "timespec_pair",
        Kind::Timeval => "timeval",
        Kind::Itimerspec => "itimerspec",
        Kind::Itimerval => "itimerval",
        Kind::Pollfds { .. } => "pollfds",
        Kind::WaitStatus => "wait_status",
        Kind::Rusage => "rusage",
        Kind::SockLen => "socklen",
        Kind::SockOptVal { .. } => "sockopt",
        Kind::FdPair => "fd_pair",
        Kind::Sysinfo => "sysinfo",
        Kind::Utsname => "utsname",
        Kind::Flock => "flock",
        Kind::CloneArgs { .. } => "clone_args",
        Kind::EpollEvent => "epoll_event",
        Kind::EpollEvents => "epoll_events",
        Kind::Iovecs { .. } => "iovecs",
        Kind::StackT => "stack_t",
        Kind::CpuMask | Kind::CpuMaskIn { .. } => "cpu_set",
        Kind::Dirents => "dirents",
        Kind::Written => "string",
        Kind::Msghdr => "msghdr",
    }
}

/// A socklen the kernel reads and rewrites: `[16]`, or `[128 => 16]` when
/// it changed.
fn socklen(ev: &(impl Call + ?Sized), i: usize, raw: u64) -> Decoded {
    let int = |c: Option<Item<'_>>| {
        c.filter(|c| c.data.len() == 4 && !c.fault())
            .map(|c| u32::from_ne_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]))
    };
    match (int(copy_of(ev, i, false)), int(copy_of(ev, i, true))) {
        (Some(a), Some(b)) if a != b => d("socklen", json!({"in": a, "out": b}), format!("[{a} => {b}]")),
        (_, Some(b)) => d("socklen", json!({"in": b, "out": b}), format!("[{b}]")),
        (Some(a), None) => d("socklen", json!({"in": a}), format!("[{a}]")),
        (None, None) => pointer(raw),
    }
}

/// `fcntl`'s argument after command `cmd`, as strace shows it.
fn fcntl_arg(ev: &(impl Call + ?Sized), i: usize, cmd: u64, raw: u64) -> Decoded {
    match cmd as i32 {
        libc::F_SETFL => names("flags", flags::open_flags(raw)),
        libc::F_SETFD => names("flags", flags::bits(raw, flags::FD_FLAGS)),
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC | libc::F_SETOWN | libc::F_SETPIPE_SZ => raw_arg(ArgKind::Int, raw),
        libc::F_SETLEASE => named(raw, flags::LEASES),
        libc::F_GETFD | libc::F_GETFL | libc::F_GETOWN | libc::F_GETLEASE | libc::F_GETPIPE_SZ | libc::F_GET_SEALS => {
            Decoded { hidden: true, ..raw_arg(ArgKind::Hex, raw) }
        }
        libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            match copy_of(ev, i, false).and_then(|c| structs::flock(c.data, false)) {
                Some((text, value)) => d("flock", value, text),
                None => pointer(raw),
            }
        }
        // What the kernel filled in (strace shows it at exit).
        libc::F_GETLK | libc::F_OFD_GETLK => match copy_of(ev, i, true).and_then(|c| structs::flock(c.data, true)) {
            Some((text, value)) => Decoded { output: true, ..d("flock", value, text) },
            None => match copy_of(ev, i, false).and_then(|c| structs::flock(c.data, false)) {
                Some((text, value)) => d("flock", value, text),
                None => pointer(raw),
            },
        },
        _ => raw_arg(ArgKind::Hex, raw),
    }
}

/// `futex`'s arguments after the operation: those the operation uses, as
/// strace shows them; the others hidden.
fn futex_arg(ev: &(impl Call + ?Sized), i: usize, t: Ty, raw: u64) -> Decoded {
    let op = ev.args()[1] as u32;
    let cmd = op & 0x7f;
    const WAIT: u32 = libc::FUTEX_WAIT as u32;
    const WAKE: u32 = libc::FUTEX_WAKE as u32;
    const FD: u32 = libc::FUTEX_FD as u32;
    const REQUEUE: u32 = libc::FUTEX_REQUEUE as u32;
    const CMP_REQUEUE: u32 = libc::FUTEX_CMP_REQUEUE as u32;
    const WAKE_OP: u32 = libc::FUTEX_WAKE_OP as u32;
    const LOCK_PI: u32 = libc::FUTEX_LOCK_PI as u32;
    const UNLOCK_PI: u32 = libc::FUTEX_UNLOCK_PI as u32;
    const TRYLOCK_PI: u32 = libc::FUTEX_TRYLOCK_PI as u32;
    const WAIT_BITSET: u32 = libc::FUTEX_WAIT_BITSET as u32;
    const WAKE_BITSET: u32 = libc::FUTEX_WAKE_BITSET as u32;
    const WAIT_REQUEUE_PI: u32 = libc::FUTEX_WAIT_REQUEUE_PI as u32;
    const CMP_REQUEUE_PI: u32 = libc::FUTEX_CMP_REQUEUE_PI as u32;
    const LOCK_PI2: u32 = 13;
    let uint = || raw_arg(ArgKind::UInt, raw);
    let timeout = || match copy_of(ev, i, false) {
        _ if raw == 0 => pointer(raw),
        Some(c) if !c.fault() => match structs::decode(Kind::Timespec, c.data, false) {
            Some((text, value)) => d("timespec", value, text),
            None => pointer(raw),
        },
        _ => pointer(raw),
    };
    let bitset = || match raw as u32 {
        u32::MAX => d("enum", json!("FUTEX_BITSET_MATCH_ANY"), "FUTEX_BITSET_MATCH_ANY".into()),
        v => d("hex", json!(format!("{v:#x}")), structs::hex(v as u64)),
    };
    let shown = match (t, cmd) {
        (Ty::FutexVal, UNLOCK_PI | TRYLOCK_PI | LOCK_PI | LOCK_PI2) => None,
        (Ty::FutexVal, _) => Some(uint()),
        (Ty::FutexTimeout, WAIT | WAIT_BITSET | WAIT_REQUEUE_PI | LOCK_PI | LOCK_PI2) => Some(timeout()),
        (Ty::FutexTimeout, REQUEUE | CMP_REQUEUE | CMP_REQUEUE_PI | WAKE_OP) => Some(uint()),
        (Ty::FutexTimeout, WAKE | FD | UNLOCK_PI | TRYLOCK_PI | WAKE_BITSET) => None,
        (Ty::FutexTimeout, _) => Some(pointer(raw)),
        (Ty::FutexAddr2, REQUEUE | CMP_REQUEUE | CMP_REQUEUE_PI | WAKE_OP | WAIT_REQUEUE_PI) => Some(pointer(raw)),
        (
            Ty::FutexAddr2,
            WAIT | WAKE | FD | UNLOCK_PI | TRYLOCK_PI | LOCK_PI | LOCK_PI2 | WAIT_BITSET | WAKE_BITSET,
        ) => None,
        (Ty::FutexAddr2, _) => Some(pointer(raw)),
        (Ty::FutexVal3, WAIT_BITSET | WAKE_BITSET) => Some(bitset()),
        (Ty::FutexVal3, CMP_REQUEUE | CMP_REQUEUE_PI) => Some(uint()),
        (Ty::FutexVal3, WAKE_OP) => Some(wake_op(raw as u32)),
        (Ty::FutexVal3, WAIT | WAKE | FD | REQUEUE | UNLOCK_PI | TRYLOCK_PI | LOCK_PI | LOCK_PI2 | WAIT_REQUEUE_PI) => {
            None
        }
        (Ty::FutexVal3, _) => Some(raw_arg(ArgKind::Hex, raw as u32 as u64)),
        _ => None,
    };
    shown.unwrap_or_else(|| hidden(raw_arg(ArgKind::Hex, raw)))
}

/// FUTEX_WAKE_OP's encoded operation, as strace spells it out.
fn wake_op(v: u32) -> Decoded {
    let op = (v >> 28) & 0x7;
    let cmp = (v >> 24) & 0xf;
    let mut s = String::new();
    if (v >> 28) & 8 != 0 {
        s.push_str("FUTEX_OP_OPARG_SHIFT<<28|");
    }
    match flags::name(op as u64, flags::FUTEX_WAKE_OPS) {
        Some(n) => s.push_str(&format!("{n}<<28")),
        None => s.push_str(&format!("{op:#x}<<28 /* FUTEX_OP_??? */")),
    }
    s.push_str(&format!("|{}<<12|", structs::hex(((v >> 12) & 0xfff) as u64)));
    match flags::name(cmp as u64, flags::FUTEX_WAKE_CMPS) {
        Some(n) => s.push_str(&format!("{n}<<24")),
        None => s.push_str(&format!("{cmp:#x}<<24 /* FUTEX_OP_CMP_??? */")),
    }
    s.push_str(&format!("|{}", structs::hex((v & 0xfff) as u64)));
    d("hex", json!(format!("{v:#x}")), s)
}

/// `prctl`'s arguments after the option, as strace shows the common ones.
fn prctl_arg(ev: &(impl Call + ?Sized), i: usize, raw: u64) -> Decoded {
    let option = ev.args()[0] as i32;
    let hex = || raw_arg(ArgKind::Hex, raw);
    match (option, i) {
        (libc::PR_GET_DUMPABLE | libc::PR_GET_KEEPCAPS | libc::PR_GET_SECCOMP | libc::PR_GET_TIMERSLACK, _) => {
            hidden(hex())
        }
        (libc::PR_GET_TIMING | libc::PR_GET_NO_NEW_PRIVS | libc::PR_GET_THP_DISABLE | 58, _) => hidden(hex()),
        (libc::PR_TASK_PERF_EVENTS_DISABLE | libc::PR_TASK_PERF_EVENTS_ENABLE, _) => hidden(hex()),
        (libc::PR_SET_NAME, 1) => match copy_of(ev, i, false) {
            Some(c) if !c.fault() => {
                let name = c.data.split(|&b| b == 0).next().unwrap_or_default();
                string("string", name, false)
            }
            _ => pointer(raw),
        },
        (libc::PR_GET_NAME, 1) => match copy_of(ev, i, true) {
            Some(c) if !c.fault() => {
                let name = c.data.split(|&b| b == 0).next().unwrap_or_default();
                Decoded { output: true, ..string("string", name, false) }
            }
            _ => Decoded { output: true, ..pointer(raw) },
        },
        (libc::PR_SET_PDEATHSIG, 1) => {
            let s = flags::signal(raw);
            d("signal", json!(s), s.clone())
        }
        (libc::PR_SET_DUMPABLE, 1) => named(raw, flags::DUMPABLE),
        (libc::PR_SET_NAME | libc::PR_GET_NAME | libc::PR_SET_PDEATHSIG | libc::PR_SET_DUMPABLE, _) => hidden(hex()),
        (libc::PR_SET_TIMERSLACK, 1) => raw_arg(ArgKind::Long, raw),
        (libc::PR_SET_TIMERSLACK, _) => hidden(hex()),
        (libc::PR_SET_NO_NEW_PRIVS | libc::PR_SET_THP_DISABLE | 57, 1) => raw_arg(ArgKind::ULong, raw),
        (libc::PR_SET_CHILD_SUBREAPER | libc::PR_SET_KEEPCAPS | libc::PR_SET_TIMING, 1) => raw_arg(ArgKind::ULong, raw),
        (libc::PR_SET_CHILD_SUBREAPER | libc::PR_SET_KEEPCAPS | libc::PR_SET_TIMING, _) => hidden(hex()),
        (libc::PR_CAPBSET_READ | libc::PR_CAPBSET_DROP, 1) => match flags::name(raw, flags::CAPS) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::ULong, raw),
        },
        (libc::PR_CAPBSET_READ | libc::PR_CAPBSET_DROP, _) => hidden(hex()),
        _ => hex(),
    }
}

/// `clone`'s arguments as strace names them: `child_stack=`, `flags=`, and
/// at exit `parent_tid=`, `tls=` and `child_tidptr=` when the flags use them.
fn clone_arg(ev: &(impl Call + ?Sized), i: usize, raw: u64) -> Decoded {
    let fl = ev.args()[0];
    let uses = |f: i32| fl & f as u64 != 0;
    // x86_64's order: flags, stack, parent_tid, child_tid, tls.
    let named = |name: &str, x: Decoded, order: u8, output: bool| Decoded {
        text: format!("{name}={}", x.text),
        order,
        output,
        ..x
    };
    match i {
        0 => named("flags", names("flags", flags::clone_flags(fl)), 1, false),
        1 => named("child_stack", pointer(raw), 0, false),
        2 if uses(libc::CLONE_PARENT_SETTID) => match ev.ret().filter(|&r| r > 0) {
            Some(r) => named("parent_tid", d("int", json!(r), structs::parent_tid(r)), 2, true),
            None => named("parent_tid", pointer(raw), 2, true),
        },
        3 if uses(libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) => {
            named("child_tidptr", pointer(raw), 4, true)
        }
        4 if uses(libc::CLONE_SETTLS) => named("tls", pointer(raw), 3, true),
        _ => Decoded { output: true, ..hidden(pointer(raw)) },
    }
}

fn argv(ev: &(impl Call + ?Sized), i: usize, raw: u64) -> Decoded {
    let items: Vec<_> =
        capture::items(ev.capture()).filter(|x| x.arg as usize == i && x.kind == CaptureItem::ARGV).collect();
    if items.is_empty() || items.iter().any(|x| x.fault()) {
        return pointer(raw);
    }
    let mut texts = Vec::new();
    let mut values = Vec::new();
    let mut truncated = false;
    let mut escaped = false;
    let limit = string_limit();
    for item in &items {
        // strace shows as many entries as its string limit, then `...`.
        if item.flags & CaptureItem::MORE != 0 || limit.is_some_and(|l| texts.len() >= l) {
            texts.push("...".to_string());
            truncated = true;
            break;
        }
        let (data, cut) = limited(item.data, item.truncated());
        texts.push(quote(data, cut));
        let (value, e) = string_value(data);
        values.push(value);
        escaped |= e;
        truncated |= cut;
    }
    Decoded { truncated, escaped, ..d("argv", json!(values), format!("[{}]", texts.join(", "))) }
}

/// A copied string as a JSON value: as it is when UTF-8, else with
/// strace's escapes (true).
fn string_value(bytes: &[u8]) -> (String, bool) {
    // Redacted here as `quote` redacts the line's text (`quote` of masked
    // bytes masks nothing more).
    let bytes = crate::redact::bytes(bytes);
    match std::str::from_utf8(&bytes) {
        Ok(s) => (s.to_string(), false),
        Err(_) => {
            let q = quote(&bytes, false);
            (q[1..q.len() - 1].to_string(), true)
        }
    }
}

fn raw_arg(kind: ArgKind, raw: u64) -> Decoded {
    let text = format_arg(kind, raw);
    match kind {
        ArgKind::Pointer => pointer(raw),
        ArgKind::Int => d("int", json!(raw as u32 as i32), text),
        ArgKind::UInt => d("uint", json!(raw as u32), text),
        ArgKind::Long => d("int", json!(raw as i64), text),
        ArgKind::ULong => d("uint", json!(raw), text),
        ArgKind::Mode => d("mode", json!(text), text),
        ArgKind::Hex => d("hex", json!(text), text),
    }
}

#[cfg(test)]
mod tests {
    use syscalls::Sysno;

    use super::*;
    use crate::recorder::Event;

    fn ev(nr: Sysno, args: [u64; 6], capture: Option<Vec<u8>>) -> Event {
        Event { nr: Event::stored_nr(nr.id()), args, capture: capture.map(Vec::into_boxed_slice), ..Default::default() }
    }

    fn texts(e: &Event) -> Vec<String> {
        decode(e).into_iter().filter(|a| !a.hidden).map(|a| a.text).collect()
    }

    #[test]
    fn openat_with_its_path() {
        let region = capture::build(&[(1, CaptureItem::STRING, 0, 0, b"/etc/hosts")]);
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        let e = ev(Sysno::openat, [(-100i64) as u64, 0x7ff0, flags, 0, 0, 0], Some(region));
        assert_eq!(texts(&e), ["AT_FDCWD", "\"/etc/hosts\"", "O_RDONLY|O_CLOEXEC"]);
        let json = serde_json::to_value(decode(&e)).unwrap();
        assert_eq!(json[1], json!({"name": "filename", "type": "path", "value": "/etc/hosts"}));
        assert_eq!(json[2], json!({"name": "flags", "type": "flags", "value": ["O_RDONLY", "O_CLOEXEC"]}));
        assert_eq!(json[0]["value"], "AT_FDCWD");
    }

    #[test]
    fn mode_only_with_creat_and_pointers_without_copies() {
        let flags = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
        let e = ev(Sysno::openat, [3, 0x7ff0, flags, 0o644, 0, 0], None);
        assert_eq!(texts(&e), ["3", "0x7ff0", "O_WRONLY|O_CREAT|O_TRUNC", "0644"]);
        let null = ev(
            Sysno::openat,
            [3, 0, 0, 0, 0, 0],
            Some(capture::build(&[(1, CaptureItem::STRING, CaptureItem::FAULT, 0, b"")])),
        );
        assert_eq!(texts(&null)[1], "NULL", "a faulting pointer shows as strace shows it");
    }

    #[test]
    fn truncated_strings_get_dots() {
        let region = capture::build(&[(0, CaptureItem::STRING, CaptureItem::TRUNCATED, 0, b"/very/long")]);
        let e = ev(Sysno::chdir, [0x1000, 0, 0, 0, 0, 0], Some(region));
        assert_eq!(texts(&e), ["\"/very/long\"..."]);
        assert_eq!(serde_json::to_value(decode(&e)).unwrap()[0]["truncated"], true);
    }

    /// Not UTF-8: the value keeps every byte, with strace's escapes, and says so.
    #[test]
    fn strings_that_are_not_utf8() {
        let region = capture::build(&[(0, CaptureItem::STRING, 0, 0, b"/tmp/\xff\xfe\x01name\"q")]);
        let e = ev(Sysno::chdir, [0x1000, 0, 0, 0, 0, 0], Some(region));
        assert_eq!(texts(&e), [r#""/tmp/\377\376\1name\"q""#]);
        let json = serde_json::to_value(decode(&e)).unwrap();
        assert_eq!((json[0]["value"].as_str(), &json[0]["escaped"]), (Some(r#"/tmp/\377\376\1name\"q"#), &json!(true)));
        let utf8 = ev(
            Sysno::chdir,
            [0x1000, 0, 0, 0, 0, 0],
            Some(capture::build(&[(0, CaptureItem::STRING, 0, 0, "/tmp/é".as_bytes())])),
        );
        let json = serde_json::to_value(decode(&utf8)).unwrap();
        assert_eq!((json[0]["value"].as_str(), json[0].get("escaped")), (Some("/tmp/é"), None));
    }

    #[test]
    fn execve_argv() {
        let region = capture::build(&[
            (0, CaptureItem::STRING, 0, 0, b"/bin/true"),
            (1, CaptureItem::ARGV, 0, 0, b"true"),
            (1, CaptureItem::ARGV, 0, 1, b"-x"),
            (1, CaptureItem::ARGV, CaptureItem::MORE, 6, b""),
        ]);
        let e = ev(Sysno::execve, [1, 2, 0x7ffe, 0, 0, 0], Some(region));
        assert_eq!(texts(&e), ["\"/bin/true\"", r#"["true", "-x", ...]"#, "0x7ffe"]);
    }

    #[test]
    fn mmap_and_socket_and_signal() {
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let m = ev(Sysno::mmap, [0, 8192, prot, flags, u32::MAX as u64, 0], None);
        assert_eq!(texts(&m), ["NULL", "8192", "PROT_READ|PROT_WRITE", "MAP_PRIVATE|MAP_ANONYMOUS", "-1", "0"]);
        let s = ev(
            Sysno::socket,
            [libc::AF_INET as u64, (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64, 0, 0, 0, 0],
            None,
        );
        assert_eq!(texts(&s), ["AF_INET", "SOCK_STREAM|SOCK_CLOEXEC", "IPPROTO_IP"]);
        let k = ev(Sysno::kill, [42, libc::SIGTERM as u64, 0, 0, 0, 0], None);
        assert_eq!(texts(&k), ["42", "SIGTERM"]);
    }

    #[test]
    fn connect_with_its_address_and_write_with_its_data() {
        let mut sa = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        sa.extend(8080u16.to_be_bytes());
        sa.extend([127, 0, 0, 1]);
        sa.extend([0; 8]);
        let c = ev(
            Sysno::connect,
            [3, 0x1000, 16, 0, 0, 0],
            Some(capture::build(&[(1, CaptureItem::SOCKADDR, 0, 0, &sa)])),
        );
        assert_eq!(texts(&c)[1], r#"{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}"#);
        let w = ev(
            Sysno::write,
            [1, 0x1000, 6, 0, 0, 0],
            Some(capture::build(&[(1, CaptureItem::BYTES, 0, 0, b"hello\n")])),
        );
        assert_eq!(texts(&w), ["1", r#""hello\n""#, "6"]);
        assert_eq!(serde_json::to_value(decode(&w)).unwrap()[1]["value"], "hello\\n");
        let off = ev(Sysno::write, [1, 0x1000, 6, 0, 0, 0], None);
        assert_eq!(texts(&off)[1], "0x1000", "buffers are not copied by default");
    }

    /// Structs are typed JSON objects, not strings.
    #[test]
    fn structs_are_typed_json() {
        // SAFETY: all-zero is a valid stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_mode = libc::S_IFREG | 0o644;
        st.st_size = 34751;
        // SAFETY: plain data.
        let b = unsafe { std::slice::from_raw_parts((&st as *const libc::stat).cast::<u8>(), size_of::<libc::stat>()) };
        let region = capture::build(&[(1, CaptureItem::COPY, 0, 1, b)]);
        let e = ev(Sysno::fstat, [3, 0x7000, 0, 0, 0, 0], Some(region));
        let json = serde_json::to_value(decode(&e)).unwrap();
        assert_eq!((&json[1]["name"], &json[1]["type"]), (&json!("statbuf"), &json!("stat")));
        assert_eq!(json[1]["value"]["st_mode"], json!(["S_IFREG", "0644"]));
        assert_eq!(json[1]["value"]["st_size"], 34751);
        let fd = capture::build(&[(0, CaptureItem::FD_PATH, 0, 0, b"/etc/hosts")]);
        let e = ev(Sysno::close, [3, 0, 0, 0, 0, 0], Some(fd));
        assert_eq!(
            serde_json::to_value(decode(&e)).unwrap()[0],
            json!({"name": "fd", "type": "fd", "value": 3, "path": "/etc/hosts"})
        );
    }
}
