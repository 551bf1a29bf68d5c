//! Numbers as people read them, the same in the browser and in every notification.
//!
//! **One rounding rule**: an amount shown with `n` decimals is rounded half away from zero
//! (`0.005` shows as `0.01`, `-12.345` as `-12.35`), as a trader rounds by hand and as the
//! firms' own dashboards show; a result that rounds to zero never shows a minus sign. Money has
//! two decimals and `,` thousands separators and is formatted from the `Decimal` itself, never
//! through `f64`.

use rust_decimal::{Decimal, RoundingStrategy};

/// A dash, shown where there is no value (no peak yet, no rule of that kind).
pub const NONE: &str = "–";

/// `value` rounded to `decimals` places by the one rule (half away from zero), never `-0`.
pub fn round(value: Decimal, decimals: u32) -> Decimal {
    let mut rounded =
        value.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    rounded
}

/// `value` rounded to at most `decimals` places, trailing zeros dropped: `45.30` -> `45.3`.
pub fn trimmed(value: Decimal, decimals: u32) -> String {
    round(value, decimals).normalize().to_string()
}

/// `1234567.891` -> `1,234,567.89`; `-0.004` -> `0.00`.
pub fn money(amount: Decimal) -> String {
    grouped(amount, 2)
}

/// A percentage with two decimals, e.g. `4.35%`; `None` (no peak yet) shows a dash.
pub fn percent(value: Option<Decimal>) -> String {
    match value {
        Some(value) => format!("{}%", grouped(value, 2)),
        None => NONE.to_owned(),
    }
}

/// A ratio (`0.25`) as a percentage with `decimals` places (`25.0%`); `None` shows a dash.
pub fn ratio_percent(value: Option<Decimal>, decimals: u32) -> String {
    match value.and_then(|v| v.checked_mul(Decimal::ONE_HUNDRED)) {
        Some(value) => format!("{}%", grouped(value, decimals)),
        None => NONE.to_owned(),
    }
}

/// A plain number with `decimals` places; `None` shows a dash.
pub fn number(value: Option<Decimal>, decimals: u32) -> String {
    value.map_or_else(|| NONE.to_owned(), |v| grouped(v, decimals))
}

/// `amount` rounded to `decimals` places with thousands separators.
pub fn grouped(amount: Decimal, decimals: u32) -> String {
    let rounded = round(amount, decimals);
    let text = format!("{:.*}", decimals as usize, rounded.abs());
    let (int_part, frac_part) = match text.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (text.as_str(), None),
    };
    let mut out = String::with_capacity(text.len() + text.len() / 3 + 1);
    if rounded.is_sign_negative() {
        out.push('-');
    }
    for (index, digit) in int_part.chars().enumerate() {
        if index > 0 && (int_part.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(frac_part) = frac_part {
        out.push('.');
        out.push_str(frac_part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(money(d(input)), expected, "money({input})");
    }

    #[test]
    fn money_has_two_decimals_and_thousands_separators() {
        check("0", "0.00");
        check("5", "5.00");
        check("999.999", "1,000.00");
        check("1234.5", "1,234.50");
        check("100000", "100,000.00");
        check("1234567.891", "1,234,567.89");
        check("-1234567.895", "-1,234,567.90");
        check("-0.004", "0.00");
        check("-12.345", "-12.35");
        check("0.005", "0.01");
    }

    #[test]
    fn halves_round_away_from_zero_everywhere() {
        // Banker's rounding would give 0.02, 2.4 and 0: the one rule gives what people expect.
        check("0.025", "0.03");
        assert_eq!(trimmed(d("2.45"), 1), "2.5");
        assert_eq!(trimmed(d("0.5"), 0), "1");
        assert_eq!(trimmed(d("-0.04"), 1), "0");
        assert_eq!(trimmed(d("45.30"), 2), "45.3");
        assert_eq!(ratio_percent(Some(d("0.12345")), 2), "12.35%");
    }

    #[test]
    fn ratios_numbers_and_percentages_show_a_dash_without_a_value() {
        assert_eq!(ratio_percent(Some(d("0.25")), 1), "25.0%");
        assert_eq!(ratio_percent(None, 1), "–");
        assert_eq!(percent(None), "–");
        assert_eq!(percent(Some(d("4.345"))), "4.35%");
        assert_eq!(number(Some(d("1234.5")), 0), "1,235");
        assert_eq!(number(None, 0), "–");
    }
}
