//! Seed 004's risk metrics and the statistics traders expect, computed from a [`Challenge`].
//!
//! Metrics are computed on demand from the state (never on the update hot path). Keys are the
//! snake_case names of seed 004's metrics plus snake_case names for the rest. A ratio whose
//! denominator is zero or unknown is `null`, never an error.
//!
//! Seed 004's budgets come from the challenge's rules: `mdl_usd` is the first daily loss rule's
//! budget, `mml_usd` the first monthly loss rule's, `odd_usd` the first maximum loss rule's.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rules::RuleKind;
use super::state::Challenge;
use super::stats::{TradeStats, ratio, sharpe};
use crate::domain::{Lots, Money};

/// Ratios are rounded to this many decimal places.
const RATIO_DP: u32 = 6;
/// Averages of money are rounded to this many decimal places.
const MONEY_DP: u32 = 4;

/// Every metric of a challenge at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Seed 004 #1: the daily loss budget in money (`startOfMonthBalance x MDL_RATE` for
    /// `fund-policy`).
    pub mdl_usd: Option<Money>,
    /// Seed 004 #2: the monthly loss budget in money.
    pub mml_usd: Option<Money>,
    /// Seed 004 #3: the overall drawdown budget in money.
    pub odd_usd: Option<Money>,
    /// Seed 004 #4: total risk to stop loss of open positions with a stop loss and known tick
    /// values.
    pub risk_exposure_usd: Money,
    /// Open positions without a stop loss (their risk is unbounded, not counted above).
    pub unbounded_positions: u32,
    /// Ids of the open positions without a stop loss.
    pub unbounded_position_ids: Vec<String>,
    /// Open positions whose tick size or loss tick value is unknown (not counted above).
    pub unpriced_positions: u32,
    /// Seed 004 #5: `risk_exposure_usd / mdl_usd`.
    pub current_risk_load: Option<Decimal>,
    /// Seed 004 #6: `risk_exposure_usd / remaining_monthly_budget_usd`.
    pub monthly_risk_load: Option<Decimal>,
    /// Seed 004 #7: `risk_exposure_usd / remaining_overall_budget_usd`.
    pub overall_risk_load: Option<Decimal>,
    /// Seed 004 #8: closed balance.
    pub balance: Money,
    /// Seed 004 #9: equity (NAV).
    pub equity: Money,
    /// `equity - balance`.
    pub floating_pl: Money,
    /// Equity estimated from quotes received since the last account update (`null` when none
    /// arrived): broker equity plus each open position's move from the quote in effect at that
    /// update, in ticks, times the profit or loss tick value and the volume.
    pub estimated_equity: Option<Money>,
    /// Seed 004 #10: sum of losses of deals since the start of the month.
    pub realized_loss_mtd: Money,
    /// Seed 004 #11: `start_of_month_balance - realized_loss_mtd`.
    pub remaining_balance: Money,
    /// Seed 004 #12: `mml_usd - realized_loss_mtd`.
    pub remaining_monthly_budget_usd: Option<Money>,
    /// Seed 004 #13: `odd_usd - realized_loss_mtd`.
    pub remaining_overall_budget_usd: Option<Money>,
    /// Seed 004 #14: open positions.
    pub active_orders: u32,
    /// Seed 004 #15: losing closing trades in a row (trades of 0.01 lots or less ignored).
    pub consecutive_losing_trades: u32,
    /// Balance at the last daily reset.
    pub start_of_day_balance: Money,
    /// Equity at the last daily reset.
    pub start_of_day_equity: Money,
    /// Balance at the first reset of the month.
    pub start_of_month_balance: Money,
    /// Equity at the first reset of the month.
    pub start_of_month_equity: Money,
    /// Highest balance.
    pub peak_balance: Money,
    /// Highest equity.
    pub peak_equity: Money,
    /// Initial balance.
    pub starting_capital: Money,
    /// Deposits minus withdrawals.
    pub net_deposits: Money,
    /// `equity - start_of_day_equity` (deposits excluded).
    pub today_pl: Money,
    /// Closed P/L of today's deals.
    pub today_closed_pl: Money,
    /// Lowest equity reported today.
    pub min_equity_today: Money,
    /// Room left above the tightest daily loss floor.
    pub daily_loss_left: Option<Money>,
    /// Room left above the tightest maximum or monthly loss floor.
    pub overall_loss_left: Option<Money>,
    /// Distinct trading days on which a position was opened.
    pub trading_days: u32,
    /// Best day's closed P/L / total closed P/L (`null` without a profit).
    pub best_day_share: Option<Decimal>,
    /// Closing trades.
    pub trades: u32,
    /// Lots closed.
    pub lots: Lots,
    /// Winning trades / trades.
    pub win_rate: Option<Decimal>,
    /// Mean winning trade.
    pub average_win: Option<Money>,
    /// Mean losing trade (positive).
    pub average_loss: Option<Money>,
    /// `average_win / average_loss`.
    pub reward_risk: Option<Decimal>,
    /// Mean P/L per trade.
    pub expectancy: Option<Money>,
    /// Gross profit / gross loss.
    pub profit_factor: Option<Decimal>,
    /// Sharpe ratio of daily equity returns of finished days (not annualised).
    pub sharpe: Option<Decimal>,
    /// Best closing trade.
    pub best_trade: Option<Money>,
    /// Worst closing trade.
    pub worst_trade: Option<Money>,
    /// Equity / margin in percent, as the broker reports it.
    pub margin_level: Option<Decimal>,
    /// The current trading day.
    pub trading_day: Option<NaiveDate>,
    /// The next daily reset.
    pub next_reset: Option<DateTime<Utc>>,
}

