//! The equity curve: balance and equity over time, with the peak equity as a dashed line.

use crate::format;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use shared::api::EquityPoint;

/// The drawing size in SVG user units (the page scales the picture to its container's width)
/// for a container about `width` CSS pixels wide, so text stays near its nominal size.
pub fn size_for(width: u32) -> (u32, u32) {
    let width = width.clamp(300, 1400);
    let height = if width < 600 { 260 } else { 340 };
    (width, height)
}

/// Line colours, shared with the HTML legend next to the chart. Mid-tone on purpose: they read
/// on both the light and the dark theme.
pub const BALANCE_COLOR: &str = "#2f6fdb";
pub const EQUITY_COLOR: &str = "#0f9d76";
pub const PEAK_COLOR: &str = "#c2410c";

const BALANCE: RGBColor = RGBColor(0x2f, 0x6f, 0xdb);
const EQUITY: RGBColor = RGBColor(0x0f, 0x9d, 0x76);
const PEAK: RGBColor = RGBColor(0xc2, 0x41, 0x0c);
/// Grid and axis lines; the page's stylesheet recolours the text for the theme.
const GRID: RGBAColor = RGBAColor(0x80, 0x80, 0x90, 0.22);
const AXIS: RGBAColor = RGBAColor(0x80, 0x80, 0x90, 0.6);
const LABEL: RGBColor = RGBColor(0x5b, 0x64, 0x72);

/// More samples than this per line are thinned before drawing (keeping each bucket's lowest and
/// highest value, so drawdown spikes stay visible).
const MAX_BUCKETS: usize = 720;

/// Draws `points` (oldest first) as an SVG document. `peak_equity` adds a dashed horizontal line;
/// `offset` is the time zone the time axis is labelled in. `None` when there is nothing to draw.
pub fn render(
    points: &[EquityPoint],
    peak_equity: Option<Decimal>,
    offset: FixedOffset,
    size: (u32, u32),
) -> Option<String> {
    let first = points.first()?.time;
    let last = points.last()?.time;
    let x_of = |time: DateTime<Utc>| (time - first).num_milliseconds() as f64 / 1000.0;
    let y_of = |money: Decimal| money.to_f64().unwrap_or(0.0);

    let balance = thin(
        points
            .iter()
            .map(|p| (x_of(p.time), y_of(p.balance)))
            .collect(),
    );
    let equity = thin(
        points
            .iter()
            .map(|p| (x_of(p.time), y_of(p.equity)))
            .collect(),
    );
    let peak = peak_equity.map(y_of);

    let span = x_of(last);
    let (x_min, x_max) = if span > 0.0 {
        (0.0, span)
    } else {
        (-60.0, 60.0)
    };
    let (y_min, y_max) = y_range(
        balance
            .iter()
            .chain(equity.iter())
            .map(|&(_, y)| y)
            .chain(peak),
    );

    // A clock label needs about 110 units of width to breathe.
    let max_ticks = (size.0 / 110).clamp(2, 8) as f64;
    let (ticks, step) = time_ticks(first, x_min..x_max, offset, max_ticks);
    let label_format = if step >= 86_400 {
        "%d %b"
    } else if span > 86_400.0 {
        "%d %b %H:%M"
    } else if step < 60 {
        "%H:%M:%S"
    } else {
        "%H:%M"
    };
    let x_label = |x: &f64| {
        let time = first + Duration::milliseconds((x * 1000.0).round() as i64);
        time.with_timezone(&offset).format(label_format).to_string()
    };
    let y_decimals = if y_max - y_min >= 50.0 { 0 } else { 2 };
    let y_label = |y: &f64| {
        Decimal::from_f64_retain(*y)
            .map(|value| format::grouped(value, y_decimals))
            .unwrap_or_default()
    };

    let mut svg = String::new();
    let drawn = draw(
        &mut svg,
        size,
        Frame {
            x: x_min..x_max,
            x_ticks: ticks,
            y: y_min..y_max,
            x_label: &x_label,
            y_label: &y_label,
        },
        &balance,
        &equity,
        peak,
    );
    match drawn {
        Ok(()) => Some(svg),
        Err(error) => {
            leptos::logging::warn!("cannot draw the equity chart: {error}");
            None
        }
    }
}

