//! Accounts: the list, one account, its equity history.

use crate::AppState;
use crate::error::AppError;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use shared::api::{AccountSummary, AccountsResponse, HistoryResponse};
use shared::domain::AccountId;

/// Points of history returned when the caller does not say.
const DEFAULT_HISTORY_POINTS: u32 = 2_000;
/// The most points one history call returns.
const MAX_HISTORY_POINTS: u32 = 20_000;

pub async fn list(State(state): State<AppState>) -> Json<AccountsResponse> {
    Json(AccountsResponse {
        accounts: state.hub.summaries(),
    })
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountSummary>, AppError> {
    state
        .hub
        .summary(&AccountId(id))
        .map(Json)
        .ok_or_else(not_found)
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryResponse>, AppError> {
    let id = AccountId(id);
    if !state.hub.contains(&id) {
        return Err(not_found());
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_HISTORY_POINTS)
        .clamp(1, MAX_HISTORY_POINTS);
    let points = state.store.recent_samples(&id, limit).await?;
    Ok(Json(HistoryResponse { points }))
}

fn not_found() -> AppError {
    AppError::NotFound("No account with this id is tracked.".to_owned())
}
