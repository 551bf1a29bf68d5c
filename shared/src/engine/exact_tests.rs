//! Decisions a trader would dispute, found against MetaApi's documented examples and the firms'
//! worked examples: deals that arrive late or out of order, balance changes reported before
//! their deal, commission deals, netting reversals.

use super::tests::{account, close, deal, deposit, open, run, t};
use super::*;
use crate::domain::{DealEntry, DealKind};
use rust_decimal_macros::dec;

fn ftmo() -> Challenge {
    Challenge::from_preset("ftmo-2step", dec!(100000)).expect("preset")
}

/// A deal with its own id and time, brought by a record at `arrived`.
fn late(mut record: Record, id: &str, arrived: &str) -> Record {
    if let RecordData::Deal(deal) = &mut record.data {
        deal.id = id.into();
    }
    record.time = t(arrived);
    record
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn a_commission_deal_never_counts_a_trading_day_whatever_its_entry() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            deal(
                "2026-03-02T09:05:00Z",
                DealKind::Commission,
                Some(DealEntry::In),
                dec!(-7),
                dec!(1),
            ),
            deal(
                "2026-03-03T09:05:00Z",
                DealKind::Charge,
                Some(DealEntry::In),
                dec!(-2),
                dec!(0),
            ),
        ],
    );
    assert_eq!(challenge.metrics().trading_days, 0);
    run(&mut challenge, &[open("2026-03-03T10:00:00Z")]);
    assert_eq!(challenge.metrics().trading_days, 1);
}

/// Day one closes at 110,000 (a trade made 10,000), so day two's daily floor is 105,000 and a
/// withdrawal of 8,000 would break it if it were a loss.
fn funded_day_two() -> (Challenge, Vec<Event>) {
    let mut challenge = ftmo();
    let events = run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            close("2026-03-02T10:00:00Z", dec!(10000), dec!(1)),
            account("2026-03-02T10:01:00Z", dec!(110000), dec!(110000)),
            // Prague midnight is 23:00 UTC in March (before the switch to summer time).
            account("2026-03-03T08:00:00Z", dec!(110000), dec!(110000)),
        ],
    );
    assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(105000)));
    (challenge, events)
}

#[test]
fn a_withdrawal_whose_deal_comes_first_moves_the_floors_and_fails_nothing() {
    let (mut challenge, _) = funded_day_two();
    let events = run(
        &mut challenge,
        &[
            late(
                deposit("2026-03-03T08:59:50Z", dec!(-8000)),
                "w",
                "2026-03-03T09:00:00Z",
            ),
            account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000)),
        ],
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(challenge.status(), ChallengeStatus::Active);
    assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(97000)));
}

#[test]
fn a_withdrawal_reported_before_its_deal_is_held_then_fails_nothing() {
    let (mut challenge, _) = funded_day_two();
    let events = run(
        &mut challenge,
        &[account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000))],
    );
    assert!(
        events.is_empty(),
        "a held decision is no breach: {events:?}"
    );
    assert_eq!(challenge.status(), ChallengeStatus::Active);
    assert_eq!(challenge.unexplained_balance(), dec!(-8000));
    let held = challenge.held("daily_loss").expect("the decision is held");
    assert_eq!(held.measured, dec!(102000));
    assert_eq!(held.limit, dec!(105000));
    let report = challenge.rule_reports();
    let daily = report.iter().find(|r| r.id == "daily_loss").expect("rule");
    assert_eq!(daily.held_since, Some(t("2026-03-03T09:00:00Z")));

    let events = run(
        &mut challenge,
        &[
            account("2026-03-03T09:00:30Z", dec!(102000), dec!(101900)),
            late(
                deposit("2026-03-03T08:59:50Z", dec!(-8000)),
                "w",
                "2026-03-03T09:01:00Z",
            ),
        ],
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(challenge.status(), ChallengeStatus::Active);
    assert!(challenge.held("daily_loss").is_none());
    assert_eq!(challenge.unexplained_balance(), Decimal::ZERO);
    assert_eq!(challenge.rule_floor("daily_loss"), Some(dec!(97000)));
    // The same floors as when the deal came first.
    let (mut deal_first, _) = funded_day_two();
    run(
        &mut deal_first,
        &[
            late(
                deposit("2026-03-03T08:59:50Z", dec!(-8000)),
                "w",
                "2026-03-03T09:00:00Z",
            ),
            account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000)),
        ],
    );
    assert_eq!(challenge.anchors(), deal_first.anchors());
}

