//! Request parsing with our own error bodies: path numbers and query strings
//! are validated here, so handlers only see values in range.
use std::ops::RangeInclusive;

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Parses a pid: a positive integer that fits a `pid_t`.
pub fn pid(s: &str) -> Result<u32, ApiError> {
    match s.parse::<i32>() {
        Ok(p) if p > 0 => Ok(p as u32),
        _ => Err(ApiError::bad_request(format!("pid must be a positive integer, not {s:?}"))),
    }
}

/// Parses an integer in `range`; `what` names it in the error.
pub fn in_range(what: &str, s: &str, range: RangeInclusive<u64>) -> Result<u64, ApiError> {
    match s.parse::<u64>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(ApiError::bad_request(format!(
            "{what} must be an integer from {} to {}, not {s:?}",
            range.start(),
            range.end()
        ))),
    }
}

/// Checks an optional query number against `range`, giving `default` when absent.
pub fn query_in_range(what: &str, v: Option<u64>, default: u64, range: RangeInclusive<u64>) -> Result<u64, ApiError> {
    let v = v.unwrap_or(default);
    if !range.contains(&v) {
        return Err(ApiError::bad_request(format!(
            "{what} must be from {} to {}, not {v}",
            range.start(),
            range.end()
        )));
    }
    Ok(v)
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
        let Query(q) =
            Query::<T>::from_request_parts(parts, state).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(ApiQuery(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        assert_eq!(pid("4242"), Ok(4242));
        for bad in ["0", "-1", "abc", "1.5", "", "2147483648", "+"] {
            let e = pid(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.message.contains("positive integer"), "{}", e.message);
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(in_range("n", "1", 1..=10_000), Ok(1));
        assert_eq!(in_range("n", "10000", 1..=10_000), Ok(10_000));
        for bad in ["0", "10001", "-5", "x", "99999999999999999999999"] {
            assert_eq!(in_range("n", bad, 1..=10_000).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(query_in_range("wait_ms", None, 1000, 0..=30_000), Ok(1000));
        assert!(query_in_range("wait_ms", Some(30_001), 1000, 0..=30_000).is_err());
    }
}
