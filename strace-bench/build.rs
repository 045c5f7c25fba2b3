//! Builds the floor programs (crate `strace-bench-ebpf`) and leaves the
//! object in OUT_DIR, where `src/floor.rs` includes it.
#[path = "../build-support/ebpf.rs"]
mod ebpf;

fn main() -> anyhow::Result<()> {
    ebpf::build("strace-bench-ebpf")
}
