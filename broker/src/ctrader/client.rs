//! The cTrader Open API client over the JSON WebSocket protocol (brokers.md, section 2).
//!
//! One [`CtraderClient`] tracks one trading account, on its application's shared connection
//! (`connection`): the application authenticated there once (`ProtoOAApplicationAuthReq`), the
//! account authorized on it (`ProtoOAAccountAuthReq`). Requests carry a `clientMsgId` and their
//! answer is matched by it; events (spots, disconnects) arrive in between. A heartbeat goes out
//! every 10 s. When the connection drops or the server ends the account's session, the next
//! request authorizes it again and has the quotes it reads fed again (by its own subscription
//! where no other account of its broker subscribes); a request cut off by the drop is sent once
//! more on the new connection (every request the client makes is a read, so that is safe). A server that
//! goes silent without closing (no answer, no heartbeat) is noticed by the request that waits
//! for an answer past the timeout: that connection is ended and the request sent once more on a
//! new one, authenticated again.
//!
//! Requests are paced below the connection's limits (50 a second, 5 a second for history),
//! shared with every account on it; a `REQUEST_FREQUENCY_EXCEEDED` or `BLOCKED_PAYLOAD_TYPE`
//! pause within [`WAIT_OUT`] is waited out and the request sent after it, a longer one makes the
//! calls it covers fail at once with [`BrokerError::RateLimited`] until its `retryAfter` has
//! passed, like the MetaApi client.
//!
//! What leaves this module is `shared::domain`: the same records the MetaApi client returns, so
//! the engine and everything above it do not know which platform an account is on.

