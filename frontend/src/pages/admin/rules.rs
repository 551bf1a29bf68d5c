//! `/admin/accounts/:id/rules`: the rule editor. Every engine parameter of every rule, the
//! reset clock and the estimated-equity switch; the draft is checked as it is typed by the
//! same function the server runs (`shared::engine::edit::validate`), its difference from the
//! rules in force is shown parameter by parameter, a what-if replays the account's journal
//! under it, and saving applies it now or from a later instant. The versions saved so far are
//! listed below.
//!
//! The form edits each rule as its JSON (the engine's rule format), one input per parameter,
//! so no parameter is left out: a choice list for a parameter that is one of a few words, a
//! checkbox for a yes/no option, a text field for numbers and times; a value that is not a
//! number or not one of a parameter's choices is named in the problems list. The same fields
//! (`RuleSetFields`) edit each phase's rules on the programs page.

use crate::components::{ErrorPanel, Loading};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::api::{
    RuleSetSaved, RuleSetsResponse, SaveRuleSetRequest, WhatIfOutcome, WhatIfRequest,
    WhatIfResponse,
};
use shared::domain::AccountId;
use shared::engine::edit::{self, RuleChange, RuleSetDraft};
use shared::engine::{PlCounting, RuleDef, RuleKind, RuleStatus, Severity};

/// Rule kinds an admin may add, each with a starting value of its parameters.
const NEW_RULES: &[(&str, &str)] = &[
    (
        "daily_loss",
        r#"{"type":"daily_loss","anchor":"start_of_day_balance","limit":{"type":"percent_of_initial","value":"5"},"measure":"equity","breach_at_floor":false}"#,
    ),
    (
        "max_loss",
        r#"{"type":"max_loss","mode":"static","limit":{"type":"percent_of_initial","value":"10"},"lock_above_initial":null,"measure":"equity","breach_at_floor":false}"#,
    ),
    (
        "monthly_loss",
        r#"{"type":"monthly_loss","limit":{"type":"percent_of_anchor","value":"10"},"measure":"equity","breach_at_floor":false}"#,
    ),
    (
        "period_loss",
        r#"{"type":"period_loss","period":"week","limit":{"type":"percent_of_initial","value":"2"},"measure":"equity","breach_at_floor":false}"#,
    ),
    (
        "profit_target",
        r#"{"type":"profit_target","target":{"type":"percent_of_initial","value":"10"},"basis":"closed_balance"}"#,
    ),
    (
        "min_trading_days",
        r#"{"type":"min_trading_days","days":4,"min_day_profit":null,"day_profit":"closed"}"#,
    ),
    ("max_duration", r#"{"type":"max_duration","days":30}"#),
    (
        "best_day",
        r#"{"type":"best_day","max_share_percent":"50"}"#,
    ),
    (
        "max_lots_per_position",
        r#"{"type":"max_lots_per_position","lots":"5"}"#,
    ),
    (
        "max_open_positions",
        r#"{"type":"max_open_positions","count":5}"#,
    ),
    ("stop_loss_required", r#"{"type":"stop_loss_required"}"#),
    (
        "max_risk_per_position",
        r#"{"type":"max_risk_per_position","percent":"2"}"#,
    ),
    (
        "total_open_risk",
        r#"{"type":"total_open_risk","percent":"50"}"#,
    ),
    (
        "consecutive_losses",
        r#"{"type":"consecutive_losses","max":5,"min_lots":"0.01"}"#,
    ),
    (
        "margin_level",
        r#"{"type":"margin_level","warning":"100","critical":"50"}"#,
    ),
    (
        "max_trade_loss",
        r#"{"type":"max_trade_loss","limit":{"type":"percent_of_initial","value":"3"}}"#,
    ),
    (
        "max_holding_time",
        r#"{"type":"max_holding_time","minutes":1440}"#,
    ),
    (
        "no_weekend_positions",
        r#"{"type":"no_weekend_positions","from_day":"friday","from_time":"22:00:00","until_day":"sunday","until_time":"22:00:00"}"#,
    ),
];

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The choices of the parameters that are one of a few words.
fn choices(parameter: &str) -> Option<&'static [&'static str]> {
    Some(match parameter {
        "anchor" => &[
            "start_of_day_balance",
            "higher_of_start_of_day_balance_and_equity",
            "start_of_day_equity",
            "start_of_month_balance",
            "highest_equity_of_day",
        ],
        "mode" => &[
            "static",
            "trailing_peak_equity",
            "trailing_peak_balance",
            "trailing_end_of_day_balance",
        ],
        "basis" => &["closed_balance", "equity"],
        "measure" => &["equity", "balance"],
        "period" => &["week", "month", "quarter", "year"],
        "day_profit" => &[
            "closed",
            "closed_at_day_end",
            "closed_and_floating_at_day_end",
        ],
        "from_day" | "until_day" => WEEKDAYS,
        _ => return None,
    })
}

/// The kinds of a limit.
const LIMIT_TYPES: &[&str] = &[
    "money",
    "percent_of_initial",
    "percent_of_anchor",
    "percent_of_month_start_balance",
];

/// The form's model: the clock, the switches, and every rule as the engine's JSON.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Model {
    time_zone: String,
    reset_time: String,
    estimated_equity_breaches: bool,
    interest_dividend_tax: PlCounting,
    rules: Vec<Value>,
}

