//! Property tests: the incremental engine agrees with a naive recompute-from-history oracle.
//!
//! The oracle knows nothing of the engine's running state: for every prefix of a random record
//! stream it recomputes anchors, floors and metrics from scratch with the plainest formulas
//! (FTMO 2-Step at midnight Europe/Prague, and seed 004's fund policy at midnight UTC, both on
//! 100,000, so a trading day is a calendar date in the firm's zone).

use super::tests::{account, close, deposit, open, run, t};
use super::*;
use crate::domain::Side;
use chrono::{Datelike, NaiveDate, TimeDelta};
use chrono_tz::Tz;
use proptest::prelude::*;
use rust_decimal_macros::dec;

const INITIAL: Decimal = dec!(100000);

#[derive(Clone, Debug)]
enum Step {
    /// `announces`: the amount of the deposit that follows at once, already in this balance.
    Account {
        balance: Decimal,
        equity: Decimal,
        announces: Decimal,
    },
    /// `dated`: the deal's own time (before the record's when it arrives late); `announced`:
    /// the account update just before already holds it.
    Close {
        pl: Decimal,
        lots: Decimal,
        dated: DateTime<Utc>,
        announced: bool,
    },
    Open,
    Deposit {
        amount: Decimal,
        announced: bool,
    },
    Tick,
    /// An empty `Positions` record: no position is open.
    Flat,
}

/// The preset under test: `ftmo-2step` (midnight Prague) or `fund-policy` (midnight UTC).
#[derive(Clone, Copy, Debug)]
enum Firm {
    Ftmo,
    Fund,
}

impl Firm {
    fn preset(self) -> &'static str {
        match self {
            Firm::Ftmo => "ftmo-2step",
            Firm::Fund => "fund-policy",
        }
    }

    /// The trading day: the calendar date in the firm's zone (both reset at midnight).
    fn day(self, time: DateTime<Utc>) -> NaiveDate {
        match self {
            Firm::Ftmo => time.with_timezone(&Tz::Europe__Prague).date_naive(),
            Firm::Fund => time.date_naive(),
        }
    }
}

/// Builds a stream starting on one of a few dates around the daylight-saving changes. Account
/// updates report the balance the deals made; some come before the deal they hold (the broker
/// syncs history late), and some deals arrive after the reset that followed them.
fn stream(start: usize, raw: &[(u32, u8, i32, i32)]) -> Vec<(DateTime<Utc>, Step)> {
    let starts = [
        "2026-03-26T08:00:00Z",
        "2026-10-22T08:00:00Z",
        "2026-01-28T08:00:00Z",
    ];
    let mut time = t(starts[start % starts.len()]);
    let mut balance = INITIAL;
    let mut out = Vec::new();
    for &(gap, kind, a, b) in raw {
        time += TimeDelta::minutes(i64::from(gap));
        let announced = b.rem_euclid(3) == 0;
        let announce = |out: &mut Vec<_>, balance: Decimal, announces| {
            out.push((
                time,
                Step::Account {
                    balance,
                    equity: balance,
                    announces,
                },
            ));
        };
        let step = match kind {
            0..=4 => Step::Account {
                balance,
                equity: if b % 4 == 0 {
                    balance
                } else {
                    balance + Decimal::from(b)
                },
                announces: Decimal::ZERO,
            },
            5 | 6 => {
                let pl = Decimal::from(a) / dec!(2);
                balance += pl;
                let late = !announced && b.rem_euclid(5) == 1;
                if announced {
                    announce(&mut out, balance, Decimal::ZERO);
                }
                Step::Close {
                    pl,
                    lots: [dec!(0.01), dec!(0.5), dec!(1)][b.unsigned_abs() as usize % 3],
                    dated: if late {
                        time - TimeDelta::minutes(90)
                    } else {
                        time
                    },
                    announced,
                }
            }
            7 => Step::Open,
            8 => {
                let amount = Decimal::from(a) * dec!(2);
                balance += amount;
                if announced {
                    announce(&mut out, balance, amount);
                }
                Step::Deposit { amount, announced }
            }
            9 if a % 2 == 0 => Step::Flat,
            _ => Step::Tick,
        };
        out.push((time, step));
    }
    out
}

