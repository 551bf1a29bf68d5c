//! The program editor's model without signals: a phase as typed (its split and time limit as
//! text, its rules as the rule editor's model), read back into a [`ProgramDraft`] and checked by
//! the server's own [`ProgramDraft::validate`]; what a version changes, and how it was applied,
//! in words.

use super::super::rules::Model;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::api::{ProgramApply, ProgramImpact};
use shared::engine::edit;
use shared::programs::{
    Advance, NextAccount, PhaseDraft, ProgramDraft, Promotion, reference_balance,
};

/// The rules a blank program's one phase starts with: limits and a target to edit.
const BLANK_RULES: &[&str] = &[
    "daily_loss",
    "max_loss",
    "profit_target",
    "min_trading_days",
];

/// One phase as the editor holds it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PhaseInput {
    pub name: String,
    pub funded: bool,
    /// The trader's share in percent, as typed (read only for a funded phase).
    pub split: String,
    /// Days, as typed; empty: no limit.
    pub time_limit: String,
    pub account: NextAccount,
    pub promotion: Promotion,
    pub rules: Model,
}

impl PhaseInput {
    pub fn of(phase: &PhaseDraft) -> Self {
        Self {
            name: phase.name.clone(),
            funded: phase.funded,
            split: phase
                .profit_split
                .map(|split| split.normalize().to_string())
                .unwrap_or_default(),
            time_limit: phase
                .time_limit_days
                .map(|days| days.to_string())
                .unwrap_or_default(),
            account: phase.advance.account,
            promotion: phase.advance.promotion,
            rules: Model::of(&phase.rules),
        }
    }

    /// The phase, or every field of it that cannot be read (each named with the phase).
    fn draft(&self, index: usize) -> Result<PhaseDraft, Vec<String>> {
        let label = phase_label(index, &self.name);
        let mut problems = Vec::new();
        let profit_split = match self.split.trim().trim_end_matches('%').trim() {
            _ if !self.funded => None,
            "" => None,
            text => match text.parse::<Decimal>() {
                Ok(split) => Some(split.normalize()),
                Err(_) => {
                    problems.push(format!(
                        "{label}: the profit split {:?} is not a number (the trader's share in \
                         percent, e.g. 80)",
                        self.split.trim()
                    ));
                    None
                }
            },
        };
        let time_limit_days = match self.time_limit.trim() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(days) => Some(days),
                Err(_) => {
                    problems.push(format!(
                        "{label}: the time limit {text:?} is not a whole number of days (leave \
                         it empty for none)"
                    ));
                    None
                }
            },
        };
        let rules = match self.rules.draft() {
            Ok(rules) => Some(rules),
            Err(unread) => {
                problems.extend(unread.into_iter().map(|p| format!("{label}: {p}")));
                None
            }
        };
        match rules {
            Some(rules) if problems.is_empty() => Ok(PhaseDraft {
                name: self.name.trim().to_owned(),
                funded: self.funded,
                rules,
                profit_split,
                time_limit_days,
                advance: Advance {
                    account: self.account,
                    promotion: self.promotion,
                },
            }),
            _ => Err(problems),
        }
    }
}

/// A phase as problems name it: `phase 2 (Verification)` (as `shared::programs` writes it).
pub(super) fn phase_label(index: usize, name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        format!("phase {}", index + 1)
    } else {
        format!("phase {} ({name})", index + 1)
    }
}

/// Where the editor's check stands.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Checked {
    /// Every problem: fields that cannot be read, then the program's own.
    pub problems: Vec<String>,
    /// The program, when every field could be read (valid or not).
    pub program: Option<ProgramDraft>,
}

impl Checked {
    /// The program when it can be sent: read and valid.
    pub fn valid(&self) -> Option<&ProgramDraft> {
        self.program.as_ref().filter(|_| self.problems.is_empty())
    }
}

/// Reads the form into a program and checks it as the server will.
pub(super) fn check(name: &str, description: &str, phases: &[PhaseInput]) -> Checked {
    let mut problems = Vec::new();
    let mut drafts = Vec::with_capacity(phases.len());
    for (index, phase) in phases.iter().enumerate() {
        match phase.draft(index) {
            Ok(draft) => drafts.push(draft),
            Err(unread) => problems.extend(unread),
        }
    }
    if !problems.is_empty() {
        return Checked {
            problems,
            program: None,
        };
    }
    let program = ProgramDraft {
        name: name.trim().to_owned(),
        description: description.trim().to_owned(),
        phases: drafts,
    };
    if let Err(error) = program.validate() {
        problems = error.problems;
    }
    Checked {
        problems,
        program: Some(program),
    }
}

