//! A challenge's statement for disputes (its owner and admins): the JSON, a PDF and a
//! printable HTML page. Each request makes one statement (`crate::statement`), records its
//! SHA-256 (so the firm can later confirm it issued a file), audits it (`statement.issue`) and
//! serves it; the hash travels in the `X-Statement-Sha256` header of all three.

use super::audit;
use crate::AppState;
use crate::auth::{CurrentUser, OwnedAccount, no_such_account};
use crate::error::AppError;
use crate::statement::{Issued, StatementError};
use axum::extract::State;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use shared::domain::AccountId;

/// The header carrying the SHA-256 of the statement's JSON.
pub const SHA256_HEADER: &str = "x-statement-sha256";

/// `GET /api/accounts/{account}/statement`: the statement's JSON, as a download.
pub async fn json(
    State(state): State<AppState>,
    user: CurrentUser,
    OwnedAccount(id): OwnedAccount,
) -> Result<Response, AppError> {
    let issued = issue(&state, &user, &id).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        issued.statement.file_name("json")
    );
    Ok(reply(
        &issued,
        "application/json",
        Some(disposition),
        issued.json.clone(),
    ))
}

/// `GET /api/accounts/{account}/statement.pdf`: the statement as a PDF for people.
pub async fn pdf(
    State(state): State<AppState>,
    user: CurrentUser,
    OwnedAccount(id): OwnedAccount,
) -> Result<Response, AppError> {
    let issued = issue(&state, &user, &id).await?;
    let disposition = format!("inline; filename=\"{}\"", issued.statement.file_name("pdf"));
    let body = crate::statement::pdf(&issued);
    Ok(reply(&issued, "application/pdf", Some(disposition), body))
}

/// `GET /api/accounts/{account}/statement.html`: the statement as a printable page.
pub async fn html(
    State(state): State<AppState>,
    user: CurrentUser,
    OwnedAccount(id): OwnedAccount,
) -> Result<Response, AppError> {
    let issued = issue(&state, &user, &id).await?;
    let body = crate::statement::html(&issued).into_bytes();
    Ok(reply(&issued, "text/html; charset=utf-8", None, body))
}

fn reply(
    issued: &Issued,
    content_type: &str,
    disposition: Option<String>,
    body: Vec<u8>,
) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // The file name holds only characters a header can carry (`Statement::file_name`).
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&issued.sha256) {
        headers.insert(HeaderName::from_static(SHA256_HEADER), value);
    }
    response
}

/// Makes the account's statement, records its hash and audits it, before anything is served.
async fn issue(state: &AppState, user: &CurrentUser, id: &AccountId) -> Result<Issued, AppError> {
    let summary = state.hub.summary(id).ok_or_else(no_such_account)?;
    // To the millisecond: the time the statement states is the one the store records.
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let statement = crate::statement::assemble(state.store.as_ref(), &summary, now)
        .await
        .map_err(|error| match error {
            StatementError::Store(error) => AppError::Database(error),
            corrupt @ StatementError::Corrupt(..) => AppError::Internal(corrupt.to_string()),
        })?
        .ok_or_else(|| {
            AppError::Conflict(
                "This account has no challenge to state yet (it may still be reading its \
                 history); try again once its challenge shows."
                    .to_owned(),
            )
        })?;
    let issued = Issued::new(statement);
    state
        .store
        .record_statement(&store::IssuedStatement {
            account: id.clone(),
            sha256: issued.sha256.clone(),
            generated_at: issued.statement.generated_at,
            generated_by: user.user.username.clone(),
        })
        .await?;
    audit(
        state,
        user,
        "statement.issue",
        format!("account:{id}"),
        None::<&serde_json::Value>,
        Some(&serde_json::json!({
            "sha256": issued.sha256,
            "format": issued.statement.format,
            "generated_at": issued.statement.generated_at,
            "status": issued.statement.decision.status,
        })),
    )
    .await?;
    tracing::info!(account = %id, sha256 = %issued.sha256, by = %user.user.username, "statement issued");
    Ok(issued)
}
