//! `strace -c`'s table over events: per syscall its calls, errors and time,
//! the share of the time, and (unlike strace) latency percentiles. Times
//! are each call's entry-to-exit time, as `strace -c -w` counts them
//! ("wall clock"), not the system time plain `strace -c` reads from the
//! kernel; `text` prints the table as strace does.
use std::{borrow::Cow, collections::BTreeMap, fmt::Write as _};

use crate::{filter::Filter, recorder::Event, syscall};

/// Latency of one syscall's calls that were timed, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    pub avg: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub nr: i32,
    pub name: Cow<'static, str>,
    pub calls: u64,
    /// Calls that returned an error (`errno` set), as strace counts them.
    pub errors: u64,
    /// The sum of the calls' durations; calls without one (that never
    /// returned, or with durations off) add nothing.
    pub time_ns: u64,
    /// Calls with a duration, of which `latency` is; `None` when none.
    pub timed: u64,
    pub latency: Option<Latency>,
}

impl Row {
    /// Its share of `total_ns`, in percent (0 when nothing took time).
    pub fn percent(&self, total_ns: u64) -> f64 {
        if total_ns == 0 { 0.0 } else { 100.0 * self.time_ns as f64 / total_ns as f64 }
    }

    /// strace's usecs/call: the time over all calls, truncated.
    pub fn usecs_per_call(&self) -> u64 {
        self.time_ns.checked_div(self.calls).unwrap_or(0) / 1000
    }
}

/// The table: rows sorted as strace sorts them (by time, most first), and
/// the total over all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub rows: Vec<Row>,
    pub total: Row,
}

/// Counts events into a table.
#[derive(Debug, Default)]
pub struct Tally {
    by_nr: BTreeMap<i32, (u64, u64, Vec<u64>)>,
}

impl Tally {
    pub fn add(&mut self, ev: &Event) {
        let (calls, errors, durations) = self.by_nr.entry(ev.nr()).or_default();
        *calls += 1;
        *errors += u64::from(Filter::failed(ev));
        if let Some(d) = ev.duration_ns() {
            durations.push(d);
        }
    }

    pub fn finish(self) -> Summary {
        let mut all = vec![];
        let mut rows: Vec<Row> = self
            .by_nr
            .into_iter()
            .map(|(nr, (calls, errors, mut durations))| {
                all.extend_from_slice(&durations);
                row(nr, syscall::name(nr), calls, errors, &mut durations)
            })
            .collect();
        rows.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(b.calls.cmp(&a.calls)).then(a.name.cmp(&b.name)));
        let calls = rows.iter().map(|r| r.calls).sum();
        let errors = rows.iter().map(|r| r.errors).sum();
        let total = row(-1, "total".into(), calls, errors, &mut all);
        Summary { rows, total }
    }
}

fn row(nr: i32, name: Cow<'static, str>, calls: u64, errors: u64, durations: &mut [u64]) -> Row {
    durations.sort_unstable();
    let time_ns = durations.iter().sum();
    Row { nr, name, calls, errors, time_ns, timed: durations.len() as u64, latency: latency(durations) }
}

/// Percentiles by nearest rank over sorted durations.
fn latency(sorted: &[u64]) -> Option<Latency> {
    let n = sorted.len();
    let max = *sorted.last()?;
    let rank = |p: usize| sorted[(p * n).div_ceil(100).clamp(1, n) - 1];
    Some(Latency { avg: sorted.iter().sum::<u64>() / n as u64, p50: rank(50), p95: rank(95), p99: rank(99), max })
}

impl Summary {
    /// The table as `strace -c -w` prints it: the same columns, widths,
    /// number formats and sort, an empty errors cell for none, and the
    /// total line last.
    pub fn text(&self) -> String {
        let total_ns = self.total.time_ns;
        let secs = |ns: u64| format!("{:.6}", ns as f64 / 1e9);
        let w_secs = 11.max(secs(total_ns).len());
        let w_avg = 11.max(self.rows.iter().map(|r| r.usecs_per_call().to_string().len()).max().unwrap_or(1));
        let w_calls = 9.max(self.total.calls.to_string().len());
        let w_errors = 9.max(self.total.errors.to_string().len());
        let w_name = 16.max(self.rows.iter().map(|r| r.name.len() + 1).max().unwrap_or(0));
        let mut out = String::new();
        let line = |out: &mut String, pct: f64, r: &Row, name: &str| {
            let errors = if r.errors == 0 { String::new() } else { r.errors.to_string() };
            writeln!(
                out,
                "{pct:>6.2} {:>w_secs$} {:>w_avg$} {:>w_calls$} {errors:>w_errors$} {name}",
                secs(r.time_ns),
                r.usecs_per_call(),
                r.calls
            )
            .expect("writing to a String");
        };
        let rule = format!(
            "{} {} {} {} {} {}\n",
            "-".repeat(6),
            "-".repeat(w_secs),
            "-".repeat(w_avg),
            "-".repeat(w_calls),
            "-".repeat(w_errors),
            "-".repeat(w_name)
        );
        writeln!(
            out,
            "{:>6} {:>w_secs$} {:>w_avg$} {:>w_calls$} {:>w_errors$} syscall",
            "% time", "seconds", "usecs/call", "calls", "errors"
        )
        .expect("writing to a String");
        out.push_str(&rule);
        for r in &self.rows {
            line(&mut out, r.percent(total_ns), r, &r.name);
        }
        out.push_str(&rule);
        line(&mut out, 100.0, &self.total, "total");
        out
    }

