//! The pieces the eBPF build needs beyond rustup's pinned toolchain.
//!
//! bpf-linker links the BPF object with LLVM and must use the same LLVM major
//! version as the rustc that compiles the eBPF crate. rustc ships its LLVM as a
//! shared library in its sysroot; bpf-linker is built against exactly that
//! library, once, into a project-local folder keyed by rustc's commit.
use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// The bpf-linker release the build is known to work with.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// What commands that build the project need in their environment.
pub struct Env {
    pub workspace: PathBuf,
    /// Folder holding `bpf-linker`, prepended to PATH.
    pub linker_bin: PathBuf,
}

impl Env {
    pub fn apply(&self, cmd: &mut Command) {
        let path = env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.linker_bin.clone()];
        paths.extend(env::split_paths(&path));
        cmd.env("PATH", env::join_paths(paths).expect("PATH entries contain no separator"));
        cmd.current_dir(&self.workspace);
    }
}

pub fn ensure() -> Result<Env> {
    let workspace = workspace_root();
    let rustc = RustcInfo::current()?;
    let tools = workspace.join(".tools").join(format!("bpf-linker-llvm{}-{}", rustc.llvm_major, &rustc.commit[..12]));
    let linker_bin = tools.join("bin");
    let linker = linker_bin.join("bpf-linker");
    if !works(&linker) {
        install_bpf_linker(&rustc, &tools)?;
        if !works(&linker) {
            bail!("bpf-linker was installed into {} but does not run", tools.display());
        }
    }
    Ok(Env { workspace, linker_bin })
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// `rustc --print sysroot`.
pub fn sysroot() -> Result<PathBuf> {
    Ok(PathBuf::from(output(Command::new("rustc").args(["--print", "sysroot"]))?.trim()))
}

fn works(linker: &Path) -> bool {
    Command::new(linker).arg("--version").output().is_ok_and(|o| o.status.success())
}

struct RustcInfo {
    commit: String,
    llvm_major: String,
    /// `$(rustc --print sysroot)/lib/libLLVM.so.*`
    libllvm: PathBuf,
}

impl RustcInfo {
    fn current() -> Result<RustcInfo> {
        let vv = output(Command::new("rustc").arg("-vV"))?;
        let field = |name: &str| {
            vv.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .with_context(|| format!("`rustc -vV` has no `{name}` line"))
        };
        let commit = field("commit-hash:")?;
        let llvm = field("LLVM version:")?;
        let llvm_major = llvm.split('.').next().unwrap_or_default().to_string();
        let sysroot = sysroot()?;
        let lib = sysroot.join("lib");
        let libllvm = std::fs::read_dir(&lib)
            .with_context(|| format!("reading {}", lib.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libLLVM.so.")))
            .with_context(|| format!("rustc's sysroot has no libLLVM.so.* in {}", lib.display()))?;
        Ok(RustcInfo { commit, llvm_major, libllvm })
    }
}

fn install_bpf_linker(rustc: &RustcInfo, tools: &Path) -> Result<()> {
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against rustc's own LLVM {} into {} (once; about a minute)",
        rustc.llvm_major,
        tools.display()
    );
    // LLVM_PREFIX/lib must hold `libLLVM.so`; the built linker keeps an rpath to it.
    let prefix = tools.join("llvm");
    let lib = prefix.join("lib");
    std::fs::create_dir_all(&lib)?;
    let file_name = rustc.libllvm.file_name().expect("a file");
    for link in [lib.join("libLLVM.so"), lib.join(file_name)] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&rustc.libllvm, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    let st = Command::new("cargo")
        .args(["install", "bpf-linker", "--locked", "--version", BPF_LINKER_VERSION])
        .args(["--no-default-features", "--features", &format!("llvm-{}", rustc.llvm_major)])
        .arg("--root")
        .arg(tools)
        .env("LLVM_PREFIX", &prefix)
        .status()
        .context("could not start `cargo install bpf-linker`")?;
    if !st.success() {
        bail!("`cargo install bpf-linker` failed ({st})");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}
