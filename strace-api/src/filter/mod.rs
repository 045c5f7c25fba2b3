//! Which events a reader wants: strace's `-e trace=` names and classes,
//! `-Z`/`-z` (failed or successful calls only), a least duration, and
//! threads. A plain type: `Filter::parse` from the parameters' text,
//! `Filter::matches(event)`; the HTTP endpoints, the stream and the kernel's
//! per-watch filter ([`SyscallSet::kernel_filter`]) all use it.
mod classes;

use std::fmt;

use strace_common::filter::SyscallFilter;
use syscalls::Sysno;

pub use classes::{CLASS_NAMES, class_members};

use crate::{recorder::Event, syscall};

/// A set of syscall numbers, as strace's `-e trace=LIST` takes it: names and
/// `%classes`, comma-separated, `!` before the list for its complement,
/// `all` for every call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallSet {
    /// Numbers as `Sysno::id`; `negated`: every number but these.
    nrs: Vec<i32>,
    negated: bool,
}

/// What is wrong with a filter parameter: one sentence naming the culprit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

/// The longest list item quoted back in an error.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() { format!("{cut}...") } else { cut }
}

impl SyscallSet {
    /// Every syscall.
    pub fn all() -> SyscallSet {
        SyscallSet { nrs: vec![], negated: true }
    }

    /// `openat,connect,%network`, `!getppid`, `all`. An unknown name or
    /// class is an error that names it; so is an empty list.
    pub fn parse(list: &str) -> Result<SyscallSet, FilterError> {
        let (negated, list) = match list.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, list),
        };
        let mut nrs = vec![];
        for item in list.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(FilterError(format!("empty item in the syscall list {:?}", shown(list))));
            }
            if item.eq_ignore_ascii_case("all") {
                return Ok(SyscallSet { nrs: vec![], negated: !negated });
            }
            if item.starts_with('%') {
                nrs.extend(class_nrs(item)?);
            } else {
                let nr =
                    item.parse::<Sysno>().map_err(|_| FilterError(format!("unknown syscall {:?}", shown(item))))?;
                nrs.push(nr.id());
            }
        }
        nrs.sort_unstable();
        nrs.dedup();
        Ok(SyscallSet { nrs, negated })
    }

    /// Classes only (`%file,%network`; the `%` may be left out).
    pub fn parse_classes(list: &str) -> Result<SyscallSet, FilterError> {
        let mut nrs = vec![];
        for item in list.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(FilterError(format!("empty item in the class list {:?}", shown(list))));
            }
            let class = if item.starts_with('%') { item.to_string() } else { format!("%{item}") };
            nrs.extend(class_nrs(&class)?);
        }
        nrs.sort_unstable();
        nrs.dedup();
        Ok(SyscallSet { nrs, negated: false })
    }

    pub fn contains(&self, nr: i32) -> bool {
        self.nrs.binary_search(&nr).is_ok() != self.negated
    }

    pub fn is_all(&self) -> bool {
        self.negated && self.nrs.is_empty()
    }

    fn union(self, other: SyscallSet) -> SyscallSet {
        match (self.negated, other.negated) {
            (false, false) => {
                let mut nrs = [self.nrs, other.nrs].concat();
                nrs.sort_unstable();
                nrs.dedup();
                SyscallSet { nrs, negated: false }
            }
            // Everything but A, or B: everything but what is in A and not in B.
            (true, _) => {
                SyscallSet { nrs: self.nrs.into_iter().filter(|n| !other.contains(*n)).collect(), negated: true }
            }
            (false, true) => other.union(self),
        }
    }

    /// The bitmap the kernel tests for a watch with this set; `None` for
    /// every call (no filter at all: the watch pays nothing for one).
    pub fn kernel_filter(&self) -> Option<SyscallFilter> {
        if self.is_all() {
            return None;
        }
        let mut f = SyscallFilter::default();
        for s in Sysno::iter() {
            if self.contains(s.id()) {
                f.allow(s.id());
            }
        }
        Some(f)
    }

    /// The names in the set, sorted (for showing a watch's filter).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> =
            Sysno::iter().filter(|s| self.contains(s.id())).map(|s| s.name().to_string()).collect();
        v.sort();
        v
    }
}

/// The numbers of the syscalls of strace class `class` (`%file`; any case).
fn class_nrs(class: &str) -> Result<impl Iterator<Item = i32>, FilterError> {
    let members = class_members(class).ok_or_else(|| {
        FilterError(format!("unknown syscall class {:?}; the classes are {}", shown(class), CLASS_NAMES.join(", ")))
    })?;
    Ok(members.iter().filter_map(|name| name.parse::<Sysno>().ok()).map(|s| s.id()))
}

