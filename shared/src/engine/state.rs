//! [`Challenge`]: the per-challenge state and the pure `apply` that folds records into it.
//!
//! Floors are precomputed whenever an anchor moves (daily reset, month change, deposit, new
//! peak), so an account-information update only compares equity with stored numbers. Nothing on
//! that path allocates unless an event is raised (the daily roll appends the finished day to the
//! calendar, reserved for 32 days, then growing).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod periods;

use super::clock::ResetClock;
use super::rules::{
    DailyAnchor, DayProfit, Limit, MaxLossMode, Measure, Period, ProfitBasis, RuleDef, RuleKind,
    RuleStatus, Severity,
};
use super::stats::{DayStats, TradeStats};
use super::{
    AnchorField, Anchors, EngineError, Event, EventKind, Evidence, HOLD_BOUND, LATE_DEAL_AFTER,
    LATE_DEALS_KEPT, LateDeal, Record, RecordData,
};
use crate::domain::{
    AccountInfo, Deal, DealEntry, DealKind, Lots, Money, Position, Price, Side, SymbolPrice,
    SymbolSpec,
};

/// Largest magnitude accepted for any amount, price or volume in a record (10^15).
pub const MAX_INPUT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Seed 004 ignores trades of this volume or less when counting losing streaks.
const TINY_LOTS: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Clock skew allowed between a deal's own time and the account update that already holds it.
const SKEW: TimeDelta = TimeDelta::seconds(30);

/// An unexplained balance change older than this is taken as it is when another one comes.
const SETTLE: TimeDelta = TimeDelta::minutes(10);

/// Indexes into [`Pending::contained`]: the anchors a balance change can hide in.
const SOD_BALANCE: usize = 0;
const SOD_EQUITY: usize = 1;
const SOM_BALANCE: usize = 2;
const SOM_EQUITY: usize = 3;
const PEAK_BALANCE: usize = 4;
const PEAK_EQUITY: usize = 5;
const PEAK_EOD_BALANCE: usize = 6;

/// A balance change that account information reported and no deal has explained yet (a
/// deposit or a closing trade whose deal the broker has not synced), and where it went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pending {
    /// The unexplained change of the balance.
    pub(super) amount: Money,
    /// The time of the last account update that changed it.
    pub(super) time: Option<DateTime<Utc>>,
    /// Per anchor (`SOD_BALANCE` ...), how much of `amount` it holds.
    pub(super) contained: [Money; 7],
    /// Peak balance, equity and end-of-day balance over values net of `amount`.
    pub(super) net_peaks: [Money; 3],
    /// Per newer anchor (`periods::WEEK` ...), how much of `amount` it holds.
    #[serde(default)]
    pub(super) extra: [Money; 4],
}

/// Takes from `from` the part of `amount` it holds (same sign, at most `amount`).
pub(super) fn absorb(from: &mut Money, amount: Money) -> Money {
    if from.is_zero() || amount.is_zero() || from.is_sign_negative() != amount.is_sign_negative() {
        return Decimal::ZERO;
    }
    let taken = if amount.abs() <= from.abs() {
        amount
    } else {
        *from
    };
    *from -= taken;
    taken
}

/// Everything needed to start a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeConfig {
    /// The preset it came from (or any label for a custom rule set).
    pub preset: String,
    /// Starting capital.
    pub initial_balance: Money,
    /// When trading days start.
    pub clock: ResetClock,
    /// The rules, in report order.
    pub rules: Vec<RuleDef>,
    /// Whether equity estimated from quotes between account updates may breach a loss rule.
    /// By default (`false`) it only warns: a breach needs the broker's own equity.
    #[serde(default)]
    pub estimated_equity_breaches: bool,
    /// Whether interest, dividend and tax deals count as trading P/L (the default) or move the
    /// balance like deposits and withdrawals.
    #[serde(default)]
    pub interest_dividend_tax: PlCounting,
}

/// How interest, dividend and tax deals count (see `docs/ENGINE.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlCounting {
    /// Trading P/L: the day's and the challenge's closed P/L, the profit target, the realized
    /// loss (as before these deal kinds were told apart).
    #[default]
    TradingPl,
    /// Like a deposit or withdrawal: moves the balance and every anchor, never profit or loss.
    BalanceOperation,
}

/// Where a challenge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    /// Trading, no objective set complete, no hard breach.
    Active,
    /// All objectives met (final).
    Passed,
    /// A hard rule was breached (final).
    Failed,
    /// A soft rule was breached: paused until the next daily reset.
    Paused,
}

impl ChallengeStatus {
    /// Passed or failed: nothing changes any more.
    pub fn is_final(self) -> bool {
        matches!(self, ChallengeStatus::Passed | ChallengeStatus::Failed)
    }

    /// The status as a word, as sent (`active`, `passed`, `failed`, `paused`).
    pub fn name(self) -> &'static str {
        match self {
            ChallengeStatus::Active => "active",
            ChallengeStatus::Passed => "passed",
            ChallengeStatus::Failed => "failed",
            ChallengeStatus::Paused => "paused",
        }
    }
}

/// What an account update checks for a rule (cached from its kind for the hot path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Check {
    Floor,
    /// A loss floor compared with the closed balance.
    BalanceFloor,
    Target,
    Margin,
    OpenRisk,
    Nothing,
}

impl Check {
    pub(super) fn of(kind: &RuleKind) -> Self {
        match kind {
            _ if kind.is_loss_rule() && kind.measure() == Measure::Balance => Check::BalanceFloor,
            _ if kind.is_loss_rule() => Check::Floor,
            RuleKind::ProfitTarget { .. } => Check::Target,
            RuleKind::MarginLevel { .. } => Check::Margin,
            RuleKind::TotalOpenRisk { .. } => Check::OpenRisk,
            _ => Check::Nothing,
        }
    }
}

/// One rule with its running numbers. `repr(C)` keeps what an account update reads in the
/// first bytes, so many accounts cost fewer cache misses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub(super) struct RuleState {
    /// Above this equity nothing can happen: `max(floor, first warning level)`. Kept inline so
    /// the common update reads no heap memory.
    pub(super) quiet_above: Money,
    /// Loss rules: the equity floor. Profit target: the level to reach.
    pub(super) floor: Money,
    pub(super) status: RuleStatus,
    pub(super) check: Check,
    /// Warnings raised in the current period.
    pub(super) warned: u8,
    pub(super) def: RuleDef,
    /// Loss rules: the budget in money. Profit target: the profit to make.
    pub(super) limit: Money,
    /// Equity levels at which each warning fraction is reached.
    pub(super) levels: Vec<Money>,
    /// The last measured value of rules other than loss rules (for those the report reads the
    /// equity, so the hot path writes nothing here).
    pub(super) measured: Option<Decimal>,
    /// Consecutive losses: the rule's own streak.
    pub(super) counter: u32,
    /// A breach that rests on a balance change no deal explains yet (see `hold`).
    #[serde(default)]
    pub(super) held: Option<Box<HeldBreach>>,
    /// Weekend rule: the latest weekend window started at or before the last record, and the
    /// start of the next one (see `periods`).
    #[serde(default)]
    pub(super) window: Option<periods::Window>,
}

impl RuleState {
    /// A rule starting pending, its floor and warning levels taken from `anchors`.
    pub(super) fn new(def: RuleDef, anchors: &Anchors) -> Self {
        let mut rule = RuleState {
            check: Check::of(&def.kind),
            status: RuleStatus::Pending,
            floor: Decimal::ZERO,
            limit: Decimal::ZERO,
            levels: vec![Decimal::ZERO; def.warnings.len()],
            quiet_above: Decimal::ZERO,
            warned: 0,
            measured: None,
            counter: 0,
            held: None,
            window: None,
            def,
        };
        refloor(&mut rule, anchors, true);
        rule
    }
}

/// A loss rule's breach that holds under one reading of a balance change no deal explains yet
/// (trading P/L, or a deposit or withdrawal) and not under the other: held, not decided, until
/// a deal says which (see `Challenge::resolve_held`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HeldBreach {
    /// The evidence of the lowest measurement while held, as if the change were trading P/L:
    /// `limit` is that floor.
    pub(super) evidence: Box<Evidence>,
    /// The floor if the change is a deposit or withdrawal.
    pub(super) balance_floor: Money,
    /// Whether an admin was told ([`EventKind::Held`]).
    pub(super) flagged: bool,
}

/// How many of the newest closing trades a challenge keeps, so that a deal arriving out of
/// order takes its place in the losing streak.
const RECENT_CLOSES: usize = 32;

/// A closing trade, as the losing streaks need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RecentClose {
    pub(super) time: DateTime<Utc>,
    pub(super) pl: Money,
    pub(super) volume: Lots,
}

/// A position's open volume as its trade deals built it (netting accounts reverse a position
/// with one deal: its closed part is the volume that was open, not the deal's volume).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DealPosition {
    pub(super) id: String,
    pub(super) side: Side,
    pub(super) volume: Lots,
}

/// What the engine knows of a symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SymbolInfo {
    pub(super) symbol: String,
    pub(super) tick_size: Option<Decimal>,
    pub(super) loss_tick_value: Option<Money>,
    pub(super) profit_tick_value: Option<Money>,
    /// Latest quote.
    pub(super) bid: Option<Price>,
    pub(super) ask: Option<Price>,
    /// The quote in effect at the last account update (`mark_seq`), the estimate's reference.
    pub(super) mark_bid: Option<Price>,
    pub(super) mark_ask: Option<Price>,
    pub(super) mark_seq: u64,
    /// Estimated change of the symbol's open P/L since the last account update (`delta_seq`).
    pub(super) delta: Money,
    pub(super) delta_seq: u64,
    /// Volume limits from the specification, for the lot-size calculator.
    #[serde(default)]
    pub(super) volume_step: Option<Lots>,
    #[serde(default)]
    pub(super) min_volume: Option<Lots>,
    #[serde(default)]
    pub(super) max_volume: Option<Lots>,
}

