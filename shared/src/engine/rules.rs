//! Rule definitions: what a firm enforces, with its parameters, and their validation.
//!
//! A rule is data ([`RuleDef`]): an id, a [`RuleKind`] with its parameters, a [`Severity`] and
//! warning fractions. The engine ([`super::Challenge`]) interprets it. Loss rules vary on three
//! axes (anchor, measured quantity, reset clock); see `docs/ENGINE.md` for the formulas.

use crate::domain::{Lots, Money};
use chrono::NaiveTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::EngineError;

/// How large a loss budget is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Limit {
    /// A fixed amount of money.
    Money(Money),
    /// A percent (5 means 5%) of the initial balance.
    PercentOfInitial(Decimal),
    /// A percent of the rule's own anchor (start-of-day balance, peak, ...).
    PercentOfAnchor(Decimal),
    /// A percent of the start-of-month balance (seed 004's `MDL_USD = startOfMonthBalance x
    /// MDL_RATE`).
    PercentOfMonthStartBalance(Decimal),
}

/// What a daily loss floor hangs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DailyAnchor {
    /// Balance at the daily reset (FTMO, FundedNext).
    StartOfDayBalance,
    /// The higher of balance and equity at the daily reset (The5ers).
    HigherOfStartOfDayBalanceAndEquity,
    /// Equity at the daily reset (Fintokei).
    StartOfDayEquity,
    /// Balance at the first reset of the month.
    StartOfMonthBalance,
    /// The highest equity reported since the daily reset, starting from the equity at the reset
    /// (a daily drawdown trailing the day's high, Funds.Pro, Aeon Funded).
    HighestEquityOfDay,
}

/// What a loss floor is compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Equity, floating P/L included: every account update is checked (almost every firm).
    #[default]
    Equity,
    /// Closed balance: floating P/L is ignored; checked at account updates and closing deals.
    Balance,
}

/// A calendar period of trading days, rolled by the reset clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Monday to Sunday (ISO weeks) of trading-day labels: with a 17:00 New York clock the
    /// week starts on Sunday at 17:00 New York, Monday 00:00 on the broker's GMT+2/+3 server.
    Week,
    /// A calendar month.
    Month,
    /// January to March, April to June, July to September, October to December.
    Quarter,
    /// A calendar year.
    Year,
}

impl Period {
    /// The period's word (`week`, `month`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }
}

/// When a day counts for a minimum-trading-days rule with a minimum day profit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayProfit {
    /// The day's closed P/L as it stands: today counts as soon as it reaches the threshold.
    #[default]
    Closed,
    /// The day's closed P/L, judged once the day has ended (today never counts yet).
    ClosedAtDayEnd,
    /// The day's closed P/L plus the change of floating P/L over the day (the equity the day
    /// made, deposits excluded), judged once the day has ended.
    ClosedAndFloatingAtDayEnd,
}

/// A day of the week, in the reset clock's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Weekday {
    /// As chrono's weekday.
    pub fn chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Monday => chrono::Weekday::Mon,
            Weekday::Tuesday => chrono::Weekday::Tue,
            Weekday::Wednesday => chrono::Weekday::Wed,
            Weekday::Thursday => chrono::Weekday::Thu,
            Weekday::Friday => chrono::Weekday::Fri,
            Weekday::Saturday => chrono::Weekday::Sat,
            Weekday::Sunday => chrono::Weekday::Sun,
        }
    }
}

/// Where a maximum loss floor hangs from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxLossMode {
    /// The initial balance (plus net deposits): never moves otherwise.
    Static,
    /// The highest equity ever reported, tracked in real time (Apex).
    TrailingPeakEquity,
    /// The highest balance ever reported (seed 004's ODD on peak balance).
    TrailingPeakBalance,
    /// The higher of the initial balance and the highest end-of-day balance (FTMO 1-Step,
    /// Topstep); moves only at the daily reset.
    TrailingEndOfDayBalance,
}

/// What a profit target is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfitBasis {
    /// Closed balance, reached with no open positions (FTMO).
    ClosedBalance,
    /// Equity, open positions included.
    Equity,
}

