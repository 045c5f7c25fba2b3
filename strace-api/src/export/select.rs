//! Which events the export sends. `Select` is the seam: the drain asks it
//! about every event of every watched process, so an answer must cost a few
//! comparisons and no allocation.
//!
//! `Filters` is a stand-in that accepts a subset of the API's filter
//! language (issue #18) in the same syntax, `key=value` clauses joined by
//! `&`, each one that is given having to hold:
//!
//! - `syscall=NAME[,NAME…]`: the call is one of these,
//! - `failed=true|false`: the call failed (returned an errno) or did not,
//! - `min_duration_us=N`: the call took at least N µs (timed calls only),
//! - `tid=N`: the call was made by thread N.
//!
//! An event is exported when any of the filters matches it (the flag is
//! given once per filter). Strace classes (`class=%file,…`) wait for the
//! shared module, which takes this one's place: it implements `Select` for
//! its parsed filter, and `config::Config::export_selection` builds it
//! instead of `Filters::parse`.
use crate::recorder::Event;

/// Decides which events are exported.
pub trait Select: Send + Sync {
    fn select(&self, ev: &Event) -> bool;
}

/// What is exported unless `--export-filter` says otherwise: failed calls,
/// calls slower than 100 ms, execs and connects.
pub const DEFAULT: [&str; 3] = ["failed=true", "min_duration_us=100000", "syscall=execve,execveat,connect"];

/// Syscall numbers a filter names: a bit each (numbers up to this bound;
/// no native ABI's go higher).
const NRS: usize = 1024;

/// One `&`-joined filter: every clause given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    syscalls: Option<Box<[u64; NRS / 64]>>,
    failed: Option<bool>,
    min_duration_ns: Option<u64>,
    tid: Option<u32>,
}

/// Filters of which any one is to match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters(Vec<Filter>);

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        for clause in text.split('&').filter(|c| !c.trim().is_empty()) {
            let (key, value) =
                clause.split_once('=').ok_or_else(|| format!("{clause:?} is not key=value (in {text:?})"))?;
            let (key, value) = (key.trim(), value.trim());
            let repeated = match key {
                "syscall" => f.syscalls.replace(syscall_set(value)?).is_some(),
                "failed" => f.failed.replace(boolean(key, value)?).is_some(),
                "min_duration_us" => {
                    let us: u64 = value.parse().map_err(|_| format!("min_duration_us={value:?} is not a number"))?;
                    f.min_duration_ns.replace(us.saturating_mul(1000)).is_some()
                }
                "tid" => {
                    let tid = value
                        .parse()
                        .ok()
                        .filter(|&t| t > 0)
                        .ok_or_else(|| format!("tid={value:?} is not a thread id"))?;
                    f.tid.replace(tid).is_some()
                }
                "class" => return Err("class= is not supported by the export yet; name the syscalls".into()),
                other => {
                    return Err(format!("unknown filter key {other:?} (known: syscall, failed, min_duration_us, tid)"));
                }
            };
            if repeated {
                return Err(format!("{key} is given twice in {text:?}"));
            }
        }
        Ok(f)
    }

    #[inline]
    pub fn matches(&self, ev: &Event) -> bool {
        if let Some(set) = &self.syscalls {
            let Ok(nr) = usize::try_from(ev.nr) else { return false };
            if nr >= NRS || set[nr / 64] & (1 << (nr % 64)) == 0 {
                return false;
            }
        }
        if let Some(failed) = self.failed
            && failed != (ev.returns() && (-4095..0).contains(&ev.ret))
        {
            return false;
        }
        if let Some(min) = self.min_duration_ns
            && ev.duration_ns().is_none_or(|d| d < min)
        {
            return false;
        }
        self.tid.is_none_or(|t| t == ev.tid)
    }
}

impl Filters {
    /// Parses each filter; none given means `DEFAULT`.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Filters, String> {
        if texts.is_empty() {
            return Filters::parse(&DEFAULT);
        }
        texts.iter().map(|t| Filter::parse(t.as_ref())).collect::<Result<_, _>>().map(Filters)
    }
}

impl Select for Filters {
    #[inline]
    fn select(&self, ev: &Event) -> bool {
        self.0.iter().any(|f| f.matches(ev))
    }
}

fn syscall_set(value: &str) -> Result<Box<[u64; NRS / 64]>, String> {
    let mut set = Box::new([0u64; NRS / 64]);
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let nr = name
            .parse::<syscalls::Sysno>()
            .map_err(|_| format!("{name:?} is not a syscall of this architecture"))?
            .id() as usize;
        if nr < NRS {
            set[nr / 64] |= 1 << (nr % 64);
        }
    }
    Ok(set)
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key}={value:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strace_common::SyscallRecord;

    fn call(name: &str, ret: i64, duration_ns: u64) -> Event {
        let nr = name.parse::<syscalls::Sysno>().unwrap().id();
        Event {
            nr: Event::stored_nr(nr),
            ret,
            enter_ns: 1000,
            exit_ns: 1000 + duration_ns,
            tid: 7,
            ..Default::default()
        }
    }

    #[test]
    fn the_default_takes_failures_slow_calls_execs_and_connects() {
        let d = Filters::parse::<&str>(&[]).unwrap();
        assert!(d.select(&call("openat", -2, 10)), "failed");
        assert!(d.select(&call("nanosleep", 0, 200_000_000)), "slow");
        assert!(d.select(&call("execve", 0, 10)));
        assert!(d.select(&call("connect", 0, 10)));
        assert!(!d.select(&call("getppid", 1, 10)), "a quick call that worked");
        assert!(!d.select(&call("read", 5, 99_999_000)), "just under 100 ms");
        let exit = Event { flags: SyscallRecord::NO_RETURN, ..call("exit_group", -1, 0) };
        assert!(!d.select(&exit), "a call that does not return has not failed");
    }

    #[test]
    fn clauses_all_hold_and_filters_add_up() {
        let f = Filters::parse(&["syscall=openat,stat&failed=true", "tid=9"]).unwrap();
        assert!(f.select(&call("openat", -2, 0)));
        assert!(!f.select(&call("openat", 3, 0)));
        assert!(!f.select(&call("read", -2, 0)));
        assert!(f.select(&Event { tid: 9, ..call("read", 1, 0) }));
        let slow = Filters::parse(&["min_duration_us=5&failed=false"]).unwrap();
        assert!(slow.select(&call("read", 1, 5000)));
        assert!(!slow.select(&call("read", 1, 4999)));
        let untimed = Event { flags: SyscallRecord::NO_ENTER_TIME, ..call("read", 1, 9_000_000) };
        assert!(!slow.select(&untimed), "an untimed call has no duration to compare");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(Filters::parse(&["syscall=nosuchcall"]).unwrap_err().contains("nosuchcall"));
        assert!(Filters::parse(&["failed=maybe"]).unwrap_err().contains("true or false"));
        assert!(Filters::parse(&["class=%file"]).unwrap_err().contains("not supported"));
        assert!(Filters::parse(&["pid=1"]).unwrap_err().contains("unknown filter key"));
        assert!(Filters::parse(&["failed=true&failed=false"]).unwrap_err().contains("twice"));
        assert!(Filters::parse(&["tid=0"]).unwrap_err().contains("thread"));
        assert!(Filters::parse(&["oops"]).unwrap_err().contains("key=value"));
    }
}
