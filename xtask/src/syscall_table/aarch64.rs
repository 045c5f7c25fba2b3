//! `cargo xtask syscall-table --derive aarch64`: the aarch64 signature table,
//! derived from the x86_64 one when no arm64 kernel's tracefs is at hand.
//!
//! arm64 has the calls of the kernel's generic syscall table (the 64-bit ABI
//! of `scripts/syscall.tbl`): x86_64's less the legacy ones, each defined by
//! the same `SYSCALL_DEFINE` and so with the same signature. The exceptions,
//! each checked against the kernel source, are the rules below. A call of the
//! `syscalls` crate's aarch64 list that x86_64 lacks and no rule covers stops
//! the derivation: it is never left out unsaid.
use std::collections::BTreeMap;

use anyhow::{Result, bail};
use syscalls::{aarch64::Sysno as Arm64, x86_64::Sysno as X86_64};

/// Calls whose kernel function, after which tracefs names the entries, is
/// named otherwise on every architecture (as `KERNEL_NAMES` in
/// strace-api/src/syscall/signature.rs).
const KERNEL_NAMES: &[(&str, &str)] = &[
    ("stat", "newstat"),
    ("fstat", "newfstat"),
    ("lstat", "newlstat"),
    ("uname", "newuname"),
    ("sendfile", "sendfile64"),
    ("umount2", "umount"),
];

enum Args {
    /// The x86_64 table's entry of this name.
    Like(&'static str),
    /// Written here from the kernel source: "C type name" per argument.
    Written(&'static [&'static str]),
}

struct Rule {
    /// As the `syscalls` crate names it.
    call: &'static str,
    /// The arm64 kernel's function, after which the entry is named.
    entry: &'static str,
    args: Args,
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        call: "clone",
        entry: "clone",
        args: Args::Written(&[
            "unsigned long clone_flags",
            "unsigned long newsp",
            "int * parent_tidptr",
            "unsigned long tls",
            "int * child_tidptr",
        ]),
        why: "arm64 selects CONFIG_CLONE_BACKWARDS: tls before child_tidptr (kernel/fork.c)",
    },
    Rule {
        call: "fadvise64",
        entry: "fadvise64_64",
        args: Args::Written(&["int fd", "loff_t offset", "loff_t len", "int advice"]),
        why: "the generic table's fadvise64 is sys_fadvise64_64, with a loff_t length (mm/fadvise.c)",
    },
    Rule {
        call: "personality",
        entry: "arm64_personality",
        args: Args::Like("personality"),
        why: "SYSCALL_DEFINE1(arm64_personality, unsigned int, personality) (arch/arm64/kernel/sys.c)",
    },
    Rule {
        call: "fstatat",
        entry: "newfstatat",
        args: Args::Like("newfstatat"),
        why: "the syscalls crate's name for 79, the kernel's newfstatat (sys_newfstatat)",
    },
];

/// In the `syscalls` crate's aarch64 list, but only in the generic table's
/// 32-bit ABI (abi `32` in scripts/syscall.tbl): an arm64 kernel has no such
/// call (ENOSYS).
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

pub struct Derived {
    pub text: String,
    pub entries: usize,
    /// Calls that x86_64 has too but its table does not (so neither does this one).
    pub not_in_x86_64_table: Vec<&'static str>,
}

/// The aarch64 table from the x86_64 one's text.
pub fn derive(x86_64: &str) -> Result<Derived> {
    derive_with(x86_64, RULES, NOT_ON_ARM64)
}

