//! The real-server scenario (issue #23): what the daemon costs a web server.
//! nginx (Debian's package) serves a 2.7 KB static file with its access log
//! on (on a tmpfs), as pid 1 of its own PID namespace, its one worker pinned
//! to the storm's CPU; wrk loads it from the other CPU, the daemon's. Each
//! configuration is measured between two baselines, round after round, and
//! each round's ratio is to the mean of the baselines around it.
use std::{
    fmt::Write as _,
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    DAEMON_CPU, STORM_CPU,
    daemon::Daemon,
    floor::{self, Counter, Floor},
    load::parse_ms,
    report::{Spread, spread},
    settle,
    summary::verdict,
};

/// wrk's connections (`-c`), from one thread.
const CONNECTIONS: u32 = 8;
/// The file served.
const FILE_BYTES: usize = 2700;
/// Before each timed run, a run of wrk that is not counted: connections
/// open, a newly attached program's first calls (the cold paths) done.
const WARM_UP_SECS: u32 = 1;
/// The filtered row's `--watch-all-syscalls`, and what its identity counts.
const NETWORK: &str = "%network";

/// The configurations measured against the baseline, in the order a round
/// runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Config {
    Floor,
    #[value(name = "clocks")]
    FloorClocks,
    Unwatched,
    WatchAll,
    #[value(name = "exit-only")]
    WatchAllExitOnly,
    /// As WatchAll, recording only the socket calls (`--watch-all-syscalls`).
    #[value(name = "network")]
    WatchAllNetwork,
    Strace,
    PerfTrace,
    /// As WatchAll, with the daemon given by `--alt-daemon` (comparing two
    /// builds in one session; not in a full run).
    #[value(name = "watch-all-alt")]
    WatchAllAlt,
}

impl Config {
    pub const ALL: [Config; 9] = [
        Config::Floor,
        Config::FloorClocks,
        Config::Unwatched,
        Config::WatchAll,
        Config::WatchAllAlt,
        Config::WatchAllExitOnly,
        Config::WatchAllNetwork,
        Config::Strace,
        Config::PerfTrace,
    ];

    fn name(self) -> &'static str {
        match self {
            Config::Floor => "n2. floor: empty programs on every hook the daemon attaches",
            Config::FloorClocks => {
                "n2c. programs that only read the clock on the syscall hooks (empty ones on the others)"
            }
            Config::Unwatched => "n3. daemon running, nginx not watched (another process is)",
            Config::WatchAll => "n4. daemon in nginx's namespace, `--watch-all` (the sidecar image's default)",
            Config::WatchAllExitOnly => "n4c. as n4, with `--entry-hook false --durations false`",
            Config::WatchAllNetwork => "n4n. as n4, with `--watch-all-syscalls %network`",
            Config::Strace => "n5. strace -f -p (the worker)",
            Config::PerfTrace => "n6. perf trace -p (the worker)",
            Config::WatchAllAlt => "n4 (alt). as n4, with the other daemon (`--alt-daemon`)",
        }
    }

    fn note(self) -> &'static str {
        match self {
            Config::Floor => "sys_enter, sys_exit, sched_switch, hrtimer_expire_entry: the floor of this server",
            Config::Unwatched => "what every process pays while anything is watched",
            Config::WatchAll => "every call of nginx's master and worker recorded",
            Config::WatchAllNetwork => {
                "only the socket calls recorded (accept4, recvfrom, setsockopt…); the others stop at a bit in sys_enter"
            }
            _ => "",
        }
    }

    /// A daemon runs in this configuration: its accounting is reported.
    fn daemon_args(self) -> Option<&'static [&'static str]> {
        match self {
            Config::WatchAll | Config::WatchAllAlt => Some(&["--watch-all"]),
            Config::WatchAllExitOnly => Some(&["--watch-all", "--entry-hook", "false", "--durations", "false"]),
            Config::WatchAllNetwork => Some(&["--watch-all", "--watch-all-syscalls", NETWORK]),
            _ => None,
        }
    }
}

