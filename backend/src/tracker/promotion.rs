//! A passed phase of a program moves on (issue 24, lifecycle). The tracker that holds the
//! account's lease records the pass's promotion once (one row per account and phase: a restart
//! or a second instance finds it and never records another), as the program's phase says:
//! automatic or awaiting an admin's approval, on the same account or awaiting a new one. An
//! approved promotion on the same account is carried out here: it is marked done first (a
//! compare-and-swap, so only one holder ever carries it out), the passed phase's engine state is
//! kept as a phase record of the journey, and the next phase starts on the account from its
//! balance now, every deal already fed remembered; the new state is stored with a `promoted`
//! event (account page, notifications) and the account enrolled on the next phase. A restart
//! between the mark and the new state finds the promotion done and the state still the passed
//! phase's, and carries it out then.

use super::Tracker;
use chrono::Utc;
use shared::engine::ChallengeStatus;
use shared::programs::{NextAccount, ProgramLink, Promotion as Promote};
use std::time::Duration;
use store::{Enrollment, PhaseRecord, Promotion, PromotionStatus, StoredEvent};
use tokio::time::Instant;

/// How often a passed challenge looks at its promotion (an admin's approval arrives through
/// the store).
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The event a started next phase is stored and notified as.
pub const EVENT_KIND: &str = "promoted";

impl Tracker {
    /// Records a pass's promotion, or carries out an approved one, when the challenge passed a
    /// phase that has a next one.
    pub(super) async fn promote_if_due(&mut self) {
        let Some(run) = &self.challenge else {
            return;
        };
        let Some(link) = run.program().cloned() else {
            return;
        };
        if run.challenge().status() != ChallengeStatus::Passed
            || link.funded
            || link.phase_index + 1 >= link.phases
        {
            return;
        }
        if self
            .promotion_checked
            .is_some_and(|at| at.elapsed() < CHECK_EVERY)
        {
            return;
        }
        self.promotion_checked = Some(Instant::now());
        if let Err(error) = self.promote(&link).await {
            tracing::error!(account = %self.id, %error, "cannot move the passed phase on yet; trying again");
        }
    }

    async fn promote(&mut self, link: &ProgramLink) -> Result<(), String> {
        let store = self.store.clone();
        let promotion = match store
            .promotion(&self.id, link.phase_index)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(promotion) => promotion,
            None => {
                let promotion = self.new_promotion(link).await?;
                if store
                    .record_promotion(&promotion)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    tracing::info!(
                        account = %self.id,
                        phase = link.phase_index,
                        status = promotion.status.as_str(),
                        "the passed phase's promotion is recorded"
                    );
                }
                store
                    .promotion(&self.id, link.phase_index)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the promotion vanished")?
            }
        };
        match promotion.status {
            PromotionStatus::Approved if promotion.same_account => {
                let mut done = promotion.clone();
                done.next_account = Some(self.id.clone());
                if !store
                    .move_promotion(&done, PromotionStatus::Approved, PromotionStatus::Done)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    // Someone else moved it meanwhile: read it again next time.
                    return Ok(());
                }
                self.start_next_phase(link, &promotion).await
            }
            // Marked done, but the state is still the passed phase's (a restart in between).
            PromotionStatus::Done
                if promotion.same_account && promotion.next_account.as_ref() == Some(&self.id) =>
            {
                self.start_next_phase(link, &promotion).await
            }
            _ => Ok(()),
        }
    }

    async fn new_promotion(&self, link: &ProgramLink) -> Result<Promotion, String> {
        let loaded = crate::programs::version(self.store.as_ref(), &link.program, link.version)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "program {} version {} is missing",
                    link.program, link.version
                )
            })?;
        let phase = loaded
            .program
            .phases
            .get(link.phase_index as usize)
            .ok_or("the passed phase is not in its program version")?;
        let enrollment = self
            .store
            .enrollment(&self.id)
            .await
            .map_err(|e| e.to_string())?;
        let same_account = phase.advance.account == NextAccount::Same;
        let approval = phase.advance.promotion == Promote::Approval;
        let passed_at = self
            .challenge
            .as_ref()
            .and_then(|run| run.challenge().last_time())
            .unwrap_or_else(Utc::now);
        Ok(Promotion {
            account: self.id.clone(),
            phase: link.phase_index,
            next_phase: link.phase_index + 1,
            program: link.program.clone(),
            version: link.version,
            journey: enrollment.map_or_else(|| self.id.as_str().to_owned(), |e| e.journey),
            passed_at,
            same_account,
            approval,
            status: match (approval, same_account) {
                (true, _) => PromotionStatus::AwaitingApproval,
                (false, true) => PromotionStatus::Approved,
                (false, false) => PromotionStatus::AwaitingAccount,
            },
            next_account: None,
            decided_by: None,
            decided_at: None,
        })
    }

    /// Keeps the passed phase and starts the next on this account.
    async fn start_next_phase(
        &mut self,
        link: &ProgramLink,
        promotion: &Promotion,
    ) -> Result<(), String> {
        let Some(run) = &self.challenge else {
            return Ok(());
        };
        let loaded = crate::programs::version(self.store.as_ref(), &link.program, link.version)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "program {} version {} is missing",
                    link.program, link.version
                )
            })?;
        let next = link.phase_index as usize + 1;
        let now = Utc::now();
        let balance = run.challenge().metrics().balance;
        let setup = loaded.setup(next, balance)?;
        let challenge = shared::engine::Challenge::new(setup.config).map_err(|e| e.to_string())?;
        let state = serde_json::to_string(run).map_err(|e| e.to_string())?;
        self.store
            .record_phase(&PhaseRecord {
                account: self.id.clone(),
                phase: link.phase_index,
                journey: promotion.journey.clone(),
                program: link.program.clone(),
                version: link.version,
                status: "passed".to_owned(),
                started_at: run.challenge().started(),
                ended_at: now,
                state_json: state,
            })
            .await
            .map_err(|e| e.to_string())?;
        let (next_run, events) = run.next_phase(challenge, setup.link.clone(), now);
        self.challenge = Some(next_run);
        // Versions of the passed phase's rules waiting for their instant do not carry over.
        self.pending_rules.clear();
        let body = serde_json::json!({
            "kind": EVENT_KIND,
            "time": now,
            "program": link.program,
            "program_name": link.name,
            "from_phase": link.phase,
            "to_phase": setup.link.phase,
            "version": link.version,
            "initial_balance": balance,
        });
        self.unsaved_events.push(StoredEvent {
            time: now,
            kind: EVENT_KIND.to_owned(),
            rule: None,
            body: body.to_string(),
        });
        if !self.save(&events).await {
            return Err("the next phase's state could not be stored yet".to_owned());
        }
        if let Ok(versions) = self.store.rule_set_versions(&self.id).await
            && let Some(last) = versions.iter().map(|v| v.version).max()
            && let Err(error) = self.store.link_challenge_rule_set(&self.id, last).await
        {
            tracing::error!(account = %self.id, %error, "cannot link the rule set version");
        }
        self.store
            .enroll(&Enrollment {
                account: self.id.clone(),
                program: link.program.clone(),
                version: link.version,
                phase: setup.link.phase_index,
                journey: promotion.journey.clone(),
                enrolled_at: now,
            })
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(
            account = %self.id,
            from = %link.phase,
            to = %setup.link.phase,
            %balance,
            "the next phase started"
        );
        self.store_limits(now).await;
        if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
            && let Some(mut view) = summary.latest
        {
            view.challenge = Some(run.view());
            let currency = summary.currency.unwrap_or_default();
            self.publish_view(&currency, view, summary.feed);
        }
        Ok(())
    }
}
