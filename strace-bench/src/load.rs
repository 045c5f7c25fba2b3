//! HTTP load while the watched storm runs: a paced client (fixed rate, latency
//! counted from the scheduled send time, so a stall is not hidden) and wrk.
use std::{
    process::Command,
    sync::{Arc, Barrier, OnceLock},
    time::{Duration, Instant},
};

/// What a paced run measured, in ms per answered request.
#[derive(Default)]
pub struct Paced {
    /// From the scheduled send time to the answer: the figure the goal is about.
    pub total: Vec<f64>,
    /// From the scheduled send time to the actual send: the client thread's
    /// own wake-up, or its previous request running over.
    pub before_send: Vec<f64>,
    /// From the actual send to the answer.
    pub after_send: Vec<f64>,
    pub failed: u64,
}

/// Sends `rate` requests per second for `duration`, cycling over `paths`,
/// from a few threads. Each thread first opens its connection with a request
/// that is not counted, as a dashboard polls over a connection it keeps: a
/// new connection's first request took 2-7 ms here, more than the goal.
pub fn paced(agent: ureq::Agent, base: &str, paths: &[String], rate: u32, duration: Duration) -> Paced {
    const THREADS: u32 = 4;
    let interval = Duration::from_secs_f64(THREADS as f64 / rate as f64);
    let connected = Arc::new(Barrier::new(THREADS as usize));
    let start = Arc::new(OnceLock::new());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let agent = agent.clone();
            let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
            let (connected, start) = (connected.clone(), start.clone());
            std::thread::spawn(move || {
                let mut out = Paced::default();
                let warmed = match agent.get(&urls[t as usize % urls.len()]).call() {
                    Ok(mut r) => r.status().is_success() && r.body_mut().read_to_vec().is_ok(),
                    Err(_) => false,
                };
                if !warmed {
                    out.failed += 1;
                }
                connected.wait();
                let start = *start.get_or_init(|| Instant::now() + Duration::from_millis(5));
                let mut at = start + interval.mul_f64(t as f64 / THREADS as f64);
                let mut i = t as usize;
                while at < start + duration {
                    if let Some(wait) = at.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    match agent.get(&urls[i % urls.len()]).call() {
                        Ok(mut r) if r.status().is_success() => {
                            let _ = r.body_mut().read_to_vec();
                            let done = Instant::now();
                            out.total.push(ms(done - at));
                            out.before_send.push(ms(sent - at));
                            out.after_send.push(ms(done - sent));
                        }
                        _ => out.failed += 1,
                    }
                    at += interval;
                    i += 1;
                }
                out
            })
        })
        .collect();
    handles.into_iter().fold(Paced::default(), |mut all, h| {
        let one = h.join().unwrap_or_default();
        all.total.extend(one.total);
        all.before_send.extend(one.before_send);
        all.after_send.extend(one.after_send);
        all.failed += one.failed;
        all
    })
}

/// This machine's own wake-up lateness (ms): a thread that does nothing but
/// sleep until the next of `rate` deadlines a second, for `duration`, at
/// real-time priority when it may (the second value says whether it was).
/// Run with nothing else going on, it shows what the machine alone does to a
/// thread's wake-ups.
pub fn wakeups(rate: u32, duration: Duration) -> (Vec<f64>, bool) {
    std::thread::spawn(move || {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: changes the policy of the calling thread only.
        let realtime = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0;
        let step = (1_000_000_000 / rate.max(1)) as libc::c_long;
        let mut next = now();
        let mut late = Vec::new();
        for _ in 0..(duration.as_secs_f64() * rate as f64) as usize {
            next.tv_nsec += step;
            next.tv_sec += (next.tv_nsec / 1_000_000_000) as libc::time_t;
            next.tv_nsec %= 1_000_000_000;
            // SAFETY: sleeps until an absolute time; no pointers kept.
            while unsafe {
                libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &next, std::ptr::null_mut())
            } == libc::EINTR
            {}
            let woke = now();
            late.push((woke.tv_sec - next.tv_sec) as f64 * 1e3 + (woke.tv_nsec - next.tv_nsec) as f64 / 1e6);
        }
        (late, realtime)
    })
    .join()
    .unwrap_or_default()
}

fn now() -> libc::timespec {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// wrk's p50 and p99 latency (ms) against `url` for `secs`, with the bearer
/// `token`, if wrk is installed.
pub fn wrk(url: &str, token: &str, secs: u32) -> Option<(f64, f64, f64)> {
    let auth = format!("Authorization: Bearer {token}");
    let out =
        Command::new("wrk").args(["-t1", "-c2", &format!("-d{secs}s"), "--latency", "-H", &auth, url]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pct = |p: &str| {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == p).then(|| parse_ms(w.next()?)).flatten()
        })
    };
    let rps = text.lines().find_map(|l| l.strip_prefix("Requests/sec:").and_then(|v| v.trim().parse().ok()))?;
    Some((pct("50%")?, pct("99%")?, rps))
}

/// wrk's "812.00us", "1.23ms", "2.01s".
pub fn parse_ms(v: &str) -> Option<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrk_units() {
        assert_eq!(super::parse_ms("812.00us"), Some(0.812));
        assert_eq!(super::parse_ms("1.5ms"), Some(1.5));
        assert_eq!(super::parse_ms("2s"), Some(2000.0));
        assert_eq!(super::parse_ms("x"), None);
    }
}
