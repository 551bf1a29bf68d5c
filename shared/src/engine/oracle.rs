//! Property tests: the incremental engine agrees with a naive recompute-from-history oracle.
//!
//! The oracle knows nothing of the engine's running state: for every prefix of a random record
//! stream it recomputes anchors, floors and metrics from scratch with the plainest formulas
//! (FTMO 2-Step at midnight Europe/Prague, and seed 004's fund policy at midnight UTC, both on
//! 100,000, so a trading day is a calendar date in the firm's zone).

use super::tests::{account, close, deposit, open, run, t};
use super::*;
use chrono::{Datelike, NaiveDate, TimeDelta};
use chrono_tz::Tz;
use proptest::prelude::*;
use rust_decimal_macros::dec;

const INITIAL: Decimal = dec!(100000);

#[derive(Clone, Debug)]
enum Step {
    Account { balance: Decimal, equity: Decimal },
    Close { pl: Decimal, lots: Decimal },
    Open,
    Deposit(Decimal),
    Tick,
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

/// Builds a stream starting on one of a few dates around the daylight-saving changes.
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
        let step = match kind {
            0..=4 => {
                balance += Decimal::from(a);
                Step::Account {
                    balance,
                    equity: balance + Decimal::from(b),
                }
            }
            5 | 6 => Step::Close {
                pl: Decimal::from(a) / dec!(2),
                lots: [dec!(0.01), dec!(0.5), dec!(1)][b.unsigned_abs() as usize % 3],
            },
            7 => Step::Open,
            8 => Step::Deposit(Decimal::from(a) * dec!(2)),
            _ => Step::Tick,
        };
        out.push((time, step));
    }
    out
}

fn to_record(time: DateTime<Utc>, step: &Step) -> Record {
    let at = time.to_rfc3339();
    match step {
        Step::Account { balance, equity } => account(&at, *balance, *equity),
        Step::Close { pl, lots } => close(&at, *pl, *lots),
        Step::Open => open(&at),
        Step::Deposit(amount) => deposit(&at, *amount),
        Step::Tick => Record::new(time, RecordData::Tick {}),
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

/// The account's balance and equity as known after `steps` (deposits apply at once).
fn known(steps: &[(DateTime<Utc>, Step)]) -> (Decimal, Decimal) {
    steps
        .iter()
        .fold((INITIAL, INITIAL), |(b, e), (_, step)| match step {
            Step::Account { balance, equity } => (*balance, *equity),
            Step::Deposit(amount) => (b + amount, e + amount),
            _ => (b, e),
        })
}

fn deposits(steps: &[(DateTime<Utc>, Step)]) -> Decimal {
    steps
        .iter()
        .map(|(_, s)| match s {
            Step::Deposit(amount) => *amount,
            _ => Decimal::ZERO,
        })
        .sum()
}

/// Start-of-day balance for the day of the last step of `prefix`.
fn start_of_day_balance(firm: Firm, prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    start_of_period(prefix, |a, b| firm.day(a) == firm.day(b))
}

/// Start-of-month balance for the month of the last step of `prefix`.
fn start_of_month_balance(firm: Firm, prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    start_of_period(prefix, |a, b| {
        let (a, b) = (firm.day(a), firm.day(b));
        (a.year(), a.month()) == (b.year(), b.month())
    })
}

/// The balance known before the first step of the period containing the last step, plus the
/// deposits made in the period so far.
fn start_of_period(
    prefix: &[(DateTime<Utc>, Step)],
    same_period: impl Fn(DateTime<Utc>, DateTime<Utc>) -> bool,
) -> Decimal {
    let Some((now, _)) = prefix.last() else {
        return INITIAL;
    };
    let first_today = prefix
        .iter()
        .position(|(time, _)| same_period(*time, *now))
        .unwrap_or(0);
    let before = &prefix[..first_today];
    let base = if before.is_empty() {
        INITIAL
    } else {
        known(before).0
    };
    base + deposits(&prefix[first_today..])
}

/// Peak of a value: the initial balance or any reported value, each carried up by the deposits
/// that came after it.
fn peak(prefix: &[(DateTime<Utc>, Step)], pick: fn(&Step) -> Option<Decimal>) -> Decimal {
    let mut best = INITIAL + deposits(prefix);
    for (i, (_, step)) in prefix.iter().enumerate() {
        if let Some(value) = pick(step) {
            best = best.max(value + deposits(&prefix[i + 1..]));
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
        if let Step::Account { .. } = prefix[k].1 {
            let sod = start_of_day_balance(firm, prefix);
            let som = start_of_month_balance(firm, prefix);
            let floors = match firm {
                // Daily: SOD balance - 5% of IB; max: IB + deposits - 10% of IB.
                Firm::Ftmo => vec![
                    ("daily_loss", sod - dec!(5000)),
                    ("max_loss", INITIAL + deposits(prefix) - dec!(10000)),
                ],
                // MDL: SOD balance - 5% of SOM balance; MML: 90% of SOM balance; ODD: 90% of
                // the peak balance.
                Firm::Fund => vec![
                    ("mdl", sod - som * dec!(0.05)),
                    ("mml", som * dec!(0.9)),
                    ("odd", peak(prefix, step_balance) * dec!(0.9)),
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
        let target = INITIAL + deposits(prefix) + dec!(10000);
        if matches!(firm, Firm::Ftmo) && balance >= target && trading_days(firm, prefix) >= 4 {
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
    let realized_loss_mtd = steps
        .iter()
        .filter(|(time, _)| same_month(time))
        .map(|(_, s)| match s {
            Step::Close { pl, .. } if *pl < Decimal::ZERO => -*pl,
            _ => Decimal::ZERO,
        })
        .sum();
    // Seed 004's loop, verbatim: newest first, skip tiny trades, count losses, stop at a win.
    let closes: Vec<_> = steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Close { pl, lots } => Some((*pl, *lots)),
            _ => None,
        })
        .collect();
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
        peak_balance: peak(steps, step_balance),
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
        raw in prop::collection::vec((0i64..100_000, 0u8..8, any::<i64>(), any::<u32>(), any::<bool>()), 1..40),
    ) {
        let mut challenge = Challenge::from_preset("ftmo-1step", INITIAL).expect("preset");
        let mut events = Vec::new();
        for (minutes, kind, a, scale, flag) in raw {
            let value = Decimal::new(a, scale % 29);
            let time = t("2026-01-01T00:00:00Z") + TimeDelta::minutes(minutes);
            let at = time.to_rfc3339();
            let record = match kind {
                0 => account(&at, value, if flag { value } else { -value }),
                1 => close(&at, value, if flag { value.abs() } else { value }),
                2 => deposit(&at, value),
                3 => super::tests::spec(&at, value),
                4 => super::tests::price(&at, value),
                5 => super::tests::quote(&at, value),
                6 => Record::new(time, RecordData::Tick {}),
                _ => super::tests::positions(&at, vec![super::tests::position(
                    "p", crate::domain::Side::Sell, value, value, Some(-value), &at,
                )]),
            };
            // Refused or accepted, never a panic; the report always serialises.
            let _ = challenge.apply(&record, &mut events);
        }
        prop_assert!(serde_json::to_string(&challenge.report()).is_ok());
    }
}
