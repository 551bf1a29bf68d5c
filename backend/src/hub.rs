//! The live state of every tracked account and the fan-out of its changes.
//!
//! Trackers publish here after persisting; SSE connections attach. Each published event gets the
//! next sequence number of this process and is serialised once, here, for every subscriber. Its
//! SSE `id` is `EPOCH-SEQ` ([`Hub::event_id`]): the epoch is random per process, so an id from a
//! previous process is recognised as such and never resumed from.
//!
//! The hub keeps a bounded ring of the latest events ([`Hub::attach`] replays from it after a
//! `Last-Event-ID`) and a bounded broadcast buffer: a subscriber that falls further behind than
//! the buffer is told so by the channel (`Lagged`) and resynchronises from a snapshot. Publishing
//! never waits for a subscriber.
//!
//! What it must not do: IO of any kind, or hold its lock across anything but memory work.

use shared::api::{AccountSummary, AccountView, BackfillProgress, FeedStatus, StreamEvent, UserId};
use shared::domain::AccountId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, watch};

/// Events a subscriber may fall behind by before it is told to resynchronise (by default).
pub const DEFAULT_STREAM_BUFFER: usize = 1024;
/// Recent events kept for resuming streams (by default).
pub const DEFAULT_STREAM_REPLAY: usize = 4096;

/// A stream event with its sequence number and its serialised form.
#[derive(Clone, Debug)]
pub struct Sequenced {
    /// Monotonic per server process, from 1.
    pub seq: u64,
    /// The event.
    pub event: StreamEvent,
    /// The event as JSON, serialised once for every subscriber.
    pub data: Arc<str>,
    /// When it was published (for the delivery latency the load harness measures).
    pub published: std::time::Instant,
}

/// How an attached subscriber starts.
#[derive(Debug)]
pub enum Start {
    /// Resuming: the events after the subscriber's last id, in order (every account; filter
    /// them as for live events).
    Replay(Vec<Arc<Sequenced>>),
    /// Starting over: the state as of sequence number `seq` (every account; filter it).
    Snapshot {
        /// The last event the snapshot includes.
        seq: u64,
        /// Every account, in id order.
        accounts: Vec<AccountSummary>,
    },
}

/// A new subscription: where to start, and the live events after it.
#[derive(Debug)]
pub struct Attached {
    /// The first thing to send.
    pub start: Start,
    /// The sequence number `start` brings the subscriber to: live events at or below it are
    /// already covered and must be skipped.
    pub through: u64,
    /// Every event published after `through`.
    pub rx: broadcast::Receiver<Arc<Sequenced>>,
}

/// Counts of published events by kind.
#[derive(Debug, Default)]
pub struct EventCounts {
    /// `account` events (new numbers).
    pub account: AtomicU64,
    /// `feed` events (feed health).
    pub feed: AtomicU64,
}

#[derive(Debug)]
struct State {
    accounts: BTreeMap<AccountId, AccountSummary>,
    /// The latest events, oldest first, at most `replay` of them.
    ring: VecDeque<Arc<Sequenced>>,
    seq: u64,
}

/// Latest view of every account, plus the broadcast channel of changes.
#[derive(Debug)]
pub struct Hub {
    state: RwLock<State>,
    tx: broadcast::Sender<Arc<Sequenced>>,
    epoch: String,
    replay: usize,
    counts: EventCounts,
    /// Bumped whenever an account's owner changes (here or on another instance): open streams
    /// decide again what they may carry before their next event.
    owners: watch::Sender<u64>,
    /// Bumped whenever an account is archived (here or on another instance): its tracker, on
    /// whichever instance, stops.
    archived: watch::Sender<u64>,
}

impl Hub {
    /// A hub for these accounts (id and display name), all still connecting, with the default
    /// buffers.
    pub fn new(accounts: impl IntoIterator<Item = (AccountId, String)>) -> Self {
        Self::with_buffers(accounts, DEFAULT_STREAM_BUFFER, DEFAULT_STREAM_REPLAY)
    }

