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

pub mod browser;
pub mod servers;
pub mod sse;
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

    /// The workload of `steps` as pid 1 of a new PID namespace, and the
    /// daemon (with `args`) in that namespace: what a test that watches
    /// everything (`--watch-all`) or floods runs in, so nothing outside is
    /// traced. `None` as for `start`.
    pub fn in_new_pid_namespace(steps: &[&str], args: &[&str]) -> Option<(Workload, Daemon)> {
        let (w, host_pid) = Workload::in_new_pid_namespace(steps);
        let target = host_pid.to_string();
        let prefix: Vec<String> =
            ["nsenter", "--target", &target, "--pid", "--mount"].iter().map(|s| s.to_string()).collect();
        let d = Daemon::start_in(&prefix, args)?;
        Some((w, d))
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
    /// loopback port it reports in its log (unless `cmd` has a `--listen`).
    pub fn start_command(mut cmd: Command) -> Option<Daemon> {
        if !cmd.get_args().any(|a| a == "--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        // A token of its own (every daemon needs one over TCP), by
        // environment, unless the test chose how the daemon authenticates.
        let chosen = cmd.get_args().any(|a| {
            ["--token", "--token-file", "--insecure-no-auth", "--token-out"].contains(&a.to_str().unwrap_or_default())
        }) || cmd.get_envs().any(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("STRACE_API_TOKEN")));
        let token = (!chosen).then(|| format!("test-{}-{}", std::process::id(), unique()));
        if let Some(t) = &token {
            cmd.env("STRACE_API_TOKEN", t);
        }
        let strace_harness::Started { child, base, log } = match strace_harness::start(cmd, Duration::from_secs(30)) {
            Ok(started) => started,
            Err(reason) => {
                if in_ci() {
                    panic!("{reason}");
                }
                skipped(&format!("eBPF unavailable here, and CI is not set: {reason}"));
                return None;
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Some(Daemon { child, base, log, agent, token })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `host:port` of a TCP listener (HTTP or HTTPS).
    pub fn addr(&self) -> &str {
        self.base.split("://").nth(1).expect("a TCP listener")
    }

    /// Polls the log until it holds `needle`, or panics after `within`.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(Instant::now() < deadline, "the log never said {needle:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// `curl` on `path` (through the Unix socket for a `unix:` listener),
    /// with `args` before the URL: the status (0 when curl failed, e.g. a
    /// certificate it does not trust), and the body or curl's complaint.
    pub fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["--silent", "--show-error", "--max-time", "10", "--write-out", "\n%{http_code}"]).args(args);
        match self.base.strip_prefix("unix:") {
            Some(socket) => cmd.arg("--unix-socket").arg(socket).arg(format!("http://localhost{path}")),
            None => cmd.arg(format!("{}{path}", self.base)),
        };
        let out = cmd.output().expect("curl runs (Debian package curl)");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let status = code.trim().parse().unwrap_or(0);
        if status == 0 {
            return (0, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        (status, body.to_string())
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

    /// Opens the event stream at `path` with `headers`, and the token.
    pub fn open_stream(&self, path: &str, headers: &[(&str, &str)]) -> sse::Stream {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &auth {
            all.push(("authorization", a));
        }
        sse::Stream::open(&self.base, path, &all)
    }

    /// Polls until a process followed from `parent` is watched; its pid.
    pub fn wait_counters_of_child(&self, parent: u32, within: Duration) -> u32 {
        let deadline = Instant::now() + within;
        loop {
            let (_, list) = self.get("/v1/watch");
            let child = list.as_array().and_then(|l| l.iter().find(|w| w["parent"] == parent).cloned());
            if let Some(pid) = child.and_then(|c| c["pid"].as_u64()) {
                return pid as u32;
            }
            assert!(Instant::now() < deadline, "no child of {parent} was watched: {list}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
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
        self.stop_timed().0
    }

    /// SIGTERM: the exit status, and how long the daemon took to exit.
    pub fn stop_timed(&mut self) -> (ExitStatus, Duration) {
        self.signal(libc::SIGTERM);
        self.wait_timed()
    }

    /// Waits (up to 20 s) for it to exit by itself (after a signal sent
    /// otherwise), and the exit status.
    pub fn wait_exit(mut self) -> ExitStatus {
        self.wait_timed().0
    }

    fn wait_timed(&mut self) -> (ExitStatus, Duration) {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, start.elapsed());
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Raises this process's open-files limit to its hard limit (tests that
/// hold thousands of connections); returns it.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid resource and pointers to a live rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max.min(1 << 20);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0, "{}", std::io::Error::last_os_error());
    }
    lim.rlim_cur
}

/// An HTTP/1.1 answer read to its end from a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// Sends `request` on a new connection to `addr` and reads until the server
/// closes it (or 10 s pass).
pub fn raw_request(addr: &str, request: &[u8]) -> RawResponse {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    RawResponse { status, head: head.to_string(), body: body.to_string() }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Says that the running test skips, and why, where a person sees it: on
/// stderr itself, past the test harness's capture (which hides a passing
/// test's `eprintln!`). Outside CI only: there a skip is a failure.
pub fn skipped(reason: &str) {
    use std::io::Write as _;
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
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

    /// The same, its command line naming no folder of this machine
    /// (`workload flag-… STEPS…`, run from the flag's folder): for a
    /// screenshot that shows it.
    pub fn new_short(steps: &[&str]) -> Workload {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new(workload_binary());
        cmd.arg0("workload").current_dir(env!("CARGO_TARGET_TMPDIR"));
        let (mut w, line) = Workload::spawn(cmd, steps);
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
        // By its name alone when run from its folder.
        let arg = match cmd.get_current_dir() {
            Some(dir) if flag.parent() == Some(dir) => flag.file_name().unwrap().into(),
            _ => flag.clone().into_os_string(),
        };
        let mut child = cmd
            .arg(arg)
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

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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