/// nginx running in its own PID namespace, pid 1 there.
pub struct Server {
    unshare: Child,
    /// Host pids of the master (pid 1 of the namespace) and of its worker.
    pub master: u32,
    pub worker: u32,
    port: u16,
    version: String,
    /// The access log, as nginx's mount namespace names it.
    access_log: PathBuf,
    /// Seconds of each timed run.
    secs: u32,
}

impl Server {
    /// Writes the site and the configuration under `tmp` and starts nginx.
    pub fn start(tmp: &Path, secs: u32) -> Result<Server> {
        let dir = tmp.join("nginx");
        let logs = dir.join("logs");
        for d in [dir.join("html"), logs.clone(), dir.join("tmp")] {
            std::fs::create_dir_all(&d)?;
        }
        // Readable by the worker's user (the directories are created 0755).
        std::fs::write(dir.join("html/index.html"), page())?;
        let port = free_port()?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, &logs, port, STORM_CPU))?;
        let version = Command::new("nginx")
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).trim().trim_start_matches("nginx version: ").to_string())
            .unwrap_or_default();
        // The access log on a tmpfs of the namespace's own, mounted before
        // nginx opens it; `exec` keeps nginx pid 1.
        let mut unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c"])
            .arg("mount -t tmpfs -o size=512m nginx-logs \"$1\" && exec nginx -c \"$2\" -p \"$3\"")
            .arg("sh")
            .args([&logs, &conf, &dir])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nginx under unshare")?;
        let id = unshare.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (master, worker) = loop {
            let master = children(id).first().copied();
            let worker = master.and_then(|m| children(m).first().copied());
            if let (Some(m), Some(w)) = (master, worker)
                && get(port).is_ok()
            {
                break (m, w);
            }
            if Instant::now() > deadline || unshare.try_wait()?.is_some() {
                let mut err = String::new();
                if let Some(mut e) = unshare.stderr.take() {
                    let _ = unshare.kill();
                    let _ = e.read_to_string(&mut err);
                }
                let _ = unshare.wait();
                bail!("nginx did not start serving: {}", err.trim());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Server { unshare, master, worker, port, version, access_log: logs.join("access.log"), secs })
    }

    /// `nsenter` into nginx's PID and mount namespaces: the daemon run so
    /// is the sidecar joined to the application's namespace.
    fn nsenter(&self) -> Vec<String> {
        let target = self.master.to_string();
        ["nsenter", "--target", &target, "--pid", "--mount", "--"].map(String::from).to_vec()
    }

    /// Empties the access log (it grows by ~100 bytes a request), through
    /// nginx's own view of the files: its tmpfs is not mounted on the host.
    fn truncate_log(&self) {
        let log = format!("/proc/{}/root{}", self.master, self.access_log.display());
        let _ = std::fs::OpenOptions::new().write(true).truncate(true).open(log);
    }

    /// wrk against the file for `secs`, from `cpu`.
    fn wrk(&self, cpu: usize, secs: u32) -> Result<Load> {
        let url = format!("http://127.0.0.1:{}/index.html", self.port);
        let ns0 = on_cpu_ns(self.worker)?;
        let out = Command::new("taskset")
            .args([
                "-c",
                &cpu.to_string(),
                "wrk",
                "-t1",
                &format!("-c{CONNECTIONS}"),
                &format!("-d{secs}s"),
                "--latency",
            ])
            .arg(&url)
            .output()
            .context("running wrk")?;
        let worker_ns = on_cpu_ns(self.worker)? - ns0;
        let text = String::from_utf8_lossy(&out.stdout);
        let load = parse_wrk(&text).with_context(|| format!("wrk said: {text}"))?;
        Ok(Load { worker_ns, ..load })
    }

    /// A timed run after a warm-up, the log emptied first.
    fn measure(&self) -> Result<Load> {
        self.truncate_log();
        self.wrk(DAEMON_CPU, WARM_UP_SECS)?;
        self.wrk(DAEMON_CPU, self.secs())
    }

    fn secs(&self) -> u32 {
        self.secs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // --kill-child: nginx (pid 1 of its namespace) dies, and with it
        // everything in the namespace.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// One timed run of wrk.
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    pub requests: u64,
    pub rps: f64,
    pub p99_ms: f64,
    /// Time the worker spent on its CPU during the run.
    pub worker_ns: u64,
}

