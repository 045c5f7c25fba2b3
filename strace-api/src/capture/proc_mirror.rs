//! Calls the programs did not see begin: threads blocked since before their
//! process was watched (a hung process, the usual case), read from
//! `/proc/<pid>/task/<tid>/syscall`, with their inputs (paths, socket
//! addresses) captured from `/proc/<pid>/mem` as the kernel program would
//! have captured them. Both need ptrace access to the process
//! (CAP_SYS_PTRACE, or a process of the same user with no capabilities the
//! daemon lacks); without it there is nothing to show.
use std::{fs::File, os::unix::fs::FileExt as _};

use strace_common::capture::{self, CaptureItem, CaptureSpec, CopySpec, MAX_COPY, MAX_SOCKADDR, MAX_STRING, position};

use crate::{kernel::CallInProgress, syscall};

/// The calls the threads of `pid` not in `skip` (sorted) are blocked in, for
/// at most `max` threads. A running thread, one stopped outside a syscall,
/// and one whose file cannot be read are left out. Their start is unknown.
pub fn blocked_calls(pid: u32, skip: &[u32], max: usize) -> Vec<CallInProgress> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return vec![] };
    let mut memory = None;
    tasks
        .filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|tid| skip.binary_search(tid).is_err())
        .take(max)
        .filter_map(|tid| {
            let line = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
            let (nr, args) = parse_syscall(&line)?;
            let capture = syscall::capture_spec(nr).and_then(|spec| {
                let mem = memory.get_or_insert_with(|| File::open(format!("/proc/{pid}/mem")).ok()).as_ref()?;
                inputs(mem, &spec, &args)
            });
            Some(CallInProgress { tid, nr, args, since_ns: None, capture_key: 0, capture })
        })
        .collect()
}

/// `/proc/<pid>/task/<tid>/syscall`: `nr arg0 … arg5 sp pc` for a thread
/// blocked in a call; `running`, or `-1 sp pc` outside one.
fn parse_syscall(line: &str) -> Option<(i32, [u64; 6])> {
    let mut fields = line.split_whitespace();
    let nr: i32 = fields.next()?.parse().ok().filter(|&nr| nr >= 0)?;
    let mut args = [0u64; 6];
    for a in &mut args {
        *a = u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok()?;
    }
    Some((nr, args))
}

/// The strings and the socket address `spec` names, read from the process's
/// memory as the kernel program captures them at entry (the same limits).
fn inputs(mem: &File, spec: &CaptureSpec, args: &[u64; 6]) -> Option<Box<[u8]>> {
    let mut items: Vec<(u8, u8, u8, u8, Vec<u8>)> = vec![];
    for i in 0..6u8 {
        if spec.strings & (1 << i) != 0 {
            items.push(match string(mem, args[i as usize]) {
                Some((s, truncated)) => {
                    (i, CaptureItem::STRING, if truncated { CaptureItem::TRUNCATED } else { 0 }, 0, s)
                }
                None => (i, CaptureItem::STRING, CaptureItem::FAULT, 0, vec![]),
            });
        }
    }
    if let (Some(a), Some(l)) = (position(spec.addr_in), position(spec.addr_in_len)) {
        let len = (args[l as usize] as usize).min(MAX_SOCKADDR);
        let mut buf = vec![0; len];
        items.push(match mem.read_exact_at(&mut buf, args[a as usize]) {
            Ok(()) => (a, CaptureItem::SOCKADDR, 0, 0, buf),
            Err(_) => (a, CaptureItem::SOCKADDR, CaptureItem::FAULT, 0, vec![]),
        });
    }
    // The structs and arrays read at entry (a blocked poll's fds), as the
    // kernel copies them; its counts (a blocked execve's environment) are left out.
    for c in spec.copies.iter().filter(|c| c.arg != 0 && !c.at_exit() && c.flags == 0) {
        let Some(a) = position(c.arg) else { continue };
        if position(c.cond_arg).is_some_and(|k| !c.holds(args[k as usize])) || args[a as usize] == 0 {
            continue;
        }
        let count = match c.count {
            CopySpec::ONE => 1,
            n @ 1..=6 => args[n as usize - 1],
            _ => continue,
        };
        let len = count.saturating_mul(c.elem as u64);
        let n = len.min(c.max as u64).min(MAX_COPY as u64) as usize;
        let mut buf = vec![0; n];
        let flags = if len > n as u64 { CaptureItem::TRUNCATED } else { 0 };
        items.push(match mem.read_exact_at(&mut buf, args[a as usize].wrapping_add(c.offset as u64)) {
            Ok(()) => (a, CaptureItem::COPY, flags, 0, buf),
            Err(_) => (a, CaptureItem::COPY, CaptureItem::FAULT, 0, vec![]),
        });
    }
    if items.is_empty() {
        return None;
    }
    let items: Vec<_> = items.iter().map(|(a, k, f, n, d)| (*a, *k, *f, *n, &d[..])).collect();
    Some(capture::build(&items).into_boxed_slice())
}

