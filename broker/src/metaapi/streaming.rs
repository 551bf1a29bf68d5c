//! MetaApi's streaming API, the client side: accounts followed over a few shared sockets
//! (Engine.IO 3 / Socket.IO 2, as MetaApi's SDK 29.1.1 speaks it; see docs/METAAPI-STREAMING.md)
//! instead of polled over REST.
//!
//! A [`StreamingPool`] holds the sockets of one server and token; [`StreamingPool::subscribe`]
//! places an account on a socket with room (at most `accounts_per_socket`, 100 as the SDK does,
//! a new socket otherwise) and gives back a [`Subscription`]: the account's [`StreamEvent`]s in
//! `shared::domain` terms, in the order the broker sequenced them, each deal once. Dropping
//! the subscription unsubscribes the account.
//!
//! A socket opens as the SDK's does (a polling handshake, then the WebSocket upgrade; or
//! straight over WebSocket with [`StreamSettings::direct`]), pings
//! every `pingInterval` and is dropped when a pong does not come back within `pong_timeout`;
//! each account is subscribed, then synchronized from its last known deal time (so a
//! reconnect reads only what it missed). An account that hears nothing (no `status`, no data)
//! for `status_timeout`, that gets a `disconnected` packet, or whose packets leave a gap that
//! does not fill, is subscribed again; a dropped socket is opened again with backoff and
//! jitter. Each of these is told to the subscriber as [`StreamEvent::Disconnected`], and a
//! refused subscription or synchronization (MetaApi's `TooManyRequestsError`, e.g. the
//! `LIMIT_ACCOUNT_SUBSCRIPTIONS_*` limits) as [`StreamEvent::Refused`], retried at the
//! recommended time; when the server's connection is full and it asks for another
//! (`LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_SERVER`, `changeClientIdHeader`), the account moves at
//! once (once) to another socket, a new clientId, and no new account is placed on the full one
//! until that time. A synchronization that stops making progress is started again. A malformed or
//! unknown packet is logged with its account and skipped.
//! The token never appears in a log line or an error.
//!
//! # Use
//!
//! One pool per MetaApi region host and token, one subscription per account, each read by
//! its own task:
//!
//! ```ignore
//! let pool = StreamingPool::new(http, StreamSettings::new(region_base_url, token));
//! // `last_deal`: the time of the newest deal already fed (`None` on a fresh account).
//! let mut stream = pool.subscribe(&metaapi_account_id, last_deal, None);
//! while let Some(event) = stream.next().await {
//!     match event {
//!         StreamEvent::AccountInformation(info) => { /* RecordData::AccountInformation */ }
//!         StreamEvent::Positions(all) => { /* RecordData::Positions: the whole set */ }
//!         StreamEvent::PositionsChanged { updated, removed } => {
//!             /* apply to the last set, feed RecordData::Positions */
//!         }
//!         StreamEvent::Deals(deals) => { /* RecordData::Deal each; ids may repeat across subscriptions */ }
//!         StreamEvent::Prices { prices, equity, .. } => { /* RecordData::Price each; equity moves */ }
//!         StreamEvent::Specifications(specs) => { /* RecordData::Specification each */ }
//!         StreamEvent::Synchronized => { /* live from here: the feed is fresh */ }
//!         StreamEvent::SynchronizationStarted
//!         | StreamEvent::Disconnected { .. }
//!         | StreamEvent::Refused { .. } => { /* stale until Synchronized; fall back to REST if it lasts */ }
//!     }
//! }
//! ```
//!
//! Each deal is told once per subscription; a new subscription starting at `last_deal` may
//! tell the deals of that very instant again, so the caller recognises deals by id (as the
//! tracker already does). Dropping the `Subscription` unsubscribes the account; a pool's
//! sockets close once no subscription and no clone of the pool is left.

use crate::journal::{Journal, Kind};
pub use crate::stream::StreamEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::{Deal, Position, SymbolPrice, SymbolSpec};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wire::metaapi::{
    AccountInformation, MetaDeal, MetaPosition, MetaSymbolPrice, MetaSymbolSpecification,
};
use wire::metaapi_streaming::{SOCKET_IO_CONNECT, decode_payload, engine, event, parse_event};

/// Where and how a pool streams.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// The server's base URL (`https://mt-client-api-v1.<region>.agiliumtrade.ai`, or the demo
    /// broker's `http://127.0.0.1:PORT`); only its scheme and host are used.
    pub base_url: String,
    /// The MetaApi token (sent in the socket's query, as MetaApi wants; never logged).
    pub token: String,
    /// Accounts one socket carries at most.
    pub accounts_per_socket: usize,
    /// How long opening a socket may take.
    pub connect_timeout: Duration,
    /// How long a ping may go unanswered before the socket counts as stalled.
    pub pong_timeout: Duration,
    /// How long an account may hear nothing (MetaApi sends `status` at least every minute)
    /// before it is subscribed again.
    pub status_timeout: Duration,
    /// How long a gap in an account's sequenced packets may stay open.
    pub gap_timeout: Duration,
    /// The longest wait between two attempts to open a socket.
    pub max_backoff: Duration,
    /// Open the WebSocket straight away (`transport=websocket`, no session id) instead of the
    /// SDK's polling handshake and upgrade. The demo broker accepts both; MetaApi's SDK only
    /// ever upgrades, and whether MetaApi's servers accept a direct WebSocket is not
    /// published (docs/METAAPI-STREAMING.md, open question 1), so the upgrade is the default.
    pub direct: bool,
}

impl StreamSettings {
    /// MetaApi's defaults for `base_url` and `token`.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            accounts_per_socket: 100,
            connect_timeout: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(20),
            status_timeout: Duration::from_secs(60),
            gap_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
            direct: false,
        }
    }
}

/// One account's events; dropping it unsubscribes the account.
pub struct Subscription {
    events: mpsc::Receiver<StreamEvent>,
    account: String,
    socket: mpsc::UnboundedSender<Command>,
    sockets: Arc<Mutex<Vec<SocketHandle>>>,
}

impl Subscription {
    /// The next event; `None` once the pool is gone.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.events.recv().await
    }

    /// An event already received, without waiting.
    pub fn try_next(&mut self) -> Option<StreamEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.events.close();
        let _ = self.socket.send(Command::Remove(self.account.clone()));
        // The account may have moved to another socket (a full server); a socket keeps
        // serving a newer subscription of the same account (see `apply_command`).
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        for socket in sockets.iter_mut() {
            if socket.accounts.remove(&self.account) && !socket.commands.same_channel(&self.socket)
            {
                let _ = socket.commands.send(Command::Remove(self.account.clone()));
            }
        }
    }
}

/// The sockets of one server and token, shared by the accounts that stream through them.
#[derive(Clone)]
pub struct StreamingPool {
    settings: Arc<StreamSettings>,
    http: reqwest::Client,
    sockets: Arc<Mutex<Vec<SocketHandle>>>,
}

struct SocketHandle {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
    accounts: HashSet<String>,
    /// The server refused more accounts on this connection (MetaApi's
    /// `LIMIT_ACCOUNT_SUBSCRIPTIONS_*_SERVER`): no new account is placed on it until then.
    full_until: Option<Instant>,
}

/// What a socket's task needs to hand an account over to another socket.
struct Home {
    /// The socket's id in the pool.
    id: u64,
    settings: Arc<StreamSettings>,
    http: reqwest::Client,
    /// Weak: the pool's sockets hold the senders that keep the socket's task running.
    sockets: Weak<Mutex<Vec<SocketHandle>>>,
}

