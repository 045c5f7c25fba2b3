//! `cargo xtask bench`: overhead of strace-api measured against nothing,
//! against empty programs on the same hooks (the floor), and against strace
//! and perf trace, all in one run on one machine, as ratios to the baseline.
mod bpf_stats;
mod daemon;
mod floor;
mod http;
mod load;
mod memory;
mod nginx;
mod report;
mod runs;
mod scale;
mod storm;
mod summary;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, Result};
use bpf_stats::bpf_stats_phase;
use clap::Parser;
use daemon::Daemon;
use http::{http_lines, http_phase};
use report::spread;
use runs::{UnwatchedRun, WatchedRun, filtered_storm, ring_peaks, unwatched_storm, watched_storm};
use storm::{Mode, Storm, Timing};
use summary::{DaemonUse, Phases, Runs, render, update_readme, zero_drop_lines};

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
    /// Seconds of each paced run.
    #[arg(long, default_value_t = 5)]
    http_secs: u64,
    /// Paced runs against the event endpoints (medians and min–max over them).
    #[arg(long, default_value_t = 3)]
    http_runs: usize,
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
    /// Rounds of the nginx scenario (each measures every configuration
    /// between baselines).
    #[arg(long, default_value_t = 5)]
    nginx_rounds: usize,
    /// Seconds of each timed wrk run against nginx.
    #[arg(long, default_value_t = 3)]
    nginx_secs: u32,
    /// Only these nginx configurations (comma-separated), e.g. to profile a
    /// change: `--only nginx --nginx-rows floor,watch-all`.
    #[arg(long, value_enum, value_delimiter = ',')]
    nginx_rows: Option<Vec<nginx::Config>>,
    /// A second daemon binary, measured as the nginx row `watch-all-alt`
    /// beside the first (an old and a new build, alternating in one session).
    #[arg(long)]
    alt_daemon: Option<PathBuf>,
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
    /// Baseline, floor and a storm not watched (rows 1, 2 and 3), alternating.
    Untraced,
    /// A real server: nginx under wrk, every configuration between baselines.
    Nginx,
    /// A storm on every CPU at once against one alone, not watched and watched.
    Scale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RowId {
    Baseline,
    Floor,
    FloorExitOnly,
    FloorClocks,
    Idle,
    Unwatched,
    Watched,
    WatchedFiltered,
    WatchedUntimed,
    UnwatchedExitOnly,
    WatchedExitOnly,
    Strace,
    PerfTrace,
}

impl RowId {
    fn name(self) -> &'static str {
        match self {
            RowId::Baseline => "1. baseline: nothing attached",
            RowId::Floor => "2. floor: empty programs on sys_enter + sys_exit",
            RowId::FloorExitOnly => "2b. floor of `--entry-hook false`: an empty program on sys_exit alone",
            RowId::FloorClocks => "2c. floor of durations: programs on both hooks that only read the clock",
            RowId::Idle => "idle: daemon running, nothing watched (hooks detached)",
            RowId::Unwatched => "3. daemon running, storm not watched",
            RowId::Watched => "4. daemon running, storm watched (drained, decoded, stored, polled over HTTP)",
            RowId::WatchedFiltered => {
                "4f. as 4, watched with `syscalls=%network`: every call filtered out in the kernel"
            }
            RowId::WatchedUntimed => "4b. as 4, with `--durations false` (no clock read at entry)",
            RowId::UnwatchedExitOnly => "3c. as 3, with `--entry-hook false --durations false`",
            RowId::WatchedExitOnly => "4c. as 4, with `--entry-hook false --durations false`",
            RowId::Strace => "5. strace -f -o /dev/null",
            RowId::PerfTrace => "6. perf trace -o /dev/null",
        }
    }
}

