//! The engine's evidence for each breach: which rule, when, the measured value against the
//! limit, the anchors the limit hung from and the positions open at that moment. Shown when
//! a rule was broken; nothing is recomputed here.

use super::rules_panel::rule_label;
use crate::format;
use leptos::prelude::*;
use shared::api::{ChallengeView, EventView};
use shared::engine::{EventKind, Measure};

#[component]
pub fn BreachEvidence(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    let breaches = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref()
                .map(|c| {
                    c.events
                        .iter()
                        .filter(|e| e.kind == EventKind::Breach)
                        .map(|e| {
                            let rule = c.rules.iter().find(|r| Some(&r.id) == e.rule.as_ref());
                            let kind = rule.map(|r| r.kind.clone()).unwrap_or_default();
                            let measure = rule.and_then(|r| r.measure);
                            (e.clone(), kind, measure)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    move || {
        let breaches = breaches.get();
        (!breaches.is_empty()).then(|| {
            let items = breaches
                .into_iter()
                .map(|(event, kind, measure)| breach(&event, &kind, measure))
                .collect_view();
            view! {
                <section
                    class="panel evidence"
                    aria-labelledby="evidence-title"
                    data-testid="breach-evidence"
                >
                    <h2 id="evidence-title">"Breach evidence"</h2>
                    {items}
                </section>
            }
        })
    }
}

fn breach(event: &EventView, kind: &str, measure: Option<Measure>) -> impl IntoView + use<> {
    let rule = event.rule.clone().unwrap_or_default();
    let label = rule_label(kind, &rule);
    let (Some(measured), Some(limit), Some(a)) = (event.measured, event.limit, event.anchors)
    else {
        return view! {
            <article class="evidence-item">
                <h3>{label}" broken at "{format::date_time(event.time)}</h3>
            </article>
        }
        .into_any();
    };
    let loss_rule = matches!(
        kind,
        "daily_loss" | "max_loss" | "monthly_loss" | "period_loss"
    );
    let (measured_label, limit_label) = match (loss_rule, measure) {
        (true, Some(Measure::Balance)) => ("Balance", "Floor"),
        (true, _) => ("Equity", "Floor"),
        (false, _) if kind == "max_trade_loss" => ("Closed P/L of the trade", "Limit"),
        (false, _) if kind == "max_holding_time" => ("Minutes held", "Minutes allowed"),
        (false, _) if kind == "no_weekend_positions" => ("Positions over the weekend", "Allowed"),
        _ => ("Measured", "Limit"),
    };
    let money = !matches!(kind, "max_holding_time" | "no_weekend_positions");
    let shown = move |value: rust_decimal::Decimal| {
        if money {
            format::money(value)
        } else {
            value.normalize().to_string()
        }
    };
    let subject = match (&event.position_id, &event.deal_id) {
        (Some(position), Some(deal)) => Some(format!("position {position}, deal {deal}")),
        (Some(position), None) => Some(format!("position {position}")),
        (None, Some(deal)) => Some(format!("deal {deal}")),
        (None, None) => None,
    };
    let positions = event
        .open_positions
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {} lots at {}{}",
                p.symbol,
                p.side,
                p.volume.normalize(),
                p.open_price.normalize(),
                p.stop_loss
                    .map(|s| format!(", stop {}", s.normalize()))
                    .unwrap_or_else(|| ", no stop loss".to_owned())
            )
        })
        .collect::<Vec<_>>();
    let positions = if positions.is_empty() {
        "none".to_owned()
    } else {
        positions.join("; ")
    };
    let shortfall = limit - measured;
    // A breach held while a balance change had no deal: when it was settled, and how.
    let decided = event.decided.map(|decided| match event.unexplained {
        Some(change) => format!(
            "Decided {} without the deal of a balance change of {} (taken as trading P/L after \
             waiting for it); an admin was told.",
            format::date_time(decided),
            format::money(change)
        ),
        None => format!(
            "Held until the deal of a balance change arrived {}, which settled it.",
            format::date_time(decided)
        ),
    });
    view! {
        <article class="evidence-item" data-testid="breach-item" data-rule-id=rule.clone()>
            <h3>
                {label}" broken at "
                <time datetime=event.time.to_rfc3339()>{format::date_time(event.time)}</time>
            </h3>
            {decided.map(|text| view! { <p class="subtle" data-testid="evidence-decided">{text}</p> })}
            <dl class="evidence-grid">
                <div>
                    <dt>{measured_label}</dt>
                    <dd class="num negative" data-testid="evidence-measured">
                        {shown(measured)}
                        {event.estimated.then_some(" (estimated from quotes)")}
                    </dd>
                </div>
                <div>
                    <dt>{limit_label}</dt>
                    <dd class="num" data-testid="evidence-limit">{shown(limit)}</dd>
                </div>
                {subject.map(|subject| view! {
                    <div>
                        <dt>"About"</dt>
                        <dd data-testid="evidence-subject">{subject}</dd>
                    </div>
                })}
                {loss_rule.then(|| view! {
                    <div>
                        <dt>"Below the floor by"</dt>
                        <dd class="num">{format::money(shortfall)}</dd>
                    </div>
                })}
                <div>
                    <dt>"Start-of-day balance / equity"</dt>
                    <dd class="num">
                        {format::money(a.start_of_day_balance)}" / "{format::money(a.start_of_day_equity)}
                    </dd>
                </div>
                <div>
                    <dt>"Initial balance · peak equity"</dt>
                    <dd class="num">
                        {format::money(a.initial_balance)}" · "{format::money(a.peak_equity)}
                    </dd>
                </div>
                <div class="evidence-wide">
                    <dt>"Open positions at that moment"</dt>
                    <dd>{positions}</dd>
                </div>
            </dl>
        </article>
    }
    .into_any()
}
