//! The numbers a broker does not keep: starting capital, peak balance, peak equity.
//!
//! Seed 004 marks them "requires storage/tracking". The backend persists [`Peaks`] and restores
//! it after a restart, so a peak never goes backwards.

use crate::domain::{AccountInfo, Deal, DealEntry, Money};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

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

/// Reconstructs peaks from an account's deal history, for an account first tracked mid-way
/// (seed 004: "reconstruct from account history").
///
/// The running balance is replayed deal by deal. When the history is incomplete (brokers cap it),
/// the missing start is inferred so that the replay ends at `current_balance`. Starting capital
/// is the balance just before the first trade; peak balance the highest running balance; peak
/// equity the highest balance at an instant with no open position (when equity equals balance)
/// or the current equity, whichever is higher. `None` when there are no deals.
pub fn reconstruct(deals: &[Deal], current: &AccountInfo) -> Option<Peaks> {
    if deals.is_empty() {
        return None;
    }
    let mut ordered: Vec<&Deal> = deals.iter().collect();
    ordered.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    let total = ordered
        .iter()
        .try_fold(Decimal::ZERO, |sum, deal| sum.checked_add(deal.closed_pl()))?;
    let mut balance = current.balance.checked_sub(total)?;
    let mut starting_capital = None;
    let mut peak_balance = balance;
    let mut peak_flat_equity = balance;
    let mut open: HashSet<&str> = HashSet::new();
    for deal in ordered {
        let is_trade = !deal.is_balance_operation();
        if is_trade && starting_capital.is_none() {
            starting_capital = Some(balance);
        }
        balance = balance.checked_add(deal.closed_pl())?;
        if let Some(position) = deal.position_id.as_deref() {
            match deal.entry {
                Some(DealEntry::In) => {
                    open.insert(position);
                }
                Some(DealEntry::Out | DealEntry::OutBy) => {
                    open.remove(position);
                }
                _ => {}
            }
        }
        peak_balance = peak_balance.max(balance);
        if open.is_empty() {
            peak_flat_equity = peak_flat_equity.max(balance);
        }
    }
    Some(Peaks {
        starting_capital: Some(starting_capital.unwrap_or(current.balance)),
        peak_balance: Some(peak_balance.max(current.balance)),
        peak_equity: Some(peak_flat_equity.max(current.equity)),
    })
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

    fn deal(id: &str, minute: i64, pl: Decimal, entry: Option<DealEntry>) -> Deal {
        use crate::domain::DealKind;
        Deal {
            id: id.into(),
            kind: if entry.is_some() {
                DealKind::Buy
            } else {
                DealKind::Balance
            },
            entry,
            symbol: None,
            time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::Duration::minutes(minute),
            volume: None,
            price: None,
            profit: pl,
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            position_id: entry.map(|_| format!("p{}", id.trim_end_matches(['i', 'o']))),
            reason: None,
        }
    }

    #[test]
    fn reconstruction_replays_the_balance_through_the_history() {
        let history = [
            deal("0", 0, dec!(100000), None),
            deal("1i", 1, dec!(0), Some(DealEntry::In)),
            deal("1o", 2, dec!(1500), Some(DealEntry::Out)),
            deal("2i", 3, dec!(0), Some(DealEntry::In)),
            deal("3i", 4, dec!(0), Some(DealEntry::In)),
            // Closed while position 3 is still open: a balance peak, not an equity one.
            deal("2o", 5, dec!(700), Some(DealEntry::Out)),
            deal("3o", 6, dec!(-2500), Some(DealEntry::Out)),
        ];
        let peaks = reconstruct(&history, &info(dec!(99700), dec!(99650))).expect("peaks");
        assert_eq!(peaks.starting_capital, Some(dec!(100000)));
        assert_eq!(peaks.peak_balance, Some(dec!(102200)));
        assert_eq!(peaks.peak_equity, Some(dec!(101500)));
    }

    #[test]
    fn reconstruction_infers_a_missing_start_of_history() {
        // The broker kept only the last deals: the replay must still end at the live balance.
        let history = [
            deal("1i", 1, dec!(0), Some(DealEntry::In)),
            deal("1o", 2, dec!(-300), Some(DealEntry::Out)),
        ];
        let peaks = reconstruct(&history, &info(dec!(49700), dec!(49700))).expect("peaks");
        assert_eq!(peaks.starting_capital, Some(dec!(50000)));
        assert_eq!(peaks.peak_balance, Some(dec!(50000)));
        assert_eq!(reconstruct(&[], &info(dec!(1), dec!(1))), None);
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
