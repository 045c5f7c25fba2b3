use strace_common::{ProcessRecord, RecordKind, SyscallRecord, WatchEntry, batch};

use super::*;
use crate::kernel::fake::{FakeKernel, FakeReads};

fn record(pid: u32, nr: i32) -> SyscallRecord {
    SyscallRecord { kind: RecordKind::Syscall as u16, pid, tid: pid, nr, ..Default::default() }
}

fn me() -> u32 {
    std::process::id()
}

/// A live process that is not this one: our parent.
fn other() -> u32 {
    std::os::unix::process::parent_id()
}

#[test]
fn watch_is_idempotent_and_validated() {
    let t = testing::tracer();
    assert_eq!(t.watch(other(), true), Ok(Watched::New));
    assert_eq!(t.watch(other(), true), Ok(Watched::Already));
    assert_eq!(t.watch(i32::MAX as u32, true), Err(WatchError::NotAProcess(NotAProcess::Missing(i32::MAX as u32))));
    assert_eq!(t.watch(me(), true), Err(WatchError::NotAProcess(NotAProcess::Myself(me()))));
    if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
        assert_eq!(t.watch(2, true), Err(WatchError::NotAProcess(NotAProcess::KernelThread(2))));
    }
    assert_eq!(t.watched().len(), 1);
    assert!(t.watched()[0].alive);
}

/// `watching` says when `watch` would change nothing, and so need not wait.
#[test]
fn watching_is_true_only_when_a_watch_would_change_nothing() {
    // Exits followed, as the daemon's lifecycle task does.
    let (t, _exits) = Tracer::with_exits(Box::new(FakeKernel::default()), testing::config(100, 1 << 20));
    assert!(!t.watching(other(), false), "not watched");
    t.watch(other(), false).unwrap();
    assert!(t.watching(other(), false));
    assert!(!t.watching(other(), true), "children not followed yet");
    t.watch(other(), true).unwrap();
    assert!(t.watching(other(), true));
    assert!(!t.watching(other(), false), "following children: asking not to is a change");
    let id = t.inner().watches.get(other()).unwrap().id;
    t.exited(other(), id);
    assert!(!t.watching(other(), true), "exited: watch() decides between its history and a reused pid");
    // A watch whose exit nobody follows may outlive its process, and the
    // pid be reused: watch() compares the start time.
    let t = testing::tracer();
    t.watch(other(), true).unwrap();
    assert!(!t.watching(other(), true), "exit not followed");
}

/// `children=false` on a watch that follows children turns following off,
/// in the kernel too (children watched already keep their own watches).
#[test]
fn following_children_turns_on_and_off() {
    let kernel = FakeKernel::default();
    let settled = kernel.settled.clone();
    let t = testing::with_kernel(kernel);
    let follows = |t: &Tracer| t.stats(other()).unwrap().children;
    assert_eq!(t.watch(other(), true), Ok(Watched::New));
    assert!(follows(&t));
    assert_eq!(t.watch(other(), false), Ok(Watched::Already));
    assert!(!follows(&t));
    assert_eq!(t.watch(other(), false), Ok(Watched::Already));
    assert_eq!(settled.lock().unwrap().len(), 2, "the second false changed nothing");
    assert_eq!(t.watch(other(), true), Ok(Watched::Already));
    assert!(follows(&t));
    assert_eq!(settled.lock().unwrap().len(), 3);
}

/// Every watch change is settled (its cache byte reset again after a grace
/// period) before the request returns: watch, unwatch and an exit alike.
#[test]
fn every_watch_change_is_settled_before_the_request_returns() {
    let kernel = FakeKernel::default();
    let settled = kernel.settled.clone();
    let t = testing::with_kernel(kernel);
    t.watch(other(), false).unwrap();
    assert_eq!(*settled.lock().unwrap(), [other()]);
    assert_eq!(t.watch(other(), true), Ok(Watched::Already), "following children now: the entry changes");
    t.unwatch(other()).unwrap();
    t.watch(other(), false).unwrap();
    let id = t.inner().watches.get(other()).unwrap().id;
    t.exited(other(), id);
    assert_eq!(*settled.lock().unwrap(), [other(); 5]);
}

