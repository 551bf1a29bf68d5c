//! One polling loop per account: pull from the broker, fold into the numbers the broker does not
//! keep, persist, then publish.
//!
//! Order matters: peaks, the challenge's engine state and its events are written to the store
//! before the new view is published, so nothing a browser was shown can be lost by a crash. A
//! failing database does not stop tracking: what is unsaved stays in memory (events queue up, in
//! order) and is written again on the next poll.
//!
//! With leases (`crate::lease`), a tracker tracks its account only while its instance holds the
//! account's lease: it waits on standby, takes the lease, restores the account from the store,
//! and stops at once when the lease is lost (every challenge save is fenced by the lease, so an
//! instance that lost it cannot record anything), then goes back to standby.

use crate::challenge::{ChallengeRun, stored};
use crate::config::ChallengeSetup;
use crate::hub::Hub;
use crate::ingest::{Batch, NotStored, Pushed};
use crate::lease::{Held, Leases};
use crate::live::Fanout;
use broker::BrokerClient;
use broker::BrokerError;
use broker::journal::Journal;
use chrono::{DateTime, Utc};
use shared::api::IngestResponse;
use shared::api::{AccountView, EquityPoint, FeedStatus};
use shared::domain::{AccountId, AccountInfo, Position};
use shared::engine::RecordData;
use shared::peaks::Peaks;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use store::{Store, StoredEvent};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

mod rule_changes;
pub use rule_changes::{RuleChangeOutcome, RuleChangeRequest, StoredRuleSet};

/// Everything one account's loop needs.
pub struct Tracker {
    id: AccountId,
    /// The broker polled; `None` for an account fed by pushes.
    client: Option<BrokerClient>,
    /// Pushed batches, for an account fed by pushes (taken when the loop starts).
    pushes: Option<mpsc::Receiver<Batch>>,
    /// Requests from the API (an admin's corrections); see [`Commands`].
    commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::Sender<Command>,
    /// Where pushed records are journaled (polled ones are journaled by the client).
    journal: Option<Arc<Journal>>,
    /// The latest pushed account information, and when it was observed.
    pushed: Option<(DateTime<Utc>, AccountInfo)>,
    /// The latest pushed open positions.
    pushed_positions: Vec<Position>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    interval: Duration,
    stale_after: Duration,
    peaks: Peaks,
    peaks_dirty: bool,
    /// Nothing was stored for this account: reconstruct its peaks from deal history first.
    needs_backfill: bool,
    last_success: Option<Instant>,
    setup: Option<ChallengeSetup>,
    challenge: Option<ChallengeRun>,
    /// A new challenge waiting for its deal history before it is evaluated.
    onboarding: Option<shared::engine::Challenge>,
    /// Engine events not yet stored (the database was unavailable), oldest first.
    unsaved_events: Vec<StoredEvent>,
    /// Deals the engine was fed that are not stored yet (stored with the next save).
    unsaved_deals: Vec<shared::domain::Deal>,
    /// Shared by every tracker: a poll holds one permit while it talks to the broker.
    polls: Arc<Semaphore>,
    /// Quotes between polls, when set (see `Config::price_interval`).
    price_interval: Option<Duration>,
    /// Symbols whose specification (tick size) the engine already has.
    specified: std::collections::HashSet<String>,
    /// When the challenge state was last stored.
    last_saved: Option<Instant>,
    /// Equity samples not yet written, oldest first (written in batches).
    samples: Vec<EquityPoint>,
    /// When the oldest unwritten sample was taken.
    samples_since: Option<Instant>,
    /// When samples were last written.
    last_flush: Option<Instant>,
    /// Track only while this instance holds the account's lease (none: always, unfenced).
    leases: Option<Arc<Leases>>,
    /// The lease held now, which fences every challenge save.
    lease: Option<store::Lease>,
    /// A fenced save was refused: another instance took the account over.
    lease_lost: bool,
    /// Sends what is published to the other instances.
    fanout: Fanout,
    /// The limit levels last stored (rule id and level), to store only their changes.
    limits: Vec<(String, shared::domain::Money)>,
    /// Stored rule set versions waiting for their effective instant, in time order.
    pending_rules: Vec<rule_changes::PendingRules>,
    /// How often the whole challenge's deal history is read (see `new_deals`).
    reconcile_every: Duration,
    /// When it was last read whole; `None`: at the next poll.
    last_reconcile: Option<Instant>,
}

/// Why tracking stopped.
enum Ended {
    /// The server is shutting down.
    Shutdown,
    /// The lease was lost: stop writing at once.
    Lost,
    /// This instance holds more than its share: hand the account over.
    Yielded,
}

/// Equity samples are written in batches of up to ten polls, and at least this often: one
/// transaction folds a batch into every bucket tier. A crash loses at most that much of the
/// equity chart, never a peak or a breach (those live in the engine state, stored before they
/// are shown). The first sample is written at once, so a new chart is never empty.
const SAMPLE_FLUSH_EVERY: Duration = Duration::from_secs(10);

/// An unchanged challenge state is stored at least this often.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// The parts of a challenge's state that must be stored as soon as they change.
#[derive(PartialEq, Eq)]
struct Checkpoint {
    anchors: shared::engine::Anchors,
    status: shared::engine::ChallengeStatus,
    next_reset: Option<DateTime<Utc>>,
    events: usize,
}

impl Checkpoint {
    fn of(run: &ChallengeRun) -> Self {
        let challenge = run.challenge();
        Self {
            anchors: challenge.anchors(),
            status: challenge.status(),
            next_reset: challenge.next_reset(),
            events: challenge.events().len(),
        }
    }
}

/// Live, unless the broker's last quote is older than `stale_after` by the broker's own
/// clock: a terminal whose data froze answers every poll with the same numbers. (A closed
/// market looks the same, so over a weekend the feed shows stale.) A broker that cannot
/// tell counts as live.
async fn quote_feed(account: AccountId, client: BrokerClient, stale_after: Duration) -> FeedStatus {
    match client.quote_age().await {
        Ok(Some(age)) if age > stale_after => FeedStatus::Stale,
        Ok(_) => FeedStatus::Live,
        Err(error) => {
            tracing::debug!(%account, %error, "cannot read the broker's quote time");
            FeedStatus::Live
        }
    }
}

/// New deals for the challenge from `from`, read before the account information that may
/// include them (so the journal holds them in the order the engine is fed): the recent window
/// (overlapping the last one), or, every `reconcile_every` and right after a restart, the
/// whole challenge's history, so a deal the broker filed late, dated before the window, is
/// found; deals already fed are recognised by id. `None` when there is no challenge or the
/// read failed (the next poll reads again, so nothing is lost).
async fn new_deals(
    account: &AccountId,
    client: &BrokerClient,
    from: Option<DateTime<Utc>>,
) -> Option<Vec<shared::domain::Deal>> {
    let to = Utc::now() + chrono::Duration::minutes(1);
    match client.deals(from?, to).await {
        Ok(deals) => Some(deals),
        Err(error) => {
            tracing::warn!(%account, %error, "cannot read new deals this poll");
            None
        }
    }
}

/// How long data must flow again before a stale feed is recorded recovered: twice the time
/// it takes to go stale, so a feed that keeps failing and answering is notified once stale and
/// once recovered, not at every hiccup (see `ChallengeRun::note_feed`).
fn feed_recovery_hold(stale_after: Duration) -> chrono::Duration {
    chrono::Duration::from_std(stale_after * 2).unwrap_or(chrono::Duration::MAX)
}

/// How far back a first-time backfill reads deal history.
const BACKFILL_DAYS: i64 = 400;

/// How often the whole challenge's deal history is read unless configured otherwise.
const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(10 * 60);

