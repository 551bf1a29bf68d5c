//! Firms' rule sets by name, with their exact parameters.
//!
//! Sources: the firms' public help pages as paraphrased in `prop-rules.md` (FTMO academy and
//! trading-objectives pages, The5ers, FundedNext, Topstep and Apex help centres) and seed 004
//! for `fund-policy`. Firms change their terms: every number here is a parameter of a
//! [`RuleKind`], so a custom rule set is one [`ChallengeConfig`] away.
//!
//! | preset | clock | rules |
//! |---|---|---|
//! | `ftmo-2step` = `ftmo-2step-phase1` | 00:00 Europe/Prague | `daily_loss` 5% of IB under start-of-day balance; `max_loss` 10% of IB, static; `profit_target` 10% of IB on closed balance, no open positions; `min_trading_days` 4 |
//! | `ftmo-2step-phase2` | 00:00 Europe/Prague | as phase 1 with `profit_target` 5% |
//! | `ftmo-1step` | 00:00 Europe/Prague | `daily_loss` 3% of IB under start-of-day balance; `max_loss` 10% of IB under max(IB, highest end-of-day balance); `profit_target` 10%; `best_day` 50% (soft) |
//! | `the5ers-high-stakes` (phase 1), `the5ers-high-stakes-phase2` | 17:00 America/New_York (server midnight GMT+2/+3) | `daily_loss` 5% of max(start-of-day balance, start-of-day equity); `max_loss` 10% of IB, static; `profit_target` 8% (phase 2: 5%); `min_profitable_days` 3 days of closed P/L >= 0.5% of IB |
//! | `fundednext-2step` (phase 1), `fundednext-2step-phase2` | 17:00 America/New_York | `daily_loss` 5% of IB under start-of-day balance; `max_loss` 10% of IB, static; `profit_target` 8% (phase 2: 5%); `min_trading_days` 5 |
//! | `topstep-eod-trailing` | 17:00 America/New_York | `max_loss` end-of-day trailing (50K: 2,000; 100K: 3,000; 150K: 4,500), locked at IB; `profit_target` (3,000 / 6,000 / 9,000); `best_day` 50% |
//! | `apex-intraday-trailing` | 17:00 America/New_York | `max_loss` trailing the highest intraday equity (25K: 1,500; 50K: 2,500; 100K: 3,000; 150K: 5,000; 250K: 6,500; 300K: 7,500), stops trailing at IB + 100; `profit_target` (1,500 / 3,000 / 6,000 / 9,000 / 15,000 / 20,000) |
//! | `fund-policy` | 00:00 UTC | `mdl` 5% of start-of-month balance per day, under start-of-day balance; `mml` 10% of start-of-month balance; `odd` 10% of peak balance under peak balance; no objectives |
//!
//! Topstep and Apex state their limits in money per account size: the tier used is the largest
//! whose size is at most the initial balance (the smallest tier below it).

use crate::domain::Money;
use rust_decimal::Decimal;

use super::EngineError;
use super::clock::ResetClock;
use super::rules::{
    DailyAnchor, DayProfit, Limit, MaxLossMode, Measure, ProfitBasis, RuleDef, RuleKind, Severity,
};
use super::state::{Challenge, ChallengeConfig};

/// Every preset name with a one-line description.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "ftmo-2step",
        "FTMO 2-Step Challenge (phase 1): 5% daily, 10% static max loss, 10% target, 4 days",
    ),
    (
        "ftmo-2step-phase1",
        "FTMO 2-Step Challenge (phase 1), same as ftmo-2step",
    ),
    (
        "ftmo-2step-phase2",
        "FTMO 2-Step Verification (phase 2): 5% daily, 10% max loss, 5% target, 4 days",
    ),
    (
        "ftmo-1step",
        "FTMO 1-Step: 3% daily, 10% end-of-day trailing max loss, 10% target, best day 50%",
    ),
    (
        "the5ers-high-stakes",
        "The5ers High Stakes (phase 1): 5% daily on max(SOD balance, equity), 10% max loss, 8% target",
    ),
    (
        "the5ers-high-stakes-phase2",
        "The5ers High Stakes (phase 2): as phase 1 with a 5% target",
    ),
    (
        "fundednext-2step",
        "FundedNext Stellar 2-Step (phase 1): 5% daily, 10% max loss, 8% target, 5 days",
    ),
    (
        "fundednext-2step-phase2",
        "FundedNext Stellar 2-Step (phase 2): as phase 1 with a 5% target",
    ),
    (
        "topstep-eod-trailing",
        "Topstep Trading Combine: end-of-day trailing max loss locked at IB, money target, 50% consistency",
    ),
    (
        "apex-intraday-trailing",
        "Apex evaluation: intraday trailing threshold that stops at IB + 100, money target",
    ),
    (
        "fund-policy",
        "Seed 004 fund policy: MDL 5% and MML 10% of start-of-month balance, ODD 10% of peak balance",
    ),
];

