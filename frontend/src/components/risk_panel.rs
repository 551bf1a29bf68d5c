//! The risk panel: how much the trader can still lose today and overall, the open positions
//! with their risk to stop loss and its share of today's room (positions without a stop loss
//! stand out), and the lot-size calculator, which is the engine's own
//! [`shared::engine::sizing::max_lots`] running in the browser.

use super::Lazy;
use crate::format;
use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use rust_decimal::Decimal;
use shared::api::ChallengeView;
use shared::engine::sizing::{SizingBound, SizingContext, max_lots};
use std::str::FromStr;

#[component]
pub fn RiskPanel(
    #[prop(into)] challenge: Signal<Option<ChallengeView>>,
    #[prop(into)] currency: Signal<String>,
) -> impl IntoView {
    let room = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref().and_then(|c| c.metrics.as_deref()).map(|m| {
                (
                    m.daily_loss_left,
                    m.overall_loss_left,
                    m.risk_exposure_usd,
                    m.current_risk_load,
                )
            })
        })
    });
    let positions = Memo::new(move |_| {
        challenge.with(|c| c.as_ref().map(|c| c.positions.clone()).unwrap_or_default())
    });
    let sizing = Memo::new(move |_| challenge.with(|c| c.as_ref().and_then(|c| c.sizing.clone())));
    let money_or_dash = move |value: Option<Decimal>| {
        value.map_or_else(
            || "–".to_owned(),
            |v| format!("{} {}", format::money(v), currency.get()),
        )
    };
    let headline = move || {
        room.get().map(|(today, overall, exposure, load)| {
            view! {
                <p class="room-headline">
                    "You can still lose "
                    <strong data-testid="room-today">{money_or_dash(today)}</strong>
                    " today and "
                    <strong data-testid="room-overall">{money_or_dash(overall)}</strong>
                    " overall."
                </p>
                <p class="subtle">
                    "Open risk to stop loss: "
                    <span class="num" data-testid="risk-exposure">{money_or_dash(Some(exposure))}</span>
                    {load.map(|l| format!(" ({} of the daily budget)", format::ratio_percent(Some(l), 1)))}
                </p>
            }
        })
    };
    let rows = move || {
        positions.with(|positions| {
            if positions.is_empty() {
                return view! {
                    <tr><td colspan="8" class="subtle">"No open positions."</td></tr>
                }
                .into_any();
            }
            positions
                .iter()
                .map(|p| {
                    let no_stop = p.stop_loss.is_none();
                    let pl_class = if p.profit < Decimal::ZERO { "num negative" } else { "num positive" };
                    view! {
                        <tr
                            class=if no_stop { "no-stop" } else { "" }
                            data-testid="position-row"
                            data-position-id=p.id.clone()
                            data-no-stop=no_stop.to_string()
                        >
                            <th scope="row">{p.symbol.clone()}</th>
                            <td>{format!("{:?}", p.side)}</td>
                            <td class="num">{p.volume.normalize().to_string()}</td>
                            <td class="num">{p.open_price.normalize().to_string()}</td>
                            <td class="num">
                                {match p.stop_loss {
                                    Some(stop) => stop.normalize().to_string().into_any(),
                                    None => view! { <span class="badge badge-breached">"No stop loss"</span> }.into_any(),
                                }}
                            </td>
                            <td class=pl_class>{format::money(p.profit)}</td>
                            <td class="num">
                                {match (p.risk, no_stop) {
                                    (Some(risk), _) => format::money(risk),
                                    (None, true) => "Unlimited".to_owned(),
                                    (None, false) => "Unknown".to_owned(),
                                }}
                            </td>
                            <td class="num">{format::ratio_percent(p.share_of_daily_room, 1)}</td>
                        </tr>
                    }
                })
                .collect_view()
                .into_any()
        })
    };
    view! {
        <section class="panel risk-panel" aria-labelledby="risk-title" data-testid="risk-panel">
            <h2 id="risk-title">"Risk"</h2>
            {headline}
            <div class="table-scroll">
                <table class="data-table positions-table">
                    <caption class="visually-hidden">"Open positions and their risk to stop loss"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Symbol"</th>
                            <th scope="col">"Side"</th>
                            <th scope="col" class="num">"Lots"</th>
                            <th scope="col" class="num">"Entry"</th>
                            <th scope="col" class="num">"Stop loss"</th>
                            <th scope="col" class="num">"P/L"</th>
                            <th scope="col" class="num">"Risk to stop"</th>
                            <th scope="col" class="num">"Share of today's room"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <Lazy
                what="the lot-size calculator"
                placeholder=calculator_placeholder()
                content=lazy_calculator(sizing.into(), currency)
            />
        </section>
    }
}