impl Tracker {
    /// A tracker for `id`, polling `client` (MetaApi or cTrader) every `interval`.
    pub fn new(
        id: AccountId,
        client: impl Into<BrokerClient>,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        interval: Duration,
        stale_after: Duration,
        setup: Option<ChallengeSetup>,
    ) -> Self {
        Self::new_polled(
            id,
            Some(client.into()),
            store,
            hub,
            interval,
            stale_after,
            setup,
        )
    }

    fn new_polled(
        id: AccountId,
        client: Option<BrokerClient>,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        interval: Duration,
        stale_after: Duration,
        setup: Option<ChallengeSetup>,
    ) -> Self {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        Self {
            id,
            client,
            commands,
            commands_tx,
            pushes: None,
            journal: None,
            pushed: None,
            pushed_positions: Vec::new(),
            store,
            hub,
            interval,
            stale_after,
            peaks: Peaks::default(),
            peaks_dirty: false,
            needs_backfill: false,
            last_success: None,
            setup,
            challenge: None,
            onboarding: None,
            unsaved_events: Vec::new(),
            unsaved_deals: Vec::new(),
            polls: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            price_interval: None,
            specified: std::collections::HashSet::new(),
            last_saved: None,
            samples: Vec::new(),
            samples_since: None,
            last_flush: None,
            leases: None,
            lease: None,
            lease_lost: false,
            fanout: Fanout::none(),
            limits: Vec::new(),
            pending_rules: Vec::new(),
            reconcile_every: DEFAULT_RECONCILE_EVERY,
            last_reconcile: None,
        }
    }

    /// Reads the whole challenge's deal history every `every` (besides each poll's recent
    /// window), so a deal the broker files late is applied all the same.
    #[must_use]
    pub fn with_deal_reconciliation(mut self, every: Duration) -> Self {
        self.reconcile_every = every;
        self
    }

    /// Tracks the account only while this instance holds its lease (see `crate::lease`).
    #[must_use]
    pub fn with_leases(mut self, leases: Arc<Leases>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// Sends every published update to the other instances too.
    #[must_use]
    pub fn with_fanout(mut self, fanout: Fanout) -> Self {
        self.fanout = fanout;
        self
    }

    /// Forgets everything held in memory about the account, so the next holding of its lease
    /// starts from what is stored (another instance may have tracked it meanwhile).
    fn forget(&mut self) {
        self.peaks = Peaks::default();
        self.peaks_dirty = false;
        self.needs_backfill = false;
        self.last_success = None;
        self.challenge = None;
        self.onboarding = None;
        self.unsaved_events.clear();
        self.unsaved_deals.clear();
        self.specified.clear();
        self.last_saved = None;
        self.samples.clear();
        self.samples_since = None;
        self.last_flush = None;
        self.lease = None;
        self.lease_lost = false;
        self.pushed = None;
        self.pushed_positions.clear();
        self.limits.clear();
        self.pending_rules.clear();
        self.last_reconcile = None;
    }

    fn publish_view(&self, currency: &str, view: AccountView, feed: FeedStatus) {
        self.fanout.view(&self.id, currency, &view, feed);
        self.hub.publish_view_as(&self.id, currency, view, feed);
    }

    fn publish_feed(&self, feed: FeedStatus) {
        self.fanout.feed(&self.id, feed);
        self.hub.publish_feed(&self.id, feed);
    }

    /// A tracker for `id` fed by the pushed `batches` instead of polls (see `crate::ingest`);
    /// pushed records are appended to `journal`. The feed turns stale when no push arrives for
    /// `stale_after`.
    pub fn pushed(
        id: AccountId,
        batches: mpsc::Receiver<Batch>,
        journal: Option<Arc<Journal>>,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        stale_after: Duration,
        setup: Option<ChallengeSetup>,
    ) -> Self {
        let mut tracker = Self::new_polled(id, None, store, hub, stale_after, stale_after, setup);
        tracker.pushes = Some(batches);
        tracker.journal = journal;
        tracker
    }

    /// Where to send this tracker commands (register it in [`Commands`]).
    pub fn command_sender(&self) -> mpsc::Sender<Command> {
        self.commands_tx.clone()
    }

    /// Between polls, revalue open positions from quotes every `interval` (shorter than the
    /// poll interval).
    #[must_use]
    pub fn with_price_interval(mut self, interval: Option<Duration>) -> Self {
        self.price_interval = interval.filter(|i| *i < self.interval);
        self
    }

    /// Feeds the engine the current quotes (and, once per symbol, the specification) of the
    /// symbols of the open positions: equity estimated between polls, flagged as estimated in
    /// any event it causes. Events are saved like a poll's.
    async fn quotes_once(&mut self) -> Result<(), BrokerError> {
        let (Some(client), Some(run)) = (self.client.clone(), &self.challenge) else {
            return Ok(());
        };
        let symbols = run.open_symbols();
        if symbols.is_empty() {
            return Ok(());
        }
        let unspecified: Vec<String> = symbols
            .iter()
            .filter(|symbol| !self.specified.contains(*symbol))
            .cloned()
            .collect();
        let polls = self.polls.clone();
        // The broker may be slow: commands are carried out while its answers are awaited.
        let records = self
            .beside_commands(async move {
                let _permit = polls.acquire_owned().await.ok();
                let mut records = Vec::with_capacity(symbols.len() * 2);
                for symbol in symbols {
                    if unspecified.contains(&symbol) {
                        let spec = client.specification(&symbol).await?;
                        records.push(RecordData::Specification(spec));
                    }
                    records.push(RecordData::Price(client.current_price(&symbol).await?));
                }
                Ok::<_, BrokerError>(records)
            })
            .await?;
        for record in &records {
            if let RecordData::Specification(spec) = record {
                self.specified.insert(spec.symbol.clone());
            }
        }
        let Some(run) = self.challenge.as_mut() else {
            return Ok(());
        };
        let now = Utc::now();
        let (days_before, next_reset) =
            (run.challenge().days().len(), run.challenge().next_reset());
        let events = run.apply_records(self.id.as_str(), now, records);
        // A quote past the reset closes the day as a poll would: its summary is stored now.
        let reset = next_reset.filter(|at| *at <= now).unwrap_or(now);
        let summary = run.daily_summary(days_before, reset);
        let rolled = summary.is_some();
        self.unsaved_events.extend(summary);
        // Quotes alone change nothing that cannot be derived again: save only for events.
        if !events.is_empty() || rolled {
            self.save(&events).await;
        }
        Ok(())
    }

    /// Shares `polls` with other trackers: at most its number of permits poll at once.
    #[must_use]
    pub fn with_poll_limit(mut self, polls: Arc<Semaphore>) -> Self {
        self.polls = polls;
        self
    }

    /// Restores the persisted challenge and peaks; until that succeeds, no poll result is
    /// published, so a restart can never show (or save) a peak lower than the one already stored.
    async fn restore(&mut self, shutdown: &CancellationToken) -> bool {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.try_restore().await {
                Ok(()) => return true,
                Err(error) => tracing::error!(
                    account = %self.id,
                    %error,
                    "cannot restore the account's saved state; retrying"
                ),
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    }

    async fn try_restore(&mut self) -> Result<(), store::StoreError> {
        if self.challenge.is_none() && self.onboarding.is_none() {
            self.restore_challenge().await?;
            self.restore_pending_rules().await?;
        }
        match self.store.load_peaks(&self.id).await? {
            Some(saved) => self.peaks.merge(&saved),
            None => self.needs_backfill = true,
        }
        Ok(())
    }

    /// Polls until `shutdown` is cancelled: with leases, whenever this instance holds the
    /// account's lease.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let Some(leases) = self.leases.clone() else {
            self.track(&shutdown, None).await;
            return;
        };
        loop {
            let Some(mut held) = leases.acquire(&self.id, &shutdown).await else {
                return;
            };
            tracing::info!(
                account = %self.id,
                generation = held.lease().generation,
                "took the account's lease; tracking it"
            );
            self.lease = Some(held.lease().clone());
            let ended = self.track(&shutdown, Some(&mut held)).await;
            match ended {
                Ended::Shutdown => {
                    held.release().await;
                    return;
                }
                Ended::Yielded => {
                    tracing::info!(account = %self.id, "handing the account to another instance");
                    held.release().await;
                }
                Ended::Lost => {
                    tracing::warn!(account = %self.id, "lost the account's lease; stopped tracking it");
                    drop(held);
                }
            }
            self.forget();
        }
    }

