//! Table tests of the rule definitions firms publish that issue 18 added: each option with the
//! firm's wording (the source is in `docs/ENGINE.md`) and its worked example's numbers.

use super::tests::{account, close, deal, deposit, position, positions, run, t};
use super::*;
use crate::domain::{DealEntry, DealKind, Side};
use chrono::NaiveTime;
use rust_decimal_macros::dec;

use ChallengeStatus::{Active, Failed, Passed, Paused};
use RuleStatus::{Breached, Ok as Fine, Passed as Met, Pending, Warning};

fn challenge(initial: Decimal, clock: ResetClock, rules: Vec<RuleDef>) -> Challenge {
    Challenge::new(ChallengeConfig {
        preset: "custom".into(),
        initial_balance: initial,
        clock,
        rules,
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::TradingPl,
    })
    .expect("valid config")
}

fn utc(initial: Decimal, kind: RuleKind) -> Challenge {
    challenge(
        initial,
        ResetClock::utc_midnight(),
        vec![RuleDef::new("rule", kind)],
    )
}

fn tick(time: &str) -> Record {
    Record::new(t(time), RecordData::Tick {})
}

/// The rule's status, the challenge's status and (when given) the rule's floor after the
/// records.
#[track_caller]
fn check(
    mut c: Challenge,
    records: &[Record],
    status: ChallengeStatus,
    rule: RuleStatus,
    floor: Option<Decimal>,
) -> Challenge {
    run(&mut c, records);
    assert_eq!(c.rule_status("rule"), Some(rule), "status of the rule");
    assert_eq!(c.status(), status, "challenge status");
    if let Some(floor) = floor {
        assert_eq!(c.rule_floor("rule"), Some(floor), "floor");
    }
    c
}

/// The first breach's evidence.
#[track_caller]
fn breach(c: &Challenge) -> &Evidence {
    c.events()
        .iter()
        .find(|e| e.kind == EventKind::Breach)
        .and_then(|e| e.evidence.as_deref())
        .expect("a breach with evidence")
}

fn max_loss(limit: Limit, measure: Measure, breach_at_floor: bool) -> RuleKind {
    RuleKind::MaxLoss {
        mode: MaxLossMode::Static,
        limit,
        lock_above_initial: None,
        measure,
        breach_at_floor,
    }
}

#[test]
fn a_floor_reached_exactly_breaches_when_the_firm_says_or_below() {
    // The Talented Trader, $50,000 account, 10% overall drawdown: "If your account equity
    // drops to $45,000 or below at any point, you will have hit the overall drawdown limit."
    let rule = |at_floor| {
        utc(
            dec!(50000),
            max_loss(Limit::PercentOfInitial(dec!(10)), Measure::Equity, at_floor),
        )
    };
    let at = |equity| [account("2026-01-12T10:00:00Z", dec!(50000), equity)];
    check(
        rule(true),
        &at(dec!(45000)),
        Failed,
        Breached,
        Some(dec!(45000)),
    );
    check(rule(true), &at(dec!(45000.01)), Active, Warning, None);
    // FTMO's floor is breached only below it ("Eq >= IB - 10% x IB" holds at equality).
    check(rule(false), &at(dec!(45000)), Active, Warning, None);
    // Daily: "If your account equity drops to $95,000 or below at any point during the day".
    let daily = |at_floor| {
        utc(
            dec!(100000),
            RuleKind::DailyLoss {
                anchor: DailyAnchor::StartOfDayBalance,
                limit: Limit::PercentOfInitial(dec!(5)),
                measure: Measure::Equity,
                breach_at_floor: at_floor,
            },
        )
    };
    let at = |equity| [account("2026-01-12T10:00:00Z", dec!(100000), equity)];
    check(
        daily(true),
        &at(dec!(95000)),
        Failed,
        Breached,
        Some(dec!(95000)),
    );
    check(daily(false), &at(dec!(95000)), Active, Warning, None);
    // Equity estimated from quotes is held to the same floor: at the floor it is a warning of
    // fraction 1 (never a breach by default).
}

