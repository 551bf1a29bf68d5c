//! What the API asks of a running tracker (an admin's anchor correction, override or new rules),
//! the queues that carry it, and the tracker's handling of corrections and overrides (new rules:
//! `rule_changes`).

use super::Tracker;
use crate::challenge::ChallengeRun;
use chrono::{DateTime, Utc};
use shared::domain::AccountId;
use shared::engine::edit::{RuleChange, RuleSetDraft};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use store::StoredEvent;
use tokio::sync::mpsc;

/// Commands waiting for one tracker before the API answers "busy".
pub(super) const COMMAND_QUEUE: usize = 8;

/// How long the API waits for a tracker to take a command before withdrawing it (a command
/// taken is waited for until it is done).
pub(super) const COMMAND_WAIT: Duration = Duration::from_secs(10);

/// The audit log's action for an anchor correction.
pub(super) const ANCHOR_ACTION: &str = "anchor.correct";

/// The result of the command carried out earlier under idempotency `key` (this is a retry),
/// or `None` to carry it out now; a key used for another action is refused.
pub(super) fn done_before<T: serde::de::DeserializeOwned>(
    run: &ChallengeRun,
    key: Option<&str>,
    action: &str,
) -> Result<Option<T>, CommandError> {
    let Some(done) = key.and_then(|key| run.done_command(key)) else {
        return Ok(None);
    };
    if done.action != action {
        return Err(CommandError::KeyReused(format!(
            "this idempotency key was used for another action ({}); send a new key for a new \
             action",
            done.action
        )));
    }
    serde_json::from_value(done.result.clone())
        .map(Some)
        .map_err(|_| {
            CommandError::KeyReused(
                "the first result under this key cannot be read; send a new key".to_owned(),
            )
        })
}

/// A new version of a challenge's rules, as an admin saves it.
#[derive(Clone, Debug)]
pub struct RuleChangeRequest {
    /// The rules.
    pub draft: RuleSetDraft,
    /// From when they apply (now or later).
    pub effective_from: DateTime<Utc>,
    /// Who (a username).
    pub actor: String,
    /// The program version the rules come from, when a program's new version is applied to
    /// its running challenges.
    pub program: Option<shared::programs::ProgramLink>,
}

/// What saving a version did.
#[derive(Clone, Debug)]
pub struct RuleChangeOutcome {
    /// The version stored.
    pub version: i64,
    /// Whether the running challenge applies it already.
    pub applied: bool,
    /// What it changes from the rules in force before it.
    pub changes: Vec<RuleChange>,
}

/// An admin's correction of one anchor of a running challenge.
#[derive(Clone, Debug)]
pub struct AnchorCorrection {
    /// Which anchor.
    pub field: shared::engine::AnchorField,
    /// Its corrected value.
    pub value: shared::domain::Money,
    /// Why (mandatory; the trader sees it).
    pub reason: String,
    /// Who (a username).
    pub actor: String,
    /// The client's idempotency key: a retry under the same key gets the first result.
    pub key: Option<String>,
}

pub use crate::challenge::OverrideKind;

/// An admin's override of a running challenge, with who and why.
#[derive(Clone, Debug)]
pub struct Override {
    /// What to override.
    pub kind: OverrideKind,
    /// Why (mandatory; the trader sees it).
    pub reason: String,
    /// Who (a username).
    pub actor: String,
    /// The client's idempotency key: a retry under the same key gets the first result.
    pub key: Option<String>,
}

/// Where a tracker answers a command.
pub type Reply<T> = tokio::sync::oneshot::Sender<Result<T, CommandError>>;

/// What the API asks of a running tracker; the tracker answers on `reply` if it takes the
/// `ticket` (see [`Ticket`]).
#[derive(Debug)]
pub enum Command {
    /// Correct one anchor; answers the anchors after the correction.
    CorrectAnchor {
        correction: AnchorCorrection,
        ticket: Ticket,
        reply: Reply<shared::engine::Anchors>,
    },
    /// Store a new version of the challenge's rules and apply it at its instant.
    ChangeRules {
        request: RuleChangeRequest,
        ticket: Ticket,
        reply: Reply<RuleChangeOutcome>,
    },
    /// Override the engine's decision; answers the challenge's status and the rules released.
    Override {
        request: Override,
        ticket: Ticket,
        reply: Reply<shared::api::OverrideResponse>,
    },
}

