//! The kernel program seen from userspace: load and attach it, and keep its
//! watch table. Dropping the `Probe` detaches every program.
mod error;
pub mod preflight;

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::RawTracePoint,
};
use aya_log::EbpfLogger;
pub use error::StartupError;
use strace_common::{
    Counter, ThreadSlot, WatchEntry,
    maps::{self, globals, programs},
};

use crate::{
    syscall,
    tracer::{KernelCounters, ProgramStats},
};

/// The BPF object built by build.rs from the `strace-ebpf` crate.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/strace"));

/// Sizes of the kernel-side tables.
#[derive(Clone, Copy, Debug)]
pub struct Sizing {
    pub ring_bytes: u32,
    pub max_threads: u32,
}

pub struct Probe {
    /// (name, kernel program id) of each attached program.
    programs: Vec<(&'static str, u32)>,
    watched: HashMap<MapData, u32, WatchEntry>,
    threads: HashMap<MapData, u32, ThreadSlot>,
    counters: PerCpuArray<MapData, u64>,
    // Last: programs detach when this drops.
    _ebpf: Ebpf,
}

/// What loading hands over besides the probe: the ring buffer to drain and
/// the kernel-side log reader.
pub struct Streams {
    pub events: RingBuf<MapData>,
    pub log: Option<EbpfLogger<&'static dyn log::Log>>,
}

/// Syscall probes are raw tracepoints (see strace-ebpf/src/probes/mod.rs for
/// why); `sched_process_exit` frees the slots of exiting threads.
const ATTACH: [(&str, &str); 3] = [
    (programs::THREAD_EXIT, "sched_process_exit"),
    (programs::SYS_EXIT, "sys_exit"),
    (programs::SYS_ENTER, "sys_enter"),
];

impl Probe {
    pub fn load(sizing: Sizing) -> Result<(Probe, Streams), StartupError> {
        preflight::check()?;
        let (nr_exit, nr_exit_group) = syscall::no_return_numbers();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(maps::EVENTS, sizing.ring_bytes)
            .map_max_entries(maps::THREADS, sizing.max_threads)
            .override_global(globals::NR_EXIT, &nr_exit, true)
            .override_global(globals::NR_EXIT_GROUP, &nr_exit_group, true)
            .load(OBJECT)
            .map_err(StartupError::object)?;
        let log = match EbpfLogger::init(&mut ebpf) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("kernel-side log unavailable: {e}");
                None
            }
        };
        let mut ids = Vec::new();
        for (name, hook) in ATTACH {
            let program: &mut RawTracePoint = ebpf
                .program_mut(name)
                .ok_or_else(|| StartupError::Missing(format!("program `{name}`")))?
                .try_into()
                .map_err(|e| StartupError::program(name, e))?;
            program.load().map_err(|e| StartupError::program(name, e))?;
            program.attach(hook).map_err(|source| StartupError::Attach { program: name, hook, source })?;
            ids.push((name, program.info().map_err(|e| StartupError::program(name, e))?.id()));
        }
        let mut take =
            |name: &'static str| ebpf.take_map(name).ok_or_else(|| StartupError::Missing(format!("map `{name}`")));
        let (w, t, c, e) = (take(maps::WATCHED)?, take(maps::THREADS)?, take(maps::COUNTERS)?, take(maps::EVENTS)?);
        let map_err = |name| move |source| StartupError::Map { name, source };
        let probe = Probe {
            programs: ids,
            watched: HashMap::try_from(w).map_err(map_err(maps::WATCHED))?,
            threads: HashMap::try_from(t).map_err(map_err(maps::THREADS))?,
            counters: PerCpuArray::try_from(c).map_err(map_err(maps::COUNTERS))?,
            _ebpf: ebpf,
        };
        let events = RingBuf::try_from(e).map_err(map_err(maps::EVENTS))?;
        Ok((probe, Streams { events, log }))
    }
}

impl crate::tracer::Kernel for Probe {
    fn watch(&mut self, pid: u32) -> Result<(), String> {
        if self.watched.get(&pid, 0).is_ok() {
            return Ok(());
        }
        self.watched.insert(&pid, &WatchEntry::default(), 0).map_err(|e| describe(&e))
    }

    fn unwatch(&mut self, pid: u32, tids: &[u32]) -> Result<(), String> {
        match self.watched.remove(&pid) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(describe(&e)),
        }
        for tid in tids {
            if self.threads.get(tid, 0).is_ok_and(|slot| slot.pid == pid) {
                let _ = self.threads.remove(tid);
            }
        }
        Ok(())
    }

    fn lost(&self, pid: u32) -> u64 {
        self.watched.get(&pid, 0).map_or(0, |w| w.dropped + w.untracked)
    }

    fn counters(&self) -> KernelCounters {
        let sum = |c: Counter| self.counters.get(&(c as u32), 0).map_or(0, |v| v.iter().sum());
        KernelCounters { ring_full: sum(Counter::RingFull), threads_full: sum(Counter::ThreadsFull) }
    }

    fn programs(&self) -> Vec<ProgramStats> {
        self.program_stats()
    }
}

impl Probe {
    fn program_stats(&self) -> Vec<ProgramStats> {
        let infos: Vec<_> = aya::programs::loaded_programs().filter_map(Result::ok).collect();
        self.programs
            .iter()
            .map(|&(name, id)| {
                let info = infos.iter().find(|i| i.id() == id);
                ProgramStats {
                    name,
                    id,
                    run_count: info.map_or(0, |i| i.run_count()),
                    run_time_ns: info.map_or(0, |i| i.run_time().as_nanos() as u64),
                }
            })
            .collect()
    }
}

fn describe(e: &MapError) -> String {
    match e {
        MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG) => {
            format!("the kernel watch table is full ({} processes)", strace_common::limits::MAX_WATCHED)
        }
        other => other.to_string(),
    }
}
