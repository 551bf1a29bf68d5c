//! The route table. Handlers are thin: extract, call, map.

mod accounts;
mod assets;
mod health;
mod stream;

use crate::AppState;
use crate::error::AppError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use std::path::Path;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// The longest an ordinary API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the server.
pub fn router(state: AppState, assets_dir: &Path) -> Router {
    // Ordinary requests get a deadline; the stream is long-lived by design.
    let timed = Router::new()
        .route("/accounts", get(accounts::list))
        .route("/accounts/{id}", get(accounts::get))
        .route("/accounts/{id}/history", get(accounts::history))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    let api = timed
        .route("/stream", get(stream::subscribe))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .with_state(state)
        .fallback_service(assets::service(assets_dir))
}

async fn api_not_found() -> AppError {
    AppError::NotFound("There is no such API endpoint.".to_owned())
}