    /// A hub whose subscribers may fall `buffer` events behind (at least 1) and which keeps the
    /// latest `replay` events for resuming streams.
    pub fn with_buffers(
        accounts: impl IntoIterator<Item = (AccountId, String)>,
        buffer: usize,
        replay: usize,
    ) -> Self {
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
                    transport: None,
                };
                (id, summary)
            })
            .collect();
        Self {
            state: RwLock::new(State {
                accounts,
                ring: VecDeque::with_capacity(replay.min(DEFAULT_STREAM_REPLAY)),
                seq: 0,
            }),
            tx: broadcast::channel(buffer.max(1)).0,
            epoch: format!("{:08x}", fastrand::u32(..)),
            replay,
            counts: EventCounts::default(),
            owners: watch::Sender::new(0),
            archived: watch::Sender::new(0),
        }
    }

    /// Tells every open stream that an account's owner changed (after the store has it), so
    /// each decides again which accounts it may carry before it sends anything more.
    pub fn owners_changed(&self) {
        self.owners.send_modify(|generation| *generation += 1);
    }

    /// Watches for changes of account owners: subscribe before reading who owns what, so a
    /// change in between is seen.
    pub fn watch_owners(&self) -> watch::Receiver<u64> {
        self.owners.subscribe()
    }

    /// Archives an account: its numbers stay as they stand (no later event changes them), its
    /// feed shows `archived`, and its tracker stops (see [`Hub::watch_archived`]). `false` when
    /// it is not shown here or archived already.
    pub fn archive(&self, id: &AccountId) -> bool {
        self.publish_change(
            id,
            StreamEvent::Feed {
                account_id: id.clone(),
                feed: FeedStatus::Archived,
            },
        )
    }

    /// Whether the account is archived.
    pub fn is_archived(&self, id: &AccountId) -> bool {
        self.read()
            .accounts
            .get(id)
            .is_some_and(|summary| summary.feed == FeedStatus::Archived)
    }

    /// Watches for archived accounts: a tracker subscribes at start and stops when its own
    /// account is archived.
    pub fn watch_archived(&self) -> watch::Receiver<u64> {
        self.archived.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock only means a writer panicked mid-update of plain data: keep serving.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every account, in id order.
    pub fn summaries(&self) -> Vec<AccountSummary> {
        self.read().accounts.values().cloned().collect()
    }

    /// One account.
    pub fn summary(&self, id: &AccountId) -> Option<AccountSummary> {
        self.read().accounts.get(id).cloned()
    }

    /// Whether the account is tracked here.
    pub fn contains(&self, id: &AccountId) -> bool {
        self.read().accounts.contains_key(id)
    }

    /// The feed health of each account asked for (`None`: not tracked here), in that order:
    /// one read of the hub, only the statuses copied (an import's progress, every second).
    pub fn feeds(&self, ids: &[AccountId]) -> Vec<Option<FeedStatus>> {
        let state = self.read();
        ids.iter()
            .map(|id| state.accounts.get(id).map(|summary| summary.feed))
            .collect()
    }

    /// The sequence number of the latest published event.
    pub fn current_seq(&self) -> u64 {
        self.read().seq
    }

    /// This process's epoch: the first part of every event id.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The SSE id of the event with this sequence number: `EPOCH-SEQ`.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// How many events of each kind were published.
    pub fn event_counts(&self) -> &EventCounts {
        &self.counts
    }

    /// Starts showing an account created at runtime (still connecting) and tells subscribers
    /// with a `feed` event; `false` when it is shown already.
    pub fn add_account(&self, id: AccountId, name: String) -> bool {
        let mut state = self.write();
        if state.accounts.contains_key(&id) {
            return false;
        }
        let summary = AccountSummary {
            id: id.clone(),
            name,
            currency: None,
            feed: FeedStatus::Connecting,
            latest: None,
            backfill: None,
            transport: None,
        };
        state.accounts.insert(id.clone(), summary);
        self.counts.feed.fetch_add(1, Ordering::Relaxed);
        self.send(
            &mut state,
            StreamEvent::Feed {
                account_id: id,
                feed: FeedStatus::Connecting,
            },
        );
        true
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
        let mut state = self.write();
        let Some(summary) = state.accounts.get_mut(id) else {
            return;
        };
        if summary.currency.as_deref() != Some(currency) {
            summary.currency = Some(currency.to_owned());
        }
        let event = StreamEvent::Account {
            account_id: id.clone(),
            feed,
            view,
        };
        if !summary.apply(&event) {
            return;
        }
        self.counts.account.fetch_add(1, Ordering::Relaxed);
        self.send(&mut state, event);
    }

    /// Shows the numbers a restarted tracker restored (as of the last data before the restart)
    /// with the feed `Stale`, unless newer numbers are shown already; the currency is kept
    /// when not known. Whether they are shown.
    pub fn publish_restored(
        &self,
        id: &AccountId,
        currency: Option<&str>,
        view: AccountView,
    ) -> bool {
        let mut state = self.write();
        let Some(summary) = state.accounts.get_mut(id) else {
            return false;
        };
        if summary.latest.is_some() {
            return false;
        }
        if let Some(currency) = currency {
            summary.currency = Some(currency.to_owned());
        }
        let event = StreamEvent::Account {
            account_id: id.clone(),
            feed: FeedStatus::Stale,
            view,
        };
        summary.apply(&event);
        self.counts.account.fetch_add(1, Ordering::Relaxed);
        self.send(&mut state, event);
        true
    }

    /// Records a change of feed health and tells subscribers.
    pub fn publish_feed(&self, id: &AccountId, feed: FeedStatus) {
        self.publish_change(
            id,
            StreamEvent::Feed {
                account_id: id.clone(),
                feed,
            },
        );
    }

    /// Records how an account's data reaches Riskdeck now and tells subscribers (only a
    /// change).
    pub fn publish_transport(&self, id: &AccountId, transport: shared::api::FeedTransport) {
        self.publish_change(
            id,
            StreamEvent::Transport {
                account_id: id.clone(),
                transport,
            },
        );
    }

    /// Applies a feed event about `id` and tells subscribers, when it changed anything
    /// (whether it did).
    fn publish_change(&self, id: &AccountId, event: StreamEvent) -> bool {
        let mut state = self.write();
        if !state
            .accounts
            .get_mut(id)
            .is_some_and(|summary| summary.apply(&event))
        {
            return false;
        }
        let archived = matches!(
            event,
            StreamEvent::Feed {
                feed: FeedStatus::Archived,
                ..
            }
        );
        self.counts.feed.fetch_add(1, Ordering::Relaxed);
        self.send(&mut state, event);
        drop(state);
        if archived {
            self.archived.send_modify(|generation| *generation += 1);
        }
        true
    }

    /// Records how far reading an account's deal history got and tells subscribers.
    pub fn publish_backfill(&self, id: &AccountId, progress: BackfillProgress) {
        let mut state = self.write();
        let Some(summary) = state.accounts.get_mut(id) else {
            return;
        };
        let event = StreamEvent::Backfill {
            account_id: id.clone(),
            progress,
        };
        if !summary.apply(&event) {
            return;
        }
        self.counts.feed.fetch_add(1, Ordering::Relaxed);
        self.send(&mut state, event);
    }

    /// Numbers the event, keeps it in the ring and broadcasts it, all under the state's write
    /// lock: a subscriber attaching sees each event either in its start or on its channel,
    /// never both and never neither.
    fn send(&self, state: &mut State, event: StreamEvent) {
        state.seq += 1;
        let data = serde_json::to_string(&event).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot serialise a stream event");
            "{}".to_owned()
        });
        let message = Arc::new(Sequenced {
            seq: state.seq,
            event,
            data: data.into(),
            published: std::time::Instant::now(),
        });
        if self.replay > 0 {
            if state.ring.len() == self.replay {
                state.ring.pop_front();
            }
            state.ring.push_back(message.clone());
        }
        // No subscriber is not an error: the event is simply not needed by anyone now.
        let _ = self.tx.send(message);
    }

    /// Subscribes to every future event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Sequenced>> {
        self.tx.subscribe()
    }

    /// Attaches a subscriber. With the id of the last event it saw (`Last-Event-ID`) from this
    /// process, and every event since still in the ring, it resumes: the events after that id.
    /// Otherwise (no id, a malformed one, one from another process, or too old) it starts from
    /// a snapshot.
    pub fn attach(&self, last_event_id: Option<&str>) -> Attached {
        let state = self.read();
        let rx = self.tx.subscribe();
        let resume_after = last_event_id.and_then(|id| self.resumable(&state, id));
        let start = match resume_after {
            Some(after) => Start::Replay(
                state
                    .ring
                    .iter()
                    .filter(|m| m.seq > after)
                    .cloned()
                    .collect(),
            ),
            None => Start::Snapshot {
                seq: state.seq,
                accounts: state.accounts.values().cloned().collect(),
            },
        };
        Attached {
            start,
            through: state.seq,
            rx,
        }
    }

    /// The sequence number to resume after, when `id` can be resumed from.
    fn resumable(&self, state: &State, id: &str) -> Option<u64> {
        let (epoch, seq) = id.trim().split_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        if epoch != self.epoch || seq > state.seq {
            return None;
        }
        let oldest_kept = state.ring.front().map_or(state.seq + 1, |m| m.seq);
        // Every event after `seq` must still be here.
        (seq + 1 >= oldest_kept).then_some(seq)
    }

    /// The current state as stream events (what a new or resynchronising subscriber gets).
    pub fn snapshot(&self, only: Option<&AccountId>) -> Vec<StreamEvent> {
        let accounts = self
            .read()
            .accounts
            .values()
            .filter(|s| only.is_none_or(|id| *id == s.id))
            .cloned()
            .collect();
        StreamEvent::Snapshot { accounts }.into_deltas()
    }
}

