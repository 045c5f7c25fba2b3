//! Memory, measured on the running daemon: what one more retained event
//! adds to its resident set, and whether the resident set stays within the
//! events cap once far more events arrive than it allows.
use std::{path::Path, time::Duration};

use anyhow::Result;

use crate::{
    daemon::Daemon,
    storm::{Mode, Storm},
};

/// Large histories, so every event of a storm is kept.
const PER_PID: &str = "1000000";
/// Calls per storm (each leaves this many events in its history).
const CALLS: u64 = 1_000_000;
/// Processes whose full default-size histories are measured together: with
/// 50 (205k events) one 2 MiB huge page more or less moved the figure by 10
/// bytes an event (91 to 97 between two runs); with 200, by 2.6.
const DEFAULT_HISTORIES: u64 = 200;
/// Calls of each: more than a default history keeps.
const DEFAULT_CALLS: u64 = 10_000;
/// The cap of the last daemon, and how many storms overflow it.
const CAP_MIB: u64 = 64;
const OVERFLOW_STORMS: usize = 4;

pub struct Memory {
    /// RSS growth per retained event between two equal storms, warm.
    pub bytes_per_event: f64,
    pub retained: u64,
    /// The same with the default `--events-per-pid`, over many full histories.
    pub default_bytes_per_event: f64,
    pub default_retained: u64,
    pub cap_mib: u64,
    /// The capped daemon: RSS before any event (its ring buffer's pages
    /// included: they are mapped at start), the peak RSS, and what the store
    /// says it holds at the end.
    pub start_rss: u64,
    pub peak_rss: u64,
    pub store_bytes: u64,
    pub events_seen: u64,
    /// Records dropped in all of this phase's storms (counted, not fatal:
    /// the drain also pays for the fresh memory of a history this large).
    pub dropped: u64,
}

impl Memory {
    /// Peak RSS beyond the daemon's start plus the events cap (can be negative).
    pub fn beyond_mib(&self) -> f64 {
        (self.peak_rss as f64 - (self.start_rss + (self.cap_mib << 20)) as f64) / (1 << 20) as f64
    }
}

pub fn phase(bin: &Path, storm: &Path, cpu: (usize, usize), tmp: &Path) -> Result<Memory> {
    let (daemon_cpu, storm_cpu) = cpu;
    let dropped = std::cell::Cell::new(0);
    // A watched storm; its history stays (exited processes are kept for a
    // while). Returns the events delivered.
    let watched_n = |d: &Daemon, calls: u64| -> Result<u64> {
        let mut s = Storm::start(storm, &[], Mode::Getppid, calls, storm_cpu, tmp)?;
        d.put(&format!("/v1/watch/{}?children=false", s.pid))?;
        let issued = s.go()?.calls + 1;
        let (seen, lost) = d.settle(s.pid, issued)?;
        dropped.set(dropped.get() + lost);
        s.finish()?;
        Ok(seen)
    };
    let watched = |d: &Daemon| watched_n(d, CALLS);

    let d = Daemon::start(bin, daemon_cpu, &["--events-per-pid", PER_PID, "--memory-mib", "1024"])?;
    watched(&d)?; // warms the ring buffer, the drain and the allocator
    let before = settled_rss(&d)?;
    let retained = watched(&d)?;
    let bytes_per_event = settled_rss(&d)?.saturating_sub(before) as f64 / retained as f64;
    drop(d);

    let d = Daemon::start(bin, daemon_cpu, &[])?;
    let retained_now = |d: &Daemon| -> Result<u64> {
        let list = d.get("/v1/watch")?;
        Ok(list.as_array().map_or(0, |l| l.iter().filter_map(|w| w["retained"].as_u64()).sum()))
    };
    watched_n(&d, DEFAULT_CALLS)?;
    let (before, kept_before) = (settled_rss(&d)?, retained_now(&d)?);
    for _ in 0..DEFAULT_HISTORIES {
        watched_n(&d, DEFAULT_CALLS)?;
    }
    let default_retained = retained_now(&d)? - kept_before;
    let default_bytes_per_event = settled_rss(&d)?.saturating_sub(before) as f64 / default_retained.max(1) as f64;
    drop(d);

    let cap = CAP_MIB.to_string();
    let d = Daemon::start(bin, daemon_cpu, &["--events-per-pid", PER_PID, "--memory-mib", &cap])?;
    let start_rss = settled_rss(&d)?;
    d.reset_peak_rss()?; // loading the probe had a peak of its own
    let mut events_seen = 0;
    for _ in 0..OVERFLOW_STORMS {
        events_seen += watched(&d)?;
    }
    let health = d.get("/healthz")?;
    Ok(Memory {
        bytes_per_event,
        retained,
        default_bytes_per_event,
        default_retained,
        cap_mib: CAP_MIB,
        start_rss,
        peak_rss: d.peak_rss()?,
        store_bytes: health["memory_bytes"].as_u64().unwrap_or(0),
        events_seen,
        dropped: dropped.get(),
    })
}

/// The daemon's resident set once the allocator has had time to return
/// what was freed.
fn settled_rss(d: &Daemon) -> Result<u64> {
    std::thread::sleep(Duration::from_millis(500));
    d.rss()
}

pub fn lines(m: &Memory) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let worst = m.bytes_per_event.max(m.default_bytes_per_event);
    format!(
        "- memory: {:.1} bytes of RSS per retained event with the default `--events-per-pid` ({} events in full histories), {:.1} in 1M-event histories ({} events); goal ≤ 96: {} (a stored event is {} bytes, its copies apart; {} records dropped in this phase's storms)\n  \
         - RSS against the cap, with `--memory-mib {}`: {} events arrived ({:.1}× what the cap holds), the store held {:.1} MiB at the end; peak RSS {:.1} MiB = start {:.1} + cap {} {:+.1} MiB\n",
        m.default_bytes_per_event,
        m.default_retained,
        m.bytes_per_event,
        m.retained,
        crate::summary::verdict(worst <= 96.0),
        strace_api::recorder::EVENT_BYTES,
        m.dropped,
        m.cap_mib,
        m.events_seen,
        m.events_seen as f64 * strace_api::recorder::EVENT_BYTES as f64 / (m.cap_mib << 20) as f64,
        mib(m.store_bytes),
        mib(m.peak_rss),
        mib(m.start_rss),
        m.cap_mib,
        m.beyond_mib(),
    )
}
