//! `cargo xtask build | run | test`: sets up the toolchain pieces the project
//! needs (bpf-linker built against this rustc's LLVM), builds, and runs.
mod bench;
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
    },
    /// Build and start the daemon (as root, through sudo if needed).
    Run {
        #[arg(long)]
        release: bool,
        /// Arguments for the daemon, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build and run every test, including the ones that load the eBPF program.
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
    /// Regenerate the syscall signature table from the running kernel's tracefs.
    SyscallTable,
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
        Task::SyscallTable => return syscall_table::generate(&toolchain::workspace_root()),
        Task::SyscallClasses { strace_source, strace_version } => {
            return syscall_classes::generate(&toolchain::workspace_root(), strace_source, strace_version);
        }
        _ => {}
    }
    let env = toolchain::ensure()?;
    match cli.command {
        Task::Build { release } => cargo(&env, "build", release, &[]),
        Task::Run { release, args } => {
            cargo(&env, "build", release, &["--package", "strace-api"])?;
            let profile = if release { "release" } else { "debug" };
            let bin = env.workspace.join("target").join(profile).join("strace-api");
            let mut cmd = privilege::command(&bin);
            cmd.args(&args);
            status(cmd)
        }
        Task::Test { args } => {
            // Compile as the current user, run the test binaries as root.
            let mut test = vec!["test", "--workspace", "--all-features"];
            for ebpf in EBPF_CRATES {
                test.extend(["--exclude", ebpf]);
            }
            cargo(&env, test[0], false, &[&test[1..], &["--no-run"]].concat())?;
            let mut cmd = privilege::command("cargo");
            env.apply(&mut cmd);
            cmd.args(&test).args(&args);
            status(cmd)
        }
        Task::Bench { args } => bench::run(&env, &args),
        Task::SyscallTable | Task::SyscallClasses { .. } => unreachable!("handled above"),
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
