//! `/metrics`, in the Prometheus text format (prometheus-client). Nothing
//! is counted twice: the processes' counters live beside their histories
//! (recorder/counts.rs) and the daemon's in the tracer, the kernel and the
//! export; a collector turns them into metric families when they are read.
//! Only the HTTP requests are counted here (a family, by route and status).
//!
//! Every name is listed in `NAMES` (the Grafana dashboard's test checks its
//! queries against them).
use std::{borrow::Cow, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
    },
    registry::Registry,
};

use crate::{
    recorder::counts::{BUCKETS, SyscallCount, bucket_bound_ns},
    syscall,
    tracer::{Scrape, Tracer},
};

/// What the metrics are made with.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Series of the processes' metrics at most (see `Tracer::scrape`).
    pub max_series: usize,
    /// Labels every series carries (`container`, `pod`, `namespace`).
    pub labels: Vec<(String, String)>,
}

/// `--metrics-max-series`'s default.
pub const DEFAULT_MAX_SERIES: usize = 50_000;

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig { max_series: DEFAULT_MAX_SERIES, labels: vec![] }
    }
}

/// The longest `comm` label: the kernel's own limit (15 bytes) with room to spare.
pub const COMM_MAX: usize = 16;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

/// The registry /metrics encodes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Counter>,
}

/// Every metric name /metrics can show, as Prometheus stores them (counters
/// with `_total`, histograms by their `_bucket`, `_sum` and `_count`).
pub const NAMES: &[&str] = &[
    "strace_syscalls_total",
    "strace_syscall_errors_total",
    "strace_syscall_duration_seconds_bucket",
    "strace_syscall_duration_seconds_sum",
    "strace_syscall_duration_seconds_count",
    "strace_process_dropped_total",
    "strace_metrics_series",
    "strace_metrics_series_refused",
    "strace_metrics_processes_refused",
    "strace_metrics_counters_bytes",
    "strace_events_delivered_total",
    "strace_events_retained",
    "strace_events_evicted_total",
    "strace_events_late_total",
    "strace_records_malformed_total",
    "strace_captures_unpaired_total",
    "strace_kernel_lost_total",
    "strace_ring_size_bytes",
    "strace_ring_used_bytes",
    "strace_ring_peak_used_bytes",
    "strace_drain_lag_seconds",
    "strace_drain_lag_max_seconds",
    "strace_watched_processes",
    "strace_memory_bytes",
    "strace_hooks_attached",
    "strace_bpf_program_runs_total",
    "strace_bpf_program_run_seconds_total",
    "strace_bpf_stats_enabled",
    "strace_http_requests_total",
    "strace_export_queued",
    "strace_export_queue_capacity",
    "strace_export_queued_events_total",
    "strace_export_published_total",
    "strace_export_dropped_total",
    "strace_export_connected",
    "strace_export_connections_total",
];

impl Metrics {
    pub fn new(tracer: Arc<Tracer>, config: MetricsConfig) -> Metrics {
        let labels = config.labels.into_iter().map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)));
        let mut registry = Registry::with_labels(labels);
        let http = Family::<HttpLabels, Counter>::default();
        registry.register("strace_http_requests", "HTTP requests answered, by route and status", http.clone());
        registry.register_collector(Box::new(TracerCollector { tracer, max_series: config.max_series }));
        Metrics { registry, http }
    }

    /// Counts a request answered; `route` is its route's pattern.
    pub fn count_request(&self, route: &str, status: u16) {
        self.http.get_or_create(&HttpLabels { route: route.to_string(), status }).inc();
    }

    /// The exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 << 10);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

struct TracerCollector {
    tracer: Arc<Tracer>,
    max_series: usize,
}

impl std::fmt::Debug for TracerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracerCollector").field("max_series", &self.max_series).finish()
    }
}

type Result = std::result::Result<(), std::fmt::Error>;

/// One metric family, written sample by sample.
fn family<'e>(
    encoder: &'e mut DescriptorEncoder,
    name: &'e str,
    help: &str,
    kind: MetricType,
) -> std::result::Result<prometheus_client::encoding::MetricEncoder<'e>, std::fmt::Error> {
    encoder.encode_descriptor(name, help, None, kind)
}

fn counter(m: &mut prometheus_client::encoding::MetricEncoder, labels: &impl EncodeLabelSet, v: u64) -> Result {
    ConstCounter::new(v).encode(m.encode_family(labels)?)
}

