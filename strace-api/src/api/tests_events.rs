//! The new ways out, against an in-memory kernel: filters, text, the
//! summary, the stream (framing, resuming, gaps, lagging, ends) and the
//! kernel-side filter of a watch.
use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    response::Response,
};
use futures_util::StreamExt as _;
use strace_common::{LossRecord, RecordKind, SyscallRecord};
use syscalls::Sysno;
use tower::ServiceExt as _;

use super::{
    Settings, router, router_with,
    tests::{assert_error, call, get, me},
};
use crate::{
    kernel::fake::FakeKernel,
    tracer::{Tracer, testing},
};

/// A syscall record: `nr` by `tid`, returning `ret`, taking `us` microseconds.
fn rec(pid: u32, tid: u32, s: Sysno, ret: i64, us: u64) -> SyscallRecord {
    SyscallRecord {
        kind: RecordKind::Syscall as u16,
        pid,
        tid,
        nr: s.id(),
        ret,
        enter_ns: 1_000_000,
        exit_ns: 1_000_000 + us * 1000,
        ..Default::default()
    }
}

fn feed(t: &Tracer, records: &[SyscallRecord]) {
    let mut batch = t.ingest();
    for r in records {
        batch.record(r.as_bytes());
    }
}

fn lose(t: &Tracer, pid: u32, count: u64) {
    let l = LossRecord { kind: RecordKind::Loss as u16, pid, tid: pid, count, at_ns: 5, ..Default::default() };
    t.ingest().record(l.as_bytes());
}

