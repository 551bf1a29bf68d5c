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
//!
//! The loop decides nothing itself: pure decisions, unit-tested without IO or a clock, say what
//! to do (`feed`: stale or recovered; `samples`: when to write equity samples; `save`: when to
//! store the state, peaks and limit levels; `schedule`: when to poll or pause; `view`: what an
//! observation shows), and the loop, `poll`, `persist`, `pushes` and `backfill` do it. Equity
//! samples (chart data, never a decision) go to `chart_writer`, one writer for every tracker.

use crate::challenge::ChallengeRun;
use crate::config::ChallengeSetup;
use crate::hub::Hub;
use crate::ingest::Batch;
use crate::lease::{Held, Leases};
use crate::live::Fanout;
use broker::BrokerClient;
use broker::journal::Journal;
use chrono::{DateTime, Utc};
use shared::api::{AccountView, FeedStatus};
use shared::domain::{AccountId, AccountInfo, Position};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoredEvent};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

mod backfill;
mod chart_writer;
mod commands;
mod feed;
mod persist;
mod poll;
mod promotion;
mod pushes;
mod rule_changes;
mod samples;
mod save;
mod schedule;
mod stream;
mod view;

pub use chart_writer::{ChartWriter, SampleSink};
pub use commands::{
    AnchorCorrection, Command, CommandError, Commands, Override, OverrideKind, Reply,
    RuleChangeOutcome, RuleChangeRequest, Ticket,
};
pub use rule_changes::StoredRuleSet;
pub(crate) use stream::Streamed;
pub use view::account_view;

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
    /// Archived accounts (the hub's): this one's tracker stops when it is among them.
    archived: tokio::sync::watch::Receiver<u64>,
    /// Archived before this start: restore and show the challenge as it stood, never track it.
    archived_at_start: bool,
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
    /// The peaks of an account without a challenge (and whether they moved since stored).
    peaks: save::TrackedPeaks,
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
    samples: samples::Samples,
    /// Where due samples are handed to the one writer of every tracker's samples (none: the
    /// tracker writes them itself).
    sample_sink: Option<chart_writer::SampleSink>,
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
    /// When a passed challenge last looked at its promotion (`promotion`).
    promotion_checked: Option<Instant>,
    /// How often the whole challenge's deal history is read (see `new_deals`).
    reconcile_every: Duration,
    /// When it was last read whole; `None`: at the next poll.
    last_reconcile: Option<Instant>,
    /// A MetaApi account (its transport is shown).
    metaapi: bool,
    /// A MetaApi account followed over the streaming API.
    stream: Option<Streamed>,
    /// The transport last published.
    shown_transport: Option<shared::api::FeedTransport>,
    /// The MetaApi risk trackers fed by each update (`crate::risk`).
    risk: Option<Arc<crate::risk::Risk>>,
}

