//! Loading eBPF programs needs root (or CAP_BPF + CAP_PERFMON): commands that
//! do so go through `sudo -E` when the xtask itself is not root.
use std::{ffi::OsStr, process::Command};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// `program` as a command that runs as root: directly when we are root,
/// otherwise through `sudo -E` (keeping PATH, so the same cargo and toolchain run).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    if is_root() {
        return Command::new(program);
    }
    eprintln!(
        "xtask: not root; running {} through `sudo -E` (loading eBPF needs root)",
        program.as_ref().to_string_lossy()
    );
    let mut cmd = Command::new("sudo");
    cmd.arg("-E").arg(format!("PATH={}", std::env::var("PATH").unwrap_or_default())).arg(program);
    cmd
}