    /// Restores, then polls until shutdown, or until the lease is lost or handed over.
    async fn track(&mut self, shutdown: &CancellationToken, mut held: Option<&mut Held>) -> Ended {
        let lost = held
            .as_ref()
            .map_or_else(CancellationToken::new, |held| held.lost().clone());
        tokio::select! {
            restored = self.restore(shutdown) => if !restored {
                return Ended::Shutdown;
            },
            () = lost.cancelled() => return Ended::Lost,
        }
        self.publish_restored();
        if let Some(mut batches) = self.pushes.take() {
            let ended = self.run_pushes(&mut batches, shutdown, &lost).await;
            self.pushes = Some(batches);
            return ended;
        }
        // Spread the first polls over one interval, so thousands of accounts started together
        // do not poll in lockstep.
        let offset = self.interval.mul_f64(fastrand::f64());
        // With quotes between polls, the loop ticks at the quote interval and polls the account
        // on the ticks where a poll is due.
        let tick = self.price_interval.unwrap_or(self.interval);
        let mut ticker = tokio::time::interval_at(Instant::now() + offset, tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let started = Instant::now();
        let mut last_poll: Option<Instant> = None;
        let ended = loop {
            if self.lease_lost {
                return Ended::Lost;
            }
            if held.as_mut().is_some_and(|held| held.over_share()) {
                break Ended::Yielded;
            }
            tokio::select! {
                () = shutdown.cancelled() => break Ended::Shutdown,
                () = lost.cancelled() => return Ended::Lost,
                _ = ticker.tick() => {}
                Some(command) = self.commands.recv() => {
                    self.command(command).await;
                    continue;
                }
            }
            if !self.pending_rules.is_empty() {
                self.apply_due_rules(Utc::now()).await;
            }
            let poll_due = last_poll.is_none_or(|at| at.elapsed() + tick / 2 >= self.interval);
            if !poll_due {
                if let Err(error) = self.quotes_once().await {
                    tracing::debug!(account = %self.id, %error, "cannot read quotes");
                }
                continue;
            }
            last_poll = Some(Instant::now());
            let pause = match self.poll_once().await {
                Ok(()) => None,
                Err(error) => {
                    tracing::warn!(account = %self.id, %error, "poll failed");
                    let since = self.last_success.unwrap_or(started);
                    if since.elapsed() >= self.stale_after {
                        self.publish_feed(FeedStatus::Stale);
                        let detail = format!(
                            "the broker has not answered for {} s",
                            since.elapsed().as_secs()
                        );
                        self.note_feed(true, &detail).await;
                    }
                    match error {
                        BrokerError::RateLimited { retry_after } => {
                            Some(retry_after.unwrap_or(self.interval * 5))
                        }
                        _ => None,
                    }
                }
            };
            if let Some(pause) = pause {
                let until = Instant::now() + pause;
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = lost.cancelled() => return Ended::Lost,
                        () = tokio::time::sleep_until(until) => break,
                        // Commands do not wait for the broker's rate limit to pass.
                        Some(command) = self.commands.recv() => self.command(command).await,
                    }
                }
                if shutdown.is_cancelled() {
                    break Ended::Shutdown;
                }
            }
        };
        // Still the holder: what is unsaved is written before the account is let go.
        if !self.unsaved_events.is_empty() {
            self.save(&[]).await;
        }
        if !self.lease_lost {
            self.flush_samples(true).await;
        }
        tracing::debug!(account = %self.id, "tracker stopped");
        ended
    }

    /// After a restart (or a takeover), shows the restored challenge's numbers at once,
    /// marked stale (they are as old as the last data before the restart), until the first
    /// poll or push brings new ones. Nothing is shown over numbers already shown.
    fn publish_restored(&self) {
        let Some(run) = &self.challenge else {
            return;
        };
        let challenge = run.challenge();
        let Some(time) = challenge.last_time() else {
            return;
        };
        let metrics = challenge.metrics();
        let info = AccountInfo {
            balance: metrics.balance,
            equity: metrics.equity,
            margin: shared::domain::Money::ZERO,
            free_margin: metrics.equity,
            margin_level: None,
            currency: run.currency().unwrap_or_default().to_owned(),
            leverage: None,
            credit: shared::domain::Money::ZERO,
        };
        let view = self.view(time, &info, challenge.open_positions());
        if self
            .hub
            .publish_restored(&self.id, run.currency(), view.clone())
            && let Some(currency) = run.currency()
        {
            self.fanout
                .view(&self.id, currency, &view, FeedStatus::Stale);
        }
    }

    /// Loads the saved engine state, or prepares the configured challenge for onboarding
    /// (it is evaluated once its deal history has been replayed).
    async fn restore_challenge(&mut self) -> Result<(), store::StoreError> {
        let Some(setup) = &self.setup else {
            return Ok(());
        };
        match self.store.load_challenge(&self.id).await? {
            Some(saved) => match serde_json::from_str::<ChallengeRun>(&saved) {
                Ok(mut run) => {
                    // Every deal fed before, so none is fed again however late it is filed.
                    run.remember_fed(self.store.fed_deal_ids(&self.id).await?);
                    self.challenge = Some(run);
                }
                // Never silently restart a challenge that may hold a breach: leave it untracked
                // and say so loudly; the stored events keep their evidence.
                Err(error) => tracing::error!(
                    account = %self.id,
                    %error,
                    "the saved challenge state cannot be read; the challenge is not evaluated"
                ),
            },
            None => {
                let config = shared::engine::preset(&setup.preset, setup.initial_balance).map(
                    |mut config| {
                        config.estimated_equity_breaches = setup.estimated_equity_breaches;
                        config
                    },
                );
                match config.and_then(shared::engine::Challenge::new) {
                    Ok(challenge) => self.onboarding = Some(challenge),
                    Err(error) => {
                        tracing::error!(account = %self.id, %error, "cannot start the challenge")
                    }
                }
            }
        }
        Ok(())
    }

    /// Feeds the engine, then stores its state and new events in one transaction.
    async fn evaluate(
        &mut self,
        now: DateTime<Utc>,
        deals: Option<Vec<shared::domain::Deal>>,
        info: &AccountInfo,
        positions: &[Position],
    ) {
        let Some(run) = self.challenge.as_mut() else {
            return;
        };
        let fed_deals = deals.as_ref().is_some_and(|d| !d.is_empty());
        let before = Checkpoint::of(run);
        let days_before = run.challenge().days().len();
        let late_before = run.challenge().late_deals().last().cloned();
        let events = run.apply_poll(self.id.as_str(), now, deals, info, positions);
        log_late_deals(&self.id, run.challenge().late_deals(), late_before.as_ref());
        // A reset closed a day: its summary comes before this poll's events, at the reset.
        let reset = before.next_reset.filter(|at| *at <= now).unwrap_or(now);
        if let Some(summary) = run.daily_summary(days_before, reset) {
            self.unsaved_events.push(summary);
        }
        // What a restart could not derive again from the next poll must be stored before it
        // is shown: events, deals fed (the cursor and statistics), anchors, status, the day.
        // Anything else (the latest balance and equity, open positions) is refreshed by the
        // next poll, so an unchanged state is stored at most every `CHECKPOINT_EVERY`.
        let material = !events.is_empty()
            || !self.unsaved_events.is_empty()
            || fed_deals
            || Checkpoint::of(run) != before
            || self
                .last_saved
                .is_none_or(|at| at.elapsed() >= CHECKPOINT_EVERY);
        if material {
            self.save(&events).await;
        }
        self.store_limits(now).await;
    }

    /// Stores the limit levels that changed since the last ones stored (chart data: what
    /// fails is tried again on the next poll).
    async fn store_limits(&mut self, now: DateTime<Utc>) {
        let Some(run) = self.challenge.as_ref() else {
            return;
        };
        let changed: Vec<shared::api::LimitPoint> = run
            .challenge()
            .limit_levels()
            .filter(|(rule, _, level)| {
                !self
                    .limits
                    .iter()
                    .any(|(stored, at)| stored == rule && at == level)
            })
            .map(|(rule, kind, level)| shared::api::LimitPoint {
                time: now,
                rule: rule.to_owned(),
                kind: kind.to_owned(),
                level,
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        match self.store.append_limits(&self.id, &changed).await {
            Ok(()) => {
                for point in changed {
                    match self.limits.iter_mut().find(|(rule, _)| *rule == point.rule) {
                        Some(entry) => entry.1 = point.level,
                        None => self.limits.push((point.rule, point.level)),
                    }
                }
            }
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save limit levels; will retry");
            }
        }
    }

    /// Logs the engine's new events, then stores the engine state, every unsaved event and
    /// every deal fed since the last save in one transaction (what fails stays queued, in
    /// order, for the next save). Whether the state and every event are stored.
    async fn save(&mut self, events: &[shared::engine::Event]) -> bool {
        let Some(run) = self.challenge.as_mut() else {
            return true;
        };
        self.unsaved_deals.extend(run.take_fed_deals());
        let run = &*run;
        for event in events {
            tracing::info!(
                account = %self.id,
                kind = ?event.kind,
                rule = event.rule.as_deref().unwrap_or("-"),
                "challenge event"
            );
        }
        self.unsaved_events.extend(events.iter().map(stored));
        let state = match serde_json::to_string(run) {
            Ok(state) => state,
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot serialise the challenge");
                return false;
            }
        };
        let saved = self
            .store
            .save_challenge_with_deals(
                &self.id,
                &state,
                &self.unsaved_events,
                &self.unsaved_deals,
                self.lease.as_ref(),
            )
            .await;
        match saved {
            Ok(()) => {
                self.unsaved_events.clear();
                self.unsaved_deals.clear();
                self.last_saved = Some(Instant::now());
                true
            }
            Err(store::StoreError::LeaseLost(_)) => {
                // Another instance holds the account now and records its events itself.
                tracing::warn!(
                    account = %self.id,
                    dropped_events = self.unsaved_events.len(),
                    "the lease was taken over: nothing was saved, and this instance stops \
                     tracking the account"
                );
                self.unsaved_events.clear();
                self.unsaved_deals.clear();
                self.lease_lost = true;
                false
            }
            Err(error) => {
                tracing::error!(
                    account = %self.id,
                    %error,
                    unsaved_events = self.unsaved_events.len(),
                    "cannot save the challenge; will retry"
                );
                false
            }
        }
    }

    /// Writes the buffered samples when the oldest is `SAMPLE_FLUSH_EVERY` old, or now when
    /// `force`. What fails stays buffered (bounded) for the next attempt.
    async fn flush_samples(&mut self, force: bool) {
        let first = self.samples_since.is_none() && self.last_flush.is_none();
        let since = *self.samples_since.get_or_insert_with(Instant::now);
        let every = (self.interval * 10).min(SAMPLE_FLUSH_EVERY);
        if self.samples.is_empty() || !(force || first || since.elapsed() >= every) {
            return;
        }
        match self.store.append_samples(&self.id, &self.samples).await {
            Ok(()) => {
                self.samples.clear();
                self.samples_since = None;
                self.last_flush = Some(Instant::now());
            }
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save equity samples; will retry");
                // A database down for long must not grow memory without bound: keep the last hour.
                let excess = self.samples.len().saturating_sub(3600);
                self.samples.drain(..excess);
            }
        }
    }

    async fn poll_once(&mut self) -> Result<(), BrokerError> {
        // A closed semaphore (never closed today) only means: poll without waiting.
        let Some(client) = self.client.clone() else {
            return Ok(());
        };
        // The broker may be slow: commands are carried out while its answers are awaited.
        let (account, polls) = (self.id.clone(), self.polls.clone());
        let whole = self
            .last_reconcile
            .is_none_or(|at| at.elapsed() >= self.reconcile_every);
        let from = self.challenge.as_ref().map(|run| {
            if whole {
                run.history_from()
            } else {
                run.deals_from()
            }
        });
        let (_permit, deals, info, positions) = self
            .beside_commands(async move {
                let permit = polls.acquire_owned().await.ok();
                let deals = new_deals(&account, &client, from).await;
                let (info, positions) =
                    tokio::try_join!(client.account_information(), client.positions())?;
                Ok::<_, BrokerError>((permit, deals, info, positions))
            })
            .await?;
        if whole && deals.is_some() {
            self.last_reconcile = Some(Instant::now());
        }
        let now = Utc::now();
        self.last_success = Some(Instant::now());
        if self.needs_backfill || self.onboarding.is_some() {
            self.backfill(now, &info).await;
        }
        self.peaks_dirty |= self.peaks.observe(&info);
        let point = EquityPoint {
            time: now,
            balance: info.balance,
            equity: info.equity,
        };
        self.samples.push(point);
        self.flush_samples(false).await;
        let feed = match self.client.clone() {
            Some(client) => {
                let (account, stale_after) = (self.id.clone(), self.stale_after);
                self.beside_commands(quote_feed(account, client, stale_after))
                    .await
            }
            None => FeedStatus::Live,
        };
        match feed {
            FeedStatus::Stale => {
                self.note_feed(true, "the broker answers, but its quotes stand still")
                    .await;
            }
            _ => self.note_feed(false, "the broker's data flows again").await,
        }
        if let Some(run) = self.challenge.as_mut() {
            run.note_currency(&info.currency);
        }
        self.evaluate(now, deals, &info, &positions).await;
        // After the challenge (whose anchors are the peaks shown with one): a crash between
        // the two writes never leaves the peaks table ahead of what a restart shows.
        self.save_peaks().await;
        if self.lease_lost {
            // What this poll saw is another instance's to record and show.
            return Ok(());
        }
        let view = self.view(now, &info, &positions);
        self.publish_view(&info.currency, view, feed);
        Ok(())
    }

    /// Records a change of the feed's health as a `feed_stale` or `feed_recovered` event,
    /// stored at once with the challenge's state (so it is notified once, and a restart knows
    /// what was last recorded). An account without a challenge has nothing to notify about.
    async fn note_feed(&mut self, stale: bool, detail: &str) {
        let now = Utc::now();
        let last_data = match (&self.pushed, self.last_success) {
            (Some((time, _)), _) => Some(*time),
            (None, Some(at)) => chrono::Duration::from_std(at.elapsed())
                .ok()
                .map(|ago| now - ago),
            (None, None) => None,
        };
        let Some(run) = self.challenge.as_mut() else {
            return;
        };
        let hold = feed_recovery_hold(self.stale_after);
        let Some(event) = run.note_feed(stale, now, detail, last_data, hold) else {
            return;
        };
        tracing::info!(account = %self.id, kind = %event.kind, detail, "feed event");
        self.unsaved_events.push(event);
        self.save(&[]).await;
    }

    /// Stores the peaks when they moved; whether they are stored.
    async fn save_peaks(&mut self) -> bool {
        if !self.peaks_dirty {
            return true;
        }
        match self.store.save_peaks(&self.id, &self.peaks).await {
            Ok(()) => {
                self.peaks_dirty = false;
                true
            }
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save peaks; will retry");
                false
            }
        }
    }

    /// What the dashboard shows for this observation.
    fn view(&self, now: DateTime<Utc>, info: &AccountInfo, positions: &[Position]) -> AccountView {
        match &self.challenge {
            // One source of truth: with a challenge, its engine's anchors are the peaks shown.
            Some(run) => {
                let anchors = run.challenge().anchors();
                let peaks = Peaks {
                    starting_capital: Some(anchors.initial_balance),
                    peak_balance: Some(anchors.peak_balance),
                    peak_equity: Some(anchors.peak_equity),
                };
                let mut view = account_view(now, info, positions, &peaks);
                view.challenge = Some(run.view());
                view
            }
            None => account_view(now, info, positions, &self.peaks),
        }
    }
}

