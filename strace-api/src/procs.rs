//! What /proc says about the processes of the daemon's PID namespace.
use std::time::{Duration, SystemTime};

use procfs::process::Process;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A process (its pid is its thread-group id), with its start time in
    /// clock ticks since boot: with the pid, the process's identity.
    Process {
        start_ticks: u64,
    },
    /// A thread of process `tgid`.
    Thread {
        tgid: u32,
    },
    /// A kernel thread: it makes no syscalls.
    KernelThread,
    Missing,
}

/// Why a pid is not a process the daemon can watch or describe.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAProcess {
    #[error("no process with pid {0}")]
    Missing(u32),
    #[error("{tid} is a thread of process {tgid}")]
    Thread { tid: u32, tgid: u32 },
    #[error("pid {0} is strace-api itself")]
    Myself(u32),
    #[error("pid {0} is a kernel thread: it makes no syscalls")]
    KernelThread(u32),
}

/// The start time (clock ticks since boot) of process `pid`, which with the
/// pid is the process's identity, or why `pid` is not a process of the
/// daemon's namespace it may watch.
pub fn process(pid: u32) -> Result<u64, NotAProcess> {
    if pid == std::process::id() {
        return Err(NotAProcess::Myself(pid));
    }
    match lookup(pid) {
        Lookup::Process { start_ticks } => Ok(start_ticks),
        Lookup::Thread { tgid } => Err(NotAProcess::Thread { tid: pid, tgid }),
        Lookup::KernelThread => Err(NotAProcess::KernelThread(pid)),
        Lookup::Missing => Err(NotAProcess::Missing(pid)),
    }
}

/// `PF_KTHREAD` in /proc/<pid>/stat's flags.
const PF_KTHREAD: u32 = 0x0020_0000;

pub fn lookup(pid: u32) -> Lookup {
    let Ok(p) = Process::new(pid as i32) else { return Lookup::Missing };
    match (p.status(), p.stat()) {
        (Ok(_), Ok(st)) if st.flags & PF_KTHREAD != 0 => Lookup::KernelThread,
        (Ok(s), Ok(st)) if s.tgid as u32 == pid => Lookup::Process { start_ticks: st.starttime },
        // A process being reaped reads as tgid 0: gone, not a thread.
        (Ok(s), _) if s.tgid > 0 && s.tgid as u32 != pid => Lookup::Thread { tgid: s.tgid as u32 },
        _ => Lookup::Missing,
    }
}

/// One process as `ps` would show it.
#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cmdline: Vec<String>,
    pub uid: u32,
    pub user: Option<String>,
    /// `R`, `S`, `D`, `Z`, … as in `ps`.
    pub state: String,
    /// Wall-clock start time.
    pub started: SystemTime,
    pub threads: u32,
}

pub fn info(pid: u32) -> Option<ProcInfo> {
    let p = Process::new(pid as i32).ok()?;
    let stat = p.stat().ok()?;
    if stat.pid as u32 != pid {
        return None;
    }
    let status = p.status().ok()?;
    if status.tgid as u32 != pid {
        return None; // a thread, not a process
    }
    let uid = status.ruid;
    Some(ProcInfo {
        pid,
        ppid: stat.ppid as u32,
        comm: stat.comm,
        cmdline: p.cmdline().unwrap_or_default(),
        uid,
        user: user_name(uid),
        state: stat.state.to_string(),
        started: wall_clock(stat.starttime),
        threads: stat.num_threads as u32,
    })
}

/// Every process of the namespace (the /proc the daemon sees).
pub fn all() -> Vec<ProcInfo> {
    page(0, usize::MAX)
}

/// The pids of the namespace's processes, sorted (one directory read).
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    let mut pids: Vec<u32> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

/// The processes with pids above `after`, by pid, at most `limit`: /proc is
/// read only for those.
pub fn page(after: u32, limit: usize) -> Vec<ProcInfo> {
    pids().into_iter().filter(|&p| p > after).filter_map(info).take(limit).collect()
}

#[derive(Clone, Debug)]
pub struct ThreadInfo {
    pub tid: u32,
    pub comm: String,
    pub state: String,
}

pub fn threads(pid: u32) -> Vec<ThreadInfo> {
    let Ok(p) = Process::new(pid as i32) else { return vec![] };
    let Ok(tasks) = p.tasks() else { return vec![] };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| {
            let st = t.stat().ok()?;
            Some(ThreadInfo { tid: t.tid as u32, comm: st.comm, state: st.state.to_string() })
        })
        .collect()
}

/// What process `pid` runs: its command name and line (a zombie's line is
/// empty), with its start time, which tells it from a later one of the pid.
pub struct Names {
    pub start_ticks: u64,
    pub comm: String,
    pub cmdline: Vec<String>,
}

