//! Who owns which account, for admins (the users page and a challenge's admin page). Changing
//! an owner is `accounts::assign` and `accounts::unassign`.

use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use shared::api::{AccountOwnerResponse, AccountOwnersResponse};
use std::collections::HashMap;

/// `GET /api/account-owners`: every stored account with its owner, in id order.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<AccountOwnersResponse>, AppError> {
    let users: HashMap<_, _> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|user| (user.id, user.summary()))
        .collect();
    let accounts = state
        .store
        .accounts()
        .await?
        .into_iter()
        .map(|record| AccountOwnerResponse {
            owner: record.owner.and_then(|id| users.get(&id).cloned()),
            account: record.id,
        })
        .collect();
    Ok(Json(AccountOwnersResponse { accounts }))
}