fn to_record(time: DateTime<Utc>, step: &Step) -> Record {
    let at = time.to_rfc3339();
    match step {
        Step::Account {
            balance, equity, ..
        } => account(&at, *balance, *equity),
        Step::Close {
            pl, lots, dated, ..
        } => {
            let mut record = close(&at, *pl, *lots);
            if let RecordData::Deal(deal) = &mut record.data {
                deal.time = *dated;
            }
            record
        }
        Step::Open => open(&at),
        Step::Deposit { amount, .. } => deposit(&at, *amount),
        Step::Tick => Record::new(time, RecordData::Tick {}),
        Step::Flat => super::tests::positions(&at, vec![]),
    }
}

/// What the oracle says about a whole prefix.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: ChallengeStatus,
    /// Time and rules of the first breach.
    breach: Option<(DateTime<Utc>, Vec<String>)>,
    balance: Decimal,
    equity: Decimal,
    start_of_day_balance: Decimal,
    peak_balance: Decimal,
    peak_equity: Decimal,
    realized_loss_mtd: Decimal,
    consecutive_losing_trades: u32,
    trades: u32,
    trading_days: u32,
}

/// The account's balance and equity as known after `steps`: the last account update, plus
/// the deals it did not hold (deposits move equity too). Before any account update (deal
/// history alone) equity is unknown and stands at the balance.
fn known(steps: &[(DateTime<Utc>, Step)]) -> (Decimal, Decimal) {
    let reported = |i: usize| {
        steps[..i]
            .iter()
            .any(|(_, s)| matches!(s, Step::Account { .. }))
    };
    steps
        .iter()
        .enumerate()
        .fold((INITIAL, INITIAL), |(b, e), (i, (_, step))| match step {
            Step::Account {
                balance, equity, ..
            } => (*balance, *equity),
            Step::Deposit {
                amount,
                announced: false,
            } => (b + amount, e + amount),
            Step::Close {
                pl,
                announced: false,
                ..
            } if !reported(i) => (b + pl, b + pl),
            Step::Close {
                pl,
                announced: false,
                ..
            } => (b + pl, e),
            _ => (b, e),
        })
}

fn deposits(steps: &[(DateTime<Utc>, Step)]) -> Decimal {
    steps
        .iter()
        .map(|(_, s)| match s {
            Step::Deposit { amount, .. } => *amount,
            _ => Decimal::ZERO,
        })
        .sum()
}

/// Closed P/L of the deals in `steps` dated on a day for which `before` holds.
fn closed_pl(
    firm: Firm,
    steps: &[(DateTime<Utc>, Step)],
    before: impl Fn(NaiveDate) -> bool,
) -> Decimal {
    steps
        .iter()
        .map(|(_, s)| match s {
            Step::Close { pl, dated, .. } if before(firm.day(*dated)) => *pl,
            _ => Decimal::ZERO,
        })
        .sum()
}

/// Start-of-day balance for the day of the last step of `prefix`: the initial balance, every
/// deposit, and the closed P/L of deals dated on earlier days (whenever they arrived).
fn start_of_day_balance(firm: Firm, prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    let Some((now, _)) = prefix.last() else {
        return INITIAL;
    };
    let today = firm.day(*now);
    INITIAL + deposits(prefix) + closed_pl(firm, prefix, |d| d < today)
}

/// Start-of-month balance for the month of the last step of `prefix`, alike.
fn start_of_month_balance(firm: Firm, prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    let Some((now, _)) = prefix.last() else {
        return INITIAL;
    };
    let today = firm.day(*now);
    let month = (today.year(), today.month());
    INITIAL + deposits(prefix) + closed_pl(firm, prefix, |d| (d.year(), d.month()) < month)
}

/// Peak balance: as [`peak`], and before any account update also the balance after each
/// closed trade of the history.
fn peak_balance(prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    let mut best = peak(prefix, step_balance);
    for (i, (_, step)) in prefix.iter().enumerate() {
        if matches!(step, Step::Account { .. }) {
            break;
        }
        if matches!(step, Step::Close { .. }) {
            best = best.max(known(&prefix[..=i]).0 + deposits(&prefix[i + 1..]));
        }
    }
    best
}