/// Puts `account` on the first socket with room that the server has not declared full, or on
/// a new one; returns that socket's commands.
fn place(
    home: &Home,
    sockets: &Arc<Mutex<Vec<SocketHandle>>>,
    account: &str,
    follower: Follower,
) -> mpsc::UnboundedSender<Command> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let mut list = sockets.lock().unwrap_or_else(PoisonError::into_inner);
    list.retain(|socket| !socket.commands.is_closed());
    let now = Instant::now();
    let index = match list.iter().position(|s| {
        s.accounts.len() < home.settings.accounts_per_socket
            && s.full_until.is_none_or(|until| now >= until)
    }) {
        Some(index) => index,
        None => {
            let (commands, receiver) = mpsc::unbounded_channel();
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(run_socket(
                Home {
                    id,
                    settings: home.settings.clone(),
                    http: home.http.clone(),
                    sockets: Arc::downgrade(sockets),
                },
                receiver,
            ));
            list.push(SocketHandle {
                id,
                commands,
                accounts: HashSet::new(),
                full_until: None,
            });
            list.len() - 1
        }
    };
    let socket = &mut list[index];
    socket.accounts.insert(account.to_owned());
    let _ = socket
        .commands
        .send(Command::Add(account.to_owned(), Box::new(follower)));
    socket.commands.clone()
}

enum Command {
    Add(String, Box<Follower>),
    Remove(String),
}

impl StreamingPool {
    /// A pool of sockets to `settings.base_url` (opened as accounts subscribe).
    pub fn new(http: reqwest::Client, settings: StreamSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            http,
            sockets: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Follows `account` (MetaApi's account id) from now on: deals from `deals_from` (the
    /// last one known; `None`: the whole history the server keeps) are synchronized, then
    /// everything live. What is received is appended to `journal` in the replay format.
    /// Must be called inside a Tokio runtime.
    pub fn subscribe(
        &self,
        account: &str,
        deals_from: Option<DateTime<Utc>>,
        journal: Option<Arc<Journal>>,
    ) -> Subscription {
        let (tx, events) = mpsc::channel(EVENTS_KEPT);
        let follower = Follower::new(tx, deals_from, journal);
        {
            let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
            for socket in sockets.iter_mut() {
                socket.accounts.remove(account);
            }
        }
        let home = Home {
            id: u64::MAX,
            settings: self.settings.clone(),
            http: self.http.clone(),
            sockets: Arc::downgrade(&self.sockets),
        };
        let socket = place(&home, &self.sockets, account, follower);
        Subscription {
            events,
            account: account.to_owned(),
            socket,
            sockets: self.sockets.clone(),
        }
    }

    /// Sockets open or opening now.
    pub fn sockets(&self) -> usize {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        sockets.retain(|socket| !socket.commands.is_closed());
        sockets.len()
    }
}

/// The most events kept for an account whose consumer is behind. Past it the account's events
/// are dropped (a dropped deal is forgotten, to be asked for again) until half of them are
/// read, and the account is then synchronized again from its last deal told: a slow consumer
/// costs a synchronization, never memory without bound or a deal.
pub(crate) const EVENTS_KEPT: usize = 1024;

/// An account on a socket: where its events go and where its stream stands.
struct Follower {
    tx: mpsc::Sender<StreamEvent>,
    /// Events were dropped because the consumer is behind: nothing more is told until it has
    /// caught up and the account is synchronized again.
    overflowed: bool,
    journal: Option<Arc<Journal>>,
    /// Deals at or after this time are asked for on the next synchronization.
    deals_from: Option<DateTime<Utc>>,
    /// Deal ids already told (each deal is told once).
    deals_seen: HashSet<String>,
    state: FollowState,
    /// The latest account information as MetaApi wrote it (price packets move its equity and
    /// margin; the journal keeps the result, what a follower applies).
    last_info: Option<Value>,
    /// When a packet (or `status`) for the account last arrived.
    heard: Instant,
    /// Moved to another socket by a full server and not authenticated since.
    moved: bool,
    orderer: Orderer,
}

#[derive(Clone, Debug, PartialEq)]
enum FollowState {
    /// Subscribe at `at` (attempt `tries`, for the backoff of an unanswered subscribe).
    Subscribe { at: Instant, tries: u32 },
    /// Subscribed, waiting for `authenticated` until `until`.
    Subscribed { tries: u32, until: Instant },
    /// Synchronizing (or live) under this synchronization id; until `stalls` (moved on by
    /// each packet of the synchronization, `None` once it finished) the next packet must come.
    Synchronizing { id: String, stalls: Option<Instant> },
}

impl Follower {
    fn new(
        tx: mpsc::Sender<StreamEvent>,
        deals_from: Option<DateTime<Utc>>,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        Self {
            tx,
            overflowed: false,
            journal,
            deals_from,
            deals_seen: HashSet::new(),
            state: FollowState::Subscribe {
                at: Instant::now(),
                tries: 0,
            },
            heard: Instant::now(),
            orderer: Orderer::default(),
            last_info: None,
            moved: false,
        }
    }

    fn tell(&mut self, event: StreamEvent) {
        if self.overflowed {
            self.forget_untold(&event);
            return;
        }
        match self.tx.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                tracing::warn!(
                    kept = EVENTS_KEPT,
                    "the account's events are not read fast enough; dropping them until they \
                     are, then synchronizing again"
                );
                self.overflowed = true;
                self.forget_untold(&event);
            }
        }
    }

    /// A dropped event's deals were never told: they are forgotten, so that the next
    /// synchronization asks for them again and tells them.
    fn forget_untold(&mut self, event: &StreamEvent) {
        let StreamEvent::Deals(deals) = event else {
            return;
        };
        for deal in deals {
            self.deals_seen.remove(&deal.id);
            if let Some(from) = self.deals_from {
                self.deals_from = Some(from.min(deal.time));
            }
        }
    }

    fn journal(&self, kind: Kind, value: &Value) {
        if let Some(journal) = &self.journal
            && let Ok(raw) = serde_json::to_vec(value)
        {
            journal.append(Utc::now(), kind, &raw);
        }
    }

    /// The stream broke: tell it and subscribe again after `after`.
    fn restart(&mut self, reason: &str, after: Duration) {
        self.tell(StreamEvent::Disconnected {
            reason: reason.to_owned(),
        });
        self.state = FollowState::Subscribe {
            at: Instant::now() + after,
            tries: 0,
        };
        self.orderer = Orderer::default();
    }
}

/// Puts an account's sequenced packets back in order: a synchronization starts a session at
/// its `sequenceNumber`; a packet is delivered when it is the next one, a later one waits, an
/// earlier one (a duplicate, or from an older session) is dropped.
#[derive(Debug, Default)]
struct Orderer {
    /// The session's `sequenceTimestamp` and the next number expected.
    session: Option<(i64, i64)>,
    /// Packets ahead of the next one, by number, and since when the oldest waits.
    waiting: BTreeMap<i64, Value>,
    gap_since: Option<Instant>,
}

/// The most packets waiting for a gap to fill before the account is synchronized again.
const MAX_WAITING: usize = 100;