/// A rule and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RuleKind {
    /// Equity must stay at or above `anchor - limit`; the anchor resets every trading day.
    DailyLoss {
        /// What the floor hangs from.
        anchor: DailyAnchor,
        /// How much may be lost per day.
        limit: Limit,
        /// Equity (default) or closed balance.
        #[serde(default)]
        measure: Measure,
        /// Reaching the floor is already a breach ("reaches 97,600 or lower").
        #[serde(default)]
        breach_at_floor: bool,
    },
    /// Equity must stay at or above `anchor - limit` for the life of the challenge.
    MaxLoss {
        /// Static or trailing.
        mode: MaxLossMode,
        /// How much may be lost (`PercentOfAnchor` is a percent of the trailing peak).
        limit: Limit,
        /// Stop trailing once the floor reaches the initial balance plus this amount
        /// (Topstep: 0; Apex: 100). `None`: trail forever.
        lock_above_initial: Option<Money>,
        /// Equity (default) or closed balance.
        #[serde(default)]
        measure: Measure,
        /// Reaching the floor is already a breach.
        #[serde(default)]
        breach_at_floor: bool,
    },
    /// Equity must stay at or above `start-of-month balance - limit`.
    MonthlyLoss {
        /// How much may be lost per calendar month (of trading days).
        limit: Limit,
        /// Equity (default) or closed balance.
        #[serde(default)]
        measure: Measure,
        /// Reaching the floor is already a breach.
        #[serde(default)]
        breach_at_floor: bool,
    },
    /// Objective: profit of at least `target` (a percent limit is of the initial balance).
    ProfitTarget {
        /// The profit to reach.
        target: Limit,
        /// Closed balance with no open positions, or equity.
        basis: ProfitBasis,
    },
    /// Objective: at least `days` distinct trading days on which a position was opened; with
    /// `min_day_profit`, days whose closed P/L reached that amount instead (The5ers).
    MinTradingDays {
        /// Days required.
        days: u32,
        /// When set, only days with at least this closed profit count.
        min_day_profit: Option<Limit>,
        /// With `min_day_profit`: what a day's profit is and when it is judged.
        #[serde(default)]
        day_profit: DayProfit,
    },
    /// The challenge fails when it has not passed within `days` calendar days of its start.
    MaxDuration {
        /// Calendar days allowed.
        days: u32,
    },
    /// Objective (soft): the best day's closed profit is at most `max_share_percent` of the total
    /// closed profit. It never fails a challenge; it only blocks passing.
    BestDay {
        /// Largest share of total profit one day may carry, in percent.
        max_share_percent: Decimal,
    },
    /// No position larger than `lots`.
    MaxLotsPerPosition {
        /// Largest position size.
        lots: Lots,
    },
    /// At most `count` positions open at once.
    MaxOpenPositions {
        /// Largest number of open positions.
        count: u32,
    },
    /// Every open position must have a stop loss.
    StopLossRequired,
    /// No position may risk more than `percent` of the balance to its stop loss.
    MaxRiskPerPosition {
        /// Percent of balance.
        percent: Decimal,
    },
    /// The total risk to stop loss of open positions must not exceed `percent` of the room left
    /// under the daily loss floor. Positions without a stop loss count as unbounded.
    TotalOpenRisk {
        /// Percent of the remaining daily room.
        percent: Decimal,
    },
    /// At most `max` consecutive losing closing trades (trades of at most `min_lots` are
    /// ignored; seed 004 uses 0.01).
    ConsecutiveLosses {
        /// Longest allowed losing streak.
        max: u32,
        /// Trades of this volume or less are ignored.
        min_lots: Lots,
    },
    /// Margin level (equity / margin, percent): a warning below `warning`, a breach below
    /// `critical`.
    MarginLevel {
        /// Warning threshold in percent (seed 002: 100).
        warning: Decimal,
        /// Critical threshold in percent (seed 002: 50).
        critical: Decimal,
    },
    /// Equity must stay at or above `start-of-period balance - limit`, the period a week,
    /// month, quarter or year of trading days (MetaApi's trackers, weekly loss limits).
    PeriodLoss {
        /// Week, month, quarter or year.
        period: Period,
        /// How much may be lost per period (`PercentOfAnchor`: of the start-of-period balance).
        limit: Limit,
        /// Equity (default) or closed balance.
        #[serde(default)]
        measure: Measure,
        /// Reaching the floor is already a breach.
        #[serde(default)]
        breach_at_floor: bool,
    },
    /// No closed trade may lose more than `limit`: a closing deal whose closed P/L (profit,
    /// commission and swap) is below `-limit` breaches, naming the deal.
    MaxTradeLoss {
        /// Money or a percent of the initial balance.
        limit: Limit,
    },
    /// No position may be held longer than `minutes` from its open time.
    MaxHoldingTime {
        /// Longest holding time.
        minutes: u32,
    },
    /// No position may be open across the weekend: from `from_day` at `from_time` until
    /// `until_day` at `until_time`, local times in the reset clock's time zone.
    NoWeekendPositions {
        /// The day the weekend starts (e.g. Friday).
        from_day: Weekday,
        /// The local time it starts (e.g. 22:00).
        from_time: NaiveTime,
        /// The day it ends (e.g. Sunday).
        until_day: Weekday,
        /// The local time it ends (e.g. 22:00).
        until_time: NaiveTime,
    },
}

