//! Per-process history: a bounded ring of the most recent events of each
//! watched process, all rings together under one memory cap.
//!
//! Every event delivered is either retained or evicted, and counted either way:
//! `retained + evicted == delivered` for each process.
mod chunks;
pub mod counts;
mod gaps;
mod log;

use std::collections::BTreeSet;

use chunks::Chunks;
pub use gaps::{Gap, GapReason};
use log::Stored;
pub use log::{Cursor, Entry, LogStats, ProcessLog};
use rustc_hash::FxHashMap;

use strace_common::SyscallRecord;

/// One syscall: the record minus what the process's log already knows, plus
/// the capture of its argument memory (strings, addresses), if any. A history
/// keeps it in 80 bytes, its capture apart (log.rs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub enter_ns: u64,
    pub exit_ns: u64,
    pub ret: i64,
    pub args: [u64; 6],
    /// The items of its capture records (see strace_common::capture).
    pub capture: Option<Box<[u8]>>,
    pub tid: u32,
    /// The syscall number, as `Event::stored_nr` keeps it: two bytes, so a
    /// stored event fits in 80.
    pub nr: i16,
    /// `SyscallRecord` flags.
    pub flags: u16,
}

/// Events per chunk of a history.
#[cfg(test)]
const CHUNK: usize = Chunks::<Stored>::PER_CHUNK;
const CHUNK_COST: usize = Chunks::<Stored>::COST;

/// Bytes one retained event costs in a ring (its capture is counted apart).
pub const EVENT_BYTES: usize = size_of::<Stored>();
// The budget per retained event is 96 bytes; 80 leaves room for the
// allocator's and the chunks' overhead in what the process really pays.
const _: () = assert!(EVENT_BYTES <= 80);

impl Event {
    /// The event of a kernel record, without its capture.
    pub fn from_record(r: &SyscallRecord) -> Event {
        Stored::from_record(r).event(None)
    }

    /// A syscall number as stored. Every number of the native ABI fits, and
    /// -1 (a call a tracer cancelled); any other (x32's, with bit 30 set,
    /// which the decoder does not know either) is kept as `i16::MIN`.
    pub fn stored_nr(nr: i32) -> i16 {
        i16::try_from(nr).unwrap_or(i16::MIN)
    }

    /// The syscall number, as the decoder and the API take it.
    pub fn nr(&self) -> i32 {
        self.nr.into()
    }

    /// The capture items region, empty when nothing was captured.
    pub fn capture(&self) -> &[u8] {
        self.capture.as_deref().unwrap_or(&[])
    }

    pub fn returns(&self) -> bool {
        self.flags & SyscallRecord::NO_RETURN == 0
    }

    /// When the call entered, if that was timed (see `SyscallRecord::NO_ENTER_TIME`).
    pub fn enter_time(&self) -> Option<u64> {
        (self.flags & SyscallRecord::NO_ENTER_TIME == 0).then_some(self.enter_ns)
    }

    /// The event's time: its entry, or its exit when the entry was not timed.
    pub fn time_ns(&self) -> u64 {
        self.enter_time().unwrap_or(self.exit_ns)
    }

