//! One connection per cTrader application, shared by every account it serves (brokers.md,
//! section 2: "at most two connections, each serving any number of accounts").
//!
//! A [`Connection`] is keyed by the server's URL and the application (client id and secret):
//! every [`super::CtraderClient`] of that application in the process uses it. It opens one
//! WebSocket, authenticates the application once (`ProtoOAApplicationAuthReq`), and keeps a
//! second one authenticated beside it as a standby: when the first drops, the standby takes
//! over at once (no new TLS handshake, no second application auth) and a new standby is opened.
//!
//! Accounts are authorized on it one by one (`ProtoOAAccountAuthReq`, done by the account's
//! client). An authorization belongs to one link (its `generation`): after a reconnect, or when
//! the server ends one account's session (`ProtoOAAccountDisconnectEvent`,
//! `ProtoOAAccountsTokenInvalidatedEvent`, an `ACCOUNT_NOT_AUTHORIZED` answer), the account is
//! authorized again before its next request; the others go on.
//!
//! The server's limits are per connection (50 requests a second, 5 of them historical), so they
//! are shared: every request waits its turn in one first-come first-served queue (each account's
//! task has one request in flight, so accounts take turns), and a historical request first waits
//! in its own queue, without holding up the others. `REQUEST_FREQUENCY_EXCEEDED` pauses every
//! request on the connection until its `retryAfter`; `BLOCKED_PAYLOAD_TYPE` pauses only that
//! payload type.
//!
//! Events are routed by `ctidTraderAccountId` to the accounts' [`Listener`]s: spots, execution
//! events and the loss of an authorization.
//!
//! Quotes are shared by symbol. A broker quotes a symbol alike to all its accounts, so of the
//! accounts of one broker (`ProtoOATrader.brokerName`) on the connection that hold a symbol,
//! one subscribes to its spots (its *feeder*) and every spot event it is sent reaches all of
//! them: a thousand accounts trading EURUSD cost one subscription and one event per tick, not a
//! thousand. When the feeder's authorization ends (a reconnect, its session ended, its client
//! gone), the accounts reading the symbol are woken and the next to ask subscribes in its
//! place. A quote only ever moves an account's P/L by its change since the broker's own P/L for
//! that account was read (see `stream`), so a markup a broker puts on some accounts' spreads
//! does not carry from one account to another.

use crate::BrokerError;
use ::wire::ctrader as wire;
use ::wire::ctrader::{Envelope, payload};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use ::wire::ctrader::{HEARTBEAT_INTERVAL, HISTORY_REQUESTS_PER_SECOND, REQUESTS_PER_SECOND};

/// A pause the server asks for (`retryAfter`) that ends within this is waited out: the request
/// waits and is sent (again) after it, as every account shares the connection's limits and a
/// short pause is their normal price. A longer one fails the request at once.
pub const WAIT_OUT: Duration = Duration::from_secs(5);

/// Execution events kept for an account's stream before it reads them; past this the stream
/// reads the account again from the broker instead (nothing is lost, it is asked again).
pub(crate) const EXECUTIONS_KEPT: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The latest quote of a symbol, from spot events.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spot {
    pub bid: Option<u64>,
    pub ask: Option<u64>,
    pub time: Option<DateTime<Utc>>,
}

/// What the connection tells one account's client: its quotes and, for a stream, its execution
/// events and the loss of its authorization.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    pub spots: Mutex<HashMap<i64, Spot>>,
    /// Execution events not yet read (only kept while `streaming`).
    pub executions: Mutex<VecDeque<Envelope>>,
    /// More execution events came than are kept: the stream must read the account again.
    pub overflowed: AtomicBool,
    /// A stream reads this account's events.
    pub streaming: AtomicBool,
    /// Something changed: a quote, an execution, an authorization lost, a link ended.
    pub changed: Notify,
}

impl Spot {
    /// The price a position of `side` closes at: a buy at the bid, a sell at the ask.
    pub fn close(&self, side: shared::domain::Side) -> Option<u64> {
        match side {
            shared::domain::Side::Buy => self.bid,
            shared::domain::Side::Sell => self.ask,
        }
    }

