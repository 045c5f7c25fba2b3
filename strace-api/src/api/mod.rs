//! The HTTP API. Every error is `{"error": "…"}` with a 4xx/5xx status.
//!
//! Every route is added with its OpenAPI description (`utoipa-axum`'s
//! `routes!`, from each handler's `#[utoipa::path]`), so the router and
//! `GET /openapi.json` cannot tell different stories; `openapi.rs`'s test
//! checks the rest (every documented operation answers, and the README
//! lists the same endpoints).
mod audit;
mod auth;
mod blocking;
mod error;
mod events;
mod extract;
mod filters;
mod health;
mod legacy;
mod metrics;
mod openapi;
mod processes;
mod render;
mod sse;
mod stream;
mod summary;
mod text;
pub(crate) mod view;
mod watch;

use std::sync::Arc;

pub use auth::Access;
use axum::{Router, extract::FromRef};
pub use error::ApiError;
pub use stream::{DEFAULT_MAX_STREAMS, StreamCounts, Streams};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    metrics::{Metrics, MetricsConfig},
    tracer::Tracer,
};

/// What the API's handlers share.
#[derive(Clone)]
pub struct AppState {
    tracer: Arc<Tracer>,
    streams: Arc<Streams>,
    metrics: Arc<Metrics>,
}

impl FromRef<AppState> for Arc<Tracer> {
    fn from_ref(s: &AppState) -> Arc<Tracer> {
        s.tracer.clone()
    }
}

impl FromRef<AppState> for Arc<Streams> {
    fn from_ref(s: &AppState) -> Arc<Streams> {
        s.streams.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(s: &AppState) -> Arc<Metrics> {
        s.metrics.clone()
    }
}

/// The API's own limits.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Event streams open at once (`--max-streams`).
    pub max_streams: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { max_streams: DEFAULT_MAX_STREAMS }
    }
}

/// The API, behind `access` (no tokens when `None`; see `auth`), with
/// default limits and metrics.
pub fn router(tracer: Arc<Tracer>, access: Option<Access>) -> Router {
    let metrics = Arc::new(Metrics::new(tracer.clone(), MetricsConfig::default()));
    router_with(tracer, access, Settings::default(), metrics)
}

/// The API with its limits; its `/metrics` shows `metrics`, which counts
/// every request answered.
pub fn router_with(tracer: Arc<Tracer>, access: Option<Access>, settings: Settings, metrics: Arc<Metrics>) -> Router {
    let state = AppState { tracer, streams: Arc::new(Streams::new(settings.max_streams)), metrics: metrics.clone() };
    let (api, _) = routes().split_for_parts();
    let api = api.fallback(error::not_found).method_not_allowed_fallback(error::method_not_allowed).with_state(state);
    guarded(api, access, metrics)
}

/// `/metrics` alone (`--metrics-listen`), behind the same tokens (a
/// read-only one is enough).
pub fn metrics_router(metrics: Arc<Metrics>, access: Option<Access>) -> Router {
    let (routes, _) = OpenApiRouter::<Arc<Metrics>>::new().routes(routes!(self::metrics::render)).split_for_parts();
    let routes = routes
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(metrics.clone());
    guarded(routes, access, metrics)
}

/// Behind `access`; every request answered is counted, refused ones too.
fn guarded(routes: Router, access: Option<Access>, metrics: Arc<Metrics>) -> Router {
    let access = Arc::new(access.unwrap_or_else(Access::open));
    routes
        .layer(axum::middleware::from_fn_with_state(access, auth::check))
        .layer(axum::middleware::from_fn_with_state(metrics, self::metrics::count))
}

/// Every route, each with its description: the only place routes are added.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(legacy::last_lines))
        .routes(routes!(watch::list))
        .routes(routes!(watch::start, watch::stop))
        .routes(routes!(processes::list))
        .routes(routes!(processes::detail))
        .routes(routes!(events::page))
        .routes(routes!(stream::stream))
        .routes(routes!(summary::summary))
        .routes(routes!(health::health))
        .routes(routes!(self::metrics::render))
        .routes(routes!(openapi::document))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_events;
