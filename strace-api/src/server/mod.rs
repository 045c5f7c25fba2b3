//! The HTTP server: serves an [`axum::Router`] and owns everything about
//! connections: how many, how long, how big a request, TLS, the Unix
//! socket, and how they end at shutdown. The router sees none of it but a
//! [`Peer`] and the [`Connections`] counts in each request's extensions.
//!
//! # The connection cap
//! At most `--max-connections` are open (by default half of the open-files
//! limit left after 256 descriptors kept for the probe's maps, /proc reads
//! and pidfds, between 16 and 4096; the daemon first raises its soft limit to
//! the hard one). The cap is applied as a connection is accepted, before a
//! byte of it is read, so it bounds descriptors, tasks and buffers alike.
//!
//! A full cap must not lock out a legitimate client, or anyone could hold
//! the daemon closed by opening connections and sending nothing. So each
//! connection is, at any moment, *idle* — accepted and waiting for (or
//! receiving) a request head, TLS handshake included, or kept alive between
//! requests — or *busy*, from a complete request head until its response is
//! written. Idle connections are kept in the order they became idle
//! ([`cap::Table`]). At the cap a new connection is admitted by closing the
//! one idle the longest; one is refused (503 where it can be said in plain
//! text) only if every open connection is busy. A connection in a request is
//! never closed to make room. A client that connects and sends its request
//! at once is busy within a round trip, so a flood of idle or slow-header
//! connections only ever evicts itself, oldest first; each eviction and
//! refusal is counted (`/healthz` `"connections"`) and logged at most every
//! 10 s. When accept fails for want of descriptors (EMFILE), the idlest
//! connection is closed the same way to free one.
//!
//! # Timeouts
//! - Header timeout (`--header-timeout`, 5 s): a whole request head must come
//!   within it of accepting (TLS handshake included), and on a kept-alive
//!   connection within it of the next request's first byte.
//! - Idle timeout (`--idle-timeout`, 60 s): a kept-alive connection waits
//!   this long for the next request's first byte; a response the client
//!   does not read is abandoned after this long without progress.
//!
//! hyper 1.x has one timer, `http1::Builder::header_read_timeout` (30 s by
//! default, but only with `Builder::timer` set: `axum::serve` sets none, and
//! its protocol sniffing has no timeout either, so there a silent connection
//! stays open for ever). With a timer it runs from the connection's start
//! (a client that never sends a byte is cut) and again from the end of each
//! response (hyperium/hyper#3828) until a whole head is read: the wait
//! between kept-alive requests counts against it, so one timer cannot be
//! both a 5 s header limit and a 60 s keep-alive. Both are this module's
//! instead (hyper's is off), driven by the connection's phase
//! ([`conn::Phase`]); the tests `hyper_header_read_timeout_*` pin hyper's
//! behaviour down.
//!
//! # Request limits and errors
//! A request target over 8 KiB is answered 414, a head over
//! `--max-header-bytes` 431, a `Content-Length` over `--max-body-bytes` 413,
//! before the router; a body sent in chunks is cut at the limit where read.
//! hyper's own read buffer is twice the head limit, so it only answers what
//! it cannot parse at all: 400 (malformed), 431 (larger than its buffer, or
//! over 100 headers), 414; it would do so with an empty body, and the stream
//! under it ([`conn`]'s `Observed`) writes a JSON `{"error": "…"}` answer
//! instead. The one case hyper closes without an answer is an HTTP/2 prior-
//! knowledge preface (`PRI * HTTP/2.0`): this server speaks HTTP/1.1 only.
//! The timeouts close without an answer too, as nginx and Go do.
//!
//! # TLS and the Unix socket
//! With `--tls-cert` and `--tls-key` the TCP listener speaks HTTPS only
//! (rustls; TLS 1.2 and 1.3; the pair is read again on SIGHUP, and a pair
//! that does not load is logged and the old one kept). A connection whose
//! first byte is not a TLS handshake record gets a plain-text 400 JSON answer
//! saying so and is closed. `--listen unix:/path` serves on a socket file
//! (mode `--listen-mode`, 0600, set before it accepts anyone); the peer's
//! SO_PEERCRED is its [`Peer`].
//!
//! # Shutdown
//! When `shutdown` completes: stop accepting; close every connection not in
//! a request; let requests in flight finish for `--shutdown-grace`, then
//! close every connection still open. [`Server::serve`] returns within the
//! grace period and a second.
mod cap;
mod conn;
mod listener;
mod reply;
mod stats;
mod tls;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::sync::{Notify, mpsc, watch};

use self::{
    cap::Registry,
    conn::{Ctx, Shared, Timeouts},
    listener::{Accepted, Listener},
    reply::RequestLimits,
    stats::Counters,
    tls::Tls,
};
pub use self::{
    listener::Listen,
    stats::{ConnectionCounts, Connections},
};
use crate::config::Config;

/// Who is at the other end of a request's connection, in every request's
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// TCP, with or without TLS.
    Tcp(SocketAddr),
    /// The Unix socket: the peer's credentials (SO_PEERCRED) when it connected.
    Unix { uid: u32, gid: u32, pid: Option<i32> },
}

/// A bound listener and its settings, ready to serve.
pub struct Server {
    listener: Listener,
    tls: Option<Arc<Tls>>,
    registry: Arc<Registry>,
    timeouts: Timeouts,
    requests: RequestLimits,
    grace: Duration,
}

impl Server {
    /// Raises the open-files limit, loads the TLS pair, binds, and logs what
    /// it serves (`auth` says how requests are authenticated).
    pub async fn bind(config: &Config, auth: &str) -> anyhow::Result<Server> {
        Server::bind_to(config, &config.listen, auth, "listening on").await
    }

