//! Building a workspace eBPF crate from a build script (strace-api's builds
//! `strace-ebpf`, strace-bench's builds `strace-bench-ebpf`): aya-build
//! compiles it for the BPF target and leaves one object per binary in
//! OUT_DIR, named after the binary. Included with `#[path]` by both.
use std::{env, path::PathBuf, process::Command};

use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

/// Builds the workspace package `name` for the BPF target.
pub fn build(name: &'static str) -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == name)
        .ok_or_else(|| anyhow!("package {name} not found in the workspace"))?;
    let root_dir = ebpf.manifest_path.parent().expect("manifest has a folder").as_str();

    add_project_bpf_linker_to_path(metadata.workspace_root.as_std_path().into());

    // Build the BPF object with the same toolchain rustup chose for this build
    // (the one pinned in rust-toolchain.toml), not whatever `nightly` is.
    println!("cargo::rerun-if-env-changed=RUSTUP_TOOLCHAIN");
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let toolchain = toolchain.as_deref().map_or(Toolchain::Nightly, Toolchain::Custom);
    let package = Package { name, root_dir, ..Default::default() };
    aya_build::build_ebpf([package], toolchain)
}

/// `cargo xtask` builds bpf-linker against this rustc's LLVM into
/// `.tools/bpf-linker-llvm<major>-<rustc commit>/bin` and puts it on PATH; this
/// lets a plain `cargo build` find it too once the xtask has run.
fn add_project_bpf_linker_to_path(workspace: PathBuf) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else { return };
    let vv = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| vv.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let (Some(commit), Some(llvm)) = (field("commit-hash:"), field("LLVM version:")) else { return };
    let major = llvm.split('.').next().unwrap_or_default();
    let bin = workspace
        .join(".tools")
        .join(format!("bpf-linker-llvm{major}-{}", &commit[..12.min(commit.len())]))
        .join("bin");
    println!("cargo::rerun-if-changed={}", bin.display());
    if bin.join("bpf-linker").exists() {
        let path = env::var_os("PATH").unwrap_or_default();
        let joined = env::join_paths(std::iter::once(bin).chain(env::split_paths(&path))).expect("valid PATH");
        // SAFETY: build scripts are single-threaded at this point.
        unsafe { env::set_var("PATH", joined) };
    } else if which_bpf_linker().is_none() {
        println!(
            "cargo::warning=bpf-linker not found: run `cargo xtask build` once (it builds one for this toolchain)"
        );
    }
}

fn which_bpf_linker() -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|d| d.join("bpf-linker")).find(|p| p.exists())
}