/// A program to start from without a template: one evaluation phase with a daily loss, a
/// maximum loss, a profit target and minimum trading days at their usual values.
pub(super) fn blank(name: &str) -> Option<ProgramDraft> {
    let rules = Model::starter(BLANK_RULES).draft().ok()?;
    Some(ProgramDraft {
        name: name.trim().to_owned(),
        description: String::new(),
        phases: vec![PhaseDraft {
            name: "Phase 1".to_owned(),
            funded: false,
            rules,
            profit_split: None,
            time_limit_days: None,
            advance: Advance::default(),
        }],
    })
}

/// A phase to add: a copy of `from`'s rules and clock, as an evaluation phase named `name`.
pub(super) fn new_phase(from: Option<&PhaseInput>, name: String) -> PhaseInput {
    let rules = from.map_or_else(|| Model::starter(BLANK_RULES), |phase| phase.rules.clone());
    PhaseInput {
        name,
        funded: false,
        split: String::new(),
        time_limit: String::new(),
        account: NextAccount::Same,
        promotion: Promotion::Automatic,
        rules,
    }
}

/// `Phase n`, or `Phase n (2)`, ... when a phase has that name already.
pub(super) fn unused_name(taken: &[String], n: usize) -> String {
    let base = format!("Phase {n}");
    let free = |name: &str| !taken.iter().any(|t| t.trim().eq_ignore_ascii_case(name));
    if free(&base) {
        return base;
    }
    (2..)
        .map(|k| format!("{base} ({k})"))
        .find(|name| free(name))
        .unwrap_or(base)
}

pub(super) fn split_words(split: Option<Decimal>) -> String {
    split.map_or_else(|| "–".to_owned(), |s| format!("{}%", s.normalize()))
}

pub(super) fn time_limit_words(days: Option<u32>) -> String {
    match days {
        None => "none".to_owned(),
        Some(1) => "1 day".to_owned(),
        Some(days) => format!("{days} days"),
    }
}

pub(super) fn advance_words(advance: Advance) -> &'static str {
    match (advance.account, advance.promotion) {
        (NextAccount::Same, Promotion::Automatic) => "same account, at once",
        (NextAccount::Same, Promotion::Approval) => "same account, on approval",
        (NextAccount::New, Promotion::Automatic) => "new account, at once",
        (NextAccount::New, Promotion::Approval) => "new account, on approval",
    }
}

/// What `new` changes from `old`, one sentence per change. Phases are paired by position, as
/// the server moves a running challenge: phase 2's challenges take the new phase 2.
pub(super) fn changes(old: &ProgramDraft, new: &ProgramDraft) -> Vec<String> {
    let mut out = Vec::new();
    if old.name.trim() != new.name.trim() {
        out.push(format!("name: {} → {}", old.name.trim(), new.name.trim()));
    }
    if old.description.trim() != new.description.trim() {
        out.push("description changed".to_owned());
    }
    for index in 0..old.phases.len().max(new.phases.len()) {
        match (old.phases.get(index), new.phases.get(index)) {
            (Some(before), Some(after)) => phase_changes(index, before, after, &mut out),
            (None, Some(after)) => out.push(format!("{} added", phase_label(index, &after.name))),
            (Some(before), None) => {
                out.push(format!("{} removed", phase_label(index, &before.name)))
            }
            (None, None) => {}
        }
    }
    out
}

