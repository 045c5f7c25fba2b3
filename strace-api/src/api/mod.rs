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
mod openapi;
mod processes;
mod render;
mod sse;
mod stream;
mod summary;
mod text;
mod view;
mod watch;

use std::sync::Arc;

pub use auth::Access;
use axum::{Router, extract::FromRef};
pub use error::ApiError;
pub use stream::{DEFAULT_MAX_STREAMS, StreamCounts, Streams};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::tracer::Tracer;

/// What the API's handlers share.
#[derive(Clone)]
pub struct AppState {
    tracer: Arc<Tracer>,
    streams: Arc<Streams>,
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

/// The API, behind `access` (no tokens when `None`; see `auth`).
pub fn router(tracer: Arc<Tracer>, access: Option<Access>) -> Router {
    router_with(tracer, access, Settings::default())
}

/// `router`, with the API's limits.
pub fn router_with(tracer: Arc<Tracer>, access: Option<Access>, settings: Settings) -> Router {
    let state = AppState { tracer, streams: Arc::new(Streams::new(settings.max_streams)) };
    let (api, _) = routes().split_for_parts();
    let api = api.fallback(error::not_found).method_not_allowed_fallback(error::method_not_allowed).with_state(state);
    let access = Arc::new(access.unwrap_or_else(Access::open));
    api.layer(axum::middleware::from_fn_with_state(access, auth::check))
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
        .routes(routes!(openapi::document))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_events;