#[test]
fn a_trailing_floor_on_closed_balance_locks_and_breaches_when_equity_reaches_it() {
    // MyFundedCapital: 6% trailing on closed balance, locked at the starting balance once the
    // floor reaches it; "you would only breach if your account equity reaches $100,000".
    let rule = || {
        utc(
            dec!(100000),
            RuleKind::MaxLoss {
                mode: MaxLossMode::TrailingPeakBalance,
                limit: Limit::PercentOfAnchor(dec!(6)),
                lock_above_initial: Some(Decimal::ZERO),
                measure: Measure::Equity,
                breach_at_floor: true,
            },
        )
    };
    let start = account("2026-01-12T10:00:00Z", dec!(100000), dec!(100000));
    check(
        rule(),
        std::slice::from_ref(&start),
        Active,
        Fine,
        Some(dec!(94000)),
    );
    let grown = [
        start.clone(),
        account("2026-01-13T10:00:00Z", dec!(102000), dec!(102000)),
    ];
    check(rule(), &grown, Active, Fine, Some(dec!(95880)));
    let locked = [
        start,
        account("2026-01-14T10:00:00Z", dec!(106383), dec!(106383)),
    ];
    check(rule(), &locked, Active, Fine, Some(dec!(100000)));
    let reached = [
        &locked[..],
        &[account("2026-01-15T10:00:00Z", dec!(106383), dec!(100000))],
    ]
    .concat();
    check(rule(), &reached, Failed, Breached, Some(dec!(100000)));
}

#[test]
fn a_floor_on_balance_ignores_floating_loss_and_breaches_at_the_closing_deal() {
    // "On a $100K account with a 10% balance drawdown (limit: $90K), a trader opens a position
    // that drops $15K unrealized. [...] No breach yet. When the trade closes for a $15K loss,
    // balance falls to $85K - breach." (propfirmsdata.com, balance drawdown)
    let rule = |measure| {
        utc(
            dec!(100000),
            max_loss(Limit::Money(dec!(10000)), measure, false),
        )
    };
    let floating = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-12T10:00:00Z", dec!(100000), dec!(85000)),
    ];
    check(
        rule(Measure::Balance),
        &floating,
        Active,
        Fine,
        Some(dec!(90000)),
    );
    check(rule(Measure::Equity), &floating, Failed, Breached, None);
    let closed = [
        &floating[..],
        &[close("2026-01-12T11:00:00Z", dec!(-15000), dec!(5))],
    ]
    .concat();
    let c = check(rule(Measure::Balance), &closed, Failed, Breached, None);
    let evidence = breach(&c);
    assert_eq!(evidence.measured, dec!(85000));
    assert_eq!(evidence.limit, dec!(90000));
    assert_eq!(evidence.time, t("2026-01-12T11:00:00Z"));
    assert!(matches!(evidence.record.data, RecordData::Deal(_)));
    let report = &c.rule_reports()[0];
    assert_eq!(report.measure, Some(Measure::Balance));
    assert_eq!(report.measured, Some(dec!(85000)));
    assert_eq!(report.remaining, Some(dec!(0)));
}

fn period_loss(period: Period, limit: Limit, breach_at_floor: bool) -> RuleKind {
    RuleKind::PeriodLoss {
        period,
        limit,
        measure: Measure::Equity,
        breach_at_floor,
    }
}

#[test]
fn a_weekly_loss_hangs_from_the_balance_at_the_start_of_the_week() {
    // T4T Capital: "Weekly Loss Limit Level = $101,000 - (2% x 100,000 = $2000) = $99,000 [...]
    // Your Equity Balance or your Account Balance may not go below this level during the week."
    // 2026-01-05 and 2026-01-12 are Mondays.
    let rule = || {
        utc(
            dec!(100000),
            period_loss(Period::Week, Limit::PercentOfInitial(dec!(2)), false),
        )
    };
    let first_week = [
        account("2026-01-05T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-09T20:00:00Z", dec!(101000), dec!(101000)),
    ];
    // Still the first week: the floor hangs from the initial balance.
    check(rule(), &first_week, Active, Fine, Some(dec!(98000)));
    let next = |equity| {
        [
            &first_week[..],
            &[account("2026-01-12T09:00:00Z", dec!(101000), equity)],
        ]
        .concat()
    };
    check(
        rule(),
        &next(dec!(99000)),
        Active,
        Warning,
        Some(dec!(99000)),
    );
    check(
        rule(),
        &next(dec!(98999.99)),
        Failed,
        Breached,
        Some(dec!(99000)),
    );
    // Topstep's weekly limit "cannot hit or exceed": reaching the level breaches.
    let hit = utc(
        dec!(100000),
        period_loss(Period::Week, Limit::PercentOfInitial(dec!(2)), true),
    );
    check(hit, &next(dec!(99000)), Failed, Breached, None);
    // A loss closed on Friday that arrives after the reset corrects the week's start balance.
    let late = [
        &first_week[..],
        &[
            tick("2026-01-12T00:00:01Z"),
            deal(
                "2026-01-12T00:00:02Z",
                DealKind::Sell,
                Some(DealEntry::Out),
                dec!(-1000),
                dec!(1),
            ),
        ],
    ]
    .concat();
    let mut late = late;
    if let RecordData::Deal(d) = &mut late[3].data {
        d.time = t("2026-01-09T21:00:00Z");
    }
    let c = check(rule(), &late, Active, Fine, Some(dec!(98000)));
    assert_eq!(c.anchors().start_of_week_balance, dec!(100000));
}

