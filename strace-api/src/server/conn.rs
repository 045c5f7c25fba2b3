//! One connection, from accept to close: the TLS handshake, hyper's HTTP/1
//! state machine, the phase the connection is in (which sets its deadline
//! and whether the cap may evict it), and the closing.
//!
//! Three pieces see the phase change, through [`Shared`]:
//! - [`Handler`], the service hyper calls with each parsed request head:
//!   a request begins; its response is ready;
//! - [`Tracked`], the response body: hyper has taken all of it;
//! - [`Observed`], the byte stream under hyper: bytes came in (the first
//!   byte of a next request starts its header timeout); the response's last
//!   bytes are flushed (the connection is idle again). A write while no
//!   request is in progress can only be hyper answering a head it could not
//!   parse: that answer is replaced by a JSON one.
use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{Request, Response, StatusCode},
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::{TcpStream, UnixStream},
    sync::{Notify, watch},
    time::{Instant, Sleep},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tower::ServiceExt as _;

use super::{
    Peer,
    cap::Registry,
    listener::Accepted,
    reply::{self, RequestLimits},
    stats::{Connections, Counters},
    tls::{HANDSHAKE_RECORD, Tls},
};

/// Stages of the server's life, sent to every connection.
pub const RUNNING: u8 = 0;
/// Shutting down: idle connections close, requests in flight finish.
pub const DRAINING: u8 = 1;
/// The grace period is over: every connection closes.
pub const STOPPING: u8 = 2;

/// After the server closes a connection it reads (and drops) what the client
/// still sends, for this long or this much at most, so that the client reads
/// the answer before a reset for unread data could destroy it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// What every connection shares.
pub struct Ctx {
    pub router: axum::Router,
    pub requests: RequestLimits,
    pub tls: Option<Arc<Tls>>,
    pub registry: Arc<Registry>,
    pub http: hyper::server::conn::http1::Builder,
}

/// Where a connection is, between requests and within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// From accept (TLS handshake included) until the first head is complete.
    FirstHead,
    /// A response is written; no byte of the next request yet.
    Idle { since: Instant },
    /// Bytes of the next request came at `since`; its head is not complete.
    NextHead { since: Instant },
    /// A handler has the request.
    Handling,
    /// The handler answered; the response is being written.
    Responding,
}

/// Why a deadline closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Header,
    Idle,
}

#[derive(Debug, Clone, Copy)]
pub struct State {
    pub phase: Phase,
    pub accepted: Instant,
    /// Last byte read or written, or body frame produced.
    pub progress: Instant,
    /// hyper has taken the whole response body.
    pub body_done: bool,
}

impl State {
    pub fn new(now: Instant) -> State {
        State { phase: Phase::FirstHead, accepted: now, progress: now, body_done: false }
    }

    /// When the connection is closed if nothing changes, and why. A handler
    /// has no deadline here (the API bounds its own waits); a response being
    /// written has the idle timeout from its last progress.
    pub fn deadline(&self, t: Timeouts) -> Option<(Instant, Cause)> {
        match self.phase {
            Phase::FirstHead => Some((self.accepted + t.header, Cause::Header)),
            Phase::Idle { since } => Some((since + t.idle, Cause::Idle)),
            Phase::NextHead { since } => Some((since + t.header, Cause::Header)),
            Phase::Handling => None,
            Phase::Responding => Some((self.progress + t.idle, Cause::Idle)),
        }
    }

    pub fn in_request(&self) -> bool {
        matches!(self.phase, Phase::Handling | Phase::Responding)
    }
}

/// A connection's phase, seen by its driver, its service, its body and its
/// byte stream.
pub struct Shared {
    id: u64,
    registry: Arc<Registry>,
    timeouts: Timeouts,
    state: Mutex<State>,
    /// Wakes the driver when the deadline may have moved earlier.
    changed: Notify,
}

