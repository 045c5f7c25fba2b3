//! Processes as the daemon sees them: threads, children, exit, the flight
//! recorder, and PID namespaces (the daemon inside one, as in a sidecar).
mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Daemon, Workload};

fn texts(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["text"].as_str().unwrap_or("?").to_string()).collect()
}

fn has(events: &[Value], syscall: &str) -> bool {
    events.iter().any(|e| e["syscall"] == syscall)
}

#[test]
fn threads_and_forked_children_are_followed_from_their_first_call() {
    let d = daemon!();
    let mut w = Workload::new(&["thread", "fork-exec:/bin/true", "getppid"]);
    d.watch(w.pid);
    w.go();
    let parent = d.wait_events(w.pid, Duration::from_secs(10), |e| {
        has(e, "wait4") && e.iter().any(|x| x["syscall"] == "getppid" && x["tid"] == w.pid)
    });

    // The thread: its own tid, in the process's history.
    let thread_calls: Vec<_> = parent.iter().filter(|e| e["tid"] != w.pid).collect();
    assert!(thread_calls.iter().any(|e| e["syscall"] == "gettid" && e["ret"] == e["tid"]), "{:#?}", texts(&parent));
    assert!(thread_calls.iter().all(|e| e["pid"] == w.pid));

    // The child: a process of its own, watched from its very first call (the execve).
    let (_, list) = d.get("/v1/watch");
    let child = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["parent"] == w.pid)
        .unwrap_or_else(|| panic!("no child in {list}"))["pid"]
        .as_u64()
        .unwrap() as u32;
    let events = d.wait_events(child, Duration::from_secs(10), |e| has(e, "exit_group"));
    assert_eq!(events[0]["syscall"], "execve", "first call of the child: {:#?}", texts(&events));
    assert_eq!(events[0]["ret"], 0);
    assert!(events.iter().all(|e| e["pid"] == child && e["tid"] == child));
    assert_eq!(events.last().unwrap()["syscall"], "exit_group");
    let wait4 = parent.iter().find(|e| e["syscall"] == "wait4").unwrap();
    assert_eq!(wait4["ret"], child, "the parent reaped that child");
    let c = d.counters(child);
    assert_eq!((c["origin"].as_str(), c["alive"].as_bool()), (Some("child"), Some(false)), "{c}");
    w.finish();
}

/// A zombie is still in /proc with the same start time: asking for it
/// again must find its history, not start a new, empty one.
#[test]
fn a_killed_process_not_reaped_yet_keeps_its_history() {
    let d = daemon!();
    let mut w = Workload::new(&["storm:1000"]);
    d.watch(w.pid);
    w.go();
    d.wait_events(w.pid, Duration::from_secs(10), |e| e.len() > 1000);
    w.kill_leaving_a_zombie();
    let before = d.wait_counters(w.pid, Duration::from_secs(10), |c| c["alive"] == false);
    // Nothing live is watched: the hooks go, just after the watch has ended.
    d.wait_health(Duration::from_secs(10), |h| h["hooks_attached"] == false);
    let (status, lines) = d.get(&format!("/strace/{}/5", w.pid));
    assert_eq!(status, 200, "{lines}");
    assert_eq!(lines.as_array().unwrap().len(), 5, "{lines}");
    assert_eq!(d.put(&format!("/v1/watch/{}", w.pid)).0, 404, "it cannot be watched again");
    // Asking for a zombie's history does not attach the syscall hooks (and
    // detach them again: a kernel grace period each time).
    assert_eq!(d.get("/healthz").1["hooks_attached"], false);
    let after = d.counters(w.pid);
    assert_eq!(
        (after["seen"].clone(), after["retained"].clone()),
        (before["seen"].clone(), before["retained"].clone())
    );
}

