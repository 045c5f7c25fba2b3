//! `GET /healthz`: liveness plus the global counters (nothing is lost silently).
use std::sync::Arc;

use axum::{Extension, Json, extract::State};
use serde::Serialize;

use crate::{
    kernel::{KernelCounters, ProgramStats, RingTotals},
    server::{ConnectionCounts, Connections},
    tracer::{Totals, Tracer},
};

#[derive(Serialize)]
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
    kernel: Kernel,
    ring: Ring,
    /// Whether the syscall hooks are attached (they are not while nothing is watched).
    hooks_attached: bool,
    programs: Vec<Program>,
    /// The server's connections, when a server serves the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    connections: Option<ConnectionCounts>,
}

/// Host-wide kernel loss counters.
#[derive(Serialize)]
struct Kernel {
    ring_full: u64,
    threads_full: u64,
    watched_full: u64,
    /// Captures lost because the ring buffer was full.
    aux_lost: u64,
}

#[derive(Serialize)]
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
#[derive(Serialize)]
struct Program {
    name: &'static str,
    id: u32,
    run_count: u64,
    run_time_ns: u64,
}

impl From<Totals> for Health {
    fn from(t: Totals) -> Health {
        let KernelCounters { ring_full, threads_full, watched_full, capture_lost } = t.kernel;
        let RingTotals { size_bytes, peak_used_bytes, items_read, records_read } = t.ring;
        Health {
            status: "ok",
            watched: t.watched,
            exited: t.exited,
            memory_bytes: t.memory_bytes,
            late: t.late,
            malformed: t.malformed,
            aux_unpaired: t.capture_unpaired,
            kernel: Kernel { ring_full, threads_full, watched_full, aux_lost: capture_lost },
            ring: Ring { size_bytes, peak_used_bytes, items_read, records_read },
            hooks_attached: t.hooks_attached,
            programs: t
                .programs
                .into_iter()
                .map(|ProgramStats { name, id, run_count, run_time_ns }| Program { name, id, run_count, run_time_ns })
                .collect(),
            connections: None,
        }
    }
}

pub async fn health(State(tracer): State<Arc<Tracer>>, server: Option<Extension<Connections>>) -> Json<Health> {
    let mut health = Health::from(tracer.totals());
    health.connections = server.map(|Extension(c)| c.counts());
    Json(health)
}
