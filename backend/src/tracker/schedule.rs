//! When the loop polls, pauses and reads the whole deal history: pure, the time passed in.

use broker::BrokerError;
use shared::api::FeedTransport;
use std::time::Duration;
use tokio::time::Instant;

/// Whether a poll is due at `now`, on a loop ticking every `tick` (the quote interval when
/// quotes are read between polls, else the poll `interval`): the first tick, then the tick
/// nearest to `interval` after the last poll (half a tick early counts, so ticks that arrive
/// a little early do not skip a poll).
pub(super) fn poll_due(
    last_poll: Option<Instant>,
    now: Instant,
    tick: Duration,
    interval: Duration,
) -> bool {
    last_poll.is_none_or(|at| now.saturating_duration_since(at) + tick / 2 >= interval)
}

/// How long to wait after a failed poll before the next: a rate-limited broker for the time
/// it names (five intervals when it names none); any other failure not at all.
/// How long a tracker waits after the broker refused the account's credentials.
pub(super) const CREDENTIALS_PAUSE: Duration = Duration::from_secs(60);

pub(super) fn pause_after(error: &BrokerError, interval: Duration) -> Option<Duration> {
    match error {
        BrokerError::RateLimited { retry_after } => Some(retry_after.unwrap_or(interval * 5)),
        // Refused credentials stay refused until someone changes them: ask again only now and
        // then, not at every poll.
        error if error.is_credentials() => Some(CREDENTIALS_PAUSE),
        _ => None,
    }
}

/// Whether this poll reads the whole challenge's deal history (not only the recent window):
/// right after a (re)start, then every `every`.
pub(super) fn whole_history_due(last: Option<Instant>, now: Instant, every: Duration) -> bool {
    last.is_none_or(|at| now.saturating_duration_since(at) >= every)
}

/// How a streaming account's data comes now: streamed while its stream is live, and while it
/// is (re)subscribing for less than `grace`; polled as a fallback once it has been down for
/// `grace`, or at once when the broker refused it.
pub(super) fn streaming_transport(
    live: bool,
    refused: bool,
    down_for: Duration,
    grace: Duration,
) -> FeedTransport {
    if live {
        FeedTransport::Streaming
    } else if refused || down_for >= grace {
        FeedTransport::RestFallback
    } else {
        FeedTransport::Streaming
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_poll_is_due_on_the_tick_nearest_the_interval() {
        let start = Instant::now();
        // (seconds since the last poll, tick, interval, due)
        #[track_caller]
        fn check(start: Instant, since: Option<u64>, tick: u64, interval: u64, due: bool) {
            let now = start + secs(since.unwrap_or(0));
            let last = since.map(|_| start);
            assert_eq!(
                poll_due(last, now, secs(tick), secs(interval)),
                due,
                "{since:?}"
            );
        }
        check(start, None, 5, 5, true);
        check(start, Some(5), 5, 5, true);
        check(start, Some(3), 5, 5, true); // half a tick early
        check(start, Some(2), 5, 5, false);
        check(start, Some(1), 1, 5, false); // quotes between polls
        check(start, Some(4), 1, 5, false);
        check(start, Some(5), 1, 5, true);
    }

    #[test]
    fn a_rate_limited_poll_pauses_for_the_time_the_broker_names() {
        let interval = secs(2);
        let limited = |after| BrokerError::RateLimited { retry_after: after };
        assert_eq!(
            pause_after(&limited(Some(secs(7))), interval),
            Some(secs(7))
        );
        assert_eq!(pause_after(&limited(None), interval), Some(secs(10)));
        assert_eq!(pause_after(&BrokerError::Timeout, interval), None);
        let refused = BrokerError::Refused {
            code: "REFRESH_TOKEN_REFUSED".into(),
            message: "no".into(),
        };
        assert_eq!(pause_after(&refused, interval), Some(CREDENTIALS_PAUSE));
        assert_eq!(
            pause_after(&BrokerError::Unauthorized(401), interval),
            Some(CREDENTIALS_PAUSE)
        );
        let other = BrokerError::Refused {
            code: "SYMBOL_NOT_FOUND".into(),
            message: "no".into(),
        };
        assert_eq!(pause_after(&other, interval), None);
    }

    #[test]
    fn the_whole_history_is_read_first_then_every_reconcile_interval() {
        let start = Instant::now();
        let every = secs(600);
        assert!(whole_history_due(None, start, every));
        assert!(!whole_history_due(Some(start), start + secs(599), every));
        assert!(whole_history_due(Some(start), start + secs(600), every));
    }

    #[test]
    fn a_stream_down_too_long_or_refused_falls_back_to_polling() {
        use FeedTransport::{RestFallback, Streaming};
        // (live, refused, seconds down) -> transport, with a grace of 10 s
        for (live, refused, down, want) in [
            (true, false, 0, Streaming),
            (true, false, 100, Streaming),
            (false, false, 3, Streaming),
            (false, false, 10, RestFallback),
            (false, true, 0, RestFallback),
        ] {
            assert_eq!(
                streaming_transport(live, refused, secs(down), secs(10)),
                want,
                "{live} {refused} {down}"
            );
        }
    }
}
