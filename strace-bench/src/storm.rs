//! Running bench/storm.c: compiled once, started paused, timed inside.
use std::{
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
};

use anyhow::{Context as _, Result, bail};
use strace_harness::{FlagFile, read_line};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Getppid,
    Mix,
    /// getppid at the zero-drop goal's rate.
    Paced,
}

/// Calls a second of `Mode::Paced`: the rate the zero-drop goal names.
pub const PACED_RATE: u64 = 2_000_000;

impl Mode {
    pub fn arg(self) -> &'static str {
        match self {
            Mode::Getppid => "getppid",
            Mode::Mix => "mix",
            Mode::Paced => "getppid@2000000",
        }
    }
}

pub fn compile(source: &Path, out_dir: &Path) -> Result<PathBuf> {
    let out = out_dir.join("storm");
    let st = Command::new("cc").args(["-O2", "-o"]).arg(&out).arg(source).status().context("cc")?;
    if !st.success() {
        bail!("compiling {} failed", source.display());
    }
    Ok(out)
}

/// A storm process waiting for `go`.
pub struct Storm {
    child: Child,
    stdout: ChildStdout,
    flag: FlagFile,
    pub pid: u32,
}

/// What one storm measured.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub ns: u64,
    pub calls: u64,
}

impl Timing {
    pub fn ns_per_call(&self) -> f64 {
        self.ns as f64 / self.calls as f64
    }
}

impl Storm {
    /// A whole storm, nothing attached by it: start, time, let it exit.
    pub fn run(bin: &Path, mode: Mode, n: u64, cpu: usize, tmp: &Path) -> Result<Timing> {
        let mut s = Storm::start(bin, &[], mode, n, cpu, tmp)?;
        let t = s.go()?;
        s.finish()?;
        Ok(t)
    }

    /// Starts `prefix… storm FLAG MODE n CPU` and waits for it to be ready.
    pub fn start(bin: &Path, prefix: &[&str], mode: Mode, n: u64, cpu: usize, tmp: &Path) -> Result<Storm> {
        let flag = FlagFile::new(tmp, "storm-flag")?;
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg(flag.path())
            .arg(mode.arg())
            .arg(n.to_string())
            .arg(cpu.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let mut stdout = child.stdout.take().expect("piped");
        let line = read_line(&mut stdout)?;
        let pid = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("storm said {line:?}"))?;
        Ok(Storm { child, stdout, flag, pid })
    }

    /// Runs the storm; returns its own timing.
    pub fn go(&mut self) -> Result<Timing> {
        self.release()?;
        self.timing()
    }

    /// Lets the storm start, without waiting for it (several at once).
    pub fn release(&self) -> Result<()> {
        Ok(self.flag.set(1)?)
    }

    /// Waits for a released storm's end; returns its own timing.
    pub fn timing(&mut self) -> Result<Timing> {
        let line = read_line(&mut self.stdout)?;
        let mut w = line.split_whitespace().skip(1);
        let (Some(ns), Some(calls)) = (w.next().and_then(|v| v.parse().ok()), w.next().and_then(|v| v.parse().ok()))
        else {
            bail!("storm said {line:?}");
        };
        Ok(Timing { ns, calls })
    }

    /// Lets it exit.
    pub fn finish(mut self) -> Result<()> {
        self.flag.set(2)?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A storm killed before its end leaves the mix's file (storm.c
        // removes it only when it is let exit).
        let _ = std::fs::remove_file(format!("/tmp/strace-api-storm-{}", self.pid));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_paced_mode_names_its_rate() {
        assert_eq!(super::Mode::Paced.arg(), format!("getppid@{}", super::PACED_RATE));
    }
}
