//! The demo broker's streaming face: MetaApi's streaming API (Engine.IO 3 / Socket.IO 2, as
//! metaapi-cloud-sdk 29.1.1 speaks it) at `/ws` and `/ws/`, over the same world the REST routes
//! read, so REST and stream agree.
//!
//! A client opens a session with a polling `GET` (`EIO=3`, `auth-token` in the query) and may
//! upgrade it to a WebSocket (`2probe`/`3probe`/`5`), or open a WebSocket directly; polling
//! `GET`/`POST` with the session id also work. It pings, the server answers. Over the session
//! it sends `request` events (`subscribe`, `synchronize`, `unsubscribe`, anything else is simply
//! answered), for any number of accounts, and receives `response`, `processingError` and
//! `synchronization` events: `authenticated` and `status` for a subscription, the
//! synchronization sequence for `synchronize`, then live `update` and `prices` packets at each
//! tick, numbered per account (`sequenceNumber`, `sequenceTimestamp`).
//!
//! The streaming fault knobs (`streamDrop`, `streamStall`, `streamDisconnected`,
//! `streamDuplicates`, `streamOutOfOrder`, `streamRefuse`) live with the others in
//! [`faults`](crate::faults). This module must not simulate anything: it reads the world and
//! reports what changed. It never logs the query string (it carries the token).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::DemoBroker;
use crate::faults::StreamFault;
use crate::server::{metaapi_value, visible_deals};
use crate::world::{WorldError, utc_millis};
use wire::metaapi_streaming::{
    ENGINE_IO_VERSION, MAX_PACKETS_PER_PAYLOAD, SOCKET_IO_CONNECT, StreamRequest, decode_payload,
    encode_payload, engine, event, parse_event,
};

/// The streaming server's timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Advertised to clients: how often they ping.
    pub ping_interval: Duration,
    /// Advertised to clients; a session silent for `ping_interval + ping_timeout` is closed.
    pub ping_timeout: Duration,
    /// How often a subscribed account gets a `status` packet (the SDK counts an account
    /// disconnected after 60 s without one).
    pub status_interval: Duration,
    /// How often live `update` and `prices` packets are computed (the world's step suits).
    pub tick: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(60),
            status_interval: Duration::from_secs(15),
            tick: Duration::from_secs(1),
        }
    }
}

/// The name of the simulated terminal host, constant for every subscription.
const HOST: &str = "ps-mpa-1";
/// Deals per `deals` packet of a synchronization.
const DEALS_PER_PACKET: usize = 500;
/// The largest polling `POST` body read.
const MAX_POST_BYTES: usize = 1 << 20;

/// Every open session, and the clock of `sequenceTimestamp`s.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    config: StreamConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    last_stamp: AtomicU64,
}

impl Hub {
    pub(crate) fn new(config: StreamConfig) -> Hub {
        Hub {
            config,
            ..Hub::default()
        }
    }

    /// Epoch milliseconds, strictly increasing over the server's life.
    fn stamp(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let previous = self
            .last_stamp
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }

    fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.lock().get(sid).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `/ws` and `/ws/`, outside the REST routes' `auth-token` header check (the token is in the
/// query here).
pub(crate) fn router(broker: DemoBroker) -> Router {
    Router::new()
        .route("/ws", any(endpoint))
        .route("/ws/", any(endpoint))
        .with_state(broker)
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn unknown_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"code": 1, "message": "Session ID unknown"})),
    )
        .into_response()
}