    pub fn duration_ns(&self) -> Option<u64> {
        let enter = self.enter_time()?;
        self.returns().then(|| self.exit_ns.saturating_sub(enter))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub per_process: usize,
    pub memory_bytes: usize,
    /// The newest events of a live process the memory cap never takes away
    /// (rounded up to whole chunks): churn, however heavy, cannot empty the
    /// history of the process someone is looking at.
    pub keep_per_process: usize,
}

/// All watched processes' logs.
#[derive(Debug)]
pub struct Recorder {
    limits: Limits,
    /// By pid; Fx hashing: SipHash was a fifth of the drain's instructions.
    logs: FxHashMap<u32, ProcessLog>,
    /// (bytes, pid) of every log, largest last: the cap sheds from the largest
    /// without walking all logs (walking 10,000 of them made a push at the
    /// cap cost 350 ns instead of 26, benches/userspace.rs). A log is refiled
    /// when its bytes have moved a chunk's cost from its key (a chunk
    /// allocated or freed, or captures adding up): every key is within one
    /// chunk's cost of its log's bytes, and a key under a chunk's cost means
    /// an empty log.
    by_size: BTreeSet<(usize, u32)>,
    /// (exit order, pid) of exited processes' logs holding events, oldest
    /// exit first: the cap sheds these first, whole. Their logs are not in
    /// `by_size`.
    exited: BTreeSet<(u64, u32)>,
    exits: u64,
    /// Times the cap had to go below a live history's kept minimum (every
    /// history was at it: more live processes than the cap holds minimums for).
    below_minimum: u64,
    /// Bytes of all rings' allocations.
    bytes: usize,
    /// Events that arrived for a process no longer watched.
    late: u64,
    /// Events delivered to, and evicted from, the logs closed so far.
    closed_seen: u64,
    closed_evicted: u64,
}

/// Event totals of all logs, those closed included (monotonic, for /metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventTotals {
    pub delivered: u64,
    pub retained: u64,
    pub evicted: u64,
}

impl Recorder {
    pub fn new(limits: Limits) -> Recorder {
        Recorder {
            limits,
            logs: FxHashMap::default(),
            by_size: BTreeSet::new(),
            exited: BTreeSet::new(),
            exits: 0,
            below_minimum: 0,
            bytes: 0,
            late: 0,
            closed_seen: 0,
            closed_evicted: 0,
        }
    }

    /// Starts a log for `pid`; false if it has one already.
    pub fn open(&mut self, pid: u32) -> bool {
        self.open_from(pid, 1)
    }

    /// Starts a log for `pid` that replaces the one it has, if any (an
    /// exited process whose pid a new one reuses): its numbers go on from the
    /// old log's, so a client polling with the old cursor gets the new
    /// process's events from its first, not from where the old one stopped.
    pub fn replace(&mut self, pid: u32) {
        let next = self.close(pid).map_or(1, |old| old.last_seq + 1);
        self.open_from(pid, next);
    }

    fn open_from(&mut self, pid: u32, first_seq: u64) -> bool {
        if self.logs.contains_key(&pid) {
            return false;
        }
        self.logs.insert(pid, ProcessLog::starting_at(first_seq));
        self.by_size.insert((0, pid));
        true
    }

    /// Frees `pid`'s log, returning its final counters.
    pub fn close(&mut self, pid: u32) -> Option<LogStats> {
        let log = self.logs.remove(&pid)?;
        match log.exited {
            Some(order) => self.exited.remove(&(order, pid)),
            None => self.by_size.remove(&(log.filed, pid)),
        };
        self.bytes -= log.bytes();
        let stats = log.stats();
        self.closed_seen += stats.seen;
        self.closed_evicted += stats.evicted;
        Some(stats)
    }

    /// `pid`'s process exited: its history is the first the cap sheds (after
    /// those of processes that exited before), and has no kept minimum.
    pub fn exited(&mut self, pid: u32) {
        let Some(log) = self.logs.get_mut(&pid).filter(|l| l.exited.is_none()) else { return };
        self.by_size.remove(&(log.filed, pid));
        self.exits += 1;
        log.exited = Some(self.exits);
        if log.bytes() > 0 {
            self.exited.insert((self.exits, pid));
        }
    }

    /// Adds an event; false (and counted as late) if `pid` has no log (for
    /// tests: the drain's path is `push_record`).
    #[cfg(test)]
    pub fn push(&mut self, pid: u32, ev: Event) -> bool {
        let (stored, capture) = Stored::split(ev);
        self.push_stored(pid, stored, capture).is_some()
    }

    /// Adds the event of a kernel record, with its capture (the drain's
    /// path); returns its sequence number, `None` (and counted as late) if
    /// `pid` has no log.
    pub fn push_record(&mut self, r: &SyscallRecord, capture: Option<Box<[u8]>>) -> Option<u64> {
        self.push_stored(r.pid, Stored::from_record(r), capture)
    }

