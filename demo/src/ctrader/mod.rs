//! A local cTrader Open API server over WebSocket, speaking the JSON protocol message for
//! message, over the demo broker's world: the same accounts, positions, deals and quotes the
//! MetaApi-shaped demo server shows, in cTrader's units. Tests play scenarios through it, and
//! demo mode can track accounts through it.
//!
//! Faithful where the connector depends on it: application then account authentication, errors
//! as `ProtoOAErrorRes` with cTrader's codes, heartbeats every 10 s, spot events for subscribed
//! symbols, deal lists paged with `hasMore`, cash-flow windows of at most a week, and the rate
//! limits (50 requests a second, 5 for history, per connection).

use crate::DemoBroker;

pub mod protobuf;

// `wire` below is cTrader's module of the `wire` crate, as the messages are named in it.
use ::wire::ctrader as wire;
use ::wire::ctrader::units;
use ::wire::ctrader::{Envelope, payload};
use ::wire::metaapi::MetaDeal;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long cTrader's access tokens last: about 30 days (2,628,000 s).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(2_628_000);
/// The first demo account's `ctidTraderAccountId`; the others follow in order.
pub const FIRST_ACCOUNT_ID: i64 = 40_000_001;
/// The deposit currency's asset id.
const USD: i64 = 1;
/// How often subscribed quotes are looked at.
const SPOT_INTERVAL: Duration = Duration::from_millis(50);
/// How often the authorized accounts' new deals are looked for (execution events).
const EXECUTION_INTERVAL: Duration = Duration::from_millis(250);
/// How far back a deal filed late may be dated and still be told as an execution event.
const EXECUTION_LOOKBACK: TimeDelta = TimeDelta::days(7);
/// Deals in a deal-list answer when the request sets no `maxRows`.
const DEFAULT_MAX_ROWS: usize = 1000;

/// Who may connect and how money is scaled.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// The access token that opens every demo account, until it expires or is refreshed.
    pub access_token: String,
    /// The refresh token that trades for a new pair (`ProtoOARefreshTokenReq`).
    pub refresh_token: String,
    /// How long an access token issued by a refresh lasts (cTrader's are 30 days).
    pub token_lifetime: Duration,
    /// `moneyDigits` of every account (2: cents; 8 for crypto-style accounts).
    pub money_digits: u32,
    /// How its JSON writes 64-bit integers and enums.
    pub json: JsonForm,
}

/// The two ways cTrader's messages are written in JSON: Riskdeck's connector reads both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonForm {
    /// As Spotware's JSON port and its documentation's examples: numbers.
    #[default]
    Numbers,
    /// As protobuf's canonical JSON mapping (what Spotware's SDK prints): 64-bit integers as
    /// strings, enums as their names.
    Canonical,
}

/// The simulator; clones share the world and the connections.
#[derive(Clone, Debug)]
pub struct CtraderSimulator {
    broker: DemoBroker,
    config: Arc<SimulatorConfig>,
    drop_all: Arc<std::sync::Mutex<CancellationToken>>,
    silence_all: Arc<std::sync::Mutex<CancellationToken>>,
    /// Payload types refused with `BLOCKED_PAYLOAD_TYPE` until an instant ([`Self::block`]).
    blocked: Arc<std::sync::Mutex<HashMap<u32, std::time::Instant>>>,
    /// Requests received, by payload type.
    received: Arc<std::sync::Mutex<HashMap<u32, u64>>>,
    tokens: Arc<std::sync::Mutex<Tokens>>,
    /// Cancelled when the access token stops working: sessions drop their accounts.
    invalidate_all: Arc<std::sync::Mutex<CancellationToken>>,
    /// Connections served so far, and open now.
    sessions: Arc<(AtomicU64, AtomicU64)>,
    /// Spot subscriptions taken, (account, symbol) pairs over every session.
    spot_subscriptions: Arc<AtomicU64>,
}

