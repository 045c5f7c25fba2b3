//! Cross-building the daemon, with its eBPF object, for another architecture:
//! `cargo xtask build --target …`, and a step of `cargo xtask test` for
//! aarch64. aya-build compiles the eBPF program with `bpf_target_arch` set
//! from the target, so this also builds the kernel side's `pt_regs` layout
//! for that architecture. Built only: nothing here can run an arm64 binary.
use std::path::Path;

use anyhow::{Result, bail};

use crate::{cargo, toolchain::Env};

pub const AARCH64: &str = "aarch64-unknown-linux-gnu";

/// The C cross toolchain a target needs (the linker named in
/// `.cargo/config.toml`), and the Debian packages that bring it.
const C_TOOLCHAINS: &[(&str, &str, &str)] =
    &[(AARCH64, "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross")];

/// What a cross-build for `target` lacks on this machine, if anything.
pub fn missing(target: &str) -> Option<String> {
    let mut missing = Vec::new();
    let sysroot = crate::toolchain::sysroot().unwrap_or_default();
    if !Path::new(&sysroot).join("lib/rustlib").join(target).join("lib").is_dir() {
        missing.push(format!("Rust's standard library for it (`rustup target add {target}`)"));
    }
    if let Some((_, gcc, packages)) = C_TOOLCHAINS.iter().find(|(t, ..)| *t == target)
        && !on_path(gcc)
    {
        missing.push(format!("{gcc} (`apt-get install {packages}`)"));
    }
    (!missing.is_empty()).then(|| format!("building for {target} needs {}", missing.join(" and ")))
}

/// `cargo build` of the daemon for `target`.
pub fn build(env: &Env, target: &str, release: bool) -> Result<()> {
    if let Some(what) = missing(target) {
        bail!("{what}");
    }
    eprintln!("xtask: building the daemon and its eBPF object for {target}");
    cargo(env, "build", release, &["--package", "strace-api", "--bin", "strace-api", "--target", target])
}

/// The step of `cargo xtask test`: skipped, with the reason, where the cross
/// toolchain is missing, except in CI (`CI=true`), where that fails.
pub fn test_step(env: &Env) -> Result<()> {
    match missing(AARCH64) {
        None => build(env, AARCH64, false),
        Some(what) if std::env::var("CI").is_ok_and(|v| v == "true") => bail!("CI: {what}"),
        Some(what) => {
            eprintln!("xtask: skipping the aarch64 cross-build: {what}");
            Ok(())
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_its_standard_library_is_reported() {
        let what = missing("nonesuch-unknown-linux-gnu").expect("not installed");
        assert!(what.contains("`rustup target add nonesuch-unknown-linux-gnu`"), "{what}");
        assert!(missing(AARCH64).is_none_or(|what| what.contains(AARCH64)));
    }
}