/// Before programs are attached to the syscall hooks for a timed row, when
/// others may have been detached just before. A storm started within ~50 ms of
/// a detach ran ~7 ns a call slower with the hooks attached again (getppid
/// not watched: +59 against +52 ns), and the next storm was not: whatever
/// the kernel still does after a detach takes a few hundred ms
/// (bench/README.md, item 21).
fn settle() {
    std::thread::sleep(Duration::from_secs(1));
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
    let mut unwatched_runs: HashMap<Mode, Vec<UnwatchedRun>> = HashMap::new();
    let d = Daemon::start(&o.daemon, DAEMON_CPU, &[])?;
    // Rows 3 and 4 measure their own peaks: this keeps the whole run's.
    let mut peak_rss = d.peak_rss()?;
    // Row 4b's daemon: idle (hooks detached) except during its own row.
    let untimed =
        if o.only.is_none() { Some(Daemon::start(&o.daemon, DAEMON_CPU, &["--durations", "false"])?) } else { None };
    // Rows 3c and 4c's daemon: the sys_exit hook alone.
    let exit_only = if o.only.is_none() {
        Some(Daemon::start(&o.daemon, DAEMON_CPU, &["--entry-hook", "false", "--durations", "false"])?)
    } else {
        None
    };
    // The paced storms' daemon, so its ring's peak is theirs alone.
    let paced = if o.only.is_none() { Some(Daemon::start(&o.daemon, DAEMON_CPU, &[])?) } else { None };
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

            // Every timed row with programs attached starts settled.
            for (row, kind) in [
                (RowId::Floor, floor::Kind::Empty),
                (RowId::FloorExitOnly, floor::Kind::ExitOnly),
                (RowId::FloorClocks, floor::Kind::Clocks),
            ] {
                settle();
                let floor = floor::Floor::attach(kind)?;
                record(row, storm(mode, n)?);
                drop(floor);
            }

            record(RowId::Idle, storm(mode, n)?);

            // Something else is watched, so the hooks are attached.
            settle();
            d.put(&format!("/v1/watch/{}?children=false", helper.id()))?;
            let (t, u) = unwatched_storm(&d, &storm_bin, mode, n, &tmp)?;
            record(RowId::Unwatched, t);
            peak_rss = peak_rss.max(u.peak_rss);
            unwatched_runs.entry(mode).or_default().push(u);

            let (t, w) = watched_storm(&d, &storm_bin, mode, n, &tmp)?;
            record(RowId::Watched, t);
            peak_rss = peak_rss.max(w.peak_rss);
            watched_runs.entry(mode).or_default().push(w);
            if let Some(t) = filtered_storm(&d, &storm_bin, mode, n, &tmp)? {
                record(RowId::WatchedFiltered, t);
            }
            d.delete(&format!("/v1/watch/{}", helper.id()))?;

            if let Some(u) = &untimed {
                settle();
                record(RowId::WatchedUntimed, watched_storm(u, &storm_bin, mode, n, &tmp)?.0);
            }
            if let Some(x) = &exit_only {
                settle();
                x.put(&format!("/v1/watch/{}?children=false", helper.id()))?;
                record(RowId::UnwatchedExitOnly, storm(mode, n)?);
                record(RowId::WatchedExitOnly, watched_storm(x, &storm_bin, mode, n, &tmp)?.0);
                x.delete(&format!("/v1/watch/{}", helper.id()))?;
            }
        }
        // The zero-drop goal at its own rate.
        let p = paced.as_ref().context("no daemon for the paced storms")?;
        let (_, w) = watched_storm(p, &storm_bin, Mode::Paced, o.calls(Mode::Paced), &tmp)?;
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
                let t = match Storm::start(&storm_bin, &prefix, Mode::Getppid, n, STORM_CPU, &tmp) {
                    Ok(mut s) => {
                        let t = s.go()?.ns_per_call();
                        s.finish()?;
                        t
                    }
                    Err(e) => {
                        eprintln!("bench: perf trace did not start in run {}: {e:#}", run + 1);
                        report::NOT_MEASURED
                    }
                };
                ns.entry((RowId::PerfTrace, Mode::Getppid)).or_default().push(t);
            }
        }
    }

    let ring = ring_peaks(&d, paced.as_ref().context("no daemon for the paced storms")?)?;
    drop(paced);
    eprintln!("bench: HTTP load and kernel BPF statistics");
    let http = http_phase(&d, &storm_bin, &o, &tmp)?;
    // Before bpf_stats_phase's watched storm starts the peak over.
    let peak_rss = peak_rss.max(d.peak_rss()?);
    let bpf = bpf_stats_phase(&d, &storm_bin, &tmp, helper.id())?;
    let peak_rss = peak_rss.max(d.peak_rss()?);
    eprintln!("bench: nginx");
    let server = nginx::phase(&nginx_context(&o, &d, helper.id(), &tmp))?;
    let _ = helper.kill();
    let _ = helper.wait();
    drop((d, untimed, exit_only));
    eprintln!("bench: scale");
    let scale = scale::phase(&o.daemon, &storm_bin, o.runs, |m| o.calls(m), &tmp)?;
    eprintln!("bench: memory");
    let memory = memory::phase(&o.daemon, &storm_bin, (DAEMON_CPU, STORM_CPU), &tmp)?;

    let runs = Runs { watched: &watched_runs, unwatched: &unwatched_runs };
    let phases = Phases { http: &http, bpf: &bpf, memory: &memory, server: &server, scale: &scale };
    let text = render(&o, &ns, &runs, &phases, &DaemonUse { peak_rss, ring });
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
                let (mut unwatched, mut filtered) = (vec![], vec![]);
                for _ in 0..o.runs {
                    base.push(Storm::run(bin, mode, n, STORM_CPU, tmp)?.ns_per_call());
                    settle();
                    let (t, w) = watched_storm(d, bin, mode, n, tmp)?;
                    watched.push(t.ns_per_call());
                    dropped += w.dropped;
                    cpu.push(w.daemon_cpu_ns as f64 / w.delivered.max(1) as f64);
                    runs.entry(mode).or_default().push(w);
                    // Rows 3 and 4f, with another process watched (the hooks attached).
                    d.put(&format!("/v1/watch/{helper}?children=false"))?;
                    unwatched.push(Storm::run(bin, mode, n, STORM_CPU, tmp)?.ns_per_call());
                    if let Some(t) = filtered_storm(d, bin, mode, n, tmp)? {
                        filtered.push(t.ns_per_call());
                    }
                    d.delete(&format!("/v1/watch/{helper}"))?;
                }
                let over = |row: &[f64]| report::paired_difference(row, &base).unwrap_or(f64::NAN);
                println!(
                    "- {}: over the baseline, not watched {:+.1} ns, watched with every call filtered out {:+.1} ns, watched {:+.1} ns (each run against its own baseline)",
                    mode.arg(),
                    over(&unwatched),
                    over(&filtered),
                    over(&watched)
                );
                if let (Some(b), Some(w), Some(c), Some(r)) =
                    (spread(&base), spread(&watched), spread(&cpu), report::paired_ratio(&watched, &base))
                {
                    println!(
                        "- {}: baseline {:.1} ns, watched {:.1} ns ({:.1}–{:.1}): {r:.2}×, {dropped} dropped, daemon CPU {:.0} ns per event",
                        mode.arg(),
                        b.median,
                        w.median,
                        w.min,
                        w.max,
                        c.median
                    );
                }
            }
            let paced = Daemon::start(&o.daemon, DAEMON_CPU, &[])?;
            for _ in 0..o.runs {
                let (_, w) = watched_storm(&paced, bin, Mode::Paced, o.calls(Mode::Paced), tmp)?;
                runs.entry(Mode::Paced).or_default().push(w);
            }
            print!("{}", zero_drop_lines(&runs, &ring_peaks(d, &paced)?));
        }
        Phase::Untraced => {
            for mode in [Mode::Getppid, Mode::Mix] {
                let n = o.calls(mode);
                let run = || Storm::run(bin, mode, n, STORM_CPU, tmp).map(|t| t.ns_per_call());
                let (mut base, mut floor, mut clocks, mut unwatched) = (vec![], vec![], vec![], vec![]);
                for _ in 0..o.runs {
                    base.push(run()?);
                    for (kind, row) in [(floor::Kind::Empty, &mut floor), (floor::Kind::Clocks, &mut clocks)] {
                        settle();
                        let f = floor::Floor::attach(kind)?;
                        row.push(run()?);
                        drop(f);
                    }
                    settle();
                    // Something else is watched, so the hooks are attached.
                    d.put(&format!("/v1/watch/{helper}?children=false"))?;
                    unwatched.push(run()?);
                    d.delete(&format!("/v1/watch/{helper}"))?;
                }
                let over = |row: &[f64]| report::paired_difference(row, &base).unwrap_or(f64::NAN);
                if let Some(b) = spread(&base) {
                    println!(
                        "- {}: baseline {:.1} ns, floor {:+.1}, floor reading the clock {:+.1}, not watched {:+.1}: {:.2}× the floor's overhead (each run against its own baseline)",
                        mode.arg(),
                        b.median,
                        over(&floor),
                        over(&clocks),
                        over(&unwatched),
                        report::paired_overhead_vs_floor(&unwatched, &floor, &base).unwrap_or(f64::NAN)
                    );
                }
            }
        }
        Phase::Http => print!("{}", http_lines(&http_phase(d, bin, o, tmp)?)),
        Phase::Nginx => print!("{}", nginx::lines(&nginx::phase(&nginx_context(o, d, helper, tmp))?)),
        Phase::Scale => print!("{}", scale::lines(&scale::phase(&o.daemon, bin, o.runs, |m| o.calls(m), tmp)?)),
        Phase::Memory => print!("{}", memory::lines(&memory::phase(&o.daemon, bin, (DAEMON_CPU, STORM_CPU), tmp)?)),
    }
    Ok(())
}

