//! Table-driven tests of the engine: every rule, every preset, the firms' worked examples.

use super::*;
use crate::domain::{DealEntry, DealKind, Side};
use chrono::NaiveDate;
use rust_decimal_macros::dec;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("test time")
}

pub(super) fn account(time: &str, balance: Decimal, equity: Decimal) -> Record {
    Record::new(
        t(time),
        RecordData::AccountInformation(AccountInfo {
            balance,
            equity,
            margin: Decimal::ZERO,
            free_margin: equity,
            margin_level: None,
            currency: "USD".into(),
            leverage: Some(100),
            credit: Decimal::ZERO,
        }),
    )
}

fn margin(time: &str, level: Decimal) -> Record {
    let mut record = account(time, dec!(100000), dec!(100000));
    if let RecordData::AccountInformation(info) = &mut record.data {
        info.margin = dec!(1000);
        info.margin_level = Some(level);
    }
    record
}

pub(super) fn deal(
    time: &str,
    kind: DealKind,
    entry: Option<DealEntry>,
    pl: Decimal,
    lots: Decimal,
) -> Record {
    Record::new(
        t(time),
        RecordData::Deal(Deal {
            id: format!("d-{time}"),
            kind,
            entry,
            symbol: Some("EURUSD".into()),
            time: t(time),
            volume: Some(lots),
            price: Some(dec!(1.1)),
            profit: pl,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            position_id: Some("p".into()),
            reason: None,
        }),
    )
}

pub(super) fn close(time: &str, pl: Decimal, lots: Decimal) -> Record {
    deal(time, DealKind::Sell, Some(DealEntry::Out), pl, lots)
}

pub(super) fn open(time: &str) -> Record {
    deal(
        time,
        DealKind::Buy,
        Some(DealEntry::In),
        Decimal::ZERO,
        dec!(1),
    )
}

pub(super) fn deposit(time: &str, amount: Decimal) -> Record {
    deal(time, DealKind::Balance, None, amount, Decimal::ZERO)
}

pub(super) fn position(
    id: &str,
    side: Side,
    lots: Decimal,
    open: Decimal,
    stop: Option<Decimal>,
    opened: &str,
) -> Position {
    Position {
        id: id.into(),
        symbol: "EURUSD".into(),
        side,
        volume: lots,
        open_price: open,
        current_price: open,
        stop_loss: stop,
        take_profit: None,
        profit: Decimal::ZERO,
        swap: Decimal::ZERO,
        commission: Decimal::ZERO,
        open_time: t(opened),
    }
}

pub(super) fn positions(time: &str, list: Vec<Position>) -> Record {
    Record::new(t(time), RecordData::Positions(list))
}

pub(super) fn spec(time: &str, tick_size: Decimal) -> Record {
    Record::new(
        t(time),
        RecordData::Specification(SymbolSpec {
            symbol: "EURUSD".into(),
            tick_size,
            contract_size: dec!(100000),
            digits: 5,
            min_volume: dec!(0.01),
            max_volume: dec!(100),
            volume_step: dec!(0.01),
        }),
    )
}

pub(super) fn price(time: &str, loss_tick_value: Decimal) -> Record {
    Record::new(
        t(time),
        RecordData::Price(SymbolPrice {
            symbol: "EURUSD".into(),
            bid: dec!(1.1),
            ask: dec!(1.1001),
            profit_tick_value: loss_tick_value,
            loss_tick_value,
            time: t(time),
        }),
    )
}

fn tick(time: &str) -> Record {
    Record::new(t(time), RecordData::Tick {})
}

pub(super) fn run(challenge: &mut Challenge, records: &[Record]) -> Vec<Event> {
    let mut events = Vec::new();
    for record in records {
        challenge
            .apply(record, &mut events)
            .expect("record accepted");
    }
    events
}

fn custom(initial: Decimal, rules: Vec<RuleDef>) -> Challenge {
    Challenge::new(ChallengeConfig {
        preset: "custom".into(),
        initial_balance: initial,
        clock: ResetClock::utc_midnight(),
        rules,
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::TradingPl,
    })
    .expect("valid config")
}

/// What a case expects at the end of its records.
struct Expect<'a> {
    status: ChallengeStatus,
    rule: &'a str,
    rule_status: RuleStatus,
    floor: Option<Decimal>,
}

fn expect(status: ChallengeStatus, rule: &str, rule_status: RuleStatus) -> Expect<'_> {
    Expect {
        status,
        rule,
        rule_status,
        floor: None,
    }
}

fn with_floor(mut e: Expect<'_>, floor: Decimal) -> Expect<'_> {
    e.floor = Some(floor);
    e
}

#[track_caller]
fn check(mut challenge: Challenge, records: &[Record], e: Expect<'_>) {
    run(&mut challenge, records);
    assert_eq!(
        challenge.rule_status(e.rule),
        Some(e.rule_status),
        "status of {}",
        e.rule
    );
    assert_eq!(challenge.status(), e.status, "challenge status");
    if let Some(floor) = e.floor {
        assert_eq!(
            challenge.rule_floor(e.rule),
            Some(floor),
            "floor of {}",
            e.rule
        );
    }
}

fn preset(name: &str, initial: Decimal) -> Challenge {
    Challenge::from_preset(name, initial).expect("preset")
}

fn ftmo() -> Challenge {
    preset("ftmo-2step", dec!(100000))
}

use ChallengeStatus::{Active, Failed, Passed, Paused};
use RuleStatus::{Breached, Ok as Fine, Passed as Met, Pending, Warning};

#[test]
fn ftmo_daily_loss_hangs_from_start_of_day_balance() {
    // Day 1 (Prague): closed profit to 105,000. Midnight Prague is 23:00 UTC in January.
    let day1 = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-12T15:00:00Z", dec!(105000), dec!(105000)),
    ];
    // FTMO's own example: a start-of-day balance of 105,000 puts the daily floor at 100,000.
    let next = |b, e| [&day1[..], &[account("2026-01-13T08:00:00Z", b, e)]].concat();
    check(
        ftmo(),
        &next(dec!(105000), dec!(100000)),
        with_floor(expect(Active, "daily_loss", Warning), dec!(100000)),
    );
    check(
        ftmo(),
        &next(dec!(105000), dec!(99999.99)),
        expect(Failed, "daily_loss", Breached),
    );
    // Still day 1 before midnight Prague (22:59 UTC): the floor is 95,000.
    let same_day = [
        &day1[..],
        &[account("2026-01-12T22:59:00Z", dec!(105000), dec!(99000))],
    ]
    .concat();
    check(
        ftmo(),
        &same_day,
        with_floor(expect(Active, "daily_loss", Fine), dec!(95000)),
    );
    // A floating loss carried past midnight is measured against the new day's floor.
    let carried = [
        &day1[..],
        &[
            account("2026-01-12T22:00:00Z", dec!(105000), dec!(101000)),
            tick("2026-01-12T23:00:00Z"),
            account("2026-01-12T23:00:01Z", dec!(105000), dec!(99500)),
        ],
    ]
    .concat();
    check(ftmo(), &carried, expect(Failed, "daily_loss", Breached));
}

#[test]
fn ftmo_max_loss_worked_example() {
    // FTMO: a balance of 92,000 with a floating loss of 2,001 breaches the 90,000 floor.
    let history = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-12T15:00:00Z", dec!(96000), dec!(96000)),
        account("2026-01-13T15:00:00Z", dec!(92000), dec!(92000)),
    ];
    let then = |equity| {
        [
            &history[..],
            &[account("2026-01-14T10:00:00Z", dec!(92000), equity)],
        ]
        .concat()
    };
    check(
        ftmo(),
        &then(dec!(89999)),
        with_floor(expect(Failed, "max_loss", Breached), dec!(90000)),
    );
    check(
        ftmo(),
        &then(dec!(90000)),
        expect(Active, "max_loss", Warning),
    );
    // The same record does not breach daily loss: the day started at 92,000.
    check(
        ftmo(),
        &then(dec!(89999)),
        expect(Failed, "daily_loss", Fine),
    );
}

#[test]
fn profitable_day_never_breaches_daily_loss() {
    for name in [
        "ftmo-2step",
        "ftmo-1step",
        "the5ers-high-stakes",
        "fundednext-2step",
        "fund-policy",
    ] {
        let records = [
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-01-12T10:00:00Z", dec!(100000), dec!(106000)),
            account("2026-01-12T11:00:00Z", dec!(106000), dec!(106000)),
            account("2026-01-12T12:00:00Z", dec!(108000), dec!(108000)),
        ];
        let daily = if name == "fund-policy" {
            "mdl"
        } else {
            "daily_loss"
        };
        check(
            preset(name, dec!(100000)),
            &records,
            expect(Active, daily, Fine),
        );
    }
}

#[test]
fn warnings_fire_once_per_fraction_of_the_daily_budget() {
    let mut challenge = ftmo();
    let events = run(
        &mut challenge,
        &[
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(97600)),
            account("2026-01-12T09:01:00Z", dec!(100000), dec!(97500)),
            account("2026-01-12T09:02:00Z", dec!(100000), dec!(97400)),
            account("2026-01-12T09:03:00Z", dec!(100000), dec!(95200)),
            account("2026-01-12T09:04:00Z", dec!(100000), dec!(99000)),
            account("2026-01-12T09:05:00Z", dec!(100000), dec!(96000)),
        ],
    );
    let fractions: Vec<_> = events
        .iter()
        .filter(|e| e.rule.as_deref() == Some("daily_loss"))
        .map(|e| (e.kind, e.evidence.as_ref().and_then(|ev| ev.fraction)))
        .collect();
    // 2,500 lost = 50%; 4,800 lost passes 80% and 95% at once: one warning, the highest.
    assert_eq!(
        fractions,
        vec![
            (EventKind::Warning, Some(dec!(0.5))),
            (EventKind::Warning, Some(dec!(0.95)))
        ]
    );
    assert_eq!(challenge.rule_status("daily_loss"), Some(Warning));
}