#[test]
fn a_balance_drop_a_losing_trade_explains_is_a_breach_at_its_own_instant() {
    let (mut challenge, _) = funded_day_two();
    let events = run(
        &mut challenge,
        &[
            account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000)),
            late(
                close("2026-03-03T08:59:55Z", dec!(-8000), dec!(5)),
                "loss",
                "2026-03-03T09:01:00Z",
            ),
        ],
    );
    assert_eq!(kinds(&events), [EventKind::Breach, EventKind::Failed]);
    let evidence = events[0].evidence.as_deref().expect("evidence");
    assert_eq!(events[0].time, t("2026-03-03T09:00:00Z"));
    assert_eq!(evidence.measured, dec!(102000));
    assert_eq!(evidence.limit, dec!(105000));
    assert_eq!(evidence.decided, Some(t("2026-03-03T09:01:00Z")));
    assert_eq!(challenge.status(), ChallengeStatus::Failed);
}

#[test]
fn a_breach_under_either_reading_is_not_held() {
    let (mut challenge, _) = funded_day_two();
    // Even as a withdrawal of 8,000 (floor 97,000), equity at 96,000 is below the floor.
    let events = run(
        &mut challenge,
        &[account("2026-03-03T09:00:00Z", dec!(102000), dec!(96000))],
    );
    assert_eq!(kinds(&events), [EventKind::Breach, EventKind::Failed]);
}

#[test]
fn a_decision_held_past_the_bound_is_decided_as_the_data_stands_and_flagged() {
    let (mut challenge, _) = funded_day_two();
    let mut events = run(
        &mut challenge,
        &[account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000))],
    );
    for minute in 1..=15 {
        let time = format!("2026-03-03T09:{minute:02}:00Z");
        events.extend(run(
            &mut challenge,
            &[account(&time, dec!(102000), dec!(102000))],
        ));
    }
    // Ten minutes without the deal: an admin is told, and the change stands as reported.
    assert_eq!(
        kinds(&events),
        [EventKind::Held, EventKind::Breach, EventKind::Failed]
    );
    assert_eq!(events[0].time, t("2026-03-03T09:10:00Z"));
    assert_eq!(events[0].rule.as_deref(), Some("daily_loss"));
    let evidence = events[1].evidence.as_deref().expect("evidence");
    assert_eq!(
        events[1].time,
        t("2026-03-03T09:00:00Z"),
        "when it happened"
    );
    assert_eq!(evidence.decided, Some(t("2026-03-03T09:10:00Z")));
    assert_eq!(evidence.unexplained, Some(dec!(-8000)));
}

#[test]
fn an_admin_correction_settles_a_held_decision() {
    let (mut challenge, _) = funded_day_two();
    run(
        &mut challenge,
        &[account("2026-03-03T09:00:00Z", dec!(102000), dec!(102000))],
    );
    assert!(challenge.held("daily_loss").is_some());
    // It was a withdrawal: the admin moves the start-of-day balance by it.
    challenge
        .correct_anchor(AnchorField::StartOfDayBalance, dec!(102000))
        .expect("correction");
    assert!(challenge.held("daily_loss").is_none());
    let events = run(
        &mut challenge,
        &[account("2026-03-03T09:20:00Z", dec!(102000), dec!(101000))],
    );
    assert!(
        events.iter().all(|e| e.kind == EventKind::Warning),
        "{events:?}"
    );
    assert_eq!(challenge.status(), ChallengeStatus::Active);
}

