//! `/`: every tracked account, updated live.

use super::{EarlyEvents, Load, connection_status, event_account, merge_summary};
use crate::components::{
    ErrorPanel, FeedBadge, Loading, StreamStatus, amount, rule_label, status_badge,
};
use crate::sse::{self, Connection};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use rust_decimal::Decimal;
use shared::api::{AccountSummary, ChallengeView, ClosestRule, StreamEvent};
use shared::domain::AccountId;
use shared::engine::{RuleStatus, Unit};
use std::collections::HashSet;

/// One table row: the id to find it by and the numbers it shows, updated in place.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    id: AccountId,
    summary: RwSignal<AccountSummary>,
}

/// The accounts list, from the `accounts` chunk: the dashboard does not need it.
#[wasm_split(accounts, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_accounts_page() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <AccountsPage /> }.into_any())
}

#[component]
pub fn AccountsPage() -> impl IntoView {
    super::set_title("Accounts · Riskdeck");
    let rows = RwSignal::new(Load::<Vec<Row>>::Loading);
    let connection = RwSignal::new(Connection::Connecting);

    let early = StoredValue::new(EarlyEvents::default());
    // Ids of accounts the stream mentioned before the list had them; each triggers one refetch.
    let refetched = StoredValue::new(HashSet::<AccountId>::new());

    // `quiet`: refresh what is shown without a spinner, and keep it if the refresh fails.
    let load = move |quiet: bool| {
        if !quiet {
            rows.set(Load::Loading);
        }
        spawn_local(async move {
            let response = api::accounts().await;
            let early_events = early
                .try_update_value(EarlyEvents::take)
                .unwrap_or_default();
            let shown = rows
                .try_with_untracked(|rows| match rows {
                    Load::Ready(rows) => Some(rows.clone()),
                    _ => None,
                })
                .flatten();
            match response {
                Ok(response) => {
                    // Rebuild the table only when the set of accounts changed: rows that stay
                    // keep their signals and update in place.
                    let first_load = shown.is_none();
                    let shown = shown.unwrap_or_default();
                    let next = response
                        .accounts
                        .into_iter()
                        .map(|mut fetched| {
                            for event in &early_events {
                                fetched.apply(event);
                            }
                            match shown.iter().find(|row| row.id == fetched.id) {
                                Some(row) => {
                                    row.summary
                                        .try_update(|summary| merge_summary(summary, fetched));
                                    row.clone()
                                }
                                None => Row {
                                    id: fetched.id.clone(),
                                    summary: RwSignal::new(fetched),
                                },
                            }
                        })
                        .collect::<Vec<_>>();
                    if first_load
                        || shown
                            .iter()
                            .map(|row| &row.id)
                            .ne(next.iter().map(|row| &row.id))
                    {
                        rows.try_set(Load::Ready(next));
                    }
                }
                Err(error) if quiet && shown.is_some() => {
                    leptos::logging::warn!("refreshing the accounts failed: {error}");
                }
                Err(error) => {
                    rows.try_set(Load::Failed(error));
                }
            }
        });
    };
    load(false);

    let on_event = move |event: StreamEvent| {
        let row = rows.try_with_untracked(|rows| match rows {
            Load::Ready(rows) => Some(
                rows.iter()
                    .find(|row| event_account(&event) == Some(&row.id))
                    .cloned(),
            ),
            _ => None,
        });
        match row.flatten() {
            Some(Some(row)) => {
                row.summary.try_update(|summary| summary.apply(&event));
            }
            Some(None) => {
                // An account added after the list was fetched: fetch the list again, quietly.
                let Some(id) = event_account(&event).cloned() else {
                    return;
                };
                if refetched
                    .try_update_value(|ids| ids.insert(id))
                    .unwrap_or(false)
                {
                    load(true);
                }
            }
            None => {
                early.try_update_value(|early| early.push(event));
            }
        }
    };
    let subscription = sse::subscribe(
        api::stream_url(None),
        on_event,
        connection_status(connection),
        move || load(true),
    );
    let subscription = StoredValue::new_local(subscription);
    on_cleanup(move || subscription.dispose());

    let retry = Callback::new(move |()| load(false));
    let session = crate::session::Session::get();
    let is_admin = move || session.user().map(|user| user.role) == Some(shared::api::Role::Admin);
    let scope = move || match session.user().map(|user| user.role) {
        Some(shared::api::Role::Admin) => "Balance, equity and drawdown of every tracked account.",
        _ => "How each challenge stands, with balance, equity and drawdown, live.",
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"Accounts"</h1>
                <p class="subtle">{scope}</p>
            </div>
            <div class="page-actions">
                <CompetitionsLink />
                <StreamStatus connection=connection />
                {move || {
                    (session.user().map(|user| user.role) == Some(shared::api::Role::Admin))
                        .then(|| view! {
                            <a class="button button-quiet" href="/admin" rel="external" data-testid="accounts-admin-link">
                                "All challenges (admin)"
                            </a>
                        })
                }}
            </div>
        </div>
        {move || match rows.get() {
            Load::Loading => view! { <Loading label="Loading accounts…" /> }.into_any(),
            Load::Failed(error) => {
                view! {
                    <ErrorPanel
                        title="The accounts could not be loaded"
                        message=error.to_string()
                        on_retry=retry
                    />
                }
                    .into_any()
            }
            Load::Ready(rows) if rows.is_empty() => view! { <EmptyState admin=is_admin() /> }.into_any(),
            Load::Ready(rows) => view! { <AccountsTable rows /> }.into_any(),
        }}
    }
}