#[test]
fn a_deposit_reported_before_its_deal_across_the_week_start_is_counted_once() {
    let rule = || {
        utc(
            dec!(100000),
            period_loss(Period::Week, Limit::PercentOfInitial(dec!(2)), false),
        )
    };
    let records = [
        account("2026-01-09T12:00:00Z", dec!(101000), dec!(101000)),
        // Sunday night: the balance shows a deposit of 5,000 whose deal has not synced.
        account("2026-01-11T23:59:50Z", dec!(106000), dec!(106000)),
        // Monday: the week starts with the deposit inside; then its deal arrives.
        account("2026-01-12T00:00:05Z", dec!(106000), dec!(106000)),
        deposit("2026-01-12T00:00:10Z", dec!(5000)),
    ];
    let mut records = records.to_vec();
    if let RecordData::Deal(d) = &mut records[3].data {
        d.time = t("2026-01-11T23:59:55Z");
    }
    let c = check(rule(), &records, Active, Fine, Some(dec!(104000)));
    assert_eq!(c.anchors().start_of_week_balance, dec!(106000));
    assert_eq!(c.anchors().net_deposits, dec!(5000));
}

#[test]
fn quarter_and_year_losses_follow_metaapi_tracker_periods() {
    // MetaApi's trackers measure drawdown from the balance at the period start
    // (`initialBalance`), e.g. `relativeDrawdownThreshold: 0.1` for a quarter.
    let quarter = || {
        utc(
            dec!(100000),
            period_loss(Period::Quarter, Limit::PercentOfAnchor(dec!(10)), false),
        )
    };
    let q1 = [
        account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-03-31T20:00:00Z", dec!(104000), dec!(104000)),
    ];
    check(quarter(), &q1, Active, Fine, Some(dec!(90000)));
    let q2 = |equity| {
        [
            &q1[..],
            &[account("2026-04-01T09:00:00Z", dec!(104000), equity)],
        ]
        .concat()
    };
    check(
        quarter(),
        &q2(dec!(93600)),
        Active,
        Warning,
        Some(dec!(93600)),
    );
    check(quarter(), &q2(dec!(93599)), Failed, Breached, None);
    let year = || {
        utc(
            dec!(100000),
            period_loss(Period::Year, Limit::PercentOfAnchor(dec!(10)), false),
        )
    };
    let records = [
        account("2025-12-01T09:00:00Z", dec!(100000), dec!(100000)),
        account("2025-12-31T20:00:00Z", dec!(110000), dec!(110000)),
        account("2026-01-02T09:00:00Z", dec!(110000), dec!(98999)),
    ];
    check(year(), &records, Failed, Breached, Some(dec!(99000)));
    // A monthly period is the monthly loss rule: the start-of-month balance.
    let month = utc(
        dec!(100000),
        period_loss(Period::Month, Limit::PercentOfAnchor(dec!(10)), false),
    );
    check(month, &records[..2], Active, Fine, Some(dec!(90000)));
}

