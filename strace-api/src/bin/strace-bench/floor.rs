//! The floor: empty BTF tracepoint programs on sys_enter and sys_exit (strace-ebpf's `floor`),
//! or on sys_exit alone.
use anyhow::{Context as _, Result};
use aya::{Btf, Ebpf, programs::BtfTracePoint};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor"));

/// Attached while this lives.
pub struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    /// Both programs, or with `exit_only` the sys_exit one alone.
    pub fn attach(exit_only: bool) -> Result<Floor> {
        let mut ebpf = Ebpf::load(OBJECT).context("loading the floor programs")?;
        let btf = Btf::from_sys_fs()?;
        let all = [("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")];
        for (name, hook) in &all[usize::from(exit_only)..] {
            let p: &mut BtfTracePoint = ebpf.program_mut(name).context("floor program")?.try_into()?;
            p.load(hook, &btf)?;
            p.attach()?;
        }
        Ok(Floor { _ebpf: ebpf })
    }
}
