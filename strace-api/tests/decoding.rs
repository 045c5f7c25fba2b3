//! strace-level decoding, checked against strace itself: one run of a varied
//! workload (support/mix.c) under `strace -f -ttt -T`, watched by the daemon
//! at the same time; per thread, strace's (syscall, return value) pairs must
//! appear in the daemon's sequence, with the same path strings (strace's
//! output read back by support/strace.rs).
mod support;

use std::{
    collections::HashMap,
    io::Read as _,
    net::TcpListener,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use support::{compile, flag_file, in_ci, read_line, set_flag};

/// The calls whose path arguments must read the same as strace's.
const PATH_CALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chdir",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "truncate",
    "mount",
    "umount2",
    "execve",
    "execveat",
];

/// The quoted strings of an argument list, quotes and escapes kept.
fn quoted(args: &str) -> Vec<String> {
    let mut out = vec![];
    let mut chars = args.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut end = i;
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = j;
                    break;
                }
                _ => {}
            }
        }
        out.push(args[i..=end].to_string());
    }
    out
}

#[test]
fn decoding_agrees_with_strace() {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(!in_ci(), "strace is not installed (.ci/run installs it)");
        support::skipped("strace is not installed (apt-get install strace)");
        return;
    }
    let d = daemon!();
    let mix = compile("mix");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
    });
    let flag = flag_file();
    let out = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mix-{}.strace", std::process::id()));
    let mut strace = Command::new("strace")
        .args(["-f", "-ttt", "-T", "-s", "256", "-o"])
        .arg(&out)
        .arg(&mix)
        .arg(&flag)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = read_line(strace.stdout.as_mut().unwrap());
    let pid: u32 =
        ready.strip_prefix("ready ").and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| panic!("{ready:?}"));
    d.watch(pid);
    set_flag(&flag, 1);
    assert!(strace.wait().unwrap().success());
    d.wait_events(pid, Duration::from_secs(20), |e| e.iter().any(|x| x["syscall"] == "exit_group"));

    // The daemon's events, by thread, across the process and its children.
    let (_, watches) = d.get("/v1/watch");
    let mut ours: HashMap<u32, Vec<Value>> = HashMap::new();
    for w in watches.as_array().unwrap() {
        let p = w["pid"].as_u64().unwrap() as u32;
        let events = d.wait_events(p, Duration::from_secs(20), |e| e.iter().any(|x| x["syscall"] == "exit_group"));
        for e in events {
            ours.entry(e["tid"].as_u64().unwrap() as u32).or_default().push(e);
        }
    }

    let mut theirs = support::strace::parse(&std::fs::read_to_string(&out).unwrap());
    // The main thread: only what came after "ready" (the daemon started watching then).
    let main = theirs.get_mut(&pid).unwrap();
    let start = main.iter().position(|c| c.name == "write" && c.args.contains("ready ")).unwrap() + 1;
    main.drain(..start);
    assert!(theirs.len() >= 3, "strace saw the main thread, the thread and the child: {:?}", theirs.keys());

    let (mut total, mut matched, mut paths, mut path_misses, mut unmatched) = (0, 0, 0, vec![], vec![]);
    let (mut durations, mut slower) = (0, vec![]);
    for (tid, calls) in &theirs {
        let seq = ours.get(tid).map(Vec::as_slice).unwrap_or_default();
        let mut at = 0;
        for call in calls {
            total += 1;
            let Some(k) =
                seq[at..].iter().position(|e| e["syscall"] == call.name.as_str() && e["ret"].as_i64() == call.ret)
            else {
                let near: Vec<_> =
                    seq[at.saturating_sub(2)..(at + 3).min(seq.len())].iter().map(|e| e["text"].to_string()).collect();
                unmatched.push(format!(
                    "tid {tid}: {}({}) = {:?}; the daemon has, around there: {near:?}",
                    call.name, call.args, call.ret
                ));
                continue;
            };
            let ev = &seq[at + k];
            at += k + 1;
            matched += 1;
            if PATH_CALLS.contains(&call.name.as_str()) {
                let text = ev["text"].as_str().unwrap();
                for q in quoted(&call.args) {
                    paths += 1;
                    if !text.contains(&q) {
                        path_misses.push(format!("strace: {}({})\nours: {ev}", call.name, call.args));
                    }
                }
            }
            if let (Some(theirs_us), Some(ours_ns)) = (call.duration_us, ev["duration_ns"].as_u64()) {
                durations += 1;
                assert!(ours_ns > 0, "{text}", text = ev["text"]);
                // strace's window (ptrace stops) contains the tracepoints'; its
                // printout has microseconds, so allow one.
                if ours_ns as f64 > (theirs_us + 1.0) * 1000.0 {
                    slower.push(format!("{}: ours {ours_ns} ns, strace {theirs_us} µs", call.name));
                }
            }
        }
    }
    let agreement = matched as f64 / total as f64;
    println!(
        "strace agreement: {matched}/{total} (name, ret) pairs = {:.2}%; path strings identical: {}/{paths}; durations not larger than strace's: {}/{durations}",
        agreement * 100.0,
        paths - path_misses.len(),
        durations - slower.len()
    );
    for u in &unmatched {
        println!("  not in the daemon's sequence: {u}");
    }
    assert!(agreement >= 0.99, "only {:.2}% of strace's calls found", agreement * 100.0);
    assert!(paths >= 15, "the workload has path calls: {paths}");
    assert!(path_misses.is_empty(), "paths differ:\n{}\nhealth: {}", path_misses.join("\n"), d.get("/healthz").1);
    assert!(slower.is_empty(), "durations longer than strace's:\n{}", slower.join("\n"));
    // A few of the decodings strace is known for.
    let all: Vec<&str> = ours.values().flatten().map(|e| e["text"].as_str().unwrap()).collect();
    let want = |needle: &str| assert!(all.iter().any(|t| t.contains(needle)), "no line with {needle}");
    want(&format!("{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"127.0.0.1\")}}"));
    want("execve(\"/bin/true\", [\"true\", \"--strace-api-mix\"]");
    want("PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x");
    want("openat(AT_FDCWD, \"/nonexistent/strace-api-mix\", O_RDONLY) = -1 ENOENT (No such file or directory)");
    want("socket(AF_INET, SOCK_STREAM, ");
    let _ = std::fs::remove_file(&out);
}