impl RuleKind {
    /// The snake_case name of the rule kind.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::DailyLoss { .. } => "daily_loss",
            RuleKind::MaxLoss { .. } => "max_loss",
            RuleKind::MonthlyLoss { .. } => "monthly_loss",
            RuleKind::ProfitTarget { .. } => "profit_target",
            RuleKind::MinTradingDays { .. } => "min_trading_days",
            RuleKind::MaxDuration { .. } => "max_duration",
            RuleKind::BestDay { .. } => "best_day",
            RuleKind::MaxLotsPerPosition { .. } => "max_lots_per_position",
            RuleKind::MaxOpenPositions { .. } => "max_open_positions",
            RuleKind::StopLossRequired => "stop_loss_required",
            RuleKind::MaxRiskPerPosition { .. } => "max_risk_per_position",
            RuleKind::TotalOpenRisk { .. } => "total_open_risk",
            RuleKind::ConsecutiveLosses { .. } => "consecutive_losses",
            RuleKind::MarginLevel { .. } => "margin_level",
            RuleKind::PeriodLoss { .. } => "period_loss",
            RuleKind::MaxTradeLoss { .. } => "max_trade_loss",
            RuleKind::MaxHoldingTime { .. } => "max_holding_time",
            RuleKind::NoWeekendPositions { .. } => "no_weekend_positions",
        }
    }

    /// Objectives must all hold for the challenge to pass; they never breach.
    pub fn is_objective(&self) -> bool {
        matches!(
            self,
            RuleKind::ProfitTarget { .. }
                | RuleKind::MinTradingDays { .. }
                | RuleKind::BestDay { .. }
        )
    }

    /// Loss rules: equity (or balance) measured against a floor.
    pub fn is_loss_rule(&self) -> bool {
        matches!(
            self,
            RuleKind::DailyLoss { .. }
                | RuleKind::MaxLoss { .. }
                | RuleKind::MonthlyLoss { .. }
                | RuleKind::PeriodLoss { .. }
        )
    }

    /// What a loss rule's floor is compared with (equity for every other kind).
    pub fn measure(&self) -> Measure {
        match self {
            RuleKind::DailyLoss { measure, .. }
            | RuleKind::MaxLoss { measure, .. }
            | RuleKind::MonthlyLoss { measure, .. }
            | RuleKind::PeriodLoss { measure, .. } => *measure,
            _ => Measure::Equity,
        }
    }

    /// Whether `measured` breaks a floor at `floor`: below it, or at it for a rule that says
    /// "or lower".
    pub fn breaks(&self, measured: Money, floor: Money) -> bool {
        measured < floor || measured == floor && self.breaches_at_floor()
    }

    /// Whether a loss rule breaches when the measured value equals its floor.
    pub fn breaches_at_floor(&self) -> bool {
        match self {
            RuleKind::DailyLoss {
                breach_at_floor, ..
            }
            | RuleKind::MaxLoss {
                breach_at_floor, ..
            }
            | RuleKind::MonthlyLoss {
                breach_at_floor, ..
            }
            | RuleKind::PeriodLoss {
                breach_at_floor, ..
            } => *breach_at_floor,
            _ => false,
        }
    }

    /// The severity a rule of this kind has unless configured otherwise: loss rules and the
    /// duration limit fail the challenge, position-level rules pause it.
    pub fn default_severity(&self) -> Severity {
        match self {
            RuleKind::DailyLoss { .. }
            | RuleKind::MaxLoss { .. }
            | RuleKind::MonthlyLoss { .. }
            | RuleKind::PeriodLoss { .. }
            | RuleKind::MaxTradeLoss { .. }
            | RuleKind::MaxDuration { .. } => Severity::Hard,
            _ => Severity::Soft,
        }
    }

    /// The unit of the rule's remaining room.
    pub fn unit(&self) -> Unit {
        match self {
            RuleKind::DailyLoss { .. }
            | RuleKind::MaxLoss { .. }
            | RuleKind::MonthlyLoss { .. }
            | RuleKind::ProfitTarget { .. }
            | RuleKind::BestDay { .. }
            | RuleKind::MaxRiskPerPosition { .. }
            | RuleKind::TotalOpenRisk { .. }
            | RuleKind::PeriodLoss { .. }
            | RuleKind::MaxTradeLoss { .. } => Unit::Money,
            RuleKind::MinTradingDays { .. } | RuleKind::MaxDuration { .. } => Unit::Days,
            RuleKind::MaxLotsPerPosition { .. } => Unit::Lots,
            RuleKind::MaxOpenPositions { .. }
            | RuleKind::StopLossRequired
            | RuleKind::NoWeekendPositions { .. } => Unit::Positions,
            RuleKind::MaxHoldingTime { .. } => Unit::Minutes,
            RuleKind::ConsecutiveLosses { .. } => Unit::Trades,
            RuleKind::MarginLevel { .. } => Unit::Percent,
        }
    }
}

