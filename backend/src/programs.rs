//! The firm's programs on the server: a program's stored versions read back, the engine
//! configuration of a challenge on one of its phases, and what a new version does to the
//! running challenges (the what-if an admin sees before applying it, and the checks that refuse
//! a version that cannot apply to some of them, naming them).
//!
//! The what-if answers the question the admin asks before applying a version from now on: with
//! each challenge's numbers as they stand (its saved engine state and the broker's latest
//! balance and equity), would the new rules fail it, pass it, or only move its limits? It runs
//! the engine itself on a copy of the challenge, so it says exactly what the tracker will
//! decide at its next update (unless the numbers move meanwhile).
//!
//! A program begins one way, [`create`], for `POST /api/programs` and for the program the demo
//! seeds on a database that has none ([`seed_demo`]).

use crate::challenge::ChallengeRun;
use crate::config::ProgramSetup;
use chrono::{DateTime, Utc};
use shared::api::{ProgramApply, ProgramImpact, ProgramWhatIfResponse, ProgramWhatIfRow};
use shared::domain::{AccountId, AccountInfo, Money};
use shared::engine::edit::{self, RuleSet};
use shared::engine::{ChallengeStatus, EventKind, Record, RecordData};
use shared::programs::{ProgramDraft, ProgramError, ProgramLink};
use store::{AuditEntry, Enrollment, ProgramVersion, Store, StoreError, StoredProgram};

/// The id of the program the demo seeds.
pub const DEMO_PROGRAM: &str = "2-step-100k";
/// Who the audit log says made the demo's program.
const DEMO_ACTOR: &str = "demo";

/// A program version read back from the store.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub id: String,
    pub version: u32,
    pub program: ProgramDraft,
}

/// Why a stored program cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored definition does not read (written by a newer version, or damaged).
    #[error("program {id} version {version} cannot be read: {error}")]
    Unreadable {
        id: String,
        version: u32,
        error: String,
    },
}

/// The latest version of program `id`; `None` when there is no such program.
pub async fn latest(store: &dyn Store, id: &str) -> Result<Option<Loaded>, LoadError> {
    let Some(stored) = store.program(id).await? else {
        return Ok(None);
    };
    parse(id, stored.latest.version, &stored.latest.definition_json).map(Some)
}

/// Why [`create`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The program does not hold together.
    #[error("the program was refused: {0}")]
    Refused(ProgramError),
    /// Another program has the id.
    #[error("a program {0:?} exists already")]
    Exists(String),
    /// The program or its audit entry could not be written as JSON.
    #[error("the program cannot be written: {0}")]
    Encode(String),
}

/// Creates program `id` as version 1 of `program` (for new challenges), made from `template`
/// when given, and writes `program.create` to the audit log as `actor`. The id is checked by
/// the caller; the program is validated here. Returns the stored program.
pub async fn create(
    store: &dyn Store,
    id: &str,
    template: Option<&str>,
    program: &ProgramDraft,
    actor: &str,
) -> Result<StoredProgram, CreateError> {
    program.validate().map_err(CreateError::Refused)?;
    let encode = |e: serde_json::Error| CreateError::Encode(e.to_string());
    let now = Utc::now();
    let first = ProgramVersion {
        version: 1,
        definition_json: serde_json::to_string(program).map_err(encode)?,
        apply_json: serde_json::to_string(&ProgramApply::NewChallenges).map_err(encode)?,
        applied_to: 0,
        created_by: actor.to_owned(),
        created_at: now,
    };
    if !store.create_program(id, template, &first).await? {
        return Err(CreateError::Exists(id.to_owned()));
    }
    store
        .append_audit(&AuditEntry {
            time: now,
            actor: actor.to_owned(),
            action: "program.create".to_owned(),
            subject: format!("program:{id}"),
            before: None,
            after: Some(serde_json::json!({
                "version": 1,
                "template": template,
                "program": program,
            })),
            reason: None,
        })
        .await?;
    store
        .program(id)
        .await?
        .ok_or_else(|| CreateError::Encode(format!("the new program {id} cannot be read back")))
}