fn gauge(m: &mut prometheus_client::encoding::MetricEncoder, labels: &impl EncodeLabelSet, v: i64) -> Result {
    ConstGauge::new(v).encode(m.encode_family(labels)?)
}

fn one_counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result {
    ConstCounter::new(v).encode(family(e, name, help, MetricType::Counter)?)
}

fn one_gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result {
    ConstGauge::new(v).encode(family(e, name, help, MetricType::Gauge)?)
}

fn one_gauge_f(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> Result {
    ConstGauge::new(v).encode(family(e, name, help, MetricType::Gauge)?)
}

fn sat(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// The labels of a process's series: `pid` and `comm` (bounded).
struct ProcessLabels {
    pid: String,
    comm: String,
}

impl ProcessLabels {
    fn new(pid: u32, comm: Option<&str>) -> ProcessLabels {
        // Masked as the API's views mask it (--redact), then bounded.
        let comm: String = crate::redact::text(comm.unwrap_or("")).chars().take(COMM_MAX).collect();
        ProcessLabels { pid: pid.to_string(), comm }
    }
}

fn syscall_label(row: &SyscallCount) -> Cow<'static, str> {
    if row.other { Cow::Borrowed("other") } else { syscall::name(row.nr.into()) }
}

impl Collector for TracerCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result {
        let scrape = self.tracer.scrape(self.max_series);
        processes(&mut e, &scrape)?;
        daemon(&mut e, &self.tracer, &scrape)
    }
}

/// The processes' series.
fn processes(e: &mut DescriptorEncoder, s: &Scrape) -> Result {
    let labelled: Vec<_> = s.processes.iter().map(|p| (ProcessLabels::new(p.pid, p.comm.as_deref()), p)).collect();
    {
        let mut m = family(e, "strace_syscalls", "Syscalls a watched process made, by syscall", MetricType::Counter)?;
        for (l, p) in &labelled {
            for row in &p.rows {
                let name = syscall_label(row);
                counter(&mut m, &[("pid", l.pid.as_str()), ("comm", &l.comm), ("syscall", &name)], row.calls)?;
            }
        }
    }
    {
        let mut m = family(
            e,
            "strace_syscall_errors",
            "Syscalls a watched process made that failed, by syscall and errno",
            MetricType::Counter,
        )?;
        for (l, p) in &labelled {
            for row in &p.rows {
                let name = syscall_label(row);
                for &(errno, n) in &row.errors {
                    let errno = syscall::errno_name(errno.into())
                        .map_or_else(|| Cow::Owned(format!("E{errno}")), Cow::Borrowed);
                    counter(
                        &mut m,
                        &[("pid", l.pid.as_str()), ("comm", &l.comm), ("syscall", &name), ("errno", &errno)],
                        n,
                    )?;
                }
            }
        }
    }
    {
        let mut m = family(
            e,
            "strace_syscall_duration_seconds",
            "How long a watched process's syscalls took (those timed: returned, with --durations on), by syscall",
            MetricType::Histogram,
        )?;
        let mut buckets = [(0.0, 0u64); BUCKETS];
        for (l, p) in &labelled {
            for row in p.rows.iter().filter(|r| r.timed() > 0) {
                for (i, b) in buckets.iter_mut().enumerate() {
                    let bound = bucket_bound_ns(i).map_or(f64::INFINITY, |ns| ns as f64 / 1e9);
                    *b = (bound, row.buckets[i]);
                }
                let name = syscall_label(row);
                let labels = [("pid", l.pid.as_str()), ("comm", &l.comm), ("syscall", &name)];
                m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                    row.duration_sum_ns as f64 / 1e9,
                    row.timed(),
                    &buckets,
                    None,
                )?;
            }
        }
    }
    {
        let mut m = family(
            e,
            "strace_process_dropped",
            "Records of a watched process the kernel could not hand over (ring buffer or thread table full)",
            MetricType::Counter,
        )?;
        for (l, p) in &labelled {
            counter(&mut m, &[("pid", l.pid.as_str()), ("comm", &l.comm)], p.dropped)?;
        }
    }
    one_gauge(e, "strace_metrics_series", "Series of the processes' metrics in this scrape", sat(s.series))?;
    one_gauge(
        e,
        "strace_metrics_series_refused",
        "Series of processes left out of this scrape by --metrics-max-series",
        sat(s.series_refused),
    )?;
    one_gauge(
        e,
        "strace_metrics_processes_refused",
        "Processes left out of this scrape by --metrics-max-series",
        sat(s.processes_refused),
    )?;
    one_gauge(e, "strace_metrics_counters_bytes", "Memory of the processes' counters", sat(s.counters_bytes))
}

