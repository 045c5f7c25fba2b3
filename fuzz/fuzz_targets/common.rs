//! What the targets share: a tracer over the in-memory kernel, watching a
//! live process (the fuzzer's parent), as the daemon would.
use std::time::Duration;

use strace_api::{
    clock::Clock,
    kernel::fake::FakeKernel,
    recorder::Limits,
    tracer::{Tracer, TracerConfig},
};

pub fn tracer() -> (Tracer, u32) {
    let config = TracerConfig {
        limits: Limits { per_process: 256, memory_bytes: 4 << 20, keep_per_process: 16 },
        clock: Clock::from_offset(0),
        retention: Duration::from_secs(600),
        durations: true,
        ring_bytes: 1 << 20,
        max_exited: 1000,
    };
    let t = Tracer::new(Box::new(FakeKernel::default()), config);
    let pid = std::os::unix::process::parent_id();
    t.watch(pid, true).expect("the fuzzer's parent can be watched");
    (t, pid)
}