impl Shared {
    pub fn new(id: u64, registry: Arc<Registry>, timeouts: Timeouts) -> Shared {
        Shared { id, registry, timeouts, state: Mutex::new(State::new(Instant::now())), changed: Notify::new() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deadline(&self) -> Option<(Instant, Cause)> {
        self.state().deadline(self.timeouts)
    }

    fn in_request(&self) -> bool {
        self.state().in_request()
    }

    fn awaiting_head(&self) -> bool {
        !self.in_request()
    }

    fn on_read(&self) {
        let now = Instant::now();
        let mut st = self.state();
        st.progress = now;
        if let Phase::Idle { .. } = st.phase {
            st.phase = Phase::NextHead { since: now };
            drop(st);
            self.changed.notify_one();
        }
    }

    fn on_progress(&self) {
        self.state().progress = Instant::now();
    }

    fn on_flushed(&self) {
        let mut st = self.state();
        if st.phase == Phase::Responding && st.body_done {
            st.phase = Phase::Idle { since: Instant::now() };
            st.body_done = false;
            drop(st);
            self.registry.idle(self.id);
            self.changed.notify_one();
        }
    }

    fn begin_request(&self) {
        {
            let mut st = self.state();
            st.phase = Phase::Handling;
            st.body_done = false;
        }
        self.registry.busy(self.id);
        self.changed.notify_one();
    }

    fn response_ready(&self) {
        {
            let mut st = self.state();
            st.phase = Phase::Responding;
            st.progress = Instant::now();
        }
        self.changed.notify_one();
    }

    fn body_finished(&self) {
        self.state().body_done = true;
    }
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// By the client, or by hyper after a response.
    Closed,
    Timeout(Cause),
    /// At the cap (counted there).
    Evicted,
    Shutdown,
    TlsFailed,
}

/// Serves one admitted connection to its end, then counts how it ended.
pub async fn run(
    accepted: Accepted,
    peer: Peer,
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    mut stage: watch::Receiver<u8>,
) {
    let end = drive(accepted, &peer, &ctx, &shared, &kill, &mut stage).await;
    let registry = &ctx.registry;
    registry.remove(shared.id);
    let counters = &registry.counters;
    match end {
        End::Timeout(Cause::Header) => {
            tracing::debug!(?peer, "closed: no whole request head within the header timeout");
            Counters::bump(&counters.header_timeouts);
            registry.reporter.note(registry);
        }
        End::Timeout(Cause::Idle) => {
            tracing::debug!(?peer, "closed: idle for the idle timeout");
            Counters::bump(&counters.idle_timeouts);
        }
        End::TlsFailed => {
            Counters::bump(&counters.tls_failures);
            registry.reporter.note(registry);
        }
        End::Shutdown | End::Closed | End::Evicted => {}
    }
}

async fn drive(
    accepted: Accepted,
    peer: &Peer,
    ctx: &Arc<Ctx>,
    shared: &Arc<Shared>,
    kill: &Notify,
    stage: &mut watch::Receiver<u8>,
) -> End {
    let stream = match accepted {
        Accepted::Unix(s) => Stream::Unix(s),
        Accepted::Tcp(tcp) => match &ctx.tls {
            None => Stream::Tcp(tcp),
            Some(tls) => match handshake(tcp, tls, peer, shared, kill, stage).await {
                Ok(s) => Stream::Tls(Box::new(s)),
                Err(end) => return end,
            },
        },
    };
    if *stage.borrow_and_update() >= DRAINING {
        return End::Shutdown;
    }
    let service = Handler { ctx: ctx.clone(), shared: shared.clone(), peer: peer.clone() };
    let io = Observed::new(stream, shared.clone(), ctx.requests);
    let conn = ctx.http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    // Draining, or evicted in the instant a request began: hyper closes after
    // the request in flight, and so do we once no request is in flight.
    let mut closing = None;
    loop {
        let deadline = shared.deadline();
        let timer = async move {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(?peer, "connection ended: {e}");
                }
                return closing.unwrap_or(End::Closed);
            }
            _ = kill.notified() => {
                if !shared.in_request() {
                    return End::Evicted;
                }
                closing.get_or_insert(End::Evicted);
                conn.as_mut().graceful_shutdown();
            }
            r = stage.changed() => {
                let now = if r.is_err() { STOPPING } else { *stage.borrow_and_update() };
                if now >= STOPPING || !shared.in_request() {
                    return End::Shutdown;
                }
                if closing.is_none() {
                    closing = Some(End::Shutdown);
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = shared.changed.notified() => {
                if let Some(end) = closing.take() {
                    if !shared.in_request() {
                        return end;
                    }
                    closing = Some(end);
                }
            }
            _ = timer => {
                if let Some((at, cause)) = shared.deadline()
                    && Instant::now() >= at
                {
                    return End::Timeout(cause);
                }
            }
        }
    }
}

/// The TLS handshake, within the header timeout (it counts from accept).
async fn handshake(
    tcp: TcpStream,
    tls: &Tls,
    peer: &Peer,
    shared: &Shared,
    kill: &Notify,
    stage: &mut watch::Receiver<u8>,
) -> Result<TlsStream<TcpStream>, End> {
    let by = shared.deadline().map_or_else(Instant::now, |(at, _)| at);
    let attempt = tokio::time::timeout_at(by, accept_tls(tcp, tls.acceptor()));
    let outcome = tokio::select! {
        biased;
        r = attempt => r,
        _ = kill.notified() => return Err(End::Evicted),
        _ = stage.wait_for(|s| *s >= DRAINING) => return Err(End::Shutdown),
    };
    match outcome {
        Err(_elapsed) => Err(End::Timeout(Cause::Header)),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(HandshakeError::Closed)) => Err(End::Closed),
        Ok(Err(HandshakeError::PlainHttp(tcp))) => {
            tracing::debug!(?peer, "plain HTTP on the HTTPS port: answered 400 and closed");
            refuse_plain_http(tcp).await;
            Err(End::TlsFailed)
        }
        Ok(Err(HandshakeError::Io(e))) => {
            tracing::debug!(?peer, "TLS handshake failed: {e}");
            Err(End::TlsFailed)
        }
    }
}

enum HandshakeError {
    Closed,
    PlainHttp(TcpStream),
    Io(io::Error),
}

async fn accept_tls(tcp: TcpStream, acceptor: TlsAcceptor) -> Result<TlsStream<TcpStream>, HandshakeError> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(0) => return Err(HandshakeError::Closed),
        Ok(_) if first[0] != HANDSHAKE_RECORD => return Err(HandshakeError::PlainHttp(tcp)),
        Ok(_) => {}
        Err(e) => return Err(HandshakeError::Io(e)),
    }
    acceptor.accept(tcp).await.map_err(HandshakeError::Io)
}

