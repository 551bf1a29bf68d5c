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
    /// The database failed; the detail is logged, not returned.
    #[error("database error")]
    Database(#[from] crate::db::StoreError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
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
