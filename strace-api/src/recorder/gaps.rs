//! Gaps: where a history is missing events, and why. A gap is not an event:
//! it sits between two sequence numbers (after event `after`, before event
//! `after + 1`) and says how many calls are missing there.
//!
//! Two kinds. The kernel's losses (`Dropped`: the ring buffer had no room;
//! `Throttled`: the process was over its share of a nearly full ring)
//! come as loss records, in order with the process's records, and are kept
//! in the history as markers ([`Gaps`]), the ones at one place added up.
//! Evictions (`Evicted`: pushed out of the history by newer events or the
//! memory cap) are known from a reader's cursor alone: what lies between it
//! and the oldest event retained. A reader ([`super::ProcessLog::read`]) gets
//! both in their places among the events.
use std::collections::VecDeque;

/// Why events are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    /// The kernel could not hand them over (ring buffer full); counted in the
    /// process's `dropped` too.
    Dropped,
    /// The kernel dropped them because the ring was nearly full and the
    /// process had written more than its share (the ring's fair share);
    /// counted in its `dropped` and `throttled`.
    Throttled,
    /// They were recorded, then pushed out of the history (or belonged to
    /// an earlier process with the same pid) before this reader read them.
    Evicted,
}

impl GapReason {
    pub fn name(self) -> &'static str {
        match self {
            GapReason::Dropped => "dropped",
            GapReason::Throttled => "throttled",
            GapReason::Evicted => "evicted",
        }
    }
}

/// `count` calls missing after event `after` (0: before the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub after: u64,
    pub count: u64,
    pub reason: GapReason,
    /// When the first of them was lost (kernel monotonic ns; 0 if unknown).
    pub at_ns: u64,
}

/// The kernel's losses in one history, oldest first; at one place, a marker
/// per run of losses for one reason (dropped, then throttled: two).
#[derive(Debug, Default)]
pub(super) struct Gaps {
    markers: VecDeque<Gap>,
}

impl Gaps {
    /// `count` calls lost after event `after` (the newest event now), for
    /// `reason` (the kernel's: Dropped or Throttled).
    pub(super) fn add(&mut self, after: u64, count: u64, at_ns: u64, reason: GapReason) {
        if let Some(last) = self.markers.back_mut()
            && last.after == after
            && last.reason == reason
        {
            last.count += count;
            return;
        }
        self.markers.push_back(Gap { after, count, reason, at_ns });
    }

    /// Forgets the markers before `first_seq - 1`: events after them were
    /// evicted, so a reader that gets there is told of an eviction instead.
    pub(super) fn prune(&mut self, first_seq: u64) {
        while self.markers.front().is_some_and(|g| g.after + 1 < first_seq) {
            self.markers.pop_front();
        }
    }

    /// The markers at or after place `after`, oldest first.
    pub(super) fn from(&self, after: u64) -> impl Iterator<Item = &Gap> {
        let start = self.markers.partition_point(|g| g.after < after);
        self.markers.range(start..)
    }

    /// Calls in the markers kept.
    pub(super) fn total(&self) -> u64 {
        self.markers.iter().map(|g| g.count).sum()
    }

    /// Heap bytes, for the memory cap.
    pub(super) fn bytes(&self) -> usize {
        self.markers.capacity() * size_of::<Gap>()
    }

    pub(super) fn shrink(&mut self) {
        self.markers.shrink_to_fit();
    }
}
