//! What the loop writes to the store: the challenge's state with its events and deals, peaks,
//! equity samples, limit levels and feed events. When to write is decided in `save`,
//! `samples` and `feed`; what fails is kept for the next attempt.

use super::{Tracker, feed, save};
use crate::challenge::stored;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

impl Tracker {
    /// Stores the limit levels that changed since the last ones stored (chart data: what
    /// fails is tried again on the next poll).
    pub(super) async fn store_limits(&mut self, now: DateTime<Utc>) {
        let Some(run) = self.challenge.as_ref() else {
            return;
        };
        let changed = save::changed_limits(run.challenge().limit_levels(), &self.limits, now);
        if changed.is_empty() {
            return;
        }
        match self.store.append_limits(&self.id, &changed).await {
            Ok(()) => save::remember_limits(&mut self.limits, changed),
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save limit levels; will retry");
            }
        }
    }

    /// Logs the engine's new events, then stores the engine state, every unsaved event and
    /// every deal fed since the last save in one transaction (what fails stays queued, in
    /// order, for the next save). Whether the state and every event are stored.
    pub(super) async fn save(&mut self, events: &[shared::engine::Event]) -> bool {
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

    /// Writes the buffered samples when they are due (see `samples::Samples::due`), or now
    /// when `force`. What fails stays buffered (bounded) for the next attempt.
    pub(super) async fn flush_samples(&mut self, force: bool) {
        let Some(due) = self.samples.due(Instant::now(), self.interval, force) else {
            return;
        };
        let due = match &self.sample_sink {
            // Handed to the writer of every tracker's samples, which retries what fails.
            Some(sink) => match sink.send(&self.id, due.to_vec()) {
                Ok(()) => {
                    self.samples.written(Instant::now());
                    return;
                }
                // The writer is gone (shutdown): written here.
                Err(_) => {
                    self.sample_sink = None;
                    due
                }
            },
            None => due,
        };
        match self.store.append_samples(&self.id, due).await {
            Ok(()) => self.samples.written(Instant::now()),
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save equity samples; will retry");
                self.samples.not_written();
            }
        }
    }

    /// Records a change of the feed's health as a `feed_stale` or `feed_recovered` event,
    /// stored at once with the challenge's state (so it is notified once, and a restart knows
    /// what was last recorded). An account without a challenge has nothing to notify about.
    pub(super) async fn note_feed(&mut self, stale: bool, detail: &str) {
        let now = Utc::now();
        let last_data = feed::last_data(
            self.pushed.as_ref().map(|(time, _)| *time),
            self.last_success.map(|at| at.elapsed()),
            now,
        );
        let Some(run) = self.challenge.as_mut() else {
            return;
        };
        let hold = feed::recovery_hold(self.stale_after);
        let Some(event) = run.note_feed(stale, now, detail, last_data, hold) else {
            return;
        };
        tracing::info!(account = %self.id, kind = %event.kind, detail, "feed event");
        self.unsaved_events.push(event);
        self.save(&[]).await;
    }

    /// Stores the peaks when they moved; whether they are stored.
    pub(super) async fn save_peaks(&mut self) -> bool {
        let Some(peaks) = self.peaks.to_save() else {
            return true;
        };
        match self.store.save_peaks(&self.id, peaks).await {
            Ok(()) => {
                self.peaks.saved();
                true
            }
            Err(error) => {
                tracing::error!(account = %self.id, %error, "cannot save peaks; will retry");
                false
            }
        }
    }
}
