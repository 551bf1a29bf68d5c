//! Programs: what a firm sells ("2-Step 100k": Phase 1, Phase 2, Funded) as data.
//!
//! A program is a list of phases, each with its rule set (the engine's rules and reset clock,
//! as the rule editor writes them), its time limit, how a pass moves the trader on (the same
//! account or a new one, at once or on an admin's approval) and, for a funded phase, the
//! trader's profit split. Limits are best written as percents of the initial balance, so one
//! program serves every account size; a program is checked at [`REFERENCE_BALANCE`] when saved
//! and each challenge again at its own initial balance when it starts or when a new version
//! reaches it. The firms' presets are templates ([`templates`]): a program starts from one or
//! from scratch.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::Money;
use crate::engine::edit::{self, RuleSet, RuleSetDraft};
use crate::engine::rules::{RuleDef, RuleKind};
use crate::engine::{ChallengeConfig, PlCounting};
use crate::engine::{PRESETS, preset};

/// The most phases one program may have.
pub const MAX_PHASES: usize = 8;
/// The longest program or phase name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// The longest time limit, in days (the engine's own bound on `max_duration`).
pub const MAX_TIME_LIMIT_DAYS: u32 = 36_500;
/// The id of the rule a phase's time limit adds to its rules.
pub const TIME_LIMIT_RULE: &str = "time_limit";

/// The account size a program is checked at when saved (each challenge is checked again at its
/// own initial balance).
pub fn reference_balance() -> Money {
    Decimal::from(100_000)
}

/// Where a passed phase's next phase is traded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NextAccount {
    /// On the same trading account: the next phase starts on it, its history kept.
    #[default]
    Same,
    /// On a new account the firm provides (the admin connects it).
    New,
}

/// Who moves a trader who passed a phase on to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Promotion {
    /// Riskdeck, as soon as the pass is recorded.
    #[default]
    Automatic,
    /// An admin, who approves (or not) each pass.
    Approval,
}

/// How a pass of a phase moves the trader on (the last phase has no next).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// The same account or a new one.
    #[serde(default)]
    pub account: NextAccount,
    /// At once or on an admin's approval.
    #[serde(default)]
    pub promotion: Promotion,
}

/// One phase of a program as the console writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhaseDraft {
    /// Its name, e.g. `Phase 1`, `Verification`, `Funded`; unique in the program.
    pub name: String,
    /// A funded phase: the trader trades the firm's capital and is paid a share of the profit;
    /// it has no profit target and no next phase.
    #[serde(default)]
    pub funded: bool,
    /// The rules and reset clock (the rule editor's format).
    pub rules: RuleSetDraft,
    /// A funded phase's profit split: the trader's share of the profit, in percent (e.g. `80`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub profit_split: Option<Decimal>,
    /// Calendar days from the phase's start to pass it; none: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_days: Option<u32>,
    /// How a pass moves the trader on to the next phase.
    #[serde(default)]
    pub advance: Advance,
}

/// A program as the console writes it: its phases in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProgramDraft {
    /// Its name as the firm sells it, e.g. `2-Step 100k`.
    pub name: String,
    /// A line or two for admins and traders.
    #[serde(default)]
    pub description: String,
    /// The phases, first to last (a funded phase, if any, last).
    pub phases: Vec<PhaseDraft>,
}

/// Which program, version and phase a challenge is on, as its saved state and its view carry
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramLink {
    /// The program's id.
    pub program: String,
    /// Its name as sold, e.g. `2-Step 100k`.
    pub name: String,
    /// The version the challenge is measured against.
    pub version: u32,
    /// The phase, 0-based, and its name.
    pub phase_index: u32,
    pub phase: String,
    /// How many phases the program has.
    pub phases: u32,
    /// A funded phase.
    #[serde(default)]
    pub funded: bool,
    /// A funded phase's profit split: the trader's share, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub profit_split: Option<Decimal>,
}

impl ProgramLink {
    /// The link of a challenge on phase `index` of `version` of program `id`.
    pub fn new(id: &str, version: u32, program: &ProgramDraft, index: usize) -> Option<Self> {
        let phase = program.phases.get(index)?;
        Some(Self {
            program: id.to_owned(),
            name: program.name.trim().to_owned(),
            version,
            phase_index: u32::try_from(index).ok()?,
            phase: phase.name.trim().to_owned(),
            phases: u32::try_from(program.phases.len()).ok()?,
            funded: phase.funded,
            profit_split: phase.profit_split,
        })
    }
}