#[test]
fn hooks_are_attached_only_while_something_is_watched() {
    let t = testing::tracer();
    assert!(!t.totals().hooks_attached, "idle at start");
    t.watch(other(), false).unwrap();
    assert!(t.totals().hooks_attached);
    t.unwatch(other()).unwrap();
    assert!(!t.totals().hooks_attached, "idle again");
    t.watch(other(), false).unwrap();
    let id = t.inner().watches.get(other()).unwrap().id;
    t.exited(other(), id);
    assert!(!t.totals().hooks_attached, "an exited process is not watched");
}

/// A zombie (exited, not reaped) is still in /proc with the same start
/// time: asking for it again keeps its history and leaves the hooks alone.
#[test]
fn a_zombie_is_the_exited_process_not_a_new_one() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let kernel = FakeKernel::default();
    let attaches = kernel.attaches.clone();
    let t = testing::with_kernel(kernel);
    assert_eq!(t.watch(pid, false), Ok(Watched::New));
    let id = t.inner().watches.get(pid).unwrap().id;
    // Wait until it is a zombie, without reaping it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z ") {
        assert!(std::time::Instant::now() < deadline, "{pid} did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    t.exited(pid, id);
    assert_eq!(t.watch(pid, true), Ok(Watched::Exited));
    assert_eq!(t.inner().watches.get(pid).unwrap().id, id, "the same watch, and so the same history");
    assert!(!t.totals().hooks_attached);
    assert_eq!(attaches.load(std::sync::atomic::Ordering::Relaxed), 1, "attached once, for the live process");
    child.wait().unwrap();
}

/// An attach (which can wait for a kernel grace period, 10-40 ms) holds the
/// kernel lock only: the kernel's counters, the watch list and an exited
/// process's history answer meanwhile, and the drain's lock is free. The
/// new watch shows once its hooks are attached.
#[test]
fn reads_do_not_wait_for_an_attach() {
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (entered, in_attach) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let attach = {
        let armed = armed.clone();
        move || {
            if armed.load(Ordering::SeqCst) {
                entered.send(()).unwrap();
                let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(10));
            }
        }
    };
    let t = Arc::new(testing::with_kernel(FakeKernel { attach: Some(Arc::new(attach)), ..Default::default() }));
    t.watch(other(), false).unwrap();
    let id = t.inner().watches.get(other()).unwrap().id;
    t.exited(other(), id);
    assert!(!t.totals().hooks_attached);

    let sleeper = procs::Sleeper::spawn();
    let pid = sleeper.pid();
    armed.store(true, Ordering::SeqCst);
    let watching = std::thread::spawn({
        let t = t.clone();
        move || t.watch(pid, false)
    });
    in_attach.recv_timeout(Duration::from_secs(5)).expect("the watch did not attach");
    let (answered, answers) = std::sync::mpsc::channel();
    let reader = std::thread::spawn({
        let t = t.clone();
        move || {
            let totals = t.totals();
            let list = t.watched();
            let exited = t.stats(other());
            drop(t.inner());
            answered.send((totals.hooks_attached, list.len(), exited.is_some())).unwrap();
        }
    });
    let read = answers.recv_timeout(Duration::from_secs(5));
    release.send(()).unwrap();
    assert_eq!(read, Ok((false, 1, true)), "the reads waited for the attach");
    assert_eq!(watching.join().unwrap(), Ok(Watched::New));
    reader.join().unwrap();
    assert!(t.totals().hooks_attached);
    assert_eq!(t.watched().len(), 2);
}

/// At shutdown a request waiting for events answers at once.
#[tokio::test]
async fn close_ends_the_waits_for_events() {
    let t = Arc::new(testing::tracer());
    t.watch(other(), false).unwrap();
    let long = tokio::time::Instant::now() + Duration::from_secs(600);
    let waiting = tokio::spawn({
        let t = t.clone();
        async move { t.wait_for(other(), 1, long).await }
    });
    tokio::task::yield_now().await;
    t.close();
    tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("still waiting after close").unwrap();
    // And one that starts after it does not wait either.
    tokio::time::timeout(Duration::from_secs(5), t.wait_for(other(), 1, long)).await.expect("waited after close");
}