#[test]
fn a_daily_drawdown_trails_the_days_highest_equity() {
    // Funds.Pro, $10,000 account, 5% = $500: "during the day your equity rises to $10,300 [...]
    // Effective limit = $10,300 - $500 = $9,800. If equity falls below $9,800 -> breach."
    let rule = |limit| {
        utc(
            dec!(10000),
            RuleKind::DailyLoss {
                anchor: DailyAnchor::HighestEquityOfDay,
                limit,
                measure: Measure::Equity,
                breach_at_floor: false,
            },
        )
    };
    let five = || rule(Limit::PercentOfInitial(dec!(5)));
    let day = |last| {
        vec![
            account("2026-01-12T09:00:00Z", dec!(10000), dec!(10000)),
            account("2026-01-12T10:00:00Z", dec!(10000), dec!(10300)),
            account("2026-01-12T11:00:00Z", dec!(10000), last),
        ]
    };
    check(five(), &day(dec!(9800)), Active, Warning, Some(dec!(9800)));
    let c = check(
        five(),
        &day(dec!(9799.99)),
        Failed,
        Breached,
        Some(dec!(9800)),
    );
    assert_eq!(breach(&c).anchors.highest_equity_of_day, dec!(10300));
    // The next day the high starts again from the equity at the reset.
    let next = [
        &day(dec!(10100))[..],
        &[account("2026-01-13T09:00:00Z", dec!(10100), dec!(10100))],
    ]
    .concat();
    check(five(), &next, Active, Fine, Some(dec!(9600)));
    // Aeon Funded: "3% below the highest equity [...] equity rises to $10,500: your new
    // drawdown limit becomes $10,500 - 3% = $10,185."
    let aeon = |last| {
        vec![
            account("2026-01-12T09:00:00Z", dec!(10000), dec!(10000)),
            account("2026-01-12T10:00:00Z", dec!(10000), dec!(10500)),
            account("2026-01-12T11:00:00Z", dec!(10000), last),
        ]
    };
    let three = || rule(Limit::PercentOfAnchor(dec!(3)));
    check(
        three(),
        &aeon(dec!(10185)),
        Active,
        Warning,
        Some(dec!(10185)),
    );
    check(three(), &aeon(dec!(10184.99)), Failed, Breached, None);
}

#[test]
fn a_closed_trade_losing_more_than_the_per_trade_limit_breaches_naming_its_deal() {
    // Top Tier Trader, $100,000, 3% loss limit per trade: "closes it at a $2,800 loss [...] No
    // violation"; "closes it at a $3,500 loss [...] Violation occurs, account is breached".
    let rule = || {
        utc(
            dec!(100000),
            RuleKind::MaxTradeLoss {
                limit: Limit::PercentOfInitial(dec!(3)),
            },
        )
    };
    let start = account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000));
    let c = check(
        rule(),
        &[
            start.clone(),
            close("2026-01-12T10:00:00Z", dec!(-2800), dec!(1)),
        ],
        Active,
        Fine,
        Some(dec!(-3000)),
    );
    let report = &c.rule_reports()[0];
    assert_eq!(report.measured, Some(dec!(2800)));
    assert_eq!(report.remaining, Some(dec!(200)));
    assert_eq!(report.budget, Some(dec!(3000)));
    let c = check(
        rule(),
        &[
            start.clone(),
            close("2026-01-12T10:00:00Z", dec!(-3500), dec!(1)),
        ],
        Failed,
        Breached,
        None,
    );
    let evidence = breach(&c);
    assert_eq!(evidence.measured, dec!(-3500));
    assert_eq!(evidence.limit, dec!(-3000));
    assert_eq!(evidence.deal_id.as_deref(), Some("d-2026-01-12T10:00:00Z"));
    assert_eq!(evidence.position_id.as_deref(), Some("p"));
    // Commission and swap are part of the trade's loss; an opening deal is not a closed trade.
    let mut costly = close("2026-01-12T10:00:00Z", dec!(-2990), dec!(1));
    if let RecordData::Deal(d) = &mut costly.data {
        d.commission = dec!(-7);
        d.swap = dec!(-5);
    }
    check(rule(), &[start, costly], Failed, Breached, None);
    // The lot-size calculator keeps a trade's loss at its stop within the limit.
    assert_eq!(rule().sizing().per_trade_cap, Some(dec!(3000)));
}

fn long(id: &str, opened: &str) -> crate::domain::Position {
    position(id, Side::Buy, dec!(1), dec!(1.1), Some(dec!(1.09)), opened)
}

fn closing(time: &str, dated: &str, position: &str) -> Record {
    let mut record = deal(
        time,
        DealKind::Sell,
        Some(DealEntry::Out),
        dec!(10),
        dec!(1),
    );
    if let RecordData::Deal(d) = &mut record.data {
        d.time = t(dated);
        d.position_id = Some(position.into());
    }
    record
}

