//! One polling loop per account: pull from the broker, fold into the numbers the broker does not
//! keep, persist, then publish.
//!
//! Order matters: peaks, the challenge's engine state and its events are written to the store
//! before the new view is published, so nothing a browser was shown can be lost by a crash. A
//! failing database does not stop tracking: what is unsaved stays in memory (events queue up, in
//! order) and is written again on the next poll.

use crate::broker::metaapi::{BrokerError, MetaApiClient};
use crate::challenge::{ChallengeRun, stored};
use crate::config::ChallengeSetup;
use crate::db::{Store, StoredEvent};
use crate::hub::Hub;
use chrono::{DateTime, Utc};
use shared::api::{AccountView, EquityPoint, FeedStatus};
use shared::domain::{AccountId, AccountInfo, Position};
use shared::peaks::Peaks;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Everything one account's loop needs.
pub struct Tracker {
    id: AccountId,
    client: MetaApiClient,
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
    /// Engine events not yet stored (the database was unavailable), oldest first.
    unsaved_events: Vec<StoredEvent>,
}

/// How far back a first-time backfill reads deal history.
const BACKFILL_DAYS: i64 = 400;

impl Tracker {
    /// A tracker for `id`, polling `client` every `interval`.
    pub fn new(
        id: AccountId,
        client: MetaApiClient,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        interval: Duration,
        stale_after: Duration,
        setup: Option<ChallengeSetup>,
    ) -> Self {
        Self {
            id,
            client,
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
            unsaved_events: Vec::new(),
        }
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

    async fn try_restore(&mut self) -> Result<(), crate::db::StoreError> {
        if self.challenge.is_none() {
            self.restore_challenge().await?;
        }
        match self.store.load_peaks(&self.id).await? {
            Some(saved) => self.peaks.merge(&saved),
            None => self.needs_backfill = true,
        }
        Ok(())
    }

    /// Polls until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if !self.restore(&shutdown).await {
            return;
        }
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let started = Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let pause = match self.poll_once().await {
                Ok(()) => None,
                Err(error) => {
                    tracing::warn!(account = %self.id, %error, "poll failed");
                    let since = self.last_success.unwrap_or(started);
                    if since.elapsed() >= self.stale_after {
                        self.hub.publish_feed(&self.id, FeedStatus::Stale);
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
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::debug!(account = %self.id, "tracker stopped");
    }

    /// Loads the saved engine state, or starts the configured challenge afresh.
    async fn restore_challenge(&mut self) -> Result<(), crate::db::StoreError> {
        let Some(setup) = &self.setup else {
            return Ok(());
        };
        match self.store.load_challenge(&self.id).await? {
            Some(saved) => match serde_json::from_str::<ChallengeRun>(&saved) {
                Ok(run) => self.challenge = Some(run),
                // Never silently restart a challenge that may hold a breach: leave it untracked
                // and say so loudly; the stored events keep their evidence.
                Err(error) => tracing::error!(
                    account = %self.id,
                    %error,
                    "the saved challenge state cannot be read; the challenge is not evaluated"
                ),
            },
            None => {
                match shared::engine::Challenge::from_preset(&setup.preset, setup.initial_balance) {
                    Ok(challenge) => {
                        self.challenge = Some(ChallengeRun::new(challenge, Utc::now()));
                    }
                    Err(error) => {
                        tracing::error!(account = %self.id, %error, "cannot start the challenge")
                    }
                }
            }
        }
        Ok(())
    }

    /// New deals for the challenge, read before the account information that may include
    /// them (so the journal holds them in the order the engine is fed). `None` when there is
    /// no challenge or the read failed (the next poll's window overlaps, so nothing is lost).
    async fn new_deals(&self) -> Option<Vec<shared::domain::Deal>> {
        let from = self.challenge.as_ref().map(ChallengeRun::deals_from)?;
        let to = Utc::now() + chrono::Duration::minutes(1);
        match self.client.deals(from, to).await {
            Ok(deals) => Some(deals),
            Err(error) => {
                tracing::warn!(account = %self.id, %error, "cannot read new deals this poll");
                None
            }
        }
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
        let events = run.apply_poll(self.id.as_str(), now, deals, info, positions);
        for event in &events {
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
                return;
            }
        };
        match self
            .store
            .save_challenge(&self.id, &state, &self.unsaved_events)
            .await
        {
            Ok(()) => self.unsaved_events.clear(),
            Err(error) => tracing::error!(
                account = %self.id,
                %error,
                unsaved_events = self.unsaved_events.len(),
                "cannot save the challenge; will retry"
            ),
        }
    }

    async fn poll_once(&mut self) -> Result<(), BrokerError> {
        let deals = self.new_deals().await;
        let (info, positions) =
            tokio::try_join!(self.client.account_information(), self.client.positions())?;
        let now = Utc::now();
        self.last_success = Some(Instant::now());
        if self.needs_backfill {
            self.backfill(now, &info).await;
        }
        self.peaks_dirty |= self.peaks.observe(&info);
        if self.peaks_dirty {
            match self.store.save_peaks(&self.id, &self.peaks).await {
                Ok(()) => self.peaks_dirty = false,
                Err(error) => {
                    tracing::error!(account = %self.id, %error, "cannot save peaks; will retry")
                }
            }
        }
        let point = EquityPoint {
            time: now,
            balance: info.balance,
            equity: info.equity,
        };
        if let Err(error) = self.store.append_sample(&self.id, &point).await {
            tracing::error!(account = %self.id, %error, "cannot save equity sample");
        }
        self.evaluate(now, deals, &info, &positions).await;
        let mut view = account_view(now, &info, &positions, &self.peaks);
        view.challenge = self.challenge.as_ref().map(ChallengeRun::view);
        self.hub.publish_view(&self.id, &info.currency, view);
        Ok(())
    }
}

impl Tracker {
    /// First time this account is tracked: reconstruct starting capital and peaks from its deal
    /// history, so an account onboarded mid-challenge is measured against its real history. When
    /// the history cannot be read, tracking starts from the first observation instead.
    async fn backfill(&mut self, now: DateTime<Utc>, info: &AccountInfo) {
        self.needs_backfill = false;
        let from = now - chrono::Duration::days(BACKFILL_DAYS);
        match self
            .client
            .deals(from, now + chrono::Duration::minutes(1))
            .await
        {
            Ok(deals) => {
                if let Some(peaks) = shared::peaks::reconstruct(&deals, info) {
                    tracing::info!(
                        account = %self.id,
                        deals = deals.len(),
                        starting_capital = ?peaks.starting_capital,
                        peak_balance = ?peaks.peak_balance,
                        "reconstructed peaks from deal history"
                    );
                    self.peaks.merge(&peaks);
                    self.peaks_dirty = true;
                }
            }
            Err(error) => tracing::warn!(
                account = %self.id,
                %error,
                "cannot read deal history; tracking starts from the first observation"
            ),
        }
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
