//! The daemon under test: the release binary, pinned to a CPU, driven over HTTP.
use std::{
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;

pub struct Daemon {
    child: Child,
    /// The daemon's own pid: the child's, or with a prefix that forks (as
    /// `nsenter --pid` does), its child's.
    pid: u32,
    pub base: String,
    agent: ureq::Agent,
    /// The operator token it was given (every request but /healthz needs one).
    pub token: String,
}

impl Daemon {
    pub fn start(bin: &Path, cpu: usize, args: &[&str]) -> Result<Daemon> {
        Daemon::start_in(&[], bin, cpu, args)
    }

    /// As `start`, run through `prefix` (e.g. `nsenter … --pid`, to run it
    /// in another PID namespace).
    pub fn start_in(prefix: &[&str], bin: &Path, cpu: usize, args: &[&str]) -> Result<Daemon> {
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg("taskset");
                c
            }
            None => Command::new("taskset"),
        };
        // Absolute: nsenter --mount starts it in the target's working directory.
        let bin = std::fs::canonicalize(bin).with_context(|| format!("{}", bin.display()))?;
        cmd.args(["-c", &cpu.to_string()]).arg(bin).args(["--listen", "127.0.0.1:0"]).args(args);
        // A token of its own, by environment (on the command line the daemon
        // warns): without one it would generate one into a file all the
        // benchmark's daemons share.
        let token = format!("bench-{}-{}", std::process::id(), unique());
        cmd.env("STRACE_API_TOKEN", &token);
        let started = strace_harness::start(cmd, Duration::from_secs(30)).map_err(|e| anyhow!(e))?;
        let pid = if prefix.is_empty() { started.child.id() } else { descendant(started.child.id())? };
        let header = format!("Bearer {token}");
        // The paced client's threads each keep a connection (ureq keeps 3
        // idle ones per host by default, which closed one of four).
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections_per_host(8)
            .middleware(move |mut req: ureq::http::Request<ureq::SendBody>, next: ureq::middleware::MiddlewareNext| {
                req.headers_mut()
                    .insert("authorization", ureq::http::HeaderValue::from_str(&header).expect("the token is ASCII"));
                next.handle(req)
            })
            .build()
            .new_agent();
        Ok(Daemon { child: started.child, pid, base: started.base, agent, token })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        let mut r = self.agent.get(format!("{}{path}", self.base)).call()?;
        Ok(r.body_mut().read_json()?)
    }

    pub fn put(&self, path: &str) -> Result<()> {
        let r = self.agent.put(format!("{}{path}", self.base)).send_empty()?;
        if !r.status().is_success() {
            bail!("PUT {path}: {}", r.status());
        }
        Ok(())
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        self.agent.delete(format!("{}{path}", self.base)).call()?;
        Ok(())
    }

    /// The ring buffer's size and the most it has held since start.
    pub fn ring(&self) -> Result<(u64, u64)> {
        let ring = &self.get("/healthz")?["ring"];
        let bytes = |k: &str| ring[k].as_u64().with_context(|| format!("/healthz has no ring.{k}"));
        Ok((bytes("size_bytes")?, bytes("peak_used_bytes")?))
    }

    /// The watch-list entry of `pid`.
    pub fn counters(&self, pid: u32) -> Result<Value> {
        let list = self.get("/v1/watch")?;
        list.as_array().and_then(|l| l.iter().find(|w| w["pid"] == pid).cloned()).context("not watched")
    }

    /// Records that reached the daemon so far (the events of every watch,
    /// and those of processes it does not watch, counted `late`), and
    /// records the kernel counted lost (ring full), host-wide.
    pub fn delivered_and_lost(&self) -> Result<(u64, u64)> {
        let list = self.get("/v1/watch")?;
        let seen: u64 =
            list.as_array().context("/v1/watch is not a list")?.iter().filter_map(|w| w["seen"].as_u64()).sum();
        let health = self.get("/healthz")?;
        let late = health["late"].as_u64().context("/healthz has no late")?;
        let lost = health["kernel"]["ring_full"].as_u64().context("/healthz has no kernel.ring_full")?;
        Ok((seen + late, lost))
    }

    /// Waits until delivered + dropped reaches `issued` (or stops moving).
    pub fn settle(&self, pid: u32, issued: u64) -> Result<(u64, u64)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = (u64::MAX, u64::MAX);
        loop {
            let c = self.counters(pid)?;
            let now = (c["seen"].as_u64().unwrap_or(0), c["dropped"].as_u64().unwrap_or(0));
            if now.0 + now.1 >= issued || (now == last && Instant::now() > deadline) {
                return Ok(now);
            }
            last = now;
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// User + system CPU time of the daemon so far, in ns.
    pub fn cpu_ns(&self) -> Result<u64> {
        let stat = procfs::process::Process::new(self.pid() as i32)?.stat()?;
        Ok((stat.utime + stat.stime) * (1_000_000_000 / procfs::ticks_per_second()))
    }

    /// Resident set size now, in bytes.
    pub fn rss(&self) -> Result<u64> {
        let status = procfs::process::Process::new(self.pid() as i32)?.status()?;
        Ok(status.vmrss.unwrap_or(0) * 1024)
    }

    /// Starts the peak resident set size over from now.
    pub fn reset_peak_rss(&self) -> Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")?;
        Ok(())
    }

    /// Peak resident set size, in bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = procfs::process::Process::new(self.pid() as i32)?.status()?;
        Ok(status.vmhwm.unwrap_or(0) * 1024)
    }
}

/// The process at the end of `pid`'s chain of only children (the daemon
/// under `nsenter`, which forks it and waits; by the time the daemon serves,
/// the chain is complete).
fn descendant(pid: u32) -> Result<u32> {
    let mut at = pid;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{at}/task/{at}/children"))?;
        match children.split_whitespace().collect::<Vec<_>>()[..] {
            [] => return Ok(at),
            [one] => at = one.parse()?,
            _ => bail!("process {at} has several children: which one is the daemon?"),
        }
    }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill with a valid pid and signal.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
