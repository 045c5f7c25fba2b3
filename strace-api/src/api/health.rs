//! `GET /healthz`: liveness plus the global counters (nothing is lost silently).
use std::sync::Arc;

use axum::{Json, extract::State};
use serde::Serialize;

use crate::tracer::{Totals, Tracer};

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    #[serde(flatten)]
    totals: Totals,
}

pub async fn health(State(tracer): State<Arc<Tracer>>) -> Json<Health> {
    Json(Health { status: "ok", totals: tracer.totals() })
}
