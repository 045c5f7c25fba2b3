//! Any request line and query the router can be handed: whatever the
//! answer, an error is JSON with an `error` field, and nothing panics.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::{Arc, OnceLock};

use axum::{body::Body, http::Request};
use libfuzzer_sys::fuzz_target;
use strace_api::tracer::Tracer;
use tower::ServiceExt as _;

static TRACER: OnceLock<Arc<Tracer>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (method, path) = match text.split_once(' ') {
        Some((m, p)) => (m, p),
        None => ("GET", text),
    };
    let tracer = TRACER.get_or_init(|| Arc::new(common::tracer().0)).clone();
    let Ok(req) = Request::builder().method(method).uri(path).body(Body::empty()) else { return };
    // Time paused: a request that waits for events (the legacy endpoint's
    // wait_ms) returns at once instead of after a second.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("a runtime");
    runtime.block_on(async {
        let resp = strace_api::api::router(tracer, None).oneshot(req).await.expect("the router always answers");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 24).await.expect("a body");
        if status.is_client_error() || status.is_server_error() {
            let json: serde_json::Value = serde_json::from_slice(&body).expect("an error is JSON");
            assert!(json["error"].is_string(), "{status}: {json}");
        }
    });
});