/// Why tracking stopped.
enum Ended {
    /// The server is shutting down.
    Shutdown,
    /// The lease was lost: stop writing at once.
    Lost,
    /// This instance holds more than its share: hand the account over.
    Yielded,
    /// An admin archived the account: it is no longer tracked, anywhere.
    Archived,
}

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
        let (commands_tx, commands) = mpsc::channel(commands::COMMAND_QUEUE);
        let archived = hub.watch_archived();
        Self {
            id,
            client,
            commands,
            commands_tx,
            archived,
            archived_at_start: false,
            pushes: None,
            journal: None,
            pushed: None,
            pushed_positions: Vec::new(),
            store,
            hub,
            interval,
            stale_after,
            peaks: save::TrackedPeaks::default(),
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
            samples: samples::Samples::default(),
            sample_sink: None,
            leases: None,
            lease: None,
            lease_lost: false,
            fanout: Fanout::none(),
            limits: Vec::new(),
            pending_rules: Vec::new(),
            promotion_checked: None,
            reconcile_every: DEFAULT_RECONCILE_EVERY,
            last_reconcile: None,
            metaapi: false,
            stream: None,
            shown_transport: None,
            risk: None,
        }
    }

    /// A MetaApi account, followed over `stream` (MetaApi's streaming API) or, without one, by
    /// REST polling; the dashboard shows which.
    #[must_use]
    pub(crate) fn with_metaapi_transport(mut self, stream: Option<Streamed>) -> Self {
        self.metaapi = true;
        self.stream = stream;
        self
    }

    /// A cTrader account, followed by its connection's events (`stream`) once onboarded.
    #[must_use]
    pub(crate) fn with_stream(mut self, stream: Streamed) -> Self {
        self.stream = Some(stream);
        self
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

    /// Hands due equity samples to the writer of every tracker's samples instead of writing
    /// them itself (see `chart_writer`).
    #[must_use]
    pub fn with_sample_sink(mut self, sink: SampleSink) -> Self {
        self.sample_sink = Some(sink);
        self
    }

    /// Feeds the account's MetaApi risk trackers on every update published.
    #[must_use]
    pub fn with_risk(mut self, risk: Arc<crate::risk::Risk>) -> Self {
        self.risk = Some(risk);
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
        if let Some(risk) = &self.risk {
            risk.release(&self.id);
        }
        self.peaks = save::TrackedPeaks::default();
        self.needs_backfill = false;
        self.last_success = None;
        self.challenge = None;
        self.onboarding = None;
        self.unsaved_events.clear();
        self.unsaved_deals.clear();
        self.specified.clear();
        self.last_saved = None;
        self.samples.clear();
        self.lease = None;
        self.lease_lost = false;
        self.pushed = None;
        self.pushed_positions.clear();
        self.limits.clear();
        self.pending_rules.clear();
        self.last_reconcile = None;
        if let Some(stream) = self.stream.as_mut() {
            stream.reset();
        }
        self.shown_transport = None;
    }

    fn publish_view(&mut self, currency: &str, view: AccountView, feed: FeedStatus) {
        self.feed_risk(&view);
        self.fanout.view(&self.id, currency, &view, feed);
        self.hub.publish_view_as(&self.id, currency, view, feed);
    }

    /// Hands the account's MetaApi risk trackers (`crate::risk`) what this update brought:
    /// the deals the engine applied since the last one, then balance and equity, in the
    /// account's broker time (its reset clock's zone; UTC without a challenge).
    fn feed_risk(&mut self, view: &AccountView) {
        let (deals, zone) = match self.challenge.as_mut() {
            Some(run) => (run.take_new_deals(), run.challenge().clock().time_zone),
            None => (Vec::new(), chrono_tz::Tz::UTC),
        };
        let Some(risk) = &self.risk else {
            return;
        };
        let crossed = risk.observe(&self.id, zone, &deals, view.time, view.balance, view.equity);
        if self.challenge.is_none() {
            return;
        }
        // Also one of the challenge's events: on the account's page and notified, stored with
        // the next save of the challenge's state.
        for (name, event) in crossed {
            self.unsaved_events.push(StoredEvent {
                time: view.time,
                kind: crate::risk::EVENT_KIND.to_owned(),
                rule: Some(name),
                body: event.body_json,
            });
        }
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

    /// The account was archived before this start: [`Tracker::run`] restores its challenge,
    /// shows it as it stood, marks it archived and ends (no broker is reached, no lease taken).
    #[must_use]
    pub fn archived(mut self) -> Self {
        self.archived_at_start = true;
        self
    }

    /// Whether this tracker's account was archived (since the last look).
    fn archived_now(&mut self) -> bool {
        self.archived.borrow_and_update();
        self.hub.is_archived(&self.id)
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
            Some(saved) => self.peaks.restore(&saved),
            None => self.needs_backfill = true,
        }
        Ok(())
    }

    /// Polls until `shutdown` is cancelled: with leases, whenever this instance holds the
    /// account's lease.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if self.archived_at_start {
            // Read-only: what the store holds is shown, nothing is written.
            if self.restore(&shutdown).await {
                self.publish_restored();
                self.hub.archive(&self.id);
            }
            return;
        }
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
                Ended::Shutdown | Ended::Archived => {
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
        if self.archived_now() {
            return Ended::Archived;
        }
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
                Ok(()) = self.archived.changed() => {
                    if self.archived_now() {
                        break Ended::Archived;
                    }
                    continue;
                }
                Some(command) = self.commands.recv() => {
                    self.command(command).await;
                    continue;
                }
                event = stream::next(&mut self.stream) => {
                    self.on_stream(event).await;
                    continue;
                }
            }
            if !self.pending_rules.is_empty() {
                self.apply_due_rules(Utc::now()).await;
            }
            self.promote_if_due().await;
            self.publish_transport();
            // A live stream brings every change: polls only reconcile, and no quotes are read.
            let (interval, quotes) = if self.streaming_live() || self.awaiting_stream() {
                (self.reconcile_every, false)
            } else {
                (self.interval, true)
            };
            if !schedule::poll_due(last_poll, Instant::now(), tick, interval) {
                if quotes && let Err(error) = self.quotes_once().await {
                    tracing::debug!(account = %self.id, %error, "cannot read quotes");
                }
                continue;
            }
            last_poll = Some(Instant::now());
            let Err(error) = self.poll_once().await else {
                self.start_stream();
                continue;
            };
            if let Some(pause) = self.poll_failed(&error, started).await {
                match self.pause(pause, shutdown, &lost).await {
                    Some(Ended::Lost) => return Ended::Lost,
                    Some(ended) => break ended,
                    None => {}
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

    /// Waits out a broker's rate limit, carrying out commands meanwhile; `Some` when tracking
    /// ends during the wait.
    async fn pause(
        &mut self,
        pause: Duration,
        shutdown: &CancellationToken,
        lost: &CancellationToken,
    ) -> Option<Ended> {
        let until = Instant::now() + pause;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Some(Ended::Shutdown),
                () = lost.cancelled() => return Some(Ended::Lost),
                () = tokio::time::sleep_until(until) => return None,
                // Commands do not wait for the broker's rate limit to pass.
                Some(command) = self.commands.recv() => self.command(command).await,
            }
        }
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
        let currency = run.currency().unwrap_or_default();
        let info = view::restored_info(metrics.balance, metrics.equity, currency);
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
                let config = match &setup.program {
                    Some(program) => Ok(program.config.clone()),
                    None => shared::engine::preset(&setup.preset, setup.initial_balance),
                }
                .map(|mut config| {
                    config.estimated_equity_breaches |= setup.estimated_equity_breaches;
                    config
                });
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

    /// The program, version and phase a new challenge starts on.
    fn program_link(&self) -> Option<shared::programs::ProgramLink> {
        self.setup
            .as_ref()
            .and_then(|setup| setup.program.as_ref())
            .map(|program| program.link.clone())
    }

    /// What the dashboard shows for this observation.
    fn view(&self, now: DateTime<Utc>, info: &AccountInfo, positions: &[Position]) -> AccountView {
        view::observation_view(
            now,
            info,
            positions,
            self.peaks.peaks(),
            self.challenge.as_ref(),
        )
    }

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
}
