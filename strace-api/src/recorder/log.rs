//! The history of one process: its newest events in chunks, each kept in 80
//! bytes (`Stored`), and the captures of argument memory the few that have
//! them carry, beside them in arrival order. An `Event` with its capture
//! inline took 88 bytes for every event, captured or not.
use std::collections::VecDeque;

use strace_common::SyscallRecord;

use super::{
    Event,
    chunks::Chunks,
    counts::Counts,
    gaps::{Gap, GapReason, Gaps},
};

/// An event as the history keeps it: `Event` without its capture.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stored {
    enter_ns: u64,
    exit_ns: u64,
    ret: i64,
    args: [u64; 6],
    tid: u32,
    nr: i16,
    /// `SyscallRecord` flags, and HAS_CAPTURE.
    flags: u16,
}

/// Set in `Stored::flags` when the event's capture is in `ProcessLog::captures`
/// (a bit no `SyscallRecord` flag uses; see the test below).
const HAS_CAPTURE: u16 = 1 << 15;

/// A capture: the sequence number of its event, and the items.
type Captured = (u64, Box<[u8]>);

/// Heap bytes a copy of `len` bytes takes: the allocator hands out blocks
/// in steps (16 bytes for small ones).
fn heap_bytes(len: usize) -> usize {
    len.next_multiple_of(16)
}

impl Stored {
    #[cfg(test)]
    pub(super) fn split(ev: Event) -> (Stored, Option<Box<[u8]>>) {
        let stored = Stored {
            enter_ns: ev.enter_ns,
            exit_ns: ev.exit_ns,
            ret: ev.ret,
            args: ev.args,
            tid: ev.tid,
            nr: ev.nr,
            flags: ev.flags & !HAS_CAPTURE,
        };
        (stored, ev.capture)
    }

    /// The stored form of a kernel record, built in place (the drain's path:
    /// an `Event` on the way cost a copy through every call).
    pub(super) fn from_record(r: &SyscallRecord) -> Stored {
        Stored {
            enter_ns: r.enter_ns,
            exit_ns: r.exit_ns,
            ret: r.ret,
            args: r.args,
            tid: r.tid,
            nr: Event::stored_nr(r.nr),
            flags: r.flags & !HAS_CAPTURE,
        }
    }

    pub(super) fn event(&self, capture: Option<&[u8]>) -> Event {
        Event {
            enter_ns: self.enter_ns,
            exit_ns: self.exit_ns,
            ret: self.ret,
            args: self.args,
            capture: capture.map(Box::from),
            tid: self.tid,
            nr: self.nr,
            flags: self.flags & !HAS_CAPTURE,
        }
    }

    fn has_capture(&self) -> bool {
        self.flags & HAS_CAPTURE != 0
    }
}

/// The history of one process.
#[derive(Debug, Default)]
pub struct ProcessLog {
    /// Grows and shrinks by CHUNK events, so memory follows use.
    events: Chunks<Stored>,
    /// The retained events' captures, oldest first: events leave the
    /// history oldest first, so their captures leave from the front too.
    captures: VecDeque<Captured>,
    /// Heap bytes of the captures (see `heap_bytes`).
    capture_bytes: usize,
    /// Where the kernel lost this process's records, among the retained events.
    gaps: Gaps,
    /// Sequence number of `events[0]`; numbers start at 1 and never repeat.
    first_seq: u64,
    delivered: u64,
    evicted: u64,
    /// This log's bytes as filed in `Recorder::by_size`.
    pub(super) filed: usize,
    /// Set when its process exited: the log's place in the order exited
    /// histories are shed (the oldest exit first).
    pub(super) exited: Option<u64>,
    /// Calls, errors and latencies by syscall, for /metrics (outside the
    /// memory cap: a few KiB a process).
    counts: Counts,
}

/// Where a reader is in a history: it has read, or been told it missed,
/// every event up to `seq`, and with `gap_seen` the gap right after it too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub seq: u64,
    pub gap_seen: bool,
}

impl Cursor {
    pub fn at(seq: u64) -> Cursor {
        Cursor { seq, gap_seen: false }
    }
}

/// What a reader reads: an event with its sequence number, or a gap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Event(u64, Event),
    Gap(Gap),
}

/// Counters of one process's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Events delivered by the kernel for this process.
    pub seen: u64,
    /// Events held now.
    pub retained: u64,
    /// Events pushed out by newer ones or by the memory cap.
    pub evicted: u64,
    /// Sequence number of the newest event (0 before the first).
    pub last_seq: u64,
}

impl ProcessLog {
    /// A log whose first event will be number `first_seq`.
    pub(super) fn starting_at(first_seq: u64) -> ProcessLog {
        ProcessLog { first_seq: first_seq.max(1), ..Default::default() }
    }

    pub fn stats(&self) -> LogStats {
        LogStats {
            seen: self.delivered,
            retained: self.events.len() as u64,
            evicted: self.evicted,
            last_seq: self.first_seq + self.events.len() as u64 - 1,
        }
    }