    /// What a spot event changes (an event may carry only the bid or only the ask).
    fn update(&mut self, event: &wire::SpotEvent) {
        if event.bid.is_some() {
            self.bid = event.bid;
        }
        if event.ask.is_some() {
            self.ask = event.ask;
        }
        self.time = event
            .timestamp
            .and_then(|t| Utc.timestamp_millis_opt(t).single())
            .or_else(|| Some(Utc::now()));
    }
}

impl Listener {
    fn spot(&self, event: &wire::SpotEvent) {
        lock(&self.spots)
            .entry(event.symbol_id)
            .or_default()
            .update(event);
        self.changed.notify_one();
    }

    /// A shared quote of `symbol`, as it now stands.
    fn quote(&self, symbol: i64, spot: Spot) {
        lock(&self.spots).insert(symbol, spot);
        self.changed.notify_one();
    }

    fn execution(&self, envelope: Envelope) {
        if !self.streaming.load(Ordering::Relaxed) {
            return;
        }
        {
            let mut kept = lock(&self.executions);
            if kept.len() >= EXECUTIONS_KEPT {
                kept.clear();
                self.overflowed.store(true, Ordering::Relaxed);
            } else {
                kept.push_back(envelope);
            }
        }
        self.changed.notify_one();
    }
}

/// Each account's listeners and the link it is authorized on.
#[derive(Debug, Default)]
struct Route {
    /// The generation of the link the account is authorized on (0: none).
    authorized: u64,
    /// Whose quotes the account sees: its broker (or the account alone, before it is known).
    broker: Option<Arc<str>>,
    listeners: Vec<(u64, Arc<Listener>)>,
}

/// A symbol as one broker quotes it: what accounts share a subscription to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Feed {
    broker: Arc<str>,
    symbol: i64,
}

/// One shared quote: the latest spot, the account whose subscription feeds it (with the
/// generation of the link it subscribed on) and the listeners reading it.
#[derive(Debug, Default)]
struct Board {
    spot: Spot,
    feeder: Option<(i64, u64)>,
    readers: Vec<(u64, Arc<Listener>)>,
}

#[derive(Debug, Default)]
struct Routes {
    /// Locked before `boards` when both are.
    accounts: Mutex<HashMap<i64, Route>>,
    boards: Mutex<HashMap<Feed, Board>>,
}

impl Routes {
    fn each(&self, account: i64, f: impl Fn(&Listener)) {
        if let Some(route) = lock(&self.accounts).get(&account) {
            for (_, listener) in &route.listeners {
                f(listener);
            }
        }
    }

    /// A spot event: to every reader of the symbol's feed (the account's own listeners when
    /// its broker is not known yet).
    fn spot(&self, event: &wire::SpotEvent) {
        let broker = lock(&self.accounts)
            .get(&event.ctid_trader_account_id)
            .and_then(|r| r.broker.clone());
        let Some(broker) = broker else {
            self.each(event.ctid_trader_account_id, |l| l.spot(event));
            return;
        };
        let feed = Feed {
            broker,
            symbol: event.symbol_id,
        };
        let mut boards = lock(&self.boards);
        let Some(board) = boards.get_mut(&feed) else {
            return;
        };
        board.spot.update(event);
        for (_, reader) in &board.readers {
            reader.quote(event.symbol_id, board.spot);
        }
    }

    /// The feed of `account`'s `symbol` (the account alone while its broker is not known).
    fn feed(accounts: &HashMap<i64, Route>, account: i64, symbol: i64) -> Feed {
        let broker = accounts
            .get(&account)
            .and_then(|r| r.broker.clone())
            .unwrap_or_else(|| Arc::from(format!("account {account}")));
        Feed { broker, symbol }
    }

