//! Daemon configuration: command-line flags, each with an environment variable.
use std::net::SocketAddr;

use clap::Parser;
use strace_common::limits;

#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "strace-api",
    version,
    about = "eBPF syscall observer with an HTTP API",
    after_help = "Every flag can also be set by the environment variable shown with it ([env: NAME=]); a flag on the command line wins over its variable. STRACE_API_LOG sets what is logged (a tracing filter: info by default, e.g. debug or strace_api=debug)."
)]
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
        let config = Config::from_arg_matches(&matches).map_err(ConfigError::Clap)?;
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
        if !(1..=4096).contains(&self.max_streams) {
            return Err(format!("--max-streams must be between 1 and 4096, not {}", self.max_streams));
        }
        Ok(())
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
        assert_eq!(parse(&["--listen", "0.0.0.0:9000"]).unwrap().listen.port(), 9000);
    }
}