/// What a breach does to the challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Fails the challenge for good.
    Hard,
    /// Pauses the challenge until the next daily reset.
    Soft,
}

/// The unit a rule's remaining room is expressed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Account currency.
    Money,
    /// Trading or calendar days.
    Days,
    /// Lots.
    Lots,
    /// Open positions.
    Positions,
    /// Closing trades.
    Trades,
    /// Percent.
    Percent,
    /// Minutes (holding time).
    Minutes,
}

/// The default warning fractions of a budget: 50%, 80% and 95% used.
pub fn default_warnings() -> Vec<Decimal> {
    vec![Decimal::new(5, 1), Decimal::new(8, 1), Decimal::new(95, 2)]
}

/// One configured rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDef {
    /// Stable id, unique within a challenge (`daily_loss`, `max_loss`, ...).
    pub id: String,
    /// What the rule checks, with its parameters.
    pub kind: RuleKind,
    /// Hard (fails) or soft (pauses until the next reset).
    pub severity: Severity,
    /// Fractions of the budget used at which a warning is raised, ascending, each in (0, 1).
    #[serde(default = "default_warnings")]
    pub warnings: Vec<Decimal>,
}

impl RuleDef {
    /// A rule with its kind's default severity and the default warning fractions.
    pub fn new(id: &str, kind: RuleKind) -> Self {
        Self {
            id: id.to_owned(),
            severity: kind.default_severity(),
            kind,
            warnings: default_warnings(),
        }
    }

    /// The same rule with another severity.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Checks the parameters: positive limits, warnings ascending in (0, 1), sane thresholds.
    pub fn validate(&self) -> Result<(), EngineError> {
        let fail = |reason: &str| {
            Err(EngineError::InvalidRule {
                id: self.id.clone(),
                reason: reason.to_owned(),
            })
        };
        if self.id.is_empty() {
            return fail("the id is empty");
        }
        if self.warnings.len() > MAX_WARNINGS {
            return fail("more than 8 warning fractions");
        }
        let mut previous = Decimal::ZERO;
        for fraction in &self.warnings {
            if *fraction <= previous || *fraction >= Decimal::ONE {
                return fail("warning fractions must ascend strictly within (0, 1)");
            }
            previous = *fraction;
        }
        let positive_limit = |limit: &Limit| match limit {
            Limit::Money(v)
            | Limit::PercentOfInitial(v)
            | Limit::PercentOfAnchor(v)
            | Limit::PercentOfMonthStartBalance(v) => *v > Decimal::ZERO && *v <= MAX_LIMIT,
        };
        let percent = |v: &Decimal| *v > Decimal::ZERO && *v <= Decimal::ONE_HUNDRED;
        let ok = match &self.kind {
            RuleKind::DailyLoss { limit, .. }
            | RuleKind::MaxLoss { limit, .. }
            | RuleKind::MonthlyLoss { limit, .. }
            | RuleKind::PeriodLoss { limit, .. } => {
                positive_limit(limit) && !matches!(limit, Limit::PercentOfAnchor(v) if !percent(v))
            }
            RuleKind::MaxTradeLoss { limit } => {
                positive_limit(limit)
                    && matches!(limit, Limit::Money(_) | Limit::PercentOfInitial(_))
                    && !matches!(limit, Limit::PercentOfInitial(v) if !percent(v))
            }
            RuleKind::MaxHoldingTime { minutes } => *minutes > 0 && *minutes <= MAX_HOLDING_MINUTES,
            RuleKind::NoWeekendPositions {
                from_day,
                from_time,
                until_day,
                until_time,
            } => (from_day, from_time) != (until_day, until_time),
            RuleKind::ProfitTarget { target, .. } => {
                positive_limit(target) && !matches!(target, Limit::PercentOfAnchor(_))
            }
            RuleKind::MinTradingDays {
                days,
                min_day_profit,
                ..
            } => {
                *days > 0
                    && min_day_profit.as_ref().is_none_or(|limit| {
                        positive_limit(limit) && !matches!(limit, Limit::PercentOfAnchor(_))
                    })
            }
            RuleKind::MaxDuration { days } => *days > 0 && *days <= 36_500,
            RuleKind::BestDay { max_share_percent } => percent(max_share_percent),
            RuleKind::MaxLotsPerPosition { lots } => *lots > Decimal::ZERO && *lots <= MAX_LIMIT,
            RuleKind::MaxOpenPositions { count } => *count > 0,
            RuleKind::StopLossRequired => true,
            RuleKind::MaxRiskPerPosition { percent: p }
            | RuleKind::TotalOpenRisk { percent: p } => percent(p),
            RuleKind::ConsecutiveLosses { max, min_lots } => {
                *max > 0 && *min_lots >= Decimal::ZERO && *min_lots <= MAX_LIMIT
            }
            RuleKind::MarginLevel { warning, critical } => {
                *critical > Decimal::ZERO && *warning > *critical && *warning <= MAX_LIMIT
            }
        };
        if ok {
            Ok(())
        } else {
            fail(
                "a limit is not positive, a percent is outside (0, 100], or thresholds are out of order",
            )
        }
    }
}

