//! The end-to-end slice with the real eBPF program: a workload makes known
//! syscalls, the daemon records them, the HTTP API returns them.
mod support;

use std::time::Duration;

use support::{Workload, assert_in_order, call};

#[test]
fn known_calls_appear_in_order_with_names_and_return_values() {
    let d = daemon!();
    let mut w = Workload::new(&["openat-enoent", "getppid", "write:5"]);
    d.watch(w.pid);
    w.go();
    let ppid = std::process::id() as i64;
    d.wait_counters(w.pid, Duration::from_secs(10), |c| c["seen"] == 4);
    let events = d.events(w.pid);
    assert_in_order(
        &events,
        &[
            call("openat").failing_with("ENOENT"),
            call("getppid").returning(ppid),
            call("write").returning(5),
            call("write").returning(5), // "done\n"
        ],
    );
    let openat = &events[0];
    assert_eq!(openat["text"].as_str().unwrap().split(" = ").nth(1), Some("-1 ENOENT (No such file or directory)"));
    assert_eq!(openat["pid"], w.pid);
    assert_eq!(openat["tid"], w.pid);
    assert!(openat["duration_ns"].as_u64().unwrap() > 0);
    assert!(openat["ts"].as_str().unwrap().ends_with('Z'));

    let pid = w.pid;
    w.finish();
    let exit = d.wait_counters(pid, Duration::from_secs(10), |c| c["seen"] == 5);
    assert_eq!(exit["dropped"], 0);
    let last = d.events(pid).pop().unwrap();
    assert_eq!((last["syscall"].as_str(), &last["ret"]), (Some("exit_group"), &serde_json::Value::Null));
    assert_eq!(last["text"], "exit_group(0) = ?");
}

#[test]
fn legacy_endpoint_starts_watching_and_waits_for_lines() {
    let d = daemon!();
    let mut w = Workload::new(&["getppid", "getppid", "getppid"]);
    let pid = w.pid;
    // Three getppid and the write of "done\n": all the workload does after go.
    let url = format!("/strace/{pid}/4?wait_ms=20000");
    let reader = std::thread::scope(|s| {
        let reader = s.spawn(|| d.get(&url));
        // The request itself starts the watch; go once it is in place.
        d.wait_counters(pid, Duration::from_secs(10), |c| c["pid"] == pid);
        w.go();
        reader.join().unwrap()
    });
    let (status, lines) = reader;
    assert_eq!(status, 200, "{lines}");
    let ppid = std::process::id();
    let lines: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l["data"].as_str().unwrap()).collect();
    let getppid = format!("getppid() = {ppid}");
    assert_eq!(lines[..3], [getppid.as_str(); 3]);
    assert!(lines[3].starts_with("write(1, 0x") && lines[3].ends_with(", 5) = 5"), "{}", lines[3]);
}

/// Every record is delivered or counted as dropped: delivered + dropped == calls
/// made, exactly; and every delivered one is retained or evicted.
#[test]
fn storm_accounting_is_exact() {
    const N: u64 = 300_000;
    // A small ring, so the storm overflows it and drops happen too.
    let d = daemon!("--ring-bytes", "65536");
    let storm = format!("storm:{N}");
    let mut w = Workload::new(&[&storm]);
    d.watch(w.pid);
    w.go();
    let issued = N + 1; // + the write of "done"
    let c = d.wait_counters(w.pid, Duration::from_secs(30), |c| {
        c["seen"].as_u64().unwrap() + c["dropped"].as_u64().unwrap() >= issued
    });
    std::thread::sleep(Duration::from_millis(200));
    let c2 = d.counters(w.pid);
    assert_eq!(c, c2, "counters moved after the workload went quiet");
    let (seen, dropped) = (c["seen"].as_u64().unwrap(), c["dropped"].as_u64().unwrap());
    let (retained, evicted) = (c["retained"].as_u64().unwrap(), c["evicted"].as_u64().unwrap());
    println!("storm of {issued}: delivered {seen}, dropped {dropped}, retained {retained}, evicted {evicted}");
    assert_eq!(seen + dropped, issued, "delivered + dropped == issued");
    assert_eq!(retained + evicted, seen, "retained + evicted == delivered");
    assert_eq!(retained, 4096, "the per-process ring is full and bounded");
    let (_, health) = d.get("/healthz");
    assert_eq!(health["kernel"]["ring_full"].as_u64().unwrap(), dropped, "host-wide drops equal this process's");
    // The drain saw the ring hold records, never more than it holds; and a
    // ring that dropped records (one that had no room for a ~4 KiB batch)
    // was seen well filled.
    let ring = &health["ring"];
    let (size, peak) = (ring["size_bytes"].as_u64().unwrap(), ring["peak_used_bytes"].as_u64().expect("tracked"));
    println!("ring: {size} bytes, at most {peak} in use");
    assert_eq!(size, 65536, "{health}");
    assert!(peak > 0 && peak <= size, "{health}");
    if dropped > 0 {
        assert!(peak >= size / 2, "records were dropped, yet the fullest the ring was seen is {peak} of {size}");
    }
    // Every record delivered came in a ring item the drain counted, batched.
    let (items, records) = (ring["items_read"].as_u64().unwrap(), ring["records_read"].as_u64().unwrap());
    println!("ring: {items} items read, {records} records in them");
    assert!(records >= seen && items > 0 && items < records, "{health}");
    w.finish();
}

