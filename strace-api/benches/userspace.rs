//! The userspace data path, piece by piece (`cargo xtask bench` runs these
//! after the overhead table): record decoding, aux pairing and storing,
//! per-process ring insert/evict, strace-line rendering, JSON for 100 events.
use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use strace_api::{
    api::view::EventView,
    clock::Clock,
    recorder::{Event, Limits, Recorder},
    syscall,
    tracer::{NullKernel, Tracer},
};
use strace_common::{
    RecordKind, SyscallRecord,
    capture::{AUX_HEADER_BYTES, AUX_ITEM_BYTES, AuxHeader, AuxItem, item_span},
};
use syscalls::Sysno;

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

/// An aux record with one path, as the kernel sends for openat.
fn aux_record(pid: u32, enter_ns: u64, path: &[u8]) -> Vec<u8> {
    let len = AUX_HEADER_BYTES + item_span(path.len());
    let head = AuxHeader {
        kind: RecordKind::Aux as u16,
        count: 1,
        nr: Sysno::openat.id(),
        pid,
        tid: pid,
        enter_ns,
        len: len as u32,
        _pad: 0,
    };
    let item = AuxItem { arg: 1, kind: AuxItem::STRING, flags: 0, index: 0, len: path.len() as u16, _pad: 0 };
    let mut out = vec![0u8; len];
    // SAFETY: plain #[repr(C)] data written into a buffer of the right size.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().cast(), head);
        std::ptr::write_unaligned(out[AUX_HEADER_BYTES..].as_mut_ptr().cast(), item);
    }
    out[AUX_HEADER_BYTES + AUX_ITEM_BYTES..][..path.len()].copy_from_slice(path);
    out
}

fn openat_event() -> Event {
    let r = record(1, Sysno::openat, 1_000);
    let (_, mut ev) = Event::from_record(&r);
    let aux = aux_record(1, 1_000, b"/etc/ld.so.cache");
    ev.aux = Some(aux[AUX_HEADER_BYTES..].into());
    ev
}

fn benches(c: &mut Criterion) {
    let getppid = record(1, Sysno::getppid, 5);
    c.bench_function("decode one record", |b| b.iter(|| SyscallRecord::read(black_box(getppid.as_bytes()))));

    // A tracer storing into a full ring: every push evicts one.
    let pid = std::os::unix::process::parent_id();
    let limits = Limits { per_process: 4096, memory_bytes: 256 << 20 };
    let tracer = Tracer::new(Box::new(NullKernel), limits, Clock::from_offset(0), Duration::from_secs(600), None);
    tracer.watch(pid, false).expect("our parent can be watched");
    let bytes = record(pid, Sysno::getppid, 5);
    for _ in 0..5000 {
        tracer.ingest().record(bytes.as_bytes());
    }
    c.bench_function("store 1000 records into a full ring (one batch)", |b| {
        b.iter(|| {
            let mut batch = tracer.ingest();
            for _ in 0..1000 {
                batch.record(black_box(bytes.as_bytes()));
            }
        })
    });
    let aux = aux_record(pid, 7, b"/etc/ld.so.cache");
    let with_path = record(pid, Sysno::openat, 7);
    c.bench_function("pair an aux record with its syscall and store both", |b| {
        b.iter(|| {
            let mut batch = tracer.ingest();
            batch.record(black_box(&aux));
            batch.record(black_box(with_path.as_bytes()));
        })
    });

    let mut r = Recorder::new(limits);
    r.open(1);
    let (_, ev) = Event::from_record(&getppid);
    c.bench_function("recorder push with eviction", |b| b.iter(|| r.push(1, black_box(ev.clone()))));

    // At the memory cap, a chunk's worth of events is shed every ~93 pushes,
    // from the largest history: with many watched processes (--watch-all)
    // finding it must not cost per process.
    let mut group = c.benchmark_group("recorder push at the memory cap");
    for logs in [10u32, 1000, 10_000] {
        // Each quiet history holds one chunk (80 MiB for 10,000); the busy one
        // fills the rest of the cap and is then shed.
        let cap = 128 << 20;
        let mut r = Recorder::new(Limits { per_process: usize::MAX, memory_bytes: cap });
        for pid in 1..=logs {
            r.open(pid);
            for _ in 0..50 {
                r.push(pid, ev.clone());
            }
        }
        for _ in 0..2_000_000 {
            r.push(1, ev.clone());
        }
        assert!(r.bytes() > cap - (64 << 10), "at the cap: {} of {cap}", r.bytes());
        group.bench_function(format!("{logs} histories"), |b| b.iter(|| r.push(1, black_box(ev.clone()))));
    }
    group.finish();

    let open = openat_event();
    c.bench_function("render an openat line (path, flags)", |b| b.iter(|| syscall::line(black_box(&open), false)));
    c.bench_function("render a getppid line", |b| b.iter(|| syscall::line(black_box(&ev), false)));

    let clock = Clock::from_offset(0);
    let events: Vec<Event> = (0..100).map(|i| if i % 2 == 0 { open.clone() } else { ev.clone() }).collect();
    c.bench_function("JSON for 100 events", |b| {
        b.iter(|| {
            let views: Vec<_> =
                events.iter().enumerate().map(|(i, e)| EventView::new(1, i as u64, e, &clock, false)).collect();
            serde_json::to_vec(&views).unwrap()
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
