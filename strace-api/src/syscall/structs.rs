//! The structs, arrays and counts the kernel copies for the table's `In`,
//! `Filled` and `InOut` arguments, shown as strace shows them (its
//! abbreviated form, as without `-v`) and as typed JSON objects.
//!
//! Each decoder takes the bytes as copied (`None` when the copy is too
//! short to hold the struct: shown as the pointer, as strace shows memory it
//! cannot read) and gives the text and the JSON value.
use serde_json::{Value, json};

use super::{flags, layout, quote, string_limit, table::Kind};

/// A struct read from copied bytes, if they hold one.
fn read<T: Copy>(b: &[u8]) -> Option<T> {
    // SAFETY: length checked; only used with plain C structs (integers and
    // arrays of them), valid for any bit pattern.
    (b.len() >= size_of::<T>()).then(|| unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) })
}

/// C's `%#x`: `0` for zero, else `0x…`.
pub fn hex(v: u64) -> String {
    if v == 0 { "0".into() } else { format!("{v:#x}") }
}

/// An address as strace's printaddr shows it.
pub fn addr(v: u64) -> String {
    if v == 0 { "NULL".into() } else { format!("{v:#x}") }
}

/// `makedev(0x1, 0x3)`, from a kernel `dev_t` (as glibc splits it).
pub fn makedev(dev: u64) -> (String, Value) {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    (format!("makedev({}, {})", hex(major as u64), hex(minor as u64)), json!({"major": major, "minor": minor}))
}

/// A mode as strace's print_symbolic_mode_t: `S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777`;
/// and its parts for JSON.
pub fn mode(m: u32) -> (String, Vec<String>) {
    let perms = m & !(libc::S_IFMT | libc::S_ISUID | libc::S_ISGID | libc::S_ISVTX);
    let ty = m & libc::S_IFMT;
    let ifmt = if ty == 0 { Some("") } else { flags::name(ty as u64, flags::FILE_TYPES) };
    let Some(ifmt) = ifmt else {
        let s = format!("{:0>3}", format!("0{m:o}"));
        return (s.clone(), vec![s]);
    };
    let mut parts: Vec<String> = vec![];
    if !ifmt.is_empty() {
        parts.push(ifmt.into());
    }
    for (bit, n) in [(libc::S_ISUID, "S_ISUID"), (libc::S_ISGID, "S_ISGID"), (libc::S_ISVTX, "S_ISVTX")] {
        if m & bit != 0 {
            parts.push(n.into());
        }
    }
    parts.push(format!("{:0>3}", format!("0{perms:o}")));
    (parts.join("|"), parts)
}

/// `{tv_sec=1, tv_nsec=2}` (or `tv_usec`).
fn timespec_text(sec: i64, frac: i64, unit: &str) -> String {
    format!("{{tv_sec={sec}, {unit}={}}}", frac as u64)
}

fn timespec_json(sec: i64, frac: i64, unit: &str) -> Value {
    json!({"tv_sec": sec, unit: frac})
}

/// A time as strace's comment shows it: local time, nanoseconds, the zone.
fn local_time(sec: i64, nsec: u64) -> Option<String> {
    if (sec == 0 && nsec == 0) || nsec > 999_999_999 {
        return None;
    }
    // SAFETY: localtime_r and strftime write into the buffers given.
    unsafe {
        let t: libc::time_t = sec;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let mut day = [0u8; 64];
        let n = libc::strftime(day.as_mut_ptr().cast(), day.len(), c"%FT%T".as_ptr(), &tm);
        let mut zone = [0u8; 16];
        let z = libc::strftime(zone.as_mut_ptr().cast(), zone.len(), c"%z".as_ptr(), &tm);
        if n == 0 || z == 0 {
            return None;
        }
        let day = std::str::from_utf8(&day[..n]).ok()?;
        let zone = std::str::from_utf8(&zone[..z]).ok()?;
        Some(if nsec > 0 { format!("{day}.{nsec:09}{zone}") } else { format!("{day}{zone}") })
    }
}

/// strace's limit on array elements shown (its `-s`), as for strings.
fn array_limit() -> usize {
    string_limit().unwrap_or(usize::MAX)
}