impl Load {
    fn worker_us_per_request(&self) -> f64 {
        self.worker_ns as f64 / 1e3 / self.requests.max(1) as f64
    }
}

/// What a daemon counted over a timed run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accounting {
    pub requests: u64,
    /// Records of nginx's processes delivered, and dropped (their own counts).
    pub delivered: u64,
    pub dropped: u64,
    /// Records the kernel counted lost host-wide meanwhile.
    pub ring_full: u64,
    pub daemon_cpu_ns: u64,
    /// Ring items read, and the records in them.
    pub items: u64,
    pub records: u64,
}

/// The identity run: calls counted by a separate program, against the
/// daemon's delivered and dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity {
    pub issued: u64,
    pub delivered: u64,
    pub dropped: u64,
}

impl Identity {
    fn exact(&self) -> bool {
        self.delivered + self.dropped == self.issued
    }
}

/// One round's measurement of a configuration.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub load: Load,
    /// The mean of the baselines measured just before and just after.
    pub base: Load,
    /// The mean of their worker CPU times a request (µs).
    pub base_worker_us: f64,
    pub accounting: Option<Accounting>,
    pub identity: Option<Identity>,
}

impl Sample {
    fn rps_ratio(&self) -> f64 {
        self.load.rps / self.base.rps
    }
    fn p99_ratio(&self) -> f64 {
        self.load.p99_ms / self.base.p99_ms
    }
    /// The worker's CPU time a request against the baseline's: what the
    /// configuration costs in the worker's own context, whatever share of
    /// its CPU the worker got (on a busy machine req/s also moves with that).
    fn cpu_ratio(&self) -> f64 {
        self.load.worker_us_per_request() / self.base_worker_us
    }
}

pub struct Nginx {
    pub version: String,
    pub rounds: usize,
    pub secs: u32,
    pub baselines: Vec<Load>,
    pub samples: Vec<(Config, Vec<Sample>)>,
    /// Why the phase did not run, if it did not.
    pub skipped: Option<String>,
}

/// What the phase needs to measure the rows with a daemon not in nginx's
/// namespace (row n3): the benchmark's own daemon and a process to watch.
pub struct Context<'a> {
    pub daemon_bin: &'a Path,
    pub alt_daemon_bin: Option<&'a Path>,
    pub host_daemon: &'a Daemon,
    pub helper: u32,
    pub tmp: &'a Path,
    pub rounds: usize,
    pub secs: u32,
    pub only: Option<&'a [Config]>,
}

pub fn phase(cx: &Context) -> Result<Nginx> {
    let mut result = Nginx {
        version: String::new(),
        rounds: cx.rounds,
        secs: cx.secs,
        baselines: vec![],
        samples: vec![],
        skipped: None,
    };
    if let Some(missing) = ["nginx", "wrk", "unshare", "nsenter"].into_iter().find(|t| !on_path(t)) {
        result.skipped = Some(format!("{missing} is not installed (apt-get install nginx wrk)"));
        return Ok(result);
    }
    let server = Server::start(cx.tmp, cx.secs)?;
    result.version = server.version.clone();
    let has = |tool: &str, arg: &str| Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    let configs: Vec<Config> = Config::ALL
        .into_iter()
        .filter(|c| cx.only.map_or(*c != Config::WatchAllAlt, |o| o.contains(c)))
        .filter(|c| match c {
            Config::Strace => has("strace", "-V"),
            Config::PerfTrace => has("perf", "--version"),
            Config::WatchAllAlt => cx.alt_daemon_bin.is_some(),
            _ => true,
        })
        .collect();
    result.samples = configs.iter().map(|&c| (c, vec![])).collect();
    for round in 0..cx.rounds {
        eprintln!("bench: nginx round {}/{}", round + 1, cx.rounds);
        let mut before = server.measure()?;
        result.baselines.push(before);
        for (i, &config) in configs.iter().enumerate() {
            let (load, accounting, identity) = run_config(cx, &server, config)?;
            let after = server.measure()?;
            result.baselines.push(after);
            let base = Load {
                requests: (before.requests + after.requests) / 2,
                rps: (before.rps + after.rps) / 2.0,
                p99_ms: (before.p99_ms + after.p99_ms) / 2.0,
                worker_ns: (before.worker_ns + after.worker_ns) / 2,
            };
            let base_worker_us = (before.worker_us_per_request() + after.worker_us_per_request()) / 2.0;
            result.samples[i].1.push(Sample { load, base, base_worker_us, accounting, identity });
            before = after;
        }
    }
    Ok(result)
}

