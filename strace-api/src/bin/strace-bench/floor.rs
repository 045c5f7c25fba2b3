//! The floor: empty programs on sys_enter and sys_exit (strace-ebpf's `floor`).
use anyhow::{Context as _, Result};
use aya::{Ebpf, programs::RawTracePoint};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor"));

/// Attached while this lives.
pub struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    pub fn attach() -> Result<Floor> {
        let mut ebpf = Ebpf::load(OBJECT).context("loading the floor programs")?;
        for (name, hook) in [("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")] {
            let p: &mut RawTracePoint = ebpf.program_mut(name).context("floor program")?.try_into()?;
            p.load()?;
            p.attach(hook)?;
        }
        Ok(Floor { _ebpf: ebpf })
    }
}
