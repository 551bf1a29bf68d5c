//! Trade and day statistics traders expect beside the rules.
//!
//! [`TradeStats`] folds closing trades in one at a time; [`DayStats`] is one finished trading day
//! of the daily P/L calendar. Ratios are `None` when their denominator is zero: never a panic,
//! never a division by zero.

use crate::domain::{Lots, Money};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Running statistics of closing trades.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeStats {
    /// Closing trades.
    pub trades: u32,
    /// Lots closed.
    pub lots: Lots,
    /// Trades with a positive closed P/L.
    pub wins: u32,
    /// Trades with a negative closed P/L.
    pub losses: u32,
    /// Sum of winning trades' P/L.
    pub gross_profit: Money,
    /// Sum of losing trades' P/L, as a positive amount.
    pub gross_loss: Money,
    /// Largest closed P/L of one trade.
    pub best: Option<Money>,
    /// Smallest closed P/L of one trade.
    pub worst: Option<Money>,
}

impl TradeStats {
    /// Folds one closing trade in.
    pub fn record(&mut self, pl: Money, volume: Lots) {
        self.trades = self.trades.saturating_add(1);
        self.lots = self.lots.saturating_add(volume);
        if pl > Decimal::ZERO {
            self.wins = self.wins.saturating_add(1);
            self.gross_profit = self.gross_profit.saturating_add(pl);
        } else if pl < Decimal::ZERO {
            self.losses = self.losses.saturating_add(1);
            self.gross_loss = self.gross_loss.saturating_sub(pl);
        }
        self.best = Some(self.best.map_or(pl, |b| b.max(pl)));
        self.worst = Some(self.worst.map_or(pl, |w| w.min(pl)));
    }

    /// Net closed P/L of all trades.
    pub fn net(&self) -> Money {
        self.gross_profit.saturating_sub(self.gross_loss)
    }

    /// Winning trades / trades.
    pub fn win_rate(&self) -> Option<Decimal> {
        ratio(Decimal::from(self.wins), Decimal::from(self.trades))
    }

    /// Mean P/L of winning trades.
    pub fn average_win(&self) -> Option<Money> {
        ratio(self.gross_profit, Decimal::from(self.wins))
    }

    /// Mean loss of losing trades, as a positive amount.
    pub fn average_loss(&self) -> Option<Money> {
        ratio(self.gross_loss, Decimal::from(self.losses))
    }

    /// Average win / average loss.
    pub fn reward_risk(&self) -> Option<Decimal> {
        ratio(self.average_win()?, self.average_loss()?)
    }

    /// Mean P/L per trade.
    pub fn expectancy(&self) -> Option<Money> {
        ratio(self.net(), Decimal::from(self.trades))
    }

    /// Gross profit / gross loss.
    pub fn profit_factor(&self) -> Option<Decimal> {
        ratio(self.gross_profit, self.gross_loss)
    }
}

/// One finished trading day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayStats {
    /// The trading day (as named by `ResetClock::trading_day`).
    pub date: NaiveDate,
    /// Balance at the start of the day.
    pub start_balance: Money,
    /// Equity at the start of the day.
    pub start_equity: Money,
    /// Closed P/L of the day (deals other than deposits and withdrawals).
    pub closed_pl: Money,
    /// Balance at the end of the day.
    pub end_balance: Money,
    /// Equity at the end of the day.
    pub end_equity: Money,
    /// Lowest equity reported during the day.
    pub min_equity: Money,
}

impl DayStats {
    /// The day's closed P/L plus the change of floating P/L over the day (floating P/L being
    /// equity minus balance, which deposits do not move): what the day made, open positions
    /// included, counting a position's floating profit on the days it accrued.
    pub fn closed_and_floating_pl(&self) -> Money {
        let floating_end = self.end_equity.saturating_sub(self.end_balance);
        let floating_start = self.start_equity.saturating_sub(self.start_balance);
        self.closed_pl
            .saturating_add(floating_end)
            .saturating_sub(floating_start)
    }

    /// The day's return on its starting equity (deposits excluded, since they move the start).
    pub fn equity_return(&self) -> Option<Decimal> {
        ratio(
            self.end_equity.checked_sub(self.start_equity)?,
            self.start_equity,
        )
    }
}

