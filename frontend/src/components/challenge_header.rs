//! The challenge at a glance: its name, preset and phase, the status badge, which day it is,
//! the countdown to the firm's next daily reset, and a warning when a floating loss is about
//! to carry into the new day. Every number comes from the engine; only the countdown reads
//! the browser's clock.

use super::rules_panel::status_badge;
use crate::format;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rust_decimal::Decimal;
use shared::api::ChallengeView;

/// How long before the reset a floating loss is warned about.
const CARRY_WARNING_SECONDS: i64 = 60 * 60;

#[component]
pub fn ChallengeHeader(
    #[prop(into)] challenge: Signal<Option<ChallengeView>>,
    /// The account's floating P/L now.
    #[prop(into)]
    floating_pl: Signal<Option<Decimal>>,
    /// The browser's clock, ticking every second.
    #[prop(into)]
    now: Signal<DateTime<Utc>>,
) -> impl IntoView {
    let status = Memo::new(move |_| challenge.with(|c| c.as_ref().map(|c| c.status)));
    let names = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref()
                .map(|c| (c.title.clone(), c.phase.clone(), c.preset.clone()))
        })
    });
    let day = Memo::new(move |_| challenge.with(|c| c.as_ref().and_then(|c| c.day)));
    let reset = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref()
                .map(|c| (c.next_reset, c.reset_clock.clone().unwrap_or_default()))
        })
    });
    let seconds_left = move || {
        reset
            .get()
            .and_then(|(next, _)| next)
            .map(|next| (next - now.get()).num_seconds())
    };
    let countdown = move || {
        seconds_left().map_or_else(
            || "Daily reset: not known yet".to_owned(),
            |s| format!("Daily reset in {}", format::countdown(s)),
        )
    };
    let reset_at = move || {
        reset.get().map(|(next, zone)| {
            let local = next.map(format::date_time).unwrap_or_default();
            format!("at {zone} ({local} your time)")
        })
    };
    let carry = move || {
        let left = seconds_left()?;
        let loss = floating_pl.get().filter(|pl| *pl < Decimal::ZERO)?;
        (0..=CARRY_WARNING_SECONDS).contains(&left).then(|| {
            format!(
                "A floating loss of {} will carry into the new trading day at the reset in {}: \
                 tomorrow's daily limit starts from the balance, so this loss counts against it.",
                format::money(loss.abs()),
                format::countdown(left)
            )
        })
    };
    move || {
        let (title, phase, preset) = names.get()?;
        let (badge_class, badge_text) = status_badge(status.get()?);
        Some(view! {
            <section class="panel challenge-head" aria-labelledby="challenge-title">
                <div class="challenge-names">
                    <h2 id="challenge-title" data-testid="challenge-title">
                        {title.unwrap_or_else(|| "Custom challenge".to_owned())}
                    </h2>
                    <p class="subtle">
                        {phase.map(|p| view! { <span class="chip" data-testid="challenge-phase">{p}</span> })}
                        <span class="chip chip-quiet">{preset}</span>
                        {move || day.get().map(|d| view! {
                            <span class="chip chip-quiet" data-testid="challenge-day">{format!("Day {d}")}</span>
                        })}
                    </p>
                </div>
                <span
                    class=format!("{badge_class} badge-large")
                    data-testid="challenge-status"
                    role="status"
                >
                    {badge_text}
                </span>
                <div class="reset" data-testid="reset-countdown">
                    <strong>{countdown}</strong>
                    <span class="subtle">{reset_at}</span>
                </div>
                {move || carry().map(|text| view! {
                    <p class="carry-warning" role="alert" data-testid="carry-warning">{text}</p>
                })}
            </section>
        })
    }
}