/// Bytes of a command line a watch keeps, at most: the arguments that fit
/// (a command line can run to megabytes, and a watch outlives its process).
const MAX_CMDLINE_BYTES: usize = 4096;

pub fn names(pid: u32) -> Option<Names> {
    let p = Process::new(pid as i32).ok()?;
    let stat = p.stat().ok()?;
    let mut room = MAX_CMDLINE_BYTES;
    let cmdline = p
        .cmdline()
        .unwrap_or_default()
        .into_iter()
        .take_while(|a| {
            let fits = a.len() <= room;
            room = room.saturating_sub(a.len() + 1);
            fits
        })
        .collect();
    Some(Names { start_ticks: stat.starttime, comm: stat.comm, cmdline })
}

/// Clock ticks since boot (as in /proc/<pid>/stat) to wall-clock time, to
/// the tick (whole-second boot times put starts up to a second early).
pub fn wall_clock(ticks: u64) -> SystemTime {
    let tps = procfs::ticks_per_second().max(1);
    crate::clock::boot_time() + Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / tps))
}

/// The user name of `uid` from the namespace's /etc/passwd, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_lookup(&passwd, uid)
}

fn passwd_lookup(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// A pidfd for process `pid`: readable once it exits, and it never refers to
/// a later process that reuses the number.
pub fn pidfd(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// A `sleep` child for tests, killed and reaped when dropped, so a failing
/// test leaves none behind.
#[cfg(test)]
pub struct Sleeper(pub std::process::Child);

#[cfg(test)]
impl Sleeper {
    pub fn spawn() -> Sleeper {
        Sleeper::running(std::process::Command::new("sleep").arg("30"), "sleep")
    }

    /// Spawns `command` and returns once the child runs `comm` with its
    /// command line: until its exec, /proc shows the test's own name, and
    /// during it the new name before the new command line.
    pub fn running(command: &mut std::process::Command, comm: &str) -> Sleeper {
        let child = Sleeper(command.spawn().expect("the child runs"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while names(child.pid()).is_none_or(|n| n.comm != comm || n.cmdline.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "{} never ran {comm}", child.pid());
            std::thread::sleep(Duration::from_millis(1));
        }
        child
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

#[cfg(test)]
impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process() {
        let me = std::process::id();
        assert!(matches!(lookup(me), Lookup::Process { start_ticks } if start_ticks > 0));
        assert_eq!(lookup(i32::MAX as u32), Lookup::Missing);
        // kthreadd, where the kernel runs one (not in a container's namespace).
        if std::fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
            assert_eq!(lookup(2), Lookup::KernelThread);
        }
        let i = info(me).unwrap();
        assert_eq!(i.pid, me);
        assert!(i.threads >= 1);
        assert!(threads(me).iter().any(|t| t.tid == me));
        assert!(all().iter().any(|p| p.pid == me));
        let age = SystemTime::now().duration_since(i.started).unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "started {:?} is not recent", i.started);
    }

    /// A long command line is kept up to the arguments that fit.
    #[test]
    fn names_keep_a_bounded_command_line() {
        let long = "x".repeat(3000);
        // cat reads its stdin (a pipe kept open) before the files named after it.
        let mut cat = std::process::Command::new("cat");
        cat.args(["-", &long, &long]).stdin(std::process::Stdio::piped());
        let child = Sleeper::running(&mut cat, "cat");
        let n = names(child.pid()).unwrap();
        assert_eq!(
            (n.comm.as_str(), n.cmdline.len()),
            ("cat", 3),
            "{:?}",
            n.cmdline.iter().map(String::len).collect::<Vec<_>>()
        );
    }

    /// To the clock tick (10 ms), not to the second.
    #[test]
    fn start_times_are_precise() {
        let before = SystemTime::now();
        let child = Sleeper::spawn();
        let after = SystemTime::now();
        let Lookup::Process { start_ticks } = lookup(child.pid()) else { panic!("no child") };
        let started = wall_clock(start_ticks);
        let tick = Duration::from_millis(20);
        assert!(started + tick >= before && started <= after + tick, "{started:?} not in {before:?}..{after:?}");
    }

    #[test]
    fn a_thread_is_not_a_process() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        assert_eq!(lookup(tid), Lookup::Thread { tgid: std::process::id() });
        assert!(info(tid).is_none());
        done_tx.send(()).unwrap();
        h.join().unwrap();
    }

    #[test]
    fn passwd_names() {
        let p = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/usr/sbin/nologin\n";
        assert_eq!(passwd_lookup(p, 33), Some("www".into()));
        assert_eq!(passwd_lookup(p, 7), None);
    }
}
