//! What the broker's deal history has not settled yet, and what it settled late: a balance
//! change no deal explains yet (the decisions resting on it are held), and deals that arrived
//! late with the day's figures they changed. The engine decided all of it; nothing is
//! recomputed here.

use crate::format;
use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use shared::api::ChallengeView;
use shared::engine::LateDeal;

/// The balance change waiting for its deal: in the main module, it is news.
#[component]
pub fn UnexplainedBalance(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    move || {
        let change = challenge.with(|c| c.as_ref()?.unexplained_balance)?;
        Some(view! {
            <div class="stale-banner" role="status" data-testid="unexplained-balance">
                <strong>"Waiting for a deal. "</strong>
                "The broker reported a balance change of "
                <span class="num">{format::money(change)}</span>
                " that its deal history does not show yet (a deposit, a withdrawal, or a closed \
                 trade still syncing). A rule it would break is held, neither passed nor failed, \
                 until the deal arrives."
            </div>
        })
    }
}

/// The late deals, from the `dashboard` chunk (a rare section, below the fold).
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_late_deals(
    challenge: Signal<Option<ChallengeView>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <LateDeals challenge /> }.into_any())
}

#[component]
fn LateDeals(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    move || {
        let deals = challenge.with(|c| c.as_ref().map(|c| c.late_deals.clone()))?;
        (!deals.is_empty()).then(|| {
            let items = deals.iter().rev().map(late_deal).collect_view();
            view! {
                <section class="panel late-deals-panel" aria-labelledby="late-title" data-testid="late-deals">
                    <h2 id="late-title">"Deals the broker filed late"</h2>
                    <p class="subtle">
                        "Each is counted once, on the trading day it belongs to; the figures it \
                         changed are shown."
                    </p>
                    <ul class="late-deals">{items}</ul>
                </section>
            }
        })
    }
}

fn late_deal(deal: &LateDeal) -> impl IntoView + use<> {
    let minutes = (deal.arrived - deal.time).num_minutes();
    let delay = if minutes >= 120 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    };
    let day = format::weekday_day_month(&deal.day);
    let change = if deal.past_day {
        format!(
            "{day}'s closed P/L changed from {} to {}.",
            format::money(deal.day_closed_pl_before),
            format::money(deal.day_closed_pl_after)
        )
    } else {
        format!(
            "Today's closed P/L went from {} to {}.",
            format::money(deal.day_closed_pl_before),
            format::money(deal.day_closed_pl_after)
        )
    };
    view! {
        <li data-testid="late-deal" data-deal-id=deal.deal_id.clone()>
            "Deal "{deal.deal_id.clone()}" of "{format::date_time(deal.time)}" ("
            <span class="num">{format::money(deal.closed_pl)}</span>
            ") arrived "{delay}" late. "{change}
        </li>
    }
}