fn round(value: Option<Decimal>, dp: u32) -> Option<Decimal> {
    value.map(|v| v.round_dp(dp))
}

impl Challenge {
    /// Every metric as it stands.
    pub fn metrics(&self) -> Metrics {
        let a = &self.anchors;
        let budget = |pick: fn(&RuleKind) -> bool| {
            self.rules
                .iter()
                .find(|r| pick(&r.def.kind))
                .map(|r| r.limit)
        };
        let mdl = budget(|k| matches!(k, RuleKind::DailyLoss { .. }));
        let mml = budget(|k| matches!(k, RuleKind::MonthlyLoss { .. }));
        let odd = budget(|k| matches!(k, RuleKind::MaxLoss { .. }));
        let risk = self.risk.total;
        let remaining_monthly = mml.map(|m| m.saturating_sub(self.realized_loss_mtd));
        let remaining_overall = odd.map(|o| o.saturating_sub(self.realized_loss_mtd));
        let room = |pick: fn(&RuleKind) -> bool| {
            self.rules
                .iter()
                .filter(|r| pick(&r.def.kind))
                .map(|r| {
                    self.measured_for(&r.def.kind)
                        .saturating_sub(r.floor)
                        .max(Decimal::ZERO)
                })
                .min()
        };
        let stats: &TradeStats = &self.stats;
        let total = self.closed_pl_total;
        let best_day_share = if total > Decimal::ZERO {
            self.best_day().and_then(|best| ratio(best, total))
        } else {
            None
        };
        Metrics {
            mdl_usd: mdl,
            mml_usd: mml,
            odd_usd: odd,
            risk_exposure_usd: risk,
            unbounded_positions: self.risk.unbounded,
            unbounded_position_ids: self
                .positions
                .iter()
                .filter(|p| p.stop_loss.is_none())
                .map(|p| p.id.clone())
                .collect(),
            unpriced_positions: self.risk.unpriced,
            current_risk_load: round(mdl.and_then(|m| ratio(risk, m)), RATIO_DP),
            monthly_risk_load: round(remaining_monthly.and_then(|m| ratio(risk, m)), RATIO_DP),
            overall_risk_load: round(remaining_overall.and_then(|o| ratio(risk, o)), RATIO_DP),
            balance: self.balance,
            equity: self.equity,
            floating_pl: self.equity.saturating_sub(self.balance),
            estimated_equity: self.estimated_equity(),
            realized_loss_mtd: self.realized_loss_mtd,
            remaining_balance: a
                .start_of_month_balance
                .saturating_sub(self.realized_loss_mtd),
            remaining_monthly_budget_usd: remaining_monthly,
            remaining_overall_budget_usd: remaining_overall,
            active_orders: u32::try_from(self.positions.len()).unwrap_or(u32::MAX),
            consecutive_losing_trades: self.consecutive_losses,
            start_of_day_balance: a.start_of_day_balance,
            start_of_day_equity: a.start_of_day_equity,
            start_of_month_balance: a.start_of_month_balance,
            start_of_month_equity: a.start_of_month_equity,
            peak_balance: a.peak_balance,
            peak_equity: a.peak_equity,
            starting_capital: a.initial_balance,
            net_deposits: a.net_deposits,
            today_pl: self.equity.saturating_sub(a.start_of_day_equity),
            today_closed_pl: self.closed_pl_today,
            min_equity_today: self.min_equity_today,
            daily_loss_left: room(|k| matches!(k, RuleKind::DailyLoss { .. })),
            overall_loss_left: room(|k| {
                matches!(
                    k,
                    RuleKind::MaxLoss { .. }
                        | RuleKind::MonthlyLoss { .. }
                        | RuleKind::PeriodLoss { .. }
                )
            }),
            trading_days: u32::try_from(self.trading_days.len()).unwrap_or(u32::MAX),
            best_day_share: round(best_day_share, RATIO_DP),
            trades: stats.trades,
            lots: stats.lots,
            win_rate: round(stats.win_rate(), RATIO_DP),
            average_win: round(stats.average_win(), MONEY_DP),
            average_loss: round(stats.average_loss(), MONEY_DP),
            reward_risk: round(stats.reward_risk(), RATIO_DP),
            expectancy: round(stats.expectancy(), MONEY_DP),
            profit_factor: round(stats.profit_factor(), RATIO_DP),
            sharpe: sharpe(&self.days),
            best_trade: stats.best,
            worst_trade: stats.worst,
            margin_level: self.margin_level,
            trading_day: self.day,
            next_reset: self.next_reset,
        }
    }
}
