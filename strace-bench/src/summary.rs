//! The report of a full run: the table, each goal's verdict, and the
//! README's performance block.

use std::{collections::HashMap, fmt::Write as _, path::Path};

use anyhow::Result;

use crate::{
    DAEMON_CPU, Opts, RowId, STORM_CPU,
    http::{Http, http_lines},
    memory, nginx, report,
    report::{Row, spread},
    runs::{UnwatchedRun, WatchedRun},
    storm::{self, Mode},
};

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

/// What rows 3 and 4 counted, per workload and run.
pub struct Runs<'a> {
    pub watched: &'a HashMap<Mode, Vec<WatchedRun>>,
    pub unwatched: &'a HashMap<Mode, Vec<UnwatchedRun>>,
}

/// The phases after the storms' rows.
pub struct Phases<'a> {
    pub http: &'a Http,
    pub bpf: &'a [(String, f64)],
    pub memory: &'a memory::Memory,
    pub server: &'a nginx::Nginx,
    pub scale: &'a crate::scale::Scale,
}

pub fn render(
    o: &Opts,
    ns: &HashMap<(RowId, Mode), Vec<f64>>,
    runs: &Runs,
    phases: &Phases,
    daemon: &DaemonUse,
) -> String {
    let Phases { http, bpf, memory, server, scale } = *phases;
    let runs_of = |row, mode| ns.get(&(row, mode)).map_or(&[][..], |v: &Vec<f64>| &v[..]);
    let cell = |row, mode| spread(runs_of(row, mode));
    // Each run's row against the same run's baseline (report::paired).
    let ratio = |row, mode| report::paired_ratio(runs_of(row, mode), runs_of(RowId::Baseline, mode));
    let over_base = |row, mode| report::paired_difference(runs_of(row, mode), runs_of(RowId::Baseline, mode));
    let vs_floor = |row, floor, mode| {
        report::paired_overhead_vs_floor(runs_of(row, mode), runs_of(floor, mode), runs_of(RowId::Baseline, mode))
    };
    let rows_ids = [
        RowId::Baseline,
        RowId::Floor,
        RowId::FloorExitOnly,
        RowId::FloorClocks,
        RowId::Idle,
        RowId::Unwatched,
        RowId::Watched,
        RowId::WatchedFiltered,
        RowId::WatchedUntimed,
        RowId::UnwatchedExitOnly,
        RowId::WatchedExitOnly,
        RowId::Strace,
        RowId::PerfTrace,
    ];
    let rows: Vec<Row> = rows_ids
        .iter()
        .map(|&r| Row {
            name: r.name().into(),
            cells: vec![cell(r, Mode::Getppid), cell(r, Mode::Mix)],
            ratios: vec![ratio(r, Mode::Getppid), ratio(r, Mode::Mix)],
            note: match r {
                RowId::Strace | RowId::PerfTrace => format!("{} calls per run", o.calls / o.slow_divisor),
                RowId::Unwatched => "another process is watched, so the hooks are attached".into(),
                RowId::WatchedUntimed => "events keep their exit time; no durations".into(),
                RowId::WatchedFiltered => "the filter's bit tested in sys_enter; nothing recorded or delivered".into(),
                RowId::FloorClocks => "the least that timing each call costs, before anything is recorded".into(),
                RowId::UnwatchedExitOnly | RowId::WatchedExitOnly => {
                    "sys_exit alone: no durations or exit_group; calls in progress only from /proc".into()
                }
                _ => String::new(),
            },
        })
        .filter(|r| r.cells.iter().any(Option::is_some))
        .collect();
    let mut s = String::new();
    writeln!(s, "Machine: {}. Storm pinned to CPU {STORM_CPU}, daemon to CPU {DAEMON_CPU}.", machine()).unwrap();
    writeln!(
        s,
        "Per run: {} getppid calls; mix = {} × (8-byte pipe write + read, openat + close, stat). Medians of {} runs, min–max in brackets; each ratio is the median of the runs' own (a run measures every row back to back). Default config (ring buffer {} MiB).\n",
        o.calls,
        o.mix,
        o.runs,
        strace_common::limits::DEFAULT_RING_BYTES >> 20
    )
    .unwrap();
    s.push_str(&report::table(&["getppid", "mix"], &rows));

    writeln!(s, "\nGoals (each run against its own baseline, medians over the runs):").unwrap();
    for mode in [Mode::Getppid, Mode::Mix] {
        if let (Some(u), Some(f)) = (over_base(RowId::Unwatched, mode), over_base(RowId::Floor, mode)) {
            let r = vs_floor(RowId::Unwatched, RowId::Floor, mode);
            writeln!(
                s,
                "- untraced ({}): overhead {u:+.1} ns vs the floor's {f:+.1} ns = {:.2}× the floor (goal ≤ 1.2×): {}",
                mode.arg(),
                r.unwrap_or(f64::NAN),
                verdict(r.is_some_and(|r| r <= 1.2))
            )
            .unwrap();
        }
        if let (Some(u), Some(f)) = (over_base(RowId::UnwatchedExitOnly, mode), over_base(RowId::FloorExitOnly, mode)) {
            writeln!(
                s,
                "  - with `--entry-hook false` (row 3c, not the default; durations and exit_group given up, calls in progress only from /proc): {u:+.1} ns a call against its own floor's {f:+.1} ns (row 2b, the sys_exit program alone) = {:.2}×",
                vs_floor(RowId::UnwatchedExitOnly, RowId::FloorExitOnly, mode).unwrap_or(f64::NAN)
            )
            .unwrap();
        }
    }
    for mode in [Mode::Getppid, Mode::Mix] {
        if let (Some(f), Some(u), Some(w)) = (
            over_base(RowId::WatchedFiltered, mode),
            over_base(RowId::Unwatched, mode),
            over_base(RowId::Watched, mode),
        ) {
            writeln!(
                s,
                "- filtered out in the kernel ({}, row 4f): {f:+.1} ns a call over the baseline, against {u:+.1} not watched (row 3) and {w:+.1} watched (row 4)",
                mode.arg()
            )
            .unwrap();
        }
    }
    if let Some(i) = ratio(RowId::Idle, Mode::Getppid) {
        writeln!(s, "- idle: {i:.2}× baseline with the syscall hooks detached (goal: no overhead, within noise)")
            .unwrap();
    }
    for (mode, goal) in [(Mode::Getppid, 3.0), (Mode::Mix, 1.5)] {
        if let Some(w) = ratio(RowId::Watched, mode) {
            writeln!(s, "- watched ({}): {w:.2}× baseline (goal ≤ {goal}×): {}", mode.arg(), verdict(w <= goal))
                .unwrap();
        }
        if let (Some(c), Some(clocks)) = (ratio(RowId::FloorClocks, mode), over_base(RowId::FloorClocks, mode))
            && let Some(base) = cell(RowId::Baseline, mode)
        {
            writeln!(
                s,
                "  - the least any design that times each call can cost here (row 2c, programs that only read the clock): {c:.2}× baseline, {clocks:+.1} ns a call of the goal's {:+.1}",
                (goal - 1.0) * base.median
            )
            .unwrap();
        }
        if let Some(w) = ratio(RowId::WatchedUntimed, mode) {
            writeln!(s, "  - with `--durations false` (row 4b, not the default): {w:.2}× baseline").unwrap();
        }
        if let Some(w) = ratio(RowId::WatchedExitOnly, mode) {
            writeln!(s, "  - with `--entry-hook false --durations false` (row 4c, not the default): {w:.2}× baseline")
                .unwrap();
        }
    }
    s.push_str(&unwatched_lines(runs.unwatched));
    let watched = runs.watched;
    for (mode, runs) in sorted(watched) {
        let exact = runs.iter().all(|r| r.delivered + r.dropped == r.issued);
        let dropped: u64 = runs.iter().map(|r| r.dropped).sum();
        let cpu = spread(&runs.iter().map(|r| r.daemon_cpu_ns as f64 / r.delivered.max(1) as f64).collect::<Vec<_>>());
        let rate = spread(&runs.iter().map(|r| r.rate / 1e6).collect::<Vec<_>>());
        writeln!(
            s,
            "- watched ({}): delivered + dropped == issued in every run: {} ({}); {dropped} dropped at {:.2}M calls/s (median); daemon CPU {:.0} ns per event; daemon peak RSS {}",
            mode.arg(),
            if exact { "yes" } else { "NO" },
            runs.iter().map(|r| format!("{}+{}={}", r.delivered, r.dropped, r.issued)).collect::<Vec<_>>().join(", "),
            rate.map_or(0.0, |r| r.median),
            cpu.map_or(0.0, |c| c.median),
            mib_range(runs.iter().map(|r| r.peak_rss))
        )
        .unwrap();
    }
    s.push_str(&zero_drop_lines(watched, &daemon.ring));
    s.push_str(&http_lines(http));
    s.push_str(&memory::lines(memory));
    writeln!(
        s,
        "  - the default daemon's peak RSS over the whole run: {:.1} MiB",
        daemon.peak_rss as f64 / (1 << 20) as f64
    )
    .unwrap();
    s.push_str(&nginx::lines(server));
    s.push_str(&crate::scale::lines(scale));
    if !bpf.is_empty() {
        writeln!(s, "\nKernel BPF statistics (kernel.bpf_stats_enabled, separate runs):").unwrap();
        for (name, v) in bpf {
            writeln!(s, "- {name}: {v:.1}").unwrap();
        }
    }
    s
}

