//! Server-Sent Events framing (the WHATWG HTML standard's
//! `text/event-stream`), and the ids the stream gives its events: an event's
//! `seq`, and for a gap `SEQ:gap` (the gap right after event SEQ), so a
//! reconnect with `Last-Event-ID` resumes after exactly what was read.
use std::fmt::Write as _;

use crate::recorder::Cursor;

/// Appends one event: `id:`, `event:` (if not the default `message`), and
/// `data:` lines (one per line of `data`), then the blank line that ends it.
pub fn event(out: &mut String, id: Option<&str>, kind: Option<&str>, data: &str) {
    if let Some(id) = id {
        writeln!(out, "id: {id}").expect("writing to a String");
    }
    if let Some(kind) = kind {
        writeln!(out, "event: {kind}").expect("writing to a String");
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
}

/// A comment line (ignored by readers; keeps an idle connection alive).
pub fn comment(out: &mut String, text: &str) {
    writeln!(out, ": {text}\n").expect("writing to a String");
}

/// The id of the gap right after event `seq`.
pub fn gap_id(seq: u64) -> String {
    format!("{seq}:gap")
}

/// A `Last-Event-ID` (or `after=`): `SEQ` or `SEQ:gap`.
pub fn cursor(id: &str) -> Option<Cursor> {
    let id = id.trim();
    let (seq, gap_seen) = match id.strip_suffix(":gap") {
        Some(seq) => (seq, true),
        None => (id, false),
    };
    let seq = seq.parse().ok()?;
    Some(Cursor { seq, gap_seen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_events_as_the_standard_says() {
        let mut out = String::new();
        event(&mut out, Some("42"), None, "{\"seq\":42}");
        event(&mut out, Some(&gap_id(42)), Some("gap"), "two\nlines");
        comment(&mut out, "keep-alive");
        assert_eq!(
            out,
            "id: 42\ndata: {\"seq\":42}\n\nid: 42:gap\nevent: gap\ndata: two\ndata: lines\n\n: keep-alive\n\n"
        );
    }

    #[test]
    fn ids_read_back_as_cursors() {
        assert_eq!(cursor("42"), Some(Cursor { seq: 42, gap_seen: false }));
        assert_eq!(cursor(&gap_id(7)), Some(Cursor { seq: 7, gap_seen: true }));
        assert_eq!(cursor(" 0 "), Some(Cursor::default()));
        for bad in ["", "x", "-1", "3:gapp", ":gap", "1.5"] {
            assert_eq!(cursor(bad), None, "{bad}");
        }
    }
}
