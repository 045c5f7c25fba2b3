//! Request parsing with our own error bodies: path numbers and query strings
//! are validated here, so handlers only see values in range.
use std::ops::RangeInclusive;

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::{HeaderName, HeaderValue, header, request::Parts},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

use super::ApiError;

/// Decimal digits only, as a number: `+5`, ` 5`, `5 ` and `0x5` are not
/// numbers here (Rust's parsers take a leading `+`).
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Parses a pid: a positive integer that fits a `pid_t`.
pub fn pid(s: &str) -> Result<u32, ApiError> {
    match digits::<i32>(s) {
        Some(p) if p > 0 => Ok(p as u32),
        _ => Err(ApiError::bad_request(format!("pid must be a positive integer, not {:?}", shown(s)))),
    }
}

/// Parses an integer in `range`; `what` names it in the error.
pub fn in_range(what: &str, s: &str, range: RangeInclusive<u64>) -> Result<u64, ApiError> {
    match digits::<u64>(s) {
        Some(v) if range.contains(&v) => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "{what} must be an integer from {} to {}, not {:?}",
            range.start(),
            range.end(),
            shown(s)
        ))),
    }
}

/// A number in a query string: decimal digits only, as path numbers (serde
/// would take `limit=+5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uint(pub u64);

impl<'de> Deserialize<'de> for Uint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Uint, D::Error> {
        let s = String::deserialize(d)?;
        digits(&s).map(Uint).ok_or_else(|| serde::de::Error::custom("must be a non-negative integer"))
    }
}

/// Checks an optional query number against `range`, giving `default` when absent.
pub fn query_in_range(what: &str, v: Option<Uint>, default: u64, range: RangeInclusive<u64>) -> Result<u64, ApiError> {
    let v = v.map_or(default, |Uint(v)| v);
    if !range.contains(&v) {
        return Err(ApiError::bad_request(format!(
            "{what} must be from {} to {}, not {v}",
            range.start(),
            range.end()
        )));
    }
    Ok(v)
}

/// At most the first 32 characters of what a client sent, for an error.
fn shown(s: &str) -> String {
    match s.char_indices().nth(32) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// The `durations` query parameter (default false): asking for durations
/// the kernel does not measure (`--durations false`) is an error, not lines
/// without them.
pub fn durations(asked: Option<bool>, measured: bool) -> Result<bool, ApiError> {
    match asked {
        Some(true) if !measured => Err(ApiError::bad_request(
            "durations=true, but the daemon runs with --durations false: calls are not timed",
        )),
        a => Ok(a.unwrap_or(false)),
    }
}

/// The `{pid}` of a path.
pub struct PidPath(pub u32);

impl<S: Send + Sync> FromRequestParts<S> for PidPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(PidPath(pid(&raw)?))
    }
}

/// Two path segments as strings, validated by the handler.
pub struct TwoSegments(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for TwoSegments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(TwoSegments(a, b))
    }
}

/// A query string; unknown or malformed parameters are a 400 with a reason.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(q) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(explain(&e.body_text())))?;
        Ok(ApiQuery(q))
    }
}

/// A page of a list ordered by pid: the entries after pid `after`, at most
/// `limit` (default [`Page::DEFAULT`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Entries with a greater pid only (default 0).
    #[param(value_type = Option<u32>)]
    after: Option<Uint>,
    /// At most this many (1–10000, default 1000).
    #[param(value_type = Option<u32>)]
    limit: Option<Uint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub after: u32,
    pub limit: usize,
}

impl Page {
    pub const DEFAULT: u64 = 1000;
    pub const MAX: u64 = 10_000;

    pub fn of(q: PageQuery) -> Result<Page, ApiError> {
        let limit = query_in_range("limit", q.limit, Page::DEFAULT, 1..=Page::MAX)? as usize;
        let after = query_in_range("after", q.after, 0, 0..=i32::MAX as u64)? as u32;
        Ok(Page { after, limit })
    }

    /// The `Link` header of a full page (`rel="next"`, RFC 8288): there may
    /// be more after its last pid.
    pub fn next_link(&self, path: &str, returned: usize, last_pid: Option<u32>) -> Option<(HeaderName, HeaderValue)> {
        let last = last_pid.filter(|_| returned >= self.limit)?;
        let link = format!("<{path}?after={last}&limit={}>; rel=\"next\"", self.limit);
        Some((header::LINK, HeaderValue::from_str(&link).ok()?))
    }
}

/// The query string of an endpoint that takes no parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// A query-string error in the API's words: where serde gives the number
/// parser's complaint ("invalid digit found in string" for `limit=-1`),
/// say what is expected instead.
fn explain(text: &str) -> String {
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(text);
    // (Some structs' unknown fields come with the field's name as the path.)
    let unknown = text.find("unknown field `").map(|at| &text[at..]);
    if let Some(rest) = unknown.and_then(|t| t.strip_prefix("unknown field `"))
        && let Some((name, expected)) = rest.split_once('`')
    {
        let expected = expected.trim_start_matches(", ");
        return format!("unknown query parameter {:?}; {expected}", shown(name));
    }
    let Some((field, why)) = text.split_once(": ") else { return format!("bad query string: {text}") };
    let why = match why {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type" => "must be a non-negative integer",
        "provided string was not `true` or `false`" => "must be true or false",
        other => other,
    };
    format!("query parameter {field} {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        assert_eq!(pid("4242"), Ok(4242));
        for bad in ["0", "-1", "abc", "1.5", "", "2147483648", "+", "+1", " 1", "1 ", "0x1", "١"] {
            let e = pid(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.message.contains("positive integer"), "{}", e.message);
        }
    }

    #[test]
    fn query_errors_say_what_is_expected() {
        let e = |t: &str| explain(&format!("Failed to deserialize query string: {t}"));
        assert_eq!(e("limit: invalid digit found in string"), "query parameter limit must be a non-negative integer");
        assert_eq!(
            e("durations: provided string was not `true` or `false`"),
            "query parameter durations must be true or false"
        );
        assert_eq!(e("duplicate field `limit`"), "bad query string: duplicate field `limit`");
        assert_eq!(
            e("unknown field `bogus`, expected `after` or `limit`"),
            "unknown query parameter \"bogus\"; expected `after` or `limit`"
        );
        assert_eq!(e("unknown field `x`, there are no fields"), "unknown query parameter \"x\"; there are no fields");
        let long = e(&format!("unknown field `{}`, there are no fields", "y".repeat(200)));
        assert!(long.len() < 100, "{long}");
    }

    #[test]
    fn ranges() {
        assert_eq!(in_range("n", "1", 1..=10_000), Ok(1));
        assert_eq!(in_range("n", "10000", 1..=10_000), Ok(10_000));
        for bad in ["0", "10001", "-5", "x", "99999999999999999999999", "+5", "5\n"] {
            assert_eq!(in_range("n", bad, 1..=10_000).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(query_in_range("wait_ms", None, 1000, 0..=30_000), Ok(1000));
        let q = |s: &str| serde_urlencoded::from_str::<std::collections::HashMap<String, Uint>>(s);
        assert_eq!(q("limit=5").unwrap()["limit"], Uint(5));
        for bad in ["limit=+5", "limit=-1", "limit=", "limit=5x", "limit=0x5"] {
            assert!(q(bad).unwrap_err().to_string().contains("non-negative integer"), "{bad}");
        }
        let long = "9".repeat(5000);
        assert!(in_range("n", &long, 1..=10).unwrap_err().message.len() < 100, "the input is not echoed whole");
        assert!(query_in_range("wait_ms", Some(Uint(30_001)), 1000, 0..=30_000).is_err());
    }
}
