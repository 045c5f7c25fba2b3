//! strace's own output, read back: `strace -f -o FILE` (optionally with
//! `-ttt` and `-T`), one call per line prefixed with its thread id, split
//! into calls per thread with `<unfinished ...>` / `<... resumed>` pairs
//! joined into the one line strace would have printed without the
//! interleaving.
use std::collections::HashMap;

/// One syscall as strace printed it.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    /// The arguments as printed, without the closing parenthesis.
    pub args: String,
    /// The return value: a number, `-errno` for a failure (`-1 ENOENT
    /// (…)`), `None` for `?` (no return, or a call a signal interrupted).
    pub ret: Option<i64>,
    /// The error's name when the call failed: `ENOENT`, or `ERESTARTSYS`
    /// for `? ERESTARTSYS (…)`.
    pub errno: Option<String>,
    /// strace -T's duration, in microseconds.
    pub duration_us: Option<f64>,
    /// The whole line, `name(args) = ret`, as strace prints it: resumed
    /// calls joined, without the thread id, the time stamp or the duration,
    /// and with strace's column padding before ` = ` squeezed to one space.
    pub text: String,
}

impl Call {
    /// Whether `ev` (an event of the daemon's API) is this call: the same
    /// name, and the same error, or the same return value.
    pub fn is(&self, ev: &serde_json::Value) -> bool {
        ev["syscall"] == self.name.as_str()
            && match &self.errno {
                Some(e) => ev["errno"] == e.as_str(),
                None => ev["ret"].as_i64() == self.ret,
            }
    }
}

pub fn errno_numbers() -> HashMap<&'static str, i64> {
    (1..4096).filter_map(|n| syscalls::Errno::new(n).name().map(|name| (name, n as i64))).collect()
}

/// strace's return column: `3`, `0x7f…`, `-1 ENOENT (…)`, `?`,
/// `? ERESTARTSYS (…)`, `3</etc/hosts>` (-y): the value and the error's name.
fn parse_ret(s: &str, errnos: &HashMap<&str, i64>) -> (Option<i64>, Option<String>) {
    let mut words = s.split_whitespace();
    let Some(first) = words.next() else { return (None, None) };
    let first = first.split('<').next().unwrap_or(first);
    let errno = words.next().filter(|w| errnos.contains_key(w)).map(str::to_string);
    if first == "?" {
        return (None, errno);
    }
    if first == "-1"
        && let Some(e) = &errno
    {
        return (Some(-errnos[e.as_str()]), errno);
    }
    let value = match first.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => first.parse().ok(),
    };
    (value, None)
}

/// strace pads a call to a column before ` = `: `close(3)      = 0` reads
/// `close(3) = 0`. Only the spaces between the closing parenthesis of the
/// arguments and the `=` of the return are squeezed.
pub fn squeeze(line: &str) -> String {
    let bytes = line.as_bytes();
    // The last ") " followed by spaces and "= ": the return's separator
    // (a return's own text, `= -1 ENOENT (…)`, has no "= " after it).
    let mut i = bytes.len();
    while let Some(p) = line[..i].rfind(')') {
        let rest = &line[p + 1..];
        let spaces = rest.len() - rest.trim_start_matches(' ').len();
        if spaces >= 1 && rest[spaces..].starts_with("= ") {
            return format!("{} {}", &line[..=p], &rest[spaces..]);
        }
        i = p;
    }
    line.to_string()
}

/// strace -f output (with or without -ttt and -T), per thread id.
pub fn parse(text: &str) -> HashMap<u32, Vec<Call>> {
    let errnos = errno_numbers();
    let mut calls: HashMap<u32, Vec<Call>> = HashMap::new();
    let mut unfinished: HashMap<u32, String> = HashMap::new();
    for line in text.lines() {
        // "PID [SECONDS.MICROS] rest" (strace pads the pid column).
        let Some((tid, rest)) = line.trim_start().split_once(' ') else { continue };
        let Ok(tid) = tid.parse::<u32>() else { continue };
        let mut rest = rest.trim_start();
        // A time stamp (-ttt): a call's name never starts with a digit.
        if rest.starts_with(|c: char| c.is_ascii_digit())
            && let Some((_ts, r)) = rest.split_once(' ')
        {
            rest = r.trim_start();
        }
        if rest.starts_with("---") || rest.starts_with("+++") {
            continue;
        }
        // The call as one line: `name(args) = ret`.
        let whole = if let Some(r) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = r.split_once(" resumed>") else { continue };
            let Some(head) = unfinished.remove(&tid) else { continue };
            if !head.starts_with(&format!("{name}(")) {
                continue;
            }
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        // `read(3, <unfinished ...>` after "3, ", `futex(…, NULL <unfinished
        // ...>` after the last argument: strace's separator space goes.
        if let Some(head) = whole.strip_suffix("<unfinished ...>") {
            let head = head.strip_suffix(' ').unwrap_or(head);
            unfinished.insert(tid, head.to_string());
            continue;
        }
        let Some((name, _)) = whole.split_once('(') else { continue };
        let name = name.to_string();
        // -T: ` <0.000012>` after the return.
        let (body, duration_us) = match whole.rsplit_once(" <") {
            Some((b, d)) if d.ends_with('>') && d[..d.len() - 1].parse::<f64>().is_ok() => {
                (b.to_string(), d[..d.len() - 1].parse::<f64>().ok().map(|s| s * 1e6))
            }
            _ => (whole.clone(), None),
        };
        let text = squeeze(&body);
        let Some((call, ret)) = text.rsplit_once(") = ") else { continue };
        let args = call[name.len() + 1..].to_string();
        let (ret, errno) = parse_ret(ret, &errnos);
        calls.entry(tid).or_default().push(Call { name, args, ret, errno, duration_us, text });
    }
    calls
}