    /// Events with a sequence number greater than `after`, oldest first, at
    /// most `limit`: copies, with their captures.
    pub fn after(&self, after: u64, limit: usize) -> impl Iterator<Item = (u64, Event)> {
        let skip = after.saturating_sub(self.first_seq - 1).min(self.events.len() as u64) as usize;
        self.from(skip).take(limit)
    }

    /// The gaps a page of the events from `after + 1` to `upto` covers:
    /// those at places `after..upto` (a gap at place `s` lies between events
    /// `s` and `s + 1`), so consecutive pages (`after` the last one's
    /// `upto`) report each gap once: an eviction gap first if events after
    /// `after` are gone, then the kernel's losses. A loss after the newest
    /// event is reported once an event follows it.
    pub fn gaps_in(&self, after: u64, upto: u64) -> Vec<Gap> {
        let mut out = vec![];
        if after + 1 < self.first_seq && after < upto {
            out.push(Gap { after, count: self.first_seq - 1 - after, reason: GapReason::Evicted, at_ns: 0 });
        }
        out.extend(self.gaps.from(after).take_while(|g| g.after < upto).copied());
        out
    }

    /// What a reader at `cursor` has not read, oldest first: at most `limit`
    /// events, and the gaps in their places: an eviction gap first if events
    /// after the cursor are gone, and the kernel's losses where they
    /// happened. A loss after the newest event waits (more may be lost at
    /// that place, and a gap once read does not change) unless `complete`:
    /// the process has exited, nothing more comes. Returns the entries and
    /// the cursor after them.
    pub fn read(&self, cursor: Cursor, limit: usize, complete: bool) -> (Vec<Entry>, Cursor) {
        let mut out = vec![];
        let mut cur = cursor;
        let first = self.first_seq;
        let last = self.stats().last_seq;
        if cur.seq + 1 < first {
            let count = first - 1 - cur.seq;
            out.push(Entry::Gap(Gap { after: cur.seq, count, reason: GapReason::Evicted, at_ns: 0 }));
            cur = Cursor::at(first - 1);
        }
        let mut gaps = self.gaps.from(cur.seq).peekable();
        if cur.gap_seen {
            // Every marker at that place: one per reason (a place is read
            // only once no more can come there).
            while gaps.next_if(|g| g.after == cur.seq).is_some() {}
        }
        let skip = cur.seq.saturating_sub(first - 1).min(self.events.len() as u64) as usize;
        for (seq, ev) in self.from(skip).take(limit) {
            while let Some(g) = gaps.next_if(|g| g.after < seq) {
                out.push(Entry::Gap(*g));
            }
            out.push(Entry::Event(seq, ev));
            cur = Cursor::at(seq);
        }
        if cur.seq < last || complete {
            while let Some(g) = gaps.next_if(|g| g.after <= cur.seq) {
                out.push(Entry::Gap(*g));
                cur = Cursor { seq: g.after, gap_seen: true };
            }
        }
        (out, cur)
    }

    /// The kernel lost `count` of this process's calls after its newest event.
    pub(super) fn note_loss(&mut self, count: u64, at_ns: u64, reason: GapReason) {
        let newest = self.first_seq + self.events.len() as u64 - 1;
        self.gaps.add(newest, count, at_ns, reason);
    }

    /// Calls the kernel lost at the places the history still holds.
    pub fn gaps_dropped(&self) -> u64 {
        self.gaps.total()
    }

    /// The events after `after` that `keep` lets through, oldest first, at
    /// most `limit` of them and looking at no more than `scan` events (an
    /// event's capture is copied only if it is kept); with the sequence
    /// number of the last event looked at (`after` if none), where the next
    /// page starts.
    pub fn after_matching(
        &self,
        after: u64,
        limit: usize,
        scan: usize,
        mut keep: impl FnMut(u64, &Event) -> bool,
    ) -> (Vec<(u64, Event)>, u64) {
        let skip = after.saturating_sub(self.first_seq - 1).min(self.events.len() as u64) as usize;
        let mut out = vec![];
        let mut last = after;
        for (seq, s) in (self.first_seq + skip as u64..).zip(self.events.iter_from(skip)).take(scan) {
            last = seq;
            let ev = s.event(None);
            if keep(seq, &ev) {
                let ev = if s.has_capture() { s.event(self.capture_of(seq)) } else { ev };
                out.push((seq, ev));
                if out.len() >= limit {
                    break;
                }
            }
        }
        (out, last)
    }

    /// The newest `n` events, oldest first (copies).
    pub fn last(&self, n: usize) -> impl Iterator<Item = (u64, Event)> {
        self.from(self.events.len().saturating_sub(n))
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.len() == 0
    }

    /// The events from the `i`-th oldest on, with their sequence numbers.
    fn from(&self, i: usize) -> impl Iterator<Item = (u64, Event)> {
        (self.first_seq + i as u64..).zip(self.events.iter_from(i)).map(|(seq, s)| {
            let capture = s.has_capture().then(|| self.capture_of(seq)).flatten();
            (seq, s.event(capture))
        })
    }

