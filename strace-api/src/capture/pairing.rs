//! Captures waiting for their syscall record.

/// Entry-side captures arrive when a call starts, its record when it ends:
/// each thread has at most one call in progress.
#[derive(Default)]
pub struct Pending {
    by_tid: rustc_hash::FxHashMap<u32, (u32, u64, Vec<u8>)>,
    /// Captures whose syscall record never came (or came for another call).
    pub unpaired: u64,
}

impl Pending {
    /// Bound on threads with captures waiting; beyond it all are dropped (and counted).
    const MAX: usize = 65_536;

    /// Adds captured items for the call of `tid` that entered at `enter_ns`.
    pub fn add(&mut self, pid: u32, tid: u32, enter_ns: u64, items: &[u8]) {
        if self.by_tid.len() >= Self::MAX && !self.by_tid.contains_key(&tid) {
            self.unpaired += self.by_tid.len() as u64;
            self.by_tid.clear();
        }
        let entry = self.by_tid.entry(tid).or_insert_with(|| (pid, enter_ns, Vec::new()));
        if entry.1 != enter_ns {
            if !entry.2.is_empty() {
                self.unpaired += 1;
            }
            *entry = (pid, enter_ns, Vec::new());
        }
        entry.2.extend_from_slice(items);
    }

    /// The captures for the call of `tid` that entered at `enter_ns`.
    pub fn take(&mut self, tid: u32, enter_ns: u64) -> Option<Vec<u8>> {
        match self.by_tid.get(&tid) {
            Some((_, e, _)) if *e == enter_ns => self.by_tid.remove(&tid).map(|(_, _, items)| items),
            Some(_) => {
                self.by_tid.remove(&tid);
                self.unpaired += 1;
                None
            }
            None => None,
        }
    }

    /// The captures for an execve by a thread that was not the leader: the
    /// kernel gave the thread the leader's id, so they wait under its old one.
    pub fn take_moved(&mut self, pid: u32, enter_ns: u64) -> Option<Vec<u8>> {
        let tid = self.by_tid.iter().find(|(_, (p, e, _))| *p == pid && *e == enter_ns).map(|(&t, _)| t)?;
        self.by_tid.remove(&tid).map(|(_, _, items)| items)
    }

    /// The captures of `tid`'s call in progress, if they are for `enter_ns`.
    pub fn peek(&self, tid: u32, enter_ns: u64) -> Option<&[u8]> {
        self.by_tid.get(&tid).filter(|(_, e, _)| *e == enter_ns).map(|(_, _, items)| &items[..])
    }

    pub fn forget_process(&mut self, pid: u32) {
        self.by_tid.retain(|_, (p, _, _)| *p != pid);
    }
}