/// A NUL-terminated string at `addr`: at most MAX_STRING - 1 bytes, and
/// whether it went on.
fn string(mem: &File, addr: u64) -> Option<(Vec<u8>, bool)> {
    if addr == 0 {
        return None;
    }
    let mut buf = vec![0; MAX_STRING];
    // A string near the end of its mapping reads short.
    let n = mem.read_at(&mut buf, addr).ok().filter(|&n| n > 0)?;
    buf.truncate(n);
    match buf.iter().position(|&b| b == 0) {
        Some(end) => {
            buf.truncate(end);
            Some((buf, false))
        }
        None => {
            buf.truncate(MAX_STRING - 1);
            Some((buf, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::procs::Sleeper;

    #[test]
    fn syscall_files() {
        let line = "230 0x1 0x0 0x7ffd4fe5e8a0 0x7ffd4fe5e8a0 0x0 0x0 0x7ffd4fe5e878 0x7f0c29e4d7fa\n";
        assert_eq!(parse_syscall(line), Some((230, [1, 0, 0x7ffd4fe5e8a0, 0x7ffd4fe5e8a0, 0, 0])));
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd4fe5e878 0x7f0c29e4d7fa\n"), None);
        assert_eq!(parse_syscall("0 0x1"), None);
    }

    /// A child asleep in its syscall before anyone looked.
    #[test]
    fn a_sleeping_child_is_in_a_syscall() {
        let child = Sleeper::spawn();
        let pid = child.pid();
        let sleeps = ["nanosleep", "clock_nanosleep"].map(|n| n.parse::<syscalls::Sysno>().map_or(-1, |s| s.id()));
        let asleep = |found: &[CallInProgress]| found.iter().any(|b| b.tid == pid && sleeps.contains(&b.nr));
        // Starting up, it may block in other calls (reading its libraries).
        let mut found = vec![];
        for _ in 0..500 {
            found = blocked_calls(pid, &[], 8);
            if asleep(&found) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(asleep(&found), "{found:?}");
        assert!(blocked_calls(pid, &[pid], 8).is_empty(), "skipped");
    }

    /// Reads this process's own memory, as it would another's.
    #[test]
    fn inputs_are_read_like_the_kernels_captures() {
        let mem = File::open("/proc/self/mem").unwrap();
        let path = b"/etc/hosts\0";
        let long = [b'x'; 300];
        let sockaddr = [1u8, 0, b'/', b's', 0];
        let spec = CaptureSpec { strings: 0b11, addr_in: 3, addr_in_len: 4, ..CaptureSpec::default() };
        let args = [path.as_ptr() as u64, long.as_ptr() as u64, sockaddr.as_ptr() as u64, 5, 0, 0];
        let region = inputs(&mem, &spec, &args).unwrap();
        let first = capture::find(&region, 0, CaptureItem::STRING).unwrap();
        assert_eq!((first.data, first.truncated()), (&b"/etc/hosts"[..], false));
        let second = capture::find(&region, 1, CaptureItem::STRING).unwrap();
        assert_eq!((second.data.len(), second.truncated()), (MAX_STRING - 1, true));
        assert_eq!(capture::find(&region, 2, CaptureItem::SOCKADDR).unwrap().data, &sockaddr[..]);
        let null = inputs(&mem, &CaptureSpec { strings: 1, ..CaptureSpec::default() }, &[0; 6]).unwrap();
        assert!(capture::find(&null, 0, CaptureItem::STRING).unwrap().fault());
        assert_eq!(inputs(&mem, &CaptureSpec::default(), &args), None);
    }
}
