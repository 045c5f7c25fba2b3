//! Issue #23's scale question: a storm on every CPU at once against one
//! storm alone, not watched and watched. Every CPU's records go through the
//! one ring (its lock taken once a batch) to the one drain thread, which
//! here shares the first CPU with a storm: what changes a call's cost, and
//! what the drain keeps up with, when every CPU writes at once.
use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::{Context as _, Result, ensure};

use crate::{
    DAEMON_CPU, STORM_CPU,
    daemon::Daemon,
    report::{paired_ratio, spread},
    settle,
    storm::{Mode, Storm, Timing},
};

/// What the ring and the daemon did during one watched configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flow {
    pub issued: u64,
    pub delivered: u64,
    pub dropped: u64,
    /// Of those, dropped as over their process's share of a nearly full
    /// ring (the others: it was full).
    pub throttled: u64,
    pub daemon_cpu_ns: u64,
    /// From the first storm's start to the last one's end.
    pub wall_ns: u64,
    /// Ring items (batches) the drain read, and the records in them.
    pub ring_writes: u64,
    pub records: u64,
}

impl Flow {
    /// Calls recorded a second, all storms together.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / (self.wall_ns.max(1) as f64 / 1e9)
    }

    pub fn cpu_per_record(&self) -> f64 {
        self.daemon_cpu_ns as f64 / self.delivered.max(1) as f64
    }

    pub fn records_per_write(&self) -> f64 {
        self.records as f64 / self.ring_writes.max(1) as f64
    }

    /// delivered + dropped == issued.
    pub fn exact(&self) -> bool {
        self.delivered + self.dropped == self.issued
    }
}

/// One storm mode's runs.
#[derive(Default)]
pub struct ModeScale {
    /// ns a call, each run's: one storm alone (on STORM_CPU); with all CPUs
    /// at once, the storm on STORM_CPU (`all_*`, the same CPU as alone) and
    /// the mean of the others' (`others_*`: one shares DAEMON_CPU).
    pub alone_base: Vec<f64>,
    pub all_base: Vec<f64>,
    pub others_base: Vec<f64>,
    pub alone_watched: Vec<f64>,
    pub all_watched: Vec<f64>,
    pub others_watched: Vec<f64>,
    pub alone: Vec<Flow>,
    pub all: Vec<Flow>,
}

pub struct Scale {
    pub cpus: usize,
    pub modes: Vec<(Mode, ModeScale)>,
    /// The most the ring held, alone and all at once (each its own
    /// daemon), and its size.
    pub ring_size: u64,
    pub ring_peak_alone: u64,
    pub ring_peak_all: u64,
}

/// Every CPU's number, STORM_CPU's first (the one the lone storm uses).
fn cpus() -> Vec<usize> {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut v: Vec<usize> = (0..n).filter(|&c| c != STORM_CPU).collect();
    v.insert(0, STORM_CPU);
    v
}

pub fn phase(daemon_bin: &Path, bin: &Path, runs: usize, calls: impl Fn(Mode) -> u64, tmp: &Path) -> Result<Scale> {
    let cpus = cpus();
    // One daemon for each configuration, so the ring's peak is its own.
    let alone_d = Daemon::start(daemon_bin, DAEMON_CPU, &[])?;
    let all_d = Daemon::start(daemon_bin, DAEMON_CPU, &[])?;
    let mut modes = vec![];
    for mode in [Mode::Getppid, Mode::Mix] {
        let n = calls(mode);
        let mut m = ModeScale::default();
        for run in 0..runs {
            eprintln!("bench: scale, {} run {}/{runs}", mode.arg(), run + 1);
            m.alone_base.push(mean_ns(&storms(bin, mode, n, &cpus[..1], None, tmp)?.0));
            let t = storms(bin, mode, n, &cpus, None, tmp)?.0;
            m.all_base.push(t[0].ns_per_call());
            m.others_base.push(mean_ns(&t[1..]));
            settle();
            let (t, f) = storms(bin, mode, n, &cpus[..1], Some(&alone_d), tmp)?;
            m.alone_watched.push(mean_ns(&t));
            m.alone.push(f.context("a watched run counts its flow")?);
            settle();
            let (t, f) = storms(bin, mode, n, &cpus, Some(&all_d), tmp)?;
            m.all_watched.push(t[0].ns_per_call());
            m.others_watched.push(mean_ns(&t[1..]));
            m.all.push(f.context("a watched run counts its flow")?);
        }
        modes.push((mode, m));
    }
    let ((ring_size, ring_peak_alone), (_, ring_peak_all)) = (alone_d.ring()?, all_d.ring()?);
    Ok(Scale { cpus: cpus.len(), modes, ring_size, ring_peak_alone, ring_peak_all })
}

fn mean_ns(t: &[Timing]) -> f64 {
    t.iter().map(Timing::ns_per_call).sum::<f64>() / t.len().max(1) as f64
}

