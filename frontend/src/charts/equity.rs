//! The equity curve from history buckets: balance and equity over time, each bucket's lowest
//! and highest equity as a band (so a trough between two closes is never hidden), and the peak
//! equity as a dashed line, the challenge's limits as they stood at each moment (step lines),
//! and each breach marked (its position is returned, so the page can put a focusable marker
//! with the evidence over it).

use crate::format;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use shared::api::{EquityBucket, LimitPoint};

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
/// Limit lines: the daily floor, the maximum (or monthly) loss floor, the profit target.
pub const DAILY_COLOR: &str = "#e5484d";
pub const MAX_LOSS_COLOR: &str = "#9d174d";
pub const TARGET_COLOR: &str = "#7c3aed";
/// The equity band: the equity colour, mostly transparent.
pub const BAND_COLOR: &str = "rgba(15, 157, 118, 0.22)";

const BALANCE: RGBColor = RGBColor(0x2f, 0x6f, 0xdb);
const EQUITY: RGBColor = RGBColor(0x0f, 0x9d, 0x76);
const BAND: RGBAColor = RGBAColor(0x0f, 0x9d, 0x76, 0.22);
const PEAK: RGBColor = RGBColor(0xc2, 0x41, 0x0c);
const DAILY: RGBColor = RGBColor(0xe5, 0x48, 0x4d);
const MAX_LOSS: RGBColor = RGBColor(0x9d, 0x17, 0x4d);
const TARGET: RGBColor = RGBColor(0x7c, 0x3a, 0xed);
/// Grid and axis lines; the page's stylesheet recolours the text for the theme.
const GRID: RGBAColor = RGBAColor(0x80, 0x80, 0x90, 0.22);
const AXIS: RGBAColor = RGBAColor(0x80, 0x80, 0x90, 0.6);
const LABEL: RGBColor = RGBColor(0x5b, 0x64, 0x72);

/// More buckets than this are merged before drawing (keeping every bucket's lowest and highest
/// values, so drawdown spikes stay visible).
pub const MAX_BUCKETS: usize = 1_500;

/// The lines and the band to draw, in chart coordinates (seconds after the first sample; money
/// as `f64`, for plotting only).
#[derive(Debug, Default, PartialEq)]
struct Series {
    balance: Vec<(f64, f64)>,
    equity: Vec<(f64, f64)>,
    /// A closed outline: the maxima left to right, then the minima right to left.
    band: Vec<(f64, f64)>,
}

fn y_of(money: Decimal) -> f64 {
    money.to_f64().unwrap_or(0.0)
}

/// Each bucket contributes its open at its first sample and its close at its last (one point
/// when they coincide); the band runs along every bucket's maximum and minimum over the time
/// its samples span.
fn series(buckets: &[EquityBucket], first: DateTime<Utc>) -> Series {
    let x_of = |time: DateTime<Utc>| (time - first).num_milliseconds() as f64 / 1000.0;
    let mut out = Series::default();
    let mut lower = Vec::with_capacity(2 * buckets.len());
    for bucket in buckets {
        let (x0, x1) = (x_of(bucket.first), x_of(bucket.last));
        out.balance.push((x0, y_of(bucket.balance.open)));
        out.equity.push((x0, y_of(bucket.equity.open)));
        if x1 > x0 {
            out.balance.push((x1, y_of(bucket.balance.close)));
            out.equity.push((x1, y_of(bucket.equity.close)));
        }
        out.band.push((x0, y_of(bucket.equity.max)));
        out.band.push((x1, y_of(bucket.equity.max)));
        lower.push((x0, y_of(bucket.equity.min)));
        lower.push((x1, y_of(bucket.equity.min)));
    }
    out.band.extend(lower.into_iter().rev());
    out
}