struct Frame<'a> {
    x: std::ops::Range<f64>,
    x_ticks: Vec<f64>,
    y: std::ops::Range<f64>,
    x_label: &'a dyn Fn(&f64) -> String,
    y_label: &'a dyn Fn(&f64) -> String,
}

fn draw(
    svg: &mut String,
    size: (u32, u32),
    frame: Frame<'_>,
    balance: &[(f64, f64)],
    equity: &[(f64, f64)],
    peak: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    let (x_min, x_max) = (frame.x.start, frame.x.end);
    let mut chart = ChartBuilder::on(&root)
        .margin_top(16)
        .margin_right(24)
        .margin_bottom(8)
        .margin_left(8)
        .x_label_area_size(36)
        .y_label_area_size(if size.0 < 600 { 72 } else { 92 })
        .build_cartesian_2d(
            TimeAxis {
                inner: frame.x.into(),
                ticks: frame.x_ticks,
            },
            frame.y,
        )?;

    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .bold_line_style(ShapeStyle::from(GRID).stroke_width(1))
        .axis_style(ShapeStyle::from(AXIS).stroke_width(1))
        .y_labels(6)
        .x_label_formatter(frame.x_label)
        .y_label_formatter(frame.y_label)
        .label_style(
            ("sans-serif", if size.0 < 600 { 13 } else { 14 })
                .into_font()
                .color(&LABEL),
        )
        .draw()?;

    if let Some(peak) = peak {
        chart.draw_series(DashedLineSeries::new(
            [(x_min, peak), (x_max, peak)],
            8,
            6,
            ShapeStyle::from(PEAK).stroke_width(1),
        ))?;
    }
    chart.draw_series(LineSeries::new(
        balance.iter().copied(),
        ShapeStyle::from(BALANCE).stroke_width(2),
    ))?;
    chart.draw_series(LineSeries::new(
        equity.iter().copied(),
        ShapeStyle::from(EQUITY).stroke_width(2),
    ))?;
    if let [(x, y)] = equity {
        // A single sample is a point, not a line: mark it so the chart is not blank.
        chart.draw_series(std::iter::once(Circle::new((*x, *y), 4, EQUITY.filled())))?;
    }
    root.present()?;
    Ok(())
}

/// Seconds after the first sample, with tick marks chosen by `time_ticks` instead of plotters'
/// evenly spaced numbers (which fall on odd clock times).
struct TimeAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for TimeAxis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Tick positions (seconds after `first`) on round local times, e.g. every 30 minutes on the
/// hour and half hour, at most about `max_ticks` of them; also returns the step in seconds.
fn time_ticks(
    first: DateTime<Utc>,
    range: std::ops::Range<f64>,
    offset: FixedOffset,
    max_ticks: f64,
) -> (Vec<f64>, i64) {
    const STEPS: [i64; 22] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
        86_400, 172_800, 604_800, 2_419_200, 31_536_000,
    ];
    let span = (range.end - range.start).max(1.0);
    let step = STEPS
        .iter()
        .copied()
        .find(|&step| span / step as f64 <= max_ticks)
        .unwrap_or(31_536_000);
    // Milliseconds of `first` on the local wall clock, so ticks fall on local round times.
    let local_first_ms = first.timestamp_millis() + i64::from(offset.local_minus_utc()) * 1_000;
    let step_ms = step * 1_000;
    let start_ms = local_first_ms + (range.start * 1000.0) as i64;
    let end_ms = local_first_ms + (range.end * 1000.0) as i64;
    let mut tick_ms = start_ms.div_euclid(step_ms) * step_ms;
    if tick_ms < start_ms {
        tick_ms += step_ms;
    }
    let mut ticks = Vec::new();
    while tick_ms <= end_ms {
        ticks.push((tick_ms - local_first_ms) as f64 / 1000.0);
        tick_ms += step_ms;
    }
    (ticks, step)
}

