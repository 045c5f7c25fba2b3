//! strace-api: an eBPF syscall observer with an HTTP API.
//!
//! The data path, a module each, every one depending only on those before it:
//! `probe` loads the kernel program and implements `kernel` (the interface
//! the rest uses) → `drain` reads the ring buffer → `tracer` keeps the watches
//! consistent with the kernel and stores records into `recorder` (per-process
//! bounded histories), pairing `capture`s (argument copies) with their calls
//! → `syscall` decodes and renders calls as strace does → `api` serves them.
//! Beside the path: `metrics` turns the recorder's per-process counters and
//! the daemon's own into `/metrics` when it is read, and `export` receives
//! the events a selection picks from the tracer as they are stored, through
//! a bounded queue, and publishes them to NATS.
//! `server` serves the API's connections (their number, timeouts, TLS);
//! `daemon` starts and stops it all; `procs` and `clock` are what /proc and
//! the clocks say.
//!
//! Public: what the binary uses (`config`, `daemon`) and what the userspace
//! benchmarks drive without a kernel (`tracer` with `kernel::fake` under the
//! `fake-kernel` feature, `api::router`, `syscall::line`).
pub mod api;
mod capture;
pub mod clock;
pub mod config;
pub mod daemon;
mod drain;
pub mod export;
pub mod filter;
pub mod kernel;
pub mod metrics;
mod probe;
mod procs;
pub mod recorder;
mod redact;
pub mod server;
mod state;
pub mod summary;
pub mod syscall;
pub mod tracer;
