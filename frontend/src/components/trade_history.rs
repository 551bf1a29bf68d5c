//! The trade history: the account's closed trades, newest first, a page at a time ("Load older
//! trades"), times in the firm's time zone. A live update that changes the engine's count of
//! closed trades fetches the newest page again and puts the new trades on top.

use super::Loading;
use crate::{api, format};
use leptos::ev::MouseEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use shared::api::{TradeSide, TradeView, TradesPage};
use shared::domain::AccountId;

/// Where the list stands.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// The first page is on its way (nothing shown yet).
    First,
    /// Shown; `next` says whether there is more.
    Ready,
    /// An older page is on its way (what is shown stays).
    More,
    /// A request failed; the message says why.
    Failed(String),
}

/// What the list holds: the trades shown, the cursor of the next older page, the firm's zone.
#[derive(Clone, Debug, Default, PartialEq)]
struct Shown {
    trades: Vec<TradeView>,
    next: Option<String>,
    zone: Option<String>,
}

impl Shown {
    /// Puts a fresh newest page on top: trades not shown yet go first. When the page does not
    /// reach what is shown (more new trades than a page), it replaces the list.
    fn refresh(&mut self, page: TradesPage) {
        self.zone = page.time_zone;
        let reaches = self.trades.is_empty()
            || page
                .trades
                .iter()
                .any(|t| self.trades.iter().any(|s| s.deal_id == t.deal_id));
        if !reaches {
            self.trades = page.trades;
            self.next = page.next;
            return;
        }
        let was_empty = self.trades.is_empty();
        let mut fresh: Vec<TradeView> = page
            .trades
            .into_iter()
            .filter(|t| !self.trades.iter().any(|s| s.deal_id == t.deal_id))
            .collect();
        fresh.append(&mut self.trades);
        self.trades = fresh;
        if was_empty {
            self.next = page.next;
        }
    }

    /// Appends an older page.
    fn append(&mut self, page: TradesPage) {
        self.zone = page.time_zone;
        for trade in page.trades {
            if !self.trades.iter().any(|s| s.deal_id == trade.deal_id) {
                self.trades.push(trade);
            }
        }
        self.next = page.next;
    }
}

/// A trade's close time in the firm's zone (its offset at that instant), or in the browser's
/// when the account has no challenge.
fn when(trade: &TradeView) -> String {
    match trade
        .zone_offset_minutes
        .and_then(|minutes| chrono::FixedOffset::east_opt(minutes * 60))
    {
        Some(offset) => format::date_time_in(&trade.time.with_timezone(&offset)),
        None => format::date_time(trade.time),
    }
}

fn price(value: Option<rust_decimal::Decimal>) -> String {
    value.map_or_else(|| "–".to_owned(), |p| p.normalize().to_string())
}

fn tone(value: rust_decimal::Decimal) -> &'static str {
    if value.is_sign_negative() && !value.is_zero() {
        "num negative"
    } else if value.is_zero() {
        "num"
    } else {
        "num positive"
    }
}

fn row(trade: &TradeView) -> impl IntoView + use<> {
    let side = match trade.side {
        TradeSide::Buy => "Buy",
        TradeSide::Sell => "Sell",
    };
    view! {
        <tr data-testid="trade-row" data-deal=trade.deal_id.clone()>
            <td>{when(trade)}</td>
            <td>{trade.symbol.clone()}</td>
            <td>{side}</td>
            <td class="num">{trade.volume.normalize().to_string()}</td>
            <td class="num">{price(trade.open_price)}</td>
            <td class="num">{price(trade.close_price)}</td>
            <td class=tone(trade.profit)>{format::money(trade.profit)}</td>
            <td class=tone(trade.costs)>{format::money(trade.costs)}</td>
            <td class=tone(trade.net) data-testid="trade-net">{format::money(trade.net)}</td>
        </tr>
    }
}

/// The trade history, from the `dashboard` chunk: below the fold on the dashboard, so not in the
/// main module.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_trade_history(
    account: AccountId,
    closed: Signal<Option<u32>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <TradeHistory account closed /> }.into_any())
}

