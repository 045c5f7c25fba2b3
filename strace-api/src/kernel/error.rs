//! What can go wrong when the daemon changes what the kernel traces: one
//! enum, wrapping aya's errors, each variant one sentence.
use aya::{maps::MapError, programs::ProgramError};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("the kernel's {map} table is full ({limit} processes)")]
    TableFull { map: &'static str, limit: u32 },

    #[error("the kernel's {map} map: {}", chain(.source))]
    Map { map: &'static str, source: MapError },

    #[error("program `{program}`: {}", chain(.source))]
    Program { program: &'static str, source: ProgramError },

    #[error("resetting pid {pid}'s cache byte: {}", chain(.source))]
    Forget { pid: u32, source: ProgramError },

    #[error("listing the online CPUs ({what}): {source}")]
    Cpus { what: &'static str, source: std::io::Error },

    #[error("CPUs {0:?} kept their batches busy")]
    BatchesBusy(Vec<u32>),
}

/// aya's errors are not comparable: two kernel errors are equal when they
/// say the same (for the tests of what a watch answers).
impl PartialEq for KernelError {
    fn eq(&self, other: &KernelError) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for KernelError {}

/// An error and its sources, as one line (aya nests the errno deep inside).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_sentence_with_the_errno() {
        let e = KernelError::Map { map: "WATCHED", source: MapError::KeyNotFound };
        assert_eq!(e.to_string(), "the kernel's WATCHED map: key not found");
        let io = std::io::Error::from_raw_os_error(libc::EPERM);
        let e = KernelError::Forget {
            pid: 7,
            source: ProgramError::SyscallError(aya::sys::SyscallError { call: "bpf_prog_test_run", io_error: io }),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("resetting pid 7's cache byte: ") && text.contains("Operation not permitted"),
            "{text}"
        );
    }
}
