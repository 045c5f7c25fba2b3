//! Start-up and shut-down: load the probe, start the drain and the HTTP
//! server, and on SIGINT/SIGTERM stop serving and detach.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    api::{self, Access},
    clock::Clock,
    config::{AuthPlan, Config, OperatorToken},
    drain,
    export::{self, Outlet},
    metrics::{Metrics, MetricsConfig},
    probe::{Probe, Settings},
    recorder::{EVENT_BYTES, Limits},
    server, state,
    tracer::{self, Tracer, TracerConfig},
};

/// `after_load` runs once the probe is loaded, on this thread: loading parses
/// the kernel's BTF, ~50 MiB freed again at once, and it lets the binary
/// have its allocator return that memory to the system.
pub async fn run(config: Config, after_load: fn()) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    crate::redact::install(&config.redact).map_err(anyhow::Error::msg)?;
    if !config.redact.is_empty() {
        tracing::info!(patterns = config.redact.len(), "strings are redacted");
    }
    let plan = config.auth().map_err(anyhow::Error::msg)?;
    let export = config.export_settings().map_err(anyhow::Error::msg)?;
    if config.tokens_on_command_line {
        tracing::warn!(
            "a token was given on the command line, where every local user can read it (ps); give it by environment (STRACE_API_TOKEN, STRACE_API_READ_TOKEN) or file (--token-file, --read-token-file)"
        );
    }
    let watch_all_filter = config.watch_all_filter();
    let settings = Settings {
        ring_bytes: config.ring_bytes,
        max_threads: config.max_threads,
        max_threads_per_pid: config.max_threads_per_pid,
        max_watched: config.max_watched,
        fair_ring: config.fair_ring,
        watch_all: config.watch_all,
        watch_all_filter: watch_all_filter.as_ref().map(|f| f.bits),
        capture_bytes: config.capture_bytes,
        capture_structs: config.capture_structs,
        durations: config.durations,
        entry_hook: config.entry_hook,
    };
    crate::syscall::set_string_limit(config.capture_bytes as usize);
    let (probe, streams) = Probe::load(settings)?;
    after_load();
    // After the load: a user who may not load the probe hears that first.
    let (access, generated) = access(plan).context("setting up authentication")?;
    let limits = Limits {
        per_process: config.events_per_pid,
        memory_bytes: config.memory_bytes(),
        keep_per_process: config.keep_events_per_pid,
    };
    let (tracer, exits) = Tracer::with_exits(
        Box::new(probe),
        TracerConfig {
            limits,
            clock: Clock::measure(),
            retention: Duration::from_secs(config.retain_exited_secs),
            durations: config.durations,
            ring_bytes: config.ring_bytes.into(),
            fd_paths: config.fd_paths,
            max_exited: config.max_exited,
            watch_all_filter,
        },
    );
    let (tracer, queue) = match &export {
        Some(_) => {
            let select = config.export_selection().map_err(anyhow::Error::msg)?;
            let (outlet, queue, stats) = Outlet::new(Box::new(select), config.export_queue);
            (tracer.with_outlet(outlet), Some((queue, stats)))
        }
        None => (tracer, None),
    };
    let tracer = Arc::new(tracer);
    let exporter = match (export, queue) {
        (Some(settings), Some((queue, stats))) => {
            Some(export::nats::start(settings, queue, stats, *tracer.clock()).await?)
        }
        _ => None,
    };
    let metrics = Arc::new(Metrics::new(
        tracer.clone(),
        MetricsConfig { max_series: config.metrics_max_series, labels: config.metric_labels() },
    ));
    tracing::info!(
        ring_bytes = config.ring_bytes,
        events_per_pid = config.events_per_pid,
        memory_events = limits.memory_bytes / EVENT_BYTES,
        "recording"
    );
    let lifecycle = tokio::spawn(tracer::follow_exits(tracer.clone(), exits));
    let keeper = config.state_file.clone().map(|path| {
        let t = tracer.clone();
        // Off the workers: watching waits for kernel grace periods.
        let restored = tokio::task::spawn_blocking(move || {
            state::restore(&t, &path);
            path
        });
        let t = tracer.clone();
        tokio::spawn(async move {
            if let Ok(path) = restored.await {
                state::keep(t, path).await
            }
        })
    });

    let drain = drain::DrainThread::spawn(streams.events, tracer.clone()).context("starting the drain thread")?;
    let log = streams.log.map(|l| tokio::spawn(drain::run_log(l)));

    let auth = match (&access, &generated) {
        (None, _) if config.insecure_no_auth => "none (--insecure-no-auth)",
        (None, _) => "none (the socket file's permissions)",
        (Some(_), Some(_)) => "bearer token (generated)",
        (Some(_), None) => "bearer token",
    };
    let server = server::Server::bind(&config, auth).await?;
    if let Some(token) = &generated {
        let url = server.local_addr().map_or_else(|| config.listen.to_string(), |a| a.to_string());
        tracing::info!(
            "no token was given: one was generated into {} (readable by its owner only); use it as: curl -H \"Authorization: Bearer $(cat {})\" http://{url}/v1/watch",
            token.path.display(),
            token.path.display()
        );
    }
    // /metrics alone, for scrapers in the pod's network: the same tokens, and
    // a server of the same limits of its own (ended with the daemon).
    let metrics_server = match config.metrics_listen {
        Some(addr) => {
            let server = server::Server::bind_also(&config, addr, auth)
                .await
                .with_context(|| format!("could not serve /metrics on {addr} (--metrics-listen)"))?;
            let app = api::metrics_router(metrics.clone(), access.clone());
            Some(tokio::spawn(server.serve(app, std::future::pending())))
        }
        None => None,
    };
    let stopping = {
        let tracer = tracer.clone();
        async move {
            tracing::info!("{}: shutting down", shutdown_signal().await);
            // Requests waiting for events answer now, and event streams end
            // with a last event: the server waits for requests in flight to
            // end (for the grace period at most).
            tracer.close();
            tokio::spawn(async {
                let signal = shutdown_signal().await;
                tracing::warn!("{signal} again: exiting now, without waiting for requests to end");
                std::process::exit(1);
            });
        }
    };
    // Returns within --shutdown-grace of the signal, every connection closed.
    let api_settings = api::Settings { max_streams: config.max_streams };
    let app = api::router_with(tracer.clone(), access, api_settings, metrics);
    server.serve(app, stopping).await.context("HTTP server failed")?;

    if let Some(keeper) = keeper {
        keeper.abort();
        let _ = keeper.await;
    }
    if let Some(path) = &config.state_file {
        state::save_now(&tracer, path);
    }
    drain.stop();
    for task in [exporter.map(|t| t.abort_handle()), metrics_server.map(|t| t.abort_handle())].into_iter().flatten() {
        task.abort();
    }
    lifecycle.abort();
    let _ = lifecycle.await;
    if let Some(log) = log {
        log.abort();
        let _ = log.await;
    }
    // The last reference: dropping it drops the probe, which detaches the programs.
    drop(tracer);
    tracing::info!("stopped; eBPF programs detached");
    Ok(())
}

