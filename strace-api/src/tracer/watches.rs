//! Which processes are watched, and how each watch lives and ends. Pure
//! bookkeeping; the tracer keeps it consistent with the kernel and the recorder.
use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant, SystemTime},
};

use strace_common::filter::SyscallFilter;

use crate::{filter::SyscallSet, kernel::Losses, procs::Names};

/// A watch's kernel-side syscall filter: what was asked for, and the
/// bitmap the kernel tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchFilter {
    /// As given: `%file,connect`.
    pub spec: String,
    pub bits: SyscallFilter,
}

impl WatchFilter {
    /// strace's `-e trace=` list (`syscalls=`): `None` when it names every
    /// call (no filter at all); the error names what did not parse.
    pub fn parse(spec: &str) -> Result<Option<WatchFilter>, String> {
        let set = SyscallSet::parse(spec).map_err(|e| e.to_string())?;
        Ok(set.kernel_filter().map(|bits| WatchFilter { spec: spec.to_owned(), bits }))
    }
}

/// Why a process is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Someone asked over HTTP.
    Requested,
    /// Its parent was watched with `children=true`.
    Child,
    /// `--watch-all`.
    Auto,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Pid in the daemon's namespace.
    pub pid: u32,
    /// Distinguishes this watch from earlier ones of a reused pid.
    pub id: u64,
    /// Host tgid, once known (always, in the initial namespace).
    pub host_pid: Option<u32>,
    /// Start time (clock ticks since boot): with `pid`, the process's identity.
    pub start_ticks: Option<u64>,
    pub origin: Origin,
    pub parent: Option<u32>,
    pub follow_children: bool,
    /// Its fds are shown with their paths (its fd table is kept).
    pub fd_paths: bool,
    /// When the process exited; the history stays readable for a while.
    pub exited: Option<Exit>,
    /// `lifecycle` follows its exit (it could not if the process's pidfd
    /// could not be opened): `exited` is set when it goes.
    pub exit_tracked: bool,
    /// Records lost in the kernel, as counted when the kernel's entry went away.
    pub final_losses: Option<Losses>,
    /// Its command name and line, as last read (at the watch's start, and
    /// the name again at its exit): what an exited process was.
    pub comm: Option<String>,
    pub cmdline: Vec<String>,
    /// The syscalls the kernel records for it (`None`: all).
    pub filter: Option<WatchFilter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub wall: SystemTime,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct Watches {
    by_pid: HashMap<u32, Watch>,
    next_id: u64,
    /// (pid, watch id) of exited processes, in the order they exited; an
    /// entry whose watch has gone since is skipped when reached.
    exits: VecDeque<(u32, u64)>,
    exited_now: usize,
}

/// What `Watches::start` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// A new watch (`replaced`: an older, exited process's history had this pid).
    New { id: u64, replaced: bool },
    /// This very process is watched already (`children_added`: this request
    /// turned on following its children).
    Already { id: u64, children_added: bool },
    /// This very process has exited (it is a zombie not reaped yet, so /proc
    /// still shows it): its history stays as it is.
    Exited { id: u64 },
}

impl Watches {
    /// Starts watching the process `pid` started at `start_ticks` (`None`
    /// when /proc could not tell). A watch of the same process is kept, live or
    /// exited; an exited process's watch with the same pid is replaced.
    pub fn start(
        &mut self,
        pid: u32,
        start_ticks: Option<u64>,
        origin: Origin,
        follow: bool,
        parent: Option<u32>,
    ) -> Start {
        let replaced = match self.by_pid.get(&pid) {
            Some(w)
                if w.exited.is_none()
                    && (w.start_ticks == start_ticks || start_ticks.is_none() || w.start_ticks.is_none()) =>
            {
                let id = w.id;
                let w = self.by_pid.get_mut(&pid).expect("just found");
                w.start_ticks = w.start_ticks.or(start_ticks);
                let children_added = follow && !w.follow_children;
                w.follow_children |= follow;
                return Start::Already { id, children_added };
            }
            Some(w) if start_ticks.is_some_and(|t| self.has_exited(pid, t)) => return Start::Exited { id: w.id },
            Some(_) => true,
            None => false,
        };
        self.next_id += 1;
        let id = self.next_id;
        let w = Watch {
            pid,
            id,
            host_pid: None,
            start_ticks,
            origin,
            parent,
            follow_children: follow,
            fd_paths: false,
            exited: None,
            exit_tracked: false,
            final_losses: None,
            comm: None,
            cmdline: vec![],
            filter: None,
        };
        self.by_pid.insert(pid, w);
        Start::New { id, replaced }
    }