/// Changing a watch while its process floods a small ring (its children
/// followed, then not, then a filter, over and over) loses none of the
/// kernel's counts: the change is made in place by the kernel, not by
/// rewriting the entry the programs count the drops in.
#[test]
fn accounting_stays_exact_while_the_watch_changes() {
    const N: u64 = 3_000_000;
    let d = daemon!("--ring-bytes", "65536");
    let storm = format!("storm:{N}");
    let mut w = Workload::new(&[&storm]);
    d.watch(w.pid);
    let issued = N + 1; // + the write of "done"
    let done = std::sync::atomic::AtomicBool::new(false);
    let pid = w.pid;
    let changes = std::thread::scope(|s| {
        let changer = s.spawn(|| {
            let mut n = 0;
            // Bounded: the storm takes about a second.
            while !done.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
                let query = ["children=true", "children=false", "syscalls=getppid,write"][n % 3];
                assert_eq!(d.put(&format!("/v1/watch/{pid}?{query}")).0, 200);
                n += 1;
            }
            n
        });
        w.go();
        let c = d.wait_counters(pid, Duration::from_secs(60), |c| {
            c["seen"].as_u64().unwrap() + c["dropped"].as_u64().unwrap() >= issued
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let n = changer.join().unwrap();
        println!("{n} changes of the watch; counters then: {c}");
        n
    });
    std::thread::sleep(Duration::from_millis(200));
    let c = d.counters(w.pid);
    let (seen, dropped) = (c["seen"].as_u64().unwrap(), c["dropped"].as_u64().unwrap());
    println!("storm of {issued} under {changes} changes: delivered {seen}, dropped {dropped}");
    assert!(changes >= 10 && dropped > 0, "the changes had drops to lose: {changes} changes, {c}");
    assert_eq!(seen + dropped, issued, "delivered + dropped == issued: {c}");
    let (_, health) = d.get("/healthz");
    let k = &health["kernel"];
    let kernel = k["ring_full"].as_u64().unwrap() + k["throttled"].as_u64().unwrap();
    assert_eq!(kernel, dropped, "host-wide drops equal this process's: {health}");
    w.finish();
}

#[test]
fn unwatch_stops_recording_and_frees_the_history() {
    let d = daemon!();
    let mut w = Workload::new(&["getppid"]);
    d.watch(w.pid);
    assert_eq!(d.put(&format!("/v1/watch/{}", w.pid)).0, 200, "watching twice is fine");
    w.go();
    d.wait_counters(w.pid, Duration::from_secs(10), |c| c["seen"] == 2);
    let (status, last) = d.delete(&format!("/v1/watch/{}", w.pid));
    assert_eq!((status, &last["seen"]), (200, &serde_json::json!(2)));
    assert_eq!(d.get(&format!("/v1/processes/{}/events", w.pid)).0, 404);
    assert_eq!(d.delete(&format!("/v1/watch/{}", w.pid)).0, 404);
    w.finish();
    let (_, health) = d.get("/healthz");
    assert_eq!(health["watched"], 0);
}

#[test]
fn bad_requests_get_json_errors() {
    let d = daemon!();
    let me = std::process::id();
    let cases = [
        ("GET", "/strace/0/10".to_string(), 400),
        ("GET", "/strace/abc/10".to_string(), 400),
        ("GET", format!("/strace/{me}/0"), 400),
        ("GET", format!("/strace/{me}/10001"), 400),
        ("GET", format!("/strace/{me}/10?wait_ms=99999"), 400),
        ("GET", format!("/strace/{}/10", i32::MAX), 404),
        ("PUT", "/v1/watch/-5".to_string(), 400),
        ("PUT", format!("/v1/watch/{}", i32::MAX), 404),
        ("DELETE", format!("/v1/watch/{me}"), 404),
        ("GET", format!("/v1/processes/{me}/events"), 404),
        ("GET", format!("/v1/processes/{me}/events?limit=0"), 400),
        ("POST", "/healthz".to_string(), 405),
        ("GET", "/v2/anything".to_string(), 404),
    ];
    for (method, path, want) in cases {
        let (status, body) = match method {
            "GET" => d.get(&path),
            "PUT" => d.put(&path),
            "DELETE" => d.delete(&path),
            _ => d.post(&path),
        };
        assert_eq!(status, want, "{method} {path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{method} {path}: {body}");
    }
}

/// A request waiting for events (the legacy endpoint's `wait_ms`, up to
/// 30 s) is answered at SIGTERM, not waited out: a container runtime kills
/// a daemon that takes longer than ~10 s to stop.
#[test]
fn sigterm_stops_serving_detaches_and_exits_zero() {
    let d = daemon!();
    let (_, health) = d.get("/healthz");
    let ids: Vec<u64> = health["programs"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 7, "{health}");
    let loaded = |id: u64| aya::programs::loaded_programs().filter_map(Result::ok).any(|p| p.id() as u64 == id);
    assert!(ids.iter().all(|&id| loaded(id)));
    // A workload that makes no call until told: the request waits its 30 s.
    let w = Workload::new(&["getppid"]);
    let url = format!("{}/strace/{}/5?wait_ms=30000", d.base, w.pid);
    let auth = format!("Bearer {}", d.token.clone().unwrap_or_default());
    let waiting = std::thread::spawn(move || {
        let mut r = ureq::get(&url).header("authorization", &auth).call().map_err(|e| e.to_string())?;
        Ok::<_, String>((r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()))
    });
    d.wait_counters(w.pid, Duration::from_secs(10), |c| c["alive"] == true);
    let base = d.base.clone();
    // stop() gives the daemon 20 s.
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    assert_eq!(waiting.join().unwrap(), Ok((200, "[]".to_string())), "answered with what there was");
    // The kernel frees programs after an RCU grace period: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ids.iter().any(|&id| loaded(id)) {
        assert!(std::time::Instant::now() < deadline, "programs still loaded 10 s after exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::net::TcpStream::connect(base.trim_start_matches("http://")).is_err(), "still listening");
}

/// Idle costs nothing: with nothing watched the syscall hooks are detached.
#[test]
fn syscall_hooks_are_attached_only_while_something_is_watched() {
    let d = daemon!();
    let (_, health) = d.get("/healthz");
    let id_of = |name: &str| {
        health["programs"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"].as_u64().unwrap()
            as u32
    };
    let (enter, exit, fork) = (id_of("sys_enter"), id_of("sys_exit"), id_of("process_fork"));
    let (switch, tick) = (id_of("task_switch"), id_of("tick"));
    let linked = |prog: u32| aya::programs::loaded_links().filter_map(Result::ok).any(|l| l.program_id() == prog);
    assert!(!linked(enter) && !linked(exit), "idle: no syscall hook attached");
    assert!(!linked(switch) && !linked(tick), "idle: no batch-flushing hook attached");
    assert!(linked(fork), "the fork hook stays, to keep pid reuse right");
    assert_eq!(health["hooks_attached"], false);

    let mut w = Workload::new(&["getppid"]);
    d.watch(w.pid);
    assert!(linked(enter) && linked(exit) && linked(switch) && linked(tick));
    assert_eq!(d.get("/healthz").1["hooks_attached"], true);
    w.go();
    d.wait_counters(w.pid, Duration::from_secs(10), |c| c["seen"] == 2);
    d.delete(&format!("/v1/watch/{}", w.pid));
    assert!(!linked(enter) && !linked(exit), "idle again");
    // The flush hooks go after a grace period, before the unwatch answers.
    assert!(!linked(switch) && !linked(tick), "idle again: no batch-flushing hook");
    w.finish();
}

/// Start-up failures are one sentence and a non-zero exit.
#[test]
fn start_up_failures_are_one_clear_sentence() {
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let bin = env!("CARGO_BIN_EXE_strace-api");
    let (status, err) = run(std::process::Command::new(bin).args(["--ring-bytes", "1000"]));
    assert!(!status.success());
    assert!(err.contains("--ring-bytes must be a power of two"), "{err}");

    let (status, err) = run(std::process::Command::new(bin).args(["--listen", "0.0.0.0:0"]));
    assert!(!status.success());
    assert!(err.contains("without a token"), "{err}");

    // Without privileges: the same binary as an unprivileged user.
    let (status, err) = run(std::process::Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        bin,
    ]));
    assert!(!status.success());
    assert!(err.contains("needs root, or CAP_BPF and CAP_PERFMON"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
}

/// A process the kernel has already filed as not watched (it made syscalls
/// while the hooks were attached for another) is traced once it is watched,
/// and again after an unwatch and a new watch: each change resets its cache
/// byte in the kernel.
#[test]
fn a_process_seen_unwatched_is_traced_once_watched_again_and_again() {
    let d = daemon!();
    // Something watched, so the hooks are attached.
    let mut helper = Workload::new(&["getppid"]);
    d.watch(helper.pid);
    let busy = KillOnDrop(
        std::process::Command::new("sh")
            .args(["-c", "while :; do sleep 0.01; done"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = busy.0.id();
    for round in 0..2 {
        // Its syscalls meanwhile file it as not watched.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(d.put(&format!("/v1/watch/{pid}?children=false")).0, 201, "round {round}");
        d.wait_events(pid, Duration::from_secs(10), |events| events.len() >= 5);
        assert_eq!(d.delete(&format!("/v1/watch/{pid}")).0, 200, "round {round}");
    }
    drop(busy);
    helper.go();
    helper.finish();
}

/// A child that dies with the test, even one that fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A watch someone asked for survives the daemon's restart (`--state-file`),
/// with its filter and fd paths,
/// even a SIGKILL, which leaves none of its programs in the kernel.
#[test]
fn watches_survive_a_restart_and_sigkill_leaves_nothing_in_the_kernel() {
    let state = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{}", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let d = daemon!("--state-file", state.to_str().unwrap());
    let mut w = Workload::new(&["getppid", "getppid"]);
    let (status, body) = d.put(&format!("/v1/watch/{}?syscalls=getppid,%25process&fd_paths=true", w.pid));
    assert_eq!(status, 201, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&state).is_ok_and(|s| s.contains(&format!("\"pid\":{}", w.pid))) {
        assert!(std::time::Instant::now() < deadline, "the state file never listed the watch");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, health) = d.get("/healthz");
    let ids: Vec<u64> = health["programs"].as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(!ids.is_empty());
    d.signal(libc::SIGKILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let loaded: Vec<u64> =
            aya::programs::loaded_programs().filter_map(Result::ok).map(|p| u64::from(p.id())).collect();
        if ids.iter().all(|id| !loaded.contains(id)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "programs {ids:?} stayed loaded after SIGKILL");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(d);

    let d = daemon!("--state-file", state.to_str().unwrap());
    d.wait_log("watches taken up again", Duration::from_secs(10));
    let c = d.counters(w.pid);
    assert_eq!((c["origin"].as_str(), c["alive"].as_bool()), (Some("requested"), Some(true)), "{c}");
    // As it was asked for: its kernel-side filter and fd paths too.
    assert_eq!((c["syscalls"].as_str(), c["fd_paths"].as_bool()), (Some("getppid,%process"), Some(true)), "{c}");
    w.go();
    d.wait_events(w.pid, Duration::from_secs(10), |e| e.iter().filter(|x| x["syscall"] == "getppid").count() == 2);
    let _ = std::fs::remove_file(&state);
}
