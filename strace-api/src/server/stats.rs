//! Counts of connections, and of every connection a limit closed: shown by
//! `/healthz` and logged at a bounded rate.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use super::cap::Registry;

#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub refused_at_cap: AtomicU64,
    pub evicted_at_cap: AtomicU64,
    pub header_timeouts: AtomicU64,
    pub idle_timeouts: AtomicU64,
    pub tls_failures: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }
}

/// The server's connections as a request extension (`/healthz` reads it).
#[derive(Clone)]
pub struct Connections(pub(super) Arc<Registry>);

/// `/healthz`'s `"connections"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCounts {
    /// Open now.
    pub open: usize,
    /// The cap (`--max-connections`).
    pub max: usize,
    pub accepted: u64,
    /// Refused at the cap: every open connection was in a request.
    pub refused_at_cap: u64,
    /// Closed at the cap (or when out of descriptors) to admit a new one:
    /// the one idle the longest.
    pub evicted_at_cap: u64,
    /// Closed for not sending a whole request head in time (TLS handshake
    /// included).
    pub header_timeouts: u64,
    /// Closed after waiting too long for a next request, or for the client
    /// to read a response.
    pub idle_timeouts: u64,
    /// TLS handshakes that failed, plain HTTP sent to the HTTPS port included.
    pub tls_failures: u64,
}

impl Connections {
    pub fn counts(&self) -> ConnectionCounts {
        let c = &self.0.counters;
        ConnectionCounts {
            open: self.0.open(),
            max: self.0.cap(),
            accepted: c.accepted.load(Relaxed),
            refused_at_cap: c.refused_at_cap.load(Relaxed),
            evicted_at_cap: c.evicted_at_cap.load(Relaxed),
            header_timeouts: c.header_timeouts.load(Relaxed),
            idle_timeouts: c.idle_timeouts.load(Relaxed),
            tls_failures: c.tls_failures.load(Relaxed),
        }
    }
}

/// Logs connections closed by a limit at most once per [`Reporter::EVERY`]:
/// an attack makes one line per period, not one per connection.
#[derive(Default)]
pub struct Reporter {
    last: Mutex<Option<(Instant, [u64; 4])>>,
}

impl Reporter {
    pub const EVERY: Duration = Duration::from_secs(10);

    /// Called after a limit closed or refused a connection.
    pub fn note(&self, registry: &Registry) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|(at, _)| now.duration_since(at) < Self::EVERY) {
            return;
        }
        let c = &registry.counters;
        let counts =
            [&c.evicted_at_cap, &c.refused_at_cap, &c.header_timeouts, &c.tls_failures].map(|a| a.load(Relaxed));
        let before = last.map(|(_, b)| b).unwrap_or_default();
        let since = last.map_or_else(
            || "since start".to_string(),
            |(at, _)| format!("in the last {}s", now.duration_since(at).as_secs()),
        );
        *last = Some((now, counts));
        drop(last);
        let d: Vec<u64> = counts.iter().zip(before).map(|(n, b)| n - b).collect();
        tracing::warn!(
            evicted_at_cap = d[0],
            refused_at_cap = d[1],
            header_timeouts = d[2],
            tls_failures = d[3],
            open = registry.open(),
            max = registry.cap(),
            "connections closed by the server's limits {since} (counted in /healthz; logged at most every {}s)",
            Self::EVERY.as_secs()
        );
    }
}
