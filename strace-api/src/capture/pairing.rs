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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_goes_to_its_own_call_only() {
        let mut p = Pending::default();
        p.add(10, 11, 100, b"path");
        assert_eq!(p.peek(11, 100), Some(&b"path"[..]), "the call in progress shows it");
        assert_eq!(p.take(11, 99), None, "another call of that thread");
        assert_eq!(p.unpaired, 1, "its capture is counted as unpaired and dropped");
        assert_eq!(p.take(11, 100), None);
        p.add(10, 11, 200, b"a");
        p.add(10, 11, 200, b"b");
        assert_eq!(p.take(11, 200).as_deref(), Some(&b"ab"[..]), "entry and exit captures of one call");
        assert_eq!(p.take(11, 200), None, "taken once");
    }

    #[test]
    fn a_new_call_replaces_a_capture_never_taken() {
        let mut p = Pending::default();
        p.add(10, 11, 100, b"lost call");
        p.add(10, 11, 101, b"next");
        assert_eq!(p.unpaired, 1);
        assert_eq!(p.take(11, 101).as_deref(), Some(&b"next"[..]));
    }

    #[test]
    fn an_exec_from_a_thread_finds_its_capture_under_the_old_tid() {
        let mut p = Pending::default();
        p.add(10, 12, 300, b"/bin/true");
        assert_eq!(p.take(10, 300), None, "the leader's id has none");
        assert_eq!(p.take_moved(10, 300).as_deref(), Some(&b"/bin/true"[..]));
        p.add(10, 12, 301, b"x");
        p.add(20, 21, 301, b"y");
        p.forget_process(10);
        assert_eq!((p.peek(12, 301), p.peek(21, 301)), (None, Some(&b"y"[..])));
    }

    #[test]
    fn the_threads_waiting_are_bounded() {
        let mut p = Pending::default();
        for tid in 0..Pending::MAX as u32 {
            p.add(1, tid, 1, b"x");
        }
        assert_eq!(p.unpaired, 0);
        p.add(1, u32::MAX, 1, b"x");
        assert_eq!(p.unpaired, Pending::MAX as u64, "all dropped at once, and counted");
        assert_eq!(p.by_tid.len(), 1);
    }
}
