use which::which;

/// Rebuild when bpf-linker changes (it links this crate's BPF object).
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
