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
    JsonBody(request): JsonBody<OverrideRequest>,
) -> Result<Json<OverrideResponse>, AppError> {
    carry_out(
        &state,
        &admin,
        AccountId(account),
        OverrideKind::ClearBreach,
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
    JsonBody(request): JsonBody<OverrideRequest>,
) -> Result<Json<OverrideResponse>, AppError> {
    carry_out(
        &state,
        &admin,
        AccountId(account),
        OverrideKind::Unpause,
        request,
    )
    .await
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
    let request = Override {
        kind,
        reason,
        actor: admin.user.username.clone(),
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
        Err(CommandError::Unreachable) => Err(AppError::Unavailable(
            "The account's tracker is busy or stopping; try again in a moment.".to_owned(),
        )),
    }
}