/// The filter parameters as text, as a query string or a config gives them.
#[derive(Clone, Debug, Default)]
pub struct FilterSpec<'a> {
    /// `openat,connect` (strace's trace= list: names, `%classes`, `!`).
    pub syscall: Option<&'a str>,
    /// `%file,%network`.
    pub class: Option<&'a str>,
    /// true: failed calls only (strace -Z); false: successful ones only (-z).
    pub failed: Option<bool>,
    /// Calls that took at least this long.
    pub min_duration_us: Option<u64>,
    /// `1234,1235`: these threads only.
    pub tid: Option<&'a str>,
}

/// Which events a reader wants. `Filter::default()` lets every one through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None`: every syscall.
    syscalls: Option<SyscallSet>,
    failed: Option<bool>,
    min_duration_ns: Option<u64>,
    /// Sorted; `None`: every thread.
    tids: Option<Vec<u32>>,
}

impl Filter {
    /// `durations`: whether the daemon times calls (a least duration needs it).
    pub fn parse(spec: &FilterSpec, durations: bool) -> Result<Filter, FilterError> {
        let names = spec.syscall.map(SyscallSet::parse).transpose()?;
        let classes = spec.class.map(SyscallSet::parse_classes).transpose()?;
        let syscalls = match (names, classes) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        };
        let min_duration_ns = match spec.min_duration_us {
            Some(_) if !durations => {
                return Err(FilterError(
                    "min_duration_us, but the daemon runs with --durations false: calls are not timed".into(),
                ));
            }
            Some(us) => {
                Some(us.checked_mul(1000).ok_or_else(|| FilterError(format!("min_duration_us {us} is too large")))?)
            }
            None => None,
        };
        let tids = spec
            .tid
            .map(|list| {
                let mut tids = list
                    .split(',')
                    .map(|t| match t.trim().parse::<i32>() {
                        Ok(n) if n > 0 => Ok(n as u32),
                        _ => Err(FilterError(format!("tid must be positive integers, not {:?}", shown(t)))),
                    })
                    .collect::<Result<Vec<u32>, _>>()?;
                tids.sort_unstable();
                tids.dedup();
                Ok(tids)
            })
            .transpose()?;
        Ok(Filter { syscalls, failed: spec.failed, min_duration_ns, tids })
    }

    /// Whether it lets every event through.
    pub fn is_everything(&self) -> bool {
        *self == Filter::default()
    }

    pub fn matches(&self, ev: &Event) -> bool {
        if let Some(set) = &self.syscalls
            && !set.contains(ev.nr())
        {
            return false;
        }
        if let Some(tids) = &self.tids
            && tids.binary_search(&ev.tid).is_err()
        {
            return false;
        }
        if let Some(failed) = self.failed
            && failed != Filter::failed(ev)
        {
            return false;
        }
        if let Some(min) = self.min_duration_ns
            && ev.duration_ns().is_none_or(|d| d < min)
        {
            return false;
        }
        true
    }

    /// Whether the call failed, as strace -Z and the summary's errors
    /// column count it: it returned, and an error.
    pub fn failed(ev: &Event) -> bool {
        ev.returns() && syscall::errno_of(ev.ret).is_some()
    }
}

#[cfg(test)]
mod tests {
    use strace_common::SyscallRecord;

    use super::*;

    fn ev(s: Sysno, ret: i64, tid: u32, duration_ns: u64) -> Event {
        Event {
            nr: Event::stored_nr(s.id()),
            ret,
            tid,
            enter_ns: 1_000,
            exit_ns: 1_000 + duration_ns,
            ..Default::default()
        }
    }

    fn parse(syscall: Option<&str>, class: Option<&str>) -> Result<Filter, FilterError> {
        Filter::parse(&FilterSpec { syscall, class, ..Default::default() }, true)
    }