/// Elements joined as strace prints an array, `...` after the limit, and
/// after the elements copied when there were more.
fn array(items: Vec<String>, more: bool) -> String {
    let limit = array_limit();
    let cut = items.len() > limit;
    let mut shown: Vec<String> = items.into_iter().take(limit).collect();
    if cut || more {
        shown.push("...".into());
    }
    format!("[{}]", shown.join(", "))
}

/// The text and JSON of a struct of `kind`, from its copy; `None` when
/// the copy does not hold one.
pub fn decode(kind: Kind, b: &[u8], truncated: bool) -> Option<(String, Value)> {
    match kind {
        Kind::Stat => stat(b),
        Kind::Statx => statx(b),
        Kind::Statfs => statfs(b),
        Kind::Sigaction => sigaction(b),
        Kind::Sigset => (b.len() >= 8).then(|| (flags::sigset(&b[..8]), json!(flags::sigset_names(&b[..8])))),
        Kind::Rlimit => rlimit(b),
        Kind::Timespec => {
            let t: [i64; 2] = read(b)?;
            Some((timespec_text(t[0], t[1], "tv_nsec"), timespec_json(t[0], t[1], "tv_nsec")))
        }
        Kind::Timeval => {
            let t: [i64; 2] = read(b)?;
            Some((timespec_text(t[0], t[1], "tv_usec"), timespec_json(t[0], t[1], "tv_usec")))
        }
        Kind::Timespecs => utimes(b),
        Kind::Itimerspec | Kind::Itimerval => {
            let t: [i64; 4] = read(b)?;
            let unit = if kind == Kind::Itimerspec { "tv_nsec" } else { "tv_usec" };
            Some((
                format!(
                    "{{it_interval={}, it_value={}}}",
                    timespec_text(t[0], t[1], unit),
                    timespec_text(t[2], t[3], unit)
                ),
                json!({"it_interval": timespec_json(t[0], t[1], unit), "it_value": timespec_json(t[2], t[3], unit)}),
            ))
        }
        Kind::Pollfds { .. } => Some(pollfds(b, truncated, &[])),
        Kind::WaitStatus => {
            let s: i32 = read(b)?;
            Some(wait_status(s))
        }
        Kind::Rusage => rusage(b),
        Kind::SockLen => {
            let n: u32 = read(b)?;
            Some((format!("[{n}]"), json!(n)))
        }
        Kind::SockOptVal { .. } => Some(sockopt_value(b, truncated)),
        Kind::FdPair => {
            let p: [i32; 2] = read(b)?;
            Some((format!("[{}, {}]", p[0], p[1]), json!(p)))
        }
        Kind::Sysinfo => sysinfo(b),
        Kind::Utsname => utsname(b),
        Kind::Flock => flock(b, true),
        Kind::CloneArgs { .. } => clone_args(b),
        Kind::EpollEvent => epoll_event(b),
        Kind::EpollEvents => {
            let size = layout::EPOLL_EVENT as usize;
            let (texts, values): (Vec<String>, Vec<Value>) = b.chunks_exact(size).filter_map(epoll_event).unzip();
            Some((array(texts, truncated), json!(values)))
        }
        Kind::Iovecs { .. } => {
            let (texts, values): (Vec<String>, Vec<Value>) = b
                .as_chunks::<16>()
                .0
                .iter()
                .filter_map(|c| {
                    let v: [u64; 2] = read(c)?;
                    Some((
                        format!("{{iov_base={}, iov_len={}}}", addr(v[0]), v[1]),
                        json!({"iov_base": addr(v[0]), "iov_len": v[1]}),
                    ))
                })
                .unzip();
            Some((array(texts, truncated), json!(values)))
        }
        Kind::StackT => {
            let s: libc::stack_t = read(b)?;
            let fl = flags::bits(s.ss_flags as u32 as u64, flags::SS);
            Some((
                format!("{{ss_sp={}, ss_flags={}, ss_size={}}}", addr(s.ss_sp as u64), fl.join("|"), s.ss_size),
                json!({"ss_sp": addr(s.ss_sp as u64), "ss_flags": fl, "ss_size": s.ss_size}),
            ))
        }
        Kind::CpuMask | Kind::CpuMaskIn { .. } => {
            let cpus: Vec<usize> = (0..b.len() * 8).filter(|&i| b[i / 8] >> (i % 8) & 1 != 0).collect();
            let text = cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ");
            Some((format!("[{text}]"), json!(cpus)))
        }
        Kind::Msghdr => {
            let m: libc::msghdr = read(b)?;
            let text = format!(
                "{{msg_name={}, msg_namelen={}, msg_iov={}, msg_iovlen={}, msg_controllen={}, msg_flags={}}}",
                addr(m.msg_name as u64),
                m.msg_namelen,
                addr(m.msg_iov as u64),
                m.msg_iovlen,
                m.msg_controllen,
                flags::bits(m.msg_flags as u32 as u64, flags::MSG).join("|")
            );
            let value = json!({
                "msg_name": addr(m.msg_name as u64), "msg_namelen": m.msg_namelen, "msg_iov": addr(m.msg_iov as u64),
                "msg_iovlen": m.msg_iovlen, "msg_control": addr(m.msg_control as u64),
                "msg_controllen": m.msg_controllen, "msg_flags": m.msg_flags,
            });
            Some((text, value))
        }
        Kind::Dirents | Kind::Written => None, // shown by the caller
    }
}

