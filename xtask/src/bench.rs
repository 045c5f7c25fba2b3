//! `cargo xtask bench`: builds in release mode, runs the overhead benchmark
//! (the `strace-bench` crate's driver) as root, then the criterion benches of
//! the userspace data path, appended to the same results file.
use std::{fs, process::Command};

use anyhow::{Context as _, Result};

use crate::{cargo, privilege, status, toolchain::Env};

pub fn run(env: &Env, args: &[String]) -> Result<()> {
    install_tools();
    cargo(env, "build", true, &["--package", "strace-api", "--package", "strace-bench", "--bins"])?;
    let release = env.workspace.join("target/release");
    let results = env.workspace.join("bench/results");
    let mut cmd = privilege::command(release.join("strace-bench"));
    cmd.arg("--daemon")
        .arg(release.join("strace-api"))
        .arg("--storm-src")
        .arg(env.workspace.join("bench/storm.c"))
        .arg("--results")
        .arg(&results)
        .arg("--readme")
        .arg(env.workspace.join("README.md"))
        .args(args);
    status(cmd)?;

    eprintln!("xtask: userspace benchmarks (criterion)");
    let mut cmd = Command::new("cargo");
    env.apply(&mut cmd);
    cmd.args([
        "bench",
        "--package",
        "strace-api",
        "--features",
        "fake-kernel",
        "--bench",
        "userspace",
        "--",
        "--output-format",
        "bencher",
    ]);
    let out = cmd.output().context("running cargo bench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("test ")).collect();
    println!("{}", lines.join("\n"));
    if let Some(newest) = fs::read_dir(&results)?.filter_map(|e| e.ok().map(|e| e.path())).max() {
        let mut doc = fs::read_to_string(&newest)?;
        doc.push_str("\nUserspace data path (criterion, ns per iteration):\n\n```\n");
        doc.push_str(&lines.join("\n"));
        doc.push_str("\n```\n");
        fs::write(&newest, doc)?;
    }
    Ok(())
}

/// wrk, strace and nginx (the real-server scenario's server) are Debian
/// packages; install them when missing and root.
fn install_tools() {
    let missing: Vec<&str> = ["wrk", "strace", "nginx"]
        .into_iter()
        .filter(|t| Command::new("which").arg(t).output().map_or(true, |o| !o.status.success()))
        .collect();
    if missing.is_empty() || !privilege::is_root() {
        return;
    }
    eprintln!("xtask: installing {} (apt-get) for the benchmark", missing.join(", "));
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}
