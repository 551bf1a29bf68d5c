//! The reset clock: when a firm's trading day starts, in its own time zone.
//!
//! A firm resets its daily limits at a local wall-clock time in a named IANA time zone (FTMO:
//! midnight Europe/Prague; many US firms: 17:00 America/New_York). The UTC instant of that reset
//! moves with daylight saving, so it is computed from the zone's rules, never from a fixed
//! offset. A trading day is labelled by the local date on which it starts, or, for a reset at or
//! after noon (an evening session end), by the local date on which it ends.
//!
//! When the reset time falls into a spring-forward gap (say 02:30 on the night clocks jump from
//! 02:00 to 03:00) the reset happens at the first instant the local clock shows a later time
//! (03:00). When it falls into a fall-back overlap it happens at its first occurrence.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A daily reset instant: a local time of day in an IANA time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetClock {
    /// IANA time zone, e.g. `Europe/Prague`.
    pub time_zone: Tz,
    /// Local time of day at which a new trading day starts, e.g. `00:00:00`.
    pub local_time: NaiveTime,
}

impl ResetClock {
    /// A clock resetting at `hour:minute` local time in `time_zone`; `None` for an impossible
    /// time of day.
    pub fn new(time_zone: Tz, hour: u32, minute: u32) -> Option<Self> {
        Some(Self {
            time_zone,
            local_time: NaiveTime::from_hms_opt(hour, minute, 0)?,
        })
    }

    /// Midnight UTC.
    pub fn utc_midnight() -> Self {
        Self {
            time_zone: Tz::UTC,
            local_time: NaiveTime::MIN,
        }
    }

    /// Midnight in Europe/Prague (FTMO).
    pub fn prague_midnight() -> Self {
        Self {
            time_zone: Tz::Europe__Prague,
            local_time: NaiveTime::MIN,
        }
    }

    /// 17:00 in America/New_York (the US futures session end, and the broker-server midnight of
    /// GMT+2/GMT+3 servers, which follow New York's daylight saving).
    pub fn new_york_five_pm() -> Self {
        Self {
            time_zone: Tz::America__New_York,
            local_time: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }

    /// The UTC instant of the reset on local date `date`; `None` only outside chrono's range.
    pub fn reset_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let mut local = date.and_time(self.local_time);
        // A gap lasts at most a few hours; step a minute at a time to its end.
        for _ in 0..(48 * 60) {
            match self.time_zone.from_local_datetime(&local) {
                chrono::LocalResult::Single(at) => return Some(at.with_timezone(&Utc)),
                chrono::LocalResult::Ambiguous(first, _) => {
                    return Some(first.with_timezone(&Utc));
                }
                chrono::LocalResult::None => {
                    local = truncate_to_minute(local).checked_add_signed(TimeDelta::minutes(1))?;
                }
            }
        }
        None
    }

    /// The latest reset at or before `at` (the start of the trading day containing `at`).
    pub fn previous_reset(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut date = at.with_timezone(&self.time_zone).date_naive().succ_opt()?;
        for _ in 0..4 {
            let reset = self.reset_on(date)?;
            if reset <= at {
                return Some(reset);
            }
            date = date.pred_opt()?;
        }
        None
    }