/// With `--durations false` the entry is not timed: events carry their exit
/// time and no duration, a call in progress no start, and every call still
/// gets its own path (the thread's call number pairs it with its copies).
#[test]
fn without_durations_events_keep_their_time_and_their_paths() {
    let d = daemon!("--durations", "false");
    let mut w = support::Workload::new(&["openat-enoent", "getppid", "openat-null", "openat-enoent"]);
    d.watch(w.pid);
    w.go();
    let events = d.wait_events(w.pid, Duration::from_secs(10), |e| e.len() >= 5);
    let texts: Vec<&str> = events.iter().map(|e| e["text"].as_str().unwrap()).collect();
    let enoent = "openat(AT_FDCWD, \"/nonexistent/strace-api-test\", O_RDONLY) = -1 ENOENT (No such file or directory)";
    assert_eq!(texts[0], enoent);
    assert!(texts[1].starts_with("getppid() = "), "{}", texts[1]);
    assert_eq!(texts[2], "openat(AT_FDCWD, NULL, O_RDONLY) = -1 EFAULT (Bad address)");
    assert_eq!(texts[3], enoent);
    for e in &events {
        assert!(e["duration_ns"].is_null(), "{e}");
        assert!(e["ts"].as_str().is_some_and(|t| t.starts_with("20")), "{e}");
    }
    let (status, body) = d.get(&format!("/v1/processes/{}/events?durations=true", w.pid));
    assert_eq!(status, 400, "no duration to show: {body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("--durations false")), "{body}");
    w.finish();

    // A blocked call: in flight, with no start time.
    let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let pid = cat.id();
    d.watch(pid);
    use std::io::Write as _;
    cat.stdin.as_mut().unwrap().write_all(b"x\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let flight = loop {
        let (_, page) = d.get(&format!("/v1/processes/{pid}/events"));
        if let Some(f) = page["in_flight"].as_array().and_then(|a| a.first()) {
            break f.clone();
        }
        assert!(std::time::Instant::now() < deadline, "never in flight: {page}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(flight["text"], "read(0, <unfinished ...>");
    assert!(flight["since"].is_null() && flight["elapsed_ns"].is_null(), "{flight}");
    drop(cat.stdin.take());
    cat.wait().unwrap();
}

/// With `--entry-hook false` only sys_exit is attached, and each call is
/// recorded whole at its exit: its path, its return. A successful execve's
/// arguments are gone by then (flagged), a failed one's are not, and
/// exit_group, which never returns, is not recorded.
#[test]
fn with_the_exit_hook_alone_calls_are_recorded_at_their_exit() {
    let d = daemon!("--entry-hook", "false", "--durations", "false");
    let (_, health) = d.get("/healthz");
    let programs: Vec<&str> =
        health["programs"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(programs.contains(&"sys_exit_only"), "{programs:?}");
    assert!(!programs.contains(&"sys_enter") && !programs.contains(&"sys_exit"), "{programs:?}");

    let missing = "/nonexistent/strace-api-test";
    let mut w = support::Workload::new(&[
        "openat-enoent",
        "getppid",
        "openat-null",
        "fork-exec:/bin/true",
        &format!("fork-exec:{missing}"),
        "signal",
    ]);
    d.watch(w.pid);
    w.go();
    let events = d.wait_events(w.pid, Duration::from_secs(10), |e| e.iter().any(|x| x["syscall"] == "rt_sigreturn"));
    let texts: Vec<&str> = events.iter().map(|e| e["text"].as_str().unwrap()).collect();
    // The watch may catch the end of the call that announced the workload.
    let first = texts.iter().position(|t| t.starts_with("openat(")).expect("the workload's calls");
    assert_eq!(
        texts[first],
        format!("openat(AT_FDCWD, \"{missing}\", O_RDONLY) = -1 ENOENT (No such file or directory)")
    );
    assert!(texts[first + 1].starts_with("getppid() = "), "{}", texts[first + 1]);
    assert_eq!(texts[first + 2], "openat(AT_FDCWD, NULL, O_RDONLY) = -1 EFAULT (Bad address)");
    assert!(events.iter().all(|e| e["duration_ns"].is_null()), "{texts:#?}");
    assert!(!texts.iter().any(|t| t.starts_with("clone(") && t.ends_with(" = 0")), "the children's side: {texts:#?}");
    // rt_sigreturn's number reads -1 at exit; it returns what kill returned.
    let kill = texts.iter().position(|t| t.starts_with("kill(")).expect("the signal step's kill");
    assert_eq!(texts[kill + 1], "rt_sigreturn() = 0", "{texts:#?}");

    let (_, list) = d.get("/v1/watch");
    let children: Vec<u32> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["parent"] == w.pid)
        .map(|x| x["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(children.len(), 2, "{list}");
    let mut firsts = vec![];
    for &child in &children {
        d.wait_counters(child, Duration::from_secs(10), |c| c["alive"] == false);
        let events = d.events(child);
        assert!(!events.iter().any(|e| e["syscall"] == "exit_group"), "{events:#?}");
        let c = d.counters(child);
        assert_eq!((c["seen"].as_u64(), c["dropped"].as_u64()), (Some(events.len() as u64), Some(0)), "{c}");
        firsts.push(events[0].clone());
    }
    // /bin/true: its execve's arguments went with the old program.
    let ran = firsts.iter().find(|e| e["ret"] == 0).expect("the child that ran /bin/true");
    assert_eq!(ran["text"], "execve(?) = 0");
    assert_eq!(ran["args_lost"], true);
    assert!(ran["args"].as_array().is_some_and(|a| a.is_empty()));
    // The failed execve still has its registers.
    let failed = firsts.iter().find(|e| e["ret"] != 0).expect("the child whose execve failed");
    let text = failed["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("execve(\"{missing}\", [\"{missing}\"]")), "{text}");
    assert!(text.ends_with("= -1 ENOENT (No such file or directory)"), "{text}");
    assert!(failed.get("args_lost").is_none(), "{failed}");
    w.finish();
}

/// A path the kernel cannot read shows as strace shows it, and the call is
/// still recorded.
#[test]
fn unreadable_pointers_show_as_null_or_their_address() {
    let d = daemon!();
    let mut w = support::Workload::new(&["openat-null", "openat-unmapped", "openat-enoent"]);
    d.watch(w.pid);
    w.go();
    let events = d.wait_events(w.pid, Duration::from_secs(10), |e| e.len() >= 4);
    let texts: Vec<&str> = events.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts[0], "openat(AT_FDCWD, NULL, O_RDONLY) = -1 EFAULT (Bad address)");
    assert_eq!(texts[1], "openat(AT_FDCWD, 0x10, O_RDONLY) = -1 EFAULT (Bad address)");
    assert_eq!(
        texts[2],
        "openat(AT_FDCWD, \"/nonexistent/strace-api-test\", O_RDONLY) = -1 ENOENT (No such file or directory)"
    );
    assert_eq!(events[0]["decoded"][1], serde_json::json!({"name": "filename", "type": "pointer", "value": null}));
    assert_eq!(events[1]["decoded"][1]["unreadable"], true, "{}", events[1]);
    assert_eq!(d.counters(w.pid)["dropped"], 0);
    w.finish();
}

#[test]
fn a_blocked_call_is_shown_in_flight() {
    let d = daemon!();
    // A child blocked in read(2) on a pipe nobody writes, from before the
    // watch: the programs did not see the call begin, /proc says which it is.
    let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let pid = cat.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let read = format!("{} ", syscalls::Sysno::read.id());
    while !std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| s.starts_with(&read)) {
        assert!(std::time::Instant::now() < deadline, "cat never blocked in read");
        std::thread::sleep(Duration::from_millis(10));
    }
    d.watch(pid);
    let in_flight = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, page) = d.get(&format!("/v1/processes/{pid}/events"));
            if let Some(f) = page["in_flight"].as_array().and_then(|a| a.first()).filter(|f| pred(f)) {
                return f.clone();
            }
            assert!(std::time::Instant::now() < deadline, "never in flight: {page}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let before = in_flight(&|_| true);
    assert_eq!((before["syscall"].as_str(), before["tid"].as_u64()), (Some("read"), Some(pid as u64)));
    assert_eq!(before["text"], "read(0, <unfinished ...>");
    assert!(before["since"].is_null() && before["elapsed_ns"].is_null(), "not seen to begin: {before}");
    let (_, lines) = d.get(&format!("/strace/{pid}/3"));
    assert_eq!(lines.as_array().unwrap().last().unwrap()["data"], "read(0, <unfinished ...>");
    // One line: cat writes it and reads again, a call the programs see begin.
    use std::io::Write as _;
    cat.stdin.as_mut().unwrap().write_all(b"x\n").unwrap();
    let seen = in_flight(&|f| f["elapsed_ns"].as_u64().is_some());
    // The read that was in progress when the watch began is recorded when it
    // returns (strace's "resumed"), without an entry time.
    let events =
        d.wait_events(pid, Duration::from_secs(10), |e| e.iter().any(|x| x["syscall"] == "write" && x["ret"] == 2));
    let first = &events[0];
    assert_eq!((first["syscall"].as_str(), first["ret"].as_i64()), (Some("read"), Some(2)), "{events:#?}");
    assert!(first["duration_ns"].is_null(), "{first}");
    assert!(events.iter().any(|e| e["syscall"] == "write" && e["ret"] == 2), "{events:#?}");
    assert_eq!((seen["syscall"].as_str(), seen["tid"].as_u64()), (Some("read"), Some(pid as u64)));
    assert_eq!(seen["text"], "read(0, <unfinished ...>");
    assert_eq!(seen["decoded"][0]["value"], 0);
    drop(cat.stdin.take());
    cat.wait().unwrap();
}

/// Blocked in openat since before the watch (a FIFO with no writer): the
/// path is read from the process's memory, as the kernel would have copied
/// it at entry.
#[test]
fn a_call_blocked_before_the_watch_shows_its_path() {
    let d = daemon!();
    let fifo = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut cat = Command::new("cat").arg(&fifo).stdout(Stdio::null()).spawn().unwrap();
    let pid = cat.id();
    let openat = format!("{} ", syscalls::Sysno::openat.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| s.starts_with(&openat)) {
        assert!(std::time::Instant::now() < deadline, "cat never blocked in openat");
        std::thread::sleep(Duration::from_millis(10));
    }
    d.watch(pid);
    let (_, page) = d.get(&format!("/v1/processes/{pid}/events"));
    let flight = &page["in_flight"][0];
    let expected = format!("openat(AT_FDCWD, \"{}\", O_RDONLY, <unfinished ...>", fifo.display());
    assert_eq!(flight["text"], expected.as_str(), "{page}");
    assert_eq!(flight["decoded"][1]["value"], fifo.to_str().unwrap());
    // A writer lets it go on.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    cat.wait().unwrap();
    let _ = std::fs::remove_file(&fifo);
}
