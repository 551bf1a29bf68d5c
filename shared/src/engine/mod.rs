//! The risk engine: a prop-firm challenge as a state that records are folded into.
//!
//! A [`Challenge`] holds everything the rules need (anchors, peaks, open positions, symbol tick
//! values, trade statistics) and is serialisable, so the backend persists it between updates and
//! after a restart. [`Challenge::apply`] folds one timestamped [`Record`] in (account
//! information, open positions, a deal, a price, a symbol specification, or a bare clock tick)
//! and appends the [`Event`]s it caused to a caller-provided vector. [`Challenge::report`] gives
//! the replay report: status, rules, events and metrics.
//!
//! The engine does no IO, reads no clock and draws no random numbers: the same records give the
//! same result on the server and in the browser. It never panics on input: a record it cannot
//! accept is refused with an [`EngineError`] naming what is wrong, and the state is unchanged.
//! An account-information update does not allocate unless it causes an event.
//!
//! ```
//! use shared::Decimal;
//! use shared::domain::AccountInfo;
//! use shared::engine::{Challenge, ChallengeStatus, EventKind, Record, RecordData};
//!
//! let mut challenge = Challenge::from_preset("ftmo-2step", Decimal::from(100_000))?;
//! let mut events = Vec::new();
//! let info = AccountInfo {
//!     balance: Decimal::from(100_000),
//!     equity: Decimal::from(94_999),
//!     margin: Decimal::ZERO,
//!     free_margin: Decimal::from(94_999),
//!     margin_level: None,
//!     currency: "USD".into(),
//!     leverage: Some(100),
//!     credit: Decimal::ZERO,
//! };
//! let time = "2026-01-12T10:00:00Z".parse().expect("time");
//! challenge.apply(&Record::new(time, RecordData::AccountInformation(info)), &mut events)?;
//! assert_eq!(events[0].kind, EventKind::Breach);
//! assert_eq!(challenge.status(), ChallengeStatus::Failed);
//! let report = challenge.report(); // serde::Serialize: the replay report
//! # let _ = report;
//! # Ok::<(), shared::engine::EngineError>(())
//! ```
//!
//! Files: [`clock`] (reset instants), [`rules`] (rule definitions), [`presets`] (firms' rule
//! sets), `state` ([`Challenge`] and `apply`), `periods` (week, quarter and year anchors, the
//! day's high, per-trade and time rules), [`metrics`], [`stats`] (trade statistics), `report`
//! ([`Report`]).

pub mod clock;
pub mod edit;
pub mod metrics;
pub mod presets;
mod report;
pub mod rules;
pub mod sizing;
mod state;
pub mod stats;

#[cfg(test)]
mod exact_tests;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;

pub use clock::ResetClock;
pub use metrics::Metrics;
pub use presets::{PRESETS, preset};
pub use report::{Report, RuleReport};
pub use rules::{
    DailyAnchor, DayProfit, Limit, MaxLossMode, Measure, Period, ProfitBasis, RuleDef, RuleKind,
    RuleStatus, Severity, Unit, Weekday,
};
pub use state::{Challenge, ChallengeConfig, ChallengeStatus, PlCounting};

use crate::domain::{AccountInfo, Deal, Money, Position, SymbolPrice, SymbolSpec};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One timestamped input to the engine.
///
/// In JSON: `{"time": "...", "accountInformation": {...}}` with exactly one of
/// `accountInformation`, `positions`, `deal`, `price`, `specification` or `tick` (a bare clock
/// tick: `"tick": {}`), holding the [`crate::domain`] type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the record was observed; records must come in non-decreasing time order.
    pub time: DateTime<Utc>,
    /// What was observed.
    #[serde(flatten)]
    pub data: RecordData,
}

impl Record {
    /// A record of `data` observed at `time`.
    pub fn new(time: DateTime<Utc>, data: RecordData) -> Self {
        Self { time, data }
    }
}

/// The content of a [`Record`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordData {
    /// Balance, equity, margin as the broker reports them.
    AccountInformation(AccountInfo),
    /// The complete set of open positions (replaces the previous set).
    Positions(Vec<Position>),
    /// One deal of the account history.
    Deal(Deal),
    /// A symbol's price and tick values.
    Price(SymbolPrice),
    /// A symbol's specification (tick size).
    Specification(SymbolSpec),
    /// Time passed with no data: lets daily resets and duration limits happen on time.
    Tick {},
}

/// What kind of thing happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A budget passed one of its rule's warning fractions.
    Warning,
    /// A rule was broken.
    Breach,
    /// An objective (profit target, trading days, best day) is met.
    ObjectiveMet,
    /// All objectives are met with no hard breach: the challenge passed.
    Passed,
    /// A hard rule was broken: the challenge failed.
    Failed,
    /// A breach rested on a balance change that no deal explained within [`HOLD_BOUND`] (or
    /// that went away without one): it is decided as the data stands (the change taken as
    /// trading P/L), and an admin should look at it. The evidence is the held measurement's.
    Held,
}

