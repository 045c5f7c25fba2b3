//! `cargo xtask soak`: the release daemon with `--watch-all` in a PID
//! namespace of its own, for a bounded time, under everything at once: a
//! storm (`dd` copying byte by byte), a churn of short processes, clients
//! polling every endpoint, and stream readers. Every few seconds it samples
//! the daemon's RSS and what it holds (`/healthz`); at the end it says
//! whether RSS stayed flat: the last third's highest sample against the
//! highest of the middle third (the first third is warm-up: histories
//! filling to their caps). Not part of `cargo xtask test`: it takes minutes.
use std::{
    io::Read as _,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{cargo, privilege, toolchain::Env};

/// The last third may be this much above the middle third's peak (and
/// this many MiB, for allocator noise at small sizes).
const FLAT_RATIO: f64 = 1.10;
const FLAT_SLACK_MIB: f64 = 8.0;

const PORT: u16 = 18_181;
const TOKEN: &str = "soak-token";

pub fn run(env: &Env, seconds: u64, sample: u64) -> Result<()> {
    if seconds < 30 {
        bail!("--seconds must be at least 30 (three thirds of samples)");
    }
    // Through sudo the daemon would be sudo's grandchild, and the load's
    // nsenter would need root too: run the soak as root.
    if !privilege::is_root() {
        bail!("cargo xtask soak runs as root (sudo -E cargo xtask soak)");
    }
    cargo(env, "build", true, &["--package", "strace-api"])?;
    let bin = env.workspace.join("target/release/strace-api");
    let mut daemon = start(&bin)?;
    let result = soak(&mut daemon, seconds, sample);
    let _ = daemon.outer.kill();
    let _ = daemon.outer.wait();
    result
}

struct Soaked {
    /// `unshare`, whose child is the daemon: pid 1 of the new namespace.
    outer: Child,
    /// The daemon's pid on the host.
    pid: u32,
}

fn start(bin: &Path) -> Result<Soaked> {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(bin)
        .args(["--listen", &format!("127.0.0.1:{PORT}"), "--watch-all", "true"])
        .args(["--retain-exited-secs", "10"])
        .env("STRACE_API_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut outer = cmd.spawn().context("starting unshare")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = outer.try_wait()? {
            bail!("the daemon exited at start ({st})");
        }
        let pid = children(outer.id()).into_iter().next();
        if let Some(pid) = pid
            && health(&agent(Duration::from_secs(2))).is_ok()
        {
            return Ok(Soaked { outer, pid });
        }
        if Instant::now() > deadline {
            let _ = outer.kill();
            bail!("the daemon did not answer on 127.0.0.1:{PORT} within 30 s");
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A host pid's pid in its own (innermost) PID namespace.
fn ns_pid(host: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{host}/status")).ok()?;
    status.lines().find(|l| l.starts_with("NSpid:"))?.split_whitespace().last()?.parse().ok()
}

/// A command in the daemon's PID namespace.
fn inside(daemon: u32, script: &str) -> Result<Child> {
    Command::new("nsenter")
        .args(["--target", &daemon.to_string(), "--pid", "--mount", "--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("nsenter")
}

/// A client for the daemon: its token on every request, an answer of any
/// status returned (not an error), and at most `within` for a whole request.
fn agent(within: Duration) -> ureq::Agent {
    let header = format!("Bearer {TOKEN}");
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(within))
        .middleware(move |mut req: ureq::http::Request<ureq::SendBody>, next: ureq::middleware::MiddlewareNext| {
            req.headers_mut().insert("authorization", header.parse().expect("the token is ASCII"));
            next.handle(req)
        })
        .build()
        .new_agent()
}

fn url(path: &str) -> String {
    format!("http://127.0.0.1:{PORT}{path}")
}

/// GET `path`: its status, the body read whole (a client that reads).
fn get(agent: &ureq::Agent, path: &str) -> Result<u16> {
    let mut r = agent.get(url(path)).call()?;
    r.body_mut().with_config().limit(64 << 20).read_to_vec()?;
    Ok(r.status().as_u16())
}

/// `/healthz`, parsed.
fn health(agent: &ureq::Agent) -> Result<Value> {
    Ok(agent.get(url("/healthz")).call()?.body_mut().read_json()?)
}

/// Reads a stream until the agent's time is up, keeping none of it.
fn read_stream(agent: &ureq::Agent, path: &str) {
    if let Ok(mut r) = agent.get(url(path)).call() {
        let mut reader = r.body_mut().as_reader();
        let mut buf = [0u8; 64 * 1024];
        while reader.read(&mut buf).is_ok_and(|n| n > 0) {}
    }
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn soak(d: &mut Soaked, seconds: u64, sample: u64) -> Result<()> {
    let mut load = vec![
        // The storm: two syscalls a byte.
        inside(d.pid, "exec dd if=/dev/zero of=/dev/null bs=1")?,
        // The churn: a short process at a time, as fast as sh forks.
        inside(d.pid, "while :; do /bin/true; done")?,
        // A process with a steady trickle, whose history is read.
        inside(d.pid, "while :; do cat /proc/self/stat > /dev/null; sleep 0.05; done")?,
    ];
    thread::sleep(Duration::from_secs(1));
    // The storm's pid as the daemon sees it (nsenter's child, in the namespace).
    let storm =
        children(load[0].id()).first().and_then(|host| ns_pid(*host)).context("the storm's pid in the namespace")?;
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut clients = vec![];
    // Pollers: every endpoint, the storm's history and the processes' list.
    for _ in 0..2 {
        let (stop, requests, failures) = (stop.clone(), requests.clone(), failures.clone());
        clients.push(thread::spawn(move || {
            let paths = [
                "/healthz".to_string(),
                "/v1/watch?limit=1000".to_string(),
                "/v1/processes?limit=1000".to_string(),
                format!("/v1/processes/{storm}/events?limit=1000"),
                format!("/v1/processes/{storm}/summary"),
                format!("/strace/{storm}/100?wait_ms=0"),
                "/metrics".to_string(),
            ];
            let agent = agent(Duration::from_secs(10));
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let ok = get(&agent, &paths[i % paths.len()]).is_ok_and(|s| s < 500);
                requests.fetch_add(1, Ordering::Relaxed);
                failures.fetch_add(u64::from(!ok), Ordering::Relaxed);
                i += 1;
                thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    // Stream readers: the storm's live lines, reconnecting every few seconds.
    for _ in 0..2 {
        let (stop, requests) = (stop.clone(), requests.clone());
        clients.push(thread::spawn(move || {
            // Each stream is read for 5 s, then dropped.
            let agent = agent(Duration::from_secs(5));
            while !stop.load(Ordering::Relaxed) {
                read_stream(&agent, &format!("/v1/processes/{storm}/events/stream?format=text"));
                requests.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    let sampler = agent(Duration::from_secs(10));
    let mut samples: Vec<(u64, f64)> = vec![];
    eprintln!("soak: {seconds} s, a sample every {sample} s (storm, churn, 2 pollers, 2 stream readers)");
    eprintln!(
        "{:>6} {:>9} {:>8} {:>8} {:>12} {:>10} {:>9}",
        "s", "RSS MiB", "watched", "exited", "events MiB", "requests", "failed"
    );
    while started.elapsed() < Duration::from_secs(seconds) {
        thread::sleep(Duration::from_secs(sample));
        let Some(rss) = rss_mib(d.pid) else { bail!("the daemon is gone") };
        let h = health(&sampler).unwrap_or_default();
        let n = |key: &str| h[key].as_u64().unwrap_or(0);
        let t = started.elapsed().as_secs();
        eprintln!(
            "{t:>6} {rss:>9.1} {:>8} {:>8} {:>12.1} {:>10} {:>9}",
            n("watched"),
            n("exited"),
            n("memory_bytes") as f64 / (1 << 20) as f64,
            requests.load(Ordering::Relaxed),
            failures.load(Ordering::Relaxed),
        );
        samples.push((t, rss));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    for l in &mut load {
        let _ = l.kill();
        let _ = l.wait();
    }
    verdict(&samples, failures.load(Ordering::Relaxed))
}

/// Flat: the last third's peak within FLAT_RATIO (plus slack) of the middle
/// third's; and the clients got their answers.
fn verdict(samples: &[(u64, f64)], failures: u64) -> Result<()> {
    let third = samples.len() / 3;
    if third == 0 {
        bail!("too few samples ({})", samples.len());
    }
    let peak = |s: &[(u64, f64)]| s.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    let (middle, last) = (peak(&samples[third..2 * third]), peak(&samples[2 * third..]));
    let limit = middle * FLAT_RATIO + FLAT_SLACK_MIB;
    eprintln!("soak: RSS peak {middle:.1} MiB in the middle third, {last:.1} MiB in the last (limit {limit:.1})");
    if last > limit {
        bail!("RSS grew: {last:.1} MiB in the last third against {middle:.1} in the middle");
    }
    if failures > 0 {
        bail!("{failures} requests failed or answered 5xx");
    }
    eprintln!("soak: flat");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_is_within_the_ratio_of_the_middle_third() {
        let s = |v: &[f64]| v.iter().enumerate().map(|(i, r)| (i as u64, *r)).collect::<Vec<_>>();
        assert!(verdict(&s(&[10.0, 50.0, 80.0, 80.0, 81.0, 80.0]), 0).is_ok(), "warm-up growth is allowed");
        assert!(verdict(&s(&[10.0, 10.0, 80.0, 80.0, 80.0, 200.0]), 0).is_err(), "the last third grew");
        assert!(verdict(&s(&[80.0, 80.0, 80.0]), 1).is_err(), "a failed request");
        assert!(verdict(&s(&[80.0]), 0).is_err(), "too few samples");
    }
}
