//! The filter parameters the event endpoints share (`syscall`, `class`,
//! `failed`, `min_duration_us`, `tid`): each endpoint's query struct lists
//! them (serde cannot flatten into a struct that refuses unknown fields)
//! and hands them over here.
use super::ApiError;
use crate::filter::{Filter, FilterSpec};

/// A query struct with the filter parameters.
pub trait FilterQuery {
    fn spec(&self) -> FilterSpec<'_>;
}

/// Implements `FilterQuery` for a query struct with the five fields.
macro_rules! filter_query {
    ($t:ty) => {
        impl $crate::api::filters::FilterQuery for $t {
            fn spec(&self) -> $crate::filter::FilterSpec<'_> {
                $crate::filter::FilterSpec {
                    syscall: self.syscall.as_deref(),
                    class: self.class.as_deref(),
                    failed: self.failed,
                    min_duration_us: self.min_duration_us.map(|$crate::api::extract::Uint(v)| v),
                    tid: self.tid.as_deref(),
                }
            }
        }
    };
}
pub(crate) use filter_query;

/// The filter a request asks for; a bad parameter is a 400 naming it.
pub fn filter(q: &impl FilterQuery, durations: bool) -> Result<Filter, ApiError> {
    Filter::parse(&q.spec(), durations).map_err(|e| ApiError::bad_request(e.0))
}
