//! Who may do what. Every endpoint but /healthz (liveness probes carry no
//! secrets) needs a bearer token: the operator's may do everything, a
//! read-only one everything but change watches (403, naming the scope).
//! Without tokens (`--insecure-no-auth`, or a Unix socket whose permissions
//! decide) every caller is an operator. The comparison takes the same time
//! wherever the tokens differ.
use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq as _;

use super::ApiError;

/// The tokens requests must carry.
#[derive(Clone, Debug, Default)]
pub struct Access {
    operator: Option<String>,
    read: Option<String>,
}

impl Access {
    /// No tokens: every caller may do everything.
    pub fn open() -> Access {
        Access::default()
    }

    pub fn tokens(operator: String, read: Option<String>) -> Access {
        Access { operator: Some(operator), read }
    }

    fn is_open(&self) -> bool {
        self.operator.is_none() && self.read.is_none()
    }
}

/// An operator's token, as tests write it.
impl From<&str> for Access {
    fn from(operator: &str) -> Access {
        Access::tokens(operator.into(), None)
    }
}

/// What a request's caller may do: in every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read events, processes, watches, metrics.
    Read,
    /// Also start and stop watches.
    Operate,
}

/// Who made a request, as far as authentication tells: for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub scope: Scope,
    /// `operator`, `read` (the token used), or `anyone` (no tokens).
    pub name: &'static str,
}

pub async fn check(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    if access.is_open() {
        req.extensions_mut().insert(Caller { scope: Scope::Operate, name: "anyone" });
        return next.run(req).await;
    }
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let Some(presented) = presented else {
        return unauthorized("this endpoint needs an Authorization: Bearer <token> header");
    };
    let is =
        |token: &Option<String>| token.as_ref().is_some_and(|t| bool::from(presented.as_bytes().ct_eq(t.as_bytes())));
    let caller = if is(&access.operator) {
        Caller { scope: Scope::Operate, name: "operator" }
    } else if is(&access.read) {
        Caller { scope: Scope::Read, name: "read" }
    } else {
        return unauthorized("invalid bearer token");
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The token of an `Authorization` value: the scheme's name is not case
/// sensitive (RFC 9110), and blanks may stand around the token.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized(message: &str) -> Response {
    let mut resp = ApiError { status: StatusCode::UNAUTHORIZED, message: message.into() }.into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    resp
}

impl Caller {
    /// 403 unless the caller may change watches.
    pub fn must_operate(&self, what: &str) -> Result<(), ApiError> {
        match self.scope {
            Scope::Operate => Ok(()),
            Scope::Read => Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: format!("this token may only read; {what} needs the operator's token (scope \"operate\")"),
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        // Every route is behind `check`, which always sets it.
        parts.extensions.get::<Caller>().copied().ok_or_else(|| ApiError::internal("request without a caller"))
    }
}
