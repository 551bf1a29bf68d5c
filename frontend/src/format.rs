//! Text for numbers and times as the dashboard shows them. Numbers follow `shared::format`
//! (one rounding rule for the dashboard and the notifications); times are the browser's.

use chrono::{DateTime, Datelike, FixedOffset, Offset, Timelike, Utc};
pub use shared::format::{grouped, money, number, percent, ratio_percent, trimmed};

/// The browser's current offset from UTC (`Date.getTimezoneOffset` is minutes *behind* UTC).
pub fn local_offset() -> FixedOffset {
    #[cfg(target_arch = "wasm32")]
    let minutes_ahead = -(js_sys::Date::new_0().get_timezone_offset() as i32);
    #[cfg(not(target_arch = "wasm32"))]
    let minutes_ahead = 0;
    FixedOffset::east_opt(minutes_ahead * 60).unwrap_or_else(|| Utc.fix())
}

/// The browser's clock (the Unix epoch outside a browser, where there is none to read).
pub fn now() -> DateTime<Utc> {
    #[cfg(target_arch = "wasm32")]
    let ms = js_sys::Date::now() as i64;
    #[cfg(not(target_arch = "wasm32"))]
    let ms = 0;
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A clock time in the browser's time zone, e.g. `14:03:27`.
pub fn clock(time: DateTime<Utc>) -> String {
    hms(&time.with_timezone(&local_offset()))
}

/// A date and time in the browser's time zone, e.g. `21 Nov 2026, 14:03:27`.
pub fn date_time(time: DateTime<Utc>) -> String {
    date_time_in(&time.with_timezone(&local_offset()))
}

// Dates and times are written from their fields with these few fixed patterns, not through
// chrono's `format` (a `strftime` interpreter: 25 KB of the browser bundle's code).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn month(date: &impl Datelike) -> &'static str {
    MONTHS[date.month0() as usize % 12]
}

/// `14:03:27` (chrono's `%H:%M:%S`).
pub fn hms(time: &impl Timelike) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// `14:03` (`%H:%M`).
pub fn hm(time: &impl Timelike) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// `21 Nov 2026` (`%-d %b %Y`).
pub fn day_month_year(date: &impl Datelike) -> String {
    format!("{} {} {}", date.day(), month(date), date.year())
}

/// `01 Nov` (`%d %b`): a fixed width, for axis labels.
pub fn day_month_padded(date: &impl Datelike) -> String {
    format!("{:02} {}", date.day(), month(date))
}

/// `Sat 21 Nov` (`%a %-d %b`).
pub fn weekday_day_month(date: &impl Datelike) -> String {
    format!(
        "{} {} {}",
        WEEKDAYS[date.weekday().num_days_from_monday() as usize],
        date.day(),
        month(date)
    )
}

/// `21 Nov 2026, 14:03:27` (`%-d %b %Y, %H:%M:%S`) in the time's own zone.
pub fn date_time_in(time: &(impl Datelike + Timelike)) -> String {
    format!("{}, {}", day_month_year(time), hms(time))
}

/// A duration until something, e.g. `3 h 05 min 09 s`, `12 min 04 s`, `9 s`; a past instant is
/// `0 s`.
pub fn countdown(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h} h {m:02} min {s:02} s")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn dates_and_times_read_as_chrono_would_write_them() {
        use chrono::{NaiveDate, TimeZone};
        let zone = FixedOffset::east_opt(-5 * 3_600).expect("offset");
        let mut times = vec![
            zone.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
            zone.with_ymd_and_hms(2026, 11, 21, 14, 3, 27)
                .single()
                .expect("time"),
            zone.with_ymd_and_hms(1999, 12, 31, 23, 59, 59)
                .single()
                .expect("time"),
        ];
        // Every month and weekday, at odd hours.
        for day in (0..400).step_by(9) {
            times.push(times[0] + chrono::Duration::hours(day * 25 + 7));
        }
        for time in &times {
            assert_eq!(hms(time), time.format("%H:%M:%S").to_string());
            assert_eq!(hm(time), time.format("%H:%M").to_string());
            assert_eq!(day_month_year(time), time.format("%-d %b %Y").to_string());
            assert_eq!(day_month_padded(time), time.format("%d %b").to_string());
            assert_eq!(
                weekday_day_month(time),
                time.format("%a %-d %b").to_string()
            );
            assert_eq!(
                date_time_in(time),
                time.format("%-d %b %Y, %H:%M:%S").to_string()
            );
        }
        let date = NaiveDate::from_ymd_opt(2026, 11, 21).expect("date");
        assert_eq!(weekday_day_month(&date), "Sat 21 Nov");
        assert_eq!(day_month_year(&date), "21 Nov 2026");
    }

    use super::*;

    #[test]
    fn countdowns_read_naturally() {
        assert_eq!(countdown(3 * 3_600 + 5 * 60 + 9), "3 h 05 min 09 s");
        assert_eq!(countdown(12 * 60 + 4), "12 min 04 s");
        assert_eq!(countdown(9), "9 s");
        assert_eq!(countdown(-5), "0 s");
    }
}