fn pct(value: i64) -> Decimal {
    Decimal::from(value)
}

fn money(value: i64) -> Limit {
    Limit::Money(Decimal::from(value))
}

fn daily_balance(percent: Decimal) -> RuleDef {
    RuleDef::new(
        "daily_loss",
        RuleKind::DailyLoss {
            anchor: DailyAnchor::StartOfDayBalance,
            limit: Limit::PercentOfInitial(percent),
            measure: Measure::Equity,
            breach_at_floor: false,
        },
    )
}

fn static_max(percent: i64) -> RuleDef {
    RuleDef::new(
        "max_loss",
        RuleKind::MaxLoss {
            mode: MaxLossMode::Static,
            limit: Limit::PercentOfInitial(pct(percent)),
            lock_above_initial: None,
            measure: Measure::Equity,
            breach_at_floor: false,
        },
    )
}

fn target(limit: Limit) -> RuleDef {
    RuleDef::new(
        "profit_target",
        RuleKind::ProfitTarget {
            target: limit,
            basis: ProfitBasis::ClosedBalance,
        },
    )
}

fn min_days(days: u32) -> RuleDef {
    RuleDef::new(
        "min_trading_days",
        RuleKind::MinTradingDays {
            days,
            min_day_profit: None,
            day_profit: DayProfit::Closed,
        },
    )
}

fn best_day() -> RuleDef {
    RuleDef::new(
        "best_day",
        RuleKind::BestDay {
            max_share_percent: pct(50),
        },
    )
    .with_severity(Severity::Soft)
}

/// The largest tier whose size is at most `initial` (the smallest tier when all are larger).
fn tier(initial: Money, tiers: &[(i64, i64, i64)]) -> (i64, i64) {
    let mut chosen = tiers.first().map_or((0, 0), |t| (t.1, t.2));
    for &(size, drawdown, goal) in tiers {
        if Decimal::from(size) <= initial {
            chosen = (drawdown, goal);
        }
    }
    chosen
}

