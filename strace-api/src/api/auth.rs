//! Bearer-token check for every endpoint but /healthz (liveness probes carry
//! no secrets). The comparison takes the same time wherever the tokens differ.
use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq as _;

use super::ApiError;

pub async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    match presented {
        Some(p) if bool::from(p.as_bytes().ct_eq(token.as_bytes())) => next.run(req).await,
        Some(_) => unauthorized("invalid bearer token"),
        None => unauthorized("this endpoint needs an Authorization: Bearer <token> header"),
    }
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
