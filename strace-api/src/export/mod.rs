//! Sending selected events to a message bus (NATS), for the whole fleet's
//! events in one place.
//!
//! The drain never waits for it: it offers each selected event to a bounded
//! queue (`Outlet::offer`, a `try_send`), and a task of its own (`nats`)
//! renders and publishes them. A full queue drops the event and counts it;
//! a bus that is down, slow or refusing costs the queue's room and the
//! counted drops, nothing else.
pub mod nats;
pub mod select;

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use select::Select;
use tokio::sync::mpsc;

use crate::recorder::Event;

/// An event picked for export, as the drain stored it.
#[derive(Debug)]
pub struct Exported {
    pub pid: u32,
    pub seq: u64,
    pub event: Event,
}

/// The export's counters, shared by the drain's side and the publisher.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Events the selection picked and the queue took.
    pub queued_total: AtomicU64,
    /// Events the bus acknowledged (JetStream) or the client took to send (core NATS).
    pub published: AtomicU64,
    /// Events dropped because the queue was full (the bus was down or slow).
    pub dropped_queue_full: AtomicU64,
    /// Events dropped because publishing them failed (refused, not acknowledged in time).
    pub dropped_failed: AtomicU64,
    /// The client, once made: whether it is connected now.
    pub client: OnceLock<async_nats::Client>,
    /// Connections made (the first one and every reconnection).
    pub connections: AtomicU64,
}

/// The export's state, for /healthz and /metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportTotals {
    /// Events in the queue now, and its size.
    pub queued: usize,
    pub queue_capacity: usize,
    pub queued_total: u64,
    pub published: u64,
    pub dropped_queue_full: u64,
    pub dropped_failed: u64,
    pub connected: bool,
    pub connections: u64,
}

/// The drain's end of the export: the selection, and the queue's sending side.
pub struct Outlet {
    select: Box<dyn Select>,
    tx: mpsc::Sender<Exported>,
    stats: Arc<ExportStats>,
}

/// The publisher's end of the queue.
pub type Queue = mpsc::Receiver<Exported>;

impl Outlet {
    /// An outlet whose queue holds `capacity` events.
    pub fn new(select: Box<dyn Select>, capacity: usize) -> (Outlet, Queue, Arc<ExportStats>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(ExportStats::default());
        (Outlet { select, tx, stats: stats.clone() }, rx, stats)
    }

    /// Whether `ev` is to be exported.
    #[inline]
    pub fn wants(&self, ev: &Event) -> bool {
        self.select.select(ev)
    }

    /// Queues `x` without waiting; a full queue drops it, counted.
    pub fn offer(&self, x: Exported) {
        match self.tx.try_send(x) {
            Ok(()) => self.stats.queued_total.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn totals(&self) -> ExportTotals {
        let s = &self.stats;
        ExportTotals {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            queue_capacity: self.tx.max_capacity(),
            queued_total: s.queued_total.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
            dropped_failed: s.dropped_failed.load(Ordering::Relaxed),
            connected: s.client.get().is_some_and(|c| c.connection_state() == async_nats::connection::State::Connected),
            connections: s.connections.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct All;
    impl Select for All {
        fn select(&self, _: &Event) -> bool {
            true
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (outlet, mut rx, _) = Outlet::new(Box::new(All), 2);
        for seq in 1..=5 {
            outlet.offer(Exported { pid: 1, seq, event: Event::default() });
        }
        let t = outlet.totals();
        assert_eq!((t.queued, t.queue_capacity, t.queued_total, t.dropped_queue_full), (2, 2, 2, 3));
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        outlet.offer(Exported { pid: 1, seq: 6, event: Event::default() });
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert_eq!(rx.try_recv().unwrap().seq, 6, "room again: the next one is queued");
    }
}