/// Open risk to stop loss of the open positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Risk {
    /// Sum over positions with a stop loss and known tick values.
    pub(super) total: Money,
    /// The largest single position's risk.
    pub(super) largest: Money,
    /// Positions without a stop loss.
    pub(super) unbounded: u32,
    /// Positions whose symbol's tick size or loss tick value is unknown.
    pub(super) unpriced: u32,
}

/// The state of one challenge: configuration, anchors, positions, statistics and the event log.
///
/// Serialise it with serde to persist it; deserialise it to carry on where it stopped.
// `repr(C)`: the fields an account update touches come first, together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct Challenge {
    pub(super) last_time: Option<DateTime<Utc>>,
    pub(super) next_reset: Option<DateTime<Utc>>,
    pub(super) balance: Money,
    pub(super) equity: Money,
    pub(super) margin: Money,
    pub(super) min_equity_today: Money,
    pub(super) margin_level: Option<Decimal>,
    /// Account updates so far: dates the price estimate's reference quotes.
    pub(super) account_seq: u64,
    pub(super) rules: Vec<RuleState>,
    pub(super) positions: Vec<Position>,
    pub(super) status: ChallengeStatus,
    pub(super) has_account: bool,
    /// A rule hangs from the day's highest equity: account updates raise it.
    #[serde(default)]
    pub(super) day_high_rules: bool,
    /// No rule is judged on time alone (duration, holding time, weekend): records skip that
    /// loop. `false` (look) for a state saved before the flag existed.
    #[serde(default)]
    pub(super) no_time_rules: bool,
    pub(super) anchors: Anchors,
    pub(super) preset: String,
    pub(super) clock: ResetClock,
    pub(super) started: Option<DateTime<Utc>>,
    pub(super) day: Option<NaiveDate>,
    pub(super) day_start: Option<DateTime<Utc>>,
    pub(super) symbols: Vec<SymbolInfo>,
    pub(super) risk: Risk,
    pub(super) closed_pl_today: Money,
    pub(super) closed_pl_total: Money,
    pub(super) best_past_day: Option<Money>,
    pub(super) realized_loss_mtd: Money,
    pub(super) consecutive_losses: u32,
    pub(super) trading_days: Vec<NaiveDate>,
    pub(super) stats: TradeStats,
    pub(super) days: Vec<DayStats>,
    pub(super) events: Vec<Event>,
    /// A `Positions` record has been received: "no open position" is known, not assumed.
    #[serde(default)]
    pub(super) positions_known: bool,
    /// Balance change reported before its deal (see `on_deal`).
    #[serde(default)]
    pub(super) pending: Pending,
    /// The peak end-of-day balance before the latest daily roll, so a deal of the day just
    /// finished that arrives after the roll can lower that day's closing balance without the
    /// peak keeping the uncorrected value.
    #[serde(default)]
    pub(super) peak_eod_before_roll: Option<Money>,
    /// See [`ChallengeConfig::estimated_equity_breaches`].
    #[serde(default)]
    pub(super) estimated_equity_breaches: bool,
    /// The newest closing trades, oldest first (see [`RECENT_CLOSES`]).
    #[serde(default)]
    pub(super) recent_closes: Vec<RecentClose>,
    /// Open positions as their deals built them (see [`DealPosition`]).
    #[serde(default)]
    pub(super) deal_positions: Vec<DealPosition>,
    /// The newest late deals, oldest first (see [`LateDeal`]).
    #[serde(default)]
    pub(super) late_deals: Vec<LateDeal>,
    /// See [`ChallengeConfig::interest_dividend_tax`].
    #[serde(default)]
    pub(super) interest_dividend_tax: PlCounting,
    /// Open time of the oldest position still open (as last reported, less what deals closed
    /// since): holding-time and weekend rules compare the record's time with it.
    #[serde(default)]
    pub(super) earliest_open: Option<DateTime<Utc>>,
    /// Volume closed by deals per position since the last `Positions` record.
    #[serde(default)]
    pub(super) closed_since_report: Vec<(String, Lots)>,
}

impl Challenge {
    /// Starts a challenge from a configuration, validating every rule.
    pub fn new(config: ChallengeConfig) -> Result<Self, EngineError> {
        let initial = config.initial_balance;
        if initial <= Decimal::ZERO || initial > MAX_INPUT {
            return Err(EngineError::InvalidInitialBalance(initial));
        }
        for (i, rule) in config.rules.iter().enumerate() {
            rule.validate()?;
            if config.rules[..i].iter().any(|r| r.id == rule.id) {
                return Err(EngineError::DuplicateRule {
                    id: rule.id.clone(),
                });
            }
        }
        let anchors = Anchors {
            initial_balance: initial,
            net_deposits: Decimal::ZERO,
            start_of_day_balance: initial,
            start_of_day_equity: initial,
            start_of_month_balance: initial,
            start_of_month_equity: initial,
            peak_balance: initial,
            peak_equity: initial,
            peak_end_of_day_balance: initial,
            highest_equity_of_day: initial,
            start_of_week_balance: initial,
            start_of_quarter_balance: initial,
            start_of_year_balance: initial,
        };
        let rules = config
            .rules
            .into_iter()
            .map(|def| RuleState::new(def, &anchors))
            .collect::<Vec<_>>();
        let day_high_rules = periods::hangs_from_day_high(rules.iter().map(|r| &r.def));
        let no_time_rules = !periods::judged_on_time(rules.iter().map(|r| &r.def));
        Ok(Self {
            preset: config.preset,
            clock: config.clock,
            status: ChallengeStatus::Active,
            rules,
            anchors,
            has_account: false,
            balance: initial,
            equity: initial,
            margin: Decimal::ZERO,
            margin_level: None,
            started: None,
            last_time: None,
            day: None,
            day_start: None,
            next_reset: None,
            min_equity_today: initial,
            positions: Vec::with_capacity(16),
            symbols: Vec::with_capacity(8),
            account_seq: 0,
            risk: Risk::default(),
            closed_pl_today: Decimal::ZERO,
            closed_pl_total: Decimal::ZERO,
            best_past_day: None,
            realized_loss_mtd: Decimal::ZERO,
            consecutive_losses: 0,
            trading_days: Vec::with_capacity(32),
            stats: TradeStats::default(),
            days: Vec::with_capacity(32),
            events: Vec::with_capacity(16),
            positions_known: false,
            pending: Pending {
                net_peaks: [initial; 3],
                ..Pending::default()
            },
            peak_eod_before_roll: None,
            estimated_equity_breaches: config.estimated_equity_breaches,
            recent_closes: Vec::new(),
            deal_positions: Vec::new(),
            late_deals: Vec::new(),
            interest_dividend_tax: config.interest_dividend_tax,
            day_high_rules,
            no_time_rules,
            earliest_open: None,
            closed_since_report: Vec::new(),
        })
    }

    /// Every loss rule's equity floor and the profit target's level, as they stand: rule id,
    /// rule kind and level (the limit lines of the equity chart).
    pub fn limit_levels(&self) -> impl Iterator<Item = (&str, &'static str, Money)> + '_ {
        self.rules
            .iter()
            .filter(|r| {
                r.def.kind.is_loss_rule() || matches!(r.def.kind, RuleKind::ProfitTarget { .. })
            })
            .map(|r| (r.def.id.as_str(), r.def.kind.name(), r.floor))
    }

    /// When the challenge started (its first record); `None` before it.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.started
    }

    /// The time of the latest record applied; `None` before the first.
    pub fn last_time(&self) -> Option<DateTime<Utc>> {
        self.last_time
    }

    /// The open positions, as last reported.
    pub fn open_positions(&self) -> &[Position] {
        &self.positions
    }

    /// The preset name or label the challenge was configured with.
    pub fn preset(&self) -> &str {
        &self.preset
    }

    /// Active, passed, failed or paused.
    pub fn status(&self) -> ChallengeStatus {
        self.status
    }

    /// The reset clock.
    pub fn clock(&self) -> ResetClock {
        self.clock
    }

    /// The anchors as they stand.
    pub fn anchors(&self) -> Anchors {
        self.anchors
    }

    /// Sets one anchor to `value`: an admin's correction (of a value reconstructed from deal
    /// history, or one the broker got wrong). Balance changes not yet explained by a deal are
    /// taken as they stand first, and every floor and warning level hanging from the anchors is
    /// recomputed at once; the next record is measured against them. Nothing already recorded
    /// changes: a breach stays a breach. Returns the value it replaced.
    pub fn correct_anchor(
        &mut self,
        field: AnchorField,
        value: Money,
    ) -> Result<Money, EngineError> {
        if value <= Decimal::ZERO || value > MAX_INPUT {
            return Err(EngineError::InvalidAnchor { field, value });
        }
        self.settle();
        // The admin has looked at the anchors: a decision held on an unexplained balance change
        // is measured again from the next record against the corrected ones.
        for rule in &mut self.rules {
            rule.held = None;
        }
        let before = std::mem::replace(self.anchors.get_mut(field), value);
        self.settle();
        for rule in &mut self.rules {
            let floor = rule.floor;
            refloor(rule, &self.anchors, false);
            if rule.floor != floor {
                rule.warned = 0;
            }
        }
        Ok(before)
    }