fn stat(b: &[u8]) -> Option<(String, Value)> {
    let st: libc::stat = read(b)?;
    let (mode_text, mode_parts) = mode(st.st_mode);
    let device = matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK);
    let (rdev_text, rdev) = makedev(st.st_rdev);
    let text = if device {
        format!("{{st_mode={mode_text}, st_rdev={rdev_text}, ...}}")
    } else {
        format!("{{st_mode={mode_text}, st_size={}, ...}}", st.st_size)
    };
    let mut value = json!({
        "st_dev": makedev(st.st_dev).1,
        "st_ino": st.st_ino,
        "st_mode": mode_parts,
        "st_nlink": st.st_nlink,
        "st_uid": st.st_uid,
        "st_gid": st.st_gid,
        "st_size": st.st_size,
        "st_blksize": st.st_blksize,
        "st_blocks": st.st_blocks,
        "st_atime": timespec_json(st.st_atime, st.st_atime_nsec, "tv_nsec"),
        "st_mtime": timespec_json(st.st_mtime, st.st_mtime_nsec, "tv_nsec"),
        "st_ctime": timespec_json(st.st_ctime, st.st_ctime_nsec, "tv_nsec"),
    });
    if device {
        value["st_rdev"] = rdev;
    }
    Some((text, value))
}

fn statx(b: &[u8]) -> Option<(String, Value)> {
    let s: libc::statx = read(b)?;
    let mask = flags::bits(s.stx_mask as u64, flags::STATX_MASK);
    let attrs = flags::bits(s.stx_attributes, flags::STATX_ATTRS);
    let mut text = format!("{{stx_mask={}, stx_attributes={}", mask.join("|"), attrs.join("|"));
    let mut value = json!({
        "stx_mask": mask,
        "stx_blksize": s.stx_blksize,
        "stx_attributes": attrs,
        "stx_nlink": s.stx_nlink,
        "stx_uid": s.stx_uid,
        "stx_gid": s.stx_gid,
        "stx_ino": s.stx_ino,
        "stx_size": s.stx_size,
        "stx_blocks": s.stx_blocks,
        "stx_mtime": timespec_json(s.stx_mtime.tv_sec, s.stx_mtime.tv_nsec as i64, "tv_nsec"),
        "stx_dev": {"major": s.stx_dev_major, "minor": s.stx_dev_minor},
    });
    if s.stx_mask & (libc::STATX_TYPE | libc::STATX_MODE) != 0 {
        let (t, parts) = mode(s.stx_mode as u32);
        text.push_str(&format!(", stx_mode={t}"));
        value["stx_mode"] = json!(parts);
    }
    if s.stx_mask & libc::STATX_SIZE != 0 {
        text.push_str(&format!(", stx_size={}", s.stx_size));
    }
    text.push_str(", ...}");
    Some((text, value))
}