impl Tracker {
    /// First time this account is tracked: reconstruct starting capital and peaks from its deal
    /// history, and replay that history into a new challenge, so an account onboarded
    /// mid-challenge is measured against its real history. When the history cannot be read,
    /// peaks start from the first observation, but a new challenge waits (it is retried on the
    /// next poll): rules are never evaluated against anchors that are not known.
    async fn backfill(&mut self, now: DateTime<Utc>, info: &AccountInfo) {
        if self.onboarding.is_some() {
            self.publish_feed(FeedStatus::Backfilling);
        }
        let from = now - chrono::Duration::days(BACKFILL_DAYS);
        let read_started = Instant::now();
        let Some(client) = &self.client else {
            return;
        };
        let (hub, id, onboarding) = (self.hub.clone(), self.id.clone(), self.onboarding.is_some());
        let progress = move |read: usize, reached: Option<DateTime<Utc>>| {
            tracing::info!(account = %id, deals = read, reached = ?reached, "reading deal history");
            if onboarding {
                hub.publish_backfill(
                    &id,
                    shared::api::BackfillProgress {
                        deals_read: read as u64,
                        from,
                        reached,
                    },
                );
            }
        };
        let deals = match client
            .deals_with_progress(from, now + chrono::Duration::minutes(1), progress)
            .await
        {
            Ok(deals) => deals,
            Err(error) => {
                tracing::warn!(
                    account = %self.id,
                    %error,
                    "cannot read deal history; peaks start from the first observation and a \
                     new challenge waits for the history"
                );
                self.needs_backfill = false;
                return;
            }
        };
        tracing::info!(
            account = %self.id,
            deals = deals.len(),
            from = %from,
            elapsed_ms = read_started.elapsed().as_millis(),
            "read deal history"
        );
        if std::mem::take(&mut self.needs_backfill)
            && let Some(peaks) = shared::peaks::reconstruct(&deals, info)
        {
            tracing::info!(
                account = %self.id,
                starting_capital = ?peaks.starting_capital,
                peak_balance = ?peaks.peak_balance,
                "reconstructed peaks from deal history"
            );
            self.peaks.merge(&peaks);
            self.peaks_dirty = true;
        }
        if let Some(challenge) = self.onboarding.take() {
            let initial = challenge.anchors().initial_balance;
            let (run, events, summary) = ChallengeRun::onboard(challenge, deals, now);
            if summary.deals > 0 && summary.funding != initial {
                tracing::warn!(
                    account = %self.id,
                    configured = %initial,
                    funded = %summary.funding,
                    "the account's funding differs from the challenge's initial balance; \
                     the configured initial balance is used"
                );
            }
            tracing::info!(
                account = %self.id,
                deals = summary.deals,
                started = %summary.started,
                events = events.len(),
                "onboarded the challenge from its deal history"
            );
            self.unsaved_events.extend(events.iter().map(stored));
            self.challenge = Some(run);
            // The whole history was just read.
            self.last_reconcile = Some(read_started);
        }
    }
}

