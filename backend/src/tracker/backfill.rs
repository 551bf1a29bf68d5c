//! The first tracking of an account: its peaks reconstructed from its deal history, and a new
//! challenge onboarded by replaying that history.

use super::Tracker;
use crate::challenge::{ChallengeRun, stored};
use chrono::{DateTime, Utc};
use shared::api::FeedStatus;
use shared::domain::AccountInfo;
use tokio::time::Instant;

/// How far back a first-time backfill reads deal history.
pub(super) const BACKFILL_DAYS: i64 = 400;

impl Tracker {
    /// First time this account is tracked: reconstruct starting capital and peaks from its deal
    /// history, and replay that history into a new challenge, so an account onboarded
    /// mid-challenge is measured against its real history. When the history cannot be read,
    /// peaks start from the first observation, but a new challenge waits (it is retried on the
    /// next poll): rules are never evaluated against anchors that are not known.
    pub(super) async fn backfill(&mut self, now: DateTime<Utc>, info: &AccountInfo) {
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
            self.peaks.reconstructed(&peaks);
        }
        if let Some(challenge) = self.onboarding.take() {
            let initial = challenge.anchors().initial_balance;
            let (mut run, events, summary) = ChallengeRun::onboard(challenge, deals, now);
            run.set_program(self.program_link());
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