impl Orderer {
    /// The packets deliverable now that `packet` arrived, in order; `Err` when the gap grew
    /// too large (synchronize again).
    fn accept(&mut self, packet: Value, now: Instant) -> Result<Vec<Value>, ()> {
        let number = packet.get("sequenceNumber").and_then(Value::as_i64);
        let stamp = packet.get("sequenceTimestamp").and_then(Value::as_i64);
        let (Some(number), Some(stamp)) = (number, stamp) else {
            return Ok(vec![packet]);
        };
        let starts = packet.get("type").and_then(Value::as_str) == Some("synchronizationStarted");
        if starts {
            if self.session.is_some_and(|(session, _)| stamp <= session) {
                return Ok(Vec::new());
            }
            self.session = Some((stamp, number.saturating_add(1)));
            self.waiting.retain(|&n, p| {
                n > number && p.get("sequenceTimestamp").and_then(Value::as_i64) >= Some(stamp)
            });
            let mut out = vec![packet];
            self.drain(&mut out);
            self.update_gap(now);
            return Ok(out);
        }
        let Some((session, next)) = self.session else {
            // Before the first synchronization: wait for it.
            self.waiting.insert(number, packet);
            return self.check_size();
        };
        if stamp < session || number < next {
            return Ok(Vec::new());
        }
        if number > next {
            self.waiting.insert(number, packet);
            self.update_gap(now);
            return self.check_size();
        }
        let mut out = vec![packet];
        self.session = Some((session, next.saturating_add(1)));
        self.drain(&mut out);
        self.update_gap(now);
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<Value>) {
        while let Some((session, next)) = self.session {
            // Duplicates of delivered packets are dropped.
            while self
                .waiting
                .first_key_value()
                .is_some_and(|(&n, _)| n < next)
            {
                self.waiting.pop_first();
            }
            match self.waiting.remove(&next) {
                Some(packet) => {
                    out.push(packet);
                    self.session = Some((session, next.saturating_add(1)));
                }
                None => break,
            }
        }
    }

    fn update_gap(&mut self, now: Instant) {
        if self.waiting.is_empty() {
            self.gap_since = None;
        } else if self.gap_since.is_none() {
            self.gap_since = Some(now);
        }
    }

    fn check_size(&self) -> Result<Vec<Value>, ()> {
        if self.waiting.len() > MAX_WAITING {
            Err(())
        } else {
            Ok(Vec::new())
        }
    }

