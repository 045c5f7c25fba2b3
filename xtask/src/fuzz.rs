//! `cargo xtask fuzz`: runs each cargo-fuzz target (fuzz/) for a bounded
//! time, from its committed corpus (fuzz/corpus/<target>/), which new
//! findings extend. Not part of `cargo xtask test`: a fuzzing run is open
//! ended; the property tests (proptest) in the test run cover the same
//! readers for a few hundred cases each.
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{status, toolchain::Env};

/// The targets, in fuzz/fuzz_targets/.
pub const TARGETS: [&str; 3] = ["ingest", "decode", "request"];

const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn run(env: &Env, seconds: u64, only: &[String]) -> Result<()> {
    let tools = env.workspace.join(".tools").join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}"));
    let bin = tools.join("bin");
    if !bin.join("cargo-fuzz").exists() {
        eprintln!("xtask: building cargo-fuzz {CARGO_FUZZ_VERSION} into .tools/ (once)");
        let mut cmd = Command::new("cargo");
        env.apply(&mut cmd);
        cmd.args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION, "--root"]).arg(&tools);
        status(cmd)?;
    }
    for target in TARGETS.iter().filter(|t| only.is_empty() || only.iter().any(|o| o == *t)) {
        let corpus = env.workspace.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let mut cmd = Command::new("cargo");
        env.apply(&mut cmd);
        let path = std::env::join_paths(
            std::iter::once(bin.clone()).chain(std::env::split_paths(&cmd_path(&cmd)).collect::<Vec<_>>()),
        )?;
        cmd.env("PATH", path)
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-max_len=4096");
        status(cmd)?;
    }
    if !only.is_empty() && !only.iter().all(|o| TARGETS.contains(&o.as_str())) {
        bail!("unknown fuzz target among {only:?}; the targets are {TARGETS:?}");
    }
    Ok(())
}

/// The PATH a command will run with (its own if set, else ours).
fn cmd_path(cmd: &Command) -> std::ffi::OsString {
    cmd.get_envs()
        .find(|(k, _)| *k == "PATH")
        .and_then(|(_, v)| v.map(|v| v.to_os_string()))
        .unwrap_or_else(|| std::env::var_os("PATH").unwrap_or_default())
}
