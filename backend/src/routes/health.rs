//! Probes for supervisors and load balancers.

use crate::AppState;
use crate::error::AppError;
use axum::extract::State;

/// `/healthz`: the process serves requests.
pub async fn live() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers, so the server can do its work.
pub async fn ready(State(state): State<AppState>) -> Result<&'static str, AppError> {
    state.store.ping().await?;
    Ok("ready")
}