    #[test]
    fn names_and_classes_make_one_set() {
        let f = parse(Some("openat,connect"), None).unwrap();
        assert!(f.matches(&ev(Sysno::openat, 3, 1, 0)) && f.matches(&ev(Sysno::connect, 0, 1, 0)));
        assert!(!f.matches(&ev(Sysno::getppid, 1, 1, 0)));
        let f = parse(Some("getppid"), Some("%network")).unwrap();
        assert!(f.matches(&ev(Sysno::getppid, 1, 1, 0)) && f.matches(&ev(Sysno::sendto, 1, 1, 0)));
        assert!(!f.matches(&ev(Sysno::openat, 3, 1, 0)));
        let f = parse(None, Some("file,%DESC")).unwrap();
        assert!(f.matches(&ev(Sysno::read, 1, 1, 0)) && f.matches(&ev(Sysno::chdir, 0, 1, 0)));
        assert!(parse(Some("all"), None).unwrap().matches(&ev(Sysno::getppid, 1, 1, 0)));
        let not = parse(Some("!getppid,%network"), None).unwrap();
        assert!(!not.matches(&ev(Sysno::getppid, 1, 1, 0)) && !not.matches(&ev(Sysno::connect, 0, 1, 0)));
        assert!(not.matches(&ev(Sysno::openat, 3, 1, 0)));
        assert!(Filter::default().is_everything() && Filter::default().matches(&ev(Sysno::getppid, 1, 1, 0)));
    }

    #[test]
    fn unknown_names_and_classes_are_named() {
        assert_eq!(parse(Some("openat,opnat"), None).unwrap_err().0, "unknown syscall \"opnat\"");
        let e = parse(None, Some("%file,%fil")).unwrap_err().0;
        assert!(e.starts_with("unknown syscall class \"%fil\"; the classes are %desc, %file"), "{e}");
        assert!(parse(Some("%bogus"), None).unwrap_err().0.contains("%bogus"));
        assert!(parse(Some("openat,,read"), None).unwrap_err().0.contains("empty item"));
        assert!(parse(Some(""), None).is_err());
        assert!(parse(Some(&"x".repeat(500)), None).unwrap_err().0.len() < 100, "not echoed whole");
    }

    #[test]
    fn failed_duration_and_threads() {
        let spec = FilterSpec { failed: Some(true), min_duration_us: Some(5), tid: Some("7, 9"), ..Default::default() };
        let f = Filter::parse(&spec, true).unwrap();
        assert!(f.matches(&ev(Sysno::openat, -2, 7, 5_000)));
        assert!(!f.matches(&ev(Sysno::openat, -2, 7, 4_999)), "too short");
        assert!(!f.matches(&ev(Sysno::openat, 3, 7, 9_000)), "succeeded");
        assert!(!f.matches(&ev(Sysno::openat, -2, 8, 9_000)), "another thread");
        let exit = Event { flags: SyscallRecord::NO_RETURN, ..ev(Sysno::exit_group, 0, 7, 0) };
        assert!(!Filter::failed(&exit));
        let ok = Filter::parse(&FilterSpec { failed: Some(false), ..Default::default() }, true).unwrap();
        assert!(ok.matches(&ev(Sysno::openat, 3, 7, 0)) && !ok.matches(&ev(Sysno::openat, -2, 7, 0)));
        let untimed = Event { flags: SyscallRecord::NO_ENTER_TIME, ..ev(Sysno::openat, 3, 7, 0) };
        let slow = Filter::parse(&FilterSpec { min_duration_us: Some(0), ..Default::default() }, true).unwrap();
        assert!(!slow.matches(&untimed), "no duration: not known to be slow");
        let e = Filter::parse(&FilterSpec { min_duration_us: Some(1), ..Default::default() }, false).unwrap_err();
        assert!(e.0.contains("--durations false"));
        for bad in ["0", "-1", "x", "1,,2"] {
            let e = Filter::parse(&FilterSpec { tid: Some(bad), ..Default::default() }, true).unwrap_err();
            assert!(e.0.contains("tid must be"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_kernel_gets_a_bitmap_of_exactly_the_set() {
        assert_eq!(SyscallSet::parse("all").unwrap().kernel_filter(), None);
        let k = SyscallSet::parse("%file,connect").unwrap().kernel_filter().unwrap();
        assert!(k.allows(Sysno::openat.id()) && k.allows(Sysno::connect.id()) && k.allows(Sysno::execve.id()));
        assert!(!k.allows(Sysno::getppid.id()) && !k.allows(Sysno::read.id()));
        let not = SyscallSet::parse("!getppid").unwrap().kernel_filter().unwrap();
        assert!(!not.allows(Sysno::getppid.id()) && not.allows(Sysno::read.id()));
        assert_eq!(SyscallSet::parse("connect,openat").unwrap().names(), ["connect", "openat"]);
    }
}
