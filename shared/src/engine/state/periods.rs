//! Rule definitions added for issue 18 ("exact against the real world"), kept apart from the
//! core of `state` so each reads on its own: the week, quarter and year anchors and the day's
//! highest equity (rolled by the reset clock, moved by deposits, corrected by late deals like
//! the month's), interest, dividend and tax deals, per-trade losses, holding time and weekend
//! positions.
//!
//! Nothing here runs on an account update unless a rule asks for it: the day's high is raised
//! only when a rule hangs from it (one flag), and the holding-time and weekend rules compare the
//! record's time with instants precomputed when positions or the window change.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Challenge, Check, PlCounting, absorb, refloor};
use crate::domain::{Deal, Money};
use crate::engine::clock::ResetClock;
use crate::engine::rules::{DailyAnchor, Period, RuleDef, RuleKind, RuleStatus, Weekday};
use crate::engine::{Anchors, Event, Record};

/// Indexes into `Pending::extra`: the newer anchors a balance change can hide in.
const WEEK: usize = 0;
const QUARTER: usize = 1;
const YEAR: usize = 2;
const DAY_HIGH: usize = 3;

/// Which periods a daily roll starts anew.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::engine) struct Rolled {
    week: bool,
    month: bool,
    quarter: bool,
    year: bool,
}

impl Rolled {
    /// From trading day `previous` (none: the first day) to `day`.
    pub(in crate::engine) fn between(previous: Option<NaiveDate>, day: NaiveDate) -> Self {
        let Some(previous) = previous else {
            return Self {
                week: true,
                month: true,
                quarter: true,
                year: true,
            };
        };
        Self {
            week: !same(Period::Week, previous, day),
            month: !same(Period::Month, previous, day),
            quarter: !same(Period::Quarter, previous, day),
            year: !same(Period::Year, previous, day),
        }
    }

    /// Whether `period` started anew.
    pub(in crate::engine) fn of(self, period: Period) -> bool {
        match period {
            Period::Week => self.week,
            Period::Month => self.month,
            Period::Quarter => self.quarter,
            Period::Year => self.year,
        }
    }
}

/// Whether trading days `a` and `b` fall in the same `period`.
fn same(period: Period, a: NaiveDate, b: NaiveDate) -> bool {
    match period {
        Period::Week => a.iso_week() == b.iso_week(),
        Period::Month => a.year() == b.year() && a.month() == b.month(),
        Period::Quarter => a.year() == b.year() && a.month0() / 3 == b.month0() / 3,
        Period::Year => a.year() == b.year(),
    }
}

/// The first day of the `period` containing `day`.
fn period_start(period: Period, day: NaiveDate) -> NaiveDate {
    let first_of = |month0: u32| NaiveDate::from_ymd_opt(day.year(), month0 + 1, 1);
    let start = match period {
        Period::Week => day.checked_sub_signed(TimeDelta::days(i64::from(
            day.weekday().num_days_from_monday(),
        ))),
        Period::Month => first_of(day.month0()),
        Period::Quarter => first_of(day.month0() / 3 * 3),
        Period::Year => first_of(0),
    };
    start.unwrap_or(day)
}

/// What a breach is about, beyond its rule: one position or one deal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(in crate::engine) struct Subject {
    pub(in crate::engine) position: Option<String>,
    pub(in crate::engine) deal: Option<String>,
}

/// A weekend rule's latest window started at or before the last record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::engine) struct Window {
    /// When the weekend started.
    start: DateTime<Utc>,
    /// When it ended (or ends).
    end: DateTime<Utc>,
    /// When the next one starts: the window is recomputed then.
    next: DateTime<Utc>,
    /// A breach was recorded for this weekend (it is not recorded again after a soft breach's
    /// pause ends).
    judged: bool,
}

