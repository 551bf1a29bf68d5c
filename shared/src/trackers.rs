//! MetaApi's risk management trackers, as its API and SDK write them: a tracker watches one
//! account's drawdown and profit over a period (a day, a week, ..., its whole life) in the
//! broker's time, and tells when a threshold is crossed. This module reads a tracker as a client
//! sends it (`NewTracker`, camelCase JSON with numbers as JSON numbers and times as broker-time
//! text) and names every problem the way MetaApi's `ValidationError` does (`details`, one per
//! parameter), so that an application written for MetaApi gets the answers it expects.
//! See `docs/METAAPI-RISK-API.md` for the wire and its sources.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The period a tracker's statistics are kept for, in the broker's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    Day,
    Date,
    Week,
    WeekToDate,
    Month,
    MonthToDate,
    Quarter,
    QuarterToDate,
    Year,
    YearToDate,
    Lifetime,
}

impl Period {
    /// Every period, in MetaApi's order.
    pub const ALL: [Period; 11] = [
        Period::Day,
        Period::Date,
        Period::Week,
        Period::WeekToDate,
        Period::Month,
        Period::MonthToDate,
        Period::Quarter,
        Period::QuarterToDate,
        Period::Year,
        Period::YearToDate,
        Period::Lifetime,
    ];

    /// The name MetaApi writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Date => "date",
            Period::Week => "week",
            Period::WeekToDate => "week-to-date",
            Period::Month => "month",
            Period::MonthToDate => "month-to-date",
            Period::Quarter => "quarter",
            Period::QuarterToDate => "quarter-to-date",
            Period::Year => "year",
            Period::YearToDate => "year-to-date",
            Period::Lifetime => "lifetime",
        }
    }

    fn parse(text: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// The format of a broker time, as MetaApi writes it: `YYYY-MM-DD HH:mm:ss.SSS`.
pub const BROKER_TIME: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// A broker time as MetaApi writes it.
pub fn format_broker_time(time: NaiveDateTime) -> String {
    time.format(BROKER_TIME).to_string()
}

/// Reads a broker time: `YYYY-MM-DD HH:mm:ss.SSS`, the milliseconds optional (MetaApi's own
/// examples write both).
pub fn parse_broker_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .filter(|_| text.len() >= 19 && text.as_bytes().get(10) == Some(&b' '))
}

/// A tracker's definition: what a client creates, read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerSpec {
    /// Unique among the account's trackers.
    pub name: String,
    pub period: Period,
    /// When tracking starts, in broker time (none: from the tracker's creation).
    pub start_broker_time: Option<NaiveDateTime>,
    /// When tracking ends, in broker time (none: never).
    pub end_broker_time: Option<NaiveDateTime>,
    /// A fraction of 1, above 0 and at most 1.
    pub relative_drawdown_threshold: Option<Decimal>,
    /// In the account's currency, above 0.
    pub absolute_drawdown_threshold: Option<Decimal>,
    /// A fraction of 1, above 0.
    pub relative_profit_threshold: Option<Decimal>,
    /// In the account's currency, above 0.
    pub absolute_profit_threshold: Option<Decimal>,
}

/// One problem with one parameter, as MetaApi's `ValidationError` lists it in `details`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// The parameter, as the client named it (`period`, `relativeDrawdownThreshold`, ...).
    pub parameter: String,
    /// The value sent, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// What is wrong and what would be right.
    pub message: String,
}

/// The longest tracker name kept.
pub const MAX_NAME_CHARS: usize = 100;

const FIELDS: [&str; 8] = [
    "name",
    "period",
    "startBrokerTime",
    "endBrokerTime",
    "relativeDrawdownThreshold",
    "absoluteDrawdownThreshold",
    "relativeProfitThreshold",
    "absoluteProfitThreshold",
];

impl TrackerSpec {
    /// Reads a new tracker as a client sent it, naming every problem at once (an unknown
    /// field, a missing or malformed one, a threshold out of range, an end before the start).
    pub fn read(body: &Value) -> Result<TrackerSpec, Vec<Detail>> {
        let mut details = Vec::new();
        let Some(fields) = body.as_object() else {
            return Err(vec![Detail {
                parameter: "body".into(),
                value: None,
                message: "a tracker is a JSON object with `name` and `period`".into(),
            }]);
        };
        for key in fields.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
            details.push(problem(
                key,
                fields.get(key),
                format!("unknown field; a tracker has {}", FIELDS.join(", ")),
            ));
        }
        let name = match fields.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => {
                if name.chars().count() > MAX_NAME_CHARS {
                    details.push(problem(
                        "name",
                        fields.get("name"),
                        format!("at most {MAX_NAME_CHARS} characters"),
                    ));
                }
                name.clone()
            }
            other => {
                details.push(problem("name", other, "required: a name, not empty".into()));
                String::new()
            }
        };
        let period = match fields.get("period") {
            Some(Value::String(text)) => Period::parse(text),
            _ => None,
        };
        if period.is_none() {
            let names: Vec<&str> = Period::ALL.iter().map(|p| p.as_str()).collect();
            details.push(problem(
                "period",
                fields.get("period"),
                format!("required: one of {}", names.join(", ")),
            ));
        }
        let mut time = |key: &str| match fields.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if parse_broker_time(text).is_some() => {
                parse_broker_time(text)
            }
            other => {
                details.push(problem(
                    key,
                    other,
                    "a broker time, YYYY-MM-DD HH:mm:ss.SSS".into(),
                ));
                None
            }
        };
        let start = time("startBrokerTime");
        let end = time("endBrokerTime");
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            details.push(problem(
                "endBrokerTime",
                fields.get("endBrokerTime"),
                "must be after startBrokerTime".into(),
            ));
        }
        let mut threshold = |key: &str, at_most_one: bool| -> Option<Decimal> {
            let value = fields.get(key)?;
            if value.is_null() {
                return None;
            }
            let read = number(value).filter(|n| *n > Decimal::ZERO);
            let read = read.filter(|n| !at_most_one || *n <= Decimal::ONE);
            if read.is_none() {
                let range = if at_most_one {
                    "a fraction of 1: above 0 and at most 1"
                } else {
                    "a number above 0"
                };
                details.push(problem(key, Some(value), range.into()));
            }
            read
        };
        let spec = TrackerSpec {
            relative_drawdown_threshold: threshold("relativeDrawdownThreshold", true),
            absolute_drawdown_threshold: threshold("absoluteDrawdownThreshold", false),
            relative_profit_threshold: threshold("relativeProfitThreshold", false),
            absolute_profit_threshold: threshold("absoluteProfitThreshold", false),
            name,
            period: period.unwrap_or(Period::Lifetime),
            start_broker_time: start,
            end_broker_time: end,
        };
        if details.is_empty() {
            Ok(spec)
        } else {
            Err(details)
        }
    }

    /// The tracker as MetaApi writes it (with its id as `_id`).
    pub fn to_json(&self, id: &str) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("_id".into(), id.into());
        out.insert("name".into(), self.name.clone().into());
        out.insert("period".into(), self.period.as_str().into());
        let times = [
            ("startBrokerTime", self.start_broker_time),
            ("endBrokerTime", self.end_broker_time),
        ];
        for (key, time) in times {
            if let Some(time) = time {
                out.insert(key.into(), format_broker_time(time).into());
            }
        }
        let thresholds = [
            (
                "relativeDrawdownThreshold",
                self.relative_drawdown_threshold,
            ),
            (
                "absoluteDrawdownThreshold",
                self.absolute_drawdown_threshold,
            ),
            ("relativeProfitThreshold", self.relative_profit_threshold),
            ("absoluteProfitThreshold", self.absolute_profit_threshold),
        ];
        for (key, threshold) in thresholds {
            if let Some(n) = threshold.and_then(json_number) {
                out.insert(key.into(), n);
            }
        }
        Value::Object(out)
    }
}

