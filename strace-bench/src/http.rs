//! HTTP latency while a watched storm runs: the paced client against the
//! goal's endpoints and against `/v1/watch`, wrk at full rate, and what the
//! machine's own wake-ups look like before it starts.

use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::Result;

use crate::{
    Opts, STORM_CPU,
    daemon::Daemon,
    load,
    report::{Spread, percentile, spread},
    storm::{Mode, Storm},
    summary::verdict,
};

/// One paced run's figures (ms).
#[derive(Clone, Copy, Debug, Default)]
pub struct PacedRun {
    pub sent: usize,
    pub failed: u64,
    pub p50: f64,
    pub p99: f64,
    /// p99 of the time before the client sent, and of the time from sending
    /// to the answer.
    pub before_send_p99: f64,
    pub after_send_p99: f64,
}

impl PacedRun {
    fn of(load: &load::Paced) -> PacedRun {
        let p = |v: &[f64], q| percentile(v, q).unwrap_or(f64::NAN);
        PacedRun {
            sent: load.total.len(),
            failed: load.failed,
            p50: p(&load.total, 50.0),
            p99: p(&load.total, 99.0),
            before_send_p99: p(&load.before_send, 99.0),
            after_send_p99: p(&load.after_send, 99.0),
        }
    }
}

pub struct Http {
    rate: u32,
    secs: u64,
    /// The paced load against the goal's endpoints, run after run.
    runs: Vec<PacedRun>,
    /// Before the storm: a thread that only sleeps and wakes, its lateness's
    /// p99, p99.9 and max, and whether it ran at real-time priority.
    machine: (Option<f64>, Option<f64>, Option<f64>, bool),
    /// The same paced load against `/v1/watch`, which renders no event: the
    /// latency this machine gives any request under the same conditions.
    /// Each run follows one of `runs`, so the two see the machine alike.
    trivial: Vec<PacedRun>,
    wrk: Vec<(String, (f64, f64, f64))>,
    /// The storm's records delivered and dropped over the whole phase: the
    /// drain must keep up while the server is busy.
    seen: u64,
    dropped: u64,
}

/// Paced requests (and wrk, if installed) while a long watched storm runs.
pub fn http_phase(d: &Daemon, bin: &Path, o: &Opts, tmp: &Path) -> Result<Http> {
    let (wakeups, realtime) = load::wakeups(o.http_rate, Duration::from_secs(o.http_secs));
    let machine = (percentile(&wakeups, 99.0), percentile(&wakeups, 99.9), percentile(&wakeups, 100.0), realtime);
    let mut s = Storm::start(bin, &[], Mode::Getppid, 1_000_000_000, STORM_CPU, tmp)?;
    // Following children, as /strace/{pid}/{n} watches: the load measures
    // polling a watched process, not the one request that would turn
    // following on (a watch change, which waits for a kernel grace period).
    d.put(&format!("/v1/watch/{}", s.pid))?;
    let flag_go = std::thread::scope(|scope| -> Result<Http> {
        let pid = s.pid;
        let handle = scope.spawn(|| s.go());
        std::thread::sleep(Duration::from_millis(300));
        let paths = [format!("/strace/{pid}/100"), format!("/v1/processes/{pid}/events?limit=100")];
        let watch_list = ["/v1/watch".to_string()];
        let run = |paths: &[String]| {
            PacedRun::of(&load::paced(d.agent(), &d.base, paths, o.http_rate, Duration::from_secs(o.http_secs)))
        };
        let (runs, trivial) = (0..o.http_runs).map(|_| (run(&paths), run(&watch_list))).unzip();
        let mut wrk = vec![];
        for p in &paths {
            if let Some(r) = load::wrk(&format!("{}{p}", d.base), &d.token, 3) {
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
            secs: o.http_secs,
            runs,
            machine,
            trivial,
            wrk,
            seen: counters["seen"].as_u64().unwrap_or(0),
            dropped: counters["dropped"].as_u64().unwrap_or(0),
        })
    })?;
    Ok(flag_go)
}

/// The HTTP lines of the report (the goal, the floor, wrk).
pub fn http_lines(h: &Http) -> String {
    let mut s = String::new();
    let of = |f: fn(&PacedRun) -> f64| spread(&h.runs.iter().map(f).collect::<Vec<_>>());
    let show =
        |x: Option<Spread>| x.map_or("–".into(), |x| format!("{:.2} ms ({:.2}–{:.2})", x.median, x.min, x.max));
    let (sent, failed) = h.runs.iter().fold((0, 0), |(n, f), r| (n + r.sent, f + r.failed));
    let p99 = of(|r| r.p99);
    writeln!(
        s,
        "- HTTP at {} req/s during a watched storm, {} runs of {} s ({sent} answered, {failed} failed), medians (min–max) of the runs': p50 {}, p99 {} (goal p99 ≤ 2 ms): {}",
        h.rate,
        h.runs.len(),
        h.secs,
        show(of(|r| r.p50)),
        show(p99),
        verdict(failed == 0 && p99.is_some_and(|p| p.median <= 2.0))
    )
    .unwrap();
    writeln!(
        s,
        "  - the same requests in two parts, each its own p99 (they need not add up): before the client sent (its own wake-up, or its previous request running over) {}; from send to answer {}",
        show(of(|r| r.before_send_p99)),
        show(of(|r| r.after_send_p99))
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
    let trivial = |f: fn(&PacedRun) -> f64| spread(&h.trivial.iter().map(f).collect::<Vec<_>>());
    writeln!(
        s,
        "  - the same paced load against /v1/watch, which renders no event (this machine's latency for any request under the same load), each run right after one of the above: p50 {}, p99 {}",
        show(trivial(|r| r.p50)),
        show(trivial(|r| r.p99))
    )
    .unwrap();
    for (path, (p50, p99, rps)) in &h.wrk {
        writeln!(s, "  - wrk (max rate, 2 connections) {path}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms")
            .unwrap();
    }
    writeln!(s, "  - the storm meanwhile: {} records delivered, {} dropped", h.seen, h.dropped).unwrap();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(p99s: &[f64], failed: u64) -> Http {
        let run = |&p99| PacedRun { sent: 10_000, failed, p50: 0.2, p99, before_send_p99: 0.1, after_send_p99: 0.1 };
        Http {
            rate: 2000,
            secs: 5,
            runs: p99s.iter().map(run).collect(),
            machine: (None, None, None, false),
            trivial: vec![],
            wrk: vec![],
            seen: 0,
            dropped: 0,
        }
    }

    #[test]
    fn the_verdict_is_on_the_median_p99_and_no_failures() {
        let first = |h: &Http| http_lines(h).lines().next().unwrap().to_string();
        let line = first(&http(&[1.0, 3.0, 1.5], 0));
        assert!(line.contains("p99 1.50 ms (1.00–3.00)") && line.ends_with(": met"), "{line}");
        assert!(first(&http(&[3.0, 2.5, 1.0], 0)).ends_with("NOT MET"));
        assert!(first(&http(&[1.0, 1.0, 1.0], 1)).ends_with("NOT MET"), "a failed request fails it");
        assert!(first(&http(&[], 0)).ends_with("NOT MET"), "no runs, no verdict");
    }
}
