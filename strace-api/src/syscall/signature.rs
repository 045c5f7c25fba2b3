//! Argument signatures, from a table generated off the kernel's tracefs
//! metadata (`cargo xtask syscall-table`), one file per architecture.
use std::{collections::HashMap, sync::LazyLock};

use syscalls::Sysno;

use super::arch;

const TABLE: &str = arch::SIGNATURES;

/// How a raw argument is shown before any semantic decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Any pointer: `NULL` or hex.
    Pointer,
    /// 32-bit signed (`int`, `pid_t`, …): decimal of the low 32 bits.
    Int,
    /// 32-bit unsigned (`unsigned int`, `uid_t`, …).
    UInt,
    /// 64-bit signed (`long`, `off_t`, `loff_t`, …).
    Long,
    /// 64-bit unsigned (`unsigned long`, `size_t`, …).
    ULong,
    /// File mode (`umode_t`, `mode_t`): octal.
    Mode,
    /// Flags, masks and whatever is not understood: hex.
    Hex,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// The kernel's C type, e.g. `const char *`.
    pub ctype: &'static str,
    /// The kernel's parameter name, e.g. `filename`.
    pub name: &'static str,
    pub kind: ArgKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signature {
    pub args: Vec<Arg>,
}

/// Syscalls whose kernel function, after which the table's entries are
/// named, has another name than the syscall: (syscall, kernel name). Those
/// of one architecture only are its `arch::KERNEL_NAMES`.
const KERNEL_NAMES: &[(&str, &str)] = &[
    ("stat", "newstat"),
    ("fstat", "newfstat"),
    ("lstat", "newlstat"),
    ("uname", "newuname"),
    ("sendfile", "sendfile64"),
    ("umount2", "umount"),
];

/// The signature of syscall `nr`, if the table has it.
pub fn signature(nr: i32) -> Option<&'static Signature> {
    static BY_NR: LazyLock<HashMap<i32, Signature>> = LazyLock::new(|| {
        let by_name = parse(TABLE);
        Sysno::iter()
            .filter_map(|s| Some((s.id(), by_name.get(kernel_name(s.name(), arch::KERNEL_NAMES))?.clone())))
            .collect()
    });
    BY_NR.get(&nr)
}

/// The name the table files `syscall` under: its kernel function's.
pub(super) fn kernel_name<'a>(syscall: &'a str, arch_names: &[(&'a str, &'a str)]) -> &'a str {
    arch_names.iter().chain(KERNEL_NAMES).find(|(n, _)| *n == syscall).map_or(syscall, |(_, k)| k)
}

pub(super) fn parse(table: &'static str) -> HashMap<&'static str, Signature> {
    table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split('\t');
            let name = fields.next().unwrap_or_default();
            (name, Signature { args: fields.filter_map(arg).collect() })
        })
        .collect()
}

/// `const char * filename` → type `const char *`, name `filename`.
fn arg(decl: &'static str) -> Option<Arg> {
    let (ctype, name) = decl.rsplit_once(' ')?;
    let kind = kind(ctype, name);
    Some(Arg { ctype, name, kind })
}

fn kind(ctype: &str, name: &str) -> ArgKind {
    if ctype.contains('*') {
        return ArgKind::Pointer;
    }
    if name.contains("flags") || name.contains("mask") || name == "prot" || name == "cmd" {
        return ArgKind::Hex;
    }
    match ctype {
        "int" | "pid_t" | "key_serial_t" | "clockid_t" | "timer_t" | "mqd_t" | "__s32" | "s32" => ArgKind::Int,
        "unsigned int" | "unsigned" | "uid_t" | "gid_t" | "old_uid_t" | "old_gid_t" | "qid_t" | "u32" | "__u32" => {
            ArgKind::UInt
        }
        "long" | "off_t" | "loff_t" | "ssize_t" | "__kernel_old_time_t" | "s64" | "__s64" => ArgKind::Long,
        "unsigned long" | "size_t" | "u64" | "__u64" | "aio_context_t" | "key_t" => ArgKind::ULong,
        "umode_t" | "mode_t" => ArgKind::Mode,
        _ => ArgKind::Hex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_common_calls() {
        let openat = signature(Sysno::openat.id()).expect("openat");
        let names: Vec<_> = openat.args.iter().map(|a| (a.name, a.kind)).collect();
        assert_eq!(
            names,
            [("dfd", ArgKind::Int), ("filename", ArgKind::Pointer), ("flags", ArgKind::Hex), ("mode", ArgKind::Mode)]
        );
        assert_eq!(signature(Sysno::getppid.id()).unwrap().args, []);
        assert_eq!(signature(Sysno::write.id()).unwrap().args[2].kind, ArgKind::ULong);
    }

    /// The table names entries after the kernel's functions (`newfstat`).
    #[test]
    fn calls_named_otherwise_in_the_kernel_have_theirs() {
        let names = |s: Sysno| signature(s.id()).map(|sig| sig.args.iter().map(|a| a.name).collect::<Vec<_>>());
        assert_eq!(names(Sysno::fstat), Some(vec!["fd", "statbuf"]));
        assert_eq!(names(Sysno::umount2), Some(vec!["name", "flags"]));
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(names(Sysno::stat), Some(vec!["filename", "statbuf"]));
            assert_eq!(names(Sysno::sendfile), Some(vec!["out_fd", "in_fd", "offset", "count"]));
            assert_eq!(names(Sysno::uname), Some(vec!["name"]));
        }
    }

    #[test]
    fn most_syscalls_have_a_signature() {
        let known = Sysno::iter().filter(|s| signature(s.id()).is_some()).count();
        assert!(known * 10 >= Sysno::count() * 9, "{known} of {}", Sysno::count());
    }

    #[test]
    fn parses_declarations() {
        assert_eq!(arg("const char *const * argv").unwrap().ctype, "const char *const *");
        assert_eq!(arg("unsigned long len").unwrap().kind, ArgKind::ULong);
        assert_eq!(arg("nonsense"), None);
    }
}
