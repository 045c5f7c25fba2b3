use std::process::ExitCode;

use strace_api::{
    config::{Config, ConfigError, LogFormat},
    daemon,
};
use tracing_subscriber::EnvFilter;

/// The HTTP side allocates many small strings per event (timestamps, hex
/// arguments, lines); mimalloc made JSON for 100 events 27% cheaper than
/// glibc's malloc (criterion, bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Loading the probe leaves ~32 MiB freed but resident (aya's parsed BTF
/// among it): 69.8 MiB of RSS before any event without this, 37.9 with it.
fn release_freed_memory() {
    strace_api::memory::release_all()
}

/// A worker going idle gives its freed memory back to the system, at most
/// once a second: mimalloc returns a thread's free pages only when that
/// thread allocates again, so after a burst of big responses idle workers
/// kept hundreds of MB resident (535 MB at the burst's peak, 96 MB ten
/// seconds later, from 43 MB before it).
fn collect_when_idle() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    if LAST.get().is_some_and(|last| now.duration_since(last) < std::time::Duration::from_secs(1)) {
        return;
    }
    LAST.set(Some(now));
    strace_api::memory::release_thread()
}

/// Threads of tokio's blocking pool at most (its default is 512): watch
/// changes and exits, each waiting a kernel grace period, big pages and
/// /proc reads. Each thread keeps a heap of its own; under a churn of
/// short processes and clients polling, the pool grew to 90 threads and
/// the daemon's RSS to 0.8 GB (`cargo xtask soak`). The jobs queue beyond it.
const MAX_BLOCKING_THREADS: usize = 16;

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(c) => c,
        Err(ConfigError::Clap(e)) => e.exit(),
        Err(ConfigError::Invalid(message)) => {
            eprintln!("strace-api: {message}");
            return ExitCode::from(2);
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("STRACE_API_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match config.log_format {
        // One JSON object a line, for log shippers.
        LogFormat::Json => logs.json().with_current_span(false).init(),
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(collect_when_idle)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strace-api: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config, release_freed_memory)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strace-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}
