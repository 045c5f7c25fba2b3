//! The kernel stamps records with CLOCK_MONOTONIC (`bpf_ktime_get_ns`); users
//! want wall-clock time. The offset between the two clocks is measured once at
//! start-up and applied to every timestamp.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Converts kernel monotonic nanoseconds to wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, in nanoseconds.
    offset_ns: i128,
}

impl Clock {
    pub fn from_offset(offset_ns: i128) -> Clock {
        Clock { offset_ns }
    }

    /// Measures the offset: the realtime reading taken between the two closest
    /// monotonic readings of a few tries.
    pub fn measure() -> Clock {
        let mut best: Option<(i128, i128)> = None; // (gap, offset)
        for _ in 0..8 {
            let m0 = monotonic_ns();
            let r = realtime_ns();
            let m1 = monotonic_ns();
            let gap = m1 - m0;
            let offset = r - (m0 + gap / 2);
            if best.is_none_or(|(g, _)| gap < g) {
                best = Some((gap, offset));
            }
        }
        Clock { offset_ns: best.map_or(0, |(_, o)| o) }
    }

    /// The kernel's monotonic time of wall-clock time `wall` (0 before boot).
    pub fn monotonic(&self, wall: SystemTime) -> u64 {
        let wall_ns = match wall.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        (wall_ns - self.offset_ns).clamp(0, u64::MAX as i128) as u64
    }

    pub fn wall(&self, monotonic_ns: u64) -> SystemTime {
        let ns = monotonic_ns as i128 + self.offset_ns;
        if ns <= 0 {
            return UNIX_EPOCH;
        }
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    }

    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-11-25T17:30:00.123456789Z`.
    pub fn rfc3339(&self, monotonic_ns: u64) -> String {
        humantime::format_rfc3339_nanos(self.wall(monotonic_ns)).to_string()
    }
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

pub fn monotonic_ns() -> i128 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn realtime_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// When the machine booted, by the wall clock: CLOCK_REALTIME less
/// CLOCK_BOOTTIME (/proc/stat's `btime` is in whole seconds).
pub fn boot_time() -> SystemTime {
    let boot_ns = realtime_ns() - clock_ns(libc::CLOCK_BOOTTIME);
    UNIX_EPOCH + Duration::from_nanos(boot_ns.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_the_offset() {
        let c = Clock::from_offset(1_700_000_000_000_000_000 - 5_000);
        assert_eq!(c.rfc3339(5_000 + 123_456_789), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn measured_clock_matches_system_time() {
        let c = Clock::measure();
        let now = c.wall(monotonic_ns() as u64);
        let sys = SystemTime::now();
        let diff = sys.duration_since(now).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_millis(50), "clock off by {diff:?}");
    }
}