impl Model {
    pub(super) fn of(draft: &RuleSetDraft) -> Self {
        Self {
            time_zone: draft.time_zone.clone(),
            reset_time: draft.reset_time.clone(),
            estimated_equity_breaches: draft.estimated_equity_breaches,
            interest_dividend_tax: draft.interest_dividend_tax,
            rules: draft
                .rules
                .iter()
                .map(|rule| serde_json::to_value(rule).unwrap_or(Value::Null))
                .collect(),
        }
    }

    /// The draft, or why a rule cannot be read (a number that is not one, an unknown choice).
    pub(super) fn draft(&self) -> Result<RuleSetDraft, Vec<String>> {
        let mut problems = Vec::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        for (index, value) in self.rules.iter().enumerate() {
            match serde_json::from_value::<RuleDef>(value.clone()) {
                Ok(rule) => rules.push(rule),
                Err(error) => {
                    let id = value.get("id").and_then(Value::as_str).unwrap_or("?");
                    problems.push(format!("rule {} ({id}): {error}", index + 1));
                }
            }
        }
        if problems.is_empty() {
            Ok(RuleSetDraft {
                time_zone: self.time_zone.clone(),
                reset_time: self.reset_time.clone(),
                rules,
                estimated_equity_breaches: self.estimated_equity_breaches,
                interest_dividend_tax: self.interest_dividend_tax,
            })
        } else {
            Err(problems)
        }
    }

    /// A rule set to start from: a daily reset at midnight UTC and the rules of `kinds`, each
    /// with its starting values.
    pub(super) fn starter(kinds: &[&str]) -> Self {
        let mut model = Self {
            time_zone: "UTC".to_owned(),
            reset_time: "00:00".to_owned(),
            estimated_equity_breaches: false,
            interest_dividend_tax: PlCounting::TradingPl,
            rules: Vec::new(),
        };
        for kind in kinds {
            if let Some(rule) = new_rule(&model, kind) {
                model.rules.push(rule);
            }
        }
        model
    }
}

/// Sets the value at `path` (object keys) inside `value`, creating objects on the way.
fn set_at(value: &mut Value, path: &[&str], new: Value) {
    // (Paths are short object-key lists: `["kind", "limit", "value"]`.)
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut at = value;
    for key in parents {
        if !at.get(*key).is_some_and(Value::is_object) {
            at[*key] = json!({});
        }
        at = &mut at[*key];
    }
    at[*last] = new;
}

