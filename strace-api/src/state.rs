//! The watches people asked for, kept in a file (`--state-file`) so that a
//! restarted daemon (an orchestrator restarting the sidecar) takes them up
//! again and a dashboard does not go blind. Written when they change (looked
//! at every second) and at shutdown, atomically (a new file renamed over the
//! old); read at start, where a watch is taken up again only if its process
//! is the same one (pid and start time), with its children, kernel-side
//! filter and fd paths as they were.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    procs,
    tracer::{AskedFor, Tracer, WatchFilter, WatchOptions, Watched},
};

#[derive(Serialize, Deserialize)]
struct State {
    version: u32,
    watches: Vec<AskedFor>,
}

const VERSION: u32 = 1;

/// At most this many watches are read back (the kernel watches 8192 processes).
const MAX_WATCHES: usize = 8192;

/// What the restart took up again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub watched: usize,
    /// Processes that are gone, or whose pid another process has now.
    pub gone: usize,
    pub failed: usize,
}

pub fn read(path: &Path) -> std::io::Result<Vec<AskedFor>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let state: State = serde_json::from_slice(&text).map_err(std::io::Error::other)?;
    if state.version != VERSION {
        return Err(std::io::Error::other(format!("state version {} is not {VERSION}", state.version)));
    }
    Ok(state.watches.into_iter().take(MAX_WATCHES).collect())
}

pub fn write(path: &Path, watches: &[AskedFor]) -> std::io::Result<()> {
    let text =
        serde_json::to_vec(&State { version: VERSION, watches: watches.to_vec() }).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Takes up the watches of `path` again: those whose processes still run.
pub fn restore(tracer: &Tracer, path: &Path) -> Restored {
    let asked = match read(path) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("could not read the state file {}: {e}; no watch taken up again", path.display());
            return Restored::default();
        }
    };
    let mut r = Restored::default();
    for a in asked {
        if procs::process(a.pid).ok() != Some(a.start_ticks) {
            r.gone += 1;
            continue;
        }
        let filter = match a.syscalls.as_deref().map(WatchFilter::parse).transpose() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    pid = a.pid,
                    "its saved filter {:?} no longer parses ({e}); watched without it",
                    a.syscalls
                );
                Some(None)
            }
        };
        let options = WatchOptions { filter, fd_paths: Some(a.fd_paths) };
        match tracer.watch_with(a.pid, a.children, options) {
            Ok(Watched::New | Watched::Already) => r.watched += 1,
            Ok(Watched::Exited) => r.gone += 1,
            Err(e) => {
                tracing::warn!(pid = a.pid, "could not watch it again: {e}");
                r.failed += 1;
            }
        }
    }
    if r != Restored::default() {
        tracing::info!(
            watched = r.watched,
            gone = r.gone,
            failed = r.failed,
            "watches taken up again from {}",
            path.display()
        );
    }
    r
}

/// Writes the watches asked for to `path` whenever they change; runs until
/// aborted. `save_now` writes them once more (at shutdown).
pub async fn keep(tracer: Arc<Tracer>, path: PathBuf) {
    let mut written: Option<Vec<AskedFor>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = tracer.asked_for();
        if written.as_ref() != Some(&now) {
            match write(&path, &now) {
                Ok(()) => written = Some(now),
                Err(e) => tracing::warn!("could not write the state file {}: {e}", path.display()),
            }
        }
    }
}

/// Writes the watches asked for to `path` now.
pub fn save_now(tracer: &Tracer, path: &Path) {
    if let Err(e) = write(path, &tracer.asked_for()) {
        tracing::warn!("could not write the state file {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_back_and_a_missing_file_is_no_watch() {
        let path = std::env::temp_dir().join(format!("strace-api-state-{}", std::process::id()));
        let watches = vec![
            AskedFor { pid: 7, start_ticks: 99, children: true, syscalls: None, fd_paths: false },
            AskedFor {
                pid: 8,
                start_ticks: 9,
                children: false,
                syscalls: Some("%file,connect".into()),
                fd_paths: true,
            },
        ];
        write(&path, &watches).unwrap();
        assert_eq!(read(&path).unwrap(), watches);
        // A file written before filters and fd paths were kept.
        std::fs::write(&path, br#"{"version": 1, "watches": [{"pid": 7, "start_ticks": 99, "children": true}]}"#)
            .unwrap();
        assert_eq!(read(&path).unwrap(), watches[..1]);
        std::fs::write(&path, b"{\"version\": 9, \"watches\": []}").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("version"));
        std::fs::write(&path, b"nonsense").unwrap();
        assert!(read(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read(&path).unwrap(), vec![]);
    }

    /// Only the very process: a pid whose start time differs is another.
    #[test]
    fn a_watch_is_taken_up_again_only_for_the_same_process() {
        let t = crate::tracer::testing::tracer();
        let parent = std::os::unix::process::parent_id();
        let start = procs::process(parent).unwrap();
        let path = std::env::temp_dir().join(format!("strace-api-state-r-{}", std::process::id()));
        let asked = |start_ticks, children, syscalls: Option<&str>| AskedFor {
            pid: parent,
            start_ticks,
            children,
            syscalls: syscalls.map(String::from),
            fd_paths: false,
        };
        let watches = vec![
            asked(start, false, Some("%file,connect")),
            asked(start + 1, false, None),
            AskedFor { pid: i32::MAX as u32, ..asked(1, true, None) },
        ];
        write(&path, &watches).unwrap();
        assert_eq!(restore(&t, &path), Restored { watched: 1, gone: 2, failed: 0 });
        // With its filter, as it was.
        assert_eq!(t.asked_for(), vec![asked(start, false, Some("%file,connect"))]);
        // A filter that no longer parses: watched without one.
        write(&path, &[asked(start, true, Some("nosuchcall"))]).unwrap();
        assert_eq!(restore(&t, &path), Restored { watched: 1, gone: 0, failed: 0 });
        assert_eq!(t.asked_for(), vec![asked(start, true, None)]);
        std::fs::remove_file(&path).unwrap();
    }
}