fn phase_changes(index: usize, old: &PhaseDraft, new: &PhaseDraft, out: &mut Vec<String>) {
    let label = phase_label(index, &new.name);
    let mut change = |what: &str, before: String, after: String| {
        if before != after {
            out.push(format!("{label}: {what} {before} → {after}"));
        }
    };
    change(
        "name",
        old.name.trim().to_owned(),
        new.name.trim().to_owned(),
    );
    let kind = |funded: bool| if funded { "funded" } else { "evaluation" }.to_owned();
    change("kind", kind(old.funded), kind(new.funded));
    change(
        "profit split",
        split_words(old.profit_split),
        split_words(new.profit_split),
    );
    change(
        "time limit",
        time_limit_words(old.time_limit_days),
        time_limit_words(new.time_limit_days),
    );
    change(
        "after a pass",
        advance_words(old.advance).to_owned(),
        advance_words(new.advance).to_owned(),
    );
    if old.rules == new.rules {
        return;
    }
    let balance = reference_balance();
    match (
        edit::validate(&old.rules, balance),
        edit::validate(&new.rules, balance),
    ) {
        (Ok(before), Ok(after)) => {
            let words: Vec<String> = edit::diff(&before, &after)
                .iter()
                .map(edit::RuleChange::words)
                .collect();
            if words.is_empty() {
                out.push(format!("{label}: rules rewritten (same limits)"));
            }
            out.extend(words.into_iter().map(|w| format!("{label}: {w}")));
        }
        _ => out.push(format!("{label}: rules changed")),
    }
}

/// How a version reached challenges, e.g. `new challenges only`, `running challenges too (3),
/// from 2 Mar 2027, 00:00:00`.
pub(super) fn apply_words(
    apply: ProgramApply,
    applied_to: u32,
    saved_at: DateTime<Utc>,
    date_time: impl Fn(DateTime<Utc>) -> String,
) -> String {
    match apply {
        ProgramApply::NewChallenges => "new challenges only".to_owned(),
        ProgramApply::Running { from } => format!(
            "new challenges and {} from {}",
            running_count(applied_to),
            date_time(from.unwrap_or(saved_at))
        ),
    }
}

/// `1 running challenge`, `3 running challenges`.
pub(super) fn running_count(count: u32) -> String {
    match count {
        1 => "1 running challenge".to_owned(),
        n => format!("{n} running challenges"),
    }
}

/// The what-if's order: breaches first, then passes, changes, the ones it cannot apply to,
/// the rest.
pub(super) fn impact_rank(impact: ProgramImpact) -> u8 {
    match impact {
        ProgramImpact::Breach => 0,
        ProgramImpact::Pass => 1,
        ProgramImpact::Change => 2,
        ProgramImpact::Invalid => 3,
        ProgramImpact::Unchanged => 4,
        ProgramImpact::Decided => 5,
    }
}