async fn endpoint(State(broker): State<DemoBroker>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let query: HashMap<String, String> =
        parts.uri.query().and_then(query_pairs).unwrap_or_default();
    if query.get("EIO").map(String::as_str) != Some(ENGINE_IO_VERSION) {
        return plain(StatusCode::BAD_REQUEST, "unsupported EIO version".into());
    }
    let hub = broker.hub();
    let sid = query.get("sid");
    let authorised = query.get("auth-token").map(String::as_str) == Some(broker.token());
    if query.get("transport").map(String::as_str) == Some("websocket") {
        let Ok(upgrade) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await else {
            return plain(StatusCode::BAD_REQUEST, "not a websocket request".into());
        };
        let session = match sid {
            Some(sid) => match hub.session(sid) {
                Some(session) => Upgrade::Probe(session),
                None => return unknown_session(),
            },
            None => Upgrade::Direct(Session::open(&broker, authorised)),
        };
        return upgrade.on_upgrade(move |socket| websocket(broker, session, socket));
    }
    match (sid, parts.method) {
        (None, Method::GET) => {
            let session = Session::open(&broker, authorised);
            plain(
                StatusCode::OK,
                encode_payload(&[
                    session.open_packet(&hub.config, true),
                    SOCKET_IO_CONNECT.into(),
                ]),
            )
        }
        (Some(sid), method) => {
            let Some(session) = hub.session(sid) else {
                return unknown_session();
            };
            session.heard();
            if method == Method::POST {
                let Ok(bytes) = axum::body::to_bytes(body, MAX_POST_BYTES).await else {
                    return plain(StatusCode::BAD_REQUEST, "body too large".into());
                };
                let Ok(packets) = decode_payload(&bytes) else {
                    return plain(StatusCode::BAD_REQUEST, "bad payload".into());
                };
                for packet in packets {
                    if !session.on_packet(&broker, &packet) {
                        session.close(&broker);
                    }
                }
                plain(StatusCode::OK, "ok".into())
            } else {
                poll(&session, hub.config.ping_interval).await
            }
        }
        (None, _) => plain(StatusCode::BAD_REQUEST, "no session".into()),
    }
}

/// The query's pairs, percent-decoded.
fn query_pairs(query: &str) -> Option<HashMap<String, String>> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{query}").parse().ok()?,
    )
    .ok()
    .map(|q| q.0)
}

/// A long poll: the packets waiting, up to the payload limit, or a `noop` after `wait`.
async fn poll(session: &Session, wait: Duration) -> Response {
    let mut outbox = session.outbox.lock().await;
    let mut packets = Vec::new();
    tokio::select! {
        first = outbox.recv() => packets.extend(first),
        () = tokio::time::sleep(wait) => {}
        () = session.closed.cancelled() => {}
    }
    while packets.len() < MAX_PACKETS_PER_PAYLOAD {
        match outbox.try_recv() {
            Ok(packet) => packets.push(packet),
            Err(_) => break,
        }
    }
    if packets.is_empty() {
        let quiet = if session.closed.is_cancelled() {
            engine::CLOSE
        } else {
            engine::NOOP
        };
        packets.push(quiet.to_string());
    }
    plain(StatusCode::OK, encode_payload(&packets))
}

enum Upgrade {
    /// An upgrade of a polling session: the probe exchange comes first.
    Probe(Arc<Session>),
    /// A new session opened over WebSocket.
    Direct(Arc<Session>),
}

