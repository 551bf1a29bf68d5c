use crate::sse::Connection;
use leptos::prelude::*;

/// Whether live updates are flowing (`data-state` is `connecting`, `open` or `reconnecting`).
#[component]
pub fn StreamStatus(#[prop(into)] connection: Signal<Connection>) -> impl IntoView {
    let state = move || match connection.get() {
        Connection::Connecting => "connecting",
        Connection::Open => "open",
        Connection::Reconnecting => "reconnecting",
    };
    let label = move || match connection.get() {
        Connection::Connecting => "Connecting to live updates…",
        Connection::Open => "Live updates",
        Connection::Reconnecting => "Connection lost, reconnecting…",
    };
    view! {
        <span
            class=move || format!("stream stream-{}", state())
            data-testid="stream-status"
            data-state=state
            role="status"
            aria-live="polite"
        >
            <span class="stream-dot" aria-hidden="true"></span>
            {label}
        </span>
    }
}