/// The weekend of a `NoWeekendPositions` rule that started last at or before `at` (local times
/// in the reset clock's zone, daylight saving included); `None` only outside chrono's range.
fn window_at(clock: ResetClock, kind: &RuleKind, at: DateTime<Utc>) -> Option<Window> {
    let RuleKind::NoWeekendPositions {
        from_day,
        from_time,
        until_day,
        until_time,
    } = *kind
    else {
        return None;
    };
    let zone = clock.time_zone;
    let instant = |date: NaiveDate, time| {
        ResetClock {
            time_zone: zone,
            local_time: time,
        }
        .reset_on(date)
    };
    let on = |start: NaiveDate, day: Weekday, time, after: DateTime<Utc>| {
        (0..=7).find_map(|k| {
            let date = start.checked_add_signed(TimeDelta::days(k))?;
            if date.weekday() != day.chrono() {
                return None;
            }
            instant(date, time).filter(|t| *t > after)
        })
    };
    let today = at.with_timezone(&zone).date_naive();
    let (start_date, start) = (0..=8).find_map(|k| {
        let date = today.checked_sub_signed(TimeDelta::days(k))?;
        if date.weekday() != from_day.chrono() {
            return None;
        }
        let start = instant(date, from_time)?;
        (start <= at).then_some((date, start))
    })?;
    let end = on(start_date, until_day, until_time, start)?;
    let next = on(
        start_date.checked_add_signed(TimeDelta::days(1))?,
        from_day,
        from_time,
        start,
    )?;
    Some(Window {
        start,
        end,
        next,
        judged: false,
    })
}

/// Whether any of `rules` hangs from the day's highest equity.
pub(in crate::engine) fn hangs_from_day_high<'a>(
    mut rules: impl Iterator<Item = &'a RuleDef>,
) -> bool {
    rules.any(|r| {
        matches!(
            r.kind,
            RuleKind::DailyLoss {
                anchor: DailyAnchor::HighestEquityOfDay,
                ..
            }
        )
    })
}

/// Whether any of `rules` is judged on the passing of time (on every record).
pub(in crate::engine) fn judged_on_time<'a>(mut rules: impl Iterator<Item = &'a RuleDef>) -> bool {
    rules.any(|r| {
        matches!(
            r.kind,
            RuleKind::MaxDuration { .. }
                | RuleKind::MaxHoldingTime { .. }
                | RuleKind::NoWeekendPositions { .. }
        )
    })
}

/// A deal of finished trading day `day` (today is `today`) moved the balance by `pl` after the
/// week, quarter or year anchors were taken: those whose period started since missed it, less
/// the part (`seen`) they already held.
pub(in crate::engine) fn correct_periods(
    a: &mut Anchors,
    day: NaiveDate,
    today: NaiveDate,
    pl: Money,
    seen: Money,
    mut extra: [Money; 4],
) {
    let anchors = [
        (Period::Week, &mut a.start_of_week_balance, WEEK),
        (Period::Quarter, &mut a.start_of_quarter_balance, QUARTER),
        (Period::Year, &mut a.start_of_year_balance, YEAR),
    ];
    for (period, value, slot) in anchors {
        if !same(period, day, today) {
            let missed = pl.saturating_sub(absorb(&mut extra[slot], seen));
            *value = value.saturating_add(missed);
        }
    }
}

impl Challenge {
    /// At a daily roll: the periods that started anew take the known balance, and the day's
    /// high starts at the equity.
    pub(in crate::engine) fn roll_periods(&mut self, rolled: Rolled) {
        let a = &mut self.anchors;
        let p = &mut self.pending;
        let anchors = [
            (rolled.week, &mut a.start_of_week_balance, WEEK),
            (rolled.quarter, &mut a.start_of_quarter_balance, QUARTER),
            (rolled.year, &mut a.start_of_year_balance, YEAR),
        ];
        for (anew, value, slot) in anchors {
            if anew {
                *value = self.balance;
                p.extra[slot] = p.amount;
            }
        }
        a.highest_equity_of_day = self.equity;
        p.extra[DAY_HIGH] = p.amount;
    }

    /// A new high of the day's equity: the rules hanging from it re-floor (and get their
    /// warnings back when the floor moved).
    #[inline(never)]
    pub(in crate::engine) fn raise_day_high(&mut self, equity: Money) {
        self.anchors.highest_equity_of_day = equity;
        self.pending.extra[DAY_HIGH] = self.pending.amount;
        for rule in &mut self.rules {
            if matches!(
                rule.def.kind,
                RuleKind::DailyLoss {
                    anchor: DailyAnchor::HighestEquityOfDay,
                    ..
                }
            ) {
                let before = rule.floor;
                refloor(rule, &self.anchors, false);
                if rule.floor != before {
                    rule.warned = 0;
                }
            }
        }
    }

    /// A trading deal explains `seen` of a balance change reported before it: the newer anchors
    /// holding it give it up. Returns what each held before.
    pub(in crate::engine) fn take_extra(&mut self, seen: Money) -> [Money; 4] {
        let before = self.pending.extra;
        for held in &mut self.pending.extra {
            absorb(held, seen);
        }
        before
    }

