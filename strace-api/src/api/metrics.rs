//! `GET /metrics`: the Prometheus text format (see `crate::metrics`), and
//! the count of every request answered, by route and status.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use bytes::Bytes;

use super::{ApiError, blocking::off_the_workers};
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
    // One render at a time, and one a FRESH_FOR at most: the others wait
    // for it and share its text.
    let mut last = metrics.last.lock().await;
    let text = match &*last {
        Some((at, text)) if at.elapsed() < FRESH_FOR => text.clone(),
        _ => {
            // Thousands of series take milliseconds to write: off the async workers.
            let m = metrics.clone();
            let text = Bytes::from(off_the_workers("rendering the metrics", move || m.render()).await?);
            *last = Some((Instant::now(), text.clone()));
            text
        }
    };
    drop(last);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// A scrape within this long of the last render gets that render's text.
/// A render copies every process's counters (tens of MB with thousands of
/// processes kept) and writes megabytes of text: clients polling faster
/// than this, together, cost one render a second (a scraper's interval is
/// 10-60 s).
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Counts each request by its route's pattern (`unmatched` for none) and status.
pub async fn count(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let resp = next.run(req).await;
    metrics.count_request(route.as_deref().unwrap_or("unmatched"), resp.status().as_u16());
    resp
}