    /// What strace -c lacks: each syscall's latency percentiles, in
    /// microseconds, in the table's order (for the text form's `latency=true`).
    pub fn latency_text(&self) -> String {
        let w_name = 7.max(self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0));
        let mut out = format!(
            "{:<w_name$} {:>9} {:>11} {:>11} {:>11} {:>11} {:>11}\n",
            "syscall", "timed", "avg(us)", "p50(us)", "p95(us)", "p99(us)", "max(us)"
        );
        let us = |ns: u64| format!("{:.3}", ns as f64 / 1000.0);
        for r in self.rows.iter().chain([&self.total]) {
            let Some(l) = r.latency else { continue };
            writeln!(
                out,
                "{:<w_name$} {:>9} {:>11} {:>11} {:>11} {:>11} {:>11}",
                r.name,
                r.timed,
                us(l.avg),
                us(l.p50),
                us(l.p95),
                us(l.p99),
                us(l.max)
            )
            .expect("writing to a String");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use strace_common::SyscallRecord;
    use syscalls::Sysno;

    use super::*;

    fn ev(s: Sysno, ret: i64, duration_ns: u64) -> Event {
        Event { nr: Event::stored_nr(s.id()), ret, enter_ns: 1_000, exit_ns: 1_000 + duration_ns, ..Default::default() }
    }

    fn summary(events: &[Event]) -> Summary {
        let mut t = Tally::default();
        for e in events {
            t.add(e);
        }
        t.finish()
    }

    #[test]
    fn counts_times_and_percentiles() {
        let mut events: Vec<Event> = (1..=100).map(|i| ev(Sysno::read, 10, i * 1000)).collect();
        events.push(ev(Sysno::openat, -2, 500_000));
        events.push(ev(Sysno::openat, 3, 1_500_000));
        events.push(Event { flags: SyscallRecord::NO_RETURN, ..ev(Sysno::exit_group, 0, 0) });
        let s = summary(&events);
        let names: Vec<_> = s.rows.iter().map(|r| r.name.as_ref()).collect();
        assert_eq!(names, ["read", "openat", "exit_group"], "most time first");
        let openat = &s.rows[1];
        assert_eq!((openat.calls, openat.errors, openat.time_ns), (2, 1, 2_000_000));
        let read = &s.rows[0];
        assert_eq!(read.time_ns, 5_050_000);
        assert_eq!(read.latency, Some(Latency { avg: 50_500, p50: 50_000, p95: 95_000, p99: 99_000, max: 100_000 }));
        let exit = &s.rows[2];
        assert_eq!((exit.calls, exit.timed, exit.latency, exit.errors), (1, 0, None, 0), "no return, no time");
        assert_eq!((s.total.calls, s.total.errors, s.total.time_ns, s.total.timed), (103, 1, 7_050_000, 102));
        assert!((openat.percent(s.total.time_ns) - 28.368).abs() < 0.001);
        assert_eq!(Tally::default().finish().total.calls, 0);
    }

    /// Reads a table the way a parser of strace -c's output does: rows of
    /// five or six fields (the errors cell is empty for none) between the
    /// dashed lines, then the total.
    fn parse(text: &str) -> Vec<(f64, f64, u64, u64, u64, String)> {
        let mut lines = text.lines();
        let head: Vec<_> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(head, ["%", "time", "seconds", "usecs/call", "calls", "errors", "syscall"]);
        assert!(lines.next().unwrap().chars().all(|c| c == '-' || c == ' '));
        lines
            .filter(|l| !l.starts_with("---"))
            .map(|l| {
                let f: Vec<_> = l.split_whitespace().collect();
                let (errors, name) = if f.len() == 6 { (f[4].parse().unwrap(), f[5]) } else { (0, f[4]) };
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    errors,
                    name.into(),
                )
            })
            .collect()
    }

    #[test]
    fn the_text_is_strace_c_w() {
        let events = [ev(Sysno::openat, -2, 12_000), ev(Sysno::openat, 3, 8_000), ev(Sysno::getppid, 1, 2_000)];
        let text = summary(&events).text();
        let expected = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 90.91    0.000020          10         2         1 openat
  9.09    0.000002           2         1           getppid
------ ----------- ----------- --------- --------- ----------------
100.00    0.000022           7         3         1 total
";
        assert_eq!(text, expected);
        let rows = parse(&text);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], (9.09, 0.000002, 2, 1, 0, "getppid".into()));
        assert_eq!(rows[2].5, "total");
        // A long name widens its column; big numbers widen theirs.
        let mut many: Vec<Event> = (0..123_456).map(|_| ev(Sysno::getppid, 1, 0)).collect();
        many.push(ev(Sysno::rt_sigprocmask, 0, 3_000_000_000));
        let text = summary(&many).text();
        assert!(text.lines().nth(1).unwrap().ends_with(&"-".repeat(15 + 1)), "{text}");
        let rows = parse(&text);
        assert_eq!((rows[0].1, rows[0].5.as_str()), (3.0, "rt_sigprocmask"));
        assert_eq!(rows.last().unwrap().3, 123_457);
        assert!(summary(&events).latency_text().contains("openat"));
    }
}
