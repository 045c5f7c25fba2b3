//! `GET /openapi.json`: the API described for machines (OpenAPI 3.1), built
//! from the handlers' own annotations as the router is (see `mod.rs`).
use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    error::ErrorBody,
    extract::{ApiQuery, NoQuery},
    stream::{EndView, GapView},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "strace-api",
        description = "An eBPF syscall observer: what a process's threads are doing, over HTTP. Every error is `{\"error\": \"…\"}`. With a token configured, every endpoint but /healthz needs `Authorization: Bearer <token>` (401 without). Unknown endpoints answer 404, a wrong method 405."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(ErrorBody, GapView, EndView)),
    tags(
        (name = "legacy", description = "The original strace-api endpoint"),
        (name = "watch", description = "What is watched"),
        (name = "processes", description = "The processes of the daemon's PID namespace"),
        (name = "events", description = "What a watched process did: pages, a live stream, a summary"),
        (name = "health", description = "Liveness and counters"),
        (name = "meta", description = "This description"),
    )
)]
pub struct ApiDoc;

/// The bearer token scheme (`--token`).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole description, as JSON (built once).
pub fn json() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| {
        let (_, doc) = super::routes().split_for_parts();
        doc.to_json().expect("the description serialises")
    });
    &DOC
}

/// This API's OpenAPI description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 description of every endpoint", content_type = "application/json", body = Object),
        (status = 400, description = "A query parameter (this endpoint takes none)", body = ErrorBody),
    )
)]
pub async fn document(_query: ApiQuery<NoQuery>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::{
        body::Body,
        http::{Method, Request, StatusCode},
    };
    use serde_json::Value;
    use tower::ServiceExt as _;

    use crate::tracer::testing;

    /// (method, path) of every operation the description has.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys().filter(|m| m.as_str() != "parameters") {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    /// Every documented operation is routed (the router answers it, not
    /// its fallbacks), and documents its errors.
    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        let t = std::sync::Arc::new(testing::tracer());
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        for (method, path) in documented() {
            let uri = path.replace("{pid}", "0").replace("{n}", "1");
            let req = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(&uri);
            let resp = super::super::router(t.clone(), None).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            let body = String::from_utf8_lossy(&body);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is documented, not routed");
            assert!(!body.contains("no such endpoint"), "{method} {path} is documented, not routed");
            let op = &doc["paths"][&path][method.to_lowercase()];
            assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object(), "{method} {path}");
            if path.contains("{pid}") {
                assert!(op["responses"]["400"].is_object(), "{method} {path} documents no 400");
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: pid 0");
            }
        }
    }

    #[tokio::test]
    async fn the_description_is_served() {
        let t = std::sync::Arc::new(testing::tracer());
        let get = |uri: &'static str| {
            super::super::router(t.clone(), None).oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        };
        let resp = get("/openapi.json").await.unwrap();
        assert_eq!(
            (resp.status(), resp.headers()["content-type"].to_str().unwrap()),
            (StatusCode::OK, "application/json")
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let stream = &doc["paths"]["/v1/processes/{pid}/events/stream"]["get"];
        let params: Vec<&str> =
            stream["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for p in ["pid", "Last-Event-ID", "after", "syscall", "class", "failed", "min_duration_us", "tid", "format"] {
            assert!(params.contains(&p), "{p} in {params:?}");
        }
        assert!(stream["responses"]["503"].is_object());
        assert!(doc["components"]["schemas"]["GapView"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert_eq!(get("/openapi.json?x=1").await.unwrap().status(), StatusCode::BAD_REQUEST);
    }

    /// The description and the README's endpoint table list the same
    /// endpoints; with the router built from the description's routes
    /// (`routes!` only), neither has one the router lacks or the other way round.
    #[test]
    fn the_readme_and_the_description_list_the_same_endpoints() {
        let readme = include_str!("../../../README.md");
        let mut listed = BTreeSet::new();
        for line in readme.lines().filter(|l| l.starts_with("| `")) {
            let cell = line.trim_start_matches("| `").split('`').next().unwrap();
            let Some((methods, path)) = cell.split_once(' ') else { continue };
            let path = path.split('?').next().unwrap().to_string();
            for m in methods.split('/') {
                listed.insert((m.to_string(), path.clone()));
            }
        }
        assert_eq!(listed, documented(), "README's endpoint table (left) against /openapi.json (right)");
        let source = include_str!("mod.rs");
        assert!(!source.contains(".route("), "routes are added with routes!, with their description");
    }
}
