//! cTrader's units and Riskdeck's: money is an integer scaled by `moneyDigits`, volume is in
//! cents of units (a lot is the symbol's `lotSize`, also in cents), spot prices are integers in
//! 1/100000 and other prices are doubles. Every conversion is exact or refuses: a value that does
//! not fit is an error, never a rounded guess.

use rust_decimal::Decimal;
use shared::domain::DealKind;
use std::str::FromStr;

/// `moneyDigits` when a message leaves it out.
pub const DEFAULT_MONEY_DIGITS: u32 = 2;
/// Spot prices are integers in units of 10^-5.
pub const SPOT_PRICE_DIGITS: u32 = 5;
/// The largest exponent `rust_decimal` can hold.
const MAX_DIGITS: u32 = 28;

/// A value the connector cannot convert.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    /// `moneyDigits` beyond what a decimal can hold.
    #[error("moneyDigits {0} is out of range (0 to 28)")]
    MoneyDigits(u32),
    /// A symbol without a usable lot size.
    #[error("symbol {symbol} has lot size {lot_size}; volumes cannot be converted to lots")]
    LotSize { symbol: i64, lot_size: i64 },
    /// A price that is not a finite number.
    #[error("price {0} is not a finite number")]
    Price(String),
    /// A cash-flow operation this connector does not know the direction of.
    #[error("cash-flow operation type {0} is unknown to this version of Riskdeck")]
    CashFlowType(u32),
    /// A value that has no exact integer form in the protocol's units.
    #[error("{0} has no exact form in cTrader's units")]
    Inexact(Decimal),
}

/// Money from its scaled integer.
pub fn money(value: i64, money_digits: Option<u32>) -> Result<Decimal, UnitError> {
    let digits = money_digits.unwrap_or(DEFAULT_MONEY_DIGITS);
    if digits > MAX_DIGITS {
        return Err(UnitError::MoneyDigits(digits));
    }
    // The shortest form, as MetaApi's JSON numbers read: both connectors give the same text.
    Ok(Decimal::new(value, digits).normalize())
}

/// The scaled integer of `amount` (the simulator's direction).
pub fn scaled_money(amount: Decimal, money_digits: u32) -> Result<i64, UnitError> {
    scaled(amount, money_digits)
}

/// Lots from a volume in cents, for a symbol whose lot is `lot_size` cents.
pub fn lots(volume_cents: i64, lot_size: i64, symbol: i64) -> Result<Decimal, UnitError> {
    if lot_size <= 0 {
        return Err(UnitError::LotSize { symbol, lot_size });
    }
    Ok((Decimal::from(volume_cents) / Decimal::from(lot_size)).normalize())
}

/// A volume in cents from lots (the simulator's direction).
pub fn volume_cents(lots: Decimal, lot_size: i64) -> Result<i64, UnitError> {
    let cents = lots * Decimal::from(lot_size);
    scaled(cents, 0)
}

/// A spot price from its integer in 1/100000, at the symbol's `digits`.
pub fn spot_price(raw: u64, digits: i32) -> Result<Decimal, UnitError> {
    let raw = i64::try_from(raw).map_err(|_| UnitError::Price(raw.to_string()))?;
    Ok(at_digits(Decimal::new(raw, SPOT_PRICE_DIGITS), digits))
}

/// A spot price's integer in 1/100000 (the simulator's direction).
pub fn raw_spot_price(price: Decimal) -> Result<u64, UnitError> {
    let raw = scaled(price, SPOT_PRICE_DIGITS)?;
    u64::try_from(raw).map_err(|_| UnitError::Inexact(price))
}