#[component]
pub fn TradeHistory(
    account: AccountId,
    /// The engine's count of closed trades: when it changes, the newest page is fetched again.
    #[prop(into)]
    closed: Signal<Option<u32>>,
) -> impl IntoView {
    let shown = RwSignal::new(Shown::default());
    let phase = RwSignal::new(Phase::First);

    let newest = {
        let account = account.clone();
        move || {
            let account = account.clone();
            spawn_local(async move {
                match api::trades(&account, None).await {
                    Ok(page) => {
                        shown.try_update(|shown| shown.refresh(page));
                        phase.try_set(Phase::Ready);
                    }
                    Err(error) => {
                        phase.try_set(Phase::Failed(error.to_string()));
                    }
                }
            });
        }
    };
    // The first page, and again whenever the count of closed trades changes.
    Effect::new({
        let newest = newest.clone();
        move |previous: Option<Option<u32>>| {
            let count = closed.get();
            if previous.is_none_or(|previous| previous != count) {
                newest();
            }
            count
        }
    });
    let older = move |_: MouseEvent| {
        let Some(before) = shown.with_untracked(|s| s.next.clone()) else {
            return;
        };
        if phase.get_untracked() == Phase::More {
            return;
        }
        phase.set(Phase::More);
        let account = account.clone();
        spawn_local(async move {
            match api::trades(&account, Some(&before)).await {
                Ok(page) => {
                    shown.try_update(|shown| shown.append(page));
                    phase.try_set(Phase::Ready);
                }
                Err(error) => {
                    phase.try_set(Phase::Failed(error.to_string()));
                }
            }
        });
    };
    let retry = move |_: MouseEvent| {
        phase.set(Phase::First);
        newest();
    };

    let zone_label = move || {
        shown.with(|s| {
            s.zone.as_ref().map_or_else(
                || "Time (your time zone)".to_owned(),
                |z| format!("Time ({z})"),
            )
        })
    };
    let count = move || {
        shown.with(|s| match (s.trades.len(), s.next.is_some()) {
            (0, _) => String::new(),
            (1, false) => "1 closed trade".to_owned(),
            (n, false) => format!("All {n} closed trades"),
            (n, true) => format!("The newest {n} closed trades"),
        })
    };
    let rows = move || shown.with(|s| s.trades.iter().map(row).collect_view());
    let body = move || {
        let (empty, has_more) = shown.with(|s| (s.trades.is_empty(), s.next.is_some()));
        match phase.get() {
            Phase::First => view! { <Loading label="Loading the trades…" /> }.into_any(),
            Phase::Failed(message) if empty => view! {
                <div class="trades-error" role="alert">
                    <p>{format!("The trades could not be loaded. {message}")}</p>
                    <button class="button" type="button" on:click=retry.clone()>"Try again"</button>
                </div>
            }
            .into_any(),
            _ if empty => view! {
                <p class="trades-empty subtle" data-testid="trades-empty">
                    "No closed trades yet. Each trade appears here as soon as its position \
                     closes, with its prices, costs and net result."
                </p>
            }
            .into_any(),
            current => {
                let loading = current == Phase::More;
                let failed = match current {
                    Phase::Failed(message) => Some(message),
                    _ => None,
                };
                view! {
                    <div
                        class="table-scroll"
                        tabindex="0"
                        role="region"
                        aria-labelledby="trades-title"
                    >
                        <table class="trades" data-testid="trades-table">
                            <caption class="visually-hidden">
                                "Closed trades, newest first"
                            </caption>
                            <thead>
                                <tr>
                                    <th scope="col">{zone_label}</th>
                                    <th scope="col">"Symbol"</th>
                                    <th scope="col">"Side"</th>
                                    <th scope="col" class="num">"Volume"</th>
                                    <th scope="col" class="num">"Open price"</th>
                                    <th scope="col" class="num">"Close price"</th>
                                    <th scope="col" class="num">"Profit"</th>
                                    <th scope="col" class="num">"Commission + swap"</th>
                                    <th scope="col" class="num">"Net"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                    <div class="trades-foot">
                        <p class="subtle" role="status" aria-live="polite">{count}</p>
                        {failed.map(|message| view! {
                            <p class="trades-error" role="alert">
                                {format!("Older trades could not be loaded. {message}")}
                            </p>
                        })}
                        {has_more.then(|| view! {
                            <button
                                class="button"
                                type="button"
                                data-testid="trades-more"
                                aria-busy=move || loading.to_string()
                                disabled=loading
                                on:click=older.clone()
                            >
                                {if loading { "Loading older trades…" } else { "Load older trades" }}
                            </button>
                        })}
                    </div>
                }
                    .into_any()
            }
        }
    };
    view! {
        <section class="panel trades-panel" aria-labelledby="trades-title" data-testid="trade-history">
            <h2 id="trades-title">"Trade history"</h2>
            {body}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn trade(id: &str) -> TradeView {
        TradeView {
            deal_id: id.to_owned(),
            position_id: None,
            time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            zone_offset_minutes: Some(60),
            opened: None,
            symbol: "EURUSD".to_owned(),
            side: TradeSide::Buy,
            volume: Decimal::ONE,
            open_price: None,
            close_price: None,
            profit: Decimal::ZERO,
            costs: Decimal::ZERO,
            net: Decimal::ZERO,
            reason: None,
        }
    }

    fn page(ids: &[&str], next: Option<&str>) -> TradesPage {
        TradesPage {
            trades: ids.iter().map(|id| trade(id)).collect(),
            next: next.map(str::to_owned),
            time_zone: Some("Europe/Prague".to_owned()),
        }
    }

    fn ids(shown: &Shown) -> Vec<&str> {
        shown.trades.iter().map(|t| t.deal_id.as_str()).collect()
    }

    #[test]
    fn new_trades_go_on_top_and_older_pages_below() {
        let mut shown = Shown::default();
        shown.refresh(page(&["5", "4"], Some("c4")));
        shown.append(page(&["3", "2"], Some("c2")));
        assert_eq!(ids(&shown), ["5", "4", "3", "2"]);
        // A live update: one new trade; what was loaded stays, and so does the cursor.
        shown.refresh(page(&["6", "5"], Some("c5")));
        assert_eq!(ids(&shown), ["6", "5", "4", "3", "2"]);
        assert_eq!(shown.next.as_deref(), Some("c2"));
        // More new trades than a page: the newest page replaces the list.
        shown.refresh(page(&["9", "8"], Some("c8")));
        assert_eq!(ids(&shown), ["9", "8"]);
        assert_eq!(shown.next.as_deref(), Some("c8"));
    }

    #[test]
    fn times_are_shown_in_the_firms_zone() {
        assert_eq!(when(&trade("1")), "1 Jan 1970, 01:00:00");
    }
}
