//! The HTTP API. Every error is `{"error": "…"}` with a 4xx/5xx status.
mod audit;
mod auth;
mod blocking;
mod error;
mod events;
mod extract;
mod health;
mod legacy;
mod metrics;
mod processes;
mod render;
pub(crate) mod view;
mod watch;

use std::sync::Arc;

pub use auth::Access;
use axum::{
    Router,
    routing::{get, put},
};
pub use error::ApiError;

use crate::{
    metrics::{Metrics, MetricsConfig},
    tracer::Tracer,
};

/// The API, behind `access` (no tokens when `None`; see `auth`).
pub fn router(tracer: Arc<Tracer>, access: Option<Access>) -> Router {
    let metrics = Arc::new(Metrics::new(tracer.clone(), MetricsConfig::default()));
    router_with_metrics(tracer, access, metrics)
}

/// The API, its `/metrics` showing `metrics` (which counts every request).
pub fn router_with_metrics(tracer: Arc<Tracer>, access: Option<Access>, metrics: Arc<Metrics>) -> Router {
    guarded(routes(tracer).merge(metrics_routes(metrics.clone())), access, metrics)
}

/// `/metrics` alone (`--metrics-listen`), behind the same tokens (a
/// read-only one is enough).
pub fn metrics_router(metrics: Arc<Metrics>, access: Option<Access>) -> Router {
    let routes = metrics_routes(metrics.clone())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed);
    guarded(routes, access, metrics)
}

/// Behind `access`; every request answered is counted, refused ones too.
fn guarded(routes: Router, access: Option<Access>, metrics: Arc<Metrics>) -> Router {
    let access = Arc::new(access.unwrap_or_else(Access::open));
    routes
        .layer(axum::middleware::from_fn_with_state(access, auth::check))
        .layer(axum::middleware::from_fn_with_state(metrics, self::metrics::count))
}

fn metrics_routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(self::metrics::render)).with_state(metrics)
}

fn routes(tracer: Arc<Tracer>) -> Router {
    Router::new()
        .route("/strace/{pid}/{n}", get(legacy::last_lines))
        .route("/v1/watch", get(watch::list))
        .route("/v1/watch/{pid}", put(watch::start).delete(watch::stop))
        .route("/v1/processes", get(processes::list))
        .route("/v1/processes/{pid}", get(processes::detail))
        .route("/v1/processes/{pid}/events", get(events::page))
        .route("/healthz", get(health::health))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(tracer)
}

#[cfg(test)]
mod tests;
