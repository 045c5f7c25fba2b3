//! Daemon configuration: command-line flags, each with an environment variable.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use strace_common::limits;

use crate::{
    export::{nats::NatsSettings, select::Filters},
    metrics,
    server::Listen,
    tracer::WatchFilter,
};

#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "strace-api",
    version,
    about = "eBPF syscall observer with an HTTP API",
    after_help = "Every flag can also be set by the environment variable shown with it ([env: NAME=]); a flag on the command line wins over its variable. STRACE_API_LOG sets what is logged (a tracing filter: info by default, e.g. debug or strace_api=debug)."
)]
pub struct Config {
    /// Address and port to listen on, or `unix:/path/to/socket` for a Unix
    /// socket (mode 0600, owned by the daemon's user).
    #[arg(long, env = "STRACE_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: Listen,

    /// Permissions of the Unix socket file, in octal.
    #[arg(long, env = "STRACE_API_LISTEN_MODE", default_value = "0600", value_parser = octal_mode)]
    pub listen_mode: u32,

    /// Group (name or number) to give the Unix socket file, e.g. with
    /// `--listen-mode 0660` to let that group in.
    #[arg(long, env = "STRACE_API_LISTEN_GROUP")]
    pub listen_group: Option<String>,

    /// Certificate chain (PEM) to serve HTTPS with; reloaded on SIGHUP.
    #[arg(long, env = "STRACE_API_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of `--tls-cert`; reloaded with it on SIGHUP.
    #[arg(long, env = "STRACE_API_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Connections open at once; at the cap the one idle the longest is
    /// closed to admit a new one. Default: from the open-files limit.
    #[arg(long, env = "STRACE_API_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Time a client has to send a whole request head, from connecting (TLS
    /// handshake included) or from the first byte of a later request.
    #[arg(long, env = "STRACE_API_HEADER_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub header_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request, or a
    /// response go unread, before it is closed.
    #[arg(long, env = "STRACE_API_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub idle_timeout: Duration,

    /// On SIGTERM/SIGINT, time in-flight requests have to finish before
    /// every connection is closed.
    #[arg(long, env = "STRACE_API_SHUTDOWN_GRACE", default_value = "5s", value_parser = duration)]
    pub shutdown_grace: Duration,

    /// Largest request head (request line and headers), in bytes.
    #[arg(long, env = "STRACE_API_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "STRACE_API_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Most recent events kept per watched process; older ones are evicted.
    #[arg(long, env = "STRACE_API_EVENTS_PER_PID", default_value_t = 4096)]
    pub events_per_pid: usize,

    /// The newest events of a live process the memory cap never takes:
    /// exited processes' histories go first, then the oldest events of the
    /// largest live ones, down to this many (rounded up to a chunk, ~100
    /// events).
    #[arg(long, env = "STRACE_API_KEEP_EVENTS_PER_PID", default_value_t = 100)]
    pub keep_events_per_pid: usize,

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

    /// Thread slots one process may hold at most (default: a quarter of the
    /// thread table); its other threads are not traced and their calls are
    /// counted as dropped to it, so it cannot take the slots others need.
    #[arg(long, env = "STRACE_API_MAX_THREADS_PER_PID")]
    pub max_threads_per_pid: Option<u32>,

    /// Processes the kernel can watch at once; one more is not watched, and
    /// is listed by /v1/processes as `watched: false` with the reason.
    #[arg(long, env = "STRACE_API_MAX_WATCHED", default_value_t = limits::MAX_WATCHED)]
    pub max_watched: u32,

    /// Fair share of the ring buffer: when it is more than three quarters
    /// full, a process that wrote more than its share while it filled has its
    /// records dropped (counted to it, `throttled`), so the others' still fit.
    #[arg(long, env = "STRACE_API_FAIR_RING", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub fair_ring: bool,

    /// Watch every process of the daemon's PID namespace (except itself) from
    /// the moment it appears: a flight recorder.
    #[arg(long, env = "STRACE_API_WATCH_ALL", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub watch_all: bool,