    fn push_stored(&mut self, pid: u32, stored: Stored, capture: Option<Box<[u8]>>) -> Option<u64> {
        let Some(log) = self.logs.get_mut(&pid) else {
            self.late += 1;
            return None;
        };
        let before = log.bytes();
        let seq = log.push(stored, capture, self.limits.per_process);
        account(&mut self.bytes, &mut self.by_size, &mut self.exited, pid, log, before);
        if self.bytes > self.limits.memory_bytes {
            self.shed();
        }
        Some(seq)
    }

    /// The kernel lost `count` of `pid`'s calls here (a loss record): a gap
    /// after its newest event. False if `pid` has no log.
    pub fn note_loss(&mut self, pid: u32, count: u64, at_ns: u64) -> bool {
        self.note_loss_as(pid, count, at_ns, GapReason::Dropped)
    }

    /// As `note_loss`, for `reason` (Dropped or Throttled).
    pub fn note_loss_as(&mut self, pid: u32, count: u64, at_ns: u64, reason: GapReason) -> bool {
        let Some(log) = self.logs.get_mut(&pid) else { return false };
        let before = log.bytes();
        log.note_loss(count, at_ns, reason);
        account(&mut self.bytes, &mut self.by_size, &mut self.exited, pid, log, before);
        if self.bytes > self.limits.memory_bytes {
            self.shed();
        }
        true
    }

    /// Over the memory cap: first the histories of exited processes, whole,
    /// the oldest exit first; then a chunk of the oldest events of the
    /// largest live history, until under the cap, but never a live history's
    /// newest `keep_per_process` events (unless every live history is down
    /// to them, counted in `below_minimum`). A chunk at a time, because the chunk
    /// freed is the one the next new chunk reuses: evicting a quarter of the
    /// history at once left 16 MiB freed but resident (the allocator keeps
    /// freed memory for a while) while new chunks came from fresh pages, so
    /// the resident set rose above the cap (bench/README.md).
    fn shed(&mut self) {
        while self.bytes > self.limits.memory_bytes {
            if let Some((order, pid)) = self.exited.pop_first() {
                if let Some(log) = self.logs.get_mut(&pid).filter(|l| l.exited == Some(order)) {
                    let before = log.bytes();
                    log.evict(log.len());
                    log.release_spare();
                    self.bytes = self.bytes + log.bytes() - before;
                }
                continue;
            }
            let Some(&(filed, pid)) = self.live_to_shed() else { return };
            let Some(log) = self.logs.get_mut(&pid) else { return };
            let before = log.bytes();
            if before > 0 {
                // The oldest chunk's events free it (and the spare); a log
                // emptied so frees everything. Above the minimum when there
                // is one above it, else the largest anyway.
                let keep = self.limits.keep_per_process;
                let n = log.front_chunk_len().max(1).min(log.len());
                if log.len() < keep + n {
                    self.below_minimum += 1;
                }
                log.evict(n);
                log.release_spare();
                let after = log.bytes();
                self.bytes = self.bytes + after - before;
                if after >= before {
                    // Cannot happen (see above); if it did, the loop would
                    // pick this log forever, holding the history lock.
                    debug_assert!(false, "shedding {pid}'s log freed nothing");
                    refile(&mut self.by_size, pid, log);
                    return;
                }
            } else if filed < CHUNK_COST {
                return; // the largest key is an empty log's: all are empty
            }
            refile(&mut self.by_size, pid, log);
        }
    }

    /// The live history to shed a chunk of: the largest with more than its
    /// kept minimum beyond its oldest chunk; if none has, the largest.
    fn live_to_shed(&self) -> Option<&(usize, u32)> {
        let keep = self.limits.keep_per_process;
        let above = |&&(_, pid): &&(usize, u32)| {
            self.logs.get(&pid).is_some_and(|l| l.len() >= keep + l.front_chunk_len().max(1))
        };
        // Histories at their minimum hold a chunk or two each: the scan stops
        // at the first one above it, and walks them all only when none is.
        self.by_size.iter().rev().find(above).or_else(|| self.by_size.last())
    }

    /// Times the cap went below a live history's kept minimum.
    pub fn below_minimum(&self) -> u64 {
        self.below_minimum
    }

