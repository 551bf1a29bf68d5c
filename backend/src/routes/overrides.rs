//! Overrides, for admins: clearing a breach and ending a soft breach's pause. Each needs a
//! reason; the account's tracker carries it out (through its command queue), stores it as a
//! challenge event the trader sees, and writes it to the audit log.

use super::JsonBody;
use crate::AppState;
use crate::auth::{AdminUser, no_such_account};
use crate::error::AppError;
use crate::tracker::{CommandError, Override, OverrideKind};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use shared::api::{OverrideRequest, OverrideResponse};
use shared::domain::AccountId;

/// The longest reason an override may give.
const MAX_REASON_CHARS: usize = 500;

/// `POST /api/accounts/{account}/clear-breach`: every breached rule measures again and the
/// challenge is active again; the breach events keep their evidence.
pub async fn clear_breach(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<OverrideRequest>,
) -> Result<Json<OverrideResponse>, AppError> {
    carry_out(
        &state,
        &admin,
        AccountId(account),
        OverrideKind::ClearBreach,
        idempotency_key(&headers)?,
        request,
    )
    .await
}

/// `POST /api/accounts/{account}/unpause`: a challenge paused by a soft breach is active again
/// before the next daily reset.
pub async fn unpause(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<OverrideRequest>,
) -> Result<Json<OverrideResponse>, AppError> {
    carry_out(
        &state,
        &admin,
        AccountId(account),
        OverrideKind::Unpause,
        idempotency_key(&headers)?,
        request,
    )
    .await
}

/// The longest idempotency key accepted.
const MAX_KEY_CHARS: usize = 128;

/// The request's `Idempotency-Key` (optional): a client sends a new one per action and the
/// same one when it retries, and a retry gets the first answer instead of acting twice.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            (1..=MAX_KEY_CHARS).contains(&key.len()) && key.chars().all(|c| c.is_ascii_graphic())
        })
        .map(|key| Some(key.to_owned()))
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "The Idempotency-Key header must be 1 to {MAX_KEY_CHARS} visible ASCII \
                 characters (a random id per action, the same on a retry)."
            ))
        })
}

/// The answers every admin command shares: it was withdrawn unrun, the tracker cannot be
/// reached, or the key was used for another action (each route answers its own refusals
/// before this).
pub(super) fn command_error(error: CommandError, what: &str) -> AppError {
    match error {
        CommandError::Withdrawn => AppError::Unavailable(format!(
            "The account's tracker did not get to {what} within 10 s, so it was withdrawn: \
             nothing changed and it will not run later. Try again in a moment (a retry with \
             the same Idempotency-Key is safe)."
        )),
        CommandError::KeyReused(message) => {
            AppError::Unprocessable(format!("The Idempotency-Key was refused: {message}."))
        }
        CommandError::Unreachable => AppError::Unavailable(format!(
            "The account's tracker is stopping or not on this server, so {what} did not run; \
             try again in a moment."
        )),
        other => AppError::Unavailable(format!("{other}; try again in a moment.")),
    }
}

/// The reason, trimmed, when it is one.
pub(super) fn checked_reason(reason: &str, what: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::BadRequest(format!(
            "Say why {what}: the trader sees the reason and the audit log keeps it."
        )));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadRequest(format!(
            "Keep the reason under {MAX_REASON_CHARS} characters."
        )));
    }
    Ok(reason.to_owned())
}

async fn carry_out(
    state: &AppState,
    admin: &crate::auth::CurrentUser,
    id: AccountId,
    kind: OverrideKind,
    key: Option<String>,
    request: OverrideRequest,
) -> Result<Json<OverrideResponse>, AppError> {
    let what = match kind {
        OverrideKind::ClearBreach => "the breach is cleared",
        OverrideKind::Unpause => "the challenge is unpaused",
    };
    let reason = checked_reason(&request.reason, what)?;
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    super::writable(state, &id).await?;
    let request = Override {
        kind,
        reason,
        actor: admin.user.username.clone(),
        key,
    };
    match state.trackers.override_decision(&id, request).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(CommandError::NoChallenge) => Err(AppError::Conflict(
            "This account has no running challenge yet (it may still be reading its history); \
             try again once its challenge shows."
                .to_owned(),
        )),
        Err(CommandError::NothingToOverride(message) | CommandError::Refused(message)) => {
            let mut message = message;
            if let Some(first) = message.get(..1) {
                message.replace_range(..1, &first.to_uppercase());
            }
            Err(AppError::Conflict(format!("{message}; nothing changed.")))
        }
        Err(CommandError::NotStored) => Err(AppError::Unavailable(
            "The override could not be stored, so nothing changed; try again in a moment."
                .to_owned(),
        )),
        Err(error) => Err(command_error(error, "the override")),
    }
}
