//! Daemon configuration: command-line flags, each with an environment variable.
use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use strace_common::limits;

use crate::{
    export::{nats::NatsSettings, select::Filters},
    metrics,
};

#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "strace-api", version, about = "eBPF syscall observer with an HTTP API")]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "STRACE_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Most recent events kept per watched process; older ones are evicted.
    #[arg(long, env = "STRACE_API_EVENTS_PER_PID", default_value_t = 4096)]
    pub events_per_pid: usize,

    /// Memory for all retained events together, in MiB.
    #[arg(long, env = "STRACE_API_MEMORY_MIB", default_value_t = 256)]
    pub memory_mib: usize,

    /// Size of the kernel ring buffer in bytes: a power of two, at least 64 KiB.
    #[arg(long, env = "STRACE_API_RING_BYTES", default_value_t = limits::DEFAULT_RING_BYTES)]
    pub ring_bytes: u32,

    /// Threads of watched processes the kernel can track at once (rounded up
    /// to a power of two; a thread whose 8 candidate slots are all taken is
    /// not traced, and its calls are counted as lost).
    #[arg(long, env = "STRACE_API_MAX_THREADS", default_value_t = limits::DEFAULT_MAX_THREADS)]
    pub max_threads: u32,

    /// Watch every process of the daemon's PID namespace (except itself) from
    /// the moment it appears: a flight recorder.
    #[arg(long, env = "STRACE_API_WATCH_ALL", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub watch_all: bool,

    /// Bytes of read/write/send/recv buffers to copy and show (0: none; they
    /// may hold secrets). At most 256.
    #[arg(long, env = "STRACE_API_CAPTURE_BYTES", default_value_t = 0)]
    pub capture_bytes: u32,

    /// Time each call (its duration, as `strace -T`). `false` saves one clock
    /// read a traced call (20–30 ns on the benchmark machine): events then carry
    /// their exit time only, and calls in progress no start time.
    #[arg(long, env = "STRACE_API_DURATIONS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub durations: bool,

    /// Attach the syscall entry hook. `false` (with `--durations false`; x86_64
    /// only) leaves one hook, at exit: every process on the host pays about
    /// half as much while anything is watched, and each call is recorded at
    /// its exit. Given up: durations, calls in progress (but those /proc
    /// shows), exit/exit_group records, and a successful execve's arguments.
    #[arg(long, env = "STRACE_API_ENTRY_HOOK", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub entry_hook: bool,

    /// Seconds an exited process's history stays readable.
    #[arg(long, env = "STRACE_API_RETAIN_EXITED_SECS", default_value_t = 600)]
    pub retain_exited_secs: u64,

    /// Bearer token every request but /healthz must carry (`Authorization: Bearer …`).
    #[arg(long, env = "STRACE_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File holding the bearer token (e.g. a mounted secret).
    #[arg(long, env = "STRACE_API_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<std::path::PathBuf>,

    /// Serve a non-loopback address without a token (anyone who can reach it
    /// can read every watched process's syscalls).
    #[arg(long, env = "STRACE_API_INSECURE_NO_AUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub insecure_no_auth: bool,

    /// Also serve /metrics (only it) on this address, for scrapers in the
    /// pod's network; the same token rule as `--listen`.
    #[arg(long, env = "STRACE_API_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Series of the processes' metrics /metrics shows at most; a process
    /// whose series would pass it is left out whole (live ones are taken
    /// first, oldest watch first), and counted (`strace_metrics_series_refused`).
    #[arg(long, env = "STRACE_API_METRICS_MAX_SERIES", default_value_t = metrics::DEFAULT_MAX_SERIES)]
    pub metrics_max_series: usize,

    /// The `pod` label of every metric (Kubernetes: the downward API's metadata.name).
    #[arg(long, env = "STRACE_API_POD")]
    pub pod: Option<String>,

    /// The `namespace` label of every metric (the downward API's metadata.namespace).
    #[arg(long, env = "STRACE_API_NAMESPACE")]
    pub namespace: Option<String>,

    /// The `container` label of every metric: the application container's name.
    #[arg(long, env = "STRACE_API_CONTAINER")]
    pub container: Option<String>,

    /// Publish selected events to this NATS server (`nats://host:4222`;
    /// `tls://…` for TLS; several, comma-separated, for a cluster).
    #[arg(long, env = "STRACE_API_EXPORT_NATS")]
    pub export_nats: Option<String>,

    /// NATS credentials file (user JWT and nkey seed).
    #[arg(long, env = "STRACE_API_EXPORT_CREDS_FILE")]
    pub export_creds_file: Option<PathBuf>,

    /// NATS token.
    #[arg(long, env = "STRACE_API_EXPORT_TOKEN", hide_env_values = true, conflicts_with = "export_token_file")]
    pub export_token: Option<String>,

    /// File holding the NATS token.
    #[arg(long, env = "STRACE_API_EXPORT_TOKEN_FILE")]
    pub export_token_file: Option<PathBuf>,

    /// CA certificates (PEM) to trust for the NATS server's TLS.
    #[arg(long, env = "STRACE_API_EXPORT_TLS_CA")]
    pub export_tls_ca: Option<PathBuf>,

    /// JetStream stream to publish to (created for `<prefix>.>` if missing),
    /// each publish acknowledged; without it, core NATS messages.
    #[arg(long, env = "STRACE_API_EXPORT_STREAM")]
    pub export_stream: Option<String>,

    /// The subjects' first token(s): `<prefix>.<host>.<pid>.<syscall>`.
    #[arg(long, env = "STRACE_API_EXPORT_SUBJECT_PREFIX", default_value = "strace")]
    pub export_subject_prefix: String,

    /// The subjects' host token (default: `--pod`, else the host name).
    #[arg(long, env = "STRACE_API_EXPORT_HOST")]
    pub export_host: Option<String>,

    /// Which events to export, in the API's filter syntax (`syscall=a,b`,
    /// `failed=true`, `min_duration_us=N`, `tid=N`, joined by `&`); given
    /// several times (`;` between them in the variable), an event matching
    /// any is exported. Default: failed calls, calls of 100 ms or more,
    /// execve/execveat and connect.
    #[arg(long, env = "STRACE_API_EXPORT_FILTER", value_delimiter = ';')]
    pub export_filter: Vec<String>,

    /// Events the export queue holds; past it, selected events are dropped
    /// (counted) until the publisher catches up.
    #[arg(long, env = "STRACE_API_EXPORT_QUEUE", default_value_t = 8192)]
    pub export_queue: usize,
}

