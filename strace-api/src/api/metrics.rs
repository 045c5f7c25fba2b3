//! `GET /metrics`: the Prometheus text format (see `crate::metrics`), and
//! the count of every request answered, by route and status.
use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::ApiError;
use crate::metrics::{CONTENT_TYPE, Metrics};

/// The daemon's and the watched processes' metrics, for Prometheus.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "The Prometheus text format (a read-only token is enough)", content_type = "application/openmetrics-text", body = String),
    )
)]
pub async fn render(State(metrics): State<Arc<Metrics>>) -> Result<Response, ApiError> {
    // Thousands of series take milliseconds to write: off the async workers.
    let text = tokio::task::spawn_blocking(move || metrics.render())
        .await
        .map_err(|e| ApiError::internal(format!("rendering the metrics failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Counts each request by its route's pattern (`unmatched` for none) and status.
pub async fn count(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let resp = next.run(req).await;
    metrics.count_request(route.as_deref().unwrap_or("unmatched"), resp.status().as_u16());
    resp
}
