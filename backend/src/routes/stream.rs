//! The live stream: Server-Sent Events carrying `shared::api::StreamEvent`s.
//!
//! One connection carries every account its user may see (or one, with `?account=`). A new
//! connection first receives a `snapshot` of those accounts, then every change. Each event has
//! an id (`EPOCH-SEQ`, from the hub); a reconnect that sends the last one back (`Last-Event-ID`,
//! as browsers do, or `?last_event_id=` when the page opens a new `EventSource` itself) resumes
//! right after it with no gap and no duplicate, while the hub still holds the events since;
//! otherwise it starts with a snapshot. A subscriber that falls further behind than the hub's
//! buffer (a slow client: its socket is full, so this stream is not polled) gets a new snapshot
//! instead of a gap, and never holds up the publisher or other subscribers. Comments keep idle
//! connections alive. The stream ends when the server shuts down, so graceful shutdown never
//! waits on an open tab.
//!
//! A trader's stream carries only the accounts they own (the snapshot and every change); an
//! admin's carries every account. Ownership is decided per event: when an account's owner
//! changes (the hub is told at once, by this instance or, through `crate::live`, by another;
//! every session check reads the accounts again in case a notice was missed), the stream reads
//! its accounts again before it sends anything more, and when they differ it sends a new
//! snapshot of what it may carry now (a resync the page understands: an account it lost
//! disappears, one it gained appears). The session is checked again every few seconds, so a
//! stream ends soon after its user signs out, is disabled or the session expires. A user may
//! hold at most `max_streams_per_user` streams at once (429 beyond).

use crate::AppState;
use crate::auth::{CurrentUser, no_such_account};
use crate::error::AppError;
use crate::hub::{Sequenced, Start};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use shared::api::{AccountSummary, StreamEvent};
use shared::domain::AccountId;
use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often an open stream checks that its session still works.
const SESSION_CHECK: Duration = Duration::from_secs(5);
/// How often an idle stream sends a comment, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The longest `Last-Event-ID` looked at.
const MAX_EVENT_ID: usize = 64;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    account: Option<String>,
    /// The last event id seen, for a page that reconnects with a new `EventSource` (which
    /// cannot send `Last-Event-ID`).
    last_event_id: Option<String>,
}

pub async fn subscribe(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let Some(slot) = state.streams.acquire(user.user.id) else {
        return Err(AppError::TooManyRequests {
            message: format!(
                "You have {} live streams open, the most allowed. Close a tab and try again.",
                state.streams.max_per_user()
            ),
            retry_after: SESSION_CHECK,
        });
    };
    let only = query.account.map(AccountId);
    // Subscribed before ownership is read, so a change in between is seen.
    let mut owners = state.hub.watch_owners();
    let mut visible = user.visible_accounts(state.store.as_ref()).await?;
    if let Some(id) = &only
        && !(state.hub.contains(id) && may_see(visible.as_ref(), id))
    {
        return Err(no_such_account());
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        .filter(|id| id.len() <= MAX_EVENT_ID);
    let hub = state.hub.clone();
    let store = state.store.clone();
    let shutdown = state.shutdown.clone();
    let metrics = state.metrics.clone();
    let attached = hub.attach(last_event_id.as_deref());
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = async_stream::stream! {
        // Held as long as the connection: the cap counts it.
        let _slot = slot;
        let mut rx = attached.rx;
        // The sequence number this subscriber is up to date with.
        let mut through = attached.through;
        let wanted = |visible: &Option<HashSet<AccountId>>, id: &AccountId| {
            may_see(visible.as_ref(), id) && only.as_ref().is_none_or(|only| only == id)
        };
        match attached.start {
            Start::Replay(events) => {
                for message in events {
                    if message.event.account_id().is_some_and(|id| wanted(&visible, id)) {
                        yield Ok(to_sse(&hub.event_id(message.seq), &message));
                    }
                }
            }
            Start::Snapshot { seq, accounts } => {
                yield Ok(snapshot(&hub.event_id(seq), accounts, |id| wanted(&visible, id)));
            }
        }
        loop {
            // What the stream may carry is decided again whenever an owner changed (the hub
            // tells), and at every session check in case a notice from another instance was
            // missed.
            let mut decide_again = false;
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = session_check.tick() => {
                    match user.still_valid(store.as_ref(), chrono::Utc::now()).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        // A database hiccup does not end a stream; the next check decides.
                        Err(error) => {
                            tracing::warn!(%error, "cannot check a stream's session");
                            continue;
                        }
                    }
                    decide_again = visible.is_some();
                    None
                }
                changed = owners.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    decide_again = visible.is_some();
                    None
                }
                received = rx.recv() => Some(received),
            };
            // An event about to be sent after an ownership change waits for the new decision.
            if received.is_some() && visible.is_some() && owners.has_changed().unwrap_or(true) {
                decide_again = true;
            }
            let mut resync = false;
            if decide_again {
                owners.mark_unchanged();
                match user.visible_accounts(store.as_ref()).await {
                    Ok(now) => {
                        if now != visible {
                            visible = now;
                            resync = true;
                        }
                    }
                    Err(error) => {
                        // Without knowing what it may carry, the stream carries nothing: it
                        // ends, and the browser's reconnection decides afresh.
                        tracing::warn!(%error, "cannot read a stream's accounts; ending it");
                        break;
                    }
                }
            }
            match received {
                _ if resync => {}
                None => continue,
                Some(Ok(message)) => {
                    if message.seq <= through {
                        continue;
                    }
                    through = message.seq;
                    if message.event.account_id().is_some_and(|id| wanted(&visible, id)) {
                        yield Ok(to_sse(&hub.event_id(message.seq), &message));
                    }
                    continue;
                }
                // Too far behind: start over from the current state.
                Some(Err(RecvError::Lagged(_))) => {
                    metrics.stream_resyncs.inc();
                    resync = true;
                }
                Some(Err(RecvError::Closed)) => break,
            }
            if resync {
                // Start over on a fresh subscription, from a snapshot of what the stream may
                // carry now (the old subscription's backlog is covered by it): an account lost
                // disappears from the page, one gained appears.
                let attached = hub.attach(None);
                rx = attached.rx;
                through = attached.through;
                if let Start::Snapshot { seq, accounts } = attached.start {
                    yield Ok(snapshot(&hub.event_id(seq), accounts, |id| wanted(&visible, id)));
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn may_see(visible: Option<&HashSet<AccountId>>, id: &AccountId) -> bool {
    visible.is_none_or(|ids| ids.contains(id))
}

fn snapshot(id: &str, accounts: Vec<AccountSummary>, wanted: impl Fn(&AccountId) -> bool) -> Event {
    let accounts = accounts.into_iter().filter(|s| wanted(&s.id)).collect();
    let data = serde_json::to_string(&StreamEvent::Snapshot { accounts }).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialise a stream snapshot");
        "{}".to_owned()
    });
    Event::default().id(id).data(data)
}

fn to_sse(id: &str, message: &Sequenced) -> Event {
    Event::default().id(id).data(&*message.data)
}
