//! Moves records from the kernel ring buffer into the tracer, woken by the
//! ring buffer's epoll readiness, and notes how full the ring got.
mod fill;

use std::{os::fd::AsFd, sync::Arc, time::Duration};

use aya::maps::{MapData, RingBuf};
use tokio::io::{Interest, unix::AsyncFd};

use fill::RingFill;

use crate::tracer::Tracer;

/// Records handed to the tracer per lock (at least; a kernel batch is not
/// split), so readers are not starved while a full ring drains.
const PER_LOCK: usize = 256;

/// The kernel wakes the reader only when the ring is filling up (each CPU
/// after writing an eighth of it, shared among the CPUs); otherwise the reader
/// drains on this timer, which slows down while nothing comes and speeds up
/// again when records do. Each pass costs ~7 µs of CPU besides its records
/// (the wake-up, two context switches, the runtime's timer): at 1 ms that was
/// a fifth of the daemon's CPU under a web server's steady load, on the CPU
/// its client shared (bench/README.md, item 38). A burst wakes the reader
/// through the ring, and a process's exit asks for a pass at once
/// (`Tracer::flush`): the timer sets how late a steady trickle of records
/// reaches the histories and live streams (a batch also waits in the kernel
/// until its thread leaves the CPU or the next timer tick).
const TICK_MIN: Duration = Duration::from_millis(4);
const TICK_MAX: Duration = Duration::from_millis(32);

/// The drain on a thread of its own (with its own small runtime), so a ring
/// full of records never holds up the HTTP server's threads, and the other
/// way round.
pub struct DrainThread {
    stop: Arc<tokio::sync::Notify>,
    handle: std::thread::JoinHandle<()>,
}

impl DrainThread {
    pub fn spawn(ring: RingBuf<MapData>, tracer: Arc<Tracer>) -> std::io::Result<DrainThread> {
        let stop = Arc::new(tokio::sync::Notify::new());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = std::thread::Builder::new().name("drain".into()).spawn({
            let stop = stop.clone();
            move || {
                rt.block_on(async {
                    tokio::select! {
                        r = run(ring, tracer) => if let Err(e) = r {
                            tracing::error!("reading the kernel ring buffer failed: {e}");
                        },
                        _ = stop.notified() => {}
                    }
                })
            }
        })?;
        Ok(DrainThread { stop, handle })
    }

    pub fn stop(self) {
        self.stop.notify_one();
        let _ = self.handle.join();
    }
}

async fn run(ring: RingBuf<MapData>, tracer: Arc<Tracer>) -> std::io::Result<()> {
    let fill = RingFill::map(ring.as_fd())
        .inspect(|_| tracer.ring().track())
        .inspect_err(|e| tracing::warn!("the ring buffer's fill level is not tracked: mapping its positions: {e}"))
        .ok();
    // SAFETY: the RingBuf owns its fd and keeps it open for as long as the AsyncFd lives.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    let mut tick = TICK_MIN;
    loop {
        let woken = tokio::select! {
            guard = fd.readable_mut() => {
                let mut guard = guard?;
                guard.clear_ready();
                true
            }
            _ = tracer.pass_wanted() => true,
            _ = tokio::time::sleep(tick) => false,
        };
        let n = drain_all(fd.get_mut(), fill.as_ref(), &tracer);
        tracer.pass_done();
        tick = next_tick(tick, n, woken);
    }
}

/// Back off while the ring stays empty, come back at once when it is not.
fn next_tick(tick: Duration, drained: usize, woken: bool) -> Duration {
    if drained > 0 || woken { TICK_MIN } else { (tick * 2).min(TICK_MAX) }
}

/// Drains what is in the ring now; returns how many records it took. Notes
/// the ring's fill level before each lock's worth of records, and counts
/// the items and records taken.
fn drain_all(ring: &mut RingBuf<MapData>, fill: Option<&RingFill>, tracer: &Tracer) -> usize {
    let (mut total, mut items) = (0, 0);
    loop {
        if let Some(f) = fill {
            tracer.ring().note(f.used());
        }
        // Take the lock (and wake readers) only when there is something.
        let Some(first) = ring.next() else { break };
        let mut ingest = tracer.ingest();
        let mut taken = ingest.record(&first);
        drop(first);
        items += 1;
        let mut more = true;
        while taken < PER_LOCK {
            let Some(item) = ring.next() else {
                more = false;
                break;
            };
            taken += ingest.record(&item);
            items += 1;
        }
        drop(ingest);
        total += taken;
        if !more {
            break;
        }
    }
    if items > 0 {
        tracer.ring().read(items, total as u64);
    }
    total
}

/// Forwards the kernel program's aya-log records to the daemon's log.
pub async fn run_log(logger: aya_log::EbpfLogger<&'static dyn log::Log>) -> std::io::Result<()> {
    // SAFETY: the logger owns its map fd for as long as the AsyncFd lives.
    let mut fd =
        unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
    loop {
        let mut guard = fd.readable_mut().await?;
        guard.get_inner_mut().flush();
        guard.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_backs_off_and_comes_back() {
        assert_eq!(next_tick(TICK_MIN, 0, false), TICK_MIN * 2);
        assert_eq!(next_tick(TICK_MAX, 0, false), TICK_MAX);
        assert_eq!(next_tick(TICK_MAX, 5, false), TICK_MIN);
        assert_eq!(next_tick(TICK_MAX, 0, true), TICK_MIN);
    }
}