    /// With --watch-all: record only these calls of the processes it finds
    /// (strace's `-e trace=` list, as `PUT /v1/watch/{pid}?syscalls=`): the
    /// others cost neither a record nor a copy, in the kernel. A watch asked
    /// for over HTTP sets its own.
    #[arg(long, env = "STRACE_API_WATCH_ALL_SYSCALLS", value_name = "LIST")]
    pub watch_all_syscalls: Option<String>,

    /// Bytes of read/write/send/recv buffers to copy and show (0: none; they
    /// may hold secrets). At most 256. Also the longest string (argv entries,
    /// but not paths) and array shown, as strace's `-s`.
    #[arg(long, env = "STRACE_API_CAPTURE_BYTES", default_value_t = 0)]
    pub capture_bytes: u32,

    /// Copy and show the structs calls read and fill (stat, sigaction,
    /// rlimit, pollfd arrays, …) and the counts strace prints (a directory's
    /// entries, the environment's variables). `false` shows their addresses
    /// and saves the copies.
    #[arg(long, env = "STRACE_API_CAPTURE_STRUCTS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub capture_structs: bool,

    /// Show the path of every fd, as `strace -y` (`read(3</etc/hosts>, …)`),
    /// for watches that do not say (`PUT /v1/watch/{pid}?fd_paths=`). Each
    /// such process's fd table is kept from the calls it makes and read from
    /// /proc when its watch begins.
    #[arg(long, env = "STRACE_API_FD_PATHS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub fd_paths: bool,

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

    /// Exited processes whose histories are kept at most: beyond, the oldest
    /// go before their time is up (heavy churn under --watch-all).
    #[arg(long, env = "STRACE_API_MAX_EXITED", default_value_t = 10_000)]
    pub max_exited: usize,

    /// A file where the watches people asked for are kept, so that a
    /// restarted daemon takes them up again (none: they are not kept).
    #[arg(long, env = "STRACE_API_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Seconds an exited process's history stays readable.
    #[arg(long, env = "STRACE_API_RETAIN_EXITED_SECS", default_value_t = 600)]
    pub retain_exited_secs: u64,

    /// The operator's bearer token (`Authorization: Bearer …`): every
    /// endpoint but /healthz needs a token, and starting or stopping a
    /// watch needs this one. Give it by environment or file: a command-line
    /// value is visible to every local user (`ps`). Over TCP without one, the
    /// daemon generates one into `--token-out`.
    #[arg(long, env = "STRACE_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File holding the operator's token (e.g. a mounted secret).
    #[arg(long, env = "STRACE_API_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// A read-only bearer token, for dashboards: events, processes, watches,
    /// health and metrics, but no watch changes (403).
    #[arg(long, env = "STRACE_API_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,

    /// File holding the read-only token.
    #[arg(long, env = "STRACE_API_READ_TOKEN_FILE", conflicts_with = "read_token")]
    pub read_token_file: Option<PathBuf>,

    /// Where a generated operator token is written (mode 0600, in a
    /// directory of mode 0700), when none is given over TCP; removed at exit.
    #[arg(long, env = "STRACE_API_TOKEN_OUT", default_value = "/run/strace-api/token")]
    pub token_out: PathBuf,

    /// No tokens at all: anyone who can reach the address can read every
    /// watched process's syscalls and watch any process of the namespace.
    #[arg(long, env = "STRACE_API_INSECURE_NO_AUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = switch())]
    pub insecure_no_auth: bool,

    /// Also serve /metrics (only it) on this address, for scrapers in the
    /// pod's network: the same tokens as `--listen` (a read-only one will do).
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

    /// A regular expression whose matches are masked (`***`) in every
    /// string that leaves the daemon: paths, argv, socket paths, captured
    /// bytes, command lines, in lines, JSON, the stream, metrics and
    /// exports. Repeatable; in the variable, one per line. With capture
    /// groups, only the groups are masked; without, a leading `name=` or
    /// `name:` is kept (`password=\S+` shows `password=***`).
    #[arg(long, env = "STRACE_API_REDACT", value_delimiter = '\n', allow_hyphen_values = true)]
    pub redact: Vec<String>,

    /// Set by main: which tokens came on the command line (to warn).
    #[arg(skip)]
    pub tokens_on_command_line: bool,

