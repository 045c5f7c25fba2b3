//! The kernel's per-CPU batches of records, with the real eBPF program. In
//! a test binary of its own: the first test needs a CPU without other tests'
//! processes switching in.
mod support;

use std::time::Duration;

use aya::maps::{MapData, MapInfo, PerCpuArray};
use support::{Workload, assert_in_order, call};

/// The tests here run one at a time: the first needs a quiet CPU.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Context switches of `pid` so far.
fn switches(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let count = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    count("voluntary_ctxt_switches") + count("nonvoluntary_ctxt_switches")
}

/// Pins `pid` (0: the calling thread) to `cpu`; false if it failed (the
/// thread is gone).
fn pin(pid: u32, cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid as i32, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The CPUs this test may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; the kernel fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set), 0);
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

/// The kernel sends a thread's records in batches, written out when the CPU
/// switches tasks. A thread that makes a few calls and then spins on its CPU
/// (no switch needs to come) still has them delivered: the timer tick writes
/// the batch out. The workload runs on the last CPU, this test and the daemon
/// on the first; an attempt counts only if the workload's CPU emptied its
/// batch while the workload was not switched out (this machine's spinners
/// see a few switches a second from kernel threads; one CI run saw a switch
/// in each of 10 attempts in a row, hence 30).
#[test]
fn a_spinning_thread_s_last_calls_arrive_without_a_task_switch() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cpus = allowed_cpus();
    let d = daemon!();
    let (&ours, &theirs) = match (cpus.first(), cpus.last()) {
        (Some(a), Some(b)) if a != b => (a, b),
        _ => {
            println!("one CPU allowed: the workload cannot have one to itself; nothing to show");
            return;
        }
    };
    assert!(pin(0, ours));
    for task in std::fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap() {
        // A thread that exited meanwhile cannot be pinned, nor needs to be.
        pin(task.unwrap().file_name().to_str().unwrap().parse().unwrap(), ours);
    }
    let batches = batch_map(d.pid());
    let held = |cpu: usize| (batches.get(&0, 0).unwrap()[cpu][0] >> 32) as u32;
    for attempt in 1..=30 {
        let mut w = Workload::new(&["getppid", "getppid"]);
        assert!(pin(w.pid, theirs));
        d.watch(w.pid);
        let before = switches(w.pid);
        w.go(); // it said "done" and now spins, making no syscalls
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while held(theirs) != 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        let after = switches(w.pid);
        assert_eq!(held(theirs), 0, "the spinning workload's CPU kept its batch for a second");
        let events = d.wait_events(w.pid, Duration::from_secs(5), |e| e.len() >= 3);
        assert_in_order(&events, &[call("getppid"), call("getppid"), call("write").returning(5)]);
        w.finish();
        if before == after {
            println!("attempt {attempt}: written out while the workload spun, with no task switch");
            return;
        }
        println!("attempt {attempt}: the workload was switched out {} times; again", after - before);
    }
    panic!("the workload was switched out in every attempt: the tick's flush was not shown");
}

/// Watches of two storms started and ended from two clients at once, so
/// detaches, attaches and their settles overlap: once both are unwatched no
/// hook is left, no CPU keeps a batch, and no flush had to fall back.
#[test]
fn overlapping_watch_changes_leave_no_hook_and_no_batch() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = daemon!();
    let mut storms = [Workload::new(&["storm:50000000"]), Workload::new(&["storm:50000000"])];
    for w in &mut storms {
        w.go_without_waiting();
    }
    std::thread::scope(|s| {
        for w in &storms {
            let (d, pid) = (&d, w.pid);
            s.spawn(move || {
                for _ in 0..10 {
                    d.watch(pid);
                    std::thread::sleep(Duration::from_millis(5));
                    assert_eq!(d.delete(&format!("/v1/watch/{pid}")).0, 200);
                }
            });
        }
    });
    let (_, health) = d.get("/healthz");
    assert_eq!(health["hooks_attached"], false, "{health}");
    let programs = health["programs"].as_array().unwrap();
    let id_of = |name: &str| programs.iter().find(|p| p["name"] == name).unwrap()["id"].as_u64().unwrap() as u32;
    let linked: Vec<u32> = aya::programs::loaded_links().filter_map(Result::ok).map(|l| l.program_id()).collect();
    for name in ["sys_enter", "sys_exit", "task_switch", "tick"] {
        assert!(!linked.contains(&id_of(name)), "{name} is still attached");
    }
    for (cpu, head) in batch_map(d.pid()).get(&0, 0).unwrap().iter().enumerate() {
        let (len, count) = (head[0] as u32, (head[0] >> 32) as u32);
        assert_eq!((len, count), (0, 0), "CPU {cpu} still holds a batch");
    }
    let log = d.log();
    assert!(!log.contains("flush hooks instead") && !log.contains("may stay batched"), "{log}");
}

/// A CPU's buffer as the kernel lays it out (strace-ebpf/src/batch.rs): len
/// and count (u32 each) first, then the rest (strace_common's CPU_BUFFER_BYTES).
type BatchValue = [u64; strace_common::batch::CPU_BUFFER_BYTES / 8];

/// The daemon's per-CPU BATCH map, found through its open file descriptors.
fn batch_map(daemon_pid: u32) -> PerCpuArray<MapData, BatchValue> {
    for fd in std::fs::read_dir(format!("/proc/{daemon_pid}/fdinfo")).unwrap() {
        let info = std::fs::read_to_string(fd.unwrap().path()).unwrap_or_default();
        let Some(id) = info.lines().find_map(|l| l.strip_prefix("map_id:")).and_then(|v| v.trim().parse().ok()) else {
            continue;
        };
        if MapInfo::from_id(id).is_ok_and(|m| m.name_as_str() == Some("BATCH")) {
            let map = aya::maps::Map::PerCpuArray(MapData::from_id(id).unwrap());
            return PerCpuArray::try_from(map).unwrap();
        }
    }
    panic!("the daemon has no BATCH map open");
}

/// Once nothing is watched the hooks are detached, and no CPU keeps records
/// batched: the daemon writes every CPU's batch out between detaching the
/// syscall hooks and the flushing ones.
#[test]
fn detaching_leaves_no_records_batched_on_any_cpu() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = daemon!();
    let mut w = Workload::new(&["storm:50000000"]);
    d.watch(w.pid);
    w.go_without_waiting();
    // Unwatched in the middle of the storm.
    d.wait_counters(w.pid, Duration::from_secs(10), |c| c["seen"].as_u64().is_some_and(|n| n >= 100_000));
    assert_eq!(d.delete(&format!("/v1/watch/{}", w.pid)).0, 200);
    let (_, health) = d.get("/healthz");
    assert_eq!(health["hooks_attached"], false, "{health}");
    let batches = batch_map(d.pid());
    let per_cpu = batches.get(&0, 0).unwrap();
    for (cpu, head) in per_cpu.iter().enumerate() {
        let (len, count) = (head[0] as u32, (head[0] >> 32) as u32);
        assert_eq!((len, count), (0, 0), "CPU {cpu} still holds a batch");
    }
    assert!(!d.log().contains("flush hooks instead"), "{}", d.log());
}
