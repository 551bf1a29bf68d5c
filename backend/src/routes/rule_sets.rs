//! A challenge's rules: every version with what it changed (owners and admins), and for admins
//! a new version (validated, stored, applied by the account's tracker at its instant, audited)
//! and a what-if replay of the account's journal under draft rules.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, OwnedAccount, no_such_account};
use crate::challenge::ChallengeRun;
use crate::error::AppError;
use crate::tracker::{CommandError, RuleChangeRequest, StoredRuleSet};
use crate::whatif::{self, WhatIfError};
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use shared::api::{
    RuleSetSaved, RuleSetView, RuleSetsResponse, SaveRuleSetRequest, WhatIfRequest, WhatIfResponse,
};
use shared::domain::AccountId;
use shared::engine::edit::{self, RuleSet};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What-if replays running at once (each is bounded by `whatif::MAX_TIME`).
static WHAT_IFS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(1));
/// How long a what-if waits for another to finish.
const WHAT_IF_QUEUE: Duration = Duration::from_secs(5);
/// How far ahead a version may be scheduled.
const MAX_AHEAD_DAYS: i64 = 3_650;
/// A requested instant this little in the past is taken as now (clock skew).
const SKEW_SECONDS: i64 = 60;

/// `GET /api/accounts/{account}/rule-sets`: every version of the account's rule set with what
/// it changed, and the rules the challenge is measured against now.
pub async fn list(
    State(state): State<AppState>,
    OwnedAccount(id): OwnedAccount,
) -> Result<Json<RuleSetsResponse>, AppError> {
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    let versions = state
        .store
        .rule_set_versions(&id)
        .await?
        .into_iter()
        .map(|version| RuleSetView {
            version: version.version,
            effective_from: version.effective_from,
            changes: serde_json::from_value::<StoredRuleSet>(version.rules.clone())
                .map(|stored| stored.changes)
                .unwrap_or_default(),
            rules: version.rules,
            created_by: version.created_by,
            created_at: version.created_at,
        })
        .collect();
    let running = running_challenge(&state, &id).await?;
    Ok(Json(RuleSetsResponse {
        versions,
        current: running
            .as_ref()
            .map(|run| RuleSet::of(run.challenge()).draft()),
        initial_balance: running
            .as_ref()
            .map(|run| run.challenge().anchors().initial_balance),
        applied_version: state.store.challenge_rule_set_version(&id).await?,
    }))
}

/// The account's challenge as last stored (its rules change only through a stored save).
async fn running_challenge(
    state: &AppState,
    id: &AccountId,
) -> Result<Option<ChallengeRun>, AppError> {
    let Some(saved) = state.store.load_challenge(id).await? else {
        return Ok(None);
    };
    serde_json::from_str::<ChallengeRun>(&saved)
        .map(Some)
        .map_err(|error| AppError::Internal(format!("the stored challenge of {id}: {error}")))
}

fn no_challenge() -> AppError {
    AppError::Conflict(
        "This account has no running challenge yet (it may still be reading its history); try \
         again once its challenge shows."
            .to_owned(),
    )
}

/// `POST /api/accounts/{account}/rule-sets` (admins): saves a new version of the challenge's
/// rules, applied from `effective_from` (now when left out).
pub async fn save(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<SaveRuleSetRequest>,
) -> Result<Json<RuleSetSaved>, AppError> {
    let id = AccountId(account);
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    super::writable(&state, &id).await?;
    let effective_from = effective_instant(request.effective_from, Utc::now(), "effective_from")?;
    let change = RuleChangeRequest {
        draft: request.draft.clone(),
        effective_from,
        actor: admin.user.username.clone(),
        program: None,
    };
    let outcome = match state.trackers.change_rules(&id, change).await {
        Ok(outcome) => outcome,
        Err(CommandError::NoChallenge) => return Err(no_challenge()),
        Err(CommandError::Refused(message) | CommandError::NothingToOverride(message)) => {
            return Err(AppError::Unprocessable(format!(
                "The rules were refused: {message}."
            )));
        }
        Err(CommandError::NotStored) => {
            return Err(AppError::Unavailable(
                "The rules could not be stored, so nothing changed; try again in a moment."
                    .to_owned(),
            ));
        }
        Err(error) => {
            return Err(super::overrides::command_error(error, "the new rules"));
        }
    };
    audit(
        &state,
        &admin,
        "rule_set.save",
        format!("account:{id}"),
        Some(&serde_json::json!({
            "changes": outcome.changes.iter().map(|c| (&c.parameter, &c.old)).collect::<Vec<_>>(),
        })),
        Some(&serde_json::json!({
            "version": outcome.version,
            "effective_from": effective_from,
            "rules": request.draft,
            "changes": outcome.changes,
        })),
    )
    .await?;
    Ok(Json(RuleSetSaved {
        version: outcome.version,
        effective_from,
        applied: outcome.applied,
        changes: outcome.changes,
    }))
}

