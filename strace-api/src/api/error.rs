//! API errors: a status and one sentence, sent as `{"error": "…"}`.
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{procs::NotAProcess, tracer::WatchError};

/// Every error's body: one sentence.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::CONFLICT, message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

impl From<WatchError> for ApiError {
    fn from(e: WatchError) -> ApiError {
        let status = match e {
            WatchError::NotAProcess(NotAProcess::Missing(_)) | WatchError::NotWatched(_) => StatusCode::NOT_FOUND,
            WatchError::NotAProcess(_) => StatusCode::BAD_REQUEST,
            WatchError::Kernel(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, message: e.to_string() }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see README.md for the API")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, message: "method not allowed on this endpoint".into() }
}
