//! /metrics as its readers see it: Debian's real Prometheus scraping the
//! daemon, `promtool check metrics` on the exposition, the series cap under
//! churn, series going with their history, and the Grafana dashboard's
//! queries against the names the daemon serves.
mod support;

use std::{collections::BTreeSet, time::Duration};

use support::{
    Daemon, Workload,
    servers::{Prometheus, available, promtool_check},
};

/// The exposition, as a scraper gets it.
fn scrape(d: &Daemon) -> String {
    let (status, body) = d.get("/metrics");
    assert_eq!(status, 200, "{body}");
    body.as_str().expect("text, not JSON").to_string()
}

/// The metric names of the processes' series (those the cap bounds).
const PROCESS_FAMILIES: [&str; 6] = [
    "strace_syscalls_total",
    "strace_syscall_errors_total",
    "strace_syscall_duration_seconds_bucket",
    "strace_syscall_duration_seconds_sum",
    "strace_syscall_duration_seconds_count",
    "strace_process_dropped_total",
];

/// The samples of `text` (name, labels and value lines).
fn samples(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty())
}

fn name_of(sample: &str) -> &str {
    sample.split(['{', ' ']).next().unwrap()
}

/// The value of the one sample of `name` whose labels include all of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let found: Vec<_> = samples(text).filter(|s| name_of(s) == name && labels.iter().all(|l| s.contains(l))).collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().and_then(|s| s.rsplit(' ').next()?.parse().ok())
}

/// The metric names a PromQL expression reads: its identifiers that start
/// with `strace_` (the dashboard reads no other metric).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("strace_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

fn dashboard_exprs() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/strace-api.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = vec![];
    for panel in json["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("each target has a PromQL expr").to_string());
        }
    }
    exprs
}

/// The dashboard's PromQL reads only metrics the daemon serves, and shows
/// what the issue asks for.
#[test]
fn the_grafana_dashboard_reads_only_metrics_the_daemon_serves() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 5, "{exprs:?}");
    let mut read = BTreeSet::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{expr} reads no strace_ metric");
        for name in names {
            assert!(strace_api::metrics::NAMES.contains(&name.as_str()), "{expr}: {name} is not served");
            read.insert(name);
        }
    }
    for wanted in [
        "strace_syscalls_total",
        "strace_syscall_errors_total",
        "strace_syscall_duration_seconds_bucket",
        "strace_process_dropped_total",
        "strace_bpf_program_run_seconds_total",
    ] {
        assert!(read.contains(wanted), "the dashboard shows no {wanted}");
    }
}

#[test]
fn promql_names_are_found() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, syscall) (rate(strace_syscall_duration_seconds_bucket{pod=~\"$pod\"}[5m])))",
    );
    assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["strace_syscall_duration_seconds_bucket"]);
}

/// Prometheus scrapes the daemon; a workload's calls show in its query API
/// as many as it made, with no drops; promtool accepts the exposition.
#[test]
fn prometheus_reads_a_workloads_calls_through_its_query_api() {
    if !available("promtool", "apt-get install prometheus") {
        return;
    }
    // Prometheus scrapes with the read-only token; the test watches with the operator's.
    let mut d = daemon!("--token", "operate-me", "--read-token", "scrape-me", "--pod", "web-1", "--namespace", "shop");
    d.token = Some("operate-me".into());
    let target = d.base.trim_start_matches("http://").to_string();
    let Some(prom) = Prometheus::start(&target, Some("scrape-me")) else { return };
    const STORM: u64 = 20_000;
    let mut w = Workload::new(&[&format!("storm:{STORM}"), "openat-enoent", "openat-enoent"]);
    d.watch(w.pid);
    let pid = format!("pid=\"{}\"", w.pid);
    let sel = |more: &str| format!("{{{pid},pod=\"web-1\",namespace=\"shop\",job=\"strace-api\"{more}}}");
    // Scraped since the watch began (its drop counter is there), no call yet.
    prom.wait_for(&format!("strace_process_dropped_total{}", sel("")), Duration::from_secs(30), |v| v == Some(0.0));
    assert_eq!(prom.query(&format!("sum(strace_syscalls_total{})", sel(""))), None, "no call before go");
    w.go();
    let getppid =
        prom.wait_for(&format!("strace_syscalls_total{}", sel(",syscall=\"getppid\"")), Duration::from_secs(30), |v| {
            v == Some(STORM as f64)
        });
    assert_eq!(getppid, Some(STORM as f64));
    let enoent = prom.query(&format!("strace_syscall_errors_total{}", sel(",syscall=\"openat\",errno=\"ENOENT\"")));
    assert_eq!(enoent, Some(2.0));
    let timed = prom.query(&format!("strace_syscall_duration_seconds_count{}", sel(",syscall=\"getppid\"")));
    assert_eq!(timed, Some(STORM as f64), "every getppid timed");
    assert_eq!(prom.query(&format!("strace_process_dropped_total{}", sel(""))), Some(0.0));
    assert_eq!(prom.query("sum(strace_kernel_lost_total{job=\"strace-api\"})"), Some(0.0));
    assert_eq!(prom.query("up{job=\"strace-api\"}"), Some(1.0), "the scrapes worked, with the read-only token");
    let exposition = scrape(&d);
    promtool_check(&exposition).unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{exposition}"));
    // What the dashboard reads is served (the export's series only with the export on).
    for expr in dashboard_exprs() {
        for name in metric_names(&expr) {
            let base = name.trim_end_matches("_bucket");
            assert!(
                name.starts_with("strace_export_") || samples(&exposition).any(|s| name_of(s).starts_with(base)),
                "{name} (from {expr}) is not in the exposition"
            );
        }
    }
    // Prometheus itself accepts the dashboard's queries (its variables set to all).
    for expr in dashboard_exprs() {
        let q = expr.replace("$namespace", ".*").replace("$pod", ".*").replace("$__rate_interval", "1m");
        prom.check(&q).unwrap_or_else(|e| panic!("Prometheus refuses the dashboard's {expr}: {e}"));
    }
    // A request without the token is refused, as for the rest of the API.
    d.token = None;
    assert_eq!(d.get("/metrics").0, 401);
    w.finish();
}

