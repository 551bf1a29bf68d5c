//! Users, for admins.

use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use axum::Json;
use axum::extract::{Path, State};
use shared::api::{UserId, UserSummary, UsersResponse};

/// `GET /api/users`.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<UsersResponse>, AppError> {
    let users = state.store.users().await?;
    Ok(Json(UsersResponse {
        users: users.iter().map(crate::db::User::summary).collect(),
    }))
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
    set_disabled(&state, id, true).await
}

/// `POST /api/users/{user}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(user): Path<String>,
) -> Result<Json<UserSummary>, AppError> {
    set_disabled(&state, user_id(&user)?, false).await
}

async fn set_disabled(
    state: &AppState,
    id: UserId,
    disabled: bool,
) -> Result<Json<UserSummary>, AppError> {
    let user = state
        .store
        .set_user_disabled(id, disabled)
        .await?
        .ok_or_else(no_such_user)?;
    tracing::info!(user = %user.username, disabled, "user access changed");
    Ok(Json(user.summary()))
}

fn user_id(text: &str) -> Result<UserId, AppError> {
    text.parse().map(UserId).map_err(|_| no_such_user())
}

fn no_such_user() -> AppError {
    AppError::NotFound("There is no such user.".to_owned())
}
