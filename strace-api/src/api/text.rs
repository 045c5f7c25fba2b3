//! Plain text answers: one strace line per line, as `strace -f` writes
//! them, for `format=text` or `Accept: text/plain`.
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    recorder::{Event, Gap, GapReason},
    syscall,
};

/// `format=json` (the default) or `format=text`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Text,
}

/// Whether to answer in text: `format` if given, else what `Accept`
/// prefers of text/plain and JSON (by quality, then order; `*/*` and no
/// header: JSON).
pub fn wants_text(format: Option<Format>, headers: &HeaderMap) -> bool {
    if let Some(f) = format {
        return f == Format::Text;
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let mut best: Option<(f32, bool)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
        let text = match media.as_str() {
            "text/plain" => true,
            "application/json" | "*/*" | "application/*" => false,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, text));
        }
    }
    best.is_some_and(|(_, text)| text)
}

/// strace -f's prefix, `[pid  1234] `, which it writes once it traces more
/// than one thread.
pub fn pid_prefix(tid: u32) -> String {
    format!("[pid {tid:>5}] ")
}

/// The line that stands where calls are missing (no thread's: `tid` 0 in
/// `lines`).
pub fn gap_line(g: &Gap) -> String {
    let why = match g.reason {
        GapReason::Dropped => "dropped by the kernel (its ring buffer was full)",
        GapReason::Throttled => "throttled by the kernel (over its share of a nearly full ring buffer)",
        GapReason::Evicted => "evicted from the history before they were read",
    };
    format!("--- {} calls missing here: {why} ---", g.count)
}

/// The strace lines of `events` (by sequence number), each gap's line
/// before the first event after it and those after the last at the end,
/// as (thread, text) for `lines` (a gap's thread is 0).
pub fn event_lines(events: &[(u64, Event)], gaps: &[Gap], durations: bool) -> Vec<(u32, String)> {
    let mut lines = Vec::with_capacity(events.len() + gaps.len());
    let mut gaps = gaps.iter().peekable();
    for (seq, ev) in events {
        while let Some(g) = gaps.next_if(|g| g.after < *seq) {
            lines.push((0, gap_line(g)));
        }
        lines.push((ev.tid, syscall::line(ev, durations)));
    }
    lines.extend(gaps.map(|g| (0, gap_line(g))));
    lines
}

/// Lines of (thread, text): each with the thread's prefix when more than
/// one thread made them, as `strace -f` does; a line of thread 0 (a gap's)
/// has none.
pub fn lines(lines: &[(u32, String)]) -> String {
    let mut tids = lines.iter().map(|(tid, _)| *tid).filter(|&tid| tid != 0);
    let first = tids.next();
    let many = tids.any(|tid| Some(tid) != first);
    let mut out = String::with_capacity(lines.iter().map(|(_, l)| l.len() + 14).sum());
    for (tid, line) in lines {
        if many && *tid != 0 {
            out.push_str(&pid_prefix(*tid));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn text_when_asked_for_or_preferred() {
        assert!(!wants_text(None, &HeaderMap::new()));
        assert!(wants_text(Some(Format::Text), &HeaderMap::new()));
        assert!(!wants_text(Some(Format::Json), &accept("text/plain")), "format= wins");
        assert!(wants_text(None, &accept("text/plain")));
        assert!(wants_text(None, &accept("text/plain, application/json")));
        assert!(!wants_text(None, &accept("application/json, text/plain")));
        assert!(!wants_text(None, &accept("*/*")));
        assert!(wants_text(None, &accept("application/json;q=0.5, text/plain")));
        assert!(!wants_text(None, &accept("text/plain;q=0")));
        assert!(!wants_text(None, &accept("text/html")));
    }

    #[test]
    fn the_pid_prefix_only_when_threads_are_many() {
        let one = [(7, "getppid() = 1".to_string()), (7, "getpid() = 7".to_string())];
        assert_eq!(lines(&one), "getppid() = 1\ngetpid() = 7\n");
        let two = [(7, "a".to_string()), (12345, "b".to_string()), (123456, "c".to_string())];
        assert_eq!(lines(&two), "[pid     7] a\n[pid 12345] b\n[pid 123456] c\n");
        assert_eq!(lines(&[]), "");
    }
}
