//! The loop of an account fed by pushes (see `crate::ingest`): batches journaled, applied and
//! stored, then answered.

use super::{Ended, Tracker, feed};
use crate::ingest::{Batch, NotStored, Pushed};
use chrono::{DateTime, Utc};
use shared::api::{EquityPoint, FeedStatus, IngestResponse, RefusedRecord};
use shared::engine::RecordData;
use std::collections::HashSet;
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
                Ok(()) = self.archived.changed() => if self.archived_now() {
                    break Ended::Archived;
                },
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
                    self.promote_if_due().await;
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
            let mut run = crate::challenge::ChallengeRun::new(challenge, start);
            run.set_program(self.program_link());
            self.challenge = Some(run);
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
            let latest = self.pushed.as_ref().map(|(time, _)| *time);
            let (accepted, refused) = accept_in_order(&records, latest);
            response.refused = refused;
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
            let currency = info.currency.clone();
            self.publish_view(&currency, view, FeedStatus::Live);
        }
        if stored { Ok(response) } else { Err(NotStored) }
    }
}

/// Which pushed records an account without a challenge accepts (by line number), and why the
/// others are refused: an account state (information, positions) older than the latest one
/// received (`latest`, or an earlier record of the batch) would move the numbers shown back.
fn accept_in_order(
    records: &[Pushed],
    mut latest: Option<DateTime<Utc>>,
) -> (HashSet<u32>, Vec<RefusedRecord>) {
    let mut accepted = HashSet::new();
    let mut refused = Vec::new();
    for pushed in records {
        let state = matches!(
            pushed.record.data,
            RecordData::AccountInformation(_) | RecordData::Positions(_)
        );
        if state && latest.is_some_and(|latest| pushed.record.time < latest) {
            refused.push(RefusedRecord {
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
    (accepted, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::engine::Record;

    fn at(minute: i64) -> DateTime<Utc> {
        let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
        start + chrono::Duration::minutes(minute)
    }

    fn pushed(number: u32, minute: i64, state: bool) -> Pushed {
        let data = if state {
            RecordData::Positions(Vec::new())
        } else {
            RecordData::Tick {}
        };
        Pushed {
            record: Record::new(at(minute), data),
            line: String::new(),
            number,
        }
    }

    #[test]
    fn without_a_challenge_an_older_account_state_is_refused() {
        // (records as (line, minute, is a state), latest shown) -> lines accepted, refused
        #[track_caller]
        fn check(
            records: &[(u32, i64, bool)],
            latest: Option<i64>,
            accepted: &[u32],
            refused: &[u32],
        ) {
            let records: Vec<Pushed> = records
                .iter()
                .map(|&(n, m, state)| pushed(n, m, state))
                .collect();
            let (got, why) = accept_in_order(&records, latest.map(at));
            let mut got: Vec<u32> = got.into_iter().collect();
            got.sort_unstable();
            assert_eq!(got, accepted);
            assert_eq!(why.iter().map(|r| r.line).collect::<Vec<_>>(), refused);
        }
        check(&[(1, 0, true), (2, 1, true)], None, &[1, 2], &[]);
        check(&[(1, 1, true), (2, 0, true)], None, &[1], &[2]); // older than line 1
        check(&[(1, 5, true), (2, 6, true)], Some(5), &[1, 2], &[]); // as old: accepted
        check(&[(1, 4, true), (2, 6, true)], Some(5), &[2], &[1]);
        check(&[(1, 0, false)], Some(5), &[1], &[]); // not an account state
    }
}
