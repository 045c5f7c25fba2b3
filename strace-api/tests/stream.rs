//! Issue #18 against the real daemon and eBPF: the live stream (in order,
//! resumed without a gap or a duplicate, a client that stops reading cut
//! off with the daemon's memory measured, shutdown), losses where they
//! happened, a kernel-side filter, the summary against the events it
//! summarises, JSON logs and configuration errors.
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Workload, sse::Stream};

const SSE: (&str, &str) = ("accept", "text/event-stream");

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Reads `n` syscall events, checking each one's id is its seq; panics on
/// anything else.
fn events(s: &mut Stream, n: usize) -> Vec<Value> {
    let mut out = vec![];
    while out.len() < n {
        let f = s.frame().expect("the stream goes on");
        assert_eq!(f.event, None, "only events expected here: {f:?}");
        let ev = f.json();
        assert_eq!(f.id.as_deref(), Some(ev["seq"].to_string().as_str()));
        out.push(ev);
    }
    out
}

#[test]
fn the_stream_follows_a_running_workload_and_resumes_without_a_gap_or_a_duplicate() {
    let d = daemon!();
    let mut w = Workload::new(&["forever"]);
    d.watch(w.pid);
    w.go_without_waiting();
    let path = format!("/v1/processes/{}/events/stream", w.pid);
    let mut s = d.open_stream(&format!("{path}?after=0"), &[SSE]);
    assert_eq!((s.status, s.header("content-type")), (200, Some("text/event-stream")));
    let first = events(&mut s, 30);
    // In order, one after another, as the workload makes them.
    let seqs: Vec<u64> = first.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    let names: Vec<&str> = first.iter().map(|e| e["syscall"].as_str().unwrap()).collect();
    let at = names.iter().position(|n| *n == "openat").unwrap();
    assert_eq!(names[at..at + 3], ["openat", "getppid", "nanosleep"], "{names:?}");
    // The client goes away while the workload goes on, and comes back.
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = d.open_stream(&path, &[SSE, ("last-event-id", "30")]);
    let next = events(&mut again, 30);
    let seqs: Vec<u64> = next.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (31..=60).collect::<Vec<_>>(), "no gap, no duplicate");
    // Filtered, as plain text for curl -N.
    let mut lines = d.open_stream(&format!("{path}?syscall=getppid&format=text"), &[]);
    assert_eq!(lines.header("content-type"), Some("text/plain; charset=utf-8"));
    let got = lines.lines(3);
    let want = format!("getppid() = {}", std::process::id());
    assert!(got.len() >= 3 && got.iter().all(|l| *l == want), "{got:?}");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_the_daemon_does_not_grow() {
    let d = daemon!("--events-per-pid", "10000");
    let mut w = Workload::new(&["storm:200000000"]);
    d.watch(w.pid);
    // It reads the answer's head, and nothing more.
    let stuck = d.open_stream(&format!("/v1/processes/{}/events/stream", w.pid), &[SSE]);
    assert_eq!(stuck.status, 200);
    w.go_without_waiting();
    // The ring's pages and the history fill in the first second: measure from there.
    std::thread::sleep(Duration::from_secs(1));
    let base = rss_kib(d.pid());
    let (mut peak, start) = (base, Instant::now());
    let lagged = loop {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(rss_kib(d.pid()));
        let (_, h) = d.get("/healthz");
        if h["streams"]["lagged"] == 1 {
            break h;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never cut off: {h}");
    };
    assert_eq!(lagged["streams"]["open"], 0, "its slot is free again");
    let cut_after = start.elapsed();
    // The storm goes on, the connection stays open (the client holds it):
    // the daemon does not grow.
    let seen_at_cut = d.counters(w.pid)["seen"].as_u64().unwrap();
    for _ in 0..15 {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(rss_kib(d.pid()));
    }
    let seen = d.counters(w.pid)["seen"].as_u64().unwrap();
    eprintln!(
        "a client that stopped reading: cut off after {:.1} s of a storm; {seen} events delivered by 3 s later; daemon RSS {base} KiB then, peak {peak} KiB (+{} KiB)",
        cut_after.as_secs_f64(),
        peak - base
    );
    assert!(seen > seen_at_cut + 100_000, "the storm went on: {seen_at_cut} then {seen}");
    assert!(peak - base < 16 * 1024, "the daemon grew by {} KiB", peak - base);
    drop(stuck);
}

#[test]
fn kernel_losses_are_gaps_where_they_happened() {
    const N: u64 = 300_000;
    let d = daemon!("--ring-bytes", "65536", "--events-per-pid", "1000000");
    let storm = format!("storm:{N}");
    let mut w = Workload::new(&["write:3", &storm, "write:4"]);
    d.watch(w.pid);
    let pid = w.pid;
    let mut s = d.open_stream(&format!("/v1/processes/{pid}/events/stream?after=0&syscall=write"), &[SSE]);
    w.go();
    w.finish();
    let c = d.wait_counters(pid, Duration::from_secs(30), |c| c["alive"] == false);
    let dropped = c["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "the small ring overflowed: {c}");
    let (mut gaps, mut writes, mut last) = (0, vec![], 0);
    while let Some(f) = s.frame() {
        match f.event.as_deref() {
            Some("gap") => {
                let g = f.json();
                assert_eq!(g["reason"], "dropped");
                assert!(g["after"].as_u64().unwrap() >= last, "in order: {g}");
                last = g["after"].as_u64().unwrap();
                gaps += g["count"].as_u64().unwrap();
                assert_eq!(f.id, Some(format!("{last}:gap")));
            }
            None => {
                let ev = f.json();
                last = ev["seq"].as_u64().unwrap();
                writes.push(ev["ret"].as_i64().unwrap());
            }
            Some("end") => break,
            other => panic!("{other:?}: {f:?}"),
        }
    }
    let unplaced = d.get("/healthz").1["kernel"]["loss_unplaced"].as_u64().unwrap();
    eprintln!("{dropped} dropped: {gaps} in gaps, {unplaced} unplaced; writes seen {writes:?}");
    assert_eq!(gaps + unplaced, dropped, "every loss has its place, or is counted as having none");
}

#[test]
fn a_filtered_watch_records_only_its_calls_in_the_kernel() {
    let d = daemon!();
    let mut w = Workload::new(&["openat-enoent", "storm:2000", "openat-enoent", "write:5"]);
    let (status, watch) = d.put(&format!("/v1/watch/{}?syscalls=%25file", w.pid));
    assert_eq!((status, watch["syscalls"].as_str()), (201, Some("%file")), "{watch}");
    w.go();
    let pid = w.pid;
    let events = d.wait_events(pid, Duration::from_secs(10), |e| e.len() >= 2);
    std::thread::sleep(Duration::from_millis(200));
    let c = d.counters(pid);
    assert_eq!(
        (c["seen"].as_u64(), c["dropped"].as_u64()),
        (Some(2), Some(0)),
        "only the two openat reached the daemon"
    );
    assert!(events.iter().all(|e| e["syscall"] == "openat"), "{events:?}");
    // Changed on the live watch: now the writes, not the openat.
    assert_eq!(d.put(&format!("/v1/watch/{pid}?syscalls=write")).0, 200);
    w.finish();
    let c = d.wait_counters(pid, Duration::from_secs(10), |c| c["alive"] == false);
    assert_eq!(c["seen"], 2, "no exit_group: {c}");
    // Unknown names are refused with their name.
    let (status, e) = d.put(&format!("/v1/watch/{}?syscalls=opnat", std::process::id()));
    assert_eq!((status, e["error"].as_str()), (400, Some("syscalls: unknown syscall \"opnat\"")));
}

/// `--watch-all-syscalls`: the processes `--watch-all` finds start with
/// that filter, and so do the children they fork; the kernel records
/// nothing else of theirs. In a PID namespace of its own (it watches all).
#[test]
fn watch_all_records_only_the_calls_it_is_told_to() {
    let steps = ["getppid", "openat-enoent", "fork-exec:/bin/true", "write:5", "getppid"];
    let args = ["--watch-all", "--watch-all-syscalls", "%process,openat"];
    let Some((mut w, d)) = support::Daemon::in_new_pid_namespace(&steps, &args) else { return };
    w.go();
    let child = d.counters(d.wait_counters_of_child(1, Duration::from_secs(10)));
    let parent = d.counters(1);
    assert_eq!((&parent["origin"], &parent["syscalls"]), (&"auto".into(), &"%process,openat".into()), "{parent}");
    assert_eq!(child["syscalls"], "%process,openat", "{child}");
    let child_events = d.wait_events(child["pid"].as_u64().unwrap() as u32, Duration::from_secs(10), |e| {
        e.iter().any(|e| e["syscall"] == "exit_group")
    });
    let events = d.wait_events(1, Duration::from_secs(10), |e| e.iter().any(|e| e["syscall"] == "openat"));
    let names = |e: &[Value]| e.iter().map(|e| e["syscall"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let (mine, theirs) = (names(&events), names(&child_events));
    eprintln!("pid 1: {mine:?}; its child: {theirs:?}");
    for n in mine.iter().chain(&theirs) {
        assert!(
            n != "getppid" && n != "write" && n != "read" && n != "mmap",
            "{n} passed the filter: {mine:?} {theirs:?}"
        );
    }
    assert!(
        mine.iter().any(|n| n == "openat") && mine.iter().any(|n| n.starts_with("clone") || n == "fork"),
        "{mine:?}"
    );
    assert!(theirs.iter().any(|n| n == "execve") && theirs.iter().any(|n| n == "openat"), "{theirs:?}");
    w.finish();
}

#[test]
fn followed_children_inherit_the_filter() {
    let d = daemon!();
    let mut w = Workload::new(&["fork-exec:/bin/true"]);
    assert_eq!(d.put(&format!("/v1/watch/{}?syscalls=%25process", w.pid)).0, 201);
    w.go();
    let child = d.counters(d.wait_counters_of_child(w.pid, Duration::from_secs(10)));
    assert_eq!(child["syscalls"], "%process");
    let events = d.wait_events(child["pid"].as_u64().unwrap() as u32, Duration::from_secs(10), |e| {
        e.iter().any(|e| e["syscall"] == "exit_group")
    });
    let names: Vec<&str> = events.iter().map(|e| e["syscall"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| ["execve", "exit_group", "clone", "clone3", "wait4"].contains(n)), "{names:?}");
}

#[test]
fn the_summary_counts_exactly_the_events_of_a_real_workload() {
    let d = daemon!();
    let mut w = Workload::new(&["openat-enoent", "getppid", "write:5", "storm:500", "openat-enoent", "thread"]);
    d.watch(w.pid);
    let pid = w.pid;
    w.go();
    w.finish();
    d.wait_counters(pid, Duration::from_secs(10), |c| c["alive"] == false);
    let events = d.events(pid);
    let (status, sum) = d.get(&format!("/v1/processes/{pid}/summary"));
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["total"]["calls"].as_u64(), Some(events.len() as u64));
    assert_eq!(
        (sum["first_seq"].as_u64(), sum["last_seq"].as_u64()),
        (Some(1), events.last().unwrap()["seq"].as_u64())
    );
    for row in sum["syscalls"].as_array().unwrap() {
        let of: Vec<&Value> = events.iter().filter(|e| e["syscall"] == row["syscall"]).collect();
        assert_eq!(row["calls"].as_u64(), Some(of.len() as u64), "{row}");
        assert_eq!(row["errors"].as_u64(), Some(of.iter().filter(|e| !e["errno"].is_null()).count() as u64), "{row}");
        let time: u64 = of.iter().filter_map(|e| e["duration_ns"].as_u64()).sum();
        assert_eq!(row["time_ns"].as_u64(), Some(time), "{row}");
    }
    assert_eq!(sum["syscalls"].as_array().unwrap()[0]["time_ns"].as_u64().unwrap(), {
        let rows = sum["syscalls"].as_array().unwrap();
        rows.iter().map(|r| r["time_ns"].as_u64().unwrap()).max().unwrap()
    });
    // The text, read as strace -c's is: its rows add up to the same calls.
    let (_, text) = d.get(&format!("/v1/processes/{pid}/summary?format=text"));
    let text = text.as_str().unwrap().to_string();
    let rows: Vec<Vec<&str>> =
        text.lines().skip(2).filter(|l| !l.starts_with("---")).map(|l| l.split_whitespace().collect()).collect();
    let calls = |r: &Vec<&str>| r[3].parse::<u64>().unwrap();
    let total = rows.last().unwrap();
    assert_eq!(*total.last().unwrap(), "total");
    assert_eq!(calls(total), events.len() as u64);
    assert_eq!(rows[..rows.len() - 1].iter().map(calls).sum::<u64>(), events.len() as u64, "{text}");
    let getppid = rows.iter().find(|r| r.last() == Some(&"getppid")).unwrap();
    let n = events.iter().filter(|e| e["syscall"] == "getppid").count() as u64;
    assert_eq!((calls(getppid), getppid.len()), (n, 5), "no errors: an empty errors cell\n{text}");
    let openat = rows.iter().find(|r| r.last() == Some(&"openat")).unwrap();
    assert_eq!((openat[4], openat.len()), ("2", 6), "{text}");
}

#[test]
fn shutdown_ends_every_stream_with_a_last_event() {
    let d = daemon!();
    let mut w = Workload::new(&["forever"]);
    d.watch(w.pid);
    w.go_without_waiting();
    let mut s = d.open_stream(&format!("/v1/processes/{}/events/stream?after=0", w.pid), &[SSE]);
    events(&mut s, 3);
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(d.pid() as i32, libc::SIGTERM) };
    let last = loop {
        let f = s.frame().expect("a last event before the end");
        if f.event.is_some() {
            break f;
        }
    };
    assert_eq!(
        (last.event.as_deref(), last.json()["reason"].as_str()),
        (Some("shutdown"), Some("the daemon is shutting down"))
    );
    assert!(s.frame().is_none(), "and then the end");
    assert!(d.wait_exit().success());
}

#[test]
fn json_logs_are_one_object_a_line() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strace-api"));
    cmd.env("STRACE_API_LOG_FORMAT", "json");
    let Some(d) = support::Daemon::start_command(cmd) else { return };
    let log = d.log();
    assert!(!log.is_empty());
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn a_bad_environment_variable_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_strace-api")).env("STRACE_API_MAX_STREAMS", "many").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("STRACE_API_MAX_STREAMS=\"many\""), "{err}");
    let help = Command::new(env!("CARGO_BIN_EXE_strace-api")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for var in ["STRACE_API_MAX_STREAMS", "STRACE_API_LOG_FORMAT", "STRACE_API_LISTEN", "STRACE_API_TOKEN"] {
        assert!(help.contains(&format!("[env: {var}")), "{var} in\n{help}");
    }
}
