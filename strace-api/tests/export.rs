//! The event export against Debian's real `nats-server` with JetStream: a
//! workload's failed calls reach a subscriber, and the stream, each once and
//! in order, as the events API shows them; a server that goes away costs
//! counted drops, and the export comes back with it.
mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::Value;
use support::{Workload, servers::Nats};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn failed(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| !e["errno"].is_null()).cloned().collect()
}

#[test]
fn a_subscriber_gets_each_failed_call_once_in_order_as_the_api_shows_it() {
    let Some(nats) = Nats::start() else { return };
    let d = daemon!(
        "--export-nats",
        &nats.url(),
        "--export-stream",
        "STRACE_TEST",
        "--export-filter",
        "failed=true",
        "--pod",
        "web.1"
    );
    d.wait_health(Duration::from_secs(30), |h| h["export"]["connected"] == true);
    let rt = runtime();
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    // The host token is the pod's name, its dot made a `_`.
    let mut live = rt.block_on(client.subscribe("strace.web_1.>")).unwrap();
    rt.block_on(client.flush()).unwrap();

    let mut steps = vec!["openat-enoent"; 5];
    steps.extend(["getppid", "openat-null", "getppid", "openat-unmapped"]);
    steps.extend(vec!["openat-enoent"; 5]);
    let mut w = Workload::new(&steps);
    let pid = w.pid;
    d.watch(pid);
    w.go();
    let events = d.wait_events(pid, Duration::from_secs(10), |e| failed(e).len() >= 12);
    let expected = failed(&events);
    assert_eq!(expected.len(), 12, "10 ENOENT and 2 EFAULT");
    let h = d.wait_health(Duration::from_secs(20), |h| h["export"]["published"].as_u64() >= Some(12));
    assert_eq!(h["export"]["dropped"], 0, "{h}");

    // Live: each one once, in order, identical to the API's event.
    let got: Vec<(String, Value)> = rt.block_on(async {
        let mut got = vec![];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < expected.len() {
            let m = tokio::time::timeout_at(deadline, live.next()).await.expect("every event arrives").unwrap();
            got.push((m.subject.to_string(), serde_json::from_slice(&m.payload).unwrap()));
        }
        // Nothing more comes (no duplicates).
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), live.next()).await {
            panic!("one message too many: {} {}", m.subject, String::from_utf8_lossy(&m.payload));
        }
        got
    });
    for ((subject, body), want) in got.iter().zip(&expected) {
        assert_eq!(subject, &format!("strace.web_1.{pid}.openat"));
        assert_eq!(body, want, "the exported event is the API's");
    }

    // Replayed from the stream: the same, once each.
    let replayed: Vec<Value> = rt.block_on(async {
        use async_nats::jetstream::{self, consumer};
        let js = jetstream::new(client.clone());
        let mut stream = js.get_stream("STRACE_TEST").await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 12);
        let c = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = c.fetch().max_messages(100).expires(Duration::from_secs(2)).messages().await.unwrap();
        let mut all = vec![];
        while let Some(m) = batch.next().await {
            all.push(serde_json::from_slice(&m.unwrap().payload).unwrap());
        }
        all
    });
    assert_eq!(replayed, expected);
    w.finish();
}

#[test]
fn a_nats_server_that_goes_away_costs_counted_drops_and_the_export_comes_back() {
    let Some(mut nats) = Nats::start() else { return };
    let d = daemon!(
        "--export-nats",
        &nats.url(),
        "--export-stream",
        "STRACE_OUTAGE",
        "--export-filter",
        "failed=true",
        "--export-queue",
        "32"
    );
    d.wait_health(Duration::from_secs(30), |h| h["export"]["connected"] == true);
    // Fails an openat every 20 ms or so, until killed.
    let mut w = Workload::new(&["forever"]);
    let pid = w.pid;
    d.watch(pid);
    w.go_without_waiting();
    d.wait_health(Duration::from_secs(20), |h| h["export"]["published"].as_u64() >= Some(20));

    nats.stop();
    let seq_before = d.counters(pid)["last_seq"].as_u64().unwrap();
    // Throughout the outage the daemon answers at once and goes on recording.
    let deadline = Instant::now() + Duration::from_secs(30);
    let outage = loop {
        let asked = Instant::now();
        let (status, h) = d.get("/healthz");
        assert_eq!(status, 200, "{h}");
        assert!(asked.elapsed() < Duration::from_secs(1), "/healthz took {:?}", asked.elapsed());
        if h["export"]["connected"] == false && h["export"]["dropped"].as_u64() > Some(0) {
            break h;
        }
        assert!(Instant::now() < deadline, "no drop counted while the server was away: {h}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let x = &outage["export"];
    println!("during the outage: {x}");
    assert!(x["queued"].as_u64() <= x["queue_capacity"].as_u64(), "{x}");
    let (_, metrics) = d.get("/metrics");
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains("strace_export_connected 0"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("strace_export_dropped_total{") && !l.ends_with(" 0")), "{metrics}");
    assert!(d.counters(pid)["last_seq"].as_u64().unwrap() > seq_before, "recording went on");

    let published = x["published"].as_u64().unwrap();
    let connections = x["connections"].as_u64().unwrap();
    nats.restart();
    let back = d.wait_health(Duration::from_secs(30), |h| {
        h["export"]["connected"] == true
            && h["export"]["connections"].as_u64() > Some(connections)
            && h["export"]["published"].as_u64() > Some(published + 10)
    });
    println!("after the server came back: {}", back["export"]);
    assert_eq!(back["status"], "ok");
    assert_eq!(back["kernel"]["ring_full"], 0);
    drop(w);
    drop(nats);
}
