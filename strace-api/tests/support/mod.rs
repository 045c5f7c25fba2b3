//! The harness for tests that load the real eBPF program: a running daemon
//! (the real binary), a workload with a known syscall sequence, and
//! expectations that read like the sentence they test.
//!
//! Outside CI a daemon that cannot load eBPF (not root, old kernel) makes the
//! test skip with the reason printed; with `CI=true` it fails.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde_json::Value;

pub mod servers;
pub mod strace;

/// Starts a daemon or returns from the test (skipping outside CI).
#[macro_export]
macro_rules! daemon {
    ($($arg:expr),* $(,)?) => {
        match support::Daemon::start(&[$($arg),*]) {
            Some(d) => d,
            None => return,
        }
    };
}

pub struct Daemon {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
    agent: ureq::Agent,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
}

impl Daemon {
    /// `None` when eBPF cannot be loaded here and we are not in CI.
    pub fn start(args: &[&str]) -> Option<Daemon> {
        Daemon::start_in(&[], args)
    }

    /// Starts the daemon through `prefix` (e.g. `nsenter …` to run it in
    /// another PID namespace).
    pub fn start_in(prefix: &[String], args: &[&str]) -> Option<Daemon> {
        let bin = env!("CARGO_BIN_EXE_strace-api");
        let mut cmd = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args);
        Daemon::start_command(cmd)
    }

    /// Starts `cmd` (the daemon, however it is wrapped), listening on a free
    /// loopback port it reports in its log.
    pub fn start_command(mut cmd: Command) -> Option<Daemon> {
        cmd.args(["--listen", "127.0.0.1:0"]);
        let strace_harness::Started { child, base, log } = match strace_harness::start(cmd, Duration::from_secs(30)) {
            Ok(started) => started,
            Err(reason) => {
                if in_ci() {
                    panic!("{reason}");
                }
                eprintln!("SKIPPED (eBPF unavailable here, and CI is not set): {reason}");
                return None;
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Some(Daemon { child, base, log, agent, token: None })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn send(&self, method: &str, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}")).unwrap_or_default();
        let resp = match method {
            "GET" => self.agent.get(&url).header("authorization", &auth).call(),
            "DELETE" => self.agent.delete(&url).header("authorization", &auth).call(),
            "PUT" => self.agent.put(&url).header("authorization", &auth).send_empty(),
            "POST" => self.agent.post(&url).header("authorization", &auth).send_empty(),
            m => panic!("method {m}"),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path)
    }
    pub fn put(&self, path: &str) -> (u16, Value) {
        self.send("PUT", path)
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path)
    }
    pub fn post(&self, path: &str) -> (u16, Value) {
        self.send("POST", path)
    }

    pub fn watch(&self, pid: u32) {
        let (status, body) = self.put(&format!("/v1/watch/{pid}"));
        assert!(status == 200 || status == 201, "watch {pid}: {status} {body}");
    }

    /// The watch-list entry of `pid`.
    pub fn counters(&self, pid: u32) -> Value {
        self.try_counters(pid).unwrap_or_else(|| panic!("{pid} is not in the watch list"))
    }

    fn try_counters(&self, pid: u32) -> Option<Value> {
        let (_, list) = self.get("/v1/watch");
        list.as_array().and_then(|l| l.iter().find(|w| w["pid"] == pid).cloned())
    }

    /// All retained events of `pid`, oldest first.
    pub fn events(&self, pid: u32) -> Vec<Value> {
        let mut all = vec![];
        let mut after = 0;
        loop {
            let (status, page) = self.get(&format!("/v1/processes/{pid}/events?after={after}&limit=10000"));
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                return all;
            }
            after = events.last().unwrap()["seq"].as_u64().unwrap();
            all.extend(events);
        }
    }

    /// Polls until `check` holds for `pid`'s events, or panics after `within`.
    pub fn wait_events(&self, pid: u32, within: Duration, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let (status, _) = self.get(&format!("/v1/processes/{pid}/events?limit=1"));
            let events = if status == 200 { self.events(pid) } else { vec![] };
            if check(&events) {
                return events;
            }
            if Instant::now() > deadline {
                let texts: Vec<_> = events.iter().map(|e| format!("{} {}", e["tid"], e["text"])).collect();
                panic!("events of {pid} never got there:\n{}\ndaemon log:\n{}", texts.join("\n"), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until `check` holds for `pid`'s counters, or panics after `within`.
    pub fn wait_counters(&self, pid: u32, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let c = self.try_counters(pid).unwrap_or_default();
            if check(&c) {
                return c;
            }
            if Instant::now() > deadline {
                panic!("counters of {pid} never got there: {c}\ndaemon log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls until `check` holds for `/healthz`, or panics after `within`.
    pub fn wait_health(&self, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (_, h) = self.get("/healthz");
            if check(&h) {
                return h;
            }
            if Instant::now() > deadline {
                panic!("/healthz never got there: {h}\ndaemon log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when tests must not skip: CI=true.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The workload program (support/workload.c), compiled once per test binary.
pub fn workload_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| compile("workload"))
}

/// Compiles support/NAME.c into the test's temporary folder.
pub fn compile(name: &str) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let src = format!("{}/tests/support/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let st = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-Wall", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed for the test workloads");
    assert!(st.success(), "compiling {src} failed");
    out
}

/// A zeroed 4 KiB flag file a workload spins on (see workload.c); the
/// caller removes it.
pub fn flag_file() -> PathBuf {
    strace_harness::FlagFile::new(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "flag").unwrap().keep()
}

pub fn set_flag(flag: &std::path::Path, v: u8) {
    strace_harness::set_flag(flag, v).unwrap();
}

/// A process that makes exactly the syscalls of its steps, when told to.
pub struct Workload {
    child: Child,
    stdout: ChildStdout,
    pub flag: PathBuf,
    pub pid: u32,
}

impl Workload {
    /// Starts it; it waits, making no syscalls, until [`Workload::go`].
    pub fn new(steps: &[&str]) -> Workload {
        let (mut w, line) = Workload::spawn(Command::new(workload_binary()), steps);
        assert!(line.starts_with("ready "), "workload said {line:?}");
        w.pid = line[6..].trim().parse().unwrap_or_else(|_| panic!("workload said {line:?}"));
        w
    }

    /// Starts it as pid 1 of a new PID namespace (with its own /proc), with
    /// `unshare`; `pid` is then 1 and `host_pid` its pid outside.
    pub fn in_new_pid_namespace(steps: &[&str]) -> (Workload, u32) {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(workload_binary());
        let (mut w, line) = Workload::spawn(cmd, steps);
        assert_eq!(line, "ready 1\n", "the workload is pid 1 of its namespace");
        let unshare = w.child.id();
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
        let host_pid = children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("unshare has a child");
        w.pid = 1;
        (w, host_pid)
    }

    /// Runs `cmd FLAG STEPS…` and reads its first line.
    fn spawn(mut cmd: Command, steps: &[&str]) -> (Workload, String) {
        let flag = flag_file();
        let mut child = cmd
            .arg(&flag)
            .args(steps)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the workload runs");
        let mut stdout = child.stdout.take().unwrap();
        let line = read_line(&mut stdout);
        (Workload { child, stdout, flag, pid: 0 }, line)
    }

    /// Runs the steps and waits until they are done.
    pub fn go(&mut self) {
        self.set_flag(1);
        let line = read_line(&mut self.stdout);
        assert_eq!(line, "done\n", "workload did not finish its steps");
    }

    /// Starts the steps and returns at once (for steps that run long).
    pub fn go_without_waiting(&mut self) {
        self.set_flag(1);
    }

    /// Kills it and leaves it unreaped: a zombie, still listed in /proc.
    pub fn kill_leaving_a_zombie(&mut self) {
        self.child.kill().unwrap();
    }

    /// Lets it exit (with `exit_group(0)`) and reaps it.
    pub fn finish(mut self) {
        self.set_flag(2);
        let st = self.child.wait().unwrap();
        assert!(st.success(), "workload exited with {st}");
    }

    fn set_flag(&self, v: u8) {
        set_flag(&self.flag, v);
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.flag);
    }
}

pub fn read_line(r: &mut impl std::io::Read) -> String {
    strace_harness::read_line(r).unwrap_or_default()
}

/// An expected syscall: a name, and optionally its return value or errno.
#[derive(Clone, Debug)]
pub struct Call {
    name: &'static str,
    ret: Option<i64>,
    errno: Option<&'static str>,
}

pub fn call(name: &'static str) -> Call {
    Call { name, ret: None, errno: None }
}

impl Call {
    pub fn returning(mut self, ret: i64) -> Call {
        self.ret = Some(ret);
        self
    }
    pub fn failing_with(mut self, errno: &'static str) -> Call {
        self.errno = Some(errno);
        self.ret = Some(-(syscall_errno(errno) as i64));
        self
    }
    fn matches(&self, ev: &Value) -> bool {
        ev["syscall"] == self.name
            && self.ret.is_none_or(|r| ev["ret"] == r)
            && self.errno.is_none_or(|e| ev["errno"] == e)
    }
}

fn syscall_errno(name: &str) -> i32 {
    match name {
        "ENOENT" => libc::ENOENT,
        "EBADF" => libc::EBADF,
        other => panic!("add {other} to the harness"),
    }
}

/// Asserts that `expected` appear in `events` in this order (other events may sit between).
pub fn assert_in_order(events: &[Value], expected: &[Call]) {
    let mut it = events.iter();
    for want in expected {
        if !it.any(|ev| want.matches(ev)) {
            let texts: Vec<_> = events.iter().map(|e| e["text"].as_str().unwrap_or("?").to_string()).collect();
            panic!("{want:?} not found in order among:\n{}", texts.join("\n"));
        }
    }
}
