//! Paths as the kernel names an open file (what `/proc/PID/fd/N` and
//! `strace -y` show): absolute, with `.`, `..` and symbolic links resolved,
//! inside the traced process's root. Resolved by walking the path one
//! component at a time from a handle on the process's root directory
//! (`/proc/PID/root`, opened when its watch begins, so it outlives the
//! process), reading each component's link with `readlinkat`.
use std::{
    collections::HashMap,
    ffi::CString,
    os::fd::{AsRawFd, OwnedFd},
    sync::Mutex,
};

/// Links followed in one resolution at most (the kernel's limit).
const MAX_LINKS: usize = 40;
/// Directories whose resolution is remembered, per root.
const MAX_CACHED: usize = 8192;

/// A process's root directory, and what is known of the links in it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    /// Resolved directories (not the last component of a path, which is
    /// looked up every time: files come and go, directories rarely).
    dirs: Mutex<HashMap<String, String>>,
}

impl Root {
    /// The root of process `pid` (needs ptrace access, as /proc/PID/fd does),
    /// or the daemon's own.
    pub fn of(pid: u32) -> Option<Root> {
        let open = |p: &str| {
            let c = CString::new(p).ok()?;
            // SAFETY: a NUL-terminated path; the fd returned is owned here.
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
            // SAFETY: a fresh fd.
            (fd >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        };
        let fd = open(&format!("/proc/{pid}/root")).or_else(|| open("/"))?;
        Some(Root { fd, dirs: Mutex::new(HashMap::new()) })
    }

    /// The target of the link at `path` (absolute in this root), if it is one.
    fn link(&self, path: &str) -> Option<String> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let c = CString::new(rel).ok()?;
        let mut buf = vec![0u8; 4096];
        // SAFETY: reads into `buf`, at most its length.
        let n = unsafe { libc::readlinkat(self.fd.as_raw_fd(), c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    /// `path` (absolute, or relative to `base`, an absolute directory)
    /// resolved as the kernel would for process `pid`; the last component's
    /// link is followed when `follow`. `None` for a relative path without a base.
    pub fn resolve(&self, pid: u32, base: Option<&str>, path: &str, follow: bool) -> Option<String> {
        let mut queue: Vec<String> = Vec::new();
        let start = if path.starts_with('/') { "" } else { base? };
        let mut parts: Vec<&str> = start.split('/').chain(path.split('/')).collect();
        parts.retain(|p| !p.is_empty() && *p != ".");
        queue.extend(parts.into_iter().rev().map(str::to_string));
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = queue.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            // /proc/self names the reader: here, the traced process.
            if done.len() == 1 && done[0] == "proc" && (part == "self" || part == "thread-self") {
                done.push(pid.to_string());
                continue;
            }
            let last = queue.is_empty();
            let candidate = format!("/{}", done.iter().chain([&part]).cloned().collect::<Vec<_>>().join("/"));
            let target = if last && !follow {
                None
            } else if last {
                self.link(&candidate)
            } else {
                self.dir_link(&candidate)
            };
            match target {
                Some(t) if links < MAX_LINKS && !t.starts_with(['[']) && !t.contains(":[") => {
                    links += 1;
                    if t.starts_with('/') {
                        done.clear();
                    }
                    queue.extend(t.split('/').filter(|p| !p.is_empty()).rev().map(str::to_string));
                }
                // A magic link to something that is not a path (pipe:[…]):
                // that is the name.
                Some(t) if last && !t.starts_with('/') => return Some(t),
                _ => done.push(part),
            }
        }
        Some(format!("/{}", done.join("/")))
    }

    /// The link at a directory component, remembered.
    fn dir_link(&self, path: &str) -> Option<String> {
        let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = dirs.get(path) {
            return (!t.is_empty()).then(|| t.clone());
        }
        let t = self.link(path);
        if dirs.len() >= MAX_CACHED {
            dirs.clear();
        }
        dirs.insert(path.to_string(), t.clone().unwrap_or_default());
        t
    }
}

/// `path` (absolute, or relative to `base`) with `.` and `..` resolved,
/// links not (when the process's root cannot be opened).
pub fn lexical(base: Option<&str>, path: &str) -> Option<String> {
    let start = if path.starts_with('/') { "" } else { base? };
    let mut done: Vec<&str> = vec![];
    for part in start.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                done.pop();
            }
            p => done.push(p),
        }
    }
    Some(format!("/{}", done.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dots_and_links_like_the_kernel() {
        let dir = std::env::temp_dir().join(format!("resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("real/sub", dir.join("rel")).unwrap();
        std::fs::write(dir.join("real/sub/f"), "").unwrap();
        std::os::unix::fs::symlink("sub/f", dir.join("real/lnk")).unwrap();
        let root = Root::of(std::process::id()).unwrap();
        let d = dir.to_str().unwrap();
        let me = std::process::id();
        assert_eq!(root.resolve(me, None, &format!("{d}/abs/sub/f"), true).unwrap(), format!("{d}/real/sub/f"));
        assert_eq!(root.resolve(me, Some(d), "rel/./f", true).unwrap(), format!("{d}/real/sub/f"));
        assert_eq!(root.resolve(me, Some(d), "real/sub/../lnk", true).unwrap(), format!("{d}/real/sub/f"));
        assert_eq!(root.resolve(me, Some(d), "real/lnk", false).unwrap(), format!("{d}/real/lnk"));
        assert_eq!(root.resolve(me, Some(d), "new-file", true).unwrap(), format!("{d}/new-file"));
        assert_eq!(root.resolve(me, None, "relative", true), None, "no base");
        assert_eq!(root.resolve(me, None, "/proc/self", false).unwrap(), format!("/proc/{me}"));
        assert_eq!(lexical(Some("/a/b"), "../c/./d").unwrap(), "/a/c/d");
        assert_eq!(lexical(None, "/x/../../y").unwrap(), "/y");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
