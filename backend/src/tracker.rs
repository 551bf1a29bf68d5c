//! One polling loop per account: pull from the broker, fold into the numbers the broker does not
//! keep, persist, then publish.
//!
//! Order matters: peaks are written to the store before the new view is published, so nothing a
//! browser was shown can be lost by a crash. A failing database does not stop tracking: the
//! unsaved peaks stay in memory and are written again on the next poll.

use crate::broker::metaapi::{BrokerError, MetaApiClient};
use crate::db::Store;
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
    last_success: Option<Instant>,
}

impl Tracker {
    /// A tracker for `id`, polling `client` every `interval`.
    pub fn new(
        id: AccountId,
        client: MetaApiClient,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        interval: Duration,
        stale_after: Duration,
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
            last_success: None,
        }
    }

    /// Restores the persisted peaks; until that succeeds, no poll result is published, so a
    /// restart can never show (or save) a peak lower than the one already stored.
    async fn restore(&mut self, shutdown: &CancellationToken) -> bool {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.store.load_peaks(&self.id).await {
                Ok(saved) => {
                    if let Some(saved) = saved {
                        self.peaks.merge(&saved);
                    }
                    return true;
                }
                Err(error) => {
                    tracing::error!(account = %self.id, %error, "cannot restore peaks; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
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

    async fn poll_once(&mut self) -> Result<(), BrokerError> {
        let (info, positions) =
            tokio::try_join!(self.client.account_information(), self.client.positions())?;
        let now = Utc::now();
        self.last_success = Some(Instant::now());
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
        let view = account_view(now, &info, &positions, &self.peaks);
        self.hub.publish_view(&self.id, &info.currency, view);
        Ok(())
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
    }
}