/// Storms on `cpus`, released together; watched by `d` if given, with what
/// reached it counted once each has settled.
fn storms(
    bin: &Path,
    mode: Mode,
    n: u64,
    cpus: &[usize],
    d: Option<&Daemon>,
    tmp: &Path,
) -> Result<(Vec<Timing>, Option<Flow>)> {
    let mut s: Vec<Storm> = cpus.iter().map(|&c| Storm::start(bin, &[], mode, n, c, tmp)).collect::<Result<_>>()?;
    let Some(d) = d else {
        s.iter().try_for_each(Storm::release)?;
        let t = s.iter_mut().map(Storm::timing).collect::<Result<Vec<_>>>()?;
        s.into_iter().try_for_each(Storm::finish)?;
        return Ok((t, None));
    };
    for storm in &s {
        d.put(&format!("/v1/watch/{}?children=false", storm.pid))?;
    }
    let (ring0, cpu0) = (ring_reads(d)?, d.cpu_ns()?);
    let started = std::time::Instant::now();
    s.iter().try_for_each(Storm::release)?;
    let t = s.iter_mut().map(Storm::timing).collect::<Result<Vec<_>>>()?;
    let wall_ns = started.elapsed().as_nanos() as u64;
    let mut flow = Flow { wall_ns, ..Flow::default() };
    for (storm, timing) in s.iter().zip(&t) {
        let issued = timing.calls + 1; // and the write of "done"
        let (delivered, dropped) = d.settle(storm.pid, issued)?;
        flow.issued += issued;
        flow.delivered += delivered;
        flow.dropped += dropped;
    }
    // Longer than the drain's timer: its last pass is counted.
    std::thread::sleep(Duration::from_millis(50));
    let ring1 = ring_reads(d)?;
    flow.daemon_cpu_ns = d.cpu_ns()? - cpu0;
    flow.ring_writes = ring1.0 - ring0.0;
    flow.records = ring1.1 - ring0.1;
    flow.throttled = ring1.2 - ring0.2;
    for storm in &s {
        d.delete(&format!("/v1/watch/{}", storm.pid))?;
    }
    s.into_iter().try_for_each(Storm::finish)?;
    ensure!(!t.is_empty(), "no storm ran");
    Ok((t, Some(flow)))
}

/// The drain's ring items (batches) and records read so far, and the
/// records the kernel throttled.
fn ring_reads(d: &Daemon) -> Result<(u64, u64, u64)> {
    let h = d.get("/healthz")?;
    let n = |k: &str| h.pointer(k).and_then(|v| v.as_u64()).with_context(|| format!("/healthz has no {k}"));
    Ok((n("/ring/items_read")?, n("/ring/records_read")?, n("/kernel/throttled")?))
}

pub fn lines(s: &Scale) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "\nScale: a storm on each of the {} CPUs at once against one alone on CPU {STORM_CPU}; the daemon on CPU {DAEMON_CPU}, sharing it with a storm when all run. Each run measures the four configurations back to back; ratios are each run's watched storm against the same run's baseline in the same configuration, medians over runs. With all CPUs, the storm on CPU {STORM_CPU} (the lone storm's CPU) and the others' mean are apart: the others share a CPU with the daemon.\n",
        s.cpus
    )
    .unwrap();
    writeln!(
        out,
        "| storm | alone: baseline → watched ns a call | × | all CPUs, CPU {STORM_CPU}'s storm | × | the others' (daemon's CPU) | × | calls recorded a second, all (alone) | dropped, all (alone) | delivered + dropped == issued | daemon CPU ns a record, all (alone) | records a ring write, all (alone) |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for (mode, m) in &s.modes {
        let med = |v: &[f64]| spread(v).map_or(f64::NAN, |s| s.median);
        let flows = |f: &[Flow], g: fn(&Flow) -> f64| med(&f.iter().map(g).collect::<Vec<_>>());
        let dropped = |f: &[Flow]| {
            let (all, throttled) = f.iter().fold((0, 0), |(a, t), f| (a + f.dropped, t + f.throttled));
            if throttled == 0 { all.to_string() } else { format!("{all}, {throttled} of them throttled") }
        };
        let exact = m.alone.iter().chain(&m.all).all(Flow::exact);
        writeln!(
            out,
            "| {} | {:.1} → {:.1} | {:.2} | {:.1} → {:.1} | {:.2} | {:.1} → {:.1} | {:.2} | {:.2}M ({:.2}M) | {} ({}) | {} | {:.0} ({:.0}) | {:.1} ({:.1}) |",
            mode.arg(),
            med(&m.alone_base),
            med(&m.alone_watched),
            paired_ratio(&m.alone_watched, &m.alone_base).unwrap_or(f64::NAN),
            med(&m.all_base),
            med(&m.all_watched),
            paired_ratio(&m.all_watched, &m.all_base).unwrap_or(f64::NAN),
            med(&m.others_base),
            med(&m.others_watched),
            paired_ratio(&m.others_watched, &m.others_base).unwrap_or(f64::NAN),
            flows(&m.all, Flow::rate) / 1e6,
            flows(&m.alone, Flow::rate) / 1e6,
            dropped(&m.all),
            dropped(&m.alone),
            if exact { "yes" } else { "NO" },
            flows(&m.all, Flow::cpu_per_record),
            flows(&m.alone, Flow::cpu_per_record),
            flows(&m.all, Flow::records_per_write),
            flows(&m.alone, Flow::records_per_write),
        )
        .unwrap();
    }
    let pct = |b: u64| 100.0 * b as f64 / s.ring_size.max(1) as f64;
    writeln!(
        out,
        "\n- the ring's peak: {:.0}% of its {} MiB alone, {:.0}% with all CPUs writing",
        pct(s.ring_peak_alone),
        s.ring_size >> 20,
        pct(s.ring_peak_all)
    )
    .unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::Flow;

    #[test]
    fn a_flow_reports_rates_per_record_and_its_identity() {
        let f = Flow {
            issued: 10,
            delivered: 8,
            dropped: 2,
            throttled: 0,
            daemon_cpu_ns: 800,
            wall_ns: 2_000_000_000,
            ring_writes: 2,
            records: 8,
        };
        assert_eq!(f.rate(), 4.0);
        assert_eq!(f.cpu_per_record(), 100.0);
        assert_eq!(f.records_per_write(), 4.0);
        assert!(f.exact());
        assert!(!Flow { dropped: 1, ..f }.exact());
    }

    #[test]
    fn the_lone_storm_runs_on_the_storm_cpu() {
        assert_eq!(super::cpus()[0], super::STORM_CPU);
    }
}
