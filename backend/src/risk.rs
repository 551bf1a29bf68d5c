//! MetaApi's risk management trackers, run by Riskdeck (see `docs/METAAPI-RISK-API.md`).
//!
//! Every tracker of every account is held in memory ([`Risk`]) and fed by the account's tracker
//! loop each time it publishes an update: the deals the engine applied since the last update
//! (each once: a balance deal is a deposit or withdrawal, a buy or sell deal a trading day),
//! then the account's balance and equity, all in the account's broker time (the IANA zone of its
//! reset clock, daylight saving included). A threshold crossed becomes an event, stored by one
//! writer task in order, numbered by the store, audited, and announced to the long polls
//! waiting for it (`watch`). Runs' statistics are saved every few seconds and at shutdown, so a
//! restart goes on where the run was; a tracker's definition is stored before it runs.
//!
//! The tracker loop's cost is one lock and a map lookup per update for an account without
//! trackers, and the folds of `shared::trackers` for one with them.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::{AccountId, Deal, DealKind};
use shared::trackers::{Observation, RunState, TrackerRun, TrackerSpec, format_broker_time};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::{NewTrackerEvent, Rename, Store, StoreError, StoredTracker};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The kind of a tracker's event among the challenge's events (on the account's page, in
/// notifications).
pub const EVENT_KIND: &str = "tracker_exceeded";

/// The most trackers an account may have (each is folded on every update).
pub const MAX_TRACKERS_PER_ACCOUNT: usize = 100;

/// How long the writer goes on taking events after shutdown began (tracker loops finishing
/// their last update).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How often changed runs' statistics are saved.
const SAVE_EVERY: Duration = Duration::from_secs(10);
/// How often events the store refused are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// One tracker running on one account.
struct Running {
    id: String,
    run: TrackerRun,
    /// Changed since its state was last saved.
    dirty: bool,
    /// Fed by this instance's tracker loop (else its state is the store's, refreshed).
    observed: bool,
    /// When this instance started running it.
    since: tokio::time::Instant,
}

#[derive(Default)]
struct Inner {
    /// Trackers by account, in creation order.
    accounts: HashMap<AccountId, Vec<Running>>,
    /// Each account's broker time zone, read once from its stored challenge.
    zones: HashMap<AccountId, Tz>,
    /// Trackers deleted through this instance since the last read of the store (a read begun
    /// before the delete must not bring them back).
    deleted: std::collections::HashSet<String>,
}

/// Every tracker of this instance, and where their events go.
pub struct Risk {
    store: Arc<dyn Store>,
    inner: Mutex<Inner>,
    events: mpsc::UnboundedSender<NewTrackerEvent>,
    /// The highest sequence number stored.
    latest: watch::Sender<i64>,
    /// Other instances may share the database: trackers they create, rename or delete, and
    /// the statistics of accounts they track, are read from the store every [`SAVE_EVERY`].
    shared: bool,
}

impl std::fmt::Debug for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Risk")
            .field("latest", &*self.latest.borrow())
            .finish_non_exhaustive()
    }
}

/// A tracker as the API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerInfo {
    pub id: String,
    pub account: AccountId,
    pub spec: TrackerSpec,
}

impl TrackerInfo {
    /// MetaApi's `Tracker` JSON.
    pub fn to_json(&self) -> Value {
        self.spec.to_json(&self.id)
    }
}

/// The stored form of a tracker's definition: MetaApi's JSON without its id (read back with
/// [`TrackerSpec::read`]).
fn spec_json(spec: &TrackerSpec) -> String {
    let mut json = spec.to_json("");
    if let Some(fields) = json.as_object_mut() {
        fields.remove("_id");
    }
    json.to_string()
}