fn statfs(b: &[u8]) -> Option<(String, Value)> {
    let s: layout::Statfs = read(b)?;
    let ftype = s.f_type as u64 & 0xffff_ffff;
    let type_name = flags::name(ftype, flags::FS_MAGIC).map_or_else(|| hex(ftype), str::to_string);
    let fsid = s.f_fsid;
    let mut text = format!(
        "{{f_type={type_name}, f_bsize={}, f_blocks={}, f_bfree={}, f_bavail={}, f_files={}, f_ffree={}, f_fsid={{val=[{}, {}]}}, f_namelen={}, f_frsize={}",
        s.f_bsize,
        s.f_blocks,
        s.f_bfree,
        s.f_bavail,
        s.f_files,
        s.f_ffree,
        hex(fsid[0] as u32 as u64),
        hex(fsid[1] as u32 as u64),
        s.f_namelen,
        s.f_frsize,
    );
    let fl = flags::bits(s.f_flags as u64, flags::ST);
    if s.f_flags as u64 & 0x20 != 0 {
        text.push_str(&format!(", f_flags={}", fl.join("|")));
    }
    text.push('}');
    let value = json!({
        "f_type": type_name, "f_bsize": s.f_bsize, "f_blocks": s.f_blocks, "f_bfree": s.f_bfree,
        "f_bavail": s.f_bavail, "f_files": s.f_files, "f_ffree": s.f_ffree,
        "f_fsid": [fsid[0] as u32, fsid[1] as u32], "f_namelen": s.f_namelen, "f_frsize": s.f_frsize, "f_flags": fl,
    });
    Some((text, value))
}