#[test]
fn a_position_held_longer_than_allowed_breaches_on_any_record_naming_it() {
    // No firm publishing a maximum holding time was found; the rule as a formula: a position
    // breaches once `now - open time > limit` (here 4 hours, soft as position rules are).
    let rule = || utc(dec!(100000), RuleKind::MaxHoldingTime { minutes: 240 });
    let held = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        positions(
            "2026-01-12T09:00:00Z",
            vec![long("p", "2026-01-12T09:00:00Z")],
        ),
        account("2026-01-12T12:59:00Z", dec!(100000), dec!(100000)),
    ];
    let c = check(rule(), &held, Active, Fine, None);
    assert_eq!(c.rule_reports()[0].measured, Some(dec!(239)));
    assert_eq!(c.rule_reports()[0].remaining, Some(dec!(1)));
    // A bare clock tick after the limit is enough.
    let late = [&held[..], &[tick("2026-01-12T13:00:01Z")]].concat();
    let c = check(rule(), &late, Paused, Breached, None);
    let evidence = breach(&c);
    assert_eq!(evidence.position_id.as_deref(), Some("p"));
    assert_eq!(evidence.measured, dec!(240.02));
    assert_eq!(evidence.limit, dec!(240));
    // Closed by a deal in time: nothing to hold against it until the next positions report.
    let closed = [
        &held[..],
        &[
            closing("2026-01-12T13:00:01Z", "2026-01-12T12:59:30Z", "p"),
            tick("2026-01-12T14:00:00Z"),
        ],
    ]
    .concat();
    check(rule(), &closed, Active, Fine, None);
    // Closed late: the deal itself shows how long it was held.
    let closed_late = [
        &held[..],
        &[closing("2026-01-12T13:00:31Z", "2026-01-12T13:00:30Z", "p")],
    ]
    .concat();
    let mut c = rule();
    let events = run(&mut c, &closed_late);
    assert!(
        events.iter().any(|e| e.kind == EventKind::Breach
            && e.evidence.as_ref().is_some_and(|e| e.deal_id.is_some())),
        "{events:?}"
    );
}

fn weekend() -> RuleKind {
    // Pro Trader Funding: "We require all trades to be closed by 3:45pm EST on Friday [...]
    // this is only a soft breach"; the market reopens on Sunday at 17:00 New York.
    RuleKind::NoWeekendPositions {
        from_day: Weekday::Friday,
        from_time: NaiveTime::from_hms_opt(15, 45, 0).expect("time"),
        until_day: Weekday::Sunday,
        until_time: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
    }
}

#[test]
fn a_position_open_across_the_weekend_breaches_naming_it() {
    let rule = || {
        challenge(
            dec!(100000),
            ResetClock::new_york_five_pm(),
            vec![RuleDef::new("rule", weekend())],
        )
    };
    // Thursday 2026-01-15, 10:00 New York (EST, UTC-5).
    let open = [
        account("2026-01-15T15:00:00Z", dec!(100000), dec!(100000)),
        positions(
            "2026-01-15T15:00:00Z",
            vec![long("p", "2026-01-15T15:00:00Z")],
        ),
    ];
    let at = |time: &str| [&open[..], &[tick(time)]].concat();
    // Friday 15:44 New York: still allowed.
    check(rule(), &at("2026-01-16T20:44:00Z"), Active, Fine, None);
    // Friday 15:45 New York: the weekend has started with the position open.
    let c = check(rule(), &at("2026-01-16T20:45:00Z"), Paused, Breached, None);
    assert_eq!(breach(&c).position_id.as_deref(), Some("p"));
    assert_eq!(breach(&c).measured, dec!(1));
    // The soft breach ends at the next reset, and the same weekend is not judged twice.
    let after = [
        &at("2026-01-16T20:45:00Z")[..],
        &[tick("2026-01-16T22:30:00Z"), tick("2026-01-19T15:00:00Z")],
    ]
    .concat();
    let c = check(rule(), &after, Active, Fine, None);
    assert_eq!(
        c.events()
            .iter()
            .filter(|e| e.kind == EventKind::Breach)
            .count(),
        1
    );
    // Closed by a deal before 15:45: no breach.
    let closed = [
        &open[..],
        &[
            closing("2026-01-16T20:50:00Z", "2026-01-16T20:40:00Z", "p"),
            tick("2026-01-16T21:00:00Z"),
        ],
    ]
    .concat();
    check(rule(), &closed, Active, Fine, None);
    // No record during the weekend: the first one after it finds the position still open.
    let monday = [
        &open[..],
        &[positions(
            "2026-01-19T14:00:00Z",
            vec![long("p", "2026-01-15T15:00:00Z")],
        )],
    ]
    .concat();
    check(rule(), &monday, Paused, Breached, None);
    // A position opened after the weekend is fine.
    let fresh = [
        account("2026-01-19T14:00:00Z", dec!(100000), dec!(100000)),
        positions(
            "2026-01-19T14:00:00Z",
            vec![long("q", "2026-01-19T14:00:00Z")],
        ),
        tick("2026-01-20T14:00:00Z"),
    ];
    check(rule(), &fresh, Active, Fine, None);
}

