//! `POST /api/ingest/{account}`: records pushed by a bridge (see `crate::ingest`).

use crate::AppState;
use crate::error::AppError;
use crate::ingest::{Refusal, bearer, check_times, parse_batch};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use shared::api::IngestResponse;
use shared::domain::AccountId;

const UNAUTHORIZED: &str = "Send the account's ingest token as `Authorization: Bearer <token>`.";

fn token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

/// The route guard: the path's account is fed by pushes and the request holds its token.
pub async fn authorize(parts: &mut Parts, state: &AppState) -> Result<(), AppError> {
    let account = parts
        .uri
        .path()
        .rsplit('/')
        .next()
        .map(|id| AccountId(id.to_owned()));
    match account {
        Some(account) if state.ingest.authorized(&account, token(&parts.headers)) => Ok(()),
        _ => Err(AppError::Unauthorized(UNAUTHORIZED.to_owned())),
    }
}

/// Parses the JSON Lines body whole, hands it to the account's tracker and answers once the
/// batch is stored.
pub async fn push(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestResponse>, AppError> {
    let account = AccountId(account);
    let records = parse_batch(&body).map_err(AppError::BadRequest)?;
    check_times(&records, chrono::Utc::now()).map_err(AppError::Unprocessable)?;
    let answer = state
        .ingest
        .submit(&account, token(&headers), records)
        .map_err(|refusal| match refusal {
            Refusal::Unauthorized => AppError::Unauthorized(UNAUTHORIZED.to_owned()),
            Refusal::Busy => AppError::TooManyRequests {
                message: "Earlier pushes for this account are still being stored; send this \
                          batch again in a moment."
                    .to_owned(),
                retry_after: std::time::Duration::from_secs(1),
            },
            // An archived account's tracker has stopped for good: say so rather than "retry".
            Refusal::Stopped if state.hub.is_archived(&account) => AppError::Conflict(format!(
                "{account} is archived: it is read-only and takes no more records."
            )),
            Refusal::Stopped => unavailable(),
        })?;
    match answer.await {
        Ok(Ok(response)) => Ok(Json(response)),
        Ok(Err(_)) | Err(_) => Err(unavailable()),
    }
}

fn unavailable() -> AppError {
    AppError::Unavailable(
        "The records could not be stored yet; send the batch again (resending is safe).".to_owned(),
    )
}