    /// The same server (limits, timeouts, TLS, a connection cap of its own)
    /// on another address: `--metrics-listen`.
    pub async fn bind_also(config: &Config, addr: SocketAddr, auth: &str) -> anyhow::Result<Server> {
        Server::bind_to(config, &Listen::Tcp(addr), auth, "serving /metrics only on").await
    }

    /// `what` begins the log line that says where it listens.
    async fn bind_to(config: &Config, listen: &Listen, auth: &str, what: &str) -> anyhow::Result<Server> {
        let open_files = match cap::raise_fd_limit() {
            Ok(l) if l.now > l.before => {
                tracing::info!("open-files limit raised from {} to {} (the hard limit)", l.before, l.now);
                l.now
            }
            Ok(l) => {
                tracing::info!("open-files limit: {} (hard limit {})", l.now, l.hard);
                l.now
            }
            Err(e) => {
                tracing::warn!("cannot read the open-files limit ({e}); taking it as 1024");
                1024
            }
        };
        let safe = cap::default_max_connections(open_files);
        let max_connections = match config.max_connections {
            Some(n) if n > safe => {
                tracing::warn!(
                    "--max-connections {n} is more than the {safe} the open-files limit of {open_files} leaves room for; the daemon may run out of descriptors before the cap"
                );
                n
            }
            Some(n) => n,
            None => safe,
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = Tls::load(cert, key).map_err(anyhow::Error::msg)?;
                tls.reload_on_sighup()?;
                Some(tls)
            }
            _ => None,
        };
        let listener = Listener::bind(listen, config.listen_mode, config.listen_group.as_deref()).await?;
        let timeouts = Timeouts { header: config.header_timeout, idle: config.idle_timeout };
        let requests =
            RequestLimits { max_header_bytes: config.max_header_bytes, max_body_bytes: config.max_body_bytes };
        let human = |d: Duration| humantime::format_duration(d).to_string();
        tracing::info!(
            auth,
            tls = tls.is_some(),
            max_connections,
            header_timeout = human(timeouts.header),
            idle_timeout = human(timeouts.idle),
            shutdown_grace = human(config.shutdown_grace),
            max_header_bytes = requests.max_header_bytes,
            max_body_bytes = requests.max_body_bytes,
            "{what} {}",
            listener.describe(tls.is_some())
        );
        Ok(Server {
            listener,
            tls,
            registry: Arc::new(Registry::new(max_connections)),
            timeouts,
            requests,
            grace: config.shutdown_grace,
        })
    }

    /// The connection counts, as `/healthz` shows them.
    pub fn connections(&self) -> Connections {
        Connections(self.registry.clone())
    }

    /// The TCP address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }

    /// Serves `router` until `shutdown` completes, then closes every
    /// connection within the grace period (see the module's doc).
    pub async fn serve(self, router: axum::Router, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server { listener, tls, registry, timeouts, requests, grace } = self;
        let mut http = hyper::server::conn::http1::Builder::new();
        http.keep_alive(true).header_read_timeout(None).max_buf_size(requests.hyper_buffer_bytes()).writev(false);
        let plain = tls.is_none();
        let ctx = Arc::new(Ctx { router, requests, tls, registry: registry.clone(), http });
        let (stage, stage_rx) = watch::channel(conn::RUNNING);
        // Every connection's task holds a sender: `recv` ends when all have ended.
        let (running, mut all_ended) = mpsc::channel::<()>(1);
        let mut last_accept_error = None;
        tokio::pin!(shutdown);
        loop {
            let (accepted, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        accept_failed(e, &registry, &mut last_accept_error).await;
                        continue;
                    }
                },
            };
            Counters::bump(&registry.counters.accepted);
            let kill = Arc::new(Notify::new());
            let Some(id) = registry.admit(kill.clone()) else {
                refuse_at_cap(accepted, plain);
                continue;
            };
            let shared = Arc::new(Shared::new(id, registry.clone(), timeouts));
            let task = conn::run(accepted, peer, ctx.clone(), shared, kill, stage_rx.clone());
            let running = running.clone();
            tokio::spawn(async move {
                task.await;
                drop(running);
            });
        }
        listener.close();
        tracing::info!(
            open = registry.open(),
            "stopped accepting; requests in flight have {} to finish",
            humantime::format_duration(grace)
        );
        let _ = stage.send(conn::DRAINING);
        drop(running);
        if tokio::time::timeout(grace, all_ended.recv()).await.is_err() {
            tracing::warn!(open = registry.open(), "shutdown grace over: closing the connections still open");
            let _ = stage.send(conn::STOPPING);
            let _ = tokio::time::timeout(Duration::from_secs(1), all_ended.recv()).await;
        }
        Ok(())
    }
}

/// Every open connection is in a request: say so where it can be said
/// without a handshake, and close.
fn refuse_at_cap(accepted: Accepted, plain: bool) {
    let answer = reply::raw(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "too many connections, all in a request; try again shortly",
    );
    match accepted {
        Accepted::Tcp(s) if plain => drop(s.try_write(&answer)),
        Accepted::Unix(s) => drop(s.try_write(&answer)),
        Accepted::Tcp(_) => {}
    }
}

/// Out of descriptors: close the idlest connection to free one. Any failure
/// is logged at most every 10 s; accepting resumes after a short pause.
async fn accept_failed(e: std::io::Error, registry: &Registry, last: &mut Option<tokio::time::Instant>) {
    let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
    if out_of_fds {
        registry.evict_one();
    }
    let now = tokio::time::Instant::now();
    if last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10)) {
        *last = Some(now);
        tracing::warn!(open = registry.open(), "accepting a connection failed: {e}");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[cfg(test)]
mod tests;
