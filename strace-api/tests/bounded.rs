//! Responses are bounded, and so is what they leave behind: a burst of big
//! event pages, asked all at once, neither takes the daemon's memory far up
//! (they are built a few at a time) nor leaves it there (idle workers give
//! their freed memory back). Measured on the daemon's resident set, not on
//! the store's own count.
mod support;

use std::time::{Duration, Instant};

use support::Workload;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[test]
fn a_burst_of_big_pages_leaves_memory_as_it_found_it() {
    let d = daemon!();
    let mut w = Workload::new(&["storm:20000"]);
    d.watch(w.pid);
    w.go();
    d.wait_counters(w.pid, Duration::from_secs(20), |c| c["retained"].as_u64() >= Some(4096));
    let page = format!("{}/v1/processes/{}/events?limit=10000", d.base, w.pid);
    // Warm up: the first pages allocate what every later one reuses.
    for _ in 0..3 {
        assert_eq!(d.get(&format!("/v1/processes/{}/events?limit=10000", w.pid)).0, 200);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let before = rss_kib(d.pid());
    let mut peak = before;
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..100)
            .map(|_| {
                let page = page.clone();
                let token = d.token.clone().unwrap_or_default();
                s.spawn(move || {
                    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
                    let mut r = agent.get(&page).header("authorization", format!("Bearer {token}")).call().unwrap();
                    assert_eq!(r.status(), 200);
                    r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap().len()
                })
            })
            .collect();
        while clients.iter().any(|c| !c.is_finished()) {
            peak = peak.max(rss_kib(d.pid()));
            std::thread::sleep(Duration::from_millis(5));
        }
        for c in clients {
            assert!(c.join().unwrap() > 512 << 10, "a full page of 4096 events");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = rss_kib(d.pid());
    while after > before + 32 * 1024 && Instant::now() < deadline {
        // Idle workers give memory back when they park (at most once a second).
        std::thread::sleep(Duration::from_millis(500));
        let _ = d.get("/healthz");
        after = rss_kib(d.pid());
    }
    println!("RSS: {before} KiB before, {peak} KiB at most during 100 pages of 4096 events at once, {after} KiB after");
    assert!(peak < before + 160 * 1024, "the burst took RSS from {before} to {peak} KiB");
    assert!(after <= before + 32 * 1024, "RSS stayed at {after} KiB (from {before})");
}
