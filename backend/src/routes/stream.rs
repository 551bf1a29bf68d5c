//! The live stream: Server-Sent Events carrying `shared::api::StreamEvent`s.
//!
//! A new connection first receives the current state of its accounts, then every change. A
//! subscriber that falls too far behind receives the current state again instead of a gap. The
//! stream ends when the server shuts down, so graceful shutdown never waits on an open tab.

use crate::AppState;
use crate::error::AppError;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use shared::api::StreamEvent;
use shared::domain::AccountId;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    account: Option<String>,
}

pub async fn subscribe(
    State(state): State<AppState>,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let only = query.account.map(AccountId);
    if let Some(id) = &only
        && !state.hub.contains(id)
    {
        return Err(AppError::NotFound(
            "No account with this id is tracked.".to_owned(),
        ));
    }
    let hub = state.hub.clone();
    let shutdown = state.shutdown.clone();
    let mut rx = hub.subscribe();
    let stream = async_stream::stream! {
        let mut resync = true;
        loop {
            if resync {
                let seq = hub.current_seq();
                for event in hub.snapshot(only.as_ref()) {
                    yield Ok(to_sse(seq, &event));
                }
                resync = false;
            }
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = rx.recv() => received,
            };
            match received {
                Ok(message) => {
                    if only.as_ref().is_none_or(|id| *id == *event_account(&message.event)) {
                        yield Ok(to_sse(message.seq, &message.event));
                    }
                }
                Err(RecvError::Lagged(_)) => resync = true,
                Err(RecvError::Closed) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn event_account(event: &StreamEvent) -> &AccountId {
    match event {
        StreamEvent::Account { account_id, .. } | StreamEvent::Feed { account_id, .. } => {
            account_id
        }
    }
}

fn to_sse(seq: u64, event: &StreamEvent) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialise a stream event");
        "{}".to_owned()
    });
    Event::default().id(seq.to_string()).data(data)
}
