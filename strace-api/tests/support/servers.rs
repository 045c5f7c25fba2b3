//! Real servers the daemon talks to, started on loopback for one test:
//! Debian's `prometheus` (with `promtool`) and `nats-server`. Each gets a
//! free port and a folder of its own, and is stopped when dropped. Outside
//! CI a missing program makes the test skip, saying so; with `CI=true` it
//! fails.
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::in_ci;

/// A port free on loopback now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether `program` runs; if not, fails in CI and says SKIPPED elsewhere.
pub fn available(program: &str, why: &str) -> bool {
    match Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => true,
        Err(e) => {
            let reason = format!("{program} is not installed ({e}); {why}");
            assert!(!in_ci(), "{reason}");
            eprintln!("SKIPPED: {reason}");
            false
        }
    }
}

/// A folder for one server's files, removed at the end.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{}", std::process::id(), free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until `addr` accepts connections, or panics with `log`.
fn wait_listening(port: u16, within: Duration, what: &str, log: &Path) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: &mut Child) {
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Prometheus server scraping `targets` every second.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub base: String,
    agent: ureq::Agent,
}

impl Prometheus {
    /// Starts one scraping `target` (`host:port`) at `/metrics` every second,
    /// with `token` as a bearer token if given; `None` (after the skip line)
    /// when prometheus is not installed and CI is not set.
    pub fn start(target: &str, token: Option<&str>) -> Option<Prometheus> {
        if !available("prometheus", "apt-get install prometheus") {
            return None;
        }
        let dir = scratch("prometheus");
        let auth = match token {
            Some(t) => {
                std::fs::write(dir.join("token"), t).unwrap();
                format!("    authorization:\n      credentials_file: {}\n", dir.join("token").display())
            }
            None => String::new(),
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: strace-api\n    metrics_path: /metrics\n{auth}    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = dir.join("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus runs");
        wait_listening(port, Duration::from_secs(30), "prometheus", &log);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Some(Prometheus { child, dir, base: format!("http://127.0.0.1:{port}"), agent })
    }

    /// The value of an instant PromQL query's single result, if it has one.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let mut resp = self.agent.get(format!("{}/api/v1/query", self.base)).query("query", promql).call().ok()?;
        let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
        assert_eq!(body["status"], "success", "{promql}: {body}");
        let result = body["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{promql} has {} series: {body}", result.len());
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Whether Prometheus accepts `promql` (a range vector function needs
    /// its range), and how many series it answers.
    pub fn check(&self, promql: &str) -> Result<usize, String> {
        let mut resp = self
            .agent
            .get(format!("{}/api/v1/query", self.base))
            .query("query", promql)
            .call()
            .map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&resp.body_mut().read_to_string().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body.to_string());
        }
        Ok(body["data"]["result"].as_array().map_or(0, Vec::len))
    }

    /// Polls `promql` until `check` holds for its value, or panics after `within`.
    pub fn wait_for(&self, promql: &str, within: Duration, check: impl Fn(Option<f64>) -> bool) -> Option<f64> {
        let deadline = Instant::now() + within;
        loop {
            let v = self.query(promql);
            if check(v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{promql} = {v:?}, never what was expected; prometheus log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `promtool check metrics` on an exposition: its complaints, if any.
pub fn promtool_check(exposition: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(()) } else { Err(said) }
}

/// A NATS server with JetStream, on a free loopback port; it can be stopped
/// and started again on the same port with the same store.
pub struct Nats {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

impl Nats {
    /// `None` (after the skip line) when nats-server is not installed and CI is not set.
    pub fn start() -> Option<Nats> {
        if !available("nats-server", "apt-get install nats-server") {
            return None;
        }
        let mut n = Nats { child: None, dir: scratch("nats"), port: free_port() };
        n.restart();
        Some(n)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = self.dir.join("log");
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap())
            .spawn()
            .expect("nats-server runs");
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(20), "nats-server", &log);
    }

    /// Stops it (SIGTERM).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
