//! Signing in and out, and who is signed in.

use super::JsonBody;
use crate::AppState;
use crate::auth::{ClientIp, CurrentUser};
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::api::{LoginRequest, SessionResponse};
use std::time::Duration;

/// The one answer to a failed sign-in, whatever failed: it does not tell whether the user exists.
const WRONG_CREDENTIALS: &str = "The username or password is not right.";

/// `POST /api/auth/login`: checks the password, opens a session, sets its cookie.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response, AppError> {
    if let Err(wait) = state.auth.throttle(&request.username, ip) {
        let seconds = wait.as_secs().max(1);
        tracing::warn!(?ip, "sign-in attempts throttled");
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many sign-in attempts. Please wait {seconds} seconds and try again."
            ),
            retry_after: wait,
        });
    }
    let user = state
        .auth
        .check_password(state.store.as_ref(), &request.username, &request.password)
        .await?;
    let Some(user) = user else {
        state.auth.failed(&request.username, ip);
        tracing::info!(?ip, "a sign-in failed");
        return Err(AppError::Unauthorized(WRONG_CREDENTIALS.to_owned()));
    };
    state.auth.succeeded(&request.username, ip);
    let opened = state.auth.open_session(state.store.as_ref(), &user).await?;
    tracing::info!(user = %user.username, "signed in");
    Ok(([(header::SET_COOKIE, opened.cookie)], Json(opened.response)).into_response())
}

/// `POST /api/auth/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    state.store.delete_session(&user.token_hash).await?;
    let cleared = state.auth.session_cookie("", Duration::ZERO)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// `GET /api/auth/me`: the signed-in user and the session's anti-forgery token.
pub async fn me(user: CurrentUser) -> Json<SessionResponse> {
    Json(SessionResponse {
        user: user.user.info(),
        csrf_token: user.csrf_token,
    })
}