async fn text(t: &Arc<Tracer>, uri: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::builder().uri(uri);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = router(t.clone(), None).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

fn watched() -> (Arc<Tracer>, u32) {
    let t = Arc::new(testing::with_history(1000));
    let p = me();
    t.watch(p, true).unwrap();
    (t, p)
}

#[tokio::test]
async fn events_are_filtered_as_strace_filters() {
    let (t, p) = watched();
    feed(
        &t,
        &[
            rec(p, p, Sysno::openat, -2, 5),
            rec(p, p, Sysno::getppid, 1, 1),
            rec(p, p + 1, Sysno::connect, 0, 50),
            rec(p, p, Sysno::read, 10, 200),
        ],
    );
    let seqs = |page: &serde_json::Value| -> Vec<u64> {
        page["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    };
    let cases = [
        ("syscall=openat,connect", vec![1, 3]),
        ("class=%25file", vec![1]),
        ("class=file", vec![1]),
        ("class=%25network,desc", vec![1, 3, 4]),
        ("syscall=getppid&class=network", vec![2, 3]),
        ("syscall=!getppid", vec![1, 3, 4]),
        ("failed=true", vec![1]),
        ("failed=false", vec![2, 3, 4]),
        ("min_duration_us=50", vec![3, 4]),
        (&format!("tid={}", p + 1), vec![3]),
        ("class=desc&failed=false&limit=1", vec![4]),
    ];
    for (q, want) in &cases {
        let (s, page) = get(&t, &format!("/v1/processes/{p}/events?{q}")).await;
        assert_eq!(s, StatusCode::OK, "{q}: {page}");
        assert_eq!(&seqs(&page), want, "{q}");
    }
    let (_, page) = get(&t, &format!("/v1/processes/{p}/events?syscall=connect&limit=1")).await;
    assert_eq!((page["next_after"].as_u64(), page["last_seq"].as_u64()), (Some(3), Some(4)));
    let (_, page) = get(&t, &format!("/v1/processes/{p}/events?syscall=execve")).await;
    assert_eq!(page["next_after"], 4, "looked at everything, found nothing");
    for (q, words) in [
        ("syscall=opnat", "unknown syscall \"opnat\""),
        ("class=%25fil", "unknown syscall class \"%fil\""),
        ("failed=maybe", "failed must be true or false"),
        ("min_duration_us=-1", "min_duration_us must be a non-negative integer"),
        ("tid=0", "tid must be"),
        ("tid=x", "tid must be"),
        ("syscall=", "empty item"),
        ("format=xml", "format"),
    ] {
        assert_error(get(&t, &format!("/v1/processes/{p}/events?{q}")).await, StatusCode::BAD_REQUEST, words);
    }
}

#[tokio::test]
async fn pages_and_lines_answer_in_text() {
    let (t, p) = watched();
    feed(&t, &[rec(p, p, Sysno::getppid, 1, 1), rec(p, p, Sysno::openat, -2, 1)]);
    let (s, ct, body) = text(&t, &format!("/v1/processes/{p}/events?format=text"), None).await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "text/plain; charset=utf-8"));
    assert_eq!(
        body, "getppid() = 1\nopenat(0, NULL, O_RDONLY) = -1 ENOENT (No such file or directory)\n",
        "one thread: no prefix"
    );
    let (_, _, accepted) = text(&t, &format!("/v1/processes/{p}/events"), Some("text/plain")).await;
    assert_eq!(accepted, body);
    let (_, ct, _) = text(&t, &format!("/v1/processes/{p}/events?format=json"), Some("text/plain")).await;
    assert_eq!(ct, "application/json", "format= wins over Accept");
    feed(&t, &[rec(p, p + 7, Sysno::getppid, 1, 1)]);
    let (_, _, two) = text(&t, &format!("/strace/{p}/3?format=text&wait_ms=0"), None).await;
    let tid = p + 7;
    assert_eq!(
        two,
        format!(
            "[pid {p:>5}] getppid() = 1\n[pid {p:>5}] openat(0, NULL, O_RDONLY) = -1 ENOENT (No such file or directory)\n[pid {tid:>5}] getppid() = 1\n"
        ),
        "two threads: strace -f's prefix on every line"
    );
    let (_, _, durations) = text(&t, &format!("/strace/{p}/1?format=text&wait_ms=0&durations=true"), None).await;
    assert!(durations.ends_with("<0.000001>\n"), "{durations}");
    assert_error(get(&t, &format!("/strace/{p}/1?format=csv")).await, StatusCode::BAD_REQUEST, "format");
}

#[tokio::test]
async fn the_summary_counts_exactly_the_events_it_summarises() {
    let (t, p) = watched();
    let mut records = vec![];
    for i in 0..100 {
        records.push(rec(p, p, Sysno::read, 10, i + 1));
    }
    records.push(rec(p, p, Sysno::openat, -2, 1000));
    records.push(rec(p, p, Sysno::openat, 3, 3000));
    feed(&t, &records);
    let (s, sum) = get(&t, &format!("/v1/processes/{p}/summary")).await;
    assert_eq!(s, StatusCode::OK, "{sum}");
    assert_eq!(
        (sum["first_seq"].as_u64(), sum["last_seq"].as_u64(), sum["missed"].as_u64()),
        (Some(1), Some(102), Some(0))
    );
    let rows = sum["syscalls"].as_array().unwrap();
    assert_eq!(rows[0]["syscall"], "read", "{sum}");
    assert_eq!(
        (rows[0]["calls"].as_u64(), rows[0]["errors"].as_u64(), rows[0]["time_ns"].as_u64()),
        (Some(100), Some(0), Some(5_050_000))
    );
    assert_eq!(
        rows[0]["latency_ns"],
        serde_json::json!({"avg": 50_500, "p50": 50_000, "p95": 95_000, "p99": 99_000, "max": 100_000})
    );
    assert_eq!((rows[1]["calls"].as_u64(), rows[1]["errors"].as_u64()), (Some(2), Some(1)));
    assert_eq!((sum["total"]["calls"].as_u64(), sum["total"]["errors"].as_u64()), (Some(102), Some(1)));
    // Filters and the events agree: the same calls, counted the same.
    let (_, failed) = get(&t, &format!("/v1/processes/{p}/summary?failed=true")).await;
    assert_eq!(failed["total"]["calls"], 1);
    let (_, events) = get(&t, &format!("/v1/processes/{p}/events?failed=true")).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    let (_, ct, table) = text(&t, &format!("/v1/processes/{p}/summary?format=text"), None).await;
    assert!(ct.starts_with("text/plain"));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "% time     seconds  usecs/call     calls    errors syscall");
    assert!(lines[2].ends_with(" 100           read"), "{table}");
    assert!(
        lines.last().unwrap().starts_with("100.00    0.009050")
            && lines.last().unwrap().ends_with(" 102         1 total"),
        "{table}"
    );
    let (_, _, both) = text(&t, &format!("/v1/processes/{p}/summary?format=text&latency=true"), None).await;
    assert!(both.starts_with(&table) && both.contains("p99(us)"), "{both}");
    let (_, none) = get(&t, &format!("/v1/processes/{p}/summary?since=1m")).await;
    assert_eq!(none["total"]["calls"], 0, "the fake clock puts every call at boot");
    let (_, all) = get(&t, &format!("/v1/processes/{p}/summary?since=1970-01-01T00:00:00Z")).await;
    assert_eq!(all["total"]["calls"], 102);
    for (q, words) in [
        ("since=yesterday", "since must be"),
        ("latency=true", "latency is for format=text"),
        ("class=%bogus", "%bogus"),
        ("limit=3", "unknown query parameter"),
    ] {
        assert_error(get(&t, &format!("/v1/processes/{p}/summary?{q}")).await, StatusCode::BAD_REQUEST, words);
    }
    assert_error(get(&t, "/v1/processes/1/summary").await, StatusCode::NOT_FOUND, "not watched");
}