/// The kernel's `struct sigaction` (not the C library's).
fn sigaction(b: &[u8]) -> Option<(String, Value)> {
    let [handler, sa_flags, restorer, mask]: [u64; 4] = read(b)?;
    let handler = match handler {
        0 => "SIG_DFL".to_string(),
        1 => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    let mask = mask.to_ne_bytes();
    let fl = flags::bits(sa_flags, flags::SA);
    let mut text = format!("{{sa_handler={handler}, sa_mask={}, sa_flags={}", flags::sigset(&mask), fl.join("|"));
    let mut value = json!({"sa_handler": handler, "sa_mask": flags::sigset_names(&mask), "sa_flags": fl});
    if sa_flags & 0x0400_0000 != 0 {
        text.push_str(&format!(", sa_restorer={}", addr(restorer)));
        value["sa_restorer"] = json!(addr(restorer));
    }
    text.push('}');
    Some((text, value))
}

/// An rlimit value: `RLIM64_INFINITY`, `8192*1024`, or the number.
fn rlim(v: u64) -> (String, Value) {
    if v == u64::MAX {
        ("RLIM64_INFINITY".into(), json!("RLIM64_INFINITY"))
    } else if v > 1024 && v.is_multiple_of(1024) {
        (format!("{}*1024", v / 1024), json!(v))
    } else {
        (v.to_string(), json!(v))
    }
}

fn rlimit(b: &[u8]) -> Option<(String, Value)> {
    let [cur, max]: [u64; 2] = read(b)?;
    let ((ct, cv), (mt, mv)) = (rlim(cur), rlim(max));
    Some((format!("{{rlim_cur={ct}, rlim_max={mt}}}"), json!({"rlim_cur": cv, "rlim_max": mv})))
}

/// `utimensat`'s pair: each with its date as a comment, or UTIME_NOW / UTIME_OMIT.
fn utimes(b: &[u8]) -> Option<(String, Value)> {
    let t: [i64; 4] = read(b)?;
    let one = |sec: i64, nsec: i64| -> (String, Value) {
        match nsec {
            libc::UTIME_NOW => ("UTIME_NOW".into(), json!("UTIME_NOW")),
            libc::UTIME_OMIT => ("UTIME_OMIT".into(), json!("UTIME_OMIT")),
            _ => {
                let mut text = timespec_text(sec, nsec, "tv_nsec");
                if let Some(date) = local_time(sec, nsec as u64) {
                    text.push_str(&format!(" /* {date} */"));
                }
                (text, timespec_json(sec, nsec, "tv_nsec"))
            }
        }
    };
    let ((at, av), (mt, mv)) = (one(t[0], t[1]), one(t[2], t[3]));
    Some((format!("[{at}, {mt}]"), json!([av, mv])))
}

/// An array of pollfds as the call was given it; `paths[k]`: the path of
/// the `k`th fd (`--fd-paths`), already escaped.
pub fn pollfds(b: &[u8], truncated: bool, paths: &[Option<String>]) -> (String, Value) {
    let (texts, values): (Vec<String>, Vec<Value>) = b
        .as_chunks::<8>()
        .0
        .iter()
        .filter_map(|c| read::<libc::pollfd>(c))
        .enumerate()
        .map(|(k, p)| {
            let path = paths.get(k).and_then(Option::as_ref);
            let fd = match path {
                Some(path) => format!("{}<{path}>", p.fd),
                None => p.fd.to_string(),
            };
            if p.fd < 0 {
                return (format!("{{fd={fd}}}"), json!({"fd": p.fd}));
            }
            let ev = flags::bits(p.events as u16 as u64, flags::POLL);
            let mut value = json!({"fd": p.fd, "events": ev});
            if let Some(path) = path {
                value["path"] = json!(path);
            }
            (format!("{{fd={fd}, events={}}}", ev.join("|")), value)
        })
        .unzip();
    (array(texts, truncated), json!(values))
}

/// What `poll` returned in `revents`: `[{fd=6, revents=POLLOUT}]`, only the
/// fds that have any (strace's annotation of the return value).
pub fn poll_revents(b: &[u8]) -> (String, Value) {
    let limit = array_limit();
    let mut texts = vec![];
    let mut values = vec![];
    for p in b.as_chunks::<8>().0.iter().filter_map(|c| read::<libc::pollfd>(c)).filter(|p| p.revents != 0) {
        if texts.len() >= limit {
            texts.push("...".to_string());
            break;
        }
        let ev = flags::bits(p.revents as u16 as u64, flags::POLL);
        texts.push(format!("{{fd={}, revents={}}}", p.fd, ev.join("|")));
        values.push(json!({"fd": p.fd, "revents": ev}));
    }
    (format!("[{}]", texts.join(", ")), json!(values))
}

/// A wait status as strace writes it: `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`.
fn wait_status(s: i32) -> (String, Value) {
    let (text, value) = if libc::WIFSTOPPED(s) {
        let sig = libc::WSTOPSIG(s);
        let extra = if sig & 0x80 != 0 { " | 0x80" } else { "" };
        let name = flags::signal((sig & 0x7f) as u64);
        (format!("{{WIFSTOPPED(s) && WSTOPSIG(s) == {name}{extra}}}"), json!({"stopped": name}))
    } else if libc::WIFSIGNALED(s) {
        let name = flags::signal(libc::WTERMSIG(s) as u64);
        let core = libc::WCOREDUMP(s);
        let extra = if core { " && WCOREDUMP(s)" } else { "" };
        (format!("{{WIFSIGNALED(s) && WTERMSIG(s) == {name}{extra}}}"), json!({"signaled": name, "core_dumped": core}))
    } else if libc::WIFEXITED(s) {
        let code = libc::WEXITSTATUS(s);
        (format!("{{WIFEXITED(s) && WEXITSTATUS(s) == {code}}}"), json!({"exited": code}))
    } else if libc::WIFCONTINUED(s) {
        ("{WIFCONTINUED(s)}".to_string(), json!({"continued": true}))
    } else {
        (hex(s as u32 as u64), json!(s))
    };
    (format!("[{text}]"), value)
}

fn rusage(b: &[u8]) -> Option<(String, Value)> {
    let r: libc::rusage = read(b)?;
    let tv = |t: libc::timeval| timespec_text(t.tv_sec, t.tv_usec, "tv_usec");
    let text = format!("{{ru_utime={}, ru_stime={}, ...}}", tv(r.ru_utime), tv(r.ru_stime));
    let value = json!({
        "ru_utime": timespec_json(r.ru_utime.tv_sec, r.ru_utime.tv_usec, "tv_usec"),
        "ru_stime": timespec_json(r.ru_stime.tv_sec, r.ru_stime.tv_usec, "tv_usec"),
        "ru_maxrss": r.ru_maxrss, "ru_minflt": r.ru_minflt, "ru_majflt": r.ru_majflt,
        "ru_nvcsw": r.ru_nvcsw, "ru_nivcsw": r.ru_nivcsw,
    });
    Some((text, value))
}

/// A socket option's value: an int as `[1]`, else its bytes.
fn sockopt_value(b: &[u8], truncated: bool) -> (String, Value) {
    match b.len() {
        4 if !truncated => {
            let v = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            (format!("[{v}]"), json!(v))
        }
        _ => {
            let q = quote(b, truncated);
            (q.clone(), json!(q))
        }
    }
}

fn sysinfo(b: &[u8]) -> Option<(String, Value)> {
    let s: libc::sysinfo = read(b)?;
    let text = format!(
        "{{uptime={}, loads=[{}, {}, {}], totalram={}, freeram={}, sharedram={}, bufferram={}, totalswap={}, freeswap={}, procs={}, totalhigh={}, freehigh={}, mem_unit={}}}",
        s.uptime,
        s.loads[0],
        s.loads[1],
        s.loads[2],
        s.totalram,
        s.freeram,
        s.sharedram,
        s.bufferram,
        s.totalswap,
        s.freeswap,
        s.procs,
        s.totalhigh,
        s.freehigh,
        s.mem_unit
    );
    let value = json!({
        "uptime": s.uptime, "loads": s.loads, "totalram": s.totalram, "freeram": s.freeram,
        "sharedram": s.sharedram, "bufferram": s.bufferram, "totalswap": s.totalswap, "freeswap": s.freeswap,
        "procs": s.procs, "totalhigh": s.totalhigh, "freehigh": s.freehigh, "mem_unit": s.mem_unit,
    });
    Some((text, value))
}

fn utsname(b: &[u8]) -> Option<(String, Value)> {
    let u: libc::utsname = read(b)?;
    let field = |f: &[libc::c_char]| -> Vec<u8> { f.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect() };
    let (sys, node) = (field(&u.sysname), field(&u.nodename));
    let text = format!("{{sysname={}, nodename={}, ...}}", quote(&sys, false), quote(&node, false));
    let s = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let value = json!({
        "sysname": s(sys), "nodename": s(node), "release": s(field(&u.release)),
        "version": s(field(&u.version)), "machine": s(field(&u.machine)), "domainname": s(field(&u.domainname)),
    });
    Some((text, value))
}

/// `struct flock`; `with_pid` for what F_GETLK filled.
pub fn flock(b: &[u8], with_pid: bool) -> Option<(String, Value)> {
    let f: libc::flock = read(b)?;
    let ty = flags::name(f.l_type as u16 as u64, flags::LEASES).map_or_else(|| f.l_type.to_string(), str::to_string);
    let whence =
        flags::name(f.l_whence as u16 as u64, flags::SEEK).map_or_else(|| f.l_whence.to_string(), str::to_string);
    let mut text = format!("{{l_type={ty}, l_whence={whence}, l_start={}, l_len={}", f.l_start, f.l_len);
    let mut value = json!({"l_type": ty, "l_whence": whence, "l_start": f.l_start, "l_len": f.l_len});
    if with_pid {
        text.push_str(&format!(", l_pid={}", f.l_pid));
        value["l_pid"] = json!(f.l_pid);
    }
    text.push('}');
    Some((text, value))
}

/// `struct clone_args` (v0: 64 bytes, the least the kernel takes).
fn clone_args(b: &[u8]) -> Option<(String, Value)> {
    if b.len() < 64 {
        return None;
    }
    let mut a = [0u64; 11];
    for (i, c) in b.as_chunks::<8>().0.iter().take(11).enumerate() {
        a[i] = u64::from_ne_bytes(*c);
    }
    let [fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup] = a;
    let names = flags::bits(fl, flags::CLONE3);
    let mut parts = vec![format!("flags={}", names.join("|"))];
    let mut value = json!({"flags": names});
    if fl & libc::CLONE_PIDFD as u64 != 0 {
        parts.push(format!("pidfd={}", addr(pidfd)));
        value["pidfd"] = json!(addr(pidfd));
    }
    if fl & (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 != 0 {
        parts.push(format!("child_tid={}", addr(child_tid)));
        value["child_tid"] = json!(addr(child_tid));
    }
    if fl & libc::CLONE_PARENT_SETTID as u64 != 0 {
        parts.push(format!("parent_tid={}", addr(parent_tid)));
        value["parent_tid"] = json!(addr(parent_tid));
    }
    let sig = if exit_signal < i32::MAX as u64 { flags::signal(exit_signal) } else { exit_signal.to_string() };
    parts.push(format!("exit_signal={sig}"));
    parts.push(format!("stack={}", addr(stack)));
    parts.push(format!("stack_size={}", hex(stack_size)));
    value["exit_signal"] = json!(sig);
    value["stack"] = json!(addr(stack));
    value["stack_size"] = json!(stack_size);
    if fl & libc::CLONE_SETTLS as u64 != 0 {
        parts.push(format!("tls={}", addr(tls)));
        value["tls"] = json!(addr(tls));
    }
    if set_tid != 0 || set_tid_size != 0 {
        parts.push(format!("set_tid={}", addr(set_tid)));
        parts.push(format!("set_tid_size={set_tid_size}"));
    }
    if b.len() >= 88 && (cgroup != 0 || fl & 0x2_0000_0000 != 0) {
        parts.push(format!("cgroup={cgroup}"));
    }
    Some((format!("{{{}}}", parts.join(", ")), value))
}

fn epoll_event(b: &[u8]) -> Option<(String, Value)> {
    let e: libc::epoll_event = read(b)?;
    let (events, data) = (e.events, e.u64);
    let ev = flags::bits(events as u64, flags::EPOLL_EVENTS);
    Some((
        format!("{{events={}, data={{u32={}, u64={}}}}}", ev.join("|"), data as u32, data),
        json!({"events": ev, "data": data}),
    ))
}

/// The rest of the return value's line for `clone`/`clone3` with
/// CLONE_PARENT_SETTID: the kernel stored the child's id, which is what
/// the call returned, at `parent_tid`.
pub fn parent_tid(ret: i64) -> String {
    format!("[{ret}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<T>(v: &T) -> Vec<u8> {
        // SAFETY: plain C structs.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }

    #[test]
    fn stat_as_strace_abbreviates_it() {
        // SAFETY: all-zero is a valid stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_mode = libc::S_IFREG | 0o644;
        st.st_size = 35087;
        let (text, value) = decode(Kind::Stat, &bytes(&st), false).unwrap();
        assert_eq!(text, "{st_mode=S_IFREG|0644, st_size=35087, ...}");
        assert_eq!(value["st_mode"], json!(["S_IFREG", "0644"]));
        assert_eq!(value["st_size"], 35087);
        st.st_mode = libc::S_IFCHR | 0o666;
        st.st_rdev = libc::makedev(1, 3);
        assert_eq!(
            decode(Kind::Stat, &bytes(&st), false).unwrap().0,
            "{st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}"
        );
        st.st_mode = libc::S_IFDIR | libc::S_ISVTX | 0o777;
        assert!(
            decode(Kind::Stat, &bytes(&st), false).unwrap().0.starts_with("{st_mode=S_IFDIR|S_ISVTX|0777, st_size=")
        );
        assert!(decode(Kind::Stat, &bytes(&st)[..100], false).is_none(), "a short copy is no stat");
    }

    #[test]
    fn sigaction_and_sets() {
        let sa: [u64; 4] = [1, 0x0400_0000 | libc::SA_RESTART as u64, 0x7fce_0000_1050, 1 << (libc::SIGPIPE - 1)];
        let b: Vec<u8> = sa.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(
            decode(Kind::Sigaction, &b, false).unwrap().0,
            "{sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fce00001050}"
        );
        let dfl = [0u8; 32];
        assert_eq!(decode(Kind::Sigaction, &dfl, false).unwrap().0, "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}");
    }

    #[test]
    fn rlimits_and_times() {
        let b: Vec<u8> = [8192 * 1024u64, u64::MAX].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::Rlimit, &b, false).unwrap().0, "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}");
        let b: Vec<u8> = [20000u64, 1024].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::Rlimit, &b, false).unwrap().0, "{rlim_cur=20000, rlim_max=1024}");
        let t: Vec<u8> = [0i64, 1000].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::Timespec, &t, false).unwrap().0, "{tv_sec=0, tv_nsec=1000}");
        let it: Vec<u8> = [0i64, 0, 1, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(
            decode(Kind::Itimerspec, &it, false).unwrap().0,
            "{it_interval={tv_sec=0, tv_nsec=0}, it_value={tv_sec=1, tv_nsec=0}}"
        );
        let now: Vec<u8> = [0i64, libc::UTIME_NOW, 5, libc::UTIME_OMIT].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::Timespecs, &now, false).unwrap().0, "[UTIME_NOW, UTIME_OMIT]");
    }

    #[test]
    fn poll_arrays_and_revents() {
        let fds = [
            libc::pollfd { fd: 5, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: 6, events: libc::POLLOUT, revents: libc::POLLOUT },
        ];
        let b: Vec<u8> = fds.iter().flat_map(bytes).collect();
        assert_eq!(
            decode(Kind::Pollfds { count: 1 }, &b, false).unwrap().0,
            "[{fd=5, events=POLLIN}, {fd=6, events=POLLOUT}]"
        );
        assert_eq!(poll_revents(&b).0, "[{fd=6, revents=POLLOUT}]");
    }

    #[test]
    fn wait_statuses() {
        assert_eq!(wait_status(0).0, "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]");
        assert_eq!(wait_status(3 << 8).0, "[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]");
        assert_eq!(wait_status(libc::SIGKILL).0, "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}]");
    }

    #[test]
    fn statfs_sysinfo_uname() {
        // SAFETY: all-zero is valid for these.
        let mut s: layout::Statfs = unsafe { std::mem::zeroed() };
        s.f_type = 0xef53;
        s.f_bsize = 4096;
        s.f_namelen = 255;
        s.f_frsize = 4096;
        s.f_flags = 0x1020;
        assert_eq!(
            decode(Kind::Statfs, &bytes(&s), false).unwrap().0,
            "{f_type=EXT2_SUPER_MAGIC, f_bsize=4096, f_blocks=0, f_bfree=0, f_bavail=0, f_files=0, f_ffree=0, f_fsid={val=[0, 0]}, f_namelen=255, f_frsize=4096, f_flags=ST_VALID|ST_RELATIME}"
        );
        // SAFETY: as above.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        for (d, s) in u.sysname.iter_mut().zip(b"Linux") {
            *d = *s as libc::c_char;
        }
        for (d, s) in u.nodename.iter_mut().zip(b"vm") {
            *d = *s as libc::c_char;
        }
        assert_eq!(decode(Kind::Utsname, &bytes(&u), false).unwrap().0, r#"{sysname="Linux", nodename="vm", ...}"#);
    }

    #[test]
    fn flock_clone_args_epoll() {
        // SAFETY: all-zero is valid.
        let mut f: libc::flock = unsafe { std::mem::zeroed() };
        f.l_type = libc::F_RDLCK as i16;
        f.l_start = 1_073_741_824;
        f.l_len = 1;
        assert_eq!(
            flock(&bytes(&f), false).unwrap().0,
            "{l_type=F_RDLCK, l_whence=SEEK_SET, l_start=1073741824, l_len=1}"
        );
        let fl = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        let args: [u64; 11] =
            [fl, 0, 0x7ff5affb4990, 0x7ff5affb4990, 0, 0x7ff5af7b4000, 0x7fff80, 0x7ff5affb46c0, 0, 0, 0];
        let b: Vec<u8> = args.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(
            decode(Kind::CloneArgs { size: 1 }, &b, false).unwrap().0,
            "{flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7ff5affb4990, parent_tid=0x7ff5affb4990, exit_signal=0, stack=0x7ff5af7b4000, stack_size=0x7fff80, tls=0x7ff5affb46c0}"
        );
        let e = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: 3 };
        assert_eq!(
            decode(Kind::EpollEvent, &bytes(&e), false).unwrap().0,
            "{events=EPOLLIN|EPOLLET, data={u32=3, u64=3}}"
        );
        assert_eq!(decode(Kind::EpollEvents, &[], false).unwrap().0, "[]");
    }

    #[test]
    fn small_ones() {
        assert_eq!(decode(Kind::SockLen, &16u32.to_ne_bytes(), false).unwrap().0, "[16]");
        assert_eq!(decode(Kind::SockOptVal { len: 4 }, &1i32.to_ne_bytes(), false).unwrap().0, "[1]");
        let pair: Vec<u8> = [3i32, 4].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::FdPair, &pair, false).unwrap().0, "[3, 4]");
        assert_eq!(decode(Kind::CpuMask, &[3, 0, 0, 0], false).unwrap().0, "[0 1]");
        let ss: Vec<u8> = [0x5635_8777_8b00u64, 0, 65536].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(decode(Kind::StackT, &ss, false).unwrap().0, "{ss_sp=0x563587778b00, ss_flags=0, ss_size=65536}");
        assert_eq!(mode(0o100644).0, "S_IFREG|0644");
        assert_eq!(mode(0o644).0, "0644");
    }
}