/// Measures one configuration: set it up, a timed run, its accounting (for
/// a daemon: then an identity run against a counting program), tear down.
fn run_config(cx: &Context, server: &Server, config: Config) -> Result<(Load, Option<Accounting>, Option<Identity>)> {
    match config {
        Config::Floor | Config::FloorClocks => {
            settle();
            let kind = if config == Config::Floor { floor::Kind::Server } else { floor::Kind::ServerClocks };
            let _floor = Floor::attach(kind)?;
            Ok((server.measure()?, None, None))
        }
        Config::Unwatched => {
            settle();
            let d = cx.host_daemon;
            d.put(&format!("/v1/watch/{}?children=false", cx.helper))?;
            let load = server.measure();
            d.delete(&format!("/v1/watch/{}", cx.helper))?;
            Ok((load?, None, None))
        }
        Config::WatchAll | Config::WatchAllExitOnly | Config::WatchAllAlt | Config::WatchAllNetwork => {
            settle();
            let prefix = server.nsenter();
            let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
            let args = config.daemon_args().expect("a daemon's configuration");
            let bin = if config == Config::WatchAllAlt {
                cx.alt_daemon_bin.context("no --alt-daemon")?
            } else {
                cx.daemon_bin
            };
            let d = Daemon::start_in(&prefix, bin, DAEMON_CPU, args)?;
            server.truncate_log();
            server.wrk(DAEMON_CPU, WARM_UP_SECS)?;
            let c0 = counts(&d, None)?;
            let load = server.wrk(DAEMON_CPU, server.secs())?;
            let c1 = counts(&d, None)?;
            let accounting = Accounting {
                requests: load.requests,
                delivered: c1.seen - c0.seen,
                dropped: c1.dropped - c0.dropped,
                ring_full: c1.ring_full - c0.ring_full,
                daemon_cpu_ns: c1.cpu_ns - c0.cpu_ns,
                items: c1.items - c0.items,
                records: c1.records - c0.records,
            };
            // The identity, in a run of its own: the counting program costs
            // the server's calls something too. With a filter it counts the
            // calls the filter passes.
            let only = match config {
                Config::WatchAllNetwork => {
                    strace_api::filter::SyscallSet::parse(NETWORK).map_err(|e| anyhow::anyhow!(e.0))?.kernel_filter()
                }
                _ => None,
            };
            let counter = Counter::attach(&[server.master, server.worker], only.as_ref())?;
            let c0 = counts(&d, None)?;
            let n0 = counter.total()?;
            server.truncate_log();
            server.wrk(DAEMON_CPU, server.secs())?;
            // Once nginx is quiet (wrk's connections closed after the run).
            let issued = quiet(&counter)? - n0;
            let c1 = counts(&d, Some(c0.seen + c0.dropped + issued))?;
            let identity = Identity { issued, delivered: c1.seen - c0.seen, dropped: c1.dropped - c0.dropped };
            Ok((load, Some(accounting), Some(identity)))
        }
        Config::Strace | Config::PerfTrace => {
            let worker = server.worker.to_string();
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &DAEMON_CPU.to_string()]);
            if config == Config::Strace {
                cmd.args(["strace", "-f", "-qq", "-o", "/dev/null", "-p", &worker]);
            } else {
                cmd.args(["perf", "trace", "-o", "/dev/null", "-p", &worker]);
            }
            let mut tracer = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting the tracer")?;
            // Attached by then (perf trace takes the longer to start).
            std::thread::sleep(Duration::from_secs(2));
            let load = server.measure();
            // SAFETY: kill(2) on our own child: both tracers detach on SIGINT.
            unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
            let _ = tracer.wait();
            Ok((load?, None, None))
        }
    }
}

