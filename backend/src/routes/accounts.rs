//! Accounts: the list, one account, its equity history, its challenge's events and rule sets
//! (a trader sees only their own), and who owns it (admins assign and unassign).

use super::users::no_such_user;
use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, CurrentUser, OwnedAccount, no_such_account};
use crate::error::AppError;
use crate::tracker::{AnchorCorrection, CommandError};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::api::{
    AccountOwnerResponse, AccountSummary, AccountsResponse, AssignAccountRequest,
    ChallengeEventView, EventsResponse, HistoryResponse, Role, UserId,
};
use shared::api::{AnchorCorrectionRequest, AnchorsResponse};
use shared::api::{TradeView, TradesPage};
use shared::domain::AccountId;
use store::TradeCursor;

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

/// `GET /api/accounts/{account}/connection` (admins): how the account reaches its broker and
/// how its token stands, never a secret.
pub async fn connection(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(account): Path<String>,
) -> Result<Json<shared::api::ConnectionStatus>, AppError> {
    let id = AccountId(account);
    // Tracked, or at least stored (an account no longer tracked keeps its connection).
    if !state.hub.contains(&id) && !state.store.accounts().await?.iter().any(|a| a.id == id) {
        return Err(no_such_account());
    }
    let stored = state.store.load_broker_connection(&id).await?;
    Ok(Json(stored.map_or_else(Default::default, |connection| {
        shared::api::ConnectionStatus {
            platform: Some(connection.platform),
            refresh_token: connection.sealed_refresh_token.is_some(),
            token_expires_at: connection.token_expires_at,
            token_refreshed_at: connection.token_refreshed_at,
        }
    })))
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

/// Events returned when the caller does not say.
const DEFAULT_EVENTS_PAGE: u32 = 100;
/// The most events one call returns.
const MAX_EVENTS_PAGE: u32 = 1_000;

/// `after` an event id, `limit` a count; checked by hand like [`HistoryQuery`].
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/accounts/{account}/events`: a page of the challenge's events, oldest first.
pub async fn events(
    State(state): State<AppState>,
    OwnedAccount(id): OwnedAccount,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsResponse>, AppError> {
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest("The query string is malformed: use after and limit.".into())
    })?;
    let (after, limit) = events_page(&query)?;
    let records = state
        .store
        .challenge_event_records(&id, after, limit)
        .await?;
    let next_after = (records.len() == limit as usize)
        .then(|| records.last().map(|record| record.id))
        .flatten();
    let events: Vec<ChallengeEventView> = records
        .into_iter()
        .map(|record| {
            let event = serde_json::from_str(&record.event.body).map_err(|error| {
                AppError::Internal(format!(
                    "stored event {} of {id} is not JSON: {error}",
                    record.id
                ))
            })?;
            Ok(ChallengeEventView {
                id: record.id,
                time: record.event.time,
                kind: record.event.kind,
                rule: record.event.rule,
                event,
            })
        })
        .collect::<Result<_, AppError>>()?;
    Ok(Json(EventsResponse { events, next_after }))
}

/// The checked `after` and `limit` of an events request.
fn events_page(query: &EventsQuery) -> Result<(i64, u32), AppError> {
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "after must be an event id (a whole number, 0 or more).".into(),
                )
            })?,
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_EVENTS_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_EVENTS_PAGE).contains(n))
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_EVENTS_PAGE}."
                ))
            })?,
    };
    Ok((after, limit))
}

/// `POST /api/accounts/{account}/assign`: a trader owns the account from now on (and sees it at
/// once; its previous owner no longer does).
pub async fn assign(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<AssignAccountRequest>,
) -> Result<Json<AccountOwnerResponse>, AppError> {
    let id = AccountId(account);
    let user = state.store.user(request.user).await?.ok_or_else(|| {
        AppError::Unprocessable(format!("There is no user with id {}.", request.user))
    })?;
    if user.role != Role::Trader {
        return Err(AppError::Unprocessable(format!(
            "{} is an admin and sees every account already; only a trader can own one.",
            user.username
        )));
    }
    set_owner(&state, &admin, id, Some(user.id)).await
}

/// `POST /api/accounts/{account}/unassign`: the account has no owner (only admins see it).
pub async fn unassign(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
) -> Result<Json<AccountOwnerResponse>, AppError> {
    set_owner(&state, &admin, AccountId(account), None).await
}

async fn set_owner(
    state: &AppState,
    admin: &CurrentUser,
    id: AccountId,
    owner: Option<UserId>,
) -> Result<Json<AccountOwnerResponse>, AppError> {
    let before = owner_summary(state, state.store.account_owner(&id).await?).await?;
    if !state.store.set_account_owner(&id, owner).await? {
        return Err(no_such_account());
    }
    // Open streams decide again what they may carry before their next event: here at once,
    // on the other instances as soon as the notice arrives.
    state.hub.owners_changed();
    state.launcher.fanout.owners_changed();
    let after = owner_summary(state, owner).await?;
    audit(
        state,
        admin,
        if owner.is_some() {
            "account.assign"
        } else {
            "account.unassign"
        },
        format!("account:{id}"),
        Some(&serde_json::json!({ "owner": before })),
        Some(&serde_json::json!({ "owner": after })),
    )
    .await?;
    tracing::info!(account = %id, owner = ?after.as_ref().map(|u| &u.username), "account owner changed");
    Ok(Json(AccountOwnerResponse {
        account: id,
        owner: after,
    }))
}

async fn owner_summary(
    state: &AppState,
    owner: Option<UserId>,
) -> Result<Option<shared::api::UserSummary>, AppError> {
    match owner {
        None => Ok(None),
        Some(id) => Ok(Some(
            state
                .store
                .user(id)
                .await?
                .ok_or_else(no_such_user)?
                .summary(),
        )),
    }
}

/// `POST /api/accounts/{account}/archive`: the challenge is kept as it stands, read-only, and
/// no longer tracked (its tracker stops here or on whichever instance holds it); everything it
/// recorded stays readable and exported. Once: a second archiving is refused (409).
pub async fn archive(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<shared::api::ArchiveRequest>,
) -> Result<Json<shared::api::ArchiveResponse>, AppError> {
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(AppError::Unprocessable(
            "reason: say why the challenge is archived; the audit log keeps it.".to_owned(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::Unprocessable(format!(
            "reason: keep it under {MAX_REASON_CHARS} characters."
        )));
    }
    let id = AccountId(account);
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    super::writable(&state, &id).await?;
    let archived = store::Archived {
        at: Utc::now(),
        by: admin.user.username.clone(),
        reason: reason.to_owned(),
    };
    if !state.store.archive_account(&id, &archived).await? {
        // Archived meanwhile (or the account is configured but not stored yet).
        super::writable(&state, &id).await?;
        return Err(no_such_account());
    }
    state.hub.archive(&id);
    state
        .launcher
        .fanout
        .feed(&id, shared::api::FeedStatus::Archived);
    audit(
        &state,
        &admin,
        "account.archive",
        format!("account:{id}"),
        None::<&serde_json::Value>,
        Some(&serde_json::json!({ "reason": reason })),
    )
    .await?;
    tracing::info!(account = %id, by = %archived.by, "account archived");
    Ok(Json(shared::api::ArchiveResponse {
        account: id,
        archived_at: archived.at,
        archived_by: archived.by,
        reason: archived.reason,
    }))
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

/// The longest reason a correction may give.
const MAX_REASON_CHARS: usize = 500;

/// `POST /api/accounts/{account}/anchors` (admins): corrects one anchor of the account's
/// running challenge (a value reconstructed from history, or one the broker got wrong). The
/// reason is mandatory; the correction is stored as an event the trader sees and in the audit
/// log.
pub async fn correct_anchor(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(request): JsonBody<AnchorCorrectionRequest>,
) -> Result<Json<AnchorsResponse>, AppError> {
    let key = super::overrides::idempotency_key(&headers)?;
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(AppError::BadRequest(
            "Say why the anchor is corrected: the trader sees the reason and the audit log \
             keeps it."
                .to_owned(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "Keep the reason under {MAX_REASON_CHARS} characters."
        )));
    }
    let id = AccountId(account);
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    super::writable(&state, &id).await?;
    let correction = AnchorCorrection {
        field: request.anchor,
        value: request.value,
        reason: reason.to_owned(),
        actor: admin.user.username.clone(),
        key,
    };
    match state.trackers.correct_anchor(&id, correction).await {
        Ok(anchors) => Ok(Json(AnchorsResponse { anchors })),
        Err(CommandError::NoChallenge) => Err(AppError::Conflict(
            "This account has no running challenge yet (it may still be reading its history); \
             try again once its challenge shows."
                .to_owned(),
        )),
        Err(CommandError::Refused(message) | CommandError::NothingToOverride(message)) => Err(
            AppError::BadRequest(format!("The correction was refused: {message}.")),
        ),
        Err(CommandError::NotStored) => Err(AppError::Unavailable(
            "The correction could not be stored, so nothing changed; try again in a moment."
                .to_owned(),
        )),
        Err(error) => Err(super::overrides::command_error(error, "the correction")),
    }
}

/// Trades returned when the caller does not say.
const DEFAULT_TRADES_PAGE: u32 = 50;
/// The most trades one call returns.
const MAX_TRADES_PAGE: u32 = 200;

/// `before` a cursor, `limit` a count; checked by hand like [`HistoryQuery`].
#[derive(Debug, Deserialize)]
pub struct TradesQuery {
    before: Option<String>,
    limit: Option<String>,
}

/// `GET /api/accounts/{account}/trades`: a page of the account's closed trades, newest first.
pub async fn trades(
    State(state): State<AppState>,
    OwnedAccount(id): OwnedAccount,
    query: Result<Query<TradesQuery>, QueryRejection>,
) -> Result<Json<TradesPage>, AppError> {
    let Some(summary) = state.hub.summary(&id) else {
        return Err(no_such_account());
    };
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest("The query string is malformed: use before and limit.".into())
    })?;
    let (before, limit) = trades_page(&query)?;
    // One more than asked says whether there is a next page.
    let mut stored = state.store.trades(&id, before.as_ref(), limit + 1).await?;
    let next = (stored.len() > limit as usize)
        .then(|| {
            stored.truncate(limit as usize);
            stored
                .last()
                .map(|trade| TradeCursor::after(&trade.close).encode())
        })
        .flatten();
    let zone = summary
        .latest
        .as_ref()
        .and_then(|view| view.challenge.as_ref())
        .and_then(shared::api::ChallengeView::time_zone);
    let trades = stored
        .iter()
        .filter_map(|trade| {
            TradeView::from_deals(&trade.close, trade.open.as_ref(), &trade.earlier, zone)
        })
        .collect();
    Ok(Json(TradesPage {
        trades,
        next,
        time_zone: zone.map(|zone| zone.name().to_owned()),
    }))
}

/// The checked `before` and `limit` of a trades request: a cursor must be one this API gave
/// out; a limit outside 1 to [`MAX_TRADES_PAGE`] is clamped into it.
fn trades_page(query: &TradesQuery) -> Result<(Option<TradeCursor>, u32), AppError> {
    let before = query
        .before
        .as_deref()
        .map(|text| {
            TradeCursor::decode(text).ok_or_else(|| {
                AppError::BadRequest(
                    "before must be the `next` value of an earlier page of trades; leave it \
                     out for the newest trades."
                        .into(),
                )
            })
        })
        .transpose()?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_TRADES_PAGE,
        Some(text) => {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(digits) => (true, digits),
                None => (false, text),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AppError::BadRequest(format!(
                    "limit must be a whole number of trades (1 to {MAX_TRADES_PAGE}), not \
                     {text:?}."
                )));
            }
            if negative {
                1
            } else {
                digits
                    .parse::<u32>()
                    .map_or(MAX_TRADES_PAGE, |n| n.clamp(1, MAX_TRADES_PAGE))
            }
        }
    };
    Ok((before, limit))
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

    #[track_caller]
    fn check_page(after: Option<&str>, limit: Option<&str>, expected: Result<(i64, u32), &str>) {
        let query = EventsQuery {
            after: after.map(str::to_owned),
            limit: limit.map(str::to_owned),
        };
        match (events_page(&query), expected) {
            (Ok(page), Ok(expected)) => assert_eq!(page, expected),
            (Err(AppError::BadRequest(message)), Err(expected)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            }
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    #[track_caller]
    fn check_trades(before: Option<&str>, limit: Option<&str>, expected: Result<u32, &str>) {
        let query = TradesQuery {
            before: before.map(str::to_owned),
            limit: limit.map(str::to_owned),
        };
        match (trades_page(&query), expected) {
            (Ok((_, limit)), Ok(expected)) => assert_eq!(limit, expected),
            (Err(AppError::BadRequest(message)), Err(expected)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            }
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    #[test]
    fn trade_pages_clamp_the_limit_and_refuse_garbage() {
        check_trades(None, None, Ok(50));
        check_trades(Some("1700000000000:42"), Some("10"), Ok(10));
        check_trades(None, Some("0"), Ok(1));
        check_trades(None, Some("-5"), Ok(1));
        check_trades(None, Some("201"), Ok(200));
        check_trades(None, Some("99999999999999999999"), Ok(200));
        check_trades(None, Some("ten"), Err("limit must be a whole number"));
        check_trades(None, Some(""), Err("limit must be a whole number"));
        check_trades(None, Some("1.5"), Err("limit must be a whole number"));
        for garbage in ["", "x", "42", ":42", "12:", "-1:42", "abc:42"] {
            check_trades(Some(garbage), None, Err("before must be the `next` value"));
        }
    }

    #[test]
    fn event_pages_are_checked_with_clear_messages() {
        check_page(None, None, Ok((0, 100)));
        check_page(Some("42"), Some("1000"), Ok((42, 1_000)));
        check_page(Some("-1"), None, Err("after must be an event id"));
        check_page(Some("x"), None, Err("after must be an event id"));
        check_page(None, Some("0"), Err("from 1 to 1000"));
        check_page(None, Some("1001"), Err("from 1 to 1000"));
        check_page(None, Some("99999999999999999999"), Err("from 1 to 1000"));
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