/// Commands waiting for one tracker before the API answers "busy".
const COMMAND_QUEUE: usize = 8;

/// How long the API waits for a tracker to take a command before withdrawing it (a command
/// taken is waited for until it is done).
const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// The audit log's action for an anchor correction.
const ANCHOR_ACTION: &str = "anchor.correct";

/// The result of the command carried out earlier under idempotency `key` (this is a retry),
/// or `None` to carry it out now; a key used for another action is refused.
fn done_before<T: serde::de::DeserializeOwned>(
    run: &ChallengeRun,
    key: Option<&str>,
    action: &str,
) -> Result<Option<T>, CommandError> {
    let Some(done) = key.and_then(|key| run.done_command(key)) else {
        return Ok(None);
    };
    if done.action != action {
        return Err(CommandError::KeyReused(format!(
            "this idempotency key was used for another action ({}); send a new key for a new \
             action",
            done.action
        )));
    }
    serde_json::from_value(done.result.clone())
        .map(Some)
        .map_err(|_| {
            CommandError::KeyReused(
                "the first result under this key cannot be read; send a new key".to_owned(),
            )
        })
}

/// An admin's correction of one anchor of a running challenge.
#[derive(Clone, Debug)]
pub struct AnchorCorrection {
    /// Which anchor.
    pub field: shared::engine::AnchorField,
    /// Its corrected value.
    pub value: shared::domain::Money,
    /// Why (mandatory; the trader sees it).
    pub reason: String,
    /// Who (a username).
    pub actor: String,
    /// The client's idempotency key: a retry under the same key gets the first result.
    pub key: Option<String>,
}

pub use crate::challenge::OverrideKind;

/// An admin's override of a running challenge, with who and why.
#[derive(Clone, Debug)]
pub struct Override {
    /// What to override.
    pub kind: OverrideKind,
    /// Why (mandatory; the trader sees it).
    pub reason: String,
    /// Who (a username).
    pub actor: String,
    /// The client's idempotency key: a retry under the same key gets the first result.
    pub key: Option<String>,
}

/// Where a tracker answers a command.
pub type Reply<T> = tokio::sync::oneshot::Sender<Result<T, CommandError>>;

/// What the API asks of a running tracker; the tracker answers on `reply` if it takes the
/// `ticket` (see [`Ticket`]).
#[derive(Debug)]
pub enum Command {
    /// Correct one anchor; answers the anchors after the correction.
    CorrectAnchor {
        correction: AnchorCorrection,
        ticket: Ticket,
        reply: Reply<shared::engine::Anchors>,
    },
    /// Store a new version of the challenge's rules and apply it at its instant.
    ChangeRules {
        request: RuleChangeRequest,
        ticket: Ticket,
        reply: Reply<RuleChangeOutcome>,
    },
    /// Override the engine's decision; answers the challenge's status and the rules released.
    Override {
        request: Override,
        ticket: Ticket,
        reply: Reply<shared::api::OverrideResponse>,
    },
}

impl Command {
    fn ticket(&self) -> &Ticket {
        match self {
            Self::CorrectAnchor { ticket, .. }
            | Self::ChangeRules { ticket, .. }
            | Self::Override { ticket, .. } => ticket,
        }
    }
}

/// Why a command was not carried out; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The account is on no challenge, or its challenge waits for its history.
    #[error("the account has no running challenge to correct")]
    NoChallenge,
    /// The engine refused the value.
    #[error("{0}")]
    Refused(String),
    /// The correction could not be stored; nothing changed.
    #[error("the correction could not be stored; nothing changed")]
    NotStored,
    /// The account is not tracked by this server, or its tracker's queue is full or closed.
    #[error("the account's tracker is not reachable")]
    Unreachable,
    /// The tracker did not take the command in time: it was withdrawn and never runs.
    #[error("the account's tracker did not take the command in time; it was withdrawn")]
    Withdrawn,
    /// The idempotency key was used before for a different action.
    #[error("{0}")]
    KeyReused(String),
    /// There is nothing to override (no breach to clear, not paused); says what stands.
    #[error("{0}")]
    NothingToOverride(String),
}