#[tokio::test]
async fn a_watch_takes_a_kernel_side_filter() {
    let kernel = FakeKernel::default();
    let t = Arc::new(testing::with_kernel(kernel));
    let p = me();
    let (s, w) = call(&t, Method::PUT, &format!("/v1/watch/{p}?syscalls=%25file,connect")).await;
    assert_eq!((s, w["syscalls"].as_str()), (StatusCode::CREATED, Some("%file,connect")), "{w}");
    let (_, list) = get(&t, "/v1/watch").await;
    assert_eq!(list[0]["syscalls"], "%file,connect");
    let (s, w) = call(&t, Method::PUT, &format!("/v1/watch/{p}")).await;
    assert_eq!((s, w["syscalls"].as_str()), (StatusCode::OK, Some("%file,connect")), "left out: kept");
    let (_, w) = call(&t, Method::PUT, &format!("/v1/watch/{p}?syscalls=all")).await;
    assert_eq!(w["syscalls"], serde_json::Value::Null, "all: no filter");
    for (q, words) in
        [("syscalls=opnat", "unknown syscall \"opnat\""), ("syscalls=%25nope", "%nope"), ("syscalls=", "empty")]
    {
        assert_error(call(&t, Method::PUT, &format!("/v1/watch/{p}?{q}")).await, StatusCode::BAD_REQUEST, words);
    }
}

/// The kernel gets exactly the bitmap, and changes of it.
#[test]
fn the_kernel_gets_the_filters_bitmap() {
    let kernel = FakeKernel::default();
    let t = testing::with_kernel(kernel);
    let p = me();
    let set = crate::filter::SyscallSet::parse("%file,connect").unwrap();
    let f = crate::tracer::WatchFilter { spec: "%file,connect".into(), bits: set.kernel_filter().unwrap() };
    t.watch_with(p, true, Some(Some(f.clone()))).unwrap();
    assert_eq!(t.stats(p).unwrap().syscalls.as_deref(), Some("%file,connect"));
    assert_eq!(t.watch_with(p, true, Some(Some(f))).unwrap(), crate::tracer::Watched::Already);
    t.watch_with(p, true, Some(None)).unwrap();
    assert_eq!(t.stats(p).unwrap().syscalls, None);
}

/// A stream's body, read a frame at a time.
struct Sse {
    body: axum::body::BodyDataStream,
    buf: String,
}

impl Sse {
    async fn open(t: &Arc<Tracer>, uri: &str, headers: &[(&str, &str)]) -> Result<Sse, Box<Response>> {
        Sse::open_with(router(t.clone(), None), uri, headers).await
    }

    async fn open_with(app: axum::Router, uri: &str, headers: &[(&str, &str)]) -> Result<Sse, Box<Response>> {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        if resp.status() != StatusCode::OK {
            return Err(Box::new(resp));
        }
        Ok(Sse { body: resp.into_body().into_data_stream(), buf: String::new() })
    }

    /// The next frame (up to a blank line), without its comments; `None` at the end.
    async fn frame(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..at + 2).collect();
                if frame.starts_with(':') {
                    continue;
                }
                return Some(frame.trim_end().to_string());
            }
            let chunk =
                tokio::time::timeout(Duration::from_secs(5), self.body.next()).await.expect("a frame within 5 s")?;
            self.buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    }

    /// The `id:` of the next frame (with its `event:` name, if any).
    async fn next_id(&mut self) -> String {
        let f = self.frame().await.expect("a frame");
        let id = f.lines().find_map(|l| l.strip_prefix("id: ")).unwrap_or("-").to_string();
        match f.lines().find_map(|l| l.strip_prefix("event: ")) {
            Some(kind) => format!("{kind} {id}"),
            None => id,
        }
    }
}