/// The open streams, per user and in all, with a cap per user.
#[derive(Debug)]
pub struct StreamSlots {
    max_per_user: usize,
    per_user: Mutex<HashMap<UserId, usize>>,
    open: AtomicUsize,
}

impl StreamSlots {
    /// At most `max_per_user` open streams per user.
    pub fn new(max_per_user: usize) -> Self {
        Self {
            max_per_user,
            per_user: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
        }
    }

    /// The cap per user.
    pub fn max_per_user(&self) -> usize {
        self.max_per_user
    }

    /// Streams open now, of all users.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// A slot for one more stream of `user`, held until dropped; `None` at the cap.
    pub fn acquire(self: &Arc<Self>, user: UserId) -> Option<StreamSlot> {
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_user.entry(user).or_insert(0);
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(StreamSlot {
            slots: self.clone(),
            user,
        })
    }
}

/// One open stream's place; given back when dropped (the connection closed).
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut per_user = self
            .slots
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                per_user.remove(&self.user);
            }
        }
        self.slots.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    fn view(n: i64) -> AccountView {
        AccountView {
            time: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(n),
            balance: Decimal::from(n),
            equity: Decimal::from(n),
            floating_pl: Decimal::ZERO,
            starting_capital: Decimal::ZERO,
            peak_balance: Decimal::from(n),
            peak_equity: Decimal::from(n),
            drawdown: Decimal::ZERO,
            drawdown_percent: None,
            open_positions: 0,
            challenge: None,
        }
    }

    fn hub(replay: usize) -> (Hub, AccountId) {
        let id = AccountId("a".to_owned());
        (
            Hub::with_buffers([(id.clone(), "A".to_owned())], 8, replay),
            id,
        )
    }

    #[test]
    fn an_archived_account_keeps_its_numbers_and_wakes_its_tracker() {
        let (hub, id) = hub(16);
        let archived = hub.watch_archived();
        hub.publish_view(&id, "USD", view(5));
        assert!(!hub.is_archived(&id));
        assert!(hub.archive(&id));
        assert!(hub.is_archived(&id));
        assert!(archived.has_changed().unwrap_or(false));
        // Once; nothing moves it after.
        assert!(!hub.archive(&id));
        let seq = hub.current_seq();
        hub.publish_view(&id, "USD", view(9));
        hub.publish_feed(&id, FeedStatus::Live);
        assert_eq!(hub.current_seq(), seq);
        let summary = hub.summary(&id).expect("summary");
        assert_eq!(summary.feed, FeedStatus::Archived);
        assert_eq!(summary.latest.map(|v| v.equity), Some(Decimal::from(5)));
        assert!(!hub.archive(&AccountId("nope".to_owned())));
    }

    fn replayed(attached: &Attached) -> Option<Vec<u64>> {
        match &attached.start {
            Start::Replay(events) => Some(events.iter().map(|m| m.seq).collect()),
            Start::Snapshot { .. } => None,
        }
    }

    #[test]
    fn resumes_exactly_after_the_last_id_while_the_ring_holds_it() {
        let (hub, id) = hub(4);
        for n in 1..=6 {
            hub.publish_view(&id, "USD", view(n));
        }
        // The ring holds 3..=6: resuming after 2 or later works, after 1 does not.
        let check = |last: &str| replayed(&hub.attach(Some(last)));
        assert_eq!(check(&hub.event_id(2)), Some(vec![3, 4, 5, 6]));
        assert_eq!(check(&hub.event_id(4)), Some(vec![5, 6]));
        assert_eq!(check(&hub.event_id(6)), Some(vec![]));
        assert_eq!(check(&hub.event_id(1)), None);
        assert_eq!(check(&hub.event_id(7)), None, "from the future");
        assert_eq!(check("0badcafe-5"), None, "another process");
        assert_eq!(check("garbage"), None);
        assert_eq!(check(""), None);
        assert_eq!(hub.attach(Some(&hub.event_id(4))).through, 6);
    }

    #[test]
    fn a_snapshot_and_the_channel_meet_without_gap_or_overlap() {
        let (hub, id) = hub(0);
        hub.publish_view(&id, "USD", view(1));
        let mut attached = hub.attach(None);
        let Start::Snapshot { seq, accounts } = &attached.start else {
            panic!("no id: a snapshot");
        };
        assert_eq!((*seq, attached.through), (1, 1));
        assert_eq!(accounts[0].latest, Some(view(1)));
        hub.publish_view(&id, "USD", view(2));
        let next = attached.rx.try_recv().expect("the next event");
        assert_eq!(next.seq, 2);
        assert!(next.data.contains("\"type\":\"account\""));
        // Without a ring, only the latest id resumes.
        assert_eq!(replayed(&hub.attach(Some(&hub.event_id(2)))), Some(vec![]));
        assert_eq!(replayed(&hub.attach(Some(&hub.event_id(1)))), None);
    }

    #[test]
    fn a_subscriber_too_far_behind_is_told_and_the_publisher_never_waits() {
        let (hub, id) = hub(16);
        let mut attached = hub.attach(None);
        for n in 1..=100 {
            hub.publish_view(&id, "USD", view(n));
        }
        assert!(matches!(
            attached.rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        assert_eq!(hub.event_counts().account.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn stream_slots_cap_each_user_and_come_back_when_dropped() {
        let slots = Arc::new(StreamSlots::new(2));
        let a = slots.acquire(UserId(1)).expect("first");
        let _b = slots.acquire(UserId(1)).expect("second");
        assert!(slots.acquire(UserId(1)).is_none(), "third is over the cap");
        let _c = slots
            .acquire(UserId(2))
            .expect("another user has their own");
        assert_eq!(slots.open(), 3);
        drop(a);
        assert!(slots.acquire(UserId(1)).is_some());
        assert_eq!(slots.open(), 2, "the temporary slot was dropped again");
    }
}
