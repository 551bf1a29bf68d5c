//! `/admin`: every challenge, with its live status, feed health, the rule closest to breach,
//! equity, P/L and owner; counts by status; search, filters, sort and pages. The server
//! searches, filters, sorts and pages (`GET /api/admin/challenges`); the rows on screen update
//! from the live stream, and the page refetches when the stream resynchronises.

use super::paths;
use crate::components::{ErrorPanel, FeedBadge, Loading, StreamStatus, rule_label};
use crate::pages::{Load, connection_status};
use crate::sse::{self, Connection};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{ChallengeCounts, ChallengeRow, StreamEvent};
use shared::domain::AccountId;
use shared::engine::{ChallengeStatus, RuleStatus};
use std::collections::HashSet;

/// Rows per page.
const PER_PAGE: u32 = 50;

/// A fetched page: rows that update in place, and what the server counted.
#[derive(Clone, Debug, PartialEq)]
struct Page {
    rows: Vec<(AccountId, RwSignal<ChallengeRow>)>,
    total: u64,
    counts: ChallengeCounts,
}

#[component]
pub fn AdminOverviewPage() -> impl IntoView {
    crate::pages::set_title("All challenges · Admin · Riskdeck");
    let query = RwSignal::new(api::OverviewQuery {
        sort: "breach".to_owned(),
        page: 1,
        per_page: PER_PAGE,
        ..api::OverviewQuery::default()
    });
    let page = RwSignal::new(Load::<Page>::Loading);
    let connection = RwSignal::new(Connection::Connecting);
    // Answers to older queries (typing fast) are dropped.
    let generation = StoredValue::new(0_u64);
    let refetched = StoredValue::new(HashSet::<AccountId>::new());

    let load = move |quiet: bool| {
        let Some(wanted) = query.try_get_untracked() else {
            return;
        };
        let Some(this) = generation.try_update_value(|g| {
            *g += 1;
            *g
        }) else {
            return;
        };
        if !quiet {
            page.set(Load::Loading);
        }
        spawn_local(async move {
            let response = api::admin_challenges(&wanted).await;
            if generation.try_get_value() != Some(this) {
                return;
            }
            match response {
                Ok(fetched) => {
                    page.try_set(Load::Ready(Page {
                        rows: fetched
                            .rows
                            .into_iter()
                            .map(|row| (row.id.clone(), RwSignal::new(row)))
                            .collect(),
                        total: fetched.total,
                        counts: fetched.counts,
                    }));
                }
                Err(error) if quiet => {
                    leptos::logging::warn!("refreshing the challenges failed: {error}");
                }
                Err(error) => {
                    page.try_set(Load::Failed(error));
                }
            }
        });
    };
    Effect::new(move || {
        query.track();
        load(false);
    });

    let on_event = move |event: StreamEvent| {
        let Some(id) = event.account_id().cloned() else {
            return;
        };
        let found = page.try_with_untracked(|page| match page {
            Load::Ready(page) => Some(
                page.rows
                    .iter()
                    .find(|(row_id, _)| *row_id == id)
                    .map(|(_, row)| *row),
            ),
            _ => None,
        });
        match found.flatten() {
            Some(Some(row)) => {
                row.try_update(|row| row.apply(&event));
            }
            // A challenge created since the page was fetched: fetch again, once, quietly.
            Some(None)
                if matches!(event, StreamEvent::Feed { .. })
                    && refetched
                        .try_update_value(|ids| ids.insert(id))
                        .unwrap_or(false) =>
            {
                load(true);
            }
            _ => {}
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

    let set_filter = move |apply: fn(&mut api::OverviewQuery, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            query.update(|q| {
                apply(q, value);
                q.page = 1;
            });
        }
    };
    let retry = Callback::new(move |()| load(false));
    let counts = Memo::new(move |_| match page.get() {
        Load::Ready(page) => Some(page.counts),
        _ => None,
    });

    view! {
        <div class="page-head">
            <div>
                <h1>"All challenges"</h1>
                <p class="subtle">
                    "Every tracked challenge, live: status, feed, the rule closest to breach."
                </p>
            </div>
            <div class="page-actions">
                <StreamStatus connection=connection />
                <a class="button" href=paths::CREATE data-testid="new-challenge-link">
                    "New challenge"
                </a>
            </div>
        </div>
        <StatusCounts counts=counts query=query />
        <form class="panel overview-filters" on:submit=|ev| ev.prevent_default()>
            <label>
                <span>"Search"</span>
                <input
                    type="search"
                    placeholder="Name, id or owner"
                    data-testid="overview-search"
                    prop:value=move || query.with(|q| q.q.clone())
                    on:input=set_filter(|q, v| q.q = v)
                />
            </label>
            <label>
                <span>"Status"</span>
                <select
                    data-testid="overview-status"
                    prop:value=move || query.with(|q| q.status.clone())
                    on:change=set_filter(|q, v| q.status = v)
                >
                    <option value="">"Any"</option>
                    <option value="active">"Active"</option>
                    <option value="paused">"Paused"</option>
                    <option value="failed">"Failed"</option>
                    <option value="passed">"Passed"</option>
                    <option value="none">"Not evaluated"</option>
                </select>
            </label>
            <label>
                <span>"Feed"</span>
                <select
                    data-testid="overview-feed"
                    prop:value=move || query.with(|q| q.feed.clone())
                    on:change=set_filter(|q, v| q.feed = v)
                >
                    <option value="">"Any"</option>
                    <option value="live">"Live"</option>
                    <option value="stale">"Stale"</option>
                    <option value="starting">"Connecting or reading history"</option>
                    <option value="archived">"Archived"</option>
                </select>
            </label>
            <label>
                <span>"Sort by"</span>
                <select
                    data-testid="overview-sort"
                    prop:value=move || query.with(|q| q.sort.clone())
                    on:change=set_filter(|q, v| q.sort = v)
                >
                    <option value="breach">"Closest to breach"</option>
                    <option value="name">"Name"</option>
                    <option value="equity">"Equity"</option>
                    <option value="pl">"P/L"</option>
                    <option value="id">"Id"</option>
                </select>
            </label>
        </form>
        {move || match page.get() {
            Load::Loading => view! { <Loading label="Loading challenges…" /> }.into_any(),
            Load::Failed(error) => {
                view! {
                    <ErrorPanel
                        title="The challenges could not be loaded"
                        message=error.to_string()
                        on_retry=retry
                    />
                }
                    .into_any()
            }
            Load::Ready(page) if page.counts.all == 0 => view! { <NoChallenges /> }.into_any(),
            Load::Ready(page) if page.rows.is_empty() => {
                view! { <NoMatch query=query /> }.into_any()
            }
            Load::Ready(page) => {
                let total = page.total;
                view! {
                    <ChallengesTable rows=page.rows />
                    <Pager query=query total=total />
                }
                    .into_any()
            }
        }}
    }
}

/// The counts by status; each one filters the list.
#[component]
fn StatusCounts(
    counts: Memo<Option<ChallengeCounts>>,
    query: RwSignal<api::OverviewQuery>,
) -> impl IntoView {
    let chip =
        move |status: &'static str, label: &'static str, pick: fn(&ChallengeCounts) -> u64| {
            let active = move || query.with(|q| q.status == status);
            view! {
                <button
                    type="button"
                    class="count-chip"
                    class:selected=active
                    data-testid="status-count"
                    data-status=status
                    aria-pressed=move || active().to_string()
                    on:click=move |_| {
                        query.update(|q| {
                            q.status = status.to_owned();
                            q.page = 1;
                        })
                    }
                >
                    <span class="count">{move || counts.get().map_or(0, |c| pick(&c))}</span>
                    <span>{label}</span>
                </button>
            }
        };
    let feeds = move || {
        counts.get().map(|c| {
            format!(
                "Feeds: {} live · {} stale · {} starting",
                c.live, c.stale, c.starting
            )
        })
    };
    view! {
        <div class="status-counts" role="group" aria-label="Challenges by status">
            {chip("", "All", |c| c.all)}
            {chip("active", "Active", |c| c.active)}
            {chip("paused", "Paused", |c| c.paused)}
            {chip("failed", "Failed", |c| c.failed)}
            {chip("passed", "Passed", |c| c.passed)}
            {chip("none", "Not evaluated", |c| c.none)}
            <span class="subtle feed-counts">{feeds}</span>
        </div>
    }
}

#[component]
fn ChallengesTable(rows: Vec<(AccountId, RwSignal<ChallengeRow>)>) -> impl IntoView {
    view! {
        <div class="panel table-panel">
            <table class="accounts challenges" data-testid="challenges-list">
                <thead>
                    <tr>
                        <th scope="col">"Challenge"</th>
                        <th scope="col">"Owner"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Closest to breach"</th>
                        <th scope="col" class="num">"Equity"</th>
                        <th scope="col" class="num">"P/L"</th>
                        <th scope="col">"Feed"</th>
                        <th scope="col"><span class="visually-hidden">"Admin"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || rows.clone()
                        key=|(id, _)| id.clone()
                        children=|(_, row)| view! { <ChallengeLine row=row /> }
                    />
                </tbody>
            </table>
        </div>
    }
}

fn status_badge(status: Option<ChallengeStatus>) -> (&'static str, &'static str) {
    match status {
        Some(ChallengeStatus::Active) => ("badge badge-live", "Active"),
        Some(ChallengeStatus::Passed) => ("badge badge-passed", "Passed"),
        Some(ChallengeStatus::Failed) => ("badge badge-breached", "Failed"),
        Some(ChallengeStatus::Paused) => ("badge badge-stale", "Paused"),
        None => ("badge", "Not evaluated"),
    }
}

#[component]
fn ChallengeLine(row: RwSignal<ChallengeRow>) -> impl IntoView {
    let (id, name) = row.with_untracked(|r| (r.id.clone(), r.name.clone()));
    let dashboard = crate::pages::account_path(&id);
    let admin = paths::challenge(&id);
    let money = move |pick: fn(&ChallengeRow) -> Option<rust_decimal::Decimal>| {
        move || row.with(|r| pick(r).map_or_else(|| "–".to_owned(), format::money))
    };
    let negative = move || row.with(|r| r.profit.is_some_and(|p| p < rust_decimal::Decimal::ZERO));
    let status = move || row.with(|r| status_badge(r.status));
    let closest = move || {
        row.with(|r| {
            r.closest.as_ref().map(|rule| {
                let used = format::ratio_percent(rule.progress, 0);
                let tone = match rule.status {
                    RuleStatus::Breached => "breached",
                    RuleStatus::Warning => "warning",
                    _ => "ok",
                };
                (rule_label(&rule.kind, &rule.id), used, tone)
            })
        })
    };
    let feed = Signal::derive(move || row.with(|r| r.feed));
    let backfill = Signal::derive(move || row.with(|r| r.backfill.clone()));
    let transport = Signal::derive(move || row.with(|r| r.transport));
    let owner = move || row.with(|r| r.owner.clone().unwrap_or_else(|| "–".to_owned()));
    let plan = move || {
        row.with(|r| match (&r.preset, &r.phase) {
            (Some(preset), Some(phase)) => format!("{preset} · {phase}"),
            (Some(preset), None) => preset.clone(),
            _ => String::new(),
        })
    };
    view! {
        <tr data-testid="challenge-row" data-account-id=id.to_string()>
            <th scope="row" data-label="Challenge">
                <a class="account-link" href=dashboard data-testid="challenge-dashboard-link">
                    {name}
                </a>
                <span class="subtle row-sub">{id.to_string()} " " {plan}</span>
            </th>
            <td data-label="Owner">{owner}</td>
            <td data-label="Status">
                <span class=move || status().0 data-testid="challenge-row-status">
                    {move || status().1}
                </span>
            </td>
            <td data-label="Closest to breach">
                {move || match closest() {
                    Some((label, used, tone)) => {
                        view! {
                            <span class=format!("closest closest-{tone}") data-testid="closest-rule">
                                {label}
                                <span class="subtle pct">{format!(" {used} used")}</span>
                            </span>
                        }
                            .into_any()
                    }
                    None => view! { <span class="subtle">"–"</span> }.into_any(),
                }}
            </td>
            <td class="num" data-label="Equity">{money(|r| r.equity)}</td>
            <td class="num" class:negative=negative data-label="P/L">{money(|r| r.profit)}</td>
            <td data-label="Feed">
                <FeedBadge feed=feed backfill=backfill transport=transport />
            </td>
            <td data-label="Admin">
                <a class="button button-quiet" href=admin data-testid="challenge-admin-link">
                    "Manage"
                </a>
            </td>
        </tr>
    }
}

#[component]
fn Pager(query: RwSignal<api::OverviewQuery>, total: u64) -> impl IntoView {
    let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
    let current = move || u64::from(query.with(|q| q.page));
    let go = move |delta: i64| {
        move |_| {
            query.update(|q| {
                let next = (i64::from(q.page) + delta).clamp(1, i64::try_from(pages).unwrap_or(1));
                q.page = u32::try_from(next).unwrap_or(1);
            })
        }
    };
    view! {
        <nav class="pager" aria-label="Pages" data-testid="overview-pager">
            <button type="button" class="button button-quiet" disabled=move || { current() <= 1 } on:click=go(-1)>
                "Previous"
            </button>
            <span>{move || format!("Page {} of {pages} · {total} challenges", current())}</span>
            <button type="button" class="button button-quiet" disabled=move || { current() >= pages } on:click=go(1)>
                "Next"
            </button>
        </nav>
    }
}

#[component]
fn NoChallenges() -> impl IntoView {
    view! {
        <section class="panel notice" data-testid="overview-empty">
            <h2>"No challenges yet"</h2>
            <p>
                "Challenges come from the configuration file, the demo broker (demo mode), or "
                "are created here. Create one to connect a MetaApi account or a demo account, "
                "choose its rules, and watch it go live."
            </p>
            <a class="button" href=paths::CREATE>"Create a challenge"</a>
        </section>
    }
}

#[component]
fn NoMatch(query: RwSignal<api::OverviewQuery>) -> impl IntoView {
    view! {
        <section class="panel notice" data-testid="overview-no-match">
            <h2>"No challenge matches"</h2>
            <p>"Nothing matches the search and filters. Clear them to see every challenge."</p>
            <button
                type="button"
                class="button"
                on:click=move |_| {
                    query.update(|q| {
                        q.q.clear();
                        q.status.clear();
                        q.feed.clear();
                        q.page = 1;
                    })
                }
            >
                "Clear search and filters"
            </button>
        </section>
    }
}