    fn capture_of(&self, seq: u64) -> Option<&[u8]> {
        self.captures.binary_search_by_key(&seq, |(s, _)| *s).ok().map(|i| &self.captures[i].1[..])
    }

    /// Adds an event; returns its sequence number.
    pub(super) fn push(&mut self, mut stored: Stored, capture: Option<Box<[u8]>>, per_process: usize) -> u64 {
        self.delivered += 1;
        let returns = stored.flags & SyscallRecord::NO_RETURN == 0;
        let timed = returns && stored.flags & SyscallRecord::NO_ENTER_TIME == 0;
        self.counts.add(
            stored.nr,
            returns.then_some(stored.ret),
            timed.then(|| stored.exit_ns.saturating_sub(stored.enter_ns)),
        );
        if self.events.len() >= per_process {
            // The common case when full: one out, one in (evict(1) does the
            // same, but cost ~3 ns more an event in the drain, measured).
            if self.events.len() == per_process
                && let Some(had_capture) = self.events.pop_front_with(|s| s.has_capture())
            {
                self.drop_capture(had_capture);
                self.first_seq += 1;
                self.evicted += 1;
                self.gaps.prune(self.first_seq);
            } else {
                self.evict(self.events.len() + 1 - per_process);
            }
        }
        if let Some(capture) = capture {
            stored.flags |= HAS_CAPTURE;
            self.capture_bytes += heap_bytes(capture.len());
            self.captures.push_back((self.first_seq + self.events.len() as u64, capture));
        }
        let seq = self.first_seq + self.events.len() as u64;
        self.events.push_back(stored);
        seq
    }

    /// Its calls, errors and latencies by syscall.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Events in the oldest chunk: evicting that many frees it.
    pub(super) fn front_chunk_len(&self) -> usize {
        self.events.front_len()
    }

    pub(super) fn evict(&mut self, n: usize) {
        let n = n.min(self.events.len());
        for _ in 0..n {
            let had_capture = self.events.pop_front_with(|s| s.has_capture()).unwrap_or(false);
            self.drop_capture(had_capture);
            self.first_seq += 1;
        }
        self.evicted += n as u64;
        self.gaps.prune(self.first_seq);
    }

    /// The oldest event (`first_seq`) just left: its capture goes too.
    fn drop_capture(&mut self, had_capture: bool) {
        if had_capture && let Some((_, capture)) = self.captures.pop_front() {
            self.capture_bytes -= heap_bytes(capture.len());
        }
    }

    /// Frees what the log keeps for later (to get under a memory cap): the
    /// spare chunk, and the captures' queue's unused room. An emptied log then
    /// holds no bytes at all.
    pub(super) fn release_spare(&mut self) {
        self.events.release_spare();
        self.captures.shrink_to_fit();
        self.gaps.shrink();
    }

    /// Heap bytes: the chunks, the captures and their index, the gaps.
    pub(super) fn bytes(&self) -> usize {
        self.events.allocated()
            + self.capture_bytes
            + self.captures.capacity() * size_of::<Captured>()
            + self.gaps.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_event_takes_80_bytes_and_a_free_flag_bit() {
        assert_eq!(size_of::<Stored>(), 80);
        let kernel_flags = SyscallRecord::NO_RETURN
            | SyscallRecord::CAPTURE_LOST
            | SyscallRecord::NO_ENTER_TIME
            | SyscallRecord::ARGS_LOST;
        assert_eq!(kernel_flags & HAS_CAPTURE, 0);
        // A flag from elsewhere cannot claim a capture the log does not have.
        let (stored, _) = Stored::split(Event { flags: u16::MAX, ..Default::default() });
        assert!(!stored.has_capture());
    }

    #[test]
    fn events_come_back_as_they_went_in_with_their_captures() {
        let mut log = ProcessLog::starting_at(1);
        let ev = |nr: i16, capture: Option<&[u8]>| Event {
            enter_ns: 10 + nr as u64,
            exit_ns: 20,
            ret: -2,
            args: [1, 2, 3, 4, 5, nr as u64],
            capture: capture.map(Box::from),
            tid: 7,
            nr,
            flags: SyscallRecord::CAPTURE_LOST,
        };
        let sent = [ev(1, None), ev(2, Some(b"/etc/hosts")), ev(3, None), ev(4, Some(b"x")), ev(5, None)];
        // A history of 3: the first two leave, the capture of the second with them.
        for e in sent.clone() {
            let (stored, capture) = Stored::split(e);
            log.push(stored, capture, 3);
        }
        let kept: Vec<_> = log.after(0, 10).collect();
        assert_eq!(kept, vec![(3, sent[2].clone()), (4, sent[3].clone()), (5, sent[4].clone())]);
        assert_eq!(
            (log.captures.len(), log.capture_bytes),
            (1, 16),
            "only event 4's capture (1 byte, one block) is left"
        );
        log.evict(3);
        assert_eq!((log.captures.len(), log.capture_bytes, log.len()), (0, 0, 0));
        log.release_spare();
        assert_eq!(log.bytes(), 0, "an emptied log holds nothing");
    }
}