#[test]
fn deposits_move_anchors_but_are_not_profit() {
    let records = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        deposit("2026-01-12T10:00:00Z", dec!(10000)),
        account("2026-01-12T10:00:01Z", dec!(110000), dec!(110000)),
        positions("2026-01-12T10:00:02Z", vec![]),
    ];
    // 110,000 after a 10,000 deposit is no profit: the target (110,000 + 10,000) is not met.
    check(
        ftmo(),
        &records,
        with_floor(expect(Active, "profit_target", Pending), dec!(120000)),
    );
    // The daily floor moved up with the deposit: 110,000 - 5,000.
    check(
        ftmo(),
        &records,
        with_floor(expect(Active, "daily_loss", Fine), dec!(105000)),
    );
    check(
        ftmo(),
        &records,
        with_floor(expect(Active, "max_loss", Fine), dec!(100000)),
    );
    // A withdrawal is not a loss either.
    let withdrawal = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        deposit("2026-01-12T10:00:00Z", dec!(-8000)),
        account("2026-01-12T10:00:01Z", dec!(92000), dec!(92000)),
    ];
    check(
        ftmo(),
        &withdrawal,
        with_floor(expect(Active, "max_loss", Fine), dec!(82000)),
    );
    let mut challenge = ftmo();
    run(&mut challenge, &withdrawal);
    let metrics = challenge.metrics();
    assert_eq!(metrics.realized_loss_mtd, dec!(0));
    assert_eq!(metrics.today_pl, dec!(0));
    assert_eq!(metrics.net_deposits, dec!(-8000));
}

/// Four trading days, each opening a position, ending with a closed balance of `balance`.
fn four_days(balance: Decimal, last_positions: Vec<Position>) -> Vec<Record> {
    let mut records = Vec::new();
    for (i, day) in ["12", "13", "14", "15"].iter().enumerate() {
        let at = |h: &str| format!("2026-01-{day}T{h}:00:00Z");
        records.push(open(&at("09")));
        records.push(close(&at("10"), dec!(100), dec!(1)));
        let b = dec!(100000) + Decimal::from(i as i64 + 1) * dec!(100);
        records.push(account(&at("10"), b, b));
    }
    // The last trade's deal explains the rest of the balance.
    records.push(close(
        "2026-01-15T10:59:00Z",
        balance - dec!(100400),
        dec!(1),
    ));
    records.push(positions("2026-01-15T11:00:00Z", last_positions));
    records.push(account("2026-01-15T11:00:01Z", balance, balance));
    records
}

#[test]
fn ftmo_passes_with_target_and_four_days_and_no_open_positions() {
    check(
        ftmo(),
        &four_days(dec!(110000), vec![]),
        expect(Passed, "profit_target", Met),
    );
    check(
        ftmo(),
        &four_days(dec!(110000), vec![]),
        expect(Passed, "min_trading_days", Met),
    );
    check(
        ftmo(),
        &four_days(dec!(109999), vec![]),
        expect(Active, "profit_target", Pending),
    );
    let open_position = position(
        "p",
        Side::Buy,
        dec!(1),
        dec!(1.1),
        Some(dec!(1.09)),
        "2026-01-15T09:00:00Z",
    );
    check(
        ftmo(),
        &four_days(dec!(110000), vec![open_position]),
        expect(Active, "profit_target", Pending),
    );
    // Three days only.
    let three: Vec<_> = four_days(dec!(110000), vec![])
        .into_iter()
        .skip(3)
        .collect();
    check(ftmo(), &three, expect(Active, "min_trading_days", Pending));
    check(
        preset("ftmo-2step-phase2", dec!(100000)),
        &four_days(dec!(105000), vec![]),
        expect(Passed, "profit_target", Met),
    );
}

#[test]
fn breach_is_final_and_keeps_its_evidence() {
    let mut challenge = ftmo();
    let breach = account("2026-01-12T10:00:00Z", dec!(100000), dec!(94999));
    let events = run(
        &mut challenge,
        &[
            positions(
                "2026-01-12T09:00:00Z",
                vec![position(
                    "p",
                    Side::Buy,
                    dec!(5),
                    dec!(1.1),
                    None,
                    "2026-01-12T09:00:00Z",
                )],
            ),
            breach.clone(),
            account("2026-01-12T10:00:01Z", dec!(100000), dec!(100000)),
            account("2026-01-13T10:00:00Z", dec!(100000), dec!(80000)),
        ],
    );
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.rule.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Breach, Some("daily_loss".into())),
            (EventKind::Failed, Some("daily_loss".into())),
        ]
    );
    let evidence = events[0].evidence.as_ref().expect("evidence");
    assert_eq!(evidence.time, t("2026-01-12T10:00:00Z"));
    assert_eq!(
        (evidence.measured, evidence.limit),
        (dec!(94999), dec!(95000))
    );
    assert_eq!(evidence.anchors.start_of_day_balance, dec!(100000));
    assert_eq!(evidence.open_positions.len(), 1);
    assert_eq!(evidence.record, breach);
    assert_eq!(challenge.status(), Failed);
    assert_eq!(challenge.events().len(), 2);
    assert_eq!(challenge.rule_status("daily_loss"), Some(Breached));
}

#[test]
fn bad_records_are_refused_and_change_nothing() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[account("2026-01-12T10:00:00Z", dec!(100000), dec!(100000))],
    );
    let before = challenge.clone();
    let mut events = Vec::new();
    let refused = [
        account("2026-01-12T09:00:00Z", dec!(1), dec!(1)),
        positions(
            "2026-01-12T11:00:00Z",
            vec![position(
                "neg",
                Side::Buy,
                dec!(-1),
                dec!(1),
                None,
                "2026-01-12T11:00:00Z",
            )],
        ),
        spec("2026-01-12T11:00:00Z", dec!(0)),
        price("2026-01-12T11:00:00Z", dec!(-1)),
        account("2026-01-12T11:00:00Z", dec!(1e20), dec!(1)),
        close("2026-01-12T11:00:00Z", dec!(1), dec!(-0.5)),
    ];
    let errors: Vec<_> = refused
        .iter()
        .map(|r| {
            challenge
                .apply(r, &mut events)
                .expect_err("refused")
                .to_string()
        })
        .collect();
    assert!(errors[0].contains("older than"), "{errors:?}");
    assert!(
        errors[1].contains("negative volume -1 on position neg"),
        "{errors:?}"
    );
    assert!(
        errors[2].contains("EURUSD has a tick size of 0"),
        "{errors:?}"
    );
    assert!(errors[3].contains("negative tick value"), "{errors:?}");
    assert!(errors[4].contains("balance"), "{errors:?}");
    assert!(errors[5].contains("deal"), "{errors:?}");
    assert!(events.is_empty());
    assert_eq!(challenge, before);
}

#[test]
fn config_errors_name_the_problem() {
    let unknown = Challenge::from_preset("ftmo-3step", dec!(100000)).expect_err("unknown");
    assert!(unknown.to_string().contains("ftmo-2step"), "{unknown}");
    assert_eq!(
        Challenge::from_preset("ftmo-2step", dec!(0)).expect_err("zero"),
        EngineError::InvalidInitialBalance(dec!(0))
    );
    let twice = vec![
        RuleDef::new("a", RuleKind::StopLossRequired),
        RuleDef::new("a", RuleKind::StopLossRequired),
    ];
    let config = ChallengeConfig {
        preset: "x".into(),
        initial_balance: dec!(1),
        clock: ResetClock::utc_midnight(),
        rules: twice,
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::TradingPl,
    };
    assert_eq!(
        Challenge::new(config).expect_err("dup"),
        EngineError::DuplicateRule { id: "a".into() }
    );
}

#[test]
fn every_preset_builds_and_validates() {
    for (name, _) in PRESETS {
        for initial in [dec!(10000), dec!(50000), dec!(100000), dec!(200000)] {
            let challenge = Challenge::from_preset(name, initial).expect(name);
            assert_eq!(challenge.preset(), *name);
        }
    }
    let ids: Vec<_> = ftmo().rules().map(|r| r.id.clone()).collect();
    assert_eq!(
        ids,
        [
            "daily_loss",
            "max_loss",
            "profit_target",
            "min_trading_days"
        ]
    );
}

