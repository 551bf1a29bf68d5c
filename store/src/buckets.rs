//! Equity buckets: the tiers they are kept at, and the folding of samples into them.
//!
//! Every sample is folded into one bucket of every tier. A bucket keeps the open, close, minimum
//! and maximum of balance and equity, so a chart drawn from any tier shows every peak and
//! trough. Fine tiers are pruned after their horizon ([`Tier::keep_ms`]); the coarsest tier is
//! kept for ever, so the whole history stays available at day resolution.
//!
//! Merging decimals happens here in Rust, exactly; the database only stores decimal text.

use super::{StoreError, decimal, time_from_ms};
use shared::api::{EquityBucket, EquityPoint, Ohlc};
use std::collections::BTreeMap;

/// One resolution at which equity buckets are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Name in documents and exports, e.g. `10s`.
    pub name: &'static str,
    /// Bucket width in milliseconds.
    pub resolution_ms: i64,
    /// Buckets starting longer ago than this are pruned; `None`: kept for ever.
    pub keep_ms: Option<i64>,
}

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The tiers, finest first. docs/OPERATIONS.md describes this policy; keep them in step.
pub const TIERS: [Tier; 5] = [
    Tier {
        name: "10s",
        resolution_ms: 10 * SECOND,
        keep_ms: Some(2 * DAY),
    },
    Tier {
        name: "1m",
        resolution_ms: MINUTE,
        keep_ms: Some(14 * DAY),
    },
    Tier {
        name: "15m",
        resolution_ms: 15 * MINUTE,
        keep_ms: Some(180 * DAY),
    },
    Tier {
        name: "4h",
        resolution_ms: 4 * HOUR,
        keep_ms: Some(3 * 365 * DAY),
    },
    Tier {
        name: "1d",
        resolution_ms: DAY,
        keep_ms: None,
    },
];

/// The coarsest tier: never pruned, so it spans the whole history.
pub const COARSEST: Tier = TIERS[TIERS.len() - 1];

/// The start of the bucket of width `resolution_ms` holding instant `t_ms`.
pub fn bucket_start(t_ms: i64, resolution_ms: i64) -> i64 {
    t_ms.div_euclid(resolution_ms) * resolution_ms
}

/// `points` folded into one bucket per tier and bucket start, keyed `(resolution, start)`.
/// Samples are folded in the order given, so of two at the same instant the later one closes.
pub fn fold(points: &[EquityPoint]) -> Result<BTreeMap<(i64, i64), EquityBucket>, StoreError> {
    let mut buckets: BTreeMap<(i64, i64), EquityBucket> = BTreeMap::new();
    for point in points {
        let t_ms = point.time.timestamp_millis();
        for tier in TIERS {
            let start = bucket_start(t_ms, tier.resolution_ms);
            let sample = EquityBucket::from_sample(
                point,
                time_from_ms(start)?,
                time_from_ms(start + tier.resolution_ms)?,
            );
            buckets
                .entry((tier.resolution_ms, start))
                .and_modify(|bucket| bucket.merge(&sample))
                .or_insert(sample);
        }
    }
    Ok(buckets)
}

/// A stored bucket: its tier's resolution, start, first and last sample time, sample count, then
/// balance and equity as open, close, min, max (decimal text).
pub type Row = (
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// The columns of [`Row`], in order, for `SELECT`s.
pub const COLUMNS: &str = "resolution_ms, start_ms, first_ms, last_ms, samples, \
     balance_open, balance_close, balance_min, balance_max, \
     equity_open, equity_close, equity_min, equity_max";

/// Reads a stored row.
pub fn from_row(row: Row) -> Result<EquityBucket, StoreError> {
    let (resolution_ms, start, first, last, samples, bo, bc, bmin, bmax, eo, ec, emin, emax) = row;
    let money = |column, text: String| decimal(column, Some(text)).map(Option::unwrap_or_default);
    Ok(EquityBucket {
        start: time_from_ms(start)?,
        end: time_from_ms(start.saturating_add(resolution_ms))?,
        first: time_from_ms(first)?,
        last: time_from_ms(last)?,
        samples: u64::try_from(samples).map_err(|_| StoreError::Corrupt {
            column: "samples",
            value: samples.to_string(),
        })?,
        balance: Ohlc {
            open: money("balance_open", bo)?,
            close: money("balance_close", bc)?,
            min: money("balance_min", bmin)?,
            max: money("balance_max", bmax)?,
        },
        equity: Ohlc {
            open: money("equity_open", eo)?,
            close: money("equity_close", ec)?,
            min: money("equity_min", emin)?,
            max: money("equity_max", emax)?,
        },
    })
}

/// `($1, ..., $n), ($n+1, ...)`: placeholders for a multi-row `VALUES` of `rows` rows of
/// `columns` columns.
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row `INSERT`: well under both databases' limits on bound parameters.
pub const UPSERT_CHUNK: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn tiers_are_ordered_and_nest() {
        for pair in TIERS.windows(2) {
            assert!(pair[0].resolution_ms < pair[1].resolution_ms);
            assert_eq!(pair[1].resolution_ms % pair[0].resolution_ms, 0);
        }
        assert_eq!(COARSEST.keep_ms, None);
        assert!(TIERS[..TIERS.len() - 1].iter().all(|t| t.keep_ms.is_some()));
    }

    #[test]
    fn buckets_start_on_their_resolution_before_and_after_the_epoch() {
        assert_eq!(bucket_start(0, 10_000), 0);
        assert_eq!(bucket_start(9_999, 10_000), 0);
        assert_eq!(bucket_start(10_000, 10_000), 10_000);
        assert_eq!(bucket_start(-1, 10_000), -10_000);
    }

    #[test]
    fn every_sample_lands_in_every_tier() {
        let point = |ms: i64, equity: i64| EquityPoint {
            time: time_from_ms(ms).expect("time"),
            balance: Decimal::ONE,
            equity: Decimal::from(equity),
        };
        let folded = fold(&[point(1_000, 5), point(2_000, 3), point(11_000, 9)]).expect("fold");
        // Two 10 s buckets, then one bucket in each coarser tier.
        assert_eq!(folded.len(), TIERS.len() + 1);
        let first = &folded[&(10_000, 0)];
        assert_eq!(first.samples, 2);
        assert_eq!(
            (first.equity.open, first.equity.close),
            (5.into(), 3.into())
        );
        let day = &folded[&(COARSEST.resolution_ms, 0)];
        assert_eq!(day.samples, 3);
        assert_eq!((day.equity.min, day.equity.max), (3.into(), 9.into()));
        assert_eq!(values_placeholders(2, 2), "($1, $2), ($3, $4)");
    }
}