#[tokio::test]
async fn the_stream_sends_events_and_gaps_in_order_and_resumes_exactly() {
    let (t, p) = watched();
    feed(&t, &[rec(p, p, Sysno::getppid, 1, 1), rec(p, p, Sysno::getppid, 2, 1), rec(p, p, Sysno::getppid, 3, 1)]);
    let mut s = Sse::open(&t, &format!("/v1/processes/{p}/events/stream?after=0"), &[]).await.unwrap();
    let first = s.frame().await.unwrap();
    assert!(first.starts_with("id: 1\ndata: {\"seq\":1,"), "{first}");
    assert_eq!([s.next_id().await, s.next_id().await], ["2", "3"]);
    // Live: the loss, then what came after it, as they arrive.
    lose(&t, p, 40);
    feed(&t, &[rec(p, p, Sysno::getppid, 4, 1), rec(p, p, Sysno::getppid, 5, 1)]);
    let gap = s.frame().await.unwrap();
    assert!(gap.starts_with("id: 3:gap\nevent: gap\ndata: {\"after\":3,\"count\":40,\"reason\":\"dropped\""), "{gap}");
    assert_eq!([s.next_id().await, s.next_id().await], ["4", "5"]);
    // Reconnects: after each id, exactly what came after it.
    for (last, want) in [("3", vec!["gap 3:gap", "4", "5"]), ("3:gap", vec!["4", "5"]), ("4", vec!["5"])] {
        let mut again =
            Sse::open(&t, &format!("/v1/processes/{p}/events/stream"), &[("last-event-id", last)]).await.unwrap();
        let mut got = vec![];
        for _ in 0..want.len() {
            got.push(again.next_id().await);
        }
        assert_eq!(got, want, "after {last}");
    }
    // Without a cursor: from now on.
    let mut now = Sse::open(&t, &format!("/v1/processes/{p}/events/stream"), &[]).await.unwrap();
    feed(&t, &[rec(p, p, Sysno::getppid, 6, 1)]);
    assert_eq!(now.next_id().await, "6");
    // Unwatched: the last event says so, and the stream ends.
    t.unwatch(p).unwrap();
    assert!(now.frame().await.unwrap().starts_with("event: end\ndata: {\"reason\":\"pid"));
    assert_eq!(now.frame().await, None);
}

#[tokio::test]
async fn a_reconnect_too_late_is_told_what_it_missed() {
    let t = Arc::new(testing::with_history(3));
    let p = me();
    t.watch(p, true).unwrap();
    feed(&t, &(1..=10).map(|i| rec(p, p, Sysno::getppid, i, 1)).collect::<Vec<_>>());
    let mut s = Sse::open(&t, &format!("/v1/processes/{p}/events/stream?after=2"), &[]).await.unwrap();
    let gap = s.frame().await.unwrap();
    assert!(gap.starts_with("id: 7\nevent: gap\ndata: {\"after\":2,\"count\":5,\"reason\":\"evicted\""), "{gap}");
    assert_eq!([s.next_id().await, s.next_id().await, s.next_id().await], ["8", "9", "10"]);
}

