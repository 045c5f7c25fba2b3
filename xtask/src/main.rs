//! `cargo xtask build | run | test`: sets up the toolchain pieces the project
//! needs (bpf-linker built against this rustc's LLVM), builds, and runs.
mod bench;
mod cross;
mod fuzz;
mod privilege;
mod syscall_classes;
mod syscall_table;
mod toolchain;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Build, run and test strace-api")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the daemon (and its eBPF program).
    Build {
        #[arg(long)]
        release: bool,
        /// Cross-build the daemon for this target (e.g. aarch64-unknown-linux-gnu).
        #[arg(long)]
        target: Option<String>,
    },
    /// Build and start the daemon (as root, through sudo if needed).
    Run {
        #[arg(long)]
        release: bool,
        /// Arguments for the daemon, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build and run every test, including the ones that load the eBPF
    /// program, after cross-building the daemon for aarch64.
    Test {
        /// Arguments for `cargo test`, after `--` (e.g. a test name filter).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Measure the overhead (release build): the table goes to bench/results/
    /// and the README's performance section; then the userspace benchmarks.
    Bench {
        /// Arguments for the benchmark driver, after `--` (e.g. `--runs 3`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Fuzz what reads untrusted bytes (ring records, captures, requests):
    /// each target for a bounded time, from its committed corpus.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only these targets (ingest, decode, request).
        targets: Vec<String>,
    },
    /// Regenerate the syscall signature table from the running kernel's tracefs.
    SyscallTable {
        /// Derive another architecture's table from the x86_64 one instead
        /// (`aarch64`: its calls have x86_64's signatures, with listed exceptions).
        #[arg(long, value_name = "ARCH", value_parser = ["aarch64"])]
        derive: Option<String>,
    },
    /// Regenerate the table of strace's syscall classes (`%file`, …) from a
    /// strace source tree.
    SyscallClasses {
        /// A strace source tree (its `src/linux/<arch>/syscallent.h`).
        #[arg(long)]
        strace_source: std::path::PathBuf,
        /// The strace version the tree is, for the generated file's header
        /// (e.g. `git describe` in it).
        #[arg(long)]
        strace_version: String,
    },
}

/// Crates built for the BPF target by their users' build scripts, never for
/// the host.
const EBPF_CRATES: [&str; 2] = ["strace-ebpf", "strace-bench-ebpf"];

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Task::SyscallTable { derive } => {
            return match derive.as_deref() {
                Some("aarch64") => syscall_table::derive_aarch64(&toolchain::workspace_root()),
                Some(other) => bail!("cannot derive a table for {other}"),
                None => syscall_table::generate(&toolchain::workspace_root()),
            };
        }
        Task::SyscallClasses { strace_source, strace_version } => {
            return syscall_classes::generate(&toolchain::workspace_root(), strace_source, strace_version);
        }
        _ => {}
    }
    let env = toolchain::ensure()?;
    match cli.command {
        Task::Build { release, target: None } => cargo(&env, "build", release, &[]),
        Task::Build { release, target: Some(target) } => cross::build(&env, &target, release),
        Task::Run { release, args } => {
            cargo(&env, "build", release, &["--package", "strace-api"])?;
            let profile = if release { "release" } else { "debug" };
            let bin = env.workspace.join("target").join(profile).join("strace-api");
            let mut cmd = privilege::command(&bin);
            cmd.args(&args);
            let auth_given = args.iter().any(|a| a.starts_with("--token") || a.starts_with("--insecure-no-auth"))
                || std::env::var_os("STRACE_API_TOKEN").is_some()
                || std::env::var_os("STRACE_API_TOKEN_FILE").is_some();
            if !auth_given {
                let sudo = if privilege::is_root() { "" } else { "sudo " };
                eprintln!(
                    "xtask: every request but /healthz needs a token; the daemon writes one it generates to /run/strace-api/token (root only), e.g.\n  curl -H \"Authorization: Bearer $({sudo}cat /run/strace-api/token)\" http://127.0.0.1:8080/v1/processes"
                );
            }
            status(cmd)
        }
        Task::Test { args } => {
            // Compile as the current user, run the test binaries as root.
            let mut test = vec!["test", "--workspace", "--all-features"];
            for ebpf in EBPF_CRATES {
                test.extend(["--exclude", ebpf]);
            }
            cargo(&env, test[0], false, &[&test[1..], &["--no-run"]].concat())?;
            if args.is_empty() {
                cross::test_step(&env)?;
            } else {
                eprintln!("xtask: arguments for `cargo test` were given: no aarch64 cross-build");
            }
            let mut cmd = privilege::command("cargo");
            env.apply(&mut cmd);
            cmd.args(&test).args(&args);
            status(cmd)
        }
        Task::Bench { args } => bench::run(&env, &args),
        Task::Fuzz { seconds, targets } => fuzz::run(&env, seconds, &targets),
        Task::SyscallTable { .. } | Task::SyscallClasses { .. } => unreachable!("handled above"),
    }
}

pub(crate) fn cargo(env: &toolchain::Env, verb: &str, release: bool, extra: &[&str]) -> Result<()> {
    let mut cmd = Command::new("cargo");
    env.apply(&mut cmd);
    cmd.arg(verb).args(extra);
    if release {
        cmd.arg("--release");
    }
    status(cmd)
}

pub(crate) fn status(mut cmd: Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}