    /// A deposit or withdrawal of `amount` (`seen` of it already reported) moves the newer
    /// anchors like every other one.
    pub(in crate::engine) fn deposit_extra(&mut self, amount: Money, seen: Money) {
        let a = &mut self.anchors;
        let anchors = [
            &mut a.start_of_week_balance,
            &mut a.start_of_quarter_balance,
            &mut a.start_of_year_balance,
            &mut a.highest_equity_of_day,
        ];
        for (value, held) in anchors.into_iter().zip(&mut self.pending.extra) {
            let held = absorb(held, seen);
            *value = value.saturating_add(amount.saturating_sub(held));
        }
    }

    /// An interest, dividend or tax deal the firm does not count as trading P/L.
    pub(in crate::engine) fn moves_balance_only(&self, deal: &Deal) -> bool {
        self.interest_dividend_tax == PlCounting::BalanceOperation
            && deal.is_interest_dividend_or_tax()
    }

    /// After a rule change (and for a state saved before these rules existed): which flags and
    /// caches the new rules need, and the newer anchors a state saved before them lacks.
    pub(in crate::engine) fn rules_changed(&mut self, clock_changed: bool) {
        self.day_high_rules = hangs_from_day_high(self.rules.iter().map(|r| &r.def));
        self.no_time_rules = !judged_on_time(self.rules.iter().map(|r| &r.def));
        if clock_changed {
            // A weekend's instants are local times of the clock's zone.
            for rule in &mut self.rules {
                rule.window = None;
            }
        }
        let a = &mut self.anchors;
        if a.highest_equity_of_day.is_zero() {
            // Unknown for a state saved before it existed: the higher of the known values,
            // which is at most the true high (a lenient floor, never a false breach).
            a.highest_equity_of_day = a.start_of_day_equity.max(self.equity);
        }
        let today = self.day;
        for period in [Period::Week, Period::Quarter, Period::Year] {
            let value = match period {
                Period::Week => self.anchors.start_of_week_balance,
                Period::Quarter => self.anchors.start_of_quarter_balance,
                _ => self.anchors.start_of_year_balance,
            };
            if !value.is_zero() {
                continue;
            }
            // The start balance of the period's first finished day in the calendar, else
            // today's start-of-day balance.
            let start = today.map(|d| period_start(period, d));
            let known = start
                .and_then(|start| self.days.iter().find(|d| d.date >= start))
                .map_or(self.anchors.start_of_day_balance, |d| d.start_balance);
            let a = &mut self.anchors;
            match period {
                Period::Week => a.start_of_week_balance = known,
                Period::Quarter => a.start_of_quarter_balance = known,
                _ => a.start_of_year_balance = known,
            }
        }
        for rule in &mut self.rules {
            refloor(rule, &self.anchors, false);
        }
        self.recompute_earliest_open();
    }

    /// A `Positions` record: the broker's list is the truth again.
    pub(in crate::engine) fn positions_reported(&mut self) {
        self.closed_since_report.clear();
        self.recompute_earliest_open();
    }

    /// The open time of the oldest position still open: listed, and not closed in full by a
    /// deal since the list.
    fn recompute_earliest_open(&mut self) {
        let closed = &self.closed_since_report;
        self.earliest_open = self
            .positions
            .iter()
            .filter(|p| !closed.iter().any(|(id, v)| *id == p.id && *v >= p.volume))
            .map(|p| p.open_time)
            .min();
    }

