//! aarch64 (arm64): the generic syscall table, so no legacy calls and no
//! `arch_prctl`; its signature table is derived from x86_64's (see the file's
//! header), since no arm64 kernel's tracefs was at hand.
use syscalls::aarch64::Sysno;

use super::super::{
    flags::Table,
    table::{
        Kind,
        Ty::{self, *},
    },
};

/// Derived by `cargo xtask syscall-table --derive aarch64`.
pub const SIGNATURES: &str = include_str!("../signatures/aarch64.txt");

/// arm64's own names for calls every architecture has: the crate calls 79
/// `fstatat` where the kernel has `newfstatat`; `personality` is
/// `arm64_personality` (arch/arm64/kernel/sys.c); the generic table's
/// `fadvise64` is `sys_fadvise64_64`.
pub const KERNEL_NAMES: &[(&str, &str)] =
    &[("fstatat", "newfstatat"), ("personality", "arm64_personality"), ("fadvise64", "fadvise64_64")];

/// Not implemented: at exit `x0` holds the return value, so the number and
/// first argument would have to come from `syscallno` and `orig_x0`, which
/// `strace-ebpf/src/arch.rs` does not read (nothing here can test it).
pub const ENTRY_HOOK_OPTIONAL: bool = false;

#[rustfmt::skip]
pub static SPECIAL: &[(Sysno, &[Ty])] = &[
    // The kernel's newfstatat (x86_64's `Sysno::newfstatat`).
    (Sysno::fstatat, &[DirFd, Path, Filled(Kind::Stat), AtFlags]),
];

/// arm64 has no `arch_prctl`.
pub static ARCH_PRCTL: Table = &[];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{ArgKind, signature, table};

    /// In the `syscalls` crate's aarch64 list but only in the 32-bit ABI of the
    /// kernel's generic table (`scripts/syscall.tbl`, abi `32`): an arm64
    /// kernel answers ENOSYS, so they have no entry.
    const NOT_ON_ARM64: &[&str] = &[
        "clock_gettime64",
        "clock_settime64",
        "clock_adjtime64",
        "clock_getres_time64",
        "clock_nanosleep_time64",
        "timer_gettime64",
        "timer_settime64",
        "timerfd_gettime64",
        "timerfd_settime64",
        "utimensat_time64",
        "pselect6_time64",
        "ppoll_time64",
        "io_pgetevents_time64",
        "recvmmsg_time64",
        "mq_timedsend_time64",
        "mq_timedreceive_time64",
        "semtimedop_time64",
        "rt_sigtimedwait_time64",
        "futex_time64",
        "sched_rr_get_interval_time64",
    ];

    /// Without an entry in the x86_64 table the aarch64 one is derived from,
    /// as on x86_64: the kernel it was read from has no modules, kexec or
    /// shadow stacks, and lookup_dcookie and nfsservctl are gone from every
    /// kernel (`sys_ni_syscall`).
    const NOT_IN_THE_X86_64_TABLE: &[&str] = &[
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "map_shadow_stack",
        "lookup_dcookie",
        "nfsservctl",
    ];

    fn arm64_signature(name: &str) -> Option<signature::Signature> {
        signature::parse(SIGNATURES).remove(signature::kernel_name(name, KERNEL_NAMES))
    }

    #[test]
    fn the_table_covers_every_arm64_call_but_the_listed_ones() {
        let table = signature::parse(SIGNATURES);
        let mut missing = Vec::new();
        for s in Sysno::iter() {
            let listed = NOT_ON_ARM64.contains(&s.name()) || NOT_IN_THE_X86_64_TABLE.contains(&s.name());
            let has = table.contains_key(signature::kernel_name(s.name(), KERNEL_NAMES));
            assert!(!(listed && has), "{} has a signature: take it off the lists of exceptions", s.name());
            if !listed && !has {
                missing.push(s.name());
            }
        }
        assert_eq!(missing, Vec::<&str>::new(), "aarch64 calls without a signature");
        for name in NOT_ON_ARM64.iter().chain(NOT_IN_THE_X86_64_TABLE) {
            assert!(name.parse::<Sysno>().is_ok(), "{name} is not in the syscalls crate's aarch64 list");
        }
    }

    #[test]
    fn every_line_of_the_table_parses() {
        let table = signature::parse(SIGNATURES);
        let lines: Vec<_> = SIGNATURES.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        assert_eq!(table.len(), lines.len(), "one entry a line, no name twice");
        assert!(lines.len() > 250, "{} entries", lines.len());
        for line in lines {
            let (name, decls) = line.split_once('\t').unwrap_or((line, ""));
            let declared = if decls.is_empty() { 0 } else { decls.split('\t').count() };
            assert_eq!(table[name].args.len(), declared, "{line:?}");
            assert!(declared <= 6, "{line:?}");
        }
    }

    /// `table.rs`'s presentation types hold on arm64 too (on x86_64 its own
    /// test checks them against x86_64's signatures).
    #[test]
    fn the_presentation_types_agree_with_the_arm64_signatures() {
        let shared = table::SPECIAL.iter().map(|(s, t)| (s.name(), *t));
        for (name, types) in shared.chain(SPECIAL.iter().map(|(s, t)| (s.name(), *t))) {
            assert!(name.parse::<Sysno>().is_ok(), "{name} is not an aarch64 call: it belongs in x86_64.rs");
            let sig = arm64_signature(name).unwrap_or_else(|| panic!("{name} has no aarch64 signature"));
            if name == "rt_sigreturn" {
                continue; // its one "argument" is the signal frame
            }
            assert_eq!(types.len(), sig.args.len(), "{name} takes {} arguments on aarch64", sig.args.len());
        }
    }

    /// The calls whose arm64 signature is not x86_64's, as the kernel source has them.
    #[test]
    fn arm64_differs_from_x86_64_where_the_kernel_does() {
        let names = |s: &str| arm64_signature(s).map(|sig| sig.args.iter().map(|a| a.name).collect::<Vec<_>>());
        // CONFIG_CLONE_BACKWARDS: tls before child_tidptr.
        assert_eq!(names("clone"), Some(vec!["clone_flags", "newsp", "parent_tidptr", "tls", "child_tidptr"]));
        // sys_fadvise64_64: a loff_t length where x86_64's fadvise64 has size_t.
        assert_eq!(arm64_signature("fadvise64").unwrap().args[2].kind, ArgKind::Long);
        assert_eq!(names("personality"), Some(vec!["personality"]));
        assert_eq!(names("fstatat"), Some(vec!["dfd", "filename", "statbuf", "flag"]));
        assert_eq!(names("fstat"), Some(vec!["fd", "statbuf"]));
        assert_eq!(names("sendfile"), Some(vec!["out_fd", "in_fd", "offset", "count"]));
    }
}