    /// Clears every breached rule: an admin's override. The rules measure again from the next
    /// record on (a loss rule whose equity is still under its floor breaches again), and a
    /// failed or paused challenge is active again. Nothing recorded changes: the breach events
    /// and their evidence stay in the event log. Returns the ids of the rules cleared;
    /// [`EngineError::NoBreach`] when no rule is breached.
    pub fn clear_breaches(&mut self) -> Result<Vec<String>, EngineError> {
        let cleared: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.status == RuleStatus::Breached)
            .map(|r| r.def.id.clone())
            .collect();
        if cleared.is_empty() {
            return Err(EngineError::NoBreach(self.status));
        }
        for rule in &mut self.rules {
            if rule.status == RuleStatus::Breached {
                rule.status = RuleStatus::Ok;
            }
        }
        if matches!(
            self.status,
            ChallengeStatus::Failed | ChallengeStatus::Paused
        ) {
            self.status = ChallengeStatus::Active;
        }
        Ok(cleared)
    }

    /// Ends a soft breach's pause before the next daily reset: an admin's override. The soft
    /// rules that were breached measure again from the next record on, as after a reset; the
    /// breach events stay in the event log. Returns the ids of the soft rules released;
    /// [`EngineError::NotPaused`] unless the challenge is paused.
    pub fn unpause(&mut self) -> Result<Vec<String>, EngineError> {
        if self.status != ChallengeStatus::Paused {
            return Err(EngineError::NotPaused(self.status));
        }
        let mut released = Vec::new();
        for rule in &mut self.rules {
            if rule.def.severity == Severity::Soft && rule.status == RuleStatus::Breached {
                rule.status = RuleStatus::Ok;
                released.push(rule.def.id.clone());
            }
        }
        self.status = ChallengeStatus::Active;
        Ok(released)
    }

    /// Every event so far, oldest first (breaches are never overwritten).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The finished trading days (the daily P/L calendar).
    pub fn days(&self) -> &[DayStats] {
        &self.days
    }

    /// The rule definitions.
    pub fn rules(&self) -> impl Iterator<Item = &RuleDef> {
        self.rules.iter().map(|r| &r.def)
    }

    /// The status of the rule with id `id`.
    pub fn rule_status(&self, id: &str) -> Option<RuleStatus> {
        self.rules.iter().find(|r| r.def.id == id).map(|r| r.status)
    }

    /// The current equity floor of loss rule `id` (the profit level for a profit target).
    pub fn rule_floor(&self, id: &str) -> Option<Money> {
        self.rules.iter().find(|r| r.def.id == id).map(|r| r.floor)
    }

    /// The instant of the next daily reset, once a record has been applied.
    pub fn next_reset(&self) -> Option<DateTime<Utc>> {
        self.next_reset
    }

    /// Folds one record in and appends the events it caused to `out` (which is not cleared).
    ///
    /// A record that cannot be accepted (older than the last one, a negative volume, a zero tick
    /// size, an absurd amount) is refused with an error and leaves the state unchanged.
    pub fn apply(&mut self, record: &Record, out: &mut Vec<Event>) -> Result<(), EngineError> {
        validate(&record.data)?;
        let time = record.time;
        if let Some(last) = self.last_time
            && time < last
        {
            return Err(EngineError::OutOfOrder { time, last });
        }
        let rolled = self.advance_clock(time)?;
        self.last_time = Some(time);
        // Held decisions exist only while a balance change is unexplained; one held past its
        // bound is decided before this record is measured.
        if !self.pending.amount.is_zero() {
            self.expire_held(record, out);
        }
        // A paused challenge that resumed at the reset may already meet every objective.
        let mut objectives = rolled;
        match &record.data {
            RecordData::AccountInformation(info) => {
                objectives = self.on_account(info, record, out);
            }
            RecordData::Positions(positions) => {
                self.positions.clone_from(positions);
                self.positions_known = true;
                for position in positions {
                    if self.started.is_some_and(|s| position.open_time >= s) {
                        self.add_trading_day(position.open_time);
                    }
                }
                self.recompute_risk();
                self.check_position_rules(record, out);
                for index in 0..self.symbols.len() {
                    if self.symbols[index].delta_seq == self.account_seq {
                        self.revalue(index);
                    }
                }
                self.positions_reported();
                objectives = true;
            }
            RecordData::Deal(deal) => {
                self.on_deal(deal, record, out);
                self.after_deal(deal, record, out);
                objectives = true;
            }
            RecordData::Price(price) => {
                self.on_price(price);
                self.recompute_risk();
                self.check_position_rules(record, out);
                self.check_estimate(record, out);
            }
            RecordData::Specification(spec) => {
                self.on_spec(spec);
                self.recompute_risk();
                self.check_position_rules(record, out);
            }
            RecordData::Tick {} => {}
        }
        self.check_duration(record, out);
        if objectives {
            self.check_objectives(record, out);
        }
        Ok(())
    }

    /// Starts the first trading day, or rolls into the day containing `time`. Returns whether
    /// a day rolled.
    fn advance_clock(&mut self, time: DateTime<Utc>) -> Result<bool, EngineError> {
        let due = match self.next_reset {
            None => true,
            Some(next) => time >= next,
        };
        if !due {
            return Ok(false);
        }
        let out_of_range = || EngineError::TimeOutOfRange(time);
        let day = self.clock.trading_day(time).ok_or_else(out_of_range)?;
        let start = self.clock.previous_reset(time).ok_or_else(out_of_range)?;
        let next = self.clock.next_reset(time).ok_or_else(out_of_range)?;
        let rolled = self.started.is_some();
        if rolled {
            self.roll_day(day);
        } else {
            self.started = Some(time);
        }
        self.day = Some(day);
        self.day_start = Some(start);
        self.next_reset = Some(next);
        Ok(rolled)
    }

    /// Closes the current trading day and opens `day` with the last known balance and equity
    /// as its anchors. Days without any record in between change nothing, so one roll covers
    /// any gap.
    fn roll_day(&mut self, day: NaiveDate) {
        let new_month = self
            .day
            .is_none_or(|previous| ResetClock::is_new_month(previous, day));
        if let Some(date) = self.day {
            self.days.push(DayStats {
                date,
                start_balance: self.anchors.start_of_day_balance,
                start_equity: self.anchors.start_of_day_equity,
                closed_pl: self.closed_pl_today,
                end_balance: self.balance,
                end_equity: self.equity,
                min_equity: self.min_equity_today,
            });
        }
        self.best_past_day = Some(
            self.best_past_day
                .map_or(self.closed_pl_today, |b| b.max(self.closed_pl_today)),
        );
        let a = &mut self.anchors;
        let p = &mut self.pending;
        self.peak_eod_before_roll = Some(a.peak_end_of_day_balance);
        if self.balance > a.peak_end_of_day_balance {
            a.peak_end_of_day_balance = self.balance;
            p.contained[PEAK_EOD_BALANCE] = p.amount;
        }
        p.net_peaks[2] = p.net_peaks[2].max(self.balance.saturating_sub(p.amount));
        a.start_of_day_balance = self.balance;
        a.start_of_day_equity = self.equity;
        p.contained[SOD_BALANCE] = p.amount;
        p.contained[SOD_EQUITY] = p.amount;
        if new_month {
            a.start_of_month_balance = self.balance;
            a.start_of_month_equity = self.equity;
            p.contained[SOM_BALANCE] = p.amount;
            p.contained[SOM_EQUITY] = p.amount;
            self.realized_loss_mtd = Decimal::ZERO;
        }
        let periods = periods::Rolled::between(self.day, day);
        self.roll_periods(periods);
        self.closed_pl_today = Decimal::ZERO;
        self.min_equity_today = self.equity;
        if self.status == ChallengeStatus::Paused {
            self.status = ChallengeStatus::Active;
        }
        let final_status = self.status.is_final();
        for rule in &mut self.rules {
            if rule.def.kind.is_objective() {
                continue;
            }
            let period_reset = match rule.def.kind {
                RuleKind::DailyLoss { .. } => true,
                RuleKind::MonthlyLoss { .. } => new_month,
                RuleKind::MaxLoss { .. } => false,
                RuleKind::PeriodLoss { period, .. } => periods.of(period),
                _ => true,
            };
            refloor(rule, &self.anchors, period_reset);
            if period_reset && !final_status && rule.def.severity == Severity::Soft {
                if rule.status == RuleStatus::Breached || rule.status == RuleStatus::Warning {
                    rule.status = RuleStatus::Ok;
                }
                rule.warned = 0;
            }
        }
    }

    /// Account information: the hot path.
    fn on_account(&mut self, info: &AccountInfo, record: &Record, out: &mut Vec<Event>) -> bool {
        self.has_account = true;
        self.account_seq = self.account_seq.wrapping_add(1);
        self.equity = info.equity;
        self.margin = info.margin;
        self.margin_level = info.margin_level;
        if info.equity < self.min_equity_today {
            self.min_equity_today = info.equity;
        }
        let change = info.balance.saturating_sub(self.balance);
        if !change.is_zero() {
            self.unexplained(change, record, out);
        }
        self.balance = info.balance;
        let p = &mut self.pending;
        let balance_peak = info.balance > self.anchors.peak_balance;
        if balance_peak {
            self.anchors.peak_balance = info.balance;
            p.contained[PEAK_BALANCE] = p.amount;
        }
        let equity_peak = info.equity > self.anchors.peak_equity;
        if equity_peak {
            self.anchors.peak_equity = info.equity;
            p.contained[PEAK_EQUITY] = p.amount;
        }
        // With nothing pending the net peaks are the peaks (kept so by `unexplained`).
        if !p.amount.is_zero() {
            p.net_peaks[0] = p.net_peaks[0].max(info.balance.saturating_sub(p.amount));
            p.net_peaks[1] = p.net_peaks[1].max(info.equity.saturating_sub(p.amount));
        }
        if balance_peak || equity_peak {
            self.trail(balance_peak, equity_peak);
        }
        if self.day_high_rules && info.equity > self.anchors.highest_equity_of_day {
            self.raise_day_high(info.equity);
        }
        if self.status.is_final() {
            return false;
        }
        let mut objectives = false;
        for i in 0..self.rules.len() {
            match self.rules[i].check {
                Check::Floor => self.check_floor(i, self.equity, record, out),
                Check::BalanceFloor => self.check_floor(i, self.balance, record, out),
                Check::Target => objectives |= self.check_target(i),
                Check::Margin => self.check_margin(i, record, out),
                Check::OpenRisk => self.check_position_rule(i, record, out),
                Check::Nothing => {}
            }
        }
        if self.pending.amount > Decimal::ZERO {
            self.check_unexplained_deposit(record);
        }
        objectives
    }

    /// Re-floors the trailing rules whose own peak moved; a rule whose floor changed gets its
    /// warnings back.
    fn trail(&mut self, balance_peak: bool, equity_peak: bool) {
        for rule in &mut self.rules {
            let moved = match rule.def.kind {
                RuleKind::MaxLoss {
                    mode: MaxLossMode::TrailingPeakEquity,
                    ..
                } => equity_peak,
                RuleKind::MaxLoss {
                    mode: MaxLossMode::TrailingPeakBalance,
                    ..
                } => balance_peak,
                _ => false,
            };
            if moved {
                let before = rule.floor;
                refloor(rule, &self.anchors, false);
                if rule.floor != before {
                    rule.warned = 0;
                }
            }
        }
    }

    /// An account update moved the balance by `change` that no deal explained (yet).
    fn unexplained(&mut self, change: Money, record: &Record, out: &mut Vec<Event>) {
        let time = record.time;
        let holding = self.holding();
        let p = &mut self.pending;
        if p.amount.is_zero() || !holding && p.time.is_some_and(|since| time - since > SETTLE) {
            // Nothing pending, or nothing explained the older change in time: it stands as
            // reported. (A held decision keeps it pending: only a deal or an admin settles it.)
            self.settle();
        }
        let p = &mut self.pending;
        p.amount = p.amount.saturating_add(change);
        p.time = Some(time);
        if p.amount.is_zero() {
            // The changes cancelled out without a deal: no data will ever decide what was
            // held, so an admin is told and nothing is decided.
            self.drop_held(record, out);
            self.settle();
        } else if holding {
            self.rehypothesise_held(None);
        }
    }

    /// Takes any unexplained change as it stands: the anchors hold it for good.
    fn settle(&mut self) {
        let a = &self.anchors;
        self.pending = Pending {
            net_peaks: [a.peak_balance, a.peak_equity, a.peak_end_of_day_balance],
            ..Pending::default()
        };
    }

    /// Whether any rule's decision is held (see `hold`).
    fn holding(&self) -> bool {
        self.rules.iter().any(|r| r.held.is_some())
    }

    /// The anchors as they would be if the balance change no deal explains yet were a deposit
    /// or withdrawal (what `deposit` would make of it).
    fn anchors_as_balance_operation(&self) -> Anchors {
        let mut a = self.anchors;
        let p = &self.pending;
        let amount = p.amount;
        a.net_deposits = a.net_deposits.saturating_add(amount);
        let mut contained = p.contained;
        let slots = [
            &mut a.start_of_day_balance,
            &mut a.start_of_day_equity,
            &mut a.start_of_month_balance,
            &mut a.start_of_month_equity,
            &mut a.peak_balance,
            &mut a.peak_equity,
            &mut a.peak_end_of_day_balance,
        ];
        for (value, held) in slots.into_iter().zip(&mut contained) {
            let held = absorb(held, amount);
            *value = value.saturating_add(amount.saturating_sub(held));
        }
        let peaks = [
            &mut a.peak_balance,
            &mut a.peak_equity,
            &mut a.peak_end_of_day_balance,
        ];
        for (peak, net) in peaks.into_iter().zip(p.net_peaks) {
            *peak = (*peak).max(net.saturating_add(amount));
        }
        // The newer anchors, as `deposit_extra` moves them.
        let mut extra = p.extra;
        let newer = [
            &mut a.start_of_week_balance,
            &mut a.start_of_quarter_balance,
            &mut a.start_of_year_balance,
            &mut a.highest_equity_of_day,
        ];
        for (value, held) in newer.into_iter().zip(&mut extra) {
            let held = absorb(held, amount);
            *value = value.saturating_add(amount.saturating_sub(held));
        }
        a
    }

    /// Rule `i`'s floor if the balance change no deal explains yet were a deposit or
    /// withdrawal. (Cold path: only while a change is unexplained and equity is near a floor.)
    fn floor_as_balance_operation(&self, i: usize) -> Money {
        let anchors = self.anchors_as_balance_operation();
        let mut rule = self.rules[i].clone();
        refloor(&mut rule, &anchors, false);
        rule.floor
    }

    /// Under a balance change no deal explains yet, a loss rule broken under one reading of it
    /// (trading P/L: the floors as they stand; a deposit or withdrawal: the floors it would
    /// move) and not under the other is held, not decided: a balance change no deal explains
    /// never fails a challenge. Keeps the lowest measurement's evidence. Returns whether it
    /// held; `false` means both readings agree.
    fn hold(&mut self, i: usize, measured: Money, floor: Money, record: &Record) -> bool {
        // A change unexplained for longer than the bound stands as reported (trading P/L).
        let recent = self
            .pending
            .time
            .and_then(|since| since.checked_add_signed(HOLD_BOUND))
            .is_some_and(|bound| record.time < bound);
        if !recent {
            return false;
        }
        let balance_floor = self.floor_as_balance_operation(i);
        let kind = &self.rules[i].def.kind;
        if kind.breaks(measured, floor) == kind.breaks(measured, balance_floor) {
            return false;
        }
        // The first measurement is the instant the breach happened, if it did.
        if self.rules[i].held.is_none() {
            let evidence = self.evidence(i, measured, floor, None, record);
            self.rules[i].held = Some(Box::new(HeldBreach {
                evidence,
                balance_floor,
                flagged: false,
            }));
        }
        self.rules[i].status = RuleStatus::Warning;
        true
    }

    /// A deposit reported before its deal makes equity look higher than the floors it will
    /// move: a loss rule broken only if the change is a deposit is held until its deal says.
    fn check_unexplained_deposit(&mut self, record: &Record) {
        if self.status.is_final() {
            return;
        }
        let equity = self.equity;
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if rule.check != Check::Floor || rule.status == RuleStatus::Breached {
                continue;
            }
            let floor = rule.floor;
            if !rule.def.kind.breaks(equity, floor) {
                self.hold(i, equity, floor, record);
            }
        }
    }

    /// Every rule's floor, when a decision is held (taken before a deal, so that what the deal
    /// moves can be carried over to the held decisions).
    fn held_floors(&self) -> Option<Vec<Money>> {
        (!self.pending.amount.is_zero() && self.holding())
            .then(|| self.rules.iter().map(|r| r.floor).collect())
    }

    /// Re-reads the held decisions after the unexplained change moved: each held floor moves as
    /// the deal moved the rule's floor (`floors_before`: the floors before it; `None`: no deal),
    /// and the deposit-or-withdrawal reading is measured on what is still unexplained.
    fn rehypothesise_held(&mut self, floors_before: Option<&[Money]>) {
        for i in 0..self.rules.len() {
            if self.rules[i].held.is_none() {
                continue;
            }
            let floor = self.rules[i].floor;
            let shift = if self.pending.amount.is_zero() {
                Decimal::ZERO
            } else {
                self.floor_as_balance_operation(i).saturating_sub(floor)
            };
            let moved = floors_before
                .and_then(|before| before.get(i))
                .map_or(Decimal::ZERO, |before| floor.saturating_sub(*before));
            if let Some(held) = self.rules[i].held.as_mut() {
                held.evidence.limit = held.evidence.limit.saturating_add(moved);
                held.balance_floor = held.evidence.limit.saturating_add(shift);
            }
        }
    }

    /// A deal explained (part of) the unexplained change: a held decision that both readings
    /// now agree on is decided: a breach at the instant it happened (its evidence says when it
    /// was decided), or nothing.
    fn resolve_held(&mut self, floors_before: &[Money], record: &Record, out: &mut Vec<Event>) {
        self.rehypothesise_held(Some(floors_before));
        for i in 0..self.rules.len() {
            let Some(held) = self.rules[i].held.take() else {
                continue;
            };
            let measured = held.evidence.measured;
            let kind = &self.rules[i].def.kind;
            let as_trade = kind.breaks(measured, held.evidence.limit);
            let as_balance = kind.breaks(measured, held.balance_floor);
            if as_trade != as_balance {
                self.rules[i].held = Some(held);
            } else if as_trade
                && self.rules[i].status != RuleStatus::Breached
                && !self.status.is_final()
            {
                let mut evidence = held.evidence;
                evidence.decided = Some(record.time);
                self.record_breach(i, evidence, out);
            }
        }
    }

    /// A decision held longer than [`HOLD_BOUND`] is decided as the data stands (the change
    /// taken as trading P/L), never silently: a `held` event tells an admin first, and the
    /// breach's evidence names the unexplained change it rests on.
    fn expire_held(&mut self, record: &Record, out: &mut Vec<Event>) {
        for i in 0..self.rules.len() {
            let due = self.rules[i].held.as_ref().is_some_and(|held| {
                held.evidence
                    .time
                    .checked_add_signed(HOLD_BOUND)
                    .is_some_and(|bound| bound <= record.time)
            });
            if !due {
                continue;
            }
            self.emit_held(i, record.time, out);
            let Some(held) = self.rules[i].held.take() else {
                continue;
            };
            if self.rules[i]
                .def
                .kind
                .breaks(held.evidence.measured, held.evidence.limit)
                && self.rules[i].status != RuleStatus::Breached
                && !self.status.is_final()
            {
                let mut evidence = held.evidence;
                evidence.decided = Some(record.time);
                evidence.unexplained = Some(self.pending.amount);
                self.record_breach(i, evidence, out);
            }
        }
    }

    /// Drops every held decision without deciding it, telling an admin of those not told yet:
    /// the unexplained change went away without a deal, so no data will ever settle them.
    fn drop_held(&mut self, record: &Record, out: &mut Vec<Event>) {
        for i in 0..self.rules.len() {
            if self.rules[i]
                .held
                .as_ref()
                .is_some_and(|held| !held.flagged)
            {
                self.emit_held(i, record.time, out);
            }
            self.rules[i].held = None;
        }
    }

    fn emit_held(&mut self, i: usize, time: DateTime<Utc>, out: &mut Vec<Event>) {
        let rule = &mut self.rules[i];
        let Some(held) = rule.held.as_mut() else {
            return;
        };
        held.flagged = true;
        let event = Event {
            time,
            kind: EventKind::Held,
            rule: Some(rule.def.id.clone()),
            evidence: Some(held.evidence.clone()),
        };
        self.emit(event, out);
    }

    /// The held decision of rule `id`: since when, and its evidence (as if the unexplained
    /// change were trading P/L).
    pub fn held(&self, id: &str) -> Option<&Evidence> {
        self.rules
            .iter()
            .find(|r| r.def.id == id)
            .and_then(|r| r.held.as_ref())
            .map(|held| &*held.evidence)
    }

    /// The balance change account updates reported that no deal has explained yet (zero when
    /// everything is explained).
    pub fn unexplained_balance(&self) -> Money {
        self.pending.amount
    }

    /// A loss rule's floor against `equity` (the closed balance for a rule measured on it).
    // Inlined into the account update, as it was before it took the measured value.
    #[inline(always)]
    pub(super) fn check_floor(
        &mut self,
        i: usize,
        equity: Money,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        let rule = &mut self.rules[i];
        // Loss rules measure the current equity: the report reads it, nothing is stored here.
        if equity > rule.quiet_above {
            if rule.status != RuleStatus::Breached {
                rule.status = RuleStatus::Ok;
            }
            return;
        }
        if rule.status == RuleStatus::Breached {
            return;
        }
        if equity < rule.floor || equity == rule.floor && rule.def.kind.breaches_at_floor() {
            let floor = rule.floor;
            if !self.pending.amount.is_zero() && self.hold(i, equity, floor, record) {
                return;
            }
            self.rules[i].held = None;
            self.breach(i, equity, floor, record, out);
            return;
        }
        let mut crossed = usize::from(rule.warned);
        while crossed < rule.levels.len() && equity <= rule.levels[crossed] {
            crossed += 1;
        }
        rule.status = if rule.levels.first().is_some_and(|level| equity <= *level) {
            RuleStatus::Warning
        } else {
            RuleStatus::Ok
        };
        if crossed > usize::from(rule.warned) && !self.status.is_final() {
            rule.warned = u8::try_from(crossed).unwrap_or(u8::MAX);
            let fraction = rule.def.warnings.get(crossed - 1).copied();
            let floor = rule.floor;
            self.warn(i, equity, floor, fraction, record, out);
        }
    }

    /// Profit target: returns whether its status changed.
    fn check_target(&mut self, i: usize) -> bool {
        let rule = &mut self.rules[i];
        let RuleKind::ProfitTarget { basis, .. } = rule.def.kind else {
            return false;
        };
        // Trading P/L only: a balance change no deal explains never passes.
        let base = rule.floor.saturating_sub(rule.limit);
        let closed = base.saturating_add(self.closed_pl_total);
        let (measured, met) = match basis {
            ProfitBasis::ClosedBalance => (
                closed,
                self.positions_known
                    && self.positions.is_empty()
                    && self.equity == self.balance
                    && closed >= rule.floor,
            ),
            ProfitBasis::Equity => {
                let value = closed.saturating_add(self.equity.saturating_sub(self.balance));
                (value, value >= rule.floor)
            }
        };
        rule.measured = Some(measured);
        let status = if met {
            RuleStatus::Passed
        } else {
            RuleStatus::Pending
        };
        let changed = status != rule.status;
        rule.status = status;
        changed
    }

    fn check_margin(&mut self, i: usize, record: &Record, out: &mut Vec<Event>) {
        let rule = &mut self.rules[i];
        let RuleKind::MarginLevel { warning, critical } = rule.def.kind else {
            return;
        };
        rule.measured = self.margin_level;
        if rule.status == RuleStatus::Breached {
            return;
        }
        let Some(level) = self.margin_level.filter(|_| self.margin > Decimal::ZERO) else {
            rule.status = RuleStatus::Ok;
            return;
        };
        if level < critical {
            self.breach(i, level, critical, record, out);
        } else if level < warning {
            rule.status = RuleStatus::Warning;
            if rule.warned == 0 {
                rule.warned = 1;
                self.warn(i, level, warning, None, record, out);
            }
        } else {
            rule.status = RuleStatus::Ok;
        }
    }

    fn on_deal(&mut self, deal: &Deal, record: &Record, out: &mut Vec<Event>) {
        let pl = deal.closed_pl();
        let held_floors = self.held_floors();
        // The part of the amount an account update already reported (the broker sent the
        // balance before the deal): it moves the balance no more.
        let seen = if self
            .pending
            .time
            .and_then(|since| since.checked_add_signed(SKEW))
            .is_some_and(|limit| deal.time <= limit)
        {
            absorb(&mut self.pending.amount, pl)
        } else {
            Decimal::ZERO
        };
        let fresh = pl.saturating_sub(seen);
        self.balance = self.balance.saturating_add(fresh);
        let balance_operation = deal.is_balance_operation() || self.moves_balance_only(deal);
        if balance_operation {
            self.equity = self.equity.saturating_add(fresh);
            self.min_equity_today = self.min_equity_today.saturating_add(fresh);
            self.deposit(pl, seen);
        } else {
            self.trade_pl(deal, pl, seen, record.time);
        }
        if let Some(floors) = held_floors {
            self.resolve_held(&floors, record, out);
        }
        self.explained();
        if balance_operation {
            return;
        }
        if !self.has_account {
            self.history_balance();
        }
        if deal.executes_opening_trade() && self.started.is_some_and(|s| deal.time >= s) {
            self.add_trading_day(deal.time);
        }
        let closed = self.position_deal(deal);
        if !deal.is_closing_trade() {
            return;
        }
        let volume = closed.unwrap_or_else(|| deal.volume.unwrap_or(Decimal::ZERO));
        self.stats.record(pl, volume);
        let in_order = self
            .recent_closes
            .last()
            .is_none_or(|last| last.time <= deal.time);
        self.remember_close(RecentClose {
            time: deal.time,
            pl,
            volume,
        });
        if in_order {
            self.consecutive_losses = streak(self.consecutive_losses, pl, volume, TINY_LOTS);
        } else {
            // A closing trade older than the newest: the streaks are counted again in time
            // order.
            self.consecutive_losses = self.streak_of_recent(TINY_LOTS);
        }
        if self.status.is_final() {
            return;
        }
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if let RuleKind::ConsecutiveLosses { max, min_lots } = rule.def.kind {
                let counter = if in_order {
                    streak(rule.counter, pl, volume, min_lots)
                } else {
                    self.streak_of_recent(min_lots)
                };
                let rule = &mut self.rules[i];
                rule.counter = counter;
                rule.measured = Some(Decimal::from(rule.counter));
                if rule.status != RuleStatus::Breached {
                    if rule.counter > max {
                        let measured = Decimal::from(rule.counter);
                        self.breach(i, measured, Decimal::from(max), record, out);
                    } else {
                        rule.status = RuleStatus::Ok;
                    }
                }
            }
        }
    }

    /// Keeps `close` among the newest closing trades, in time order.
    fn remember_close(&mut self, close: RecentClose) {
        let at = self.recent_closes.partition_point(|c| c.time <= close.time);
        if at == 0 && self.recent_closes.len() >= RECENT_CLOSES {
            // Older than every trade kept: it cannot be part of a streak still running.
            return;
        }
        self.recent_closes.insert(at, close);
        if self.recent_closes.len() > RECENT_CLOSES {
            self.recent_closes.remove(0);
        }
    }

    /// The losing streak at the end of the newest closing trades, in time order.
    fn streak_of_recent(&self, min_lots: Lots) -> u32 {
        self.recent_closes
            .iter()
            .fold(0, |count, c| streak(count, c.pl, c.volume, min_lots))
    }

    /// Follows a trade deal's position: its volume open, as its deals built it. Returns the
    /// volume a closing deal closed when the position is known: for a reversal (netting
    /// `DEAL_ENTRY_INOUT`) the volume that was open, the rest opening the opposite position.
    fn position_deal(&mut self, deal: &Deal) -> Option<Lots> {
        let (Some(id), Some(entry), Some(volume)) = (&deal.position_id, deal.entry, deal.volume)
        else {
            return None;
        };
        let side = match deal.kind {
            DealKind::Buy => Side::Buy,
            DealKind::Sell => Side::Sell,
            _ => return None,
        };
        let index = self.deal_positions.iter().position(|p| p.id == *id);
        match (entry, index) {
            (DealEntry::In, Some(index)) => {
                let p = &mut self.deal_positions[index];
                p.volume = p.volume.saturating_add(volume);
                None
            }
            (DealEntry::In, None) => {
                self.deal_positions.push(DealPosition {
                    id: id.clone(),
                    side,
                    volume,
                });
                None
            }
            (DealEntry::Out | DealEntry::OutBy, Some(index)) => {
                let p = &mut self.deal_positions[index];
                let closed = volume.min(p.volume);
                p.volume = p.volume.saturating_sub(closed);
                if p.volume <= Decimal::ZERO {
                    self.deal_positions.swap_remove(index);
                }
                Some(closed)
            }
            (DealEntry::InOut, Some(index)) => {
                let p = &mut self.deal_positions[index];
                let closed = volume.min(p.volume);
                p.volume = volume.saturating_sub(closed);
                p.side = side;
                if p.volume <= Decimal::ZERO {
                    self.deal_positions.swap_remove(index);
                }
                Some(closed)
            }
            // A position opened before the challenge: its deal's own volume is all we know.
            (DealEntry::Out | DealEntry::OutBy | DealEntry::InOut, None) => None,
        }
    }

    /// Deal history replayed before the broker's first account report (onboarding mid-
    /// challenge): the balance after a closed trade is a balance the account really had, so it
    /// is a peak-balance candidate; equity is unknown and stands at the balance, which keeps
    /// every equity anchor at or below its true value (floors lenient, never a false breach).
    fn history_balance(&mut self) {
        self.equity = self.balance;
        self.min_equity_today = self.min_equity_today.min(self.balance);
        if self.balance > self.anchors.peak_balance {
            self.anchors.peak_balance = self.balance;
            self.pending.net_peaks[0] = self.pending.net_peaks[0].max(self.balance);
            self.trail(true, false);
        }
    }

    /// Once nothing is left unexplained, every value reported is what it says.
    fn explained(&mut self) {
        if self.pending.amount.is_zero() {
            self.settle();
        }
    }

    /// Closed P/L `pl` of a trade closed at `time`, of which `seen` was already in the balance
    /// reported. It counts on its own trading day: a deal of a finished day corrects that day,
    /// and the start-of-day (and -month) balance that missed it.
    /// A deal dated well before the record that brought it is remembered as late, with the
    /// day's closed P/L before and after it.
    fn trade_pl(&mut self, deal: &Deal, pl: Money, seen: Money, arrived: DateTime<Utc>) {
        let time = deal.time;
        if arrived - time > LATE_DEAL_AFTER {
            self.note_late_deal(deal, pl, arrived);
        }
        self.closed_pl_total = self.closed_pl_total.saturating_add(pl);
        // What each anchor held of the reported change, before the deal explains it.
        let mut contained = self.pending.contained;
        for held in &mut self.pending.contained {
            absorb(held, seen);
        }
        let extra = self.take_extra(seen);
        let today = self.day;
        let day = self.clock.trading_day(time);
        let (Some(today), Some(day)) = (today, day.filter(|d| today.is_some_and(|t| *d < t)))
        else {
            self.closed_pl_today = self.closed_pl_today.saturating_add(pl);
            if pl < Decimal::ZERO {
                self.realized_loss_mtd = self.realized_loss_mtd.saturating_sub(pl);
            }
            return;
        };
        // Cold path: a deal of a finished day.
        let new_month = ResetClock::is_new_month(day, today);
        if pl < Decimal::ZERO && !new_month {
            self.realized_loss_mtd = self.realized_loss_mtd.saturating_sub(pl);
        }
        let a = &mut self.anchors;
        let missed = pl.saturating_sub(absorb(&mut contained[SOD_BALANCE], seen));
        a.start_of_day_balance = a.start_of_day_balance.saturating_add(missed);
        if new_month {
            let missed = pl.saturating_sub(absorb(&mut contained[SOM_BALANCE], seen));
            a.start_of_month_balance = a.start_of_month_balance.saturating_add(missed);
        }
        periods::correct_periods(a, day, today, pl, seen, extra);
        // Today's start-of-day balance is the corrected close of the day just finished: the
        // peak taken at that roll is recomputed from it; older days can only raise it.
        let peak_before = match (self.days.last(), self.peak_eod_before_roll) {
            (Some(last), Some(before)) if last.date == day => before,
            _ => a.peak_end_of_day_balance,
        };
        a.peak_end_of_day_balance = peak_before.max(a.start_of_day_balance);
        match self.days.binary_search_by_key(&day, |d| d.date) {
            Ok(index) => {
                let d = &mut self.days[index];
                d.closed_pl = d.closed_pl.saturating_add(pl);
            }
            Err(index) => {
                let balance = a.start_of_day_balance;
                let equity = a.start_of_day_equity;
                self.days.insert(
                    index,
                    DayStats {
                        date: day,
                        start_balance: balance,
                        start_equity: equity,
                        closed_pl: pl,
                        end_balance: balance,
                        end_equity: equity,
                        min_equity: equity,
                    },
                );
            }
        }
        self.best_past_day = self.days.iter().map(|d| d.closed_pl).max();
        for rule in &mut self.rules {
            refloor(rule, &self.anchors, false);
        }
    }

    /// Remembers a late deal (see [`LateDeal`]), before its P/L is counted.
    fn note_late_deal(&mut self, deal: &Deal, pl: Money, arrived: DateTime<Utc>) {
        let (Some(today), Some(day)) = (self.day, self.clock.trading_day(deal.time)) else {
            return;
        };
        let past_day = day < today;
        let before = if past_day {
            self.days
                .iter()
                .find(|d| d.date == day)
                .map_or(Decimal::ZERO, |d| d.closed_pl)
        } else {
            self.closed_pl_today
        };
        if self.late_deals.len() >= LATE_DEALS_KEPT {
            self.late_deals.remove(0);
        }
        self.late_deals.push(LateDeal {
            deal_id: deal.id.clone(),
            time: deal.time,
            arrived,
            day,
            past_day,
            closed_pl: pl,
            day_closed_pl_before: before,
            day_closed_pl_after: before.saturating_add(pl),
        });
    }

    /// The late deals remembered, oldest first (the newest [`LATE_DEALS_KEPT`]).
    pub fn late_deals(&self) -> &[LateDeal] {
        &self.late_deals
    }

    /// A deposit (positive) or withdrawal (negative): moves every anchor, never profit. `seen`
    /// of it was already in a reported balance, and so in the anchors taken since.
    fn deposit(&mut self, amount: Money, seen: Money) {
        let a = &mut self.anchors;
        let p = &mut self.pending;
        a.net_deposits = a.net_deposits.saturating_add(amount);
        if let Some(before) = &mut self.peak_eod_before_roll {
            *before = before.saturating_add(amount);
        }
        let anchors = [
            &mut a.start_of_day_balance,
            &mut a.start_of_day_equity,
            &mut a.start_of_month_balance,
            &mut a.start_of_month_equity,
            &mut a.peak_balance,
            &mut a.peak_equity,
            &mut a.peak_end_of_day_balance,
        ];
        for (value, contained) in anchors.into_iter().zip(&mut p.contained) {
            let held = absorb(contained, seen);
            *value = value.saturating_add(amount.saturating_sub(held));
        }
        // A peak reached while the deposit was unexplained holds it; an earlier peak does not.
        let peaks = [
            &mut a.peak_balance,
            &mut a.peak_equity,
            &mut a.peak_end_of_day_balance,
        ];
        for (peak, net) in peaks.into_iter().zip(&mut p.net_peaks) {
            *net = net.saturating_add(amount);
            *peak = (*peak).max(*net);
        }
        self.deposit_extra(amount, seen);
        for rule in &mut self.rules {
            refloor(rule, &self.anchors, false);
        }
    }

    fn on_price(&mut self, price: &SymbolPrice) {
        let seq = self.account_seq;
        let index = self.symbol_index(&price.symbol);
        let info = &mut self.symbols[index];
        if info.mark_seq != seq {
            // First quote since the last account update: the previous quote is what the
            // broker's equity was valued at.
            info.mark_bid = info.bid;
            info.mark_ask = info.ask;
            info.mark_seq = seq;
        }
        info.bid = Some(price.bid);
        info.ask = Some(price.ask);
        info.loss_tick_value = Some(price.loss_tick_value);
        info.profit_tick_value = Some(price.profit_tick_value);
        self.revalue(index);
    }

    /// Re-estimates the open P/L change of symbol `index` since the last account update:
    /// per position, the move from the reference quote (or the position's own current price)
    /// to the latest quote, in ticks, times the profit or loss tick value and the volume.
    fn revalue(&mut self, index: usize) {
        let s = &self.symbols[index];
        let mut delta = Decimal::ZERO;
        if let (Some(tick), Some(gain), Some(loss), Some(bid), Some(ask)) = (
            s.tick_size,
            s.profit_tick_value,
            s.loss_tick_value,
            s.bid,
            s.ask,
        ) {
            let marked = s.mark_seq == self.account_seq;
            for p in self.positions.iter().filter(|p| p.symbol == s.symbol) {
                let (mark, now) = match p.side {
                    Side::Buy => (
                        s.mark_bid.filter(|_| marked).unwrap_or(p.current_price),
                        bid,
                    ),
                    Side::Sell => (
                        s.mark_ask.filter(|_| marked).unwrap_or(p.current_price),
                        ask,
                    ),
                };
                let moved = match p.side {
                    Side::Buy => now - mark,
                    Side::Sell => mark - now,
                };
                let value = if moved >= Decimal::ZERO { gain } else { loss };
                if let Some(change) = moved
                    .checked_div(tick)
                    .and_then(|ticks| ticks.checked_mul(value))
                    .and_then(|v| v.checked_mul(p.volume))
                {
                    delta = delta.saturating_add(change);
                }
            }
        }
        let seq = self.account_seq;
        let s = &mut self.symbols[index];
        s.delta = delta;
        s.delta_seq = seq;
    }

    /// Equity estimated from quotes received since the last account update; `None` when no
    /// quote arrived since (the broker's equity is then the best number).
    pub(super) fn estimated_equity(&self) -> Option<Money> {
        if !self.has_account {
            return None;
        }
        let mut total = Decimal::ZERO;
        let mut any = false;
        for s in self
            .symbols
            .iter()
            .filter(|s| s.delta_seq == self.account_seq)
        {
            total = total.saturating_add(s.delta);
            any = true;
        }
        any.then(|| self.equity.saturating_add(total))
    }

    /// Estimated equity may lower the day's minimum and raise warnings (flagged as estimated).
    /// Below a floor it is a warning of fraction 1, or, when the challenge's policy says so
    /// ([`ChallengeConfig::estimated_equity_breaches`]), a breach flagged as estimated.
    fn check_estimate(&mut self, record: &Record, out: &mut Vec<Event>) {
        let Some(estimate) = self.estimated_equity() else {
            return;
        };
        if estimate < self.min_equity_today {
            self.min_equity_today = estimate;
        }
        if self.status.is_final() {
            return;
        }
        for i in 0..self.rules.len() {
            let rule = &mut self.rules[i];
            if rule.check != Check::Floor
                || rule.status == RuleStatus::Breached
                || estimate > rule.quiet_above
            {
                continue;
            }
            let below = estimate < rule.floor
                || estimate == rule.floor && rule.def.kind.breaches_at_floor();
            let levels = rule.levels.len();
            let mut crossed = usize::from(rule.warned);
            while crossed < levels && estimate <= rule.levels[crossed] {
                crossed += 1;
            }
            if self.estimated_equity_breaches && below {
                let floor = rule.floor;
                if self.pending.amount.is_zero() || !self.hold(i, estimate, floor, record) {
                    self.breach(i, estimate, floor, record, out);
                }
                continue;
            }
            if crossed == levels && below {
                crossed = levels + 1;
            }
            if crossed > usize::from(rule.warned) {
                rule.warned = u8::try_from(crossed).unwrap_or(u8::MAX);
                rule.status = RuleStatus::Warning;
                let fraction = if crossed > levels {
                    Some(Decimal::ONE)
                } else {
                    rule.def.warnings.get(crossed - 1).copied()
                };
                let floor = rule.floor;
                self.warn(i, estimate, floor, fraction, record, out);
            }
        }
    }

    fn on_spec(&mut self, spec: &SymbolSpec) {
        let info = self.symbol_mut(&spec.symbol);
        info.tick_size = Some(spec.tick_size);
        info.volume_step = Some(spec.volume_step);
        info.min_volume = Some(spec.min_volume);
        info.max_volume = Some(spec.max_volume);
    }

    fn symbol_mut(&mut self, symbol: &str) -> &mut SymbolInfo {
        let index = self.symbol_index(symbol);
        &mut self.symbols[index]
    }

    fn symbol_index(&mut self, symbol: &str) -> usize {
        match self.symbols.iter().position(|s| s.symbol == symbol) {
            Some(index) => index,
            None => {
                self.symbols.push(SymbolInfo {
                    symbol: symbol.to_owned(),
                    tick_size: None,
                    loss_tick_value: None,
                    profit_tick_value: None,
                    bid: None,
                    ask: None,
                    mark_bid: None,
                    mark_ask: None,
                    mark_seq: 0,
                    delta: Decimal::ZERO,
                    delta_seq: u64::MAX,
                    volume_step: None,
                    min_volume: None,
                    max_volume: None,
                });
                self.symbols.len() - 1
            }
        }
    }

    /// Risk to stop loss of every open position: `max(0, distance from open to stop in the
    /// losing direction) / tick size x loss tick value x lots`.
    fn recompute_risk(&mut self) {
        let mut risk = Risk::default();
        for position in &self.positions {
            let Some(stop) = position.stop_loss else {
                risk.unbounded += 1;
                continue;
            };
            let symbol = self.symbols.iter().find(|s| s.symbol == position.symbol);
            let Some((tick_size, tick_value)) =
                symbol.and_then(|s| Some((s.tick_size?, s.loss_tick_value?)))
            else {
                risk.unpriced += 1;
                continue;
            };
            match position_risk(
                position.side,
                position.open_price,
                stop,
                position.volume,
                tick_size,
                tick_value,
            ) {
                Some(value) => {
                    risk.total = risk.total.saturating_add(value);
                    risk.largest = risk.largest.max(value);
                }
                None => risk.unbounded += 1,
            }
        }
        self.risk = risk;
    }

    fn check_position_rules(&mut self, record: &Record, out: &mut Vec<Event>) {
        if self.status.is_final() {
            return;
        }
        for i in 0..self.rules.len() {
            self.check_position_rule(i, record, out);
        }
    }

    /// Position-level rules: measured on the open positions and their risk.
    fn check_position_rule(&mut self, i: usize, record: &Record, out: &mut Vec<Event>) {
        let balance = self.balance;
        let room = self.loss_room();
        let rule = &mut self.rules[i];
        let (measured, limit, breached) = match rule.def.kind {
            RuleKind::MaxLotsPerPosition { lots } => {
                let largest = self
                    .positions
                    .iter()
                    .map(|p| p.volume)
                    .max()
                    .unwrap_or(Decimal::ZERO);
                (largest, lots, largest > lots)
            }
            RuleKind::MaxOpenPositions { count } => {
                let open = Decimal::from(self.positions.len());
                (open, Decimal::from(count), open > Decimal::from(count))
            }
            RuleKind::StopLossRequired => {
                let missing = Decimal::from(self.risk.unbounded);
                (missing, Decimal::ZERO, missing > Decimal::ZERO)
            }
            RuleKind::MaxRiskPerPosition { percent } => {
                let limit = percent_of(balance, percent);
                let largest = self.risk.largest;
                (largest, limit, self.risk.unbounded > 0 || largest > limit)
            }
            RuleKind::TotalOpenRisk { percent } => {
                let Some(room) = room else { return };
                let limit = percent_of(room.max(Decimal::ZERO), percent);
                let total = self.risk.total;
                (total, limit, self.risk.unbounded > 0 || total > limit)
            }
            _ => return,
        };
        rule.measured = Some(measured);
        if rule.status == RuleStatus::Breached {
            return;
        }
        if breached {
            self.breach(i, measured, limit, record, out);
        } else {
            rule.status = RuleStatus::Ok;
        }
    }

    /// The smallest room left above any loss floor, if there is a loss rule.
    pub(super) fn loss_room(&self) -> Option<Money> {
        self.rules
            .iter()
            .filter(|r| r.def.kind.is_loss_rule())
            .map(|r| self.measured_for(&r.def.kind).saturating_sub(r.floor))
            .min()
    }

    /// What a loss rule of `kind` compares with its floor now: equity, or the balance.
    pub(super) fn measured_for(&self, kind: &RuleKind) -> Money {
        match kind.measure() {
            Measure::Equity => self.equity,
            Measure::Balance => self.balance,
        }
    }

    fn add_trading_day(&mut self, time: DateTime<Utc>) {
        let Some(day) = self.clock.trading_day(time) else {
            return;
        };
        if let Err(index) = self.trading_days.binary_search(&day) {
            self.trading_days.insert(index, day);
        }
    }

    /// Days counted by a minimum-trading-days rule.
    pub(super) fn counted_days(
        &self,
        min_day_profit: Option<&Limit>,
        day_profit: DayProfit,
    ) -> u32 {
        let count = match min_day_profit {
            None => self.trading_days.len(),
            Some(limit) => {
                let threshold = limit_amount(limit, &self.anchors, self.anchors.initial_balance);
                let made = |d: &super::stats::DayStats| match day_profit {
                    DayProfit::Closed | DayProfit::ClosedAtDayEnd => d.closed_pl,
                    DayProfit::ClosedAndFloatingAtDayEnd => d.closed_and_floating_pl(),
                };
                let past = self.days.iter().filter(|d| made(d) >= threshold).count();
                let today = day_profit == DayProfit::Closed
                    && self.day.is_some()
                    && self.closed_pl_today >= threshold;
                past + usize::from(today)
            }
        };
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// The best day's closed P/L so far, today included.
    pub(super) fn best_day(&self) -> Option<Money> {
        let today = self.day.map(|_| self.closed_pl_today);
        match (self.best_past_day, today) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-evaluates objectives and passes the challenge when all hold.
    fn check_objectives(&mut self, record: &Record, out: &mut Vec<Event>) {
        if self.status.is_final() {
            return;
        }
        let mut any = false;
        let mut all = true;
        for i in 0..self.rules.len() {
            let met = match self.rules[i].def.kind {
                RuleKind::ProfitTarget { .. } => {
                    self.check_target(i);
                    self.rules[i].status == RuleStatus::Passed
                }
                RuleKind::MinTradingDays {
                    days,
                    min_day_profit,
                    day_profit,
                } => {
                    let counted = self.counted_days(min_day_profit.as_ref(), day_profit);
                    self.rules[i].measured = Some(Decimal::from(counted));
                    counted >= days
                }
                RuleKind::BestDay { max_share_percent } => {
                    let total = self.closed_pl_total;
                    let best = self.best_day().unwrap_or(Decimal::ZERO);
                    self.rules[i].measured = Some(best);
                    total > Decimal::ZERO && percent_of(total, max_share_percent) >= best
                }
                _ => continue,
            };
            // The best-day share is a condition on passing, never an achievement: judged over
            // the whole challenge, it cannot pass a challenge by itself.
            any |= !matches!(self.rules[i].def.kind, RuleKind::BestDay { .. });
            all &= met;
            let rule = &mut self.rules[i];
            let status = if met {
                RuleStatus::Passed
            } else {
                RuleStatus::Pending
            };
            if rule.warned == 0 && met {
                // `warned` doubles as "objective-met event raised" for objectives.
                rule.warned = 1;
                let event = Event {
                    time: record.time,
                    kind: EventKind::ObjectiveMet,
                    rule: Some(rule.def.id.clone()),
                    evidence: None,
                };
                rule.status = status;
                self.emit(event, out);
            } else {
                rule.status = status;
            }
        }
        // A held decision may still be a breach: nothing passes before it is settled.
        if any && all && self.status == ChallengeStatus::Active && !self.holding() {
            self.status = ChallengeStatus::Passed;
            let event = Event {
                time: record.time,
                kind: EventKind::Passed,
                rule: None,
                evidence: None,
            };
            self.emit(event, out);
        }
    }

    fn check_duration(&mut self, record: &Record, out: &mut Vec<Event>) {
        if self.no_time_rules || self.status.is_final() {
            return;
        }
        let Some(started) = self.started else { return };
        for i in 0..self.rules.len() {
            let days = match self.rules[i].def.kind {
                RuleKind::MaxDuration { days } => days,
                RuleKind::MaxHoldingTime { minutes } => {
                    self.check_holding(i, minutes, record, out);
                    continue;
                }
                RuleKind::NoWeekendPositions { .. } => {
                    self.check_weekend(i, record, out);
                    continue;
                }
                _ => continue,
            };
            let elapsed = record.time - started;
            let elapsed_days = Decimal::from(elapsed.num_seconds()) / Decimal::from(86_400);
            let rule = &mut self.rules[i];
            rule.measured = Some(elapsed_days.round_dp(2));
            if rule.status == RuleStatus::Breached {
                continue;
            }
            if elapsed >= TimeDelta::days(i64::from(days)) {
                self.breach(
                    i,
                    elapsed_days.round_dp(2),
                    Decimal::from(days),
                    record,
                    out,
                );
            } else {
                rule.status = RuleStatus::Ok;
            }
        }
    }

    fn evidence(
        &self,
        i: usize,
        measured: Decimal,
        limit: Decimal,
        fraction: Option<Decimal>,
        record: &Record,
    ) -> Box<Evidence> {
        Box::new(Evidence {
            time: record.time,
            rule: self.rules[i].def.id.clone(),
            measured,
            limit,
            fraction,
            estimated: self.rules[i].check == Check::Floor
                && matches!(record.data, RecordData::Price(_)),
            anchors: self.anchors,
            open_positions: self.positions.clone(),
            record: record.clone(),
            decided: None,
            unexplained: None,
            position_id: None,
            deal_id: None,
        })
    }

    pub(super) fn emit(&mut self, event: Event, out: &mut Vec<Event>) {
        out.push(event.clone());
        self.events.push(event);
    }

    fn warn(
        &mut self,
        i: usize,
        measured: Decimal,
        limit: Decimal,
        fraction: Option<Decimal>,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        let event = Event {
            time: record.time,
            kind: EventKind::Warning,
            rule: Some(self.rules[i].def.id.clone()),
            evidence: Some(self.evidence(i, measured, limit, fraction, record)),
        };
        self.emit(event, out);
    }

    /// Records a breach of rule `i`: final for a hard rule (the challenge fails), until the next
    /// reset for a soft one (the challenge pauses).
    pub(super) fn breach(
        &mut self,
        i: usize,
        measured: Decimal,
        limit: Decimal,
        record: &Record,
        out: &mut Vec<Event>,
    ) {
        self.breach_of(i, measured, limit, record, periods::Subject::default(), out);
    }

    /// [`Self::breach`] naming the position or deal it is about in the evidence.
    pub(super) fn breach_of(
        &mut self,
        i: usize,
        measured: Decimal,
        limit: Decimal,
        record: &Record,
        subject: periods::Subject,
        out: &mut Vec<Event>,
    ) {
        let mut evidence = self.evidence(i, measured, limit, None, record);
        evidence.position_id = subject.position;
        evidence.deal_id = subject.deal;
        self.record_breach(i, evidence, out);
    }

    /// Records a breach of rule `i` at the time of its evidence.
    fn record_breach(&mut self, i: usize, evidence: Box<Evidence>, out: &mut Vec<Event>) {
        self.rules[i].status = RuleStatus::Breached;
        self.rules[i].held = None;
        let time = evidence.time;
        let event = Event {
            time,
            kind: EventKind::Breach,
            rule: Some(self.rules[i].def.id.clone()),
            evidence: Some(evidence),
        };
        self.emit(event, out);
        match self.rules[i].def.severity {
            Severity::Hard => {
                if self.status != ChallengeStatus::Failed {
                    self.status = ChallengeStatus::Failed;
                    let event = Event {
                        time,
                        kind: EventKind::Failed,
                        rule: Some(self.rules[i].def.id.clone()),
                        evidence: None,
                    };
                    self.emit(event, out);
                }
            }
            Severity::Soft => {
                if self.status == ChallengeStatus::Active {
                    self.status = ChallengeStatus::Paused;
                }
            }
        }
    }
}

/// Recomputes a rule's floor, budget and warning levels from the anchors.
pub(super) fn refloor(rule: &mut RuleState, a: &Anchors, reset_warnings: bool) {
    let base = a.initial_balance.saturating_add(a.net_deposits);
    let (anchor, limit, lock) = match &rule.def.kind {
        RuleKind::DailyLoss { anchor, limit, .. } => {
            let anchor = match anchor {
                DailyAnchor::StartOfDayBalance => a.start_of_day_balance,
                DailyAnchor::HigherOfStartOfDayBalanceAndEquity => {
                    a.start_of_day_balance.max(a.start_of_day_equity)
                }
                DailyAnchor::StartOfDayEquity => a.start_of_day_equity,
                DailyAnchor::StartOfMonthBalance => a.start_of_month_balance,
                DailyAnchor::HighestEquityOfDay => a.highest_equity_of_day,
            };
            (anchor, limit, None)
        }
        RuleKind::MaxLoss {
            mode,
            limit,
            lock_above_initial,
            ..
        } => {
            let anchor = match mode {
                MaxLossMode::Static => base,
                MaxLossMode::TrailingPeakEquity => a.peak_equity,
                MaxLossMode::TrailingPeakBalance => a.peak_balance,
                MaxLossMode::TrailingEndOfDayBalance => base.max(a.peak_end_of_day_balance),
            };
            (
                anchor,
                limit,
                lock_above_initial.map(|x| base.saturating_add(x)),
            )
        }
        RuleKind::MonthlyLoss { limit, .. } => (a.start_of_month_balance, limit, None),
        RuleKind::PeriodLoss { period, limit, .. } => {
            let anchor = match period {
                Period::Week => a.start_of_week_balance,
                Period::Month => a.start_of_month_balance,
                Period::Quarter => a.start_of_quarter_balance,
                Period::Year => a.start_of_year_balance,
            };
            (anchor, limit, None)
        }
        RuleKind::MaxTradeLoss { limit } => {
            rule.limit = limit_amount(limit, a, a.initial_balance);
            rule.floor = Decimal::ZERO.saturating_sub(rule.limit);
            return;
        }
        RuleKind::ProfitTarget { target, .. } => {
            rule.limit = limit_amount(target, a, a.initial_balance);
            rule.floor = base.saturating_add(rule.limit);
            return;
        }
        _ => return,
    };
    let budget = limit_amount(limit, a, anchor);
    let mut floor = anchor.saturating_sub(budget);
    if let Some(lock) = lock {
        floor = floor.min(lock);
    }
    rule.limit = budget;
    rule.floor = floor;
    for (level, fraction) in rule.levels.iter_mut().zip(&rule.def.warnings) {
        let unused = budget
            .checked_mul(Decimal::ONE - *fraction)
            .unwrap_or(Decimal::ZERO);
        *level = floor.saturating_add(unused);
    }
    rule.quiet_above = rule.levels.first().map_or(floor, |first| floor.max(*first));
    if reset_warnings {
        rule.warned = 0;
    }
}

/// A limit in money given the anchors and the rule's own anchor.
pub(super) fn limit_amount(limit: &Limit, a: &Anchors, anchor: Money) -> Money {
    match limit {
        Limit::Money(amount) => *amount,
        Limit::PercentOfInitial(p) => percent_of(a.initial_balance, *p),
        Limit::PercentOfAnchor(p) => percent_of(anchor, *p),
        Limit::PercentOfMonthStartBalance(p) => percent_of(a.start_of_month_balance, *p),
    }
}

/// `value x percent / 100`, saturating instead of overflowing.
pub(super) fn percent_of(value: Decimal, percent: Decimal) -> Decimal {
    value
        .checked_mul(percent)
        .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
        .unwrap_or(if value.is_sign_negative() != percent.is_sign_negative() {
            Decimal::MIN
        } else {
            Decimal::MAX
        })
}

/// Money lost if the stop loss is hit; `None` on overflow.
pub(super) fn position_risk(
    side: Side,
    open: Decimal,
    stop: Decimal,
    volume: Lots,
    tick_size: Decimal,
    loss_tick_value: Money,
) -> Option<Money> {
    let distance = match side {
        Side::Buy => open - stop,
        Side::Sell => stop - open,
    }
    .max(Decimal::ZERO);
    distance
        .checked_div(tick_size)?
        .checked_mul(loss_tick_value)?
        .checked_mul(volume)
}

/// Seed 004's losing streak: trades of `min_lots` or less are ignored, a loss extends the
/// streak, a win ends it, a break-even trade leaves it alone.
pub(super) fn streak(current: u32, pl: Money, volume: Lots, min_lots: Lots) -> u32 {
    if volume <= min_lots {
        current
    } else if pl < Decimal::ZERO {
        current.saturating_add(1)
    } else if pl > Decimal::ZERO {
        0
    } else {
        current
    }
}

fn in_range(field: &'static str, value: Decimal) -> Result<(), EngineError> {
    // Fast path: the unscaled mantissa bounds the value (scale >= 0).
    if value.mantissa().unsigned_abs() <= 1_000_000_000_000_000 || value.abs() <= MAX_INPUT {
        Ok(())
    } else {
        Err(EngineError::OutOfRange { field, value })
    }
}

fn volume_ok(what: impl FnOnce() -> String, volume: Decimal) -> Result<(), EngineError> {
    if volume.is_sign_negative() && !volume.is_zero() {
        return Err(EngineError::NegativeVolume {
            what: what(),
            volume,
        });
    }
    in_range("volume", volume)
}

/// Refuses records no broker could have sent, before anything changes.
fn validate(data: &RecordData) -> Result<(), EngineError> {
    match data {
        RecordData::AccountInformation(info) => {
            in_range("balance", info.balance)?;
            in_range("equity", info.equity)?;
            in_range("margin", info.margin)?;
            in_range("free_margin", info.free_margin)?;
            in_range("credit", info.credit)?;
            if let Some(level) = info.margin_level {
                in_range("margin_level", level)?;
            }
        }
        RecordData::Positions(positions) => {
            for p in positions {
                volume_ok(|| format!("position {}", p.id), p.volume)?;
                in_range("open_price", p.open_price)?;
                in_range("current_price", p.current_price)?;
                in_range("profit", p.profit)?;
                in_range("swap", p.swap)?;
                in_range("commission", p.commission)?;
                if let Some(stop) = p.stop_loss {
                    in_range("stop_loss", stop)?;
                }
            }
        }
        RecordData::Deal(deal) => {
            if let Some(volume) = deal.volume {
                volume_ok(|| format!("deal {}", deal.id), volume)?;
            }
            in_range("profit", deal.profit)?;
            in_range("commission", deal.commission)?;
            in_range("swap", deal.swap)?;
        }
        RecordData::Price(price) => {
            in_range("bid", price.bid)?;
            in_range("ask", price.ask)?;
            in_range("loss_tick_value", price.loss_tick_value)?;
            in_range("profit_tick_value", price.profit_tick_value)?;
            if price.loss_tick_value.is_sign_negative() && !price.loss_tick_value.is_zero()
                || price.profit_tick_value.is_sign_negative() && !price.profit_tick_value.is_zero()
            {
                return Err(EngineError::NegativeTickValue {
                    symbol: price.symbol.clone(),
                });
            }
        }
        RecordData::Specification(spec) => {
            in_range("tick_size", spec.tick_size)?;
            if spec.tick_size <= Decimal::ZERO {
                return Err(EngineError::NonPositiveTickSize {
                    symbol: spec.symbol.clone(),
                    tick_size: spec.tick_size,
                });
            }
        }
        RecordData::Tick {} => {}
    }
    Ok(())
}