#[test]
fn a_deposit_reported_before_its_deal_cannot_hide_a_breach() {
    let mut challenge = ftmo();
    // Equity 104,000 with a deposit of 10,000 not yet explained: as a trading result the
    // floor is 95,000, but once the deposit moves it to 105,000 the equity is below it.
    let events = run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-03-02T09:10:00Z", dec!(110000), dec!(104000)),
        ],
    );
    assert!(events.is_empty(), "{events:?}");
    assert!(challenge.held("daily_loss").is_some());
    let events = run(
        &mut challenge,
        &[late(
            deposit("2026-03-02T09:09:59Z", dec!(10000)),
            "dep",
            "2026-03-02T09:11:00Z",
        )],
    );
    assert_eq!(kinds(&events), [EventKind::Breach, EventKind::Failed]);
    assert_eq!(events[0].time, t("2026-03-02T09:10:00Z"));
    let evidence = events[0].evidence.as_deref().expect("evidence");
    assert_eq!(evidence.limit, dec!(105000));
}

#[test]
fn a_netting_reversal_closes_the_volume_that_was_open() {
    let mut challenge = ftmo();
    let reversal =
        |time: &str, pl: Decimal| deal(time, DealKind::Sell, Some(DealEntry::InOut), pl, dec!(3));
    run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            open("2026-03-02T09:10:00Z"),
            // Sells 3 lots against 1 long: closes the 1 lot, opens 2 short.
            reversal("2026-03-02T09:20:00Z", dec!(-40)),
            deal(
                "2026-03-03T09:30:00Z",
                DealKind::Buy,
                Some(DealEntry::Out),
                dec!(90),
                dec!(2),
            ),
        ],
    );
    let metrics = challenge.metrics();
    assert_eq!(metrics.trades, 2);
    assert_eq!(
        metrics.lots,
        dec!(3),
        "1 lot closed by the reversal, then 2"
    );
    assert_eq!(
        metrics.trading_days, 1,
        "the reversal opens on the same day"
    );
}

#[test]
fn a_late_deal_of_a_finished_day_is_counted_on_its_day_and_remembered() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            close("2026-03-02T10:00:00Z", dec!(200), dec!(1)),
            account("2026-03-02T10:01:00Z", dec!(100200), dec!(100200)),
            account("2026-03-03T08:00:00Z", dec!(99850), dec!(99850)),
        ],
    );
    // The stop-loss close of 22:55 on the 2nd (Prague's 23:55) arrives ten hours late.
    run(
        &mut challenge,
        &[late(
            close("2026-03-02T22:55:00Z", dec!(-350), dec!(1)),
            "sl",
            "2026-03-03T08:05:00Z",
        )],
    );
    let day = challenge
        .days()
        .iter()
        .find(|d| d.date.to_string() == "2026-03-02")
        .expect("day");
    assert_eq!(day.closed_pl, dec!(-150));
    let metrics = challenge.metrics();
    assert_eq!(metrics.trades, 2);
    assert_eq!(metrics.worst_trade, Some(dec!(-350)));
    assert_eq!(metrics.today_closed_pl, Decimal::ZERO);
    let late = challenge.late_deals();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].deal_id, "sl");
    assert!(late[0].past_day);
    assert_eq!(late[0].day_closed_pl_before, dec!(200));
    assert_eq!(late[0].day_closed_pl_after, dec!(-150));
    // The start-of-day balance the deal missed is corrected.
    assert_eq!(challenge.anchors().start_of_day_balance, dec!(99850));
}

