//! Attaching the syscall hooks while something is watched, and detaching
//! them (with the batch-flushing hooks) once nothing is: an idle daemon
//! costs the host's syscalls nothing.
use aya::programs::{ProgramError, RawTracePointRunOptions, TestRun as _};
use strace_common::maps::programs;

use super::{FLUSH_HOOKS, Probe, btf_tracepoint, raw_tracepoint};
use crate::kernel::KernelError;

/// Between tries at writing out a CPU's batch that a flush hook held.
const RETRY: std::time::Duration = std::time::Duration::from_millis(1);

/// If the batches cannot be written out directly: how long the flush hooks
/// stay after the syscall hooks (a busy CPU ticks every 1/HZ, 10 ms at HZ=100).
const FALLBACK_GRACE: std::time::Duration = std::time::Duration::from_millis(30);

impl Probe {
    /// Attaches the flush hooks, then the syscall hooks. Whatever a failed
    /// attempt left attached stays, and counts.
    pub(super) fn attach(&mut self) -> Result<(), KernelError> {
        if self.syscall_links.len() == self.syscall_hooks.len() {
            return Ok(());
        }
        for (name, hook) in FLUSH_HOOKS {
            if !self.flush_links.iter().any(|(n, _)| *n == name) {
                let link = raw_tracepoint(&mut self.ebpf, name)
                    .and_then(|p| p.attach(hook))
                    .map_err(|source| KernelError::Program { program: name, source })?;
                self.flush_links.push((name, link));
            }
        }
        for &(name, _) in self.syscall_hooks {
            if !self.syscall_links.iter().any(|(n, _)| *n == name) {
                let link = btf_tracepoint(&mut self.ebpf, name)
                    .and_then(|p| p.attach())
                    .map_err(|source| KernelError::Program { program: name, source })?;
                self.syscall_links.push((name, link));
            }
        }
        tracing::debug!("syscall hooks attached");
        Ok(())
    }

    /// Detaches the syscall hooks (see `detach_all`). The flush hooks stay
    /// until the programs running now have ended (`detach_flush_hooks`, from
    /// `Kernel::settle`): the grace period is waited for with no lock held.
    pub(super) fn detach(&mut self) -> Result<(), KernelError> {
        // (Flush hooks alone: a detach still settling, or an attach that
        // failed halfway.)
        if self.syscall_links.is_empty() && self.flush_links.is_empty() {
            return Ok(());
        }
        let first_error = detach_all(&mut self.syscall_links, |name, link| {
            btf_tracepoint(&mut self.ebpf, name).and_then(|p| p.detach(link))
        });
        self.detaches += 1;
        self.detached = Some(self.detaches);
        first_error.map_or(Ok(()), Err)
    }

    /// Once no syscall hook runs any more: writes out every CPU's batch,
    /// then detaches the flush hooks.
    pub(super) fn detach_flush_hooks(&mut self) -> Result<(), KernelError> {
        // Nothing appends now: write out what every CPU still holds.
        if let Err(e) = self.flush_every_cpu() {
            if self.flush_links.is_empty() {
                tracing::warn!("{e}: records may stay batched until the hooks are attached again");
            } else {
                // Left to the flush hooks: a CPU's next switch or tick.
                tracing::warn!("{e}; waiting {FALLBACK_GRACE:?} for the flush hooks instead");
                std::thread::sleep(FALLBACK_GRACE);
            }
        }
        if let Some(e) = detach_all(&mut self.flush_links, |name, link| {
            raw_tracepoint(&mut self.ebpf, name).and_then(|p| p.detach(link))
        }) {
            return Err(e);
        }
        tracing::debug!("nothing watched: syscall hooks detached");
        Ok(())
    }

    /// Runs the task-switch hook once on every CPU (`BPF_PROG_TEST_RUN`
    /// pinned to it), which writes out that CPU's batch. It answers 1 when a
    /// program still running there held the batch: that CPU is tried again.
    fn flush_every_cpu(&mut self) -> Result<(), KernelError> {
        let mut cpus = aya::util::online_cpus().map_err(|(what, source)| KernelError::Cpus { what, source })?;
        let program = programs::TASK_SWITCH;
        let program =
            raw_tracepoint(&mut self.ebpf, program).map_err(|source| KernelError::Program { program, source })?;
        for _ in 0..10 {
            let mut busy = vec![];
            for cpu in cpus {
                let opts = RawTracePointRunOptions { cpu: Some(cpu), ..RawTracePointRunOptions::new() };
                let run = program
                    .test_run(opts)
                    .map_err(|source| KernelError::Program { program: programs::TASK_SWITCH, source })?;
                if run.return_value != 0 {
                    busy.push(cpu);
                }
            }
            if busy.is_empty() {
                return Ok(());
            }
            cpus = busy;
            std::thread::sleep(RETRY);
        }
        Err(KernelError::BatchesBusy(cpus))
    }
}

/// Detaches every link of `links`, newest first, with `detach`: each gets
/// its detach even if one fails, so none stays attached unknown to the
/// probe. Returns the first error.
fn detach_all<L>(
    links: &mut Vec<(&'static str, L)>,
    mut detach: impl FnMut(&'static str, L) -> Result<(), ProgramError>,
) -> Option<KernelError> {
    let mut first_error = None;
    for (name, link) in links.drain(..).rev() {
        if let Err(source) = detach(name, link) {
            first_error.get_or_insert(KernelError::Program { program: name, source });
        }
    }
    first_error
}

/// Returns once every eBPF program run that began before the call has ended.
/// Tracepoint programs run inside an RCU read-side section, so an RCU grace
/// period is enough: `membarrier(MEMBARRIER_CMD_GLOBAL)` waits for one
/// (a few ms; on one CPU it returns at once, which is right: programs run
/// with preemption off, so none is halfway). Where it is refused (nohz_full
/// kernels), a sleep stands in: a program runs for microseconds.
pub(super) fn wait_for_running_programs() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes no pointers.
    if unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) } != 0 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
