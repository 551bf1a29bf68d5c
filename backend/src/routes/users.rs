//! Users, for admins: list, create, reset a password, disable and enable. Every change is
//! written to the audit log.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, hash_password_blocking};
use crate::config::{MAX_USERNAME_CHARS, validate_password, validate_username};
use crate::error::AppError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shared::api::{CreateUserRequest, ResetPasswordRequest, UserId, UserSummary, UsersResponse};

/// `GET /api/users`.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<UsersResponse>, AppError> {
    let users = state.store.users().await?;
    Ok(Json(UsersResponse {
        users: users.iter().map(store::User::summary).collect(),
    }))
}

/// `POST /api/users`: a new trader or admin with a password the admin chose.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(request): JsonBody<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserSummary>), AppError> {
    check_username(&request.username)?;
    validate_password(&request.password).map_err(AppError::Unprocessable)?;
    let hash = hash_password_blocking(request.password).await?;
    let user = state
        .store
        .create_user(&request.username, &hash, request.role)
        .await?
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "The username {:?} is taken (usernames are not case-sensitive).",
                request.username
            ))
        })?;
    let summary = user.summary();
    audit(
        &state,
        &admin,
        "user.create",
        subject(user.id),
        None::<&UserSummary>,
        Some(&summary),
    )
    .await?;
    tracing::info!(user = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(summary)))
}

/// `POST /api/users/{user}/password`: sets a new password; the user's sessions end at once.
pub async fn reset_password(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<String>,
    JsonBody(request): JsonBody<ResetPasswordRequest>,
) -> Result<Json<UserSummary>, AppError> {
    let id = user_id(&user)?;
    validate_password(&request.password).map_err(AppError::Unprocessable)?;
    if state.store.user(id).await?.is_none() {
        return Err(no_such_user());
    }
    let hash = hash_password_blocking(request.password).await?;
    let user = state
        .store
        .set_user_password(id, &hash)
        .await?
        .ok_or_else(no_such_user)?;
    // The password itself is never written anywhere but as its hash: the entry says only that
    // it changed.
    let summary = user.summary();
    audit(
        &state,
        &admin,
        "user.reset_password",
        subject(id),
        Some(&summary),
        Some(&summary),
    )
    .await?;
    tracing::info!(user = %user.username, "password reset; sessions ended");
    Ok(Json(summary))
}

/// `POST /api/users/{user}/disable`: the user can no longer sign in, and their sessions stop
/// working at once.
pub async fn disable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<String>,
) -> Result<Json<UserSummary>, AppError> {
    let id = user_id(&user)?;
    if id == admin.user.id {
        return Err(AppError::BadRequest(
            "You cannot disable yourself; ask another admin.".to_owned(),
        ));
    }
    set_disabled(&state, &admin, id, true).await
}

/// `POST /api/users/{user}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<String>,
) -> Result<Json<UserSummary>, AppError> {
    set_disabled(&state, &admin, user_id(&user)?, false).await
}

async fn set_disabled(
    state: &AppState,
    admin: &crate::auth::CurrentUser,
    id: UserId,
    disabled: bool,
) -> Result<Json<UserSummary>, AppError> {
    let before = state.store.user(id).await?.ok_or_else(no_such_user)?;
    let user = state
        .store
        .set_user_disabled(id, disabled)
        .await?
        .ok_or_else(no_such_user)?;
    let summary = user.summary();
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(
        state,
        admin,
        action,
        subject(id),
        Some(&before.summary()),
        Some(&summary),
    )
    .await?;
    tracing::info!(user = %user.username, disabled, "user access changed");
    Ok(Json(summary))
}

/// A username the API accepts, with a message that does not echo an absurdly long one.
fn check_username(username: &str) -> Result<(), AppError> {
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err(AppError::Unprocessable(format!(
            "The username must be 1 to {MAX_USERNAME_CHARS} characters."
        )));
    }
    validate_username(username).map_err(|message| {
        // The shared check words it for a configuration file; here a person reads it.
        let mut message = message;
        if let Some(first) = message.get(..1) {
            message.replace_range(..1, &first.to_uppercase());
        }
        AppError::Unprocessable(format!("{message}."))
    })
}

/// The audit log's name for a user.
fn subject(id: UserId) -> String {
    format!("user:{id}")
}

pub(super) fn user_id(text: &str) -> Result<UserId, AppError> {
    text.parse().map(UserId).map_err(|_| no_such_user())
}

pub(super) fn no_such_user() -> AppError {
    AppError::NotFound("There is no such user.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(username: &str, expected: Result<(), &str>) {
        match (check_username(username), expected) {
            (Ok(()), Ok(())) => {}
            (Err(AppError::Unprocessable(message)), Err(expected)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}");
                assert!(message.len() < 200, "{message:?}");
            }
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    #[test]
    fn usernames_are_checked_with_clear_messages() {
        check("jane", Ok(()));
        check("jane.doe@firm-1_x", Ok(()));
        check("", Err("1 to 64 characters"));
        check(&"a".repeat(65), Err("1 to 64 characters"));
        check(&"a".repeat(100_000), Err("1 to 64 characters"));
        check("jane doe", Err("may only contain"));
        check("jäne", Err("may only contain"));
        check("Username", Ok(()));
    }
}
