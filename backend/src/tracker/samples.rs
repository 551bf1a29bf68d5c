//! The equity samples not yet written, and when they are written: pure, the time passed in.

use shared::api::EquityPoint;
use std::time::Duration;
use tokio::time::Instant;

/// Equity samples are written in batches of up to ten polls, and at least this often: one
/// transaction folds a batch into every bucket tier. A crash loses at most that much of the
/// equity chart, never a peak or a breach (those live in the engine state, stored before they
/// are shown). The first sample is written at once, so a new chart is never empty.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// The most samples kept while writes fail (an hour of one-second polls): a database down for
/// long must not grow memory without bound.
pub(super) const KEEP: usize = 3600;

/// Samples waiting to be written, oldest first.
#[derive(Debug, Default)]
pub(super) struct Samples {
    points: Vec<EquityPoint>,
    /// When the oldest unwritten sample was taken (or the buffer was first asked about).
    since: Option<Instant>,
    /// When samples were last written.
    last_flush: Option<Instant>,
}

impl Samples {
    /// Buffers one sample.
    pub(super) fn push(&mut self, point: EquityPoint) {
        self.points.push(point);
    }

    /// Forgets every sample and when they were written.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The samples to write at `now`, if they are due: the very first at once, then when the
    /// oldest is ten poll intervals (at most [`FLUSH_EVERY`]) old, or whenever `force`d.
    /// Nothing when the buffer is empty.
    pub(super) fn due(
        &mut self,
        now: Instant,
        poll_interval: Duration,
        force: bool,
    ) -> Option<&[EquityPoint]> {
        let first = self.since.is_none() && self.last_flush.is_none();
        let since = *self.since.get_or_insert(now);
        let every = (poll_interval * 10).min(FLUSH_EVERY);
        let due = force || first || now.saturating_duration_since(since) >= every;
        (!self.points.is_empty() && due).then_some(self.points.as_slice())
    }

    /// The samples [`Samples::due`] gave were written at `now`.
    pub(super) fn written(&mut self, now: Instant) {
        self.points.clear();
        self.since = None;
        self.last_flush = Some(now);
    }

    /// Writing failed: the samples stay for the next attempt, the newest [`KEEP`] of them.
    pub(super) fn not_written(&mut self) {
        let excess = self.points.len().saturating_sub(KEEP);
        self.points.drain(..excess);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A sample at second `n` with balance and equity `n`.
    pub(in crate::tracker) fn point(n: i64) -> EquityPoint {
        EquityPoint {
            time: chrono::DateTime::from_timestamp(n, 0).expect("time"),
            balance: n.into(),
            equity: n.into(),
        }
    }

    const POLL: Duration = Duration::from_secs(5);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_first_sample_is_written_at_once() {
        let start = Instant::now();
        assert!(
            Samples::default().due(start, POLL, true).is_none(),
            "nothing to write"
        );
        let mut samples = Samples::default();
        samples.push(point(1));
        assert_eq!(samples.due(start, POLL, false).map(<[_]>::len), Some(1));
        samples.written(start);
        samples.push(point(2));
        assert!(
            samples.due(start + secs(1), POLL, false).is_none(),
            "batched"
        );
    }

    #[test]
    fn samples_are_written_when_the_oldest_is_due_or_when_forced() {
        // (seconds since the oldest sample, poll interval, forced, written)
        #[track_caller]
        fn check(after: u64, poll: Duration, force: bool, written: bool) {
            let start = Instant::now();
            let mut samples = Samples::default();
            samples.push(point(0));
            samples.due(start, poll, false);
            samples.written(start);
            samples.push(point(1));
            assert!(samples.due(start, poll, false).is_none(), "just taken");
            samples.push(point(2));
            let due = samples.due(start + secs(after), poll, force);
            assert_eq!(
                due.map(<[_]>::len),
                written.then_some(2),
                "{after} s, {poll:?}"
            );
        }
        check(9, POLL, false, false);
        check(10, POLL, false, true); // FLUSH_EVERY caps ten polls of 5 s
        check(0, POLL, true, true);
        check(2, Duration::from_millis(200), false, true); // ten polls of 0.2 s
        check(1, Duration::from_millis(200), false, false);
    }

    #[test]
    fn failed_writes_keep_the_newest_hour_of_samples() {
        let start = Instant::now();
        let mut samples = Samples::default();
        for n in 0..4000 {
            samples.push(point(n));
        }
        samples.not_written();
        let kept = samples.due(start, POLL, true).expect("still due");
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept.first(), Some(&point(400)), "the oldest dropped");
        samples.not_written();
        assert_eq!(samples.due(start, POLL, true).map(<[_]>::len), Some(KEEP));
    }
}