/// A yes/no flag's value, from the command line or the environment:
/// true/false, yes/no, on/off or 1/0 (`STRACE_API_WATCH_ALL=1` in a manifest).
fn switch() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["strace-api"])
    }
}

impl Config {
    /// Checks what clap's types cannot; the message is one sentence for the user.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.events_per_pid) {
            return Err(format!("--events-per-pid must be between 1 and 1000000, not {}", self.events_per_pid));
        }
        if !(1..=1 << 20).contains(&self.memory_mib) {
            return Err(format!("--memory-mib must be between 1 and 1048576, not {}", self.memory_mib));
        }
        let r = self.ring_bytes;
        if !r.is_power_of_two() || !(limits::MIN_RING_BYTES..=limits::MAX_RING_BYTES).contains(&r) {
            return Err(format!(
                "--ring-bytes must be a power of two between {} and {}, not {r}",
                limits::MIN_RING_BYTES,
                limits::MAX_RING_BYTES
            ));
        }
        if !(64..=limits::MAX_THREADS).contains(&self.max_threads) {
            return Err(format!(
                "--max-threads must be between 64 and {}, not {}",
                limits::MAX_THREADS,
                self.max_threads
            ));
        }
        if self.capture_bytes > strace_common::capture::MAX_BUFFER as u32 {
            return Err(format!(
                "--capture-bytes must be at most {}, not {}",
                strace_common::capture::MAX_BUFFER,
                self.capture_bytes
            ));
        }
        if self.retain_exited_secs > 7 * 24 * 3600 {
            return Err(format!(
                "--retain-exited-secs must be at most 604800 (a week), not {}",
                self.retain_exited_secs
            ));
        }
        if !self.entry_hook && self.durations {
            return Err("--entry-hook false needs --durations false: a duration starts at the entry hook".into());
        }
        if !self.entry_hook && !cfg!(target_arch = "x86_64") {
            return Err("--entry-hook false is implemented for x86_64 only".into());
        }
        if !(1..=100_000_000).contains(&self.metrics_max_series) {
            return Err(format!(
                "--metrics-max-series must be between 1 and 100000000, not {}",
                self.metrics_max_series
            ));
        }
        if !(1..=1 << 20).contains(&self.export_queue) {
            return Err(format!("--export-queue must be between 1 and 1048576, not {}", self.export_queue));
        }
        let prefix = &self.export_subject_prefix;
        if prefix.is_empty() || prefix.split('.').any(|t| t.is_empty() || t.contains(['*', '>', ' ', '\t'])) {
            return Err(format!("--export-subject-prefix must be NATS subject tokens (no wildcards), not {prefix:?}"));
        }
        if let Some(s) = &self.export_stream
            && (s.is_empty() || s.contains(['.', '*', '>', ' ', '/', '\\']))
        {
            return Err(format!(
                "--export-stream must be a JetStream stream name (no . * > / \\ or blanks), not {s:?}"
            ));
        }
        self.export_selection()?;
        if let Some(addr) = self.metrics_listen
            && self.token()?.is_none()
            && !addr.ip().is_loopback()
            && !self.insecure_no_auth
        {
            return Err(format!(
                "refusing to serve /metrics on {addr} without a token; set STRACE_API_TOKEN, or pass --insecure-no-auth"
            ));
        }
        Ok(())
    }

    /// What the export sends (`--export-filter`). The shared filter module
    /// (issue #18) takes `Filters`' place here.
    pub fn export_selection(&self) -> Result<Filters, String> {
        Filters::parse(&self.export_filter).map_err(|e| format!("--export-filter: {e}"))
    }

    /// Where and how to export events, if `--export-nats` is given.
    pub fn export_settings(&self) -> Result<Option<NatsSettings>, String> {
        let Some(url) = &self.export_nats else { return Ok(None) };
        let token = match (&self.export_token, &self.export_token_file) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the NATS token file {}: {e}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let host = match (&self.export_host, &self.pod) {
            (Some(h), _) | (None, Some(h)) => crate::export::nats::token(h),
            (None, None) => crate::export::nats::host_name(),
        };
        Ok(Some(NatsSettings {
            url: url.clone(),
            creds_file: self.export_creds_file.clone(),
            token,
            tls_ca: self.export_tls_ca.clone(),
            stream: self.export_stream.clone(),
            subject_prefix: self.export_subject_prefix.clone(),
            host,
        }))
    }

    /// Labels every metric carries: `container`, `pod`, `namespace`, as given.
    pub fn metric_labels(&self) -> Vec<(String, String)> {
        [("container", &self.container), ("pod", &self.pod), ("namespace", &self.namespace)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.clone().filter(|v| !v.is_empty())?)))
            .collect()
    }

    /// The bearer token to require, if any: from `--token` or `--token-file`.
    /// Refuses a non-loopback address without one unless `--insecure-no-auth`.
    pub fn token(&self) -> Result<Option<String>, String> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        if token.as_deref() == Some("") {
            return Err("the token is empty".into());
        }
        if token.is_none() && !self.listen.ip().is_loopback() && !self.insecure_no_auth {
            return Err(format!(
                "refusing to serve {} without a token: anyone who reaches it could read the syscalls of watched processes; set STRACE_API_TOKEN (or --token-file), or pass --insecure-no-auth",
                self.listen
            ));
        }
        Ok(token)
    }

    pub fn memory_bytes(&self) -> usize {
        self.memory_mib << 20
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let c = Config::try_parse_from(std::iter::once("strace-api").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.events_per_pid, 4096);
        assert_eq!(c.ring_bytes, limits::DEFAULT_RING_BYTES);
    }

    #[test]
    fn rejects_bad_values_with_a_sentence() {
        assert!(parse(&["--ring-bytes", "100000"]).unwrap_err().contains("power of two"));
        assert!(parse(&["--ring-bytes", "4096"]).unwrap_err().contains("between"));
        assert!(parse(&["--events-per-pid", "0"]).unwrap_err().contains("--events-per-pid"));
        assert!(parse(&["--memory-mib", "0"]).unwrap_err().contains("--memory-mib"));
        assert!(parse(&["--max-threads", "1"]).unwrap_err().contains("--max-threads"));
        assert!(parse(&["--capture-bytes", "257"]).unwrap_err().contains("--capture-bytes"));
        assert_eq!(parse(&[]).unwrap().capture_bytes, 0, "buffers are off by default");
        assert!(parse(&["--listen", "nonsense"]).is_err());
    }

    #[test]
    fn watch_all_is_a_switch_or_a_value() {
        assert!(!parse(&[]).unwrap().watch_all);
        assert!(parse(&["--watch-all"]).unwrap().watch_all);
        assert!(!parse(&["--watch-all", "false"]).unwrap().watch_all);
        assert!(parse(&["--retain-exited-secs", "9999999"]).unwrap_err().contains("a week"));
    }

    #[test]
    fn the_entry_hook_goes_only_with_durations() {
        assert!(parse(&[]).unwrap().entry_hook);
        assert!(parse(&["--entry-hook", "false"]).unwrap_err().contains("--durations false"));
        assert_eq!(parse(&["--entry-hook", "false", "--durations", "false"]).is_ok(), cfg!(target_arch = "x86_64"));
        assert!(parse(&["--entry-hook", "maybe"]).is_err());
    }

    #[test]
    fn durations_are_on_unless_turned_off() {
        assert!(parse(&[]).unwrap().durations);
        assert!(!parse(&["--durations", "false"]).unwrap().durations);
        assert!(parse(&["--durations"]).unwrap().durations);
        assert!(parse(&["--durations", "sometimes"]).is_err());
    }

    #[test]
    fn switches_take_the_usual_spellings_of_yes_and_no() {
        assert!(!parse(&["--durations", "off"]).unwrap().durations);
        assert!(!parse(&["--durations", "0"]).unwrap().durations);
        assert!(parse(&["--watch-all", "yes"]).unwrap().watch_all);
        assert!(parse(&["--watch-all", "1"]).unwrap().watch_all);
        assert!(parse(&["--insecure-no-auth", "on"]).unwrap().insecure_no_auth);
        if cfg!(target_arch = "x86_64") {
            assert!(!parse(&["--entry-hook", "no", "--durations", "no"]).unwrap().entry_hook);
        }
        let err = parse(&["--watch-all", "2"]).unwrap_err();
        assert!(err.contains("--watch-all"), "{err}");
    }

    #[test]
    fn a_public_address_needs_a_token() {
        assert_eq!(parse(&[]).unwrap().token(), Ok(None), "loopback needs none");
        let open = parse(&["--listen", "0.0.0.0:8080"]).unwrap();
        assert!(open.token().unwrap_err().contains("without a token"));
        let insecure = parse(&["--listen", "0.0.0.0:8080", "--insecure-no-auth"]).unwrap();
        assert_eq!(insecure.token(), Ok(None));
        let with = parse(&["--listen", "0.0.0.0:8080", "--token", " s3cret\n"]).unwrap();
        assert_eq!(with.token(), Ok(Some("s3cret".into())));
        assert!(parse(&["--token", "  "]).unwrap().token().unwrap_err().contains("empty"));
        let dir = std::env::temp_dir().join(format!("strace-api-token-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let file = parse(&["--listen", "[::]:80", "--token-file", dir.to_str().unwrap()]).unwrap();
        assert_eq!(file.token(), Ok(Some("from-file".into())));
        std::fs::remove_file(&dir).unwrap();
        let missing = parse(&["--token-file", "/nonexistent/token"]).unwrap();
        assert!(missing.token().unwrap_err().contains("cannot read the token file"));
        assert!(parse(&["--token", "a", "--token-file", "/x"]).is_err(), "one or the other");
    }

    #[test]
    fn export_and_metrics_flags_are_checked() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.export_settings(), Ok(None), "no export unless asked");
        assert_eq!(c.metrics_max_series, metrics::DEFAULT_MAX_SERIES);
        let x = parse(&["--export-nats", "nats://127.0.0.1:4222", "--pod", "web.1", "--export-stream", "STRACE"])
            .unwrap()
            .export_settings()
            .unwrap()
            .unwrap();
        assert_eq!(
            (x.host.as_str(), x.subject_prefix.as_str(), x.stream.as_deref()),
            ("web_1", "strace", Some("STRACE"))
        );
        assert!(parse(&["--export-filter", "failed=perhaps"]).unwrap_err().contains("--export-filter"));
        assert!(parse(&["--export-filter", "failed=true", "--export-filter", "syscall=connect"]).is_ok());
        assert!(parse(&["--export-subject-prefix", "a.*"]).unwrap_err().contains("wildcards"));
        assert!(parse(&["--export-stream", "a.b"]).unwrap_err().contains("stream name"));
        assert!(parse(&["--export-queue", "0"]).unwrap_err().contains("--export-queue"));
        assert!(parse(&["--metrics-max-series", "0"]).unwrap_err().contains("--metrics-max-series"));
        assert!(parse(&["--metrics-listen", "0.0.0.0:9090"]).unwrap_err().contains("without a token"));
        assert!(parse(&["--metrics-listen", "0.0.0.0:9090", "--token", "t"]).is_ok());
        let labelled = parse(&["--pod", "web-1", "--namespace", "shop", "--container", ""]).unwrap();
        assert_eq!(
            labelled.metric_labels(),
            vec![("pod".to_string(), "web-1".to_string()), ("namespace".to_string(), "shop".to_string())]
        );
    }

    #[test]
    fn listen_accepts_any_socket_address() {
        assert_eq!(parse(&["--listen", "0.0.0.0:9000"]).unwrap().listen.port(), 9000);
    }
}
