//! The equity curve's drawing: the SVG from `charts::equity`, the breach markers over it with
//! their evidence, and the states before there is anything to draw. In the `dashboard` chunk:
//! plotters and the chart code are a twelfth of the dashboard's code, and the curve waits for the
//! history fetch anyway, which the chunk's download runs alongside.

use crate::charts::equity;
use crate::components::{Load, Loading, rule_label};
use crate::format;
use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use rust_decimal::Decimal;
use shared::api::{ChallengeView, EquityBucket, LimitPoint};
use shared::engine::EventKind;

/// What the chart draws, all owned by the dashboard (which also feeds them live).
#[derive(Clone, Copy)]
pub struct ChartData {
    /// The history's state: the curve's note says why it is empty.
    pub history: Signal<Load<()>>,
    /// The buckets to draw, oldest first.
    pub points: Signal<Vec<EquityBucket>>,
    /// The limit levels over time.
    pub limits: Signal<Vec<LimitPoint>>,
    /// Peak equity: a dashed line.
    pub peak: Signal<Option<Decimal>>,
    /// The challenge: its breaches are marked on the curve.
    pub challenge: Signal<Option<ChallengeView>>,
}

/// The chart, from the `dashboard` chunk: the dashboard's sections that wait for a fetch of
/// their own, or sit below the fold. `preload_dashboard` starts its download.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload_dashboard))]
pub fn lazy_equity_chart(data: ChartData) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <EquityChart data /> }.into_any())
}

/// Shown while the chart's chunk loads: what the chart shows while the history loads.
pub fn chart_placeholder() -> ViewFn {
    ViewFn::from(loading_history)
}

fn loading_history() -> impl IntoView {
    view! { <Loading label="Loading the history…" /> }
}

/// The breaches to mark: time, measured value, and the words for the marker.
fn breaches(challenge: &ChallengeView) -> Vec<(chrono::DateTime<chrono::Utc>, Decimal, String)> {
    challenge
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Breach)
        .filter_map(|e| {
            let (measured, limit) = (e.measured?, e.limit?);
            let rule = e.rule.clone().unwrap_or_default();
            let kind = challenge
                .rules
                .iter()
                .find(|r| r.id == rule)
                .map(|r| r.kind.clone())
                .unwrap_or_default();
            let words = format!(
                "{} broken at {}: measured {} against a limit of {}",
                rule_label(&kind, &rule),
                format::date_time(e.time),
                format::money(measured),
                format::money(limit),
            );
            Some((e.time, measured, words))
        })
        .collect()
}

/// The chart panel's inner width, from the window's (see the stylesheet's container and panel
/// paddings), rounded to 50 px so resizing redraws now and then, not on every event.
/// The browser window's inner width in CSS pixels (1280 when it cannot be read).
fn viewport_width() -> f64 {
    window()
        .inner_width()
        .ok()
        .and_then(|width| width.as_f64())
        .unwrap_or(1280.0)
}

fn chart_width_estimate() -> u32 {
    let window = viewport_width();
    let container = window.min(1200.0);
    let chrome = if window <= 720.0 { 58.0 } else { 90.0 };
    (((container - chrome) / 50.0).round() * 50.0).max(300.0) as u32
}

#[component]
fn EquityChart(data: ChartData) -> impl IntoView {
    let ChartData {
        history,
        points,
        limits,
        peak,
        challenge,
    } = data;
    let breaches =
        Memo::new(move |_| challenge.with(|c| c.as_ref().map(breaches).unwrap_or_default()));
    let offset = format::local_offset();
    // Redraw at the width the chart is shown at (in steps, not on every resize event).
    let chart_width = RwSignal::new(chart_width_estimate());
    // The viewport width the chart was last sized for: with the count of points drawn, the
    // marker tests wait on before a picture (`data-drawn-viewport`, `data-drawn-points`).
    let viewport = RwSignal::new(viewport_width());
    let resize = window_event_listener(leptos::ev::resize, move |_| {
        chart_width.set(chart_width_estimate());
        viewport.set(viewport_width());
    });
    on_cleanup(move || resize.remove());
    let chart = Memo::new(move |_| {
        let size = equity::size_for(chart_width.get());
        let marks: Vec<(chrono::DateTime<chrono::Utc>, Decimal)> =
            breaches.with(|b| b.iter().map(|(t, v, _)| (*t, *v)).collect());
        points.with(|points| {
            limits.with(|limits| {
                equity::render(
                    points,
                    peak.get(),
                    offset,
                    size,
                    equity::Overlay {
                        limits,
                        breaches: &marks,
                    },
                )
            })
        })
    });
    let svg = move || chart.with(|c| c.as_ref().map(|c| c.svg.clone()).unwrap_or_default());
    let markers = move || {
        let placed = chart.with(|c| c.as_ref().map(|c| c.markers.clone()).unwrap_or_default());
        breaches.with(|b| {
            placed
                .into_iter()
                .zip(b.iter())
                .map(|((left, top), (_, _, words))| {
                    view! {
                        <button
                            type="button"
                            class="breach-marker"
                            data-testid="breach-marker"
                            style:left=format!("{left:.2}%")
                            style:top=format!("{top:.2}%")
                            aria-label=words.clone()
                        >
                            <span class="breach-tip" role="tooltip">{words.clone()}</span>
                        </button>
                    }
                })
                .collect_view()
        })
    };
    let note = move || match (history.get(), chart.with(Option::is_none)) {
        (Load::Loading, true) => loading_history().into_any(),
        (Load::Failed(error), true) => view! {
            <p class="chart-empty">{format!("The history could not be loaded. {error}")}</p>
        }
        .into_any(),
        (_, true) => view! {
            <p class="chart-empty">
                "No samples yet: the curve starts with the account's first update."
            </p>
        }
        .into_any(),
        (_, false) => ().into_any(),
    };
    view! {
        <div
            class="chart-svg"
            inner_html=svg
            data-drawn-viewport=move || viewport.get().to_string()
            data-drawn-points=move || {
                chart.with(|c| if c.is_some() { points.with(Vec::len) } else { 0 }).to_string()
            }
        ></div>
        <div class="chart-markers">{markers}</div>
        {note}
    }
}