/// The instant a version (of a challenge's rules, or of a program for its running challenges)
/// applies from: now when not given; never in the past. `field` names the request's field in
/// the message.
pub(super) fn effective_instant(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    field: &str,
) -> Result<DateTime<Utc>, AppError> {
    let Some(at) = requested else {
        return Ok(now);
    };
    if at < now - chrono::Duration::seconds(SKEW_SECONDS) {
        return Err(AppError::Unprocessable(format!(
            "{field} {at} is in the past: rules apply from now on (leave it out for now) or \
             from a later instant; a breach already recorded is never re-judged."
        )));
    }
    if at > now + chrono::Duration::days(MAX_AHEAD_DAYS) {
        return Err(AppError::Unprocessable(format!(
            "{field} {at} is more than {MAX_AHEAD_DAYS} days ahead: choose a nearer instant."
        )));
    }
    Ok(at.max(now))
}

/// `POST /api/accounts/{account}/rule-sets/what-if` (admins): replays the account's journal
/// under the draft and under the rules in force, and says which rules would have warned or
/// breached, and when.
pub async fn what_if(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<WhatIfRequest>,
) -> Result<Json<WhatIfResponse>, AppError> {
    let id = AccountId(account);
    if !state.hub.contains(&id) {
        return Err(no_such_account());
    }
    let Some(dir) = state.journal_dir.clone() else {
        return Err(AppError::Conflict(
            "This server keeps no journal (journal_dir is not set), so there is nothing to \
             replay: start it with --journal-dir DIR (cargo xtask run does) and try again once \
             the account has been tracked for a while."
                .to_owned(),
        ));
    };
    let run = running_challenge(&state, &id)
        .await?
        .ok_or_else(no_challenge)?;
    let challenge = run.challenge();
    let initial = challenge.anchors().initial_balance;
    let draft = edit::validate(&request.draft, initial)
        .map_err(|error| AppError::Unprocessable(format!("The rules were refused: {error}.")))?;
    let current = RuleSet::of(challenge);
    let preset = challenge.preset().to_owned();
    let _permit = tokio::time::timeout(WHAT_IF_QUEUE, WHAT_IFS.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            AppError::Unavailable(
                "Another what-if replay is running; try again in a moment.".to_owned(),
            )
        })?;
    let account = id.as_str().to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let files = whatif::journal_files(&dir, &account)?;
        whatif::replay(&files, &preset, initial, &current, &draft)
    })
    .await
    .map_err(|error| AppError::Internal(format!("the what-if replay stopped: {error}")))?;
    match answer {
        Ok(answer) => Ok(Json(answer)),
        Err(error @ WhatIfError::NoJournal(_)) => {
            Err(AppError::Conflict(format!("Nothing to replay: {error}.")))
        }
        Err(error @ WhatIfError::Setup(_)) => Err(AppError::Unprocessable(format!(
            "The rules were refused: {error}."
        ))),
        Err(error @ WhatIfError::Io { .. }) => Err(AppError::Internal(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_applies_from_now_or_later_never_from_the_past() {
        let now: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("now");
        assert_eq!(
            effective_instant(None, now, "effective_from").expect("now"),
            now
        );
        let soon = now - chrono::Duration::seconds(5);
        assert_eq!(
            effective_instant(Some(soon), now, "effective_from").expect("skew"),
            now
        );
        let later = now + chrono::Duration::hours(2);
        assert_eq!(
            effective_instant(Some(later), now, "effective_from").expect("later"),
            later
        );
        let past = now - chrono::Duration::hours(1);
        assert!(matches!(
            effective_instant(Some(past), now, "effective_from"),
            Err(AppError::Unprocessable(message)) if message.contains("in the past")
        ));
        let far = now + chrono::Duration::days(4_000);
        assert!(matches!(
            effective_instant(Some(far), now, "effective_from"),
            Err(AppError::Unprocessable(message)) if message.contains("days ahead")
        ));
        // A program version for its running challenges names its own field.
        assert!(matches!(
            effective_instant(Some(past), now, "apply.from"),
            Err(AppError::Unprocessable(message)) if message.starts_with("apply.from")
        ));
    }
}
