//! Starting the daemon (however it is wrapped: `taskset`, `nsenter`, …) and
//! learning the address it serves from its log.
use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

/// A daemon that started serving.
pub struct Started {
    pub child: Child,
    /// Where it serves, as its log says: `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its log so far (stderr), growing as it runs.
    pub log: Arc<Mutex<String>>,
}

/// Spawns `cmd` (the daemon with its arguments) with its log on a pipe and
/// waits up to `wait` for the line that says where it listens. On failure
/// the daemon is reaped and the error holds its exit status and log.
pub fn start(mut cmd: Command, wait: Duration) -> Result<Started, String> {
    let mut child = cmd
        .env("STRACE_API_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(base) = listening_on(&line) {
                let _ = tx.send(base);
            }
            let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
            l.push_str(&line);
            l.push('\n');
        }
    });
    match rx.recv_timeout(wait) {
        Ok(base) => Ok(Started { child, base, log }),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().ok();
            let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Err(format!("the daemon did not start ({status:?}):\n{log}"))
        }
    }
}

/// The base URL of a `listening on http://…` log line.
fn listening_on(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    // A text log line, or a JSON one (`"message":"listening on http://…"`).
    Some(rest.split([' ', '"', ',']).next().filter(|b| !b.is_empty())?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_log() {
        let line = "2026-12-06T05:00:00Z  INFO strace_api::daemon: listening on http://127.0.0.1:41234 auth=\"none\"";
        assert_eq!(listening_on(line).as_deref(), Some("http://127.0.0.1:41234"));
        assert_eq!(listening_on("recording"), None);
        let json = r#"{"timestamp":"…","level":"INFO","fields":{"message":"listening on http://127.0.0.1:41234","auth":"none"}}"#;
        assert_eq!(listening_on(json).as_deref(), Some("http://127.0.0.1:41234"));
    }
}
