//! Start-up and shut-down: load the probe, start the drain and the HTTP
//! server, and on SIGINT/SIGTERM stop serving and detach.
use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    api,
    clock::Clock,
    config::Config,
    drain,
    export::{self, Outlet},
    metrics::{Metrics, MetricsConfig},
    probe::{Probe, Settings},
    recorder::{EVENT_BYTES, Limits},
    tracer::{self, Tracer, TracerConfig},
};

/// `after_load` runs once the probe is loaded, on this thread: loading parses
/// the kernel's BTF, ~50 MiB freed again at once, and it lets the binary
/// have its allocator return that memory to the system.
pub async fn run(config: Config, after_load: fn()) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let token = config.token().map_err(anyhow::Error::msg)?;
    let export = config.export_settings().map_err(anyhow::Error::msg)?;
    let settings = Settings {
        ring_bytes: config.ring_bytes,
        max_threads: config.max_threads,
        watch_all: config.watch_all,
        capture_bytes: config.capture_bytes,
        durations: config.durations,
        entry_hook: config.entry_hook,
    };
    let (probe, streams) = Probe::load(settings)?;
    after_load();
    let limits = Limits { per_process: config.events_per_pid, memory_bytes: config.memory_bytes() };
    let (tracer, exits) = Tracer::with_exits(
        Box::new(probe),
        TracerConfig {
            limits,
            clock: Clock::measure(),
            retention: Duration::from_secs(config.retain_exited_secs),
            durations: config.durations,
            ring_bytes: config.ring_bytes.into(),
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

    let drain = drain::DrainThread::spawn(streams.events, tracer.clone()).context("starting the drain thread")?;
    let log = streams.log.map(|l| tokio::spawn(drain::run_log(l)));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    tracing::info!(
        auth = if token.is_some() { "bearer token" } else { "none" },
        "listening on http://{}",
        listener.local_addr()?
    );
    let metrics_server = match config.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen on {addr} (--metrics-listen)"))?;
            tracing::info!("serving /metrics on http://{}", listener.local_addr()?);
            let app = api::metrics_router(metrics.clone(), token.clone());
            Some(tokio::spawn(async move { axum::serve(listener, app).await }))
        }
        None => None,
    };
    let stopping = {
        let tracer = tracer.clone();
        async move {
            tracing::info!("{}: shutting down", shutdown_signal().await);
            // Requests waiting for events answer now: the server waits for
            // every request to end.
            tracer.close();
            tokio::spawn(async {
                let signal = shutdown_signal().await;
                tracing::warn!("{signal} again: exiting now, without waiting for requests to end");
                std::process::exit(1);
            });
        }
    };
    axum::serve(listener, api::router_with_metrics(tracer.clone(), token, metrics))
        .with_graceful_shutdown(stopping)
        .await
        .context("HTTP server failed")?;

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
