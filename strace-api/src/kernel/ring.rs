//! How full the kernel ring buffer got, and what the drain read from it:
//! the drain notes the fill level it reads (drain/fill.rs) and counts the
//! items and records it takes; /healthz reports both.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The ring's size and the most it has held since the daemon started, for
/// /healthz: how close the drain came to losing records.
#[derive(Debug, Default)]
pub struct RingUse {
    size: AtomicU64,
    /// Whether the drain reads the ring's fill level (it could map the
    /// positions): the peak means nothing otherwise.
    tracked: AtomicBool,
    peak: AtomicU64,
    /// What it held when the drain last looked.
    last: AtomicU64,
    items: AtomicU64,
    records: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingTotals {
    pub size_bytes: u64,
    /// The most the ring held when the drain looked (before each pass, and
    /// every few hundred records during one); `null` if the drain cannot
    /// read the fill level (it says why in the log).
    pub peak_used_bytes: Option<u64>,
    /// Ring items read so far: one per write the kernel made (a CPU's batch
    /// of records, or a process record on its own).
    pub items_read: u64,
    /// The records in them: `records_read / items_read` is how many records
    /// a ring write carried on average.
    pub records_read: u64,
}

impl RingUse {
    pub fn set_size(&self, bytes: u64) {
        self.size.store(bytes, Ordering::Relaxed);
    }

    /// The drain reads the fill level from now on.
    pub fn track(&self) {
        self.tracked.store(true, Ordering::Relaxed);
    }

    pub fn note(&self, used: u64) {
        self.peak.fetch_max(used, Ordering::Relaxed);
        self.last.store(used, Ordering::Relaxed);
    }

    /// What the ring held when the drain last looked (`None` if it cannot tell).
    pub fn used(&self) -> Option<u64> {
        self.tracked.load(Ordering::Relaxed).then(|| self.last.load(Ordering::Relaxed))
    }

    /// The drain took `items` ring items holding `records` records.
    pub fn read(&self, items: u64, records: u64) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    pub fn totals(&self) -> RingTotals {
        RingTotals {
            size_bytes: self.size.load(Ordering::Relaxed),
            peak_used_bytes: self.tracked.load(Ordering::Relaxed).then(|| self.peak.load(Ordering::Relaxed)),
            items_read: self.items.load(Ordering::Relaxed),
            records_read: self.records.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_only_grows() {
        let r = RingUse::default();
        r.set_size(1 << 20);
        assert_eq!(r.totals().peak_used_bytes, None, "not tracked yet");
        r.track();
        for used in [100, 70_000, 5, 0] {
            r.note(used);
        }
        assert_eq!(r.totals(), RingTotals { size_bytes: 1 << 20, peak_used_bytes: Some(70_000), ..Default::default() });
    }

    #[test]
    fn items_and_records_add_up() {
        let r = RingUse::default();
        r.read(2, 80);
        r.read(1, 1);
        assert_eq!((r.totals().items_read, r.totals().records_read), (3, 81));
    }
}
