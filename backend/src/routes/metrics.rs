//! `/metrics`: Prometheus metrics in the text format. Public: it holds counts, latencies and
//! ages only, nothing that names a person or an account.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// The metrics, read now.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.hub, &state.streams),
    )
}
