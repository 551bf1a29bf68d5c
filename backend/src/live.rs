//! Live updates between instances: what a tracker publishes to its own hub is also sent to the
//! other instances on the same PostgreSQL database (NOTIFY), and each instance listens (LISTEN)
//! and publishes the others' updates into its own hub, so a browser connected to any instance
//! sees every account, whichever instance tracks it. It never touches tracking data: updates
//! are views already persisted by their tracker.
//!
//! A change of an account's owner is sent too, so every instance's open streams decide again
//! at once what they may carry (they also read it again every few seconds, in case a notice
//! is missed).
//!
//! A payload too large for NOTIFY is saved in the store and only its account is notified; the
//! listeners read it there. Updates sent while a listener is reconnecting are missed; the
//! account's next update (its next poll) brings the view up to date again. SQLite serves one
//! instance: nothing is sent.

use crate::hub::Hub;
use serde::{Deserialize, Serialize};
use shared::api::{AccountView, FeedStatus};
use shared::domain::AccountId;
use std::sync::Arc;
use std::time::Duration;
use store::{MAX_LIVE_PAYLOAD, Store};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Updates waiting to be sent; when full (the database is slow) new ones are dropped: each
/// account's next poll sends a fresh view.
const QUEUE: usize = 4096;

/// One update as sent between instances.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The sending instance: it ignores its own updates (already in its hub).
    origin: String,
    #[serde(flatten)]
    update: Update,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Update {
    /// New numbers for an account.
    View {
        account: AccountId,
        currency: String,
        feed: FeedStatus,
        view: Box<AccountView>,
    },
    /// A change of an account's feed health.
    Feed {
        account: AccountId,
        feed: FeedStatus,
    },
    /// A view too large to notify: read it from the store.
    Stored { account: AccountId },
    /// An account's owner changed: open streams decide again what they may carry.
    Owners,
}

/// Sends this instance's live updates to the others (a no-op on SQLite).
#[derive(Clone, Debug, Default)]
pub struct Fanout {
    tx: Option<mpsc::Sender<Update>>,
}

impl Fanout {
    /// Sends nothing (one instance, or tests).
    pub fn none() -> Self {
        Self::default()
    }

    /// Queues an account's new view for the other instances.
    pub fn view(&self, account: &AccountId, currency: &str, view: &AccountView, feed: FeedStatus) {
        self.send(Update::View {
            account: account.clone(),
            currency: currency.to_owned(),
            feed,
            view: Box::new(view.clone()),
        });
    }

    /// Queues a change of an account's feed health for the other instances.
    pub fn feed(&self, account: &AccountId, feed: FeedStatus) {
        self.send(Update::Feed {
            account: account.clone(),
            feed,
        });
    }

    /// Tells the other instances that an account's owner changed.
    pub fn owners_changed(&self) {
        self.send(Update::Owners);
    }

    fn send(&self, update: Update) {
        if let Some(tx) = &self.tx
            && tx.try_send(update).is_err()
        {
            tracing::debug!("the live update queue is full; an update is dropped");
        }
    }
}