#[test]
fn a_losing_trade_that_arrives_out_of_order_takes_its_place_in_the_streak() {
    let mut challenge = Challenge::new(ChallengeConfig {
        preset: "custom".into(),
        initial_balance: dec!(100000),
        clock: ResetClock::utc_midnight(),
        rules: vec![RuleDef::new(
            "streak",
            RuleKind::ConsecutiveLosses {
                max: 2,
                min_lots: dec!(0.01),
            },
        )],
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::default(),
    })
    .expect("config");
    let trade = |id: &str, time: &str, pl: Decimal| late(close(time, pl, dec!(1)), id, time);
    run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            trade("a", "2026-03-02T10:00:00Z", dec!(-10)),
            trade("b", "2026-03-02T10:10:00Z", dec!(20)),
            trade("c", "2026-03-02T10:20:00Z", dec!(-10)),
        ],
    );
    assert_eq!(challenge.metrics().consecutive_losing_trades, 1);
    let arrive = |id: &str, time: &str, pl: Decimal| {
        late(close(time, pl, dec!(1)), id, "2026-03-02T10:30:00Z")
    };
    // Before the win: the streak still running is unchanged.
    let events = run(
        &mut challenge,
        &[arrive("d", "2026-03-02T10:05:00Z", dec!(-10))],
    );
    assert!(events.is_empty());
    assert_eq!(challenge.metrics().consecutive_losing_trades, 1);
    // After the win: part of the streak.
    run(
        &mut challenge,
        &[arrive("e", "2026-03-02T10:15:00Z", dec!(-10))],
    );
    assert_eq!(challenge.metrics().consecutive_losing_trades, 2);
    assert_eq!(challenge.rule_status("streak"), Some(RuleStatus::Ok));
    let events = run(
        &mut challenge,
        &[arrive("f", "2026-03-02T10:12:00Z", dec!(-10))],
    );
    assert_eq!(kinds(&events), [EventKind::Breach]);
    assert_eq!(challenge.metrics().consecutive_losing_trades, 3);
}

#[test]
fn an_old_state_without_the_new_fields_still_loads() {
    let mut challenge = ftmo();
    run(
        &mut challenge,
        &[account("2026-03-02T09:00:00Z", dec!(100000), dec!(99000))],
    );
    let mut json: serde_json::Value = serde_json::to_value(&challenge).expect("json");
    let object = json.as_object_mut().expect("object");
    for field in ["recent_closes", "deal_positions", "late_deals"] {
        assert!(object.remove(field).is_some(), "{field}");
    }
    for rule in object["rules"].as_array_mut().expect("rules") {
        rule.as_object_mut().expect("rule").remove("held");
    }
    let back: Challenge = serde_json::from_value(json).expect("an old state loads");
    assert_eq!(back, challenge);
}

/// The newer anchors (start of the week, the day's highest equity) move with a withdrawal like
/// the others: a weekly loss rule's decision on a withdrawal reported before its deal is held,
/// then settled as nothing.
#[test]
fn a_weekly_loss_decision_on_a_withdrawal_reported_first_is_held_then_settled() {
    let mut challenge = Challenge::new(ChallengeConfig {
        preset: "custom".into(),
        initial_balance: dec!(100000),
        clock: ResetClock::utc_midnight(),
        rules: vec![RuleDef::new(
            "weekly",
            RuleKind::PeriodLoss {
                period: Period::Week,
                limit: Limit::PercentOfInitial(dec!(4)),
                measure: Measure::Equity,
                breach_at_floor: false,
            },
        )],
        estimated_equity_breaches: false,
        interest_dividend_tax: PlCounting::default(),
    })
    .expect("config");
    // Monday 2 March 2026: the week starts at 100,000, its floor is 96,000.
    let events = run(
        &mut challenge,
        &[
            account("2026-03-02T09:00:00Z", dec!(100000), dec!(100000)),
            account("2026-03-03T09:00:00Z", dec!(95000), dec!(95000)),
        ],
    );
    assert!(events.is_empty(), "{events:?}");
    assert!(challenge.held("weekly").is_some());
    let events = run(
        &mut challenge,
        &[late(
            deposit("2026-03-03T08:59:59Z", dec!(-5000)),
            "w",
            "2026-03-03T09:00:30Z",
        )],
    );
    assert!(events.is_empty(), "{events:?}");
    assert!(challenge.held("weekly").is_none());
    assert_eq!(challenge.rule_floor("weekly"), Some(dec!(91000)));
    assert_eq!(challenge.status(), ChallengeStatus::Active);
}