#[test]
fn preset_floors_follow_their_anchors() {
    let day1 = |b: Decimal, e: Decimal| {
        vec![
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-01-12T15:00:00Z", b, e),
        ]
    };
    let next = |mut r: Vec<Record>, at: &str, b, e| {
        r.push(account(at, b, e));
        r
    };
    // FTMO 1-Step: max(IB, highest end-of-day balance) - 10% of IB, moving at Prague midnight.
    let one = preset("ftmo-1step", dec!(100000));
    check(
        one.clone(),
        &day1(dec!(105000), dec!(105000)),
        with_floor(expect(Active, "max_loss", Fine), dec!(90000)),
    );
    check(
        one.clone(),
        &next(
            day1(dec!(105000), dec!(105000)),
            "2026-01-13T09:00:00Z",
            dec!(105000),
            dec!(102000),
        ),
        with_floor(expect(Active, "max_loss", Fine), dec!(95000)),
    );
    check(
        one.clone(),
        &next(
            day1(dec!(105000), dec!(105000)),
            "2026-01-13T09:00:00Z",
            dec!(104000),
            dec!(104000),
        ),
        with_floor(expect(Active, "daily_loss", Fine), dec!(102000)),
    );
    // The5ers: 5% of max(start-of-day balance, start-of-day equity), reset 17:00 New York.
    let five = preset("the5ers-high-stakes", dec!(100000));
    check(
        five.clone(),
        &next(
            day1(dec!(100000), dec!(102000)),
            "2026-01-12T22:00:01Z",
            dec!(100000),
            dec!(97000),
        ),
        with_floor(expect(Active, "daily_loss", Warning), dec!(96900)),
    );
    check(
        five,
        &next(
            day1(dec!(100000), dec!(102000)),
            "2026-01-12T21:59:59Z",
            dec!(100000),
            dec!(95001),
        ),
        with_floor(expect(Active, "daily_loss", Warning), dec!(95000)),
    );
    // FundedNext: start-of-day balance - 5% of IB at 17:00 New York.
    let next_fn = preset("fundednext-2step", dec!(100000));
    check(
        next_fn,
        &next(
            day1(dec!(103000), dec!(103000)),
            "2026-01-12T22:00:00Z",
            dec!(103000),
            dec!(98000),
        ),
        with_floor(expect(Active, "daily_loss", Warning), dec!(98000)),
    );
    // Topstep 50K: end-of-day trailing 2,000, locked at the initial balance.
    let top = preset("topstep-eod-trailing", dec!(50000));
    let top_day = |b: Decimal| {
        vec![
            account("2026-01-12T15:00:00Z", b, b),
            account("2026-01-13T15:00:00Z", b, b),
        ]
    };
    check(
        top.clone(),
        &top_day(dec!(51000)),
        with_floor(expect(Active, "max_loss", Fine), dec!(49000)),
    );
    check(
        top.clone(),
        &top_day(dec!(53000)),
        with_floor(expect(Active, "max_loss", Fine), dec!(50000)),
    );
    check(
        top.clone(),
        &[account("2026-01-12T15:00:00Z", dec!(53000), dec!(53000))],
        with_floor(expect(Active, "max_loss", Fine), dec!(48000)),
    );
    check(
        top,
        &[account("2026-01-12T15:00:00Z", dec!(50000), dec!(47999))],
        expect(Failed, "max_loss", Breached),
    );
    // Apex 50K: 2,500 under the highest intraday equity, stops at IB + 100.
    let apex = preset("apex-intraday-trailing", dec!(50000));
    let apex_run = |peak: Decimal, now: Decimal| {
        vec![
            account("2026-01-12T15:00:00Z", dec!(50000), peak),
            account("2026-01-12T15:01:00Z", dec!(50000), now),
        ]
    };
    check(
        apex.clone(),
        &apex_run(dec!(51000), dec!(48500)),
        with_floor(expect(Active, "max_loss", Warning), dec!(48500)),
    );
    check(
        apex.clone(),
        &apex_run(dec!(51000), dec!(48499)),
        expect(Failed, "max_loss", Breached),
    );
    check(
        apex,
        &apex_run(dec!(53000), dec!(50100)),
        with_floor(expect(Active, "max_loss", Warning), dec!(50100)),
    );
    // Fund policy: MDL 5% and MML 10% of start-of-month balance; ODD 10% of peak balance.
    let fund = preset("fund-policy", dec!(100000));
    let peak = vec![account("2026-01-12T09:00:00Z", dec!(110000), dec!(110000))];
    check(
        fund.clone(),
        &peak,
        with_floor(expect(Active, "odd", Fine), dec!(99000)),
    );
    check(
        fund.clone(),
        &peak,
        with_floor(expect(Active, "mdl", Fine), dec!(95000)),
    );
    check(
        fund.clone(),
        &next(
            peak.clone(),
            "2026-01-13T09:00:00Z",
            dec!(110000),
            dec!(110000),
        ),
        with_floor(expect(Active, "mdl", Fine), dec!(105000)),
    );
    check(
        fund.clone(),
        &next(
            peak.clone(),
            "2026-02-01T09:00:00Z",
            dec!(110000),
            dec!(110000),
        ),
        with_floor(expect(Active, "mdl", Fine), dec!(104500)),
    );
    check(
        fund.clone(),
        &next(
            peak.clone(),
            "2026-01-20T09:00:00Z",
            dec!(110000),
            dec!(110000),
        ),
        with_floor(expect(Active, "mml", Fine), dec!(90000)),
    );
    check(
        fund,
        &next(peak, "2026-02-01T09:00:00Z", dec!(110000), dec!(110000)),
        with_floor(expect(Active, "mml", Fine), dec!(99000)),
    );
}

#[test]
fn daily_resets_follow_daylight_saving_in_prague_and_new_york() {
    // Day one closes at 103,000; `at` measures equity against whichever day it falls in.
    let history = |date: &str, at: &str, equity| {
        vec![
            account(&format!("{date}T12:00:00Z"), dec!(100000), dec!(100000)),
            account(&format!("{date}T12:00:01Z"), dec!(103000), dec!(103000)),
            account(at, dec!(103000), equity),
        ]
    };
    // Prague: midnight is 23:00 UTC before 2026-03-29 and 22:00 UTC after; back on 2026-10-25.
    // On 2026-03-29 at 22:30 UTC it is already 00:30 on the 30th in Prague: new floor 98,000.
    check(
        ftmo(),
        &history("2026-03-29", "2026-03-29T22:30:00Z", dec!(97999)),
        expect(Failed, "daily_loss", Breached),
    );
    // On 2026-03-28 at 22:30 UTC it is 23:30 on the 28th: the floor is still 95,000.
    check(
        ftmo(),
        &history("2026-03-28", "2026-03-28T22:30:00Z", dec!(97999)),
        with_floor(expect(Active, "daily_loss", Fine), dec!(95000)),
    );
    // Fall back: on 2026-10-25 at 22:30 UTC it is 23:30 on the 25th; at 23:00 UTC the 26th.
    check(
        ftmo(),
        &history("2026-10-25", "2026-10-25T22:30:00Z", dec!(97999)),
        with_floor(expect(Active, "daily_loss", Fine), dec!(95000)),
    );
    check(
        ftmo(),
        &history("2026-10-25", "2026-10-25T23:00:00Z", dec!(97999)),
        expect(Failed, "daily_loss", Breached),
    );
    // New York 17:00: 22:00 UTC in winter, 21:00 UTC in summer (from 2026-03-08 to 2026-11-01).
    let ny = history;
    let fnx = || preset("fundednext-2step", dec!(100000));
    check(
        fnx(),
        &ny("2026-03-08", "2026-03-08T21:00:00Z", dec!(97999)),
        expect(Failed, "daily_loss", Breached),
    );
    check(
        fnx(),
        &ny("2026-03-07", "2026-03-07T21:30:00Z", dec!(97999)),
        with_floor(expect(Active, "daily_loss", Fine), dec!(95000)),
    );
    check(
        fnx(),
        &ny("2026-11-01", "2026-11-01T21:30:00Z", dec!(97999)),
        with_floor(expect(Active, "daily_loss", Fine), dec!(95000)),
    );
    check(
        fnx(),
        &ny("2026-10-31", "2026-10-31T21:00:00Z", dec!(97999)),
        expect(Failed, "daily_loss", Breached),
    );
}

fn one_rule(kind: RuleKind) -> Challenge {
    custom(dec!(100000), vec![RuleDef::new("rule", kind)])
}

#[test]
fn position_rules_pause_until_the_next_reset() {
    let ts = "2026-01-12T09:00:00Z";
    let sl = Some(dec!(1.0950));
    let pos = |lots, stop| position("p", Side::Buy, lots, dec!(1.1000), stop, ts);
    let priced = |list: Vec<Position>| {
        vec![
            account(ts, dec!(100000), dec!(100000)),
            spec(ts, dec!(0.00001)),
            price(ts, dec!(1)),
            positions(ts, list),
        ]
    };
    let lots = || one_rule(RuleKind::MaxLotsPerPosition { lots: dec!(2) });
    check(
        lots(),
        &priced(vec![pos(dec!(2), sl)]),
        expect(Active, "rule", Fine),
    );
    check(
        lots(),
        &priced(vec![pos(dec!(2.01), sl)]),
        expect(Paused, "rule", Breached),
    );
    let mut resumed = priced(vec![pos(dec!(2.01), sl)]);
    resumed.push(tick("2026-01-13T00:00:00Z"));
    check(lots(), &resumed, expect(Active, "rule", Fine));
    let count = || one_rule(RuleKind::MaxOpenPositions { count: 1 });
    check(
        count(),
        &priced(vec![pos(dec!(1), sl)]),
        expect(Active, "rule", Fine),
    );
    check(
        count(),
        &priced(vec![pos(dec!(1), sl), pos(dec!(1), sl)]),
        expect(Paused, "rule", Breached),
    );
    let stop = || one_rule(RuleKind::StopLossRequired);
    check(
        stop(),
        &priced(vec![pos(dec!(1), sl)]),
        expect(Active, "rule", Fine),
    );
    check(
        stop(),
        &priced(vec![pos(dec!(1), None)]),
        expect(Paused, "rule", Breached),
    );
    // 500 ticks x 1 x 2 lots = 1,000 = 1% of 100,000.
    let risk = || one_rule(RuleKind::MaxRiskPerPosition { percent: dec!(1) });
    check(
        risk(),
        &priced(vec![pos(dec!(2), sl)]),
        expect(Active, "rule", Fine),
    );
    check(
        risk(),
        &priced(vec![pos(dec!(2.01), sl)]),
        expect(Paused, "rule", Breached),
    );
    check(
        risk(),
        &priced(vec![pos(dec!(0.01), None)]),
        expect(Paused, "rule", Breached),
    );
    // Total open risk against the daily room: 5,000 room, 20% = 1,000.
    let total = || {
        custom(
            dec!(100000),
            vec![
                RuleDef::new(
                    "daily",
                    RuleKind::DailyLoss {
                        anchor: DailyAnchor::StartOfDayBalance,
                        limit: Limit::PercentOfInitial(dec!(5)),
                        measure: Measure::Equity,
                        breach_at_floor: false,
                    },
                ),
                RuleDef::new("rule", RuleKind::TotalOpenRisk { percent: dec!(20) }),
            ],
        )
    };
    check(
        total(),
        &priced(vec![pos(dec!(1), sl), pos(dec!(1), sl)]),
        expect(Active, "rule", Fine),
    );
    check(
        total(),
        &priced(vec![pos(dec!(1), sl), pos(dec!(1.01), sl)]),
        expect(Paused, "rule", Breached),
    );
    let mut shrinking = priced(vec![pos(dec!(1), sl), pos(dec!(1), sl)]);
    shrinking.push(account("2026-01-12T09:01:00Z", dec!(100000), dec!(99000)));
    check(total(), &shrinking, expect(Paused, "rule", Breached));
}

