//! `/accounts/:id`: the trader's dashboard: the challenge's header and status, breach evidence,
//! key figures, objectives, the risk panel with the lot-size calculator, the account's risk
//! trackers (when an application set some up), the equity curve with its limit lines over a
//! chosen range, metrics, the daily P/L calendar and the trade history; live over SSE.

use super::{EarlyEvents, Load, connection_status, event_account, merge_summary};
use crate::charts::equity;
use crate::components::{
    BreachEvidence, ChallengeHeader, ChartData, ErrorPanel, FeedBadge, Lazy, Loading, RiskPanel,
    RulesPanel, StatTile, StreamStatus, Tone, UnexplainedBalance, chart_placeholder,
    lazy_admin_actions, lazy_equity_chart, lazy_late_deals, lazy_metrics_panel, lazy_pnl_calendar,
    lazy_rule_history, lazy_trackers_panel, lazy_trade_history, panel_placeholder,
    preload_dashboard,
};
use crate::sse::{self, Connection};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::{spawn_local, spawn_local_scoped_with_cancellation};
use leptos_router::hooks::use_params_map;
use rust_decimal::Decimal;
use shared::api::{
    AccountSummary, AccountView, EquityBucket, EquityPoint, FeedStatus, LimitPoint, StreamEvent,
};
use shared::domain::AccountId;

/// The most buckets kept in memory for the chart (history plus live samples); the oldest go
/// first.
const MAX_POINTS: usize = 5_000;
/// Buckets asked for: about one per pixel of the chart (the server keeps each bucket's
/// minimum and maximum, so no dip is lost).
const HISTORY_POINTS: u32 = 1_500;

/// How far back the equity chart reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChartRange {
    Day,
    Week,
    Month,
    All,
}

impl ChartRange {
    const ALL: [ChartRange; 4] = [Self::Day, Self::Week, Self::Month, Self::All];

    fn label(self) -> &'static str {
        match self {
            Self::Day => "1D",
            Self::Week => "1W",
            Self::Month => "1M",
            Self::All => "All",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::Day => "The last 24 hours",
            Self::Week => "The last 7 days",
            Self::Month => "The last 30 days",
            Self::All => "Since tracking began",
        }
    }

    fn start(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let days = match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 30,
            Self::All => return chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        };
        now - chrono::Duration::days(days)
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    // Keyed on the id: moving to another account builds a fresh page (and stream) for it.
    move || {
        let id = AccountId(id.get());
        view! { <AccountDetail id /> }
    }
}