/// Who settles a command: the tracker takes it (and then answers), or the API withdraws it
/// (and then it never runs); a compare-and-swap on one shared state, so never both.
#[derive(Clone, Debug, Default)]
pub struct Ticket(Arc<AtomicU8>);

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

impl Ticket {
    /// The tracker's side: whether it may run the command (it was not withdrawn).
    pub fn take(&self) -> bool {
        self.0
            .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The API's side: whether the command is withdrawn (the tracker did not take it first).
    pub fn withdraw(&self) -> bool {
        self.0
            .compare_exchange(PENDING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The running trackers' command queues, by account.
#[derive(Debug)]
pub struct Commands {
    senders: std::sync::RwLock<std::collections::HashMap<AccountId, mpsc::Sender<Command>>>,
    /// How long the API waits for a tracker to take a command before withdrawing it.
    wait: Duration,
}

impl Default for Commands {
    fn default() -> Self {
        Self::with_wait(COMMAND_WAIT)
    }
}

impl Commands {
    /// Command queues whose commands are withdrawn when no tracker took them within `wait`.
    pub fn with_wait(wait: Duration) -> Self {
        Self {
            senders: std::sync::RwLock::default(),
            wait,
        }
    }

    /// Registers `account`'s tracker (at start-up, or when an account is created at runtime).
    pub fn register(&self, account: AccountId, sender: mpsc::Sender<Command>) {
        self.senders
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account, sender);
    }

    fn sender(&self, account: &AccountId) -> Option<mpsc::Sender<Command>> {
        self.senders
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .cloned()
    }

    /// Queues a command for `account`'s tracker and waits for its answer. A command the
    /// tracker has not taken within the wait is withdrawn ([`CommandError::Withdrawn`]) and
    /// never runs; one it took is waited for to the end, so the answer always says what
    /// happened.
    async fn ask<T>(
        &self,
        account: &AccountId,
        command: impl FnOnce(Ticket, Reply<T>) -> Command,
    ) -> Result<T, CommandError> {
        let sender = self.sender(account).ok_or(CommandError::Unreachable)?;
        let ticket = Ticket::default();
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        sender
            .try_send(command(ticket.clone(), reply))
            .map_err(|_| CommandError::Unreachable)?;
        // An instance that does not hold the account's lease does not read its queue.
        match tokio::time::timeout(self.wait, &mut answer).await {
            Ok(answered) => answered.map_err(|_| CommandError::Unreachable)?,
            Err(_) if ticket.withdraw() => Err(CommandError::Withdrawn),
            // Taken just now: it runs, and its answer is what happened.
            Err(_) => answer.await.map_err(|_| CommandError::Unreachable)?,
        }
    }

    /// Asks `account`'s tracker to correct an anchor and waits for the answer.
    pub async fn correct_anchor(
        &self,
        account: &AccountId,
        correction: AnchorCorrection,
    ) -> Result<shared::engine::Anchors, CommandError> {
        self.ask(account, |ticket, reply| Command::CorrectAnchor {
            correction,
            ticket,
            reply,
        })
        .await
    }

    /// Asks `account`'s tracker to override its challenge's decision and waits for the answer.
    pub async fn override_decision(
        &self,
        account: &AccountId,
        request: Override,
    ) -> Result<shared::api::OverrideResponse, CommandError> {
        self.ask(account, |ticket, reply| Command::Override {
            request,
            ticket,
            reply,
        })
        .await
    }
}

impl Tracker {
    async fn command(&mut self, command: Command) {
        if !command.ticket().take() {
            // The API gave up waiting and told the admin nothing changed: it never runs.
            tracing::info!(account = %self.id, "a withdrawn command is dropped without running");
            return;
        }
        match command {
            Command::CorrectAnchor {
                correction, reply, ..
            } => {
                let outcome = self.correct_anchor(correction).await;
                let _ = reply.send(outcome);
            }
            Command::ChangeRules { request, reply, .. } => {
                let outcome = self.change_rules(request).await;
                let _ = reply.send(outcome);
            }
            Command::Override { request, reply, .. } => {
                let outcome = self.override_decision(request).await;
                let _ = reply.send(outcome);
            }
        }
    }

    /// Awaits `work` (a broker call that may be slow) while carrying out the commands that
    /// arrive meanwhile, so an admin's command never waits for a slow broker.
    async fn beside_commands<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                out = &mut work => return out,
                Some(command) = self.commands.recv() => self.command(command).await,
            }
        }
    }

    /// Carries out an admin's override, stores it with its event (`breach_cleared` or
    /// `unpaused`: who, why, the rules released) in one transaction (or undoes it), writes the
    /// audit log and publishes the new view. The breach events stay as they were.
    async fn override_decision(
        &mut self,
        request: Override,
    ) -> Result<shared::api::OverrideResponse, CommandError> {
        let run = self.challenge.as_mut().ok_or(CommandError::NoChallenge)?;
        let kept = run.clone();
        let Override {
            kind,
            reason,
            actor,
            key,
        } = request;
        if let Some(done) = done_before(run, key.as_deref(), kind.action())? {
            tracing::info!(
                account = %self.id,
                action = kind.action(),
                "a retried override answered as the first time"
            );
            return Ok(done);
        }
        let before = run.challenge().status();
        let rules = run
            .override_decision(kind)
            .map_err(|e| CommandError::NothingToOverride(e.to_string()))?;
        let after = run.challenge().status();
        let response = shared::api::OverrideResponse {
            status: after,
            rules: rules.clone(),
        };
        if let Some(key) = key {
            run.remember_command(key, kind.action(), serde_json::json!(response));
        }
        let now = Utc::now();
        let body = serde_json::json!({
            "kind": kind.event_kind(),
            "time": now,
            "rules": rules,
            "before": before,
            "after": after,
            "reason": reason,
            "by": actor,
        });
        self.unsaved_events.push(StoredEvent {
            time: now,
            kind: kind.event_kind().to_owned(),
            rule: None,
            body: body.to_string(),
        });
        if !self.save(&[]).await {
            // Nobody is told of an override that is not stored: undo it.
            self.challenge = Some(kept);
            self.unsaved_events.pop();
            return Err(CommandError::NotStored);
        }
        tracing::info!(
            account = %self.id,
            action = kind.action(),
            ?rules,
            by = %actor,
            "challenge decision overridden"
        );
        let entry = store::AuditEntry {
            time: now,
            actor,
            action: kind.action().to_owned(),
            subject: format!("account:{}", self.id),
            before: Some(serde_json::json!({ "status": before })),
            after: Some(serde_json::json!({ "status": after, "rules": rules })),
            reason: Some(reason),
        };
        if let Err(error) = self.store.append_audit(&entry).await {
            // The stored event records the override all the same.
            tracing::error!(account = %self.id, %error, "cannot write the audit log");
        }
        if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
            && let Some(mut view) = summary.latest
        {
            view.challenge = Some(run.view());
            let currency = summary.currency.unwrap_or_default();
            self.publish_view(&currency, view, summary.feed);
        }
        Ok(response)
    }