/// More threads at once than the thread table holds: the calls of those
/// without a slot are counted against their process, and the slots are
/// free again once the threads exit.
#[test]
fn a_full_thread_table_is_counted_and_freed_when_threads_exit() {
    // The whole table, not the quarter one process may hold by default.
    let d = daemon!("--max-threads", "64", "--max-threads-per-pid", "64");
    let mut w = Workload::new(&["threads:100", "thread"]);
    d.watch(w.pid);
    w.go();
    let events = d.wait_events(w.pid, Duration::from_secs(10), |e| {
        e.iter().any(|x| x["syscall"] == "getppid" && x["tid"] != w.pid)
    });
    // The last thread came after the crowd had gone: it found a slot.
    let last = &events.iter().rfind(|e| e["syscall"] == "getppid" && e["tid"] != w.pid).unwrap()["tid"];
    let crowd: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e["syscall"] == "gettid" && e["tid"] != w.pid && e["tid"] != *last)
        .map(|e| e["tid"].clone())
        .collect();
    assert!((1..=63).contains(&crowd.len()), "threads traced with 64 slots (one is the leader's): {}", crowd.len());
    let c = d.counters(w.pid);
    assert!(c["dropped"].as_u64().unwrap() > 0, "untraced calls are counted: {c}");
    let (_, health) = d.get("/healthz");
    assert!(health["kernel"]["threads_full"].as_u64().unwrap() > 0, "{health}");
    w.finish();
}

