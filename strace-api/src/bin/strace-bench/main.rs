//! `cargo xtask bench`: overhead of strace-api measured against nothing,
//! against empty programs on the same hooks (the floor), and against strace
//! and perf trace, all in one run on one machine, as ratios to the baseline.
mod daemon;
mod floor;
mod load;
mod memory;
mod report;
mod storm;

use std::{
    collections::HashMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, Result};
use clap::Parser;
use daemon::Daemon;
use report::{Row, Spread, percentile, spread};
use storm::{Mode, Storm, Timing};

#[derive(Parser)]
struct Opts {
    /// The release daemon binary.
    #[arg(long)]
    daemon: PathBuf,
    /// bench/storm.c
    #[arg(long)]
    storm_src: PathBuf,
    /// Measurements per row (medians and min–max over them).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// getppid calls per storm.
    #[arg(long, default_value_t = 5_000_000)]
    calls: u64,
    /// Iterations of the realistic mix per storm (five calls each).
    #[arg(long, default_value_t = 200_000)]
    mix: u64,
    /// strace and perf trace run this many times fewer calls.
    #[arg(long, default_value_t = 100)]
    slow_divisor: u64,
    /// Requests per second of the paced HTTP client during a watched storm.
    #[arg(long, default_value_t = 2000)]
    http_rate: u32,
    #[arg(long, default_value_t = 5)]
    http_secs: u64,
    /// Where to write the results (a file per run) and which README to update.
    #[arg(long)]
    results: Option<PathBuf>,
    #[arg(long)]
    readme: Option<PathBuf>,
    /// Only feed this many synthetic records through the userspace drain path
    /// and exit (for `valgrind --tool=callgrind`: instructions per record).
    #[arg(long)]
    ingest_only: Option<u64>,
    /// Run only this phase and print its figures (for profiling a change;
    /// nothing is saved).
    #[arg(long, value_enum)]
    only: Option<Phase>,
}