async fn websocket(broker: DemoBroker, upgrade: Upgrade, mut socket: WebSocket) {
    let session = match upgrade {
        Upgrade::Probe(session) => {
            let probed = matches!(socket.recv().await, Some(Ok(Message::Text(t))) if t.as_str() == "2probe")
                && socket.send(Message::Text("3probe".into())).await.is_ok()
                && matches!(socket.recv().await, Some(Ok(Message::Text(t))) if t.as_str() == "5");
            if !probed {
                return;
            }
            session
        }
        Upgrade::Direct(session) => {
            let open = session.open_packet(&broker.hub().config, false);
            if socket.send(Message::Text(open.into())).await.is_err()
                || socket
                    .send(Message::Text(SOCKET_IO_CONNECT.into()))
                    .await
                    .is_err()
            {
                session.close(&broker);
                return;
            }
            session
        }
    };
    let (mut sink, mut incoming) = socket.split();
    let mut outbox = session.outbox.lock().await;
    loop {
        tokio::select! {
            () = session.closed.cancelled() => break,
            packet = outbox.recv() => match packet {
                Some(packet) => {
                    if sink.send(Message::Text(packet.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    session.heard();
                    if !session.on_packet(&broker, text.as_str()) {
                        break;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    drop(outbox);
    let _ = sink.close().await;
    session.close(&broker);
}

/// One account's subscription on a session.
#[derive(Debug)]
struct Subscription {
    /// After `synchronize`: what the client was last told.
    stream: Option<Stream>,
}

type SubscriptionKey = (String, u32);

/// What a synchronized subscription last sent, to send only what changed.
#[derive(Debug, Default)]
struct Stream {
    next_sequence: u64,
    info: Value,
    positions: BTreeMap<String, Value>,
    deals_from: DateTime<Utc>,
    deals_seen: HashSet<String>,
    prices: Value,
}

/// An account as the stream shows it, read from the world at one moment.
struct View {
    info: Value,
    positions: BTreeMap<String, Value>,
    deals: Vec<(String, Value)>,
    prices: Vec<Value>,
}

impl View {
    fn read(broker: &DemoBroker, account: &str, deals_from: DateTime<Utc>) -> Option<View> {
        let (info, positions, prices) = broker
            .with_current_world(|w, _| {
                let prices = w
                    .symbol_names()
                    .into_iter()
                    .map(|s| w.price(account, s))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, WorldError>((
                    w.account_information(account)?,
                    w.positions(account)?,
                    prices,
                ))
            })
            .ok()?;
        let deals = visible_deals(
            broker,
            account,
            deals_from,
            DateTime::<Utc>::MAX_UTC,
            0,
            usize::MAX,
        )
        .ok()?;
        Some(View {
            info: metaapi_value(&info)?,
            positions: positions
                .iter()
                .map(|p| Some((p.id.clone(), metaapi_value(p)?)))
                .collect::<Option<_>>()?,
            deals: deals
                .iter()
                .map(|d| Some((d.id.clone(), metaapi_value(d)?)))
                .collect::<Option<_>>()?,
            prices: prices.iter().map(metaapi_value).collect::<Option<_>>()?,
        })
    }
}

impl Stream {
    /// The synchronization sequence, in the order the SDK needs (spec section 4.3), each packet
    /// with its type and fields but without the common ones.
    fn synchronize(
        view: View,
        deals_from: DateTime<Utc>,
        specifications: Vec<Value>,
        id: &str,
    ) -> (Stream, Vec<Value>) {
        let mut packets = vec![
            json!({"type": "synchronizationStarted", "specificationsUpdated": true,
                   "positionsUpdated": true, "ordersUpdated": true}),
            json!({"type": "accountInformation", "accountInformation": view.info}),
            json!({"type": "specifications", "specifications": specifications, "removedSymbols": []}),
            json!({"type": "positions", "positions": view.positions.values().collect::<Vec<_>>()}),
            json!({"type": "orders", "orders": []}),
            json!({"type": "historyOrders", "historyOrders": []}),
        ];
        let deals: Vec<&Value> = view.deals.iter().map(|(_, d)| d).collect();
        if deals.is_empty() {
            packets.push(json!({"type": "deals", "deals": []}));
        }
        for chunk in deals.chunks(DEALS_PER_PACKET) {
            packets.push(json!({"type": "deals", "deals": chunk}));
        }
        packets.push(json!({"type": "orderSynchronizationFinished"}));
        packets.push(json!({"type": "dealSynchronizationFinished"}));
        for packet in &mut packets {
            packet["synchronizationId"] = id.into();
        }
        let stream = Stream {
            next_sequence: 0,
            info: view.info,
            positions: view.positions,
            deals_from,
            deals_seen: view.deals.into_iter().map(|(id, _)| id).collect(),
            prices: Value::Null,
        };
        (stream, packets)
    }

    /// The live packets that bring the client from what it was told to `view`: an `update`
    /// when account information, positions or deals changed, `prices` when quotes did.
    fn changes(&mut self, view: View) -> Vec<Value> {
        let mut update = serde_json::Map::new();
        if view.info != self.info {
            update.insert("accountInformation".into(), view.info.clone());
        }
        let updated: Vec<&Value> = view
            .positions
            .iter()
            .filter(|(id, p)| self.positions.get(*id) != Some(p))
            .map(|(_, p)| p)
            .collect();
        let removed: Vec<&String> = self
            .positions
            .keys()
            .filter(|id| !view.positions.contains_key(*id))
            .collect();
        let deals: Vec<&Value> = view
            .deals
            .iter()
            .filter(|(id, _)| !self.deals_seen.contains(id))
            .map(|(_, d)| d)
            .collect();
        if !updated.is_empty() || !removed.is_empty() {
            update.insert("updatedPositions".into(), json!(updated));
            update.insert("removedPositionIds".into(), json!(removed));
        }
        if !deals.is_empty() {
            update.insert("deals".into(), json!(deals));
        }
        let mut packets = Vec::new();
        if !update.is_empty() {
            update.insert("type".into(), "update".into());
            packets.push(Value::Object(update));
        }
        let prices = json!(view.prices);
        if prices != self.prices {
            let mut packet = json!({"type": "prices", "prices": prices});
            for field in ["equity", "margin", "freeMargin", "marginLevel"] {
                if let Some(value) = view.info.get(field) {
                    packet[field] = value.clone();
                }
            }
            packets.push(packet);
        }
        self.deals_seen
            .extend(view.deals.into_iter().map(|(id, _)| id));
        self.info = view.info;
        self.positions = view.positions;
        self.prices = prices;
        packets
    }
}

/// One Engine.IO session: its outgoing packets, its subscriptions, and whether it still lives.
#[derive(Debug)]
pub(crate) struct Session {
    sid: String,
    authorised: bool,
    outgoing: mpsc::UnboundedSender<String>,
    /// Taken by the transport in use (the WebSocket, or one long poll at a time).
    outbox: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    subscriptions: Mutex<HashMap<SubscriptionKey, Subscription>>,
    /// `streamStall`: nothing is sent and pings go unanswered until the client gives up.
    stalled: AtomicBool,
    closed: CancellationToken,
    last_heard: Mutex<Instant>,
}

impl Session {
    /// A new session, registered with the hub, with its live task running.
    fn open(broker: &DemoBroker, authorised: bool) -> Arc<Session> {
        let (outgoing, outbox) = mpsc::unbounded_channel();
        let sid = format!("{:020x}", fastrand::u128(..));
        let session = Arc::new(Session {
            sid: sid.clone(),
            authorised,
            outgoing,
            outbox: tokio::sync::Mutex::new(outbox),
            subscriptions: Mutex::new(HashMap::new()),
            stalled: AtomicBool::new(false),
            closed: CancellationToken::new(),
            last_heard: Mutex::new(Instant::now()),
        });
        broker.hub().lock().insert(sid, session.clone());
        tokio::spawn(live(broker.clone(), session.clone()));
        session
    }

    fn open_packet(&self, config: &StreamConfig, upgradable: bool) -> String {
        let upgrades: &[&str] = if upgradable { &["websocket"] } else { &[] };
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        format!(
            "{}{}",
            engine::OPEN,
            json!({
                "sid": self.sid,
                "upgrades": upgrades,
                "pingInterval": millis(config.ping_interval),
                "pingTimeout": millis(config.ping_timeout),
            })
        )
    }

    fn heard(&self) {
        *self
            .last_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn close(&self, broker: &DemoBroker) {
        self.closed.cancel();
        broker.hub().lock().remove(&self.sid);
    }

    fn subscriptions(&self) -> std::sync::MutexGuard<'_, HashMap<SubscriptionKey, Subscription>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, packet: String) {
        if !self.stalled.load(Ordering::SeqCst) {
            // The receiver lives as long as the session; a closed one has nobody to tell.
            let _ = self.outgoing.send(packet);
        }
    }

    fn emit(&self, name: &str, data: &Value) {
        self.send(event(name, data));
    }

    /// Handles one Engine.IO packet from the client; `false` when the client closes.
    fn on_packet(&self, broker: &DemoBroker, packet: &str) -> bool {
        let mut chars = packet.chars();
        match chars.next() {
            Some(engine::PING) => self.send(format!("{}{}", engine::PONG, chars.as_str())),
            Some(engine::CLOSE) => return false,
            Some(engine::MESSAGE) => {
                if let Some((name, data)) = parse_event(chars.as_str())
                    && name == "request"
                {
                    // The SDK's handlers also take a JSON string; take both ways.
                    let data = match data {
                        Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
                        other => other,
                    };
                    match serde_json::from_value::<StreamRequest>(data) {
                        Ok(request) => self.on_request(broker, &request),
                        Err(e) => tracing::debug!("streaming: unreadable request skipped: {e}"),
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn error(&self, request: &StreamRequest, error: &str, message: &str, metadata: Option<Value>) {
        let mut body = json!({"id": 1, "error": error, "message": message,
                              "requestId": request.request_id});
        if let Some(metadata) = metadata {
            body["metadata"] = metadata;
        }
        self.emit("processingError", &body);
    }

    fn respond(&self, request: &StreamRequest) {
        self.emit(
            "response",
            &json!({"type": "response", "accountId": request.account_id,
                    "requestId": request.request_id}),
        );
    }

    fn on_request(&self, broker: &DemoBroker, request: &StreamRequest) {
        if !self.authorised {
            return self.error(request, "UnauthorizedError", "wrong auth-token", None);
        }
        let account = request.account_id.as_str();
        if broker
            .with_current_world(|w, _| w.check_account(account))
            .is_err()
        {
            return self.error(
                request,
                "NotFoundError",
                &format!("account {account} not found"),
                None,
            );
        }
        let key = (account.to_owned(), request.instance_index);
        match request.request_type.as_str() {
            "subscribe" => {
                if broker.fault_book(|b| b.stream_fires(account, StreamFault::Refuse)) {
                    return self.refuse(broker, request);
                }
                self.respond(request);
                if request.instance_index != 0 {
                    // One replica: instance 1 is answered but never authenticated.
                    return;
                }
                self.subscriptions()
                    .entry(key)
                    .or_insert(Subscription { stream: None });
                let mut authenticated = json!({"type": "authenticated", "replicas": 1});
                if let Some(session) = &request.session_id {
                    authenticated["sessionId"] = session.as_str().into();
                }
                self.unsequenced(account, request.instance_index, authenticated);
                self.unsequenced(account, request.instance_index, status());
            }
            "synchronize" => {
                self.respond(request);
                let deals_from = request
                    .starting_deal_time
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.to_utc());
                let specifications = broker.with_current_world(|w, _| {
                    w.symbol_names()
                        .into_iter()
                        .filter_map(|s| w.specification(s).ok())
                        .filter_map(|s| metaapi_value(&s))
                        .collect::<Vec<_>>()
                });
                let Some(view) = View::read(broker, account, deals_from) else {
                    return;
                };
                let (mut stream, packets) =
                    Stream::synchronize(view, deals_from, specifications, &request.request_id);
                self.send_sequenced(
                    broker,
                    account,
                    request.instance_index,
                    &mut stream,
                    packets,
                );
                self.subscriptions().insert(
                    key,
                    Subscription {
                        stream: Some(stream),
                    },
                );
            }
            "unsubscribe" => {
                self.respond(request);
                self.subscriptions().remove(&key);
            }
            _ => self.respond(request),
        }
    }

    /// `streamRefuse`: the subscription limit MetaApi answers when a user has too many accounts
    /// on one server.
    fn refuse(&self, broker: &DemoBroker, request: &StreamRequest) {
        let wait = broker.faults(&request.account_id).faults.retry_after_secs;
        let retry = Utc::now() + TimeDelta::seconds(i64::try_from(wait).unwrap_or(1));
        self.error(
            request,
            "TooManyRequestsError",
            "demo fault: one user can connect to one server no more than 300 accounts",
            Some(json!({
                "maxAccountsPerUserPerServer": 300,
                "accountsCount": 300,
                "recommendedRetryTime": utc_millis(retry),
                "type": "LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_USER_PER_SERVER",
            })),
        );
    }

    fn unsequenced(&self, account: &str, instance_index: u32, mut packet: Value) {
        common_fields(&mut packet, account, instance_index);
        self.emit("synchronization", &packet);
    }

    /// Numbers `packets` in the account's stream and sends them, duplicated and swapped as the
    /// account's faults say.
    fn send_sequenced(
        &self,
        broker: &DemoBroker,
        account: &str,
        instance_index: u32,
        stream: &mut Stream,
        packets: Vec<Value>,
    ) {
        let hub = broker.hub();
        let mut frames = Vec::with_capacity(packets.len());
        for mut packet in packets {
            if packet["type"] == "synchronizationStarted" {
                stream.next_sequence = 0;
            }
            common_fields(&mut packet, account, instance_index);
            packet["sequenceNumber"] = stream.next_sequence.into();
            packet["sequenceTimestamp"] = hub.stamp().into();
            stream.next_sequence += 1;
            frames.push((
                packet["type"] == "synchronizationStarted",
                event("synchronization", &packet),
            ));
        }
        let mut i = 0;
        while i + 1 < frames.len() {
            let starts = frames[i].0 || frames[i + 1].0;
            if !starts && broker.fault_book(|b| b.stream_fires(account, StreamFault::OutOfOrder)) {
                frames.swap(i, i + 1);
                i += 2;
            } else {
                i += 1;
            }
        }
        for (_, frame) in frames {
            if broker.fault_book(|b| b.stream_fires(account, StreamFault::Duplicates)) {
                self.send(frame.clone());
            }
            self.send(frame);
        }
    }

    /// One live tick: faults, `status` when due, and what changed for each synchronized
    /// subscription.
    fn tick(&self, broker: &DemoBroker, status_due: bool) {
        let keys: Vec<SubscriptionKey> = self.subscriptions().keys().cloned().collect();
        for (account, instance_index) in keys {
            let streaming = self
                .subscriptions()
                .get(&(account.clone(), instance_index))
                .is_some_and(|s| s.stream.is_some());
            if streaming {
                let fires = |fault| broker.fault_book(|b| b.stream_fires(&account, fault));
                if fires(StreamFault::Drop) {
                    self.close(broker);
                    return;
                }
                if fires(StreamFault::Stall) {
                    self.stalled.store(true, Ordering::SeqCst);
                    return;
                }
                if fires(StreamFault::Disconnected) {
                    self.subscriptions()
                        .remove(&(account.clone(), instance_index));
                    self.unsequenced(&account, instance_index, json!({"type": "disconnected"}));
                    continue;
                }
            }
            if status_due {
                self.unsequenced(&account, instance_index, status());
            }
            let Some(mut stream) = self
                .subscriptions()
                .get_mut(&(account.clone(), instance_index))
                .and_then(|s| s.stream.take())
            else {
                continue;
            };
            if let Some(view) = View::read(broker, &account, stream.deals_from) {
                let packets = stream.changes(view);
                self.send_sequenced(broker, &account, instance_index, &mut stream, packets);
            }
            if let Some(subscription) = self
                .subscriptions()
                .get_mut(&(account.clone(), instance_index))
            {
                // An unsubscribe in between wins; otherwise the stream carries on.
                if subscription.stream.is_none() {
                    subscription.stream = Some(stream);
                }
            }
        }
    }
}

fn status() -> Value {
    json!({"type": "status", "connected": true, "authenticated": true,
           "healthStatus": {"rpcApiHealthy": true}, "replicas": 1})
}

fn common_fields(packet: &mut Value, account: &str, instance_index: u32) {
    packet["accountId"] = account.into();
    packet["instanceIndex"] = instance_index.into();
    packet["host"] = HOST.into();
    if packet["type"] == "status" {
        packet["connectionId"] = account.into();
    }
}

/// A session's live task: ticks, `status` when due, and the end of a silent session.
async fn live(broker: DemoBroker, session: Arc<Session>) {
    let config = broker.hub().config.clone();
    let mut ticks = tokio::time::interval(config.tick.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_status = Instant::now() + config.status_interval;
    loop {
        tokio::select! {
            () = session.closed.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let heard = *session
            .last_heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if heard.elapsed() > config.ping_interval + config.ping_timeout {
            session.close(&broker);
            return;
        }
        let status_due = Instant::now() >= next_status;
        if status_due {
            next_status = Instant::now() + config.status_interval;
        }
        session.tick(&broker, status_due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DemoConfig;
    use crate::faults::{FaultMode, Faults};

    const ACCOUNT: &str = "demo-gold-swing";

    /// A broker held still in time whose live task never ticks by itself: the tests tick by
    /// hand.
    fn broker() -> DemoBroker {
        let broker = DemoBroker::new(DemoConfig::default(), crate::history_start())
            .with_stream_config(StreamConfig {
                tick: Duration::from_secs(3_600),
                status_interval: Duration::from_secs(3_600),
                ..StreamConfig::default()
            });
        broker.pin_clock(Some(Utc::now()));
        broker
    }

    fn request(broker: &DemoBroker, session: &Session, request: Value) {
        assert!(session.on_packet(broker, &event("request", &request)));
    }

    /// The events sent so far, as (name, argument).
    fn sent(session: &Session) -> Vec<(String, Value)> {
        let mut outbox = session
            .outbox
            .try_lock()
            .expect("no transport holds the outbox");
        let mut events = Vec::new();
        while let Ok(packet) = outbox.try_recv() {
            let sio = packet.strip_prefix('4').expect("an Engine.IO message");
            events.push(parse_event(sio).expect("a Socket.IO event"));
        }
        events
    }

    fn types(events: &[(String, Value)]) -> Vec<String> {
        events
            .iter()
            .map(|(name, data)| match data["type"].as_str() {
                Some(kind) if name == "synchronization" => kind.to_owned(),
                _ => name.clone(),
            })
            .collect()
    }

    fn subscribe_and_synchronize(broker: &DemoBroker, session: &Session) -> Vec<(String, Value)> {
        request(
            broker,
            session,
            json!({"type": "subscribe", "accountId": ACCOUNT, "requestId": "s1",
                   "instanceIndex": 0, "sessionId": "abc"}),
        );
        request(
            broker,
            session,
            json!({"type": "synchronize", "accountId": ACCOUNT, "requestId": "sync1",
                   "instanceIndex": 0, "startingDealTime": "1970-01-02T03:46:40.000Z"}),
        );
        sent(session)
    }

    #[tokio::test]
    async fn subscribe_then_synchronize_streams_the_sequence_the_sdk_needs() {
        let broker = broker();
        let session = Session::open(&broker, true);
        let events = subscribe_and_synchronize(&broker, &session);
        assert_eq!(
            types(&events),
            [
                "response",
                "authenticated",
                "status",
                "response",
                "synchronizationStarted",
                "accountInformation",
                "specifications",
                "positions",
                "orders",
                "historyOrders",
                "deals",
                "orderSynchronizationFinished",
                "dealSynchronizationFinished",
            ]
        );
        assert_eq!(events[0].1["requestId"], "s1");
        assert_eq!(events[0].1["accountId"], ACCOUNT);
        let authenticated = &events[1].1;
        assert_eq!(authenticated["sessionId"], "abc");
        assert_eq!(authenticated["replicas"], 1);
        assert_eq!(authenticated["host"], HOST);
        assert!(authenticated.get("sequenceNumber").is_none());
        assert_eq!(events[2].1["connected"], true);

        let sync = &events[4..];
        let mut last_stamp = 0;
        for (n, (_, packet)) in sync.iter().enumerate() {
            assert_eq!(packet["synchronizationId"], "sync1", "{packet}");
            assert_eq!(packet["sequenceNumber"], n, "{packet}");
            let stamp = packet["sequenceTimestamp"].as_u64().expect("a number");
            assert!(stamp > last_stamp, "{packet}");
            last_stamp = stamp;
            assert_eq!(packet["instanceIndex"], 0);
        }
        // The same world as the REST answers, in MetaApi's number format.
        let (info, positions, deals) = broker.with_current_world(|w, _| {
            (
                w.account_information(ACCOUNT).expect("known"),
                w.positions(ACCOUNT).expect("known"),
                w.deals(
                    ACCOUNT,
                    DateTime::<Utc>::UNIX_EPOCH,
                    DateTime::<Utc>::MAX_UTC,
                    0,
                    usize::MAX,
                )
                .expect("known"),
            )
        });
        assert_eq!(
            sync[1].1["accountInformation"],
            metaapi_value(&info).expect("json")
        );
        assert!(sync[1].1["accountInformation"]["balance"].is_number());
        assert_eq!(
            sync[3].1["positions"],
            metaapi_value(&positions).expect("json")
        );
        assert_eq!(sync[6].1["deals"], metaapi_value(&deals).expect("json"));
        assert!(!deals.is_empty());
    }

    #[tokio::test]
    async fn live_ticks_send_what_changed_in_the_same_numbering() {
        let broker = broker();
        let session = Session::open(&broker, true);
        subscribe_and_synchronize(&broker, &session);
        session.tick(&broker, false);
        // The first tick sends the prices (with equity and margin); held still, nothing moves.
        let first = sent(&session);
        assert_eq!(types(&first), ["prices"]);
        assert_eq!(first[0].1["sequenceNumber"], 9);
        assert!(first[0].1["equity"].is_number() && first[0].1["freeMargin"].is_number());
        assert!(first[0].1.get("synchronizationId").is_none());
        session.tick(&broker, false);
        assert_eq!(sent(&session), []);

        broker
            .book_balance(ACCOUNT, rust_decimal::Decimal::from(1_000))
            .expect("known");
        session.tick(&broker, true);
        let events = sent(&session);
        assert_eq!(types(&events), ["status", "update"]);
        let update = &events[1].1;
        assert_eq!(update["sequenceNumber"], 10);
        let info = broker
            .with_current_world(|w, _| w.account_information(ACCOUNT))
            .expect("known");
        assert_eq!(
            update["accountInformation"],
            metaapi_value(&info).expect("json")
        );
        assert_eq!(update["deals"][0]["type"], "DEAL_TYPE_BALANCE");
        assert_eq!(update["deals"][0]["profit"], 1000);

        request(
            &broker,
            &session,
            json!({"type": "unsubscribe", "accountId": ACCOUNT,
                                          "requestId": "u1", "instanceIndex": 0}),
        );
        broker
            .book_balance(ACCOUNT, rust_decimal::Decimal::from(1))
            .expect("known");
        session.tick(&broker, true);
        assert_eq!(types(&sent(&session)), ["response"]);
    }

    #[tokio::test]
    async fn wrong_token_unknown_account_and_refusal_are_errors_the_sdk_reads() {
        let broker = broker();
        let stranger = Session::open(&broker, false);
        request(
            &broker,
            &stranger,
            json!({"type": "subscribe", "accountId": ACCOUNT, "requestId": "r"}),
        );
        let events = sent(&stranger);
        assert_eq!(types(&events), ["processingError"]);
        assert_eq!(events[0].1["error"], "UnauthorizedError");
        assert_eq!(events[0].1["requestId"], "r");

        let session = Session::open(&broker, true);
        request(
            &broker,
            &session,
            json!({"type": "subscribe", "accountId": "nope", "requestId": "r"}),
        );
        assert_eq!(sent(&session)[0].1["error"], "NotFoundError");

        broker
            .set_faults(
                ACCOUNT,
                Faults {
                    stream_refuse: FaultMode::Next(1),
                    retry_after_secs: 5,
                    ..Faults::default()
                },
            )
            .expect("known");
        let subscribe = json!({"type": "subscribe", "accountId": ACCOUNT, "requestId": "r2"});
        request(&broker, &session, subscribe.clone());
        let refused = sent(&session);
        assert_eq!(refused[0].1["error"], "TooManyRequestsError");
        let metadata = &refused[0].1["metadata"];
        assert_eq!(
            metadata["type"],
            "LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_USER_PER_SERVER"
        );
        let retry = metadata["recommendedRetryTime"].as_str().expect("a time");
        assert!(DateTime::parse_from_rfc3339(retry).expect("ISO 8601") > Utc::now());
        request(&broker, &session, subscribe);
        assert_eq!(
            types(&sent(&session)),
            ["response", "authenticated", "status"]
        );
        // Other requests, and anything unreadable, are answered or skipped, never fatal.
        request(
            &broker,
            &session,
            json!({"type": "waitSynchronized", "accountId": ACCOUNT, "requestId": "w"}),
        );
        assert_eq!(types(&sent(&session)), ["response"]);
        for junk in [
            "42[\"request\",7]",
            "4garbage",
            "9",
            "",
            "42[\"request\",\"{\"]",
        ] {
            assert!(session.on_packet(&broker, junk), "{junk}");
        }
        assert!(session.on_packet(&broker, "2"));
        assert_eq!(
            session
                .outbox
                .try_lock()
                .expect("free")
                .try_recv()
                .ok()
                .as_deref(),
            Some("3")
        );
        assert!(!session.on_packet(&broker, "1"));
    }

    #[tokio::test]
    async fn duplicate_out_of_order_disconnected_stall_and_drop_knobs() {
        let broker = broker();
        let session = Session::open(&broker, true);
        broker
            .set_faults(
                ACCOUNT,
                Faults {
                    stream_duplicates: FaultMode::Always,
                    stream_out_of_order: FaultMode::Next(1),
                    ..Faults::default()
                },
            )
            .expect("known");
        let events = subscribe_and_synchronize(&broker, &session);
        let numbers: Vec<u64> = events[4..]
            .iter()
            .map(|(_, p)| p["sequenceNumber"].as_u64().expect("numbered"))
            .collect();
        // synchronizationStarted stays first; the next two swap; each is sent twice.
        assert_eq!(
            numbers,
            [0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]
        );

        broker
            .set_faults(
                ACCOUNT,
                Faults {
                    stream_disconnected: FaultMode::Next(1),
                    ..Faults::default()
                },
            )
            .expect("known");
        session.tick(&broker, false);
        assert_eq!(types(&sent(&session)), ["disconnected"]);
        session.tick(&broker, true);
        assert_eq!(sent(&session), [], "nothing until subscribed again");

        subscribe_and_synchronize(&broker, &session);
        broker
            .set_faults(
                ACCOUNT,
                Faults {
                    stream_stall: FaultMode::Next(1),
                    ..Faults::default()
                },
            )
            .expect("known");
        session.tick(&broker, true);
        assert!(session.on_packet(&broker, "2"));
        assert_eq!(
            sent(&session),
            [],
            "a stalled socket says nothing, not even pong"
        );

        let other = Session::open(&broker, true);
        subscribe_and_synchronize(&broker, &other);
        broker
            .set_faults(
                ACCOUNT,
                Faults {
                    stream_drop: FaultMode::Next(1),
                    ..Faults::default()
                },
            )
            .expect("known");
        other.tick(&broker, false);
        assert!(other.closed.is_cancelled());
        assert!(broker.hub().session(&other.sid).is_none());
    }
}
