//! The route table. Handlers are thin: extract, call, map.

mod accounts;
mod assets;
mod stream;

use crate::AppState;
use crate::error::AppError;
use axum::Router;
use axum::routing::get;
use std::path::Path;

/// Every route of the server.
pub fn router(state: AppState, assets_dir: &Path) -> Router {
    let api = Router::new()
        .route("/accounts", get(accounts::list))
        .route("/accounts/{id}", get(accounts::get))
        .route("/accounts/{id}/history", get(accounts::history))
        .route("/stream", get(stream::subscribe))
        .fallback(api_not_found);
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
        .fallback_service(assets::service(assets_dir))
}

async fn api_not_found() -> AppError {
    AppError::NotFound("There is no such API endpoint.".to_owned())
}
