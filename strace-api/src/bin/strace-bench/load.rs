//! HTTP load while the watched storm runs: a paced client (fixed rate, latency
//! counted from the scheduled send time, so a stall is not hidden) and wrk.
use std::{
    process::Command,
    time::{Duration, Instant},
};

/// Sends `rate` requests per second for `duration`, cycling over `paths`,
/// from a few threads; returns the latencies in ms, and the failures.
pub fn paced(agent: ureq::Agent, base: &str, paths: &[String], rate: u32, duration: Duration) -> (Vec<f64>, u64) {
    const THREADS: u32 = 4;
    let interval = Duration::from_secs_f64(THREADS as f64 / rate as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let agent = agent.clone();
            let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut failed = 0;
                let mut at = start + interval.mul_f64(t as f64 / THREADS as f64);
                let mut i = t as usize;
                while at < start + duration {
                    if let Some(wait) = at.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    match agent.get(&urls[i % urls.len()]).call() {
                        Ok(mut r) if r.status().is_success() => {
                            let _ = r.body_mut().read_to_vec();
                            lat.push(at.elapsed().as_secs_f64() * 1e3);
                        }
                        _ => failed += 1,
                    }
                    at += interval;
                    i += 1;
                }
                (lat, failed)
            })
        })
        .collect();
    handles.into_iter().fold((vec![], 0), |(mut all, f), h| {
        let (lat, failed) = h.join().unwrap_or_default();
        all.extend(lat);
        (all, f + failed)
    })
}

/// wrk's p50 and p99 latency (ms) against `url` for `secs`, if wrk is installed.
pub fn wrk(url: &str, secs: u32) -> Option<(f64, f64, f64)> {
    let out = Command::new("wrk").args(["-t1", "-c2", &format!("-d{secs}s"), "--latency", url]).output().ok()?;
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
fn parse_ms(v: &str) -> Option<f64> {
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