/// Counts a session open while it lives.
struct Open(Arc<(AtomicU64, AtomicU64)>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.1.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The one valid token pair.
#[derive(Debug)]
struct Tokens {
    access: String,
    refresh: String,
    /// When the access token stops working (`None`: not before it is refreshed or expired).
    expires: Option<std::time::Instant>,
    refreshes: u64,
}

/// Why an access token does not open the accounts.
enum TokenProblem {
    Unknown,
    Expired,
}

impl CtraderSimulator {
    /// A simulator over `broker`'s world.
    pub fn new(broker: DemoBroker, config: SimulatorConfig) -> Self {
        let tokens = Arc::new(std::sync::Mutex::new(Tokens {
            access: config.access_token.clone(),
            refresh: config.refresh_token.clone(),
            expires: None,
            refreshes: 0,
        }));
        CtraderSimulator {
            broker,
            config: Arc::new(config),
            drop_all: Arc::default(),
            silence_all: Arc::default(),
            blocked: Arc::default(),
            received: Arc::default(),
            tokens,
            invalidate_all: Arc::default(),
            sessions: Arc::default(),
            spot_subscriptions: Arc::default(),
        }
    }

    /// Makes the current access token expire now, as it would after its 30 days: every
    /// session ends its accounts' authorization with `ProtoOAAccountsTokenInvalidatedEvent`,
    /// and the token opens nothing until it is refreshed.
    pub fn expire_access_token(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .expires = Some(std::time::Instant::now());
        fire(&self.invalidate_all);
    }

    /// Recalls the token pair, as an account owner who revokes the application's access does:
    /// the access token expires now and the refresh token trades for nothing.
    pub fn revoke_tokens(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refresh = String::new();
        self.expire_access_token();
    }

    /// The access token that opens the accounts now.
    pub fn access_token(&self) -> String {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .access
            .clone()
    }

    fn check_token(&self, token: &str) -> Result<(), TokenProblem> {
        let tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if token != tokens.access {
            return Err(TokenProblem::Unknown);
        }
        match tokens.expires {
            Some(at) if at <= std::time::Instant::now() => Err(TokenProblem::Expired),
            _ => Ok(()),
        }
    }

    /// A new pair for the current refresh token.
    fn refresh(&self, refresh_token: &str) -> Option<(String, String)> {
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.refresh.is_empty() || refresh_token != tokens.refresh {
            return None;
        }
        tokens.refreshes += 1;
        tokens.access = format!("{}-{}", self.config.access_token, tokens.refreshes);
        tokens.refresh = format!("{}-{}", self.config.refresh_token, tokens.refreshes);
        tokens.expires = Some(std::time::Instant::now() + self.config.token_lifetime);
        Some((tokens.access.clone(), tokens.refresh.clone()))
    }

    /// Refuses requests of `payload_type` with `BLOCKED_PAYLOAD_TYPE` for `how_long`, each
    /// refusal saying in `retryAfter` how many seconds are left, as cTrader does when one kind of
    /// request is over its limit.
    pub fn block(&self, payload_type: u32, how_long: Duration) {
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(payload_type, std::time::Instant::now() + how_long);
    }

    /// How many requests of `payload_type` reached the simulator, refused ones included.
    pub fn received(&self, payload_type: u32) -> u64 {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&payload_type)
            .copied()
            .unwrap_or(0)
    }

    /// How many connections the simulator has served, and how many are open now.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.sessions.0.load(Ordering::Relaxed),
            self.sessions.1.load(Ordering::Relaxed),
        )
    }

    /// How many spot subscriptions ((account, symbol) pairs) sessions have taken so far.
    pub fn spot_subscriptions(&self) -> u64 {
        self.spot_subscriptions.load(Ordering::Relaxed)
    }

    /// The `ctidTraderAccountId` of a demo account.
    pub fn account_id(&self, demo_account: &str) -> Option<i64> {
        self.broker
            .accounts()
            .iter()
            .position(|a| a.id == demo_account)
            .and_then(|i| i64::try_from(i).ok())
            .map(|i| FIRST_ACCOUNT_ID + i)
    }

    /// Cuts every open connection, as a network failure would.
    pub fn drop_connections(&self) {
        fire(&self.drop_all);
    }

    /// Makes every open connection go silent, as a hung server or a dead network path would:
    /// it stays open and reads what the client sends, but answers nothing and sends no
    /// heartbeat or quote again. Connections opened afterwards are served as usual.
    pub fn silence_connections(&self) {
        fire(&self.silence_all);
    }

    /// The WebSocket endpoint, at `/`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/", axum::routing::get(upgrade))
            .with_state(self.clone())
    }

    fn demo_account(&self, ctid: i64) -> Option<String> {
        let index = usize::try_from(ctid.checked_sub(FIRST_ACCOUNT_ID)?).ok()?;
        self.broker.accounts().get(index).map(|a| a.id.clone())
    }
}

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    simulator: CtraderSimulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, simulator.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error answer: `code` is cTrader's error code.
struct Refusal {
    code: &'static str,
    description: String,
    /// Seconds until asking again can succeed.
    retry_after: Option<u64>,
}

fn refuse(code: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        code,
        description: description.into(),
        retry_after: None,
    }
}

/// Tells every session watching `slot` (cancels its token) and arms a new one for sessions
/// opened afterwards.
fn fire(slot: &std::sync::Mutex<CancellationToken>) {
    let mut token = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    token.cancel();
    *token = CancellationToken::new();
}