impl Command {
    pub(super) fn ticket(&self) -> &Ticket {
        match self {
            Self::CorrectAnchor { ticket, .. }
            | Self::ChangeRules { ticket, .. }
            | Self::Override { ticket, .. } => ticket,
        }
    }
}

/// Why a command was not carried out; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The account is on no challenge, or its challenge waits for its history.
    #[error("the account has no running challenge to correct")]
    NoChallenge,
    /// The engine refused the value.
    #[error("{0}")]
    Refused(String),
    /// The correction could not be stored; nothing changed.
    #[error("the correction could not be stored; nothing changed")]
    NotStored,
    /// The account is not tracked by this server, or its tracker's queue is full or closed.
    #[error("the account's tracker is not reachable")]
    Unreachable,
    /// The tracker did not take the command in time: it was withdrawn and never runs.
    #[error("the account's tracker did not take the command in time; it was withdrawn")]
    Withdrawn,
    /// The idempotency key was used before for a different action.
    #[error("{0}")]
    KeyReused(String),
    /// There is nothing to override (no breach to clear, not paused); says what stands.
    #[error("{0}")]
    NothingToOverride(String),
}

/// Who settles a command: the tracker takes it (and then answers), or the API withdraws it
/// (and then it never runs); a compare-and-swap on one shared state, so never both.
#[derive(Clone, Debug, Default)]
pub struct Ticket(Arc<AtomicU8>);

pub(super) const PENDING: u8 = 0;
pub(super) const TAKEN: u8 = 1;
pub(super) const WITHDRAWN: u8 = 2;