    /// After a deal has been folded in: rules judged on a closed trade (its loss, how long the
    /// position was held, whether it was held over a weekend), loss rules measured on the
    /// balance the deal moved, and the positions it closed.
    #[inline(never)]
    pub(in crate::engine) fn after_deal(
        &mut self,
        deal: &Deal,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        let closing = deal.is_closing_trade();
        let position = deal
            .position_id
            .as_deref()
            .filter(|_| closing)
            .and_then(|id| self.positions.iter().find(|p| p.id == id))
            .map(|p| (p.id.clone(), p.open_time, p.volume));
        // Every rule the deal breaks gets its breach, as with every record.
        if !self.status.is_final() {
            for i in 0..self.rules.len() {
                match self.rules[i].def.kind {
                    _ if self.rules[i].check == Check::BalanceFloor => {
                        self.check_floor(i, self.balance, record, out);
                    }
                    RuleKind::MaxTradeLoss { .. } if closing => {
                        self.check_trade_loss(i, deal, record, out);
                    }
                    RuleKind::MaxHoldingTime { minutes } => {
                        if let Some((id, opened, _)) = &position {
                            let held = deal.time - *opened;
                            if held > TimeDelta::minutes(i64::from(minutes))
                                && self.rules[i].status != RuleStatus::Breached
                            {
                                let subject = Subject {
                                    position: Some(id.clone()),
                                    deal: Some(deal.id.clone()),
                                };
                                let limit = Decimal::from(minutes);
                                self.breach_of(i, minutes_of(held), limit, record, subject, out);
                            }
                        }
                    }
                    RuleKind::NoWeekendPositions { .. } => {
                        if let Some((id, opened, _)) = &position {
                            self.check_weekend_close(i, id, *opened, deal, record, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some((id, _, volume)) = position {
            let closed = deal.volume.unwrap_or(volume);
            match self.closed_since_report.iter_mut().find(|(p, _)| *p == id) {
                Some((_, total)) => *total = total.saturating_add(closed),
                None => self.closed_since_report.push((id, closed)),
            }
            self.recompute_earliest_open();
        }
    }

    /// A closing deal's closed P/L (profit, commission, swap) against the per-trade limit.
    fn check_trade_loss(&mut self, i: usize, deal: &Deal, record: &Record, out: &mut Vec<Event>) {
        let pl = deal.closed_pl();
        let rule = &mut self.rules[i];
        let loss = Decimal::ZERO.saturating_sub(pl).max(Decimal::ZERO);
        rule.measured = Some(rule.measured.map_or(loss, |worst| worst.max(loss)));
        if rule.status == RuleStatus::Breached {
            return;
        }
        if pl < rule.floor {
            let floor = rule.floor;
            let subject = Subject {
                position: deal.position_id.clone(),
                deal: Some(deal.id.clone()),
            };
            self.breach_of(i, pl, floor, record, subject, out);
        } else {
            rule.status = RuleStatus::Ok;
        }
    }

    /// Holding time on every record: the oldest position still open against the limit.
    #[inline(never)]
    pub(in crate::engine) fn check_holding(
        &mut self,
        i: usize,
        minutes: u32,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        let limit = TimeDelta::minutes(i64::from(minutes));
        let over = self
            .earliest_open
            .is_some_and(|opened| record.time - opened > limit);
        let rule = &mut self.rules[i];
        if rule.status == RuleStatus::Breached {
            return;
        }
        if !over {
            rule.status = RuleStatus::Ok;
            return;
        }
        // Cold: name the oldest position held too long.
        let closed = &self.closed_since_report;
        let Some(position) = self
            .positions
            .iter()
            .filter(|p| !closed.iter().any(|(id, v)| *id == p.id && *v >= p.volume))
            .min_by_key(|p| p.open_time)
        else {
            return;
        };
        let held = record.time - position.open_time;
        let subject = Subject {
            position: Some(position.id.clone()),
            deal: None,
        };
        self.breach_of(
            i,
            minutes_of(held),
            Decimal::from(minutes),
            record,
            subject,
            out,
        );
    }

    /// The weekend rule on every record: a position open while the latest weekend started at or
    /// before the record's time was on, or opened before it ended and still open.
    #[inline(never)]
    pub(in crate::engine) fn check_weekend(
        &mut self,
        i: usize,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        let time = record.time;
        let window = match self.rules[i].window {
            Some(w) if time < w.next && time >= w.start => w,
            _ => {
                let Some(w) = window_at(self.clock, &self.rules[i].def.kind, time) else {
                    return;
                };
                self.rules[i].window = Some(w);
                w
            }
        };
        let held = self.earliest_open.is_some_and(|opened| opened < window.end);
        let rule = &mut self.rules[i];
        if rule.status == RuleStatus::Breached {
            return;
        }
        if !held || window.judged || self.started.is_some_and(|s| window.end <= s) {
            rule.status = RuleStatus::Ok;
            return;
        }
        // Cold: every position open across it, the oldest named.
        let closed = &self.closed_since_report;
        let across: Vec<&crate::domain::Position> = self
            .positions
            .iter()
            .filter(|p| !closed.iter().any(|(id, v)| *id == p.id && *v >= p.volume))
            .filter(|p| p.open_time < window.end)
            .collect();
        let count = Decimal::from(across.len());
        let subject = Subject {
            position: across
                .iter()
                .min_by_key(|p| p.open_time)
                .map(|p| p.id.clone()),
            deal: None,
        };
        if let Some(w) = &mut self.rules[i].window {
            w.judged = true;
        }
        self.breach_of(i, count, Decimal::ZERO, record, subject, out);
    }

    /// A deal closing position `id` (opened at `opened`) at its own time: held over the weekend
    /// that had started by then.
    fn check_weekend_close(
        &mut self,
        i: usize,
        id: &str,
        opened: DateTime<Utc>,
        deal: &Deal,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        if self.rules[i].status == RuleStatus::Breached {
            return;
        }
        let cached = self.rules[i]
            .window
            .filter(|w| deal.time >= w.start && deal.time < w.next);
        let Some(window) =
            cached.or_else(|| window_at(self.clock, &self.rules[i].def.kind, deal.time))
        else {
            return;
        };
        let judged = cached.is_some_and(|w| w.judged);
        if judged || opened >= window.end || self.started.is_some_and(|s| window.end <= s) {
            return;
        }
        if cached.is_some()
            && let Some(w) = &mut self.rules[i].window
        {
            w.judged = true;
        }
        let subject = Subject {
            position: Some(id.to_owned()),
            deal: Some(deal.id.clone()),
        };
        self.breach_of(i, Decimal::ONE, Decimal::ZERO, record, subject, out);
    }

    /// The longest a position still open has been held at the last record, in minutes.
    pub(in crate::engine) fn longest_holding(&self) -> Option<Decimal> {
        let (opened, now) = (self.earliest_open?, self.last_time?);
        Some(minutes_of(now - opened).max(Decimal::ZERO))
    }
}

/// A duration in minutes, to the second (two decimals).
fn minutes_of(duration: TimeDelta) -> Decimal {
    (Decimal::from(duration.num_seconds()) / Decimal::from(60)).round_dp(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[track_caller]
    fn check(period: Period, a: &str, b: &str, same_period: bool, start: &str) {
        assert_eq!(
            same(period, date(a), date(b)),
            same_period,
            "{period:?} {a} {b}"
        );
        assert_eq!(period_start(period, date(b)), date(start), "{period:?} {b}");
    }

    #[test]
    fn periods_follow_iso_weeks_quarters_and_years() {
        // 2026-01-04 is a Sunday, 2026-01-05 a Monday.
        check(
            Period::Week,
            "2026-01-04",
            "2026-01-05",
            false,
            "2026-01-05",
        );
        check(Period::Week, "2026-01-05", "2026-01-11", true, "2026-01-05");
        // ISO week 1 of 2026 starts on 2025-12-29: the year changes inside the week.
        check(Period::Week, "2025-12-31", "2026-01-02", true, "2025-12-29");
        check(
            Period::Quarter,
            "2026-03-31",
            "2026-04-01",
            false,
            "2026-04-01",
        );
        check(
            Period::Quarter,
            "2026-04-01",
            "2026-06-30",
            true,
            "2026-04-01",
        );
        check(
            Period::Year,
            "2025-12-31",
            "2026-01-01",
            false,
            "2026-01-01",
        );
        check(
            Period::Month,
            "2026-02-28",
            "2026-03-01",
            false,
            "2026-03-01",
        );
    }

    #[test]
    fn a_weekend_window_is_found_in_the_clock_zone_across_daylight_saving() {
        let kind = RuleKind::NoWeekendPositions {
            from_day: Weekday::Friday,
            from_time: chrono::NaiveTime::from_hms_opt(15, 45, 0).expect("time"),
            until_day: Weekday::Sunday,
            until_time: chrono::NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        };
        let clock = ResetClock::new_york_five_pm();
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        // Saturday 2026-03-07 (EST, UTC-5): the weekend from Friday 15:45 EST to Sunday
        // 17:00 EDT (clocks go forward on 2026-03-08 at 02:00).
        let w = window_at(clock, &kind, at("2026-03-07T12:00:00Z")).expect("window");
        assert_eq!(w.start, at("2026-03-06T20:45:00Z"));
        assert_eq!(w.end, at("2026-03-08T21:00:00Z"));
        assert_eq!(w.next, at("2026-03-13T19:45:00Z"));
        // A Wednesday: the latest weekend is the one before.
        let w = window_at(clock, &kind, at("2026-03-11T12:00:00Z")).expect("window");
        assert_eq!(w.start, at("2026-03-06T20:45:00Z"));
        // Friday 15:45 New York exactly: the weekend has started.
        let w = window_at(clock, &kind, at("2026-03-13T19:45:00Z")).expect("window");
        assert_eq!(w.start, at("2026-03-13T19:45:00Z"));
    }
}
