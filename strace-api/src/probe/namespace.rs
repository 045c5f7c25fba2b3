//! The daemon's own PID namespace: every pid in the API is a pid of this
//! namespace, and only processes of this namespace can be watched.
use std::os::unix::fs::MetadataExt as _;

/// The initial PID namespace's inode number (PROC_PID_INIT_INO), fixed by the kernel.
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidNamespace {
    pub dev: u64,
    pub ino: u64,
}

impl PidNamespace {
    pub fn own() -> std::io::Result<PidNamespace> {
        let md = std::fs::metadata("/proc/self/ns/pid")?;
        Ok(PidNamespace { dev: md.dev(), ino: md.ino() })
    }

    /// In the initial namespace pids are host pids and need no translation.
    pub fn is_initial(&self) -> bool {
        self.ino == INIT_PID_NS_INO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_is_readable() {
        let ns = PidNamespace::own().unwrap();
        assert!(ns.ino > 0);
        assert!(PidNamespace { dev: 0, ino: INIT_PID_NS_INO }.is_initial());
        assert!(!PidNamespace { dev: 0, ino: 4026532000 }.is_initial());
    }
}