/// Unwatching a process whose threads live on frees their thread slots
/// (after waiting for programs that may still write them): another
/// process's threads get those slots.
#[test]
fn unwatching_a_live_process_frees_its_thread_slots() {
    // The whole table, not the quarter one process may hold by default.
    let d = daemon!("--max-threads", "64", "--max-threads-per-pid", "64");
    let mut a = Workload::new(&["sleepers:40"]);
    d.watch(a.pid);
    a.go();
    let tids = |e: &[Value], name: &str, leader: u32| {
        e.iter()
            .filter(|x| x["syscall"] == name && x["tid"] != leader)
            .map(|x| x["tid"].clone())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    d.wait_events(a.pid, Duration::from_secs(10), |e| tids(e, "nanosleep", a.pid) == 40);
    assert_eq!(d.delete(&format!("/v1/watch/{}", a.pid)).0, 200);
    // A's 41 threads held 41 of the 64 slots; B needs 41 of its own.
    let mut b = Workload::new(&["threads:40"]);
    d.watch(b.pid);
    b.go();
    d.wait_events(b.pid, Duration::from_secs(10), |e| tids(e, "gettid", b.pid) == 40);
    let c = d.counters(b.pid);
    assert_eq!(c["dropped"], 0, "every thread of B had a slot: {c}");
    let (_, health) = d.get("/healthz");
    assert_eq!(health["kernel"]["threads_full"], 0, "{health}");
    a.finish();
    b.finish();
}

/// A thread that is not the leader calls execve: the kernel gives it the
/// leader's id, and the call's return is still recorded.
#[test]
fn execve_from_a_thread_is_recorded_under_the_leaders_id() {
    let d = daemon!();
    let w = Workload::new(&["thread-exec:/bin/true"]);
    d.watch(w.pid);
    support::set_flag(&w.flag, 1);
    let events = d.wait_events(w.pid, Duration::from_secs(10), |e| has(e, "exit_group"));
    let execve = events.iter().find(|e| e["syscall"] == "execve").unwrap_or_else(|| panic!("{:#?}", texts(&events)));
    assert_eq!((execve["ret"].as_i64(), execve["tid"].as_u64()), (Some(0), Some(w.pid as u64)), "{execve}");
    assert!(execve["text"].as_str().unwrap().starts_with("execve(\"/bin/true\", [\"/bin/true\"]"), "{execve}");
    let (_, page) = d.get(&format!("/v1/processes/{}/events", w.pid));
    assert_eq!(page["in_flight"], serde_json::json!([]), "no call left behind by the thread's old id");
}

#[test]
fn an_exited_process_keeps_its_history_and_a_new_one_is_separate() {
    let d = daemon!("--retain-exited-secs", "600");
    let mut a = Workload::new(&["getppid"]);
    let a_pid = a.pid;
    d.watch(a_pid);
    a.go();
    a.finish();
    let c = d.wait_counters(a_pid, Duration::from_secs(10), |c| c["alive"] == false);
    assert!(c["exited_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{c}");
    let events = d.events(a_pid);
    assert_eq!(events.last().unwrap()["syscall"], "exit_group");
    let (status, lines) = d.get(&format!("/strace/{a_pid}/2"));
    assert_eq!(status, 200, "the legacy endpoint still answers for an exited process: {lines}");
    assert_eq!(lines.as_array().unwrap().len(), 2);
    assert_eq!(d.put(&format!("/v1/watch/{a_pid}")).0, 404, "it cannot be watched again");

    let mut b = Workload::new(&["openat-enoent"]);
    assert_ne!(b.pid, a_pid);
    d.watch(b.pid);
    b.go();
    let b_events = d.wait_events(b.pid, Duration::from_secs(10), |e| has(e, "openat"));
    assert!(!has(&b_events, "getppid"), "b's history has none of a's calls");
    assert_eq!(d.events(a_pid).len(), events.len(), "a's history is untouched");
    let (_, procs) = d.get("/v1/processes");
    let a_entry = procs.as_array().unwrap().iter().find(|p| p["pid"] == a_pid).unwrap();
    assert_eq!((a_entry["alive"].as_bool(), a_entry["watched"].as_bool()), (Some(false), Some(false)));
    b.finish();
}

/// In a PID namespace of its own, so only the test's processes are traced:
/// pid 1 runs a child that runs /bin/true, which nobody asked about.
#[test]
fn watch_all_records_a_short_lived_process_nobody_asked_about() {
    let Some((mut w, d)) = Daemon::in_new_pid_namespace(&["churn:1"], &["--watch-all"]) else { return };
    w.go();
    // The child that ran /bin/true: its execve, the loader's openat, its exit.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (pid, events) = loop {
        let (_, list) = d.get("/v1/watch");
        let found = list.as_array().unwrap().iter().filter(|w| w["pid"] != 1).find_map(|x| {
            let pid = x["pid"].as_u64()? as u32;
            let (_, page) = d.get(&format!("/v1/processes/{pid}/events"));
            let events = page["events"].as_array()?.clone();
            (has(&events, "execve") && has(&events, "exit_group")).then_some((pid, events))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(std::time::Instant::now() < deadline, "no watch of the short-lived process: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(has(&events, "openat"), "{:#?}", texts(&events));
    // A child of pid 1, which the kernel watched by itself.
    assert_eq!(d.counters(1)["origin"], "auto");
    let origin = d.counters(pid)["origin"].clone();
    assert!(origin == "auto" || origin == "child", "{origin}");
    let (_, list) = d.get("/v1/watch");
    assert!(!list.as_array().unwrap().iter().any(|w| w["comm"] == "strace-api"), "never itself: {list}");
    w.finish();
}

/// The daemon inside a PID namespace (as in `docker run --pid=container:APP`,
/// without containers): pids are the namespace's, pid 1 is the workload.
#[test]
fn inside_a_pid_namespace_pids_are_the_namespaces() {
    let (mut w, host_pid) = Workload::in_new_pid_namespace(&["openat-enoent", "getppid", "getppid"]);
    let target = host_pid.to_string();
    let prefix: Vec<String> =
        ["nsenter", "--target", &target, "--pid", "--mount"].iter().map(|s| s.to_string()).collect();
    let Some(d) = Daemon::start_in(&prefix, &[]) else { return };
    let url = "/strace/1/4?wait_ms=20000".to_string();
    let (status, lines) = std::thread::scope(|s| {
        let reader = s.spawn(|| d.get(&url));
        d.wait_counters(1, Duration::from_secs(10), |c| c["pid"] == 1);
        w.go();
        reader.join().unwrap()
    });
    assert_eq!(status, 200, "{lines}");
    let lines: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l["data"].as_str().unwrap()).collect();
    assert!(
        lines[0].starts_with("openat(") && lines[0].ends_with("= -1 ENOENT (No such file or directory)"),
        "{lines:?}"
    );
    // Its parent is outside the namespace: the kernel reports 0, as getppid does there.
    assert_eq!(lines[1..3], ["getppid() = 0", "getppid() = 0"]);

    let events = d.events(1);
    assert!(events.iter().all(|e| e["pid"] == 1 && e["tid"] == 1), "namespace ids in records");
    let (_, procs) = d.get("/v1/processes");
    let pids: Vec<u64> = procs.as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids, [1], "only the namespace's processes, and not the daemon");
    let outsider = std::process::id();
    assert_eq!(d.put(&format!("/v1/watch/{outsider}")).0, 404, "a process outside the namespace is not watchable");
    assert_eq!(d.put(&format!("/v1/watch/{host_pid}")).0, 404);

    // A process of the namespace blocked since before its watch (a FIFO
    // with no writer): the daemon has not learnt its host pid (it makes no
    // syscall), and /proc shows its call.
    let fifo = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ns-fifo-{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut cat = std::process::Command::new("nsenter")
        .args(["--target", &target, "--pid", "--mount", "--", "cat"])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // nsenter runs cat as its child, in the namespace: its pid there.
    let nsenter = cat.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ns_pid = loop {
        let children = std::fs::read_to_string(format!("/proc/{nsenter}/task/{nsenter}/children")).unwrap_or_default();
        let status = children
            .split_whitespace()
            .next()
            .and_then(|c| std::fs::read_to_string(format!("/proc/{c}/status")).ok())
            .unwrap_or_default();
        if let Some(ns_pid) = status.lines().find_map(|l| l.strip_prefix("NSpid:")?.split_whitespace().last()) {
            break ns_pid.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "nsenter ran no child");
        std::thread::sleep(Duration::from_millis(10));
    };
    let expected = format!("openat(AT_FDCWD, \"{}\", O_RDONLY, <unfinished ...>", fifo.display());
    let lines = loop {
        d.watch(ns_pid.parse().unwrap());
        let (_, lines) = d.get(&format!("/strace/{ns_pid}/1?wait_ms=0"));
        if lines[0]["data"] == expected.as_str() {
            break lines;
        }
        assert!(std::time::Instant::now() < deadline, "never shown blocked in openat: {lines}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.as_array().unwrap().len(), 1, "{lines}");
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    cat.wait().unwrap();
    let _ = std::fs::remove_file(&fifo);
    w.finish();
}

/// Churn under `--watch-all`, inside a PID namespace of its own: thousands
/// of short-lived processes come, record and exit, past a small memory cap.
/// Their histories are shed first, whole; the live process that recorded
/// thousands of calls before (the one someone is looking at) keeps them all,
/// where the largest-first cap took every one; exited watches stay bounded.
#[test]
fn churn_sheds_exited_histories_not_the_live_process() {
    let args = [
        "--watch-all",
        "--memory-mib",
        "1",
        "--keep-events-per-pid",
        "100",
        "--max-exited",
        "500",
        "--retain-exited-secs",
        "600",
    ];
    let Some((mut w, d)) = Daemon::in_new_pid_namespace(&["storm:2000", "churn:1500"], &args) else { return };
    w.go();
    // Everything drained: pid 1's own calls are its 2000 getppid, the clone
    // and wait4 of the churner and its "done" write.
    let marker = d.wait_counters(1, Duration::from_secs(60), |c| c["seen"].as_u64() >= Some(2003));
    let health = d.wait_health(Duration::from_secs(10), |h| h["exited"].as_u64() <= Some(500));
    assert_eq!(marker["evicted"], 0, "the live process kept every event: {marker}");
    assert_eq!(marker["retained"], marker["seen"]);
    assert!(health["memory_bytes"].as_u64().unwrap() <= 1 << 20, "under the cap: {health}");
    let (_, watches) = d.get("/v1/watch?limit=10000");
    let exited: Vec<&serde_json::Value> = watches.as_array().unwrap().iter().filter(|w| w["alive"] == false).collect();
    let shed = exited.iter().filter(|w| w["evicted"].as_u64() > Some(0)).count();
    assert!(shed > 0, "exited histories were shed to make room");
    assert!(exited.len() <= 500, "exited watches are bounded: {}", exited.len());
    for e in &exited {
        assert_eq!(e["retained"].as_u64().unwrap() + e["evicted"].as_u64().unwrap(), e["seen"].as_u64().unwrap());
    }
}