/// What a process ran stays with its watch after it has exited.
#[test]
fn an_exited_process_keeps_its_name() {
    // Reaped when dropped, also if an assertion fails first.
    let mut child = procs::Sleeper::spawn();
    let pid = child.pid();
    let t = testing::tracer();
    t.watch(pid, false).unwrap();
    let names = |t: &Tracer| t.stats(pid).map(|s| (s.alive, s.comm, s.cmdline));
    let cmdline = vec!["sleep".to_string(), "30".to_string()];
    assert_eq!(names(&t), Some((true, Some("sleep".into()), cmdline.clone())));
    child.0.kill().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z ") {
        assert!(std::time::Instant::now() < deadline, "{pid} did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let id = t.inner().watches.get(pid).unwrap().id;
    t.exited(pid, id);
    assert_eq!(
        names(&t),
        Some((false, Some("sleep".into()), cmdline)),
        "a zombie has an empty command line: the one read at the start stays"
    );
}

#[test]
fn ingest_counts_everything() {
    let t = testing::tracer();
    let p = other();
    t.watch(p, false).unwrap();
    let (a, b) = (record(p, 1), record(i32::MAX as u32, 2));
    let junk = [0u8; 3];
    let mut batch = t.ingest();
    for bytes in [a.as_bytes(), b.as_bytes(), &junk[..]] {
        batch.record(bytes);
    }
    drop(batch);
    let s = t.stats(p).unwrap();
    assert_eq!((s.seen, s.retained, s.last_seq), (1, 1, 1));
    let totals = t.totals();
    assert_eq!((totals.late, totals.malformed), (1, 1));
    let end = t.unwatch(p).unwrap();
    assert_eq!(end.seen, 1);
    assert_eq!(t.unwatch(p), Err(WatchError::NotWatched(p)));
}

/// A kernel batch: its header and the records, each 8-byte aligned.
fn batch_of(records: &[&[u8]]) -> Vec<u8> {
    let mut bytes = vec![0u8; batch::HEADER_BYTES];
    for r in records {
        bytes.extend_from_slice(r);
        bytes.resize(batch::next_offset(bytes.len(), 0), 0);
    }
    let head = batch::BatchHeader {
        kind: RecordKind::Batch as u16,
        count: records.len() as u32,
        len: bytes.len() as u32,
        ..Default::default()
    };
    bytes[..batch::HEADER_BYTES].copy_from_slice(head.as_bytes());
    bytes
}

#[test]
fn a_kernel_batch_is_stored_record_by_record_and_a_cut_one_is_counted() {
    let t = testing::tracer();
    let p = other();
    t.watch(p, false).unwrap();
    let bytes = batch_of(&[record(p, 1).as_bytes(), record(p, 2).as_bytes(), record(p, 3).as_bytes()]);
    let mut ingest = t.ingest();
    assert_eq!(ingest.record(&bytes), 3);
    // Cut inside its last record: two stored, one malformed.
    assert_eq!(ingest.record(&bytes[..bytes.len() - 8]), 3);
    drop(ingest);
    let s = t.stats(p).unwrap();
    assert_eq!((s.seen, s.last_seq), (5, 5));
    let nrs: Vec<i32> = t.inner().recorder.log(p).unwrap().after(0, 10).map(|(_, e)| e.nr()).collect();
    assert_eq!(nrs, [1, 2, 3, 1, 2]);
    assert_eq!(t.totals().malformed, 1);
}

/// A pid the kernel announces while an older process's watch of that pid is
/// still live (its exit not handled yet) is a new process: a new watch and
/// history, not the old one's.
#[test]
fn an_announced_reused_pid_gets_a_new_watch() {
    let t = testing::tracer();
    let p = other();
    let old = match t.inner().watches.start(p, Some(1), Origin::Requested, false, None) {
        watches::Start::New { id, .. } => id,
        other => panic!("{other:?}"),
    };
    t.inner().recorder.open(p);
    let announce = ProcessRecord {
        kind: RecordKind::Process as u16,
        flags: WatchEntry::AUTO,
        host_pid: 4242,
        ns_pid: p,
        ..Default::default()
    };
    t.ingest().record(announce.as_bytes());
    let w = t.inner().watches.get(p).cloned().unwrap();
    assert_ne!(w.id, old, "a new watch");
    assert_ne!(w.start_ticks, Some(1), "with the new process's start time");
}

#[test]
fn kernel_announced_children_get_a_log_first() {
    let t = testing::tracer();
    let child = other();
    let announce = ProcessRecord {
        kind: RecordKind::Process as u16,
        flags: WatchEntry::CHILD | WatchEntry::FOLLOW_CHILDREN,
        host_pid: 4242,
        ns_pid: child,
        parent_ns_pid: 1,
        ..Default::default()
    };
    let mut batch = t.ingest();
    batch.record(announce.as_bytes());
    batch.record(record(child, 39).as_bytes());
    drop(batch);
    let s = t.stats(child).unwrap();
    assert_eq!((s.seen, s.origin, s.parent, s.children), (1, Origin::Child, Some(1), true));
    assert_eq!(t.totals().late, 0);
    let w = t.inner().watches.get(child).cloned().unwrap();
    let procs::Lookup::Process { start_ticks } = procs::lookup(child) else { panic!("{child} is alive") };
    assert_eq!(w.start_ticks, Some(start_ticks), "read from /proc once the batch was stored");
}

#[test]
fn kernel_drops_are_reported_and_survive_the_exit() {
    let losses = Losses { dropped: 7, throttled: 3, thread_share: 2 };
    let t = testing::with_kernel(FakeKernel {
        reads: Arc::new(FakeReads { lost: losses, ..Default::default() }),
        ..Default::default()
    });
    let p = other();
    t.watch(p, false).unwrap();
    assert_eq!(t.stats(p).unwrap().losses, losses);
    let id = t.inner().watches.get(p).unwrap().id;
    t.exited(p, id);
    assert_eq!(t.stats(p).unwrap().losses, losses, "kept, reasons and all, when the kernel's entry goes");
}

#[test]
fn exited_processes_keep_their_history_until_swept() {
    let config = TracerConfig { retention: Duration::ZERO, ..testing::config(100, 1 << 20) };
    let t = Tracer::new(Box::new(FakeKernel::default()), config);
    let p = other();
    t.watch(p, false).unwrap();
    t.ingest().record(record(p, 39).as_bytes());
    let id = t.inner().watches.get(p).unwrap().id;
    t.exited(p, id);
    let s = t.stats(p).unwrap();
    assert!(!s.alive && s.exited_at.is_some());
    assert_eq!(s.retained, 1, "history stays readable");
    assert_eq!(t.totals().exited, 1);
    assert_eq!(t.sweep(), 1);
    assert!(t.stats(p).is_none());
}

#[tokio::test]
async fn waiters_wake_on_arrival_exit_or_deadline() {
    let t = std::sync::Arc::new(testing::tracer());
    let p = other();
    t.watch(p, false).unwrap();
    let start = Instant::now();
    t.wait_for(p, 1, start + Duration::from_millis(50)).await;
    assert!(start.elapsed() >= Duration::from_millis(50));

    let t2 = t.clone();
    let feeder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        t2.ingest().record(record(p, 7).as_bytes());
    });
    let start = Instant::now();
    t.wait_for(p, 1, start + Duration::from_secs(10)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    feeder.await.unwrap();

    let id = t.inner().watches.get(p).unwrap().id;
    t.exited(p, id);
    let start = Instant::now();
    t.wait_for(p, 100, start + Duration::from_secs(10)).await;
    assert!(start.elapsed() < Duration::from_secs(5), "an exited process is not waited for");
}