/// Sharpe ratio of daily returns (mean / sample standard deviation, not annualised); `None`
/// with fewer than two days or no variation.
pub fn sharpe(days: &[DayStats]) -> Option<Decimal> {
    let mut count = 0u32;
    let mut sum = Decimal::ZERO;
    for day in days {
        sum = sum.checked_add(day.equity_return()?)?;
        count += 1;
    }
    if count < 2 {
        return None;
    }
    let n = Decimal::from(count);
    let mean = sum.checked_div(n)?;
    let mut squares = Decimal::ZERO;
    for day in days {
        let d = day.equity_return()?.checked_sub(mean)?;
        squares = squares.checked_add(d.checked_mul(d)?)?;
    }
    let variance = squares.checked_div(n - Decimal::ONE)?;
    let deviation = sqrt(variance)?;
    ratio(mean, deviation).map(|s| s.round_dp(4))
}

/// `numerator / denominator`, `None` when the denominator is zero or the result overflows.
pub fn ratio(numerator: Decimal, denominator: Decimal) -> Option<Decimal> {
    if denominator.is_zero() {
        return None;
    }
    numerator.checked_div(denominator)
}

/// Square root by Newton's method; `None` for negative input.
fn sqrt(x: Decimal) -> Option<Decimal> {
    if x < Decimal::ZERO {
        return None;
    }
    if x.is_zero() {
        return Some(Decimal::ZERO);
    }
    let mut guess = if x > Decimal::ONE {
        x / Decimal::TWO
    } else {
        Decimal::ONE
    };
    for _ in 0..100 {
        let next = (guess + x.checked_div(guess)?) / Decimal::TWO;
        if (next - guess).abs() < Decimal::new(1, 20) {
            return Some(next);
        }
        guess = next;
    }
    Some(guess)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check(
        trades: &[Decimal],
        field: fn(&TradeStats) -> Option<Decimal>,
        expected: Option<Decimal>,
    ) {
        let mut stats = TradeStats::default();
        for pl in trades {
            stats.record(*pl, dec!(1));
        }
        assert_eq!(field(&stats).map(|v| v.round_dp(4)), expected);
    }

    #[test]
    fn trade_statistics_follow_their_definitions() {
        let trades = [dec!(100), dec!(-50), dec!(200), dec!(-50), dec!(0)];
        check(&trades, TradeStats::win_rate, Some(dec!(0.4)));
        check(&trades, TradeStats::average_win, Some(dec!(150)));
        check(&trades, TradeStats::average_loss, Some(dec!(50)));
        check(&trades, TradeStats::reward_risk, Some(dec!(3)));
        check(&trades, TradeStats::expectancy, Some(dec!(40)));
        check(&trades, TradeStats::profit_factor, Some(dec!(3)));
        check(&trades, |s| s.best, Some(dec!(200)));
        check(&trades, |s| s.worst, Some(dec!(-50)));
        check(&[], TradeStats::win_rate, None);
        check(&[dec!(10)], TradeStats::profit_factor, None);
        check(&[dec!(-10)], TradeStats::reward_risk, None);
    }

    fn day(start: Decimal, end: Decimal) -> DayStats {
        DayStats {
            date: NaiveDate::MIN,
            start_balance: start,
            start_equity: start,
            closed_pl: end - start,
            end_balance: end,
            end_equity: end,
            min_equity: start.min(end),
        }
    }

    #[test]
    fn sharpe_is_mean_over_sample_deviation_of_daily_returns() {
        // Returns 1%, 3%: mean 2%, sample deviation sqrt(0.0002) = 0.014142...
        let days = [day(dec!(100), dec!(101)), day(dec!(100), dec!(103))];
        assert_eq!(sharpe(&days), Some(dec!(1.4142)));
        assert_eq!(sharpe(&days[..1]), None);
        assert_eq!(
            sharpe(&[day(dec!(100), dec!(101)), day(dec!(100), dec!(101))]),
            None
        );
        assert_eq!(
            sharpe(&[day(dec!(0), dec!(1)), day(dec!(100), dec!(101))]),
            None
        );
        assert_eq!(sqrt(dec!(16)), Some(dec!(4)));
    }
}
