//! `--redact REGEX`: parts of strings masked everywhere they leave the
//! daemon. Every captured string is turned into text by the decoder's two
//! helpers (`syscall::quote` for lines, and the JSON values beside them),
//! and command lines and names by the API's views: those call `bytes` or
//! `text` here, so lines, JSON, the stream, metrics labels and exports all
//! see the masked form, and nothing can forget it.
//!
//! A match is replaced by `***`; a regex with capture groups masks only its
//! groups, and one without keeps a leading `name=` or `name:` of the match
//! (`password=\S+` turns `db-password=hunter2` into `db-password=***`).
use std::{borrow::Cow, sync::OnceLock};

use regex::bytes::{Regex, RegexBuilder};

const MASK: &[u8] = b"***";
/// Compiled size a pattern may take at most (regex's own default is 10 MB):
/// patterns come from the operator, but a typo must not cost the daemon.
const SIZE_LIMIT: usize = 1 << 20;

static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();

/// Compiles the patterns and puts them in force; once, at start.
pub fn install(patterns: &[String]) -> Result<(), String> {
    let compiled = compile(patterns)?;
    PATTERNS.set(compiled).map_err(|_| "the redaction patterns are set already".to_string())
}

pub fn compile(patterns: &[String]) -> Result<Vec<Regex>, String> {
    patterns
        .iter()
        .map(|p| {
            RegexBuilder::new(p)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| format!("--redact {p:?} is not a regular expression: {e}"))
        })
        .collect()
}

/// `b` with every match of the patterns in force masked.
pub fn bytes(b: &[u8]) -> Cow<'_, [u8]> {
    match PATTERNS.get() {
        Some(patterns) if !patterns.is_empty() => mask(patterns, b),
        _ => Cow::Borrowed(b),
    }
}

/// The same for text (a command line, a process name).
pub fn text(s: &str) -> Cow<'_, str> {
    match bytes(s.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

fn mask<'a>(patterns: &[Regex], b: &'a [u8]) -> Cow<'a, [u8]> {
    let mut out: Cow<'a, [u8]> = Cow::Borrowed(b);
    for re in patterns {
        if !re.is_match(&out) {
            continue;
        }
        let mut masked = Vec::with_capacity(out.len());
        let mut at = 0;
        for caps in re.captures_iter(&out) {
            let whole = caps.get(0).expect("group 0 is the match");
            // The spans to mask: the groups that matched, or the match after
            // a leading `name=` / `name:`.
            let spans: Vec<(usize, usize)> = if caps.len() > 1 {
                caps.iter().skip(1).flatten().map(|m| (m.start(), m.end())).collect()
            } else {
                let text = whole.as_bytes();
                let keep = text
                    .iter()
                    .position(|&c| c == b'=' || c == b':')
                    .filter(|&i| i > 0 && text[..i].iter().all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(c)))
                    .map_or(0, |i| i + 1);
                vec![(whole.start() + keep, whole.end())]
            };
            for (start, end) in spans {
                if start < at || start == end {
                    continue;
                }
                masked.extend_from_slice(&out[at..start]);
                masked.extend_from_slice(MASK);
                at = end;
            }
        }
        masked.extend_from_slice(&out[at..]);
        out = Cow::Owned(masked);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(patterns: &[&str], s: &str) -> String {
        let compiled = compile(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap();
        String::from_utf8(mask(&compiled, s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn a_match_is_masked_its_name_kept() {
        assert_eq!(masked(&[r"password=\S+"], "db-password=hunter2 -v"), "db-password=*** -v");
        assert_eq!(masked(&[r"token:\S+"], "x token:abc"), "x token:***");
        assert_eq!(masked(&[r"hunter\d"], "/tmp/hunter2/x"), "/tmp/***/x");
        assert_eq!(masked(&[r"\d{4}-\d{4}"], "card 1234-5678, 9999-0000"), "card ***, ***");
    }

    #[test]
    fn groups_mask_only_themselves() {
        assert_eq!(masked(&[r"--key (\S+)"], "app --key s3cr3t --v"), "app --key *** --v");
        assert_eq!(masked(&[r"user=(\w+) pass=(\w+)"], "user=al pass=pw"), "user=*** pass=***");
    }

    #[test]
    fn several_patterns_and_no_match() {
        assert_eq!(masked(&[r"a=\S+", r"b=\S+"], "a=1 b=2 c=3"), "a=*** b=*** c=3");
        assert_eq!(masked(&[r"zzz"], "nothing here"), "nothing here");
        assert!(compile(&["(".to_string()]).unwrap_err().contains("--redact \"(\""));
        assert!(compile(&["a{1000}{1000}".to_string()]).is_err(), "too big a pattern is refused");
    }
}
