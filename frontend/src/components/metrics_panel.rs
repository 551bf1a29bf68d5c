//! The engine's metrics (seed 004's fifteen and the trade statistics) and the daily P/L
//! calendar, shown as the engine computed them.

use crate::format;
use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use rust_decimal::Decimal;
use shared::api::ChallengeView;
use shared::engine::Metrics;
use shared::engine::stats::DayStats;

type Row = (&'static str, &'static str, String);

fn money(value: Option<Decimal>) -> String {
    value.map_or_else(|| "–".to_owned(), format::money)
}

/// The rows of the metrics panel: (test id, label, value).
fn rows(m: &Metrics) -> (Vec<Row>, Vec<Row>) {
    let risk = vec![
        ("mdl", "Max daily loss (MDL)", money(m.mdl_usd)),
        ("mml", "Max monthly loss (MML)", money(m.mml_usd)),
        ("odd", "Overall drawdown budget (ODD)", money(m.odd_usd)),
        (
            "risk-exposure-usd",
            "Risk exposure",
            format::money(m.risk_exposure_usd),
        ),
        (
            "current-risk-load",
            "Current risk load",
            format::ratio_percent(m.current_risk_load, 1),
        ),
        (
            "monthly-risk-load",
            "Monthly risk load",
            format::ratio_percent(m.monthly_risk_load, 1),
        ),
        (
            "overall-risk-load",
            "Overall risk load",
            format::ratio_percent(m.overall_risk_load, 1),
        ),
        (
            "realized-loss-mtd",
            "Realized loss this month",
            format::money(m.realized_loss_mtd),
        ),
        (
            "remaining-balance",
            "Remaining balance",
            format::money(m.remaining_balance),
        ),
        (
            "remaining-monthly",
            "Remaining monthly budget",
            money(m.remaining_monthly_budget_usd),
        ),
        (
            "remaining-overall",
            "Remaining overall budget",
            money(m.remaining_overall_budget_usd),
        ),
        (
            "active-orders",
            "Active orders",
            m.active_orders.to_string(),
        ),
        (
            "consecutive-losses",
            "Consecutive losing trades",
            m.consecutive_losing_trades.to_string(),
        ),
        (
            "start-of-day-balance",
            "Start-of-day balance",
            format::money(m.start_of_day_balance),
        ),
        (
            "start-of-month-balance",
            "Start-of-month balance",
            format::money(m.start_of_month_balance),
        ),
        ("today-pl", "Today's P/L", format::money(m.today_pl)),
    ];
    let stats = vec![
        ("trades", "Trades", m.trades.to_string()),
        ("trading-days", "Trading days", m.trading_days.to_string()),
        ("win-rate", "Win rate", format::ratio_percent(m.win_rate, 1)),
        (
            "profit-factor",
            "Profit factor",
            format::number(m.profit_factor, 2),
        ),
        ("expectancy", "Expectancy per trade", money(m.expectancy)),
        ("average-win", "Average win", money(m.average_win)),
        ("average-loss", "Average loss", money(m.average_loss)),
        (
            "reward-risk",
            "Reward / risk",
            format::number(m.reward_risk, 2),
        ),
        ("sharpe", "Sharpe (daily)", format::number(m.sharpe, 2)),
        (
            "best-day-share",
            "Best day's share",
            format::ratio_percent(m.best_day_share, 1),
        ),
        ("best-trade", "Best trade", money(m.best_trade)),
        ("worst-trade", "Worst trade", money(m.worst_trade)),
        ("lots", "Lots traded", m.lots.normalize().to_string()),
    ];
    (risk, stats)
}

fn grid(rows: Vec<Row>) -> impl IntoView {
    rows.into_iter()
        .map(|(id, label, value)| {
            view! {
                <div class="metric">
                    <dt>{label}</dt>
                    <dd class="num" data-testid=format!("metric-{id}")>{value}</dd>
                </div>
            }
        })
        .collect_view()
}