/// The configuration of preset `name` for a challenge starting with `initial_balance`.
pub fn preset(name: &str, initial_balance: Money) -> Result<ChallengeConfig, EngineError> {
    let prague = ResetClock::prague_midnight();
    let new_york = ResetClock::new_york_five_pm();
    let (clock, rules) = match name {
        "ftmo-2step" | "ftmo-2step-phase1" | "ftmo-2step-phase2" => {
            let goal = if name.ends_with("phase2") { 5 } else { 10 };
            (
                prague,
                vec![
                    daily_balance(pct(5)),
                    static_max(10),
                    target(Limit::PercentOfInitial(pct(goal))),
                    min_days(4),
                ],
            )
        }
        "ftmo-1step" => (
            prague,
            vec![
                daily_balance(pct(3)),
                RuleDef::new(
                    "max_loss",
                    RuleKind::MaxLoss {
                        mode: MaxLossMode::TrailingEndOfDayBalance,
                        limit: Limit::PercentOfInitial(pct(10)),
                        lock_above_initial: None,
                        measure: Measure::Equity,
                        breach_at_floor: false,
                    },
                ),
                target(Limit::PercentOfInitial(pct(10))),
                best_day(),
            ],
        ),
        "the5ers-high-stakes" | "the5ers-high-stakes-phase2" => {
            let goal = if name.ends_with("phase2") { 5 } else { 8 };
            (
                new_york,
                vec![
                    RuleDef::new(
                        "daily_loss",
                        RuleKind::DailyLoss {
                            anchor: DailyAnchor::HigherOfStartOfDayBalanceAndEquity,
                            limit: Limit::PercentOfAnchor(pct(5)),
                            measure: Measure::Equity,
                            breach_at_floor: false,
                        },
                    ),
                    static_max(10),
                    target(Limit::PercentOfInitial(pct(goal))),
                    RuleDef::new(
                        "min_profitable_days",
                        RuleKind::MinTradingDays {
                            days: 3,
                            min_day_profit: Some(Limit::PercentOfInitial(Decimal::new(5, 1))),
                            day_profit: DayProfit::Closed,
                        },
                    ),
                ],
            )
        }
        "fundednext-2step" | "fundednext-2step-phase2" => {
            let goal = if name.ends_with("phase2") { 5 } else { 8 };
            (
                new_york,
                vec![
                    daily_balance(pct(5)),
                    static_max(10),
                    target(Limit::PercentOfInitial(pct(goal))),
                    min_days(5),
                ],
            )
        }
        "topstep-eod-trailing" => {
            let (drawdown, goal) = tier(
                initial_balance,
                &[
                    (50_000, 2_000, 3_000),
                    (100_000, 3_000, 6_000),
                    (150_000, 4_500, 9_000),
                ],
            );
            (
                new_york,
                vec![
                    RuleDef::new(
                        "max_loss",
                        RuleKind::MaxLoss {
                            mode: MaxLossMode::TrailingEndOfDayBalance,
                            limit: money(drawdown),
                            lock_above_initial: Some(Decimal::ZERO),
                            measure: Measure::Equity,
                            breach_at_floor: false,
                        },
                    ),
                    target(money(goal)),
                    best_day(),
                ],
            )
        }
        "apex-intraday-trailing" => {
            let (drawdown, goal) = tier(
                initial_balance,
                &[
                    (25_000, 1_500, 1_500),
                    (50_000, 2_500, 3_000),
                    (100_000, 3_000, 6_000),
                    (150_000, 5_000, 9_000),
                    (250_000, 6_500, 15_000),
                    (300_000, 7_500, 20_000),
                ],
            );
            (
                new_york,
                vec![
                    RuleDef::new(
                        "max_loss",
                        RuleKind::MaxLoss {
                            mode: MaxLossMode::TrailingPeakEquity,
                            limit: money(drawdown),
                            lock_above_initial: Some(Decimal::ONE_HUNDRED),
                            measure: Measure::Equity,
                            breach_at_floor: false,
                        },
                    ),
                    target(money(goal)),
                ],
            )
        }
        "fund-policy" => (
            ResetClock::utc_midnight(),
            vec![
                RuleDef::new(
                    "mdl",
                    RuleKind::DailyLoss {
                        anchor: DailyAnchor::StartOfDayBalance,
                        limit: Limit::PercentOfMonthStartBalance(pct(5)),
                        measure: Measure::Equity,
                        breach_at_floor: false,
                    },
                ),
                RuleDef::new(
                    "mml",
                    RuleKind::MonthlyLoss {
                        limit: Limit::PercentOfAnchor(pct(10)),
                        measure: Measure::Equity,
                        breach_at_floor: false,
                    },
                ),
                RuleDef::new(
                    "odd",
                    RuleKind::MaxLoss {
                        mode: MaxLossMode::TrailingPeakBalance,
                        limit: Limit::PercentOfAnchor(pct(10)),
                        lock_above_initial: None,
                        measure: Measure::Equity,
                        breach_at_floor: false,
                    },
                ),
            ],
        ),
        _ => {
            return Err(EngineError::UnknownPreset {
                name: name.to_owned(),
                known: PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    };
    Ok(ChallengeConfig {
        preset: name.to_owned(),
        initial_balance,
        clock,
        rules,
        estimated_equity_breaches: false,
        interest_dividend_tax: super::state::PlCounting::TradingPl,
    })
}

/// A preset's name for a person and its phase: the description up to its first colon, and
/// "Phase 1", "Phase 2" or "Evaluation" ("Funded" for `fund-policy`); `None` for a name that is
/// not a preset (a custom rule set).
pub fn describe(name: &str) -> Option<(&'static str, &'static str)> {
    let &(_, description) = PRESETS.iter().find(|(n, _)| *n == name)?;
    let title = description.split(':').next().unwrap_or(description);
    let title = title.split(" (phase").next().unwrap_or(title);
    let title = title.split(", same as").next().unwrap_or(title);
    let phase = if name.ends_with("phase2") {
        "Phase 2"
    } else if name == "fund-policy" {
        "Funded"
    } else if name.contains("2step") || name.contains("high-stakes") {
        "Phase 1"
    } else {
        "Evaluation"
    };
    Some((title, phase))
}

impl Challenge {
    /// Starts a challenge from a named preset (see [`PRESETS`]).
    pub fn from_preset(name: &str, initial_balance: Money) -> Result<Self, EngineError> {
        Self::new(preset(name, initial_balance)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_a_title_and_a_phase() {
        assert_eq!(
            describe("ftmo-2step"),
            Some(("FTMO 2-Step Challenge", "Phase 1"))
        );
        assert_eq!(
            describe("ftmo-2step-phase2"),
            Some(("FTMO 2-Step Verification", "Phase 2"))
        );
        assert_eq!(
            describe("apex-intraday-trailing"),
            Some(("Apex evaluation", "Evaluation"))
        );
        assert_eq!(describe("fund-policy").map(|(_, p)| p), Some("Funded"));
        assert_eq!(describe("custom"), None);
        for (name, _) in PRESETS {
            assert!(
                describe(name).is_some_and(|(title, _)| !title.is_empty()),
                "{name}"
            );
        }
    }
}