    /// Live event streams (`/v1/processes/{pid}/events/stream`) open at once;
    /// one more is answered 503 with Retry-After. Each holds one slice of
    /// events at a time, whatever its client does.
    #[arg(long, env = "STRACE_API_MAX_STREAMS", default_value_t = crate::api::DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,

    /// Log lines as `text` (for a person) or `json` (one object a line, for
    /// log shippers).
    #[arg(long, env = "STRACE_API_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How requests are authenticated, as the configuration asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthPlan {
    pub operator: OperatorToken,
    pub read: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorToken {
    /// No tokens: `--insecure-no-auth`, or a Unix socket whose file
    /// permissions decide who connects.
    None,
    Given(String),
    /// None given: generate one into this file.
    Generate(PathBuf),
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// What clap says (and `--help`, `--version`: print and exit).
    Clap(clap::Error),
    /// A value out of range, naming the flag or the variable it came from.
    Invalid(String),
}

impl Config {
    /// The configuration from the command line and the environment. A bad
    /// value names where it came from: the flag, or the environment
    /// variable when it was set there.
    pub fn load() -> Result<Config, ConfigError> {
        Config::load_from(std::env::args_os())
    }

    pub fn load_from<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let matches = match Config::command().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) => return Err(from_environment(e, &args)),
        };
        let mut config = Config::from_arg_matches(&matches).map_err(ConfigError::Clap)?;
        config.tokens_on_command_line = ["token", "read_token"]
            .iter()
            .any(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        config.validate().map_err(|message| ConfigError::Invalid(name_variables(&message, &matches)))?;
        Ok(config)
    }
}

/// A clap error about a value from an environment variable: say so.
fn from_environment(e: clap::Error, args: &[std::ffi::OsString]) -> ConfigError {
    use clap::{CommandFactory as _, error::ContextKind};
    let Some(clap::error::ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return ConfigError::Clap(e);
    };
    let flag = arg.split_whitespace().next().unwrap_or_default().to_string();
    let cmd = Config::command();
    let Some(env) =
        cmd.get_arguments().find(|a| a.get_long().is_some_and(|l| format!("--{l}") == flag)).and_then(|a| a.get_env())
    else {
        return ConfigError::Clap(e);
    };
    let on_command_line =
        args.iter().any(|a| a.to_str().is_some_and(|a| a == flag || a.starts_with(&format!("{flag}="))));
    match std::env::var_os(env) {
        Some(value) if !on_command_line => {
            let reason = e.kind().to_string();
            let detail = e.to_string();
            let detail = detail.lines().next().unwrap_or_default().trim_start_matches("error: ");
            ConfigError::Invalid(format!(
                "the environment variable {}={:?} is not a valid {flag}: {reason} ({detail})",
                env.to_string_lossy(),
                value.to_string_lossy()
            ))
        }
        _ => ConfigError::Clap(e),
    }
}

/// `message` with each flag whose value came from its environment variable
/// named as that variable.
fn name_variables(message: &str, matches: &clap::ArgMatches) -> String {
    use clap::CommandFactory as _;
    let cmd = Config::command();
    let mut out = message.to_string();
    for arg in cmd.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else { continue };
        if matches.value_source(arg.get_id().as_str()) == Some(clap::parser::ValueSource::EnvVariable) {
            let flag = format!("--{long}");
            out = out.replacen(&flag, &format!("{} ({flag})", env.to_string_lossy()), 1);
        }
    }
    out
}

/// A yes/no flag's value, from the command line or the environment:
/// true/false, yes/no, on/off or 1/0 (`STRACE_API_WATCH_ALL=1` in a manifest).
fn switch() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// A duration: `5s`, `500ms`, `2m`, or a bare number of seconds.
fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Duration::from_secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 5s, 500ms or 2m)"))
}

/// File permissions in octal, as chmod takes them (`0600`, `660`).
fn octal_mode(s: &str) -> Result<u32, String> {
    let digits = s.trim().trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("{s:?} is not a file mode in octal between 0000 and 0777")),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["strace-api"])
    }
}