impl Risk {
    /// The trackers stored, restored, and the task that writes their events and states (run
    /// it until `shutdown`; it saves every state once more before it ends).
    pub async fn start(
        store: Arc<dyn Store>,
        shared: bool,
        shutdown: CancellationToken,
    ) -> Result<(Arc<Self>, impl Future<Output = ()> + Send + 'static), StoreError> {
        let latest = store.last_tracker_event().await?;
        let mut inner = Inner::default();
        for stored in store.trackers(None).await? {
            match restore(&stored) {
                Some(running) => inner
                    .accounts
                    .entry(stored.account.clone())
                    .or_default()
                    .push(running),
                None => tracing::error!(
                    tracker = %stored.id,
                    account = %stored.account,
                    "a stored tracker cannot be read; it does not run"
                ),
            }
        }
        let (events, receiver) = mpsc::unbounded_channel();
        let risk = Arc::new(Self {
            store,
            inner: Mutex::new(inner),
            events,
            latest: watch::Sender::new(latest),
            shared,
        });
        let writer = risk.clone().write(receiver, shutdown);
        Ok((risk, writer))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds one update of `account` into its trackers: the deals applied since the last
    /// update, then the balance and equity observed at `time`. `zone` is the account's broker
    /// time zone. The thresholds crossed, with their trackers' names (the events are stored
    /// and announced by the writer; the caller records them with the challenge's events too).
    pub fn observe(
        &self,
        account: &AccountId,
        zone: Tz,
        deals: &[Deal],
        time: DateTime<Utc>,
        balance: Decimal,
        equity: Decimal,
    ) -> Vec<(String, NewTrackerEvent)> {
        let mut inner = self.lock();
        let Some(runs) = inner.accounts.get_mut(account) else {
            return Vec::new();
        };
        let local = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local();
        let seen = Observation {
            time: local(time),
            balance,
            equity,
        };
        let mut crossed = Vec::new();
        for running in runs.iter_mut() {
            for deal in deals {
                match deal.kind {
                    DealKind::Balance => {
                        running
                            .run
                            .balance_operation(local(deal.time), deal.profit, balance);
                    }
                    DealKind::Buy | DealKind::Sell => running.run.trade(local(deal.time)),
                    _ => {}
                }
            }
            if let Some(event) = running.run.observe(&seen) {
                crossed.push((
                    running.run.spec.name.clone(),
                    NewTrackerEvent {
                        account: account.clone(),
                        tracker_id: running.id.clone(),
                        broker_time: format_broker_time(event.exceeded.reading.time),
                        body_json: event.to_json(account.as_str(), &running.id).to_string(),
                        created_at: Utc::now(),
                    },
                ));
            }
            running.dirty = true;
            running.observed = true;
        }
        drop(inner);
        for (_, event) in &crossed {
            // The writer ends only at shutdown, when nothing observes any more.
            let _ = self.events.send(event.clone());
        }
        crossed
    }

    /// The account's broker time zone: as its tracker loop last said, else its stored
    /// challenge's reset clock (an instance that does not track it, a restart before the
    /// first update), else UTC (an account without a challenge).
    pub async fn zone(&self, account: &AccountId) -> Tz {
        if let Some(zone) = self.lock().zones.get(account).copied() {
            return zone;
        }
        let stored = self.store.load_challenge(account).await.ok().flatten();
        let Some(zone) = stored
            .and_then(|json| serde_json::from_str::<crate::challenge::ChallengeRun>(&json).ok())
            .map(|run| run.challenge().clock().time_zone)
        else {
            return Tz::UTC;
        };
        self.lock().zones.entry(account.clone()).or_insert(zone);
        zone
    }

    /// This instance stops feeding the account (its lease went elsewhere): its trackers'
    /// statistics are saved with the next round and then read from the store like any other
    /// account's.
    pub fn release(&self, account: &AccountId) {
        let mut inner = self.lock();
        if let Some(runs) = inner.accounts.get_mut(account) {
            for running in runs.iter_mut() {
                running.observed = false;
            }
        }
    }

    /// Stores and starts a tracker; its id, `None` when the account has one of that name.
    pub async fn create(
        &self,
        account: &AccountId,
        spec: TrackerSpec,
    ) -> Result<Option<String>, StoreError> {
        let id = new_id();
        let now = Utc::now().with_timezone(&self.zone(account).await);
        let run = TrackerRun::new(spec.clone(), now.naive_local());
        let state = serde_json::to_string(&run.state()).ok();
        let stored = StoredTracker {
            id: id.clone(),
            account: account.clone(),
            name: spec.name.clone(),
            spec_json: spec_json(&spec),
            created_at: Utc::now(),
            state_json: state,
        };
        if !self.store.create_tracker(&stored).await? {
            return Ok(None);
        }
        let mut inner = self.lock();
        let runs = inner.accounts.entry(account.clone()).or_default();
        // A read of the store (other instances' changes) may have brought it in already.
        if !runs.iter().any(|r| r.id == id) {
            runs.push(Running {
                id: id.clone(),
                run,
                dirty: false,
                observed: false,
                since: tokio::time::Instant::now(),
            });
        }
        Ok(Some(id))
    }

    /// The account's trackers, in creation order.
    pub fn trackers(&self, account: &AccountId) -> Vec<TrackerInfo> {
        self.lock()
            .accounts
            .get(account)
            .map(|runs| {
                runs.iter()
                    .map(|r| TrackerInfo {
                        id: r.id.clone(),
                        account: account.clone(),
                        spec: r.run.spec.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many trackers the account has.
    pub fn count(&self, account: &AccountId) -> usize {
        self.lock().accounts.get(account).map_or(0, Vec::len)
    }

    /// One tracker of the account, by id.
    pub fn tracker(&self, account: &AccountId, id: &str) -> Option<TrackerInfo> {
        self.trackers(account).into_iter().find(|t| t.id == id)
    }

    /// Renames a tracker (the only change MetaApi's API allows).
    pub async fn rename(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
    ) -> Result<Rename, StoreError> {
        let Some(mut spec) = self.tracker(account, id).map(|t| t.spec) else {
            return Ok(Rename::NotFound);
        };
        name.clone_into(&mut spec.name);
        let outcome = self
            .store
            .rename_tracker(account, id, name, &spec_json(&spec))
            .await?;
        if outcome == Rename::Renamed
            && let Some(running) = self
                .lock()
                .accounts
                .get_mut(account)
                .and_then(|runs| runs.iter_mut().find(|r| r.id == id))
        {
            name.clone_into(&mut running.run.spec.name);
        }
        Ok(outcome)
    }

    /// Deletes a tracker (its events stay); whether there was one.
    pub async fn delete(&self, account: &AccountId, id: &str) -> Result<bool, StoreError> {
        let deleted = self.store.delete_tracker(account, id).await?;
        let mut inner = self.lock();
        inner.deleted.insert(id.to_owned());
        let known = inner.accounts.get_mut(account).is_some_and(|runs| {
            let before = runs.len();
            runs.retain(|r| r.id != id);
            runs.len() < before
        });
        Ok(deleted || known)
    }

    /// MetaApi's `getTrackingStatistics`: newest first, the periods that started at or before
    /// `start_time`, at most `limit`. `None` for an unknown tracker.
    pub fn statistics(
        &self,
        account: &AccountId,
        id: &str,
        start_time: Option<NaiveDateTime>,
        limit: usize,
    ) -> Option<Vec<Value>> {
        let inner = self.lock();
        let running = inner.accounts.get(account)?.iter().find(|r| r.id == id)?;
        Some(
            running
                .run
                .statistics(start_time, Some(limit))
                .into_iter()
                .map(shared::trackers::PeriodStats::to_json)
                .collect(),
        )
    }

    /// The dashboard's view of the account's trackers.
    pub fn views(&self, account: &AccountId) -> Vec<shared::api::RiskTrackerView> {
        let inner = self.lock();
        let Some(runs) = inner.accounts.get(account) else {
            return Vec::new();
        };
        runs.iter()
            .map(|r| {
                let current = r.run.current.as_ref();
                shared::api::RiskTrackerView {
                    id: r.id.clone(),
                    name: r.run.spec.name.clone(),
                    period: r.run.spec.period.as_str().to_owned(),
                    thresholds: thresholds_text(&r.run.spec),
                    period_start: current.map(|c| format_broker_time(c.bounds.start)),
                    max_drawdown: current.map(|c| {
                        c.max_drawdown
                            .map_or(Decimal::ZERO, |m| m.absolute_drawdown)
                    }),
                    max_profit: current
                        .map(|c| c.max_profit.map_or(Decimal::ZERO, |m| m.absolute_profit)),
                    exceeded: current.and_then(|c| c.exceeded).map(|e| {
                        match e.kind {
                            shared::trackers::ThresholdType::Drawdown => "drawdown",
                            shared::trackers::ThresholdType::Profit => "profit",
                        }
                        .to_owned()
                    }),
                }
            })
            .collect()
    }

    /// The highest event sequence number stored, and a receiver that changes with it.
    pub fn latest(&self) -> watch::Receiver<i64> {
        self.latest.subscribe()
    }

    /// The highest event sequence number in the store (events other instances stored too).
    pub async fn stored_latest(&self) -> Result<i64, StoreError> {
        let latest = self.store.last_tracker_event().await?;
        self.latest.send_if_modified(|known| {
            let newer = latest > *known;
            *known = (*known).max(latest);
            newer
        });
        Ok(latest)
    }

    /// The states changed since they were last saved (marked saved).
    fn take_dirty(&self) -> Vec<(String, RunState)> {
        let mut inner = self.lock();
        inner
            .accounts
            .values_mut()
            .flat_map(|runs| runs.iter_mut())
            .filter(|r| r.dirty)
            .map(|r| {
                r.dirty = false;
                (r.id.clone(), r.run.state())
            })
            .collect()
    }

    async fn save_states(&self) {
        let states: Vec<(String, String)> = self
            .take_dirty()
            .into_iter()
            .filter_map(|(id, state)| Some((id, serde_json::to_string(&state).ok()?)))
            .collect();
        if let Err(error) = self.store.save_tracker_states(&states).await {
            tracing::warn!(%error, trackers = states.len(), "cannot save tracker statistics; will retry");
            let mut inner = self.lock();
            for runs in inner.accounts.values_mut() {
                for running in runs.iter_mut() {
                    if states.iter().any(|(id, _)| *id == running.id) {
                        running.dirty = true;
                    }
                }
            }
        }
    }

    /// Stores events in the order they came, announces each stored batch, audits it; saves
    /// changed states every [`SAVE_EVERY`].
    async fn write(
        self: Arc<Self>,
        mut receiver: mpsc::UnboundedReceiver<NewTrackerEvent>,
        shutdown: CancellationToken,
    ) {
        let mut pending: Vec<NewTrackerEvent> = Vec::new();
        let mut retry = tokio::time::interval(RETRY_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_save = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                received = receiver.recv() => match received {
                    Some(event) => {
                        pending.push(event);
                        while let Ok(more) = receiver.try_recv() {
                            pending.push(more);
                        }
                    }
                    None => break,
                },
                _ = retry.tick() => {}
            }
            if !pending.is_empty() {
                self.store_events(&mut pending).await;
            }
            if last_save.elapsed() >= SAVE_EVERY {
                last_save = tokio::time::Instant::now();
                self.save_states().await;
                if self.shared {
                    self.sync().await;
                }
            }
        }
        // Tracker loops may still be finishing an update: take what they send until they are
        // quiet, and try the store until the grace ends.
        let grace = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        loop {
            while let Ok(more) = receiver.try_recv() {
                pending.push(more);
            }
            if !pending.is_empty() {
                self.store_events(&mut pending).await;
            }
            let left = grace.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left.min(Duration::from_millis(200)), receiver.recv()).await
            {
                Ok(Some(event)) => pending.push(event),
                Ok(None) => break,
                Err(_) if pending.is_empty() => break,
                Err(_) => {}
            }
        }
        if !pending.is_empty() {
            tracing::error!(
                events = pending.len(),
                "tracker events not stored at shutdown"
            );
        }
        self.save_states().await;
    }

    /// Takes in what other instances changed: trackers created or deleted, names, and the
    /// statistics of trackers this instance does not feed.
    async fn sync(&self) {
        let read_at = tokio::time::Instant::now();
        let stored = match self.store.trackers(None).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "cannot read the stored trackers; will retry");
                return;
            }
        };
        // Read back outside the lock what this instance does not feed itself.
        let observed: std::collections::HashSet<String> = self
            .lock()
            .accounts
            .values()
            .flatten()
            .filter(|r| r.observed)
            .map(|r| r.id.clone())
            .collect();
        let mut fresh: HashMap<String, Running> = stored
            .iter()
            .filter(|s| !observed.contains(&s.id))
            .filter_map(|s| Some((s.id.clone(), restore(s)?)))
            .collect();
        let ids: std::collections::HashSet<&str> = stored.iter().map(|s| s.id.as_str()).collect();
        let mut inner = self.lock();
        for runs in inner.accounts.values_mut() {
            // What was started after the read began may not be in it yet.
            runs.retain(|r| r.since >= read_at || ids.contains(r.id.as_str()));
        }
        let deleted = std::mem::take(&mut inner.deleted);
        for tracker in stored.iter().filter(|t| !deleted.contains(&t.id)) {
            let runs = inner.accounts.entry(tracker.account.clone()).or_default();
            let restored = fresh.remove(&tracker.id);
            match runs.iter_mut().find(|r| r.id == tracker.id) {
                Some(running) if running.observed => {
                    running.run.spec.name.clone_from(&tracker.name);
                }
                Some(running) => {
                    if let Some(restored) = restored {
                        running.run = restored.run;
                    }
                }
                None => runs.extend(restored),
            }
        }
    }

    async fn store_events(&self, pending: &mut Vec<NewTrackerEvent>) {
        match self.store.append_tracker_events(pending).await {
            Ok(numbers) => {
                if let Some(last) = numbers.iter().max() {
                    self.latest.send_if_modified(|latest| {
                        let newer = *last > *latest;
                        *latest = (*latest).max(*last);
                        newer
                    });
                }
                for (event, number) in pending.drain(..).zip(numbers) {
                    tracing::info!(
                        account = %event.account,
                        tracker = %event.tracker_id,
                        sequence_number = number,
                        "tracker threshold exceeded"
                    );
                    let entry = store::AuditEntry {
                        time: event.created_at,
                        actor: "system".to_owned(),
                        action: "tracker.threshold_exceeded".to_owned(),
                        subject: format!("account:{}", event.account),
                        before: None,
                        after: serde_json::from_str(&event.body_json).ok(),
                        reason: None,
                    };
                    if let Err(error) = self.store.append_audit(&entry).await {
                        tracing::warn!(%error, "cannot audit a tracker event");
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, events = pending.len(), "cannot store tracker events; will retry");
            }
        }
    }
}

/// A stored tracker, running again.
fn restore(stored: &StoredTracker) -> Option<Running> {
    let json: Value = serde_json::from_str(&stored.spec_json).ok()?;
    let mut spec = TrackerSpec::read(&json).ok()?;
    spec.name.clone_from(&stored.name);
    let state = stored
        .state_json
        .as_deref()
        .and_then(|s| serde_json::from_str::<RunState>(s).ok());
    let run = match state {
        Some(state) => TrackerRun::restore(spec, state),
        None => TrackerRun::new(spec, stored.created_at.naive_utc()),
    };
    Some(Running {
        id: stored.id.clone(),
        run,
        dirty: false,
        observed: false,
        since: tokio::time::Instant::now(),
    })
}

/// A new tracker id: 24 hex digits, as MetaApi's ids look.
fn new_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_be_bytes()[..12]
            .try_into()
            .unwrap_or_default();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tracker's thresholds in words, for the dashboard.
fn thresholds_text(spec: &TrackerSpec) -> String {
    let percent = |r: Decimal| format!("{}%", (r * Decimal::ONE_HUNDRED).normalize());
    let side = |relative: Option<Decimal>, absolute: Option<Decimal>, what: &str| {
        let parts: Vec<String> = relative
            .map(percent)
            .into_iter()
            .chain(absolute.map(|a| a.normalize().to_string()))
            .collect();
        (!parts.is_empty()).then(|| format!("{what} over {}", parts.join(" or ")))
    };
    let sides: Vec<String> = [
        side(
            spec.relative_drawdown_threshold,
            spec.absolute_drawdown_threshold,
            "drawdown",
        ),
        side(
            spec.relative_profit_threshold,
            spec.absolute_profit_threshold,
            "profit",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if sides.is_empty() {
        "statistics only".to_owned()
    } else {
        sides.join("; ")
    }
}
