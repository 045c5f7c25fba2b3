//! The HTTP API. Every error is `{"error": "…"}` with a 4xx/5xx status.
mod audit;
mod auth;
mod blocking;
mod error;
mod events;
mod extract;
mod health;
mod legacy;
mod page;
mod processes;
mod render;
mod view;
mod watch;

use std::sync::Arc;

pub use auth::Access;
use axum::{
    Router,
    routing::{get, put},
};
pub use error::ApiError;

use crate::tracer::Tracer;

/// The API, behind `access` (no tokens when `None`; see `auth`), and the
/// page, which needs none (`page`).
pub fn router(tracer: Arc<Tracer>, access: Option<Access>) -> Router {
    let access = Arc::new(access.unwrap_or_else(Access::open));
    routes(tracer).layer(axum::middleware::from_fn_with_state(access, auth::check)).merge(page::routes())
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
