//! The measured storms of rows 3 and 4: each storm timed, and what reached
//! the daemon counted.
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Result;

use crate::{
    STORM_CPU,
    daemon::Daemon,
    storm::{Mode, Storm, Timing},
    summary::RingPeaks,
};

/// What the watched row saw, per run.
#[derive(Default)]
pub struct WatchedRun {
    pub issued: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub daemon_cpu_ns: u64,
    pub rate: f64,
    /// The daemon's peak RSS from the watch to the last event stored.
    pub peak_rss: u64,
}

/// What row 3 saw, per run: the storm is not watched, so none of its calls
/// may reach the daemon.
pub struct UnwatchedRun {
    pub issued: u64,
    /// Records that reached the daemon meanwhile: events of every watch (the
    /// one watched process sleeps) and records of unwatched processes.
    pub delivered: u64,
    /// Records the kernel counted lost meanwhile, host-wide.
    pub dropped: u64,
    pub daemon_cpu_ns: u64,
    /// How long the storm ran.
    pub storm_ns: u64,
    pub peak_rss: u64,
}

/// One storm not watched while something else is: time it, and count what
/// reached the daemon meanwhile.
pub fn unwatched_storm(d: &Daemon, bin: &Path, mode: Mode, n: u64, tmp: &Path) -> Result<(Timing, UnwatchedRun)> {
    let (before, cpu0) = (d.delivered_and_lost()?, d.cpu_ns()?);
    d.reset_peak_rss()?;
    let t = Storm::run(bin, mode, n, STORM_CPU, tmp)?;
    // Longer than the drain's timer: anything let through has arrived.
    std::thread::sleep(Duration::from_millis(100));
    let (after, daemon_cpu_ns) = (d.delivered_and_lost()?, d.cpu_ns()? - cpu0);
    let run = UnwatchedRun {
        issued: t.calls + 1,
        // (Saturating: a watch swept meanwhile takes its events with it.)
        delivered: after.0.saturating_sub(before.0),
        dropped: after.1.saturating_sub(before.1),
        daemon_cpu_ns,
        storm_ns: t.ns,
        peak_rss: d.peak_rss()?,
    };
    Ok((t, run))
}

/// One watched storm: watch, go, let the daemon drain, count everything.
pub fn watched_storm(d: &Daemon, bin: &Path, mode: Mode, n: u64, tmp: &Path) -> Result<(Timing, WatchedRun)> {
    let mut s = Storm::start(bin, &[], mode, n, STORM_CPU, tmp)?;
    d.reset_peak_rss()?;
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
    let peak_rss = d.peak_rss()?;
    d.delete(&format!("/v1/watch/{}", s.pid))?;
    s.finish()?;
    let rate = t.calls as f64 / (t.ns as f64 / 1e9);
    Ok((t, WatchedRun { issued, delivered, dropped, daemon_cpu_ns, rate, peak_rss }))
}

/// The rings' peaks: `d` ran the full-speed watched storms, `paced` the paced ones.
pub fn ring_peaks(d: &Daemon, paced: &Daemon) -> Result<RingPeaks> {
    let ((size, full_speed), (_, paced)) = (d.ring()?, paced.ring()?);
    Ok(RingPeaks { size, paced, full_speed })
}

/// A storm watched with a kernel-side filter that none of its calls pass
/// (`syscalls=%network`: getppid, and the mix's read, write, openat, close
/// and newfstatat, are not network calls): time it, and check that nothing
/// of it reached the daemon or was dropped. `None` from a daemon that has
/// no kernel-side filters (an older one, measured for comparison).
pub fn filtered_storm(d: &Daemon, bin: &Path, mode: Mode, n: u64, tmp: &Path) -> Result<Option<Timing>> {
    let mut s = Storm::start(bin, &[], mode, n, STORM_CPU, tmp)?;
    if d.put(&format!("/v1/watch/{}?children=false&syscalls=%25network", s.pid)).is_err() {
        return Ok(None); // the storm is killed as it drops
    }
    let t = s.go()?;
    // Longer than the drain's timer: anything let through has arrived.
    std::thread::sleep(Duration::from_millis(100));
    let c = d.counters(s.pid)?;
    let (seen, dropped) = (c["seen"].as_u64().unwrap_or(u64::MAX), c["dropped"].as_u64().unwrap_or(u64::MAX));
    d.delete(&format!("/v1/watch/{}", s.pid))?;
    s.finish()?;
    anyhow::ensure!(seen == 0 && dropped == 0, "a filtered watch let {seen} calls through and dropped {dropped}");
    Ok(Some(t))
}
