//! When what the tracker holds must be stored: the challenge's state, the peaks and the limit
//! levels. Pure decisions, the time passed in; `persist` does the writing.

use chrono::{DateTime, Utc};
use shared::api::LimitPoint;
use shared::domain::{AccountInfo, Money};
use shared::engine::{Anchors, Challenge, ChallengeStatus};
use shared::peaks::Peaks;
use std::time::Duration;
use tokio::time::Instant;

/// An unchanged challenge state is stored at least this often.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// The parts of a challenge's state that must be stored as soon as they change.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Checkpoint {
    anchors: Anchors,
    status: ChallengeStatus,
    next_reset: Option<DateTime<Utc>>,
    events: usize,
}

impl Checkpoint {
    pub(super) fn of(challenge: &Challenge) -> Self {
        Self {
            anchors: challenge.anchors(),
            status: challenge.status(),
            next_reset: challenge.next_reset(),
            events: challenge.events().len(),
        }
    }

    /// The reset due before this checkpoint was taken.
    pub(super) fn next_reset(&self) -> Option<DateTime<Utc>> {
        self.next_reset
    }
}

/// What a poll changed besides the checkpoint.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fed {
    /// The engine raised events.
    pub(super) events: bool,
    /// Events wait to be stored (a daily summary, a feed event, a failed save).
    pub(super) unsaved_events: bool,
    /// Deals were fed.
    pub(super) deals: bool,
}

/// Whether a poll's challenge state must be stored before it is shown: what a restart could
/// not derive again from the next poll (events, deals fed, anchors, status, the day). Anything
/// else (the latest balance and equity, open positions) is refreshed by the next poll, so an
/// unchanged state is stored at most every [`CHECKPOINT_EVERY`].
pub(super) fn state_must_be_saved(
    fed: Fed,
    before: &Checkpoint,
    after: &Checkpoint,
    last_saved: Option<Instant>,
    now: Instant,
) -> bool {
    fed.events
        || fed.unsaved_events
        || fed.deals
        || before != after
        || last_saved.is_none_or(|at| now.saturating_duration_since(at) >= CHECKPOINT_EVERY)
}

/// Whether the state after quotes must be stored: quotes alone change nothing that cannot be
/// derived again, so only for events or a day they closed.
pub(super) fn quotes_must_be_saved(events: bool, day_closed: bool) -> bool {
    events || day_closed
}

/// When a day closed by data at `now` closed: at the reset that was due (`next_reset`), when
/// it is past; else `now`. A day's summary is dated there, before the data's events.
pub(super) fn closing_reset(
    next_reset: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    next_reset.filter(|at| *at <= now).unwrap_or(now)
}

/// The peaks of an account without a challenge, and whether they moved since last stored.
#[derive(Debug, Default)]
pub(super) struct TrackedPeaks {
    peaks: Peaks,
    dirty: bool,
}

impl TrackedPeaks {
    pub(super) fn peaks(&self) -> &Peaks {
        &self.peaks
    }

    /// Folds one observation in.
    pub(super) fn observe(&mut self, info: &AccountInfo) {
        self.dirty |= self.peaks.observe(info);
    }

    /// Folds in the peaks read from the store (nothing new to store).
    pub(super) fn restore(&mut self, stored: &Peaks) {
        self.peaks.merge(stored);
    }

    /// Folds in peaks reconstructed from deal history (to be stored).
    pub(super) fn reconstructed(&mut self, peaks: &Peaks) {
        self.peaks.merge(peaks);
        self.dirty = true;
    }

    /// The peaks to store: only when they changed since last stored.
    pub(super) fn to_save(&self) -> Option<&Peaks> {
        self.dirty.then_some(&self.peaks)
    }

    /// The peaks [`TrackedPeaks::to_save`] gave are stored.
    pub(super) fn saved(&mut self) {
        self.dirty = false;
    }
}

/// The limit levels (rule, kind, level) that differ from the ones stored, as points at `now`.
pub(super) fn changed_limits<'a>(
    levels: impl Iterator<Item = (&'a str, &'static str, Money)>,
    stored: &[(String, Money)],
    now: DateTime<Utc>,
) -> Vec<LimitPoint> {
    levels
        .filter(|(rule, _, level)| !stored.iter().any(|(at, l)| at == rule && l == level))
        .map(|(rule, kind, level)| LimitPoint {
            time: now,
            rule: rule.to_owned(),
            kind: kind.to_owned(),
            level,
        })
        .collect()
}