/// A token the daemon generated, in its file until the daemon ends.
struct GeneratedToken {
    path: PathBuf,
}

impl Drop for GeneratedToken {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The tokens requests must carry, generating the operator's if asked.
fn access(plan: AuthPlan) -> anyhow::Result<(Option<Access>, Option<GeneratedToken>)> {
    let (operator, generated) = match plan.operator {
        OperatorToken::None => return Ok((None, None)),
        OperatorToken::Given(t) => (t, None),
        OperatorToken::Generate(path) => {
            let token = random_token()?;
            write_private(&path, &token).with_context(|| {
                format!(
                    "could not write a generated token to {} (give one with STRACE_API_TOKEN or --token-file, or another file with --token-out)",
                    path.display()
                )
            })?;
            (token, Some(GeneratedToken { path }))
        }
    };
    Ok((Some(Access::tokens(operator, plan.read)), generated))
}

/// 32 random bytes, in hex.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    // SAFETY: writes at most bytes.len() bytes into bytes.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    anyhow::ensure!(n == bytes.len() as isize, "getrandom: {}", std::io::Error::last_os_error());
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `text` to a new file at `path` that only its owner can read, in a
/// directory only its owner can enter (created if missing).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    // A file left by an earlier run (or planted) is replaced, never reused.
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    std::io::Write::write_all(&mut f, format!("{text}\n").as_bytes())
}

/// Waits for SIGINT or SIGTERM, and names it.
async fn shutdown_signal() -> &'static str {
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_generated_token_is_private_and_goes_with_the_daemon() {
        let dir = std::env::temp_dir().join(format!("strace-api-tokens-{}", std::process::id()));
        let path = dir.join("sub").join("token");
        let plan = AuthPlan { operator: OperatorToken::Generate(path.clone()), read: Some("r".into()) };
        let (access, generated) = access(plan).unwrap();
        assert!(access.is_some());
        let token = std::fs::read_to_string(&path).unwrap();
        assert_eq!(token.trim().len(), 64, "{token:?}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        drop(generated);
        assert!(!path.exists(), "removed when the daemon ends");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}
