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

unsafe extern "C" {
    /// mimalloc's: frees this thread's unused pages back to the system now
    /// (it otherwise keeps them until the thread allocates again).
    fn mi_collect(force: bool);
}

/// Loading the probe leaves ~32 MiB freed but resident (aya's parsed BTF
/// among it): 69.8 MiB of RSS before any event without this, 37.9 with it.
fn release_freed_memory() {
    // SAFETY: takes no pointers; mimalloc is linked as the global allocator.
    unsafe { mi_collect(true) }
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
    // SAFETY: takes no pointers; collects this thread's heap.
    unsafe { mi_collect(false) }
}

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
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().on_thread_park(collect_when_idle).build() {
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
