//! The userspace data path, piece by piece, each through the path the daemon
//! itself takes (`cargo xtask bench` runs these after the overhead table):
//! record decoding, ingesting batches (pairing captures, storing into full
//! histories and at the memory cap), strace-line rendering, and an events
//! page of 100 events through the API's router. The kernel is the in-memory
//! one (`fake-kernel` feature).
use std::{hint::black_box, sync::Arc, time::Duration};

use axum::{body::Body, http::Request};
use criterion::{Criterion, criterion_group, criterion_main};
use strace_api::{
    api,
    clock::Clock,
    kernel::fake::FakeKernel,
    recorder::{Event, Limits},
    syscall,
    tracer::{Tracer, TracerConfig},
};
use strace_common::{
    ProcessRecord, RecordKind, SyscallRecord, WatchEntry,
    capture::{CAPTURE_HEADER_BYTES, CAPTURE_ITEM_BYTES, CaptureHeader, CaptureItem, item_span},
};
use syscalls::Sysno;
use tower::ServiceExt as _;

fn record(pid: u32, nr: Sysno, enter_ns: u64) -> SyscallRecord {
    SyscallRecord {
        kind: RecordKind::Syscall as u16,
        pid,
        tid: pid,
        nr: nr.id(),
        enter_ns,
        exit_ns: enter_ns + 900,
        ret: 3,
        args: [(-100i64) as u64, 0x7ffd_0000, 0x80000, 0, 0, 0],
        ..Default::default()
    }
}

/// A capture record with one path, as the kernel sends for openat.
fn capture_record(pid: u32, enter_ns: u64, path: &[u8]) -> Vec<u8> {
    let len = CAPTURE_HEADER_BYTES + item_span(path.len());
    let head = CaptureHeader {
        kind: RecordKind::Capture as u16,
        count: 1,
        nr: Sysno::openat.id(),
        pid,
        tid: pid,
        enter_ns,
        len: len as u32,
        _pad: 0,
    };
    let item = CaptureItem { arg: 1, kind: CaptureItem::STRING, flags: 0, index: 0, len: path.len() as u16, _pad: 0 };
    let mut out = vec![0u8; len];
    // SAFETY: plain #[repr(C)] data written into a buffer of the right size.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().cast(), head);
        std::ptr::write_unaligned(out[CAPTURE_HEADER_BYTES..].as_mut_ptr().cast(), item);
    }
    out[CAPTURE_HEADER_BYTES + CAPTURE_ITEM_BYTES..][..path.len()].copy_from_slice(path);
    out
}

fn tracer(limits: Limits) -> Tracer {
    let config = TracerConfig {
        limits,
        clock: Clock::from_offset(0),
        retention: Duration::from_secs(600),
        durations: true,
        ring_bytes: 8 << 20,
        fd_paths: false,
        max_exited: 10_000,
        watch_all_filter: None,
    };
    Tracer::new(Box::new(FakeKernel::default()), config)
}

/// The last `n` events of `pid`, as the API reads them.
fn last(tracer: &Tracer, pid: u32, n: usize) -> Vec<Event> {
    tracer.read(pid, |log| log.last(n).map(|(_, e)| e).collect()).expect("watched")
}

fn benches(c: &mut Criterion) {
    let getppid = record(1, Sysno::getppid, 5);
    c.bench_function("decode one record", |b| b.iter(|| SyscallRecord::read(black_box(getppid.as_bytes()))));

    // A tracer storing into a full history: every record evicts one.
    let pid = std::os::unix::process::parent_id();
    let limits = Limits { per_process: 4096, memory_bytes: 256 << 20, keep_per_process: 100 };
    let t = tracer(limits);
    t.watch(pid, false).expect("our parent can be watched");
    let bytes = record(pid, Sysno::getppid, 5);
    for _ in 0..5000 {
        t.ingest().record(bytes.as_bytes());
    }
    c.bench_function("store 1000 records into a full history (one batch)", |b| {
        b.iter(|| {
            let mut batch = t.ingest();
            for _ in 0..1000 {
                batch.record(black_box(bytes.as_bytes()));
            }
        })
    });
    let capture = capture_record(pid, 7, b"/etc/ld.so.cache");
    let with_path = record(pid, Sysno::openat, 7);
    c.bench_function("pair a capture record with its syscall and store both", |b| {
        b.iter(|| {
            let mut batch = t.ingest();
            batch.record(black_box(&capture));
            batch.record(black_box(with_path.as_bytes()));
        })
    });

    // At the memory cap, a chunk's worth of events is shed every ~93 records,
    // from the largest history: with many watched processes (--watch-all)
    // finding it must not cost per process. The quiet histories are of
    // processes the kernel announces as --watch-all does (numbers above
    // any pid, so no /proc lookup finds one).
    let mut group = c.benchmark_group("store a record at the memory cap");
    for logs in [10u32, 1000, 10_000] {
        // Each quiet history holds one chunk (80 MiB for 10,000); the busy one
        // fills the rest of the cap and is then shed.
        let cap = 128 << 20;
        let t = tracer(Limits { per_process: usize::MAX, memory_bytes: cap, keep_per_process: 100 });
        t.watch(pid, false).expect("our parent can be watched");
        for quiet in 5_000_000..5_000_000 + logs - 1 {
            let mut batch = t.ingest();
            let announced = ProcessRecord {
                kind: RecordKind::Process as u16,
                flags: WatchEntry::AUTO,
                host_pid: quiet,
                ns_pid: quiet,
                ..Default::default()
            };
            batch.record(announced.as_bytes());
            for _ in 0..50 {
                batch.record(record(quiet, Sysno::getppid, 5).as_bytes());
            }
        }
        for _ in 0..2_000_000 / 1000 {
            let mut batch = t.ingest();
            for _ in 0..1000 {
                batch.record(bytes.as_bytes());
            }
        }
        assert!(t.totals().memory_bytes > cap - (64 << 10), "at the cap: {} of {cap}", t.totals().memory_bytes);
        group
            .bench_function(format!("{logs} histories"), |b| b.iter(|| t.ingest().record(black_box(bytes.as_bytes()))));
    }
    group.finish();

    let open = last(&t, pid, 1).pop().expect("the openat");
    let ppid = {
        t.ingest().record(bytes.as_bytes());
        last(&t, pid, 1).pop().expect("a getppid")
    };
    c.bench_function("render an openat line (path, flags)", |b| b.iter(|| syscall::line(black_box(&open), false)));
    c.bench_function("render a getppid line", |b| b.iter(|| syscall::line(black_box(&ppid), false)));

    // A page of 100 events, half openat with their paths, through the router.
    let page = Arc::new(tracer(limits));
    page.watch(pid, false).expect("our parent can be watched");
    for i in 0..50 {
        let mut batch = page.ingest();
        batch.record(&capture_record(pid, 100 + i, b"/etc/ld.so.cache"));
        batch.record(record(pid, Sysno::openat, 100 + i).as_bytes());
        batch.record(record(pid, Sysno::getppid, 200 + i).as_bytes());
    }
    let router = api::router(page.clone(), None);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let uri = format!("/v1/processes/{pid}/events?limit=100");
    c.bench_function("GET an events page of 100 events (router, no socket)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let req = Request::builder().uri(&uri).body(Body::empty()).expect("a request");
                let resp = router.clone().oneshot(req).await.expect("an answer");
                axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("a body")
            })
        })
    });
}

criterion_group! {
    name = userspace;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = benches
}
criterion_main!(userspace);

/// The daemon's allocator (see main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