/// A price sent as a double, at the symbol's `digits`. The double's shortest round-trip text is
/// read as a decimal, so `1.08512` is exactly 1.08512.
pub fn price(value: f64, digits: i32) -> Result<Decimal, UnitError> {
    if !value.is_finite() {
        return Err(UnitError::Price(value.to_string()));
    }
    let decimal = Decimal::from_str(&value.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{value:e}")))
        .map_err(|_| UnitError::Price(value.to_string()))?;
    Ok(at_digits(decimal, digits))
}

/// A price as the double the protocol carries (the simulator's direction).
pub fn price_double(price: Decimal) -> f64 {
    // Every demo price has at most 5 decimals, well inside a double's 15 significant digits.
    f64::from_str(&price.to_string()).unwrap_or(f64::NAN)
}

/// The smallest price step of a symbol with `digits` decimals.
pub fn tick_size(digits: i32) -> Decimal {
    Decimal::new(1, digits.clamp(0, MAX_DIGITS as i32) as u32)
}

fn at_digits(price: Decimal, digits: i32) -> Decimal {
    let digits = digits.clamp(0, MAX_DIGITS as i32) as u32;
    // Rounded to the symbol's digits, in the shortest form (as MetaApi's JSON numbers read).
    price.round_dp(digits).normalize()
}

fn scaled(value: Decimal, digits: u32) -> Result<i64, UnitError> {
    let factor = Decimal::from(10_i64.pow(digits.min(18)));
    let scaled = value.checked_mul(factor).ok_or(UnitError::Inexact(value))?;
    if scaled.fract() != Decimal::ZERO {
        return Err(UnitError::Inexact(value));
    }
    i64::try_from(scaled).map_err(|_| UnitError::Inexact(value))
}

/// How a cash-flow operation (`ProtoOAChangeBalanceType`) moves the balance: the kind of deal
/// it is to the engine, and whether it takes money out.
pub fn cash_flow(operation_type: u32) -> Result<(DealKind, bool), UnitError> {
    use DealKind::{Balance, Bonus, Charge, Commission, Dividend, Other};
    let (kind, out) = match operation_type {
        0 => (Balance, false),                     // deposit
        1 => (Balance, true),                      // withdrawal
        3 | 5 | 7 | 8 | 11 => (Commission, false), // strategy and IB commissions received
        4 | 6 | 12 | 14 => (Commission, true),     // strategy and IB commissions paid
        9 => (Other, false),                       // rebate
        10 => (Other, true),                       // rebate reversed
        13 => (Bonus, true),                       // bonus compensation withdrawn
        15 => (Dividend, false),                   // dividends
        16 => (Dividend, true),                    // dividends
        17 | 18 | 28 | 34 | 35 => (Charge, true), // GSL charge, rollover, management, copy, inactivity fees
        19 | 38 => (Bonus, false),                // non-withdrawable or converted bonus
        20 => (Bonus, true),                      // non-withdrawable bonus removed
        21 => (Other, false),                     // swap
        22 => (Other, true),                      // swap
        27 | 29 => (Charge, false),               // management and performance fees received
        30 | 32 | 37 => (Balance, true), // to a subaccount, from a subaccount, transfer out
        31 | 33 | 36 | 39 => (Balance, false), // transfers in, negative balance protection
        other => return Err(UnitError::CashFlowType(other)),
    };
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn money_is_scaled_by_money_digits() {
        assert_eq!(money(10053099944, Some(8)), Ok(dec!(100.53099944)));
        assert_eq!(
            money(1005310, Some(2)).map(|m| m.to_string()),
            Ok("10053.1".into())
        );
        assert_eq!(money(1005310, None), Ok(dec!(10053.10)));
        assert_eq!(money(-350, Some(2)), Ok(dec!(-3.50)));
        assert_eq!(money(1, Some(29)), Err(UnitError::MoneyDigits(29)));
        assert_eq!(scaled_money(dec!(100.53099944), 8), Ok(10053099944));
        assert_eq!(scaled_money(dec!(10053.10), 2), Ok(1005310));
        assert_eq!(
            scaled_money(dec!(0.001), 2),
            Err(UnitError::Inexact(dec!(0.001)))
        );
    }

    #[test]
    fn volumes_are_cents_of_units_and_lots_follow_the_lot_size() {
        // EURUSD: a lot is 100,000 units = 10,000,000 cents; 1,000 units is 0.01 lots.
        assert_eq!(lots(100_000, 10_000_000, 1), Ok(dec!(0.01)));
        assert_eq!(lots(25_000_000, 10_000_000, 1), Ok(dec!(2.5)));
        // Gold: a lot is 100 ounces = 10,000 cents.
        assert_eq!(lots(1_500, 10_000, 2), Ok(dec!(0.15)));
        assert_eq!(
            lots(1_500, 0, 2),
            Err(UnitError::LotSize {
                symbol: 2,
                lot_size: 0
            })
        );
        assert_eq!(volume_cents(dec!(0.01), 10_000_000), Ok(100_000));
        assert_eq!(volume_cents(dec!(0.15), 10_000), Ok(1_500));
    }

    #[test]
    fn spot_prices_are_hundred_thousandths() {
        assert_eq!(spot_price(108_512, 5), Ok(dec!(1.08512)));
        assert_eq!(
            spot_price(108_512, 5).map(|p| p.to_string()),
            Ok("1.08512".into())
        );
        assert_eq!(
            spot_price(110_000, 5).map(|p| p.to_string()),
            Ok("1.1".into())
        );
        assert_eq!(spot_price(234_567_000, 2), Ok(dec!(2345.67)));
        assert_eq!(spot_price(234_567_100, 2), Ok(dec!(2345.67)));
        assert_eq!(raw_spot_price(dec!(2345.67)), Ok(234_567_000));
        assert_eq!(raw_spot_price(dec!(1.08512)), Ok(108_512));
    }

    #[test]
    fn double_prices_read_exactly_at_the_symbols_digits() {
        assert_eq!(
            price(1.08512, 5).map(|p| p.to_string()),
            Ok("1.08512".into())
        );
        assert_eq!(price(2345.1, 2).map(|p| p.to_string()), Ok("2345.1".into()));
        assert_eq!(price(0.1 + 0.2, 5).map(|p| p.to_string()), Ok("0.3".into()));
        assert_eq!(price(1e-7, 5), Ok(dec!(0)));
        assert!(price(f64::NAN, 5).is_err());
        assert!(price(f64::INFINITY, 5).is_err());
        assert_eq!(price(price_double(dec!(39123.4)), 1), Ok(dec!(39123.4)));
    }

    #[test]
    fn cash_flows_know_their_direction() {
        assert_eq!(cash_flow(0), Ok((DealKind::Balance, false)));
        assert_eq!(cash_flow(1), Ok((DealKind::Balance, true)));
        assert_eq!(cash_flow(35), Ok((DealKind::Charge, true)));
        assert_eq!(cash_flow(15), Ok((DealKind::Dividend, false)));
        assert_eq!(cash_flow(16), Ok((DealKind::Dividend, true)));
        assert_eq!(cash_flow(2), Err(UnitError::CashFlowType(2)));
        assert_eq!(cash_flow(99), Err(UnitError::CashFlowType(99)));
    }
}