/// A period's bounds in broker time: from `start` to `end` inclusive (the millisecond before
/// the next period starts); `end` is `None` for `lifetime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub start: NaiveDateTime,
    pub end: Option<NaiveDateTime>,
}

/// The period of a tracker that holds `at` (broker time); `None` before the tracker starts or
/// after it ends. `anchor` is where its windows count from: its `startBrokerTime`, or its
/// creation. `day`, `week`, `month`, `quarter` and `year` are windows from the anchor (a month
/// from Jan 31 ends with Feb's last day); `date` and the `*-to-date` periods follow the calendar
/// (weeks start on Sunday) and the first one starts at its calendar boundary; no period starts
/// after the tracker's end.
pub fn period_at(spec: &TrackerSpec, anchor: NaiveDateTime, at: NaiveDateTime) -> Option<Bounds> {
    if at < anchor || spec.end_broker_time.is_some_and(|end| at > end) {
        return None;
    }
    let calendar = |start: NaiveDateTime, next: NaiveDateTime| Bounds {
        start,
        end: Some(next - TimeDelta::milliseconds(1)),
    };
    let day = at.date();
    let midnight = |date: NaiveDate| date.and_hms_opt(0, 0, 0);
    let month_start = |months_back: u32| {
        let first = day.with_day(1)?;
        first.checked_sub_months(Months::new(months_back))
    };
    Some(match spec.period {
        Period::Lifetime => Bounds {
            start: anchor,
            end: None,
        },
        Period::Day => windows(anchor, at, |n| {
            anchor.checked_add_signed(TimeDelta::days(i64::from(n)))
        })?,
        Period::Week => windows(anchor, at, |n| {
            anchor.checked_add_signed(TimeDelta::weeks(i64::from(n)))
        })?,
        Period::Month => windows(anchor, at, |n| anchor.checked_add_months(Months::new(n)))?,
        Period::Quarter => windows(anchor, at, |n| {
            anchor.checked_add_months(Months::new(n.checked_mul(3)?))
        })?,
        Period::Year => windows(anchor, at, |n| {
            anchor.checked_add_months(Months::new(n.checked_mul(12)?))
        })?,
        Period::Date => calendar(midnight(day)?, midnight(day.succ_opt()?)?),
        Period::WeekToDate => {
            let back = TimeDelta::days(i64::from(day.weekday().num_days_from_sunday()));
            let sunday = day.checked_sub_signed(back)?;
            calendar(
                midnight(sunday)?,
                midnight(sunday.checked_add_signed(TimeDelta::days(7))?)?,
            )
        }
        Period::MonthToDate => {
            let first = month_start(0)?;
            calendar(
                midnight(first)?,
                midnight(first.checked_add_months(Months::new(1))?)?,
            )
        }
        Period::QuarterToDate => {
            let first = month_start(day.month0() % 3)?;
            calendar(
                midnight(first)?,
                midnight(first.checked_add_months(Months::new(3))?)?,
            )
        }
        Period::YearToDate => {
            let first = NaiveDate::from_ymd_opt(day.year(), 1, 1)?;
            let next = NaiveDate::from_ymd_opt(day.year().checked_add(1)?, 1, 1)?;
            calendar(midnight(first)?, midnight(next)?)
        }
    })
}

/// The window `[start(n), start(n + 1))` that holds `at`, the windows' starts given by
/// `start(n)` (`start(0)` the anchor, at or before `at`).
fn windows(
    anchor: NaiveDateTime,
    at: NaiveDateTime,
    start: impl Fn(u32) -> Option<NaiveDateTime>,
) -> Option<Bounds> {
    // A first guess from the average length, then a step either way: windows are at most a
    // few days longer or shorter than the average.
    let one = start(1)? - anchor;
    let guess = (at - anchor).num_milliseconds() / one.num_milliseconds().max(1);
    let mut n = u32::try_from(guess).ok()?.saturating_sub(1);
    while start(n)? > at {
        n = n.checked_sub(1)?;
    }
    while start(n.checked_add(1)?)? <= at {
        n += 1;
    }
    Some(Bounds {
        start: start(n)?,
        end: Some(start(n + 1)? - TimeDelta::milliseconds(1)),
    })
}

/// Which threshold a period exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdType {
    Drawdown,
    Profit,
}

/// The numbers at a moment of a period: drawdown and profit from the period's initial balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub time: NaiveDateTime,
    pub absolute_drawdown: Decimal,
    pub relative_drawdown: Decimal,
    pub absolute_profit: Decimal,
    pub relative_profit: Decimal,
}

/// A threshold crossed: the period's one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exceeded {
    pub kind: ThresholdType,
    pub reading: Reading,
}