/// With --watch-all and processes coming and going, the processes' series
/// stay within --metrics-max-series; what it leaves out is counted. In a
/// PID namespace of its own: the churn is the only thing traced.
#[test]
fn the_series_stay_under_the_cap_under_churn() {
    const CAP: usize = 400;
    let cap = CAP.to_string();
    let args = ["--watch-all", "--metrics-max-series", &cap, "--retain-exited-secs", "2"];
    let Some((mut w, d)) = support::Daemon::in_new_pid_namespace(&["churn:3000"], &args) else { return };
    w.go_without_waiting();
    let mut most = 0;
    let mut refused = 0.0f64;
    for round in 0..5 {
        // Renders are a second apart at most: each round sees a new one.
        std::thread::sleep(Duration::from_millis(1100));
        let text = scrape(&d);
        let series = samples(&text).filter(|s| PROCESS_FAMILIES.contains(&name_of(s))).count();
        let reported = value(&text, "strace_metrics_series", &[]).unwrap();
        assert_eq!(series as f64, reported, "round {round}: strace_metrics_series is what is shown");
        assert!(series <= CAP, "round {round}: {series} series > {CAP}");
        most = most.max(series);
        refused = refused.max(value(&text, "strace_metrics_series_refused", &[]).unwrap());
    }
    println!("processes' series: at most {most} of the cap {CAP}; refused at most {refused}");
    assert!(refused > 0.0, "the churn went past the cap");
    assert!(most > CAP / 2, "the cap was filled, not left empty: {most}");
    w.finish();
}

/// A process's series stay while its history is kept after it exits, and go with it.
#[test]
fn an_exited_process_series_go_with_its_history() {
    let d = daemon!("--retain-exited-secs", "1");
    let mut w = Workload::new(&["getppid", "openat-enoent"]);
    let pid = w.pid;
    d.watch(pid);
    w.go();
    w.finish();
    d.wait_counters(pid, Duration::from_secs(10), |c| c["alive"] == false);
    let label = format!("pid=\"{pid}\"");
    let text = scrape(&d);
    assert_eq!(value(&text, "strace_syscalls_total", &[&label, "syscall=\"getppid\""]), Some(1.0), "{text}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while scrape(&d).contains(&label) {
        assert!(std::time::Instant::now() < deadline, "{pid}'s series outlived its history");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(d.get(&format!("/v1/processes/{pid}/events")).0, 404, "the history is gone too");
}

/// `--metrics-listen` serves /metrics alone, behind the API's tokens (the
/// read-only one will do).
#[test]
fn the_metrics_listener_serves_only_metrics_behind_the_tokens() {
    let port = support::servers::free_port();
    let addr = format!("127.0.0.1:{port}");
    let d = daemon!("--read-token", "scrape-me", "--metrics-listen", &addr);
    d.wait_log("serving /metrics only on", Duration::from_secs(10));
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let get = |path: &str, token: Option<&str>| {
        let mut req = agent.get(format!("http://{addr}{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    };
    let (status, text) = get("/metrics", Some("scrape-me"));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("# TYPE strace_events_delivered_total counter"), "{text}");
    assert_eq!(get("/metrics", None).0, 401);
    assert_eq!(get("/metrics", Some("wrong")).0, 401);
    assert_eq!(get("/v1/watch", Some("scrape-me")).0, 404, "nothing but /metrics there");
    // Its requests are counted with the API's (in a render a second later
    // at most: scrapes within a second share one).
    let counted = "strace_http_requests_total{route=\"/metrics\",status=\"200\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = scrape(&d);
        if text.contains(counted) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
