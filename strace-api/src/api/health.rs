//! `GET /healthz`: liveness plus the global counters (nothing is lost silently).
use std::sync::Arc;

use axum::{Extension, Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::stream::{StreamCounts, Streams};
use crate::{
    export::ExportTotals,
    kernel::{KernelCounters, ProgramStats, RingTotals},
    server::{ConnectionCounts, Connections},
    tracer::{Totals, Tracer},
};

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    /// Processes watched and alive.
    watched: usize,
    /// Exited processes whose history is still kept.
    exited: usize,
    memory_bytes: usize,
    /// Events that arrived for a process no longer watched.
    late: u64,
    /// Ring-buffer records that could not be decoded.
    malformed: u64,
    /// Captures (argument copies) that found no syscall record to go with.
    aux_unpaired: u64,
    /// Fds shown without their path because their process's fd table was
    /// full (`--fd-paths`).
    fd_table_full: u64,
    kernel: Kernel,
    ring: Ring,
    /// Whether the syscall hooks are attached (they are not while nothing is watched).
    hooks_attached: bool,
    programs: Vec<Program>,
    /// Live streams (`/v1/processes/{pid}/events/stream`).
    streams: StreamCounts,
    /// The event export, when it is on (`--export-nats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    export: Option<Export>,
    /// The server's connections, when a server serves the request: `open`,
    /// `max`, `accepted`, `refused_at_cap`, `evicted_at_cap`,
    /// `header_timeouts`, `idle_timeouts`, `tls_failures`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    connections: Option<ConnectionCounts>,
}

/// The event export's counters: every event selected is published,
/// dropped, or still queued.
#[derive(Serialize)]
struct Export {
    connected: bool,
    /// Connections made (the first one, then each reconnection).
    connections: u64,
    /// Events waiting in the queue now, and its size.
    queued: usize,
    queue_capacity: usize,
    /// Events the queue took so far.
    queued_total: u64,
    published: u64,
    /// Events dropped: the queue was full, or publishing failed.
    dropped: u64,
    dropped_queue_full: u64,
    dropped_publish_failed: u64,
}

impl From<ExportTotals> for Export {
    fn from(x: ExportTotals) -> Export {
        Export {
            connected: x.connected,
            connections: x.connections,
            queued: x.queued,
            queue_capacity: x.queue_capacity,
            queued_total: x.queued_total,
            published: x.published,
            dropped: x.dropped_queue_full + x.dropped_failed,
            dropped_queue_full: x.dropped_queue_full,
            dropped_publish_failed: x.dropped_failed,
        }
    }
}

/// Host-wide kernel loss counters.
#[derive(Serialize, ToSchema)]
struct Kernel {
    ring_full: u64,
    threads_full: u64,
    watched_full: u64,
    /// Captures lost because the ring buffer was full.
    aux_lost: u64,
    /// Records lost (counted in `ring_full`) whose place in their history
    /// is not marked with a gap.
    loss_unplaced: u64,
    /// Records dropped because their process had more than its share of a
    /// nearly full ring (each in its process's `dropped` too).
    throttled: u64,
    /// Syscalls not traced because their process held its share of the
    /// thread table (`--max-threads-per-pid`).
    thread_share: u64,
}

#[derive(Serialize, ToSchema)]
struct Ring {
    size_bytes: u64,
    /// `null` when the daemon cannot read the ring's fill level.
    peak_used_bytes: Option<u64>,
    /// Items the drain read: one per kernel write (a CPU's batch of records,
    /// or a process record).
    items_read: u64,
    /// Records in them (`records_read / items_read`: records per ring write).
    records_read: u64,
}

/// One loaded eBPF program (run counts and times need
/// `kernel.bpf_stats_enabled=1`).
#[derive(Serialize, ToSchema)]
struct Program {
    name: &'static str,
    id: u32,
    run_count: u64,
    run_time_ns: u64,
}

impl Health {
    fn new(t: Totals, streams: StreamCounts) -> Health {
        let KernelCounters {
            ring_full,
            threads_full,
            watched_full,
            capture_lost,
            loss_unplaced,
            throttled,
            thread_share,
        } = t.kernel;
        let RingTotals { size_bytes, peak_used_bytes, items_read, records_read } = t.ring;
        Health {
            status: "ok",
            watched: t.watched,
            exited: t.exited,
            memory_bytes: t.memory_bytes,
            late: t.late,
            malformed: t.malformed,
            aux_unpaired: t.capture_unpaired,
            fd_table_full: t.fd_table_full,
            kernel: Kernel {
                ring_full,
                threads_full,
                watched_full,
                aux_lost: capture_lost,
                loss_unplaced,
                throttled,
                thread_share,
            },
            ring: Ring { size_bytes, peak_used_bytes, items_read, records_read },
            hooks_attached: t.hooks_attached,
            programs: t
                .programs
                .into_iter()
                .map(|ProgramStats { name, id, run_count, run_time_ns }| Program { name, id, run_count, run_time_ns })
                .collect(),
            streams,
            export: t.export.map(Export::from),
            connections: None,
        }
    }
}

/// Liveness and the global counters (needs no token).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses((status = 200, description = "The daemon runs; its counters", body = Health))
)]
pub async fn health(
    State(tracer): State<Arc<Tracer>>,
    State(streams): State<Arc<Streams>>,
    server: Option<Extension<Connections>>,
) -> Json<Health> {
    let mut health = Health::new(tracer.totals(), streams.counts());
    health.connections = server.map(|Extension(c)| c.counts());
    Json(health)
}