fn profitable_days(day_profit: DayProfit) -> Challenge {
    utc(
        dec!(100000),
        RuleKind::MinTradingDays {
            days: 3,
            min_day_profit: Some(Limit::PercentOfInitial(dec!(0.5))),
            day_profit,
        },
    )
}

/// A day that closes `pl` at 10:00 and reports `balance`, with `floating` open P/L at 22:00.
fn trading_day(date: &str, pl: Decimal, balance: Decimal, floating: Decimal) -> Vec<Record> {
    vec![
        close(&format!("{date}T10:00:00Z"), pl, dec!(1)),
        account(&format!("{date}T22:00:00Z"), balance, balance + floating),
    ]
}

#[test]
fn a_profitable_day_is_judged_at_the_days_end_on_closed_or_closed_and_floating_pl() {
    // Prop Number One, $100,000, three days of at least 0.5% ($500): "If my open trades in a
    // loss lower the profit below 0.5%, the day will not be counted, even if I had closed
    // trades for more than 0.5% on that same day."
    let two = [
        trading_day("2026-01-12", dec!(600), dec!(100600), dec!(0)),
        trading_day("2026-01-13", dec!(600), dec!(101200), dec!(0)),
    ]
    .concat();
    // Day three closes 600 at 10:00 but ends with an open loss of 150.
    let third = [
        &two[..],
        &trading_day("2026-01-14", dec!(600), dec!(101800), dec!(-150)),
    ]
    .concat();
    // Judged on closed P/L as it stands, the challenge passes at 10:00 on day three.
    check(
        profitable_days(DayProfit::Closed),
        &third,
        Passed,
        Met,
        None,
    );
    // Judged at the day's end, nothing is decided during day three.
    check(
        profitable_days(DayProfit::ClosedAtDayEnd),
        &third,
        Active,
        Pending,
        None,
    );
    let ended = [&third[..], &[tick("2026-01-15T09:00:00Z")]].concat();
    check(
        profitable_days(DayProfit::ClosedAtDayEnd),
        &ended,
        Passed,
        Met,
        None,
    );
    let c = check(
        profitable_days(DayProfit::ClosedAndFloatingAtDayEnd),
        &ended,
        Active,
        Pending,
        None,
    );
    assert_eq!(c.rule_reports()[0].measured, Some(dec!(2)));
    // "I open trades that earn at least 0.5% of the account and close them the next day [...]
    // this is considered as a single day": day one's floating 500 counts on day one, its
    // closing on day two adds nothing.
    let carried = [
        account("2026-01-12T22:00:00Z", dec!(100000), dec!(100500)),
        close("2026-01-13T10:00:00Z", dec!(500), dec!(1)),
        account("2026-01-13T22:00:00Z", dec!(100500), dec!(100500)),
        tick("2026-01-14T09:00:00Z"),
    ];
    let c = check(
        profitable_days(DayProfit::ClosedAndFloatingAtDayEnd),
        &carried,
        Active,
        Pending,
        None,
    );
    assert_eq!(c.rule_reports()[0].measured, Some(dec!(1)));
}

#[test]
fn best_day_alone_never_passes_and_keeps_being_judged() {
    // FTMO: "If you generate $5,000 profit on one trading day and no profit on other days,
    // your Best Day represents 100% [...] By generating an additional $5,000 profit on other
    // trading days, your total profit becomes $10,000, and the original Best Day now
    // represents 50%."
    let rule = || {
        utc(
            dec!(100000),
            RuleKind::BestDay {
                max_share_percent: dec!(50),
            },
        )
    };
    let two = [
        trading_day("2026-01-12", dec!(5000), dec!(105000), dec!(0)),
        trading_day("2026-01-13", dec!(5000), dec!(110000), dec!(0)),
    ]
    .concat();
    check(rule(), &two[..2], Active, Pending, None);
    // Met, but a share of the profit is a condition, not an achievement: the challenge stays
    // active, and later days are judged.
    check(rule(), &two, Active, Met, None);
    let third = [
        &two[..],
        &trading_day("2026-01-14", dec!(20000), dec!(130000), dec!(0)),
    ]
    .concat();
    check(rule(), &third, Active, Pending, None);
}

fn counting(counting: PlCounting) -> Challenge {
    let mut config = crate::engine::preset("ftmo-2step", dec!(100000)).expect("preset");
    config.interest_dividend_tax = counting;
    Challenge::new(config).expect("valid")
}