/// A link to the trader's competitions, when one of their accounts is in any.
#[component]
fn CompetitionsLink() -> impl IntoView {
    let count = RwSignal::new(0usize);
    spawn_local(async move {
        // Without the list (an older server, a failure) there is simply no link.
        if let Ok(response) = api::competitions().await {
            count.try_set(response.competitions.iter().filter(|c| c.mine > 0).count());
        }
    });
    move || {
        let n = count.get();
        (n > 0).then(|| {
            view! {
                <a class="button button-quiet" href="/competitions" data-testid="competitions-link">
                    {if n == 1 { "Competition".to_owned() } else { format!("Competitions ({n})") }}
                </a>
            }
        })
    }
}

#[component]
fn EmptyState(admin: bool) -> impl IntoView {
    let text = if admin {
        "Add an account from the admin pages; it appears here live, with no need to reload."
    } else {
        "Your firm assigns you an account when your challenge starts; it appears here live, \
         with no need to reload this page."
    };
    view! {
        <section class="panel notice" data-testid="accounts-empty">
            <h2>"No accounts yet"</h2>
            <p>{text}</p>
        </section>
    }
}

/// How a challenge stands, as the accounts list shows it: read from the engine's report.
#[derive(Clone, Debug, PartialEq)]
struct Standing {
    name: String,
    status: (&'static str, &'static str),
    /// The limit closest to breach and its room left.
    closest: Option<(String, &'static str)>,
    /// Progress to the profit target, 0 to 100.
    target: Option<Decimal>,
}

impl Standing {
    fn of(challenge: &ChallengeView) -> Self {
        let closest = ClosestRule::of(&challenge.rules).map(|closest| {
            let label = rule_label(&closest.kind, &closest.id);
            let unit = challenge
                .rules
                .iter()
                .find(|rule| rule.id == closest.id)
                .map_or(Unit::Money, |rule| rule.unit);
            let (text, tone) = match (closest.status, closest.remaining) {
                (RuleStatus::Breached, _) => (format!("{label}: broken"), "breached"),
                (status, Some(room)) => (
                    format!("{label}: {} left", amount(Some(room), unit)),
                    if status == RuleStatus::Warning {
                        "warning"
                    } else {
                        "ok"
                    },
                ),
                (_, None) => (label, "ok"),
            };
            (text, tone)
        });
        let target = challenge
            .rules
            .iter()
            .find(|rule| rule.kind == "profit_target")
            .map(|rule| {
                (rule.progress.unwrap_or(Decimal::ZERO) * Decimal::ONE_HUNDRED)
                    .clamp(Decimal::ZERO, Decimal::ONE_HUNDRED)
                    .round()
            });
        Self {
            // The program (or preset) and the phase: "FTMO 2-Step · Phase 2".
            name: {
                let title = challenge
                    .title
                    .clone()
                    .unwrap_or_else(|| challenge.preset.clone());
                match &challenge.phase {
                    Some(phase) => format!("{title} · {phase}"),
                    None => title,
                }
            },
            status: status_badge(challenge.status),
            closest,
            target,
        }
    }
}

/// The challenge cell: name and status badge, the limit closest to breach, progress to target.
#[component]
fn ChallengeCell(summary: RwSignal<AccountSummary>) -> impl IntoView {
    let standing = Memo::new(move |_| {
        summary.with(|s| {
            s.latest
                .as_ref()
                .and_then(|view| view.challenge.as_ref())
                .map(Standing::of)
        })
    });
    move || {
        match standing.get() {
        None => view! { <span class="subtle">"–"</span> }.into_any(),
        Some(Standing { name, status: (class, word), closest, target }) => view! {
            <span class="account-challenge-status" data-status=word.to_lowercase()>
                <span class=class>{word}</span>
                " "
                {name}
            </span>
            {closest.map(|(text, tone)| view! {
                <span
                    class=format!("pct account-closest-rule closest-{tone}")
                    style="white-space:nowrap"
                >{text}</span>
            })}
            {target.map(|percent| {
                let percent = percent.to_string();
                view! {
                    <span class="pct account-target-progress">
                        <span
                            class="progress"
                            style="display:inline-block;width:80px;vertical-align:middle"
                            role="progressbar"
                            aria-label="Progress to the profit target"
                            aria-valuemin="0"
                            aria-valuemax="100"
                            aria-valuenow=percent.clone()
                        >
                            <span class="bar bar-good" style="display:block" style:width=format!("{percent}%")></span>
                        </span>
                        {format!(" {percent}% of target")}
                    </span>
                }
            })}
        }
            .into_any(),
    }
    }
}

#[component]
fn AccountsTable(rows: Vec<Row>) -> impl IntoView {
    view! {
        <div class="panel table-panel">
            <table class="accounts" data-testid="accounts-list">
                <thead>
                    <tr>
                        <th scope="col">"Account"</th>
                        <th scope="col">"Challenge"</th>
                        <th scope="col">"Currency"</th>
                        <th scope="col" class="num">"Balance"</th>
                        <th scope="col" class="num">"Equity"</th>
                        <th scope="col" class="num">"Drawdown from peak"</th>
                        <th scope="col">"Feed"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.clone()
                        key=|row| row.id.clone()
                        children=|row| view! { <AccountRow summary=row.summary /> }
                    />
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AccountRow(summary: RwSignal<AccountSummary>) -> impl IntoView {
    let (id, name) = summary.with_untracked(|s| (s.id.to_string(), s.name.clone()));
    let href = summary.with_untracked(|s| crate::pages::account_path(&s.id));
    let money = move |pick: fn(&shared::api::AccountView) -> rust_decimal::Decimal| {
        move || {
            summary.with(|s| {
                s.latest
                    .as_ref()
                    .map_or_else(|| "–".to_owned(), |view| format::money(pick(view)))
            })
        }
    };
    let currency = move || summary.with(|s| s.currency.clone().unwrap_or_else(|| "–".to_owned()));
    let drawdown_percent = move || {
        summary.with(|s| {
            s.latest
                .as_ref()
                .map(|view| format::percent(view.drawdown_percent))
        })
    };
    let in_drawdown = move || {
        summary.with(|s| {
            s.latest
                .as_ref()
                .is_some_and(|view| view.drawdown > rust_decimal::Decimal::ZERO)
        })
    };
    let feed = Signal::derive(move || summary.with(|s| s.feed));
    let backfill = Signal::derive(move || summary.with(|s| s.backfill.clone()));
    view! {
        <tr data-testid="account-row" data-account-id=id.clone()>
            <th scope="row" data-label="Account">
                <a class="account-link" href=href>
                    {name}
                </a>
            </th>
            <td data-label="Challenge">
                <ChallengeCell summary=summary />
            </td>
            <td data-label="Currency">{currency}</td>
            <td class="num" data-label="Balance">{money(|v| v.balance)}</td>
            <td class="num" data-label="Equity">{money(|v| v.equity)}</td>
            <td class="num" class:negative=in_drawdown data-label="Drawdown from peak">
                <span>
                    {money(|v| v.drawdown)}
                    <span class="subtle pct">{drawdown_percent}</span>
                </span>
            </td>
            <td data-label="Feed">
                <FeedBadge feed=feed backfill=backfill />
            </td>
        </tr>
    }
}
