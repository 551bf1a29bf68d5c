//! Accounts: the list, one account, its equity history. A trader sees only their own.

use crate::AppState;
use crate::auth::{CurrentUser, OwnedAccount, no_such_account};
use crate::error::AppError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::api::{AccountSummary, AccountsResponse, HistoryResponse};

/// Buckets of history returned when the caller does not say.
const DEFAULT_HISTORY_POINTS: u32 = 1_000;
/// The most buckets one history call returns.
const MAX_HISTORY_POINTS: u32 = 5_000;

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<AccountsResponse>, AppError> {
    let visible = user.visible_accounts(state.store.as_ref()).await?;
    let accounts = state
        .hub
        .summaries()
        .into_iter()
        .filter(|summary| visible.as_ref().is_none_or(|ids| ids.contains(&summary.id)))
        .collect();
    Ok(Json(AccountsResponse { accounts }))
}

pub async fn get(
    State(state): State<AppState>,
    OwnedAccount(id): OwnedAccount,
) -> Result<Json<AccountSummary>, AppError> {
    state.hub.summary(&id).map(Json).ok_or_else(no_such_account)
}

/// `from` and `to` as RFC 3339 instants, `points` a count; each checked by hand so that a bad
/// value gets the API's error body, not the extractor's plain text.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    points: Option<String>,
}

pub async fn history(
    State(state): State<AppState>,
    OwnedAccount(id): OwnedAccount,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryResponse>, AppError> {
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest("The query string is malformed: use from, to and points.".into())
    })?;
    let (from, to, points) = history_range(&query, Utc::now())?;
    let buckets = state.store.equity_history(&id, from, to, points).await?;
    let limits = state.store.limit_history(&id, from, to).await?;
    Ok(Json(HistoryResponse { buckets, limits }))
}

/// The checked range and budget of a history request.
fn history_range(
    query: &HistoryQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, u32), AppError> {
    let instant = |name: &str, text: &Option<String>| -> Result<Option<DateTime<Utc>>, AppError> {
        text.as_deref()
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        AppError::BadRequest(format!(
                            "{name} must be an RFC 3339 time such as 2026-11-21T09:00:00Z."
                        ))
                    })
            })
            .transpose()
    };
    let from = instant("from", &query.from)?.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let to = instant("to", &query.to)?.unwrap_or(now);
    if from > to {
        return Err(AppError::BadRequest("from must not be after to.".into()));
    }
    let points = match query.points.as_deref() {
        None => DEFAULT_HISTORY_POINTS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_HISTORY_POINTS).contains(n))
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "points must be a whole number from 1 to {MAX_HISTORY_POINTS}."
                ))
            })?,
    };
    Ok((from, to, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(
        from: Option<&str>,
        to: Option<&str>,
        points: Option<&str>,
        expected: Result<u32, &str>,
    ) {
        let query = HistoryQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            points: points.map(str::to_owned),
        };
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        match (history_range(&query, now), expected) {
            (Ok((_, _, points)), Ok(expected)) => assert_eq!(points, expected),
            (Err(AppError::BadRequest(message)), Err(expected)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            }
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    #[test]
    fn history_parameters_are_checked_with_clear_messages() {
        check(None, None, None, Ok(1_000));
        check(None, None, Some("5000"), Ok(5_000));
        check(
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-02T00:00:00+01:00"),
            Some("1"),
            Ok(1),
        );
        check(None, None, Some("0"), Err("from 1 to 5000"));
        check(None, None, Some("5001"), Err("from 1 to 5000"));
        check(None, None, Some("ten"), Err("from 1 to 5000"));
        check(
            Some("yesterday"),
            None,
            None,
            Err("from must be an RFC 3339"),
        );
        check(
            None,
            Some("1700000000"),
            None,
            Err("to must be an RFC 3339"),
        );
        check(
            Some("2026-01-02T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            None,
            Err("must not be after"),
        );
    }
}