use crate::BrokerError;
// `wire` below is cTrader's module of the `wire` crate, as the messages are named in it.
use super::connection::{Connection, Exchange, Link, Listener, Spot, WAIT_OUT};
use super::tokens::{Lineage, TokenStore};
pub use super::tokens::{REFRESH_AHEAD, Tokens};
use ::wire::ctrader as wire;
use ::wire::ctrader::payload;
use ::wire::ctrader::units::{self, UnitError};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::domain::{
    AccountInfo, Deal, DealEntry, DealKind, Position, Side, SymbolPrice, SymbolSpec,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub use ::wire::ctrader::{
    CASH_FLOW_WINDOW, HEARTBEAT_INTERVAL, HISTORY_REQUESTS_PER_SECOND, REQUESTS_PER_SECOND,
};
/// Deals asked for per deal-list request.
pub const DEALS_PER_REQUEST: i32 = 1000;
/// A deal window is not split below this span: past it, paging has failed.
const SMALLEST_DEAL_WINDOW_MS: i64 = 1;

/// How to reach and sign in to one cTrader account.
#[derive(Clone)]
pub struct CtraderSettings {
    /// `wss://live.ctraderapi.com:5036`, `wss://demo.ctraderapi.com:5036`, or the simulator.
    pub url: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// The account owner's OAuth access token.
    pub access_token: String,
    /// The OAuth refresh token that trades for a new access token when this one expires (it
    /// lasts about 30 days). Without one, an expired token stops the account until replaced.
    pub refresh_token: Option<String>,
    /// The account (`ctidTraderAccountId`).
    pub account_id: i64,
    /// How long an answer may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for CtraderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtraderSettings")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("account_id", &self.account_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The code of the error a refused refresh token gives, whatever cTrader's own code was (it is
/// in the message): the account's credentials are gone ([`BrokerError::is_credentials`]).
pub const REFRESH_REFUSED: &str = "REFRESH_TOKEN_REFUSED";

/// A client for one account; clones share the connection.
#[derive(Clone, Debug)]
pub struct CtraderClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CtraderSettings,
    connection: Arc<Connection>,
    listener: Arc<Listener>,
    listener_id: u64,
    /// The token pair, shared with every client of the same cTrader ID's pair.
    lineage: Arc<Lineage>,
    /// Where a pair refreshed by another process is read before spending the refresh token.
    token_store: OnceLock<Arc<dyn TokenStore>>,
    /// One sign-in at a time for this client.
    auth: tokio::sync::Mutex<()>,
    catalog: tokio::sync::Mutex<Option<Arc<Catalog>>>,
    /// The symbols whose quotes this client reads (fed by its subscription or another
    /// account's of the same broker).
    subscribed: Mutex<HashSet<i64>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.connection
            .unlisten(self.settings.account_id, self.listener_id);
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtraderClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What the account trades and in what currency: read once per client.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub(crate) deposit_asset: i64,
    pub(crate) currency: String,
    pub(crate) money_digits: Option<u32>,
    /// When the account was registered: nothing happened on it before.
    registered: Option<DateTime<Utc>>,
    pub(crate) by_id: HashMap<i64, SymbolInfo>,
    by_name: HashMap<String, i64>,
    /// Symbols by (base asset, quote asset), to convert a quote currency into the deposit one.
    by_assets: HashMap<(i64, i64), i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct SymbolInfo {
    pub(crate) name: String,
    quote_asset: Option<i64>,
    pub(crate) digits: i32,
    pub(crate) lot_size: i64,
    min_volume: Option<i64>,
    max_volume: Option<i64>,
    step_volume: Option<i64>,
}

impl From<UnitError> for BrokerError {
    fn from(error: UnitError) -> Self {
        BrokerError::Malformed(error.to_string())
    }
}

impl CtraderClient {
    /// A client; nothing is sent until the first call. It shares the connection of its
    /// application (URL, client id and secret) with every other client of it.
    pub fn new(settings: CtraderSettings) -> Self {
        let connection = Connection::shared(
            &settings.url,
            &settings.client_id,
            &settings.client_secret,
            settings.timeout,
        );
        Self::on(connection, settings)
    }

    /// A client on a connection of its own, shared with no other and without a standby (a
    /// one-off question, such as the accounts a token opens).
    pub fn alone(settings: CtraderSettings) -> Self {
        let connection = Connection::private(
            &settings.url,
            &settings.client_id,
            &settings.client_secret,
            settings.timeout,
        );
        Self::on(connection, settings)
    }

    fn on(connection: Arc<Connection>, settings: CtraderSettings) -> Self {
        let (listener_id, listener) = connection.listen(settings.account_id);
        CtraderClient {
            inner: Arc::new(Inner {
                lineage: Lineage::join(
                    &settings.url,
                    &settings.client_id,
                    Tokens {
                        access_token: settings.access_token.clone(),
                        refresh_token: settings.refresh_token.clone(),
                        expires_at: None,
                        refreshed_at: None,
                        refreshed_by: None,
                    },
                ),
                token_store: OnceLock::new(),
                settings,
                connection,
                listener,
                listener_id,
                auth: tokio::sync::Mutex::new(()),
                catalog: tokio::sync::Mutex::new(None),
                subscribed: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The account's token pair, which changes when it is refreshed (by this client or by any
    /// other holding the same pair): a server stores the new pair at once (the old refresh
    /// token may stop working).
    pub fn tokens(&self) -> tokio::sync::watch::Receiver<Tokens> {
        self.inner.lineage.subscribe()
    }

    /// Tells apart the token pairs of the process: clients of one cTrader ID's pair share it.
    pub fn token_lineage(&self) -> u64 {
        self.inner.lineage.id()
    }

    /// Starts from a token pair stored earlier (with its expiry), instead of the settings'.
    /// When another client of the process holds that pair already, its newer renewal is kept.
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        let settings = &self.inner.settings;
        let lineage = Lineage::join(&settings.url, &settings.client_id, tokens.clone());
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.lineage = lineage,
            None => {
                self.inner.lineage.adopt(tokens);
            }
        }
        self
    }

    /// Reads the stored pair before each refresh, so that a pair another process refreshed is
    /// taken instead of spending the refresh token again (it is set once).
    pub fn with_token_store(self, store: Arc<dyn TokenStore>) -> Self {
        if self.inner.token_store.set(store).is_err() {
            tracing::warn!(
                account = self.inner.settings.account_id,
                "the cTrader token store is set once; the second one is ignored"
            );
        }
        self
    }

    /// How many WebSockets this client's connection has opened, its standbys included (a
    /// reconnect makes it grow; it is shared with the application's other clients).
    pub fn connections(&self) -> u64 {
        self.inner.connection.opened()
    }

    /// Ends the current connection, as a network failure would (tests use it): the standby,
    /// when there is one, takes over.
    pub async fn disconnect(&self) {
        self.inner.connection.disconnect().await;
    }

    /// The trading accounts an access token opens (`ProtoOAGetAccountListByAccessTokenReq`),
    /// for an admin connecting an account. Only the application is authenticated for it.
    pub async fn accounts(&self) -> Result<Vec<wire::CtidTraderAccount>, BrokerError> {
        let request = wire::AccountListReq {
            access_token: self.inner.lineage.with(|t| t.access_token.clone()),
        };
        let res: wire::AccountListRes = self
            .call(payload::GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ, &request)
            .await?;
        Ok(res.ctid_trader_account)
    }

    /// Balance, equity, margin and currency: `ProtoOATraderReq`, the positions' margin from
    /// `ProtoOAReconcileReq` and their net unrealized P/L from
    /// `ProtoOAGetPositionUnrealizedPnLReq` (equity = balance + the sum of net unrealized P/L).
    pub async fn account_information(&self) -> Result<AccountInfo, BrokerError> {
        let catalog = self.catalog().await?;
        let account = self.account_req();
        let trader: wire::TraderRes = self.call(payload::TRADER_REQ, &account).await?;
        let reconcile: wire::ReconcileRes = self.call(payload::RECONCILE_REQ, &account).await?;
        let pnl: wire::UnrealizedPnlRes = self
            .call(payload::GET_POSITION_UNREALIZED_PNL_REQ, &account)
            .await?;
        info_of(&catalog, &trader.trader, &reconcile, &pnl)
    }

    /// Open positions (`ProtoOAReconcileReq`), with their gross unrealized P/L as profit and the
    /// current price from the spot subscription (subscribed on first sight of a symbol).
    pub async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let catalog = self.catalog().await?;
        let account = self.account_req();
        let reconcile: wire::ReconcileRes = self.call(payload::RECONCILE_REQ, &account).await?;
        let pnl: wire::UnrealizedPnlRes = self
            .call(payload::GET_POSITION_UNREALIZED_PNL_REQ, &account)
            .await?;
        Ok(self
            .positions_of(&catalog, reconcile, &pnl)
            .await?
            .into_iter()
            .map(|(position, _)| position)
            .collect())
    }

    /// The account as it stands, in three requests (trader, reconcile, unrealized P/L): its
    /// information and open positions, each position with what moves its P/L with the quotes.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, BrokerError> {
        let catalog = self.catalog().await?;
        if !self.spots_fed() {
            // The account that fed a quote it reads is gone: it takes over.
            let link = self.session().await?;
            self.feed(&link).await?;
        }
        let account = self.account_req();
        let trader: wire::TraderRes = self.call(payload::TRADER_REQ, &account).await?;
        let reconcile: wire::ReconcileRes = self.call(payload::RECONCILE_REQ, &account).await?;
        let pnl: wire::UnrealizedPnlRes = self
            .call(payload::GET_POSITION_UNREALIZED_PNL_REQ, &account)
            .await?;
        let info = info_of(&catalog, &trader.trader, &reconcile, &pnl)?;
        let net: HashMap<i64, i64> = pnl
            .position_unrealized_pnl
            .iter()
            .map(|p| (p.position_id, p.net_unrealized_pn_l))
            .collect();
        let mut positions = Vec::new();
        let mut marks = Vec::new();
        for (position, mut mark) in self.positions_of(&catalog, reconcile, &pnl).await? {
            let id = position.id.parse::<i64>().unwrap_or_default();
            mark.net = units::money(net.get(&id).copied().unwrap_or(0), Some(pnl.money_digits))?;
            // A quote currency that cannot be converted moves nothing: the broker's own P/L,
            // read again, says what it is.
            mark.to_deposit = self
                .quote_to_deposit(&catalog, catalog.symbol(mark.symbol_id)?)
                .await
                .unwrap_or(Decimal::ZERO);
            positions.push(position);
            marks.push(mark);
        }
        Ok(Snapshot {
            info,
            positions,
            marks,
            money_digits: catalog.money_digits.unwrap_or(2),
        })
    }

    /// `snapshot` with the broker's own unrealized P/L read again (one request) and the quotes
    /// it stands at noted: the periodic refresh between executions (balance and positions
    /// change only with an execution, which reads the whole account). `None` when the broker's
    /// positions are not the snapshot's any more: read the whole account then.
    pub(crate) async fn repriced(
        &self,
        mut snapshot: Snapshot,
    ) -> Result<Option<Snapshot>, BrokerError> {
        let pnl: wire::UnrealizedPnlRes = self
            .call(
                payload::GET_POSITION_UNREALIZED_PNL_REQ,
                &self.account_req(),
            )
            .await?;
        let read: HashMap<i64, (i64, i64)> = pnl
            .position_unrealized_pnl
            .iter()
            .map(|p| {
                (
                    p.position_id,
                    (p.gross_unrealized_pn_l, p.net_unrealized_pn_l),
                )
            })
            .collect();
        if read.len() != snapshot.positions.len() {
            return Ok(None);
        }
        let mut floating = Decimal::ZERO;
        for (position, mark) in snapshot.positions.iter_mut().zip(&mut snapshot.marks) {
            let Some(&(gross, net)) = position.id.parse::<i64>().ok().and_then(|id| read.get(&id))
            else {
                return Ok(None);
            };
            mark.gross = units::money(gross, Some(pnl.money_digits))?;
            mark.net = units::money(net, Some(pnl.money_digits))?;
            let quote = self
                .spot_now(mark.symbol_id)
                .and_then(|spot| spot.close(position.side));
            if let Some(quote) = quote {
                let price = units::spot_price(quote, mark.digits)?;
                mark.price_at_read = price;
                position.current_price = price;
            }
            position.profit = mark.gross;
            floating += mark.net;
        }
        let info = &mut snapshot.info;
        info.equity = (info.balance + floating).normalize();
        info.free_margin = (info.equity - info.margin).normalize();
        info.margin_level = margin_level(info.equity, info.margin);
        Ok(Some(snapshot))
    }

    /// The positions of a reconcile answer, each with its [`Mark`] (its net P/L left at zero).
    async fn positions_of(
        &self,
        catalog: &Catalog,
        reconcile: wire::ReconcileRes,
        pnl: &wire::UnrealizedPnlRes,
    ) -> Result<Vec<(Position, Mark)>, BrokerError> {
        let gross: HashMap<i64, i64> = pnl
            .position_unrealized_pnl
            .iter()
            .map(|p| (p.position_id, p.gross_unrealized_pn_l))
            .collect();
        let symbols: Vec<i64> = reconcile
            .position
            .iter()
            .map(|p| p.trade_data.symbol_id)
            .collect();
        self.subscribe_spots(&symbols).await?;
        let mut positions = Vec::with_capacity(reconcile.position.len());
        for p in reconcile.position {
            let symbol = catalog.symbol(p.trade_data.symbol_id)?;
            let side = trade_side(p.trade_data.trade_side)?;
            let spot = self.spot(p.trade_data.symbol_id).await?;
            let current = spot
                .close(side)
                .ok_or_else(|| BrokerError::Malformed(format!("no quote for {}", symbol.name)))?;
            let digits = p.money_digits.or(catalog.money_digits);
            let open_price = p.price.ok_or_else(|| {
                BrokerError::Malformed(format!("position {} has no price", p.position_id))
            })?;
            let volume = units::lots(p.trade_data.volume, symbol.lot_size, p.trade_data.symbol_id)?;
            let position = Position {
                id: p.position_id.to_string(),
                symbol: symbol.name.clone(),
                side,
                volume,
                open_price: units::price(open_price, symbol.digits)?,
                current_price: units::spot_price(current, symbol.digits)?,
                stop_loss: p
                    .stop_loss
                    .map(|v| units::price(v, symbol.digits))
                    .transpose()?,
                take_profit: p
                    .take_profit
                    .map(|v| units::price(v, symbol.digits))
                    .transpose()?,
                profit: units::money(
                    gross.get(&p.position_id).copied().unwrap_or(0),
                    Some(pnl.money_digits),
                )?,
                swap: units::money(p.swap, digits)?,
                commission: units::money(p.commission.unwrap_or(0), digits)?,
                open_time: millis(p.trade_data.open_timestamp.unwrap_or(0))?,
            };
            let mark = Mark {
                symbol_id: p.trade_data.symbol_id,
                digits: symbol.digits,
                units: volume * contract_size(symbol),
                // Set by a snapshot, the only reader of it.
                to_deposit: Decimal::ZERO,
                price_at_read: position.current_price,
                gross: position.profit,
                net: Decimal::ZERO,
            };
            positions.push((position, mark));
        }
        Ok(positions)
    }

    pub(crate) fn listener(&self) -> &Arc<Listener> {
        &self.inner.listener
    }

    /// The account (`ctidTraderAccountId`).
    pub fn account_id(&self) -> i64 {
        self.inner.settings.account_id
    }

    /// Whether the account is still authorized on `link`.
    pub(crate) fn authorized_on(&self, link: &Link) -> bool {
        !link.closed.is_cancelled()
            && self
                .inner
                .connection
                .is_authorized(self.inner.settings.account_id, link)
    }

    /// The latest quote of `symbol` known, without waiting.
    pub(crate) fn spot_now(&self, symbol: i64) -> Option<Spot> {
        self.inner
            .listener
            .spots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&symbol)
            .copied()
    }

    /// Deals executed in `[start, end)`: filled trade deals (`ProtoOADealListReq`, a window with
    /// more than a page split in halves until each fits) and deposits, withdrawals and other
    /// balance operations (`ProtoOACashFlowHistoryListReq`, one week at a time), oldest first.
    pub async fn deals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Deal>, BrokerError> {
        self.deals_with_progress(start, end, |_, _| {}).await
    }

    /// [`Self::deals`], calling `progress` after each answer with the number of deals read so
    /// far and the latest deal time read.
    pub async fn deals_with_progress(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        mut progress: impl FnMut(usize, Option<DateTime<Utc>>),
    ) -> Result<Vec<Deal>, BrokerError> {
        let catalog = self.catalog().await?;
        // Nothing happened before the account was registered: the history is read from then
        // (a week of cash flows a request, against the connection's historical limit).
        let start = catalog.registered.map_or(start, |r| start.max(r));
        let mut deals: BTreeMap<(DateTime<Utc>, String), Deal> = BTreeMap::new();
        let mut seen = HashSet::new();
        let (from, to) = (start.timestamp_millis(), end.timestamp_millis());
        let mut windows = vec![(from, to)];
        while let Some((from, to)) = windows.pop() {
            if from >= to {
                continue;
            }
            let request = wire::DealListReq {
                ctid_trader_account_id: self.inner.settings.account_id,
                from_timestamp: from,
                // The protocol's window is inclusive; ours ends before `end`.
                to_timestamp: to - 1,
                max_rows: Some(DEALS_PER_REQUEST),
            };
            let page: wire::DealListRes = self.call(payload::DEAL_LIST_REQ, &request).await?;
            if page.has_more && to - from > SMALLEST_DEAL_WINDOW_MS {
                let middle = from + (to - from) / 2;
                windows.push((middle, to));
                windows.push((from, middle));
                continue;
            }
            for deal in page.deal {
                if !matches!(
                    deal.deal_status,
                    wire::deal_status::FILLED | wire::deal_status::PARTIALLY_FILLED
                ) || !seen.insert(deal.deal_id)
                {
                    continue;
                }
                let deal = trade_deal(&catalog, deal)?;
                deals.insert((deal.time, deal.id.clone()), deal);
            }
            progress(deals.len(), deals.keys().next_back().map(|(t, _)| *t));
        }
        let mut window_start = start;
        while window_start < end {
            let window_end = (window_start + CASH_FLOW_WINDOW).min(end);
            let request = wire::CashFlowReq {
                ctid_trader_account_id: self.inner.settings.account_id,
                from_timestamp: window_start.timestamp_millis(),
                to_timestamp: window_end.timestamp_millis() - 1,
            };
            let page: wire::CashFlowRes = self
                .call(payload::CASH_FLOW_HISTORY_LIST_REQ, &request)
                .await?;
            for flow in page.deposit_withdraw {
                let deal = cash_flow_deal(flow)?;
                deals.insert((deal.time, deal.id.clone()), deal);
            }
            progress(deals.len(), deals.keys().next_back().map(|(t, _)| *t));
            window_start = window_end;
        }
        Ok(deals.into_values().collect())
    }

    /// A symbol's specification (`ProtoOASymbolsListReq` and `ProtoOASymbolByIdReq`): the tick is
    /// one unit of its last digit and the contract size its lot in units.
    pub async fn specification(&self, symbol: &str) -> Result<SymbolSpec, BrokerError> {
        let catalog = self.catalog().await?;
        let info = catalog.symbol(catalog.id(symbol)?)?;
        let volume = |v: Option<i64>, fallback: Decimal| {
            v.map_or(Ok(fallback), |v| units::lots(v, info.lot_size, 0))
        };
        Ok(SymbolSpec {
            symbol: info.name.clone(),
            tick_size: units::tick_size(info.digits),
            contract_size: contract_size(info),
            digits: u32::try_from(info.digits).unwrap_or(0),
            min_volume: volume(info.min_volume, Decimal::new(1, 2))?,
            max_volume: volume(info.max_volume, Decimal::ONE_HUNDRED)?,
            volume_step: volume(info.step_volume, Decimal::new(1, 2))?,
        })
    }

    /// A symbol's current bid and ask from the spot subscription, with the money a tick is worth
    /// per lot in the deposit currency (cTrader has no tick value: it is the tick times the
    /// contract size, converted from the quote currency through a symbol pairing it with the
    /// deposit currency when they differ).
    pub async fn current_price(&self, symbol: &str) -> Result<SymbolPrice, BrokerError> {
        let catalog = self.catalog().await?;
        let id = catalog.id(symbol)?;
        let info = catalog.symbol(id)?;
        self.subscribe_spots(&[id]).await?;
        let spot = self.spot(id).await?;
        let (Some(bid), Some(ask)) = (spot.bid, spot.ask) else {
            return Err(BrokerError::Malformed(format!("no quote for {symbol}")));
        };
        let tick_value = units::tick_size(info.digits)
            * contract_size(info)
            * self.quote_to_deposit(&catalog, info).await?;
        Ok(SymbolPrice {
            symbol: info.name.clone(),
            bid: units::spot_price(bid, info.digits)?,
            ask: units::spot_price(ask, info.digits)?,
            profit_tick_value: tick_value,
            loss_tick_value: tick_value,
            time: spot.time.unwrap_or_else(Utc::now),
        })
    }

    /// How long ago the latest quote of any subscribed symbol arrived (`None` before any).
    pub async fn quote_age(&self) -> Result<Option<Duration>, BrokerError> {
        let latest = {
            let spots = self
                .inner
                .listener
                .spots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            spots.values().filter_map(|s| s.time).max()
        };
        Ok(latest.map(|t| (Utc::now() - t).to_std().unwrap_or_default()))
    }

    async fn quote_to_deposit(
        &self,
        catalog: &Catalog,
        info: &SymbolInfo,
    ) -> Result<Decimal, BrokerError> {
        let Some(quote) = info.quote_asset else {
            return Ok(Decimal::ONE);
        };
        if quote == catalog.deposit_asset {
            return Ok(Decimal::ONE);
        }
        if let Some(&pair) = catalog.by_assets.get(&(quote, catalog.deposit_asset)) {
            self.subscribe_spots(&[pair]).await?;
            let bid = self.spot(pair).await?.bid.unwrap_or(0);
            return Ok(Decimal::new(
                i64::try_from(bid).unwrap_or(0),
                units::SPOT_PRICE_DIGITS,
            ));
        }
        if let Some(&pair) = catalog.by_assets.get(&(catalog.deposit_asset, quote)) {
            self.subscribe_spots(&[pair]).await?;
            let ask = self.spot(pair).await?.ask.unwrap_or(0);
            let ask = Decimal::new(i64::try_from(ask).unwrap_or(0), units::SPOT_PRICE_DIGITS);
            if ask > Decimal::ZERO {
                return Ok(Decimal::ONE / ask);
            }
        }
        Err(BrokerError::Malformed(format!(
            "no symbol converts {}'s quote currency into {}",
            info.name, catalog.currency
        )))
    }

    fn account_req(&self) -> wire::AccountReq {
        wire::AccountReq {
            ctid_trader_account_id: self.inner.settings.account_id,
        }
    }

    /// The account's symbols and deposit currency, read on first use.
    pub(crate) async fn catalog(&self) -> Result<Arc<Catalog>, BrokerError> {
        let mut slot = self.inner.catalog.lock().await;
        if let Some(catalog) = slot.as_ref() {
            return Ok(catalog.clone());
        }
        let account = self.account_req();
        let trader: wire::TraderRes = self.call(payload::TRADER_REQ, &account).await?;
        let assets: wire::AssetListRes = self.call(payload::ASSET_LIST_REQ, &account).await?;
        let list: wire::SymbolsListRes = self.call(payload::SYMBOLS_LIST_REQ, &account).await?;
        let ids: Vec<i64> = list.symbol.iter().map(|s| s.symbol_id).collect();
        let mut details = HashMap::new();
        for chunk in ids.chunks(100) {
            let request = wire::SymbolIdsReq {
                ctid_trader_account_id: self.inner.settings.account_id,
                symbol_id: chunk.to_vec(),
            };
            let res: wire::SymbolByIdRes = self.call(payload::SYMBOL_BY_ID_REQ, &request).await?;
            details.extend(res.symbol.into_iter().map(|s| (s.symbol_id, s)));
        }
        let deposit_asset = trader.trader.deposit_asset_id;
        let currency = assets
            .asset
            .iter()
            .find(|a| a.asset_id == deposit_asset)
            .map(|a| a.name.clone())
            .ok_or_else(|| {
                BrokerError::Malformed(format!(
                    "deposit asset {deposit_asset} is not in the asset list"
                ))
            })?;
        let mut catalog = Catalog {
            deposit_asset,
            currency,
            money_digits: trader.trader.money_digits,
            registered: trader
                .trader
                .registration_timestamp
                .and_then(|t| Utc.timestamp_millis_opt(t).single()),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_assets: HashMap::new(),
        };
        for light in list.symbol {
            let (Some(name), Some(detail)) = (light.symbol_name, details.get(&light.symbol_id))
            else {
                continue;
            };
            if let (Some(base), Some(quote)) = (light.base_asset_id, light.quote_asset_id) {
                catalog.by_assets.insert((base, quote), light.symbol_id);
            }
            catalog.by_name.insert(name.clone(), light.symbol_id);
            catalog.by_id.insert(
                light.symbol_id,
                SymbolInfo {
                    name,
                    quote_asset: light.quote_asset_id,
                    digits: detail.digits,
                    lot_size: detail.lot_size.unwrap_or(0),
                    min_volume: detail.min_volume,
                    max_volume: detail.max_volume,
                    step_volume: detail.step_volume,
                },
            );
        }
        if let Some(broker) = &trader.trader.broker_name {
            // Its quotes are its broker's: shared with the broker's other accounts.
            self.inner
                .connection
                .set_broker(self.inner.settings.account_id, broker);
        }
        let catalog = Arc::new(catalog);
        *slot = Some(catalog.clone());
        Ok(catalog)
    }

    /// Reads the quotes of `symbols` from now on: each from the broker's shared feed, which
    /// this account subscribes to when no other account of its broker does now.
    async fn subscribe_spots(&self, symbols: &[i64]) -> Result<(), BrokerError> {
        if symbols.is_empty() {
            return Ok(());
        }
        self.inner
            .subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(symbols.iter().copied());
        let link = self.session().await?;
        self.feed(&link).await
    }

    /// The symbols this client reads quotes of.
    fn wanted(&self) -> Vec<i64> {
        self.inner
            .subscribed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    /// Whether every symbol this client reads is fed by a subscription alive now.
    pub(crate) fn spots_fed(&self) -> bool {
        self.inner
            .connection
            .fed(self.inner.settings.account_id, &self.wanted())
    }

    /// Subscribes on `link` (this account authorized on it) to the symbols it reads that no
    /// account of its broker feeds now.
    async fn feed(&self, link: &Link) -> Result<(), BrokerError> {
        let inner = &self.inner;
        let unfed = inner.connection.claim(
            inner.settings.account_id,
            (inner.listener_id, &inner.listener),
            &self.wanted(),
            link,
        );
        if unfed.is_empty() {
            return Ok(());
        }
        let request = wire::SymbolIdsReq {
            ctid_trader_account_id: inner.settings.account_id,
            symbol_id: unfed.clone(),
        };
        let subscribed = match inner
            .connection
            .unblocked(payload::SUBSCRIBE_SPOTS_REQ)
            .await
        {
            Ok(()) => {
                self.authenticate(link, payload::SUBSCRIBE_SPOTS_REQ, &request)
                    .await
            }
            Err(error) => Err(error),
        };
        match subscribed {
            // The same connection may still have them.
            Err(BrokerError::Refused { code, .. }) if code == "ALREADY_SUBSCRIBED" => Ok(()),
            Err(error) => {
                if matches!(&error, BrokerError::Refused { code, .. } if code == "ACCOUNT_NOT_AUTHORIZED")
                {
                    // Its session ended before the event said so: authorized again next time.
                    inner
                        .connection
                        .deauthorize(inner.settings.account_id, link);
                }
                inner.connection.unclaim(inner.settings.account_id, &unfed);
                Err(error)
            }
            Ok(()) => Ok(()),
        }
    }

    /// The latest quote of a subscribed symbol, waiting for the first one to arrive.
    async fn spot(&self, symbol: i64) -> Result<Spot, BrokerError> {
        let deadline = Instant::now() + self.inner.connection.timeout();
        loop {
            let spot = self
                .inner
                .listener
                .spots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&symbol)
                .copied();
            if let Some(spot) = spot.filter(|s| s.bid.is_some() && s.ask.is_some()) {
                return Ok(spot);
            }
            if Instant::now() >= deadline {
                return Err(BrokerError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a request and reads its answer, signing in (again) first when needed.
    pub(crate) async fn call<Req: Serialize, Res: DeserializeOwned>(
        &self,
        payload_type: u32,
        request: &Req,
    ) -> Result<Res, BrokerError> {
        let connection = &self.inner.connection;
        connection.unblocked(payload_type).await?;
        let payload = serde_json::to_value(request)
            .map_err(|e| BrokerError::Config(format!("cannot encode a request: {e}")))?;
        let account_auth = payload_type != payload::GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ;
        // A request cut off by a dropped (or silent) connection is sent once more on a new one;
        // one refused for a short pause, after it (a few times).
        let mut last = BrokerError::Connection(
            "the cTrader connection dropped twice during one request".into(),
        );
        let (mut drops, mut pauses) = (0, 0);
        while drops < 2 {
            let link = if account_auth {
                self.session().await?
            } else {
                connection.link().await?
            };
            connection.pace(payload_type).await;
            // A pause the server asked for while this request waited its turn.
            connection.unblocked(payload_type).await?;
            drops += 1;
            match connection
                .exchange(&link, payload_type, payload.clone())
                .await
            {
                Ok(answer) => match connection.read_answer(answer, payload_type) {
                    Err(BrokerError::RateLimited { retry_after })
                        if pauses < 3 && retry_after.is_some_and(|w| w <= WAIT_OUT) =>
                    {
                        pauses += 1;
                        drops -= 1;
                        connection.unblocked(payload_type).await?;
                    }
                    // The server ended the account's session (its token was invalidated, say)
                    // before its event arrived: authorize it again.
                    Err(BrokerError::Refused { code, message })
                        if code == "ACCOUNT_NOT_AUTHORIZED" =>
                    {
                        connection.deauthorize(self.inner.settings.account_id, &link);
                        last = BrokerError::Refused { code, message };
                    }
                    read => return read,
                },
                Err(Exchange::Closed) => {}
                Err(Exchange::Failed(BrokerError::Timeout)) => {
                    // No answer within the timeout: the server is gone silent or the path to it
                    // is dead, and a dead connection never recovers. End it.
                    tracing::warn!(
                        account = self.inner.settings.account_id,
                        "cTrader did not answer in time; connecting again"
                    );
                    connection.abandon(&link).await;
                    last = BrokerError::Timeout;
                }
                Err(Exchange::Failed(error)) => return Err(error),
            }
        }
        Err(last)
    }

    /// The connection's link with this account authorized on it (and its token refreshed when
    /// it expires soon).
    pub(crate) async fn session(&self) -> Result<Link, BrokerError> {
        let connection = &self.inner.connection;
        let account = self.inner.settings.account_id;
        let ready = |link: &Link| {
            connection.is_authorized(account, link)
                && !self.inner.lineage.with(|t| t.refresh_due(Utc::now()))
        };
        let link = connection.link().await?;
        if ready(&link) {
            return Ok(link);
        }
        let _auth = self.inner.auth.lock().await;
        // Another call of this client may have signed in meanwhile.
        let link = connection.link().await?;
        if ready(&link) {
            return Ok(link);
        }
        self.sign_in(&link).await?;
        connection.set_authorized(account, &link);
        // Its subscriptions went with its last authorization: the quotes it reads are fed
        // again (by it, where no other account of its broker feeds them).
        self.feed(&link).await?;
        Ok(link)
    }

    /// Authorizes the account on `link` (refreshing its token first when it expires soon, or
    /// when the server says it expired).
    async fn sign_in(&self, link: &Link) -> Result<(), BrokerError> {
        let settings = &self.inner.settings;
        let lineage = &self.inner.lineage;
        let mut refreshed = false;
        let held = lineage.current();
        if held.refresh_due(Utc::now()) {
            // Ahead of expiry the current token still works: a refresh that fails now is tried
            // again at the next sign-in, and this one goes on with the token it has.
            match self.refresh(link, &held).await {
                Ok(()) => refreshed = true,
                Err(error) => tracing::warn!(
                    account = settings.account_id,
                    %error,
                    "cannot refresh the cTrader access token ahead of its expiry; using it meanwhile"
                ),
            }
        }
        loop {
            let held = lineage.current();
            let account = wire::AccountAuthReq {
                ctid_trader_account_id: settings.account_id,
                access_token: held.access_token.clone(),
            };
            match self
                .authenticate(link, payload::ACCOUNT_AUTH_REQ, &account)
                .await
            {
                Ok(()) => break,
                // Expired or recalled: a refresh token trades for a new one, once.
                Err(BrokerError::Refused { code, .. })
                    if !refreshed
                        && matches!(
                            code.as_str(),
                            "CH_ACCESS_TOKEN_INVALID" | "OA_AUTH_TOKEN_EXPIRED"
                        )
                        && held.refresh_token.is_some() =>
                {
                    self.refresh(link, &held).await?;
                    refreshed = true;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Renews `held`, the pair this client found due or refused: unless another client of the
    /// process renewed it meanwhile, or another process did (its pair is in the store), trades
    /// the refresh token for a new pair (`ProtoOARefreshTokenReq`) and publishes it to every
    /// client of the pair.
    async fn refresh(&self, link: &Link, held: &Tokens) -> Result<(), BrokerError> {
        let lineage = &self.inner.lineage;
        let _one = lineage.refreshing.lock().await;
        if lineage.with(|now| now.access_token != held.access_token) {
            return Ok(());
        }
        if self.adopt_stored().await {
            return Ok(());
        }
        let Some(refresh_token) = held.refresh_token.clone() else {
            return Err(BrokerError::Config(
                "the access token expired and there is no refresh token".into(),
            ));
        };
        let connection = &self.inner.connection;
        let payload = serde_json::to_value(wire::RefreshTokenReq { refresh_token })
            .map_err(|e| BrokerError::Config(format!("cannot encode a request: {e}")))?;
        connection.pace(payload::REFRESH_TOKEN_REQ).await;
        let answer = match connection
            .exchange(link, payload::REFRESH_TOKEN_REQ, payload)
            .await
        {
            Ok(answer) => answer,
            Err(Exchange::Closed) => {
                return Err(BrokerError::Connection(
                    "the cTrader server closed the connection while refreshing the token".into(),
                ));
            }
            Err(Exchange::Failed(error)) => return Err(error),
        };
        let refreshed: wire::RefreshTokenRes =
            match connection.read_answer(answer, payload::REFRESH_TOKEN_REQ) {
                Ok(refreshed) => refreshed,
                Err(BrokerError::Refused { code, message }) => {
                    // Another process may have spent it a moment ago: its pair is the one.
                    if self.adopt_stored().await {
                        return Ok(());
                    }
                    return Err(BrokerError::Refused {
                        code: REFRESH_REFUSED.to_owned(),
                        message: format!("cTrader refused the refresh token ({code}): {message}"),
                    });
                }
                Err(error) => return Err(error),
            };
        let now = Utc::now();
        let expires_at = chrono::TimeDelta::try_seconds(refreshed.expires_in)
            .and_then(|lifetime| now.checked_add_signed(lifetime));
        tracing::info!(
            account = self.inner.settings.account_id,
            expires_at = ?expires_at,
            "cTrader access token refreshed"
        );
        lineage.renew(Tokens {
            access_token: refreshed.access_token,
            refresh_token: Some(refreshed.refresh_token),
            expires_at,
            refreshed_at: Some(now),
            refreshed_by: Some(self.inner.settings.account_id),
        });
        Ok(())
    }

    /// Takes the stored pair when another process refreshed it later than the pair held here;
    /// whether it did.
    async fn adopt_stored(&self) -> bool {
        let Some(store) = self.inner.token_store.get() else {
            return false;
        };
        let Some(stored) = store.latest().await else {
            return false;
        };
        let adopted = self.inner.lineage.adopt(stored);
        if adopted {
            tracing::info!(
                account = self.inner.settings.account_id,
                "cTrader access token renewed by another server; using its pair"
            );
        }
        adopted
    }

    /// A request of the sign-in on `link` itself (no session needed): authorization, spots.
    async fn authenticate<Req: Serialize>(
        &self,
        link: &Link,
        payload_type: u32,
        request: &Req,
    ) -> Result<(), BrokerError> {
        let connection = &self.inner.connection;
        let payload = serde_json::to_value(request)
            .map_err(|e| BrokerError::Config(format!("cannot encode a request: {e}")))?;
        connection.pace(payload_type).await;
        match connection.exchange(link, payload_type, payload).await {
            Ok(answer) => connection
                .read_answer::<serde_json::Value>(answer, payload_type)
                .map(drop),
            Err(Exchange::Closed) => Err(BrokerError::Connection(
                "the cTrader server closed the connection while signing in".into(),
            )),
            Err(Exchange::Failed(error)) => Err(error),
        }
    }
}

/// An account as it stands: [`CtraderClient::snapshot`].
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub info: AccountInfo,
    pub positions: Vec<Position>,
    /// Beside each position, in the same order.
    pub marks: Vec<Mark>,
    /// The deposit currency's digits: what a P/L is rounded to.
    pub money_digits: u32,
}

/// What moves a position's P/L with the quotes between two reads of the broker's own: its P/L
/// at the price it was read at, moved by the price's change since, times its size in units,
/// converted into the deposit currency.
#[derive(Clone, Debug)]
pub(crate) struct Mark {
    pub symbol_id: i64,
    pub digits: i32,
    pub units: Decimal,
    pub to_deposit: Decimal,
    /// The closing price when the broker's P/L was read.
    pub price_at_read: Decimal,
    /// The broker's gross and net unrealized P/L when read.
    pub gross: Decimal,
    pub net: Decimal,
}

impl Mark {
    /// How much the P/L moved since it was read, at `price` (a buy gains when it rises).
    pub fn moved(&self, side: Side, price: Decimal) -> Decimal {
        let change = (price - self.price_at_read) * self.units * self.to_deposit;
        match side {
            Side::Buy => change,
            Side::Sell => -change,
        }
    }
}

/// Balance, equity, margin and currency from the answers of one read.
fn info_of(
    catalog: &Catalog,
    trader: &wire::Trader,
    reconcile: &wire::ReconcileRes,
    pnl: &wire::UnrealizedPnlRes,
) -> Result<AccountInfo, BrokerError> {
    let balance = units::money(trader.balance, trader.money_digits)?;
    let mut floating = Decimal::ZERO;
    for p in &pnl.position_unrealized_pnl {
        floating += units::money(p.net_unrealized_pn_l, Some(pnl.money_digits))?;
    }
    let mut margin = Decimal::ZERO;
    for p in &reconcile.position {
        let used = i64::try_from(p.used_margin.unwrap_or(0))
            .map_err(|_| BrokerError::Malformed("usedMargin out of range".into()))?;
        margin += units::money(used, p.money_digits.or(catalog.money_digits))?;
    }
    // Sums in the shortest form too, as MetaApi's JSON numbers read.
    let equity = (balance + floating).normalize();
    let margin = margin.normalize();
    let bonus = [
        trader.manager_bonus,
        trader.ib_bonus,
        trader.non_withdrawable_bonus,
    ]
    .into_iter()
    .flatten()
    .map(|b| units::money(b, trader.money_digits))
    .sum::<Result<Decimal, _>>()?;
    Ok(AccountInfo {
        balance,
        equity,
        margin,
        free_margin: (equity - margin).normalize(),
        margin_level: margin_level(equity, margin),
        currency: catalog.currency.clone(),
        leverage: trader.leverage_in_cents.map(|l| l / 100),
        credit: bonus.normalize(),
    })
}

/// Equity over margin in percent, as MetaTrader shows it (none without margin).
pub(crate) fn margin_level(equity: Decimal, margin: Decimal) -> Option<Decimal> {
    (margin > Decimal::ZERO).then(|| {
        (equity / margin * Decimal::ONE_HUNDRED)
            .round_dp(2)
            .normalize()
    })
}

impl Catalog {
    fn symbol(&self, id: i64) -> Result<&SymbolInfo, BrokerError> {
        self.by_id
            .get(&id)
            .ok_or_else(|| BrokerError::NotFound(format!("symbol id {id}")))
    }

    fn id(&self, name: &str) -> Result<i64, BrokerError> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| BrokerError::NotFound(format!("symbol {name}")))
    }
}

/// A lot in units: the lot size is in cents of units.
fn contract_size(info: &SymbolInfo) -> Decimal {
    (Decimal::from(info.lot_size) / Decimal::ONE_HUNDRED).normalize()
}

fn trade_side(side: u32) -> Result<Side, BrokerError> {
    match side {
        wire::side::BUY => Ok(Side::Buy),
        wire::side::SELL => Ok(Side::Sell),
        other => Err(BrokerError::Malformed(format!(
            "unknown trade side {other}"
        ))),
    }
}

fn millis(ms: i64) -> Result<DateTime<Utc>, BrokerError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| BrokerError::Malformed(format!("timestamp {ms} is out of range")))
}

/// A filled trade deal. A deal that closes (part of) a position carries its realized gross
/// profit and swap in `closePositionDetail`; its own commission is the deal's `commission`
/// (`closePositionDetail.commission` is the whole closed volume's, opening share included, which
/// the opening deal already carried). Its profit is the gross profit plus `pnlConversionFee`
/// (the fee for converting it into the deposit currency, when there is one): the closed P/L the
/// balance moves by, with swap and commission.
pub(crate) fn trade_deal(catalog: &Catalog, deal: wire::Deal) -> Result<Deal, BrokerError> {
    let symbol = catalog.symbol(deal.symbol_id)?;
    let digits = deal.money_digits.or(catalog.money_digits);
    let kind = match trade_side(deal.trade_side)? {
        Side::Buy => DealKind::Buy,
        Side::Sell => DealKind::Sell,
    };
    let (entry, profit, swap) = match &deal.close_position_detail {
        Some(detail) => {
            let digits = detail.money_digits.or(digits);
            let profit = detail
                .gross_profit
                .checked_add(detail.pnl_conversion_fee.unwrap_or(0))
                .ok_or_else(|| {
                    BrokerError::Malformed(format!(
                        "deal {}: its profit and conversion fee overflow",
                        deal.deal_id
                    ))
                })?;
            (
                DealEntry::Out,
                units::money(profit, digits)?,
                units::money(detail.swap, digits)?,
            )
        }
        None => (DealEntry::In, Decimal::ZERO, Decimal::ZERO),
    };
    Ok(Deal {
        id: deal.deal_id.to_string(),
        kind,
        entry: Some(entry),
        symbol: Some(symbol.name.clone()),
        time: millis(deal.execution_timestamp)?,
        volume: Some(units::lots(
            deal.filled_volume,
            symbol.lot_size,
            deal.symbol_id,
        )?),
        price: deal
            .execution_price
            .map(|p| units::price(p, symbol.digits))
            .transpose()?,
        profit,
        commission: units::money(deal.commission.unwrap_or(0), digits)?,
        swap,
        position_id: Some(deal.position_id.to_string()),
        reason: None,
    })
}

/// A deposit, withdrawal or other balance operation.
pub(crate) fn cash_flow_deal(flow: wire::DepositWithdraw) -> Result<Deal, BrokerError> {
    let (kind, out) = units::cash_flow(flow.operation_type)?;
    let amount = units::money(flow.delta.abs(), flow.money_digits)?;
    Ok(Deal {
        id: flow.balance_history_id.to_string(),
        kind,
        entry: None,
        symbol: None,
        time: millis(flow.change_balance_timestamp)?,
        volume: None,
        price: None,
        profit: if out { -amount } else { amount },
        commission: Decimal::ZERO,
        swap: Decimal::ZERO,
        position_id: None,
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let symbol = SymbolInfo {
            name: "EURJPY".into(),
            quote_asset: Some(2),
            digits: 3,
            lot_size: 10_000_000,
            min_volume: None,
            max_volume: None,
            step_volume: None,
        };
        Catalog {
            deposit_asset: 1,
            currency: "USD".into(),
            money_digits: Some(2),
            registered: None,
            by_id: HashMap::from([(7, symbol)]),
            by_name: HashMap::from([("EURJPY".into(), 7)]),
            by_assets: HashMap::new(),
        }
    }

    fn closing_deal(fee: Option<i64>) -> wire::Deal {
        wire::Deal {
            deal_id: 11,
            order_id: 12,
            position_id: 13,
            volume: 10_000_000,
            filled_volume: 10_000_000,
            symbol_id: 7,
            create_timestamp: 1_700_000_000_000,
            execution_timestamp: 1_700_000_000_001,
            execution_price: Some(161.234),
            trade_side: wire::side::SELL,
            deal_status: wire::deal_status::FILLED,
            commission: Some(-350),
            close_position_detail: Some(wire::ClosePositionDetail {
                entry_price: 160.9,
                gross_profit: 20_700,
                swap: -120,
                commission: -700,
                balance: 10_019_880,
                closed_volume: Some(10_000_000),
                pnl_conversion_fee: fee,
                money_digits: Some(2),
            }),
            money_digits: Some(2),
        }
    }

    #[test]
    fn a_close_in_another_currency_counts_its_conversion_fee_in_the_profit() {
        let plain = trade_deal(&catalog(), closing_deal(None)).expect("deal");
        assert_eq!(plain.profit, Decimal::new(20_700, 2));
        let converted = trade_deal(&catalog(), closing_deal(Some(-25))).expect("deal");
        assert_eq!(
            converted.profit,
            Decimal::new(20_675, 2),
            "207.00 less a 0.25 fee"
        );
        assert_eq!(converted.swap, Decimal::new(-120, 2));
        assert_eq!(
            converted.commission,
            Decimal::new(-350, 2),
            "the closing deal's own"
        );
        assert_eq!(converted.entry, Some(DealEntry::Out));
    }

    #[test]
    fn a_fee_that_overflows_is_an_error_not_a_wrapped_number() {
        let mut deal = closing_deal(Some(i64::MAX));
        if let Some(detail) = deal.close_position_detail.as_mut() {
            detail.gross_profit = 1;
        }
        assert!(matches!(
            trade_deal(&catalog(), deal),
            Err(BrokerError::Malformed(_))
        ));
    }
}
