//! When a feed is stale and when it has recovered: pure decisions, the time passed in.
//!
//! A feed is stale when no data came for `stale_after` (polls failing, or nothing pushed), or
//! when the broker answers but its last quote is older than that by its own clock (a frozen
//! terminal answers every poll with the same numbers). A stale feed is recorded recovered only
//! once data has flowed for [`recovery_hold`] (see `ChallengeRun::note_feed`).

use chrono::{DateTime, Utc};
use shared::api::FeedStatus;
use std::time::Duration;

/// How long data must flow again before a stale feed is recorded recovered: twice the time
/// it takes to go stale, so a feed that keeps failing and answering is notified once stale and
/// once recovered, not at every hiccup (see `ChallengeRun::note_feed`).
pub(super) fn recovery_hold(stale_after: Duration) -> chrono::Duration {
    stale_after
        .checked_mul(2)
        .and_then(|hold| chrono::Duration::from_std(hold).ok())
        .unwrap_or(chrono::Duration::MAX)
}

/// Whether a feed that brought no data for `silent` (its polls failed, or nothing was pushed)
/// is stale.
pub(super) fn silent_too_long(silent: Duration, stale_after: Duration) -> bool {
    silent >= stale_after
}

/// Whether a push feed turns stale now: it was live, something was pushed once, and nothing
/// since for `stale_after`.
pub(super) fn push_turns_stale(
    stale: bool,
    ever_pushed: bool,
    silent: Duration,
    stale_after: Duration,
) -> bool {
    !stale && ever_pushed && silent_too_long(silent, stale_after)
}

/// The feed of a broker that answered, from the age of its last quote by its own clock
/// (`None`: it cannot tell, and counts as live). A closed market looks the same as a frozen
/// terminal, so over a weekend the feed shows stale.
pub(super) fn quote_feed(quote_age: Option<Duration>, stale_after: Duration) -> FeedStatus {
    match quote_age {
        Some(age) if age > stale_after => FeedStatus::Stale,
        _ => FeedStatus::Live,
    }
}

/// What a successful poll records of the feed's health: whether it is stale, and why.
pub(super) fn after_poll(feed: FeedStatus) -> (bool, &'static str) {
    match feed {
        FeedStatus::Stale => (true, "the broker answers, but its quotes stand still"),
        _ => (false, "the broker's data flows again"),
    }
}

/// When data last came: the latest pushed record's time, else `now` less the time since the
/// last successful poll; `None` when none ever came.
pub(super) fn last_data(
    pushed: Option<DateTime<Utc>>,
    since_success: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (pushed, since_success) {
        (Some(time), _) => Some(time),
        (None, Some(ago)) => chrono::Duration::from_std(ago).ok().map(|ago| now - ago),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::ChallengeRun;

    const STALE_AFTER: Duration = Duration::from_secs(30);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn failed_polls_turn_the_feed_stale_after_stale_after() {
        #[track_caller]
        fn check(silent: u64, stale: bool) {
            assert_eq!(
                silent_too_long(secs(silent), STALE_AFTER),
                stale,
                "{silent} s"
            );
        }
        check(0, false);
        check(29, false);
        check(30, true);
        check(31, true);
        check(3600, true);
    }

    #[test]
    fn a_push_feed_turns_stale_once_and_only_after_a_first_push() {
        #[track_caller]
        fn check(stale: bool, ever_pushed: bool, silent: u64, turns: bool) {
            assert_eq!(
                push_turns_stale(stale, ever_pushed, secs(silent), STALE_AFTER),
                turns
            );
        }
        check(false, true, 29, false);
        check(false, true, 30, true);
        check(true, true, 300, false); // already stale: not again
        check(false, false, 300, false); // nothing pushed yet: nothing to go stale
    }

    #[test]
    fn a_quote_standing_still_longer_than_stale_after_is_stale() {
        #[track_caller]
        fn check(age: Option<u64>, feed: FeedStatus) {
            assert_eq!(quote_feed(age.map(secs), STALE_AFTER), feed, "{age:?}");
        }
        check(None, FeedStatus::Live);
        check(Some(0), FeedStatus::Live);
        check(Some(30), FeedStatus::Live);
        check(Some(31), FeedStatus::Stale);
        check(Some(7200), FeedStatus::Stale);
        assert!(after_poll(FeedStatus::Stale).0);
        assert!(!after_poll(FeedStatus::Live).0);
    }

    #[test]
    fn data_last_came_with_the_latest_push_or_the_last_poll() {
        let now: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
        let pushed = now - chrono::Duration::minutes(5);
        assert_eq!(last_data(Some(pushed), Some(secs(1)), now), Some(pushed));
        assert_eq!(
            last_data(None, Some(secs(90)), now),
            Some(now - chrono::Duration::seconds(90))
        );
        assert_eq!(last_data(None, None, now), None);
    }

    #[test]
    fn a_stale_feed_recovers_only_after_data_flowed_for_twice_stale_after() {
        assert_eq!(recovery_hold(STALE_AFTER), chrono::Duration::seconds(60));
        assert_eq!(recovery_hold(Duration::MAX), chrono::Duration::MAX);
        let challenge = shared::engine::Challenge::new(
            shared::engine::preset("ftmo-2step", 100_000.into()).expect("preset"),
        )
        .expect("challenge");
        let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
        let mut run = ChallengeRun::new(challenge, start);
        let hold = recovery_hold(STALE_AFTER);
        let at = |s: i64| start + chrono::Duration::seconds(s);
        let mut note = |stale: bool, s: i64| {
            run.note_feed(stale, at(s), "why", None, hold)
                .map(|event| event.kind)
        };
        assert_eq!(note(true, 0).as_deref(), Some("feed_stale"));
        assert_eq!(note(true, 10), None, "recorded once");
        // Data flows from 20 s; stale again at 50 s: the recovery starts over.
        assert_eq!(note(false, 20), None);
        assert_eq!(note(false, 49), None);
        assert_eq!(note(true, 50), None);
        assert_eq!(note(false, 60), None);
        assert_eq!(note(false, 119), None, "59 s of data is not enough");
        assert_eq!(note(false, 120).as_deref(), Some("feed_recovered"));
        assert_eq!(note(false, 200), None, "recorded once");
    }
}
