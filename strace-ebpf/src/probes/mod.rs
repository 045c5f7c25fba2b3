//! One file per attached program.
//!
//! Hook choice, measured on the target machines (getppid storm, ns per call,
//! program attached but the process not watched): empty raw_tp and tp_btf
//! pairs both cost ~+38-42 ns; the classic `raw_syscalls` tracepoint pair
//! costs ~22 ns more even when empty. The syscall hooks are BTF tracepoints
//! (tp_btf): as cheap as raw_tp, and their BTF-typed arguments let the
//! programs read `pt_regs` and the current task's tgid/tid with plain loads
//! instead of helper calls (see bench/README.md). The scheduler hooks, which
//! run only on fork and exit, are raw tracepoints, and so are the two that
//! write out the per-CPU batch of records (batch.rs): on a task switch and
//! on the timer tick. Two programs are never attached: the daemon runs
//! `forget_tgid` and `change_watch`.
mod change_watch;
mod forget_tgid;
mod process_exec;
mod process_fork;
mod sys_enter;
mod sys_exit;
mod sys_exit_only;
mod task_switch;
mod thread_exit;
mod tick;
