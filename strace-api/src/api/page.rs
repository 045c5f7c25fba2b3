//! `GET /` and `GET /ui/{file}`: the page for a person in an incident
//! (issue #24). Plain HTML, CSS and JavaScript modules under `page/`,
//! embedded in the binary: no build step, and nothing fetched from anywhere
//! but this daemon (the `Content-Security-Policy` forbids it).
//!
//! The page holds no data, so it is served without a token: `mod.rs` merges
//! this router in beside the API's, after the auth layer (and before the
//! metrics' count). It is not the API, so it is not in `/openapi.json`. Everything the page fetches is the
//! API, with `Authorization: Bearer` (asked for once, kept in the tab's
//! sessionStorage).
use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::error;

/// A file of the page.
struct File {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! page_file {
    ($name:literal, $type:expr) => {
        File { name: $name, content_type: $type, body: include_bytes!(concat!("page/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// `/`, then the files under `/ui/`.
const FILES: &[File] = &[
    page_file!("index.html", "text/html; charset=utf-8"),
    page_file!("style.css", "text/css; charset=utf-8"),
    page_file!("app.js", JS),
    page_file!("api.js", JS),
    page_file!("health.js", JS),
    page_file!("live.js", JS),
    page_file!("processes.js", JS),
    page_file!("source.js", JS),
    page_file!("summary.js", JS),
    page_file!("util.js", JS),
    page_file!("icon.svg", "image/svg+xml"),
];

/// Nothing but this daemon: scripts, styles, images, the worker and every
/// request the page makes come from its origin; no inline script or style,
/// no frames, no plugins, no forms sent anywhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Each file's `ETag`: a hash of its bytes, so a browser revalidates and an
/// upgraded daemon's page is loaded at once, while an unchanged one is a 304.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|f| HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(f.body))).expect("hex digits in quotes"))
        .collect()
});

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The page's routes; they need no state.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index).fallback(error::method_not_allowed))
        .route("/ui/{file}", get(file).fallback(error::method_not_allowed))
}

async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

async fn file(path: Result<Path<String>, axum::extract::rejection::PathRejection>, headers: HeaderMap) -> Response {
    let found = path.ok().and_then(|Path(name)| FILES.iter().skip(1).position(|f| f.name == name));
    match found {
        Some(i) => serve(i + 1, &headers),
        None => error::not_found().await.into_response(),
    }
}

fn serve(i: usize, request: &HeaderMap) -> Response {
    let f = &FILES[i];
    let etag = &ETAGS[i];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag));
    let mut resp = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { f.body.into_response() };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(f.content_type));
    h.insert(header::ETAG, etag.clone());
    // Revalidate every time (a 304 when unchanged): the page always matches its daemon.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if fresh {
        h.remove(header::CONTENT_LENGTH);
    }
    resp
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    async fn get(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = router().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        (parts.status, parts.headers, axum::body::to_bytes(body, 1 << 22).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn the_page_and_its_files_are_served_with_their_types_and_policy() {
        let (status, headers, body) = get("/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
        assert_eq!(headers["cache-control"], "no-cache");
        assert!(String::from_utf8(body).unwrap().contains("<script type=\"module\" src=\"/ui/app.js\">"));
        for f in &FILES[1..] {
            let (status, headers, body) = get(&format!("/ui/{}", f.name), &[]).await;
            assert_eq!((status, &headers["content-type"]), (StatusCode::OK, &HeaderValue::from_static(f.content_type)));
            assert_eq!(body, f.body, "{}", f.name);
        }
        for missing in ["/ui/nope.js", "/ui/index.html", "/ui/..%2fpage.rs"] {
            let (status, headers, _) = get(missing, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
            assert_eq!(headers["content-type"], "application/json", "{missing}");
        }
    }

    #[tokio::test]
    async fn an_unchanged_file_is_a_304() {
        let (_, headers, _) = get("/ui/app.js", &[]).await;
        let etag = headers["etag"].to_str().unwrap().to_string();
        let (status, headers, body) = get("/ui/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));
        assert_eq!(headers["etag"], etag.as_str());
        let (status, _, _) = get("/ui/app.js", &[("if-none-match", "\"0000000000000000\"")]).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// Behind tokens, the page still loads (it holds no data), and the API
    /// it calls still needs one; an unknown path is still a 401 without one.
    #[tokio::test]
    async fn the_page_needs_no_token_and_the_api_still_does() {
        let tracer = std::sync::Arc::new(crate::tracer::testing::tracer());
        let app = super::super::router(tracer, Some(super::super::Access::tokens("op".into(), None)));
        for (uri, status) in [
            ("/", StatusCode::OK),
            ("/ui/app.js", StatusCode::OK),
            ("/ui/nope.js", StatusCode::NOT_FOUND),
            ("/v1/processes", StatusCode::UNAUTHORIZED),
            ("/openapi.json", StatusCode::UNAUTHORIZED),
            ("/nowhere", StatusCode::UNAUTHORIZED),
        ] {
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            assert_eq!(app.clone().oneshot(req).await.unwrap().status(), status, "{uri}");
        }
    }

    /// The page's requests are counted in `/metrics` as the API's are, by
    /// their route's pattern (two routes, however many files).
    #[tokio::test]
    async fn the_page_s_requests_are_counted() {
        let tracer = std::sync::Arc::new(crate::tracer::testing::tracer());
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new(tracer.clone(), Default::default()));
        let app = super::super::router_with(tracer, None, Default::default(), metrics.clone());
        for uri in ["/", "/ui/app.js", "/ui/style.css", "/ui/nope.js"] {
            app.clone().oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
        }
        let text = metrics.render();
        let count = |labels: &str| {
            let prefix = format!("strace_http_requests_total{{{labels}}} ");
            text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map(str::to_owned)
        };
        assert_eq!(count("route=\"/\",status=\"200\"").as_deref(), Some("1"), "{text}");
        assert_eq!(count("route=\"/ui/{file}\",status=\"200\"").as_deref(), Some("2"), "{text}");
        assert_eq!(count("route=\"/ui/{file}\",status=\"404\"").as_deref(), Some("1"), "{text}");
    }

    /// Every module the page imports is one the daemon serves: a file added
    /// under `page/` without its line in FILES would be a 404 in the browser.
    #[test]
    fn every_import_and_reference_is_served() {
        let served: Vec<&str> = FILES.iter().map(|f| f.name).collect();
        for f in FILES {
            let text = std::str::from_utf8(f.body).unwrap();
            for quote in ['\'', '"'] {
                for piece in text.split(quote).skip(1).step_by(2) {
                    let name = piece.strip_prefix("./").or_else(|| piece.strip_prefix("/ui/"));
                    if let Some(name) =
                        name.filter(|n| n.ends_with(".js") || n.ends_with(".css") || n.ends_with(".svg"))
                    {
                        assert!(served.contains(&name), "{} refers to {piece}, which is not served", f.name);
                    }
                }
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/page");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(served.contains(&name.as_str()), "page/{name} is not in FILES");
        }
    }
}
