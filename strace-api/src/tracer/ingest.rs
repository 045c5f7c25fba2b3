//! Storing a batch of ring-buffer records (called by the drain).
use std::sync::{MutexGuard, atomic::Ordering};

use strace_common::{LossRecord, ProcessRecord, RecordKind, SyscallRecord, WatchEntry, batch, capture};

use super::{
    Inner, Tracer, TracerConfig,
    scrape::DrainLag,
    watches::{Origin, Start},
};
use crate::{
    capture::Seed,
    export::Exported,
    procs::{self, Lookup},
    recorder::{Event, GapReason},
};

/// A batch of records being stored (see [`Tracer::ingest`]). Readers of the
/// history wait while it is held; it is released on drop.
pub struct Ingest<'a> {
    inner: Option<MutexGuard<'a, Inner>>,
    malformed: u64,
    /// Processes the kernel started watching by itself, to track for exit
    /// (and whether to read their fd table, for `--fd-paths`).
    adopted: Vec<(u32, u64, bool)>,
    /// The kernel time of the first call stored (0: none yet), for the drain's lag.
    oldest_ns: u64,
    tracer: &'a Tracer,
}

impl<'a> Ingest<'a> {
    pub(super) fn new(tracer: &'a Tracer) -> Ingest<'a> {
        Ingest { inner: Some(tracer.inner()), malformed: 0, adopted: vec![], oldest_ns: 0, tracer }
    }

    /// Stores one ring-buffer record (a batch: each of its records); returns
    /// how many records that was.
    pub fn record(&mut self, bytes: &[u8]) -> usize {
        if RecordKind::of(bytes) != Some(RecordKind::Batch) {
            self.one(bytes);
            return 1;
        }
        let Some(mut records) = batch::records(bytes) else {
            self.malformed += 1;
            return 1;
        };
        let mut n = 0;
        for r in records.by_ref() {
            self.one(r);
            n += 1;
        }
        self.malformed += records.rest() as u64;
        n + records.rest() as usize
    }

    fn one(&mut self, bytes: &[u8]) {
        let inner = self.inner.as_mut().expect("held until drop");
        match RecordKind::of(bytes) {
            Some(RecordKind::Syscall) => match SyscallRecord::read(bytes) {
                Some(r) => {
                    if self.oldest_ns == 0 {
                        self.oldest_ns = r.exit_ns;
                    }
                    let mut captured = inner.pending.take(r.tid, r.enter_ns);
                    if captured.is_none() && is_exec(r.nr) {
                        captured = inner.pending.take_moved(r.pid, r.enter_ns);
                    }
                    if !inner.fds.is_empty() {
                        captured = inner.fds.annotate(&r, captured);
                    }
                    let capture = captured.map(Vec::into_boxed_slice);
                    match &self.tracer.outlet {
                        Some(outlet) => {
                            let mut event = Event::from_record(&r);
                            if outlet.wants(&event) {
                                event.capture.clone_from(&capture);
                                if let Some(seq) = inner.recorder.push_record(&r, capture) {
                                    outlet.offer(Exported { pid: r.pid, seq, event });
                                }
                            } else {
                                inner.recorder.push_record(&r, capture);
                            }
                        }
                        None => {
                            inner.recorder.push_record(&r, capture);
                        }
                    }
                }
                None => self.malformed += 1,
            },
            Some(RecordKind::Capture) => match capture::parse(bytes) {
                Some((head, items)) => inner.pending.add(head.pid, head.tid, head.enter_ns, items),
                None => self.malformed += 1,
            },
            Some(RecordKind::Process) => match ProcessRecord::read(bytes) {
                // Not watched: the kernel's watch table was full.
                Some(p) if p.flags & WatchEntry::REFUSED != 0 => self.tracer.note_refused(p.ns_pid),
                Some(p) => {
                    if let Some((id, seed)) = adopt(inner, &p, &self.tracer.config) {
                        self.adopted.push((p.ns_pid, id, seed));
                    }
                }
                None => self.malformed += 1,
            },
            // Where the kernel lost the process's calls: a gap in its history.
            Some(RecordKind::Loss) => match LossRecord::read(bytes) {
                Some(l) => {
                    let reason =
                        if l.reason == LossRecord::THROTTLED { GapReason::Throttled } else { GapReason::Dropped };
                    inner.recorder.note_loss_as(l.pid, l.count, l.at_ns, reason);
                }
                None => self.malformed += 1,
            },
            Some(RecordKind::Batch) | None => self.malformed += 1,
        }
    }
}

fn is_exec(nr: i32) -> bool {
    nr == syscalls::Sysno::execve.id() || nr == syscalls::Sysno::execveat.id()
}

/// The kernel watches a process on its own (a followed child, `--watch-all`,
/// or a pending watch it resolved): give it a log before its first events.
/// Returns the watch id when the watch is new, and whether its fd table is
/// to be read from /proc. Its start time is read from /proc after the lock
/// is released (see `Drop`), unless a live watch of that pid exists (rare):
/// then it is needed now, to tell a new process from that one. A followed
/// child of a watch that shows fds' paths starts with a copy of its
/// parent's fd table (the kernel wrote out the parent's calls before the
/// fork, so the table is as the fork copied it); a process the kernel
/// found by itself (`--watch-all`) gets its table from /proc, when
/// `fd_paths` (the daemon's default) says so.
fn adopt(inner: &mut Inner, p: &ProcessRecord, config: &TracerConfig) -> Option<(u64, bool)> {
    let origin = if p.flags & WatchEntry::CHILD != 0 {
        Origin::Child
    } else if p.flags & WatchEntry::AUTO != 0 {
        Origin::Auto
    } else {
        Origin::Requested
    };
    let follow = p.flags & WatchEntry::FOLLOW_CHILDREN != 0;
    let parent = (p.parent_ns_pid != 0).then_some(p.parent_ns_pid);
    let start_ticks = match inner.watches.get(p.ns_pid) {
        Some(w) if w.exited.is_none() => match procs::lookup(p.ns_pid) {
            Lookup::Process { start_ticks } => Some(start_ticks),
            _ => None,
        },
        _ => None,
    };
    let new = match inner.start(p.ns_pid, start_ticks, origin, follow, parent) {
        Start::New { id, .. } => Some(id),
        Start::Already { .. } | Start::Exited { .. } => None,
    };
    inner.watches.set_host_pid(p.ns_pid, p.host_pid);
    // A followed child has its parent's filter (as the parent has it now:
    // the kernel copied it at the fork); a process `--watch-all` found has
    // `--watch-all-syscalls`'s.
    if new.is_some() && p.filter != 0 {
        let inherited = match parent {
            Some(pp) => inner.watches.get(pp).and_then(|w| w.filter.clone()),
            None if origin == Origin::Auto => config.watch_all_filter.clone(),
            None => None,
        };
        inner.watches.set_filter(p.ns_pid, inherited);
    }
    let id = new?;
    let inherited = parent.is_some_and(|parent| {
        inner.watches.get(parent).is_some_and(|w| w.fd_paths) && inner.fds.inherit(parent, p.ns_pid)
    });
    if inherited {
        inner.watches.set_fd_paths(p.ns_pid, true);
    }
    Some((id, !inherited && parent.is_none() && config.fd_paths))
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        drop(self.inner.take());
        if self.oldest_ns != 0 {
            self.tracer.lag.note(DrainLag::since(self.oldest_ns));
        }
        if self.malformed > 0 {
            self.tracer.malformed.fetch_add(self.malformed, Ordering::Relaxed);
        }
        for (pid, id, seed) in self.adopted.drain(..) {
            self.tracer.forget_refused(pid);
            // /proc is read here, without the lock readers wait on.
            if let Lookup::Process { start_ticks } = procs::lookup(pid) {
                let names = procs::names(pid);
                let seed = seed.then(|| Seed::read(pid));
                let mut inner = self.tracer.inner();
                inner.watches.set_start_ticks(pid, id, start_ticks);
                inner.watches.set_names(pid, id, names);
                if let Some(seed) = seed
                    && inner.watches.is_live(pid, id)
                {
                    inner.fds.start(pid, seed);
                    inner.watches.set_fd_paths(pid, true);
                }
            }
            self.tracer.track_exit(pid, id);
        }
        self.tracer.arrivals.notify_waiters();
    }
}