/// The demo's program, so that an admin opening Programs finds one: on a database with no
/// program yet, [`DEMO_PROGRAM`] ("2-Step 100k") from the FTMO 2-Step template. A database
/// with programs (a restart, or programs of the firm's own) is left as it is.
pub async fn seed_demo(store: &dyn Store) -> Result<(), CreateError> {
    if !store.programs().await?.is_empty() {
        return Ok(());
    }
    let Some(template) = shared::programs::template("ftmo-2step") else {
        return Ok(());
    };
    let mut program = template.program;
    "2-Step 100k".clone_into(&mut program.name);
    match create(store, DEMO_PROGRAM, Some(template.id), &program, DEMO_ACTOR).await {
        Ok(_) => {
            tracing::info!(program = DEMO_PROGRAM, "the demo's program is created");
            Ok(())
        }
        // Another instance on the same database created it meanwhile.
        Err(CreateError::Exists(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Version `version` of program `id`.
pub async fn version(
    store: &dyn Store,
    id: &str,
    version: u32,
) -> Result<Option<Loaded>, LoadError> {
    let Some(stored) = store.program_version(id, version).await? else {
        return Ok(None);
    };
    parse(id, version, &stored.definition_json).map(Some)
}

/// Reads a stored definition.
pub fn parse(id: &str, version: u32, json: &str) -> Result<Loaded, LoadError> {
    serde_json::from_str(json)
        .map(|program| Loaded {
            id: id.to_owned(),
            version,
            program,
        })
        .map_err(|error| LoadError::Unreadable {
            id: id.to_owned(),
            version,
            error: error.to_string(),
        })
}

impl Loaded {
    /// A challenge on phase `index` starting with `initial_balance`: where it is and its
    /// engine configuration. The message names what is wrong.
    pub fn setup(&self, index: usize, initial_balance: Money) -> Result<ProgramSetup, String> {
        let link =
            ProgramLink::new(&self.id, self.version, &self.program, index).ok_or_else(|| {
                format!(
                    "program {} version {} has {} phases; there is no phase {}",
                    self.id,
                    self.version,
                    self.program.phases.len(),
                    index + 1
                )
            })?;
        let config = self
            .program
            .config(index, initial_balance, &self.id)
            .map_err(|error| error.to_string())?;
        Ok(ProgramSetup { link, config })
    }
}

/// The setup of an enrolled challenge, from the version it is enrolled on.
pub async fn setup_of(
    store: &dyn Store,
    enrollment: &Enrollment,
    initial_balance: Money,
) -> Result<ProgramSetup, String> {
    let loaded = version(store, &enrollment.program, enrollment.version)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| {
            format!(
                "its program {} version {} is missing",
                enrollment.program, enrollment.version
            )
        })?;
    let index = usize::try_from(enrollment.phase).map_err(|_| "its phase is out of range")?;
    loaded.setup(index, initial_balance)
}

/// One running challenge of a program, as the what-if and the apply see it.
#[derive(Clone, Debug)]
pub struct Running {
    pub account: AccountId,
    pub name: String,
    pub enrollment: Enrollment,
    /// Its saved engine state (`None` until its history has been read).
    pub run: Option<ChallengeRun>,
    /// The broker's latest numbers.
    pub latest: Option<Latest>,
}

/// The broker's latest balance and equity of an account, and when they were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latest {
    pub time: DateTime<Utc>,
    pub balance: Money,
    pub equity: Money,
}

/// What a new version would do to one challenge, with the rule set it would get.
#[derive(Clone, Debug)]
pub struct Judged {
    pub row: ProgramWhatIfRow,
    /// The phase's new rules at the challenge's initial balance, when they differ and apply.
    pub set: Option<RuleSet>,
    /// Its new link (program, version, phase).
    pub link: Option<ProgramLink>,
}

/// Judges a new version (`program`, to be stored as `version`) for one running challenge.
pub fn judge(id: &str, version: u32, program: &ProgramDraft, running: &Running) -> Judged {
    let phase_index = running.enrollment.phase as usize;
    let mut row = ProgramWhatIfRow {
        account: running.account.as_str().to_owned(),
        name: running.name.clone(),
        phase: program
            .phases
            .get(phase_index)
            .map_or_else(|| format!("phase {}", phase_index + 1), |p| p.name.clone()),
        impact: ProgramImpact::Unchanged,
        rules: Vec::new(),
        changes: Vec::new(),
        problem: None,
    };
    let invalid = |mut row: ProgramWhatIfRow, problem: String| {
        row.impact = ProgramImpact::Invalid;
        row.problem = Some(problem);
        Judged {
            row,
            set: None,
            link: None,
        }
    };
    let Some(phase) = program.phases.get(phase_index) else {
        return invalid(
            row,
            format!(
                "it is in phase {}, which the new version does not have ({} phases): keep the \
                 phase, or apply the version to new challenges only",
                phase_index + 1,
                program.phases.len()
            ),
        );
    };
    let link = ProgramLink::new(id, version, program, phase_index);
    let Some(run) = &running.run else {
        // Not evaluated yet: it starts on the version it is enrolled on, then takes this one.
        row.problem = Some("its history is still being read".to_owned());
        return Judged {
            row,
            set: None,
            link,
        };
    };
    let challenge = run.challenge();
    if challenge.status().is_final() {
        row.impact = ProgramImpact::Decided;
        return Judged {
            row,
            set: None,
            link: None,
        };
    }
    let initial = challenge.anchors().initial_balance;
    let set = match phase.rule_set(initial) {
        Ok(set) => set,
        Err(error) => {
            return invalid(
                row,
                format!("at its initial balance of {}: {error}", initial.normalize()),
            );
        }
    };
    let current = RuleSet::of(challenge);
    let changes = edit::diff(&current, &set);
    row.changes = changes.iter().map(|c| c.words()).collect();
    if changes.is_empty() {
        return Judged {
            row,
            set: None,
            link,
        };
    }
    row.impact = ProgramImpact::Change;
    let mut trial = challenge.clone();
    if let Err(error) = trial.change_rules(&set) {
        return invalid(row, error.to_string());
    }
    if let Some(latest) = &running.latest {
        let time = trial
            .last_time()
            .map_or(latest.time, |last| last.max(latest.time));
        let info = AccountInfo {
            balance: latest.balance,
            equity: latest.equity,
            margin: Money::ZERO,
            free_margin: latest.equity,
            margin_level: None,
            currency: run.currency().unwrap_or_default().to_owned(),
            leverage: None,
            credit: Money::ZERO,
        };
        let mut events = Vec::new();
        // The engine judges the numbers it already holds against the new limits.
        if trial
            .apply(
                &Record::new(time, RecordData::AccountInformation(info)),
                &mut events,
            )
            .is_ok()
        {
            let rules = |kind: EventKind| -> Vec<String> {
                events
                    .iter()
                    .filter(|e| e.kind == kind)
                    .filter_map(|e| e.rule.clone())
                    .collect()
            };
            match trial.status() {
                ChallengeStatus::Failed => {
                    row.impact = ProgramImpact::Breach;
                    row.rules = rules(EventKind::Breach);
                }
                ChallengeStatus::Passed => {
                    row.impact = ProgramImpact::Pass;
                    row.rules = rules(EventKind::ObjectiveMet);
                }
                ChallengeStatus::Paused if challenge.status() != ChallengeStatus::Paused => {
                    row.impact = ProgramImpact::Breach;
                    row.rules = rules(EventKind::Breach);
                }
                _ => {}
            }
        }
    }
    Judged {
        row,
        set: Some(set),
        link,
    }
}

/// The what-if of a new version over every running challenge: counts, and rows with the
/// breaches first, then passes, changes, invalid ones, the rest.
pub fn what_if(judged: &[Judged]) -> ProgramWhatIfResponse {
    let mut answer = ProgramWhatIfResponse {
        breach: 0,
        pass: 0,
        change: 0,
        unchanged: 0,
        decided: 0,
        invalid: 0,
        challenges: judged.iter().map(|j| j.row.clone()).collect(),
    };
    for row in &answer.challenges {
        *match row.impact {
            ProgramImpact::Breach => &mut answer.breach,
            ProgramImpact::Pass => &mut answer.pass,
            ProgramImpact::Change => &mut answer.change,
            ProgramImpact::Unchanged => &mut answer.unchanged,
            ProgramImpact::Decided => &mut answer.decided,
            ProgramImpact::Invalid => &mut answer.invalid,
        } += 1;
    }
    let order = |impact: ProgramImpact| match impact {
        ProgramImpact::Breach => 0,
        ProgramImpact::Pass => 1,
        ProgramImpact::Change => 2,
        ProgramImpact::Invalid => 3,
        ProgramImpact::Unchanged => 4,
        ProgramImpact::Decided => 5,
    };
    answer.challenges.sort_by(|a, b| {
        order(a.impact)
            .cmp(&order(b.impact))
            .then(a.account.cmp(&b.account))
    });
    answer
}

/// The running challenges of a program, with their saved states and latest numbers.
pub async fn running(
    store: &dyn Store,
    hub: &crate::hub::Hub,
    program: &str,
) -> Result<Vec<Running>, StoreError> {
    let mut all = Vec::new();
    for enrollment in store.enrollments(Some(program)).await? {
        // Archived challenges are read-only: a new version never reaches them.
        let Some(summary) = hub
            .summary(&enrollment.account)
            .filter(|summary| summary.feed != shared::api::FeedStatus::Archived)
        else {
            continue;
        };
        let run = match store.load_challenge(&enrollment.account).await? {
            Some(saved) => match serde_json::from_str::<ChallengeRun>(&saved) {
                Ok(run) => Some(run),
                Err(error) => {
                    tracing::error!(account = %enrollment.account, %error, "the stored challenge cannot be read");
                    None
                }
            },
            None => None,
        };
        all.push(Running {
            account: enrollment.account.clone(),
            name: summary.name,
            enrollment,
            run,
            latest: summary.latest.map(|view| Latest {
                time: view.time,
                balance: view.balance,
                equity: view.equity,
            }),
        });
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use shared::engine::rules::{Limit, RuleKind};
    use shared::programs::template;

    fn running(equity: Money, program: &ProgramDraft) -> Running {
        let config = program.config(0, dec!(100000), "p").expect("config");
        let mut challenge = shared::engine::Challenge::new(config).expect("challenge");
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().expect("t0");
        let info = AccountInfo {
            balance: dec!(100000),
            equity: dec!(100000),
            margin: dec!(0),
            free_margin: dec!(100000),
            margin_level: None,
            currency: "USD".into(),
            leverage: None,
            credit: dec!(0),
        };
        challenge
            .apply(
                &Record::new(t0, RecordData::AccountInformation(info)),
                &mut Vec::new(),
            )
            .expect("apply");
        let run = ChallengeRun::new(challenge, t0);
        let latest = Latest {
            time: t0 + chrono::Duration::minutes(1),
            balance: dec!(100000),
            equity,
        };
        Running {
            account: AccountId::from("acct"),
            name: "Acct".into(),
            enrollment: Enrollment {
                account: AccountId::from("acct"),
                program: "p".into(),
                version: 1,
                phase: 0,
                journey: "acct".into(),
                enrolled_at: t0,
            },
            run: Some(run),
            latest: Some(latest),
        }
    }

    fn with_daily(program: &ProgramDraft, percent: i64) -> ProgramDraft {
        let mut next = program.clone();
        for rule in &mut next.phases[0].rules.rules {
            if let RuleKind::DailyLoss { limit, .. } = &mut rule.kind {
                *limit = Limit::PercentOfInitial(percent.into());
            }
        }
        next
    }

    #[test]
    fn a_tighter_daily_limit_fails_a_challenge_already_below_it_and_moves_the_others() {
        let ftmo = template("ftmo-2step").expect("template").program;
        let tighter = with_daily(&ftmo, 3);
        // 4% down today: within 5%, beyond 3%.
        let down = judge("p", 2, &tighter, &running(dec!(96000), &ftmo));
        assert_eq!(down.row.impact, ProgramImpact::Breach, "{:?}", down.row);
        assert_eq!(down.row.rules, ["daily_loss"]);
        let fine = judge("p", 2, &tighter, &running(dec!(99000), &ftmo));
        assert_eq!(fine.row.impact, ProgramImpact::Change);
        assert!(
            fine.row.changes.iter().any(|c| c.contains("daily_loss")),
            "{:?}",
            fine.row
        );
        assert_eq!(fine.link.as_ref().map(|l| l.version), Some(2));
        let same = judge("p", 2, &ftmo, &running(dec!(99000), &ftmo));
        assert_eq!(same.row.impact, ProgramImpact::Unchanged);
        let answer = what_if(&[fine, down, same]);
        assert_eq!((answer.breach, answer.change, answer.unchanged), (1, 1, 1));
        assert_eq!(answer.challenges[0].impact, ProgramImpact::Breach);
    }

    #[test]
    fn a_lower_target_passes_a_challenge_already_above_it() {
        let mut ftmo = template("ftmo-2step").expect("template").program;
        ftmo.phases[0]
            .rules
            .rules
            .retain(|r| r.id != "min_trading_days");
        let mut lower = ftmo.clone();
        for rule in &mut lower.phases[0].rules.rules {
            if let RuleKind::ProfitTarget { target, basis } = &mut rule.kind {
                *target = Limit::PercentOfInitial(dec!(0.5));
                // On equity: the test's challenge has an open position's profit, no deal.
                *basis = shared::engine::rules::ProfitBasis::Equity;
            }
        }
        let up = running(dec!(101000), &ftmo);
        let judged = judge("p", 2, &lower, &up);
        assert_eq!(judged.row.impact, ProgramImpact::Pass, "{:?}", judged.row);
    }

    #[test]
    fn a_version_without_the_challenges_phase_names_it() {
        let ftmo = template("ftmo-2step").expect("template").program;
        let mut one = running(dec!(99000), &ftmo);
        one.enrollment.phase = 2;
        let mut shorter = ftmo.clone();
        shorter.phases.truncate(2);
        shorter.phases[1]
            .rules
            .rules
            .retain(|r| r.id != "profit_target");
        let judged = judge("p", 2, &shorter, &one);
        assert_eq!(judged.row.impact, ProgramImpact::Invalid);
        assert!(
            judged
                .row
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("phase 3")),
            "{:?}",
            judged.row
        );
    }
}
