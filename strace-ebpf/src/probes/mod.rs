//! One file per attached program.
//!
//! Hook choice, measured on the target machines (getppid storm, ns per call,
//! program attached but the process not watched): raw_tp and tp_btf pairs both
//! cost untraced processes ~+38 ns (empty) / ~+53 ns (with a hash lookup);
//! the classic `raw_syscalls` tracepoint pair costs ~22 ns more even when empty.
//! raw_tp is as cheap as tp_btf and needs neither BTF nor tracefs, so all
//! probes are raw tracepoints.
mod process_fork;
mod sys_enter;
mod sys_exit;
mod thread_exit;