/// What is drawn over the curve: the limit levels over time and the breaches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overlay<'a> {
    /// Limit levels in time order (see `HistoryResponse::limits`).
    pub limits: &'a [LimitPoint],
    /// Each breach's time and measured value.
    pub breaches: &'a [(DateTime<Utc>, Decimal)],
}

/// A drawn chart: the SVG and where each breach is, in percent of its width and height.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub svg: String,
    pub markers: Vec<(f64, f64)>,
}

/// One limit's step line, in chart coordinates.
struct Step {
    kind: String,
    points: Vec<(f64, f64)>,
}

/// Each rule's levels as a step function over `first..=last` (seconds after `first`): a level
/// holds from its instant (or the chart's start) until the next one.
fn steps(limits: &[LimitPoint], first: DateTime<Utc>, x_max: f64) -> Vec<Step> {
    let x_of =
        |time: DateTime<Utc>| ((time - first).num_milliseconds() as f64 / 1000.0).clamp(0.0, x_max);
    let mut out: Vec<(String, Step)> = Vec::new();
    for limit in limits {
        let y = y_of(limit.level);
        let x = x_of(limit.time);
        let index = match out.iter().position(|(rule, _)| *rule == limit.rule) {
            Some(index) => index,
            None => {
                out.push((
                    limit.rule.clone(),
                    Step {
                        kind: limit.kind.clone(),
                        points: Vec::new(),
                    },
                ));
                out.len() - 1
            }
        };
        let points = &mut out[index].1.points;
        if let Some(&(_, previous)) = points.last() {
            points.push((x, previous));
        }
        points.push((x, y));
    }
    out.into_iter()
        .map(|(_, mut step)| {
            if let Some(&(_, y)) = step.points.last() {
                step.points.push((x_max, y));
            }
            step
        })
        .collect()
}

