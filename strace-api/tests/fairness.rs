//! Nothing hidden (issue #22): one process cannot make the daemon lose
//! another's calls, by flooding the ring buffer or by taking the thread
//! table. Each test runs its workload in a PID namespace of its own, with
//! the daemon there under `--watch-all`, so nothing outside is traced.
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Daemon;

fn watches(d: &Daemon) -> Vec<Value> {
    let (_, list) = d.get("/v1/watch?limit=10000");
    list.as_array().cloned().unwrap_or_default()
}

/// The marker's getsid calls recorded, once the drain has them all (or
/// after `within`): (marker pid, calls).
fn marker_calls(d: &Daemon, within: Duration) -> (u32, usize) {
    let deadline = Instant::now() + within;
    let mut best = (0, 0);
    loop {
        for w in watches(d) {
            let pid = w["pid"].as_u64().unwrap() as u32;
            if pid == 1 {
                continue;
            }
            let (status, page) = d.get(&format!("/v1/processes/{pid}/events?syscall=getsid&limit=100"));
            let n = if status == 200 { page["events"].as_array().map_or(0, Vec::len) } else { 0 };
            if n > best.1 {
                best = (pid, n);
            }
        }
        if best.1 >= 20 || Instant::now() > deadline {
            return best;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// 32 processes call getppid as fast as they can while a 33rd makes 20
/// getsid calls 10 ms apart: the marker's calls are all recorded, and every
/// record the kernel dropped is counted to its process (a flooder's, or
/// their parent's at the very start).
fn flood(args: &[&str], must_throttle: bool) {
    let mut all = vec!["--watch-all"];
    all.extend_from_slice(args);
    let Some((mut w, d)) = Daemon::in_new_pid_namespace(&["flood:32:2500", "nap:700", "marker:20", "reap"], &all)
    else {
        return;
    };
    w.go();
    let (marker, calls) = marker_calls(&d, Duration::from_secs(20));
    // Everything drained: the counters stop moving.
    let mut last = None;
    let (health, list) = loop {
        std::thread::sleep(Duration::from_millis(500));
        let list = watches(&d);
        let (_, health) = d.get("/healthz");
        let now: Vec<(Value, Value)> = list.iter().map(|w| (w["seen"].clone(), w["dropped"].clone())).collect();
        if last.as_ref() == Some(&now) {
            break (health, list);
        }
        last = Some(now);
    };
    let k = &health["kernel"];
    let flooders: Vec<&Value> = list.iter().filter(|w| w["pid"] != 1 && w["pid"] != marker).collect();
    let dropped: Vec<u64> = flooders.iter().map(|w| w["dropped"].as_u64().unwrap()).collect();
    let seen: u64 = flooders.iter().map(|w| w["seen"].as_u64().unwrap()).sum();
    eprintln!(
        "marker {marker}: {calls}/20 calls; pid 1 dropped {}; {} flooders: {seen} calls recorded, {} dropped ({:?}); kernel: ring_full {}, throttled {}, unplaced {}",
        list.iter().find(|w| w["pid"] == 1).map_or(Value::Null, |w| w["dropped"].clone()),
        flooders.len(),
        dropped.iter().sum::<u64>(),
        dropped,
        k["ring_full"],
        k["throttled"],
        k["loss_unplaced"],
    );
    assert_eq!(calls, 20, "the marker's calls are all recorded: {list:?}");
    let m = list.iter().find(|w| w["pid"] == marker).unwrap();
    assert_eq!(m["dropped"], 0, "{m}");
    assert_eq!(flooders.len(), 32, "{list:?}");
    // Every drop is counted to its process: the flooders', and pid 1's, which
    // forks them while the first already flood and, with a small ring, can
    // lose a few of its own to the ring filling in the first milliseconds
    // (before the flooders' debts build up); never the marker's.
    let total = k["ring_full"].as_u64().unwrap() + k["throttled"].as_u64().unwrap();
    let parent = list.iter().find(|w| w["pid"] == 1).map_or(0, |w| w["dropped"].as_u64().unwrap());
    assert_eq!(dropped.iter().sum::<u64>() + parent, total, "the kernel's drops are the processes': {health}");
    // The throttled ones are counted to their processes too, as such.
    let n = |w: &Value, k: &str| w[k].as_u64().unwrap_or_else(|| panic!("no {k} in {w}"));
    let throttled: u64 = list.iter().map(|w| n(w, "throttled")).sum();
    assert_eq!(throttled, k["throttled"].as_u64().unwrap(), "{health} {list:?}");
    assert!(list.iter().all(|w| n(w, "throttled") <= n(w, "dropped")), "{list:?}");
    assert_eq!(n(m, "throttled"), 0, "{m}");
    if must_throttle {
        assert!(k["throttled"].as_u64().unwrap() > 0, "the flood was throttled: {health}");
    }
    w.finish();
}

#[test]
fn a_flood_does_not_hide_a_marker_with_the_default_ring() {
    flood(&[], false);
}

#[test]
fn a_flood_does_not_hide_a_marker_with_a_256_kib_ring() {
    flood(&["--ring-bytes", "262144"], true);
}

/// A process with 17,000 idle threads (more than the default thread table's
/// 16,384 slots) takes at most its share of the table: a process that
/// starts after it still has its calls recorded, and the hog's untraced
/// calls are counted to the hog.
#[test]
fn idle_threads_do_not_take_the_thread_table() {
    let Some((mut w, d)) = Daemon::in_new_pid_namespace(&["idle-threads:17000", "marker:20", "reap"], &["--watch-all"])
    else {
        return;
    };
    w.go();
    let (marker, calls) = marker_calls(&d, Duration::from_secs(20));
    let (_, health) = d.get("/healthz");
    let list = watches(&d);
    let hog = list.iter().max_by_key(|w| w["dropped"].as_u64().unwrap()).unwrap();
    eprintln!("marker {marker}: {calls}/20 calls; the hog: {hog}; kernel: {}", health["kernel"]);
    assert_eq!(calls, 20, "the marker's calls are all recorded");
    let m = list.iter().find(|w| w["pid"] == marker).unwrap();
    assert_eq!(m["dropped"], 0, "{m}");
    assert!(hog["pid"] != marker && hog["dropped"].as_u64().unwrap() > 0, "{hog}");
    assert!(health["kernel"]["thread_share"].as_u64().unwrap() > 0, "{health}");
    // The hog's untraced calls, counted to it as over its share.
    let share: u64 = list.iter().map(|w| w["thread_share"].as_u64().unwrap()).sum();
    assert_eq!(share, health["kernel"]["thread_share"].as_u64().unwrap(), "{list:?}");
    assert_eq!(hog["thread_share"], health["kernel"]["thread_share"], "{hog}");
    assert!(hog["thread_share"].as_u64().unwrap() <= hog["dropped"].as_u64().unwrap(), "{hog}");
    w.finish();
}

/// More processes than the watch table holds (`--max-watched 16`): those
/// the kernel could not watch are listed as not watched, with the reason,
/// rather than missing.
#[test]
fn a_process_the_watch_table_had_no_room_for_is_listed_with_the_reason() {
    let Some((mut w, d)) =
        Daemon::in_new_pid_namespace(&["children:40:4000", "reap"], &["--watch-all", "--max-watched", "16"])
    else {
        return;
    };
    w.go_without_waiting();
    let deadline = Instant::now() + Duration::from_secs(4);
    let (refused, watched) = loop {
        let (_, list) = d.get("/v1/processes");
        let list = list.as_array().cloned().unwrap_or_default();
        let refused: Vec<&Value> = list.iter().filter(|p| p["reason"] == "watch table full").collect();
        let watched = list.iter().filter(|p| p["watched"] == true).count();
        if refused.len() + watched >= 41 || Instant::now() > deadline {
            assert!(refused.iter().all(|p| p["watched"] == false && p["alive"] == true), "{refused:?}");
            break (refused.len(), watched);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, health) = d.get("/healthz");
    eprintln!("{watched} watched, {refused} listed as not watched (watch table full); kernel: {}", health["kernel"]);
    assert!(watched <= 16, "{watched}");
    assert_eq!(refused + watched, 41, "every process is either watched or says why not");
    assert!(health["kernel"]["watched_full"].as_u64().unwrap() >= refused as u64, "{health}");
    w.finish();
}