    /// Whether `feeder` still subscribes: its account authorized on the link it subscribed on.
    fn feeding(accounts: &HashMap<i64, Route>, feeder: Option<(i64, u64)>) -> bool {
        feeder.is_some_and(|(account, generation)| {
            generation != 0
                && accounts
                    .get(&account)
                    .is_some_and(|r| r.authorized == generation)
        })
    }

    /// Wakes the readers of every feed `account` feeds: they must find another feeder.
    fn feeder_lost(&self, account: i64) {
        for board in lock(&self.boards).values() {
            if board.feeder.is_some_and(|(a, _)| a == account) {
                for (_, reader) in &board.readers {
                    reader.changed.notify_one();
                }
            }
        }
    }

    /// The account is no longer authorized on the link of `generation` (any when `None`).
    fn deauthorize(&self, account: i64, generation: Option<u64>) {
        let lost = {
            let mut accounts = lock(&self.accounts);
            match accounts.get_mut(&account) {
                Some(route) if generation.is_none_or(|g| g == route.authorized) => {
                    route.authorized = 0;
                    for (_, listener) in &route.listeners {
                        listener.changed.notify_one();
                    }
                    true
                }
                _ => false,
            }
        };
        if lost {
            self.feeder_lost(account);
        }
    }

    /// A link ended: every listener looks again.
    fn wake_all(&self) {
        for route in lock(&self.accounts).values() {
            for (_, listener) in &route.listeners {
                listener.changed.notify_one();
            }
        }
    }
}

/// One open WebSocket: the writer's queue, the answers awaited and its generation.
#[derive(Clone)]
pub(crate) struct Link {
    out: mpsc::Sender<Message>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Envelope>>>>,
    pub closed: CancellationToken,
    pub generation: u64,
}

/// Why one exchange on a link failed.
pub(crate) enum Exchange {
    /// The connection ended before the answer: worth a new connection.
    Closed,
    /// Anything else.
    Failed(BrokerError),
}

#[derive(Default)]
struct Slot {
    primary: Option<Link>,
    standby: Option<Link>,
    /// A standby is being opened.
    opening: bool,
}

/// The connection of one application.
pub(crate) struct Connection {
    url: String,
    client_id: String,
    client_secret: String,
    timeout: Duration,
    slot: tokio::sync::Mutex<Slot>,
    generation: AtomicU64,
    next_id: AtomicU64,
    opened: AtomicU64,
    /// First come, first served: the request queue and the historical requests' queue.
    turn: tokio::sync::Mutex<()>,
    history_turn: tokio::sync::Mutex<()>,
    requests: DefaultDirectRateLimiter,
    history: DefaultDirectRateLimiter,
    /// Paused until: every request (`None`) or one payload type.
    blocked: Mutex<HashMap<Option<u32>, Instant>>,
    routes: Arc<Routes>,
    next_listener: AtomicU64,
    /// Whether to keep a standby link (on unless the tests turn it off).
    standby: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

type Key = (String, String, String);

fn registry() -> &'static Mutex<HashMap<Key, Weak<Connection>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Connection>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// Ends a connection's links when its last client is gone.
impl Drop for Connection {
    fn drop(&mut self) {
        if let Ok(slot) = self.slot.try_lock() {
            for link in slot.primary.iter().chain(slot.standby.iter()) {
                link.closed.cancel();
            }
        }
    }
}

impl Connection {
    /// The application's connection to `url`, shared with every other client of it that is
    /// still alive (a new one when there is none).
    pub(crate) fn shared(
        url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
    ) -> Arc<Connection> {
        let key = (
            url.to_owned(),
            client_id.to_owned(),
            client_secret.to_owned(),
        );
        let mut registry = lock(registry());
        if let Some(connection) = registry.get(&key).and_then(Weak::upgrade) {
            return connection;
        }
        registry.retain(|_, c| c.strong_count() > 0);
        let connection = Arc::new(Self::new(url, client_id, client_secret, timeout, true));
        registry.insert(key, Arc::downgrade(&connection));
        connection
    }

