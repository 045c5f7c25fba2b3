//! strace-api: an eBPF syscall observer with an HTTP API.
//!
//! Data path, one module each:
//! `probe` (load and attach the kernel program, the watch table) →
//! `drain` (ring buffer → records) → `recorder` (per-process bounded history) →
//! `syscall` (names, signatures, strace-style lines) → `api` (HTTP).
//! `tracer` ties them together; `daemon` starts and stops it all.
pub mod api;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod drain;
pub mod lifecycle;
pub mod probe;
pub mod procs;
pub mod recorder;
pub mod syscall;
pub mod tracer;
