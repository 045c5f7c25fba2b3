//! Safe by default, tried as another local user would: with no token given,
//! the daemon generates one into a file only root can read, and a curl from
//! an unprivileged user gets 401 and reads nothing; a read-only token may
//! read but not watch; every watch change is in the audit log with who asked.
mod support;

use std::{path::PathBuf, process::Command, time::Duration};

use support::{Daemon, Workload, in_ci};

/// `curl` run as the unprivileged user `nobody` (65534): (status, body).
fn curl_as_nobody(args: &[&str]) -> (u16, String) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("setpriv and curl run (util-linux, curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn can_run_as_nobody() -> bool {
    let ok = Command::new("setpriv").args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"]).status();
    let curl = Command::new("curl").arg("--version").output();
    match (ok, curl) {
        (Ok(s), Ok(_)) if s.success() => true,
        _ => {
            assert!(!in_ci(), "setpriv or curl is missing (.ci/run installs curl; setpriv is util-linux)");
            support::skipped("setpriv or curl is missing");
            false
        }
    }
}

#[test]
fn another_local_user_gets_401_and_cannot_read_the_generated_token() {
    if !can_run_as_nobody() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("security-{}", std::process::id()));
    let token_file = dir.join("token");
    // Readable by nobody down to the directory: only the token file itself
    // must keep it out.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let Some(mut d) = Daemon::start(&["--token-out", token_file.to_str().unwrap()]) else { return };
    d.wait_log("no token was given: one was generated into", Duration::from_secs(10));
    let mut w = Workload::new(&["openat-enoent"]);
    let url = |path: &str| format!("{}{path}", d.base);

    // As nobody: no token, a guessed one, the file.
    let (status, body) = curl_as_nobody(&["-X", "PUT", &url(&format!("/v1/watch/{}", w.pid))]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(curl_as_nobody(&[&url("/v1/watch")]).0, 401);
    assert_eq!(curl_as_nobody(&["-H", "Authorization: Bearer guess", &url("/v1/watch")]).0, 401);
    let cat = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(!cat.status.success(), "nobody read the token");
    assert_eq!(curl_as_nobody(&[&url("/healthz")]).0, 200, "liveness needs no token");

    // Root reads the file and may watch.
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    d.token = Some(token);
    d.watch(w.pid);
    w.go();
    d.wait_events(w.pid, Duration::from_secs(10), |e| e.iter().any(|x| x["syscall"] == "openat"));
    d.wait_log("action=\"start\"", Duration::from_secs(10));
    let audit = d.log();
    let line = audit.lines().find(|l| l.contains("watch change") && l.contains("action=\"start\"")).unwrap_or("");
    assert!(line.contains("peer=\"tcp:127.0.0.1:") && line.contains("token=\"operator\""), "audit: {audit}");
    let status = d.stop();
    assert!(status.success());
    assert!(!token_file.exists(), "the generated token goes with the daemon");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_read_only_token_reads_but_does_not_watch() {
    let Some(mut d) = support::Daemon::start_command({
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strace-api"));
        cmd.env("STRACE_API_TOKEN", "operator-secret").env("STRACE_API_READ_TOKEN", "dashboard-secret");
        cmd
    }) else {
        return;
    };
    let mut w = Workload::new(&["getppid"]);
    d.token = Some("dashboard-secret".into());
    let (status, body) = d.put(&format!("/v1/watch/{}", w.pid));
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("operate"), "{body}");
    d.wait_log("refused: read-only token", Duration::from_secs(10));
    d.token = Some("operator-secret".into());
    d.watch(w.pid);
    w.go();
    d.token = Some("dashboard-secret".into());
    d.wait_events(w.pid, Duration::from_secs(10), |e| e.iter().any(|x| x["syscall"] == "getppid"));
    assert_eq!(d.delete(&format!("/v1/watch/{}", w.pid)).0, 403);
    assert_eq!(d.get("/v1/processes").0, 200);
}

/// `--redact`: a secret in a path and a command line is masked wherever it
/// leaves the daemon: strace lines (legacy, events, the stream's), decoded
/// JSON (events and stream), the watch list's command line and name, the
/// processes list, and /metrics' `comm` label. (The NATS export's events
/// are the API's JSON, written by the same code.)
#[test]
fn redacted_strings_never_leave_the_daemon() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("db-password=hunter2");
    let _ = std::fs::remove_file(&secret);
    std::os::unix::fs::symlink("/bin/sleep", &secret).unwrap();
    let Some(d) = Daemon::start(&["--redact", r"password=\S+", "--redact", r"--key (\S+)"]) else { return };
    let step = format!("fork-exec:{}", secret.display());
    let mut w = Workload::new(&[&step]);
    d.watch(w.pid);
    w.go_without_waiting();
    // The child (sleep, run by the secret's name) is watched as a child.
    let child = d.wait_counters_of_child(w.pid, Duration::from_secs(10));
    let events = d.wait_events(child, Duration::from_secs(10), |e| e.iter().any(|x| x["syscall"] == "execve"));
    // The stream from the start: its JSON events, then its strace lines.
    let mut stream =
        d.open_stream(&format!("/v1/processes/{child}/events/stream?after=0"), &[("accept", "text/event-stream")]);
    let mut frames = vec![];
    while let Some(f) = stream.frame() {
        let end = f.event.as_deref() == Some("end");
        frames.push(f.data);
        if end || frames.len() > 10_000 {
            break;
        }
    }
    assert!(frames.iter().any(|f| f.contains("execve")), "the stream sent the execve: {frames:?}");
    let mut text = d.open_stream(&format!("/v1/processes/{child}/events/stream?after=0&format=text"), &[]);
    let lines = text.lines(10_000).join("\n");
    assert!(lines.contains("execve("), "{lines}");
    let everything = [
        serde_json::to_string(&events).unwrap(),
        d.get(&format!("/strace/{child}/50?wait_ms=0")).1.to_string(),
        d.get(&format!("/v1/processes/{child}/events?format=text")).1.to_string(),
        d.get("/v1/watch").1.to_string(),
        d.get(&format!("/v1/processes/{child}")).1.to_string(),
        d.get("/v1/processes").1.to_string(),
        frames.join("\n"),
        lines,
        // The process's name (the secret's, cut to 15 bytes) is a label.
        d.get("/metrics").1.to_string(),
    ];
    for (i, text) in everything.iter().enumerate() {
        assert!(!text.contains("hunter2"), "output {i} leaks the secret: {text}");
    }
    let execve = events.iter().find(|e| e["syscall"] == "execve").unwrap();
    assert!(execve["text"].as_str().unwrap().contains("db-password=***"), "{execve}");
    assert!(execve["decoded"][0]["value"].as_str().unwrap().ends_with("db-password=***"), "{execve}");
    let _ = std::fs::remove_dir_all(&dir);
}