/// Peak of a value: the initial balance or any reported value, each carried up by the deposits
/// that came after it (but not by the one it already held).
fn peak(prefix: &[(DateTime<Utc>, Step)], pick: fn(&Step) -> Option<Decimal>) -> Decimal {
    let mut best = INITIAL + deposits(prefix);
    for (i, (_, step)) in prefix.iter().enumerate() {
        if let Some(value) = pick(step) {
            let held = match step {
                Step::Account { announces, .. } => *announces,
                _ => Decimal::ZERO,
            };
            best = best.max(value + deposits(&prefix[i + 1..]) - held);
        }
    }
    best
}

fn trading_days(firm: Firm, prefix: &[(DateTime<Utc>, Step)]) -> u32 {
    let mut days: Vec<NaiveDate> = prefix
        .iter()
        .filter(|(_, s)| matches!(s, Step::Open))
        .map(|(time, _)| firm.day(*time))
        .collect();
    days.sort();
    days.dedup();
    days.len() as u32
}

fn oracle(firm: Firm, steps: &[(DateTime<Utc>, Step)]) -> Outcome {
    let mut status = ChallengeStatus::Active;
    let mut breach = None;
    for k in 0..steps.len() {
        let prefix = &steps[..=k];
        let (balance, equity) = known(prefix);
        if let Step::Account { announces, .. } = prefix[k].1 {
            // A balance change reported before its deal is decided once the deal says what it
            // was: an announced deposit or withdrawal moves the floors it is measured against
            // (its deal follows at once in these streams).
            let measured_with = if announces.is_zero() {
                prefix
            } else {
                &steps[..(k + 2).min(steps.len())]
            };
            let sod = start_of_day_balance(firm, measured_with);
            let som = start_of_month_balance(firm, measured_with);
            let floors = match firm {
                // Daily: SOD balance - 5% of IB; max: IB + deposits - 10% of IB.
                Firm::Ftmo => vec![
                    ("daily_loss", sod - dec!(5000)),
                    ("max_loss", INITIAL + deposits(measured_with) - dec!(10000)),
                ],
                // MDL: SOD balance - 5% of SOM balance; MML: 90% of SOM balance; ODD: 90% of
                // the peak balance.
                Firm::Fund => vec![
                    ("mdl", sod - som * dec!(0.05)),
                    ("mml", som * dec!(0.9)),
                    ("odd", peak_balance(measured_with) * dec!(0.9)),
                ],
            };
            let rules: Vec<String> = floors
                .iter()
                .filter(|(_, floor)| equity < *floor)
                .map(|(id, _)| (*id).to_owned())
                .collect();
            if !rules.is_empty() {
                breach = Some((prefix[k].0, rules));
                status = ChallengeStatus::Failed;
                break;
            }
        }
        // The target counts trading P/L only, with no position known to be open.
        let flat = prefix.iter().any(|(_, s)| matches!(s, Step::Flat));
        if matches!(firm, Firm::Ftmo)
            && closed_pl(firm, prefix, |_| true) >= dec!(10000)
            && flat
            && equity == balance
            && trading_days(firm, prefix) >= 4
        {
            status = ChallengeStatus::Passed;
            break;
        }
    }
    let (balance, equity) = known(steps);
    let month = steps.last().map(|(time, _)| firm.day(*time));
    let same_month = |time: &DateTime<Utc>| {
        month.is_some_and(|m| {
            let d = firm.day(*time);
            (d.year(), d.month()) == (m.year(), m.month())
        })
    };
    // Losses of deals dated in this month.
    let realized_loss_mtd = steps
        .iter()
        .map(|(_, s)| match s {
            Step::Close { pl, dated, .. } if *pl < Decimal::ZERO && same_month(dated) => -*pl,
            _ => Decimal::ZERO,
        })
        .sum();
    // Seed 004's loop, verbatim: newest first, skip tiny trades, count losses, stop at a win.
    // Newest by the deal's own time: a deal that arrives late takes its place in the streak.
    let mut closes: Vec<_> = steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Close {
                pl, lots, dated, ..
            } => Some((*dated, *pl, *lots)),
            _ => None,
        })
        .collect();
    closes.sort_by_key(|(dated, _, _)| *dated);
    let closes: Vec<_> = closes.into_iter().map(|(_, pl, lots)| (pl, lots)).collect();
    let mut consecutive = 0;
    for (pl, lots) in closes.iter().rev() {
        if *lots <= dec!(0.01) {
            continue;
        }
        if *pl < Decimal::ZERO {
            consecutive += 1;
        } else if *pl > Decimal::ZERO {
            break;
        }
    }
    Outcome {
        status,
        breach,
        balance,
        equity,
        start_of_day_balance: start_of_day_balance(firm, steps),
        peak_balance: peak_balance(steps),
        peak_equity: peak(steps, |s| match s {
            Step::Account { equity, .. } => Some(*equity),
            _ => None,
        }),
        realized_loss_mtd,
        consecutive_losing_trades: consecutive,
        trades: closes.len() as u32,
        trading_days: trading_days(firm, steps),
    }
}