#[test]
fn consecutive_losses_ignore_tiny_trades_and_reset_on_a_win() {
    let rule = || {
        one_rule(RuleKind::ConsecutiveLosses {
            max: 2,
            min_lots: dec!(0.01),
        })
    };
    let trades = |pls: &[(Decimal, Decimal)]| {
        pls.iter()
            .enumerate()
            .map(|(i, (pl, lots))| close(&format!("2026-01-12T10:{i:02}:00Z"), *pl, *lots))
            .collect::<Vec<_>>()
    };
    let loss = (dec!(-10), dec!(1));
    let win = (dec!(10), dec!(1));
    let tiny_loss = (dec!(-10), dec!(0.01));
    let flat = (dec!(0), dec!(1));
    check(rule(), &trades(&[loss, loss]), expect(Active, "rule", Fine));
    check(
        rule(),
        &trades(&[loss, loss, loss]),
        expect(Paused, "rule", Breached),
    );
    check(
        rule(),
        &trades(&[loss, loss, win, loss]),
        expect(Active, "rule", Fine),
    );
    check(
        rule(),
        &trades(&[loss, tiny_loss, loss, tiny_loss]),
        expect(Active, "rule", Fine),
    );
    check(
        rule(),
        &trades(&[loss, flat, loss, loss]),
        expect(Paused, "rule", Breached),
    );
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &trades(&[loss, tiny_loss, loss, flat, loss]),
    );
    assert_eq!(challenge.metrics().consecutive_losing_trades, 3);
    run(
        &mut challenge,
        &[close("2026-01-12T11:00:00Z", dec!(1), dec!(0.02))],
    );
    assert_eq!(challenge.metrics().consecutive_losing_trades, 0);
}

#[test]
fn margin_level_warns_then_breaches() {
    let rule = || {
        one_rule(RuleKind::MarginLevel {
            warning: dec!(100),
            critical: dec!(50),
        })
    };
    check(
        rule(),
        &[margin("2026-01-12T10:00:00Z", dec!(150))],
        expect(Active, "rule", Fine),
    );
    check(
        rule(),
        &[margin("2026-01-12T10:00:00Z", dec!(99))],
        expect(Active, "rule", Warning),
    );
    check(
        rule(),
        &[margin("2026-01-12T10:00:00Z", dec!(49))],
        expect(Paused, "rule", Breached),
    );
}

#[test]
fn max_duration_fails_a_challenge_that_has_not_passed() {
    let rule = || one_rule(RuleKind::MaxDuration { days: 30 });
    let start = account("2026-01-01T10:00:00Z", dec!(100000), dec!(100000));
    check(
        rule(),
        &[start.clone(), tick("2026-01-31T09:59:59Z")],
        expect(Active, "rule", Fine),
    );
    check(
        rule(),
        &[start, tick("2026-01-31T10:00:00Z")],
        expect(Failed, "rule", Breached),
    );
}

#[test]
fn monthly_loss_resets_with_the_month() {
    let rule = || {
        one_rule(RuleKind::MonthlyLoss {
            limit: Limit::PercentOfAnchor(dec!(10)),
            measure: Measure::Equity,
            breach_at_floor: false,
        })
    };
    let jan = [account("2026-01-05T10:00:00Z", dec!(95000), dec!(95000))];
    let then = |at: &str, equity| [&jan[..], &[account(at, dec!(95000), equity)]].concat();
    check(
        rule(),
        &then("2026-01-30T10:00:00Z", dec!(89999)),
        expect(Failed, "rule", Breached),
    );
    check(
        rule(),
        &then("2026-02-02T10:00:00Z", dec!(89999)),
        with_floor(expect(Active, "rule", Warning), dec!(85500)),
    );
}

#[test]
fn best_day_blocks_passing_but_never_fails() {
    let one = || preset("ftmo-1step", dec!(100000));
    let day = |d: &str, pl: Decimal, balance: Decimal| {
        vec![
            open(&format!("2026-01-{d}T09:00:00Z")),
            close(&format!("2026-01-{d}T10:00:00Z"), pl, dec!(1)),
            positions(&format!("2026-01-{d}T10:00:01Z"), vec![]),
            account(&format!("2026-01-{d}T10:00:02Z"), balance, balance),
        ]
    };
    // One day of 10,000: the target is met, but the best day is 100% of the profit.
    let single = day("12", dec!(10000), dec!(110000));
    check(one(), &single, expect(Active, "best_day", Pending));
    check(one(), &single, expect(Active, "profit_target", Met));
    // Two days of 5,000 each: 50% exactly, passes.
    let two = [
        day("12", dec!(5000), dec!(105000)),
        day("13", dec!(5000), dec!(110000)),
    ]
    .concat();
    check(one(), &two, expect(Passed, "best_day", Met));
    let mut challenge = one();
    run(&mut challenge, &two);
    assert_eq!(challenge.metrics().best_day_share, Some(dec!(0.5)));
}

#[test]
fn risk_exposure_and_seed_metrics() {
    let ts = "2026-01-12T09:00:00Z";
    let mut challenge = preset("fund-policy", dec!(100000));
    run(
        &mut challenge,
        &[
            account(ts, dec!(100000), dec!(100000)),
            spec(ts, dec!(0.00001)),
            price(ts, dec!(1)),
            positions(
                ts,
                vec![
                    position(
                        "buy",
                        Side::Buy,
                        dec!(2),
                        dec!(1.1000),
                        Some(dec!(1.0950)),
                        ts,
                    ),
                    position(
                        "sell",
                        Side::Sell,
                        dec!(1),
                        dec!(1.1000),
                        Some(dec!(1.1020)),
                        ts,
                    ),
                    position("naked", Side::Buy, dec!(1), dec!(1.1000), None, ts),
                    position(
                        "locked",
                        Side::Buy,
                        dec!(1),
                        dec!(1.1000),
                        Some(dec!(1.1010)),
                        ts,
                    ),
                ],
            ),
            close("2026-01-12T10:00:00Z", dec!(-2000), dec!(1)),
            account("2026-01-12T10:00:01Z", dec!(98000), dec!(97500)),
        ],
    );
    let m = challenge.metrics();
    // buy: 500 ticks x 1 x 2 = 1,000; sell: 200 ticks x 1 x 1 = 200; a stop past entry risks 0.
    assert_eq!(m.risk_exposure_usd, dec!(1200));
    assert_eq!(m.unbounded_positions, 1);
    assert_eq!(m.unbounded_position_ids, ["naked"]);
    assert_eq!(m.mdl_usd, Some(dec!(5000)));
    assert_eq!(m.mml_usd, Some(dec!(10000)));
    assert_eq!(m.odd_usd, Some(dec!(10000)));
    assert_eq!(m.current_risk_load, Some(dec!(0.24)));
    assert_eq!(m.realized_loss_mtd, dec!(2000));
    assert_eq!(m.remaining_balance, dec!(98000));
    assert_eq!(m.remaining_monthly_budget_usd, Some(dec!(8000)));
    assert_eq!(m.remaining_overall_budget_usd, Some(dec!(8000)));
    assert_eq!(m.monthly_risk_load, Some(dec!(0.15)));
    assert_eq!(m.floating_pl, dec!(-500));
    assert_eq!(m.active_orders, 4);
    assert_eq!(m.today_pl, dec!(-2500));
    assert_eq!(m.daily_loss_left, Some(dec!(2500)));
    assert_eq!(m.trading_days, 1);
    assert_eq!(
        m.trading_day,
        Some(NaiveDate::from_ymd_opt(2026, 1, 12).expect("date"))
    );
    assert_eq!(m.worst_trade, Some(dec!(-2000)));
}

