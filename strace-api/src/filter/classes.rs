//! strace's syscall classes (`-e trace=%file`), from strace's own tables:
//! `cargo xtask syscall-classes` generates one file per architecture from
//! its sources (see the files' headers), so a class here holds exactly the
//! calls it holds in strace.
use std::{collections::HashMap, sync::LazyLock};

#[cfg(target_arch = "x86_64")]
const TABLE: &str = include_str!("classes/x86_64.txt");
#[cfg(target_arch = "aarch64")]
const TABLE: &str = include_str!("classes/aarch64.txt");

/// The classes strace knows, as `-e trace=` spells them (`%net` is also
/// taken for `%network`).
pub const CLASS_NAMES: [&str; 17] = [
    "%desc", "%file", "%memory", "%process", "%creds", "%signal", "%ipc", "%network", "%stat", "%lstat", "%fstat",
    "%%stat", "%statfs", "%fstatfs", "%%statfs", "%pure", "%clock",
];

/// The syscall names in `class` (any case, as strace), or `None` if strace
/// has no such class.
pub fn class_members(class: &str) -> Option<&'static [&'static str]> {
    static BY_CLASS: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
        let mut by_class: HashMap<&str, Vec<&str>> = CLASS_NAMES.iter().map(|&c| (c, vec![])).collect();
        for line in TABLE.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap_or_default();
            for class in fields {
                by_class.entry(class).or_default().push(name);
            }
        }
        by_class
    });
    let lower = class.to_ascii_lowercase();
    let key = if lower == "%net" { "%network" } else { lower.as_str() };
    BY_CLASS.get(key).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use syscalls::Sysno;

    use super::*;

    fn is(class: &str, name: &str) -> bool {
        class_members(class).unwrap().contains(&name)
    }

    /// Memberships strace documents or shows (`strace -e trace=%file`).
    #[test]
    fn known_memberships() {
        assert!(is("%file", "openat") && is("%file", "execve") && is("%file", "chdir"));
        assert!(!is("%file", "read") && !is("%file", "getppid"));
        assert!(is("%desc", "read") && is("%desc", "openat") && is("%desc", "close"));
        assert!(is("%network", "connect") && is("%network", "socket") && is("%NET", "sendto"));
        assert!(is("%process", "execve") && is("%process", "clone") && is("%process", "exit_group"));
        assert!(is("%process", "wait4") && is("%process", "kill"));
        assert!(is("%signal", "kill") && is("%signal", "rt_sigaction") && !is("%signal", "read"));
        assert!(is("%memory", "mmap") && is("%memory", "brk") && !is("%memory", "read"));
        assert!(is("%ipc", "shmget") && is("%pure", "getppid") && is("%creds", "setuid"));
        assert!(is("%%stat", "newfstatat") && is("%clock", "clock_gettime"));
        assert_eq!(class_members("%bogus"), None);
        assert_eq!(class_members("file"), None, "the % belongs to the name");
    }

    /// Nearly every name in the table is one the decoder knows by the same
    /// name: strace knows a few calls newer than the `syscalls` crate
    /// (file_getattr, file_setattr), which cannot be named here yet.
    #[test]
    fn every_member_is_a_syscall_of_this_architecture() {
        for class in CLASS_NAMES {
            let members = class_members(class).unwrap();
            assert!(!members.is_empty(), "{class} is empty");
            let unknown: Vec<_> = members.iter().filter(|n| n.parse::<Sysno>().is_err()).collect();
            assert!(unknown.len() * 20 <= members.len(), "{class}: {unknown:?}");
        }
    }
}
