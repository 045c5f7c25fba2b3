//! Which events the export sends. `Select` is the seam: the drain asks it
//! about every event of every watched process, so an answer must cost a few
//! comparisons and no allocation.
//!
//! `Filters` is the API's filter language (`crate::filter`, as the events
//! endpoints take it) in a query string's syntax: `key=value` clauses joined
//! by `&` (`syscall=`, `class=`, `failed=`, `min_duration_us=`, `tid=`), each
//! one given having to hold; an event is exported when any of the filters
//! matches it (the flag is given once per filter). A filter is read as a
//! query string is (serde_urlencoded, as axum reads the endpoints' own).
use serde::Deserialize;

use crate::{
    filter::{Filter, FilterSpec},
    recorder::Event,
};

/// Decides which events are exported.
pub trait Select: Send + Sync {
    fn select(&self, ev: &Event) -> bool;
}

/// What is exported unless `--export-filter` says otherwise: failed calls,
/// calls slower than 100 ms, execs and connects.
pub const DEFAULT: [&str; 3] = ["failed=true", "min_duration_us=100000", "syscall=execve,execveat,connect"];

/// Filters of which any one is to match.
#[derive(Clone, Debug, Default)]
pub struct Filters(Vec<Filter>);

impl Filters {
    /// Parses each filter; none given means `DEFAULT`. `durations`: whether
    /// calls are timed (a least duration needs it).
    pub fn parse<S: AsRef<str>>(texts: &[S], durations: bool) -> Result<Filters, String> {
        if texts.is_empty() {
            // Without durations the slow-call default has nothing to compare.
            let default: Vec<&str> = DEFAULT.iter().copied().filter(|f| durations || !f.starts_with("min_")).collect();
            return Filters::parse(&default, durations);
        }
        texts.iter().map(|t| one(t.as_ref(), durations)).collect::<Result<_, _>>().map(Filters)
    }
}

/// One `&`-joined filter: the event endpoints' filter parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Clauses {
    syscall: Option<String>,
    class: Option<String>,
    failed: Option<bool>,
    min_duration_us: Option<u64>,
    tid: Option<String>,
}

/// One `&`-joined filter, in the API's language.
fn one(text: &str, durations: bool) -> Result<Filter, String> {
    let c: Clauses = serde_urlencoded::from_str(text).map_err(|e| format!("{text:?}: {e}"))?;
    let spec = FilterSpec {
        syscall: c.syscall.as_deref(),
        class: c.class.as_deref(),
        failed: c.failed,
        min_duration_us: c.min_duration_us,
        tid: c.tid.as_deref(),
    };
    Filter::parse(&spec, durations).map_err(|e| e.0)
}

impl Select for Filters {
    #[inline]
    fn select(&self, ev: &Event) -> bool {
        self.0.iter().any(|f| f.matches(ev))
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
        let d = Filters::parse::<&str>(&[], true).unwrap();
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
        let f = Filters::parse(&["syscall=openat,stat&failed=true", "tid=9"], true).unwrap();
        assert!(f.select(&call("openat", -2, 0)));
        assert!(!f.select(&call("openat", 3, 0)));
        assert!(!f.select(&call("read", -2, 0)));
        assert!(f.select(&Event { tid: 9, ..call("read", 1, 0) }));
        let slow = Filters::parse(&["min_duration_us=5&failed=false"], true).unwrap();
        assert!(slow.select(&call("read", 1, 5000)));
        assert!(!slow.select(&call("read", 1, 4999)));
        let untimed = Event { flags: SyscallRecord::NO_ENTER_TIME, ..call("read", 1, 9_000_000) };
        assert!(!slow.select(&untimed), "an untimed call has no duration to compare");
    }

    /// The API's classes: strace's own.
    #[test]
    fn classes_as_the_api_takes_them() {
        let net = Filters::parse(&["class=%network&failed=true"], true).unwrap();
        assert!(net.select(&call("connect", -111, 0)));
        assert!(!net.select(&call("openat", -2, 0)), "not a network call");
        let file = Filters::parse(&["class=file"], true).unwrap();
        assert!(file.select(&call("openat", 3, 0)));
        assert!(!file.select(&call("getppid", 1, 0)));
        let untimed = Filters::parse::<&str>(&[], false).unwrap();
        assert!(untimed.select(&call("openat", -2, 0)), "the default without durations: no slow-call filter");
        assert!(Filters::parse(&["min_duration_us=5"], false).unwrap_err().contains("--durations false"));
    }

    #[test]
    fn mistakes_are_named() {
        let e = |f: &str| Filters::parse(&[f], true).unwrap_err();
        assert!(e("syscall=nosuchcall").contains("nosuchcall"));
        assert!(e("failed=maybe").contains("`true` or `false`"));
        assert!(e("class=%nosuchclass").contains("nosuchclass"));
        assert!(e("pid=1").contains("unknown field `pid`, expected one of `syscall`"));
        assert!(e("failed=true&failed=false").contains("duplicate field `failed`"));
        assert!(e("tid=x").contains("tid"));
        assert!(e("min_duration_us=soon").contains("min_duration_us=soon"));
        assert!(e("oops").contains("unknown field `oops`"));
    }

    /// Read as a query string is: percent-escapes and `+` decoded.
    #[test]
    fn a_filter_is_read_as_a_query_string() {
        let f = Filters::parse(&["class=%25network&failed=true"], true).unwrap();
        assert!(f.select(&call("connect", -111, 0)), "a failed network call");
        assert!(!f.select(&call("connect", 0, 0)) && !f.select(&call("openat", -2, 0)), "both clauses hold");
        let f = Filters::parse(&["syscall=connect%2Copenat"], true).unwrap();
        assert!(f.select(&call("openat", 0, 0)) && f.select(&call("connect", 0, 0)));
    }
}