/// A decimal typed in a field: kept as the engine's decimal text when it is one, else as
/// typed (the problems list then names it).
fn decimal_value(text: &str) -> Value {
    let text = text.trim();
    match text.parse::<Decimal>() {
        Ok(d) => Value::String(d.normalize().to_string()),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// A whole number typed in a field.
fn count_value(text: &str) -> Value {
    let text = text.trim();
    match text.parse::<u32>() {
        Ok(n) => json!(n),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// Warning levels typed as percents of the budget (`50, 80, 95`), stored as fractions.
fn warnings_value(text: &str) -> Value {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.trim_end_matches('%').trim().parse::<Decimal>() {
            Ok(p) => out.push(Value::String(
                (p / Decimal::ONE_HUNDRED).normalize().to_string(),
            )),
            Err(_) => return Value::String(text.to_owned()),
        }
    }
    Value::Array(out)
}

fn warnings_text(value: &Value) -> String {
    value
        .as_array()
        .map(|fractions| {
            fractions
                .iter()
                .filter_map(|f| match f {
                    Value::String(s) => s.parse::<Decimal>().ok(),
                    Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
                    _ => None,
                })
                .map(|f| (f * Decimal::ONE_HUNDRED).normalize().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An id for a new rule of `kind` not used yet.
fn fresh_id(model: &Model, kind: &str) -> String {
    let used = |id: &str| {
        model
            .rules
            .iter()
            .any(|r| r.get("id").and_then(Value::as_str) == Some(id))
    };
    if !used(kind) {
        return kind.to_owned();
    }
    (2..)
        .map(|n| format!("{kind}_{n}"))
        .find(|id| !used(id))
        .unwrap_or_else(|| kind.to_owned())
}

fn new_rule(model: &Model, kind: &str) -> Option<Value> {
    let (_, template) = NEW_RULES.iter().find(|(k, _)| *k == kind)?;
    let kind_value: Value = serde_json::from_str(template).ok()?;
    let severity = match serde_json::from_value::<RuleKind>(kind_value.clone())
        .ok()?
        .default_severity()
    {
        Severity::Hard => "hard",
        Severity::Soft => "soft",
    };
    Some(json!({
        "id": fresh_id(model, kind),
        "kind": kind_value,
        "severity": severity,
        "warnings": ["0.5", "0.8", "0.95"],
    }))
}

/// Where the editor's check stands.
#[derive(Clone, Debug, PartialEq)]
struct Checked {
    problems: Vec<String>,
    changes: Vec<RuleChange>,
    draft: Option<RuleSetDraft>,
}

fn check(model: &Model, baseline: &RuleSetDraft, initial: Decimal) -> Checked {
    let draft = match model.draft() {
        Ok(draft) => draft,
        Err(problems) => {
            return Checked {
                problems,
                changes: Vec::new(),
                draft: None,
            };
        }
    };
    match edit::validate(&draft, initial) {
        Ok(set) => {
            let changes = edit::validate(baseline, initial)
                .map(|old| edit::diff(&old, &set))
                .unwrap_or_default();
            Checked {
                problems: Vec::new(),
                changes,
                draft: Some(draft),
            }
        }
        Err(error) => Checked {
            problems: error.problems,
            changes: Vec::new(),
            draft: None,
        },
    }
}

/// `datetime-local` text (browser time) as a UTC instant.
pub(super) fn parse_local(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let local = naive.and_local_timezone(format::local_offset()).single()?;
    Some(local.with_timezone(&chrono::Utc))
}

/// Rules (admin console): the editor for one challenge.
#[component]
pub fn AdminRulesPage() -> impl IntoView {
    crate::pages::set_title("Rules · Admin · Riskdeck");
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    view! {
        <section class="panel rule-editor" data-testid="admin-rules">
            {move || {
                let id = AccountId(id.get());
                view! { <RuleEditor id /> }
            }}
        </section>
    }
}

#[derive(Clone, Debug)]
enum Loaded {
    Loading,
    Ready(Box<RuleSetsResponse>),
    Failed(api::ApiError),
}

#[component]
fn RuleEditor(id: AccountId) -> impl IntoView {
    let loaded = RwSignal::new(Loaded::Loading);
    let saved = RwSignal::new(None::<Result<RuleSetSaved, String>>);
    let load = {
        let id = id.clone();
        move || {
            let id = id.clone();
            spawn_local(async move {
                loaded.try_set(match api::rule_sets(&id).await {
                    Ok(response) => Loaded::Ready(Box::new(response)),
                    Err(error) => Loaded::Failed(error),
                });
            });
        }
    };
    load();
    let retry = {
        let load = load.clone();
        Callback::new(move |()| load())
    };
    let saved_note = move || {
        saved.get().map(|answer| match answer {
            Ok(saved) => {
                let when = if saved.applied {
                    "applied now".to_owned()
                } else {
                    format!("applies from {}", format::date_time(saved.effective_from))
                };
                view! {
                    <p class="rule-saved" role="status" data-testid="rules-saved">
                        {format!("Saved version {}, {when}.", saved.version)}
                    </p>
                }
                .into_any()
            }
            Err(message) => view! {
                <p class="rule-save-error" role="alert" data-testid="rules-save-error">{message}</p>
            }
            .into_any(),
        })
    };
    let title = format!("Rules of {}", id.as_str());
    let back = super::paths::challenge(&id);
    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href=back>"← The challenge"</a>
        </nav>
        <h1>{title}</h1>
        {saved_note}
        {move || match loaded.get() {
            Loaded::Loading => view! { <Loading label="Loading the rules…" /> }.into_any(),
            Loaded::Failed(error) => {
                view! {
                    <ErrorPanel
                        title="The rules could not be loaded"
                        message=error.to_string()
                        on_retry=retry
                    />
                }
                    .into_any()
            }
            Loaded::Ready(response) => {
                match (response.current.clone(), response.initial_balance) {
                    (Some(current), Some(initial)) => {
                        let reload = load.clone();
                        view! {
                            <Editor
                                id=id.clone()
                                current
                                initial
                                saved
                                on_saved=Callback::new(move |()| reload())
                            />
                            <Versions response=*response />
                        }
                            .into_any()
                    }
                    _ => {
                        let again = super::paths::rules(&id);
                        view! {
                            <p class="notice" data-testid="rules-no-challenge">
                                "This account has no running challenge yet (it may still be reading its history): there are no rules to edit. "
                                <a href=again>"Try again"</a>
                            </p>
                        }
                            .into_any()
                    }
                }
            }
        }}
    }
}

#[component]
fn Editor(
    id: AccountId,
    current: RuleSetDraft,
    initial: Decimal,
    /// The last save's answer (kept by the page: the editor is built again after a save).
    saved: RwSignal<Option<Result<RuleSetSaved, String>>>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let baseline = current.clone();
    let model = RwSignal::new(Model::of(&current));
    // Bumped when rules are added or removed (or the form reset): the form is built again
    // then, and only then, so typing never loses focus.
    let layout = RwSignal::new(0_u32);
    let checked = Memo::new(move |_| model.with(|m| check(m, &baseline, initial)));
    let effective = RwSignal::new(String::new());
    let saving = RwSignal::new(false);
    let what_if = RwSignal::new(None::<Result<WhatIfResponse, String>>);
    let replaying = RwSignal::new(false);

    let run_what_if = {
        let id = id.clone();
        move |_| {
            let Some(draft) = checked.with_untracked(|c| c.draft.clone()) else {
                return;
            };
            let id = id.clone();
            replaying.set(true);
            what_if.set(None);
            spawn_local(async move {
                let answer = api::what_if(&id, &WhatIfRequest { draft }).await;
                replaying.try_set(false);
                what_if.try_set(Some(answer.map_err(|e| e.to_string())));
            });
        }
    };
    let save = {
        let id = id.clone();
        move |_| {
            let Some(draft) = checked.with_untracked(|c| c.draft.clone()) else {
                return;
            };
            let text = effective.get_untracked();
            let effective_from = if text.trim().is_empty() {
                None
            } else {
                match parse_local(text.trim()) {
                    Some(at) => Some(at),
                    None => {
                        saved.set(Some(Err(
                            "The effective-from instant is not a date and time.".to_owned(),
                        )));
                        return;
                    }
                }
            };
            let id = id.clone();
            saving.set(true);
            saved.set(None);
            spawn_local(async move {
                let request = SaveRuleSetRequest {
                    draft,
                    effective_from,
                };
                let answer = api::save_rule_set(&id, &request).await;
                saving.try_set(false);
                let ok = answer.is_ok();
                saved.try_set(Some(answer.map_err(|e| e.to_string())));
                if ok {
                    on_saved.try_run(());
                }
            });
        }
    };

    let reset = {
        let current = current.clone();
        move |_| {
            model.set(Model::of(&current));
            layout.update(|n| *n += 1);
            what_if.set(None);
        }
    };

    let problems = move || {
        checked.with(|c| {
            if c.problems.is_empty() {
                return None;
            }
            let items = c
                .problems
                .iter()
                .map(|p| view! { <li>{p.clone()}</li> })
                .collect_view();
            Some(view! {
                <div class="rule-problems" role="alert" data-testid="rules-problems">
                    <strong>"These rules cannot be saved:"</strong>
                    <ul>{items}</ul>
                </div>
            })
        })
    };
    let diff = move || {
        checked.with(|c| {
            c.draft.as_ref()?;
            if c.changes.is_empty() {
                return Some(
                    view! {
                        <p class="rule-diff-none" data-testid="rules-diff-none">
                            "No change from the rules in force."
                        </p>
                    }
                    .into_any(),
                );
            }
            let rows = c
                .changes
                .iter()
                .map(|change| {
                    view! {
                        <tr data-testid="rules-diff-row">
                            <th scope="row">{change.parameter.clone()}</th>
                            <td>{change.old.clone().unwrap_or_else(|| "–".to_owned())}</td>
                            <td>{change.new.clone().unwrap_or_else(|| "–".to_owned())}</td>
                        </tr>
                    }
                })
                .collect_view();
            Some(
                view! {
                    <table class="rule-diff" data-testid="rules-diff">
                        <caption>"Changes from the rules in force"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Parameter"</th>
                                <th scope="col">"Now"</th>
                                <th scope="col">"New"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
                .into_any(),
            )
        })
    };
    let cannot_act = move || checked.with(|c| c.draft.is_none());
    let nothing_to_save = move || checked.with(|c| c.draft.is_none() || c.changes.is_empty());
    let what_if_view = move || {
        if replaying.get() {
            return Some(
                view! {
                    <p class="what-if-running" role="status" data-testid="what-if-running">
                        <span class="spinner" aria-hidden="true"></span>
                        "Replaying the account's journal under both rule sets…"
                    </p>
                }
                .into_any(),
            );
        }
        what_if.get().map(|answer| match answer {
            Ok(answer) => view! { <WhatIfResult answer /> }.into_any(),
            Err(message) => view! {
                <p class="what-if-error" role="alert" data-testid="what-if-error">{message}</p>
            }
            .into_any(),
        })
    };

    view! {
        <form class="rule-form" on:submit=|ev| ev.prevent_default()>
            <RuleSetFields model layout>
                <button type="button" class="button button-quiet" data-testid="rules-reset" on:click=reset>
                    "Start over"
                </button>
            </RuleSetFields>
        </form>
        {problems}
        {diff}
        <div class="rule-actions">
            <button
                type="button"
                class="button button-quiet"
                data-testid="rules-what-if"
                prop:disabled={move || cannot_act() || replaying.get()}
                on:click=run_what_if
            >
                "What if? Replay the journal"
            </button>
            <label>
                "Effective from (empty: now)"
                <input
                    type="datetime-local"
                    data-testid="rules-effective"
                    prop:value=move || effective.get()
                    on:input=move |ev| effective.set(event_target_value(&ev))
                />
            </label>
            <button
                type="button"
                class="button"
                data-testid="rules-save"
                prop:disabled={move || nothing_to_save() || saving.get()}
                on:click=save
            >
                {move || if saving.get() { "Saving…" } else { "Save a new version" }}
            </button>
        </div>
        {what_if_view}
    }
}

/// A rule set's inputs: the daily reset and the switches, each rule's fields, and a row to add
/// a rule (`children` beside its button). `model` holds what is typed; `layout` is bumped when
/// rules are added or removed (or the model replaced), and only then is the form built again,
/// so typing never loses focus. The rule editor edits one challenge's rules with it, the
/// programs page each phase's.
#[component]
pub(super) fn RuleSetFields(
    model: RwSignal<Model>,
    layout: RwSignal<u32>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let clock_fields = move || {
        layout.get();
        let m = model.get_untracked();
        view! {
            <fieldset class="rule-clock">
                <legend>"Daily reset"</legend>
                <label>
                    "Time zone (IANA)"
                    <input
                        type="text"
                        data-testid="rules-time-zone"
                        prop:value=m.time_zone.clone()
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            model.update(|m| m.time_zone = text);
                        }
                    />
                </label>
                <label>
                    "Local time (HH:MM)"
                    <input
                        type="text"
                        data-testid="rules-reset-time"
                        prop:value=m.reset_time.clone()
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            model.update(|m| m.reset_time = text);
                        }
                    />
                </label>
                <label class="check">
                    <input
                        type="checkbox"
                        data-testid="rules-estimated"
                        prop:checked=m.estimated_equity_breaches
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            model.update(|m| m.estimated_equity_breaches = on);
                        }
                    />
                    "Equity estimated from quotes may breach a loss rule"
                </label>
                <label>
                    "Interest, dividend and tax deals"
                    <select
                        data-testid="rules-interest-dividend-tax"
                        on:change=move |ev| {
                            let counting = if event_target_value(&ev) == "balance_operation" {
                                PlCounting::BalanceOperation
                            } else {
                                PlCounting::TradingPl
                            };
                            model.update(|m| m.interest_dividend_tax = counting);
                        }
                    >
                        <option
                            value="trading_pl"
                            selected={m.interest_dividend_tax == PlCounting::TradingPl}
                        >
                            "count as trading P/L"
                        </option>
                        <option
                            value="balance_operation"
                            selected={m.interest_dividend_tax == PlCounting::BalanceOperation}
                        >
                            "move the balance like deposits (not P/L)"
                        </option>
                    </select>
                </label>
            </fieldset>
        }
    };

    let rule_fields = move || {
        layout.get();
        let rules = model.with_untracked(|m| m.rules.clone());
        rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| view! { <RuleFields index rule model layout /> })
            .collect_view()
    };

    let add_kind = RwSignal::new(NEW_RULES[0].0.to_owned());
    let add_rule = move |_| {
        let kind = add_kind.get_untracked();
        model.update(|m| {
            if let Some(rule) = new_rule(m, &kind) {
                m.rules.push(rule);
            }
        });
        layout.update(|n| *n += 1);
    };

    view! {
        {clock_fields}
        {rule_fields}
        <div class="rule-add">
            <label>
                "Add a rule"
                <select
                    data-testid="rules-add-kind"
                    on:change=move |ev| add_kind.set(event_target_value(&ev))
                >
                    {NEW_RULES
                        .iter()
                        .map(|(kind, _)| view! { <option value=*kind>{*kind}</option> })
                        .collect_view()}
                </select>
            </label>
            <button type="button" class="button" data-testid="rules-add" on:click=add_rule>
                "Add"
            </button>
            {children.map(|children| children())}
        </div>
    }
}

/// One rule's inputs: id, severity, warnings and every parameter of its kind.
#[component]
fn RuleFields(
    index: usize,
    rule: Value,
    model: RwSignal<Model>,
    layout: RwSignal<u32>,
) -> impl IntoView {
    let set = move |path: Vec<String>, value: Value| {
        model.update(|m| {
            if let Some(rule) = m.rules.get_mut(index) {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                set_at(rule, &path, value);
            }
        });
    };
    let key = |k: &str| vec![k.to_owned()];
    let id = rule.get("id").map(text_of).unwrap_or_default();
    let kind = rule
        .get("kind")
        .and_then(|k| k.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let severity = rule.get("severity").map(text_of).unwrap_or_default();
    let warnings = rule.get("warnings").map(warnings_text).unwrap_or_default();
    let parameters: Vec<(String, Value)> = rule
        .get("kind")
        .and_then(Value::as_object)
        .map(|fields| {
            fields
                .iter()
                .filter(|(name, _)| name.as_str() != "type")
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let remove = move |_| {
        model.update(|m| {
            if index < m.rules.len() {
                m.rules.remove(index);
            }
        });
        layout.update(|n| *n += 1);
    };
    let parameter_fields = parameters
        .into_iter()
        .map(|(name, value)| parameter_field(name, value, set))
        .collect_view();
    view! {
        <fieldset class="rule-fields" data-testid="rule-fields" data-rule-id=id.clone()>
            <legend>{format!("{} · {kind}", id.clone())}</legend>
            <label>
                "Id"
                <input
                    type="text"
                    data-testid="rule-id"
                    prop:value=id.clone()
                    on:input=move |ev| set(key("id"), Value::String(event_target_value(&ev)))
                />
            </label>
            <label>
                "Severity"
                <select
                    data-testid="rule-severity"
                    on:change=move |ev| set(key("severity"), Value::String(event_target_value(&ev)))
                >
                    <option value="hard" selected={severity == "hard"}>"hard (fails)"</option>
                    <option value="soft" selected={severity == "soft"}>"soft (pauses)"</option>
                </select>
            </label>
            <label>
                "Warnings at % of the budget"
                <input
                    type="text"
                    data-testid="rule-warnings"
                    prop:value=warnings
                    on:input=move |ev| set(key("warnings"), warnings_value(&event_target_value(&ev)))
                />
            </label>
            {parameter_fields}
            <button type="button" class="button button-quiet" data-testid="rule-remove" on:click=remove>
                "Remove"
            </button>
        </fieldset>
    }
}

/// The input(s) of one parameter of a rule's kind.
fn parameter_field(
    name: String,
    value: Value,
    set: impl Fn(Vec<String>, Value) + Copy + 'static,
) -> AnyView {
    let label = name.replace('_', " ");
    let path = {
        let name = name.clone();
        move |rest: &[&str]| {
            let mut path = vec!["kind".to_owned(), name.clone()];
            path.extend(rest.iter().map(|s| (*s).to_owned()));
            path
        }
    };
    if let Some(options) = choices(&name) {
        let chosen = text_of(&value);
        let testid = format!("rule-{name}");
        return view! {
            <label>
                {label}
                <select
                    data-testid={testid}
                    on:change=move |ev| set(path(&[]), Value::String(event_target_value(&ev)))
                >
                    {options
                        .iter()
                        .map(|o| {
                            let selected = chosen == *o;
                            view! { <option value=*o selected={selected}>{o.replace('_', " ")}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        }
        .into_any();
    }
    // A limit: its kind and its number (an optional limit may be "none").
    let is_limit = value.get("type").is_some() && value.get("value").is_some();
    if is_limit || name == "min_day_profit" {
        let optional = name == "min_day_profit";
        let limit_type = value.get("type").map(text_of).unwrap_or_default();
        let amount = value.get("value").map(text_of).unwrap_or_default();
        let none_selected = limit_type.is_empty();
        let type_testid = format!("rule-{name}-type");
        let value_testid = format!("rule-{name}-value");
        let kind_label = format!("{label}: kind");
        let amount_label = format!("{label}: amount or percent");
        let type_path = path.clone();
        return view! {
            <div class="rule-limit">
                <label>
                    {kind_label}
                    <select
                        data-testid={type_testid}
                        on:change=move |ev| {
                            let chosen = event_target_value(&ev);
                            if chosen == "none" {
                                set(type_path(&[]), Value::Null);
                            } else {
                                set(type_path(&["type"]), Value::String(chosen));
                            }
                        }
                    >
                        {optional.then(|| view! { <option value="none" selected={none_selected}>"none"</option> })}
                        {LIMIT_TYPES
                            .iter()
                            .map(|t| {
                                let selected = limit_type == *t;
                                view! { <option value=*t selected={selected}>{t.replace('_', " ")}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    {amount_label}
                    <input
                        type="text"
                        inputmode="decimal"
                        data-testid={value_testid}
                        prop:value=amount
                        on:input=move |ev| set(path(&["value"]), decimal_value(&event_target_value(&ev)))
                    />
                </label>
            </div>
        }
        .into_any();
    }
    if let Value::Bool(on) = value {
        let testid = format!("rule-{name}");
        let shown = match name.as_str() {
            "breach_at_floor" => "Reaching the floor is a breach (\"or below\")".to_owned(),
            _ => label,
        };
        return view! {
            <label class="check">
                <input
                    type="checkbox"
                    data-testid={testid}
                    prop:checked=on
                    on:change=move |ev| set(path(&[]), Value::Bool(event_target_checked(&ev)))
                />
                {shown}
            </label>
        }
        .into_any();
    }
    if name.ends_with("_time") {
        let testid = format!("rule-{name}");
        let text = text_of(&value);
        let shown = format!("{label} (HH:MM, reset clock's zone)");
        return view! {
            <label>
                {shown}
                <input
                    type="text"
                    data-testid={testid}
                    prop:value=text
                    on:input=move |ev| {
                        set(path(&[]), Value::String(event_target_value(&ev).trim().to_owned()))
                    }
                />
            </label>
        }
        .into_any();
    }
    let whole = value.is_u64() || matches!(name.as_str(), "days" | "count" | "max" | "minutes");
    let nullable = name == "lock_above_initial";
    let text = text_of(&value);
    let testid = format!("rule-{name}");
    let shown = if nullable {
        format!("{label} (empty: none)")
    } else {
        label
    };
    let mode = if whole { "numeric" } else { "decimal" };
    view! {
        <label>
            {shown}
            <input
                type="text"
                inputmode={mode}
                data-testid={testid}
                prop:value=text
                on:input=move |ev| {
                    let typed = event_target_value(&ev);
                    let new = if typed.trim().is_empty() && nullable {
                        Value::Null
                    } else if whole {
                        count_value(&typed)
                    } else {
                        decimal_value(&typed)
                    };
                    set(path(&[]), new);
                }
            />
        </label>
    }
    .into_any()
}

fn status_words(status: RuleStatus) -> &'static str {
    match status {
        RuleStatus::Pending => "pending",
        RuleStatus::Ok => "ok",
        RuleStatus::Warning => "warning",
        RuleStatus::Breached => "breached",
        RuleStatus::Passed => "passed",
    }
}

fn when(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map_or_else(|| "–".to_owned(), format::date_time)
}

/// The what-if's answer: each rule under the draft next to the rules in force.
#[component]
fn WhatIfResult(answer: WhatIfResponse) -> impl IntoView {
    let span = match (answer.from, answer.to) {
        (Some(from), Some(to)) => format!(
            "{} records replayed, {} to {}",
            answer.records,
            format::date_time(from),
            format::date_time(to)
        ),
        _ => "The journal holds no record to replay yet.".to_owned(),
    };
    let cut = answer.truncated.then(|| {
        view! {
            <p class="notice" data-testid="what-if-truncated">
                "The journal is long: the replay stopped early and covers it up to the last time above."
            </p>
        }
    });
    let skipped = (answer.skipped > 0).then(|| {
        format!(
            " {} records the engine refused were skipped.",
            answer.skipped
        )
    });
    let outcome = |title: &'static str, testid: &'static str, outcome: WhatIfOutcome| {
        let rows = outcome
            .rules
            .into_iter()
            .map(|rule| {
                let status = status_words(rule.status);
                view! {
                    <tr data-testid="what-if-rule" data-rule-id=rule.id.clone() data-status=status>
                        <th scope="row">{rule.id.clone()}</th>
                        <td>{status}</td>
                        <td>{format!("{} ({} in all)", when(rule.first_warning), rule.warnings)}</td>
                        <td>{when(rule.breached)}</td>
                        <td>{when(rule.met)}</td>
                    </tr>
                }
            })
            .collect_view();
        let status = format!("{:?}", outcome.status).to_lowercase();
        view! {
            <table class="what-if" data-testid=testid>
                <caption>
                    {format!("{title}: {status}")}
                    {outcome.decided.map(|t| format!(" on {}", format::date_time(t)))}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Rule"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"First warning"</th>
                        <th scope="col">"Breached"</th>
                        <th scope="col">"Met"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
    };
    view! {
        <section class="what-if-result" data-testid="what-if-result">
            <h2>"What if"</h2>
            <p>{span}{skipped}</p>
            {cut}
            {outcome("Under the draft", "what-if-draft", answer.draft)}
            {outcome("Under the rules in force", "what-if-current", answer.current)}
        </section>
    }
}

/// Every version saved so far, newest first.
#[component]
fn Versions(response: RuleSetsResponse) -> impl IntoView {
    let applied = response.applied_version;
    let items = response
        .versions
        .into_iter()
        .rev()
        .map(|version| {
            let state = match applied {
                Some(v) if v == version.version => " · in force",
                Some(v) if v > version.version => "",
                _ => " · waiting for its instant (or superseded)",
            };
            let changes = version
                .changes
                .iter()
                .map(|c| view! { <li>{c.words()}</li> })
                .collect_view();
            view! {
                <li data-testid="rules-version">
                    <strong>{format!("Version {}", version.version)}</strong>
                    {format!(
                        " · from {} · by {}{state}",
                        format::date_time(version.effective_from),
                        version.created_by,
                    )}
                    <ul>{changes}</ul>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="rule-versions">
            <h2>"Versions"</h2>
            <ol>{items}</ol>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::engine::edit::RuleSet;

    fn ftmo() -> RuleSetDraft {
        let config = shared::engine::preset("ftmo-2step", Decimal::from(100_000)).expect("preset");
        RuleSet {
            clock: config.clock,
            rules: config.rules,
            estimated_equity_breaches: false,
            interest_dividend_tax: PlCounting::TradingPl,
        }
        .draft()
    }

    #[test]
    fn editing_a_parameter_changes_the_draft_and_the_diff() {
        let baseline = ftmo();
        let mut model = Model::of(&baseline);
        assert_eq!(model.draft().expect("draft"), baseline);
        set_at(
            &mut model.rules[0],
            &["kind", "limit", "value"],
            decimal_value(" 3.0 "),
        );
        let checked = check(&model, &baseline, Decimal::from(100_000));
        assert!(checked.problems.is_empty(), "{checked:?}");
        assert_eq!(
            checked.changes[0].words(),
            "daily_loss.limit: 5% of the initial balance → 3% of the initial balance"
        );
        assert!(edit::validate(&checked.draft.expect("draft"), Decimal::from(100_000)).is_ok());
    }

    #[test]
    fn a_value_that_is_not_a_number_is_named() {
        let baseline = ftmo();
        let mut model = Model::of(&baseline);
        set_at(&mut model.rules[3], &["kind", "days"], count_value("four"));
        let checked = check(&model, &baseline, Decimal::from(100_000));
        assert!(
            checked.problems[0].starts_with("rule 4 (min_trading_days)"),
            "{checked:?}"
        );
        set_at(&mut model.rules[3], &["kind", "days"], count_value("6"));
        set_at(
            &mut model.rules[0],
            &["warnings"],
            warnings_value("50, 80%, 95"),
        );
        let checked = check(&model, &baseline, Decimal::from(100_000));
        assert!(checked.problems.is_empty(), "{checked:?}");
        assert_eq!(warnings_text(&model.rules[0]["warnings"]), "50, 80, 95");
    }

    #[test]
    fn the_new_options_are_edited_like_any_parameter_and_said_in_words() {
        let baseline = ftmo();
        let mut model = Model::of(&baseline);
        // Every loss rule shows its options (they are in the engine's JSON of the rule).
        assert_eq!(model.rules[1]["kind"]["measure"], "equity");
        assert_eq!(model.rules[1]["kind"]["breach_at_floor"], false);
        set_at(
            &mut model.rules[1],
            &["kind", "breach_at_floor"],
            Value::Bool(true),
        );
        set_at(
            &mut model.rules[1],
            &["kind", "measure"],
            Value::String("balance".into()),
        );
        model.interest_dividend_tax = PlCounting::BalanceOperation;
        let mut weekend = new_rule(&model, "no_weekend_positions").expect("template");
        set_at(
            &mut weekend,
            &["kind", "from_time"],
            Value::String("15:45".into()),
        );
        model.rules.push(weekend);
        let checked = check(&model, &baseline, Decimal::from(100_000));
        assert!(checked.problems.is_empty(), "{checked:?}");
        let words: Vec<String> = checked.changes.iter().map(RuleChange::words).collect();
        for expected in [
            "interest, dividend and tax deals: trading P/L → balance operations (not P/L)",
            "max_loss.breach_at_floor: no → yes",
            "max_loss.measure: equity → balance",
            "no_weekend_positions added: no_weekend_positions (from_day friday, from_time \
             15:45:00, until_day sunday, until_time 22:00:00)",
        ] {
            assert!(
                words.iter().any(|w| w == expected),
                "{expected} in {words:#?}"
            );
        }
        // A choice that is not one is named.
        set_at(
            &mut model.rules[4],
            &["kind", "from_day"],
            Value::String("someday".into()),
        );
        let checked = check(&model, &baseline, Decimal::from(100_000));
        assert!(
            checked.problems[0].starts_with("rule 5 (no_weekend_positions)"),
            "{checked:?}"
        );
    }

    #[test]
    fn every_new_rule_kind_starts_valid_with_its_own_id() {
        let baseline = ftmo();
        let mut model = Model::of(&baseline);
        for (kind, _) in NEW_RULES {
            let rule = new_rule(&model, kind).expect("template");
            model.rules.push(rule);
        }
        // A second daily loss rule gets its own id.
        let extra = new_rule(&model, "daily_loss").expect("template");
        assert_eq!(extra["id"], "daily_loss_3");
        let draft = model.draft().expect("every template reads");
        assert_eq!(draft.rules.len(), 4 + NEW_RULES.len());
        // Each template holds every parameter of its kind (so each is shown to edit).
        for rule in &draft.rules {
            let json = serde_json::to_value(rule.kind).expect("json");
            let template = model
                .rules
                .iter()
                .find(|r| r["id"] == rule.id.as_str())
                .expect("in the model");
            assert_eq!(template["kind"], json, "{}", rule.id);
        }
    }
}
