//! The loop of an account fed by pushes (see `crate::ingest`): batches journaled, applied and
//! stored, then answered.

use super::{Ended, Tracker, feed};
use crate::ingest::{Batch, NotStored, Pushed};
use chrono::Utc;
use shared::api::{EquityPoint, FeedStatus, IngestResponse};
use shared::engine::RecordData;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often an account fed by pushes checks whether its feed went stale.
pub(super) const PUSH_STALE_CHECK: Duration = Duration::from_secs(1);

impl Tracker {
    /// Feeds pushed batches, one at a time in arrival order, until `shutdown` is cancelled or
    /// the lease is `lost`.
    pub(super) async fn run_pushes(
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
                    let silent = self.last_success.unwrap_or(started).elapsed();
                    if feed::push_turns_stale(stale, self.pushed.is_some(), silent, self.stale_after) {
                        stale = true;
                        self.publish_feed(FeedStatus::Stale);
                        let detail = format!("nothing was pushed for {} s", silent.as_secs());
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
    pub(super) async fn ingest(
        &mut self,
        records: Vec<Pushed>,
    ) -> Result<IngestResponse, NotStored> {
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
            let hold = feed::recovery_hold(self.stale_after);
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
                    self.peaks.observe(info);
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
