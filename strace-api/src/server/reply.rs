//! The server's own answers, all `{"error": "…"}`: the limits on a request
//! it checks before the router, and hyper's automatic answers to requests it
//! cannot parse, rewritten.
use axum::{
    body::Body,
    http::{HeaderValue, Request, Response, StatusCode, header},
};

/// Longest request target (path and query) served. Above it, 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The limits on one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
}

impl RequestLimits {
    pub fn max_uri_bytes(&self) -> usize {
        MAX_URI_BYTES.min(self.max_header_bytes)
    }

    /// hyper's own read buffer: above ours, so that a head over our limit
    /// reaches [`check`] (and a precise answer) unless it is far over.
    pub fn hyper_buffer_bytes(&self) -> usize {
        (2 * self.max_header_bytes).max(8192)
    }
}

fn body(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// A JSON error response.
pub fn json(status: StatusCode, message: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body(message)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The size of a request's head as received, near enough: the request line
/// and each `name: value\r\n`.
pub fn head_bytes<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + uri_bytes(req) + " HTTP/1.1\r\n".len();
    line + req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum::<usize>() + 2
}

fn uri_bytes<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + 3);
    scheme + authority + uri.path_and_query().map_or(1, |pq| pq.as_str().len())
}

/// The answer to a request over a limit, before it reaches the router. It
/// closes the connection, as hyper's own answers do: a client that sent it
/// is not one to keep a connection for (and a body is left unread).
pub fn check<B>(req: &Request<B>, limits: &RequestLimits) -> Option<Response<Body>> {
    let mut answer = over_limit(req, limits)?;
    answer.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(answer)
}

fn over_limit<B>(req: &Request<B>, limits: &RequestLimits) -> Option<Response<Body>> {
    let uri = uri_bytes(req);
    if uri > limits.max_uri_bytes() {
        let message = format!("the request target is {uri} bytes long; at most {} are served", limits.max_uri_bytes());
        return Some(json(StatusCode::URI_TOO_LONG, &message));
    }
    let head = head_bytes(req);
    if head > limits.max_header_bytes {
        let message = format!(
            "the request head is {head} bytes long; at most {} are read (--max-header-bytes)",
            limits.max_header_bytes
        );
        return Some(json(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &message));
    }
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = length
        && length > limits.max_body_bytes as u64
    {
        let message = format!(
            "the request body is {length} bytes long; at most {} are read (--max-body-bytes)",
            limits.max_body_bytes
        );
        return Some(json(StatusCode::PAYLOAD_TOO_LARGE, &message));
    }
    None
}

/// A whole HTTP/1.1 response that closes the connection, as bytes: for
/// answers written below hyper.
pub fn raw(status: StatusCode, message: &str) -> Vec<u8> {
    let body = body(message);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

/// How many bytes of hyper's automatic answer [`replace_hyper_answer`] needs:
/// `HTTP/1.1 400`.
pub const STATUS_LINE_PREFIX: usize = 12;

/// hyper answers a request head it cannot parse itself, with an empty body,
/// before any service sees it: 400 (malformed), 431 (larger than its buffer,
/// or more than 100 headers) or 414. This is the JSON answer written instead,
/// from the first bytes hyper wrote.
pub fn replace_hyper_answer(start: &[u8], limits: &RequestLimits) -> Vec<u8> {
    let status = start
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok()?.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let message = match status {
        StatusCode::BAD_REQUEST => {
            "malformed HTTP request: its request line or a header could not be parsed".to_string()
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => format!(
            "the request head is too large: more than {} bytes, or more than 100 headers",
            limits.hyper_buffer_bytes()
        ),
        StatusCode::URI_TOO_LONG => {
            format!("the request target is too long; at most {} bytes are served", limits.max_uri_bytes())
        }
        other => format!("the request could not be read ({other})"),
    };
    raw(status, &message)
}
