//! The account's MetaApi risk trackers on its dashboard: the trackers an application set up
//! through Riskdeck's copy of MetaApi's risk management API, where each stands in its current
//! period, and their latest events. Fetched every few seconds while the page is visible; shows
//! nothing at all for an account without trackers.

use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use rust_decimal::Decimal;
use shared::api::{RiskTrackerEventView, RiskTrackerView, RiskTrackersResponse};
use shared::domain::AccountId;

/// How often the trackers are fetched again, in milliseconds.
const REFRESH_MS: u32 = 10_000;
/// The events shown, newest first.
const EVENTS_SHOWN: usize = 10;

/// The risk trackers, from the `dashboard` chunk: the panel shows only once its fetch finds a
/// tracker, so its code loads alongside that fetch.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_trackers_panel(id: AccountId) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <TrackersPanel id /> }.into_any())
}

/// The panel; renders nothing until the account has a tracker.
#[component]
fn TrackersPanel(id: AccountId) -> impl IntoView {
    let trackers = RwSignal::new(None::<RiskTrackersResponse>);
    let in_flight = StoredValue::new(false);
    let fetch = move || {
        // One request at a time, and none for a tab nobody looks at.
        if in_flight.try_get_value() != Some(false) || document().hidden() {
            return;
        }
        in_flight.set_value(true);
        let id = id.clone();
        spawn_local(async move {
            match api::trackers(&id).await {
                Ok(response) => {
                    trackers.try_set(Some(response));
                }
                // What is shown stays: the next refresh may do better.
                Err(error) => leptos::logging::warn!("cannot read the risk trackers: {error}"),
            }
            in_flight.try_set_value(false);
        });
    };
    fetch();
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        REFRESH_MS,
        fetch.clone(),
    )));
    on_cleanup(move || ticker.dispose());

    move || {
        let response = trackers.get()?;
        if response.trackers.is_empty() {
            return None;
        }
        let names = response
            .trackers
            .iter()
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect::<Vec<_>>();
        let name_of = |id: &str| {
            names
                .iter()
                .find(|(tracker, _)| tracker == id)
                .map_or_else(|| id.to_owned(), |(_, name)| name.clone())
        };
        let rows = response.trackers.iter().map(tracker_row).collect_view();
        let events = response
            .events
            .iter()
            .take(EVENTS_SHOWN)
            .map(|event| event_row(event, name_of(&event.tracker_id)))
            .collect_view();
        let more = response.events.len().saturating_sub(EVENTS_SHOWN);
        let has_events = !response.events.is_empty();
        // In the look of the objectives panel above it.
        Some(view! {
            <section
                class="panel rules-panel trackers-panel"
                id="risk-trackers"
                aria-labelledby="risk-trackers-title"
                data-testid="risk-trackers"
            >
                <div class="rules-head">
                    <h2 id="risk-trackers-title">"Risk trackers"</h2>
                    <span class="subtle">
                        "Set up by applications through the MetaApi risk management API; times \
                         are the broker's."
                    </span>
                </div>
                <div class="table-scroll">
                    <table class="rules-table trackers-table">
                        <caption class="visually-hidden">
                            "Each risk tracker with its thresholds and its current period's largest drawdown and profit"
                        </caption>
                        <thead>
                            <tr>
                                <th scope="col">"Tracker"</th>
                                <th scope="col">"Period"</th>
                                <th scope="col">"Period start"</th>
                                <th scope="col" class="num">"Max drawdown"</th>
                                <th scope="col" class="num">"Max profit"</th>
                                <th scope="col">"Status"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                {has_events
                    .then(|| {
                        view! {
                            <div class="table-scroll">
                                <table class="rules-table tracker-events">
                                    <caption class="visually-hidden">
                                        "The trackers' latest events, newest first"
                                    </caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Latest events"</th>
                                            <th scope="col">"Tracker"</th>
                                            <th scope="col">"Exceeded"</th>
                                            <th scope="col" class="num">"Drawdown"</th>
                                            <th scope="col" class="num">"Profit"</th>
                                        </tr>
                                    </thead>
                                    <tbody>{events}</tbody>
                                </table>
                            </div>
                            {(more > 0)
                                .then(|| {
                                    view! {
                                        <p class="subtle">{format!("And {more} earlier.")}</p>
                                    }
                                })}
                        }
                    })}
            </section>
        })
    }
}

fn tracker_row(tracker: &RiskTrackerView) -> impl IntoView + use<> {
    let status = match tracker.exceeded.as_deref() {
        Some(kind) => view! {
            <span class=exceeded_class(kind) data-testid="tracker-exceeded">
                {format!("Exceeded: {kind}")}
            </span>
        }
        .into_any(),
        None if tracker.period_start.is_none() => {
            view! { <span class="badge badge-connecting">"Waiting for data"</span> }.into_any()
        }
        None => view! { <span class="badge badge-live">"Within thresholds"</span> }.into_any(),
    };
    view! {
        <tr
            class="risk-tracker"
            class:tracker-exceeded=tracker.exceeded.is_some()
            data-testid="risk-tracker"
            data-tracker-id=tracker.id.clone()
        >
            <th scope="row">
                {tracker.name.clone()}
                <span class="rule-when">{tracker.thresholds.clone()}</span>
            </th>
            <td>{capitalised(&tracker.period)}</td>
            <td>{tracker.period_start.as_deref().map_or_else(|| "–".to_owned(), broker_time)}</td>
            <td class="num">{amount(tracker.max_drawdown)}</td>
            <td class="num">{amount(tracker.max_profit)}</td>
            <td>{status}</td>
        </tr>
    }
}

fn event_row(event: &RiskTrackerEventView, tracker: String) -> impl IntoView + use<> {
    view! {
        <tr data-testid="tracker-event" data-sequence=event.sequence_number.to_string()>
            <td>{broker_time(&event.broker_time)}</td>
            <td>{tracker}</td>
            <td>
                <span class=exceeded_class(&event.exceeded)>{capitalised(&event.exceeded)}</span>
            </td>
            <td class="num">{format::money(event.absolute_drawdown)}</td>
            <td class="num">{format::money(event.absolute_profit)}</td>
        </tr>
    }
}

/// A crossed drawdown threshold is the danger; a crossed profit threshold asks for attention.
fn exceeded_class(kind: &str) -> &'static str {
    if kind == "profit" {
        "badge badge-stale"
    } else {
        "badge badge-breached"
    }
}

fn amount(value: Option<Decimal>) -> String {
    value.map_or_else(|| "–".to_owned(), format::money)
}

/// A broker time (`2026-03-02 08:00:00.000`) to the second.
fn broker_time(text: &str) -> String {
    text.split_once('.')
        .map_or(text, |(seconds, _)| seconds)
        .to_owned()
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_times_read_to_the_second() {
        assert_eq!(
            broker_time("2026-03-02 08:00:00.000"),
            "2026-03-02 08:00:00"
        );
        assert_eq!(broker_time("2026-03-02 08:00:00"), "2026-03-02 08:00:00");
        assert_eq!(capitalised("drawdown"), "Drawdown");
        assert_eq!(amount(None), "–");
    }
}