impl Ticket {
    /// The tracker's side: whether it may run the command (it was not withdrawn).
    pub fn take(&self) -> bool {
        self.0
            .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The API's side: whether the command is withdrawn (the tracker did not take it first).
    pub fn withdraw(&self) -> bool {
        self.0
            .compare_exchange(PENDING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The running trackers' command queues, by account.
#[derive(Debug)]
pub struct Commands {
    senders: std::sync::RwLock<std::collections::HashMap<AccountId, mpsc::Sender<Command>>>,
    /// How long the API waits for a tracker to take a command before withdrawing it.
    wait: Duration,
}

impl Default for Commands {
    fn default() -> Self {
        Self::with_wait(COMMAND_WAIT)
    }
}

impl Commands {
    /// Command queues whose commands are withdrawn when no tracker took them within `wait`.
    pub fn with_wait(wait: Duration) -> Self {
        Self {
            senders: std::sync::RwLock::default(),
            wait,
        }
    }

    /// Registers `account`'s tracker (at start-up, or when an account is created at runtime).
    pub fn register(&self, account: AccountId, sender: mpsc::Sender<Command>) {
        self.senders
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account, sender);
    }

    pub(super) fn sender(&self, account: &AccountId) -> Option<mpsc::Sender<Command>> {
        self.senders
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .cloned()
    }

    /// Queues a command for `account`'s tracker and waits for its answer. A command the
    /// tracker has not taken within the wait is withdrawn ([`CommandError::Withdrawn`]) and
    /// never runs; one it took is waited for to the end, so the answer always says what
    /// happened.
    pub(super) async fn ask<T>(
        &self,
        account: &AccountId,
        command: impl FnOnce(Ticket, Reply<T>) -> Command,
    ) -> Result<T, CommandError> {
        let sender = self.sender(account).ok_or(CommandError::Unreachable)?;
        let ticket = Ticket::default();
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        sender
            .try_send(command(ticket.clone(), reply))
            .map_err(|_| CommandError::Unreachable)?;
        // An instance that does not hold the account's lease does not read its queue.
        match tokio::time::timeout(self.wait, &mut answer).await {
            Ok(answered) => answered.map_err(|_| CommandError::Unreachable)?,
            Err(_) if ticket.withdraw() => Err(CommandError::Withdrawn),
            // Taken just now: it runs, and its answer is what happened.
            Err(_) => answer.await.map_err(|_| CommandError::Unreachable)?,
        }
    }

    /// Asks `account`'s tracker to correct an anchor and waits for the answer.
    pub async fn correct_anchor(
        &self,
        account: &AccountId,
        correction: AnchorCorrection,
    ) -> Result<shared::engine::Anchors, CommandError> {
        self.ask(account, |ticket, reply| Command::CorrectAnchor {
            correction,
            ticket,
            reply,
        })
        .await
    }

    /// Asks `account`'s tracker to override its challenge's decision and waits for the answer.
    pub async fn override_decision(
        &self,
        account: &AccountId,
        request: Override,
    ) -> Result<shared::api::OverrideResponse, CommandError> {
        self.ask(account, |ticket, reply| Command::Override {
            request,
            ticket,
            reply,
        })
        .await
    }
}

impl Tracker {
    /// Carries out an admin's override, stores it with its event (`breach_cleared` or
    /// `unpaused`: who, why, the rules released) in one transaction (or undoes it), writes the
    /// audit log and publishes the new view. The breach events stay as they were.
    pub(super) async fn override_decision(
        &mut self,
        request: Override,
    ) -> Result<shared::api::OverrideResponse, CommandError> {
        let run = self.challenge.as_mut().ok_or(CommandError::NoChallenge)?;
        let kept = run.clone();
        let Override {
            kind,
            reason,
            actor,
            key,
        } = request;
        if let Some(done) = done_before(run, key.as_deref(), kind.action())? {
            tracing::info!(
                account = %self.id,
                action = kind.action(),
                "a retried override answered as the first time"
            );
            return Ok(done);
        }
        let before = run.challenge().status();
        let rules = run
            .override_decision(kind)
            .map_err(|e| CommandError::NothingToOverride(e.to_string()))?;
        let after = run.challenge().status();
        let response = shared::api::OverrideResponse {
            status: after,
            rules: rules.clone(),
        };
        if let Some(key) = key {
            run.remember_command(key, kind.action(), serde_json::json!(response));
        }
        let now = Utc::now();
        let body = serde_json::json!({
            "kind": kind.event_kind(),
            "time": now,
            "rules": rules,
            "before": before,
            "after": after,
            "reason": reason,
            "by": actor,
        });
        self.unsaved_events.push(StoredEvent {
            time: now,
            kind: kind.event_kind().to_owned(),
            rule: None,
            body: body.to_string(),
        });
        if !self.save(&[]).await {
            // Nobody is told of an override that is not stored: undo it.
            self.challenge = Some(kept);
            self.unsaved_events.pop();
            return Err(CommandError::NotStored);
        }
        tracing::info!(
            account = %self.id,
            action = kind.action(),
            ?rules,
            by = %actor,
            "challenge decision overridden"
        );
        let entry = store::AuditEntry {
            time: now,
            actor,
            action: kind.action().to_owned(),
            subject: format!("account:{}", self.id),
            before: Some(serde_json::json!({ "status": before })),
            after: Some(serde_json::json!({ "status": after, "rules": rules })),
            reason: Some(reason),
        };
        if let Err(error) = self.store.append_audit(&entry).await {
            // The stored event records the override all the same.
            tracing::error!(account = %self.id, %error, "cannot write the audit log");
        }
        if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
            && let Some(mut view) = summary.latest
        {
            view.challenge = Some(run.view());
            let currency = summary.currency.unwrap_or_default();
            self.publish_view(&currency, view, summary.feed);
        }
        Ok(response)
    }

    /// Applies an anchor correction, stores it with an `anchor_corrected` event in one
    /// transaction (or undoes it), writes the audit log and publishes the new rules.
    pub(super) async fn correct_anchor(
        &mut self,
        correction: AnchorCorrection,
    ) -> Result<shared::engine::Anchors, CommandError> {
        let run = self.challenge.as_mut().ok_or(CommandError::NoChallenge)?;
        let kept = run.clone();
        let AnchorCorrection {
            field,
            value,
            reason,
            actor,
            key,
        } = correction;
        if let Some(done) = done_before(run, key.as_deref(), ANCHOR_ACTION)? {
            tracing::info!(
                account = %self.id,
                "a retried anchor correction answered as the first time"
            );
            return Ok(done);
        }
        let before = run
            .correct_anchor(field, value)
            .map_err(|e| CommandError::Refused(e.to_string()))?;
        let anchors = run.challenge().anchors();
        if let Some(key) = key {
            run.remember_command(key, ANCHOR_ACTION, serde_json::json!(anchors));
        }
        let now = Utc::now();
        let body = serde_json::json!({
            "kind": "anchor_corrected",
            "time": now,
            "anchor": field,
            "before": before,
            "after": value,
            "reason": reason,
            "by": actor,
        });
        self.unsaved_events.push(StoredEvent {
            time: now,
            kind: "anchor_corrected".to_owned(),
            rule: None,
            body: body.to_string(),
        });
        if !self.save(&[]).await {
            // Nobody is told of a correction that is not stored: undo it.
            self.challenge = Some(kept);
            self.unsaved_events.pop();
            return Err(CommandError::NotStored);
        }
        tracing::info!(
            account = %self.id,
            anchor = %field,
            %before,
            after = %value,
            by = %actor,
            "anchor corrected"
        );
        let entry = store::AuditEntry {
            time: now,
            actor,
            action: ANCHOR_ACTION.to_owned(),
            subject: format!("account:{}", self.id),
            before: Some(serde_json::json!({ field.name(): before })),
            after: Some(serde_json::json!({ field.name(): value })),
            reason: Some(reason),
        };
        if let Err(error) = self.store.append_audit(&entry).await {
            // The stored event records the correction all the same.
            tracing::error!(account = %self.id, %error, "cannot write the audit log");
        }
        self.store_limits(now).await;
        if let (Some(summary), Some(run)) = (self.hub.summary(&self.id), &self.challenge)
            && let Some(mut view) = summary.latest
        {
            view.challenge = Some(run.view());
            let currency = summary.currency.unwrap_or_default();
            self.publish_view(&currency, view, summary.feed);
        }
        Ok(anchors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use shared::domain::AccountInfo;
    use shared::engine::{ChallengeStatus, Record, RecordData};
    use store::Store;

    fn clear(key: Option<&str>) -> Override {
        Override {
            kind: OverrideKind::ClearBreach,
            reason: "a broker error".to_owned(),
            actor: "admin".to_owned(),
            key: key.map(str::to_owned),
        }
    }

    /// A push tracker on a fresh store whose challenge failed (equity 80,000 of 100,000).
    async fn failed_tracker(dir: &std::path::Path) -> (Tracker, Arc<dyn Store>) {
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = store::open(&url).await.expect("store");
        let id = AccountId::from("a");
        store.upsert_account(&id, "A", None).await.expect("account");
        let hub = Arc::new(Hub::new([(id.clone(), "A".to_owned())]));
        let (_batches, receiver) = mpsc::channel(1);
        let mut tracker = Tracker::pushed(
            id,
            receiver,
            None,
            store.clone(),
            hub,
            Duration::from_secs(10),
            None,
        );
        let challenge = shared::engine::Challenge::new(
            shared::engine::preset("ftmo-2step", 100_000.into()).expect("preset"),
        )
        .expect("challenge");
        let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
        let mut run = ChallengeRun::new(challenge, start);
        let info = |equity: i64| AccountInfo {
            balance: 100_000.into(),
            equity: equity.into(),
            margin: 0.into(),
            free_margin: equity.into(),
            margin_level: None,
            currency: "USD".to_owned(),
            leverage: None,
            credit: 0.into(),
        };
        let records = [
            Record::new(start, RecordData::AccountInformation(info(100_000))),
            Record::new(
                start + chrono::Duration::hours(1),
                RecordData::AccountInformation(info(80_000)),
            ),
        ];
        let fed: Vec<(u32, &Record)> = records.iter().zip(1..).map(|(r, n)| (n, r)).collect();
        run.apply_pushed("a", &fed);
        assert_eq!(run.challenge().status(), ChallengeStatus::Failed);
        tracker.challenge = Some(run);
        (tracker, store)
    }

    fn status(tracker: &Tracker) -> ChallengeStatus {
        tracker
            .challenge
            .as_ref()
            .expect("challenge")
            .challenge()
            .status()
    }

    async fn cleared_events(store: &dyn Store) -> usize {
        store
            .challenge_events(&AccountId::from("a"))
            .await
            .expect("events")
            .iter()
            .filter(|e| e.kind == "breach_cleared")
            .count()
    }

    /// Issue 19, item 2: a command the API withdrew (it answered 503) never runs, even when
    /// the tracker reads it later; a command the tracker took is waited for past the wait.
    #[tokio::test]
    async fn a_withdrawn_command_never_runs_and_a_taken_one_is_always_answered() {
        let commands = Commands::with_wait(Duration::from_millis(100));
        let (sender, mut queue) = mpsc::channel(COMMAND_QUEUE);
        commands.register(AccountId::from("a"), sender);
        let account = AccountId::from("a");
        let answer = commands.override_decision(&account, clear(None)).await;
        assert!(matches!(answer, Err(CommandError::Withdrawn)));

        // The tracker reads it later: it does not run.
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tracker, store) = failed_tracker(dir.path()).await;
        let withdrawn = queue.recv().await.expect("still queued");
        tracker.command(withdrawn).await;
        assert_eq!(status(&tracker), ChallengeStatus::Failed, "nothing ran");
        assert_eq!(cleared_events(store.as_ref()).await, 0);

        // Taken in time, then slow: the API waits for the answer past its wait.
        let slow = async {
            let command = queue.recv().await.expect("queued");
            assert!(command.ticket().take());
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Command::Override { reply, .. } = command {
                let _ = reply.send(Ok(shared::api::OverrideResponse {
                    status: ChallengeStatus::Active,
                    rules: vec!["max_loss".to_owned()],
                }));
            }
        };
        let (answer, ()) = tokio::join!(commands.override_decision(&account, clear(None)), slow);
        assert_eq!(answer.expect("answered").status, ChallengeStatus::Active);
    }

    /// Issue 19, item 2: a retry under the same idempotency key gets the first result and
    /// applies nothing again (the key is stored with the state it changed); the key cannot be
    /// reused for another action.
    #[tokio::test]
    async fn a_retried_command_under_the_same_key_applies_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut tracker, store) = failed_tracker(dir.path()).await;
        let first = tracker
            .override_decision(clear(Some("key-1")))
            .await
            .expect("cleared");
        assert_eq!(first.status, ChallengeStatus::Active);
        let again = tracker
            .override_decision(clear(Some("key-1")))
            .await
            .expect("the first answer again");
        assert_eq!(again, first);
        assert_eq!(cleared_events(store.as_ref()).await, 1, "applied once");
        // Without a key, a second clear is refused: nothing is breached any more.
        assert!(matches!(
            tracker.override_decision(clear(None)).await,
            Err(CommandError::NothingToOverride(_))
        ));
        let unpause = Override {
            kind: OverrideKind::Unpause,
            ..clear(Some("key-1"))
        };
        assert!(matches!(
            tracker.override_decision(unpause).await,
            Err(CommandError::KeyReused(_))
        ));
        // The key survives a restart: it is part of the stored state.
        let saved = store
            .load_challenge(&AccountId::from("a"))
            .await
            .expect("load")
            .expect("saved");
        let restored: ChallengeRun = serde_json::from_str(&saved).expect("state");
        assert!(restored.done_command("key-1").is_some());
    }
}