#[component]
fn AccountDetail(id: AccountId) -> impl IntoView {
    // The sections that wait for a fetch of their own or sit below the fold (the equity chart,
    // the rule changes and admin actions, the calculator, metrics, calendar and trade history)
    // come in one chunk: fetch it while the account's data loads, so it is usually there when
    // the data lands. A failure shows in each section.
    spawn_local(async {
        let _ = preload_dashboard().await;
    });
    let summary = RwSignal::new(Load::<AccountSummary>::Loading);
    let history = RwSignal::new(Load::<()>::Loading);
    let points = RwSignal::new(Vec::<EquityBucket>::new());
    let limits = RwSignal::new(Vec::<LimitPoint>::new());
    let range = RwSignal::new(ChartRange::Day);
    let connection = RwSignal::new(Connection::Connecting);

    let early = StoredValue::new(EarlyEvents::default());
    // The live stream, dropped (closed) when the page goes away or the account turns out unknown.
    let subscription = StoredValue::new_local(None::<sse::Subscription>);
    on_cleanup(move || subscription.dispose());

    // `quiet`: refresh what is shown without a spinner, and keep it if the refresh fails.
    let load = {
        let id = id.clone();
        move |quiet: bool| {
            let id = id.clone();
            if !quiet {
                summary.set(Load::Loading);
                history.set(Load::Loading);
            }
            spawn_local(async move {
                let from = range.get_untracked().start(format::now());
                let (account, fetched) =
                    futures::join!(api::account(&id), api::history(&id, from, HISTORY_POINTS));
                let early_events = early
                    .try_update_value(EarlyEvents::take)
                    .unwrap_or_default();
                let shown = summary
                    .try_with_untracked(|summary| matches!(summary, Load::Ready(_)))
                    .unwrap_or(false);
                match account {
                    Ok(mut account) => {
                        for event in &early_events {
                            account.apply(event);
                        }
                        if shown {
                            summary.try_update(|summary| {
                                if let Load::Ready(summary) = summary {
                                    merge_summary(summary, account);
                                }
                            });
                        } else {
                            summary.try_set(Load::Ready(account));
                        }
                    }
                    // A quiet refresh that fails keeps the numbers shown, unless the account
                    // is gone for this person (given to another trader): then it says so.
                    Err(error)
                        if quiet && shown && !matches!(error, api::ApiError::NotFound { .. }) =>
                    {
                        leptos::logging::warn!("refreshing the account failed: {error}");
                    }
                    Err(error) => {
                        if matches!(error, api::ApiError::NotFound { .. }) {
                            subscription.try_set_value(None);
                        }
                        summary.try_set(Load::Failed(error));
                    }
                }
                match fetched {
                    Ok(response) => {
                        points.try_update(|points| merge_history(points, response.buckets));
                        limits.try_set(response.limits);
                        history.try_set(Load::Ready(()));
                    }
                    Err(error) if quiet => {
                        leptos::logging::warn!("refreshing the history failed: {error}");
                    }
                    Err(error) => {
                        history.try_set(Load::Failed(error));
                    }
                }
            });
        }
    };
    load(false);
    // Another range: the curve is fetched again for it (the live stream carries on).
    Effect::new({
        let id = id.clone();
        move |previous: Option<ChartRange>| {
            let chosen = range.get();
            if previous.is_some_and(|p| p != chosen) {
                let id = id.clone();
                points.set(Vec::new());
                history.set(Load::Loading);
                spawn_local_scoped_with_cancellation(async move {
                    match api::history(&id, chosen.start(format::now()), HISTORY_POINTS).await {
                        Ok(response) => {
                            points.try_update(|points| merge_history(points, response.buckets));
                            limits.try_set(response.limits);
                            history.try_set(Load::Ready(()));
                        }
                        Err(error) => {
                            history.try_set(Load::Failed(error));
                        }
                    }
                });
            }
            chosen
        }
    });

    let on_event = {
        let id = id.clone();
        move |event: StreamEvent| {
            if event_account(&event) != Some(&id) {
                return;
            }
            if let StreamEvent::Account { view, .. } = &event {
                points.try_update(|points| push_sample(points, view));
                limits.try_update(|limits| push_limits(limits, view));
            }
            let ready = summary
                .try_with_untracked(|summary| matches!(summary, Load::Ready(_)))
                .unwrap_or(false);
            if ready {
                summary.try_update(|summary| {
                    if let Load::Ready(summary) = summary {
                        summary.apply(&event);
                    }
                });
            } else {
                early.try_update_value(|early| early.push(event));
            }
        }
    };
    subscription.set_value(Some(sse::subscribe(
        api::stream_url(Some(&id)),
        on_event,
        connection_status(connection),
        {
            let load = load.clone();
            move || load(true)
        },
    )));

    let title = Memo::new(move |_| {
        summary.with(|summary| match summary {
            Load::Ready(summary) => format!("{} · Riskdeck", summary.name),
            Load::Failed(api::ApiError::NotFound { .. }) => "Account not found · Riskdeck".into(),
            _ => "Riskdeck".into(),
        })
    });
    Effect::new(move || title.with(|title| super::set_title(title)));

    // Which of loading, failed or ready: live updates change the summary, not the phase, so the
    // dashboard below is built once and then only its numbers change.
    let phase = Memo::new(move |_| {
        summary.with(|summary| match summary {
            Load::Loading => Load::Loading,
            Load::Ready(_) => Load::Ready(()),
            Load::Failed(error) => Load::Failed(error.clone()),
        })
    });
    let retry = Callback::new(move |()| load(false));
    // The challenge's statement for disputes: a printable page (with its PDF and JSON), made
    // and hashed by the server.
    let statement = format!("/api/accounts/{}/statement.html", id.as_str());
    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href="/">"← All accounts"</a>
            " · "
            <a href=statement target="_blank" rel="noopener" data-testid="statement-link">
                "Statement"
            </a>
        </nav>
        {move || match phase.get() {
            Load::Loading => view! { <Loading label="Loading the account…" /> }.into_any(),
            Load::Failed(api::ApiError::NotFound { message }) => {
                view! { <AccountNotFound message /> }.into_any()
            }
            Load::Failed(error) => {
                view! {
                    <ErrorPanel
                        title="The account could not be loaded"
                        message=error.to_string()
                        on_retry=retry
                    />
                }
                    .into_any()
            }
            Load::Ready(()) => {
                view! { <Dashboard summary history points limits range connection /> }.into_any()
            }
        }}
    }
}

