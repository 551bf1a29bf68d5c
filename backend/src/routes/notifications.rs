//! Notifications: each person's preferences (their own, or any user's for an admin) and, for
//! admins, every delivery with its status and failures. Changes are written to the audit log.

use super::users::{no_such_user, user_id};
use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, CurrentUser};
use crate::error::AppError;
use crate::notify::prefs::Stored;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use shared::api::{
    DeliveryStatus, NotificationDelivery, NotificationPreferences, NotificationsResponse, UserId,
};

/// The most deliveries one listing returns.
const MAX_LISTED: u32 = 500;

/// `GET /api/notifications?status=&offset=&limit=`: `status` one of `pending`, `delivered`,
/// `failed`; numbers checked by hand, so a bad one gets a message that names it.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

/// `GET /api/notifications`: a page of deliveries, newest event first, optionally of one
/// status.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<NotificationsResponse>, AppError> {
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest("The query string is malformed: use status, offset and limit.".into())
    })?;
    let number = |value: Option<&str>, name: &str, default: u32, max: u32| match value {
        None | Some("") => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                AppError::BadRequest(format!("{name} must be a whole number from 0 to {max}."))
            }),
    };
    let offset = number(query.offset.as_deref(), "offset", 0, u32::MAX / 2)?;
    let limit = number(query.limit.as_deref(), "limit", MAX_LISTED, MAX_LISTED)?.max(1);
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            AppError::BadRequest(
                "status must be pending, delivered or failed (or left out for all).".into(),
            )
        })?),
    };
    // One more than asked tells whether there is a next page.
    let mut deliveries = state
        .store
        .deliveries_page(status, offset, limit + 1)
        .await?;
    let next_offset = (deliveries.len() > limit as usize).then_some(offset + limit);
    deliveries.truncate(limit as usize);
    Ok(Json(NotificationsResponse {
        next_offset,
        deliveries: deliveries
            .into_iter()
            .map(|d| NotificationDelivery {
                event_id: d.event_id,
                account: d.account,
                kind: d.event.kind,
                rule: d.event.rule,
                event_time: d.event.time,
                channel: d.channel,
                recipient: d.recipient,
                status: d.status,
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
                delivered_at: d.delivered_at,
                last_error: d.last_error,
            })
            .collect(),
    }))
}

/// `GET /api/me/notifications`: the signed-in person's preferences.
pub async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<NotificationPreferences>, AppError> {
    Ok(Json(stored(&state, user.user.id).await?.view()))
}

/// `POST /api/me/notifications`: replaces the signed-in person's preferences.
pub async fn update_mine(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(request): JsonBody<NotificationPreferences>,
) -> Result<Json<NotificationPreferences>, AppError> {
    let id = user.user.id;
    save(&state, &user, id, request).await
}

/// `GET /api/users/{user}/notifications`: a user's preferences, for an admin.
pub async fn get_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(user): Path<String>,
) -> Result<Json<NotificationPreferences>, AppError> {
    let id = user_id(&user)?;
    state.store.user(id).await?.ok_or_else(no_such_user)?;
    Ok(Json(stored(&state, id).await?.view()))
}

/// `POST /api/users/{user}/notifications`: replaces a user's preferences, for an admin.
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<String>,
    JsonBody(request): JsonBody<NotificationPreferences>,
) -> Result<Json<NotificationPreferences>, AppError> {
    let id = user_id(&user)?;
    state.store.user(id).await?.ok_or_else(no_such_user)?;
    save(&state, &admin, id, request).await
}

async fn stored(state: &AppState, id: UserId) -> Result<Stored, AppError> {
    Ok(Stored::parse(
        state.store.notification_preferences(id).await?.as_deref(),
        state.launcher.secret_key.as_ref(),
        id,
    ))
}

async fn save(
    state: &AppState,
    actor: &CurrentUser,
    id: UserId,
    request: NotificationPreferences,
) -> Result<Json<NotificationPreferences>, AppError> {
    let before = stored(state, id).await?;
    let after = before.update(request).map_err(AppError::Unprocessable)?;
    if let Some(url) = &after.webhook_url
        && before.webhook_url.as_ref() != Some(url)
    {
        crate::notify::address::check_url(url, &state.webhook_hosts)
            .await
            .map_err(|message| AppError::Unprocessable(format!("webhook_url: {message}")))?;
    }
    // The webhook key is stored sealed; without a secret_key it cannot be stored at all.
    let body = after
        .to_json(state.launcher.secret_key.as_ref(), id)
        .map_err(|message| {
            if message.starts_with("webhook_secret:") {
                AppError::Unprocessable(message)
            } else {
                AppError::Internal(message)
            }
        })?;
    state
        .store
        .save_notification_preferences(id, &body, chrono::Utc::now())
        .await?;
    // The audit log gets the preferences as shown (the webhook key left out).
    audit(
        state,
        actor,
        "notifications.update",
        format!("user:{id}"),
        Some(&before.view()),
        Some(&after.view()),
    )
    .await?;
    Ok(Json(after.view()))
}
