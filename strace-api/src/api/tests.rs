//! The API against an in-memory kernel: routing, validation and error bodies.
use std::sync::Arc;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::Value;
use strace_common::{RecordKind, SyscallRecord};
use tower::ServiceExt as _;

use super::{Access, router};
use crate::{
    kernel::fake::FakeKernel,
    tracer::{Tracer, TracerConfig, testing},
};

pub(super) async fn call(tracer: &Arc<Tracer>, method: Method, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    let resp = router(tracer.clone(), None).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub(super) async fn get(t: &Arc<Tracer>, uri: &str) -> (StatusCode, Value) {
    call(t, Method::GET, uri).await
}

pub(super) fn assert_error(resp: (StatusCode, Value), status: StatusCode, words: &str) {
    assert_eq!(resp.0, status, "{}", resp.1);
    let msg = resp.1["error"].as_str().unwrap_or_else(|| panic!("no error field in {}", resp.1));
    assert!(msg.contains(words), "{msg:?} lacks {words:?}");
}

pub(super) fn feed(t: &Tracer, pid: u32, nrs: &[(i32, i64)]) {
    let mut batch = t.ingest();
    for &(nr, ret) in nrs {
        let r = SyscallRecord {
            kind: RecordKind::Syscall as u16,
            pid,
            tid: pid,
            nr,
            ret,
            exit_ns: 10,
            ..Default::default()
        };
        batch.record(r.as_bytes());
    }
}

/// A live process other than this one (which cannot be watched): our parent.
pub(super) fn me() -> u32 {
    std::os::unix::process::parent_id()
}

#[tokio::test]
async fn legacy_validates_pid_and_n() {
    let t = Arc::new(testing::tracer());
    for uri in ["/strace/0/10", "/strace/-1/10", "/strace/abc/10", "/strace/1.5/10", "/strace/99999999999/10"] {
        assert_error(get(&t, uri).await, StatusCode::BAD_REQUEST, "pid must be a positive integer");
    }
    let p = me();
    for n in ["0", "10001", "-3", "ten"] {
        assert_error(get(&t, &format!("/strace/{p}/{n}")).await, StatusCode::BAD_REQUEST, "n must be");
    }
    assert_error(get(&t, &format!("/strace/{p}/5?wait_ms=30001")).await, StatusCode::BAD_REQUEST, "wait_ms");
    assert_error(
        get(&t, &format!("/strace/{p}/5?wait_ms=-1")).await,
        StatusCode::BAD_REQUEST,
        "wait_ms must be a non-negative integer",
    );
    assert_error(get(&t, &format!("/strace/{p}/5?bogus=1")).await, StatusCode::BAD_REQUEST, "bogus");
    assert_error(get(&t, "/v1/watch?bogus=1").await, StatusCode::BAD_REQUEST, "bogus");
    assert_error(get(&t, &format!("/strace/{}/5", i32::MAX)).await, StatusCode::NOT_FOUND, "no process");
}

#[tokio::test]
async fn legacy_watches_and_returns_the_last_lines_oldest_first() {
    let t = Arc::new(testing::tracer());
    let p = me();
    let (status, body) = get(&t, &format!("/strace/{p}/2?wait_ms=0")).await;
    assert_eq!((status, body), (StatusCode::OK, serde_json::json!([])), "starts watching, nothing yet");
    let getppid = syscalls::Sysno::getppid.id();
    feed(&t, p, &[(getppid, 1), (getppid, 2), (getppid, 3)]);
    let (status, body) = get(&t, &format!("/strace/{p}/2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!([{"data": "getppid() = 2"}, {"data": "getppid() = 3"}]));
}

/// The grace period of `watch_changes_leave_the_workers_free`: counts
/// itself as begun, waits until the test opens the gate (or 3 s, so a
/// failing test ends), then counts itself as passed.
static GATE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static GATE_OPENED: std::sync::Condvar = std::sync::Condvar::new();
static GRACE_PERIODS_BEGUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static GRACE_PERIODS_PASSED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn gated_grace_period() {
    GRACE_PERIODS_BEGUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let open = GATE.lock().unwrap();
    let _ = GATE_OPENED.wait_timeout_while(open, std::time::Duration::from_secs(3), |open| !*open).unwrap();
    GRACE_PERIODS_PASSED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// On a single async worker, requests that start a watch (which waits for a
/// grace period) leave the worker free: /healthz answers while both wait.
#[tokio::test(flavor = "current_thread")]
async fn watch_changes_leave_the_workers_free() {
    let kernel = FakeKernel { grace_period: Some(gated_grace_period), ..Default::default() };
    let t = Arc::new(testing::with_kernel(kernel));
    let p = me();
    let legacy = tokio::spawn({
        let t = t.clone();
        async move { get(&t, &format!("/strace/{p}/1?wait_ms=0")).await }
    });
    let watch = tokio::spawn({
        let t = t.clone();
        async move { call(&t, Method::PUT, &format!("/v1/watch/{p}?children=false")).await }
    });
    // Until a grace period has begun: on the blocking pool, or inline on
    // this worker (the old handler), in which case it has passed by the time
    // this task runs again.
    let begun = std::time::Instant::now();
    while GRACE_PERIODS_BEGUN.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(begun.elapsed() < std::time::Duration::from_secs(5), "no watch change began");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let (s, _) = get(&t, "/healthz").await;
    let passed = GRACE_PERIODS_PASSED.load(std::sync::atomic::Ordering::SeqCst);
    *GATE.lock().unwrap() = true;
    GATE_OPENED.notify_all();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(passed, 0, "/healthz waited for a watch change's grace period");
    assert_eq!(legacy.await.unwrap().0, StatusCode::OK);
    assert!(watch.await.unwrap().0.is_success());
    assert!(GRACE_PERIODS_PASSED.load(std::sync::atomic::Ordering::SeqCst) >= 1, "a watch change waited for one");
}

/// Durations asked of a daemon that does not time calls: an error, not
/// lines without them.
#[tokio::test]
async fn durations_need_a_daemon_that_times_calls() {
    let config = TracerConfig { durations: false, ..testing::config(100, 1 << 20) };
    let t = Arc::new(Tracer::new(Box::new(FakeKernel::default()), config));
    let p = me();
    t.watch(p, false).unwrap();
    for uri in [format!("/v1/processes/{p}/events?durations=true"), format!("/strace/{p}/1?durations=true&wait_ms=0")] {
        assert_error(get(&t, &uri).await, StatusCode::BAD_REQUEST, "--durations false");
    }
    assert_eq!(get(&t, &format!("/v1/processes/{p}/events?durations=false")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn watch_lifecycle() {
    let t = Arc::new(testing::tracer());
    let p = me();
    let (s, body) = call(&t, Method::PUT, &format!("/v1/watch/{p}")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["pid"], p);
    assert_eq!(call(&t, Method::PUT, &format!("/v1/watch/{p}")).await.0, StatusCode::OK, "idempotent");
    feed(&t, p, &[(0, 0)]);
    let (s, list) = get(&t, "/v1/watch").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["pid"], p);
    assert_eq!(
        (list[0]["seen"].as_u64(), list[0]["retained"].as_u64(), list[0]["dropped"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    let (s, end) = call(&t, Method::DELETE, &format!("/v1/watch/{p}")).await;
    assert_eq!((s, end["seen"].as_u64()), (StatusCode::OK, Some(1)));
    assert_error(call(&t, Method::DELETE, &format!("/v1/watch/{p}")).await, StatusCode::NOT_FOUND, "not watched");
    assert_eq!(get(&t, "/v1/watch").await.1, serde_json::json!([]));
}

#[tokio::test]
async fn watch_validates_pids() {
    let t = Arc::new(testing::tracer());
    for m in [Method::PUT, Method::DELETE] {
        assert_error(call(&t, m.clone(), "/v1/watch/0").await, StatusCode::BAD_REQUEST, "positive integer");
        assert_error(call(&t, m.clone(), "/v1/watch/x").await, StatusCode::BAD_REQUEST, "positive integer");
    }
    assert_error(call(&t, Method::PUT, &format!("/v1/watch/{}", i32::MAX)).await, StatusCode::NOT_FOUND, "no process");
    assert_error(call(&t, Method::POST, "/v1/watch/1").await, StatusCode::METHOD_NOT_ALLOWED, "method");
}

#[tokio::test]
async fn events_cursor_and_validation() {
    let t = Arc::new(testing::tracer());
    let p = me();
    assert_error(get(&t, &format!("/v1/processes/{p}/events")).await, StatusCode::NOT_FOUND, "not watched");
    t.watch(p, true).unwrap();
    let openat = syscalls::Sysno::openat.id();
    feed(&t, p, &[(openat, -2), (openat, 3), (openat, 4)]);
    let (s, page) = get(&t, &format!("/v1/processes/{p}/events?after=1&limit=1")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(
        (page["pid"].as_u64(), page["dropped"].as_u64(), page["last_seq"].as_u64()),
        (Some(p as u64), Some(0), Some(3))
    );
    let ev = &page["events"][0];
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!((ev["seq"].as_u64(), ev["syscall"].as_str(), ev["ret"].as_i64()), (Some(2), Some("openat"), Some(3)));
    assert_eq!(ev["args"].as_array().unwrap().len(), 4);
    for key in ["ts", "pid", "tid", "nr", "errno", "duration_ns", "text"] {
        assert!(ev.get(key).is_some(), "missing {key} in {ev}");
    }
    let (_, first) = get(&t, &format!("/v1/processes/{p}/events")).await;
    assert_eq!(first["events"][0]["errno"], "ENOENT");
    assert_eq!(first["events"][0]["text"], "openat(0, NULL, O_RDONLY) = -1 ENOENT (No such file or directory)");
    let (_, none) = get(&t, &format!("/v1/processes/{p}/events?after=3")).await;
    assert_eq!(none["events"], serde_json::json!([]));
    for q in ["limit=0", "limit=10001", "after=-1", "after=x", "since=3"] {
        assert_eq!(get(&t, &format!("/v1/processes/{p}/events?{q}")).await.0, StatusCode::BAD_REQUEST, "{q}");
    }
    assert_error(get(&t, "/v1/processes/0/events").await, StatusCode::BAD_REQUEST, "positive integer");
}

/// A page bigger than `render::INLINE_MAX` is built on the blocking pool:
/// the same JSON, in the same order, as the small pages built inline.
#[tokio::test]
async fn big_pages_are_the_same_json() {
    let t = Arc::new(testing::with_history(1000));
    let p = me();
    t.watch(p, true).unwrap();
    let n = super::render::INLINE_MAX as i64 * 2 + 3;
    let getppid = syscalls::Sysno::getppid.id();
    feed(&t, p, &(0..n).map(|i| (getppid, i)).collect::<Vec<_>>());
    let (s, page) = get(&t, &format!("/v1/processes/{p}/events?limit={n}")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), n as usize);
    assert!(events.iter().enumerate().all(|(i, e)| e["seq"] == i as u64 + 1 && e["ret"] == i as i64));
    let inline = super::render::INLINE_MAX;
    let mut small = vec![];
    while small.len() < n as usize {
        let (_, part) = get(&t, &format!("/v1/processes/{p}/events?after={}&limit={inline}", small.len())).await;
        small.extend(part["events"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(&small, events, "built inline and on the blocking pool alike");
    let (s, lines) = get(&t, &format!("/strace/{p}/{n}?wait_ms=0")).await;
    assert_eq!(s, StatusCode::OK, "{lines}");
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), n as usize);
    assert_eq!(lines.last().unwrap()["data"], format!("getppid() = {}", n - 1));
}

#[tokio::test]
async fn watch_options_and_self() {
    let t = Arc::new(testing::tracer());
    let p = me();
    let (s, body) = call(&t, Method::PUT, &format!("/v1/watch/{p}?children=false")).await;
    assert_eq!((s, &body["children"]), (StatusCode::CREATED, &serde_json::json!(false)));
    assert_error(
        call(&t, Method::PUT, &format!("/v1/watch/{p}?children=maybe")).await,
        StatusCode::BAD_REQUEST,
        "children",
    );
    assert_eq!(body["fd_paths"], false, "the daemon's default (off)");
    let (s, body) = call(&t, Method::PUT, &format!("/v1/watch/{p}?children=false&fd_paths=true")).await;
    assert_eq!((s, &body["fd_paths"]), (StatusCode::OK, &serde_json::json!(true)), "turned on for the watch");
    assert_error(
        call(&t, Method::PUT, &format!("/v1/watch/{p}?fd_paths=perhaps")).await,
        StatusCode::BAD_REQUEST,
        "fd_paths",
    );
    let (_, body) = call(&t, Method::PUT, &format!("/v1/watch/{p}?children=false&fd_paths=false")).await;
    assert_eq!(body["fd_paths"], false, "and off");
    let own = std::process::id();
    assert_error(
        call(&t, Method::PUT, &format!("/v1/watch/{own}")).await,
        StatusCode::BAD_REQUEST,
        "strace-api itself",
    );
}

#[tokio::test]
async fn processes_are_listed_with_their_watch_state() {
    let t = Arc::new(testing::tracer());
    let p = me();
    t.watch(p, true).unwrap();
    let (s, list) = get(&t, "/v1/processes").await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    let parent = list.iter().find(|x| x["pid"] == p).expect("our parent is listed");
    assert_eq!((parent["watched"].as_bool(), parent["alive"].as_bool()), (Some(true), Some(true)));
    for key in ["ppid", "comm", "cmdline", "uid", "state", "started", "threads"] {
        assert!(parent.get(key).is_some(), "missing {key} in {parent}");
    }
    assert!(list.iter().all(|x| x["pid"] != std::process::id()), "the daemon hides itself");
    let (s, one) = get(&t, &format!("/v1/processes/{p}")).await;
    assert_eq!(s, StatusCode::OK);
    let tasks = one["tasks"].as_array().unwrap();
    assert!(!tasks.is_empty());
    assert_eq!(one["threads"].as_u64(), Some(tasks.len() as u64), "the count beside the list: {one}");
    assert!(one["children"].as_array().unwrap().iter().any(|c| c == std::process::id()));
    assert_error(get(&t, &format!("/v1/processes/{}", i32::MAX)).await, StatusCode::NOT_FOUND, "no process");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
        let _ = done_rx.recv();
    });
    let me = std::process::id();
    assert_error(get(&t, &format!("/v1/processes/{me}")).await, StatusCode::NOT_FOUND, "strace-api itself");
    let tid = tid_rx.recv().unwrap();
    let thread_of = format!("{tid} is a thread of process {}", std::process::id());
    assert_error(get(&t, &format!("/v1/processes/{tid}")).await, StatusCode::NOT_FOUND, &thread_of);
    done_tx.send(()).unwrap();
    thread.join().unwrap();
    assert_error(get(&t, "/v1/processes/x").await, StatusCode::BAD_REQUEST, "positive integer");
    assert_error(get(&t, "/v1/processes?all=1").await, StatusCode::BAD_REQUEST, "all");
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let t = Arc::new(testing::tracer());
    let (s, h) = get(&t, "/healthz").await;
    assert_eq!((s, h["status"].as_str()), (StatusCode::OK, Some("ok")));
    for key in ["watched", "late", "malformed", "kernel", "memory_bytes"] {
        assert!(h.get(key).is_some(), "missing {key} in {h}");
    }
    assert_error(get(&t, "/nope").await, StatusCode::NOT_FOUND, "no such endpoint");
    assert_error(get(&t, "/strace/1").await, StatusCode::NOT_FOUND, "no such endpoint");
}

#[tokio::test]
async fn a_token_guards_everything_but_health() {
    let t = Arc::new(testing::tracer());
    let app = || router(t.clone(), Some(Access::tokens("s3cret".into(), Some("r34d".into()))));
    let send = |auth: Option<&'static str>, uri: &'static str| {
        let mut req = Request::builder().uri(uri);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        app().oneshot(req.body(Body::empty()).unwrap())
    };
    assert_eq!(send(None, "/healthz").await.unwrap().status(), StatusCode::OK);
    let denied = send(None, "/v1/watch").await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    let body = axum::body::to_bytes(denied.into_body(), 1 << 16).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("Authorization: Bearer"));
    assert_eq!(send(Some("Bearer wrong"), "/v1/watch").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(Some("Basic s3cret"), "/v1/watch").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(Some("Bearer s3cret"), "/v1/watch").await.unwrap().status(), StatusCode::OK);
    assert_eq!(send(Some("bearer  s3cret"), "/v1/watch").await.unwrap().status(), StatusCode::OK, "any case");
    assert_eq!(send(Some("bearer\ts3cret"), "/v1/watch").await.unwrap().status(), StatusCode::OK, "a tab");
    assert_eq!(send(Some("Bearer"), "/v1/watch").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(send(Some("Bearer s3cret"), "/nope").await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// Every route against bad input: each answer has the documented status and
/// a JSON `{"error": …}` body. (Transport-level abuse — oversized heads and
/// bodies, slow clients — is the server's, tested against the real daemon.)
#[tokio::test]
async fn every_route_refuses_bad_input_with_a_json_error() {
    let t = Arc::new(testing::tracer());
    let p = me();
    t.watch(p, false).unwrap();
    let bad_pids = [
        "abc",
        "-1",
        "+1",
        "0",
        "1.5",
        "0x10",
        "99999999999999999999999",
        "2147483648",
        "%E2%91%A0",
        "%20",
        "..%2F..%2Fetc%2Fpasswd",
        "1%00",
        "1,2",
    ];
    // (method, route with {} for the pid)
    let routes = [
        (Method::GET, "/strace/{}/10?wait_ms=0"),
        (Method::PUT, "/v1/watch/{}"),
        (Method::DELETE, "/v1/watch/{}"),
        (Method::GET, "/v1/processes/{}"),
        (Method::GET, "/v1/processes/{}/events"),
        (Method::GET, "/v1/processes/{}/events/stream"),
        (Method::GET, "/v1/processes/{}/summary"),
    ];
    let mut cases: Vec<(Method, String, StatusCode)> = vec![];
    for (method, route) in &routes {
        for bad in bad_pids {
            cases.push((method.clone(), route.replace("{}", bad), StatusCode::BAD_REQUEST));
        }
        let good = route.replace("{}", &p.to_string());
        let join = if good.contains('?') { '&' } else { '?' };
        // Unknown and repeated parameters.
        cases.push((method.clone(), format!("{good}{join}bogus=1"), StatusCode::BAD_REQUEST));
        cases.push((method.clone(), format!("{good}{join}%E2%91%A0=1"), StatusCode::BAD_REQUEST));
        // An empty pid: a malformed one in the middle of a path; at its end,
        // another route (none).
        let empty = if route.ends_with("{}") { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
        cases.push((method.clone(), route.replace("{}", ""), empty));
    }
    let events = format!("/v1/processes/{p}/events");
    for q in ["limit=0", "limit=10001", "limit=+5", "limit=-1", "limit=", "limit=x", "limit=1&limit=2", "after=-1"] {
        cases.push((Method::GET, format!("{events}?{q}"), StatusCode::BAD_REQUEST));
    }
    for q in ["wait_ms=30001", "wait_ms=+1", "durations=maybe", "wait_ms=1&wait_ms=1"] {
        cases.push((Method::GET, format!("/strace/{p}/1?{q}"), StatusCode::BAD_REQUEST));
    }
    for n in ["0", "10001", "+5", "-5", "x", "%E2%91%A0"] {
        cases.push((Method::GET, format!("/strace/{p}/{n}?wait_ms=0"), StatusCode::BAD_REQUEST));
    }
    for q in ["children=maybe", "children=", "children=1&children=1"] {
        cases.push((Method::PUT, format!("/v1/watch/{p}?{q}"), StatusCode::BAD_REQUEST));
    }
    for q in ["min_duration_us=+5", "syscall=nosuchcall", "class=%nosuchclass", "failed=maybe", "tid=x", "format=xml"] {
        cases.push((Method::GET, format!("{events}?{q}"), StatusCode::BAD_REQUEST));
        cases.push((Method::GET, format!("/v1/processes/{p}/events/stream?{q}"), StatusCode::BAD_REQUEST));
    }
    for q in ["since=yesterday", "latency=maybe", "min_duration_us=-1"] {
        cases.push((Method::GET, format!("/v1/processes/{p}/summary?{q}"), StatusCode::BAD_REQUEST));
    }
    cases.push((Method::GET, format!("/v1/processes/{p}/events/stream?after=x"), StatusCode::BAD_REQUEST));
    cases.push((Method::PUT, format!("/v1/watch/{p}?syscalls=nosuchcall"), StatusCode::BAD_REQUEST));
    for uri in ["/v1/watch?x=1", "/v1/processes?x=1", "/v1/watch?limit=+1", "/openapi.json?x=1"] {
        cases.push((Method::GET, uri.to_string(), StatusCode::BAD_REQUEST));
    }
    // Wrong methods, and routes that do not exist.
    for (method, uri) in [
        (Method::POST, "/v1/watch"),
        (Method::DELETE, "/v1/processes"),
        (Method::POST, "/healthz"),
        (Method::PATCH, "/v1/watch/1"),
        (Method::PUT, "/strace/1/1"),
        (Method::POST, "/"),
        (Method::DELETE, "/ui/app.js"),
    ] {
        cases.push((method, uri.to_string(), StatusCode::METHOD_NOT_ALLOWED));
    }
    for uri in [
        "/ui/",
        "/ui/nope.js",
        "/index.html",
        "/v2/watch",
        "/strace",
        "/strace/1/2/3",
        "/v1/processes/1/events/x",
        "/%2e%2e/etc/passwd",
    ] {
        cases.push((Method::GET, uri.to_string(), StatusCode::NOT_FOUND));
    }
    let mut wrong = vec![];
    for (method, uri, status) in cases {
        let req = Request::builder().method(method.clone()).uri(&uri).body(Body::empty()).unwrap();
        let resp = router(t.clone(), None).oneshot(req).await.unwrap();
        let got = resp.status();
        let json = resp.headers().get("content-type").is_some_and(|c| c == "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let error = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["error"].as_str().map(String::from));
        if got != status || !json || error.is_none() {
            wrong.push(format!("{method} {uri}: {got} {}", String::from_utf8_lossy(&body)));
        }
    }
    assert!(wrong.is_empty(), "not the documented answer:\n{}", wrong.join("\n"));
}

/// A read-only token reads everything but may not change what is watched:
/// 403, naming the scope. The legacy endpoint reads a watched process's
/// lines with it, but does not start a watch.
#[tokio::test]
async fn a_read_only_token_cannot_change_watches() {
    let t = Arc::new(testing::tracer());
    let p = me();
    let send = |method: Method, uri: String, token: &'static str| {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        router(t.clone(), Some(Access::tokens("op".into(), Some("ro".into())))).oneshot(req)
    };
    let status = |r: axum::response::Response| r.status();
    let body = |r: axum::response::Response| async {
        serde_json::from_slice::<Value>(&axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap()).unwrap()
    };
    let refused = send(Method::PUT, format!("/v1/watch/{p}"), "ro").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let why = body(refused).await;
    assert!(why["error"].as_str().unwrap().contains("scope \"operate\""), "{why}");
    assert_eq!(
        status(send(Method::GET, format!("/strace/{p}/1?wait_ms=0"), "ro").await.unwrap()),
        StatusCode::FORBIDDEN
    );
    assert!(t.watched().is_empty(), "nothing was watched");
    assert_eq!(status(send(Method::PUT, format!("/v1/watch/{p}"), "op").await.unwrap()), StatusCode::CREATED);
    for uri in ["/v1/watch".to_string(), format!("/v1/processes/{p}/events"), format!("/strace/{p}/1?wait_ms=0")] {
        assert_eq!(status(send(Method::GET, uri.clone(), "ro").await.unwrap()), StatusCode::OK, "{uri}");
    }
    assert_eq!(status(send(Method::DELETE, format!("/v1/watch/{p}"), "ro").await.unwrap()), StatusCode::FORBIDDEN);
    assert_eq!(status(send(Method::DELETE, format!("/v1/watch/{p}"), "op").await.unwrap()), StatusCode::OK);
    assert_eq!(status(send(Method::GET, "/v1/watch".into(), "nope").await.unwrap()), StatusCode::UNAUTHORIZED);
}

/// Lists come in pages by pid: a full page links to the next, and the pages
/// put together are the whole list, each entry once.
#[tokio::test]
async fn watches_and_processes_come_in_pages() {
    let t = Arc::new(testing::tracer());
    {
        // Processes the kernel announces (as --watch-all does), numbered above any pid.
        let mut batch = t.ingest();
        for pid in 5_000_000..5_000_007u32 {
            let announced = strace_common::ProcessRecord {
                kind: RecordKind::Process as u16,
                flags: strace_common::WatchEntry::AUTO,
                host_pid: pid,
                ns_pid: pid,
                ..Default::default()
            };
            batch.record(announced.as_bytes());
        }
    }
    for list in ["/v1/watch", "/v1/processes"] {
        let mut all = vec![];
        let mut uri = format!("{list}?limit=3");
        for _ in 0..10_000 {
            let req = Request::builder().uri(&uri).body(Body::empty()).unwrap();
            let resp = router(t.clone(), None).oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let link = resp.headers().get("link").map(|l| l.to_str().unwrap().to_string());
            let page: Value =
                serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap()).unwrap();
            let pids: Vec<u64> = page.as_array().unwrap().iter().map(|e| e["pid"].as_u64().unwrap()).collect();
            assert!(pids.len() <= 3, "{uri}: {pids:?}");
            all.extend(pids);
            match link {
                Some(l) => uri = l.trim_start_matches('<').split('>').next().unwrap().to_string(),
                None => break,
            }
        }
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(all, sorted, "{list}: in pid order, each once");
        if list == "/v1/watch" {
            let announced = (5_000_000..5_000_007).filter(|p| all.contains(p)).count();
            assert_eq!(announced, 7, "{list}: every watch is on a page: {all:?}");
        } else {
            assert!(all.contains(&u64::from(me())), "{list}: our parent is on a page: {all:?}");
        }
    }
    let (s, whole) = get(&t, "/v1/watch").await;
    assert_eq!((s, whole.as_array().unwrap().len()), (StatusCode::OK, 7), "a default page holds them all");
    assert_error(get(&t, "/v1/watch?limit=10001").await, StatusCode::BAD_REQUEST, "limit");
    assert_error(get(&t, "/v1/processes?after=x").await, StatusCode::BAD_REQUEST, "after");
}

/// /metrics renders at most once a FRESH_FOR: scrapes within it share the
/// text (so pollers cannot multiply its cost), and a later one is new.
#[tokio::test]
async fn metrics_are_rendered_at_most_once_a_second() {
    let t = Arc::new(testing::tracer());
    let metrics = Arc::new(crate::metrics::Metrics::new(t.clone(), Default::default()));
    let app = super::router_with(t.clone(), None, super::Settings::default(), metrics);
    let scrape = |app: axum::Router| async move {
        let resp = app.oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap().to_vec()).unwrap()
    };
    let counted = "strace_http_requests_total{route=\"/metrics\",status=\"200\"}";
    let first = scrape(app.clone()).await;
    assert!(!first.contains(counted), "rendered before it was counted");
    let (a, b) = tokio::join!(scrape(app.clone()), scrape(app.clone()));
    assert_eq!((a.as_str(), b.as_str()), (first.as_str(), first.as_str()), "within the second: the same text");
    tokio::time::sleep(super::metrics::FRESH_FOR).await;
    assert!(scrape(app).await.contains(&format!("{counted} 3")), "a second later: rendered again");
}