    /// A connection of its own, shared with no other client and without a standby.
    pub(crate) fn private(
        url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
    ) -> Arc<Connection> {
        Arc::new(Self::new(url, client_id, client_secret, timeout, false))
    }

    fn new(
        url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
        standby: bool,
    ) -> Self {
        let per_second = |n: u32| Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Connection {
            url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            timeout,
            slot: tokio::sync::Mutex::new(Slot::default()),
            generation: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            opened: AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
            history_turn: tokio::sync::Mutex::new(()),
            // A little under the server's limits, so a burst never trips them.
            requests: RateLimiter::direct(per_second(REQUESTS_PER_SECOND - 5)),
            history: RateLimiter::direct(per_second(HISTORY_REQUESTS_PER_SECOND - 1)),
            blocked: Mutex::new(HashMap::new()),
            routes: Arc::default(),
            next_listener: AtomicU64::new(1),
            standby,
        }
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many WebSockets this connection has opened (standbys included).
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Starts routing `account`'s events to a new listener; its id, to [`Self::unlisten`].
    pub(crate) fn listen(&self, account: i64) -> (u64, Arc<Listener>) {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        let listener = Arc::new(Listener::default());
        lock(&self.routes.accounts)
            .entry(account)
            .or_default()
            .listeners
            .push((id, listener.clone()));
        (id, listener)
    }

    pub(crate) fn unlisten(&self, account: i64, id: u64) {
        let gone = {
            let mut accounts = lock(&self.routes.accounts);
            let gone = accounts.get_mut(&account).is_some_and(|route| {
                route.listeners.retain(|(i, _)| *i != id);
                route.listeners.is_empty()
            });
            if gone {
                accounts.remove(&account);
            }
            gone
        };
        lock(&self.routes.boards).retain(|_, board| {
            board.readers.retain(|(i, _)| *i != id);
            !board.readers.is_empty()
        });
        if gone {
            // Its subscriptions feed nobody now: their readers find another feeder.
            self.routes.feeder_lost(account);
        }
    }

    /// Whose quotes `account` sees: its broker's, shared with the broker's other accounts.
    pub(crate) fn set_broker(&self, account: i64, broker: &str) {
        if let Some(route) = lock(&self.routes.accounts).get_mut(&account) {
            route.broker = Some(Arc::from(broker));
        }
    }

    /// Makes `listener` (of `account`, id `id`) a reader of the feeds of `symbols`, with the
    /// latest quote of each it shares at once; returns those no account subscribes to on
    /// `link` now, which `account` is taken to feed from now on (it must subscribe to them, or
    /// [`Self::unclaim`] them when it cannot).
    pub(crate) fn claim(
        &self,
        account: i64,
        (id, listener): (u64, &Arc<Listener>),
        symbols: &[i64],
        link: &Link,
    ) -> Vec<i64> {
        let accounts = lock(&self.routes.accounts);
        let mut boards = lock(&self.routes.boards);
        let mut unfed = Vec::new();
        for &symbol in symbols {
            let board = boards
                .entry(Routes::feed(&accounts, account, symbol))
                .or_default();
            if !board.readers.iter().any(|(i, _)| *i == id) {
                board.readers.push((id, listener.clone()));
                if board.spot.bid.is_some() || board.spot.ask.is_some() {
                    lock(&listener.spots).insert(symbol, board.spot);
                }
            }
            let fed = Routes::feeding(&accounts, board.feeder)
                && board.feeder.is_some_and(|(_, g)| g == link.generation);
            if !fed && !unfed.contains(&symbol) {
                board.feeder = Some((account, link.generation));
                unfed.push(symbol);
            }
        }
        unfed
    }

    /// `account` could not subscribe to `symbols` after all: no one feeds them.
    pub(crate) fn unclaim(&self, account: i64, symbols: &[i64]) {
        let accounts = lock(&self.routes.accounts);
        let mut boards = lock(&self.routes.boards);
        for &symbol in symbols {
            if let Some(board) = boards.get_mut(&Routes::feed(&accounts, account, symbol))
                && board.feeder.is_some_and(|(a, _)| a == account)
            {
                board.feeder = None;
                for (_, reader) in &board.readers {
                    reader.changed.notify_one();
                }
            }
        }
    }

    /// Whether every one of `account`'s `symbols` is fed by a subscription alive now.
    pub(crate) fn fed(&self, account: i64, symbols: &[i64]) -> bool {
        let accounts = lock(&self.routes.accounts);
        let boards = lock(&self.routes.boards);
        symbols.iter().all(|&symbol| {
            boards
                .get(&Routes::feed(&accounts, account, symbol))
                .is_some_and(|b| Routes::feeding(&accounts, b.feeder))
        })
    }

    /// Whether `account` is authorized on `link`.
    pub(crate) fn is_authorized(&self, account: i64, link: &Link) -> bool {
        lock(&self.routes.accounts)
            .get(&account)
            .is_some_and(|r| r.authorized == link.generation)
    }

    pub(crate) fn set_authorized(&self, account: i64, link: &Link) {
        if let Some(route) = lock(&self.routes.accounts).get_mut(&account) {
            route.authorized = link.generation;
        }
    }

    /// The server said the account is not authorized on `link` (any more).
    pub(crate) fn deauthorize(&self, account: i64, link: &Link) {
        self.routes.deauthorize(account, Some(link.generation));
    }

    /// Ends the current link, as a network failure would (tests use it); the standby stays.
    pub(crate) async fn disconnect(&self) {
        if let Some(link) = self.slot.lock().await.primary.take() {
            link.closed.cancel();
        }
    }

    /// Ends `link`, gone silent, and the standby with it (the path to the server they share is
    /// suspect): the next request opens a new one.
    pub(crate) async fn abandon(&self, link: &Link) {
        link.closed.cancel();
        if let Some(standby) = self.slot.lock().await.standby.take() {
            standby.closed.cancel();
        }
    }

    /// The open link, authenticated: the current one, the standby, or a new one.
    pub(crate) async fn link(self: &Arc<Self>) -> Result<Link, BrokerError> {
        let mut slot = self.slot.lock().await;
        if let Some(link) = slot.primary.as_ref().filter(|l| !l.closed.is_cancelled()) {
            return Ok(link.clone());
        }
        slot.primary = None;
        let link = match slot.standby.take().filter(|l| !l.closed.is_cancelled()) {
            Some(standby) => {
                tracing::info!(url = %self.url, "the cTrader standby connection takes over");
                standby
            }
            None => self.open().await?,
        };
        slot.primary = Some(link.clone());
        if self.standby && !slot.opening {
            slot.opening = true;
            let weak = Arc::downgrade(self);
            tokio::spawn(async move {
                let Some(connection) = weak.upgrade() else {
                    return;
                };
                let opened = connection.open().await;
                let mut slot = connection.slot.lock().await;
                slot.opening = false;
                match opened {
                    Ok(link) => {
                        if let Some(old) = slot.standby.replace(link) {
                            old.closed.cancel();
                        }
                    }
                    Err(error) => {
                        tracing::info!(url = %connection.url, %error, "no cTrader standby connection for now");
                    }
                }
            });
        }
        Ok(link)
    }

    /// A new link with the application authenticated on it.
    async fn open(&self) -> Result<Link, BrokerError> {
        let link = self.connect().await?;
        let app = wire::ApplicationAuthReq {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        };
        let payload = serde_json::to_value(&app)
            .map_err(|e| BrokerError::Config(format!("cannot encode a request: {e}")))?;
        self.pace(payload::APPLICATION_AUTH_REQ).await;
        let answer = match self
            .exchange(&link, payload::APPLICATION_AUTH_REQ, payload)
            .await
        {
            Ok(answer) => self
                .read_answer::<serde_json::Value>(answer, payload::APPLICATION_AUTH_REQ)
                .map(drop),
            Err(Exchange::Closed) => Err(BrokerError::Connection(
                "the cTrader server closed the connection while signing in".into(),
            )),
            Err(Exchange::Failed(error)) => Err(error),
        };
        match answer {
            Ok(()) => Ok(link),
            Err(error) => {
                // A connection that could not sign in is of no use: end its tasks.
                link.closed.cancel();
                Err(error)
            }
        }
    }

    /// Waits out a pause the server asked for that covers `payload_type` when it ends within
    /// [`WAIT_OUT`]; fails at once, without asking the server, when it lasts longer.
    pub(crate) async fn unblocked(&self, payload_type: u32) -> Result<(), BrokerError> {
        let until = {
            let blocked = lock(&self.blocked);
            [None, Some(payload_type)]
                .iter()
                .filter_map(|k| blocked.get(k))
                .max()
                .copied()
        };
        let now = Instant::now();
        match until {
            Some(until) if until > now + WAIT_OUT => Err(BrokerError::RateLimited {
                retry_after: Some(until - now),
            }),
            Some(until) if until > now => {
                tokio::time::sleep_until(until.into()).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Waits for the request's turn under the connection's limits.
    pub(crate) async fn pace(&self, payload_type: u32) {
        if payload::is_history(payload_type) {
            let _turn = self.history_turn.lock().await;
            self.history.until_ready().await;
        }
        let _turn = self.turn.lock().await;
        self.requests.until_ready().await;
    }

    /// Sends one request on `link` and waits for its answer.
    pub(crate) async fn exchange(
        &self,
        link: &Link,
        payload_type: u32,
        payload: serde_json::Value,
    ) -> Result<Envelope, Exchange> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let envelope = Envelope {
            client_msg_id: Some(id.clone()),
            payload_type,
            payload,
        };
        let text = serde_json::to_string(&envelope)
            .map_err(|e| Exchange::Failed(BrokerError::Config(e.to_string())))?;
        let (tx, rx) = oneshot::channel();
        lock(&link.pending).insert(id.clone(), tx);
        if link.out.send(Message::text(text)).await.is_err() {
            lock(&link.pending).remove(&id);
            return Err(Exchange::Closed);
        }
        let answer = tokio::time::timeout(self.timeout, rx).await;
        lock(&link.pending).remove(&id);
        match answer {
            Ok(Ok(envelope)) => Ok(envelope),
            Ok(Err(_)) => Err(Exchange::Closed),
            Err(_) => Err(Exchange::Failed(BrokerError::Timeout)),
        }
    }

    /// The answer to a request of `payload_type`, or why the server refused it.
    pub(crate) fn read_answer<Res: serde::de::DeserializeOwned>(
        &self,
        answer: Envelope,
        payload_type: u32,
    ) -> Result<Res, BrokerError> {
        if matches!(
            answer.payload_type,
            payload::OA_ERROR_RES | payload::ERROR_RES
        ) {
            let error: wire::ErrorRes = serde_json::from_value(answer.payload)
                .map_err(|e| BrokerError::Malformed(format!("an unreadable error: {e}")))?;
            return Err(self.refusal(error, payload_type));
        }
        serde_json::from_value(answer.payload).map_err(|e| {
            BrokerError::Malformed(format!(
                "payload type {} cannot be read: {e}",
                answer.payload_type
            ))
        })
    }

    fn refusal(&self, error: wire::ErrorRes, payload_type: u32) -> BrokerError {
        let message = error.description.clone().unwrap_or_default();
        let blocks = match error.error_code.as_str() {
            // Too many requests on the connection: every request waits.
            "REQUEST_FREQUENCY_EXCEEDED" => Some(None),
            // This payload type is blocked ("blocked by server or rate limit is reached"): only
            // it waits.
            "BLOCKED_PAYLOAD_TYPE" => Some(Some(payload_type)),
            _ => None,
        };
        if let Some(key) = blocks {
            // At most an hour: the server's number must not overflow the clock.
            let wait = Duration::from_secs(error.retry_after.unwrap_or(1).clamp(1, 3600));
            let until = Instant::now() + wait;
            let mut blocked = lock(&self.blocked);
            let entry = blocked.entry(key).or_insert(until);
            *entry = (*entry).max(until);
            return BrokerError::RateLimited {
                retry_after: Some(wait),
            };
        }
        match error.error_code.as_str() {
            "SYMBOL_NOT_FOUND" | "POSITION_NOT_FOUND" | "ENTITY_NOT_FOUND" => {
                BrokerError::NotFound(format!("{}: {message}", error.error_code))
            }
            _ => BrokerError::Refused {
                code: error.error_code,
                message,
            },
        }
    }

    /// Opens a WebSocket and starts its reader and writer (with the heartbeat).
    async fn connect(&self) -> Result<Link, BrokerError> {
        let url = &self.url;
        let (socket, _) =
            tokio::time::timeout(self.timeout, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .map_err(|_| BrokerError::Timeout)?
                .map_err(|e| BrokerError::Connection(format!("cannot open {url}: {e}")))?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (mut sink, mut stream) = socket.split();
        let (out, mut queue) = mpsc::channel::<Message>(256);
        let closed = CancellationToken::new();
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Envelope>>>> = Arc::default();
        let writer_closed = closed.clone();
        tokio::spawn(async move {
            let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
            heartbeat.tick().await;
            let beat = Message::text(format!(
                r#"{{"payloadType":{},"payload":{{}}}}"#,
                payload::HEARTBEAT_EVENT
            ));
            loop {
                let message = tokio::select! {
                    () = writer_closed.cancelled() => break,
                    message = queue.recv() => match message {
                        Some(message) => message,
                        None => break,
                    },
                    _ = heartbeat.tick() => beat.clone(),
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            writer_closed.cancel();
            let _ = sink.close().await;
        });
        let reader_closed = closed.clone();
        let reader_pending = pending.clone();
        let routes = self.routes.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = reader_closed.cancelled() => break,
                    message = stream.next() => message,
                };
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                let envelope: Envelope = match serde_json::from_str(text.as_str()) {
                    Ok(envelope) => envelope,
                    Err(error) => {
                        tracing::warn!(%error, "cTrader sent a message that cannot be read");
                        continue;
                    }
                };
                if let Some(id) = &envelope.client_msg_id {
                    let waiting = lock(&reader_pending).remove(id);
                    if let Some(waiting) = waiting {
                        let _ = waiting.send(envelope);
                        continue;
                    }
                }
                if !route(&routes, generation, envelope) {
                    break;
                }
            }
            reader_closed.cancel();
            // Dropping the senders tells every waiting request that the connection is gone.
            lock(&reader_pending).clear();
            routes.wake_all();
        });
        Ok(Link {
            out,
            pending,
            closed,
            generation,
        })
    }
}

/// Routes one event; false when it ends the connection.
fn route(routes: &Routes, generation: u64, envelope: Envelope) -> bool {
    match envelope.payload_type {
        payload::SPOT_EVENT => match serde_json::from_value::<wire::SpotEvent>(envelope.payload) {
            Ok(event) => routes.spot(&event),
            Err(error) => tracing::warn!(%error, "an unreadable cTrader spot event"),
        },
        payload::EXECUTION_EVENT => match account_of(&envelope.payload) {
            Some(account) => routes.each(account, |l| l.execution(envelope.clone())),
            None => tracing::warn!("a cTrader execution event without its account"),
        },
        payload::CLIENT_DISCONNECT_EVENT => {
            tracing::warn!("cTrader ended the connection; connecting again on next use");
            return false;
        }
        payload::ACCOUNTS_TOKEN_INVALIDATED_EVENT => {
            match serde_json::from_value::<wire::TokenInvalidatedEvent>(envelope.payload) {
                Ok(event) => {
                    tracing::warn!(
                        accounts = ?event.ctid_trader_account_ids,
                        reason = event.reason.as_deref().unwrap_or(""),
                        "cTrader invalidated the accounts' token; authorizing them again"
                    );
                    for account in event.ctid_trader_account_ids {
                        routes.deauthorize(account, Some(generation));
                    }
                }
                // Which accounts is unknown: the connection starts over.
                Err(_) => return false,
            }
        }
        payload::ACCOUNT_DISCONNECT_EVENT => match account_of(&envelope.payload) {
            Some(account) => {
                tracing::info!(
                    account,
                    "cTrader ended the account's session; authorizing it again"
                );
                routes.deauthorize(account, Some(generation));
            }
            None => return false,
        },
        _ => {}
    }
    true
}

fn account_of(payload: &serde_json::Value) -> Option<i64> {
    serde_json::from_value::<wire::AccountReq>(payload.clone())
        .ok()
        .map(|a| a.ctid_trader_account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(generation: u64) -> Link {
        Link {
            out: mpsc::channel(1).0,
            pending: Arc::default(),
            closed: CancellationToken::new(),
            generation,
        }
    }

    fn connection() -> Arc<Connection> {
        Connection::private("ws://127.0.0.1:1", "app", "secret", Duration::from_secs(1))
    }

    fn spot(account: i64, symbol: i64, bid: u64) -> wire::SpotEvent {
        wire::SpotEvent {
            ctid_trader_account_id: account,
            symbol_id: symbol,
            bid: Some(bid),
            ask: Some(bid + 2),
            timestamp: None,
        }
    }

    #[test]
    fn one_account_of_a_broker_feeds_a_symbol_to_all_and_another_takes_over_when_it_goes() {
        let c = connection();
        let first = link(1);
        let (a, b, other) = (1, 2, 3);
        let (a_id, a_listener) = c.listen(a);
        let (b_id, b_listener) = c.listen(b);
        let (o_id, o_listener) = c.listen(other);
        c.set_broker(a, "Broker");
        c.set_broker(b, "Broker");
        c.set_broker(other, "Another");
        for account in [a, b, other] {
            c.set_authorized(account, &first);
        }
        assert_eq!(c.claim(a, (a_id, &a_listener), &[1, 2], &first), vec![1, 2]);
        // The same broker's symbol is fed already; another broker's is not.
        assert!(c.claim(b, (b_id, &b_listener), &[1], &first).is_empty());
        assert_eq!(c.claim(other, (o_id, &o_listener), &[1], &first), vec![1]);
        assert!(c.fed(b, &[1]));

        // A's spot reaches B too, not the other broker's account.
        c.routes.spot(&spot(a, 1, 110_000));
        assert_eq!(
            lock(&b_listener.spots).get(&1).and_then(|s| s.bid),
            Some(110_000)
        );
        assert!(!lock(&o_listener.spots).contains_key(&1));
        // A reader that comes later sees the latest quote at once.
        let (late_id, late) = c.listen(b);
        assert!(c.claim(b, (late_id, &late), &[1], &first).is_empty());
        assert_eq!(lock(&late.spots).get(&1).and_then(|s| s.ask), Some(110_002));

        // A's session ends: B is not fed any more, and its next claim subscribes.
        c.routes.deauthorize(a, Some(first.generation));
        assert!(!c.fed(b, &[1]));
        assert_eq!(c.claim(b, (b_id, &b_listener), &[1], &first), vec![1]);
        c.routes.spot(&spot(b, 1, 110_010));
        assert_eq!(lock(&late.spots).get(&1).and_then(|s| s.bid), Some(110_010));

        // A new link: every subscription is gone with the old one.
        let second = link(2);
        c.set_authorized(b, &second);
        assert_eq!(c.claim(b, (b_id, &b_listener), &[1], &second), vec![1]);
        // B could not subscribe after all: nobody feeds the symbol. Then B's clients go: A
        // alone reads it.
        c.unclaim(b, &[1]);
        assert!(!c.fed(b, &[1]));
        c.unlisten(b, b_id);
        c.unlisten(b, late_id);
        let feed = Feed {
            broker: Arc::from("Broker"),
            symbol: 1,
        };
        let readers: Vec<u64> = lock(&c.routes.boards)[&feed]
            .readers
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(readers, vec![a_id]);
    }
}