/// One period's statistics, folded from the account's equity, its balance operations and its
/// deals, as MetaApi's SDK recomputes them: drawdown and profit from the period's initial
/// balance on equity less the period's balance operations (a deposit is not profit), maxima
/// that move only when strictly larger, a threshold exceeded when strictly passed (drawdown
/// first), and nothing changed after that in the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodStats {
    pub period: Period,
    pub bounds: Bounds,
    /// The balance at the period's start.
    pub initial_balance: Decimal,
    /// The period's balance operations (deposits +, withdrawals -), taken off equity.
    pub balance_adjustment: Decimal,
    pub max_drawdown: Option<Reading>,
    pub max_profit: Option<Reading>,
    pub exceeded: Option<Exceeded>,
    /// The broker dates with trading deals in the period.
    pub trade_dates: std::collections::BTreeSet<NaiveDate>,
}

impl PeriodStats {
    /// A period starting with `initial_balance`.
    pub fn new(period: Period, bounds: Bounds, initial_balance: Decimal) -> Self {
        PeriodStats {
            period,
            bounds,
            initial_balance,
            balance_adjustment: Decimal::ZERO,
            max_drawdown: None,
            max_profit: None,
            exceeded: None,
            trade_dates: std::collections::BTreeSet::new(),
        }
    }

    /// A deposit (positive) or withdrawal (negative) in the period.
    pub fn balance_operation(&mut self, amount: Decimal) {
        if self.exceeded.is_none() {
            self.balance_adjustment += amount;
        }
    }

    /// A trading deal at `time` (broker time): its date counts as a trading day.
    pub fn trade(&mut self, time: NaiveDateTime) {
        if time >= self.bounds.start {
            self.trade_dates.insert(time.date());
        }
    }

    /// Trading days so far.
    pub fn trade_day_count(&self) -> usize {
        self.trade_dates.len()
    }

    /// Drawdown and profit at `equity`.
    pub fn reading(&self, equity: Decimal, time: NaiveDateTime) -> Reading {
        let adjusted = equity - self.balance_adjustment;
        let drawdown = (self.initial_balance - adjusted).max(Decimal::ZERO);
        let profit = (adjusted - self.initial_balance).max(Decimal::ZERO);
        let relative = |amount: Decimal| {
            amount
                .checked_div(self.initial_balance)
                .filter(|_| self.initial_balance > Decimal::ZERO)
                .unwrap_or_default()
        };
        Reading {
            time,
            absolute_drawdown: drawdown,
            relative_drawdown: relative(drawdown),
            absolute_profit: profit,
            relative_profit: relative(profit),
        }
    }

    /// Folds one equity observation in; the threshold it exceeds, if it is the first.
    pub fn observe(
        &mut self,
        spec: &TrackerSpec,
        equity: Decimal,
        time: NaiveDateTime,
    ) -> Option<Exceeded> {
        if self.exceeded.is_some() {
            return None;
        }
        let reading = self.reading(equity, time);
        let passed = |threshold: Option<Decimal>, value: Decimal| {
            threshold.is_some_and(|t| t > Decimal::ZERO && t < value)
        };
        let max = |held: Option<Reading>, value: fn(&Reading) -> Decimal| {
            held.is_none_or(|held| value(&reading) > value(&held))
                && value(&reading) > Decimal::ZERO
        };
        if max(self.max_drawdown, |r| r.absolute_drawdown) {
            self.max_drawdown = Some(reading);
            if passed(spec.absolute_drawdown_threshold, reading.absolute_drawdown)
                || passed(spec.relative_drawdown_threshold, reading.relative_drawdown)
            {
                self.exceeded = Some(Exceeded {
                    kind: ThresholdType::Drawdown,
                    reading,
                });
                return self.exceeded;
            }
        }
        if max(self.max_profit, |r| r.absolute_profit) {
            self.max_profit = Some(reading);
            if passed(spec.absolute_profit_threshold, reading.absolute_profit)
                || passed(spec.relative_profit_threshold, reading.relative_profit)
            {
                self.exceeded = Some(Exceeded {
                    kind: ThresholdType::Profit,
                    reading,
                });
                return self.exceeded;
            }
        }
        None
    }

    /// The statistics as MetaApi writes them (`PeriodStatistics`): the maxima as numbers, 0
    /// when there was none (its Python SDK compares them).
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        period_fields(&mut out, self.period, self.bounds);
        let number = |n: Decimal| json_number(n).unwrap_or(Value::from(0));
        out.insert("initialBalance".into(), number(self.initial_balance));
        let sides = [
            (
                "Drawdown",
                self.max_drawdown
                    .map(|r| (r.time, r.absolute_drawdown, r.relative_drawdown)),
            ),
            (
                "Profit",
                self.max_profit
                    .map(|r| (r.time, r.absolute_profit, r.relative_profit)),
            ),
        ];
        for (side, max) in sides {
            let (time, absolute, relative) = match max {
                Some((time, absolute, relative)) => (Some(time), absolute, relative),
                None => (None, Decimal::ZERO, Decimal::ZERO),
            };
            if let Some(time) = time {
                out.insert(format!("max{side}Time"), format_broker_time(time).into());
            }
            out.insert(format!("maxAbsolute{side}"), number(absolute));
            out.insert(format!("maxRelative{side}"), number(relative));
        }
        out.insert("thresholdExceeded".into(), self.exceeded.is_some().into());
        if let Some(exceeded) = self.exceeded {
            out.insert(
                "exceededThresholdType".into(),
                serde_json::to_value(exceeded.kind).unwrap_or(Value::Null),
            );
        }
        out.insert("balanceAdjustment".into(), number(self.balance_adjustment));
        out.insert("tradeDayCount".into(), self.trade_day_count().into());
        Value::Object(out)
    }
}

/// One observation of an account, in broker time: what a tracker folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    pub time: NaiveDateTime,
    pub balance: Decimal,
    pub equity: Decimal,
}

/// A threshold crossed in a period: what becomes the tracker's event (its sequence number is
/// the store's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerEvent {
    pub period: Period,
    pub bounds: Bounds,
    pub exceeded: Exceeded,
}

/// One tracker following one account: the open period's statistics and the closed ones. A
/// period rolls over at the first observation past its end; the next starts with the balance
/// last seen before its start (the balance at the period's start time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerRun {
    pub spec: TrackerSpec,
    /// Where its windows count from (broker time): its `startBrokerTime`, or its creation.
    pub anchor: NaiveDateTime,
    pub current: Option<PeriodStats>,
    /// Closed periods, oldest first.
    pub closed: Vec<PeriodStats>,
    /// The balance last seen, for the next period's initial balance.
    last_balance: Option<Decimal>,
}