/// Why a program was refused: every problem, each naming its phase and rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct ProgramError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

impl PhaseDraft {
    /// The phase's rules at `initial_balance`, with its time limit as a `max_duration` rule:
    /// checked as the rule editor checks them.
    pub fn rule_set(&self, initial_balance: Money) -> Result<RuleSet, edit::RuleSetError> {
        let mut draft = self.rules.clone();
        if let Some(days) = self.time_limit_days {
            draft.rules.retain(|rule| rule.id != TIME_LIMIT_RULE);
            draft.rules.push(RuleDef::new(
                TIME_LIMIT_RULE,
                RuleKind::MaxDuration { days },
            ));
        }
        edit::validate(&draft, initial_balance)
    }
}

impl ProgramDraft {
    /// Checks the program at [`reference_balance`]: names, phases, each phase's rules, splits and
    /// time limits. Every problem is named.
    pub fn validate(&self) -> Result<(), ProgramError> {
        self.validate_at(reference_balance())
    }

    /// Checks the program for a challenge starting with `initial_balance`.
    pub fn validate_at(&self, initial_balance: Money) -> Result<(), ProgramError> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push("the program needs a name".to_owned());
        } else if name.chars().count() > MAX_NAME_CHARS {
            problems.push(format!(
                "the program's name is longer than {MAX_NAME_CHARS} characters"
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            problems.push(format!(
                "the description is longer than {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        if self.phases.is_empty() {
            problems.push("a program needs at least one phase".to_owned());
        }
        if self.phases.len() > MAX_PHASES {
            problems.push(format!(
                "a program has at most {MAX_PHASES} phases ({} given)",
                self.phases.len()
            ));
        }
        for (index, phase) in self.phases.iter().enumerate() {
            let label = phase_label(index, &phase.name);
            let phase_name = phase.name.trim();
            if phase_name.is_empty() {
                problems.push(format!("phase {} needs a name", index + 1));
            } else if phase_name.chars().count() > MAX_NAME_CHARS {
                problems.push(format!(
                    "{label}: the name is longer than {MAX_NAME_CHARS} characters"
                ));
            }
            if self.phases[..index]
                .iter()
                .any(|other| other.name.trim().eq_ignore_ascii_case(phase_name))
                && !phase_name.is_empty()
            {
                problems.push(format!(
                    "{label}: another phase has the same name; phase names are unique in a \
                     program"
                ));
            }
            let last = index + 1 == self.phases.len();
            if phase.funded && !last {
                problems.push(format!(
                    "{label}: a funded phase is the program's last (nothing follows it)"
                ));
            }
            if phase.funded
                && phase
                    .rules
                    .rules
                    .iter()
                    .any(|rule| matches!(rule.kind, RuleKind::ProfitTarget { .. }))
            {
                problems.push(format!(
                    "{label}: a funded phase has no profit target (remove the profit_target \
                     rule)"
                ));
            }
            if !phase.funded
                && !phase
                    .rules
                    .rules
                    .iter()
                    .any(|rule| rule.kind.is_objective())
            {
                problems.push(format!(
                    "{label}: an evaluation phase needs an objective to pass (a profit target, \
                     minimum trading days); mark it funded if it has none"
                ));
            }
            match (phase.funded, phase.profit_split) {
                (true, None) => problems.push(format!(
                    "{label}: a funded phase needs a profit split (the trader's share in \
                     percent, e.g. 80)"
                )),
                (true, Some(split)) if split <= Decimal::ZERO || split > Decimal::ONE_HUNDRED => {
                    problems.push(format!(
                        "{label}: the profit split {split}% is not between 0 and 100 (the \
                         trader's share, e.g. 80)"
                    ));
                }
                (false, Some(_)) => {
                    problems.push(format!("{label}: only a funded phase has a profit split"))
                }
                _ => {}
            }
            if let Some(days) = phase.time_limit_days {
                if days == 0 || days > MAX_TIME_LIMIT_DAYS {
                    problems.push(format!(
                        "{label}: the time limit is between 1 and {MAX_TIME_LIMIT_DAYS} days \
                         ({days} given; leave it out for none)"
                    ));
                } else if phase
                    .rules
                    .rules
                    .iter()
                    .any(|rule| matches!(rule.kind, RuleKind::MaxDuration { .. }))
                {
                    problems.push(format!(
                        "{label}: both a time limit and a max_duration rule; keep one"
                    ));
                }
            }
            if let Err(error) = phase.rule_set(initial_balance) {
                problems.extend(
                    error
                        .problems
                        .into_iter()
                        .map(|problem| format!("{label}: {problem}")),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ProgramError { problems })
        }
    }

    /// The phase named `name` (case and surrounding blanks ignored) and its index.
    pub fn phase(&self, name: &str) -> Option<(usize, &PhaseDraft)> {
        let name = name.trim();
        self.phases
            .iter()
            .enumerate()
            .find(|(_, phase)| phase.name.trim().eq_ignore_ascii_case(name))
    }

    /// The engine's configuration for a challenge of phase `index` starting with
    /// `initial_balance`, labelled `label` (what the dashboard names its rules after).
    pub fn config(
        &self,
        index: usize,
        initial_balance: Money,
        label: &str,
    ) -> Result<ChallengeConfig, ProgramError> {
        let phase = self.phases.get(index).ok_or_else(|| ProgramError {
            problems: vec![format!(
                "the program has {} phases; there is no phase {}",
                self.phases.len(),
                index + 1
            )],
        })?;
        let set = phase
            .rule_set(initial_balance)
            .map_err(|error| ProgramError {
                problems: error
                    .problems
                    .into_iter()
                    .map(|problem| format!("{}: {problem}", phase_label(index, &phase.name)))
                    .collect(),
            })?;
        Ok(ChallengeConfig {
            preset: label.to_owned(),
            initial_balance,
            clock: set.clock,
            rules: set.rules,
            estimated_equity_breaches: set.estimated_equity_breaches,
            interest_dividend_tax: set.interest_dividend_tax,
        })
    }
}

fn phase_label(index: usize, name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        format!("phase {}", index + 1)
    } else {
        format!("phase {} ({name})", index + 1)
    }
}

/// A built-in program a firm starts from: its template id and the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// A stable id, e.g. `ftmo-2step`.
    pub id: &'static str,
    /// The program.
    pub program: ProgramDraft,
}

/// A template's recipe: its phases as (phase name, preset), then a funded phase that takes the
/// first evaluation phase's rules without the objectives, at `split` percent.
struct Recipe {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    phases: &'static [(&'static str, &'static str)],
    split: u32,
}

const TEMPLATES: &[Recipe] = &[
    Recipe {
        id: "ftmo-2step",
        name: "FTMO 2-Step",
        description: "Challenge (10% target) and Verification (5%), 5% daily and 10% maximum loss, at least 4 \
         trading days each; then the FTMO Account, 80% profit split.",
        phases: &[
            ("Phase 1", "ftmo-2step-phase1"),
            ("Phase 2", "ftmo-2step-phase2"),
        ],
        split: 80,
    },
    Recipe {
        id: "ftmo-1step",
        name: "FTMO 1-Step",
        description: "One evaluation: 3% daily, 10% end-of-day trailing maximum loss, 10% target, best day \
         at most 50%; then funded, 80% profit split.",
        phases: &[("Evaluation", "ftmo-1step")],
        split: 80,
    },
    Recipe {
        id: "the5ers-high-stakes",
        name: "The5ers High Stakes",
        description: "Two phases (8% then 5% target), 5% daily on the higher of start-of-day balance and \
         equity, 10% maximum loss, 3 profitable days; then funded, 80% profit split.",
        phases: &[
            ("Phase 1", "the5ers-high-stakes"),
            ("Phase 2", "the5ers-high-stakes-phase2"),
        ],
        split: 80,
    },
    Recipe {
        id: "fundednext-2step",
        name: "FundedNext Stellar 2-Step",
        description: "Two phases (8% then 5% target), 5% daily, 10% maximum loss, 5 trading days; then \
         funded, 80% profit split.",
        phases: &[
            ("Phase 1", "fundednext-2step"),
            ("Phase 2", "fundednext-2step-phase2"),
        ],
        split: 80,
    },
    Recipe {
        id: "topstep",
        name: "Topstep Trading Combine",
        description: "One evaluation: end-of-day trailing maximum loss locked at the initial balance, a \
         money target, 50% consistency; then funded, 90% profit split.",
        phases: &[("Evaluation", "topstep-eod-trailing")],
        split: 90,
    },
    Recipe {
        id: "apex",
        name: "Apex evaluation",
        description: "One evaluation: intraday trailing threshold that stops at the initial balance plus \
         100, a money target; then funded, 90% profit split.",
        phases: &[("Evaluation", "apex-intraday-trailing")],
        split: 90,
    },
    Recipe {
        id: "fund-policy",
        name: "Fund policy (seed 004)",
        description: "Funded only: MDL 5% and MML 10% of start-of-month balance, ODD 10% of peak balance; \
         80% profit split.",
        phases: &[],
        split: 80,
    },
];

/// The built-in programs, made from the engine's presets (their rules at
/// [`reference_balance`]; presets with money limits per account size take that size's).
pub fn templates() -> Vec<Template> {
    TEMPLATES
        .iter()
        .filter_map(|recipe| {
            let Recipe {
                id,
                name,
                description,
                phases,
                split,
            } = *recipe;
            let mut drafts = Vec::with_capacity(phases.len() + 1);
            for &(phase, preset_name) in phases {
                drafts.push(PhaseDraft {
                    name: phase.to_owned(),
                    funded: false,
                    rules: preset_draft(preset_name)?,
                    profit_split: None,
                    time_limit_days: None,
                    advance: Advance::default(),
                });
            }
            let mut funded = match phases.first() {
                Some(&(_, first)) => preset_draft(first)?,
                None => preset_draft("fund-policy")?,
            };
            funded.rules.retain(|rule| !rule.kind.is_objective());
            drafts.push(PhaseDraft {
                name: "Funded".to_owned(),
                funded: true,
                rules: funded,
                profit_split: Some(Decimal::from(split)),
                time_limit_days: None,
                advance: Advance::default(),
            });
            Some(Template {
                id,
                program: ProgramDraft {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    phases: drafts,
                },
            })
        })
        .collect()
}

/// The template with this id.
pub fn template(id: &str) -> Option<Template> {
    templates().into_iter().find(|template| template.id == id)
}

fn preset_draft(name: &str) -> Option<RuleSetDraft> {
    debug_assert!(PRESETS.iter().any(|(n, _)| *n == name), "{name}");
    let config = preset(name, reference_balance()).ok()?;
    Some(
        RuleSet {
            clock: config.clock,
            rules: config.rules,
            estimated_equity_breaches: config.estimated_equity_breaches,
            interest_dividend_tax: PlCounting::TradingPl,
        }
        .draft(),
    )
}

/// A funded phase's payout: of `profit`, the trader's share at `split` percent and the firm's,
/// each rounded to the cent half away from zero (the trader's share first; the firm's is the
/// rest, so the two add up to the profit). Nothing is paid on a loss.
pub fn payout(profit: Money, split: Decimal) -> (Money, Money) {
    if profit <= Decimal::ZERO {
        return (Decimal::ZERO, Decimal::ZERO);
    }
    let trader = (profit * split / Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    (trader, profit - trader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Challenge;
    use rust_decimal_macros::dec;

    #[test]
    fn every_template_is_a_valid_program_whose_phases_start_challenges() {
        let all = templates();
        assert_eq!(all.len(), TEMPLATES.len(), "every template builds");
        for template in all {
            template
                .program
                .validate()
                .unwrap_or_else(|error| panic!("{}: {error}", template.id));
            let last = template.program.phases.last().expect("phases");
            assert!(last.funded, "{}", template.id);
            for index in 0..template.program.phases.len() {
                let config = template
                    .program
                    .config(index, dec!(100000), template.id)
                    .expect("config");
                Challenge::new(config).expect("a challenge starts");
            }
        }
    }

    #[test]
    fn the_ftmo_template_is_phase_one_phase_two_then_funded_at_eighty_percent() {
        let ftmo = template("ftmo-2step").expect("template").program;
        let names: Vec<_> = ftmo.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Phase 1", "Phase 2", "Funded"]);
        assert_eq!(ftmo.phases[2].profit_split, Some(dec!(80)));
        let funded = ftmo.config(2, dec!(100000), "x").expect("funded");
        assert!(funded.rules.iter().all(|r| !r.kind.is_objective()));
        assert!(funded.rules.iter().any(|r| r.id == "daily_loss"));
        assert_eq!(ftmo.phase(" phase 2 ").map(|(i, _)| i), Some(1));
    }

    #[test]
    fn a_time_limit_becomes_a_max_duration_rule() {
        let mut ftmo = template("ftmo-2step").expect("template").program;
        ftmo.phases[0].time_limit_days = Some(30);
        ftmo.validate().expect("valid");
        let config = ftmo.config(0, dec!(50000), "x").expect("config");
        assert!(
            config.rules.iter().any(|rule| rule.id == TIME_LIMIT_RULE
                && rule.kind == RuleKind::MaxDuration { days: 30 })
        );
    }

    #[test]
    fn every_problem_is_named_with_its_phase() {
        let mut bad = template("ftmo-2step").expect("template").program;
        bad.name = " ".to_owned();
        bad.phases[1].name = "phase 1".to_owned();
        bad.phases[0].profit_split = Some(dec!(80));
        bad.phases[2].profit_split = Some(dec!(120));
        bad.phases[0].time_limit_days = Some(0);
        bad.phases[0].rules.time_zone = "Mars/Olympus".to_owned();
        let error = bad.validate().expect_err("refused");
        let all = error.problems.join("\n");
        for needle in [
            "the program needs a name",
            "phase 2 (phase 1): another phase has the same name",
            "phase 1 (Phase 1): only a funded phase has a profit split",
            "phase 3 (Funded): the profit split 120% is not between 0 and 100",
            "phase 1 (Phase 1): the time limit is between 1 and",
            "phase 1 (Phase 1): unknown time zone",
        ] {
            assert!(all.contains(needle), "{needle:?} not in:\n{all}");
        }
        let mut funded_first = template("ftmo-1step").expect("template").program;
        funded_first.phases.reverse();
        let all = funded_first
            .validate()
            .expect_err("refused")
            .problems
            .join("\n");
        assert!(
            all.contains("a funded phase is the program's last"),
            "{all}"
        );
        let mut no_objective = template("ftmo-1step").expect("template").program;
        no_objective.phases[0]
            .rules
            .rules
            .retain(|r| !r.kind.is_objective());
        let all = no_objective
            .validate()
            .expect_err("refused")
            .problems
            .join("\n");
        assert!(
            all.contains("an evaluation phase needs an objective"),
            "{all}"
        );
    }

    #[test]
    fn a_payout_withdrawn_from_a_funded_phase_is_not_a_loss() {
        use crate::domain::{AccountInfo, Deal, DealEntry, DealKind};
        use crate::engine::{ChallengeStatus, Record, RecordData};
        let ftmo = template("ftmo-2step").expect("template").program;
        let config = ftmo.config(2, dec!(100000), "funded").expect("funded");
        let mut challenge = Challenge::new(config).expect("challenge");
        let at = |minute: u32| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-12-01T10:{minute:02}:00Z"))
                .expect("time")
                .with_timezone(&chrono::Utc)
        };
        let info = |minute: u32, balance: Money| {
            Record::new(
                at(minute),
                RecordData::AccountInformation(AccountInfo {
                    balance,
                    equity: balance,
                    margin: Decimal::ZERO,
                    free_margin: balance,
                    margin_level: None,
                    currency: "USD".into(),
                    leverage: None,
                    credit: Decimal::ZERO,
                }),
            )
        };
        let deal = |minute: u32, kind: DealKind, entry: Option<DealEntry>, profit: Money| {
            Record::new(
                at(minute),
                RecordData::Deal(Deal {
                    id: format!("d{minute}"),
                    kind,
                    entry,
                    symbol: None,
                    time: at(minute),
                    volume: None,
                    price: None,
                    profit,
                    commission: Decimal::ZERO,
                    swap: Decimal::ZERO,
                    position_id: None,
                    reason: None,
                }),
            )
        };
        let mut events = Vec::new();
        for record in [
            info(0, dec!(100000)),
            deal(1, DealKind::Sell, Some(DealEntry::Out), dec!(9000)),
            info(2, dec!(109000)),
            // The trader's 80% of 9,000 paid out: 7,200 leaves the account, more than the
            // day's 5% and close to the 10% maximum loss if it were counted as one.
            deal(3, DealKind::Balance, None, dec!(-7200)),
            info(4, dec!(101800)),
        ] {
            challenge.apply(&record, &mut events).expect("apply");
        }
        assert_eq!(challenge.status(), ChallengeStatus::Active, "{events:?}");
        assert_eq!(payout(dec!(9000), dec!(80)), (dec!(7200), dec!(1800)));
    }

    #[test]
    fn a_payout_splits_the_profit_to_the_cent() {
        assert_eq!(payout(dec!(1000), dec!(80)), (dec!(800), dec!(200)));
        assert_eq!(payout(dec!(0.05), dec!(90)), (dec!(0.05), dec!(0)));
        assert_eq!(payout(dec!(333.33), dec!(80)), (dec!(266.66), dec!(66.67)));
        assert_eq!(payout(dec!(-50), dec!(80)), (dec!(0), dec!(0)));
    }
}
