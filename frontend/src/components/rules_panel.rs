//! The challenge's rules as the risk engine decided them: status, limit, current value and the
//! room left. Nothing is computed here that the engine already computed.

use crate::format;
use leptos::prelude::*;
use rust_decimal::Decimal;
use shared::api::ChallengeView;
use shared::engine::{ChallengeStatus, RuleReport, RuleStatus, Unit};

/// The objectives: one row per rule with its limit or target, the current value, the room
/// left in money and percent, a progress bar, and when a passed or breached rule got there.
/// Renders nothing when the account has no challenge.
#[component]
pub fn RulesPanel(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    move || {
        challenge.get().map(|challenge| {
            let rows = challenge.rules.iter().map(rule_row).collect_view();
            view! {
                <section class="panel rules-panel" aria-labelledby="rules-title" data-testid="rules">
                    <div class="rules-head">
                        <h2 id="rules-title">"Objectives and limits"</h2>
                    </div>
                    <div class="table-scroll">
                        <table class="rules-table">
                            <caption class="visually-hidden">
                                "Each rule of the challenge with its limit or target, the current value and the room left"
                            </caption>
                            <thead>
                                <tr>
                                    <th scope="col">"Rule"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col" class="num">"Limit or target"</th>
                                    <th scope="col" class="num">"Current"</th>
                                    <th scope="col" class="num">"Room left"</th>
                                    <th scope="col" class="progress-col">"Progress"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                </section>
            }
        })
    }
}

fn rule_row(rule: &RuleReport) -> impl IntoView + use<> {
    let (class, text) = rule_badge(rule.status);
    let label = rule_label(&rule.kind, &rule.id);
    let objective = is_objective(&rule.kind);
    let when = rule.since.map(|t| match rule.status {
        RuleStatus::Breached => format!("Breached {}", format::date_time(t)),
        _ => format!("Met {}", format::date_time(t)),
    });
    let held = rule.held_since.map(|t| {
        format!(
            "Decision held since {}: it rests on a balance change the broker has not filed a \
             deal for yet",
            format::date_time(t)
        )
    });
    let wording = match (rule.status, objective) {
        _ if held.is_some() => "Waiting for a deal",
        (RuleStatus::Breached, _) => "Broken",
        (RuleStatus::Passed, _) => "Met",
        (RuleStatus::Warning, _) => "Close to the limit",
        (RuleStatus::Pending, _) => "Waiting for data",
        (RuleStatus::Ok, true) => "In progress",
        (RuleStatus::Ok, false) => "Within the limit",
    };
    let percent = rule
        .remaining_percent
        .map(|p| format!("{}%", format::grouped(p, 2)));
    let progress = rule.progress.unwrap_or(Decimal::ZERO);
    let width = format!("{}%", format::trimmed(progress * Decimal::ONE_HUNDRED, 1));
    let bar_class = match (rule.status, objective) {
        (RuleStatus::Breached, _) => "bar bar-bad",
        (RuleStatus::Warning, _) => "bar bar-warn",
        (RuleStatus::Passed, _) | (_, true) => "bar bar-good",
        _ => "bar bar-ok",
    };
    let bar_label = if objective {
        format!(
            "{label}: {} achieved",
            format::ratio_percent(rule.progress, 0)
        )
    } else {
        format!(
            "{label}: {} of the allowance used",
            format::ratio_percent(rule.progress, 0)
        )
    };
    let progress_value = format::trimmed(progress * Decimal::ONE_HUNDRED, 0);
    view! {
        <tr data-testid="rule-row" data-rule-id=rule.id.clone() data-status=text.to_lowercase()>
            <th scope="row">
                {label.clone()}
                <span class="rule-when" data-testid="rule-when">{when}</span>
                {held.map(|held| view! {
                    <span class="rule-when rule-held" data-testid="rule-held">{held}</span>
                })}
            </th>
            <td>
                <span class=class>{text}</span>
                <span class="rule-wording">{wording}</span>
            </td>
            <td class="num">{amount(rule.limit, rule.unit)}</td>
            <td class="num">{amount(rule.measured, rule.unit)}</td>
            <td class="num" data-testid="rule-remaining">
                {amount(rule.remaining, rule.unit)}
                <span class="rule-pct">{percent}</span>
            </td>
            <td class="progress-col">
                {rule.progress.map(|_| view! {
                    <div
                        class="progress"
                        role="progressbar"
                        aria-label=bar_label
                        aria-valuemin="0"
                        aria-valuemax="100"
                        aria-valuenow=progress_value
                    >
                        <div class=bar_class style:width=width></div>
                    </div>
                })}
            </td>
        </tr>
    }
}