/// The lot-size calculator, from the `dashboard` chunk: below the positions, so not in the main
/// module.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_calculator(
    sizing: Signal<Option<SizingContext>>,
    currency: Signal<String>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <Calculator sizing currency /> }.into_any())
}

/// The calculator's frame while its chunk loads: the same form box, so the panel does not grow
/// when it arrives.
fn calculator_placeholder() -> ViewFn {
    ViewFn::from(|| {
        view! {
            <div class="calculator" aria-busy="true">
                <super::Loading label="Loading the lot-size calculator…" />
            </div>
        }
    })
}

/// For a symbol and a stop-loss distance, the largest lot size within the room and the
/// per-trade cap.
#[component]
fn Calculator(
    #[prop(into)] sizing: Signal<Option<SizingContext>>,
    #[prop(into)] currency: Signal<String>,
) -> impl IntoView {
    let symbol = RwSignal::new(String::new());
    let distance = RwSignal::new(String::new());
    let symbols = Memo::new(move |_| {
        sizing.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.symbols
                        .iter()
                        .map(|s| s.symbol.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    // The first known symbol is chosen until the trader picks one.
    Effect::new(move || {
        let first = symbols.with(|s| s.first().cloned());
        if symbol.with_untracked(String::is_empty)
            && let Some(first) = first
        {
            symbol.set(first);
        }
    });
    let answer = move || {
        let text = distance.get();
        if text.trim().is_empty() {
            return Err(
                "Enter the distance from entry to stop loss, in price (e.g. 0.0020).".to_owned(),
            );
        }
        let distance = Decimal::from_str(text.trim())
            .map_err(|_| "The distance must be a number, such as 0.0020.".to_owned())?;
        sizing.with(|context| {
            let context = context
                .as_ref()
                .ok_or_else(|| "The challenge's numbers are not known yet.".to_owned())?;
            let chosen = symbol.get();
            let spec = context
                .symbols
                .iter()
                .find(|s| s.symbol == chosen)
                .ok_or_else(|| "Choose a symbol.".to_owned())?;
            max_lots(spec, distance, context.room, context.per_trade_cap)
                .map_err(|error| format!("{}.", capitalise(&error.to_string())))
        })
    };
    let options = move || {
        symbols
            .get()
            .into_iter()
            .map(|s| {
                let selected = symbol.with(|chosen| *chosen == s);
                view! { <option value=s.clone() selected=selected>{s.clone()}</option> }
            })
            .collect_view()
    };
    view! {
        <form class="calculator" data-testid="calculator" on:submit=|ev| ev.prevent_default()>
            <h3>"Lot-size calculator"</h3>
            <div class="calc-fields">
                <label class="field">
                    <span class="field-label">"Symbol"</span>
                    <select
                        data-testid="calc-symbol"
                        on:change=move |ev| symbol.set(event_target_value(&ev))
                    >
                        {options}
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Stop-loss distance (price)"</span>
                    <input
                        type="text"
                        inputmode="decimal"
                        autocomplete="off"
                        placeholder="0.0020"
                        data-testid="calc-distance"
                        prop:value=move || distance.get()
                        on:input=move |ev| distance.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <output class="calc-answer" aria-live="polite" data-testid="calc-answer">
                {move || match answer() {
                    Ok(sizing) => view! {
                        <p>
                            "Largest size: "
                            <strong class="num" data-testid="calc-lots">{sizing.lots.normalize().to_string()}</strong>
                            " lots, risking "
                            <span class="num" data-testid="calc-risk">{format::money(sizing.risk)}</span>
                            " " {currency.get()} " of a budget of "
                            <span class="num">{format::money(sizing.budget)}</span>
                            {match sizing.bound {
                                SizingBound::Room => " (the room left above your loss limits, after open risk).",
                                SizingBound::PerTradeCap => " (the per-trade risk cap).",
                                SizingBound::MaxVolume => " (the symbol's largest volume).",
                            }}
                        </p>
                    }
                    .into_any(),
                    Err(message) => view! { <p class="subtle">{message}</p> }.into_any(),
                }}
            </output>
        </form>
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