/// At most this many warning fractions per rule.
pub const MAX_WARNINGS: usize = 8;
/// The longest holding time a rule may allow: 366 days, in minutes.
pub const MAX_HOLDING_MINUTES: u32 = 366 * 24 * 60;
/// Largest amount, percent or volume a rule parameter may hold.
pub const MAX_LIMIT: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// The status of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    /// Nothing measured yet, or an objective not (yet) met.
    Pending,
    /// Within the limit.
    Ok,
    /// Past a warning fraction of the budget.
    Warning,
    /// Broken: final for a hard rule, until the next reset for a soft one.
    Breached,
    /// An objective met.
    Passed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check(kind: RuleKind, warnings: &[Decimal], valid: bool) {
        let rule = RuleDef {
            warnings: warnings.to_vec(),
            ..RuleDef::new("r", kind)
        };
        assert_eq!(rule.validate().is_ok(), valid, "{rule:?}");
    }

    #[test]
    fn validation_names_bad_parameters() {
        let daily = |limit| RuleKind::DailyLoss {
            anchor: DailyAnchor::StartOfDayBalance,
            limit,
            measure: Measure::Equity,
            breach_at_floor: false,
        };
        let w = [dec!(0.5), dec!(0.8), dec!(0.95)];
        check(daily(Limit::PercentOfInitial(dec!(5))), &w, true);
        check(daily(Limit::PercentOfInitial(dec!(0))), &w, false);
        check(daily(Limit::Money(dec!(-1))), &w, false);
        check(daily(Limit::PercentOfAnchor(dec!(101))), &w, false);
        check(
            daily(Limit::Money(dec!(500))),
            &[dec!(0.8), dec!(0.5)],
            false,
        );
        check(daily(Limit::Money(dec!(500))), &[dec!(1)], false);
        check(daily(Limit::Money(dec!(500))), &[], true);
        check(
            RuleKind::MinTradingDays {
                days: 0,
                min_day_profit: None,
                day_profit: DayProfit::Closed,
            },
            &w,
            false,
        );
        check(RuleKind::MaxOpenPositions { count: 0 }, &w, false);
        check(
            RuleKind::BestDay {
                max_share_percent: dec!(50),
            },
            &w,
            true,
        );
        check(
            RuleKind::MarginLevel {
                warning: dec!(50),
                critical: dec!(100),
            },
            &w,
            false,
        );
        check(
            RuleKind::MarginLevel {
                warning: dec!(100),
                critical: dec!(50),
            },
            &w,
            true,
        );
        check(
            RuleKind::ProfitTarget {
                target: Limit::PercentOfAnchor(dec!(10)),
                basis: ProfitBasis::Equity,
            },
            &w,
            false,
        );
        check(
            RuleKind::ConsecutiveLosses {
                max: 3,
                min_lots: dec!(-0.01),
            },
            &w,
            false,
        );
    }

    #[test]
    fn rule_definitions_round_trip_through_json() {
        let rule = RuleDef::new(
            "max_loss",
            RuleKind::MaxLoss {
                mode: MaxLossMode::TrailingEndOfDayBalance,
                limit: Limit::Money(dec!(2000)),
                lock_above_initial: Some(dec!(0)),
                measure: Measure::Equity,
                breach_at_floor: false,
            },
        );
        let json = serde_json::to_string(&rule).expect("serialise");
        assert!(json.contains(r#""type":"max_loss""#), "{json}");
        let back: RuleDef = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, rule);
    }
}