    /// Whether `pid` is the exited process started at `start_ticks`, for
    /// which `start` keeps the history as it is (`Start::Exited`).
    pub fn has_exited(&self, pid: u32, start_ticks: u64) -> bool {
        self.by_pid.get(&pid).is_some_and(|w| w.exited.is_some() && w.start_ticks == Some(start_ticks))
    }

    pub fn get(&self, pid: u32) -> Option<&Watch> {
        self.by_pid.get(&pid)
    }

    pub fn set_host_pid(&mut self, pid: u32, host_pid: u32) {
        if let Some(w) = self.by_pid.get_mut(&pid) {
            w.host_pid = Some(host_pid);
        }
    }

    /// Fills in the start time of watch `id` of `pid`, if it has none.
    pub fn set_start_ticks(&mut self, pid: u32, id: u64, start_ticks: u64) {
        if let Some(w) = self.by_pid.get_mut(&pid).filter(|w| w.id == id) {
            w.start_ticks = w.start_ticks.or(Some(start_ticks));
        }
    }

    /// Remembers what watch `id` of `pid` is running, if `names` are its
    /// process's (the pid may be another's by now): the name replaces the
    /// last one, the command line only when it has one (a zombie's is empty).
    pub fn set_names(&mut self, pid: u32, id: u64, names: Option<Names>) {
        let Some(names) = names else { return };
        let Some(w) = self.by_pid.get_mut(&pid).filter(|w| w.id == id) else { return };
        if w.start_ticks.is_some_and(|t| t != names.start_ticks) {
            return;
        }
        w.comm = Some(names.comm);
        if !names.cmdline.is_empty() {
            w.cmdline = names.cmdline;
        }
    }

    /// Sets whether `pid`'s watch follows its children; true if it changed.
    pub fn set_follow_children(&mut self, pid: u32, follow: bool) -> bool {
        self.by_pid.get_mut(&pid).is_some_and(|w| std::mem::replace(&mut w.follow_children, follow) != follow)
    }

    pub fn set_fd_paths(&mut self, pid: u32, on: bool) {
        if let Some(w) = self.by_pid.get_mut(&pid) {
            w.fd_paths = on;
        }
    }

    /// Sets `pid`'s kernel-side filter; returns the one it had, or `None`
    /// if it has no watch (as `Some(None)` for a watch without one).
    pub fn set_filter(&mut self, pid: u32, filter: Option<WatchFilter>) -> Option<Option<WatchFilter>> {
        self.by_pid.get_mut(&pid).map(|w| std::mem::replace(&mut w.filter, filter))
    }

    pub fn set_exit_tracked(&mut self, pid: u32, id: u64) {
        if let Some(w) = self.by_pid.get_mut(&pid).filter(|w| w.id == id) {
            w.exit_tracked = true;
        }
    }

    /// Whether `id` is the live watch of `pid`.
    pub fn is_live(&self, pid: u32, id: u64) -> bool {
        self.by_pid.get(&pid).is_some_and(|w| w.id == id && w.exited.is_none())
    }