/// The daemon's own series.
fn daemon(e: &mut DescriptorEncoder, tracer: &Tracer, s: &Scrape) -> Result {
    let t = tracer.totals();
    one_counter(e, "strace_events_delivered", "Events delivered to the histories", s.events.delivered)?;
    one_gauge(e, "strace_events_retained", "Events held in the histories now", sat(s.events.retained))?;
    one_counter(
        e,
        "strace_events_evicted",
        "Events pushed out of the histories by newer ones or the memory cap",
        s.events.evicted,
    )?;
    one_counter(e, "strace_events_late", "Events that arrived for a process no longer watched", t.late)?;
    one_counter(e, "strace_records_malformed", "Ring-buffer records that could not be decoded", t.malformed)?;
    one_counter(e, "strace_captures_unpaired", "Captures (argument copies) that found no syscall", t.capture_unpaired)?;
    {
        let mut m =
            family(e, "strace_kernel_lost", "Records the kernel could not hand over, by reason", MetricType::Counter)?;
        let k = t.kernel;
        for (reason, v) in [
            ("ring_full", k.ring_full),
            ("threads_full", k.threads_full),
            ("watched_full", k.watched_full),
            ("aux_lost", k.capture_lost),
        ] {
            counter(&mut m, &[("reason", reason)], v)?;
        }
    }
    one_gauge(e, "strace_ring_size_bytes", "Size of the kernel ring buffer", sat(t.ring.size_bytes))?;
    if let Some(used) = tracer.ring().used() {
        one_gauge(e, "strace_ring_used_bytes", "Bytes in the ring buffer when the drain last looked", sat(used))?;
    }
    if let Some(peak) = t.ring.peak_used_bytes {
        one_gauge(e, "strace_ring_peak_used_bytes", "The most the ring buffer held since start", sat(peak))?;
    }
    let (lag, max_lag) = tracer.drain_lag();
    one_gauge_f(
        e,
        "strace_drain_lag_seconds",
        "From a call's return to its storing, for the oldest record of the drain's last pass",
        lag as f64 / 1e9,
    )?;
    one_gauge_f(e, "strace_drain_lag_max_seconds", "The longest drain lag since start", max_lag as f64 / 1e9)?;
    {
        let mut m = family(
            e,
            "strace_watched_processes",
            "Watched processes, alive or exited (history kept)",
            MetricType::Gauge,
        )?;
        gauge(&mut m, &[("state", "alive")], sat(t.watched))?;
        gauge(&mut m, &[("state", "exited")], sat(t.exited))?;
    }
    one_gauge(
        e,
        "strace_memory_bytes",
        "Memory of the histories (the --memory-mib cap's measure)",
        sat(t.memory_bytes),
    )?;
    one_gauge(e, "strace_hooks_attached", "1 while the syscall hooks are attached", i64::from(t.hooks_attached))?;
    {
        let mut m = family(
            e,
            "strace_bpf_program_runs",
            "Runs of each eBPF program (counted while kernel.bpf_stats_enabled=1)",
            MetricType::Counter,
        )?;
        for p in &t.programs {
            counter(&mut m, &[("program", p.name)], p.run_count)?;
        }
    }
    {
        let mut m = family(
            e,
            "strace_bpf_program_run_seconds",
            "Time the kernel spent running each eBPF program (counted while kernel.bpf_stats_enabled=1)",
            MetricType::Counter,
        )?;
        for p in &t.programs {
            ConstCounter::new(p.run_time_ns as f64 / 1e9).encode(m.encode_family(&[("program", p.name)])?)?;
        }
    }
    one_gauge(
        e,
        "strace_bpf_stats_enabled",
        "1 when the kernel counts eBPF program runs and time (kernel.bpf_stats_enabled)",
        i64::from(bpf_stats_enabled()),
    )?;
    if let Some(x) = t.export {
        one_gauge(e, "strace_export_queued", "Events waiting in the export queue", sat(x.queued))?;
        one_gauge(e, "strace_export_queue_capacity", "Size of the export queue", sat(x.queue_capacity))?;
        one_counter(e, "strace_export_queued_events", "Events selected for export and queued", x.queued_total)?;
        one_counter(e, "strace_export_published", "Events published (acknowledged, with JetStream)", x.published)?;
        {
            let mut m = family(
                e,
                "strace_export_dropped",
                "Events selected for export and dropped, by reason",
                MetricType::Counter,
            )?;
            counter(&mut m, &[("reason", "queue_full")], x.dropped_queue_full)?;
            counter(&mut m, &[("reason", "publish_failed")], x.dropped_failed)?;
        }
        one_gauge(e, "strace_export_connected", "1 while connected to the NATS server", i64::from(x.connected))?;
        one_counter(
            e,
            "strace_export_connections",
            "Connections made to NATS (the first and every reconnection)",
            x.connections,
        )?;
    }
    Ok(())
}