    /// Applies an anchor correction, stores it with an `anchor_corrected` event in one
    /// transaction (or undoes it), writes the audit log and publishes the new rules.
    async fn correct_anchor(
        &mut self,
        correction: AnchorCorrection,
    ) -> Result<shared::engine::Anchors, CommandError> {
        let run = self.challenge.as_mut().ok_or(CommandError::NoChallenge)?;
        let kept = run.clone();
        let AnchorCorrection {
            field,
            value,
            reason,
            actor,
            key,
        } = correction;
        if let Some(done) = done_before(run, key.as_deref(), ANCHOR_ACTION)? {
            tracing::info!(
                account = %self.id,
                "a retried anchor correction answered as the first time"
            );
            return Ok(done);
        }
        let before = run
            .correct_anchor(field, value)
            .map_err(|e| CommandError::Refused(e.to_string()))?;
        let anchors = run.challenge().anchors();
        if let Some(key) = key {
            run.remember_command(key, ANCHOR_ACTION, serde_json::json!(anchors));
        }
        let now = Utc::now();
        let body = serde_json::json!({
            "kind": "anchor_corrected",
            "time": now,
            "anchor": field,
            "before": before,
            "after": value,
            "reason": reason,
            "by": actor,
        });
        self.unsaved_events.push(StoredEvent {
            time: now,
            kind: "anchor_corrected".to_owned(),
            rule: None,
            body: body.to_string(),
        });
        if !self.save(&[]).await {
            // Nobody is told of a correction that is not stored: undo it.
            self.challenge = Some(kept);
            self.unsaved_events.pop();
            return Err(CommandError::NotStored);
        }
        tracing::info!(
            account = %self.id,
            anchor = %field,
            %before,
            after = %value,
            by = %actor,
            "anchor corrected"
        );
        let entry = store::AuditEntry {
            time: now,
            actor,
            action: ANCHOR_ACTION.to_owned(),
            subject: format!("account:{}", self.id),
            before: Some(serde_json::json!({ field.name(): before })),
            after: Some(serde_json::json!({ field.name(): value })),
            reason: Some(reason),
        };
        if let Err(error) = self.store.append_audit(&entry).await {
            // The stored event records the correction all the same.
            tracing::error!(account = %self.id, %error, "cannot write the audit log");
        }
        self.store_limits(now).await;
        if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
            && let Some(mut view) = summary.latest
        {
            view.challenge = Some(run.view());
            let currency = summary.currency.unwrap_or_default();
            self.publish_view(&currency, view, summary.feed);
        }
        Ok(anchors)
    }
}

/// How often an account fed by pushes checks whether its feed went stale.
const PUSH_STALE_CHECK: Duration = Duration::from_secs(1);

impl Tracker {
    /// Feeds pushed batches, one at a time in arrival order, until `shutdown` is cancelled or
    /// the lease is `lost`.
    async fn run_pushes(
        &mut self,
        batches: &mut mpsc::Receiver<Batch>,
        shutdown: &CancellationToken,
        lost: &CancellationToken,
    ) -> Ended {
        let started = Instant::now();
        let mut stale_check = tokio::time::interval(PUSH_STALE_CHECK);
        stale_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut stale = false;
        let ended = loop {
            if self.lease_lost {
                return Ended::Lost;
            }
            tokio::select! {
                () = shutdown.cancelled() => break Ended::Shutdown,
                () = lost.cancelled() => return Ended::Lost,
                Some(command) = self.commands.recv() => self.command(command).await,
                batch = batches.recv() => {
                    let Some(Batch { records, reply }) = batch else {
                        break Ended::Shutdown;
                    };
                    let outcome = self.ingest(records).await;
                    stale = false;
                    // The sender may have given up waiting; the batch is applied all the same.
                    let _ = reply.send(outcome);
                }
                _ = stale_check.tick() => {
                    if !self.pending_rules.is_empty() {
                        self.apply_due_rules(Utc::now()).await;
                    }
                    let since = self.last_success.unwrap_or(started);
                    if !stale && self.pushed.is_some() && since.elapsed() >= self.stale_after {
                        stale = true;
                        self.publish_feed(FeedStatus::Stale);
                        let detail =
                            format!("nothing was pushed for {} s", since.elapsed().as_secs());
                        self.note_feed(true, &detail).await;
                    }
                }
            }
        };
        if !self.lease_lost {
            self.flush_samples(true).await;
        }
        tracing::debug!(account = %self.id, "push tracker stopped");
        ended
    }

    /// Journals, applies and stores one pushed batch, then publishes the account's view.
    async fn ingest(&mut self, records: Vec<Pushed>) -> Result<IngestResponse, NotStored> {
        if let Some(journal) = &self.journal {
            for pushed in &records {
                journal.append_line(&pushed.line);
            }
        }
        self.last_success = Some(Instant::now());
        // A new challenge starts at its first pushed record: what came before is not known.
        if let Some(challenge) = self.onboarding.take() {
            let start = records.first().map_or_else(Utc::now, |p| p.record.time);
            tracing::info!(account = %self.id, %start, "the challenge starts with the first push");
            self.challenge = Some(crate::challenge::ChallengeRun::new(challenge, start));
        }
        let mut response = IngestResponse {
            accepted: u32::try_from(records.len()).unwrap_or(u32::MAX),
            duplicate_deals: 0,
            refused: Vec::new(),
            status: None,
        };
        let mut stored = true;
        let mut events = Vec::new();
        // Only records the engine accepts move what is shown (peaks, samples, the latest
        // numbers); without a challenge, a record older than the latest shown is refused.
        let accepted: std::collections::HashSet<u32> = if let Some(run) = self.challenge.as_mut() {
            let fed: Vec<(u32, &shared::engine::Record)> =
                records.iter().map(|p| (p.number, &p.record)).collect();
            let now = Utc::now();
            let last_data = self.pushed.as_ref().map(|(time, _)| *time);
            let hold = feed_recovery_hold(self.stale_after);
            if let Some(event) =
                run.note_feed(false, now, "records are pushed again", last_data, hold)
            {
                self.unsaved_events.push(event);
            }
            let days_before = run.challenge().days().len();
            let next_reset = run.challenge().next_reset();
            let outcome = run.apply_pushed(self.id.as_str(), &fed);
            let reset = next_reset
                .or(records.last().map(|p| p.record.time))
                .unwrap_or(now);
            if let Some(summary) = run.daily_summary(days_before, reset) {
                self.unsaved_events.push(summary);
            }
            response.accepted = outcome.accepted;
            response.duplicate_deals = outcome.duplicate_deals;
            response.refused = outcome
                .refused
                .into_iter()
                .map(|(line, message)| shared::api::RefusedRecord { line, message })
                .collect();
            response.status = Some(run.challenge().status());
            events = outcome.events;
            outcome.accepted_lines.into_iter().collect()
        } else {
            let mut latest = self.pushed.as_ref().map(|(time, _)| *time);
            let mut accepted = std::collections::HashSet::new();
            for pushed in &records {
                let state = matches!(
                    pushed.record.data,
                    RecordData::AccountInformation(_) | RecordData::Positions(_)
                );
                if state && latest.is_some_and(|latest| pushed.record.time < latest) {
                    response.refused.push(shared::api::RefusedRecord {
                        line: pushed.number,
                        message: "the record is older than the latest one received".to_owned(),
                    });
                    continue;
                }
                if state {
                    latest = Some(pushed.record.time);
                }
                accepted.insert(pushed.number);
            }
            response.accepted = u32::try_from(accepted.len()).unwrap_or(u32::MAX);
            accepted
        };
        for pushed in records.iter().filter(|p| accepted.contains(&p.number)) {
            match &pushed.record.data {
                RecordData::AccountInformation(info) => {
                    self.peaks_dirty |= self.peaks.observe(info);
                    self.samples.push(EquityPoint {
                        time: pushed.record.time,
                        balance: info.balance,
                        equity: info.equity,
                    });
                    if let Some(run) = self.challenge.as_mut() {
                        run.note_currency(&info.currency);
                    }
                    self.pushed = Some((pushed.record.time, info.clone()));
                }
                RecordData::Positions(positions) => self.pushed_positions.clone_from(positions),
                _ => {}
            }
        }
        // The challenge (whose anchors are the peaks shown) before the peaks table: a crash
        // between the two never leaves the table ahead of what a restart shows.
        if self.challenge.is_some() {
            stored &= self.save(&events).await;
            if let Some(last) = records.last() {
                self.store_limits(last.record.time).await;
            }
        }
        stored &= self.save_peaks().await;
        self.flush_samples(false).await;
        if let Some((time, info)) = &self.pushed
            && !self.lease_lost
        {
            let view = self.view(*time, info, &self.pushed_positions);
            self.publish_view(&info.currency, view, FeedStatus::Live);
        }
        if stored { Ok(response) } else { Err(NotStored) }
    }
}