/// The numbers the floors hang from, as they stood at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anchors {
    /// Starting capital of the challenge.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub initial_balance: Money,
    /// Deposits minus withdrawals since the start (moves every anchor, never profit).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub net_deposits: Money,
    /// Balance at the last daily reset (the initial balance on day one).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_day_balance: Money,
    /// Equity at the last daily reset.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_day_equity: Money,
    /// Balance at the first reset of the month.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_month_balance: Money,
    /// Equity at the first reset of the month.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_month_equity: Money,
    /// Highest balance reported.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peak_balance: Money,
    /// Highest equity reported.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peak_equity: Money,
    /// Highest balance at a daily reset (end of day), at least the initial balance.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peak_end_of_day_balance: Money,
    /// Highest equity since the daily reset (from the equity at the reset); followed between
    /// resets only while a rule hangs from it. Zero in evidence saved before it existed.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub highest_equity_of_day: Money,
    /// Balance at the first reset of the (ISO) week of trading days.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_week_balance: Money,
    /// Balance at the first reset of the calendar quarter.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_quarter_balance: Money,
    /// Balance at the first reset of the calendar year.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub start_of_year_balance: Money,
}

/// One anchor an admin may correct (see [`Challenge::correct_anchor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AnchorField {
    /// [`Anchors::initial_balance`].
    InitialBalance,
    /// [`Anchors::start_of_day_balance`].
    StartOfDayBalance,
    /// [`Anchors::start_of_day_equity`].
    StartOfDayEquity,
    /// [`Anchors::start_of_month_balance`].
    StartOfMonthBalance,
    /// [`Anchors::start_of_month_equity`].
    StartOfMonthEquity,
    /// [`Anchors::peak_balance`].
    PeakBalance,
    /// [`Anchors::peak_equity`].
    PeakEquity,
    /// [`Anchors::peak_end_of_day_balance`].
    PeakEndOfDayBalance,
}

impl AnchorField {
    /// Every anchor that may be corrected.
    pub const ALL: [AnchorField; 8] = [
        Self::InitialBalance,
        Self::StartOfDayBalance,
        Self::StartOfDayEquity,
        Self::StartOfMonthBalance,
        Self::StartOfMonthEquity,
        Self::PeakBalance,
        Self::PeakEquity,
        Self::PeakEndOfDayBalance,
    ];

    /// The anchor's name on the wire (`start_of_day_balance`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::InitialBalance => "initial_balance",
            Self::StartOfDayBalance => "start_of_day_balance",
            Self::StartOfDayEquity => "start_of_day_equity",
            Self::StartOfMonthBalance => "start_of_month_balance",
            Self::StartOfMonthEquity => "start_of_month_equity",
            Self::PeakBalance => "peak_balance",
            Self::PeakEquity => "peak_equity",
            Self::PeakEndOfDayBalance => "peak_end_of_day_balance",
        }
    }
}

impl std::fmt::Display for AnchorField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Anchors {
    /// The slot holding `field`.
    pub fn get_mut(&mut self, field: AnchorField) -> &mut Money {
        match field {
            AnchorField::InitialBalance => &mut self.initial_balance,
            AnchorField::StartOfDayBalance => &mut self.start_of_day_balance,
            AnchorField::StartOfDayEquity => &mut self.start_of_day_equity,
            AnchorField::StartOfMonthBalance => &mut self.start_of_month_balance,
            AnchorField::StartOfMonthEquity => &mut self.start_of_month_equity,
            AnchorField::PeakBalance => &mut self.peak_balance,
            AnchorField::PeakEquity => &mut self.peak_equity,
            AnchorField::PeakEndOfDayBalance => &mut self.peak_end_of_day_balance,
        }
    }

    /// The value of `field`.
    pub fn get(mut self, field: AnchorField) -> Money {
        *self.get_mut(field)
    }
}

/// Why an event happened: enough to settle a dispute without the rest of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// When it happened (the time of the record that caused it).
    pub time: DateTime<Utc>,
    /// The rule's id.
    pub rule: String,
    /// The measured value (equity for loss rules, lots, count, ...).
    pub measured: Decimal,
    /// The limit it was measured against (the equity floor for loss rules).
    pub limit: Decimal,
    /// For warnings: the fraction of the budget used.
    pub fraction: Option<Decimal>,
    /// Whether `measured` is equity estimated from quotes since the last account update
    /// (warnings only) rather than the broker's equity.
    #[serde(default)]
    pub estimated: bool,
    /// The anchors at that moment.
    pub anchors: Anchors,
    /// The open positions at that moment.
    pub open_positions: Vec<Position>,
    /// The record that caused it.
    pub record: Record,
    /// For a breach whose decision was held because it rested on a balance change no deal
    /// explained yet: when the deal that settled it arrived. `time` stays the instant of the
    /// breach itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<DateTime<Utc>>,
    /// For a breach decided while a balance change was still unexplained after
    /// [`HOLD_BOUND`]: that change (taken as trading P/L). An admin was told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexplained: Option<Money>,
    /// The position the rule is about (holding time, weekend), when it is one position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    /// The deal the rule is about (a closed trade's loss), when it is one deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
}