    pub fn log(&self, pid: u32) -> Option<&ProcessLog> {
        self.logs.get(&pid)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn late(&self) -> u64 {
        self.late
    }

    /// Every log, by pid (in no order).
    pub fn logs(&self) -> impl Iterator<Item = (u32, &ProcessLog)> {
        self.logs.iter().map(|(&pid, log)| (pid, log))
    }

    /// Events delivered, retained and evicted, closed logs' included.
    pub fn event_totals(&self) -> EventTotals {
        let mut t = EventTotals { delivered: self.closed_seen, retained: 0, evicted: self.closed_evicted };
        for log in self.logs.values() {
            let s = log.stats();
            t.delivered += s.seen;
            t.retained += s.retained;
            t.evicted += s.evicted;
        }
        t
    }
}

/// `pid`'s log changed from `before` bytes: counts the difference, and
/// refiles it once it has moved a chunk's cost.
fn account(
    bytes: &mut usize,
    by_size: &mut BTreeSet<(usize, u32)>,
    exited: &mut BTreeSet<(u64, u32)>,
    pid: u32,
    log: &mut ProcessLog,
    before: usize,
) {
    let after = log.bytes();
    *bytes = *bytes + after - before;
    match log.exited {
        // A late event of an exited process whose history was shed.
        Some(order) if before == 0 && after > 0 => _ = exited.insert((order, pid)),
        Some(_) => {}
        None if after.abs_diff(log.filed) >= CHUNK_COST => refile(by_size, pid, log),
        None => {}
    }
}

/// Files `log` under its bytes now.
fn refile(by_size: &mut BTreeSet<(usize, u32)>, pid: u32, log: &mut ProcessLog) {
    by_size.remove(&(log.filed, pid));
    log.filed = log.bytes();
    by_size.insert((log.filed, pid));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(nr: i32) -> Event {
        Event { nr: Event::stored_nr(nr), ..Default::default() }
    }

    #[test]
    fn an_untimed_entry_has_no_duration_and_the_exit_time() {
        let timed = Event { enter_ns: 1_000, exit_ns: 1_500, ..ev(39) };
        assert_eq!((timed.time_ns(), timed.duration_ns()), (1_000, Some(500)));
        let untimed = Event { enter_ns: 7, exit_ns: 1_500, flags: SyscallRecord::NO_ENTER_TIME, ..ev(39) };
        assert_eq!((untimed.enter_time(), untimed.time_ns(), untimed.duration_ns()), (None, 1_500, None));
        let exit = Event { flags: SyscallRecord::NO_RETURN, ..timed.clone() };
        assert_eq!(exit.duration_ns(), None, "a call that does not return has no duration");
    }

    #[test]
    fn syscall_numbers_are_stored_in_two_bytes() {
        for nr in [0, 39, 461, -1] {
            assert_eq!(ev(nr).nr(), nr);
        }
        assert_eq!(Event::stored_nr(0x4000_0001), i16::MIN, "an x32 number");
    }

    #[test]
    fn captures_count_against_the_memory_cap() {
        let cap = 8 * CHUNK * EVENT_BYTES;
        let mut r = recorder(100_000, cap);
        r.open(1);
        for i in 0..20_000 {
            let capture = Some(vec![b'x'; 500].into_boxed_slice());
            r.push(1, Event { nr: Event::stored_nr(i), capture, ..Default::default() });
            assert!(r.bytes() <= cap, "{} > {cap}", r.bytes());
        }
        let s = r.log(1).unwrap().stats();
        assert_eq!(s.retained + s.evicted, s.seen);
        r.close(1);
        assert_eq!(r.bytes(), 0);
    }

    /// A history whose captures' queue grew large and was shed to nothing
    /// must hold nothing: if its leftover room kept it the largest, shedding
    /// would pick it forever.
    #[test]
    fn a_history_shed_to_nothing_holds_nothing() {
        let cap = 64 * CHUNK_COST;
        let mut r = recorder(100_000, cap);
        r.open(1);
        for i in 0..4096 {
            r.push(1, Event { nr: Event::stored_nr(i), capture: Some(vec![b'x'; 100].into_boxed_slice()), ..ev(0) });
        }
        for pid in 2..=100 {
            r.open(pid);
            for nr in 0..CHUNK as i32 {
                r.push(pid, ev(nr));
                assert!(r.bytes() <= cap, "{} > {cap}", r.bytes());
            }
        }
        let one = r.log(1).unwrap();
        assert_eq!((one.len(), one.bytes()), (0, 0), "history 1 was shed first and holds nothing");
    }

    fn nrs(it: impl Iterator<Item = (u64, Event)>) -> Vec<(u64, i32)> {
        it.map(|(s, e)| (s, e.nr())).collect()
    }

    fn recorder(per_process: usize, memory_bytes: usize) -> Recorder {
        Recorder::new(Limits { per_process, memory_bytes, keep_per_process: 0 })
    }

    #[test]
    fn keeps_the_newest_and_counts_the_rest() {
        let mut r = recorder(3, 1 << 20);
        assert!(r.open(7));
        assert!(!r.open(7));
        for nr in 1..=5 {
            assert!(r.push(7, ev(nr)));
        }
        let log = r.log(7).unwrap();
        assert_eq!(nrs(log.last(10)), vec![(3, 3), (4, 4), (5, 5)]);
        let s = log.stats();
        assert_eq!((s.seen, s.retained, s.evicted, s.last_seq), (5, 3, 2, 5));
        assert_eq!(s.retained + s.evicted, s.seen);
    }

    #[test]
    fn cursor_returns_only_newer_events() {
        let mut r = recorder(3, 1 << 20);
        r.open(1);
        for nr in 1..=5 {
            r.push(1, ev(nr));
        }
        let log = r.log(1).unwrap();
        assert_eq!(nrs(log.after(0, 10)), vec![(3, 3), (4, 4), (5, 5)], "evicted ones are gone");
        assert_eq!(nrs(log.after(3, 10)), vec![(4, 4), (5, 5)]);
        assert_eq!(nrs(log.after(4, 1)), vec![(5, 5)]);
        assert_eq!(nrs(log.after(5, 10)), vec![]);
        assert_eq!(nrs(log.after(99, 10)), vec![]);
        assert_eq!(nrs(log.last(2)), vec![(4, 4), (5, 5)]);
    }

    #[test]
    fn a_long_history_pages_across_chunks() {
        let mut r = recorder(1000, 1 << 30);
        r.open(1);
        for nr in 1..=5000 {
            r.push(1, ev(nr));
        }
        let log = r.log(1).unwrap();
        let page: Vec<_> = (4501..=4510).map(|s| (s, s as i32)).collect();
        assert_eq!(nrs(log.after(4500, 10)), page);
        assert_eq!(nrs(log.after(0, 2)), vec![(4001, 4001), (4002, 4002)], "the oldest retained");
        assert_eq!(nrs(log.last(2)), vec![(4999, 4999), (5000, 5000)]);
        assert_eq!(log.stats(), LogStats { seen: 5000, retained: 1000, evicted: 4000, last_seq: 5000 });
        // 1000 events span at most one chunk more than they fill.
        let chunk = CHUNK * EVENT_BYTES + size_of::<Vec<Stored>>();
        assert!(r.bytes() <= (1000usize.div_ceil(CHUNK) + 1) * chunk, "{}", r.bytes());
    }

    /// A new process with a reused pid: numbers go on, so a client's cursor
    /// from the old one gets every event of the new one.
    #[test]
    fn a_replaced_log_numbers_on() {
        let mut r = recorder(3, 1 << 20);
        r.open(1);
        for nr in 1..=5 {
            r.push(1, ev(nr));
        }
        r.replace(1);
        let log = r.log(1).unwrap();
        assert_eq!(log.stats(), LogStats { seen: 0, retained: 0, evicted: 0, last_seq: 5 });
        r.push(1, ev(7));
        r.push(1, ev(8));
        assert_eq!(nrs(r.log(1).unwrap().after(5, 10)), vec![(6, 7), (7, 8)]);
        r.replace(2);
        assert_eq!(r.log(2).unwrap().stats().last_seq, 0, "nothing replaced: from 1");
    }

    /// Exited histories go first, oldest exit first, whole; a live one is
    /// shed from its oldest events but keeps its newest `keep_per_process`.
    #[test]
    fn the_cap_sheds_exited_histories_first_and_keeps_a_minimum_of_live_ones() {
        let cap = 16 * CHUNK_COST;
        let keep = CHUNK;
        let mut r = Recorder::new(Limits { per_process: 1_000_000, memory_bytes: cap, keep_per_process: keep });
        // A quiet live process (the one someone is looking at), and two
        // that ran and exited, each with more than the quiet one.
        r.open(1);
        for i in 0..2 * CHUNK {
            r.push(1, ev(i as i32));
        }
        for pid in [2, 3] {
            r.open(pid);
            for i in 0..4 * CHUNK {
                r.push(pid, ev(i as i32));
            }
        }
        r.exited(3);
        r.exited(2);
        // A busy live process pushes past the cap.
        r.open(4);
        for i in 0..8 * CHUNK {
            r.push(4, ev(i as i32));
        }
        assert_eq!(r.log(3).unwrap().len(), 0, "the first to exit went first, whole");
        assert_eq!(r.log(2).unwrap().len(), 4 * CHUNK, "the next waits its turn");
        assert_eq!(r.log(1).unwrap().len(), 2 * CHUNK, "live ones are untouched while exited ones have events");
        for i in 0..40 * CHUNK {
            r.push(4, ev(i as i32));
        }
        assert_eq!(r.log(2).unwrap().len(), 0);
        let quiet = r.log(1).unwrap();
        assert!(quiet.len() >= keep, "the quiet process keeps {} of its newest events", quiet.len());
        assert_eq!(nrs(quiet.last(1)), vec![(2 * CHUNK as u64, 2 * CHUNK as i32 - 1)], "the newest are kept");
        assert!(r.bytes() <= cap, "{} > {cap}", r.bytes());
        assert_eq!(r.below_minimum(), 0);
        for pid in 1..=4 {
            let s = r.log(pid).unwrap().stats();
            assert_eq!(s.retained + s.evicted, s.seen, "pid {pid}: every event retained or counted");
        }
        // A late event of a shed exited process: counted, and at the cap the
        // first to go again.
        let seen = r.log(3).unwrap().stats().seen;
        r.push(3, ev(7));
        assert_eq!(r.log(3).unwrap().stats().seen, seen + 1);
        assert_eq!(r.log(3).unwrap().len(), 0, "shed first again");
        assert!(r.bytes() <= cap);
    }

    /// Churn: thousands of processes come, record a little and exit, while
    /// one quiet live process is watched; its newest events survive.
    #[test]
    fn churn_cannot_take_a_live_processs_minimum() {
        let cap = 64 * CHUNK_COST;
        let keep = 100;
        let mut r = Recorder::new(Limits { per_process: 4096, memory_bytes: cap, keep_per_process: keep });
        r.open(1);
        for i in 0..300 {
            r.push(1, ev(i));
        }
        for pid in 10..40_010 {
            r.open(pid);
            for i in 0..30 {
                r.push(pid, ev(i));
            }
            r.exited(pid);
            assert!(r.bytes() <= cap);
        }
        let quiet = r.log(1).unwrap();
        assert!(quiet.len() >= keep, "{}", quiet.len());
        assert_eq!(nrs(quiet.last(1)), vec![(300, 299)]);
    }

    fn entries(log: &ProcessLog, from: Cursor, limit: usize, complete: bool) -> (Vec<String>, Cursor) {
        let (entries, cur) = log.read(from, limit, complete);
        let shown = entries
            .iter()
            .map(|e| match e {
                Entry::Event(seq, _) => format!("{seq}"),
                Entry::Gap(g) => format!("{}:{}{}", g.after, g.reason.name(), g.count),
            })
            .collect();
        (shown, cur)
    }

    /// A reader gets the kernel's losses where they happened, each once, a
    /// loss at the end only once it is final, and evictions as one gap.
    #[test]
    fn a_reader_gets_events_and_gaps_in_their_places() {
        let mut r = recorder(5, 1 << 20);
        r.open(1);
        r.note_loss(1, 2, 0);
        r.push(1, ev(10));
        r.push(1, ev(11));
        r.note_loss(1, 3, 0);
        r.note_loss(1, 4, 0);
        r.push(1, ev(12));
        assert!(!r.note_loss(9, 1, 0), "no such log");
        let log = r.log(1).unwrap();
        let (all, end) = entries(log, Cursor::default(), 10, false);
        assert_eq!(all, ["0:dropped2", "1", "2", "2:dropped7", "3"]);
        assert_eq!((end, log.gaps_dropped()), (Cursor::at(3), 9));
        // In slices: the same, each once.
        let (a, c) = entries(log, Cursor::default(), 1, false);
        let (b, c) = entries(log, c, 1, false);
        let (d, c) = entries(log, c, 1, false);
        assert_eq!([a, b, d].concat(), all);
        assert_eq!(entries(log, c, 10, false).0, Vec::<String>::new());
        // A loss after the newest event: read once the process has exited (or the next event came).
        r.note_loss(1, 1, 0);
        let log = r.log(1).unwrap();
        assert_eq!(entries(log, c, 10, false), (vec![], Cursor::at(3)));
        let (tail, c) = entries(log, c, 10, true);
        assert_eq!((tail, c), (vec!["3:dropped1".to_string()], Cursor { seq: 3, gap_seen: true }));
        assert_eq!(entries(log, c, 10, true).0, Vec::<String>::new());
        // Evicted past the reader: one gap, and the losses among the evicted are gone with them.
        for nr in 0..4 {
            r.push(1, ev(nr));
        }
        let log = r.log(1).unwrap();
        assert_eq!(
            entries(log, Cursor::at(1), 10, false).0,
            ["1:evicted1", "2:dropped7", "3", "3:dropped1", "4", "5", "6", "7"]
        );
        assert_eq!(entries(log, Cursor::at(0), 10, false).0[0], "0:evicted2");
        // A page's gaps: those at its places, each in one page only.
        let gaps = |after, upto| -> Vec<String> {
            log.gaps_in(after, upto).iter().map(|g| format!("{}:{}{}", g.after, g.reason.name(), g.count)).collect()
        };
        assert_eq!(gaps(1, 4), ["1:evicted1", "2:dropped7", "3:dropped1"]);
        assert_eq!([gaps(1, 3), gaps(3, 7), gaps(7, 7)].concat(), gaps(1, 7));
        assert_eq!(gaps(0, 0), Vec::<String>::new(), "an empty page has none");
        r.push(1, ev(0));
        assert_eq!(r.log(1).unwrap().gaps_dropped(), 1, "the loss after 2 went with event 3");
    }

    /// Losses for two reasons at one place are two gaps there, each read
    /// once, also by a reader that stops right after them.
    #[test]
    fn two_reasons_at_one_place_are_read_once_each() {
        let mut r = recorder(5, 1 << 20);
        r.open(1);
        r.push(1, ev(10));
        r.note_loss_as(1, 2, 0, GapReason::Dropped);
        r.note_loss_as(1, 3, 0, GapReason::Throttled);
        r.push(1, ev(11));
        let log = r.log(1).unwrap();
        let (all, _) = entries(log, Cursor::default(), 10, false);
        assert_eq!(all, ["1", "1:dropped2", "1:throttled3", "2"]);
        let (a, c) = entries(log, Cursor::default(), 1, false);
        assert_eq!(c, Cursor { seq: 1, gap_seen: true });
        let (b, _) = entries(log, c, 10, false);
        assert_eq!([a, b].concat(), all);
    }

    #[test]
    fn empty_log_has_last_seq_zero() {
        let mut r = recorder(3, 1 << 20);
        r.open(1);
        assert_eq!(r.log(1).unwrap().stats(), LogStats::default());
    }

    #[test]
    fn events_for_unwatched_processes_are_counted_late() {
        let mut r = recorder(3, 1 << 20);
        assert!(!r.push(9, ev(1)));
        r.open(9);
        r.push(9, ev(1));
        let closed = r.close(9).unwrap();
        assert_eq!(closed.seen, 1);
        assert!(!r.push(9, ev(2)));
        assert_eq!(r.late(), 2);
        assert_eq!(r.bytes(), 0, "closing frees the ring");
    }

    #[test]
    fn memory_cap_holds_across_processes() {
        let cap = 4 * CHUNK * EVENT_BYTES;
        let mut r = recorder(100_000, cap);
        for pid in 1..=3 {
            r.open(pid);
        }
        for i in 0..20_000 {
            r.push(1 + (i % 3), ev(i as i32));
            assert!(r.bytes() <= cap, "{} > {cap} after {i}", r.bytes());
        }
        for pid in 1..=3 {
            let s = r.log(pid).unwrap().stats();
            assert_eq!(s.retained + s.evicted, s.seen);
            assert!(s.retained > 0, "every process keeps some history");
        }
    }

    #[test]
    fn the_cap_is_shed_a_chunk_at_a_time() {
        let chunk = CHUNK * EVENT_BYTES + size_of::<Vec<Stored>>();
        let cap = 64 * chunk;
        let mut r = recorder(1_000_000, cap);
        r.open(1);
        for i in 0..100_000 {
            r.push(1, ev(i));
        }
        assert!(r.bytes() <= cap && r.bytes() + 3 * chunk > cap, "{} of {cap}", r.bytes());
    }

    #[test]
    fn busy_process_is_shed_before_quiet_ones() {
        let cap = 4 * CHUNK * EVENT_BYTES;
        let mut r = recorder(100_000, cap);
        r.open(1);
        r.open(2);
        for i in 0..10 {
            r.push(2, ev(i));
        }
        for i in 0..50_000 {
            r.push(1, ev(i));
        }
        assert_eq!(r.log(2).unwrap().stats().retained, 10);
    }

    #[test]
    fn the_largest_history_is_shed_even_when_another_pushes() {
        let chunk = CHUNK_COST;
        let mut r = recorder(1_000_000, 8 * chunk);
        for pid in 1..=3 {
            r.open(pid);
        }
        for i in 0..6 * CHUNK {
            r.push(1, ev(i as i32));
        }
        for i in 0..3 * CHUNK {
            r.push(2, ev(i as i32));
        }
        assert_eq!(r.log(1).unwrap().len(), 5 * CHUNK, "one chunk's worth shed from the largest");
        assert_eq!(r.log(2).unwrap().len(), 3 * CHUNK);
        assert!(r.bytes() <= 8 * chunk);
        // Closing the largest leaves the next largest to shed.
        r.close(1);
        r.push(3, ev(0));
        for i in 0..6 * CHUNK {
            r.push(2, ev(i as i32));
        }
        assert_eq!(r.log(3).unwrap().len(), 1);
        assert_eq!(r.log(2).unwrap().len(), 8 * CHUNK - CHUNK, "{}", r.log(2).unwrap().len());
        assert_eq!(r.by_size.len(), 2, "one entry per open log");
    }

    #[test]
    fn a_full_history_gaining_aux_copies_is_still_found_largest() {
        let with_capture = |n| {
            let mut e = ev(257);
            e.capture = Some(vec![0; n].into_boxed_slice());
            e
        };
        let mut r = recorder(3 * CHUNK, 64 * CHUNK_COST);
        r.open(1);
        r.open(2);
        // Log 2: full, its chunks no longer change, 100 bytes of capture an event.
        for _ in 0..4 * CHUNK {
            r.push(2, with_capture(100));
        }
        // Log 1: full of plain events, then one out and one in with 4000
        // bytes of capture each. Its chunks do not change either, but its bytes
        // pass log 2's and then the cap: it is the one to shed.
        for i in 0..4 * CHUNK {
            r.push(1, ev(i as i32));
        }
        for _ in 0..3 * CHUNK {
            r.push(1, with_capture(4000));
        }
        assert_eq!(r.log(2).unwrap().len(), 3 * CHUNK, "the smaller history was kept");
        assert!(r.log(1).unwrap().len() < 3 * CHUNK);
        assert!(r.bytes() <= 64 * CHUNK_COST);
    }
}