fn booked(time: &str, kind: DealKind, amount: Decimal) -> Record {
    let mut record = deal(time, kind, None, amount, Decimal::ZERO);
    if let RecordData::Deal(d) = &mut record.data {
        d.symbol = None;
        d.volume = None;
        d.position_id = None;
    }
    record
}

#[test]
fn interest_dividend_and_tax_deals_count_as_the_firm_says() {
    let records = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        booked("2026-01-12T10:00:00Z", DealKind::Dividend, dec!(120)),
        booked("2026-01-12T10:00:01Z", DealKind::Tax, dec!(-30)),
        booked("2026-01-12T10:00:02Z", DealKind::Interest, dec!(5)),
        account("2026-01-12T10:00:03Z", dec!(100095), dec!(100095)),
    ];
    // By default they are trading P/L (as before these kinds were told apart).
    let mut c = counting(PlCounting::TradingPl);
    run(&mut c, &records);
    let m = c.metrics();
    assert_eq!(m.today_closed_pl, dec!(95));
    assert_eq!(m.net_deposits, dec!(0));
    assert_eq!(m.realized_loss_mtd, dec!(30));
    assert_eq!(c.rule_floor("daily_loss"), Some(dec!(95000)));
    // As balance operations they move every anchor and are never profit or loss.
    let mut c = counting(PlCounting::BalanceOperation);
    run(&mut c, &records);
    let m = c.metrics();
    assert_eq!(m.today_closed_pl, dec!(0));
    assert_eq!(m.net_deposits, dec!(95));
    assert_eq!(m.realized_loss_mtd, dec!(0));
    assert_eq!(c.rule_floor("daily_loss"), Some(dec!(95095)));
    assert_eq!(c.rule_floor("max_loss"), Some(dec!(90095)));
}