/// How long a decision resting on a balance change no deal explains is held. Past it, the
/// change stands as reported (trading P/L), the decision is made, and an admin is told (an
/// [`EventKind::Held`] event; a breach so decided names the change in its evidence).
pub const HOLD_BOUND: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// A deal that arrived late: dated before the record that brought it by more than
/// [`LATE_DEAL_AFTER`]. Kept (the newest [`LATE_DEALS_KEPT`]) so the dashboard can say which
/// figures it changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LateDeal {
    /// The broker's deal id.
    pub deal_id: String,
    /// The deal's own time.
    pub time: DateTime<Utc>,
    /// When it reached the engine.
    pub arrived: DateTime<Utc>,
    /// The trading day it belongs to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub day: chrono::NaiveDate,
    /// Whether that day had already finished when it arrived (a past day's figures changed).
    pub past_day: bool,
    /// The deal's closed P/L (profit, commission and swap).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub closed_pl: Money,
    /// The day's closed P/L before the deal, and after.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub day_closed_pl_before: Money,
    /// The day's closed P/L after the deal.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub day_closed_pl_after: Money,
}

/// A deal dated more than this before the record that brought it is a late deal.
pub const LATE_DEAL_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// How many late deals a challenge remembers (the newest).
pub const LATE_DEALS_KEPT: usize = 20;

/// Something the engine decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When (the time of the record that caused it).
    pub time: DateTime<Utc>,
    /// Warning, breach, objective met, passed, failed.
    pub kind: EventKind,
    /// The rule concerned, if any.
    pub rule: Option<String>,
    /// The evidence, for warnings and breaches.
    pub evidence: Option<Box<Evidence>>,
}

/// Why the engine refused a record or a configuration. The state is unchanged when `apply`
/// returns one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A record older than the last one applied.
    #[error("record at {time} is older than the last record at {last}")]
    OutOfOrder {
        /// The record's time.
        time: DateTime<Utc>,
        /// The last applied record's time.
        last: DateTime<Utc>,
    },
    /// A negative volume on a position or deal.
    #[error("negative volume {volume} on {what}")]
    NegativeVolume {
        /// Which position or deal.
        what: String,
        /// The volume.
        volume: Decimal,
    },
    /// A symbol specification with a tick size of zero or less.
    #[error("symbol {symbol} has a tick size of {tick_size}: it must be positive")]
    NonPositiveTickSize {
        /// The symbol.
        symbol: String,
        /// The tick size.
        tick_size: Decimal,
    },
    /// A symbol price with a negative tick value.
    #[error("symbol {symbol} has a negative tick value")]
    NegativeTickValue {
        /// The symbol.
        symbol: String,
    },
    /// A number too large to be a real amount, price or volume.
    #[error("{field} = {value} is out of range (more than 10^15 in magnitude)")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value.
        value: Decimal,
    },
    /// A rule with invalid parameters.
    #[error("rule {id}: {reason}")]
    InvalidRule {
        /// The rule's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Two rules with the same id.
    #[error("rule id {id} is used twice")]
    DuplicateRule {
        /// The id.
        id: String,
    },
    /// A preset name the engine does not know.
    #[error("unknown preset {name}; known presets: {known}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// An initial balance of zero or less, or out of range.
    #[error("initial balance {0} must be positive and at most 10^15")]
    InvalidInitialBalance(Decimal),
    /// An anchor correction to zero or less, or out of range.
    #[error("{field} = {value} must be positive and at most 10^15")]
    InvalidAnchor {
        /// Which anchor.
        field: AnchorField,
        /// The value refused.
        value: Decimal,
    },
    /// A time too far in the future for the reset clock.
    #[error("time {0} is outside the reset clock's range")]
    TimeOutOfRange(DateTime<Utc>),
    /// A breach to clear was asked for, but no rule is breached.
    #[error("no rule is breached (the challenge is {}), so there is no breach to clear", .0.name())]
    NoBreach(ChallengeStatus),
    /// An unpause was asked for, but the challenge is not paused.
    #[error("the challenge is {}, not paused by a soft breach", .0.name())]
    NotPaused(ChallengeStatus),
}
