//! The HTTP API. Every error is `{"error": "…"}` with a 4xx/5xx status.
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

use axum::{
    Router,
    routing::{get, put},
};
pub use error::ApiError;

use crate::{
    metrics::{Metrics, MetricsConfig},
    tracer::Tracer,
};

/// The API; with `token`, every endpoint but /healthz requires it.
pub fn router(tracer: Arc<Tracer>, token: Option<String>) -> Router {
    let metrics = Arc::new(Metrics::new(tracer.clone(), MetricsConfig::default()));
    router_with_metrics(tracer, token, metrics)
}

/// The API, its `/metrics` showing `metrics` (which counts its requests).
pub fn router_with_metrics(tracer: Arc<Tracer>, token: Option<String>, metrics: Arc<Metrics>) -> Router {
    guarded(routes(tracer).merge(metrics_routes(metrics.clone())), token, metrics)
}

/// `/metrics` alone (`--metrics-listen`), under the same token rule.
pub fn metrics_router(metrics: Arc<Metrics>, token: Option<String>) -> Router {
    let routes = metrics_routes(metrics.clone())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed);
    guarded(routes, token, metrics)
}

/// With `token`, every endpoint but /healthz requires it; every request is counted.
fn guarded(routes: Router, token: Option<String>, metrics: Arc<Metrics>) -> Router {
    let routes = match token {
        Some(t) => routes.layer(axum::middleware::from_fn_with_state(Arc::<str>::from(t), auth::require_token)),
        None => routes,
    };
    routes.layer(axum::middleware::from_fn_with_state(metrics, self::metrics::count))
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
