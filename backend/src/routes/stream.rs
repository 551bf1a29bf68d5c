//! The live stream: Server-Sent Events carrying `shared::api::StreamEvent`s.
//!
//! A new connection first receives the current state of its accounts, then every change. A
//! subscriber that falls too far behind receives the current state again instead of a gap. The
//! stream ends when the server shuts down, so graceful shutdown never waits on an open tab.
//!
//! A trader's stream carries only the accounts they own (the snapshot and every change); an
//! admin's carries every account. The session is checked again every few seconds, so a stream
//! ends soon after its user signs out, is disabled or the session expires.

use crate::AppState;
use crate::auth::{CurrentUser, no_such_account};
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

/// How often an open stream checks that its session still works.
const SESSION_CHECK: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    account: Option<String>,
}

pub async fn subscribe(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let only = query.account.map(AccountId);
    let visible = user.visible_accounts(state.store.as_ref()).await?;
    let may_see = move |id: &AccountId| visible.as_ref().is_none_or(|ids| ids.contains(id));
    if let Some(id) = &only
        && !(state.hub.contains(id) && may_see(id))
    {
        return Err(no_such_account());
    }
    let wanted = move |id: &AccountId| may_see(id) && only.as_ref().is_none_or(|only| only == id);
    let hub = state.hub.clone();
    let store = state.store.clone();
    let shutdown = state.shutdown.clone();
    let mut rx = hub.subscribe();
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = async_stream::stream! {
        let mut resync = true;
        loop {
            if resync {
                let seq = hub.current_seq();
                for event in hub.snapshot(None) {
                    if wanted(event_account(&event)) {
                        yield Ok(to_sse(seq, &event));
                    }
                }
                resync = false;
            }
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = session_check.tick() => {
                    match user.still_valid(store.as_ref(), chrono::Utc::now()).await {
                        Ok(true) => continue,
                        Ok(false) => break,
                        // A database hiccup does not end a stream; the next check decides.
                        Err(error) => {
                            tracing::warn!(%error, "cannot check a stream's session");
                            continue;
                        }
                    }
                }
                received = rx.recv() => received,
            };
            match received {
                Ok(message) => {
                    if wanted(event_account(&message.event)) {
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
    event.account_id()
}

fn to_sse(seq: u64, event: &StreamEvent) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialise a stream event");
        "{}".to_owned()
    });
    Event::default().id(seq.to_string()).data(data)
}