/// Draws `buckets` (oldest first) as an SVG document. `peak_equity` adds a dashed horizontal
/// line; `offset` is the time zone the time axis is labelled in; `overlay` adds the limits and
/// breaches. `None` when there is nothing to draw.
pub fn render(
    buckets: &[EquityBucket],
    peak_equity: Option<Decimal>,
    offset: FixedOffset,
    size: (u32, u32),
    overlay: Overlay<'_>,
) -> Option<Chart> {
    let merged;
    let buckets = if buckets.len() > MAX_BUCKETS {
        merged = shared::history::downsample(buckets.to_vec(), MAX_BUCKETS);
        &merged[..]
    } else {
        buckets
    };
    let first = buckets.first()?.first;
    let last = buckets.iter().map(|b| b.last).max()?;
    let series = series(buckets, first);
    let peak = peak_equity.map(y_of);
    let span_secs = (last - first).num_milliseconds() as f64 / 1000.0;
    let steps = steps(overlay.limits, first, span_secs.max(0.0));
    let breaches: Vec<(f64, f64)> = overlay
        .breaches
        .iter()
        .filter(|(time, _)| *time >= first && *time <= last)
        .map(|(time, value)| {
            (
                (*time - first).num_milliseconds() as f64 / 1000.0,
                y_of(*value),
            )
        })
        .collect();

    let span = (last - first).num_milliseconds() as f64 / 1000.0;
    let (x_min, x_max) = if span > 0.0 {
        (0.0, span)
    } else {
        (-60.0, 60.0)
    };
    // The band holds every extreme of equity; balance's come from the buckets.
    let (y_min, y_max) = y_range(
        series
            .band
            .iter()
            .map(|&(_, y)| y)
            .chain(
                buckets
                    .iter()
                    .flat_map(|b| [y_of(b.balance.min), y_of(b.balance.max)]),
            )
            .chain(peak)
            .chain(steps.iter().flat_map(|s| s.points.iter().map(|&(_, y)| y)))
            .chain(breaches.iter().map(|&(_, y)| y)),
    );

    // A clock label needs about 110 units of width to breathe.
    let max_ticks = (size.0 / 110).clamp(2, 8) as f64;
    let (ticks, step) = time_ticks(first, x_min..x_max, offset, max_ticks);
    // `01 Nov`, `01 Nov 14:05`, `14:05:09` or `14:05`.
    let (days, hours, seconds) = (step >= 86_400, span > 86_400.0, step < 60);
    let x_label = |x: &f64| {
        let time = first + Duration::milliseconds((x * 1000.0).round() as i64);
        let time = time.with_timezone(&offset);
        if days {
            format::day_month_padded(&time)
        } else if hours {
            format!("{} {}", format::day_month_padded(&time), format::hm(&time))
        } else if seconds {
            format::hms(&time)
        } else {
            format::hm(&time)
        }
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
        &series,
        peak,
        &steps,
        &breaches,
    );
    let (width, height) = (f64::from(size.0), f64::from(size.1));
    match drawn {
        Ok(markers) => {
            let markers = markers
                .into_iter()
                .map(|(x, y)| (f64::from(x) * 100.0 / width, f64::from(y) * 100.0 / height))
                .collect();
            Some(Chart { svg, markers })
        }
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
    series: &Series,
    peak: Option<f64>,
    steps: &[Step],
    breaches: &[(f64, f64)],
) -> Result<Vec<(i32, i32)>, Box<dyn std::error::Error>> {
    let mut markers = Vec::with_capacity(breaches.len());
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
    chart.draw_series(std::iter::once(Polygon::new(
        series.band.clone(),
        BAND.filled(),
    )))?;
    chart.draw_series(LineSeries::new(
        series.balance.iter().copied(),
        ShapeStyle::from(BALANCE).stroke_width(2),
    ))?;
    chart.draw_series(LineSeries::new(
        series.equity.iter().copied(),
        ShapeStyle::from(EQUITY).stroke_width(2),
    ))?;
    if let [(x, y)] = series.equity[..] {
        // A single sample is a point, not a line: mark it so the chart is not blank.
        chart.draw_series(std::iter::once(Circle::new((x, y), 4, EQUITY.filled())))?;
    }
    for step in steps {
        let (color, dashed) = match step.kind.as_str() {
            "daily_loss" => (DAILY, false),
            "profit_target" => (TARGET, true),
            _ => (MAX_LOSS, true),
        };
        let style = ShapeStyle::from(color).stroke_width(2);
        if dashed {
            chart.draw_series(DashedLineSeries::new(
                step.points.iter().copied(),
                10,
                5,
                style,
            ))?;
        } else {
            chart.draw_series(LineSeries::new(step.points.iter().copied(), style))?;
        }
    }
    for &(x, y) in breaches {
        chart.draw_series(std::iter::once(Cross::new(
            (x, y),
            7,
            DAILY.stroke_width(3),
        )))?;
        markers.push(chart.backend_coord(&(x, y)));
    }
    root.present()?;
    Ok(markers)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(
        second: i64,
        seconds: i64,
        open: i64,
        close: i64,
        min: i64,
        max: i64,
    ) -> EquityBucket {
        let at = |s: i64| DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(s);
        let money = Decimal::from;
        EquityBucket {
            start: at(second),
            end: at(second + seconds.max(1)),
            first: at(second),
            last: at(second + seconds),
            samples: 2,
            balance: shared::api::Ohlc::point(money(100_000)),
            equity: shared::api::Ohlc {
                open: money(open),
                close: money(close),
                min: money(min),
                max: money(max),
            },
        }
    }

    #[test]
    fn renders_an_svg_when_there_are_samples() {
        let utc = FixedOffset::east_opt(0).expect("offset");
        assert_eq!(
            render(&[], None, utc, size_for(960), Overlay::default()),
            None
        );
        for buckets in [
            vec![bucket(0, 0, 100_000, 100_000, 100_000, 100_000)],
            vec![
                bucket(0, 9, 100_000, 99_500, 99_000, 100_100),
                bucket(3_600, 9, 99_500, 99_000, 98_000, 99_600),
            ],
        ] {
            let svg = render(
                &buckets,
                Some(Decimal::from(100_500)),
                utc,
                size_for(960),
                Overlay::default(),
            )
            .expect("an svg")
            .svg;
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.contains("viewBox=\"0 0 960 340\""));
            assert!(svg.contains("100,000"), "money labels on the value axis");
        }
    }

    #[test]
    fn the_band_spans_every_buckets_extremes_and_lines_join_open_to_close() {
        let first = DateTime::<Utc>::UNIX_EPOCH;
        let drawn = series(
            &[
                bucket(0, 10, 100, 101, 90, 110),
                bucket(20, 0, 102, 102, 102, 102),
            ],
            first,
        );
        assert_eq!(
            drawn.equity,
            vec![(0.0, 100.0), (10.0, 101.0), (20.0, 102.0)]
        );
        assert_eq!(
            drawn.band,
            vec![
                (0.0, 110.0),
                (10.0, 110.0),
                (20.0, 102.0),
                (20.0, 102.0),
                (20.0, 102.0),
                (20.0, 102.0),
                (10.0, 90.0),
                (0.0, 90.0),
            ]
        );
    }

    #[test]
    fn many_buckets_are_merged_keeping_the_trough() {
        let mut buckets: Vec<EquityBucket> = (0..10_000)
            .map(|i| bucket(i * 10, 9, 100, 100, 100, 100))
            .collect();
        buckets[5_000].equity.min = Decimal::from(10);
        let merged = shared::history::downsample(buckets, MAX_BUCKETS);
        assert!(merged.len() <= MAX_BUCKETS);
        let drawn = series(&merged, DateTime::<Utc>::UNIX_EPOCH);
        assert!(drawn.band.iter().any(|&(_, y)| y == 10.0));
        let utc = FixedOffset::east_opt(0).expect("offset");
        assert!(render(&merged, None, utc, size_for(960), Overlay::default()).is_some());
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
    fn limits_are_steps_that_hold_until_the_next_change_and_breaches_are_placed() {
        let first = DateTime::<Utc>::UNIX_EPOCH;
        let at = |s: i64| first + Duration::seconds(s);
        let limit = |s: i64, rule: &str, level: i64| LimitPoint {
            time: at(s),
            rule: rule.into(),
            kind: "daily_loss".into(),
            level: Decimal::from(level),
        };
        let drawn = steps(
            &[limit(-50, "d", 95), limit(40, "d", 96), limit(0, "m", 90)],
            first,
            100.0,
        );
        assert_eq!(drawn.len(), 2);
        assert_eq!(
            drawn[0].points,
            vec![(0.0, 95.0), (40.0, 95.0), (40.0, 96.0), (100.0, 96.0)]
        );
        assert_eq!(drawn[1].points, vec![(0.0, 90.0), (100.0, 90.0)]);

        let utc = FixedOffset::east_opt(0).expect("offset");
        let buckets = [
            bucket(0, 50, 100_000, 99_000, 98_000, 100_000),
            bucket(60, 40, 99_000, 94_000, 94_000, 99_000),
        ];
        let breaches = [(at(100), Decimal::from(94_000))];
        let chart = render(
            &buckets,
            None,
            utc,
            size_for(960),
            Overlay {
                limits: &[limit(0, "d", 95_000)],
                breaches: &breaches,
            },
        )
        .expect("a chart");
        assert_eq!(chart.markers.len(), 1);
        let (x, y) = chart.markers[0];
        assert!(x > 50.0 && x <= 100.0 && y > 0.0 && y <= 100.0, "{x} {y}");
    }

    #[test]
    fn flat_series_gets_a_visible_band() {
        let (lo, hi) = y_range([5.0, 5.0].into_iter());
        assert!(lo < 5.0 && hi > 5.0);
        assert_eq!(y_range(std::iter::empty()), (0.0, 1.0));
    }
}
