//! Property tests: the incremental engine agrees with a naive recompute-from-history oracle.
//!
//! The oracle knows nothing of the engine's running state: for every prefix of a random record
//! stream it recomputes anchors, floors and metrics from scratch with the plainest formulas
//! (FTMO 2-Step, 100,000, midnight Europe/Prague, so a trading day is the Prague calendar date).

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

fn prague_day(time: DateTime<Utc>) -> NaiveDate {
    time.with_timezone(&Tz::Europe__Prague).date_naive()
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
fn start_of_day_balance(prefix: &[(DateTime<Utc>, Step)]) -> Decimal {
    let Some((now, _)) = prefix.last() else {
        return INITIAL;
    };
    let today = prague_day(*now);
    let first_today = prefix
        .iter()
        .position(|(time, _)| prague_day(*time) == today)
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

fn trading_days(prefix: &[(DateTime<Utc>, Step)]) -> u32 {
    let mut days: Vec<NaiveDate> = prefix
        .iter()
        .filter(|(_, s)| matches!(s, Step::Open))
        .map(|(time, _)| prague_day(*time))
        .collect();
    days.sort();
    days.dedup();
    days.len() as u32
}

fn oracle(steps: &[(DateTime<Utc>, Step)]) -> Outcome {
    let mut status = ChallengeStatus::Active;
    let mut breach = None;
    for k in 0..steps.len() {
        let prefix = &steps[..=k];
        let (balance, equity) = known(prefix);
        if let Step::Account { .. } = prefix[k].1 {
            let daily_floor = start_of_day_balance(prefix) - dec!(5000);
            let max_floor = INITIAL + deposits(prefix) - dec!(10000);
            let mut rules = Vec::new();
            if equity < daily_floor {
                rules.push("daily_loss".to_owned());
            }
            if equity < max_floor {
                rules.push("max_loss".to_owned());
            }
            if !rules.is_empty() {
                breach = Some((prefix[k].0, rules));
                status = ChallengeStatus::Failed;
                break;
            }
        }
        let target = INITIAL + deposits(prefix) + dec!(10000);
        if balance >= target && trading_days(prefix) >= 4 {
            status = ChallengeStatus::Passed;
            break;
        }
    }
    let (balance, equity) = known(steps);
    let month = steps.last().map(|(time, _)| prague_day(*time));
    let same_month = |time: &DateTime<Utc>| {
        month.is_some_and(|m| {
            let d = prague_day(*time);
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
        start_of_day_balance: start_of_day_balance(steps),
        peak_balance: peak(steps, |s| match s {
            Step::Account { balance, .. } => Some(*balance),
            _ => None,
        }),
        peak_equity: peak(steps, |s| match s {
            Step::Account { equity, .. } => Some(*equity),
            _ => None,
        }),
        realized_loss_mtd,
        consecutive_losing_trades: consecutive,
        trades: closes.len() as u32,
        trading_days: trading_days(steps),
    }
}

fn engine(steps: &[(DateTime<Utc>, Step)]) -> Outcome {
    let records: Vec<Record> = steps.iter().map(|(time, s)| to_record(*time, s)).collect();
    let mut challenge = Challenge::from_preset("ftmo-2step", INITIAL).expect("preset");
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
        raw in prop::collection::vec((1u32..1800, 0u8..10, -2500i32..2600, -3000i32..1000), 1..60),
    ) {
        let steps = stream(start, &raw);
        prop_assert_eq!(engine(&steps), oracle(&steps));
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
        raw in prop::collection::vec((0i64..100_000, 0u8..6, any::<i64>(), any::<u32>(), any::<bool>()), 1..40),
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
