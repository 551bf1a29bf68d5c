//! API tokens for MetaApi's risk management API, for admins: list, create (the secret is shown
//! once; only its SHA-256 is stored), revoke. Every change is written to the audit log. And the
//! dashboard's view of an account's trackers.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, OwnedAccount};
use crate::error::AppError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use shared::api::{
    ApiTokenSummary, ApiTokensResponse, CreateApiTokenRequest, CreatedApiToken,
    RiskTrackerEventView, RiskTrackersResponse,
};
use shared::domain::AccountId;
use store::{ApiToken, TrackerEventFilter};

/// The longest token name kept.
const MAX_NAME_CHARS: usize = 100;
/// The most accounts one token may see.
const MAX_ACCOUNTS: usize = 10_000;
/// What every token's secret starts with (so a leaked one is recognisable).
const SECRET_PREFIX: &str = "rdk_";
/// The tracker events the dashboard shows.
const DASHBOARD_EVENTS: u32 = 50;

fn summary(token: &ApiToken) -> ApiTokenSummary {
    ApiTokenSummary {
        id: token.id.clone(),
        name: token.name.clone(),
        accounts: token
            .accounts
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        created_by: token.created_by.clone(),
        created_at: token.created_at,
        last_used_at: token.last_used_at,
        revoked_at: token.revoked_at,
    }
}

/// `GET /api/api-tokens`.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ApiTokensResponse>, AppError> {
    let tokens = state.store.api_tokens().await?;
    Ok(Json(ApiTokensResponse {
        tokens: tokens.iter().map(summary).collect(),
    }))
}

/// `POST /api/api-tokens`: a token for the accounts chosen; its secret is in this answer only.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(request): JsonBody<CreateApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiToken>), AppError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::Unprocessable(format!(
            "name: give the token a name of 1 to {MAX_NAME_CHARS} characters (what it is for)."
        )));
    }
    if request.accounts.is_empty() {
        return Err(AppError::Unprocessable(
            "accounts: choose at least one account the token may see.".to_owned(),
        ));
    }
    if request.accounts.len() > MAX_ACCOUNTS {
        return Err(AppError::Unprocessable(format!(
            "accounts: at most {MAX_ACCOUNTS} accounts per token."
        )));
    }
    let mut accounts: Vec<AccountId> = Vec::with_capacity(request.accounts.len());
    for id in &request.accounts {
        let account = AccountId(id.clone());
        if !state.hub.contains(&account) {
            return Err(AppError::Unprocessable(format!(
                "accounts: there is no account {id:?}."
            )));
        }
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    let secret = format!(
        "{SECRET_PREFIX}{}",
        crate::auth::random_token().map_err(|e| AppError::Internal(e.to_string()))?
    );
    let id = crate::auth::random_token()
        .map_err(|e| AppError::Internal(e.to_string()))?
        .chars()
        .take(16)
        .collect::<String>();
    let token = ApiToken {
        id,
        name: name.to_owned(),
        accounts,
        created_by: admin.user.username.clone(),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    state
        .store
        .create_api_token(&token, &crate::auth::token_hash(&secret))
        .await?;
    let summary = summary(&token);
    audit(
        &state,
        &admin,
        "api_token.create",
        format!("api_token:{}", token.id),
        None::<&ApiTokenSummary>,
        Some(&summary),
    )
    .await?;
    tracing::info!(token = %token.id, name = %token.name, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            token: secret,
            api_token: summary,
        }),
    ))
}

/// `POST /api/api-tokens/{token}/revoke`: the token opens nothing from now on.
pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ApiTokenSummary>, AppError> {
    let before = state
        .store
        .api_token(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no API token {id:?}.")))?;
    let token = state
        .store
        .revoke_api_token(&id, Utc::now())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("There is no API token {id:?}.")))?;
    let after = summary(&token);
    if before.revoked_at.is_none() {
        audit(
            &state,
            &admin,
            "api_token.revoke",
            format!("api_token:{id}"),
            Some(&summary(&before)),
            Some(&after),
        )
        .await?;
        tracing::info!(token = %id, "API token revoked");
    }
    Ok(Json(after))
}

/// `GET /api/accounts/{account}/trackers`: the account's MetaApi risk trackers and their
/// latest events, for its owner and admins.
pub async fn account_trackers(
    State(state): State<AppState>,
    OwnedAccount(account): OwnedAccount,
) -> Result<Json<RiskTrackersResponse>, AppError> {
    let trackers = state.risk.views(&account);
    let events = state
        .store
        .tracker_events(&TrackerEventFilter {
            account: Some(account.clone()),
            limit: DASHBOARD_EVENTS,
            newest_first: true,
            ..TrackerEventFilter::default()
        })
        .await?;
    let events = events
        .into_iter()
        .map(|record| {
            let body: serde_json::Value =
                serde_json::from_str(&record.event.body_json).unwrap_or_default();
            let number = |key: &str| {
                body.get(key)
                    .map(ToString::to_string)
                    .and_then(|t| t.parse::<rust_decimal::Decimal>().ok())
                    .unwrap_or_default()
            };
            RiskTrackerEventView {
                sequence_number: record.sequence_number,
                tracker_id: record.event.tracker_id.clone(),
                broker_time: record.event.broker_time.clone(),
                exceeded: body
                    .get("exceededThresholdType")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned(),
                absolute_drawdown: number("absoluteDrawdown"),
                absolute_profit: number("absoluteProfit"),
            }
        })
        .collect();
    Ok(Json(RiskTrackersResponse { trackers, events }))
}