/// Logs the late deals remembered after `before` (the newest one remembered before): which
/// figures of which day they changed.
fn log_late_deals(
    account: &AccountId,
    late: &[shared::engine::LateDeal],
    before: Option<&shared::engine::LateDeal>,
) {
    let new = match before {
        Some(before) => late
            .iter()
            .rposition(|deal| deal == before)
            .map_or(late, |index| &late[index + 1..]),
        None => late,
    };
    for deal in new {
        tracing::warn!(
            account = %account,
            deal = %deal.deal_id,
            time = %deal.time,
            day = %deal.day,
            past_day = deal.past_day,
            closed_pl = %deal.closed_pl,
            day_closed_pl_before = %deal.day_closed_pl_before,
            day_closed_pl_after = %deal.day_closed_pl_after,
            "a deal arrived late: it is applied on its own day, whose figures it changed"
        );
    }
}

/// What the dashboard shows, from one observation and the tracked peaks.
pub fn account_view(
    time: DateTime<Utc>,
    info: &AccountInfo,
    positions: &[Position],
    peaks: &Peaks,
) -> AccountView {
    AccountView {
        time,
        balance: info.balance,
        equity: info.equity,
        floating_pl: info.floating_pl(),
        starting_capital: peaks.starting_capital.unwrap_or(info.balance),
        peak_balance: peaks.peak_balance.unwrap_or(info.balance),
        peak_equity: peaks.peak_equity.unwrap_or(info.equity),
        drawdown: peaks.drawdown(info.equity),
        drawdown_percent: peaks.drawdown_percent(info.equity),
        open_positions: u32::try_from(positions.len()).unwrap_or(u32::MAX),
        challenge: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::engine::{ChallengeStatus, Record};

    fn clear(key: Option<&str>) -> Override {
        Override {
            kind: OverrideKind::ClearBreach,
            reason: "a broker error".to_owned(),
            actor: "admin".to_owned(),
            key: key.map(str::to_owned),
        }
    }

    /// A push tracker on a fresh store whose challenge failed (equity 80,000 of 100,000).
    async fn failed_tracker(dir: &std::path::Path) -> (Tracker, Arc<dyn Store>) {
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = store::open(&url).await.expect("store");
        let id = AccountId::from("a");
        store.upsert_account(&id, "A", None).await.expect("account");
        let hub = Arc::new(Hub::new([(id.clone(), "A".to_owned())]));
        let (_batches, receiver) = mpsc::channel(1);
        let mut tracker = Tracker::pushed(
            id,
            receiver,
            None,
            store.clone(),
            hub,
            Duration::from_secs(10),
            None,
        );
        let challenge = shared::engine::Challenge::new(
            shared::engine::preset("ftmo-2step", 100_000.into()).expect("preset"),
        )
        .expect("challenge");
        let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
        let mut run = ChallengeRun::new(challenge, start);
        let info = |equity: i64| AccountInfo {
            balance: 100_000.into(),
            equity: equity.into(),
            margin: 0.into(),
            free_margin: equity.into(),
            margin_level: None,
            currency: "USD".to_owned(),
            leverage: None,
            credit: 0.into(),
        };
        let records = [
            Record::new(start, RecordData::AccountInformation(info(100_000))),
            Record::new(
                start + chrono::Duration::hours(1),
                RecordData::AccountInformation(info(80_000)),
            ),
        ];
        let fed: Vec<(u32, &Record)> = records.iter().zip(1..).map(|(r, n)| (n, r)).collect();
        run.apply_pushed("a", &fed);
        assert_eq!(run.challenge().status(), ChallengeStatus::Failed);
        tracker.challenge = Some(run);
        (tracker, store)
    }

    fn status(tracker: &Tracker) -> ChallengeStatus {
        tracker
            .challenge
            .as_ref()
            .expect("challenge")
            .challenge()
            .status()
    }

    async fn cleared_events(store: &dyn Store) -> usize {
        store
            .challenge_events(&AccountId::from("a"))
            .await
            .expect("events")
            .iter()
            .filter(|e| e.kind == "breach_cleared")
            .count()
    }

    /// Issue 19, item 2: a command the API withdrew (it answered 503) never runs, even when
    /// the tracker reads it later; a command the tracker took is waited for past the wait.
    #[tokio::test]
    async fn a_withdrawn_command_never_runs_and_a_taken_one_is_always_answered() {
        let commands = Commands::with_wait(Duration::from_millis(100));
        let (sender, mut queue) = mpsc::channel(COMMAND_QUEUE);
        commands.register(AccountId::from("a"), sender);
        let account = AccountId::from("a");
        let answer = commands.override_decision(&account, clear(None)).await;
        assert!(matches!(answer, Err(CommandError::Withdrawn)));

        // The tracker reads it later: it does not run.
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tracker, store) = failed_tracker(dir.path()).await;
        let withdrawn = queue.recv().await.expect("still queued");
        tracker.command(withdrawn).await;
        assert_eq!(status(&tracker), ChallengeStatus::Failed, "nothing ran");
        assert_eq!(cleared_events(store.as_ref()).await, 0);

        // Taken in time, then slow: the API waits for the answer past its wait.
        let slow = async {
            let command = queue.recv().await.expect("queued");
            assert!(command.ticket().take());
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Command::Override { reply, .. } = command {
                let _ = reply.send(Ok(shared::api::OverrideResponse {
                    status: ChallengeStatus::Active,
                    rules: vec!["max_loss".to_owned()],
                }));
            }
        };
        let (answer, ()) = tokio::join!(commands.override_decision(&account, clear(None)), slow);
        assert_eq!(answer.expect("answered").status, ChallengeStatus::Active);
    }

    /// Issue 19, item 2: a retry under the same idempotency key gets the first result and
    /// applies nothing again (the key is stored with the state it changed); the key cannot be
    /// reused for another action.
    #[tokio::test]
    async fn a_retried_command_under_the_same_key_applies_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tracker, store) = failed_tracker(dir.path()).await;
        let first = tracker
            .override_decision(clear(Some("key-1")))
            .await
            .expect("cleared");
        assert_eq!(first.status, ChallengeStatus::Active);
        let again = tracker
            .override_decision(clear(Some("key-1")))
            .await
            .expect("the first answer again");
        assert_eq!(again, first);
        assert_eq!(cleared_events(store.as_ref()).await, 1, "applied once");
        // Without a key, a second clear is refused: nothing is breached any more.
        assert!(matches!(
            tracker.override_decision(clear(None)).await,
            Err(CommandError::NothingToOverride(_))
        ));
        let unpause = Override {
            kind: OverrideKind::Unpause,
            ..clear(Some("key-1"))
        };
        assert!(matches!(
            tracker.override_decision(unpause).await,
            Err(CommandError::KeyReused(_))
        ));
        // The key survives a restart: it is part of the stored state.
        let saved = store
            .load_challenge(&AccountId::from("a"))
            .await
            .expect("load")
            .expect("saved");
        let restored: ChallengeRun = serde_json::from_str(&saved).expect("state");
        assert!(restored.done_command("key-1").is_some());
    }
}