/// Appends a live sample as an instant bucket unless the chart already has it (the first live
/// view often repeats the last stored sample); a live sample for the same instant replaces the
/// old one.
fn push_sample(points: &mut Vec<EquityBucket>, view: &AccountView) {
    let sample = EquityBucket::instant(&EquityPoint {
        time: view.time,
        balance: view.balance,
        equity: view.equity,
    });
    match points.last_mut() {
        Some(last) if last.last == sample.last && last.start == last.end => *last = sample,
        Some(last) if last.last >= sample.last => {}
        _ => points.push(sample),
    }
    cap(points);
}

/// Adds the live view's limit levels where they moved (a daily reset, a trailing floor), so
/// the limit lines follow the curve between history fetches.
fn push_limits(limits: &mut Vec<LimitPoint>, view: &AccountView) {
    let Some(challenge) = &view.challenge else {
        return;
    };
    for rule in &challenge.rules {
        let tracked = matches!(
            rule.kind.as_str(),
            "daily_loss" | "max_loss" | "monthly_loss" | "profit_target"
        );
        let Some(level) = rule.limit.filter(|_| tracked) else {
            continue;
        };
        let current = limits.iter().rev().find(|l| l.rule == rule.id);
        if current.is_none_or(|l| l.level != level && l.time <= view.time) {
            limits.push(LimitPoint {
                time: view.time,
                rule: rule.id.clone(),
                kind: rule.kind.clone(),
                level,
            });
        }
    }
}

/// Puts the fetched history under the live samples that arrived while it was loading.
fn merge_history(points: &mut Vec<EquityBucket>, fetched: Vec<EquityBucket>) {
    let newer: Vec<EquityBucket> = match fetched.last() {
        Some(last) => points.drain(..).filter(|p| p.first > last.last).collect(),
        None => std::mem::take(points),
    };
    *points = fetched;
    points.extend(newer);
    cap(points);
}

fn cap(points: &mut Vec<EquityBucket>) {
    if points.len() > MAX_POINTS {
        points.drain(..points.len() - MAX_POINTS);
    }
}

#[component]
fn AccountNotFound(message: String) -> impl IntoView {
    view! {
        <section class="panel notice" data-testid="not-found">
            <h1>"Account not found"</h1>
            <p>{message}</p>
            <a class="button" href="/">"Back to all accounts"</a>
        </section>
    }
}

