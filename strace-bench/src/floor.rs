//! The floors: empty BTF tracepoint programs on sys_enter and sys_exit (crate strace-bench-ebpf),
//! or on sys_exit alone, or on both reading the clock once each; for a
//! server, with empty programs on the batch-flushing hooks as well. And the
//! counter of a few processes' calls.
use anyhow::{Context as _, Result};
use aya::{
    Btf, Ebpf,
    maps::{Array, HashMap},
    programs::{BtfTracePoint, RawTracePoint},
};
use strace_common::filter::SyscallFilter;

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
    /// `Empty`, and empty programs on the hooks the daemon flushes its
    /// batches from (`sched_switch`, `hrtimer_expire_entry`): every hook the
    /// daemon attaches, as a server that switches tasks pays for them.
    Server,
    /// `Clocks`, with the same empty flush hooks.
    ServerClocks,
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
            Kind::Empty | Kind::Server => &[("floor_enter", "sys_enter"), ("floor_exit", "sys_exit")],
            Kind::ExitOnly => &[("floor_exit", "sys_exit")],
            Kind::Clocks | Kind::ServerClocks => {
                &[("floor_enter_clock", "sys_enter"), ("floor_exit_clock", "sys_exit")]
            }
        };
        for (name, hook) in programs {
            let p: &mut BtfTracePoint = ebpf.program_mut(name).context("floor program")?.try_into()?;
            p.load(hook, &btf)?;
            p.attach()?;
        }
        if matches!(kind, Kind::Server | Kind::ServerClocks) {
            for (name, hook) in [("floor_switch", "sched_switch"), ("floor_tick", "hrtimer_expire_entry")] {
                let p: &mut RawTracePoint = ebpf.program_mut(name).context("floor program")?.try_into()?;
                p.load()?;
                p.attach(hook)?;
            }
        }
        Ok(Floor { _ebpf: ebpf })
    }
}

/// Counts the calls (at their exit) of the processes given, while it lives.
pub struct Counter {
    ebpf: Ebpf,
}

impl Counter {
    /// Counts every call of `host_pids`, or with `only` those its bitmap
    /// lets through (the same bitmap a filtered watch's kernel tests).
    pub fn attach(host_pids: &[u32], only: Option<&SyscallFilter>) -> Result<Counter> {
        let mut ebpf = Ebpf::load(OBJECT).context("loading the counting program")?;
        let btf = Btf::from_sys_fs()?;
        {
            let mut counted: HashMap<_, u32, u64> =
                HashMap::try_from(ebpf.map_mut("COUNTED").context("no COUNTED map")?)?;
            for pid in host_pids {
                counted.insert(pid, &0u64, 0)?;
            }
        }
        if let Some(only) = only {
            let mut bits: Array<_, u64> = Array::try_from(ebpf.map_mut("ONLY").context("no ONLY map")?)?;
            for (i, word) in only.bits.iter().enumerate() {
                bits.set(i as u32, word, 0)?;
            }
            // After the bitmap: the word that turns it on.
            bits.set(only.bits.len() as u32, &1, 0)?;
        }
        let p: &mut BtfTracePoint = ebpf.program_mut("count_exit").context("counting program")?.try_into()?;
        p.load("sys_exit", &btf)?;
        p.attach()?;
        Ok(Counter { ebpf })
    }

    /// Calls the processes have completed since `attach`.
    pub fn total(&self) -> Result<u64> {
        let counted: HashMap<_, u32, u64> = HashMap::try_from(self.ebpf.map("COUNTED").context("no COUNTED map")?)?;
        Ok(counted.iter().filter_map(|r| r.ok()).map(|(_, n)| n).sum())
    }
}
