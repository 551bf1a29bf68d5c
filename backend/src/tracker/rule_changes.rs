//! An admin's new version of a running challenge's rules: validated against the challenge,
//! stored as a version of its rule set, and applied by the tracker that owns the engine state
//! at its effective-from instant (at once when that is now). Applying stores the engine state
//! with a `rules_changed` event in one transaction, links the challenge to the version, stores
//! the moved limit levels and publishes the new view, so an open dashboard shows the new
//! limits live. Versions waiting for their instant survive a restart: they are read back from
//! the store (every version above the one the challenge is linked to).

use super::Tracker;
use super::commands::{Command, CommandError, Commands, RuleChangeOutcome, RuleChangeRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::AccountId;
use shared::engine::edit::{self, RuleChange, RuleSet, RuleSetDraft};
use shared::programs::ProgramLink;
use store::StoredEvent;

/// A version as the `rule_sets` table holds it: the draft and what it changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRuleSet {
    /// The rules.
    #[serde(flatten)]
    pub draft: RuleSetDraft,
    /// What it changed from the rules in force before it.
    #[serde(default)]
    pub changes: Vec<RuleChange>,
    /// The program version it came from (a program's new version applied to its running
    /// challenges): the challenge is on that version once it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramLink>,
}

/// A stored version waiting for its instant.
#[derive(Clone, Debug)]
pub(super) struct PendingRules {
    version: i64,
    effective_from: DateTime<Utc>,
    set: RuleSet,
    changes: Vec<RuleChange>,
    actor: String,
    program: Option<ProgramLink>,
}

impl Commands {
    /// Asks `account`'s tracker to store a new version of its challenge's rules (applied at
    /// its instant) and waits for the answer.
    pub async fn change_rules(
        &self,
        account: &AccountId,
        request: RuleChangeRequest,
    ) -> Result<RuleChangeOutcome, CommandError> {
        self.ask(account, |ticket, reply| Command::ChangeRules {
            request,
            ticket,
            reply,
        })
        .await
    }
}

impl Tracker {
    /// Validates and stores a new version, then applies it if it is due.
    pub(super) async fn change_rules(
        &mut self,
        request: RuleChangeRequest,
    ) -> Result<RuleChangeOutcome, CommandError> {
        let run = self.challenge.as_ref().ok_or(CommandError::NoChallenge)?;
        let initial = run.challenge().anchors().initial_balance;
        let set = edit::validate(&request.draft, initial)
            .map_err(|error| CommandError::Refused(error.to_string()))?;
        // A version supersedes, from its own instant on, every earlier one not yet in force.
        let mut pending = self.pending_rules.clone();
        pending.retain(|p| p.effective_from < request.effective_from);
        let previous = pending
            .last()
            .map_or_else(|| RuleSet::of(run.challenge()), |p| p.set.clone());
        let changes = edit::diff(&previous, &set);
        let stored = StoredRuleSet {
            draft: set.draft(),
            changes: changes.clone(),
            program: request.program.clone(),
        };
        let document = serde_json::to_value(&stored)
            .map_err(|error| CommandError::Refused(format!("cannot store the rules: {error}")))?;
        let version = self
            .store
            .save_rule_set(&self.id, request.effective_from, &document, &request.actor)
            .await
            .map_err(|error| {
                tracing::error!(account = %self.id, %error, "cannot store a rule set");
                CommandError::NotStored
            })?;
        tracing::info!(
            account = %self.id,
            version,
            effective_from = %request.effective_from,
            by = %request.actor,
            changes = changes.len(),
            "rule set saved"
        );
        pending.push(PendingRules {
            version,
            effective_from: request.effective_from,
            set,
            changes: changes.clone(),
            actor: request.actor,
            program: request.program,
        });
        self.pending_rules = pending;
        let applied = self.apply_due_rules(Utc::now()).await.contains(&version);
        Ok(RuleChangeOutcome {
            version,
            applied,
            changes,
        })
    }

    /// Applies every waiting version whose instant has come, oldest first; returns the
    /// versions applied.
    pub(super) async fn apply_due_rules(&mut self, now: DateTime<Utc>) -> Vec<i64> {
        let mut applied = Vec::new();
        while self
            .pending_rules
            .first()
            .is_some_and(|p| p.effective_from <= now)
        {
            let due = self.pending_rules.remove(0);
            let Some(run) = self.challenge.as_mut() else {
                return applied;
            };
            if let Err(error) = run.change_rules(&due.set) {
                tracing::error!(
                    account = %self.id,
                    version = due.version,
                    %error,
                    "a stored rule set cannot be applied; it is skipped"
                );
                continue;
            }
            if let Some(link) = &due.program {
                run.set_program(Some(link.clone()));
            }
            let body = serde_json::json!({
                "kind": "rules_changed",
                "time": now,
                "version": due.version,
                "effective_from": due.effective_from,
                "changes": due.changes,
                "by": due.actor,
            });
            self.unsaved_events.push(StoredEvent {
                time: now,
                kind: "rules_changed".to_owned(),
                rule: None,
                body: body.to_string(),
            });
            // What fails to store stays queued (state and event) and is written with the next
            // save: the version itself is stored already.
            if self.save(&[]).await
                && let Err(error) = self
                    .store
                    .link_challenge_rule_set(&self.id, due.version)
                    .await
            {
                tracing::error!(account = %self.id, %error, "cannot link the rule set version");
            }
            tracing::info!(account = %self.id, version = due.version, "rule set applied");
            applied.push(due.version);
        }
        if !applied.is_empty() {
            self.store_limits(now).await;
            if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
                && let Some(mut view) = summary.latest
            {
                view.challenge = Some(run.view());
                let currency = summary.currency.unwrap_or_default();
                self.publish_view(&currency, view, summary.feed);
            }
        }
        applied
    }

    /// Reads back the stored versions the challenge has not applied yet (after a restart).
    pub(super) async fn restore_pending_rules(&mut self) -> Result<(), store::StoreError> {
        self.pending_rules.clear();
        let Some(run) = self.challenge.as_ref() else {
            return Ok(());
        };
        let initial = run.challenge().anchors().initial_balance;
        let linked = self
            .store
            .challenge_rule_set_version(&self.id)
            .await?
            .unwrap_or(0);
        for version in self.store.rule_set_versions(&self.id).await? {
            if version.version <= linked {
                continue;
            }
            let set = serde_json::from_value::<StoredRuleSet>(version.rules)
                .map_err(|error| error.to_string())
                .and_then(|stored| {
                    edit::validate(&stored.draft, initial)
                        .map(|set| (set, stored.changes, stored.program))
                        .map_err(|error| error.to_string())
                });
            match set {
                Ok((set, changes, program)) => {
                    self.pending_rules
                        .retain(|p| p.effective_from < version.effective_from);
                    self.pending_rules.push(PendingRules {
                        version: version.version,
                        effective_from: version.effective_from,
                        set,
                        changes,
                        actor: version.created_by,
                        program,
                    });
                }
                Err(error) => tracing::error!(
                    account = %self.id,
                    version = version.version,
                    %error,
                    "a stored rule set cannot be read; it is skipped"
                ),
            }
        }
        Ok(())
    }
}
