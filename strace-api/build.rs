//! Builds the eBPF program (crate `strace-ebpf`) and leaves the object in
//! OUT_DIR, where `src/probe/` includes it.
#[path = "../build-support/ebpf.rs"]
mod ebpf;

fn main() -> anyhow::Result<()> {
    ebpf::build("strace-ebpf")
}
