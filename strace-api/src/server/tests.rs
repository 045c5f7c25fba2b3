//! The server's pure pieces, hyper's timer as it behaves, and the server
//! itself in-process on loopback (no eBPF, no root).
use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    time::{Duration, Instant},
};

use axum::{
    Extension, Router,
    http::{Request, StatusCode},
    routing::get,
};

use super::{
    cap::{Admission, Table, default_max_connections},
    conn::{Cause, Phase, State, Timeouts},
    reply::{self, RequestLimits},
    *,
};

#[test]
fn at_the_cap_the_connection_idle_the_longest_makes_room() {
    let mut t = Table::new(3);
    let ids: Vec<u64> = (0..3)
        .map(|h| match t.admit(h) {
            Admission::Admitted(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    // 0 is the oldest idle, but in a request: 1 goes.
    t.busy(ids[0]);
    assert_eq!(t.admit(3), Admission::Evicting { id: 3, victim: 1 });
    // 0's response is written: idle again and now the newest; 2 is the oldest.
    t.idle(ids[0]);
    assert_eq!(t.admit(4), Admission::Evicting { id: 4, victim: 2 });
    assert_eq!(t.len(), 3);
    // 3 became idle (new) before 0 did (its response).
    assert_eq!(t.admit(5), Admission::Evicting { id: 5, victim: 3 });
    for id in [0, 4, 5] {
        t.busy(id);
    }
    assert_eq!(t.admit(6), Admission::Refused, "every connection is in a request");
    assert_eq!(t.len(), 3);
    assert!(!t.remove(3), "3 was evicted already");
    assert!(t.remove(4));
    assert_eq!(t.admit(7), Admission::Admitted(6), "room again under the cap");
    assert_eq!(t.evict_oldest(), Some(7), "the only idle one");
    assert_eq!(t.evict_oldest(), None);
}

#[test]
fn busy_and_idle_of_an_evicted_connection_change_nothing() {
    let mut t = Table::new(1);
    assert_eq!(t.admit('a'), Admission::Admitted(0));
    assert_eq!(t.admit('b'), Admission::Evicting { id: 1, victim: 'a' });
    t.busy(0);
    t.idle(0);
    assert_eq!(t.len(), 1);
    assert_eq!(t.evict_oldest(), Some('b'));
}

#[test]
fn the_default_cap_leaves_room_under_the_open_files_limit() {
    assert_eq!(default_max_connections(1024), 384);
    assert_eq!(default_max_connections(4096), 1920);
    assert_eq!(default_max_connections(1 << 20), 4096, "bounded for memory's sake");
    assert_eq!(default_max_connections(300), 22);
    assert_eq!(default_max_connections(64), 16, "a floor, however low the limit");
    for limit in [512, 1024, 2048, 65536] {
        assert!((default_max_connections(limit) as u64) < limit - cap::RESERVED_FDS, "{limit}");
    }
}

#[test]
fn each_phase_has_its_deadline() {
    let t = Timeouts { header: Duration::from_secs(5), idle: Duration::from_secs(60) };
    let t0 = tokio::time::Instant::now();
    let s = |phase, progress_after: u64| State {
        phase,
        accepted: t0,
        progress: t0 + Duration::from_secs(progress_after),
        body_done: false,
    };
    let at = |secs| t0 + Duration::from_secs(secs);
    assert_eq!(s(Phase::FirstHead, 3).deadline(t), Some((at(5), Cause::Header)), "bytes do not extend it");
    assert_eq!(s(Phase::Idle { since: at(10) }, 0).deadline(t), Some((at(70), Cause::Idle)));
    assert_eq!(s(Phase::NextHead { since: at(20) }, 21).deadline(t), Some((at(25), Cause::Header)));
    assert_eq!(s(Phase::Handling, 0).deadline(t), None, "handlers bound their own waits");
    assert_eq!(s(Phase::Responding, 30).deadline(t), Some((at(90), Cause::Idle)), "a write that makes no progress");
    assert!(s(Phase::Handling, 0).in_request() && s(Phase::Responding, 0).in_request());
    assert!(!s(Phase::FirstHead, 0).in_request() && !s(Phase::NextHead { since: t0 }, 0).in_request());
}

fn limits() -> RequestLimits {
    RequestLimits { max_header_bytes: 4096, max_body_bytes: 100 }
}

fn error_of(resp: axum::http::Response<axum::body::Body>) -> (StatusCode, String) {
    let status = resp.status();
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["connection"], "close");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let body = rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (status, v["error"].as_str().unwrap().to_string())
}

#[test]
fn requests_over_a_limit_are_answered_in_json() {
    let ok = Request::get("/healthz").header("host", "x").body(()).unwrap();
    assert!(reply::check(&ok, &limits()).is_none());
    let long = Request::get(format!("/{}", "a".repeat(5000))).body(()).unwrap();
    let (status, message) = error_of(reply::check(&long, &limits()).unwrap());
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert!(message.contains("5001 bytes") && message.contains("4096"), "{message}");
    let big = Request::get("/").header("x-big", "b".repeat(5000)).body(()).unwrap();
    let (status, message) = error_of(reply::check(&big, &limits()).unwrap());
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(message.contains("--max-header-bytes"), "{message}");
    let body = Request::put("/v1/watch/1").header("content-length", "101").body(()).unwrap();
    let (status, message) = error_of(reply::check(&body, &limits()).unwrap());
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(message.contains("101 bytes") && message.contains("--max-body-bytes"), "{message}");
    let fits = Request::put("/v1/watch/1").header("content-length", "100").body(()).unwrap();
    assert!(reply::check(&fits, &limits()).is_none());
}

#[test]
fn hyper_answers_are_replaced_with_json_of_the_same_status() {
    for (hyper, status) in [
        (&b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..], 400),
        (b"HTTP/1.1 431 Request Header Fields Too Large\r\n", 431),
        (b"HTTP/1.1 414 URI Too Long\r\n", 414),
        (b"HTTP/1.1 505", 505),
        (b"garbage", 400),
    ] {
        let start = &hyper[..hyper.len().min(reply::STATUS_LINE_PREFIX)];
        let answer = String::from_utf8(reply::replace_hyper_answer(start, &limits())).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.contains("content-type: application/json") && head.contains("connection: close"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
}

/// hyper's own header timer, as this module's doc describes it: it closes a
/// connection that never sends a byte, and it also runs between kept-alive
/// requests (which is why the server keeps it off and times both itself).
#[test]
fn hyper_header_read_timeout_covers_a_silent_connection_and_the_keep_alive_gap() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        axum::body::Bytes::from_static(b"ok"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_millis(400))
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    // Never a byte: closed at the timeout.
    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(silent.read(&mut [0; 16]).unwrap(), 0, "closed");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(350) && waited < Duration::from_secs(2), "{waited:?}");
    // One request, answered; then silence: closed a timeout after the answer.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kept.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut buf = [0; 256];
    let n = kept.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let answered = Instant::now();
    assert_eq!(kept.read(&mut buf).unwrap(), 0, "the wait for a next request counts against it");
    let idle = answered.elapsed();
    assert!(idle >= Duration::from_millis(350) && idle < Duration::from_secs(2), "{idle:?}");
}

/// The in-process server on loopback, with a router that shows the peer.
struct Running {
    addr: SocketAddr,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<std::sync::mpsc::Receiver<()>>,
    connections: Connections,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let config =
            Config::try_parse_from(["strace-api", "--listen", "127.0.0.1:0"].iter().chain(args).copied()).unwrap();
        config.validate().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let server = rt.block_on(Server::bind(&config, "none")).unwrap();
        let addr = server.local_addr().unwrap();
        let connections = server.connections();
        let router = Router::new()
            .route("/peer", get(|Extension(peer): Extension<Peer>| async move { format!("{peer:?}") }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    "slow"
                }),
            );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        rt.spawn(async move {
            server
                .serve(router, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            let _ = done_tx.send(());
        });
        Running { addr, rt, stop: Some(stop), done: Some(done), connections }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn counts(&self) -> ConnectionCounts {
        self.connections.counts()
    }

    /// Stops it; how long serve took to return.
    fn stop(&mut self) -> Duration {
        let start = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().recv_timeout(Duration::from_secs(20)).expect("serve returned");
        start.elapsed()
    }
}

use clap::Parser as _;

/// Sends `request`, reads to the end: (status, headers, body).
fn exchange(s: &mut TcpStream, request: &[u8]) -> (u16, String, String) {
    s.write_all(request).unwrap();
    read_response(s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

#[test]
fn malformed_and_oversized_requests_get_json_answers() {
    let server = Running::start(&["--max-header-bytes", "4096", "--max-body-bytes", "10"]);
    let cases: [(Vec<u8>, u16); 6] = [
        (b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec(), 200),
        (b"GET / HTTP/1.1 junk\r\n\r\n".to_vec(), 400),
        (b"\x01\x02 nonsense\r\n\r\n".to_vec(), 400),
        (format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "u".repeat(5000)).into_bytes(), 414),
        (format!("GET / HTTP/1.1\r\nhost: x\r\nx-a: {}\r\n\r\n", "h".repeat(5000)).into_bytes(), 431),
        (b"PUT /peer HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\n\r\n".to_vec(), 413),
    ];
    for (request, want) in cases {
        let start = Instant::now();
        let (status, head, body) = exchange(&mut server.connect(), &request);
        assert!(start.elapsed() < Duration::from_secs(2), "the connection is closed after the answer");
        assert_eq!(status, want, "{head}\n{body}");
        if want != 200 {
            assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        }
    }
    // Far over the limit, over hyper's own buffer: hyper's 431, in JSON.
    let (status, _, body) = exchange(
        &mut server.connect(),
        format!("GET / HTTP/1.1\r\nhost: x\r\nx-a: {}\r\n\r\n", "h".repeat(20_000)).as_bytes(),
    );
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    // The one request hyper closes on without an answer: HTTP/2 with prior
    // knowledge (this server speaks HTTP/1.1).
    let (status, head, _) = exchange(&mut server.connect(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!((status, head.as_str()), (0, ""));
}

#[test]
fn each_request_carries_its_peer() {
    let server = Running::start(&[]);
    let mut s = server.connect();
    let local = s.local_addr().unwrap();
    let (status, _, body) = exchange(&mut s, b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!((status, body), (200, format!("{:?}", Peer::Tcp(local))));
}

#[test]
fn silent_and_slow_connections_are_closed_by_the_header_timeout() {
    let server = Running::start(&["--header-timeout", "300ms", "--idle-timeout", "800ms"]);
    let start = Instant::now();
    let mut silent = server.connect();
    let mut slow = server.connect();
    slow.write_all(b"GET /peer HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let _ = slow.write_all(b"x-a: b\r\n");
    assert_eq!(silent.read(&mut [0; 64]).unwrap(), 0);
    assert_eq!(slow.read(&mut [0; 64]).unwrap_or(0), 0);
    let waited = start.elapsed();
    // Upper bounds are loose: a loaded machine delays the client, not the timer.
    assert!(waited >= Duration::from_millis(280) && waited < Duration::from_millis(3000), "{waited:?}");
    // A kept-alive connection waits the idle timeout, not the header one.
    let mut kept = server.connect();
    kept.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut buf = [0; 512];
    assert!(kept.read(&mut buf).unwrap() > 0);
    let answered = Instant::now();
    assert_eq!(kept.read(&mut buf).unwrap(), 0);
    let idle = answered.elapsed();
    assert!(idle >= Duration::from_millis(700) && idle < Duration::from_millis(4000), "{idle:?}");
    // Its next request's first byte starts the header timeout.
    let mut next = server.connect();
    next.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    assert!(next.read(&mut buf).unwrap() > 0);
    std::thread::sleep(Duration::from_millis(100));
    next.write_all(b"GET /peer HTTP/1.1\r\n").unwrap();
    let partial = Instant::now();
    assert_eq!(next.read(&mut buf).unwrap(), 0);
    let waited = partial.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(3000), "{waited:?}");
    // The server counts a closure just after it closes: wait for the count.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut c = server.counts();
    while (c.header_timeouts, c.idle_timeouts) != (3, 1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        c = server.counts();
    }
    assert_eq!((c.header_timeouts, c.idle_timeouts), (3, 1), "{c:?}");
}

#[test]
fn at_the_cap_idle_connections_make_room_and_busy_ones_stay() {
    let server = Running::start(&["--max-connections", "3", "--header-timeout", "10s"]);
    let mut busy = server.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut idle: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    // The busy one and the two newest idle ones: the two oldest were evicted.
    for (i, s) in idle.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let r = s.read(&mut [0; 16]);
        let closed = matches!(r, Ok(0));
        assert_eq!(closed, i < 2, "idle connection {i}: {r:?}");
    }
    let (status, _, body) = read_response(&mut busy);
    assert_eq!((status, body.as_str()), (200, "slow"), "never evicted mid-request");
    let c = server.counts();
    assert_eq!((c.evicted_at_cap, c.refused_at_cap, c.max), (2, 0, 3), "{c:?}");
}

#[test]
fn at_the_cap_with_every_connection_busy_a_new_one_is_refused_with_503() {
    let server = Running::start(&["--max-connections", "1"]);
    let mut busy = server.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, body) = read_response(&mut server.connect());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(read_response(&mut busy).0, 200);
    assert_eq!(server.counts().refused_at_cap, 1);
}

#[test]
fn shutdown_closes_idle_and_partial_connections_at_once_and_waits_for_requests() {
    let mut server = Running::start(&["--shutdown-grace", "3s", "--header-timeout", "30s"]);
    let mut partial = server.connect();
    partial.write_all(b"GET /peer HTTP/1.1\r\nhost:").unwrap();
    let mut busy = server.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let took = server.stop();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "waited for /slow: {took:?}");
    assert_eq!(partial.read(&mut [0; 64]).unwrap_or(0), 0);
    let (status, _, body) = read_response(&mut busy);
    assert_eq!((status, body.as_str()), (200, "slow"));
    assert!(TcpStream::connect(server.addr).is_err(), "no longer listening");
    drop(server.rt);
}

#[test]
fn shutdown_is_bounded_by_the_grace_period() {
    let mut server = Running::start(&["--shutdown-grace", "200ms"]);
    let mut busy = server.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let took = server.stop();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_millis(500), "{took:?}");
    assert_eq!(busy.read(&mut [0; 64]).unwrap_or(0), 0, "cut at the end of the grace period");
}

#[test]
fn a_unix_socket_peer_carries_its_credentials() {
    let path = std::env::temp_dir().join(format!("strace-api-unit-{}.sock", std::process::id()));
    let listen = format!("unix:{}", path.display());
    let config = Config::try_parse_from(["strace-api", "--listen", &listen, "--listen-mode", "0660"]).unwrap();
    config.validate().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt.block_on(Server::bind(&config, "none")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o660);
    let router =
        Router::new().route("/peer", get(|Extension(peer): Extension<Peer>| async move { format!("{peer:?}") }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.serve(router, async {
        let _ = stopped.await;
    }));
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    // SAFETY: these have no preconditions.
    let me = unsafe { Peer::Unix { uid: libc::getuid(), gid: libc::getgid(), pid: Some(libc::getpid()) } };
    assert!(answer.ends_with(&format!("{me:?}")), "{answer}");
    stop.send(()).unwrap();
    rt.block_on(serving).unwrap().unwrap();
    assert!(!path.exists(), "removed when the server stops");
    // A stale socket file (its daemon killed) is replaced; a live one is not.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let busy = rt.block_on(Server::bind(&config, "none"));
    assert!(busy.err().unwrap().to_string().contains("could not listen"), "another process listens on it");
    drop(stale);
    let again = rt.block_on(Server::bind(&config, "none")).unwrap();
    drop(again);
    let _ = std::fs::remove_file(&path);
}
