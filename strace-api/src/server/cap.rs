//! The connection cap: a table of open connections, which of them are idle
//! and in what order, and the open-files limit the cap is drawn from.
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::stats::{Counters, Reporter};

/// File descriptors kept out of the cap: eBPF maps, programs and links, the
/// ring buffer, /proc reads, logs, the listener.
pub const RESERVED_FDS: u64 = 256;
/// The default cap never goes above this: each connection may hold up to
/// ~80 KiB of buffers (twice the head limit, TLS records), so 4096 of them
/// bound the server's memory to a few hundred MiB at worst.
pub const MAX_DEFAULT_CONNECTIONS: usize = 4096;

/// The cap when `--max-connections` is not given: half of the descriptors
/// left after the reserve (the other half is for pidfds of watched
/// processes, which `--watch-all` can make many), between 16 and 4096.
/// An open-files limit of 1024 gives 384.
pub fn default_max_connections(open_files: u64) -> usize {
    let half = open_files.saturating_sub(RESERVED_FDS) / 2;
    (half.min(MAX_DEFAULT_CONNECTIONS as u64) as usize).max(16)
}

/// The open-files limit before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub before: u64,
    pub now: u64,
    pub hard: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (or to the kernel's
/// `fs.nr_open` when the hard limit is unlimited).
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    let mut target = lim.rlim_max;
    if target == libc::RLIM_INFINITY {
        target =
            std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1 << 20);
    }
    if target > before {
        let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!("cannot raise the open-files limit from {before} to {target}: {e}");
            return Ok(FdLimit { before, now: before, hard: lim.rlim_max });
        }
        return Ok(FdLimit { before, now: target, hard: lim.rlim_max });
    }
    Ok(FdLimit { before, now: before, hard: lim.rlim_max })
}

/// What [`Table::admit`] did with a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<H> {
    /// Under the cap: admitted as `id`.
    Admitted(u64),
    /// At the cap: admitted as `id`, and `victim`, the connection idle the
    /// longest, was taken out of the table; its owner must close it.
    Evicting { id: u64, victim: H },
    /// At the cap with every connection in a request: refused.
    Refused,
}

/// The open connections, at most `cap`. A connection is idle (evictable)
/// from the moment it is accepted until its first request head is complete
/// (TLS handshake and slow headers included), and again from the end of each
/// response until the next head is complete; it is busy while a request is
/// handled and its response written. Idle connections are ordered by when
/// they became idle: the oldest goes first. Every operation is O(log n).
#[derive(Debug)]
pub struct Table<H> {
    cap: usize,
    next_id: u64,
    next_seq: u64,
    conns: HashMap<u64, Entry<H>>,
    /// Idle connections by the sequence number of their turning idle.
    idle: BTreeMap<u64, u64>,
}

#[derive(Debug)]
struct Entry<H> {
    handle: H,
    /// `Some(seq)` while idle.
    idle_since: Option<u64>,
}

impl<H> Table<H> {
    pub fn new(cap: usize) -> Table<H> {
        Table { cap: cap.max(1), next_id: 0, next_seq: 0, conns: HashMap::new(), idle: BTreeMap::new() }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Admits a new connection (idle, the newest), evicting the oldest idle
    /// one if the table is full.
    pub fn admit(&mut self, handle: H) -> Admission<H> {
        let victim = if self.conns.len() >= self.cap {
            match self.evict_oldest() {
                Some(v) => Some(v),
                None => return Admission::Refused,
            }
        } else {
            None
        };
        let id = self.next_id;
        self.next_id += 1;
        let seq = self.bump();
        self.conns.insert(id, Entry { handle, idle_since: Some(seq) });
        self.idle.insert(seq, id);
        match victim {
            Some(victim) => Admission::Evicting { id, victim },
            None => Admission::Admitted(id),
        }
    }

    /// Takes the connection idle the longest out of the table.
    pub fn evict_oldest(&mut self) -> Option<H> {
        let (_, id) = self.idle.pop_first()?;
        self.conns.remove(&id).map(|e| e.handle)
    }

    /// A request began on `id`: it cannot be evicted until [`Table::idle`].
    pub fn busy(&mut self, id: u64) {
        if let Some(e) = self.conns.get_mut(&id)
            && let Some(seq) = e.idle_since.take()
        {
            self.idle.remove(&seq);
        }
    }

    /// `id`'s response is written: it is idle again, the newest.
    pub fn idle(&mut self, id: u64) {
        let seq = self.next_seq;
        if let Some(e) = self.conns.get_mut(&id) {
            if let Some(old) = e.idle_since.replace(seq) {
                self.idle.remove(&old);
            }
            self.idle.insert(seq, id);
            self.next_seq += 1;
        }
    }

    /// `id` closed; false if it had been evicted already.
    pub fn remove(&mut self, id: u64) -> bool {
        match self.conns.remove(&id) {
            Some(e) => {
                if let Some(seq) = e.idle_since {
                    self.idle.remove(&seq);
                }
                true
            }
            None => false,
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }
}

/// The table shared by the accept loop and the connections, with the counters.
pub struct Registry {
    table: Mutex<Table<Arc<Notify>>>,
    pub counters: Counters,
    pub reporter: Reporter,
}

impl Registry {
    pub fn new(cap: usize) -> Registry {
        Registry { table: Mutex::new(Table::new(cap)), counters: Counters::default(), reporter: Reporter::default() }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table<Arc<Notify>>> {
        // A panic elsewhere while holding it leaves a table still consistent
        // enough to go on with.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self) -> usize {
        self.table().len()
    }

    pub fn cap(&self) -> usize {
        self.table().cap()
    }

    /// Admits a connection whose owner waits on `kill`; an evicted one is
    /// told to close and counted.
    pub fn admit(&self, kill: Arc<Notify>) -> Option<u64> {
        let admission = self.table().admit(kill);
        match admission {
            Admission::Admitted(id) => Some(id),
            Admission::Evicting { id, victim } => {
                victim.notify_one();
                Counters::bump(&self.counters.evicted_at_cap);
                self.reporter.note(self);
                Some(id)
            }
            Admission::Refused => {
                Counters::bump(&self.counters.refused_at_cap);
                self.reporter.note(self);
                None
            }
        }
    }

    /// Closes the connection idle the longest, to free a descriptor (when
    /// accept fails with EMFILE). False if none is idle.
    pub fn evict_one(&self) -> bool {
        let victim = self.table().evict_oldest();
        match victim {
            Some(v) => {
                v.notify_one();
                Counters::bump(&self.counters.evicted_at_cap);
                self.reporter.note(self);
                true
            }
            None => false,
        }
    }

    pub fn busy(&self, id: u64) {
        self.table().busy(id);
    }

    pub fn idle(&self, id: u64) {
        self.table().idle(id);
    }

    pub fn remove(&self, id: u64) {
        self.table().remove(id);
    }
}
