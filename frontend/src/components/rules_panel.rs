//! The challenge's rules as the risk engine decided them: status, limit, current value and the
//! room left. Nothing is computed here that the engine already computed.

use crate::format;
use leptos::prelude::*;
use rust_decimal::Decimal;
use shared::api::ChallengeView;
use shared::engine::{ChallengeStatus, RuleReport, RuleStatus, Unit};

/// The challenge panel; renders nothing when the account has no challenge.
#[component]
pub fn RulesPanel(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    move || {
        challenge.get().map(|challenge| {
            let (status_class, status_text) = status_badge(challenge.status);
            let rows = challenge
                .rules
                .iter()
                .map(rule_row)
                .collect_view();
            let reset = challenge.next_reset.map(|t| {
                format!("Next daily reset at {} (your time)", format::clock(t))
            });
            view! {
                <section class="panel rules-panel" aria-labelledby="rules-title" data-testid="rules">
                    <div class="rules-head">
                        <h2 id="rules-title">"Challenge"</h2>
                        <span class="subtle preset">{challenge.preset.clone()}</span>
                        <span class=status_class data-testid="challenge-status">{status_text}</span>
                        <span class="subtle reset">{reset}</span>
                    </div>
                    <div class="table-scroll">
                        <table class="rules-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Rule"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col" class="num">"Current"</th>
                                    <th scope="col" class="num">"Limit or target"</th>
                                    <th scope="col" class="num">"Room left"</th>
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
    view! {
        <tr data-testid="rule-row" data-rule-id=rule.id.clone() data-status=text.to_lowercase()>
            <th scope="row">{rule_label(&rule.kind, &rule.id)}</th>
            <td><span class=class>{text}</span></td>
            <td class="num">{amount(rule.measured, rule.unit)}</td>
            <td class="num">{amount(rule.limit, rule.unit)}</td>
            <td class="num" data-testid="rule-remaining">{amount(rule.remaining, rule.unit)}</td>
        </tr>
    }
}

/// A rule's name for a person.
fn rule_label(kind: &str, id: &str) -> String {
    let known = match kind {
        "daily_loss" => "Maximum daily loss",
        "max_loss" => "Maximum loss",
        "monthly_loss" => "Maximum monthly loss",
        "profit_target" => "Profit target",
        "min_trading_days" => "Minimum trading days",
        "max_duration" => "Maximum duration",
        "best_day" => "Best day / consistency",
        "max_lots" => "Maximum lots per position",
        "max_open_positions" => "Maximum open positions",
        "stop_loss_required" => "Stop loss required",
        "max_risk_per_position" => "Risk per position",
        "total_open_risk" => "Total open risk",
        "consecutive_losses" => "Consecutive losses",
        "margin_level" => "Margin level",
        _ => "",
    };
    if known.is_empty() {
        id.replace('_', " ")
    } else {
        known.to_owned()
    }
}

fn amount(value: Option<Decimal>, unit: Unit) -> String {
    match (value, unit) {
        (None, _) => "–".to_owned(),
        (Some(v), Unit::Money) => format::money(v),
        (Some(v), Unit::Percent) => format!("{}%", v.round_dp(2)),
        (Some(v), Unit::Lots) => format!("{} lots", v.normalize()),
        (Some(v), Unit::Days) if v.normalize() == Decimal::ONE => "1 day".to_owned(),
        (Some(v), Unit::Days) => format!("{} days", v.normalize()),
        (Some(v), Unit::Positions) => format!("{} positions", v.normalize()),
        (Some(v), Unit::Trades) => format!("{} trades", v.normalize()),
    }
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

fn status_badge(status: ChallengeStatus) -> (&'static str, &'static str) {
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
    }
}