impl TrackerRun {
    /// A tracker created at `created` (broker time).
    pub fn new(spec: TrackerSpec, created: NaiveDateTime) -> Self {
        let anchor = spec.start_broker_time.unwrap_or(created);
        TrackerRun {
            spec,
            anchor,
            current: None,
            closed: Vec::new(),
            last_balance: None,
        }
    }

    /// Where the period holding `time` is: the open one, rolled over when `time` is past it
    /// (checked without computing its bounds again while `time` is inside it); for a time
    /// before the open period (a deal the broker filed late), the closed period that held it,
    /// never reopened. `None` outside the tracker's time.
    fn slot(&mut self, time: NaiveDateTime, balance: Decimal) -> Option<Slot> {
        if let Some(current) = &self.current {
            if time < current.bounds.start {
                return self
                    .closed
                    .iter()
                    .rposition(|closed| {
                        closed.bounds.start <= time
                            && closed.bounds.end.is_none_or(|end| time <= end)
                    })
                    .map(Slot::Closed);
            }
            let inside = current.bounds.end.is_none_or(|end| time <= end)
                && self.spec.end_broker_time.is_none_or(|end| time <= end);
            if inside {
                return Some(Slot::Current);
            }
        }
        let bounds = period_at(&self.spec, self.anchor, time)?;
        if self.current.as_ref().is_some_and(|c| c.bounds != bounds) {
            self.closed.extend(self.current.take());
        }
        if self.current.is_none() {
            let initial = self.last_balance.unwrap_or(balance);
            self.current = Some(PeriodStats::new(self.spec.period, bounds, initial));
        }
        Some(Slot::Current)
    }

    fn stats(&mut self, slot: Slot) -> Option<&mut PeriodStats> {
        match slot {
            Slot::Current => self.current.as_mut(),
            Slot::Closed(index) => self.closed.get_mut(index),
        }
    }

    /// Folds one observation in; the event when it crosses a threshold first in its period.
    /// An observation older than the open period changes nothing (a closed period's record is
    /// history).
    pub fn observe(&mut self, seen: &Observation) -> Option<TrackerEvent> {
        let event = match self.slot(seen.time, seen.balance) {
            Some(Slot::Current) => self.current.as_mut().and_then(|stats| {
                let exceeded = stats.observe(&self.spec, seen.equity, seen.time)?;
                Some(TrackerEvent {
                    period: stats.period,
                    bounds: stats.bounds,
                    exceeded,
                })
            }),
            Some(Slot::Closed(_)) => return None,
            None => None,
        };
        self.last_balance = Some(seen.balance);
        event
    }

    /// A deposit (positive) or withdrawal (negative) at `time`, with the balance after it.
    pub fn balance_operation(&mut self, time: NaiveDateTime, amount: Decimal, balance: Decimal) {
        if let Some(slot) = self.slot(time, balance - amount)
            && let Some(stats) = self.stats(slot)
        {
            stats.balance_operation(amount);
        }
        self.last_balance = Some(balance);
    }

    /// A trading deal at `time`: a trading day of the period holding it (nothing before the
    /// first observation).
    pub fn trade(&mut self, time: NaiveDateTime) {
        let Some(balance) = self.last_balance else {
            return;
        };
        if let Some(slot) = self.slot(time, balance)
            && let Some(stats) = self.stats(slot)
        {
            stats.trade(time);
        }
    }

    /// What a restart needs to go on where the run was: its periods and the balance last seen.
    pub fn state(&self) -> RunState {
        RunState {
            anchor: self.anchor,
            current: self.current.clone(),
            closed: self.closed.clone(),
            last_balance: self.last_balance,
        }
    }

    /// The run of `spec` as it was saved.
    pub fn restore(spec: TrackerSpec, state: RunState) -> Self {
        TrackerRun {
            spec,
            anchor: state.anchor,
            current: state.current,
            closed: state.closed,
            last_balance: state.last_balance,
        }
    }

    /// The statistics MetaApi's `getTrackingStatistics` returns: newest first, the periods
    /// that started at or before `start_time` (none: all), at most `limit` (none: 1).
    pub fn statistics(
        &self,
        start_time: Option<NaiveDateTime>,
        limit: Option<usize>,
    ) -> Vec<&PeriodStats> {
        self.closed
            .iter()
            .chain(self.current.as_ref())
            .rev()
            .filter(|stats| start_time.is_none_or(|at| stats.bounds.start <= at))
            .take(limit.unwrap_or(1))
            .collect()
    }
}

/// Which of a run's periods holds a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Current,
    /// An index of `closed`.
    Closed(usize),
}

/// A tracker run's saved state (see [`TrackerRun::state`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub anchor: NaiveDateTime,
    pub current: Option<PeriodStats>,
    pub closed: Vec<PeriodStats>,
    pub last_balance: Option<Decimal>,
}

impl TrackerEvent {
    /// The event as MetaApi writes it (`TrackerEvent`), without the `sequenceNumber` the store
    /// gives it.
    pub fn to_json(&self, account_id: &str, tracker_id: &str) -> Value {
        let number = |n: Decimal| json_number(n.round_dp(8)).unwrap_or(Value::from(0));
        let reading = &self.exceeded.reading;
        let mut out = serde_json::Map::new();
        out.insert("accountId".into(), account_id.into());
        out.insert("trackerId".into(), tracker_id.into());
        period_fields(&mut out, self.period, self.bounds);
        out.insert("brokerTime".into(), format_broker_time(reading.time).into());
        out.insert("relativeDrawdown".into(), number(reading.relative_drawdown));
        out.insert("absoluteDrawdown".into(), number(reading.absolute_drawdown));
        out.insert("relativeProfit".into(), number(reading.relative_profit));
        out.insert("absoluteProfit".into(), number(reading.absolute_profit));
        out.insert(
            "exceededThresholdType".into(),
            match self.exceeded.kind {
                ThresholdType::Drawdown => "drawdown",
                ThresholdType::Profit => "profit",
            }
            .into(),
        );
        Value::Object(out)
    }
}

/// A period's `startBrokerTime`, `endBrokerTime` (none for `lifetime`) and `period`, as
/// MetaApi writes them in statistics and events.
fn period_fields(out: &mut serde_json::Map<String, Value>, period: Period, bounds: Bounds) {
    out.insert(
        "startBrokerTime".into(),
        format_broker_time(bounds.start).into(),
    );
    if let Some(end) = bounds.end {
        out.insert("endBrokerTime".into(), format_broker_time(end).into());
    }
    out.insert("period".into(), period.as_str().into());
}