#[test]
fn report_has_the_agreed_json_shape() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[
            account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-01-12T10:00:00Z", dec!(100000), dec!(97000)),
        ],
    );
    let json = serde_json::to_value(challenge.report()).expect("serialise");
    assert_eq!(json["status"], "active");
    assert_eq!(json["rules"][0]["id"], "daily_loss");
    assert_eq!(json["rules"][0]["status"], "warning");
    assert_eq!(json["rules"][0]["remaining"], "2000");
    assert_eq!(json["rules"][2]["status"], "pending");
    assert_eq!(json["rules"][3]["measured"], "0");
    assert_eq!(json["rules"][3]["remaining"], "4");
    assert_eq!(json["events"][0]["kind"], "warning");
    assert_eq!(json["events"][0]["rule"], "daily_loss");
    assert_eq!(json["events"][0]["time"], "2026-01-12T10:00:00Z");
    assert_eq!(json["events"][0]["evidence"]["measured"], "97000");
    for key in [
        "mdl_usd",
        "mml_usd",
        "odd_usd",
        "risk_exposure_usd",
        "current_risk_load",
        "monthly_risk_load",
        "overall_risk_load",
        "balance",
        "equity",
        "floating_pl",
        "realized_loss_mtd",
        "remaining_balance",
        "remaining_monthly_budget_usd",
        "remaining_overall_budget_usd",
        "active_orders",
        "consecutive_losing_trades",
        "start_of_day_balance",
        "peak_equity",
        "starting_capital",
        "today_pl",
        "daily_loss_left",
        "overall_loss_left",
        "trading_days",
        "best_day_share",
        "trades",
        "lots",
        "win_rate",
        "average_win",
        "average_loss",
        "reward_risk",
        "expectancy",
        "profit_factor",
        "sharpe",
        "best_trade",
        "worst_trade",
    ] {
        assert!(json["metrics"].get(key).is_some(), "missing metric {key}");
    }
    assert_eq!(json["metrics"]["equity"], "97000");
}

#[test]
fn records_round_trip_in_the_replay_shape() {
    let records = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        tick("2026-01-12T09:00:00Z"),
        close("2026-01-12T09:00:00Z", dec!(1), dec!(1)),
    ];
    for record in records {
        let json = serde_json::to_string(&record).expect("serialise");
        let back: Record = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, record, "{json}");
    }
    let tick: Record =
        serde_json::from_str(r#"{"time":"2026-01-12T09:00:00Z","tick":{}}"#).expect("tick");
    assert_eq!(tick.data, RecordData::Tick {});
}

#[test]
fn state_survives_a_serde_round_trip_mid_stream() {
    let records = four_days(dec!(110000), vec![]);
    let (first, second) = records.split_at(5);
    let mut straight = ftmo();
    run(&mut straight, &records);
    let mut restored = ftmo();
    run(&mut restored, first);
    let json = serde_json::to_string(&restored).expect("serialise");
    let mut restored: Challenge = serde_json::from_str(&json).expect("deserialise");
    run(&mut restored, second);
    assert_eq!(restored, straight);
    assert_eq!(restored.status(), Passed);
}

#[test]
fn account_updates_do_not_allocate() {
    for name in [
        "ftmo-2step",
        "apex-intraday-trailing",
        "fund-policy",
        "ftmo-1step",
    ] {
        let mut challenge = preset(name, dec!(100000));
        let mut events = Vec::with_capacity(16);
        run(
            &mut challenge,
            &[account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000))],
        );
        // Prebuilt records within one day, rising (new peaks) and falling, with no event.
        let records: Vec<Record> = (0..200)
            .map(|i| {
                let equity = dec!(100000) + Decimal::from((i * 37) % 1000) - dec!(400);
                let at = format!("2026-01-12T10:{:02}:{:02}Z", i / 60, i % 60);
                account(&at, dec!(100000), equity)
            })
            .collect();
        let counted = allocation_counter::measure(|| {
            for record in &records {
                challenge.apply(record, &mut events).expect("accepted");
            }
        });
        assert!(events.is_empty(), "{name}: {events:?}");
        assert_eq!(counted.count_total, 0, "{name} allocated");
    }
}

#[test]
fn a_paused_challenge_passes_after_the_reset_when_objectives_hold() {
    let mut rules = crate::engine::preset("ftmo-2step", dec!(100000))
        .expect("preset")
        .rules;
    rules.push(RuleDef::new(
        "lots",
        RuleKind::MaxLotsPerPosition { lots: dec!(1) },
    ));
    let mut challenge = custom(dec!(100000), rules);
    let big = position(
        "big",
        Side::Buy,
        dec!(2),
        dec!(1.1),
        Some(dec!(1.09)),
        "2026-01-15T09:00:00Z",
    );
    let mut records = four_days(dec!(110000), vec![]);
    // On the last day a 2-lot position pauses the challenge before the target is reached.
    records.insert(
        records.len() - 3,
        positions("2026-01-15T10:30:00Z", vec![big]),
    );
    run(&mut challenge, &records);
    assert_eq!(challenge.status(), Paused);
    run(&mut challenge, &[tick("2026-01-16T00:00:00Z")]);
    assert_eq!(challenge.status(), Passed);
}

#[test]
fn daily_loss_anchors_and_limit_kinds() {
    use DailyAnchor::*;
    // Day one ends with balance 102,000 and equity 103,000; the floor is read on day two.
    let records = [
        account("2026-01-12T10:00:00Z", dec!(102000), dec!(103000)),
        account("2026-01-13T10:00:00Z", dec!(102000), dec!(103000)),
    ];
    let daily = |anchor, limit| {
        one_rule(RuleKind::DailyLoss {
            anchor,
            limit,
            measure: Measure::Equity,
            breach_at_floor: false,
        })
    };
    let cases = [
        (
            StartOfDayBalance,
            Limit::PercentOfInitial(dec!(5)),
            dec!(97000),
        ),
        (
            HigherOfStartOfDayBalanceAndEquity,
            Limit::PercentOfInitial(dec!(5)),
            dec!(98000),
        ),
        (
            StartOfDayEquity,
            Limit::PercentOfInitial(dec!(5)),
            dec!(98000),
        ),
        (
            StartOfMonthBalance,
            Limit::PercentOfInitial(dec!(5)),
            dec!(95000),
        ),
        (
            StartOfDayBalance,
            Limit::PercentOfAnchor(dec!(5)),
            dec!(96900),
        ),
        (StartOfDayBalance, Limit::Money(dec!(1000)), dec!(101000)),
        (
            StartOfDayBalance,
            Limit::PercentOfMonthStartBalance(dec!(2)),
            dec!(100000),
        ),
    ];
    for (anchor, limit, floor) in cases {
        check(
            daily(anchor, limit),
            &records,
            with_floor(expect(Active, "rule", Fine), floor),
        );
    }
}

#[test]
fn max_loss_modes() {
    use MaxLossMode::*;
    let records = [
        account("2026-01-12T10:00:00Z", dec!(100000), dec!(104000)),
        account("2026-01-12T11:00:00Z", dec!(103000), dec!(103000)),
        account("2026-01-13T10:00:00Z", dec!(102000), dec!(102000)),
    ];
    let max = |mode, lock| {
        one_rule(RuleKind::MaxLoss {
            mode,
            limit: Limit::Money(dec!(5000)),
            lock_above_initial: lock,
            measure: Measure::Equity,
            breach_at_floor: false,
        })
    };
    let cases = [
        (Static, None, dec!(95000)),
        (TrailingPeakEquity, None, dec!(99000)),
        (TrailingPeakBalance, None, dec!(98000)),
        (TrailingEndOfDayBalance, None, dec!(98000)),
        (TrailingPeakEquity, Some(dec!(0)), dec!(99000)),
        (TrailingPeakEquity, Some(dec!(-2000)), dec!(98000)),
    ];
    for (mode, lock, floor) in cases {
        check(
            max(mode, lock),
            &records,
            with_floor(expect(Active, "rule", Fine), floor),
        );
    }
}

#[test]
fn profit_target_on_equity_counts_open_positions() {
    let ts = "2026-01-12T10:00:00Z";
    let open_trade = vec![position("p", Side::Buy, dec!(1), dec!(1.1), None, ts)];
    let target = |basis| {
        one_rule(RuleKind::ProfitTarget {
            target: Limit::PercentOfInitial(dec!(10)),
            basis,
        })
    };
    let records = [
        positions(ts, open_trade),
        account(ts, dec!(100000), dec!(110000)),
    ];
    check(
        target(ProfitBasis::Equity),
        &records,
        expect(Passed, "rule", Met),
    );
    check(
        target(ProfitBasis::ClosedBalance),
        &records,
        expect(Active, "rule", Pending),
    );
    let money = one_rule(RuleKind::ProfitTarget {
        target: Limit::Money(dec!(500)),
        basis: ProfitBasis::ClosedBalance,
    });
    check(
        money,
        &[
            close(ts, dec!(500), dec!(1)),
            positions(ts, vec![]),
            account(ts, dec!(100500), dec!(100500)),
        ],
        expect(Passed, "rule", Met),
    );
}

#[test]
fn custom_config_from_the_engine_doc_parses() {
    // Kept in step with docs/ENGINE.md, "Custom rule sets".
    let json = r#"{
  "preset": "my-firm",
  "initial_balance": "100000",
  "clock": {"time_zone": "Europe/Prague", "local_time": "00:00:00"},
  "rules": [
    {"id": "daily_loss", "severity": "hard",
     "kind": {"type": "daily_loss", "anchor": "start_of_day_balance",
              "limit": {"type": "percent_of_initial", "value": "5"}}},
    {"id": "max_loss", "severity": "hard",
     "kind": {"type": "max_loss", "mode": "trailing_end_of_day_balance",
              "limit": {"type": "money", "value": "2000"}, "lock_above_initial": "0"}},
    {"id": "profit_target", "severity": "soft",
     "kind": {"type": "profit_target", "target": {"type": "percent_of_initial", "value": "10"},
              "basis": "closed_balance"}},
    {"id": "min_trading_days", "severity": "soft",
     "kind": {"type": "min_trading_days", "days": 4, "min_day_profit": null}},
    {"id": "stop_loss", "severity": "soft", "kind": {"type": "stop_loss_required"}}
  ]
}"#;
    let config: ChallengeConfig = serde_json::from_str(json).expect("parse");
    let challenge = Challenge::new(config).expect("valid");
    assert_eq!(challenge.rules().count(), 5);
    assert_eq!(challenge.rule_floor("max_loss"), Some(dec!(98000)));
}