/// The metrics panel, from the `dashboard` chunk: below the fold on the
/// dashboard, so not in the main module.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_metrics_panel(
    challenge: Signal<Option<ChallengeView>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <MetricsPanel challenge /> }.into_any())
}

/// The daily P/L calendar, from the `dashboard` chunk.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_pnl_calendar(
    challenge: Signal<Option<ChallengeView>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <PnlCalendar challenge /> }.into_any())
}

#[component]
pub fn MetricsPanel(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    let metrics = Memo::new(move |_| {
        challenge.with(|c| c.as_ref().and_then(|c| c.metrics.as_deref().cloned()))
    });
    // A funded phase: the profit split, the trader's share of the profit now, and what was
    // paid out (withdrawn: never a loss) so far.
    let split = Memo::new(move |_| {
        challenge.with(|c| {
            let c = c.as_ref()?;
            let split = c.program.as_ref().filter(|p| p.funded)?.profit_split?;
            let m = c.metrics.as_ref()?;
            let profit = (m.balance - m.starting_capital).max(Decimal::ZERO);
            let paid = (-m.net_deposits).max(Decimal::ZERO);
            Some((
                split,
                profit,
                shared::programs::payout(profit, split).0,
                paid,
            ))
        })
    });
    move || {
        metrics.get().map(|m| {
            let (risk, stats) = rows(&m);
            view! {
                <section class="panel metrics-panel" aria-labelledby="metrics-title" data-testid="metrics">
                    <h2 id="metrics-title">"Metrics and statistics"</h2>
                    {split.get().map(|(split, profit, share, paid)| view! {
                        <p data-testid="profit-split">
                            {format!(
                                "Profit split {}% to you: {} of the {} profit now; paid out so far {}.",
                                split.normalize(),
                                format::money(share),
                                format::money(profit),
                                format::money(paid)
                            )}
                        </p>
                    })}
                    <div class="metrics-columns">
                        <div>
                            <h3>"Risk budgets"</h3>
                            <dl class="metrics-grid">{grid(risk)}</dl>
                        </div>
                        <div>
                            <h3>"Trading statistics"</h3>
                            <dl class="metrics-grid">{grid(stats)}</dl>
                        </div>
                    </div>
                </section>
            }
        })
    }
}

/// The daily P/L calendar: one cell per finished trading day, with today's closed P/L last.
#[component]
pub fn PnlCalendar(#[prop(into)] challenge: Signal<Option<ChallengeView>>) -> impl IntoView {
    let days = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref().map(|c| {
                let today = c
                    .metrics
                    .as_deref()
                    .and_then(|m| m.trading_day.map(|d| (d, m.today_closed_pl)));
                (c.days.clone(), today)
            })
        })
    });
    move || {
        days.get().map(|(days, today)| {
            let cells = days
                .iter()
                .rev()
                .take(35)
                .rev()
                .map(|d: &DayStats| cell(d.date, d.closed_pl, false))
                .chain(today.map(|(date, pl)| cell(date, pl, true)))
                .collect_view();
            view! {
                <section class="panel calendar-panel" aria-labelledby="calendar-title" data-testid="calendar">
                    <h2 id="calendar-title">"Daily P/L"</h2>
                    <ol class="calendar">{cells}</ol>
                </section>
            }
        })
    }
}

fn cell(date: chrono::NaiveDate, pl: Decimal, today: bool) -> impl IntoView {
    let tone = if pl > Decimal::ZERO {
        "day day-up"
    } else if pl < Decimal::ZERO {
        "day day-down"
    } else {
        "day"
    };
    let class = if today {
        format!("{tone} day-today")
    } else {
        tone.to_owned()
    };
    view! {
        <li class=class data-testid="calendar-day">
            <span class="day-date">{format::weekday_day_month(&date)}</span>
            <span class="day-pl num">{format::money(pl)}</span>
            {today.then_some(view! { <span class="day-note">"today, so far"</span> })}
        </li>
    }
}
