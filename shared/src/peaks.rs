//! The numbers a broker does not keep: starting capital, peak balance, peak equity.
//!
//! Seed 004 marks them "requires storage/tracking". The backend persists [`Peaks`] and restores
//! it after a restart, so a peak never goes backwards.

use crate::domain::{AccountInfo, Money};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Running extremes of an account since tracking began.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    /// Balance at the first observation.
    pub starting_capital: Option<Money>,
    /// Highest balance observed.
    pub peak_balance: Option<Money>,
    /// Highest equity observed.
    pub peak_equity: Option<Money>,
}

impl Peaks {
    /// Folds one observation in. Returns `true` when anything changed (so it needs saving).
    pub fn observe(&mut self, info: &AccountInfo) -> bool {
        let before = self.clone();
        self.starting_capital.get_or_insert(info.balance);
        raise(&mut self.peak_balance, info.balance);
        raise(&mut self.peak_equity, info.equity);
        *self != before
    }

    /// Combines two records of the same account (say, a restored one and a fresh one),
    /// keeping the earliest starting capital and the highest peaks.
    pub fn merge(&mut self, other: &Peaks) {
        if self.starting_capital.is_none() {
            self.starting_capital = other.starting_capital;
        }
        if let Some(balance) = other.peak_balance {
            raise(&mut self.peak_balance, balance);
        }
        if let Some(equity) = other.peak_equity {
            raise(&mut self.peak_equity, equity);
        }
    }

    /// How far `equity` is below the peak equity, in money (zero at a new peak).
    pub fn drawdown(&self, equity: Money) -> Money {
        self.peak_equity
            .map_or(Decimal::ZERO, |peak| (peak - equity).max(Decimal::ZERO))
    }

    /// [`Peaks::drawdown`] as a percent of the peak equity; `None` without a positive peak.
    pub fn drawdown_percent(&self, equity: Money) -> Option<Decimal> {
        let peak = self.peak_equity.filter(|peak| *peak > Decimal::ZERO)?;
        self.drawdown(equity)
            .checked_mul(Decimal::ONE_HUNDRED)?
            .checked_div(peak)
            .map(|pct| pct.round_dp(2))
    }
}

fn raise(slot: &mut Option<Money>, value: Money) {
    match slot {
        Some(current) if *current >= value => {}
        _ => *slot = Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn info(balance: Decimal, equity: Decimal) -> AccountInfo {
        AccountInfo {
            balance,
            equity,
            margin: Decimal::ZERO,
            free_margin: equity,
            margin_level: None,
            currency: "USD".into(),
            leverage: None,
            credit: Decimal::ZERO,
        }
    }

    #[test]
    fn peaks_only_rise_and_starting_capital_is_the_first_balance() {
        let mut peaks = Peaks::default();
        assert!(peaks.observe(&info(dec!(100000), dec!(100000))));
        assert!(peaks.observe(&info(dec!(100000), dec!(100500))));
        assert!(!peaks.observe(&info(dec!(99000), dec!(98000))));
        assert_eq!(peaks.starting_capital, Some(dec!(100000)));
        assert_eq!(peaks.peak_balance, Some(dec!(100000)));
        assert_eq!(peaks.peak_equity, Some(dec!(100500)));
        assert_eq!(peaks.drawdown(dec!(98000)), dec!(2500));
        assert_eq!(peaks.drawdown_percent(dec!(98000)), Some(dec!(2.49)));
        assert_eq!(peaks.drawdown(dec!(101000)), dec!(0));
    }

    #[test]
    fn merge_keeps_the_higher_peaks_and_the_first_capital() {
        let mut restored = Peaks {
            starting_capital: Some(dec!(50000)),
            peak_balance: Some(dec!(52000)),
            peak_equity: Some(dec!(52500)),
        };
        restored.merge(&Peaks {
            starting_capital: Some(dec!(51000)),
            peak_balance: Some(dec!(51000)),
            peak_equity: Some(dec!(53000)),
        });
        assert_eq!(restored.starting_capital, Some(dec!(50000)));
        assert_eq!(restored.peak_balance, Some(dec!(52000)));
        assert_eq!(restored.peak_equity, Some(dec!(53000)));
    }

    #[test]
    fn drawdown_without_a_peak_is_zero_not_a_panic() {
        let peaks = Peaks::default();
        assert_eq!(peaks.drawdown(dec!(-5)), dec!(0));
        assert_eq!(peaks.drawdown_percent(dec!(-5)), None);
        let zero = Peaks {
            peak_equity: Some(dec!(0)),
            ..Peaks::default()
        };
        assert_eq!(zero.drawdown_percent(dec!(-5)), None);
    }
}