pub(super) fn quote(time: &str, bid: Decimal) -> Record {
    Record::new(
        t(time),
        RecordData::Price(SymbolPrice {
            symbol: "EURUSD".into(),
            bid,
            ask: bid + dec!(0.0001),
            profit_tick_value: dec!(1),
            loss_tick_value: dec!(1),
            time: t(time),
        }),
    )
}

#[test]
fn quotes_estimate_equity_and_warn_but_never_breach() {
    let ts = "2026-01-12T09:00:00Z";
    let mut challenge = ftmo();
    let long = position("p", Side::Buy, dec!(1), dec!(1.1), Some(dec!(1.0)), ts);
    let base = [
        spec(ts, dec!(0.00001)),
        quote(ts, dec!(1.1)),
        positions(ts, vec![long]),
        account("2026-01-12T09:00:01Z", dec!(100000), dec!(100000)),
    ];
    run(&mut challenge, &base);
    assert_eq!(challenge.metrics().estimated_equity, None);
    // 500 ticks down on 1 lot at 1 per tick: 99,500.
    run(
        &mut challenge,
        &[quote("2026-01-12T09:01:00Z", dec!(1.095))],
    );
    assert_eq!(challenge.metrics().estimated_equity, Some(dec!(99500)));
    // 2,500 down: the 50% warning, flagged as estimated.
    let events = run(
        &mut challenge,
        &[quote("2026-01-12T09:02:00Z", dec!(1.075))],
    );
    assert_eq!(events.len(), 1);
    let evidence = events[0].evidence.as_ref().expect("evidence");
    assert!(evidence.estimated);
    assert_eq!(
        (evidence.measured, evidence.fraction),
        (dec!(97500), Some(dec!(0.5)))
    );
    // Below the floor on the estimate: a warning of fraction 1, not a breach.
    let events = run(&mut challenge, &[quote("2026-01-12T09:03:00Z", dec!(1.04))]);
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.rule.clone(),
                e.evidence.as_ref().and_then(|v| v.fraction),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Warning, Some("daily_loss".into()), Some(dec!(1))),
            (EventKind::Warning, Some("max_loss".into()), Some(dec!(0.5))),
        ]
    );
    assert_eq!(challenge.status(), Active);
    assert_eq!(challenge.metrics().min_equity_today, dec!(94000));
    // The broker's equity is the truth: it breaches, and the estimate restarts from it.
    let events = run(
        &mut challenge,
        &[account("2026-01-12T09:03:01Z", dec!(100000), dec!(94000))],
    );
    assert_eq!(events[0].kind, EventKind::Breach);
    assert!(!events[0].evidence.as_ref().expect("evidence").estimated);
    assert_eq!(challenge.metrics().estimated_equity, None);
    run(
        &mut challenge,
        &[quote("2026-01-12T09:04:00Z", dec!(1.041))],
    );
    assert_eq!(challenge.metrics().estimated_equity, Some(dec!(94100)));
}

#[test]
fn estimated_equity_breaches_only_when_the_policy_says_so() {
    let ts = "2026-01-12T09:00:00Z";
    let mut config = crate::engine::preset("ftmo-2step", dec!(100000)).expect("preset");
    config.estimated_equity_breaches = true;
    let mut challenge = Challenge::new(config).expect("valid");
    let long = position("p", Side::Buy, dec!(1), dec!(1.1), Some(dec!(1.0)), ts);
    run(
        &mut challenge,
        &[
            spec(ts, dec!(0.00001)),
            quote(ts, dec!(1.1)),
            positions(ts, vec![long]),
            account("2026-01-12T09:00:01Z", dec!(100000), dec!(100000)),
        ],
    );
    // 6,000 down on the quote alone: below the daily floor of 95,000.
    let events = run(&mut challenge, &[quote("2026-01-12T09:03:00Z", dec!(1.04))]);
    let breach = events
        .iter()
        .find(|e| e.kind == EventKind::Breach)
        .expect("a breach on estimated equity");
    assert_eq!(breach.rule.as_deref(), Some("daily_loss"));
    let evidence = breach.evidence.as_ref().expect("evidence");
    assert!(
        evidence.estimated,
        "the breach says it rests on an estimate"
    );
    assert_eq!(
        (evidence.measured, evidence.limit),
        (dec!(94000), dec!(95000))
    );
    assert_eq!(challenge.status(), ChallengeStatus::Failed);
}

// Review findings: deposits reported twice, balances between account updates, late deals.

/// Four trading days of +100, the account reporting 100,400, then `positions`.
fn four_small_days() -> Vec<Record> {
    let mut records = Vec::new();
    for day in ["12", "13", "14", "15"] {
        records.push(open(&format!("2026-01-{day}T09:00:00Z")));
        records.push(close(
            &format!("2026-01-{day}T10:00:00Z"),
            dec!(100),
            dec!(1),
        ));
    }
    records.push(account("2026-01-15T10:00:01Z", dec!(100400), dec!(100400)));
    records
}

fn late_deal(time: &str, dated: &str, pl: Decimal) -> Record {
    let mut record = close(time, pl, dec!(1));
    if let RecordData::Deal(deal) = &mut record.data {
        deal.time = t(dated);
    }
    record
}

#[test]
fn deposit_reported_by_the_account_before_its_deal_is_not_profit() {
    // FTMO: 400 of profit, then an update already holding a 10,000 deposit, then the deal.
    let mut ftmo_records = four_small_days();
    ftmo_records.push(positions("2026-01-15T11:00:00Z", vec![]));
    ftmo_records.push(account("2026-01-15T12:00:00Z", dec!(110400), dec!(110400)));
    let mut with_deal = ftmo_records.clone();
    with_deal.push(deposit("2026-01-15T12:00:01Z", dec!(10000)));
    check(
        ftmo(),
        &ftmo_records,
        expect(Active, "profit_target", Pending),
    );
    check(
        ftmo(),
        &with_deal,
        with_floor(expect(Active, "profit_target", Pending), dec!(120000)),
    );
    check(
        ftmo(),
        &with_deal,
        with_floor(expect(Active, "max_loss", Fine), dec!(100000)),
    );
    // Apex: the same deposit must neither pass (on equity) nor double the trailing peak.
    let apex = || preset("apex-intraday-trailing", dec!(100000));
    let open_trade = position(
        "p",
        Side::Buy,
        dec!(1),
        dec!(1.1),
        Some(dec!(1.09)),
        "2026-01-12T15:00:20Z",
    );
    let apex_records = vec![
        account("2026-01-12T15:00:00Z", dec!(100000), dec!(100000)),
        positions("2026-01-12T15:00:30Z", vec![open_trade]),
        account("2026-01-12T15:01:00Z", dec!(110000), dec!(110000)),
    ];
    check(
        apex(),
        &apex_records,
        expect(Active, "profit_target", Pending),
    );
    let mut apex_deal = apex_records.clone();
    apex_deal.push(deposit("2026-01-12T15:01:01Z", dec!(10000)));
    apex_deal.push(account("2026-01-12T15:02:00Z", dec!(110000), dec!(110000)));
    check(
        apex(),
        &apex_deal,
        with_floor(expect(Active, "max_loss", Fine), dec!(107000)),
    );
}

#[test]
fn deposit_order_does_not_change_the_anchors() {
    // The same day told both ways: the deal first, or the account update first.
    let start = [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-12T09:30:00Z", dec!(100000), dec!(105000)),
    ];
    let deal_first = [
        deposit("2026-01-12T10:00:00Z", dec!(10000)),
        account("2026-01-12T10:00:01Z", dec!(110000), dec!(111000)),
        tick("2026-01-13T09:00:00Z"),
    ];
    let account_first = [
        account("2026-01-12T10:00:00Z", dec!(110000), dec!(111000)),
        deposit("2026-01-12T10:00:01Z", dec!(10000)),
        tick("2026-01-13T09:00:00Z"),
    ];
    for name in ["apex-intraday-trailing", "ftmo-1step", "fund-policy"] {
        let mut a = preset(name, dec!(100000));
        run(&mut a, &start);
        run(&mut a, &deal_first);
        let mut b = preset(name, dec!(100000));
        run(&mut b, &start);
        run(&mut b, &account_first);
        assert_eq!(a.anchors(), b.anchors(), "{name}");
        assert_eq!(a.anchors().peak_equity, dec!(115000), "{name}");
        assert_eq!(a.anchors().start_of_day_balance, dec!(110000), "{name}");
        assert_eq!(a.status(), b.status(), "{name}");
        assert_eq!(a.metrics().balance, dec!(110000), "{name}");
    }
}

