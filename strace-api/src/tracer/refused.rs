//! The processes the kernel was to watch and could not (its watch table was
//! full): the newest `max` of them, oldest forgotten first; a watch of the
//! pid takes it off.
use std::collections::{HashMap, VecDeque};

#[derive(Debug)]
pub(super) struct Refused {
    max: usize,
    /// Pid → when it was noted (a number that only grows).
    by_pid: HashMap<u32, u64>,
    /// (when, pid), oldest first; an entry whose pid was noted again since,
    /// or forgotten, is stale and skipped.
    order: VecDeque<(u64, u32)>,
    next: u64,
}

impl Refused {
    pub(super) fn new(max: usize) -> Refused {
        Refused { max, by_pid: HashMap::new(), order: VecDeque::new(), next: 0 }
    }

    pub(super) fn note(&mut self, pid: u32) {
        let at = self.next;
        self.next += 1;
        self.by_pid.insert(pid, at);
        self.order.push_back((at, pid));
        while self.by_pid.len() > self.max {
            let Some((at, pid)) = self.order.pop_front() else { break };
            if self.by_pid.get(&pid) == Some(&at) {
                self.by_pid.remove(&pid);
            }
        }
        // Stale entries are bounded too: at most as many as live ones.
        if self.order.len() > 2 * self.max.max(1) {
            let by_pid = &self.by_pid;
            self.order.retain(|(at, pid)| by_pid.get(pid) == Some(at));
        }
    }

    pub(super) fn contains(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    pub(super) fn forget(&mut self, pid: u32) {
        self.by_pid.remove(&pid);
    }
}

#[cfg(test)]
mod tests {
    use super::Refused;

    #[test]
    fn the_newest_are_kept_and_a_pid_noted_again_is_new() {
        let mut r = Refused::new(3);
        for pid in [1, 2, 3] {
            r.note(pid);
        }
        r.note(1); // again: now the newest
        r.note(4); // 2 goes, the oldest
        assert!(r.contains(1) && !r.contains(2) && r.contains(3) && r.contains(4));
        r.forget(3);
        r.note(5);
        r.note(6); // 1 goes; 3 was forgotten already
        assert!(!r.contains(1) && !r.contains(3) && r.contains(4) && r.contains(5) && r.contains(6));
        for pid in 100..10_000 {
            r.note(pid);
            r.forget(pid);
        }
        assert!(r.order.len() <= 6, "stale entries bounded: {}", r.order.len());
        assert!(!r.contains(4) && r.contains(5) && r.contains(6), "4 went for the first; then there was room");
    }
}
