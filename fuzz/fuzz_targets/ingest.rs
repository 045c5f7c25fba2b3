//! Ring-buffer records as the drain hands them to the tracer: the bytes are
//! cut into records at the lengths their first bytes say; any record, batch,
//! capture or garbage must be stored or counted, never crash the daemon.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strace_api::tracer::Tracer;

static TRACER: OnceLock<(Tracer, u32)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (t, pid) = TRACER.get_or_init(common::tracer);
    let mut rest = data;
    let mut ingest = t.ingest();
    while let Some((&len, tail)) = rest.split_first() {
        let take = (len as usize * 8).min(tail.len());
        ingest.record(&tail[..take]);
        rest = &tail[take..];
    }
    drop(ingest);
    // Whatever was stored renders.
    let events = t.read(*pid, |log| log.last(16).map(|(_, e)| e).collect::<Vec<_>>()).unwrap_or_default();
    for e in &events {
        let _ = strace_api::syscall::line(e, true);
    }
});