/// One hour of an account's equity chart, as MetaApi's `EquityChartItem`: the hour's first
/// and latest sample, minimum and maximum, and time-weighted averages (each value held until
/// the next sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChartHour {
    /// The hour's start, broker time (`HH:00:00.000`).
    pub start: NaiveDateTime,
    pub first: Observation,
    pub last: Observation,
    pub min_balance: Decimal,
    pub max_balance: Decimal,
    pub min_equity: Decimal,
    pub max_equity: Decimal,
    /// Milliseconds covered by the weighted sums.
    pub duration_ms: i64,
    pub equity_sum: Decimal,
    pub balance_sum: Decimal,
}

impl ChartHour {
    fn new(start: NaiveDateTime, seen: Observation) -> Self {
        ChartHour {
            start,
            first: seen,
            last: seen,
            min_balance: seen.balance,
            max_balance: seen.balance,
            min_equity: seen.equity,
            max_equity: seen.equity,
            duration_ms: 0,
            equity_sum: Decimal::ZERO,
            balance_sum: Decimal::ZERO,
        }
    }

    fn add(&mut self, seen: Observation) {
        let held = (seen.time - self.last.time).num_milliseconds().max(0);
        let weight = Decimal::from(held);
        self.equity_sum += weight * self.last.equity;
        self.balance_sum += weight * self.last.balance;
        self.duration_ms += held;
        self.min_balance = self.min_balance.min(seen.balance);
        self.max_balance = self.max_balance.max(seen.balance);
        self.min_equity = self.min_equity.min(seen.equity);
        self.max_equity = self.max_equity.max(seen.equity);
        self.last = seen;
    }

    /// The time-weighted average of equity and of balance (the latest values while no time
    /// has passed yet).
    pub fn averages(&self) -> (Decimal, Decimal) {
        if self.duration_ms == 0 {
            return (self.last.equity, self.last.balance);
        }
        let duration = Decimal::from(self.duration_ms);
        (
            self.equity_sum
                .checked_div(duration)
                .unwrap_or(self.last.equity),
            self.balance_sum
                .checked_div(duration)
                .unwrap_or(self.last.balance),
        )
    }

    /// As MetaApi writes it; `real_time` adds the fields its SDK's chart stream reads
    /// (`duration`, `equitySum`, `balanceSum`, `brokerTime`).
    pub fn to_json(&self, real_time: bool) -> Value {
        let number = |n: Decimal| json_number(n.round_dp(8)).unwrap_or(Value::from(0));
        let (average_equity, average_balance) = self.averages();
        let end = hour_end(self.start);
        let mut out = serde_json::Map::new();
        out.insert(
            "startBrokerTime".into(),
            format_broker_time(self.start).into(),
        );
        out.insert("endBrokerTime".into(), format_broker_time(end).into());
        for (key, value) in [
            ("averageBalance", average_balance),
            ("minBalance", self.min_balance),
            ("maxBalance", self.max_balance),
            ("averageEquity", average_equity),
            ("minEquity", self.min_equity),
            ("maxEquity", self.max_equity),
            ("startBalance", self.first.balance),
            ("startEquity", self.first.equity),
            ("lastBalance", self.last.balance),
            ("lastEquity", self.last.equity),
        ] {
            out.insert(key.into(), number(value));
        }
        if real_time {
            out.insert("duration".into(), self.duration_ms.into());
            out.insert("equitySum".into(), number(self.equity_sum));
            out.insert("balanceSum".into(), number(self.balance_sum));
            out.insert(
                "brokerTime".into(),
                format_broker_time(self.last.time).into(),
            );
        }
        Value::Object(out)
    }
}

/// The last millisecond of the hour starting at `start` (the latest time there is, at the end
/// of the calendar).
fn hour_end(start: NaiveDateTime) -> NaiveDateTime {
    start
        .checked_add_signed(TimeDelta::hours(1))
        .map_or(NaiveDateTime::MAX, |next| next - TimeDelta::milliseconds(1))
}

/// An account's equity chart by the hour, oldest first; hours without a sample are left out
/// (MetaApi's SDK fills them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EquityChart {
    pub hours: Vec<ChartHour>,
}

impl EquityChart {
    /// Folds one sample in (samples come in time order; an older one is ignored).
    pub fn observe(&mut self, seen: Observation) {
        let Some(start) = seen.time.date().and_hms_opt(seen.time.hour(), 0, 0) else {
            return;
        };
        match self.hours.last_mut() {
            Some(hour) if hour.start == start => hour.add(seen),
            Some(hour) if hour.start > start || seen.time < hour.last.time => {}
            _ => self.hours.push(ChartHour::new(start, seen)),
        }
    }

    /// Widens the latest hour's extremes to values seen between its samples (a stored bucket
    /// keeps its lowest and highest values without their times).
    pub fn widen(&mut self, balance: (Decimal, Decimal), equity: (Decimal, Decimal)) {
        if let Some(hour) = self.hours.last_mut() {
            hour.min_balance = hour.min_balance.min(balance.0);
            hour.max_balance = hour.max_balance.max(balance.1);
            hour.min_equity = hour.min_equity.min(equity.0);
            hour.max_equity = hour.max_equity.max(equity.1);
        }
    }

    /// The hours that overlap `[start, end]` (either open), oldest first.
    pub fn between(
        &self,
        start: Option<NaiveDateTime>,
        end: Option<NaiveDateTime>,
    ) -> impl Iterator<Item = &ChartHour> {
        self.hours.iter().filter(move |hour| {
            start.is_none_or(|s| hour_end(hour.start) >= s) && end.is_none_or(|e| hour.start <= e)
        })
    }
}

fn problem(parameter: &str, value: Option<&Value>, message: String) -> Detail {
    Detail {
        parameter: parameter.to_owned(),
        value: value.cloned(),
        message,
    }
}

/// A JSON number as an exact decimal (its text, as the client wrote it).
fn number(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => {
            let text = n.to_string();
            text.parse::<Decimal>()
                .ok()
                .or_else(|| Decimal::from_scientific(&text).ok())
        }
        _ => None,
    }
}