/// The value range with some air above and below; a flat series gets a band around its value.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !min.is_finite() || !max.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if max > min {
        (max - min) * 0.08
    } else {
        (min.abs() * 0.001).max(1.0)
    };
    (min - pad, max + pad)
}

/// Keeps at most `2 * MAX_BUCKETS` points: for each bucket of consecutive samples, its lowest and
/// highest one, in time order.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= 2 * MAX_BUCKETS {
        return points;
    }
    let bucket = points.len().div_ceil(MAX_BUCKETS);
    let mut out = Vec::with_capacity(2 * MAX_BUCKETS + 1);
    for chunk in points.chunks(bucket) {
        let lowest = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(i, _)| i);
        let highest = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
            .map(|(i, _)| i);
        if let (Some(lo), Some(hi)) = (lowest, highest) {
            let (a, b) = (lo.min(hi), lo.max(hi));
            out.push(chunk[a]);
            if b != a {
                out.push(chunk[b]);
            }
        }
    }
    // Always end on the newest sample, so the line reaches the right edge.
    if let (Some(last), Some(newest)) = (out.last().copied(), points.last().copied())
        && last != newest
    {
        out.push(newest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_svg_when_there_are_samples() {
        let utc = FixedOffset::east_opt(0).expect("offset");
        assert_eq!(render(&[], None, utc, size_for(960)), None);
        let point = |second: i64, equity: i64| EquityPoint {
            time: DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(second),
            balance: Decimal::from(100_000),
            equity: Decimal::from(equity),
        };
        for points in [
            vec![point(0, 100_000)],
            vec![point(0, 100_000), point(3_600, 99_000)],
        ] {
            let svg =
                render(&points, Some(Decimal::from(100_500)), utc, size_for(960)).expect("an svg");
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.contains("viewBox=\"0 0 960 340\""));
            assert!(svg.contains("100,000"), "money labels on the value axis");
        }
    }

    #[test]
    fn thinning_keeps_the_extremes() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 100.0)).collect();
        points[5_000].1 = 10.0;
        let thinned = thin(points);
        assert!(thinned.len() <= 2 * MAX_BUCKETS + 1);
        assert!(thinned.iter().any(|&(_, y)| y == 10.0));
        assert_eq!(thinned.last(), Some(&(9_999.0, 100.0)));
    }

    #[test]
    fn time_ticks_fall_on_round_local_times() {
        let first = DateTime::parse_from_rfc3339("2026-11-21T09:31:10Z")
            .expect("time")
            .with_timezone(&Utc);
        let cet = FixedOffset::east_opt(3_600).expect("offset");
        // Five hours: one tick per hour, on the hour in UTC+1.
        let (ticks, step) = time_ticks(first, 0.0..5.0 * 3_600.0, cet, 7.0);
        assert_eq!(step, 3_600);
        assert_eq!(ticks.first(), Some(&(28.0 * 60.0 + 50.0)));
        assert_eq!(ticks.len(), 5);
        // Twenty seconds just after tracking starts: ticks every 5 s, on round seconds.
        let (ticks, step) = time_ticks(first, 0.0..20.0, cet, 7.0);
        assert_eq!(step, 5);
        assert_eq!(ticks, vec![0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    #[test]
    fn flat_series_gets_a_visible_band() {
        let (lo, hi) = y_range([5.0, 5.0].into_iter());
        assert!(lo < 5.0 && hi > 5.0);
        assert_eq!(y_range(std::iter::empty()), (0.0, 1.0));
    }
}