/// The token a session watches in `slot` until it fires.
fn current(slot: &std::sync::Mutex<CancellationToken>) -> CancellationToken {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// A read of the world at the present moment, answering a request.
type WorldRead<'a> = dyn FnMut(&crate::world::World, DateTime<Utc>) -> Result<Value, Refusal> + 'a;

/// One connection's state.
struct Session {
    simulator: CtraderSimulator,
    application: bool,
    accounts: HashSet<i64>,
    /// Subscribed (account, symbol id), with the last quote sent.
    spots: HashMap<(i64, i64), (u64, u64)>,
    /// Per authorized account, the deals it has been told of (or had when it signed in).
    told: HashMap<i64, HashSet<String>>,
    requests: DefaultDirectRateLimiter,
    history: DefaultDirectRateLimiter,
}

/// What a connection's transport delivers: a message in JSON (the JSON transport's text, or a
/// protobuf frame read into canonical JSON), something unreadable, or the end.
enum Inbound {
    Message(String),
    Unreadable(String),
    Ignored,
    Closed,
}

async fn upgrade(State(simulator): State<CtraderSimulator>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| {
        let form = simulator.config.json;
        let (sink, stream) = socket.split();
        let stream = stream.map(|message| match message {
            Ok(Message::Text(text)) => Inbound::Message(text.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => Inbound::Closed,
            Ok(_) => Inbound::Ignored,
        });
        let sink = sink.with(move |text: String| {
            let text = match form {
                JsonForm::Numbers => text,
                JsonForm::Canonical => canonical(&text),
            };
            std::future::ready(Ok::<_, axum::Error>(Message::Text(text.into())))
        });
        session(simulator, stream, sink)
    })
}

/// Serves one connection, whatever its transport: `stream` brings the client's messages,
/// `sink` takes the simulator's, both as JSON envelopes.
async fn session<S, K>(simulator: CtraderSimulator, stream: S, sink: K)
where
    S: futures_util::Stream<Item = Inbound> + Send,
    K: futures_util::Sink<String> + Send,
{
    simulator.sessions.0.fetch_add(1, Ordering::Relaxed);
    simulator.sessions.1.fetch_add(1, Ordering::Relaxed);
    let _open = Open(simulator.sessions.clone());
    let dropped = current(&simulator.drop_all);
    let silenced = current(&simulator.silence_all);
    let invalidate_all = simulator.invalidate_all.clone();
    let mut invalidation = current(&invalidate_all);
    let per_second = |n: u32| Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
    let mut state = Session {
        simulator,
        application: false,
        accounts: HashSet::new(),
        spots: HashMap::new(),
        told: HashMap::new(),
        requests: RateLimiter::direct(per_second(50)),
        history: RateLimiter::direct(per_second(5)),
    };
    let mut stream = std::pin::pin!(stream);
    let mut sink = std::pin::pin!(sink);
    let mut heartbeat = tokio::time::interval(wire::HEARTBEAT_INTERVAL);
    let mut quotes = tokio::time::interval(SPOT_INTERVAL);
    let mut executions = tokio::time::interval(EXECUTION_INTERVAL);
    loop {
        let outgoing: Vec<String> = tokio::select! {
            () = dropped.cancelled() => break,
            () = silenced.cancelled() => {
                // Hung: read and drop whatever comes until the client gives up or the
                // connection is cut.
                loop {
                    tokio::select! {
                        () = dropped.cancelled() => break,
                        message = stream.next() => match message {
                            Some(Inbound::Closed) | None => break,
                            Some(_) => {}
                        },
                    }
                }
                break;
            }
            message = stream.next() => match message {
                Some(Inbound::Message(text)) => state.answer(&text).into_iter().collect(),
                Some(Inbound::Unreadable(why)) => vec![envelope(
                    None,
                    payload::ERROR_RES,
                    json!({"errorCode": "INVALID_REQUEST", "description": why}),
                )],
                Some(Inbound::Closed) | None => break,
                Some(Inbound::Ignored) => Vec::new(),
            },
            () = invalidation.cancelled() => {
                invalidation = current(&invalidate_all);
                let mut ids: Vec<i64> = state.accounts.drain().collect();
                if ids.is_empty() {
                    Vec::new()
                } else {
                    ids.sort_unstable();
                    state.spots.clear();
                    state.told.clear();
                    vec![envelope(None, payload::ACCOUNTS_TOKEN_INVALIDATED_EVENT, json!({
                        "ctidTraderAccountIds": ids,
                        "reason": "Access Token is expired or recalled",
                    }))]
                }
            }
            _ = heartbeat.tick() => vec![envelope(None, payload::HEARTBEAT_EVENT, json!({}))],
            _ = quotes.tick() => state.spot_events(),
            _ = executions.tick() => state.execution_events(),
        };
        for text in outgoing {
            if sink.send(text).await.is_err() {
                return;
            }
        }
    }
    let _ = sink.close().await;
}

/// The `ctidTraderAccountId` of a request, a number or (protobuf's canonical JSON) a string.
fn account_of(body: &Value) -> Option<i64> {
    match body.get("ctidTraderAccountId")? {
        Value::String(text) => text.parse().ok(),
        other => other.as_i64(),
    }
}

fn envelope(id: Option<String>, payload_type: u32, payload: Value) -> String {
    serde_json::to_string(&Envelope {
        client_msg_id: id,
        payload_type,
        payload,
    })
    .unwrap_or_default()
}

/// Fields the `.proto` files declare `int64` or `uint64`: protobuf's JSON mapping writes them as
/// strings.
const INT64_FIELDS: &[&str] = &[
    "ask",
    "assetId",
    "balance",
    "balanceHistoryId",
    "baseAssetId",
    "bid",
    "changeBalanceTimestamp",
    "closedVolume",
    "commission",
    "createTimestamp",
    "ctidTraderAccountId",
    "dealId",
    "delta",
    "depositAssetId",
    "executionTimestamp",
    "filledVolume",
    "fromTimestamp",
    "grossProfit",
    "grossUnrealizedPnL",
    "ibBonus",
    "lotSize",
    "maintenanceEndTimestamp",
    "managerBonus",
    "maxVolume",
    "minVolume",
    "netUnrealizedPnL",
    "nonWithdrawableBonus",
    "openTimestamp",
    "orderId",
    "pnlConversionFee",
    "positionId",
    "quoteAssetId",
    "registrationTimestamp",
    "retryAfter",
    "stepVolume",
    "swap",
    "symbolId",
    "timestamp",
    "toTimestamp",
    "traderLogin",
    "usedMargin",
    "utcLastUpdateTimestamp",
    "volume",
];

/// A message rewritten as protobuf's canonical JSON mapping writes it ([`JsonForm::Canonical`]):
/// the envelope's `payloadType` is a `uint32`, so it stays a number.
fn canonical(text: &str) -> String {
    use wire::lenient::Named;
    fn name(table: &[(&'static str, u32)], value: &Value) -> Option<Value> {
        let number = u32::try_from(value.as_u64()?).ok()?;
        let (name, _) = table.iter().find(|(_, n)| *n == number)?;
        Some(Value::String((*name).to_owned()))
    }
    fn rewrite(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                for (key, field) in fields.iter_mut() {
                    let named = match key.as_str() {
                        "tradeSide" => name(wire::lenient::TradeSide::VALUES, field),
                        "dealStatus" => name(wire::lenient::DealStatus::VALUES, field),
                        "positionStatus" => name(wire::lenient::PositionStatus::VALUES, field),
                        "operationType" => name(wire::lenient::ChangeBalanceType::VALUES, field),
                        key if INT64_FIELDS.contains(&key) => match field {
                            Value::Number(n) if n.is_i64() || n.is_u64() => {
                                Some(Value::String(n.to_string()))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    match named {
                        Some(named) => *field = named,
                        None => rewrite(field),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    rewrite(&mut value);
    value.to_string()
}

fn token_refusal(problem: TokenProblem) -> Refusal {
    match problem {
        TokenProblem::Unknown => refuse("CH_ACCESS_TOKEN_INVALID", "invalid access token"),
        TokenProblem::Expired => refuse("OA_AUTH_TOKEN_EXPIRED", "the access token has expired"),
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn read<T: serde::de::DeserializeOwned>(payload: Value) -> Result<T, Refusal> {
    serde_json::from_value(payload).map_err(|e| refuse("INVALID_REQUEST", e.to_string()))
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, Refusal> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| refuse("INVALID_REQUEST", format!("timestamp {ms} is out of range")))
}

fn number(id: &str) -> i64 {
    id.parse().unwrap_or(0)
}

impl Session {
    /// The answer to one message (nothing for a heartbeat).
    fn answer(&mut self, text: &str) -> Option<String> {
        let request: Envelope = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(error) => {
                return Some(envelope(
                    None,
                    payload::ERROR_RES,
                    json!({"errorCode": "INVALID_REQUEST", "description": error.to_string()}),
                ));
            }
        };
        if request.payload_type == payload::HEARTBEAT_EVENT {
            return None;
        }
        let id = request.client_msg_id.clone();
        let account = account_of(&request.payload);
        Some(match self.handle(request.payload_type, request.payload) {
            Ok((payload_type, payload)) => envelope(id, payload_type, payload),
            Err(refusal) => {
                let mut body =
                    json!({"errorCode": refusal.code, "description": refusal.description});
                if let Some(account) = account {
                    body["ctidTraderAccountId"] = json!(account);
                }
                if let Some(seconds) = refusal.retry_after {
                    body["retryAfter"] = json!(seconds);
                }
                envelope(id, payload::OA_ERROR_RES, body)
            }
        })
    }

    fn handle(&mut self, payload_type: u32, body: Value) -> Result<(u32, Value), Refusal> {
        *self
            .simulator
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(payload_type)
            .or_default() += 1;
        if self.requests.check().is_err()
            || (payload::is_history(payload_type) && self.history.check().is_err())
        {
            return Err(Refusal {
                retry_after: Some(1),
                ..refuse(
                    "REQUEST_FREQUENCY_EXCEEDED",
                    "too many requests on this connection",
                )
            });
        }
        let blocked_until = self
            .simulator
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&payload_type)
            .copied();
        if let Some(left) =
            blocked_until.and_then(|until| until.checked_duration_since(std::time::Instant::now()))
        {
            return Err(Refusal {
                retry_after: Some(
                    left.as_millis()
                        .div_ceil(1000)
                        .try_into()
                        .unwrap_or(u64::MAX),
                ),
                ..refuse(
                    "BLOCKED_PAYLOAD_TYPE",
                    "blocked by server or rate limit is reached",
                )
            });
        }
        let config = self.simulator.config.clone();
        if payload_type == payload::APPLICATION_AUTH_REQ {
            let auth: wire::ApplicationAuthReq = read(body)?;
            if auth.client_id != config.client_id || auth.client_secret != config.client_secret {
                return Err(refuse("CH_CLIENT_AUTH_FAILURE", "unknown application"));
            }
            self.application = true;
            return Ok((payload::APPLICATION_AUTH_RES, json!({})));
        }
        if !self.application {
            return Err(refuse(
                "CH_CLIENT_NOT_AUTHENTICATED",
                "authenticate the application first",
            ));
        }
        if payload_type == payload::REFRESH_TOKEN_REQ {
            let request: wire::RefreshTokenReq = read(body)?;
            let (access, refresh) = self
                .simulator
                .refresh(&request.refresh_token)
                .ok_or_else(|| refuse("CH_ACCESS_TOKEN_INVALID", "invalid refresh token"))?;
            let expires_in = config.token_lifetime.as_secs();
            return Ok((
                payload::REFRESH_TOKEN_RES,
                json!({"accessToken": access, "tokenType": "bearer",
                       "expiresIn": expires_in, "refreshToken": refresh}),
            ));
        }
        if payload_type == payload::GET_ACCOUNTS_BY_ACCESS_TOKEN_REQ {
            let request: wire::AccountListReq = read(body)?;
            self.simulator
                .check_token(&request.access_token)
                .map_err(token_refusal)?;
            let demo_accounts = self.simulator.broker.accounts();
            // Each account's number at the broker (`login` in MetaApi's account information).
            let logins: Vec<Option<i64>> = self.simulator.broker.with_current_world(|w, _| {
                demo_accounts
                    .iter()
                    .map(|a| {
                        let info = w.account_information(&a.id).ok()?;
                        i64::try_from(info.login?).ok()
                    })
                    .collect()
            });
            let accounts: Vec<wire::CtidTraderAccount> = logins
                .into_iter()
                .enumerate()
                .filter_map(|(i, login)| Some((i64::try_from(i).ok()?, login)))
                .map(|(i, login)| wire::CtidTraderAccount {
                    ctid_trader_account_id: FIRST_ACCOUNT_ID + i,
                    is_live: Some(false),
                    trader_login: login,
                    broker_title_short: Some("Riskdeck demo".into()),
                })
                .collect();
            return Ok((
                payload::GET_ACCOUNTS_BY_ACCESS_TOKEN_RES,
                json!({"accessToken": request.access_token, "ctidTraderAccount": to_value(&accounts)}),
            ));
        }
        if payload_type == payload::ACCOUNT_AUTH_REQ {
            let request: wire::AccountAuthReq = read(body)?;
            self.simulator
                .check_token(&request.access_token)
                .map_err(token_refusal)?;
            if self
                .simulator
                .demo_account(request.ctid_trader_account_id)
                .is_none()
            {
                return Err(refuse(
                    "CH_CTID_TRADER_ACCOUNT_NOT_FOUND",
                    "no such trading account",
                ));
            }
            self.accounts.insert(request.ctid_trader_account_id);
            // Execution events tell of deals from now on.
            let account = self
                .simulator
                .demo_account(request.ctid_trader_account_id)
                .unwrap_or_default();
            let had: HashSet<String> = self.simulator.broker.with_current_world(|w, now| {
                w.deals(
                    &account,
                    now - EXECUTION_LOOKBACK,
                    now + TimeDelta::minutes(1),
                    0,
                    usize::MAX,
                )
                .map(|deals| deals.into_iter().map(|d| d.id).collect())
                .unwrap_or_default()
            });
            self.told.insert(request.ctid_trader_account_id, had);
            return Ok((
                payload::ACCOUNT_AUTH_RES,
                json!({"ctidTraderAccountId": request.ctid_trader_account_id}),
            ));
        }
        let ctid = account_of(&body)
            .ok_or_else(|| refuse("INVALID_REQUEST", "ctidTraderAccountId is missing"))?;
        if !self.accounts.contains(&ctid) {
            return Err(refuse(
                "ACCOUNT_NOT_AUTHORIZED",
                "authenticate the trading account first",
            ));
        }
        let account = self.simulator.demo_account(ctid).ok_or_else(|| {
            refuse(
                "CH_CTID_TRADER_ACCOUNT_NOT_FOUND",
                "no such trading account",
            )
        })?;
        let digits = config.money_digits;
        let money = |amount: Decimal| units::scaled_money(amount, digits).unwrap_or(0);
        let broker = self.simulator.broker.clone();
        let world = |f: &mut WorldRead<'_>| broker.with_current_world(|w, now| f(w, now));
        let catalog = self.catalog();
        let answer = match payload_type {
            payload::TRADER_REQ => (
                payload::TRADER_RES,
                world(&mut |w, now| {
                    let info = w
                        .account_information(&account)
                        .map_err(|e| refuse("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", e.to_string()))?;
                    // Registered when its first deposit came.
                    let registered = w
                        .deals(&account, DateTime::<Utc>::MIN_UTC, now, 0, 1)
                        .ok()
                        .and_then(|deals| deals.first().map(|d| millis(d.time)));
                    Ok(
                        json!({"ctidTraderAccountId": ctid, "trader": to_value(&wire::Trader {
                            ctid_trader_account_id: ctid,
                            balance: money(info.balance),
                            deposit_asset_id: USD,
                            leverage_in_cents: info.leverage.map(|l| l * 100),
                            manager_bonus: Some(money(info.credit)),
                            ib_bonus: None,
                            non_withdrawable_bonus: None,
                            // Accounts quoted alike are one broker's: their quotes are
                            // shared (one subscription feeds them all); a scripted account,
                            // quoted on its own path, is a broker of its own.
                            broker_name: Some(if w.quoted_apart(&account).unwrap_or(false) {
                                format!("Riskdeck demo ({account})")
                            } else {
                                "Riskdeck demo".into()
                            }),
                            registration_timestamp: registered,
                            money_digits: Some(digits),
                        })}),
                    )
                })?,
            ),
            payload::ASSET_LIST_REQ => {
                let assets: Vec<wire::Asset> = catalog
                    .assets
                    .iter()
                    .map(|(name, id)| wire::Asset {
                        asset_id: *id,
                        name: name.clone(),
                        digits: Some(2),
                    })
                    .collect();
                (
                    payload::ASSET_LIST_RES,
                    json!({"ctidTraderAccountId": ctid, "asset": to_value(&assets)}),
                )
            }
            payload::SYMBOLS_LIST_REQ => {
                let symbols: Vec<wire::LightSymbol> = catalog
                    .symbols
                    .iter()
                    .map(|s| wire::LightSymbol {
                        symbol_id: s.id,
                        symbol_name: Some(s.name.clone()),
                        enabled: Some(true),
                        base_asset_id: Some(s.base_asset),
                        quote_asset_id: Some(USD),
                    })
                    .collect();
                (
                    payload::SYMBOLS_LIST_RES,
                    json!({"ctidTraderAccountId": ctid, "symbol": to_value(&symbols)}),
                )
            }
            payload::SYMBOL_BY_ID_REQ => {
                let request: wire::SymbolIdsReq = read(body)?;
                let symbols: Vec<wire::Symbol> = catalog
                    .symbols
                    .iter()
                    .filter(|s| request.symbol_id.contains(&s.id))
                    .map(|s| wire::Symbol {
                        symbol_id: s.id,
                        digits: s.digits,
                        pip_position: (s.digits - 1).max(0),
                        max_volume: Some(100 * s.lot_size),
                        min_volume: Some(s.lot_size / 100),
                        step_volume: Some(s.lot_size / 100),
                        lot_size: Some(s.lot_size),
                    })
                    .collect();
                (
                    payload::SYMBOL_BY_ID_RES,
                    json!({"ctidTraderAccountId": ctid, "symbol": to_value(&symbols)}),
                )
            }
            payload::RECONCILE_REQ => (
                payload::RECONCILE_RES,
                world(&mut |w, _| {
                    let info = w
                        .account_information(&account)
                        .map_err(|e| refuse("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", e.to_string()))?;
                    let positions = w
                        .positions(&account)
                        .map_err(|e| refuse("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", e.to_string()))?;
                    let mut out = Vec::with_capacity(positions.len());
                    for (i, p) in positions.iter().enumerate() {
                        let symbol = catalog.by_name(&p.symbol)?;
                        out.push(wire::Position {
                            position_id: number(&p.id),
                            trade_data: wire::TradeData {
                                symbol_id: symbol.id,
                                volume: units::volume_cents(p.volume, symbol.lot_size).unwrap_or(0),
                                trade_side: if p.position_type == "POSITION_TYPE_SELL" {
                                    wire::side::SELL
                                } else {
                                    wire::side::BUY
                                },
                                open_timestamp: Some(millis(p.time)),
                                label: None,
                                comment: p.comment.clone(),
                            },
                            position_status: 1,
                            swap: money(p.swap),
                            price: Some(units::price_double(p.open_price)),
                            stop_loss: p.stop_loss.map(units::price_double),
                            take_profit: p.take_profit.map(units::price_double),
                            utc_last_update_timestamp: p.update_time.map(millis),
                            commission: Some(money(p.commission)),
                            // The account's margin, attributed to its first position.
                            used_margin: (i == 0)
                                .then(|| u64::try_from(money(info.margin)).unwrap_or(0)),
                            money_digits: Some(digits),
                        });
                    }
                    Ok(json!({"ctidTraderAccountId": ctid, "position": to_value(&out)}))
                })?,
            ),
            payload::GET_POSITION_UNREALIZED_PNL_REQ => (
                payload::GET_POSITION_UNREALIZED_PNL_RES,
                world(&mut |w, _| {
                    let info = w
                        .account_information(&account)
                        .map_err(|e| refuse("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", e.to_string()))?;
                    let positions = w
                        .positions(&account)
                        .map_err(|e| refuse("CH_CTID_TRADER_ACCOUNT_NOT_FOUND", e.to_string()))?;
                    let mut pnl: Vec<wire::PositionUnrealizedPnl> = positions
                        .iter()
                        .map(|p| wire::PositionUnrealizedPnl {
                            position_id: number(&p.id),
                            gross_unrealized_pn_l: money(p.profit),
                            net_unrealized_pn_l: money(p.profit + p.swap + p.commission),
                        })
                        .collect();
                    // Net P/L adds up to equity less balance, to the cent, as on cTrader.
                    let floating = money(info.equity) - money(info.balance);
                    let sum: i64 = pnl.iter().map(|p| p.net_unrealized_pn_l).sum();
                    if let Some(last) = pnl.last_mut() {
                        last.net_unrealized_pn_l += floating - sum;
                    }
                    Ok(json!({
                        "ctidTraderAccountId": ctid,
                        "positionUnrealizedPnL": to_value(&pnl),
                        "moneyDigits": digits,
                    }))
                })?,
            ),
            payload::DEAL_LIST_REQ => {
                let request: wire::DealListReq = read(body)?;
                let from = from_millis(request.from_timestamp)?;
                let to = from_millis(request.to_timestamp)? + TimeDelta::milliseconds(1);
                let max = request
                    .max_rows
                    .and_then(|m| usize::try_from(m).ok())
                    .filter(|m| *m > 0)
                    .unwrap_or(DEFAULT_MAX_ROWS);
                world(&mut |w, _| {
                    let deals = w
                        .deals(&account, from, to, 0, usize::MAX)
                        .map_err(|e| refuse("INVALID_REQUEST", e.to_string()))?;
                    let trades: Vec<&MetaDeal> = deals
                        .iter()
                        .filter(|d| matches!(d.deal_type.as_str(), "DEAL_TYPE_BUY" | "DEAL_TYPE_SELL"))
                        .collect();
                    let has_more = trades.len() > max;
                    let mut out = Vec::new();
                    for d in trades.into_iter().take(max) {
                        out.push(trade_deal(&catalog, d, &money, digits)?);
                    }
                    Ok(json!({"ctidTraderAccountId": ctid, "deal": to_value(&out), "hasMore": has_more}))
                })
                .map(|v| (payload::DEAL_LIST_RES, v))?
            }
            payload::CASH_FLOW_HISTORY_LIST_REQ => {
                let request: wire::CashFlowReq = read(body)?;
                if request.to_timestamp - request.from_timestamp
                    > wire::CASH_FLOW_WINDOW.num_milliseconds()
                {
                    return Err(refuse(
                        "INVALID_REQUEST",
                        "the period between fromTimestamp and toTimestamp is more than 1 week",
                    ));
                }
                let from = from_millis(request.from_timestamp)?;
                let to = from_millis(request.to_timestamp)? + TimeDelta::milliseconds(1);
                world(&mut |w, _| {
                    let deals = w
                        .deals(&account, from, to, 0, usize::MAX)
                        .map_err(|e| refuse("INVALID_REQUEST", e.to_string()))?;
                    let flows: Vec<wire::DepositWithdraw> = deals
                        .iter()
                        .filter(|d| {
                            !matches!(d.deal_type.as_str(), "DEAL_TYPE_BUY" | "DEAL_TYPE_SELL")
                        })
                        .map(|d| wire::DepositWithdraw {
                            operation_type: if d.profit < Decimal::ZERO { 1 } else { 0 },
                            balance_history_id: number(&d.id),
                            balance: 0,
                            delta: money(d.profit.abs()),
                            change_balance_timestamp: millis(d.time),
                            external_note: None,
                            money_digits: Some(digits),
                        })
                        .collect();
                    Ok(json!({"ctidTraderAccountId": ctid, "depositWithdraw": to_value(&flows)}))
                })
                .map(|v| (payload::CASH_FLOW_HISTORY_LIST_RES, v))?
            }
            payload::SUBSCRIBE_SPOTS_REQ => {
                let request: wire::SymbolIdsReq = read(body)?;
                for symbol in request.symbol_id {
                    if !catalog.symbols.iter().any(|s| s.id == symbol) {
                        return Err(refuse("SYMBOL_NOT_FOUND", format!("symbol id {symbol}")));
                    }
                    if let std::collections::hash_map::Entry::Vacant(entry) =
                        self.spots.entry((ctid, symbol))
                    {
                        entry.insert((0, 0));
                        self.simulator
                            .spot_subscriptions
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                (
                    payload::SUBSCRIBE_SPOTS_RES,
                    json!({"ctidTraderAccountId": ctid}),
                )
            }
            other => {
                return Err(refuse(
                    "INVALID_REQUEST",
                    format!("payload type {other} is not supported by the simulator"),
                ));
            }
        };
        Ok(answer)
    }

    /// Spot events for the subscribed symbols whose quote changed.
    fn spot_events(&mut self) -> Vec<String> {
        if self.spots.is_empty() {
            return Vec::new();
        }
        let catalog = self.catalog();
        let simulator = self.simulator.clone();
        // Account ids are looked up before the world is locked (the lookup locks it too).
        let accounts: HashMap<i64, String> = self
            .spots
            .keys()
            .filter_map(|(ctid, _)| simulator.demo_account(*ctid).map(|a| (*ctid, a)))
            .collect();
        let mut events = Vec::new();
        simulator.broker.with_current_world(|w, _| {
            for ((ctid, symbol), last) in &mut self.spots {
                let (Some(account), Some(info)) = (
                    accounts.get(ctid),
                    catalog.symbols.iter().find(|s| s.id == *symbol),
                ) else {
                    continue;
                };
                let Ok(price) = w.price(account, &info.name) else {
                    continue;
                };
                let (Ok(bid), Ok(ask)) = (
                    units::raw_spot_price(price.bid),
                    units::raw_spot_price(price.ask),
                ) else {
                    continue;
                };
                if *last == (bid, ask) {
                    continue;
                }
                *last = (bid, ask);
                let event = wire::SpotEvent {
                    ctid_trader_account_id: *ctid,
                    symbol_id: *symbol,
                    bid: Some(bid),
                    ask: Some(ask),
                    timestamp: Some(millis(price.time)),
                };
                events.push(envelope(None, payload::SPOT_EVENT, to_value(&event)));
            }
        });
        events
    }

    /// `ProtoOAExecutionEvent`s for the authorized accounts' new deals: a trade as
    /// `ORDER_FILLED` with its deal and position, a deposit or withdrawal as
    /// `DEPOSIT_WITHDRAW` with the balance after it, as cTrader pushes them to every session the
    /// account is authorized on.
    fn execution_events(&mut self) -> Vec<String> {
        if self.told.is_empty() {
            return Vec::new();
        }
        let catalog = self.catalog();
        let simulator = self.simulator.clone();
        let digits = simulator.config.money_digits;
        let money = |amount: Decimal| units::scaled_money(amount, digits).unwrap_or(0);
        // Account ids are looked up before the world is locked (the lookup locks it too).
        let accounts: Vec<(i64, String)> = self
            .told
            .keys()
            .filter_map(|ctid| simulator.demo_account(*ctid).map(|a| (*ctid, a)))
            .collect();
        let mut events = Vec::new();
        simulator.broker.with_current_world(|w, now| {
            for (ctid, account) in &accounts {
                let (Some(told), Ok(deals), Ok(open), Ok(info)) = (
                    self.told.get_mut(ctid),
                    w.deals(
                        account,
                        now - EXECUTION_LOOKBACK,
                        now + TimeDelta::minutes(1),
                        0,
                        usize::MAX,
                    ),
                    w.positions(account),
                    w.account_information(account),
                ) else {
                    continue;
                };
                for d in deals {
                    if !told.insert(d.id.clone()) {
                        continue;
                    }
                    let trade = matches!(d.deal_type.as_str(), "DEAL_TYPE_BUY" | "DEAL_TYPE_SELL");
                    let event = if trade {
                        let Ok(deal) = trade_deal(&catalog, &d, &money, digits) else {
                            continue;
                        };
                        let still_open = open.iter().any(|p| Some(&p.id) == d.position_id.as_ref());
                        json!({
                            "ctidTraderAccountId": ctid,
                            "executionType": wire::execution::ORDER_FILLED,
                            "position": {
                                "positionId": deal.position_id,
                                "tradeData": {
                                    "symbolId": deal.symbol_id,
                                    "volume": deal.volume,
                                    "tradeSide": deal.trade_side,
                                },
                                "positionStatus": if still_open { 1 } else { 2 },
                                "swap": 0,
                                "moneyDigits": digits,
                            },
                            "deal": to_value(&deal),
                            "isServerEvent": false,
                        })
                    } else {
                        json!({
                            "ctidTraderAccountId": ctid,
                            "executionType": wire::execution::DEPOSIT_WITHDRAW,
                            "depositWithdraw": to_value(&wire::DepositWithdraw {
                                operation_type: if d.profit < Decimal::ZERO { 1 } else { 0 },
                                balance_history_id: number(&d.id),
                                balance: money(info.balance),
                                delta: money(d.profit.abs()),
                                change_balance_timestamp: millis(d.time),
                                external_note: None,
                                money_digits: Some(digits),
                            }),
                        })
                    };
                    events.push(envelope(None, payload::EXECUTION_EVENT, event));
                }
            }
        });
        events
    }

    fn catalog(&self) -> Arc<Catalog> {
        Catalog::of(&self.simulator.broker)
    }
}

/// The world's symbols in cTrader's terms.
#[derive(Debug)]
struct Catalog {
    symbols: Vec<SimSymbol>,
    assets: Vec<(String, i64)>,
}

#[derive(Debug)]
struct SimSymbol {
    id: i64,
    name: String,
    base_asset: i64,
    digits: i32,
    lot_size: i64,
}

impl Catalog {
    fn of(broker: &DemoBroker) -> Arc<Catalog> {
        broker.with_current_world(|w, _| {
            let mut assets = vec![("USD".to_owned(), USD)];
            let mut symbols = Vec::new();
            for (i, name) in w.symbol_names().into_iter().enumerate() {
                let Ok(spec) = w.specification(name) else {
                    continue;
                };
                let base = spec
                    .base_currency
                    .clone()
                    .unwrap_or_else(|| name.to_owned());
                let base_asset = match assets.iter().find(|(n, _)| *n == base) {
                    Some((_, id)) => *id,
                    None => {
                        let id = i64::try_from(assets.len()).unwrap_or(0) + 1;
                        assets.push((base, id));
                        id
                    }
                };
                symbols.push(SimSymbol {
                    id: i64::try_from(i).unwrap_or(0) + 1,
                    name: name.to_owned(),
                    base_asset,
                    digits: i32::try_from(spec.digits).unwrap_or(5),
                    // A lot in cents of units.
                    lot_size: units::volume_cents(spec.contract_size * Decimal::ONE_HUNDRED, 1)
                        .unwrap_or(0),
                });
            }
            Arc::new(Catalog { symbols, assets })
        })
    }

    fn by_name(&self, name: &str) -> Result<&SimSymbol, Refusal> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| refuse("SYMBOL_NOT_FOUND", name.to_owned()))
    }
}

fn trade_deal(
    catalog: &Catalog,
    d: &MetaDeal,
    money: &dyn Fn(Decimal) -> i64,
    digits: u32,
) -> Result<wire::Deal, Refusal> {
    let symbol = catalog.by_name(d.symbol.as_deref().unwrap_or_default())?;
    let volume = units::volume_cents(d.volume.unwrap_or_default(), symbol.lot_size).unwrap_or(0);
    let closing = matches!(
        d.entry_type.as_deref(),
        Some("DEAL_ENTRY_OUT" | "DEAL_ENTRY_INOUT" | "DEAL_ENTRY_OUT_BY")
    );
    let commission = money(d.commission.unwrap_or_default());
    Ok(wire::Deal {
        deal_id: number(&d.id),
        order_id: d.order_id.as_deref().map_or_else(|| number(&d.id), number),
        position_id: d.position_id.as_deref().map_or(0, number),
        volume,
        filled_volume: volume,
        symbol_id: symbol.id,
        create_timestamp: millis(d.time),
        execution_timestamp: millis(d.time),
        execution_price: d.price.map(units::price_double),
        trade_side: if d.deal_type == "DEAL_TYPE_SELL" {
            wire::side::SELL
        } else {
            wire::side::BUY
        },
        deal_status: wire::deal_status::FILLED,
        commission: Some(commission),
        close_position_detail: closing.then(|| wire::ClosePositionDetail {
            entry_price: d.price.map_or(0.0, units::price_double),
            gross_profit: money(d.profit),
            swap: money(d.swap.unwrap_or_default()),
            commission,
            balance: 0,
            closed_volume: Some(volume),
            pnl_conversion_fee: None,
            money_digits: Some(digits),
        }),
        money_digits: Some(digits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_form_writes_int64_as_strings_and_enums_by_name() {
        let text = envelope(
            Some("7".into()),
            payload::DEAL_LIST_RES,
            json!({"ctidTraderAccountId": 5, "deal": [{"dealId": 1, "volume": 100000,
                "tradeSide": 2, "dealStatus": 2, "executionPrice": 1.08512, "moneyDigits": 2,
                "closePositionDetail": {"grossProfit": -51200, "moneyDigits": 2}}],
                "hasMore": false}),
        );
        let out: Value = serde_json::from_str(&canonical(&text)).expect("json");
        assert_eq!(out["payloadType"], payload::DEAL_LIST_RES);
        assert_eq!(out["clientMsgId"], "7");
        let payload = &out["payload"];
        assert_eq!(payload["ctidTraderAccountId"], "5");
        let deal = &payload["deal"][0];
        assert_eq!(deal["dealId"], "1");
        assert_eq!(deal["volume"], "100000");
        assert_eq!(deal["tradeSide"], "SELL");
        assert_eq!(deal["dealStatus"], "FILLED");
        // Doubles, 32-bit integers and booleans stay as they are.
        assert_eq!(deal["executionPrice"], 1.08512);
        assert_eq!(deal["moneyDigits"], 2);
        assert_eq!(payload["hasMore"], false);
        assert_eq!(deal["closePositionDetail"]["grossProfit"], "-51200");
    }
}
