//! Equity history at chart resolution: adjacent [`EquityBucket`]s merged into fewer, keeping
//! every bucket's true minimum and maximum, so a drawdown spike survives any downsampling.
//!
//! The backend uses this after picking the finest stored resolution that fits; the browser
//! uses it to keep a growing live curve within its drawing budget.

use crate::api::EquityBucket;

/// At most `max_points` buckets covering the same samples as `buckets` (time order in, time
/// order out): runs of adjacent buckets are merged, each run as long as needed and no longer.
/// The minimum and maximum of balance and equity over everything are unchanged, and so are the
/// minimum and maximum over any run. `max_points` of zero is taken as one.
pub fn downsample(buckets: Vec<EquityBucket>, max_points: usize) -> Vec<EquityBucket> {
    let max_points = max_points.max(1);
    if buckets.len() <= max_points {
        return buckets;
    }
    let run = buckets.len().div_ceil(max_points);
    let mut out = Vec::with_capacity(max_points);
    for chunk in buckets.chunks(run) {
        let mut merged = chunk[0].clone();
        for bucket in &chunk[1..] {
            merged.merge(bucket);
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EquityPoint;
    use chrono::{DateTime, Duration, Utc};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn bucket(second: i64, balance: i64, equity: i64) -> EquityBucket {
        let time = DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(second);
        EquityBucket::from_sample(
            &EquityPoint {
                time,
                balance: Decimal::from(balance),
                equity: Decimal::from(equity),
            },
            time,
            time + Duration::seconds(1),
        )
    }

    #[test]
    fn merging_keeps_open_close_and_extremes_in_either_order() {
        let early = bucket(0, 100, 90);
        let late = bucket(5, 110, 120);
        let mut forward = early.clone();
        forward.merge(&late);
        let mut backward = late.clone();
        backward.merge(&early);
        assert_eq!(forward, backward);
        assert_eq!(forward.equity.open, Decimal::from(90));
        assert_eq!(forward.equity.close, Decimal::from(120));
        assert_eq!(forward.equity.min, Decimal::from(90));
        assert_eq!(forward.balance.max, Decimal::from(110));
        assert_eq!(forward.samples, 2);
        assert_eq!(forward.start, early.start);
        assert_eq!(forward.end, late.end);
    }

    #[test]
    fn few_buckets_are_returned_as_they_are() {
        let buckets = vec![bucket(0, 1, 1), bucket(1, 2, 2)];
        assert_eq!(downsample(buckets.clone(), 2), buckets);
        assert_eq!(downsample(Vec::new(), 0), Vec::new());
        assert_eq!(downsample(buckets, 0).len(), 1);
    }

    proptest! {
        #[test]
        fn downsampling_fits_the_budget_and_keeps_the_extremes(
            values in proptest::collection::vec((-1_000i64..1_000, -1_000i64..1_000), 1..400),
            max_points in 1usize..50,
        ) {
            let buckets: Vec<EquityBucket> = values
                .iter()
                .enumerate()
                .map(|(i, &(b, e))| bucket(i64::try_from(i).unwrap_or(0) * 2, b, e))
                .collect();
            let out = downsample(buckets.clone(), max_points);
            prop_assert!(out.len() <= max_points);
            prop_assert!(out.windows(2).all(|w| w[0].end <= w[1].start));
            let min = |b: &[EquityBucket]| b.iter().map(|b| b.equity.min).min();
            let max = |b: &[EquityBucket]| b.iter().map(|b| b.equity.max).max();
            prop_assert_eq!(min(&out), min(&buckets));
            prop_assert_eq!(max(&out), max(&buckets));
            prop_assert_eq!(
                out.iter().map(|b| b.balance.min).min(),
                buckets.iter().map(|b| b.balance.min).min()
            );
            prop_assert_eq!(out.iter().map(|b| b.samples).sum::<u64>(), buckets.len() as u64);
            prop_assert_eq!(out.first().map(|b| b.equity.open), buckets.first().map(|b| b.equity.open));
            prop_assert_eq!(out.last().map(|b| b.equity.close), buckets.last().map(|b| b.equity.close));
        }
    }
}