fn step_balance(step: &Step) -> Option<Decimal> {
    match step {
        Step::Account { balance, .. } => Some(*balance),
        _ => None,
    }
}

fn engine(firm: Firm, steps: &[(DateTime<Utc>, Step)]) -> Outcome {
    let records: Vec<Record> = steps.iter().map(|(time, s)| to_record(*time, s)).collect();
    let mut challenge = Challenge::from_preset(firm.preset(), INITIAL).expect("preset");
    let events = run(&mut challenge, &records);
    let first_breach = events
        .iter()
        .find(|e| e.kind == EventKind::Breach)
        .map(|e| e.time);
    let breach = first_breach.map(|time| {
        let rules = events
            .iter()
            .filter(|e| e.kind == EventKind::Breach && e.time == time)
            .filter_map(|e| e.rule.clone())
            .collect();
        (time, rules)
    });
    let m = challenge.metrics();
    Outcome {
        status: challenge.status(),
        breach,
        balance: m.balance,
        equity: m.equity,
        start_of_day_balance: m.start_of_day_balance,
        peak_balance: m.peak_balance,
        peak_equity: m.peak_equity,
        realized_loss_mtd: m.realized_loss_mtd,
        consecutive_losing_trades: m.consecutive_losing_trades,
        trades: m.trades,
        trading_days: m.trading_days,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn engine_agrees_with_recompute_from_history(
        start in 0usize..3,
        fund in any::<bool>(),
        raw in prop::collection::vec((1u32..1800, 0u8..10, -2500i32..2600, -3000i32..1000), 1..60),
    ) {
        let firm = if fund { Firm::Fund } else { Firm::Ftmo };
        let steps = stream(start, &raw);
        prop_assert_eq!(engine(firm, &steps), oracle(firm, &steps));
    }

    #[test]
    fn state_round_trips_through_json_anywhere_in_a_stream(
        raw in prop::collection::vec((1u32..1800, 0u8..10, -2500i32..2600, -3000i32..1000), 1..30),
        cut in 0usize..30,
    ) {
        let steps = stream(0, &raw);
        let records: Vec<Record> = steps.iter().map(|(time, s)| to_record(*time, s)).collect();
        let (first, second) = records.split_at(cut.min(records.len()));
        let mut straight = Challenge::from_preset("ftmo-2step", INITIAL).expect("preset");
        run(&mut straight, &records);
        let mut resumed = Challenge::from_preset("ftmo-2step", INITIAL).expect("preset");
        run(&mut resumed, first);
        let json = serde_json::to_string(&resumed).expect("serialise");
        let mut resumed: Challenge = serde_json::from_str(&json).expect("deserialise");
        run(&mut resumed, second);
        prop_assert_eq!(resumed, straight);
    }

    #[test]
    fn arbitrary_records_never_panic(
        raw in prop::collection::vec(
            (-30i64..3000, 0u8..9, any::<i64>(), any::<u32>(), any::<bool>(), any::<i64>()),
            1..40,
        ),
    ) {
        // Every rule kind at once, on the New York clock; times mostly in order (a few
        // records go back and are refused), amounts anywhere from tiny to absurd.
        let mut challenge = every_rule();
        let mut events = Vec::new();
        let mut time = t("2026-01-01T00:00:00Z");
        for (minutes, kind, a, scale, flag, b) in raw {
            let amount = |x: i64, s: u32| {
                let v = Decimal::new(x, s % 29);
                if flag { v } else { v.clamp(dec!(-999999999999999), dec!(999999999999999)) }
            };
            let value = amount(a, scale);
            let other = amount(b, scale / 29);
            time += TimeDelta::minutes(minutes);
            let at = time.to_rfc3339();
            let record = match kind {
                0 => {
                    let mut r = account(&at, value, other);
                    if let RecordData::AccountInformation(info) = &mut r.data {
                        info.margin = other.abs();
                        info.margin_level = Some(value);
                    }
                    r
                }
                1 => {
                    let mut r = close(&at, value, other.abs());
                    if let RecordData::Deal(deal) = &mut r.data {
                        deal.time -= TimeDelta::minutes(b.rem_euclid(3000));
                    }
                    r
                }
                2 => {
                    // A deposit, or an interest, dividend or tax deal (counted as balance
                    // operations by this rule set).
                    let mut r = deposit(&at, value);
                    if let RecordData::Deal(deal) = &mut r.data {
                        deal.kind = match b.rem_euclid(4) {
                            0 => crate::domain::DealKind::Balance,
                            1 => crate::domain::DealKind::Interest,
                            2 => crate::domain::DealKind::Dividend,
                            _ => crate::domain::DealKind::Tax,
                        };
                    }
                    r
                }
                3 => super::tests::spec(&at, value.abs()),
                4 => super::tests::price(&at, value.abs()),
                5 => super::tests::quote(&at, value),
                6 => Record::new(time, RecordData::Tick {}),
                7 => open(&at),
                _ => super::tests::positions(&at, vec![
                    super::tests::position(
                        "p",
                        if flag { Side::Buy } else { Side::Sell },
                        other.abs(),
                        value,
                        Some(other),
                        &at,
                    ),
                    super::tests::position("q", Side::Buy, value.abs(), other, Some(value), &at),
                ]),
            };
            // Refused or accepted, never a panic; the report always serialises.
            let _ = challenge.apply(&record, &mut events);
            let _ = challenge.report();
        }
        prop_assert!(serde_json::to_string(&challenge.report()).is_ok());
        prop_assert!(serde_json::to_string(&challenge).is_ok());
    }
}

/// A rule set holding every rule kind (and every daily anchor, max-loss mode, period, measure,
/// day-profit measure and the breach-at-the-floor option).
fn every_rule() -> Challenge {
    use RuleKind::*;
    let rule = |id: &str, kind| RuleDef::new(id, kind);
    let percent = |p| Limit::PercentOfAnchor(p);
    Challenge::new(ChallengeConfig {
        preset: "every-rule".into(),
        initial_balance: INITIAL,
        clock: ResetClock::new_york_five_pm(),
        rules: vec![
            rule(
                "daily",
                DailyLoss {
                    anchor: DailyAnchor::HigherOfStartOfDayBalanceAndEquity,
                    limit: percent(dec!(5)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "daily_month",
                DailyLoss {
                    anchor: DailyAnchor::StartOfMonthBalance,
                    limit: Limit::PercentOfMonthStartBalance(dec!(5)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "daily_equity",
                DailyLoss {
                    anchor: DailyAnchor::StartOfDayEquity,
                    limit: Limit::Money(dec!(3000)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "daily_balance",
                DailyLoss {
                    anchor: DailyAnchor::StartOfDayBalance,
                    limit: Limit::PercentOfInitial(dec!(4)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "static",
                MaxLoss {
                    mode: MaxLossMode::Static,
                    limit: Limit::PercentOfInitial(dec!(10)),
                    lock_above_initial: None,
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "trailing_equity",
                MaxLoss {
                    mode: MaxLossMode::TrailingPeakEquity,
                    limit: percent(dec!(10)),
                    lock_above_initial: Some(dec!(100)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "trailing_balance",
                MaxLoss {
                    mode: MaxLossMode::TrailingPeakBalance,
                    limit: Limit::Money(dec!(10000)),
                    lock_above_initial: None,
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "trailing_eod",
                MaxLoss {
                    mode: MaxLossMode::TrailingEndOfDayBalance,
                    limit: Limit::PercentOfInitial(dec!(6)),
                    lock_above_initial: Some(dec!(0)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "monthly",
                MonthlyLoss {
                    limit: Limit::PercentOfMonthStartBalance(dec!(10)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "target",
                ProfitTarget {
                    target: Limit::PercentOfInitial(dec!(10)),
                    basis: ProfitBasis::Equity,
                },
            ),
            rule(
                "target_closed",
                ProfitTarget {
                    target: Limit::Money(dec!(5000)),
                    basis: ProfitBasis::ClosedBalance,
                },
            ),
            rule(
                "days",
                MinTradingDays {
                    days: 2,
                    min_day_profit: Some(Limit::PercentOfInitial(dec!(0.5))),
                    day_profit: DayProfit::Closed,
                },
            ),
            rule("duration", MaxDuration { days: 36500 }),
            rule(
                "best_day",
                BestDay {
                    max_share_percent: dec!(50),
                },
            ),
            rule("lots", MaxLotsPerPosition { lots: dec!(5) }),
            rule("open", MaxOpenPositions { count: 3 }),
            rule("stop", StopLossRequired),
            rule("risk", MaxRiskPerPosition { percent: dec!(2) }),
            rule("open_risk", TotalOpenRisk { percent: dec!(100) }),
            rule(
                "streak",
                ConsecutiveLosses {
                    max: 3,
                    min_lots: dec!(0.01),
                },
            ),
            rule(
                "margin",
                MarginLevel {
                    warning: dec!(100),
                    critical: dec!(50),
                },
            ),
            rule(
                "day_high",
                DailyLoss {
                    anchor: DailyAnchor::HighestEquityOfDay,
                    limit: percent(dec!(3)),
                    measure: Measure::Equity,
                    breach_at_floor: true,
                },
            ),
            rule(
                "balance_floor",
                MaxLoss {
                    mode: MaxLossMode::TrailingPeakBalance,
                    limit: Limit::Money(dec!(6000)),
                    lock_above_initial: Some(dec!(0)),
                    measure: Measure::Balance,
                    breach_at_floor: true,
                },
            ),
            rule(
                "monthly_balance",
                MonthlyLoss {
                    limit: Limit::PercentOfInitial(dec!(8)),
                    measure: Measure::Balance,
                    breach_at_floor: false,
                },
            ),
            rule(
                "weekly",
                PeriodLoss {
                    period: Period::Week,
                    limit: Limit::PercentOfInitial(dec!(2)),
                    measure: Measure::Equity,
                    breach_at_floor: true,
                },
            ),
            rule(
                "quarterly",
                PeriodLoss {
                    period: Period::Quarter,
                    limit: percent(dec!(10)),
                    measure: Measure::Balance,
                    breach_at_floor: false,
                },
            ),
            rule(
                "yearly",
                PeriodLoss {
                    period: Period::Year,
                    limit: Limit::PercentOfMonthStartBalance(dec!(12)),
                    measure: Measure::Equity,
                    breach_at_floor: false,
                },
            ),
            rule(
                "per_trade",
                MaxTradeLoss {
                    limit: Limit::PercentOfInitial(dec!(1)),
                },
            ),
            rule("holding", MaxHoldingTime { minutes: 600 }),
            rule(
                "weekend",
                NoWeekendPositions {
                    from_day: Weekday::Friday,
                    from_time: chrono::NaiveTime::from_hms_opt(15, 45, 0).unwrap_or_default(),
                    until_day: Weekday::Sunday,
                    until_time: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
                },
            ),
            rule(
                "days_at_end",
                MinTradingDays {
                    days: 3,
                    min_day_profit: Some(Limit::Money(dec!(100))),
                    day_profit: DayProfit::ClosedAtDayEnd,
                },
            ),
            rule(
                "days_floating",
                MinTradingDays {
                    days: 3,
                    min_day_profit: Some(Limit::Money(dec!(100))),
                    day_profit: DayProfit::ClosedAndFloatingAtDayEnd,
                },
            ),
        ],
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::BalanceOperation,
    })
    .expect("every rule kind is valid")
}