/// Removes every key this issue added from a saved challenge (as a state saved before it).
fn strip_new_keys(value: &mut serde_json::Value) {
    const NEW: [&str; 14] = [
        "no_time_rules",
        "measure",
        "breach_at_floor",
        "day_profit",
        "interest_dividend_tax",
        "day_high_rules",
        "earliest_open",
        "closed_since_report",
        "highest_equity_of_day",
        "start_of_week_balance",
        "start_of_quarter_balance",
        "start_of_year_balance",
        "extra",
        "window",
    ];
    match value {
        serde_json::Value::Object(map) => {
            for key in NEW {
                map.remove(key);
            }
            map.values_mut().for_each(strip_new_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_new_keys),
        _ => {}
    }
}

#[test]
fn a_state_and_a_rule_set_saved_before_these_options_load_and_behave_the_same() {
    for name in [
        "ftmo-2step",
        "the5ers-high-stakes",
        "fund-policy",
        "ftmo-1step",
    ] {
        let records = [
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
            close("2026-01-12T10:00:00Z", dec!(700), dec!(1)),
            account("2026-01-12T10:00:01Z", dec!(100700), dec!(100500)),
            deposit("2026-01-13T09:00:00Z", dec!(1000)),
            close("2026-01-13T10:00:00Z", dec!(-2500), dec!(1)),
            account("2026-01-13T10:00:01Z", dec!(99200), dec!(95500)),
            account("2026-01-14T10:00:01Z", dec!(99200), dec!(90000)),
        ];
        let (first, second) = records.split_at(3);
        let mut straight = Challenge::from_preset(name, dec!(100000)).expect("preset");
        run(&mut straight, &records);
        let mut old = Challenge::from_preset(name, dec!(100000)).expect("preset");
        run(&mut old, first);
        let mut json = serde_json::to_value(&old).expect("serialise");
        strip_new_keys(&mut json);
        let mut restored: Challenge = serde_json::from_value(json).expect("an old state loads");
        run(&mut restored, second);
        assert_eq!(restored.status(), straight.status(), "{name}");
        assert_eq!(restored.rule_reports(), straight.rule_reports(), "{name}");
        let decided = |c: &Challenge| {
            c.events()
                .iter()
                .map(|e| {
                    let evidence = e.evidence.as_deref().map(|e| (e.measured, e.limit));
                    (e.time, e.kind, e.rule.clone(), evidence)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(decided(&restored), decided(&straight), "{name}");
        // An old rule set (a preset's JSON without the new keys) reads as the same rules.
        let config = crate::engine::preset(name, dec!(100000)).expect("preset");
        let mut json = serde_json::to_value(&config).expect("serialise");
        strip_new_keys(&mut json);
        let back: ChallengeConfig = serde_json::from_value(json).expect("an old rule set loads");
        assert_eq!(back, config, "{name}");
    }
}

#[test]
fn a_new_period_rule_on_an_old_state_starts_from_what_the_calendar_knows() {
    let mut old = Challenge::from_preset("ftmo-2step", dec!(100000)).expect("preset");
    run(
        &mut old,
        &[
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-01-13T09:00:00Z", dec!(101000), dec!(101000)),
        ],
    );
    let mut json = serde_json::to_value(&old).expect("serialise");
    strip_new_keys(&mut json);
    let mut restored: Challenge = serde_json::from_value(json).expect("loads");
    let mut set = edit::RuleSet::of(&restored);
    set.rules.push(RuleDef::new(
        "weekly",
        period_loss(Period::Week, Limit::Money(dec!(2000)), false),
    ));
    set.rules.push(RuleDef::new(
        "day_high",
        RuleKind::DailyLoss {
            anchor: DailyAnchor::HighestEquityOfDay,
            limit: Limit::Money(dec!(1000)),
            measure: Measure::Equity,
            breach_at_floor: false,
        },
    ));
    restored.change_rules(&set).expect("change");
    // The week started on Monday 2026-01-12 at 100,000 (the calendar's first day this week).
    assert_eq!(restored.rule_floor("weekly"), Some(dec!(98000)));
    // The day's high is not known: the higher of the start-of-day and current equity.
    assert_eq!(restored.rule_floor("day_high"), Some(dec!(100000)));
    run(
        &mut restored,
        &[account("2026-01-13T10:00:00Z", dec!(101000), dec!(101500))],
    );
    assert_eq!(restored.rule_floor("day_high"), Some(dec!(100500)));
}

#[test]
fn account_updates_through_the_new_rules_do_not_allocate() {
    let rules = vec![
        RuleDef::new(
            "day_high",
            RuleKind::DailyLoss {
                anchor: DailyAnchor::HighestEquityOfDay,
                limit: Limit::Money(dec!(5000)),
                measure: Measure::Equity,
                breach_at_floor: true,
            },
        ),
        RuleDef::new(
            "balance",
            max_loss(Limit::PercentOfInitial(dec!(10)), Measure::Balance, true),
        ),
        RuleDef::new(
            "weekly",
            period_loss(Period::Week, Limit::PercentOfInitial(dec!(4)), false),
        ),
        RuleDef::new(
            "per_trade",
            RuleKind::MaxTradeLoss {
                limit: Limit::Money(dec!(1000)),
            },
        ),
        RuleDef::new("holding", RuleKind::MaxHoldingTime { minutes: 100_000 }),
        RuleDef::new("weekend", weekend()),
    ];
    let mut c = challenge(dec!(100000), ResetClock::new_york_five_pm(), rules);
    let mut events = Vec::with_capacity(16);
    run(
        &mut c,
        &[
            account("2026-01-13T14:00:00Z", dec!(100000), dec!(100000)),
            positions(
                "2026-01-13T14:00:00Z",
                vec![long("p", "2026-01-13T14:00:00Z")],
            ),
        ],
    );
    // Within one Tuesday: new highs of the day and falls, no event.
    let records: Vec<Record> = (0..200)
        .map(|i| {
            let equity = dec!(100000) + Decimal::from((i * 37) % 1000) - dec!(400);
            let at = format!("2026-01-13T15:{:02}:{:02}Z", i / 60, i % 60);
            account(&at, dec!(100000), equity)
        })
        .collect();
    let counted = allocation_counter::measure(|| {
        for record in &records {
            c.apply(record, &mut events).expect("accepted");
        }
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(counted.count_total, 0, "allocated");
}

#[test]
fn a_duration_limit_saved_before_the_time_rules_flag_still_ends_the_challenge() {
    let mut old = utc(dec!(100000), RuleKind::MaxDuration { days: 1 });
    run(
        &mut old,
        &[account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000))],
    );
    let mut json = serde_json::to_value(&old).expect("serialise");
    strip_new_keys(&mut json);
    let mut restored: Challenge = serde_json::from_value(json).expect("loads");
    run(&mut restored, &[tick("2026-01-13T09:00:00Z")]);
    assert_eq!(restored.status(), Failed);
    // A rule set without any time rule skips them, and still measures everything else.
    let mut skips = utc(dec!(100000), RuleKind::MaxOpenPositions { count: 1 });
    assert!(skips.no_time_rules);
    run(&mut skips, &[tick("2026-01-13T09:00:00Z")]);
    assert_eq!(skips.status(), Active);
}
