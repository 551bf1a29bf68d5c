//! The live state of every tracked account and the fan-out of its changes.
//!
//! Trackers publish here after persisting; SSE connections subscribe. Each published event gets
//! the next sequence number, which becomes its SSE `id`.

use shared::api::{AccountSummary, AccountView, BackfillProgress, FeedStatus, StreamEvent};
use shared::domain::AccountId;
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Events a slow subscriber may fall behind by before it is told to resynchronise.
const BUFFER: usize = 1024;

/// A stream event with its sequence number.
#[derive(Clone, Debug)]
pub struct Sequenced {
    /// Monotonic per server process.
    pub seq: u64,
    /// The event.
    pub event: StreamEvent,
}

/// Latest view of every account, plus the broadcast channel of changes.
#[derive(Debug)]
pub struct Hub {
    accounts: RwLock<BTreeMap<AccountId, AccountSummary>>,
    tx: broadcast::Sender<Sequenced>,
    seq: AtomicU64,
}

impl Hub {
    /// A hub for these accounts (id and display name), all still connecting.
    pub fn new(accounts: impl IntoIterator<Item = (AccountId, String)>) -> Self {
        let accounts = accounts
            .into_iter()
            .map(|(id, name)| {
                let summary = AccountSummary {
                    id: id.clone(),
                    name,
                    currency: None,
                    feed: FeedStatus::Connecting,
                    latest: None,
                    backfill: None,
                };
                (id, summary)
            })
            .collect();
        Self {
            accounts: RwLock::new(accounts),
            tx: broadcast::channel(BUFFER).0,
            seq: AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<AccountId, AccountSummary>> {
        // A poisoned lock only means a writer panicked mid-update of plain data: keep serving.
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every account, in id order.
    pub fn summaries(&self) -> Vec<AccountSummary> {
        self.read().values().cloned().collect()
    }

    /// One account.
    pub fn summary(&self, id: &AccountId) -> Option<AccountSummary> {
        self.read().get(id).cloned()
    }

    /// Whether the account is tracked here.
    pub fn contains(&self, id: &AccountId) -> bool {
        self.read().contains_key(id)
    }

    /// The sequence number of the latest published event.
    pub fn current_seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Records new numbers for an account and tells subscribers.
    pub fn publish_view(&self, id: &AccountId, currency: &str, view: AccountView) {
        self.publish_view_as(id, currency, view, FeedStatus::Live);
    }

    /// Records new numbers for an account with the feed's health (numbers can arrive from a
    /// feed that is stale: a broker whose data froze) and tells subscribers.
    pub fn publish_view_as(
        &self,
        id: &AccountId,
        currency: &str,
        view: AccountView,
        feed: FeedStatus,
    ) {
        {
            let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            let Some(summary) = accounts.get_mut(id) else {
                return;
            };
            summary.feed = feed;
            if summary.currency.as_deref() != Some(currency) {
                summary.currency = Some(currency.to_owned());
            }
            summary.latest = Some(view.clone());
            summary.backfill = None;
        }
        self.send(StreamEvent::Account {
            account_id: id.clone(),
            feed,
            view,
        });
    }

    /// Records a change of feed health and tells subscribers.
    pub fn publish_feed(&self, id: &AccountId, feed: FeedStatus) {
        {
            let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            match accounts.get_mut(id) {
                Some(summary) if summary.feed != feed => summary.feed = feed,
                _ => return,
            }
        }
        self.send(StreamEvent::Feed {
            account_id: id.clone(),
            feed,
        });
    }

    /// Records how far reading an account's deal history got and tells subscribers.
    pub fn publish_backfill(&self, id: &AccountId, progress: BackfillProgress) {
        {
            let mut accounts = self.accounts.write().unwrap_or_else(|e| e.into_inner());
            let Some(summary) = accounts.get_mut(id) else {
                return;
            };
            summary.feed = FeedStatus::Backfilling;
            summary.backfill = Some(progress.clone());
        }
        self.send(StreamEvent::Backfill {
            account_id: id.clone(),
            progress,
        });
    }

    fn send(&self, event: StreamEvent) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // No subscriber is not an error: the event is simply not needed by anyone now.
        let _ = self.tx.send(Sequenced { seq, event });
    }

    /// Subscribes to every future event.
    pub fn subscribe(&self) -> broadcast::Receiver<Sequenced> {
        self.tx.subscribe()
    }

    /// The current state as stream events (what a new or resynchronising subscriber gets).
    pub fn snapshot(&self, only: Option<&AccountId>) -> Vec<StreamEvent> {
        self.read()
            .values()
            .filter(|s| only.is_none_or(|id| *id == s.id))
            .map(|s| match &s.latest {
                Some(view) => StreamEvent::Account {
                    account_id: s.id.clone(),
                    feed: s.feed,
                    view: view.clone(),
                },
                None => match &s.backfill {
                    Some(progress) => StreamEvent::Backfill {
                        account_id: s.id.clone(),
                        progress: progress.clone(),
                    },
                    None => StreamEvent::Feed {
                        account_id: s.id.clone(),
                        feed: s.feed,
                    },
                },
            })
            .collect()
    }
}