/// The daemon's counters for nginx's processes, once the drain has taken
/// everything they did (the worker waits in epoll_wait, its batch written
/// out when it left the CPU): until delivered + dropped reach `expected`
/// when it is known, else until they stop moving for a while (the drain
/// shares its CPU with wrk and whatever else runs there, and can be held
/// off it for longer than its timer's period).
struct Counts {
    seen: u64,
    dropped: u64,
    ring_full: u64,
    cpu_ns: u64,
    items: u64,
    records: u64,
}

fn counts(d: &Daemon, expected: Option<u64>) -> Result<Counts> {
    let read = || -> Result<Counts> {
        let list = d.get("/v1/watch")?;
        let list = list.as_array().context("/v1/watch is not a list")?;
        let sum = |k: &str| list.iter().filter_map(|w| w[k].as_u64()).sum::<u64>();
        let h = d.get("/healthz")?;
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        Ok(Counts {
            seen: sum("seen"),
            dropped: sum("dropped"),
            ring_full: n(&h["kernel"]["ring_full"]),
            cpu_ns: d.cpu_ns()?,
            items: n(&h["ring"]["items_read"]),
            records: n(&h["ring"]["records_read"]),
        })
    };
    const STILL: Duration = Duration::from_millis(500);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = read()?;
    let mut since = Instant::now();
    loop {
        if expected.is_some_and(|e| last.seen + last.dropped >= e) {
            return Ok(last);
        }
        std::thread::sleep(Duration::from_millis(50));
        let now = read()?;
        if (now.seen, now.dropped) != (last.seen, last.dropped) {
            since = Instant::now();
        } else if (expected.is_none() && since.elapsed() >= STILL) || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// The counter's total once it has stopped moving for a while.
fn quiet(counter: &Counter) -> Result<u64> {
    let mut last = counter.total()?;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = counter.total()?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
}

/// The page served: FILE_BYTES of text.
fn page() -> String {
    let line = "strace-api benchmark: a static page served by nginx, watched or not.\n";
    line.repeat(FILE_BYTES / line.len() + 1)[..FILE_BYTES].to_string()
}

/// nginx's configuration: the defaults but for one worker pinned to `cpu`,
/// the server's own paths, and the logs (access log on) in `logs`.
fn config(dir: &Path, logs: &Path, port: u16, cpu: usize) -> String {
    let d = dir.display();
    let l = logs.display();
    let mut mask = String::from("1");
    mask.push_str(&"0".repeat(cpu));
    format!(
        "daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity {mask};
pid {d}/nginx.pid;
error_log {l}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {l}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/html;
    }}
}}
"
    )
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One GET of the page.
fn get(port: u16) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.1 200") {
        bail!("nginx answered {:?}", answer.lines().next());
    }
    Ok(())
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Time `pid`'s main thread has spent on a CPU (schedstat), in ns.
fn on_cpu_ns(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    s.split_whitespace().next().and_then(|v| v.parse().ok()).context("schedstat")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Requests, requests/s and p99 from wrk's report (`--latency`).
fn parse_wrk(text: &str) -> Option<Load> {
    let requests = text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let n = w.next()?.parse().ok()?;
        (w.next()? == "requests").then_some(n)
    })?;
    let rps = text.lines().find_map(|l| l.trim().strip_prefix("Requests/sec:")?.trim().parse().ok())?;
    let p99_ms = text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == "99%").then(|| parse_ms(w.next()?)).flatten()
    })?;
    Some(Load { requests, rps, p99_ms, worker_ns: 0 })
}