#[tokio::test]
async fn the_stream_filters_and_writes_text() {
    let (t, p) = watched();
    feed(&t, &[rec(p, p, Sysno::getppid, 1, 1), rec(p, p, Sysno::openat, -2, 1), rec(p, p + 1, Sysno::openat, -2, 1)]);
    let uri = format!("/v1/processes/{p}/events/stream?after=0&class=%25file&format=text");
    let mut sse = Sse::open(&t, &uri, &[("accept", "text/event-stream")]).await.unwrap();
    assert_eq!(
        sse.frame().await.unwrap(),
        "id: 2\ndata: openat(0, NULL, O_RDONLY) = -1 ENOENT (No such file or directory)"
    );
    let third = sse.frame().await.unwrap();
    assert!(
        third.starts_with(&format!("id: 3\ndata: [pid {:>5}] openat(", p + 1)),
        "a second thread: prefixed: {third}"
    );
    // curl -N: plain lines, gaps as notes.
    let resp =
        router(t.clone(), None).oneshot(Request::builder().uri(&uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let mut body = resp.into_body().into_data_stream();
    lose(&t, p, 2);
    feed(&t, &[rec(p, p, Sysno::chdir, 0, 1)]);
    let mut got = String::new();
    while got.matches('\n').count() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
        got.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines[0].starts_with("openat(") && lines[1].starts_with("[pid "), "{got}");
    assert_eq!(lines[2], "--- 2 calls missing here: dropped by the kernel (its ring buffer was full) ---");
    assert!(lines[3].starts_with(&format!("[pid {p:>5}] chdir(")), "{got}");
}

#[tokio::test]
async fn streams_are_validated_and_capped() {
    let (t, p) = watched();
    let base = format!("/v1/processes/{p}/events/stream");
    for (q, words) in [
        ("?after=x", "after (or Last-Event-ID) must be an event id"),
        ("?syscall=nope", "unknown syscall \"nope\""),
        ("?class=file%25", "unknown syscall class"),
        ("?bogus=1", "unknown query parameter"),
        ("?failed=1x", "failed must be true or false"),
    ] {
        let resp = Sse::open(&t, &format!("{base}{q}"), &[]).await.err().expect("refused");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(error["error"].as_str().unwrap().contains(words), "{q}: {error}");
    }
    let bad_id = Sse::open(&t, &base, &[("last-event-id", "5:gaps")]).await.err().unwrap();
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        Sse::open(&t, "/v1/processes/1/events/stream", &[]).await.err().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // One stream allowed: the second waits for the first to end.
    let metrics = Arc::new(crate::metrics::Metrics::new(t.clone(), Default::default()));
    let app = router_with(t.clone(), None, Settings { max_streams: 1 }, metrics);
    let first = Sse::open_with(app.clone(), &base, &[]).await.unwrap();
    let refused = Sse::open_with(app.clone(), &base, &[]).await.err().unwrap();
    assert_eq!(
        (refused.status(), refused.headers()["retry-after"].to_str().unwrap()),
        (StatusCode::SERVICE_UNAVAILABLE, "5")
    );
    let (_, health) = get_with(&app, "/healthz").await;
    assert_eq!(health["streams"], serde_json::json!({"open": 1, "max": 1, "opened": 1, "refused": 1, "lagged": 0}));
    drop(first);
    // The stream ends once its client has gone and it next has something to send.
    feed(&t, &[rec(p, p, Sysno::getppid, 1, 1)]);
    let mut again = None;
    for _ in 0..100 {
        if let Ok(s) = Sse::open_with(app.clone(), &base, &[]).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the slot came back");
}

async fn get_with(app: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let resp = app.clone().oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn streams_end_with_a_last_event_on_exit_and_shutdown() {
    let (t, p) = watched();
    feed(&t, &[rec(p, p, Sysno::getppid, 1, 1)]);
    let mut s = Sse::open(&t, &format!("/v1/processes/{p}/events/stream?after=0"), &[]).await.unwrap();
    assert_eq!(s.next_id().await, "1");
    t.close();
    assert!(
        s.frame().await.unwrap().starts_with("event: shutdown\ndata: {\"reason\":\"the daemon is shutting down\"}")
    );
    assert_eq!(s.frame().await, None);
}

/// A client that stops taking chunks while the history moves past it is
/// cut off with `lagged`; the drain never waited for it.
#[tokio::test]
async fn a_client_that_falls_behind_is_cut_off() {
    let t = Arc::new(testing::with_history(100));
    let p = me();
    t.watch(p, true).unwrap();
    let mut s = Sse::open(
        &t,
        &format!("/v1/processes/{p}/events/stream?after=0&format=text"),
        &[("accept", "text/event-stream")],
    )
    .await
    .unwrap();
    feed(&t, &[rec(p, p, Sysno::getppid, 0, 1)]);
    assert_eq!(s.next_id().await, "1");
    // Not read now: the stream fills its one-chunk channel and waits.
    for i in 0..40 {
        feed(&t, &(0..50).map(|j| rec(p, p, Sysno::getppid, i * 50 + j, 1)).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut last = String::new();
    while let Some(f) = s.frame().await {
        last = f;
    }
    assert!(last.starts_with("event: lagged\ndata: {\"reason\":\"the client read too slowly"), "{last}");
}