impl Opts {
    /// Calls (getppid) or iterations (mix) per storm.
    fn calls(&self, mode: Mode) -> u64 {
        match mode {
            Mode::Getppid => self.calls,
            Mode::Mix => self.mix,
            // Two seconds.
            Mode::Paced => 2 * storm::PACED_RATE,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Phase {
    /// The kernel's per-program statistics, unwatched and watched.
    BpfStats,
    /// The paced client and wrk during a watched storm.
    Http,
    /// Baseline and watched storms, alternating (rows 1 and 4).
    Watched,
    /// RSS per retained event, and RSS against the events cap.
    Memory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RowId {
    Baseline,
    Floor,
    FloorExitOnly,
    Idle,
    Unwatched,
    Watched,
    WatchedUntimed,
    Strace,
    PerfTrace,
}

impl RowId {
    fn name(self) -> &'static str {
        match self {
            RowId::Baseline => "1. baseline: nothing attached",
            RowId::Floor => "2. floor: empty programs on sys_enter + sys_exit",
            RowId::FloorExitOnly => "2b. an empty program on sys_exit alone (not this design; see below)",
            RowId::Idle => "idle: daemon running, nothing watched (hooks detached)",
            RowId::Unwatched => "3. daemon running, storm not watched",
            RowId::Watched => "4. daemon running, storm watched (drained, decoded, stored, polled over HTTP)",
            RowId::WatchedUntimed => "4b. as 4, with `--durations false` (no clock read at entry)",
            RowId::Strace => "5. strace -f -o /dev/null",
            RowId::PerfTrace => "6. perf trace -o /dev/null",
        }
    }
}

/// What the watched row saw, per run.
#[derive(Default)]
struct WatchedRun {
    issued: u64,
    delivered: u64,
    dropped: u64,
    daemon_cpu_ns: u64,
    rate: f64,
}

const STORM_CPU: usize = 1;
const DAEMON_CPU: usize = 0;

fn main() -> Result<()> {
    let o = Opts::parse();
    if let Some(n) = o.ingest_only {
        return ingest_only(n);
    }
    let tmp = std::env::temp_dir().join(format!("strace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let storm_bin = storm::compile(&o.storm_src, &tmp)?;
    let has = |tool: &str, arg: &str| Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    let (has_strace, has_perf) = (has("strace", "-V"), has("perf", "--version"));

    let mut ns: HashMap<(RowId, Mode), Vec<f64>> = HashMap::new();
    let mut watched_runs: HashMap<Mode, Vec<WatchedRun>> = HashMap::new();
    let d = Daemon::start(&o.daemon, DAEMON_CPU, &[])?;
    // Row 4b's daemon: idle (hooks detached) except during its own row.
    let untimed =
        if o.only.is_none() { Some(Daemon::start(&o.daemon, DAEMON_CPU, &["--durations", "false"])?) } else { None };
    let mut helper = Command::new("sleep").arg("3600").spawn()?;
    if let Some(phase) = o.only {
        let result = only(phase, &d, &storm_bin, &o, &tmp, helper.id());
        let _ = helper.kill();
        let _ = helper.wait();
        let _ = std::fs::remove_dir_all(&tmp);
        return result;
    }
    let storm = |mode: Mode, n: u64| Storm::run(&storm_bin, mode, n, STORM_CPU, &tmp);

    for run in 0..o.runs {
        eprintln!("bench: run {}/{}", run + 1, o.runs);
        for mode in [Mode::Getppid, Mode::Mix] {
            let n = o.calls(mode);
            let mut record = |row, t: Timing| ns.entry((row, mode)).or_default().push(t.ns_per_call());

            record(RowId::Baseline, storm(mode, n)?);

            let floor = floor::Floor::attach(false)?;
            record(RowId::Floor, storm(mode, n)?);
            drop(floor);
            let floor = floor::Floor::attach(true)?;
            record(RowId::FloorExitOnly, storm(mode, n)?);
            drop(floor);

            record(RowId::Idle, storm(mode, n)?);

            // Something else is watched, so the hooks are attached.
            d.put(&format!("/v1/watch/{}?children=false", helper.id()))?;
            record(RowId::Unwatched, storm(mode, n)?);

            let (t, w) = watched_storm(&d, &storm_bin, mode, n, &tmp)?;
            record(RowId::Watched, t);
            watched_runs.entry(mode).or_default().push(w);
            d.delete(&format!("/v1/watch/{}", helper.id()))?;

            if let Some(u) = &untimed {
                record(RowId::WatchedUntimed, watched_storm(u, &storm_bin, mode, n, &tmp)?.0);
            }
        }
        // The zero-drop goal at its own rate.
        let (_, w) = watched_storm(&d, &storm_bin, Mode::Paced, o.calls(Mode::Paced), &tmp)?;
        watched_runs.entry(Mode::Paced).or_default().push(w);
        if run < 3 {
            let n = o.calls / o.slow_divisor;
            if has_strace {
                let mut s =
                    Storm::start(&storm_bin, &["strace", "-f", "-o", "/dev/null"], Mode::Getppid, n, STORM_CPU, &tmp)?;
                ns.entry((RowId::Strace, Mode::Getppid)).or_default().push(s.go()?.ns_per_call());
                s.finish()?;
            }
            if has_perf {
                let prefix = ["perf", "trace", "-o", "/dev/null", "--"];
                if let Ok(mut s) = Storm::start(&storm_bin, &prefix, Mode::Getppid, n, STORM_CPU, &tmp) {
                    ns.entry((RowId::PerfTrace, Mode::Getppid)).or_default().push(s.go()?.ns_per_call());
                    s.finish()?;
                }
            }
        }
    }

    eprintln!("bench: HTTP load and kernel BPF statistics");
    let http = http_phase(&d, &storm_bin, &o, &tmp)?;
    let bpf = bpf_stats_phase(&d, &storm_bin, &tmp, helper.id())?;
    let peak_rss = d.peak_rss()?;
    let _ = helper.kill();
    let _ = helper.wait();
    drop((d, untimed));
    eprintln!("bench: memory");
    let memory = memory::phase(&o.daemon, &storm_bin, (DAEMON_CPU, STORM_CPU), &tmp)?;

    let text = render(&o, &ns, &watched_runs, &http, &bpf, peak_rss, &memory);
    println!("{text}");
    if let Some(dir) = &o.results {
        std::fs::create_dir_all(dir)?;
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(':', "-");
        let file = dir.join(format!("{stamp}.md"));
        std::fs::write(&file, &text)?;
        eprintln!("bench: wrote {}", file.display());
        if let Some(readme) = &o.readme {
            update_readme(readme, &text, &file)?;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// One phase on its own, printed as in the full report.
fn only(phase: Phase, d: &Daemon, bin: &Path, o: &Opts, tmp: &Path, helper: u32) -> Result<()> {
    match phase {
        Phase::BpfStats => {
            for (name, v) in bpf_stats_phase(d, bin, tmp, helper)? {
                println!("- {name}: {v:.1}");
            }
        }
        Phase::Watched => {
            let mut runs: HashMap<Mode, Vec<WatchedRun>> = HashMap::new();
            for mode in [Mode::Getppid, Mode::Mix] {
                let n = o.calls(mode);
                let (mut base, mut watched, mut dropped, mut cpu) = (vec![], vec![], 0, vec![]);
                for _ in 0..o.runs {
                    base.push(Storm::run(bin, mode, n, STORM_CPU, tmp)?.ns_per_call());
                    let (t, w) = watched_storm(d, bin, mode, n, tmp)?;
                    watched.push(t.ns_per_call());
                    dropped += w.dropped;
                    cpu.push(w.daemon_cpu_ns as f64 / w.delivered.max(1) as f64);
                    runs.entry(mode).or_default().push(w);
                }
                if let (Some(b), Some(w), Some(c)) = (spread(&base), spread(&watched), spread(&cpu)) {
                    println!(
                        "- {}: baseline {:.1} ns, watched {:.1} ns ({:.1}–{:.1}): {:.2}×, {dropped} dropped, daemon CPU {:.0} ns per event",
                        mode.arg(),
                        b.median,
                        w.median,
                        w.min,
                        w.max,
                        w.median / b.median,
                        c.median
                    );
                }
            }
            for _ in 0..o.runs {
                let (_, w) = watched_storm(d, bin, Mode::Paced, o.calls(Mode::Paced), tmp)?;
                runs.entry(Mode::Paced).or_default().push(w);
            }
            print!("{}", zero_drop_lines(&runs));
        }
        Phase::Http => print!("{}", http_lines(&http_phase(d, bin, o, tmp)?)),
        Phase::Memory => print!("{}", memory::lines(&memory::phase(&o.daemon, bin, (DAEMON_CPU, STORM_CPU), tmp)?)),
    }
    Ok(())
}

/// The drain's work without the kernel: `n` getppid records into a watched
/// process's full history, in batches as the drain hands them over.
fn ingest_only(n: u64) -> Result<()> {
    use strace_api::{
        clock::Clock,
        recorder::Limits,
        tracer::{NullKernel, Tracer},
    };
    use strace_common::{RecordKind, SyscallRecord};
    let pid = std::os::unix::process::parent_id();
    let limits = Limits { per_process: 4096, memory_bytes: 256 << 20 };
    let tracer = Tracer::new(Box::new(NullKernel), limits, Clock::from_offset(0), Duration::from_secs(600), None);
    tracer.watch(pid, false).context("watching our parent")?;
    let r = SyscallRecord { kind: RecordKind::Syscall as u16, pid, tid: pid, nr: 110, ..Default::default() };
    let mut left = n;
    while left > 0 {
        let mut batch = tracer.ingest();
        for _ in 0..left.min(256) {
            batch.record(r.as_bytes());
        }
        left -= left.min(256);
    }
    println!("ingested {n} records");
    Ok(())
}

/// One watched storm: watch, go, let the daemon drain, count everything.
fn watched_storm(d: &Daemon, bin: &Path, mode: Mode, n: u64, tmp: &Path) -> Result<(Timing, WatchedRun)> {
    let mut s = Storm::start(bin, &[], mode, n, STORM_CPU, tmp)?;
    d.put(&format!("/v1/watch/{}?children=false", s.pid))?;
    let cpu0 = d.cpu_ns()?;
    // A second client polls the events endpoint during the storm.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (agent, base, pid, stop) = (d.agent(), d.base.clone(), s.pid, stop.clone());
        std::thread::spawn(move || {
            let mut after = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{base}/v1/processes/{pid}/events?after={after}&limit=10000");
                if let Ok(mut r) = agent.get(&url).call()
                    && let Ok(page) = r.body_mut().read_json::<serde_json::Value>()
                {
                    after = page["last_seq"].as_u64().unwrap_or(after);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = s.go()?;
    let issued = t.calls + 1; // and the write of "done"
    let (delivered, dropped) = d.settle(s.pid, issued)?;
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let daemon_cpu_ns = d.cpu_ns()? - cpu0;
    d.delete(&format!("/v1/watch/{}", s.pid))?;
    s.finish()?;
    let rate = t.calls as f64 / (t.ns as f64 / 1e9);
    Ok((t, WatchedRun { issued, delivered, dropped, daemon_cpu_ns, rate }))
}

struct Http {
    rate: u32,
    sent: usize,
    failed: u64,
    p50: Option<f64>,
    p99: Option<f64>,
    /// p99 of the time before the client sent, and of the time from sending
    /// to the answer.
    before_send_p99: Option<f64>,
    after_send_p99: Option<f64>,
    /// Before the storm: a thread that only sleeps and wakes, its lateness's
    /// p99, p99.9 and max, and whether it ran at real-time priority.
    machine: (Option<f64>, Option<f64>, Option<f64>, bool),
    /// The same paced load against `/v1/watch`, which renders no event: the
    /// latency this machine gives any request under the same conditions.
    trivial_p50: Option<f64>,
    trivial_p99: Option<f64>,
    wrk: Vec<(String, (f64, f64, f64))>,
    /// The storm's records delivered and dropped over the whole phase: the
    /// drain must keep up while the server is busy.
    seen: u64,
    dropped: u64,
}

/// Paced requests (and wrk, if installed) while a long watched storm runs.
fn http_phase(d: &Daemon, bin: &Path, o: &Opts, tmp: &Path) -> Result<Http> {
    let (wakeups, realtime) = load::wakeups(o.http_rate, Duration::from_secs(o.http_secs));
    let machine = (percentile(&wakeups, 99.0), percentile(&wakeups, 99.9), percentile(&wakeups, 100.0), realtime);
    let mut s = Storm::start(bin, &[], Mode::Getppid, 1_000_000_000, STORM_CPU, tmp)?;
    d.put(&format!("/v1/watch/{}?children=false", s.pid))?;
    let flag_go = std::thread::scope(|scope| -> Result<Http> {
        let pid = s.pid;
        let handle = scope.spawn(|| s.go());
        std::thread::sleep(Duration::from_millis(300));
        let paths = [format!("/strace/{pid}/100"), format!("/v1/processes/{pid}/events?limit=100")];
        let load = load::paced(d.agent(), &d.base, &paths, o.http_rate, Duration::from_secs(o.http_secs));
        let trivial = ["/v1/watch".to_string()];
        let trivial = load::paced(d.agent(), &d.base, &trivial, o.http_rate, Duration::from_secs(o.http_secs)).total;
        let mut wrk = vec![];
        for p in &paths {
            if let Some(r) = load::wrk(&format!("{}{p}", d.base), 3) {
                wrk.push((p.replace(&pid.to_string(), "{pid}"), r));
            }
        }
        let counters = d.counters(pid)?;
        // Stop the storm now (it was sized to outlast the load): the scope
        // waits for its thread.
        // SAFETY: kill(2) on our own child, which is not reaped before the scope ends.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        drop(handle);
        Ok(Http {
            rate: o.http_rate,
            sent: load.total.len(),
            failed: load.failed,
            p50: percentile(&load.total, 50.0),
            p99: percentile(&load.total, 99.0),
            before_send_p99: percentile(&load.before_send, 99.0),
            after_send_p99: percentile(&load.after_send, 99.0),
            machine,
            trivial_p50: percentile(&trivial, 50.0),
            trivial_p99: percentile(&trivial, 99.0),
            wrk,
            seen: counters["seen"].as_u64().unwrap_or(0),
            dropped: counters["dropped"].as_u64().unwrap_or(0),
        })
    })?;
    Ok(flag_go)
}

/// Kernel-side cost per program run, from the kernel's own BPF statistics.
fn bpf_stats_phase(d: &Daemon, bin: &Path, tmp: &Path, helper: u32) -> Result<Vec<(String, f64)>> {
    let path = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, "1").context("enabling BPF statistics")?;
    let snapshot = || -> Result<HashMap<String, (u64, u64)>> {
        let h = d.get("/healthz")?;
        Ok(h["programs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?").to_string();
                (name, (p["run_count"].as_u64().unwrap_or(0), p["run_time_ns"].as_u64().unwrap_or(0)))
            })
            .collect())
    };
    let per_run = |a: &HashMap<String, (u64, u64)>, b: &HashMap<String, (u64, u64)>, name: &str| {
        let (c0, t0) = a.get(name).copied().unwrap_or_default();
        let (c1, t1) = b.get(name).copied().unwrap_or_default();
        (c1 > c0).then(|| (t1 - t0) as f64 / (c1 - c0) as f64)
    };
    let mut out = vec![];
    let result = (|| -> Result<()> {
        d.put(&format!("/v1/watch/{helper}?children=false"))?;
        let a = snapshot()?;
        Storm::run(bin, Mode::Getppid, 2_000_000, STORM_CPU, tmp)?;
        let b = snapshot()?;
        for name in ["sys_enter", "sys_exit"] {
            if let Some(v) = per_run(&a, &b, name) {
                out.push((format!("{name}, process not watched (ns/run)"), v));
            }
        }
        // Every context switch and timer tick on the host, while attached.
        for name in ["task_switch", "tick"] {
            if let Some(v) = per_run(&a, &b, name) {
                out.push((format!("{name}, storm not watched (nothing to flush; ns/run)"), v));
            }
        }
        let (_, w) = watched_storm(d, bin, Mode::Getppid, 2_000_000, tmp)?;
        let c = snapshot()?;
        let _ = w;
        for name in ["sys_enter", "sys_exit", "task_switch", "tick"] {
            if let Some(v) = per_run(&b, &c, name) {
                out.push((format!("{name}, all runs while the storm was watched (ns/run)"), v));
            }
        }
        d.delete(&format!("/v1/watch/{helper}"))?;
        Ok(())
    })();
    std::fs::write(path, before.trim())?;
    result?;
    Ok(out)
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = procfs::Current::current().map_or(0, |m: procfs::Meminfo| m.mem_total >> 30);
    format!("Linux {}, {cpus} vCPUs ({cpu}), {mem} GiB", kernel.trim())
}

fn render(
    o: &Opts,
    ns: &HashMap<(RowId, Mode), Vec<f64>>,
    watched: &HashMap<Mode, Vec<WatchedRun>>,
    http: &Http,
    bpf: &[(String, f64)],
    peak_rss: u64,
    memory: &memory::Memory,
) -> String {
    let cell = |row, mode| ns.get(&(row, mode)).and_then(|v| spread(v));
    let med = |row, mode| cell(row, mode).map(|s: Spread| s.median);
    let rows_ids = [
        RowId::Baseline,
        RowId::Floor,
        RowId::FloorExitOnly,
        RowId::Idle,
        RowId::Unwatched,
        RowId::Watched,
        RowId::WatchedUntimed,
        RowId::Strace,
        RowId::PerfTrace,
    ];
    let rows: Vec<Row> = rows_ids
        .iter()
        .map(|&r| Row {
            name: r.name().into(),
            cells: vec![cell(r, Mode::Getppid), cell(r, Mode::Mix)],
            note: match r {
                RowId::Strace | RowId::PerfTrace => format!("{} calls per run", o.calls / o.slow_divisor),
                RowId::Unwatched => "another process is watched, so the hooks are attached".into(),
                RowId::WatchedUntimed => "events keep their exit time; no durations".into(),
                _ => String::new(),
            },
        })
        .filter(|r| r.cells.iter().any(Option::is_some))
        .collect();
    let mut s = String::new();
    writeln!(s, "Machine: {}. Storm pinned to CPU {STORM_CPU}, daemon to CPU {DAEMON_CPU}.", machine()).unwrap();
    writeln!(
        s,
        "Per run: {} getppid calls; mix = {} × (8-byte pipe write + read, openat + close, stat). Medians of {} runs, min–max in brackets. Default config (ring buffer {} MiB).\n",
        o.calls,
        o.mix,
        o.runs,
        strace_common::limits::DEFAULT_RING_BYTES >> 20
    )
    .unwrap();
    s.push_str(&report::table(&["getppid", "mix"], &rows));

    writeln!(s, "\nGoals:").unwrap();
    for mode in [Mode::Getppid, Mode::Mix] {
        if let (Some(b), Some(f), Some(u)) =
            (med(RowId::Baseline, mode), med(RowId::Floor, mode), med(RowId::Unwatched, mode))
        {
            let r = report::overhead_vs_floor(u, f, b);
            writeln!(
                s,
                "- untraced ({}): overhead {:+.1} ns vs the floor's {:+.1} ns = {:.2}× the floor (goal ≤ 1.2×): {}",
                mode.arg(),
                u - b,
                f - b,
                r.unwrap_or(f64::NAN),
                verdict(r.is_some_and(|r| r <= 1.2))
            )
            .unwrap();
        }
    }
    for mode in [Mode::Getppid, Mode::Mix] {
        if let (Some(b), Some(f), Some(e)) =
            (med(RowId::Baseline, mode), med(RowId::Floor, mode), med(RowId::FloorExitOnly, mode))
        {
            writeln!(
                s,
                "- the entry hook's share ({}): an exit-only design would start from {:+.1} ns a call instead of {:+.1} ns, for every process while anything is watched, and give up durations, calls in progress, exit/exit_group records and execve's arguments (row 2b)",
                mode.arg(),
                e - b,
                f - b
            )
            .unwrap();
        }
    }
    if let (Some(b), Some(i)) = (med(RowId::Baseline, Mode::Getppid), med(RowId::Idle, Mode::Getppid)) {
        writeln!(s, "- idle: {:.2}× baseline with the syscall hooks detached (goal: no overhead, within noise)", i / b)
            .unwrap();
    }
    for (mode, goal) in [(Mode::Getppid, 3.0), (Mode::Mix, 1.5)] {
        if let (Some(b), Some(w)) = (med(RowId::Baseline, mode), med(RowId::Watched, mode)) {
            writeln!(
                s,
                "- watched ({}): {:.2}× baseline (goal ≤ {goal}×): {}",
                mode.arg(),
                w / b,
                verdict(w / b <= goal)
            )
            .unwrap();
        }
        if let (Some(b), Some(w)) = (med(RowId::Baseline, mode), med(RowId::WatchedUntimed, mode)) {
            writeln!(s, "  - with `--durations false` (row 4b, not the default): {:.2}× baseline", w / b).unwrap();
        }
    }
    for (mode, runs) in sorted(watched) {
        let exact = runs.iter().all(|r| r.delivered + r.dropped == r.issued);
        let dropped: u64 = runs.iter().map(|r| r.dropped).sum();
        let cpu = spread(&runs.iter().map(|r| r.daemon_cpu_ns as f64 / r.delivered.max(1) as f64).collect::<Vec<_>>());
        let rate = spread(&runs.iter().map(|r| r.rate / 1e6).collect::<Vec<_>>());
        writeln!(
            s,
            "- watched ({}): delivered + dropped == issued in every run: {} ({}); {dropped} dropped at {:.2}M calls/s (median); daemon CPU {:.0} ns per event",
            mode.arg(),
            if exact { "yes" } else { "NO" },
            runs.iter().map(|r| format!("{}+{}={}", r.delivered, r.dropped, r.issued)).collect::<Vec<_>>().join(", "),
            rate.map_or(0.0, |r| r.median),
            cpu.map_or(0.0, |c| c.median)
        )
        .unwrap();
    }
    s.push_str(&zero_drop_lines(watched));
    s.push_str(&http_lines(http));
    s.push_str(&memory::lines(memory));
    writeln!(s, "  - the default daemon's peak RSS over the whole run: {:.1} MiB", peak_rss as f64 / (1 << 20) as f64)
        .unwrap();
    if !bpf.is_empty() {
        writeln!(s, "\nKernel BPF statistics (kernel.bpf_stats_enabled, separate runs):").unwrap();
        for (name, v) in bpf {
            writeln!(s, "- {name}: {v:.1}").unwrap();
        }
    }
    s
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

/// The zero-drop goal, judged on the storms paced at its rate; the
/// full-speed storms (about twice that rate here) for comparison.
fn zero_drop_lines(watched: &HashMap<Mode, Vec<WatchedRun>>) -> String {
    let runs = |mode| watched.get(&mode).map_or(&[][..], |r: &Vec<WatchedRun>| &r[..]);
    let median_rate =
        |runs: &[WatchedRun]| spread(&runs.iter().map(|r| r.rate / 1e6).collect::<Vec<_>>()).map_or(0.0, |r| r.median);
    let (paced, full) = (runs(Mode::Paced), runs(Mode::Getppid));
    let dropped: u64 = paced.iter().map(|r| r.dropped).sum();
    let (rate, full_rate) = (median_rate(paced), median_rate(full));
    let mut s = String::new();
    writeln!(
        s,
        "- zero drops at 2M calls/s of one watched process with the default ring: {} ({} runs of a getppid storm paced at {}M calls/s, {rate:.2}M achieved (median): {dropped} dropped); at full speed ({full_rate:.2}M calls/s), drops in {} of {} runs",
        verdict(!paced.is_empty() && dropped == 0 && rate >= 0.95 * storm::PACED_RATE as f64 / 1e6),
        paced.len(),
        storm::PACED_RATE / 1_000_000,
        full.iter().filter(|r| r.dropped > 0).count(),
        full.len(),
    )
    .unwrap();
    s
}

/// The HTTP lines of the report (the goal, the floor, wrk).
fn http_lines(h: &Http) -> String {
    let mut s = String::new();
    writeln!(
        s,
        "- HTTP at {} req/s during a watched storm ({} answered, {} failed): p50 {:.2} ms, p99 {:.2} ms (goal p99 ≤ 2 ms): {}",
        h.rate,
        h.sent,
        h.failed,
        h.p50.unwrap_or(f64::NAN),
        h.p99.unwrap_or(f64::NAN),
        verdict(h.failed == 0 && h.p99.is_some_and(|p| p <= 2.0))
    )
    .unwrap();
    writeln!(
        s,
        "  - the same requests in two parts, each its own p99 (they need not add up): before the client sent (its own wake-up, or its previous request running over) {:.2} ms; from send to answer {:.2} ms",
        h.before_send_p99.unwrap_or(f64::NAN),
        h.after_send_p99.unwrap_or(f64::NAN)
    )
    .unwrap();
    let (p99, p999, max, realtime) = h.machine;
    writeln!(
        s,
        "  - this machine, before the storm: a {} thread that only sleeps and wakes {} times a second woke late by p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        if realtime { "real-time" } else { "normal-priority" },
        h.rate,
        p99.unwrap_or(f64::NAN),
        p999.unwrap_or(f64::NAN),
        max.unwrap_or(f64::NAN)
    )
    .unwrap();
    writeln!(
        s,
        "  - the same paced load against /v1/watch, which renders no event (this machine's latency for any request under the same load): p50 {:.2} ms, p99 {:.2} ms",
        h.trivial_p50.unwrap_or(f64::NAN),
        h.trivial_p99.unwrap_or(f64::NAN)
    )
    .unwrap();
    for (path, (p50, p99, rps)) in &h.wrk {
        writeln!(s, "  - wrk (max rate, 2 connections) {path}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms")
            .unwrap();
    }
    writeln!(s, "  - the storm meanwhile: {} records delivered, {} dropped", h.seen, h.dropped).unwrap();
    s
}

fn sorted(m: &HashMap<Mode, Vec<WatchedRun>>) -> Vec<(Mode, &Vec<WatchedRun>)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by_key(|(k, _)| *k as u8);
    v
}

fn update_readme(readme: &Path, text: &str, file: &Path) -> Result<()> {
    let doc = std::fs::read_to_string(readme)?;
    let name = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let block = format!("{text}\nFull output: `bench/results/{name}`.");
    match report::replace_between(&doc, "<!-- bench:start -->", "<!-- bench:end -->", &block) {
        Some(new) => std::fs::write(readme, new)?,
        None => eprintln!("bench: README has no <!-- bench:start --> block; not updated"),
    }
    Ok(())
}
