//! One poll of a broker (deals, account information, positions, the quote clock) and the quotes
//! between polls, fed to the engine.

use super::{Tracker, feed, save, schedule};
use broker::{BrokerClient, BrokerError};
use chrono::{DateTime, Utc};
use shared::api::{EquityPoint, FeedStatus};
use shared::domain::{AccountId, AccountInfo, Position};
use shared::engine::RecordData;
use std::time::Duration;
use tokio::time::Instant;

/// The feed by the age of the broker's last quote (see `feed::quote_feed`); a broker that
/// cannot tell counts as live.
async fn quote_feed(account: AccountId, client: BrokerClient, stale_after: Duration) -> FeedStatus {
    let age = client.quote_age().await.unwrap_or_else(|error| {
        tracing::debug!(%account, %error, "cannot read the broker's quote time");
        None
    });
    feed::quote_feed(age, stale_after)
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

impl Tracker {
    /// Feeds the engine the current quotes (and, once per symbol, the specification) of the
    /// symbols of the open positions: equity estimated between polls, flagged as estimated in
    /// any event it causes. Events are saved like a poll's.
    pub(super) async fn quotes_once(&mut self) -> Result<(), BrokerError> {
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
        let summary = run.daily_summary(days_before, save::closing_reset(next_reset, now));
        let day_closed = summary.is_some();
        self.unsaved_events.extend(summary);
        if save::quotes_must_be_saved(!events.is_empty(), day_closed) {
            self.save(&events).await;
        }
        Ok(())
    }

    /// After a failed poll: the feed turns stale once the broker has not answered for
    /// `stale_after` (since the last answer, or since tracking `started`). How long to pause
    /// before the next poll, if at all.
    pub(super) async fn poll_failed(
        &mut self,
        error: &BrokerError,
        started: Instant,
    ) -> Option<Duration> {
        tracing::warn!(account = %self.id, %error, "poll failed");
        let silent = self.last_success.unwrap_or(started).elapsed();
        if error.is_credentials() {
            // Waiting will not help: the feed is stale at once, saying why, so the admin hears
            // of it (a feed event notifies) and can give the account new credentials.
            self.publish_feed(FeedStatus::Stale);
            let detail = format!("the broker refused the account's credentials: {error}");
            self.note_feed(true, &detail).await;
        } else if feed::silent_too_long(silent, self.stale_after) {
            self.publish_feed(FeedStatus::Stale);
            let detail = format!("the broker has not answered for {} s", silent.as_secs());
            self.note_feed(true, &detail).await;
        }
        schedule::pause_after(error, self.interval)
    }

    /// Feeds the engine, then stores its state and new events in one transaction.
    pub(super) async fn evaluate(
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
        let before = save::Checkpoint::of(run.challenge());
        let days_before = run.challenge().days().len();
        let late_before = run.challenge().late_deals().last().cloned();
        let events = run.apply_poll(self.id.as_str(), now, deals, info, positions);
        log_late_deals(&self.id, run.challenge().late_deals(), late_before.as_ref());
        // A reset closed a day: its summary comes before this poll's events, at the reset.
        let reset = save::closing_reset(before.next_reset(), now);
        if let Some(summary) = run.daily_summary(days_before, reset) {
            self.unsaved_events.push(summary);
        }
        let fed = save::Fed {
            events: !events.is_empty(),
            unsaved_events: !self.unsaved_events.is_empty(),
            deals: fed_deals,
        };
        let after = save::Checkpoint::of(run.challenge());
        if save::state_must_be_saved(fed, &before, &after, self.last_saved, Instant::now()) {
            self.save(&events).await;
        }
        self.store_limits(now).await;
    }

    pub(super) async fn poll_once(&mut self) -> Result<(), BrokerError> {
        // A closed semaphore (never closed today) only means: poll without waiting.
        let Some(client) = self.client.clone() else {
            return Ok(());
        };
        // The broker may be slow: commands are carried out while its answers are awaited.
        let (account, polls) = (self.id.clone(), self.polls.clone());
        let whole =
            schedule::whole_history_due(self.last_reconcile, Instant::now(), self.reconcile_every);
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
        self.peaks.observe(&info);
        let point = EquityPoint {
            time: now,
            balance: info.balance,
            equity: info.equity,
        };
        self.samples.push(point);
        let feed = match self.client.clone() {
            Some(client) => {
                let (account, stale_after) = (self.id.clone(), self.stale_after);
                self.beside_commands(quote_feed(account, client, stale_after))
                    .await
            }
            None => FeedStatus::Live,
        };
        let (stale, detail) = feed::after_poll(feed);
        self.note_feed(stale, detail).await;
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
        // The chart's samples after the view: a routine write never holds up a breach shown.
        self.flush_samples(false).await;
        Ok(())
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
