//! What /proc says about a pid: does it exist, is it a process (thread-group
//! leader) or one of its threads, which threads does it have.
use procfs::process::Process;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A process: its pid is its thread-group id.
    Process,
    /// A thread of process `tgid`.
    Thread {
        tgid: u32,
    },
    Missing,
}

pub fn lookup(pid: u32) -> Lookup {
    let Ok(p) = Process::new(pid as i32) else { return Lookup::Missing };
    match p.status() {
        Ok(s) if s.tgid as u32 == pid => Lookup::Process,
        Ok(s) => Lookup::Thread { tgid: s.tgid as u32 },
        Err(_) => Lookup::Missing,
    }
}

/// Thread ids of process `pid` (empty if it is gone).
pub fn tids(pid: u32) -> Vec<u32> {
    let Ok(p) = Process::new(pid as i32) else { return vec![] };
    let Ok(tasks) = p.tasks() else { return vec![] };
    tasks.filter_map(|t| t.ok().map(|t| t.tid as u32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_its_threads() {
        let me = std::process::id();
        assert_eq!(lookup(me), Lookup::Process);
        let handle = std::thread::spawn(|| {
            // SAFETY: gettid has no preconditions.
            unsafe { libc::gettid() as u32 }
        });
        let tid = handle.join().unwrap();
        assert!(tids(me).contains(&me));
        // The thread has exited by now; a running one would report Thread { tgid: me }.
        assert!(matches!(lookup(tid), Lookup::Missing | Lookup::Thread { .. }));
        assert_eq!(lookup(i32::MAX as u32), Lookup::Missing);
    }
}