#[component]
fn Dashboard(
    summary: RwSignal<Load<AccountSummary>>,
    history: RwSignal<Load<()>>,
    points: RwSignal<Vec<EquityBucket>>,
    limits: RwSignal<Vec<LimitPoint>>,
    range: RwSignal<ChartRange>,
    connection: RwSignal<Connection>,
) -> impl IntoView {
    let pick = move |f: fn(&AccountSummary) -> Option<String>| {
        move || {
            summary.with(|s| match s {
                Load::Ready(s) => f(s),
                _ => None,
            })
        }
    };
    let name = pick(|s| Some(s.name.clone()));
    let currency = pick(|s| s.currency.clone());
    let feed = Signal::derive(move || {
        summary.with(|s| match s {
            Load::Ready(s) => s.feed,
            _ => FeedStatus::Connecting,
        })
    });
    let backfill = Signal::derive(move || {
        summary.with(|s| match s {
            Load::Ready(s) => s.backfill.clone(),
            _ => None,
        })
    });
    let transport = Signal::derive(move || {
        summary.with(|s| match s {
            Load::Ready(s) => s.transport,
            _ => None,
        })
    });
    let latest = Memo::new(move |_| {
        summary.with(|s| match s {
            Load::Ready(s) => s.latest.clone(),
            _ => None,
        })
    });
    let money = move |f: fn(&AccountView) -> Decimal| {
        Signal::derive(move || {
            latest.with(|v| {
                v.as_ref()
                    .map_or_else(|| "–".to_owned(), |v| format::money(f(v)))
            })
        })
    };
    let unit = Signal::derive(move || currency().unwrap_or_default());
    let updated = move || {
        latest.with(|v| {
            v.as_ref().map_or_else(
                || "No numbers yet".to_owned(),
                |v| format!("Updated {}", format::clock(v.time)),
            )
        })
    };
    let pl_tone = Signal::derive(move || {
        latest.with(|v| match v {
            Some(v) if v.floating_pl > Decimal::ZERO => Tone::Positive,
            Some(v) if v.floating_pl < Decimal::ZERO => Tone::Negative,
            _ => Tone::Neutral,
        })
    });
    let drawdown_tone = Signal::derive(move || {
        latest.with(|v| match v {
            Some(v) if v.drawdown > Decimal::ZERO => Tone::Negative,
            _ => Tone::Neutral,
        })
    });
    let drawdown_percent = Signal::derive(move || {
        latest.with(|v| {
            v.as_ref().map_or_else(String::new, |v| {
                format!("{} of peak equity", format::percent(v.drawdown_percent))
            })
        })
    });
    let open_positions = Signal::derive(move || {
        latest.with(|v| {
            v.as_ref()
                .map_or_else(|| "–".to_owned(), |v| v.open_positions.to_string())
        })
    });
    let floating_pl = Signal::derive(move || latest.with(|v| v.as_ref().map(|v| v.floating_pl)));

    let challenge =
        Memo::new(move |_| latest.with(|v| v.as_ref().and_then(|v| v.challenge.clone())));
    let challenge = Signal::from(challenge);
    // The trade history refetches its newest page when the engine's count of trades changes.
    let account_id = summary.with_untracked(|s| match s {
        Load::Ready(s) => Some(s.id.clone()),
        _ => None,
    });
    let closed_trades = Memo::new(move |_| {
        challenge.with(|c: &Option<shared::api::ChallengeView>| {
            c.as_ref()
                .and_then(|c| c.metrics.as_ref().map(|m| m.trades))
        })
    });
    // Built once when a challenge appears, so the calculator keeps what the trader typed.
    let has_challenge = Memo::new(move |_| challenge.with(Option::is_some));
    let peak = Memo::new(move |_| latest.with(|v| v.as_ref().map(|v| v.peak_equity)));
    // The first render with data, for the time-to-first-render measurement (docs/BENCHMARKS.md).
    Effect::new(move |done: Option<()>| {
        if done.is_none()
            && let Some(performance) = window().performance()
        {
            let _ = performance.mark("riskdeck-dashboard");
        }
    });

    // The browser's clock for the reset countdown, ticking every second while the page is open.
    let now = RwSignal::new(format::now());
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        1_000,
        move || {
            now.try_set(format::now());
        },
    )));
    on_cleanup(move || ticker.dispose());

    let stale = move || {
        let stream_down = connection.get() == Connection::Reconnecting;
        let feed_stale = feed.get() == FeedStatus::Stale;
        let text = if stream_down {
            "The connection to Riskdeck was lost; it reconnects by itself. The numbers below are \
             the last received."
        } else if feed_stale {
            "The broker's feed is stale. The numbers below are the last known ones and may be \
             out of date."
        } else {
            return None;
        };
        Some(view! {
            <div class="stale-banner" role="alert" data-testid="stale-banner">
                <strong>"Data delayed. "</strong>
                {text}
            </div>
        })
    };
    let range_buttons = ChartRange::ALL
        .into_iter()
        .map(|choice| {
            view! {
                <button
                    type="button"
                    class="range-button"
                    data-testid=format!("range-{}", choice.label().to_lowercase())
                    aria-pressed=move || (range.get() == choice).to_string()
                    title=choice.description()
                    on:click=move |_| range.set(choice)
                >
                    {choice.label()}
                </button>
            }
        })
        .collect_view();

    view! {
        {stale}
        <header class="page-head">
            <div>
                <h1 data-testid="account-name">{name}</h1>
                <p class="subtle">
                    <FeedBadge feed=feed backfill=backfill transport=transport />
                    <span class="updated">{updated}</span>
                </p>
            </div>
            <StreamStatus connection=connection />
        </header>

        <ChallengeHeader challenge=challenge floating_pl=floating_pl now=now />
        <BreachEvidence challenge=challenge />
        <UnexplainedBalance challenge=challenge />
        {summary
            .with_untracked(|s| match s {
                Load::Ready(s) => Some(s.id.clone()),
                _ => None,
            })
            .map(|id| {
                view! {
                    <Lazy what="the admin actions" placeholder=|| () quiet=true content=lazy_admin_actions(id, challenge) />
                }
            })}

        <section class="tiles" aria-label="Key figures">
            <StatTile label="Balance" testid="balance" value=money(|v| v.balance) unit=unit />
            <StatTile label="Equity" testid="equity" value=money(|v| v.equity) unit=unit />
            <StatTile
                label="Floating P/L"
                testid="floating-pl"
                value=money(|v| v.floating_pl)
                unit=unit
                tone=pl_tone
            />
            <StatTile
                label="Drawdown from peak"
                testid="drawdown"
                value=money(|v| v.drawdown)
                unit=unit
                tone=drawdown_tone
                note=drawdown_percent
                note_testid="drawdown-percent"
            />
            <StatTile
                label="Peak equity"
                testid="peak-equity"
                value=money(|v| v.peak_equity)
                unit=unit
            />
            <StatTile
                label="Peak balance"
                testid="peak-balance"
                value=money(|v| v.peak_balance)
                unit=unit
            />
            <StatTile
                label="Starting capital"
                testid="starting-capital"
                value=money(|v| v.starting_capital)
                unit=unit
            />
            <StatTile label="Open positions" testid="open-positions" value=open_positions />
        </section>

        <RulesPanel challenge=challenge />
        {account_id
            .clone()
            .map(|id| {
                view! {
                    <Lazy what="the rule changes" placeholder=|| () quiet=true content=lazy_rule_history(id, challenge) />
                }
            })}
        {move || has_challenge.get().then(|| view! { <RiskPanel challenge=challenge currency=unit /> })}
        {account_id
            .clone()
            .map(|id| {
                view! {
                    <Lazy what="the risk trackers" placeholder=|| () quiet=true content=lazy_trackers_panel(id) />
                }
            })}

        <section class="panel chart-panel" aria-labelledby="chart-title">
            <div class="chart-head">
                <h2 id="chart-title">"Equity curve"</h2>
                <div class="range-picker" role="group" aria-label="Time range">{range_buttons}</div>
            </div>
            <ul class="legend">
                <li>
                    <span class="swatch" style:background=equity::EQUITY_COLOR></span>
                    "Equity"
                </li>
                <li>
                    <span class="swatch" style:background=equity::BALANCE_COLOR></span>
                    "Balance"
                </li>
                <li>
                    <span class="swatch swatch-band" style:background=equity::BAND_COLOR></span>
                    "Equity low–high"
                </li>
                <li>
                    <span class="swatch swatch-dashed" style:border-color=equity::PEAK_COLOR></span>
                    "Peak equity"
                </li>
                <li>
                    <span class="swatch" style:background=equity::DAILY_COLOR></span>
                    "Daily loss floor"
                </li>
                <li>
                    <span class="swatch swatch-dashed" style:border-color=equity::MAX_LOSS_COLOR></span>
                    "Max loss floor"
                </li>
                <li>
                    <span class="swatch swatch-dashed" style:border-color=equity::TARGET_COLOR></span>
                    "Profit target"
                </li>
            </ul>
            <div class="equity-chart" data-testid="equity-chart">
                <Lazy
                    what="the equity chart"
                    placeholder=chart_placeholder()
                    content=lazy_equity_chart(ChartData {
                        history: history.into(),
                        points: points.into(),
                        limits: limits.into(),
                        peak: peak.into(),
                        challenge,
                    })
                />
            </div>
            <p class="chart-foot subtle">
                {move || range.get().description()}
                ", in your local time zone. The band shows the lowest and highest equity within \
                 each point's period, so no dip is hidden; limit lines show each floor and the \
                 target as they stood at every moment."
            </p>
        </section>

        <Lazy what="the late deals" placeholder=|| () quiet=true content=lazy_late_deals(challenge) />
        <Lazy
            what="the metrics"
            placeholder=panel_placeholder("metrics-panel", "Metrics and statistics")
            content=lazy_metrics_panel(challenge)
        />
        <Lazy
            what="the daily P/L calendar"
            placeholder=panel_placeholder("calendar-panel", "Daily P/L")
            content=lazy_pnl_calendar(challenge)
        />
        {account_id
            .map(|account| {
                view! {
                    <Lazy
                        what="the trade history"
                        placeholder=panel_placeholder("trades-panel", "Trade history")
                        content=lazy_trade_history(account, closed_trades.into())
                    />
                }
            })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(second)
    }

    fn point(second: i64, equity: i64) -> EquityPoint {
        EquityPoint {
            time: at(second),
            balance: Decimal::from(100),
            equity: Decimal::from(equity),
        }
    }

    fn sample(second: i64, equity: i64) -> EquityBucket {
        EquityBucket::instant(&point(second, equity))
    }

    /// A stored ten-second bucket with two samples.
    fn stored(second: i64, equity: i64) -> EquityBucket {
        let mut bucket =
            EquityBucket::from_sample(&point(second, equity), at(second), at(second + 10));
        bucket.merge(&EquityBucket::instant(&point(second + 5, equity + 1)));
        bucket
    }

    fn view(second: i64, equity: i64) -> AccountView {
        let point = point(second, equity);
        AccountView {
            time: point.time,
            balance: point.balance,
            equity: point.equity,
            floating_pl: point.equity - point.balance,
            starting_capital: point.balance,
            peak_balance: point.balance,
            peak_equity: point.equity,
            drawdown: Decimal::ZERO,
            drawdown_percent: Some(Decimal::ZERO),
            open_positions: 0,
            challenge: None,
        }
    }

    #[test]
    fn live_samples_append_replace_or_are_dropped_by_time() {
        let mut points = vec![sample(10, 100)];
        push_sample(&mut points, &view(20, 110));
        push_sample(&mut points, &view(20, 111));
        push_sample(&mut points, &view(5, 90));
        assert_eq!(points, vec![sample(10, 100), sample(20, 111)]);
    }

    #[test]
    fn history_goes_under_samples_that_arrived_while_it_loaded() {
        let mut points = vec![sample(12, 130), sample(40, 140)];
        merge_history(&mut points, vec![stored(0, 110), stored(10, 129)]);
        assert_eq!(
            points,
            vec![stored(0, 110), stored(10, 129), sample(40, 140)]
        );
    }

    #[test]
    fn a_live_sample_inside_a_stored_bucket_is_not_drawn_twice() {
        let mut points = vec![stored(0, 100)];
        push_sample(&mut points, &view(5, 101));
        assert_eq!(points, vec![stored(0, 100)]);
        push_sample(&mut points, &view(6, 99));
        assert_eq!(points, vec![stored(0, 100), sample(6, 99)]);
    }

    #[test]
    fn live_views_add_a_limit_step_only_where_a_level_moved() {
        use shared::engine::{ChallengeStatus, RuleReport, RuleStatus, Severity, Unit};
        let rule = |id: &str, kind: &str, limit: i64| RuleReport {
            id: id.into(),
            kind: kind.into(),
            severity: Severity::Hard,
            status: RuleStatus::Ok,
            remaining: None,
            unit: Unit::Money,
            measured: None,
            limit: Some(Decimal::from(limit)),
            budget: None,
            remaining_percent: None,
            progress: None,
            since: None,
            held_since: None,
            measure: None,
        };
        let with_rules = |second: i64, rules: Vec<RuleReport>| {
            let mut view = view(second, 100);
            view.challenge = Some(shared::api::ChallengeView {
                preset: "ftmo-2step".into(),
                status: ChallengeStatus::Active,
                rules,
                next_reset: None,
                title: None,
                phase: None,
                day: None,
                reset_clock: None,
                started: None,
                metrics: None,
                events: Vec::new(),
                positions: Vec::new(),
                sizing: None,
                days: Vec::new(),
                unexplained_balance: None,
                late_deals: Vec::new(),
                program: None,
            });
            view
        };
        let mut limits = Vec::new();
        let first = with_rules(
            10,
            vec![
                rule("dl", "daily_loss", 95),
                rule("days", "min_trading_days", 4),
            ],
        );
        push_limits(&mut limits, &first);
        push_limits(
            &mut limits,
            &with_rules(20, vec![rule("dl", "daily_loss", 95)]),
        );
        push_limits(
            &mut limits,
            &with_rules(30, vec![rule("dl", "daily_loss", 97)]),
        );
        let got: Vec<(i64, Decimal)> = limits
            .iter()
            .map(|l| (l.time.timestamp(), l.level))
            .collect();
        assert_eq!(got, vec![(10, Decimal::from(95)), (30, Decimal::from(97))]);
    }

    #[test]
    fn the_series_is_capped_dropping_the_oldest() {
        let mut points: Vec<EquityBucket> = (0..MAX_POINTS as i64).map(|s| sample(s, 1)).collect();
        push_sample(&mut points, &view(MAX_POINTS as i64, 2));
        assert_eq!(points.len(), MAX_POINTS);
        assert_eq!(points.first().map(|p| p.first), Some(at(1)));
        assert_eq!(points.last(), Some(&sample(MAX_POINTS as i64, 2)));
    }

    #[test]
    fn a_refetch_keeps_numbers_newer_than_its_own() {
        let summary = |second: i64, feed| AccountSummary {
            id: "a1".into(),
            name: "A".into(),
            currency: Some("USD".into()),
            feed,
            latest: Some(view(second, 100 + second)),
            backfill: None,
            transport: None,
        };
        let mut shown = summary(20, shared::api::FeedStatus::Live);
        let mut renamed = summary(10, shared::api::FeedStatus::Stale);
        renamed.name = "A, renamed".into();
        super::super::merge_summary(&mut shown, renamed);
        assert_eq!(shown.name, "A, renamed");
        assert_eq!(shown.latest, Some(view(20, 120)));
        assert_eq!(shown.feed, shared::api::FeedStatus::Live);

        super::super::merge_summary(&mut shown, summary(30, shared::api::FeedStatus::Stale));
        assert_eq!(shown.latest, Some(view(30, 130)));
        assert_eq!(shown.feed, shared::api::FeedStatus::Stale);
    }
}
