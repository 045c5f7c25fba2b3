//! The audit log: every watch change, with who asked (the peer's address or
//! Unix credentials, and the token's name), at info level under the target
//! `audit` (`STRACE_API_LOG=audit=info,warn` keeps just these).
use axum::{extract::FromRequestParts, http::request::Parts};

use super::{ApiError, auth::Caller};
use crate::server::Peer;

/// Who made a request that changes what is watched.
pub struct Who {
    pub caller: Caller,
    peer: Option<Peer>,
}

impl Who {
    /// 403 unless the caller may change watches; logs the refusal.
    pub fn must_operate(&self, action: &'static str, pid: u32) -> Result<(), ApiError> {
        self.caller.must_operate(action).inspect_err(|_| self.log(action, pid, "refused: read-only token"))
    }

    /// Logs a watch change and how it ended.
    pub fn log(&self, action: &'static str, pid: u32, outcome: &str) {
        let peer = match &self.peer {
            Some(Peer::Tcp(addr)) => format!("tcp:{addr}"),
            Some(Peer::Unix { uid, pid: Some(p), .. }) => format!("unix:uid={uid},pid={p}"),
            Some(Peer::Unix { uid, .. }) => format!("unix:uid={uid}"),
            None => "unknown".into(),
        };
        tracing::info!(target: "audit", peer, token = self.caller.name, action, pid, outcome, "watch change");
    }

    /// Logs `result`, the answer to a watch change.
    pub fn log_result<T>(&self, action: &'static str, pid: u32, result: &Result<T, ApiError>) {
        match result {
            Ok(_) => self.log(action, pid, "done"),
            Err(e) => self.log(action, pid, &format!("{}: {}", e.status.as_u16(), e.message)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Who, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Who { caller, peer: parts.extensions.get::<Peer>().cloned() })
    }
}