#[test]
fn start_of_day_balance_includes_deals_closed_after_the_last_account_update() {
    let day_one = [
        account("2026-01-12T22:00:00Z", dec!(100000), dec!(96000)),
        close("2026-01-12T22:30:00Z", dec!(-4000), dec!(1)),
    ];
    // The deal arrives before the reset, or after it but dated before it.
    let in_time = [
        tick("2026-01-12T23:00:00Z"),
        account("2026-01-12T23:00:05Z", dec!(96000), dec!(96000)),
        account("2026-01-13T10:00:00Z", dec!(96000), dec!(94500)),
    ];
    let mut records = day_one.to_vec();
    records.extend(in_time.iter().cloned());
    check(
        ftmo(),
        &records,
        with_floor(expect(Active, "daily_loss", Fine), dec!(91000)),
    );
    let late = [
        account("2026-01-12T22:00:00Z", dec!(100000), dec!(96000)),
        tick("2026-01-12T23:00:00Z"),
        late_deal("2026-01-12T23:00:03Z", "2026-01-12T22:30:00Z", dec!(-4000)),
        account("2026-01-12T23:00:05Z", dec!(96000), dec!(96000)),
        account("2026-01-13T10:00:00Z", dec!(96000), dec!(94500)),
    ];
    check(
        ftmo(),
        &late,
        with_floor(expect(Active, "daily_loss", Fine), dec!(91000)),
    );
    // The account reported it before the reset, the deal arrives after it.
    let reported = [
        account("2026-01-12T22:00:00Z", dec!(100000), dec!(96000)),
        account("2026-01-12T22:40:00Z", dec!(96000), dec!(96000)),
        tick("2026-01-12T23:00:00Z"),
        late_deal("2026-01-12T23:00:03Z", "2026-01-12T22:39:59Z", dec!(-4000)),
        account("2026-01-13T10:00:00Z", dec!(96000), dec!(94500)),
    ];
    check(
        ftmo(),
        &reported,
        with_floor(expect(Active, "daily_loss", Fine), dec!(91000)),
    );
    // Or reported it after the reset, before the deal.
    let after = [
        account("2026-01-12T22:00:00Z", dec!(100000), dec!(96000)),
        tick("2026-01-12T23:00:00Z"),
        account("2026-01-12T23:00:02Z", dec!(96000), dec!(96000)),
        late_deal("2026-01-12T23:00:03Z", "2026-01-12T22:59:59Z", dec!(-4000)),
        account("2026-01-13T10:00:00Z", dec!(96000), dec!(94500)),
    ];
    check(
        ftmo(),
        &after,
        with_floor(expect(Active, "daily_loss", Fine), dec!(91000)),
    );
    // The end-of-day balance that trails (FTMO 1-Step) sees a profit closed after the update.
    let mut one_step = preset("ftmo-1step", dec!(100000));
    run(
        &mut one_step,
        &[
            account("2026-01-12T22:00:00Z", dec!(100000), dec!(102000)),
            close("2026-01-12T22:30:00Z", dec!(2000), dec!(1)),
            tick("2026-01-12T23:00:00Z"),
        ],
    );
    assert_eq!(one_step.anchors().peak_end_of_day_balance, dec!(102000));
    assert_eq!(one_step.anchors().start_of_day_balance, dec!(102000));
    assert_eq!(one_step.metrics().balance, dec!(102000));
}

#[test]
fn closed_balance_target_needs_a_positions_record_and_no_floating_pl() {
    let mut base = four_small_days();
    base.push(close("2026-01-15T11:30:00Z", dec!(9600), dec!(1)));
    let with = |tail: Vec<Record>| {
        let mut records = base.clone();
        records.extend(tail);
        records
    };
    // No Positions record yet: open positions are unknown.
    check(
        ftmo(),
        &with(vec![account(
            "2026-01-15T12:00:00Z",
            dec!(110000),
            dec!(108000),
        )]),
        expect(Active, "profit_target", Pending),
    );
    check(
        ftmo(),
        &with(vec![account(
            "2026-01-15T12:00:00Z",
            dec!(110000),
            dec!(110000),
        )]),
        expect(Active, "profit_target", Pending),
    );
    // Known flat, but equity still differs from balance.
    check(
        ftmo(),
        &with(vec![
            positions("2026-01-15T11:59:00Z", vec![]),
            account("2026-01-15T12:00:00Z", dec!(110000), dec!(109000)),
        ]),
        expect(Active, "profit_target", Pending),
    );
    check(
        ftmo(),
        &with(vec![
            positions("2026-01-15T11:59:00Z", vec![]),
            account("2026-01-15T12:00:00Z", dec!(110000), dec!(110000)),
        ]),
        expect(Passed, "profit_target", Met),
    );
    // A balance no deal explains never passes.
    let mut unexplained = four_small_days();
    unexplained.push(positions("2026-01-15T11:59:00Z", vec![]));
    unexplained.push(account("2026-01-15T12:00:00Z", dec!(110000), dec!(110000)));
    check(
        ftmo(),
        &unexplained,
        expect(Active, "profit_target", Pending),
    );
}

#[test]
fn a_new_peak_rearms_only_the_rules_whose_floor_moved() {
    #[track_caller]
    fn check(mode: MaxLossMode, records: &[Record], warnings: usize) {
        let mut challenge = one_rule(RuleKind::MaxLoss {
            mode,
            limit: Limit::Money(dec!(10000)),
            lock_above_initial: Some(dec!(1000)),
            measure: Measure::Equity,
            breach_at_floor: false,
        });
        let events = run(&mut challenge, records);
        let count = events
            .iter()
            .filter(|e| e.kind == EventKind::Warning)
            .count();
        assert_eq!(count, warnings, "{mode:?}");
    }
    // A new equity peak leaves a peak-balance floor alone: its warning stays raised.
    let equity_peak = [
        account("2026-01-12T10:00:00Z", dec!(94000), dec!(94000)),
        account("2026-01-12T10:01:00Z", dec!(94000), dec!(100500)),
        account("2026-01-12T10:02:00Z", dec!(94000), dec!(94000)),
    ];
    check(MaxLossMode::TrailingPeakBalance, &equity_peak, 1);
    // Once the floor is locked (IB + 1,000), higher peaks move nothing.
    let locked = [
        account("2026-01-12T10:00:00Z", dec!(112000), dec!(112000)),
        account("2026-01-12T10:01:00Z", dec!(112000), dec!(105000)),
        account("2026-01-12T10:02:00Z", dec!(112000), dec!(113000)),
        account("2026-01-12T10:03:00Z", dec!(112000), dec!(105000)),
    ];
    check(MaxLossMode::TrailingPeakEquity, &locked, 1);
    // A peak that does move the floor re-arms the warnings.
    let moved = [
        account("2026-01-12T10:00:00Z", dec!(100000), dec!(94000)),
        account("2026-01-12T10:01:00Z", dec!(100000), dec!(100500)),
        account("2026-01-12T10:02:00Z", dec!(100000), dec!(94500)),
    ];
    check(MaxLossMode::TrailingPeakEquity, &moved, 2);
}

#[test]
fn deals_count_on_their_own_trading_day() {
    // Closed at 23:59 Prague on the 12th, received after midnight: the 12th's profit.
    let mut challenge = preset("ftmo-1step", dec!(100000));
    run(
        &mut challenge,
        &[
            account("2026-01-12T10:00:00Z", dec!(100000), dec!(100000)),
            tick("2026-01-12T23:00:01Z"),
            late_deal("2026-01-12T23:00:05Z", "2026-01-12T22:59:00Z", dec!(500)),
            tick("2026-01-13T23:00:00Z"),
        ],
    );
    let days: Vec<_> = challenge
        .days()
        .iter()
        .map(|d| (d.date.to_string(), d.closed_pl))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-01-12".to_owned(), dec!(500)),
            ("2026-01-13".to_owned(), dec!(0))
        ]
    );
    // A loss closed on January 31 is not February's realized loss.
    let mut month = preset("fund-policy", dec!(100000));
    run(
        &mut month,
        &[
            account("2026-01-31T10:00:00Z", dec!(100000), dec!(100000)),
            tick("2026-02-01T00:00:01Z"),
            late_deal("2026-02-01T00:00:05Z", "2026-01-31T23:59:00Z", dec!(-700)),
        ],
    );
    assert_eq!(month.metrics().realized_loss_mtd, dec!(0));
    assert_eq!(month.metrics().today_closed_pl, dec!(0));
    assert_eq!(month.anchors().start_of_month_balance, dec!(99300));
}

#[test]
fn evening_resets_name_the_day_by_the_server_date() {
    #[track_caller]
    fn check(clock: ResetClock, at: &str, day: &str) {
        assert_eq!(clock.trading_day(t(at)), day.parse().ok(), "{at}");
    }
    let ny = ResetClock::new_york_five_pm();
    // 17:00 New York is midnight on a GMT+2 server: 23:00 UTC on Jan 30 is Jan 31 there.
    check(ny, "2026-01-30T23:00:00Z", "2026-01-31");
    check(ny, "2026-01-30T21:59:00Z", "2026-01-30");
    // Across both daylight-saving changes of New York.
    check(ny, "2026-03-08T12:00:00Z", "2026-03-08");
    check(ny, "2026-03-08T21:00:00Z", "2026-03-09");
    check(ny, "2026-11-01T21:30:00Z", "2026-11-01");
    check(ny, "2026-11-01T22:00:00Z", "2026-11-02");
    // Midnight Prague is unchanged.
    check(
        ResetClock::prague_midnight(),
        "2026-01-30T23:00:00Z",
        "2026-01-31",
    );
    check(
        ResetClock::prague_midnight(),
        "2026-01-30T22:59:00Z",
        "2026-01-30",
    );
}