/// The phase's section of the report.
pub fn lines(n: &Nginx) -> String {
    let mut s = String::new();
    if let Some(why) = &n.skipped {
        writeln!(s, "\nnginx: not measured: {why}.").unwrap();
        return s;
    }
    writeln!(
        s,
        "\nA real server: nginx {} serving a {FILE_BYTES}-byte file (access log on, on a tmpfs) as pid 1 of its own PID namespace, its one worker pinned to CPU {STORM_CPU}; `wrk -t1 -c{CONNECTIONS}` from CPU {DAEMON_CPU}, {}s a run after {WARM_UP_SECS}s of warm-up; the daemon (and strace, perf) on CPU {DAEMON_CPU}, joined to nginx's namespace for `--watch-all`. Each configuration is measured between two baselines; its ratio is to their mean. Medians of {} rounds' own ratios, min–max in brackets. The worker's CPU time a request is the cost in its own context; req/s follows it only while the worker has its CPU to itself (the baseline's share of its CPU is in its notes: on a shared machine other work takes the rest).\n",
        n.version, n.secs, n.rounds
    )
    .unwrap();
    s.push_str("| row | req/s (min–max) | × baseline (min–max) | p99 ms | × baseline (min–max) | worker µs a request | × baseline (min–max) | notes |\n|---|---|---|---|---|---|---|---|\n");
    let base: Vec<f64> = n.baselines.iter().map(|l| l.rps).collect();
    let base_p99: Vec<f64> = n.baselines.iter().map(|l| l.p99_ms).collect();
    let base_us: Vec<f64> = n.baselines.iter().map(Load::worker_us_per_request).collect();
    let cell = |v: &[f64], digits: usize| {
        spread(v)
            .map_or("–".into(), |s| format!("{:.*} ({:.*}–{:.*})", digits, s.median, digits, s.min, digits, s.max))
    };
    // Whether the worker had its CPU to itself: on a shared machine other
    // work takes some of it, and req/s falls with that, not with the row.
    let busy: Vec<f64> = n.baselines.iter().map(|l| 100.0 * l.worker_ns as f64 / (n.secs as f64 * 1e9)).collect();
    writeln!(
        s,
        "| n1. baseline: nothing attached | {} | 1.00 | {} | 1.00 | {} | 1.00 | measured around every other row; the worker on its CPU {}% of the time |",
        cell(&base, 0),
        cell(&base_p99, 2),
        cell(&base_us, 2),
        cell(&busy, 0)
    )
    .unwrap();
    for (config, samples) in &n.samples {
        let v = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            config.name(),
            cell(&v(&|x| x.load.rps), 0),
            cell(&v(&Sample::rps_ratio), 2),
            cell(&v(&|x| x.load.p99_ms), 2),
            cell(&v(&Sample::p99_ratio), 2),
            cell(&v(&|x| x.load.worker_us_per_request()), 2),
            cell(&v(&Sample::cpu_ratio), 3),
            config.note()
        )
        .unwrap();
    }
    let ratios = |c: Config| n.samples.iter().find(|(x, _)| *x == c).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
    let median = |v: &[Sample], f: &dyn Fn(&Sample) -> f64| spread(&v.iter().map(f).collect::<Vec<_>>());
    writeln!(s, "\nGoals for the server (ratios of one run, same machine):").unwrap();
    if let (Some(w), Some(f)) =
        (median(ratios(Config::WatchAll), &Sample::rps_ratio), median(ratios(Config::Floor), &Sample::rps_ratio))
    {
        let (cost, floor_cost) = (1.0 - w.median, 1.0 - f.median);
        let times = cost / floor_cost.max(1e-9);
        writeln!(
            s,
            "- nginx under `--watch-all` (n4): {:.2}× the baseline's requests/s, a cost of {:.1}% against the hooks alone's {:.1}% (n2): {}× (goal ≤ 1.5×): {}",
            w.median,
            100.0 * cost,
            100.0 * floor_cost,
            if floor_cost > 0.0 { format!("{times:.2}") } else { "–".into() },
            verdict(floor_cost > 0.0 && times <= 1.5)
        )
        .unwrap();
    }
    if let (Some(w), Some(f)) =
        (median(ratios(Config::WatchAll), &Sample::cpu_ratio), median(ratios(Config::Floor), &Sample::cpu_ratio))
    {
        writeln!(
            s,
            "  - in the worker's CPU time a request (what req/s follows on a quiet machine): +{:.1}% (n4) against the hooks alone's +{:.1}% (n2)",
            100.0 * (w.median - 1.0),
            100.0 * (f.median - 1.0)
        )
        .unwrap();
    }
    if let Some(p) = median(ratios(Config::WatchAll), &Sample::p99_ratio) {
        writeln!(s, "- its p99 latency: {:.2}× the baseline's (goal ≤ 1.25×): {}", p.median, verdict(p.median <= 1.25))
            .unwrap();
    }
    for config in [Config::WatchAll, Config::WatchAllAlt, Config::WatchAllExitOnly, Config::WatchAllNetwork] {
        let samples = ratios(config);
        let acc: Vec<Accounting> = samples.iter().filter_map(|x| x.accounting).collect();
        let ids: Vec<Identity> = samples.iter().filter_map(|x| x.identity).collect();
        if acc.is_empty() {
            continue;
        }
        let per = |f: &dyn Fn(&Accounting) -> f64| spread(&acc.iter().map(f).collect::<Vec<_>>());
        let fmt = |x: Option<Spread>, d: usize| {
            x.map_or("–".into(), |x| format!("{:.*} ({:.*}–{:.*})", d, x.median, d, x.min, d, x.max))
        };
        let dropped: u64 = acc.iter().map(|a| a.dropped + a.ring_full).sum();
        writeln!(
            s,
            "- {}: records delivered a request {}, {} dropped in the timed runs; daemon CPU {} µs a request; {} records a ring write (ring items read: {})",
            config.name().split('.').next().unwrap_or_default(),
            fmt(per(&|a| a.delivered as f64 / a.requests.max(1) as f64), 2),
            dropped,
            fmt(per(&|a| a.daemon_cpu_ns as f64 / 1e3 / a.requests.max(1) as f64), 2),
            fmt(per(&|a| a.records as f64 / a.items.max(1) as f64), 1),
            acc.iter().map(|a| a.items.to_string()).collect::<Vec<_>>().join(", ")
        )
        .unwrap();
        let which = if config == Config::WatchAllNetwork {
            "the calls of nginx's processes the filter passes"
        } else {
            "the calls of nginx's processes"
        };
        writeln!(
            s,
            "  - delivered + dropped == issued ({which}, counted by a separate program in a run of their own after each timed one): {} ({})",
            if ids.iter().all(Identity::exact) { "yes" } else { "NO" },
            ids.iter().map(|i| format!("{}+{}={}", i.delivered, i.dropped, i.issued)).collect::<Vec<_>>().join(", ")
        )
        .unwrap();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read() {
        let text = "Running 3s test @ http://127.0.0.1:1/index.html
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   176.13us   51.73us   2.51ms   85.27%
    Req/Sec    45.41k     1.02k   47.13k    70.00%
  Latency Distribution
     50%  164.00us
     75%  190.00us
     90%  231.00us
     99%  352.00us
  135582 requests in 3.00s, 388.24MB read
Requests/sec:  45173.77
Transfer/sec:    129.35MB
";
        let l = parse_wrk(text).unwrap();
        assert_eq!(l.requests, 135582);
        assert_eq!(l.rps, 45173.77);
        assert_eq!(l.p99_ms, 0.352);
    }

    #[test]
    fn the_page_and_the_mask() {
        assert_eq!(page().len(), FILE_BYTES);
        let c = config(Path::new("/x"), Path::new("/x/logs"), 8080, 1);
        assert!(c.contains("worker_cpu_affinity 10;"), "{c}");
        assert!(c.contains("access_log /x/logs/access.log;"), "{c}");
        assert!(c.contains("listen 127.0.0.1:8080;"), "{c}");
    }
}