/// Remembers the `points` stored as each rule's latest level.
pub(super) fn remember_limits(stored: &mut Vec<(String, Money)>, points: Vec<LimitPoint>) {
    for point in points {
        match stored.iter_mut().find(|(rule, _)| *rule == point.rule) {
            Some(entry) => entry.1 = point.level,
            None => stored.push((point.rule, point.level)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge() -> Challenge {
        Challenge::new(shared::engine::preset("ftmo-2step", 100_000.into()).expect("preset"))
            .expect("challenge")
    }

    fn info(balance: i64, equity: i64) -> AccountInfo {
        AccountInfo {
            balance: balance.into(),
            equity: equity.into(),
            margin: 0.into(),
            free_margin: equity.into(),
            margin_level: None,
            currency: "USD".to_owned(),
            leverage: None,
            credit: 0.into(),
        }
    }

    #[test]
    fn the_state_is_saved_when_it_changed_or_the_checkpoint_is_due() {
        let now = Instant::now();
        let same = Checkpoint::of(&challenge());
        let bigger =
            Challenge::new(shared::engine::preset("ftmo-2step", 200_000.into()).expect("preset"))
                .expect("challenge");
        let moved = Checkpoint::of(&bigger); // other anchors
        let recent = Some(now);
        let none = Fed::default();
        #[track_caller]
        fn check(fed: Fed, after: &Checkpoint, last: Option<Instant>, now: Instant, save: bool) {
            let before = Checkpoint::of(&challenge());
            assert_eq!(state_must_be_saved(fed, &before, after, last, now), save);
        }
        check(none, &same, recent, now, false);
        check(
            Fed {
                events: true,
                ..none
            },
            &same,
            recent,
            now,
            true,
        );
        check(
            Fed {
                unsaved_events: true,
                ..none
            },
            &same,
            recent,
            now,
            true,
        );
        check(
            Fed {
                deals: true,
                ..none
            },
            &same,
            recent,
            now,
            true,
        );
        check(none, &moved, recent, now, true);
        check(none, &same, None, now, true); // never saved
        check(
            none,
            &same,
            recent,
            now + CHECKPOINT_EVERY - Duration::from_secs(1),
            false,
        );
        check(none, &same, recent, now + CHECKPOINT_EVERY, true);
        assert!(quotes_must_be_saved(true, false));
        assert!(quotes_must_be_saved(false, true));
        assert!(!quotes_must_be_saved(false, false));
    }

    #[test]
    fn a_closed_day_is_dated_at_its_reset_when_past() {
        let now: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
        let past = now - chrono::Duration::hours(1);
        let future = now + chrono::Duration::hours(1);
        assert_eq!(closing_reset(Some(past), now), past);
        assert_eq!(closing_reset(Some(now), now), now);
        assert_eq!(closing_reset(Some(future), now), now);
        assert_eq!(closing_reset(None, now), now);
    }

    #[test]
    fn peaks_are_saved_only_when_they_changed() {
        let mut peaks = TrackedPeaks::default();
        assert!(peaks.to_save().is_none());
        peaks.observe(&info(100_000, 100_000));
        assert!(peaks.to_save().is_some(), "first observation");
        peaks.saved();
        peaks.observe(&info(100_000, 100_000));
        assert!(peaks.to_save().is_none(), "unchanged");
        peaks.observe(&info(100_000, 99_000));
        assert!(peaks.to_save().is_none(), "below the peak");
        peaks.observe(&info(100_000, 101_000));
        assert_eq!(
            peaks.to_save().and_then(|p| p.peak_equity),
            Some(101_000.into()),
            "a new peak"
        );
        peaks.saved();
        peaks.restore(&Peaks::default());
        assert!(peaks.to_save().is_none(), "read from the store");
        peaks.reconstructed(&Peaks::default());
        assert!(peaks.to_save().is_some(), "reconstructed from history");
    }

    #[test]
    fn only_limit_levels_that_moved_are_stored() {
        let now: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
        let levels = [
            ("max_loss", "floor", Money::from(90_000)),
            ("daily_loss", "floor", Money::from(95_000)),
        ];
        let mut stored = Vec::new();
        let first = changed_limits(levels.into_iter(), &stored, now);
        assert_eq!(first.len(), 2, "nothing stored yet");
        remember_limits(&mut stored, first);
        assert!(changed_limits(levels.into_iter(), &stored, now).is_empty());
        let moved = [levels[0], ("daily_loss", "floor", Money::from(96_000))];
        let changed = changed_limits(moved.into_iter(), &stored, now);
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].rule.as_str(), changed[0].level),
            ("daily_loss", 96_000.into())
        );
        remember_limits(&mut stored, changed);
        assert_eq!(stored.len(), 2, "replaced, not added");
        assert!(changed_limits(moved.into_iter(), &stored, now).is_empty());
    }
}