#[test]
fn a_profitable_day_after_a_reset_never_breaches() {
    for name in [
        "ftmo-2step",
        "ftmo-1step",
        "the5ers-high-stakes",
        "fundednext-2step",
        "topstep-eod-trailing",
        "apex-intraday-trailing",
        "fund-policy",
    ] {
        let mut challenge = preset(name, dec!(100000));
        let events = run(
            &mut challenge,
            &[
                account("2026-01-12T15:00:00Z", dec!(100000), dec!(101500)),
                // Carried over the reset with a floating profit, closed the next day.
                account("2026-01-13T15:00:00Z", dec!(100000), dec!(101500)),
                close("2026-01-13T15:30:00Z", dec!(1500), dec!(1)),
                account("2026-01-13T15:30:01Z", dec!(101500), dec!(101500)),
                account("2026-01-13T16:00:00Z", dec!(101500), dec!(102500)),
                account("2026-01-13T16:30:00Z", dec!(102500), dec!(102500)),
                tick("2026-01-14T15:00:00Z"),
                account("2026-01-14T15:00:01Z", dec!(102500), dec!(102600)),
            ],
        );
        assert!(
            events.iter().all(|e| e.kind != EventKind::Breach),
            "{name}: {events:?}"
        );
        assert_ne!(challenge.status(), Failed, "{name}");
    }
    // The5ers: the floating profit carried over the reset lifts the anchor (SOD equity 101,500,
    // floor 96,425) and closing it at that level changes nothing.
    let mut five = preset("the5ers-high-stakes", dec!(100000));
    run(
        &mut five,
        &[
            account("2026-01-12T15:00:00Z", dec!(100000), dec!(101500)),
            account("2026-01-13T15:00:00Z", dec!(100000), dec!(101500)),
        ],
    );
    assert_eq!(five.rule_floor("daily_loss"), Some(dec!(96425)));
    run(
        &mut five,
        &[
            close("2026-01-13T15:30:00Z", dec!(1500), dec!(1)),
            account("2026-01-13T15:30:01Z", dec!(101500), dec!(101500)),
        ],
    );
    assert_eq!(five.rule_floor("daily_loss"), Some(dec!(96425)));
    assert_eq!(five.rule_status("daily_loss"), Some(Fine));
}

#[test]
fn state_saved_before_pending_balances_existed_still_loads() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[account("2026-01-12T09:00:00Z", dec!(100000), dec!(99000))],
    );
    let mut json: serde_json::Value = serde_json::to_value(&challenge).expect("serialise");
    let object = json.as_object_mut().expect("object");
    object.remove("pending");
    object.remove("positions_known");
    let mut restored: Challenge = serde_json::from_value(json).expect("deserialise");
    // Carries on: a deposit moves the anchors, a flat book is learnt from a Positions record.
    run(
        &mut restored,
        &[
            deposit("2026-01-12T10:00:00Z", dec!(1000)),
            positions("2026-01-12T10:00:01Z", vec![]),
            account("2026-01-12T10:00:02Z", dec!(101000), dec!(101000)),
        ],
    );
    assert_eq!(restored.anchors().peak_equity, dec!(101000));
    assert_eq!(restored.rule_floor("daily_loss"), Some(dec!(96000)));
    assert_eq!(restored.status(), Active);
}

#[test]
fn a_late_loss_of_the_finished_day_lowers_that_days_peak_close() {
    // Topstep trails the best end-of-day balance. The account last reported 51,000 before the
    // reset; a 600 loss closed just before the reset arrives after it. The day closed at
    // 50,400, so the trailing floor hangs from 50,400, not 51,000.
    let mut challenge = preset("topstep-eod-trailing", dec!(50000));
    run(
        &mut challenge,
        &[
            account("2026-01-12T15:00:00Z", dec!(51000), dec!(51000)),
            tick("2026-01-12T22:00:01Z"),
            late_deal("2026-01-12T22:00:05Z", "2026-01-12T21:59:00Z", dec!(-600)),
            account("2026-01-12T22:00:06Z", dec!(50400), dec!(50400)),
        ],
    );
    assert_eq!(challenge.anchors().start_of_day_balance, dec!(50400));
    assert_eq!(challenge.anchors().peak_end_of_day_balance, dec!(50400));
    // A late profit still raises it.
    let mut challenge = preset("topstep-eod-trailing", dec!(50000));
    run(
        &mut challenge,
        &[
            account("2026-01-12T15:00:00Z", dec!(50000), dec!(50000)),
            tick("2026-01-12T22:00:01Z"),
            late_deal("2026-01-12T22:00:05Z", "2026-01-12T21:59:00Z", dec!(700)),
        ],
    );
    assert_eq!(challenge.anchors().peak_end_of_day_balance, dec!(50700));
}

#[test]
fn deal_history_before_any_account_report_moves_the_balance_and_its_peak() {
    // Onboarding mid-challenge replays deals alone: balance and peak balance follow them, and
    // equity (unknown) stands at the balance, so no equity floor is set above the truth.
    let mut challenge = preset("ftmo-2step", dec!(100000));
    run(
        &mut challenge,
        &[
            tick("2026-01-12T08:00:00Z"),
            open("2026-01-12T09:00:00Z"),
            close("2026-01-12T10:00:00Z", dec!(2500), dec!(1)),
            open("2026-01-12T11:00:00Z"),
            close("2026-01-12T12:00:00Z", dec!(-1000), dec!(1)),
            tick("2026-01-13T09:00:00Z"),
        ],
    );
    let anchors = challenge.anchors();
    assert_eq!(anchors.peak_balance, dec!(102500));
    assert_eq!(anchors.start_of_day_balance, dec!(101500));
    assert_eq!(anchors.start_of_day_equity, dec!(101500));
    assert!(challenge.events().is_empty());
}

#[test]
fn a_corrected_anchor_moves_its_floors_at_once_and_keeps_history() {
    let mut challenge = ftmo();
    let mut out = Vec::new();
    for record in [
        account("2026-01-12T09:00:00Z", dec!(100000), dec!(100000)),
        account("2026-01-12T10:00:00Z", dec!(100000), dec!(99000)),
    ] {
        challenge.apply(&record, &mut out).expect("applied");
    }
    assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(95000)));
    // The start of day was really 104,000 (say the reconstruction missed a deal).
    let before = challenge
        .correct_anchor(AnchorField::StartOfDayBalance, dec!(104000))
        .expect("corrected");
    assert_eq!(before, dec!(100000));
    assert_eq!(challenge.anchors().start_of_day_balance, dec!(104000));
    assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(99000)));
    challenge
        .apply(
            &account("2026-01-12T10:01:00Z", dec!(100000), dec!(98900)),
            &mut out,
        )
        .expect("applied");
    assert_eq!(challenge.status(), Failed);
    let events = challenge.events().len();
    // A correction never rewrites what was recorded: the breach stays.
    challenge
        .correct_anchor(AnchorField::StartOfDayBalance, dec!(100000))
        .expect("corrected");
    assert_eq!(challenge.status(), Failed);
    assert_eq!(challenge.events().len(), events);
    for bad in [dec!(0), dec!(-1), dec!(1e16)] {
        assert!(matches!(
            challenge.correct_anchor(AnchorField::PeakEquity, bad),
            Err(EngineError::InvalidAnchor { .. })
        ));
    }
}

#[test]
fn a_cleared_breach_keeps_its_event_and_the_rule_measures_again() {
    let mut challenge = ftmo();
    assert!(matches!(
        challenge.clear_breaches(),
        Err(EngineError::NoBreach(Active))
    ));
    run(
        &mut challenge,
        &[account("2026-01-12T10:00:00Z", dec!(100000), dec!(94000))],
    );
    assert_eq!(challenge.status(), Failed);
    let logged = challenge.events().len();
    assert_eq!(
        challenge.clear_breaches().expect("a breach to clear"),
        ["daily_loss"]
    );
    assert_eq!(challenge.status(), Active);
    assert_eq!(challenge.rule_status("daily_loss"), Some(Fine));
    // The evidence stays: nothing recorded is removed.
    assert_eq!(challenge.events().len(), logged);
    assert!(
        challenge
            .events()
            .iter()
            .any(|e| e.kind == EventKind::Breach)
    );
    // Back above the floor it stays active; under it again it breaches again.
    let events = run(
        &mut challenge,
        &[account("2026-01-12T10:01:00Z", dec!(100000), dec!(99000))],
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(challenge.status(), Active);
    let events = run(
        &mut challenge,
        &[account("2026-01-12T10:02:00Z", dec!(100000), dec!(94000))],
    );
    assert!(
        events.iter().any(|e| e.kind == EventKind::Breach),
        "{events:?}"
    );
    assert_eq!(challenge.status(), Failed);
}

#[test]
fn unpausing_releases_a_soft_breach_before_the_reset() {
    let ts = "2026-01-12T09:00:00Z";
    let pos = |id: &str| position(id, Side::Buy, dec!(1), dec!(1.1000), Some(dec!(1.0950)), ts);
    let mut challenge = one_rule(RuleKind::MaxOpenPositions { count: 1 });
    assert!(matches!(
        challenge.unpause(),
        Err(EngineError::NotPaused(Active))
    ));
    run(
        &mut challenge,
        &[
            account(ts, dec!(100000), dec!(100000)),
            positions(ts, vec![pos("a"), pos("b")]),
        ],
    );
    assert_eq!(challenge.status(), Paused);
    assert_eq!(challenge.unpause().expect("paused"), ["rule"]);
    assert_eq!(challenge.status(), Active);
    assert_eq!(challenge.rule_status("rule"), Some(Fine));
    assert!(
        challenge
            .events()
            .iter()
            .any(|e| e.kind == EventKind::Breach)
    );
    assert!(matches!(
        challenge.unpause(),
        Err(EngineError::NotPaused(Active))
    ));
    // A hard breach is not a pause: only clearing it makes the challenge active.
    let mut failed = ftmo();
    run(
        &mut failed,
        &[account("2026-01-12T10:00:00Z", dec!(100000), dec!(94000))],
    );
    assert!(matches!(
        failed.unpause(),
        Err(EngineError::NotPaused(Failed))
    ));
}
