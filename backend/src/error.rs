//! The one API error type and its JSON body.
//!
//! Internal detail (SQL, broker bodies) is logged once here and never put in a response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::ErrorBody;

/// Every way an API call can fail, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing asked for does not exist (or the caller may not know it does).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but asks for something that cannot be (a value out of range,
    /// a field of the wrong type, a username with spaces, ...).
    #[error("{0}")]
    Unprocessable(String),
    /// The request clashes with what exists (a username taken).
    #[error("{0}")]
    Conflict(String),
    /// The body is not JSON (`content-type` must be `application/json`).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No one is signed in (or the session ended).
    #[error("{0}")]
    Unauthorized(String),
    /// The signed-in person may not do this (or the request lacks its anti-forgery token).
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; the caller may try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    /// The server cannot do this now; the caller should retry (the message says how).
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside the server; the detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database failed; the detail is logged, not returned.
    #[error("database error")]
    Database(#[from] store::StoreError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            AppError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m.clone()),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            AppError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            AppError::PayloadTooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                m.clone(),
            ),
            AppError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.clone()),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            AppError::TooManyRequests {
                message,
                retry_after,
            } => {
                let body = ErrorBody {
                    error: "too_many_requests".to_owned(),
                    message: message.clone(),
                };
                // Whole seconds, rounded up: never tell a client to come back too early.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, seconds.max(1).to_string())],
                    Json(body),
                )
                    .into_response();
            }
            AppError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.clone()),
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error while serving a request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Riskdeck's server ran into a problem; please retry in a moment.".to_owned(),
                )
            }
            AppError::Database(e) => {
                tracing::error!(error = %e, "database error while serving a request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The database is unavailable; please retry in a moment.".to_owned(),
                )
            }
        };
        let body = ErrorBody {
            error: code.to_owned(),
            message,
        };
        (status, Json(body)).into_response()
    }
}
