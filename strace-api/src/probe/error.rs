//! Why the daemon could not start: each variant reads as one sentence.
use aya::{EbpfError, programs::ProgramError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "strace-api needs root, or CAP_BPF and CAP_PERFMON, to load its eBPF program; this process lacks {missing} (run it as root, or in a container add those capabilities)"
    )]
    NotPrivileged { missing: String },

    #[error("strace-api needs Linux 5.8 or newer (BPF ring buffer); this kernel is {found}")]
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

    #[error("could not load program `{program}`: {source}")]
    Program {
        program: &'static str,
        #[source]
        source: ProgramError,
    },

    #[error("could not attach program `{program}` to tracepoint `{hook}`: {source}")]
    Attach {
        program: &'static str,
        hook: &'static str,
        #[source]
        source: ProgramError,
    },

    #[error("could not load the eBPF object: {0}")]
    Object(#[source] EbpfError),

    #[error("the eBPF object has no {0}; it was built from another version of the source")]
    Missing(String),

    #[error("could not use map `{name}`: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
}

impl StartupError {
    pub fn object(e: EbpfError) -> StartupError {
        let text = e.to_string();
        if text.contains("Operation not permitted") {
            return StartupError::BpfRefused(text);
        }
        StartupError::Object(e)
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
            other => StartupError::Program { program, source: other },
        }
    }
}