/// Whether the kernel counts program runs (`kernel.bpf_stats_enabled`).
fn bpf_stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|v| v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{recorder::Event, tracer::testing};

    fn render(tracer: Arc<Tracer>, max_series: usize) -> String {
        let m = Metrics::new(tracer, MetricsConfig { max_series, labels: vec![("pod".into(), "web-1".into())] });
        m.count_request("/v1/watch", 200);
        m.render()
    }

    fn sample<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next())
    }

    #[test]
    fn a_process_s_calls_errors_and_latencies_by_syscall() {
        let t = Arc::new(testing::tracer());
        // A live process that is not this one: our parent.
        let me = std::os::unix::process::parent_id();
        t.watch(me, false).unwrap();
        let openat = syscalls::Sysno::openat.id();
        let getppid = syscalls::Sysno::getppid.id();
        for (nr, ret, ns) in [(openat, -2, 3000), (openat, -2, 3000), (openat, 3, 500), (getppid, 1, 100)] {
            let ev = Event { nr: Event::stored_nr(nr), ret, enter_ns: 1, exit_ns: 1 + ns, ..Default::default() };
            t.push_for_test(me, ev);
        }
        let text = render(t.clone(), 10_000);
        let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        let comm: String = comm.trim().chars().take(COMM_MAX).collect();
        let l = format!("pod=\"web-1\",pid=\"{me}\",comm=\"{comm}\"");
        assert_eq!(sample(&text, &format!("strace_syscalls_total{{{l},syscall=\"openat\"}}")), Some("3"), "{text}");
        assert_eq!(sample(&text, &format!("strace_syscalls_total{{{l},syscall=\"getppid\"}}")), Some("1"));
        assert_eq!(
            sample(&text, &format!("strace_syscall_errors_total{{{l},syscall=\"openat\",errno=\"ENOENT\"}}")),
            Some("2")
        );
        let bucket = |le: &str| {
            sample(&text, &format!("strace_syscall_duration_seconds_bucket{{{l},syscall=\"openat\",le=\"{le}\"}}"))
        };
        assert_eq!(bucket("1.024e-06"), Some("1"), "{text}");
        assert_eq!(bucket("4.096e-06"), Some("3"));
        assert_eq!(bucket("+Inf"), Some("3"));
        assert_eq!(
            sample(&text, &format!("strace_syscall_duration_seconds_count{{{l},syscall=\"openat\"}}")),
            Some("3")
        );
        assert_eq!(sample(&text, &format!("strace_process_dropped_total{{{l}}}")), Some("0"));
        assert_eq!(sample(&text, "strace_events_delivered_total{pod=\"web-1\"}"), Some("4"));
        assert_eq!(
            sample(&text, "strace_http_requests_total{pod=\"web-1\",route=\"/v1/watch\",status=\"200\"}"),
            Some("1")
        );
        assert_eq!(
            sample(&text, "strace_metrics_series{pod=\"web-1\"}"),
            Some("32"),
            "dropped, openat (calls, ENOENT, 14 of histogram), getppid (calls, 14)"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(NAMES.contains(&name), "{name} is not in NAMES");
        }
    }

    #[test]
    fn the_series_cap_leaves_out_whole_processes_and_counts_them() {
        let t = Arc::new(testing::tracer());
        let me = std::os::unix::process::parent_id();
        t.watch(me, false).unwrap();
        t.push_for_test(me, Event { nr: 39, ret: 1, enter_ns: 1, exit_ns: 2, ..Default::default() });
        let text = render(t.clone(), 5);
        assert_eq!(sample(&text, "strace_metrics_series{pod=\"web-1\"}"), Some("0"));
        assert_eq!(sample(&text, "strace_metrics_series_refused{pod=\"web-1\"}"), Some("16"));
        assert_eq!(sample(&text, "strace_metrics_processes_refused{pod=\"web-1\"}"), Some("1"));
        assert!(!text.contains("strace_syscalls_total{"), "{text}");
    }
}
