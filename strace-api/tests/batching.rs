//! The kernel's per-CPU batches of records, with the real eBPF program. In
//! a test binary of its own: the test below needs a CPU without other tests'
//! processes switching in.
mod support;

use std::time::Duration;

use support::{Workload, assert_in_order, call};

/// The kernel sends a thread's records in batches, written out when the CPU
/// switches tasks. A thread that makes a few calls and then spins on its CPU
/// (no switch needs to come) still has them delivered: the timer tick writes
/// the batch out. An attempt counts only if the workload was not switched
/// out between its last call and the moment its records arrived.
#[test]
fn a_spinning_thread_s_last_calls_arrive_without_a_task_switch() {
    let d = daemon!();
    let switches = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let count = |key: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        count("voluntary_ctxt_switches") + count("nonvoluntary_ctxt_switches")
    };
    for attempt in 1..=10 {
        let mut w = Workload::new(&["getppid", "getppid"]);
        d.watch(w.pid);
        w.go(); // it said "done" and now spins, making no syscalls
        let before = switches(w.pid);
        let events = d.wait_events(w.pid, Duration::from_secs(5), |e| e.len() >= 3);
        let after = switches(w.pid);
        assert_in_order(&events, &[call("getppid"), call("getppid"), call("write").returning(5)]);
        if before == after {
            println!("attempt {attempt}: delivered while the workload spun, with no task switch");
            w.finish();
            return;
        }
        println!("attempt {attempt}: the workload was switched out {} times; again", after - before);
        w.finish();
    }
    panic!("the workload was switched out in every attempt: the tick's flush was not shown");
}