/// A token from its flag or its file, trimmed; an empty one is an error.
fn read_token(file_flag: &str, value: &Option<String>, file: &Option<PathBuf>) -> Result<Option<String>, String> {
    let token = match (value, file) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {} ({file_flag}): {e}", path.display()))?
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        return Err("a token is empty".into());
    }
    Ok(Some(token))
}

impl Config {
    /// `--watch-all-syscalls`'s filter (`None`: every call, or not given).
    pub fn watch_all_filter(&self) -> Option<WatchFilter> {
        self.watch_all_syscalls.as_deref().and_then(|s| WatchFilter::parse(s).ok().flatten())
    }

    /// Checks what clap's types cannot; the message is one sentence for the user.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.events_per_pid) {
            return Err(format!("--events-per-pid must be between 1 and 1000000, not {}", self.events_per_pid));
        }
        if self.keep_events_per_pid > self.events_per_pid {
            return Err(format!(
                "--keep-events-per-pid ({}) must not be more than --events-per-pid ({})",
                self.keep_events_per_pid, self.events_per_pid
            ));
        }
        if let Some(spec) = &self.watch_all_syscalls {
            if !self.watch_all {
                return Err("--watch-all-syscalls needs --watch-all".into());
            }
            WatchFilter::parse(spec).map_err(|e| format!("--watch-all-syscalls: {e}"))?;
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
        if let Some(n) = self.max_threads_per_pid
            && n == 0
        {
            return Err("--max-threads-per-pid must be at least 1".to_string());
        }
        if !(16..=limits::MAX_WATCHED_LIMIT).contains(&self.max_watched) {
            return Err(format!(
                "--max-watched must be between 16 and {}, not {}",
                limits::MAX_WATCHED_LIMIT,
                self.max_watched
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
        crate::redact::compile(&self.redact)?;
        if !self.entry_hook && self.durations {
            return Err("--entry-hook false needs --durations false: a duration starts at the entry hook".into());
        }
        if !self.entry_hook && !crate::syscall::ENTRY_HOOK_OPTIONAL {
            return Err(format!("--entry-hook false is not implemented on {}", std::env::consts::ARCH));
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
        self.validate_server()
    }

    /// The flags of the HTTP server (`crate::server`).
    fn validate_server(&self) -> Result<(), String> {
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        if self.max_connections.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err(format!(
                "--max-connections must be between 1 and 1000000, not {}",
                self.max_connections.unwrap_or_default()
            ));
        }
        let (low, high) = (Duration::from_millis(100), Duration::from_secs(3600));
        for (flag, d) in [("--header-timeout", self.header_timeout), ("--idle-timeout", self.idle_timeout)] {
            if !(low..=high).contains(&d) {
                return Err(format!("{flag} must be between 100ms and 1h, not {}", secs(d)));
            }
        }
        if self.shutdown_grace > Duration::from_secs(600) {
            return Err(format!("--shutdown-grace must be at most 10m, not {}", secs(self.shutdown_grace)));
        }
        if !(1024..=1 << 20).contains(&self.max_header_bytes) {
            return Err(format!("--max-header-bytes must be between 1024 and 1048576, not {}", self.max_header_bytes));
        }
        if self.max_body_bytes > 1 << 30 {
            return Err(format!("--max-body-bytes must be at most 1073741824 (1 GiB), not {}", self.max_body_bytes));
        }
        let unix = matches!(self.listen, Listen::Unix(_));
        if self.tls_cert.is_some() && unix {
            return Err("--tls-cert is for a TCP --listen: a Unix socket is guarded by its file's permissions".into());
        }
        if !unix && (self.listen_group.is_some() || self.listen_mode != 0o600) {
            return Err("--listen-mode and --listen-group are for a Unix socket (--listen unix:/path)".into());
        }
        if self.listen_mode & 0o007 != 0 {
            return Err(format!(
                "--listen-mode {:04o} lets every local user in; give the socket a group (--listen-group) and 0660 instead",
                self.listen_mode
            ));
        }
        if !(1..=4096).contains(&self.max_streams) {
            return Err(format!("--max-streams must be between 1 and 4096, not {}", self.max_streams));
        }
        Ok(())
    }

    /// The tokens to require. Over TCP (loopback too: any local user can
    /// reach it) a token is always required: the one given, or one the
    /// daemon generates, unless `--insecure-no-auth`. On a Unix socket the
    /// file's permissions decide who connects, and tokens are optional.
    pub fn auth(&self) -> Result<AuthPlan, String> {
        let operator = read_token("--token-file", &self.token, &self.token_file)?;
        let read = read_token("--read-token-file", &self.read_token, &self.read_token_file)?;
        if self.insecure_no_auth {
            if operator.is_some() || read.is_some() {
                return Err("--insecure-no-auth turns tokens off: give it or a token, not both".into());
            }
            return Ok(AuthPlan { operator: OperatorToken::None, read: None });
        }
        if operator.is_some() && operator == read {
            return Err("the read-only token must differ from the operator's".into());
        }
        let operator = match operator {
            Some(t) => OperatorToken::Given(t),
            None if matches!(self.listen, Listen::Unix(_)) && read.is_none() => OperatorToken::None,
            None if self.listen.is_local() || read.is_some() => OperatorToken::Generate(self.token_out.clone()),
            // Reachable from elsewhere: a generated token would have to be
            // fetched from this host; the operator gives one (the sidecar's case).
            None => {
                return Err(format!(
                    "refusing to serve {} without a token: anyone who reaches it could read the syscalls of watched processes; set STRACE_API_TOKEN (or --token-file), or pass --insecure-no-auth",
                    self.listen
                ));
            }
        };
        if let Some(addr) = self.metrics_listen
            && operator == OperatorToken::None
        {
            return Err(format!(
                "refusing to serve /metrics on {addr} without a token (the API's Unix socket has none): set STRACE_API_TOKEN (or --token-file), or pass --insecure-no-auth"
            ));
        }
        Ok(AuthPlan { operator, read })
    }

    /// What the export sends (`--export-filter`). The shared filter module
    /// (issue #18) takes `Filters`' place here.
    pub fn export_selection(&self) -> Result<Filters, String> {
        Filters::parse(&self.export_filter, self.durations).map_err(|e| format!("--export-filter: {e}"))
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
        // Behind the API's tokens (a generated one too); a Unix socket without
        // tokens has none to give it.
        assert!(parse(&["--metrics-listen", "0.0.0.0:9090"]).unwrap().auth().is_ok());
        let unix = parse(&["--listen", "unix:/run/strace-api.sock", "--metrics-listen", "0.0.0.0:9090"]).unwrap();
        assert!(unix.auth().unwrap_err().contains("/metrics"));
        let unix = parse(&["--listen", "unix:/s", "--metrics-listen", "0.0.0.0:9090", "--token", "t"]).unwrap();
        assert!(unix.auth().is_ok());
        let labelled = parse(&["--pod", "web-1", "--namespace", "shop", "--container", ""]).unwrap();
        assert_eq!(
            labelled.metric_labels(),
            vec![("pod".to_string(), "web-1".to_string()), ("namespace".to_string(), "shop".to_string())]
        );
    }

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, Listen::Tcp("127.0.0.1:8080".parse().unwrap()));
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
    fn watch_all_syscalls_is_a_filter_for_watch_all() {
        let c = parse(&["--watch-all", "--watch-all-syscalls", "%network,openat"]).unwrap();
        let f = c.watch_all_filter().unwrap();
        assert_eq!(f.spec, "%network,openat");
        assert!(f.bits.allows(syscalls::Sysno::openat.id()) && !f.bits.allows(syscalls::Sysno::getppid.id()));
        assert_eq!(parse(&["--watch-all"]).unwrap().watch_all_filter(), None);
        assert_eq!(parse(&["--watch-all", "--watch-all-syscalls", "all"]).unwrap().watch_all_filter(), None);
        let e = parse(&["--watch-all-syscalls", "openat"]).unwrap_err();
        assert!(e.contains("needs --watch-all"), "{e}");
        let e = parse(&["--watch-all", "--watch-all-syscalls", "opnat"]).unwrap_err();
        assert!(e.contains("--watch-all-syscalls") && e.contains("opnat"), "{e}");
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
    fn a_token_is_required_everywhere_but_a_unix_socket() {
        let generated = OperatorToken::Generate("/run/strace-api/token".into());
        assert_eq!(
            parse(&[]).unwrap().auth(),
            Ok(AuthPlan { operator: generated.clone(), read: None }),
            "loopback too"
        );
        let open = parse(&["--listen", "0.0.0.0:8080"]).unwrap();
        assert!(open.auth().unwrap_err().contains("without a token"), "a generated token could not be fetched");
        let insecure = parse(&["--listen", "0.0.0.0:8080", "--insecure-no-auth"]).unwrap();
        assert_eq!(insecure.auth(), Ok(AuthPlan { operator: OperatorToken::None, read: None }));
        let both = parse(&["--insecure-no-auth", "--token", "x"]).unwrap();
        assert!(both.auth().unwrap_err().contains("not both"));
        let with = parse(&["--listen", "0.0.0.0:8080", "--token", " s3cret\n"]).unwrap();
        assert_eq!(with.auth().unwrap().operator, OperatorToken::Given("s3cret".into()));
        assert!(parse(&["--token", "  "]).unwrap().auth().unwrap_err().contains("empty"));
        let dir = std::env::temp_dir().join(format!("strace-api-token-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let file = parse(&["--listen", "[::]:80", "--token-file", dir.to_str().unwrap()]).unwrap();
        assert_eq!(file.auth().unwrap().operator, OperatorToken::Given("from-file".into()));
        let read = parse(&["--token", "op", "--read-token-file", dir.to_str().unwrap()]).unwrap();
        assert_eq!(read.auth().unwrap().read.as_deref(), Some("from-file"));
        std::fs::remove_file(&dir).unwrap();
        let missing = parse(&["--token-file", "/nonexistent/token"]).unwrap();
        assert!(missing.auth().unwrap_err().contains("cannot read the token file"));
        assert!(parse(&["--token", "a", "--token-file", "/x"]).is_err(), "one or the other");
        let same = parse(&["--token", "a", "--read-token", "a"]).unwrap();
        assert!(same.auth().unwrap_err().contains("differ"));
        let read_only = parse(&["--read-token", "r", "--token-out", "/tmp/t"]).unwrap().auth().unwrap();
        assert_eq!(read_only, AuthPlan { operator: OperatorToken::Generate("/tmp/t".into()), read: Some("r".into()) });
    }

    /// A bad value from the environment names the variable; from the
    /// command line, the flag. (The variables are set in a child process:
    /// tests run in threads that share the environment.)
    #[test]
    fn a_bad_value_names_the_variable_it_came_from() {
        let Ok(var) = std::env::var("STRACE_API_CONFIG_TEST") else {
            let run = |var: &str, value: &str, args: &[&str]| {
                let out = std::process::Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "config::tests::a_bad_value_names_the_variable_it_came_from", "--nocapture"])
                    .env("STRACE_API_CONFIG_TEST", args.join(" "))
                    .env(var, value)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let out = run("STRACE_API_EVENTS_PER_PID", "0", &[]);
            assert!(out.contains("STRACE_API_EVENTS_PER_PID (--events-per-pid) must be between"), "{out}");
            let out = run("STRACE_API_LISTEN", "nonsense", &[]);
            assert!(
                out.contains("the environment variable STRACE_API_LISTEN=\"nonsense\" is not a valid --listen"),
                "{out}"
            );
            let out = run("STRACE_API_MAX_STREAMS", "many", &[]);
            assert!(out.contains("STRACE_API_MAX_STREAMS=\"many\""), "{out}");
            let out = run("STRACE_API_LOG_FORMAT", "xml", &[]);
            assert!(out.contains("STRACE_API_LOG_FORMAT=\"xml\""), "{out}");
            let out = run("STRACE_API_LISTEN", "nonsense", &["--listen", "bad"]);
            assert!(out.contains("CLAP:") && out.contains("--listen") && !out.contains("STRACE_API_LISTEN="), "{out}");
            let out = run("STRACE_API_MAX_STREAMS", "0", &[]);
            assert!(out.contains("STRACE_API_MAX_STREAMS (--max-streams) must be between 1 and 4096"), "{out}");
            return;
        };
        let args = std::iter::once("strace-api").chain(var.split_whitespace());
        match Config::load_from(args) {
            Ok(_) => println!("OK"),
            Err(ConfigError::Invalid(m)) => println!("INVALID: {m}"),
            Err(ConfigError::Clap(e)) => println!("CLAP: {e}"),
        }
    }

    #[test]
    fn help_names_every_variable() {
        use clap::CommandFactory as _;
        let help = Config::command().render_long_help().to_string();
        for arg in
            Config::command().get_arguments().filter(|a| a.get_long().is_some_and(|l| l != "help" && l != "version"))
        {
            let env = arg.get_env().unwrap_or_else(|| panic!("--{} has no variable", arg.get_long().unwrap()));
            assert!(help.contains(&format!("[env: {}", env.to_string_lossy())), "{help}");
        }
        assert!(parse(&["--log-format", "json"]).unwrap().log_format == LogFormat::Json);
        assert!(parse(&["--max-streams", "0"]).unwrap_err().contains("--max-streams"));
    }

    #[test]
    fn listen_accepts_any_socket_address() {
        assert_eq!(parse(&["--listen", "0.0.0.0:9000"]).unwrap().listen, Listen::Tcp("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(parse(&["--listen", "[::1]:80"]).unwrap().listen, Listen::Tcp("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn listen_takes_a_unix_socket_which_needs_no_token() {
        let c = parse(&["--listen", "unix:/run/strace-api.sock"]).unwrap();
        assert_eq!(c.listen, Listen::Unix("/run/strace-api.sock".into()));
        assert_eq!(c.auth().unwrap().operator, OperatorToken::None, "the file's permissions guard it");
        assert_eq!(c.listen_mode, 0o600);
        let err = parse(&["--listen", "unix:"]).unwrap_err();
        assert!(err.contains("unix:/path"), "{err}");
        let err = parse(&["--listen", "unix:relative.sock"]).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
        let group = parse(&["--listen", "unix:/s", "--listen-mode", "0660", "--listen-group", "adm"]).unwrap();
        assert_eq!((group.listen_mode, group.listen_group.as_deref()), (0o660, Some("adm")));
        assert!(parse(&["--listen", "unix:/s", "--listen-mode", "0666"]).unwrap_err().contains("every local user"));
        assert!(parse(&["--listen", "unix:/s", "--listen-mode", "9"]).unwrap_err().contains("octal"));
        assert!(parse(&["--listen-mode", "0660"]).unwrap_err().contains("Unix socket"));
        assert!(parse(&["--listen", "unix:/s", "--tls-cert", "c", "--tls-key", "k"]).unwrap_err().contains("TCP"));
    }

    #[test]
    fn server_limits_have_safe_defaults_and_bounds() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.header_timeout, c.idle_timeout), (Duration::from_secs(5), Duration::from_secs(60)));
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!((c.max_connections, c.max_header_bytes, c.max_body_bytes), (None, 16384, 65536));
        let c = parse(&["--header-timeout", "750ms", "--idle-timeout", "2", "--shutdown-grace", "0s"]).unwrap();
        assert_eq!((c.header_timeout, c.idle_timeout), (Duration::from_millis(750), Duration::from_secs(2)));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert_eq!(parse(&["--max-connections", "10"]).unwrap().max_connections, Some(10));
        let sentence = |args: &[&str], flag: &str| {
            let err = parse(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        };
        sentence(&["--max-connections", "0"], "--max-connections must be between 1");
        sentence(&["--header-timeout", "10ms"], "--header-timeout must be between 100ms and 1h");
        sentence(&["--idle-timeout", "2h"], "--idle-timeout must be between");
        sentence(&["--header-timeout", "soon"], "write e.g. 5s");
        sentence(&["--shutdown-grace", "1h"], "--shutdown-grace must be at most 10m");
        sentence(&["--max-header-bytes", "100"], "--max-header-bytes must be between 1024");
        sentence(&["--max-body-bytes", "2000000000"], "--max-body-bytes must be at most");
        sentence(&["--tls-cert", "c.pem"], "--tls-key");
        sentence(&["--tls-key", "k.pem"], "--tls-cert");
        let tls = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        assert_eq!(tls.tls_cert, Some("c.pem".into()));
    }
}