/// Starts sending this instance's updates and applying the others' to `hub`, when the store
/// carries live updates between instances (PostgreSQL).
pub fn start(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    instance: &str,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Fanout {
    if !store.shares_live_updates() {
        return Fanout::none();
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    tasks.spawn(send_loop(
        store.clone(),
        instance.to_owned(),
        rx,
        shutdown.clone(),
    ));
    tasks.spawn(listen_loop(
        store,
        hub,
        instance.to_owned(),
        shutdown.clone(),
    ));
    Fanout { tx: Some(tx) }
}

async fn send_loop(
    store: Arc<dyn Store>,
    origin: String,
    mut rx: mpsc::Receiver<Update>,
    shutdown: CancellationToken,
) {
    loop {
        let update = tokio::select! {
            () = shutdown.cancelled() => return,
            update = rx.recv() => match update {
                Some(update) => update,
                None => return,
            },
        };
        if let Err(error) = send(store.as_ref(), &origin, update).await {
            tracing::warn!(%error, "cannot send a live update to the other instances");
        }
    }
}

async fn send(store: &dyn Store, origin: &str, update: Update) -> Result<(), SendError> {
    let account = match &update {
        Update::View { account, .. } | Update::Feed { account, .. } => Some(account.clone()),
        Update::Stored { account } => Some(account.clone()),
        Update::Owners => None,
    };
    let message = Message {
        origin: origin.to_owned(),
        update,
    };
    let payload = serde_json::to_string(&message)?;
    let Some(account) = account.filter(|_| payload.len() >= MAX_LIVE_PAYLOAD) else {
        store.publish_live(&payload).await?;
        return Ok(());
    };
    store.save_live_view(&account, &payload).await?;
    let pointer = serde_json::to_string(&Message {
        origin: origin.to_owned(),
        update: Update::Stored { account },
    })?;
    store.publish_live(&pointer).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot encode a live update: {0}")]
    Json(#[from] serde_json::Error),
}

async fn listen_loop(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    instance: String,
    shutdown: CancellationToken,
) {
    let mut wait = Duration::from_millis(200);
    loop {
        let listener = tokio::select! {
            () = shutdown.cancelled() => return,
            listener = store.listen_live() => listener,
        };
        match listener {
            Ok(Some(mut listener)) => {
                wait = Duration::from_millis(200);
                loop {
                    let received = tokio::select! {
                        () = shutdown.cancelled() => return,
                        received = listener.recv() => received,
                    };
                    match received {
                        Ok(Some(payload)) => {
                            apply(store.as_ref(), &hub, &instance, &payload).await;
                        }
                        Ok(None) => tracing::warn!(
                            "lost the live updates connection; reconnecting (updates sent \
                             meanwhile are missed until each account's next one)"
                        ),
                        Err(error) => {
                            tracing::warn!(%error, "cannot receive live updates; reconnecting");
                            break;
                        }
                    }
                }
            }
            Ok(None) => return,
            Err(error) => tracing::warn!(%error, "cannot listen for live updates; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Publishes another instance's update into this instance's hub.
async fn apply(store: &dyn Store, hub: &Hub, instance: &str, payload: &str) {
    let message: Message = match serde_json::from_str(payload) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "ignoring a live update that does not parse");
            return;
        }
    };
    if message.origin == instance {
        return;
    }
    let update = match message.update {
        Update::Stored { account } => match store.live_view(&account).await {
            Ok(Some(body)) => match serde_json::from_str::<Message>(&body) {
                Ok(stored) => stored.update,
                Err(error) => {
                    tracing::warn!(%account, %error, "ignoring a stored live view that does not parse");
                    return;
                }
            },
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%account, %error, "cannot read a stored live view");
                return;
            }
        },
        update => update,
    };
    match update {
        Update::View {
            account,
            currency,
            feed,
            view,
        } => hub.publish_view_as(&account, &currency, *view, feed),
        Update::Feed { account, feed } => hub.publish_feed(&account, feed),
        Update::Owners => hub.owners_changed(),
        Update::Stored { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_round_trip_and_name_their_origin() {
        let message = Message {
            origin: "i-1".to_owned(),
            update: Update::Feed {
                account: AccountId::from("a"),
                feed: FeedStatus::Stale,
            },
        };
        let text = serde_json::to_string(&message).expect("encode");
        assert!(text.contains("\"origin\":\"i-1\""), "{text}");
        let back: Message = serde_json::from_str(&text).expect("decode");
        assert!(matches!(
            back.update,
            Update::Feed {
                feed: FeedStatus::Stale,
                ..
            }
        ));
    }

    /// A view too large for a NOTIFY payload is saved in the store; the notification names the
    /// account, and a listener of another instance reads the view there. (SQLite sends no
    /// notification, so the test hands the pointer over itself.)
    #[tokio::test]
    async fn a_view_too_large_to_notify_travels_through_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = store::open(&url).await.expect("open");
        let account = AccountId::from("big");
        let time = chrono::DateTime::from_timestamp_millis(1_700_000_000_000).expect("time");
        let info = shared::domain::AccountInfo {
            balance: 100_000.into(),
            equity: 99_000.into(),
            margin: 0.into(),
            free_margin: 99_000.into(),
            margin_level: None,
            currency: "USD".to_owned(),
            leverage: Some(100),
            credit: 0.into(),
        };
        let view = crate::tracker::account_view(time, &info, &[], &shared::peaks::Peaks::default());
        // An absurd currency makes the payload too large.
        let currency = "X".repeat(MAX_LIVE_PAYLOAD);
        let update = Update::View {
            account: account.clone(),
            currency: currency.clone(),
            feed: FeedStatus::Live,
            view: Box::new(view.clone()),
        };
        send(store.as_ref(), "sender", update).await.expect("send");
        assert!(store.live_view(&account).await.expect("read").is_some());

        let pointer = serde_json::to_string(&Message {
            origin: "sender".to_owned(),
            update: Update::Stored {
                account: account.clone(),
            },
        })
        .expect("encode");
        assert!(pointer.len() < MAX_LIVE_PAYLOAD);
        let hub = Hub::new([(account.clone(), "Big".to_owned())]);
        apply(store.as_ref(), &hub, "sender", &pointer).await;
        assert_eq!(
            hub.summary(&account).expect("known").latest,
            None,
            "an instance ignores its own updates"
        );
        apply(store.as_ref(), &hub, "listener", &pointer).await;
        let summary = hub.summary(&account).expect("known");
        assert_eq!(summary.latest, Some(view));
        assert_eq!(summary.currency, Some(currency));
        assert_eq!(summary.feed, FeedStatus::Live);
    }

    /// An owner change on one instance reaches the open streams of another: the listener
    /// tells its hub, which wakes every stream to decide again.
    #[tokio::test]
    async fn an_owner_change_elsewhere_wakes_this_instances_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = store::open(&url).await.expect("open");
        let hub = Hub::new([(AccountId::from("a"), "A".to_owned())]);
        let owners = hub.watch_owners();
        let notice = serde_json::to_string(&Message {
            origin: "other".to_owned(),
            update: Update::Owners,
        })
        .expect("encode");
        apply(store.as_ref(), &hub, "other", &notice).await;
        assert!(
            !owners.has_changed().expect("open"),
            "its own notice is ignored"
        );
        apply(store.as_ref(), &hub, "this", &notice).await;
        assert!(owners.has_changed().expect("open"), "streams are woken");
    }
}