    /// Marks watch `id` of `pid` exited, keeping its final drop count; false
    /// if that watch is gone or ended already.
    pub fn exited(&mut self, pid: u32, id: u64, now: Instant, wall: SystemTime, losses: Losses) -> bool {
        match self.by_pid.get_mut(&pid) {
            Some(w) if w.id == id && w.exited.is_none() => {
                w.exited = Some(Exit { wall, at: now });
                w.final_losses = Some(losses);
                self.exits.push_back((pid, id));
                self.exited_now += 1;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, pid: u32) -> Option<Watch> {
        let w = self.by_pid.remove(&pid)?;
        if w.exited.is_some() {
            self.exited_now -= 1;
        }
        Some(w)
    }

    /// Exited processes whose watches are kept now.
    pub fn exited_count(&self) -> usize {
        self.exited_now
    }

    /// Watches of processes that exited more than `keep` ago (their time is
    /// up), and, beyond the `max` most recent exits, the oldest (there is no
    /// room for them): oldest exit first. Walks only those it returns.
    pub fn expired(&mut self, now: Instant, keep: Duration, max: usize) -> Vec<u32> {
        let mut out = vec![];
        let mut left = self.exited_now;
        while let Some(&(pid, id)) = self.exits.front() {
            let Some(exit) = self.by_pid.get(&pid).filter(|w| w.id == id).and_then(|w| w.exited) else {
                self.exits.pop_front(); // gone already (unwatched, or its pid reused)
                continue;
            };
            if left <= max && now.saturating_duration_since(exit.at) < keep {
                break;
            }
            self.exits.pop_front();
            out.push(pid);
            left -= 1;
        }
        out
    }

    pub fn all(&self) -> impl Iterator<Item = &Watch> {
        self.by_pid.values()
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_process_is_watched_once() {
        let mut w = Watches::default();
        let Start::New { id, replaced: false } = w.start(10, Some(5), Origin::Requested, false, None) else { panic!() };
        assert_eq!(w.start(10, Some(5), Origin::Requested, true, None), Start::Already { id, children_added: true });
        assert_eq!(w.start(10, Some(5), Origin::Requested, true, None), Start::Already { id, children_added: false });
        assert!(w.get(10).unwrap().follow_children, "a second request can add children");
    }

    #[test]
    fn a_reused_pid_is_a_new_watch() {
        let mut w = Watches::default();
        let Start::New { id: first, .. } = w.start(10, Some(5), Origin::Requested, true, None) else { panic!() };
        let now = Instant::now();
        assert!(w.exited(10, first, now, SystemTime::now(), Losses::default()));
        assert!(!w.exited(10, first, now, SystemTime::now(), Losses::default()), "only once");
        let Start::New { id: second, replaced: true } = w.start(10, Some(99), Origin::Child, false, Some(1)) else {
            panic!()
        };
        assert_ne!(first, second);
        assert!(
            !w.exited(10, first, now, SystemTime::now(), Losses::default()),
            "the old watch's exit does not end the new one"
        );
        assert_eq!(w.get(10).unwrap().origin, Origin::Child);
    }

    #[test]
    fn an_exited_process_not_reaped_yet_keeps_its_history() {
        let mut w = Watches::default();
        let Start::New { id, .. } = w.start(10, Some(5), Origin::Requested, true, None) else { panic!() };
        assert!(w.exited(10, id, Instant::now(), SystemTime::now(), Losses::default()));
        // /proc still lists a zombie, with the same start time.
        assert_eq!(w.start(10, Some(5), Origin::Requested, true, None), Start::Exited { id });
        assert!(w.get(10).unwrap().exited.is_some());
    }

    #[test]
    fn exited_histories_expire() {
        let mut w = Watches::default();
        let Start::New { id, .. } = w.start(7, Some(1), Origin::Auto, false, None) else { panic!() };
        w.start(8, Some(1), Origin::Auto, false, None);
        let t0 = Instant::now();
        w.exited(7, id, t0, SystemTime::now(), Losses::default());
        let keep = Duration::from_secs(600);
        assert_eq!(w.expired(t0 + Duration::from_secs(599), keep, 10), Vec::<u32>::new());
        assert_eq!(w.expired(t0 + Duration::from_secs(600), keep, 10), vec![7]);
    }

    /// Beyond the most recent `max` exits the oldest go at once, whatever
    /// their retention time; a watch that went meanwhile is skipped.
    #[test]
    fn exited_watches_are_bounded() {
        let mut w = Watches::default();
        let t0 = Instant::now();
        for pid in 1..=5 {
            let Start::New { id, .. } = w.start(pid, Some(1), Origin::Auto, false, None) else { panic!() };
            w.exited(pid, id, t0, SystemTime::now(), Losses::default());
        }
        w.remove(2);
        assert_eq!(w.exited_count(), 4);
        let keep = Duration::from_secs(600);
        let gone = w.expired(t0, keep, 2);
        assert_eq!(gone, vec![1, 3], "the two oldest beyond the two most recent");
        for pid in gone {
            w.remove(pid);
        }
        assert_eq!((w.exited_count(), w.expired(t0, keep, 2)), (2, vec![]));
    }
}