fn nginx_context<'a>(o: &'a Opts, d: &'a Daemon, helper: u32, tmp: &'a Path) -> nginx::Context<'a> {
    nginx::Context {
        daemon_bin: &o.daemon,
        alt_daemon_bin: o.alt_daemon.as_deref(),
        host_daemon: d,
        helper,
        tmp,
        rounds: o.nginx_rounds,
        secs: o.nginx_secs,
        only: o.nginx_rows.as_deref(),
    }
}

/// The drain's work without the kernel: `n` getppid records into a watched
/// process's full history, in batches as the drain hands them over.
fn ingest_only(n: u64) -> Result<()> {
    use strace_api::{
        clock::Clock,
        kernel::fake::FakeKernel,
        recorder::Limits,
        tracer::{Tracer, TracerConfig},
    };
    use strace_common::{RecordKind, SyscallRecord};
    let pid = std::os::unix::process::parent_id();
    let config = TracerConfig {
        limits: Limits { per_process: 4096, memory_bytes: 256 << 20, keep_per_process: 100 },
        clock: Clock::from_offset(0),
        retention: Duration::from_secs(600),
        durations: true,
        ring_bytes: 8 << 20,
        fd_paths: false,
        max_exited: 10_000,
        watch_all_filter: None,
    };
    let tracer = Tracer::new(Box::new(FakeKernel::default()), config);
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
