//! Arguments decoded: strace-style text for the line, and a typed value for
//! JSON, so a dashboard never parses the text.
use serde::Serialize;
use serde_json::{Value, json};
use strace_common::capture::{self, CaptureItem};

use super::{
    ArgKind, Call, flags, format_arg, quote, signature, sockaddr,
    table::{Ty, ty},
};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decoded {
    /// The kernel's parameter name.
    pub name: &'static str,
    /// `fd`, `path`, `argv`, `flags`, `enum`, `mode`, `signal`, `sockaddr`,
    /// `bytes`, `device` (`{"major", "minor"}`), `int`, `uint`, `pointer`, `hex`.
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub value: Value,
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
}

/// The arguments of `ev`: as many as its syscall takes (six when unknown).
pub fn decode(ev: &(impl Call + ?Sized)) -> Vec<Decoded> {
    if ev.args_lost() {
        return vec![];
    }
    let sig = signature(ev.nr());
    let arity = sig.map_or(6, |s| s.args.len());
    (0..arity)
        .map(|i| {
            let name = sig.and_then(|s| s.args.get(i)).map_or(ARG_NAMES[i], |a| a.name);
            let t = ty(ev.nr(), i);
            let mut d = one(ev, i, t);
            d.name = name;
            d.output = t.is_output();
            if t == Ty::OpenMode {
                let flags_at = (0..arity).find(|&j| ty(ev.nr(), j) == Ty::OpenFlags);
                d.hidden = flags_at.is_some_and(|j| !flags::open_uses_mode(ev.args()[j]));
            }
            d
        })
        .collect()
}

const ARG_NAMES: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

fn d(ty: &'static str, value: Value, text: String) -> Decoded {
    Decoded {
        name: "",
        ty,
        value,
        truncated: false,
        unreadable: false,
        escaped: false,
        text,
        hidden: false,
        output: false,
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

fn one(ev: &(impl Call + ?Sized), i: usize, t: Ty) -> Decoded {
    let raw = ev.args()[i];
    let copied = |kind| capture::find(ev.capture(), i, kind).filter(|item| !item.fault());
    let faulted = |kind| capture::find(ev.capture(), i, kind).is_some_and(|item| item.fault());
    let unreadable = |kind| Decoded { unreadable: raw != 0 && faulted(kind), ..pointer(raw) };
    match t {
        Ty::Fd => d("fd", json!(raw as u32 as i32), (raw as u32 as i32).to_string()),
        Ty::DirFd if raw as u32 as i32 == libc::AT_FDCWD => d("fd", json!("AT_FDCWD"), "AT_FDCWD".into()),
        Ty::DirFd => one(ev, i, Ty::Fd),
        Ty::Path => match copied(CaptureItem::STRING) {
            Some(s) => {
                let (value, escaped) = string_value(s.data);
                Decoded { truncated: s.truncated(), escaped, ..d("path", json!(value), quote(s.data, s.truncated())) }
            }
            None => unreadable(CaptureItem::STRING),
        },
        Ty::Argv => argv(ev, i, raw),
        Ty::Envp | Ty::Out => pointer(raw),
        Ty::OpenFlags => names("flags", flags::open_flags(raw)),
        Ty::OpenMode | Ty::Mode => {
            let m = format_arg(ArgKind::Mode, raw);
            d("mode", json!(m), m.clone())
        }
        Ty::AtFlags => names("flags", flags::bits(raw as u32 as u64, flags::AT)),
        Ty::AccessMode if raw == 0 => names("flags", vec!["F_OK".into()]),
        Ty::AccessMode => names("flags", flags::bits(raw, flags::ACCESS)),
        Ty::Prot if raw == 0 => names("flags", vec!["PROT_NONE".into()]),
        Ty::Prot => names("flags", flags::bits(raw, flags::PROT)),
        Ty::MmapFlags => names("flags", flags::mmap_flags(raw)),
        Ty::CloneFlags => names("flags", flags::clone_flags(raw)),
        Ty::Domain => named(raw, flags::DOMAINS),
        Ty::SockType => names("flags", flags::socket_type(raw)),
        Ty::SockFlags => names("flags", flags::bits(raw, flags::SOCK_FLAGS)),
        Ty::OFlags => names("flags", flags::bits(raw, flags::OPEN)),
        Ty::FcntlCmd => named(raw, flags::FCNTL),
        Ty::FcntlArg => fcntl_arg(ev.args()[1], raw),
        Ty::IoctlCmd => match flags::name(raw as u32 as u64, flags::IOCTLS) {
            Some(n) => d("enum", json!(n), n.into()),
            None => raw_arg(ArgKind::Hex, raw as u32 as u64),
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
            let (major, minor) =
                ((raw >> 32 & 0xffff_f000) | (raw >> 8 & 0xfff), (raw >> 12 & 0xffff_ff00) | (raw & 0xff));
            let text = format!("makedev({major:#x}, {minor:#x})");
            Decoded { hidden: !device, ..d("device", json!({"major": major, "minor": minor}), text) }
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
        Ty::AddrIn { .. } | Ty::AddrOut { .. } if raw == 0 => pointer(raw),
        Ty::AddrIn { .. } | Ty::AddrOut { .. } => match copied(CaptureItem::SOCKADDR) {
            Some(a) => {
                let (text, value) = sockaddr::decode(a.data);
                d("sockaddr", value, text)
            }
            None => unreadable(CaptureItem::SOCKADDR),
        },
        Ty::BufIn { .. } | Ty::BufOut => match copied(CaptureItem::BYTES) {
            Some(b) => {
                let text = quote(b.data, b.truncated());
                let inner = text[1..text.len() - if b.truncated() { 4 } else { 1 }].to_string();
                Decoded { truncated: b.truncated(), ..d("bytes", json!(inner), text) }
            }
            None => unreadable(CaptureItem::BYTES),
        },
        Ty::Offset if raw == 0 => d("int", json!(0), "0".into()),
        Ty::Offset => d("int", json!(raw), format!("{raw:#x}")),
        Ty::Raw(kind) => raw_arg(kind, raw),
    }
}

/// `fcntl`'s argument after command `cmd`, as strace shows it.
fn fcntl_arg(cmd: u64, raw: u64) -> Decoded {
    match cmd as i32 {
        libc::F_SETFL => names("flags", flags::open_flags(raw)),
        libc::F_SETFD => names("flags", flags::bits(raw, flags::FD_FLAGS)),
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC | libc::F_SETOWN | libc::F_SETPIPE_SZ => raw_arg(ArgKind::Int, raw),
        libc::F_SETLEASE => named(raw, flags::LEASES),
        libc::F_GETFD | libc::F_GETFL | libc::F_GETOWN | libc::F_GETLEASE | libc::F_GETPIPE_SZ | libc::F_GET_SEALS => {
            Decoded { hidden: true, ..raw_arg(ArgKind::Hex, raw) }
        }
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            pointer(raw)
        }
        _ => raw_arg(ArgKind::Hex, raw),
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
    for item in &items {
        if item.flags & CaptureItem::MORE != 0 {
            texts.push("...".to_string());
            truncated = true;
            continue;
        }
        texts.push(quote(item.data, item.truncated()));
        let (value, e) = string_value(item.data);
        values.push(value);
        escaped |= e;
        truncated |= item.truncated();
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
        assert_eq!(texts(&s), ["AF_INET", "SOCK_STREAM|SOCK_CLOEXEC", "0"]);
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
}