/// Objectives are reached (profit, days); the rest are limits not to break.
fn is_objective(kind: &str) -> bool {
    matches!(kind, "profit_target" | "min_trading_days" | "best_day")
}

/// A rule's name for a person.
pub fn rule_label(kind: &str, id: &str) -> String {
    let known = match kind {
        "daily_loss" => "Maximum daily loss",
        "max_loss" => "Maximum loss",
        "monthly_loss" => "Maximum monthly loss",
        "profit_target" => "Profit target",
        "min_trading_days" => "Minimum trading days",
        "max_duration" => "Maximum duration",
        "best_day" => "Best day / consistency",
        "max_lots" | "max_lots_per_position" => "Maximum lots per position",
        "max_open_positions" => "Maximum open positions",
        "stop_loss_required" => "Stop loss required",
        "max_risk_per_position" => "Risk per position",
        "total_open_risk" => "Total open risk",
        "consecutive_losses" => "Consecutive losses",
        "margin_level" => "Margin level",
        "max_trade_loss" => "Maximum loss per trade",
        "max_holding_time" => "Maximum holding time",
        "no_weekend_positions" => "No positions over the weekend",
        // A period's rule is named by its id (weekly_loss: "Weekly loss").
        "period_loss" => return capitalized(&id.replace('_', " ")),
        _ => "",
    };
    if known.is_empty() {
        id.replace('_', " ")
    } else {
        known.to_owned()
    }
}

fn capitalized(words: &str) -> String {
    let mut chars = words.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A rule's value in its unit, as the rules panel writes it (`–` for none).
pub fn amount(value: Option<Decimal>, unit: Unit) -> String {
    match (value, unit) {
        (None, _) => "–".to_owned(),
        (Some(v), Unit::Money) => format::money(v),
        (Some(v), Unit::Percent) => format!("{}%", format::trimmed(v, 2)),
        (Some(v), Unit::Lots) => format!("{} lots", v.normalize()),
        (Some(v), Unit::Days) if v.normalize() == Decimal::ONE => "1 day".to_owned(),
        (Some(v), Unit::Days) => format!("{} days", v.normalize()),
        (Some(v), Unit::Positions) => format!("{} positions", v.normalize()),
        (Some(v), Unit::Trades) => format!("{} trades", v.normalize()),
        (Some(v), Unit::Minutes) => minutes(v),
    }
}

/// A holding time: minutes below an hour, hours and minutes above.
fn minutes(value: Decimal) -> String {
    let whole = value.trunc();
    if whole < Decimal::from(60) {
        return format!("{} min", format::trimmed(value, 1));
    }
    let hours = (whole / Decimal::from(60)).trunc();
    let rest = whole - hours * Decimal::from(60);
    format!("{} h {} min", hours.normalize(), rest.normalize())
}

fn rule_badge(status: RuleStatus) -> (&'static str, &'static str) {
    match status {
        RuleStatus::Pending => ("badge badge-connecting", "Pending"),
        RuleStatus::Ok => ("badge badge-live", "OK"),
        RuleStatus::Warning => ("badge badge-stale", "Warning"),
        RuleStatus::Breached => ("badge badge-breached", "Breached"),
        RuleStatus::Passed => ("badge badge-passed", "Passed"),
    }
}

/// The challenge status's badge class and word.
pub fn status_badge(status: ChallengeStatus) -> (&'static str, &'static str) {
    match status {
        ChallengeStatus::Active => ("badge badge-live", "Active"),
        ChallengeStatus::Passed => ("badge badge-passed", "Passed"),
        ChallengeStatus::Failed => ("badge badge-breached", "Failed"),
        ChallengeStatus::Paused => ("badge badge-stale", "Paused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_read_in_their_unit() {
        assert_eq!(amount(Some(dec!(95000)), Unit::Money), "95,000.00");
        assert_eq!(amount(Some(dec!(4)), Unit::Days), "4 days");
        assert_eq!(amount(Some(dec!(1)), Unit::Days), "1 day");
        assert_eq!(amount(None, Unit::Money), "–");
        assert_eq!(rule_label("daily_loss", "dl"), "Maximum daily loss");
        assert_eq!(rule_label("custom", "my_rule"), "my rule");
        assert_eq!(rule_label("period_loss", "weekly_loss"), "Weekly loss");
        assert_eq!(rule_label("max_trade_loss", "x"), "Maximum loss per trade");
        assert_eq!(amount(Some(dec!(240.02)), Unit::Minutes), "4 h 0 min");
        assert_eq!(amount(Some(dec!(45.5)), Unit::Minutes), "45.5 min");
        assert_eq!(amount(Some(dec!(1440)), Unit::Minutes), "24 h 0 min");
    }
}
