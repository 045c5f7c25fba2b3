//! The floors: empty BTF tracepoint programs on sys_enter and sys_exit (crate strace-bench-ebpf),
//! or on sys_exit alone, or on both reading the clock once each.
use anyhow::{Context as _, Result};
use aya::{Btf, Ebpf, programs::BtfTracePoint};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/floor"));

#[derive(Clone, Copy)]
pub enum Kind {
    /// Empty programs on sys_enter and sys_exit.
    Empty,
    /// An empty program on sys_exit alone (`--entry-hook false`).
    ExitOnly,
    /// Programs on both that read the clock once each and do nothing else:
    /// what timing each call costs before anything is recorded.
    Clocks,
}

/// Attached while this lives.
pub struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    pub fn attach(kind: Kind) -> Result<Floor> {
        let mut ebpf = Ebpf::load(OBJECT).context("loading the floor programs")?;
        let btf = Btf::from_sys_fs()?;
        let programs: &[(&str, &str)] = match kind {
            Kind::Empty => &[("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")],
            Kind::ExitOnly => &[("floor_exit", "sys_exit")],
            Kind::Clocks => &[("floor_enter_clock", "sys_enter"), ("floor_exit_clock", "sys_exit")],
        };
        for (name, hook) in programs {
            let p: &mut BtfTracePoint = ebpf.program_mut(name).context("floor program")?.try_into()?;
            p.load(hook, &btf)?;
            p.attach()?;
        }
        Ok(Floor { _ebpf: ebpf })
    }
}