/// Row 3: none of the storm's calls may reach the daemon, so none is
/// delivered, none dropped and nothing written to the ring.
fn unwatched_lines(unwatched: &HashMap<Mode, Vec<UnwatchedRun>>) -> String {
    let mut s = String::new();
    let mut modes: Vec<_> = unwatched.iter().collect();
    modes.sort_by_key(|(m, _)| **m as u8);
    for (mode, runs) in modes {
        let none = runs.iter().all(|r| r.delivered == 0 && r.dropped == 0);
        let ms = |v: &dyn Fn(&UnwatchedRun) -> u64| {
            spread(&runs.iter().map(|r| v(r) as f64 / 1e6).collect::<Vec<_>>()).map_or(0.0, |m| m.median)
        };
        writeln!(
            s,
            "- not watched ({}, row 3): of each storm's calls issued, none delivered and none dropped (the filter let none through, nothing written to the ring): {} ({}); daemon CPU {:.0} ms while the storm ran {:.0} ms (medians; the kernel counts CPU time in clock ticks); daemon peak RSS {}",
            mode.arg(),
            if none { "yes" } else { "NO" },
            runs.iter().map(|r| format!("{}+{} of {}", r.delivered, r.dropped, r.issued)).collect::<Vec<_>>().join(", "),
            ms(&|r| r.daemon_cpu_ns),
            ms(&|r| r.storm_ns),
            mib_range(runs.iter().map(|r| r.peak_rss))
        )
        .unwrap();
    }
    s
}