fn derive_with(x86_64: &str, rules: &[Rule], not_on_arm64: &[&'static str]) -> Result<Derived> {
    let source: BTreeMap<&str, Vec<&str>> = x86_64
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split('\t');
            (fields.next().unwrap_or_default(), fields.collect())
        })
        .collect();
    let known = |name: &str| Arm64::iter().any(|s| s.name() == name);
    for name in rules.iter().map(|r| r.call).chain(not_on_arm64.iter().copied()) {
        if !known(name) {
            bail!("{name} is not in the syscalls crate's aarch64 list: drop its rule");
        }
    }
    let mut table: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut not_in_x86_64_table = Vec::new();
    for call in Arm64::iter().map(|s| s.name()) {
        if not_on_arm64.contains(&call) {
            continue;
        }
        let (entry, args) = match rules.iter().find(|r| r.call == call) {
            Some(Rule { entry, args: Args::Written(args), .. }) => (*entry, args.to_vec()),
            Some(Rule { entry, args: Args::Like(like), .. }) => match source.get(like) {
                Some(args) => (*entry, args.clone()),
                None => bail!("{call}: the x86_64 table has no {like} to take its arguments from"),
            },
            None => {
                if call.parse::<X86_64>().is_err() {
                    bail!(
                        "{call} is an aarch64 call that x86_64 lacks: add a rule for it (or list it as not \
                         an arm64 call) in xtask/src/syscall_table/aarch64.rs"
                    );
                }
                let entry = KERNEL_NAMES.iter().find(|(n, _)| *n == call).map_or(call, |(_, k)| k);
                match source.get(entry) {
                    Some(args) => (entry, args.clone()),
                    None => {
                        not_in_x86_64_table.push(call);
                        continue;
                    }
                }
            }
        };
        if let Some(before) = table.insert(entry, args.clone())
            && before != args
        {
            bail!("two aarch64 calls file different signatures under {entry}");
        }
    }

    let provenance = x86_64
        .lines()
        .find_map(|l| l.split_once("from tracefs on ").map(|(_, rest)| rest.split(';').next().unwrap_or(rest)))
        .unwrap_or("an unnamed kernel");
    let mut text = String::new();
    let mut comment = |paragraph: String| wrap(&mut text, &paragraph);
    comment("Syscall signatures for aarch64: name, then one tab-separated \"C type name\" per argument.".into());
    comment(format!(
        "Derived by `cargo xtask syscall-table --derive aarch64` from x86_64.txt (read from tracefs on \
         {provenance}), not read from an arm64 kernel: arm64's calls are those of the kernel's generic syscall \
         table, each defined by the same SYSCALL_DEFINE as on x86_64, except (xtask/src/syscall_table/aarch64.rs):"
    ));
    for r in rules {
        let how = match r.args {
            Args::Like(like) if like == r.entry => format!("as x86_64's {like}"),
            Args::Like(like) => format!("with x86_64's {like} arguments"),
            Args::Written(_) => "from the kernel source".into(),
        };
        comment(format!("- {}, filed as {}, {how}: {}.", r.call, r.entry, r.why));
    }
    comment(format!("No entry, 32-bit ABI only (no such call on arm64): {}.", not_on_arm64.join(", ")));
    comment(format!("No entry, none in the x86_64 table either: {}.", not_in_x86_64_table.join(", ")));
    comment("Do not edit. On an arm64 host, `cargo xtask syscall-table` reads the kernel's own instead.".into());
    let mut line = |l: String| {
        text.push_str(&l);
        text.push('\n');
    };
    for (entry, args) in &table {
        line(std::iter::once(*entry).chain(args.iter().copied()).collect::<Vec<_>>().join("\t"));
    }
    Ok(Derived { text, entries: table.len(), not_in_x86_64_table })
}

/// `# paragraph` as comment lines of at most 118 characters.
fn wrap(text: &mut String, paragraph: &str) {
    let mut line = String::from("#");
    for word in paragraph.split(' ') {
        if line.len() + 1 + word.len() > 118 && line.len() > 4 {
            text.push_str(&line);
            text.push('\n');
            line = String::from("#  ");
        }
        line.push(' ');
        line.push_str(word);
    }
    text.push_str(&line);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_64: &str = include_str!("../../../strace-api/src/syscall/signatures/x86_64.txt");
    const AARCH64: &str = include_str!("../../../strace-api/src/syscall/signatures/aarch64.txt");

    /// The committed file is what the derivation makes of the committed x86_64
    /// table (unless it was read from an arm64 kernel).
    #[test]
    fn the_committed_aarch64_table_is_derived_from_the_x86_64_one() {
        if !AARCH64.contains("Derived by `cargo xtask syscall-table --derive aarch64`") {
            eprintln!("aarch64.txt was not derived; nothing to compare");
            return;
        }
        let derived = derive(X86_64).unwrap();
        assert!(derived.text == AARCH64, "aarch64.txt is stale: run `cargo xtask syscall-table --derive aarch64`");
    }

    #[test]
    fn the_rules_are_applied() {
        let derived = derive(X86_64).unwrap();
        let entry = |name: &str| derived.text.lines().find(|l| l.split('\t').next() == Some(name)).map(str::to_string);
        assert_eq!(entry("arm64_personality").as_deref(), Some("arm64_personality\tunsigned int personality"));
        assert_eq!(entry("personality"), None);
        assert!(entry("clone").unwrap().ends_with("\tunsigned long tls\tint * child_tidptr"));
        assert!(entry("fadvise64_64").unwrap().contains("\tloff_t len\t"));
        assert_eq!(entry("fadvise64"), None);
        assert!(entry("newfstatat").is_some() && entry("newfstat").is_some());
        // x86_64 only.
        assert_eq!(entry("open"), None);
        assert_eq!(entry("arch_prctl"), None);
        assert!(entry("openat").is_some());
    }

    #[test]
    fn a_call_x86_64_lacks_stops_the_derivation() {
        let err = derive_with(X86_64, RULES, &NOT_ON_ARM64[1..]).err().expect("an error").to_string();
        assert!(err.contains("clock_gettime64 is an aarch64 call that x86_64 lacks"), "{err}");
        let err = derive_with(X86_64, &RULES[1..], NOT_ON_ARM64).err();
        assert!(err.is_none(), "clone is an x86_64 call too, derived as x86_64's without its rule");
        let err = derive_with(X86_64, RULES, &["open"]).err().expect("an error").to_string();
        assert!(err.contains("open is not in the syscalls crate's aarch64 list"), "{err}");
    }
}