/// An impact's key (the row's `data-impact`) and its words.
pub(super) fn impact_words(impact: ProgramImpact) -> (&'static str, &'static str) {
    match impact {
        ProgramImpact::Breach => ("breach", "Fails at its next update"),
        ProgramImpact::Pass => ("pass", "Passes at its next update"),
        ProgramImpact::Change => ("change", "Limits or objectives move"),
        ProgramImpact::Unchanged => ("unchanged", "Unchanged"),
        ProgramImpact::Decided => ("decided", "Already passed or failed"),
        ProgramImpact::Invalid => ("invalid", "Cannot take this version"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use shared::programs::template;

    fn inputs(program: &ProgramDraft) -> Vec<PhaseInput> {
        program.phases.iter().map(PhaseInput::of).collect()
    }

    #[test]
    fn every_template_reads_back_as_itself_and_is_valid() {
        for template in shared::programs::templates() {
            let program = template.program;
            let checked = check(&program.name, &program.description, &inputs(&program));
            assert_eq!(checked.problems, Vec::<String>::new(), "{}", template.id);
            assert_eq!(checked.valid(), Some(&program), "{}", template.id);
            assert!(changes(&program, &program).is_empty(), "{}", template.id);
        }
    }

    #[test]
    fn fields_that_cannot_be_read_are_named_with_their_phase() {
        let program = template("ftmo-2step").expect("template").program;
        let mut phases = inputs(&program);
        phases[0].time_limit = "thirty".into();
        phases[2].split = "eighty".into();
        // A split typed on an evaluation phase is not read (the field is off).
        phases[1].split = "50".into();
        let checked = check(&program.name, "", &phases);
        assert_eq!(checked.program, None);
        assert_eq!(
            checked.problems,
            [
                "phase 1 (Phase 1): the time limit \"thirty\" is not a whole number of days \
                 (leave it empty for none)",
                "phase 3 (Funded): the profit split \"eighty\" is not a number (the trader's \
                 share in percent, e.g. 80)",
            ]
        );
        phases[0].time_limit = " 30 ".into();
        phases[2].split = "90%".into();
        let checked = check(&program.name, "", &phases);
        let valid = checked.valid().expect("valid");
        assert_eq!(valid.phases[0].time_limit_days, Some(30));
        assert_eq!(valid.phases[1].profit_split, None);
        assert_eq!(valid.phases[2].profit_split, Some(dec!(90)));
    }

    #[test]
    fn the_programs_own_problems_are_all_shown() {
        let program = template("ftmo-2step").expect("template").program;
        let mut phases = inputs(&program);
        phases[2].split.clear();
        phases[1].name = "phase 1".into();
        let checked = check(" ", "", &phases);
        assert!(checked.program.is_some());
        assert_eq!(checked.valid(), None);
        let all = checked.problems.join("\n");
        for needle in [
            "the program needs a name",
            "phase 2 (phase 1): another phase has the same name",
            "phase 3 (Funded): a funded phase needs a profit split",
        ] {
            assert!(all.contains(needle), "{needle:?} in {all}");
        }
    }

    #[test]
    fn a_blank_program_is_valid_once_named() {
        let program = blank("  My program ").expect("blank");
        assert_eq!(program.name, "My program");
        program.validate().expect("valid");
        assert!(blank("").expect("blank").validate().is_err());
    }

    #[test]
    fn a_new_phase_copies_the_rules_it_follows_under_a_free_name() {
        let program = template("ftmo-2step").expect("template").program;
        let phases = inputs(&program);
        let names: Vec<String> = phases.iter().map(|p| p.name.clone()).collect();
        assert_eq!(unused_name(&names, 3), "Phase 3");
        assert_eq!(unused_name(&names, 2), "Phase 2 (2)");
        let added = new_phase(Some(&phases[1]), "Phase 3".into());
        assert_eq!(added.rules, phases[1].rules);
        assert!(!added.funded);
    }

    #[test]
    fn changes_are_said_phase_by_phase() {
        let old = template("ftmo-2step").expect("template").program;
        let mut new = old.clone();
        new.name = "Two steps".into();
        new.phases[0].time_limit_days = Some(30);
        new.phases[2].profit_split = Some(dec!(90));
        new.phases[1].advance.promotion = Promotion::Approval;
        let mut rules = serde_json::to_value(&new.phases[0].rules).expect("json");
        rules["rules"][0]["kind"]["limit"]["value"] = "3".into();
        new.phases[0].rules = serde_json::from_value(rules).expect("rules");
        new.phases.push(PhaseDraft {
            name: "Scaling".into(),
            ..new.phases[2].clone()
        });
        assert_eq!(
            changes(&old, &new),
            [
                "name: FTMO 2-Step → Two steps",
                "phase 1 (Phase 1): time limit none → 30 days",
                "phase 1 (Phase 1): daily_loss.limit: 5% of the initial balance → 3% of the \
                 initial balance",
                "phase 2 (Phase 2): after a pass same account, at once → same account, on \
                 approval",
                "phase 3 (Funded): profit split 80% → 90%",
                "phase 4 (Scaling) added",
            ]
        );
        assert_eq!(
            changes(&new, &old).last().map(String::as_str),
            Some("phase 4 (Scaling) removed")
        );
    }

    #[test]
    fn applied_versions_and_impacts_read_in_words() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let shown = |t: DateTime<Utc>| t.timestamp().to_string();
        assert_eq!(
            apply_words(ProgramApply::NewChallenges, 0, at, shown),
            "new challenges only"
        );
        assert_eq!(
            apply_words(ProgramApply::Running { from: None }, 1, at, shown),
            "new challenges and 1 running challenge from 0"
        );
        let later = at + chrono::Duration::seconds(60);
        assert_eq!(
            apply_words(ProgramApply::Running { from: Some(later) }, 3, at, shown),
            "new challenges and 3 running challenges from 60"
        );
        let mut impacts = [
            ProgramImpact::Decided,
            ProgramImpact::Change,
            ProgramImpact::Breach,
            ProgramImpact::Invalid,
            ProgramImpact::Pass,
            ProgramImpact::Unchanged,
        ];
        impacts.sort_by_key(|i| impact_rank(*i));
        let keys: Vec<_> = impacts.iter().map(|i| impact_words(*i).0).collect();
        assert_eq!(
            keys,
            [
                "breach",
                "pass",
                "change",
                "invalid",
                "unchanged",
                "decided"
            ]
        );
    }
}