    /// The first reset strictly after `at` (the end of the trading day containing `at`).
    pub fn next_reset(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut date = at.with_timezone(&self.time_zone).date_naive().pred_opt()?;
        for _ in 0..4 {
            let reset = self.reset_on(date)?;
            if reset > at {
                return Some(reset);
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The trading day containing `at`: labelled by the local date on which it starts when the
    /// reset is before noon (midnight Prague), by the date on which it ends when the reset is at
    /// or after noon (17:00 New York, which is midnight on a GMT+2/+3 server: the day from
    /// 17:00 on the 30th to 17:00 on the 31st is the server's 31st).
    pub fn trading_day(&self, at: DateTime<Utc>) -> Option<NaiveDate> {
        let start = self.previous_reset(at)?;
        let local = start.with_timezone(&self.time_zone);
        // A reset pushed past midnight by a gap still belongs to the date it was meant for.
        let mut date = local.date_naive();
        if local.time() < self.local_time && local.time() < NaiveTime::from_hms_opt(6, 0, 0)? {
            date = date.pred_opt()?;
        }
        if self.local_time >= NaiveTime::from_hms_opt(12, 0, 0)? {
            date = date.succ_opt()?;
        }
        Some(date)
    }

    /// Whether two trading days fall in different calendar months.
    pub fn is_new_month(previous: NaiveDate, next: NaiveDate) -> bool {
        previous.year() != next.year() || previous.month() != next.month()
    }
}

fn truncate_to_minute(local: NaiveDateTime) -> NaiveDateTime {
    let time = local.time();
    NaiveTime::from_hms_opt(
        chrono::Timelike::hour(&time),
        chrono::Timelike::minute(&time),
        0,
    )
    .map_or(local, |t| local.date().and_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    fn clock(tz: Tz, hour: u32, minute: u32) -> ResetClock {
        ResetClock::new(tz, hour, minute).expect("clock")
    }

    #[track_caller]
    fn check(clock: ResetClock, at: &str, previous: &str, next: &str, day: &str) {
        let at = utc(at);
        assert_eq!(
            clock.previous_reset(at),
            Some(utc(previous)),
            "previous of {at}"
        );
        assert_eq!(clock.next_reset(at), Some(utc(next)), "next of {at}");
        assert_eq!(
            clock.trading_day(at),
            Some(day.parse().expect("date")),
            "day of {at}"
        );
    }

    #[test]
    fn resets_follow_the_zone_across_daylight_saving() {
        let prague = ResetClock::prague_midnight();
        let new_york = ResetClock::new_york_five_pm();
        let utc_clock = ResetClock::utc_midnight();
        // Prague winter: midnight is 23:00 UTC.
        check(
            prague,
            "2026-01-15T12:00:00Z",
            "2026-01-14T23:00:00Z",
            "2026-01-15T23:00:00Z",
            "2026-01-15",
        );
        // Spring forward on 2026-03-29 (02:00 -> 03:00): that day is 23 hours long.
        check(
            prague,
            "2026-03-29T10:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z",
            "2026-03-29",
        );
        check(
            prague,
            "2026-03-29T22:00:00Z",
            "2026-03-29T22:00:00Z",
            "2026-03-30T22:00:00Z",
            "2026-03-30",
        );
        check(
            prague,
            "2026-03-29T21:59:59Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z",
            "2026-03-29",
        );
        // Fall back on 2026-10-25 (03:00 -> 02:00): that day is 25 hours long.
        check(
            prague,
            "2026-10-25T12:00:00Z",
            "2026-10-24T22:00:00Z",
            "2026-10-25T23:00:00Z",
            "2026-10-25",
        );
        check(
            prague,
            "2026-10-25T22:30:00Z",
            "2026-10-24T22:00:00Z",
            "2026-10-25T23:00:00Z",
            "2026-10-25",
        );
        // New York 17:00: EST is UTC-5, EDT UTC-4; DST starts 2026-03-08, ends 2026-11-01. The
        // day is named by the date on which it ends (the GMT+2/+3 server date).
        check(
            new_york,
            "2026-03-06T23:00:00Z",
            "2026-03-06T22:00:00Z",
            "2026-03-07T22:00:00Z",
            "2026-03-07",
        );
        check(
            new_york,
            "2026-03-08T12:00:00Z",
            "2026-03-07T22:00:00Z",
            "2026-03-08T21:00:00Z",
            "2026-03-08",
        );
        check(
            new_york,
            "2026-03-08T21:00:00Z",
            "2026-03-08T21:00:00Z",
            "2026-03-09T21:00:00Z",
            "2026-03-09",
        );
        check(
            new_york,
            "2026-10-31T21:00:00Z",
            "2026-10-31T21:00:00Z",
            "2026-11-01T22:00:00Z",
            "2026-11-01",
        );
        check(
            new_york,
            "2026-11-01T21:30:00Z",
            "2026-10-31T21:00:00Z",
            "2026-11-01T22:00:00Z",
            "2026-11-01",
        );
        // UTC never moves.
        check(
            utc_clock,
            "2026-03-29T00:00:00Z",
            "2026-03-29T00:00:00Z",
            "2026-03-30T00:00:00Z",
            "2026-03-29",
        );
        // A reset inside the spring-forward gap happens when the gap ends (03:00 CEST = 01:00 UTC).
        let gap = clock(Tz::Europe__Prague, 2, 30);
        check(
            gap,
            "2026-03-29T02:00:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-29",
        );
        check(
            gap,
            "2026-03-29T00:59:00Z",
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-28",
        );
        // A reset inside the fall-back overlap happens at its first occurrence (02:30 CEST).
        check(
            gap,
            "2026-10-25T00:45:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
            "2026-10-25",
        );
    }

    #[test]
    fn impossible_time_of_day_is_refused() {
        assert_eq!(ResetClock::new(Tz::UTC, 24, 0), None);
        assert_eq!(ResetClock::new(Tz::UTC, 23, 60), None);
    }

    #[test]
    fn clock_serialises_with_the_zone_name() {
        let json = serde_json::to_string(&ResetClock::prague_midnight()).expect("serialise");
        assert_eq!(
            json,
            r#"{"time_zone":"Europe/Prague","local_time":"00:00:00"}"#
        );
        let back: ResetClock = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, ResetClock::prague_midnight());
    }
}