/// A plain-HTTP request on the HTTPS port gets a plain-HTTP answer saying
/// so, then the connection closes.
async fn refuse_plain_http(mut tcp: TcpStream) {
    let answer = reply::raw(StatusCode::BAD_REQUEST, "this port serves HTTPS only: use an https:// URL");
    let _ = tokio::time::timeout(LINGER, async {
        tcp.write_all(&answer).await?;
        tcp.shutdown().await?;
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match tcp.read(&mut scratch).await? {
                0 => break,
                n => drained += n,
            }
        }
        io::Result::Ok(())
    })
    .await;
}

/// The service hyper calls with each request head.
#[derive(Clone)]
struct Handler {
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
    peer: Peer,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        self.shared.begin_request();
        let shared = self.shared.clone();
        if let Some(rejected) = reply::check(&req, &self.ctx.requests) {
            shared.response_ready();
            return Box::pin(std::future::ready(Ok(rejected.map(|b| Tracked::new(b, shared)))));
        }
        let max_body = self.ctx.requests.max_body_bytes;
        let mut req = req.map(|b| Body::new(http_body_util::Limited::new(b, max_body)));
        req.extensions_mut().insert(self.peer.clone());
        req.extensions_mut().insert(Connections(self.ctx.registry.clone()));
        let answer = self.ctx.router.clone().oneshot(req);
        Box::pin(async move {
            let Ok(resp) = answer.await;
            shared.response_ready();
            Ok(resp.map(|b| Tracked::new(b, shared)))
        })
    }
}

/// A response body that tells when hyper has taken all of it.
pub struct Tracked {
    inner: Body,
    shared: Arc<Shared>,
    done: bool,
}

impl Tracked {
    fn new(inner: Body, shared: Arc<Shared>) -> Tracked {
        Tracked { inner, shared, done: false }
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.shared.body_finished();
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(_)) => this.shared.on_progress(),
            None | Some(Err(_)) => this.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The byte stream of a connection.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Tls($s) => $e,
            Stream::Unix($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// The stream as hyper sees it: watched for progress, with hyper's own
/// error answers replaced and a lingering close.
struct Observed {
    inner: Stream,
    shared: Arc<Shared>,
    limits: RequestLimits,
    /// hyper is answering a head it could not parse.
    replacing: Option<Replacement>,
    /// Our write side is shut; the client's last bytes are being drained.
    shut: bool,
    linger: Option<Pin<Box<Sleep>>>,
    drained: usize,
}

#[derive(Default)]
struct Replacement {
    /// The first bytes hyper wrote (its status line).
    start: Vec<u8>,
    /// Our answer, and how much of it is written.
    answer: Vec<u8>,
    written: usize,
}

impl Observed {
    fn new(inner: Stream, shared: Arc<Shared>, limits: RequestLimits) -> Observed {
        Observed { inner, shared, limits, replacing: None, shut: false, linger: None, drained: 0 }
    }

    /// Writes what is left of the replacing answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(r) = &mut self.replacing else { return Poll::Ready(Ok(())) };
        if r.answer.is_empty() {
            r.answer = reply::replace_hyper_answer(&r.start, &self.limits);
        }
        while r.written < r.answer.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &r.answer[r.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            r.written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads and drops what the client sends until it closes, or for
    /// [`LINGER`], or [`LINGER_BYTES`].
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 4096];
        while self.drained < LINGER_BYTES {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => self.drained += buf.filled().len(),
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {
                    let timer = self.linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
                    return timer.as_mut().poll(cx);
                }
            }
        }
        Poll::Ready(())
    }
}

impl AsyncRead for Observed {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.shared.on_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Observed {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() && this.shared.awaiting_head() {
            this.replacing = Some(Replacement::default());
        }
        if let Some(r) = &mut this.replacing {
            let want = reply::STATUS_LINE_PREFIX.saturating_sub(r.start.len()).min(buf.len());
            r.start.extend_from_slice(&buf[..want]);
            return Poll::Ready(Ok(buf.len()));
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if n > 0 {
            this.shared.on_progress();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        if this.replacing.is_none() {
            this.shared.on_flushed();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            ready!(this.poll_replacement(cx))?;
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.shut = true;
        }
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}