    fn gap_older_than(&self, limit: Duration, now: Instant) -> bool {
        self.gap_since
            .is_some_and(|since| now.saturating_duration_since(since) > limit)
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a socket ended.
enum Closed {
    /// Broken or stalled; open it again.
    Broken(String),
    /// Nobody follows an account on it any more.
    Unused,
}

/// One socket's life: open it, serve its accounts, open it again when it breaks, until no
/// account is left on it.
async fn run_socket(home: Home, mut commands: mpsc::UnboundedReceiver<Command>) {
    let settings = home.settings.clone();
    let mut followers: HashMap<String, Follower> = HashMap::new();
    let mut failures: u32 = 0;
    loop {
        // Take in what was asked meanwhile.
        while let Ok(command) = commands.try_recv() {
            apply_command(&mut followers, command, None).await;
        }
        if followers.is_empty() && commands.is_closed() {
            return;
        }
        let reason = match open(&settings, &home.http).await {
            Ok((socket, open)) => {
                failures = 0;
                match serve(&home, socket, open, &mut followers, &mut commands).await {
                    Closed::Unused => return,
                    Closed::Broken(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        tracing::warn!(
            accounts = followers.len(),
            %reason,
            "MetaApi stream socket closed; opening it again"
        );
        for follower in followers.values_mut() {
            follower.restart(&reason, Duration::ZERO);
        }
        failures = failures.saturating_add(1);
        let wait = backoff(failures, settings.max_backoff);
        let until = Instant::now() + wait;
        // Wait out the backoff, taking in commands (an account may leave meanwhile).
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                command = commands.recv() => match command {
                    Some(command) => apply_command(&mut followers, command, None).await,
                    // Every subscription and the pool are gone.
                    None => return,
                },
            }
        }
    }
}

/// 0.5 s doubling per failure up to `max`, with up to half of it again as jitter.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(500)
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(max);
    base + base.mul_f64(fastrand::f64() / 2.0)
}

async fn apply_command(
    followers: &mut HashMap<String, Follower>,
    command: Command,
    socket: Option<&mut Socket>,
) {
    match command {
        Command::Add(account, follower) => {
            followers.insert(account, *follower);
        }
        Command::Remove(account) => {
            // A subscription replaced by a newer one for the same account is still served.
            if followers.get(&account).is_some_and(|f| f.tx.is_closed())
                && followers.remove(&account).is_some()
                && let Some(socket) = socket
            {
                let request = request("unsubscribe", &account, &random_id());
                let _ = socket.send(Message::text(request)).await;
            }
        }
    }
}

/// The Engine.IO open packet's timings.
struct Opened {
    ping_interval: Duration,
    /// The socket.io CONNECT (`40`) came already.
    connected: bool,
}

/// The Engine.IO open packet's `pingInterval` (25 s when it has none; at least 0.1 s).
fn ping_interval(open: &Value) -> Duration {
    open.get("pingInterval")
        .and_then(Value::as_u64)
        .map_or(Duration::from_secs(25), Duration::from_millis)
        .max(Duration::from_millis(100))
}

/// `ws(s)://host` for `http(s)://host`.
fn ws_base(base: &str) -> Result<String, String> {
    if let Some(rest) = base.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if let Some(rest) = base.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else {
        Err("the base URL is not http(s)".to_owned())
    }
}

/// Opens a socket: as MetaApi's SDK does (a polling handshake, then the WebSocket upgrade), or
/// straight over WebSocket when `settings.direct`.
async fn open(
    settings: &StreamSettings,
    http: &reqwest::Client,
) -> Result<(Socket, Opened), String> {
    let client_id = format!("{:.10}", fastrand::f64());
    let token: String = url::form_urlencoded::byte_serialize(settings.token.as_bytes()).collect();
    let query = format!("auth-token={token}&clientId={client_id}&protocol=3");
    let base = settings.base_url.trim_end_matches('/');
    if settings.direct {
        return open_direct(
            settings,
            &format!("{}/ws/?{query}", ws_base(base)?),
            &client_id,
        )
        .await;
    }
    let handshake = http
        .get(format!("{base}/ws/?{query}&transport=polling&EIO=3"))
        .header("Client-Id", &client_id)
        .timeout(settings.connect_timeout)
        .send()
        .await
        .map_err(|e| format!("handshake: {}", explain(&e.without_url(), &settings.token)))?;
    if !handshake.status().is_success() {
        return Err(format!("handshake: HTTP {}", handshake.status().as_u16()));
    }
    let body = handshake
        .bytes()
        .await
        .map_err(|e| format!("handshake: {}", explain(&e.without_url(), &settings.token)))?;
    let packets = decode_payload(&body).map_err(|e| format!("handshake: {e}"))?;
    let open = packets
        .first()
        .and_then(|p| p.strip_prefix(engine::OPEN))
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .ok_or("handshake: no open packet")?;
    let sid = open
        .get("sid")
        .and_then(Value::as_str)
        .ok_or("handshake: no session id")?;
    let ping_interval = ping_interval(&open);
    let connected = packets.iter().any(|p| p == SOCKET_IO_CONNECT);
    let ws_base = ws_base(base)?;
    let sid: String = url::form_urlencoded::byte_serialize(sid.as_bytes()).collect();
    let mut request = format!("{ws_base}/ws/?{query}&transport=websocket&EIO=3&sid={sid}")
        .into_client_request()
        .map_err(|_| "the WebSocket address cannot be formed".to_owned())?;
    if let Ok(value) = client_id.parse() {
        request.headers_mut().insert("Client-Id", value);
    }
    let (mut socket, _) = tokio::time::timeout(
        settings.connect_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|_| "upgrade: timed out".to_owned())?
    .map_err(|e| format!("upgrade: {}", redact(&e.to_string(), &settings.token)))?;
    socket
        .send(Message::text("2probe"))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let probe = tokio::time::timeout(settings.connect_timeout, socket.next())
        .await
        .map_err(|_| "upgrade: no probe answer".to_owned())?;
    match probe {
        Some(Ok(Message::Text(text))) if text.as_str() == "3probe" => {}
        _ => return Err("upgrade: the probe was not answered".to_owned()),
    }
    socket
        .send(Message::text(engine::UPGRADE.to_string()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok((
        socket,
        Opened {
            ping_interval,
            connected,
        },
    ))
}

/// Opens a WebSocket at `address` (its query without the transport) and reads the Engine.IO
/// open packet; the socket.io CONNECT (`40`) follows on the socket.
async fn open_direct(
    settings: &StreamSettings,
    address: &str,
    client_id: &str,
) -> Result<(Socket, Opened), String> {
    let mut request = format!("{address}&transport=websocket&EIO=3")
        .into_client_request()
        .map_err(|_| "the WebSocket address cannot be formed".to_owned())?;
    if let Ok(value) = client_id.parse() {
        request.headers_mut().insert("Client-Id", value);
    }
    let (mut socket, _) = tokio::time::timeout(
        settings.connect_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|_| "open: timed out".to_owned())?
    .map_err(|e| format!("open: {}", explain(&e, &settings.token)))?;
    let first = tokio::time::timeout(settings.connect_timeout, socket.next())
        .await
        .map_err(|_| "open: no open packet".to_owned())?;
    let open = match first {
        Some(Ok(Message::Text(text))) => text
            .as_str()
            .strip_prefix(engine::OPEN)
            .and_then(|json| serde_json::from_str::<Value>(json).ok()),
        _ => None,
    }
    .ok_or("open: no open packet")?;
    let ping_interval = ping_interval(&open);
    Ok((
        socket,
        Opened {
            ping_interval,
            connected: false,
        },
    ))
}

/// `error` and its causes, the token replaced (errors may quote the address).
fn explain(error: &dyn std::error::Error, token: &str) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = error.source();
    }
    redact(&text, token)
}

/// `text` with the token replaced (errors may quote the address).
fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_owned();
    }
    // The address carries the token percent-encoded.
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    text.replace(token, "<token>").replace(&encoded, "<token>")
}

fn random_id() -> String {
    (0..32).map(|_| fastrand::lowercase()).collect()
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `request` event for `account`.
fn request(kind: &str, account: &str, id: &str) -> String {
    request_with(kind, account, id, json!({}))
}

fn request_with(kind: &str, account: &str, id: &str, mut fields: Value) -> String {
    if let Value::Object(map) = &mut fields {
        map.insert("type".into(), kind.into());
        map.insert("accountId".into(), account.into());
        map.insert("requestId".into(), id.into());
        map.insert("instanceIndex".into(), 0.into());
        map.insert("application".into(), "MetaApi".into());
        map.insert(
            "timestamps".into(),
            json!({"clientProcessingStarted": iso(Utc::now())}),
        );
    }
    event("request", &fields)
}

/// The earliest deal time MetaApi's SDK asks for on an empty history.
fn history_start() -> DateTime<Utc> {
    DateTime::from_timestamp(100_000, 0).unwrap_or_default()
}

/// Serves one open socket until it breaks or is no longer used.
async fn serve(
    home: &Home,
    mut socket: Socket,
    opened: Opened,
    followers: &mut HashMap<String, Follower>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Closed {
    let settings = &*home.settings;
    let session = random_id();
    let mut ready = opened.connected;
    // Subscribe requests in flight: request id -> account.
    let mut requests: HashMap<String, String> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_ping = Instant::now();
    let mut pong_due: Option<Instant> = None;
    for follower in followers.values_mut() {
        follower.state = FollowState::Subscribe {
            at: Instant::now(),
            tries: 0,
        };
        follower.heard = Instant::now();
        follower.orderer = Orderer::default();
    }
    loop {
        tokio::select! {
            message = socket.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => {
                        return Closed::Broken("the server closed the socket".to_owned());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => {
                        return Closed::Broken(redact(&error.to_string(), &settings.token));
                    }
                };
                let text = text.as_str();
                match text.chars().next() {
                    Some(engine::PONG) => pong_due = None,
                    Some(engine::CLOSE) => {
                        return Closed::Broken("the server closed the session".to_owned());
                    }
                    Some(engine::MESSAGE) => {
                        let body = &text[1..];
                        if body == "0" || body.starts_with("0{") {
                            ready = true;
                        } else if body.starts_with('1') {
                            return Closed::Broken("the server disconnected the socket".to_owned());
                        } else if let Some((name, data)) = parse_event(body) {
                            let mut full = Vec::new();
                            let out = on_event(settings, &name, data, followers, &mut requests, &mut full);
                            for frame in out {
                                if let Err(error) = socket.send(Message::text(frame)).await {
                                    return Closed::Broken(error.to_string());
                                }
                            }
                            for (account, until) in full {
                                move_elsewhere(home, followers, &account, until);
                            }
                        } else {
                            tracing::debug!(packet = %text.chars().take(80).collect::<String>(), "skipped a packet that is not an event");
                        }
                    }
                    _ => tracing::debug!("skipped an unknown engine packet"),
                }
            }
            command = commands.recv() => {
                let Some(command) = command else {
                    // Every subscription and the pool are gone.
                    let _ = socket.close(None).await;
                    return Closed::Unused;
                };
                apply_command(followers, command, Some(&mut socket)).await;
                if followers.is_empty() && commands.is_closed() {
                    let _ = socket.send(Message::text(format!("{}1", engine::MESSAGE))).await;
                    let _ = socket.close(None).await;
                    return Closed::Unused;
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                if pong_due.is_some_and(|due| now >= due) {
                    return Closed::Broken(format!(
                        "no pong within {} s: the socket is stalled",
                        settings.pong_timeout.as_secs()
                    ));
                }
                if now >= next_ping {
                    if let Err(error) = socket.send(Message::text(engine::PING.to_string())).await {
                        return Closed::Broken(error.to_string());
                    }
                    next_ping = now + opened.ping_interval.min(settings.pong_timeout);
                    if pong_due.is_none() {
                        pong_due = Some(now + settings.pong_timeout);
                    }
                }
                if !ready {
                    continue;
                }
                for frame in due_work(settings, followers, &session, &mut requests, now) {
                    if let Err(error) = socket.send(Message::text(frame)).await {
                        return Closed::Broken(error.to_string());
                    }
                }
            }
        }
    }
}

/// The server will take no more accounts on this socket until `until`: the pool places no new
/// account on it meanwhile, and `account` goes to another socket (a new one, with a new
/// clientId, when none has room) and is subscribed there at once.
fn move_elsewhere(
    home: &Home,
    followers: &mut HashMap<String, Follower>,
    account: &str,
    until: Instant,
) {
    let Some(mut follower) = followers.remove(account) else {
        return;
    };
    // Without the pool nobody follows the account any more.
    let Some(sockets) = home.sockets.upgrade() else {
        return;
    };
    {
        let mut list = sockets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(socket) = list.iter_mut().find(|s| s.id == home.id) {
            socket.full_until = Some(until);
            socket.accounts.remove(account);
        }
    }
    tracing::info!(%account, "the server is full on this socket; moving the account to another");
    follower.state = FollowState::Subscribe {
        at: Instant::now(),
        tries: 0,
    };
    follower.orderer = Orderer::default();
    follower.moved = true;
    place(home, &sockets, account, follower);
}

/// Subscribes due accounts, and restarts the silent ones and those with an open gap.
fn due_work(
    settings: &StreamSettings,
    followers: &mut HashMap<String, Follower>,
    session: &str,
    requests: &mut HashMap<String, String>,
    now: Instant,
) -> Vec<String> {
    let mut out = Vec::new();
    for (account, follower) in followers.iter_mut() {
        if follower.overflowed && follower.tx.capacity() >= EVENTS_KEPT / 2 {
            // Its consumer caught up with what was kept: what was dropped is read again.
            follower.overflowed = false;
            tracing::warn!(%account, "the account's events are read again; synchronizing it");
            follower.restart("its events were not read fast enough", Duration::ZERO);
        }
        match follower.state.clone() {
            FollowState::Subscribe { at, tries } if now >= at => {
                let id = random_id();
                requests.insert(id.clone(), account.clone());
                out.push(request_with(
                    "subscribe",
                    account,
                    &id,
                    json!({"sessionId": session}),
                ));
                // Unanswered subscribes are sent again after 3 s, 6 s, ... up to 5 minutes.
                let wait = Duration::from_secs(3)
                    .saturating_mul(1 << tries.min(7))
                    .min(Duration::from_secs(300));
                follower.state = FollowState::Subscribed {
                    tries: tries + 1,
                    until: now + wait,
                };
                follower.heard = now;
            }
            FollowState::Subscribed { tries, until } if now >= until => {
                follower.state = FollowState::Subscribe { at: now, tries };
            }
            FollowState::Synchronizing { stalls, .. } => {
                if stalls.is_some_and(|stalls| now >= stalls) {
                    let reason = format!(
                        "the synchronization made no progress for {} s",
                        settings.status_timeout.as_secs()
                    );
                    tracing::warn!(%account, %reason, "subscribing the account again");
                    follower.restart(&reason, Duration::ZERO);
                } else if now.saturating_duration_since(follower.heard) > settings.status_timeout {
                    let reason =
                        format!("nothing heard for {} s", settings.status_timeout.as_secs());
                    tracing::warn!(%account, %reason, "subscribing the account again");
                    follower.restart(&reason, Duration::ZERO);
                } else if follower.orderer.gap_older_than(settings.gap_timeout, now) {
                    tracing::warn!(%account, "a gap in the account's packets did not fill; synchronizing again");
                    follower.restart("a gap in the packets did not fill", Duration::ZERO);
                }
            }
            _ => {}
        }
    }
    out
}

/// Handles one event from the server; returns the frames to send.
fn on_event(
    settings: &StreamSettings,
    name: &str,
    data: Value,
    followers: &mut HashMap<String, Follower>,
    requests: &mut HashMap<String, String>,
    full: &mut Vec<(String, Instant)>,
) -> Vec<String> {
    match name {
        "synchronization" => {
            let Some(account) = data.get("accountId").and_then(Value::as_str) else {
                tracing::debug!("skipped a synchronization packet without an account");
                return Vec::new();
            };
            let account = account.to_owned();
            let Some(follower) = followers.get_mut(&account) else {
                return Vec::new();
            };
            if data
                .get("instanceIndex")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                != 0
            {
                return Vec::new();
            }
            follower.heard = Instant::now();
            let frames = on_synchronization(&account, data, follower, settings.status_timeout);
            // A synchronize the server refuses is answered by a processingError naming it.
            if !frames.is_empty()
                && let FollowState::Synchronizing { id, .. } = &follower.state
            {
                requests.insert(id.clone(), account);
            }
            frames
        }
        "processingError" => {
            let request = data
                .get("requestId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(account) = requests.remove(request) else {
                return Vec::new();
            };
            let Some(follower) = followers.get_mut(&account) else {
                return Vec::new();
            };
            // Once synchronizing, only an error for that synchronize counts; an older
            // request's is stale.
            if let FollowState::Synchronizing { id, .. } = &follower.state
                && id != request
            {
                tracing::debug!(%account, "skipped an error for an earlier request");
                return Vec::new();
            }
            let error = data.get("error").and_then(Value::as_str).unwrap_or("error");
            let message = data
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = data
                .pointer("/metadata/type")
                .and_then(Value::as_str)
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            let retry_after = data
                .pointer("/metadata/recommendedRetryTime")
                .and_then(retry_time)
                .and_then(|t| (t - Utc::now()).to_std().ok())
                .unwrap_or(if error == "TooManyRequestsError" {
                    Duration::from_secs(10)
                } else {
                    settings.status_timeout
                })
                .clamp(Duration::from_secs(1), Duration::from_secs(600));
            let reason = redact(&format!("{error}{kind}: {message}"), &settings.token);
            // The server's connection is full and it asks for another connection (another
            // clientId): the account moves at once, once; refused again there, it waits for
            // the recommended time like any refusal (so a server refusing everywhere cannot
            // make the pool open socket after socket). The per-user limits do not move: another
            // connection of the same user would be refused alike.
            let server_full = data
                .pointer("/metadata/changeClientIdHeader")
                .and_then(Value::as_bool)
                == Some(true)
                || data.pointer("/metadata/type").and_then(Value::as_str)
                    == Some("LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_SERVER");
            if server_full
                && !follower.moved
                && matches!(follower.state, FollowState::Subscribed { .. })
            {
                tracing::warn!(%account, %reason, "MetaApi refused the subscription on this socket");
                follower.tell(StreamEvent::Refused {
                    reason,
                    retry_after: Duration::ZERO,
                });
                full.push((account, Instant::now() + retry_after));
                return Vec::new();
            }
            tracing::warn!(%account, %reason, retry_after_s = retry_after.as_secs(), "MetaApi refused the subscription or synchronization");
            follower.tell(StreamEvent::Refused {
                reason,
                retry_after,
            });
            follower.state = FollowState::Subscribe {
                at: Instant::now() + retry_after,
                tries: 0,
            };
            Vec::new()
        }
        "response" => {
            if let Some(request) = data.get("requestId").and_then(Value::as_str) {
                requests.remove(request);
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// MetaApi's `recommendedRetryTime`: an ISO-8601 string, or seconds since the epoch.
fn retry_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(seconds) => {
            let seconds = seconds.as_f64().filter(|s| s.is_finite())?;
            // The cast saturates; a time out of chrono's range is then refused.
            DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
        }
        _ => None,
    }
}

/// Handles one `synchronization` packet of `account`; returns the frames to send. A
/// synchronization that gets no packet for `sync_timeout` is started again.
fn on_synchronization(
    account: &str,
    data: Value,
    follower: &mut Follower,
    sync_timeout: Duration,
) -> Vec<String> {
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match kind.as_str() {
        "authenticated" => {
            follower.moved = false;
            let id = random_id();
            let from = follower
                .deals_from
                .unwrap_or_else(history_start)
                .max(history_start());
            let mut fields = json!({
                "version": 2,
                "startingHistoryOrderTime": iso(from),
                "startingDealTime": iso(from),
                "specificationsHashes": [],
                "positionsHashes": [],
                "ordersHashes": [],
            });
            if let Some(host) = data.get("host") {
                fields["host"] = host.clone();
            }
            follower.state = FollowState::Synchronizing {
                id: id.clone(),
                stalls: Some(Instant::now() + sync_timeout),
            };
            follower.orderer = Orderer::default();
            return vec![request_with("synchronize", account, &id, fields)];
        }
        "disconnected" => {
            follower.restart(
                "the broker disconnected the account",
                Duration::from_secs(1),
            );
            return Vec::new();
        }
        "status" | "keepalive" => return Vec::new(),
        _ => {}
    }
    let FollowState::Synchronizing { id, .. } = &follower.state else {
        return Vec::new();
    };
    // A packet of an older synchronization is stale.
    if let Some(sync) = data.get("synchronizationId").and_then(Value::as_str)
        && sync != id
    {
        return Vec::new();
    }
    let packets = match follower.orderer.accept(data, Instant::now()) {
        Ok(packets) => packets,
        Err(()) => {
            follower.restart("too many packets out of order", Duration::ZERO);
            return Vec::new();
        }
    };
    let now = Instant::now();
    for packet in packets {
        let finished =
            packet.get("type").and_then(Value::as_str) == Some("dealSynchronizationFinished");
        apply(account, &packet, follower);
        if let FollowState::Synchronizing { stalls, .. } = &mut follower.state
            && stalls.is_some()
        {
            *stalls = (!finished).then_some(now + sync_timeout);
        }
    }
    Vec::new()
}

fn parse<T: serde::de::DeserializeOwned>(account: &str, what: &str, value: &Value) -> Option<T> {
    match T::deserialize(value) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            tracing::warn!(%account, %error, "skipped a malformed {what} in a streamed packet");
            None
        }
    }
}

fn positions(account: &str, value: &Value) -> Vec<Position> {
    let Some(items) = value.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| parse::<MetaPosition>(account, "position", item))
        .filter_map(|wire| match Position::try_from(wire) {
            Ok(position) => Some(position),
            Err(error) => {
                tracing::warn!(%account, %error, "skipped a position that cannot be read");
                None
            }
        })
        .collect()
}

/// Deals of `value` not told before, oldest first; moves the time the next synchronization
/// starts from.
fn new_deals(account: &str, value: &Value, follower: &mut Follower) -> Vec<Deal> {
    let Some(items) = value.as_array() else {
        return Vec::new();
    };
    let mut deals = Vec::new();
    for item in items {
        let Some(wire) = parse::<MetaDeal>(account, "deal", item) else {
            continue;
        };
        let deal: Deal = wire.into();
        if !follower.deals_seen.insert(deal.id.clone()) {
            continue;
        }
        follower.journal(Kind::Deal, item);
        follower.deals_from = Some(follower.deals_from.map_or(deal.time, |t| t.max(deal.time)));
        deals.push(deal);
    }
    deals.sort_by_key(|deal| deal.time);
    deals
}

fn decimal(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::Number(n) => n
            .to_string()
            .parse::<Decimal>()
            .ok()
            .or_else(|| n.as_f64().and_then(|f| Decimal::try_from(f).ok())),
        _ => None,
    }
}

/// Tells the packet's `accountInformation` (journaled; kept for the price packets to move).
fn tell_account_information(account: &str, packet: &Value, follower: &mut Follower) {
    if let Some(value) = packet.get("accountInformation")
        && let Some(info) = parse::<AccountInformation>(account, "account information", value)
    {
        follower.journal(Kind::AccountInformation, value);
        follower.last_info = Some(value.clone());
        follower.tell(StreamEvent::AccountInformation(info.into()));
    }
}

/// Tells the packet's `deals` not told before.
fn tell_new_deals(account: &str, packet: &Value, follower: &mut Follower) {
    if let Some(value) = packet.get("deals") {
        let deals = new_deals(account, value, follower);
        if !deals.is_empty() {
            follower.tell(StreamEvent::Deals(deals));
        }
    }
}

/// Tells what one ordered packet says.
fn apply(account: &str, packet: &Value, follower: &mut Follower) {
    let kind = packet
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "synchronizationStarted" => follower.tell(StreamEvent::SynchronizationStarted),
        "accountInformation" => {
            tell_account_information(account, packet, follower);
        }
        "specifications" => {
            let specs: Vec<SymbolSpec> = packet
                .get("specifications")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| {
                            parse::<MetaSymbolSpecification>(account, "specification", v)
                        })
                        .map(Into::into)
                        .collect()
                })
                .unwrap_or_default();
            if !specs.is_empty() {
                follower.tell(StreamEvent::Specifications(specs));
            }
        }
        "positions" => {
            let value = packet
                .get("positions")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            follower.journal(Kind::Positions, &value);
            follower.tell(StreamEvent::Positions(positions(account, &value)));
        }
        "deals" => {
            tell_new_deals(account, packet, follower);
        }
        "dealSynchronizationFinished" => follower.tell(StreamEvent::Synchronized),
        "update" => {
            // Deals before the account information that may include them.
            tell_new_deals(account, packet, follower);
            let updated = packet
                .get("updatedPositions")
                .map(|v| positions(account, v))
                .unwrap_or_default();
            let removed: Vec<String> = packet
                .get("removedPositionIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| match id {
                            Value::String(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !updated.is_empty() || !removed.is_empty() {
                follower.tell(StreamEvent::PositionsChanged { updated, removed });
            }
            tell_account_information(account, packet, follower);
        }
        "prices" => {
            let prices: Vec<SymbolPrice> = packet
                .get("prices")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| parse::<MetaSymbolPrice>(account, "price", v))
                        .map(Into::into)
                        .collect()
                })
                .unwrap_or_default();
            let equity = decimal(packet.get("equity"));
            // The journal keeps the account information the prices moved: what a follower
            // applies, so a replay decides as the live run did.
            if equity.is_some()
                && let Some(mut info) = follower.last_info.take()
            {
                // Not `info[field] = ..`: that panics when the information came as an array
                // (serde reads a struct from one), and a panic would stop the whole socket.
                if let Some(map) = info.as_object_mut() {
                    for field in ["equity", "margin", "freeMargin", "marginLevel"] {
                        if let Some(value) = packet.get(field).filter(|v| v.is_number()) {
                            map.insert(field.to_owned(), value.clone());
                        }
                    }
                }
                follower.journal(Kind::AccountInformation, &info);
                follower.last_info = Some(info);
            }
            follower.tell(StreamEvent::Prices {
                prices,
                equity,
                margin: decimal(packet.get("margin")),
                free_margin: decimal(packet.get("freeMargin")),
                margin_level: decimal(packet.get("marginLevel")),
            });
        }
        "orders" | "historyOrders" | "orderSynchronizationFinished" | "downgradeSubscription" => {}
        other => {
            tracing::debug!(%account, packet = %other, "skipped a packet of a kind not followed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: &str, number: i64, stamp: i64) -> Value {
        json!({"type": kind, "sequenceNumber": number, "sequenceTimestamp": stamp})
    }

    fn numbers(packets: &[Value]) -> Vec<i64> {
        packets
            .iter()
            .map(|p| p["sequenceNumber"].as_i64().unwrap_or(-1))
            .collect()
    }

    #[test]
    fn packets_are_put_in_order_once_each() {
        let now = Instant::now();
        let mut orderer = Orderer::default();
        // Before the synchronization starts, sequenced packets wait.
        assert_eq!(orderer.accept(packet("deals", 1, 10), now), Ok(Vec::new()));
        let started = orderer
            .accept(packet("synchronizationStarted", 0, 10), now)
            .expect("ordered");
        assert_eq!(numbers(&started), [0, 1]);
        // A duplicate is dropped; a later packet waits for the one before it.
        assert_eq!(orderer.accept(packet("deals", 1, 10), now), Ok(Vec::new()));
        assert_eq!(orderer.accept(packet("update", 3, 12), now), Ok(Vec::new()));
        assert!(orderer.gap_older_than(Duration::ZERO, now + Duration::from_millis(1)));
        let filled = orderer
            .accept(packet("update", 2, 11), now)
            .expect("ordered");
        assert_eq!(numbers(&filled), [2, 3]);
        assert!(!orderer.gap_older_than(Duration::ZERO, now + Duration::from_secs(1)));
        // Unsequenced packets pass as they come.
        assert_eq!(
            orderer
                .accept(json!({"type": "status"}), now)
                .expect("passes")
                .len(),
            1
        );
        // An older synchronization's start is ignored; a newer one starts a session.
        assert_eq!(
            orderer.accept(packet("synchronizationStarted", 0, 5), now),
            Ok(Vec::new())
        );
        let again = orderer
            .accept(packet("synchronizationStarted", 0, 20), now)
            .expect("ordered");
        assert_eq!(numbers(&again), [0]);
        assert_eq!(orderer.accept(packet("update", 4, 19), now), Ok(Vec::new()));
    }

    #[test]
    fn extreme_sequence_numbers_do_not_overflow() {
        let now = Instant::now();
        let mut orderer = Orderer::default();
        let started = orderer
            .accept(packet("synchronizationStarted", i64::MAX, 1), now)
            .expect("ordered");
        assert_eq!(numbers(&started), [i64::MAX]);
        // Saturated, the numbering can go no further; it must not overflow.
        assert!(orderer.accept(packet("update", i64::MAX, 1), now).is_ok());
        let mut orderer = Orderer::default();
        orderer
            .accept(packet("synchronizationStarted", i64::MAX - 1, 1), now)
            .expect("ordered");
        let last = orderer
            .accept(packet("update", i64::MAX, 1), now)
            .expect("ordered");
        assert_eq!(numbers(&last), [i64::MAX]);
    }

    #[test]
    fn a_gap_that_grows_too_large_asks_for_a_new_synchronization() {
        let now = Instant::now();
        let mut orderer = Orderer::default();
        orderer
            .accept(packet("synchronizationStarted", 0, 1), now)
            .expect("ordered");
        let mut result = Ok(Vec::new());
        for n in 2..(MAX_WAITING as i64 + 3) {
            result = orderer.accept(packet("update", n, 2), now);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(()));
    }

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter() {
        let max = Duration::from_secs(30);
        for failures in 1..20 {
            let wait = backoff(failures, max);
            assert!(wait >= Duration::from_millis(500), "{wait:?}");
            assert!(wait <= max + max / 2, "{wait:?}");
        }
        assert!(backoff(12, max) >= max);
    }

    #[test]
    fn the_token_is_redacted_from_errors() {
        assert_eq!(
            redact("GET /ws/?auth-token=s3cret&x=1 failed", "s3cret"),
            "GET /ws/?auth-token=<token>&x=1 failed"
        );
        assert_eq!(
            redact(
                "GET /ws/?auth-token=a%2Fb%3D%3D&x=1 (a/b==) failed",
                "a/b=="
            ),
            "GET /ws/?auth-token=<token>&x=1 (<token>) failed"
        );
    }

    /// A follower of `acc` on a socket, and what it is told.
    fn followed() -> (HashMap<String, Follower>, mpsc::Receiver<StreamEvent>) {
        let (tx, rx) = mpsc::channel(EVENTS_KEPT);
        let mut follower = Follower::new(tx, None, None);
        follower.state = FollowState::Subscribed {
            tries: 1,
            until: Instant::now() + Duration::from_secs(60),
        };
        (HashMap::from([("acc".to_owned(), follower)]), rx)
    }

    fn sync(kind: &str, fields: Value) -> Value {
        let mut data = fields;
        data["type"] = kind.into();
        data["accountId"] = "acc".into();
        data
    }

    fn told(rx: &mut mpsc::Receiver<StreamEvent>) -> Vec<StreamEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// Authenticates `acc` and returns the synchronize request's id.
    fn authenticate(
        settings: &StreamSettings,
        followers: &mut HashMap<String, Follower>,
        requests: &mut HashMap<String, String>,
    ) -> String {
        let frames = on_event(
            settings,
            "synchronization",
            sync("authenticated", json!({})),
            followers,
            requests,
            &mut Vec::new(),
        );
        let [frame] = frames.as_slice() else {
            panic!("one synchronize expected, got {frames:?}");
        };
        let (_, request) = parse_event(&frame[1..]).expect("an event");
        assert_eq!(request["type"], "synchronize");
        let id = request["requestId"].as_str().expect("an id").to_owned();
        assert_eq!(requests.get(&id).map(String::as_str), Some("acc"));
        id
    }

    #[test]
    fn a_refused_synchronize_is_told_and_subscribed_again() {
        let settings = StreamSettings::new("http://127.0.0.1:1", "t0k");
        let (mut followers, mut rx) = followed();
        let mut requests = HashMap::new();
        let id = authenticate(&settings, &mut followers, &mut requests);
        let retry = Utc::now() + chrono::Duration::seconds(30);
        let error = json!({"id": 1, "error": "TooManyRequestsError", "requestId": id,
            "message": "too many synchronizations",
            "metadata": {"recommendedRetryTime": iso(retry), "type": "LIMIT_SYNCHRONIZATIONS"}});
        on_event(
            &settings,
            "processingError",
            error,
            &mut followers,
            &mut requests,
            &mut Vec::new(),
        );
        let events = told(&mut rx);
        let [
            StreamEvent::Refused {
                reason,
                retry_after,
            },
        ] = events.as_slice()
        else {
            panic!("a refusal expected, got {events:?}");
        };
        assert!(reason.contains("TooManyRequestsError"), "{reason}");
        assert!(
            (Duration::from_secs(20)..=Duration::from_secs(30)).contains(retry_after),
            "{retry_after:?}"
        );
        assert!(matches!(
            followers["acc"].state,
            FollowState::Subscribe { .. }
        ));
    }

    #[test]
    fn an_error_for_an_earlier_request_is_stale() {
        let settings = StreamSettings::new("http://127.0.0.1:1", "t0k");
        let (mut followers, mut rx) = followed();
        let mut requests = HashMap::from([("old".to_owned(), "acc".to_owned())]);
        let id = authenticate(&settings, &mut followers, &mut requests);
        let error = json!({"id": 1, "error": "NotFoundError", "requestId": "old", "message": "x"});
        on_event(
            &settings,
            "processingError",
            error,
            &mut followers,
            &mut requests,
            &mut Vec::new(),
        );
        assert_eq!(told(&mut rx), []);
        assert!(
            matches!(&followers["acc"].state, FollowState::Synchronizing { id: now, .. } if *now == id)
        );
    }

    #[test]
    fn a_synchronization_without_progress_is_started_again_and_a_finished_one_is_not() {
        let settings = StreamSettings::new("http://127.0.0.1:1", "t0k");
        let mut requests = HashMap::new();
        let later = |by: Duration| Instant::now() + settings.status_timeout + by;
        // Status packets keep the account heard; the synchronization itself never starts.
        let (mut followers, mut rx) = followed();
        authenticate(&settings, &mut followers, &mut requests);
        followers.get_mut("acc").expect("followed").heard = later(Duration::ZERO);
        due_work(
            &settings,
            &mut followers,
            "s",
            &mut requests,
            later(Duration::from_secs(1)),
        );
        let events = told(&mut rx);
        assert!(
            matches!(events.as_slice(), [StreamEvent::Disconnected { reason }] if reason.contains("no progress")),
            "{events:?}"
        );
        // A synchronization that finished is live: only silence restarts it.
        let (mut followers, mut rx) = followed();
        let id = authenticate(&settings, &mut followers, &mut requests);
        for (n, kind) in ["synchronizationStarted", "dealSynchronizationFinished"]
            .into_iter()
            .enumerate()
        {
            let packet = sync(
                kind,
                json!({"synchronizationId": id, "sequenceNumber": n, "sequenceTimestamp": 1}),
            );
            on_event(
                &settings,
                "synchronization",
                packet,
                &mut followers,
                &mut requests,
                &mut Vec::new(),
            );
        }
        assert_eq!(
            told(&mut rx),
            [
                StreamEvent::SynchronizationStarted,
                StreamEvent::Synchronized
            ]
        );
        followers.get_mut("acc").expect("followed").heard = later(Duration::ZERO);
        due_work(
            &settings,
            &mut followers,
            "s",
            &mut requests,
            later(Duration::from_secs(1)),
        );
        assert_eq!(told(&mut rx), []);
    }

    #[test]
    fn a_consumer_that_falls_behind_costs_a_synchronization_never_a_deal() {
        let settings = StreamSettings::new("http://127.0.0.1:1", "t0k");
        let (tx, mut rx) = mpsc::channel(EVENTS_KEPT);
        let told_before = "2026-12-04T10:00:00.000Z".parse().expect("time");
        let mut follower = Follower::new(tx, Some(told_before), None);
        follower.state = FollowState::Synchronizing {
            id: "s".into(),
            stalls: None,
        };
        for _ in 0..EVENTS_KEPT {
            follower.tell(StreamEvent::Synchronized);
        }
        // The consumer reads nothing: the next deal finds no room, and is forgotten.
        let deal = json!([{"id": "d1", "type": "DEAL_TYPE_BUY",
                           "time": "2026-12-04T10:00:05.000Z", "profit": 1.5}]);
        let deals = new_deals("acc", &deal, &mut follower);
        assert_eq!(deals.len(), 1);
        follower.tell(StreamEvent::Deals(deals));
        assert!(follower.overflowed);
        assert!(!follower.deals_seen.contains("d1"), "to be told again");
        assert_eq!(
            follower.deals_from,
            "2026-12-04T10:00:05.000Z".parse().ok(),
            "the next synchronization asks from it"
        );
        follower.tell(StreamEvent::Synchronized);
        let mut followers = HashMap::from([("acc".to_owned(), follower)]);
        let mut requests = HashMap::new();
        let now = Instant::now();
        assert!(
            due_work(&settings, &mut followers, "s1", &mut requests, now).is_empty(),
            "nothing while the consumer is behind"
        );
        assert_eq!(rx.len(), EVENTS_KEPT, "kept, not grown");

        // Once it has read half, the account is subscribed and synchronized again.
        for _ in 0..EVENTS_KEPT / 2 {
            rx.try_recv().expect("kept");
        }
        let mut frames = due_work(&settings, &mut followers, "s1", &mut requests, now);
        frames.extend(due_work(
            &settings,
            &mut followers,
            "s1",
            &mut requests,
            Instant::now(),
        ));
        assert_eq!(frames.len(), 1, "subscribed again: {frames:?}");
        let rest = told(&mut rx);
        assert_eq!(rest.len(), EVENTS_KEPT / 2 + 1);
        assert!(matches!(
            rest.last(),
            Some(StreamEvent::Disconnected { .. })
        ));
        let follower = followers.get_mut("acc").expect("followed");
        assert!(!follower.overflowed);
        assert_eq!(new_deals("acc", &deal, follower).len(), 1, "told once more");
    }

    #[test]
    fn a_new_synchronization_starts_from_the_last_deal_and_tells_no_deal_twice() {
        let settings = StreamSettings::new("http://127.0.0.1:1", "t0k");
        let (mut followers, mut rx) = followed();
        let mut requests = HashMap::new();
        let deal = |id: &str, time: &str| json!({"id": id, "type": "DEAL_TYPE_BUY", "time": time, "profit": 1.5});
        let deals = json!([
            deal("2", "2026-12-04T10:00:02.000Z"),
            deal("1", "2026-12-04T10:00:01.000Z")
        ]);
        let mut synchronize = |followers: &mut HashMap<String, Follower>| {
            let id = authenticate(&settings, followers, &mut requests);
            for (n, (kind, extra)) in [
                ("synchronizationStarted", json!({})),
                ("deals", json!({"deals": deals.clone()})),
                ("dealSynchronizationFinished", json!({})),
            ]
            .into_iter()
            .enumerate()
            {
                let mut packet = sync(kind, extra);
                packet["synchronizationId"] = id.clone().into();
                packet["sequenceNumber"] = n.into();
                packet["sequenceTimestamp"] = 1.into();
                on_event(
                    &settings,
                    "synchronization",
                    packet,
                    followers,
                    &mut requests,
                    &mut Vec::new(),
                );
            }
        };
        synchronize(&mut followers);
        let told_ids = |events: Vec<StreamEvent>| -> Vec<String> {
            events
                .into_iter()
                .flat_map(|e| match e {
                    StreamEvent::Deals(deals) => deals.into_iter().map(|d| d.id).collect(),
                    _ => Vec::new(),
                })
                .collect()
        };
        assert_eq!(told_ids(told(&mut rx)), ["1", "2"], "oldest first");
        // The stream breaks; the next synchronize asks from the newest deal held.
        followers
            .get_mut("acc")
            .expect("followed")
            .restart("test", Duration::ZERO);
        let frames = on_event(
            &settings,
            "synchronization",
            sync("authenticated", json!({})),
            &mut followers,
            &mut HashMap::new(),
            &mut Vec::new(),
        );
        let (_, request) = parse_event(&frames[0][1..]).expect("an event");
        assert_eq!(request["startingDealTime"], "2026-12-04T10:00:02.000Z");
        assert_eq!(
            request["startingHistoryOrderTime"],
            "2026-12-04T10:00:02.000Z"
        );
        // The same deals sent again by the new synchronization are not told again.
        told(&mut rx);
        synchronize(&mut followers);
        assert_eq!(told_ids(told(&mut rx)), Vec::<String>::new());
    }

    #[test]
    fn account_information_sent_as_an_array_then_prices_do_not_panic() {
        let (tx, mut rx) = mpsc::channel(EVENTS_KEPT);
        let mut follower = Follower::new(tx, None, None);
        // The fields of AccountInformation in declaration order, as serde reads a struct.
        let info = json!(["mt5", "B", "USD", "S", 100, 100, 0, 100]);
        apply(
            "acc",
            &json!({"type": "accountInformation", "accountInformation": info}),
            &mut follower,
        );
        apply(
            "acc",
            &json!({"type": "prices", "prices": [], "equity": 99, "margin": 1}),
            &mut follower,
        );
        let events = told(&mut rx);
        assert!(
            matches!(
                events.as_slice(),
                [
                    StreamEvent::AccountInformation(_),
                    StreamEvent::Prices { .. }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn retry_times_are_read_as_text_or_epoch_seconds() {
        let at = DateTime::from_timestamp_millis(1_796_399_342_933).expect("a time");
        assert_eq!(retry_time(&json!(iso(at))), Some(at));
        assert_eq!(retry_time(&json!(1_796_399_342.933)), Some(at));
        assert_eq!(retry_time(&json!(1e300)), None);
        assert_eq!(retry_time(&json!("soon")), None);
        assert_eq!(retry_time(&json!(null)), None);
    }

    #[test]
    fn requests_carry_the_envelope() {
        let frame = request_with("subscribe", "acc", "rid", json!({"sessionId": "s"}));
        let (name, data) = parse_event(&frame[1..]).expect("an event");
        assert_eq!(name, "request");
        assert_eq!(data["type"], "subscribe");
        assert_eq!(data["accountId"], "acc");
        assert_eq!(data["requestId"], "rid");
        assert_eq!(data["instanceIndex"], 0);
        assert_eq!(data["sessionId"], "s");
    }
}