/// A decimal as a JSON number (MetaApi's thresholds are numbers, not text).
fn json_number(n: Decimal) -> Option<Value> {
    serde_json::from_str::<Value>(&n.normalize().to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn a_late_deal_goes_to_the_period_it_belongs_to_and_never_reopens_it() {
        let spec = TrackerSpec::read(&json!({
            "name": "daily", "period": "date", "absoluteDrawdownThreshold": 500
        }))
        .expect("spec");
        let at = |text: &str| parse_broker_time(text).expect("time");
        let mut run = TrackerRun::new(spec, at("2026-03-02 08:00:00.000"));
        let seen = |time: &str, equity: Decimal| Observation {
            time: at(time),
            balance: dec!(10000),
            equity,
        };
        run.observe(&seen("2026-03-02 09:00:00.000", dec!(9900)));
        run.observe(&seen("2026-03-03 09:00:00.000", dec!(9800)));
        let today = run.current.clone().expect("open");
        // Yesterday's deposit and trade, read today: yesterday's record, today's untouched.
        run.balance_operation(at("2026-03-02 23:00:00.000"), dec!(100), dec!(10000));
        run.trade(at("2026-03-02 22:00:00.000"));
        assert_eq!(run.current.as_ref(), Some(&today));
        assert_eq!(run.closed.len(), 1);
        assert_eq!(run.closed[0].balance_adjustment, dec!(100));
        assert_eq!(run.closed[0].trade_day_count(), 1);
        // An observation from yesterday changes nothing either.
        assert_eq!(run.observe(&seen("2026-03-02 23:30:00.000", dec!(1))), None);
        assert_eq!(run.current.as_ref(), Some(&today));
        // Today's trade counts today.
        run.trade(at("2026-03-03 10:00:00.000"));
        assert_eq!(
            run.current.as_ref().map(PeriodStats::trade_day_count),
            Some(1)
        );
    }

    #[test]
    fn metaapis_documented_example_reads_and_writes_back_the_same() {
        // The example on MetaApi's tracker model page.
        let example = json!({
            "name": "Tracker 1",
            "startBrokerTime": "2020-08-24 00:00:00.000",
            "endBrokerTime": "2020-08-25 00:00:00.000",
            "period": "day",
            "relativeDrawdownThreshold": 0.1,
            "absoluteDrawdownThreshold": 10000,
            "relativeProfitThreshold": 0.05,
            "absoluteProfitThreshold": 5000
        });
        let spec = TrackerSpec::read(&example).expect("valid");
        assert_eq!(spec.period, Period::Day);
        assert_eq!(spec.relative_drawdown_threshold, Some(dec!(0.1)));
        assert_eq!(spec.absolute_drawdown_threshold, Some(dec!(10000)));
        let mut written = spec.to_json("ABCD");
        assert_eq!(written["_id"], "ABCD");
        written.as_object_mut().expect("object").remove("_id");
        assert_eq!(written, example);
        // The SDK's own example: a name, one threshold and a period.
        let small = json!({"name": "example-tracker", "absoluteDrawdownThreshold": 5,
                           "period": "day"});
        assert!(TrackerSpec::read(&small).is_ok());
    }

    #[test]
    fn every_period_has_metaapis_name() {
        for period in Period::ALL {
            let json = serde_json::to_value(period).expect("json");
            assert_eq!(json, period.as_str());
            assert_eq!(Period::parse(period.as_str()), Some(period));
        }
        assert_eq!(Period::parse("fortnight"), None);
    }

    #[test]
    fn every_problem_is_named_with_its_parameter() {
        let bad = json!({
            "name": "",
            "period": "fortnight",
            "startBrokerTime": "2020-08-24T00:00:00Z",
            "relativeDrawdownThreshold": 1.5,
            "absoluteProfitThreshold": -1,
            "relativeProfitThreshold": "0.1",
            "colour": "red"
        });
        let details = TrackerSpec::read(&bad).expect_err("invalid");
        let named: Vec<&str> = details.iter().map(|d| d.parameter.as_str()).collect();
        for parameter in [
            "colour",
            "name",
            "period",
            "startBrokerTime",
            "relativeDrawdownThreshold",
            "absoluteProfitThreshold",
            "relativeProfitThreshold",
        ] {
            assert!(named.contains(&parameter), "{parameter} in {named:?}");
        }
        let period = details
            .iter()
            .find(|d| d.parameter == "period")
            .expect("period");
        assert!(
            period.message.contains("week-to-date"),
            "{}",
            period.message
        );
        assert_eq!(period.value, Some(json!("fortnight")));

        let backwards = json!({"name": "t", "period": "lifetime",
            "startBrokerTime": "2020-08-25 00:00:00.000", "endBrokerTime": "2020-08-24 00:00:00"});
        let details = TrackerSpec::read(&backwards).expect_err("end before start");
        assert_eq!(details.len(), 1);
        assert_eq!(details[0].parameter, "endBrokerTime");
        assert!(TrackerSpec::read(&json!([1, 2])).is_err());
        assert!(TrackerSpec::read(&json!({"period": "day"})).is_err());
    }

    fn at(text: &str) -> NaiveDateTime {
        parse_broker_time(text).expect("time")
    }

    fn spec(period: Period) -> TrackerSpec {
        TrackerSpec::read(&json!({"name": "t", "period": period.as_str()})).expect("valid")
    }

    #[test]
    fn periods_are_windows_from_the_anchor_or_the_calendar_in_broker_time() {
        let anchor = at("2020-05-11 12:00:00.000");
        // (period, at, start, end): the SDK's fixture first, then the calendar ones.
        let cases = [
            (
                Period::Day,
                "2020-05-11 12:00:00",
                "2020-05-11 12:00:00.000",
                Some("2020-05-12 11:59:59.999"),
            ),
            (
                Period::Day,
                "2020-05-12 12:00:00",
                "2020-05-12 12:00:00.000",
                Some("2020-05-13 11:59:59.999"),
            ),
            (
                Period::Day,
                "2020-05-12 11:59:59.999",
                "2020-05-11 12:00:00.000",
                Some("2020-05-12 11:59:59.999"),
            ),
            (
                Period::Week,
                "2020-05-30 00:00:00",
                "2020-05-25 12:00:00.000",
                Some("2020-06-01 11:59:59.999"),
            ),
            (
                Period::Month,
                "2020-07-11 11:00:00",
                "2020-06-11 12:00:00.000",
                Some("2020-07-11 11:59:59.999"),
            ),
            (
                Period::Quarter,
                "2020-12-01 00:00:00",
                "2020-11-11 12:00:00.000",
                Some("2021-02-11 11:59:59.999"),
            ),
            (
                Period::Year,
                "2023-01-01 00:00:00",
                "2022-05-11 12:00:00.000",
                Some("2023-05-11 11:59:59.999"),
            ),
            (
                Period::Date,
                "2020-05-13 08:00:00",
                "2020-05-13 00:00:00.000",
                Some("2020-05-13 23:59:59.999"),
            ),
            // 2020-05-13 was a Wednesday: its week started on Sunday the 10th.
            (
                Period::WeekToDate,
                "2020-05-13 08:00:00",
                "2020-05-10 00:00:00.000",
                Some("2020-05-16 23:59:59.999"),
            ),
            (
                Period::MonthToDate,
                "2024-02-13 08:00:00",
                "2024-02-01 00:00:00.000",
                Some("2024-02-29 23:59:59.999"),
            ),
            (
                Period::QuarterToDate,
                "2020-08-13 08:00:00",
                "2020-07-01 00:00:00.000",
                Some("2020-09-30 23:59:59.999"),
            ),
            (
                Period::YearToDate,
                "2020-08-13 08:00:00",
                "2020-01-01 00:00:00.000",
                Some("2020-12-31 23:59:59.999"),
            ),
            (
                Period::Lifetime,
                "2030-01-01 00:00:00",
                "2020-05-11 12:00:00.000",
                None,
            ),
        ];
        for (period, moment, start, end) in cases {
            let bounds = period_at(&spec(period), anchor, at(moment))
                .unwrap_or_else(|| panic!("{period:?} at {moment}: tracked"));
            assert_eq!(
                (
                    format_broker_time(bounds.start),
                    bounds.end.map(format_broker_time)
                ),
                (start.to_owned(), end.map(str::to_owned)),
                "{period:?} at {moment}"
            );
        }
        // A month from Jan 31 ends with February's last day, and the next starts on Mar 31.
        let month = spec(Period::Month);
        let jan31 = at("2021-01-31 00:00:00");
        let feb = period_at(&month, jan31, at("2021-03-01 00:00:00")).expect("tracked");
        assert_eq!(feb.start, at("2021-02-28 00:00:00"));
        assert_eq!(feb.end, Some(at("2021-03-30 23:59:59.999")));
        // Before its start, or after its end, a tracker has no period.
        assert_eq!(period_at(&month, jan31, at("2021-01-30 00:00:00")), None);
        let ended = TrackerSpec {
            end_broker_time: Some(at("2021-02-01 00:00:00")),
            ..spec(Period::Date)
        };
        assert_eq!(period_at(&ended, jan31, at("2021-02-01 00:00:01")), None);
    }

    #[test]
    fn drawdown_and_profit_are_measured_as_metaapis_sdk_measures_them() {
        // The numbers of the JS SDK's tests: initial balance 10,000.
        let bounds = Bounds {
            start: at("2020-05-11 12:00:00"),
            end: None,
        };
        let t = |s: &str| at(&format!("2020-05-11 {s}"));
        let mut stats = PeriodStats::new(Period::Day, bounds, dec!(10000));
        let none = spec(Period::Day);
        assert_eq!(stats.observe(&none, dec!(9000), t("13:00:00")), None);
        let max = stats.max_drawdown.expect("a drawdown");
        assert_eq!(
            (max.absolute_drawdown, max.relative_drawdown),
            (dec!(1000), dec!(0.1))
        );
        // A deposit of 500 with equity unchanged: not profit, the drawdown grows to 1,500.
        stats.balance_operation(dec!(500));
        stats.observe(&none, dec!(9000), t("13:01:00"));
        let max = stats.max_drawdown.expect("a drawdown");
        assert_eq!(
            (max.absolute_drawdown, max.relative_drawdown),
            (dec!(1500), dec!(0.15))
        );
        assert_eq!(max.time, t("13:01:00"));
        // A smaller drawdown moves no maximum.
        stats.observe(&none, dec!(9400), t("13:02:00"));
        assert_eq!(stats.max_drawdown.map(|r| r.time), Some(t("13:01:00")));

        // Thresholds: passed strictly, drawdown first, then the period is frozen.
        let limits = TrackerSpec {
            absolute_drawdown_threshold: Some(dec!(500)),
            absolute_profit_threshold: Some(dec!(500)),
            ..spec(Period::Day)
        };
        let mut stats = PeriodStats::new(Period::Day, bounds, dec!(10000));
        assert_eq!(
            stats.observe(&limits, dec!(9500), t("13:00:00")),
            None,
            "500 is not past 500"
        );
        let exceeded = stats
            .observe(&limits, dec!(9400), t("13:05:00"))
            .expect("600 > 500");
        assert_eq!(exceeded.kind, ThresholdType::Drawdown);
        assert_eq!(exceeded.reading.relative_drawdown, dec!(0.06));
        assert_eq!(
            stats.observe(&limits, dec!(10600), t("13:06:00")),
            None,
            "frozen"
        );
        assert_eq!(stats.max_profit, None);
        let json = stats.to_json();
        assert_eq!(json["thresholdExceeded"], true);
        assert_eq!(json["exceededThresholdType"], "drawdown");
        assert_eq!(json["maxAbsoluteDrawdown"], 600);
        assert_eq!(json["maxAbsoluteProfit"], 0, "a number, never null");
        assert_eq!(json["initialBalance"], 10000);

        let relative = TrackerSpec {
            relative_profit_threshold: Some(dec!(0.05)),
            ..spec(Period::Day)
        };
        let mut stats = PeriodStats::new(Period::Day, bounds, dec!(10000));
        let exceeded = stats
            .observe(&relative, dec!(10600), t("14:00:00"))
            .expect("6% > 5%");
        assert_eq!(exceeded.kind, ThresholdType::Profit);
        assert_eq!(exceeded.reading.absolute_profit, dec!(600));
    }

    #[test]
    fn a_tracker_rolls_its_periods_over_and_tells_one_event_a_period() {
        let spec = TrackerSpec {
            absolute_drawdown_threshold: Some(dec!(150)),
            ..spec(Period::Day)
        };
        let mut run = TrackerRun::new(spec, at("2020-05-11 12:00:00"));
        let seen = |time: &str, balance: Decimal, equity: Decimal| Observation {
            time: at(time),
            balance,
            equity,
        };
        assert_eq!(
            run.observe(&seen("2020-05-11 11:00:00", dec!(10000), dec!(9000))),
            None,
            "before it starts"
        );
        let event = run
            .observe(&seen("2020-05-11 12:30:00", dec!(10000), dec!(9800)))
            .expect("200 > 150");
        assert_eq!(event.exceeded.kind, ThresholdType::Drawdown);
        assert_eq!(event.bounds.start, at("2020-05-11 12:00:00"));
        assert_eq!(
            run.observe(&seen("2020-05-11 13:00:00", dec!(10000), dec!(9500))),
            None,
            "one a period"
        );
        run.trade(at("2020-05-12 09:00:00"));
        run.observe(&seen("2020-05-12 10:00:00", dec!(10100), dec!(10050)));
        // The next day starts with the balance seen last before it.
        assert_eq!(
            run.observe(&seen("2020-05-12 12:00:01", dec!(10100), dec!(10040))),
            None
        );
        let current = run.current.as_ref().expect("open");
        assert_eq!(current.initial_balance, dec!(10100));
        assert_eq!(current.bounds.start, at("2020-05-12 12:00:00"));
        // A deposit in the period is not profit; a fall past the threshold is its event.
        run.balance_operation(at("2020-05-12 13:00:00"), dec!(1000), dec!(11100));
        let event = run
            .observe(&seen("2020-05-12 14:00:00", dec!(11100), dec!(10900)))
            .expect("10,900 - 1,000 is 200 under 10,100");
        assert_eq!(event.exceeded.reading.absolute_drawdown, dec!(200));
        let stats = run.statistics(None, Some(5));
        assert_eq!(stats.len(), 2, "newest first: {stats:?}");
        assert_eq!(stats[0].bounds.start, at("2020-05-12 12:00:00"));
        assert_eq!(stats[1].trade_day_count(), 1);
        assert_eq!(run.statistics(None, None).len(), 1, "one by default");
        assert_eq!(
            run.statistics(Some(at("2020-05-12 00:00:00")), None)[0]
                .bounds
                .start,
            at("2020-05-11 12:00:00"),
            "loaded backwards from startTime"
        );
    }

    #[test]
    fn the_equity_chart_is_hourly_with_time_weighted_averages() {
        let seen = |time: &str, balance: Decimal, equity: Decimal| Observation {
            time: at(time),
            balance,
            equity,
        };
        let mut chart = EquityChart::default();
        chart.observe(seen("2020-05-11 10:15:00", dec!(10000), dec!(10000)));
        // 10,000 held 15 minutes, then 9,000 held 45 minutes: the average is 9,250.
        chart.observe(seen("2020-05-11 10:30:00", dec!(10000), dec!(9000)));
        chart.observe(seen("2020-05-11 11:15:00", dec!(10000), dec!(9000)));
        chart.observe(seen("2020-05-11 10:59:00", dec!(10000), dec!(1)));
        chart.observe(seen("2020-05-11 13:05:00", dec!(10500), dec!(10600)));
        assert_eq!(
            chart.hours.len(),
            3,
            "hours without data left out, late samples ignored"
        );
        let ten = chart.hours[0];
        assert_eq!(ten.duration_ms, 15 * 60 * 1000);
        assert_eq!(ten.averages().0, dec!(10000));
        assert_eq!((ten.min_equity, ten.max_equity), (dec!(9000), dec!(10000)));
        let json = ten.to_json(true);
        assert_eq!(json["startBrokerTime"], "2020-05-11 10:00:00.000");
        assert_eq!(json["endBrokerTime"], "2020-05-11 10:59:59.999");
        assert_eq!(json["startEquity"], 10000);
        assert_eq!(json["lastEquity"], 9000);
        assert_eq!(json["duration"], 900_000);
        assert_eq!(json["brokerTime"], "2020-05-11 10:30:00.000");
        assert!(ten.to_json(false).get("duration").is_none());
        let mut hour = ChartHour::new(
            at("2020-05-11 10:00:00"),
            seen("2020-05-11 10:00:00", dec!(1), dec!(10000)),
        );
        hour.add(seen("2020-05-11 10:15:00", dec!(1), dec!(9000)));
        hour.add(seen("2020-05-11 11:00:00", dec!(1), dec!(9000)));
        assert_eq!(hour.averages().0, dec!(9250));
        let from_eleven: Vec<_> = chart
            .between(Some(at("2020-05-11 11:30:00")), None)
            .map(|h| h.start)
            .collect();
        assert_eq!(
            from_eleven,
            [at("2020-05-11 11:00:00"), at("2020-05-11 13:00:00")]
        );
        assert_eq!(
            chart.between(None, Some(at("2020-05-11 10:00:00"))).count(),
            1
        );
    }

    #[test]
    fn the_ends_of_the_calendar_give_no_period_and_no_panic() {
        let far = NaiveDateTime::MAX - TimeDelta::minutes(1);
        for period in Period::ALL {
            let _ = period_at(&spec(period), NaiveDateTime::MIN, far);
            let _ = period_at(&spec(period), NaiveDateTime::MIN, NaiveDateTime::MIN);
        }
        let mut chart = EquityChart::default();
        chart.observe(Observation {
            time: far,
            balance: dec!(1),
            equity: dec!(1),
        });
        assert_eq!(chart.hours.len(), 1);
        let _ = chart.hours[0].to_json(true);
        assert_eq!(chart.between(Some(far), None).count(), 1);
    }

    #[test]
    fn trading_days_are_the_broker_dates_with_trades_in_the_period() {
        let bounds = Bounds {
            start: at("2020-05-11 12:00:00"),
            end: Some(at("2020-05-12 11:59:59.999")),
        };
        let mut stats = PeriodStats::new(Period::Day, bounds, dec!(10000));
        stats.trade(at("2020-05-11 09:00:00"));
        stats.trade(at("2020-05-11 16:00:00"));
        stats.trade(at("2020-05-11 17:00:00"));
        stats.trade(at("2020-05-12 05:00:00"));
        assert_eq!(
            stats.trade_day_count(),
            2,
            "before the period's start does not count"
        );
        assert_eq!(stats.to_json()["tradeDayCount"], 2);
    }

    #[test]
    fn broker_times_read_with_or_without_milliseconds_and_are_written_with_them() {
        let with = parse_broker_time("2020-08-24 13:05:09.250").expect("time");
        let without = parse_broker_time("2020-08-24 13:05:09").expect("time");
        assert_eq!(format_broker_time(with), "2020-08-24 13:05:09.250");
        assert_eq!(format_broker_time(without), "2020-08-24 13:05:09.000");
        for bad in ["2020-08-24", "2020-08-24T13:05:09", "24/08/2020 13:05", ""] {
            assert_eq!(parse_broker_time(bad), None, "{bad}");
        }
    }
}
