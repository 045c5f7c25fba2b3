//! Why the daemon could not start: each variant reads as one sentence.
use aya::{EbpfError, programs::ProgramError};

use crate::kernel::chain;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "strace-api needs root, or CAP_BPF and CAP_PERFMON, to load its eBPF program; this process lacks {missing} (run it as root, or in a container add those capabilities)"
    )]
    NotPrivileged { missing: String },

    #[error(
        "strace-api needs Linux 5.11 or newer (BPF ring buffer, BTF tracepoints, bpf_get_current_task_btf); this kernel is {found}"
    )]
    KernelTooOld { found: String },

    #[error(
        "strace-api needs the kernel's BTF type information to follow forked processes ({0}); use a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf(String),

    #[error("cannot read the daemon's own PID namespace: {0}")]
    Namespace(String),

    #[error(
        "the kernel refused the bpf() system call ({0}); inside a container the default seccomp profile blocks it: use the seccomp profile in deploy/ or add CAP_SYS_ADMIN"
    )]
    BpfRefused(String),

    #[error("the kernel's verifier rejected program `{program}`: {error}\nverifier log:\n{log}")]
    Rejected { program: &'static str, error: String, log: String },

    #[error("could not load program `{program}`: {error}")]
    Program { program: &'static str, error: String },

    #[error("could not attach program `{program}` to tracepoint `{hook}`: {error}")]
    Attach { program: &'static str, hook: &'static str, error: String },

    #[error("could not load the eBPF object: {0}")]
    Object(String),

    #[error("the eBPF object has no {0}; it was built from another version of the source")]
    Missing(String),

    #[error("could not use map `{name}`: {error}")]
    Map { name: &'static str, error: String },
}

impl StartupError {
    pub fn object(e: EbpfError) -> StartupError {
        let text = chain(&e);
        if text.contains("Operation not permitted") {
            return StartupError::BpfRefused(text);
        }
        StartupError::Object(text)
    }

    pub fn program(program: &'static str, e: ProgramError) -> StartupError {
        match e {
            ProgramError::LoadError { io_error, verifier_log } => {
                if io_error.kind() == std::io::ErrorKind::PermissionDenied && verifier_log.to_string().trim().is_empty()
                {
                    return StartupError::BpfRefused(io_error.to_string());
                }
                StartupError::Rejected { program, error: io_error.to_string(), log: verifier_log.to_string() }
            }
            other => StartupError::Program { program, error: chain(&other) },
        }
    }
}