/// "min–max MiB" of some byte counts.
fn mib_range(bytes: impl Iterator<Item = u64>) -> String {
    let mib: Vec<f64> = bytes.map(|b| b as f64 / (1 << 20) as f64).collect();
    spread(&mib).map_or("–".into(), |m| format!("{:.1}–{:.1} MiB", m.min, m.max))
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT MET" }
}

/// What the default daemons used: the peak RSS, and the rings' peaks.
pub struct DaemonUse {
    pub peak_rss: u64,
    pub ring: RingPeaks,
}

/// The most the kernel ring buffer held (`/healthz` → `ring`), over the
/// paced storms (a daemon of their own) and over the full-speed ones.
pub struct RingPeaks {
    pub size: u64,
    pub paced: u64,
    pub full_speed: u64,
}

/// The zero-drop goal, judged on the storms paced at its rate; the
/// full-speed storms (about twice that rate here) for comparison.
pub fn zero_drop_lines(watched: &HashMap<Mode, Vec<WatchedRun>>, ring: &RingPeaks) -> String {
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
    let part = |bytes: u64| {
        format!("{:.2} MiB ({:.0}%)", bytes as f64 / (1 << 20) as f64, 100.0 * bytes as f64 / ring.size.max(1) as f64)
    };
    writeln!(
        s,
        "  - the most the {:.2} MiB ring held, as the drain saw it: {} in the paced runs, {} in the full-speed ones",
        ring.size as f64 / (1 << 20) as f64,
        part(ring.paced),
        part(ring.full_speed)
    )
    .unwrap();
    s
}

fn sorted(m: &HashMap<Mode, Vec<WatchedRun>>) -> Vec<(Mode, &Vec<WatchedRun>)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by_key(|(k, _)| *k as u8);
    v
}

pub fn update_readme(readme: &Path, text: &str, file: &Path) -> Result<()> {
    let doc = std::fs::read_to_string(readme)?;
    let name = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let block = format!("{text}\nFull output: `bench/results/{name}`.");
    match report::replace_between(&doc, "<!-- bench:start -->", "<!-- bench:end -->", &block) {
        Some(new) => std::fs::write(readme, new)?,
        None => eprintln!("bench: README has no <!-- bench:start --> block; not updated"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(delivered: u64, dropped: u64) -> UnwatchedRun {
        UnwatchedRun { issued: 101, delivered, dropped, daemon_cpu_ns: 0, storm_ns: 50_000_000, peak_rss: 40 << 20 }
    }

    #[test]
    fn row_3_says_no_when_any_call_got_through() {
        let mut m = HashMap::new();
        m.insert(Mode::Getppid, vec![run(0, 0), run(0, 0)]);
        let text = unwatched_lines(&m);
        assert!(text.contains("ring): yes (0+0 of 101, 0+0 of 101)"), "{text}");
        assert!(text.contains("storm ran 50 ms"), "{text}");
        assert!(text.contains("peak RSS 40.0–40.0 MiB"), "{text}");
        m.insert(Mode::Getppid, vec![run(0, 0), run(3, 0)]);
        assert!(unwatched_lines(&m).contains("ring): NO (0+0 of 101, 3+0 of 101)"));
        m.insert(Mode::Getppid, vec![run(0, 2)]);
        assert!(unwatched_lines(&m).contains("ring): NO (0+2 of 101)"));
    }
}
