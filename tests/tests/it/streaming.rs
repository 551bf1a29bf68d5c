//! Riskdeck's MetaApi streaming connector (`broker::metaapi::streaming`) against the demo
//! broker's `/ws` over real sockets: what a synchronization yields equals the REST answers, and
//! every streaming fault knob is survived (reconnect, each deal once, refusal told), and a
//! socket sending garbage neither panics nor stops the other account on it.

use broker::metaapi::client::http_client;
use broker::metaapi::{MetaApiClient, StreamEvent, StreamSettings, StreamingPool, Subscription};
use chrono::{Duration as Days, Utc};
use demo::faults::{FaultMode, Faults};
use demo::{DemoBroker, DemoConfig, StreamConfig, serve};
use shared::domain::{AccountInfo, Deal, Position};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "str3am-t0ken";
/// Generous bounds that keep a regression from hanging the suite; no speed is asserted.
const WITHIN: Duration = Duration::from_secs(60);

async fn start_demo() -> (String, DemoBroker, CancellationToken) {
    let demo = DemoBroker::new(
        DemoConfig {
            token: TOKEN.into(),
            ..DemoConfig::default()
        },
        Utc::now() - Days::hours(2),
    )
    .with_stream_config(StreamConfig {
        ping_interval: Duration::from_millis(500),
        status_interval: Duration::from_millis(500),
        tick: Duration::from_millis(200),
        ..StreamConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let token = stop.clone();
    let broker = demo.clone();
    tokio::spawn(
        async move { serve(listener, broker, async move { token.cancelled().await }).await },
    );
    (base, demo, stop)
}

fn settings(base: &str) -> StreamSettings {
    StreamSettings {
        pong_timeout: Duration::from_secs(2),
        status_timeout: Duration::from_secs(3),
        gap_timeout: Duration::from_secs(2),
        max_backoff: Duration::from_secs(1),
        ..StreamSettings::new(base, TOKEN)
    }
}

/// The account as a follower folds its events.
#[derive(Default)]
struct Folded {
    info: Option<AccountInfo>,
    positions: Vec<Position>,
    deals: Vec<Deal>,
    synchronized: u32,
    disconnected: u32,
    refused: u32,
    prices: u32,
}

impl Folded {
    fn fold(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::AccountInformation(info) => self.info = Some(info),
            StreamEvent::Positions(positions) => self.positions = positions,
            StreamEvent::PositionsChanged { updated, removed } => {
                self.positions
                    .retain(|p| !removed.contains(&p.id) && !updated.iter().any(|u| u.id == p.id));
                self.positions.extend(updated);
            }
            StreamEvent::Deals(deals) => self.deals.extend(deals),
            StreamEvent::Synchronized => self.synchronized += 1,
            StreamEvent::Disconnected { .. } => self.disconnected += 1,
            StreamEvent::Refused { .. } => self.refused += 1,
            StreamEvent::Prices { .. } => self.prices += 1,
            StreamEvent::SynchronizationStarted | StreamEvent::Specifications(_) => {}
        }
    }

    /// Folds events until `done` holds.
    async fn until(&mut self, stream: &mut Subscription, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + WITHIN;
        while !done(self) {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(event)) => self.fold(event),
                Ok(None) => panic!("the subscription ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    fn assert_each_deal_once(&self) {
        let ids: HashSet<&str> = self.deals.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.len(), self.deals.len(), "a deal was told twice");
    }
}

#[tokio::test]
async fn a_synchronization_equals_the_rest_answers_and_live_packets_follow() {
    synchronization_equals_rest(false).await;
}

#[tokio::test]
async fn over_a_direct_websocket_a_synchronization_equals_the_rest_answers_too() {
    synchronization_equals_rest(true).await;
}

async fn synchronization_equals_rest(direct: bool) {
    let (base, demo, stop) = start_demo().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let settings = StreamSettings {
        direct,
        ..settings(&base)
    };
    let pool = StreamingPool::new(http.clone(), settings);
    let accounts: Vec<String> = demo
        .accounts()
        .iter()
        .take(2)
        .map(|a| a.id.clone())
        .collect();
    for account in &accounts {
        let mut stream = pool.subscribe(account, None, None);
        let mut folded = Folded::default();
        folded
            .until(&mut stream, "the synchronization", |f| f.synchronized > 0)
            .await;
        // The world is frozen meanwhile, so REST and stream describe the same instant.
        demo.set_faults(
            account,
            Faults {
                frozen: true,
                ..Faults::default()
            },
        )
        .expect("known account");
        let rest = MetaApiClient::new(http.clone(), &base, account, TOKEN).expect("client");
        let deals = rest
            .deals(Utc::now() - Days::days(30), Utc::now() + Days::minutes(1))
            .await
            .expect("deals");
        folded
            .until(&mut stream, "the stream to catch up", |f| {
                f.deals.len() >= deals.len()
            })
            .await;
        let streamed: HashSet<&str> = folded.deals.iter().map(|d| d.id.as_str()).collect();
        let read: HashSet<&str> = deals.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(streamed, read, "{account}: the deals");
        folded.assert_each_deal_once();
        // Live packets (prices with equity) keep coming after the synchronization.
        let prices = folded.prices;
        folded
            .until(&mut stream, "live packets", |f| f.prices > prices)
            .await;
        let info = rest.account_information().await.expect("information");
        let streamed_info = folded.info.clone().expect("account information");
        assert_eq!(
            streamed_info.balance, info.balance,
            "{account}: the balance"
        );
        assert_eq!(streamed_info.currency, info.currency);
        let mut positions: Vec<String> = rest
            .positions()
            .await
            .expect("positions")
            .into_iter()
            .map(|p| p.id)
            .collect();
        let mut streamed_positions: Vec<String> =
            folded.positions.iter().map(|p| p.id.clone()).collect();
        positions.sort();
        streamed_positions.sort();
        assert_eq!(streamed_positions, positions, "{account}: the positions");
        demo.set_faults(account, Faults::default())
            .expect("known account");
    }
    // Both accounts shared one socket.
    assert_eq!(pool.sockets(), 1);
    stop.cancel();
}

/// Turns `faults` on for the account, waits for the stream to break and synchronize again,
/// and checks no deal was told twice.
async fn survives(faults: Faults, broken: impl Fn(&Folded) -> bool, what: &str) {
    survives_over(false, faults, broken, what).await;
}

async fn survives_over(direct: bool, faults: Faults, broken: impl Fn(&Folded) -> bool, what: &str) {
    let (base, demo, stop) = start_demo().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let settings = StreamSettings {
        direct,
        ..settings(&base)
    };
    let pool = StreamingPool::new(http, settings);
    let account = demo.accounts()[0].id.clone();
    let mut stream = pool.subscribe(&account, None, None);
    let mut folded = Folded::default();
    folded
        .until(&mut stream, "the first synchronization", |f| {
            f.synchronized > 0
        })
        .await;
    demo.set_faults(&account, faults).expect("known account");
    folded.until(&mut stream, what, &broken).await;
    demo.set_faults(&account, Faults::default())
        .expect("known account");
    let before = folded.synchronized;
    folded
        .until(&mut stream, "a synchronization after the fault", |f| {
            f.synchronized > before
        })
        .await;
    folded.assert_each_deal_once();
    stop.cancel();
}

#[tokio::test]
async fn a_dropped_socket_is_opened_again() {
    let faults = Faults {
        stream_drop: FaultMode::Next(1),
        ..Faults::default()
    };
    survives(faults, |f| f.disconnected > 0, "the drop").await;
}

#[tokio::test]
async fn a_dropped_direct_websocket_is_opened_again() {
    let faults = Faults {
        stream_drop: FaultMode::Next(1),
        ..Faults::default()
    };
    survives_over(true, faults, |f| f.disconnected > 0, "the drop").await;
}

#[tokio::test]
async fn a_stalled_socket_is_noticed_and_opened_again() {
    let faults = Faults {
        stream_stall: FaultMode::Next(1),
        ..Faults::default()
    };
    survives(faults, |f| f.disconnected > 0, "the stall noticed").await;
}

#[tokio::test]
async fn a_disconnected_packet_is_followed_by_a_new_subscription() {
    let faults = Faults {
        stream_disconnected: FaultMode::Next(1),
        ..Faults::default()
    };
    survives(faults, |f| f.disconnected > 0, "the disconnection").await;
}

#[tokio::test]
async fn duplicate_and_reordered_packets_tell_each_deal_once() {
    let faults = Faults {
        stream_duplicates: FaultMode::Always,
        stream_out_of_order: FaultMode::Percent(50),
        stream_drop: FaultMode::Next(1),
        ..Faults::default()
    };
    survives(
        faults,
        |f| f.disconnected > 0,
        "a resynchronization under duplicates",
    )
    .await;
}

#[tokio::test]
async fn a_refused_subscription_is_told_and_tried_again() {
    let (base, demo, stop) = start_demo().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let pool = StreamingPool::new(http, settings(&base));
    let account = demo.accounts()[0].id.clone();
    demo.set_faults(
        &account,
        Faults {
            stream_refuse: FaultMode::Next(1),
            retry_after_secs: 1,
            ..Faults::default()
        },
    )
    .expect("known account");
    let mut stream = pool.subscribe(&account, None, None);
    let mut folded = Folded::default();
    folded
        .until(&mut stream, "the refusal, then a synchronization", |f| {
            f.refused > 0 && f.synchronized > 0
        })
        .await;
    stop.cancel();
}

/// A hand-made server that sends garbage on the socket between valid packets.
async fn garbage_server() -> String {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use axum::routing::any;
    use futures_util::StreamExt;
    async fn handler(
        ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let Ok(ws) = ws else {
            let open =
                r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":500,"pingTimeout":5000}"#;
            return wire::metaapi_streaming::encode_payload(&[open, "40"]).into_response();
        };
        ws.on_upgrade(|mut socket| async move {
            let sync = |account: &str, data: serde_json::Value| {
                let mut data = data;
                data["accountId"] = account.into();
                Message::text(wire::metaapi_streaming::event("synchronization", &data))
            };
            while let Some(Ok(Message::Text(text))) = socket.next().await {
                let text = text.as_str();
                if text == "2probe" {
                    let _ = socket.send(Message::text("3probe")).await;
                } else if text == "2" {
                    let _ = socket.send(Message::text("3")).await;
                    for junk in ["42[\"synchronization\",{\"type\":\"accountInformation\",\"accountId\":\"bad\",\"accountInformation\":{\"balance\":\"lots\"}}]", "42{not json", "9", "42[\"synchronization\",17]", "\u{0}"] {
                        let _ = socket.send(Message::text(junk)).await;
                    }
                } else if let Some((_, request)) = wire::metaapi_streaming::parse_event(&text[1..]) {
                    let account = request["accountId"].as_str().unwrap_or_default().to_owned();
                    match request["type"].as_str() {
                        Some("subscribe") => {
                            let _ = socket.send(sync(&account, serde_json::json!({"type": "authenticated", "host": "h", "replicas": 1}))).await;
                        }
                        Some("synchronize") => {
                            let id = request["requestId"].clone();
                            let info = serde_json::json!({"platform": "mt5", "broker": "B", "currency": "USD", "server": "S", "balance": 100.0, "equity": 100.0, "margin": 0.0, "freeMargin": 100.0, "leverage": 100, "marginLevel": null, "credit": 0, "name": "n", "login": 1});
                            let mut frames = vec![
                                serde_json::json!({"type": "synchronizationStarted", "synchronizationId": id}),
                                serde_json::json!({"type": "accountInformation", "synchronizationId": id, "accountInformation": if account == "bad" { serde_json::json!({"balance": "lots"}) } else { info }}),
                                serde_json::json!({"type": "positions", "synchronizationId": id, "positions": [{"id": 5}]}),
                                serde_json::json!({"type": "deals", "synchronizationId": id, "deals": [{"nonsense": true}]}),
                                serde_json::json!({"type": "whatever", "synchronizationId": id}),
                                serde_json::json!({"type": "dealSynchronizationFinished", "synchronizationId": id}),
                            ];
                            for frame in frames.drain(..) {
                                let _ = socket.send(sync(&account, frame)).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        })
    }
    let app = axum::Router::new()
        .route("/ws/", any(handler))
        .route("/ws", any(handler));
    tests::serve_router(app).await
}

#[tokio::test]
async fn garbage_on_the_socket_is_skipped_and_the_other_account_flows() {
    let base = garbage_server().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let pool = StreamingPool::new(http, settings(&base));
    let mut bad = pool.subscribe("bad", None, None);
    let mut good = pool.subscribe("good", None, None);
    let mut folded = Folded::default();
    folded
        .until(&mut good, "the good account's synchronization", |f| {
            f.synchronized > 0 && f.info.is_some()
        })
        .await;
    assert_eq!(
        folded.info.as_ref().map(|i| i.currency.as_str()),
        Some("USD")
    );
    assert!(folded.deals.is_empty() && folded.positions.is_empty());
    let mut bad_folded = Folded::default();
    bad_folded
        .until(&mut bad, "the bad account's synchronization", |f| {
            f.synchronized > 0
        })
        .await;
    assert!(
        bad_folded.info.is_none(),
        "malformed account information is skipped"
    );
    assert_eq!(pool.sockets(), 1);
}

/// Everything logged at any level on this thread (the current-thread runtime of a test runs
/// every task of the connector there) while it lives. A subscriber set for one thread would
/// miss events whose callsites other test threads registered first, so one global subscriber
/// asks each event's thread whether it captures.
struct CapturedLogs {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

impl CapturedLogs {
    fn start() -> Self {
        use tracing_subscriber::prelude::*;
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            // Dynamic: asked at every event, never cached per callsite.
            let capturing = tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
                CAPTURE.with(|sink| sink.borrow().is_some())
            });
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(|| Writer)
                .with_filter(capturing);
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("no other global subscriber in this test binary");
        });
        let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.with(|sink| *sink.borrow_mut() = Some(text.clone()));
        Self { text }
    }

    fn text(&self) -> String {
        let bytes = self.text.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for CapturedLogs {
    fn drop(&mut self) {
        CAPTURE.with(|sink| *sink.borrow_mut() = None);
    }
}

/// Writes into the capture of the thread that logs.
struct Writer;

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|sink| {
            if let Some(text) = sink.borrow().as_ref() {
                text.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_appears_in_the_logs_through_faults_refusals_and_dead_servers() {
    let logs = CapturedLogs::start();
    let (base, demo, stop) = start_demo().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let pool = StreamingPool::new(http.clone(), settings(&base));
    let account = demo.accounts()[0].id.clone();
    demo.set_faults(
        &account,
        Faults {
            stream_refuse: FaultMode::Next(1),
            retry_after_secs: 1,
            ..Faults::default()
        },
    )
    .expect("known account");
    let mut stream = pool.subscribe(&account, None, None);
    let mut folded = Folded::default();
    folded
        .until(&mut stream, "the refusal, then a synchronization", |f| {
            f.refused > 0 && f.synchronized > 0
        })
        .await;
    for faults in [
        Faults {
            stream_drop: FaultMode::Next(1),
            ..Faults::default()
        },
        Faults {
            stream_stall: FaultMode::Next(1),
            ..Faults::default()
        },
    ] {
        let (disconnected, synchronized) = (folded.disconnected, folded.synchronized);
        demo.set_faults(&account, faults).expect("known account");
        folded
            .until(&mut stream, "the fault noticed", |f| {
                f.disconnected > disconnected
            })
            .await;
        demo.set_faults(&account, Faults::default())
            .expect("known account");
        folded
            .until(&mut stream, "a synchronization after the fault", |f| {
                f.synchronized > synchronized
            })
            .await;
    }
    stop.cancel();
    // Nobody listens: opening the socket fails, and is logged, again and again.
    let dead = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let dead_pool = StreamingPool::new(http.clone(), settings(&dead));
    let mut unheard = dead_pool.subscribe("acc", None, None);
    let mut unheard_folded = Folded::default();
    unheard_folded
        .until(&mut unheard, "failed openings", |f| f.disconnected > 1)
        .await;
    // A server that shakes hands, then refuses the WebSocket upgrade quoting its address.
    let refusing = tests::serve_router(axum::Router::new().fallback(
        |uri: axum::http::Uri| async move {
            use axum::response::IntoResponse;
            if uri
                .query()
                .is_some_and(|q| q.contains("transport=websocket"))
            {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("bad request {uri}"),
                )
                    .into_response();
            }
            let open =
                r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":500,"pingTimeout":5000}"#;
            wire::metaapi_streaming::encode_payload(&[open, "40"]).into_response()
        },
    ))
    .await;
    let refused_pool = StreamingPool::new(http, settings(&refusing));
    let mut refused = refused_pool.subscribe("acc", None, None);
    let mut refused_folded = Folded::default();
    refused_folded
        .until(&mut refused, "failed openings", |f| f.disconnected > 1)
        .await;
    drop((stream, unheard, refused));
    let text = logs.text();
    assert!(
        text.contains("MetaApi stream socket closed"),
        "the connector's warnings are captured:\n{text}"
    );
    assert!(
        text.contains("hyper_util"),
        "the HTTP client's traces are captured too:\n{text}"
    );
    assert!(!text.contains(TOKEN), "the token was logged:\n{text}");
}

/// A hand-made server whose first WebSocket connection (every one when `everywhere`) is full:
/// it refuses to subscribe account `b` there with MetaApi's
/// `LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_SERVER`, asking for another connection. Every other
/// subscription is served with a short synchronization.
async fn server_full_on_its_first_connection(everywhere: bool) -> String {
    use axum::extract::ws::rejection::WebSocketUpgradeRejection;
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use axum::response::IntoResponse;
    use futures_util::StreamExt;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let connections = Arc::new(AtomicU32::new(0));
    let handler = move |ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>| {
        let connections = connections.clone();
        async move {
            let Ok(ws) = ws else {
                let open = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":500,"pingTimeout":5000}"#;
                return wire::metaapi_streaming::encode_payload(&[open, "40"]).into_response();
            };
            let first = connections.fetch_add(1, Ordering::SeqCst) == 0 || everywhere;
            ws.on_upgrade(move |mut socket| async move {
                let sync = |account: &str, mut data: serde_json::Value| {
                    data["accountId"] = account.into();
                    Message::text(wire::metaapi_streaming::event("synchronization", &data))
                };
                let mut subscribed: Vec<String> = Vec::new();
                while let Some(Ok(Message::Text(text))) = socket.next().await {
                    let text = text.as_str();
                    if text == "2probe" {
                        let _ = socket.send(Message::text("3probe")).await;
                        continue;
                    }
                    if text == "2" {
                        let _ = socket.send(Message::text("3")).await;
                        for account in &subscribed {
                            let _ = socket.send(sync(account, json!({"type": "status", "connected": true}))).await;
                        }
                        continue;
                    }
                    let Some((_, request)) = text.get(1..).and_then(wire::metaapi_streaming::parse_event) else {
                        continue;
                    };
                    let account = request["accountId"].as_str().unwrap_or_default().to_owned();
                    let id = request["requestId"].clone();
                    match request["type"].as_str() {
                        Some("subscribe") if first && account == "b" => {
                            let retry = (Utc::now() + Days::seconds(60)).to_rfc3339();
                            let error = json!({"id": 1, "error": "TooManyRequestsError", "requestId": id,
                                "message": "You can not subscribe to more accounts on this connection because server is out of capacity. Please establish a new connection with a different client-id header value",
                                "metadata": {"changeClientIdHeader": true, "recommendedRetryTime": retry,
                                             "type": "LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_SERVER"}});
                            let _ = socket.send(Message::text(wire::metaapi_streaming::event("processingError", &error))).await;
                        }
                        Some("subscribe") => {
                            subscribed.push(account.clone());
                            let _ = socket.send(sync(&account, json!({"type": "authenticated", "host": "h", "replicas": 1}))).await;
                        }
                        Some("synchronize") => {
                            let info = json!({"platform": "mt5", "broker": "B", "currency": "USD", "server": "S", "balance": 100.0, "equity": 100.0, "margin": 0.0, "freeMargin": 100.0, "leverage": 100, "marginLevel": null, "credit": 0, "name": "n", "login": 1});
                            let packets = [
                                json!({"type": "synchronizationStarted"}),
                                json!({"type": "accountInformation", "accountInformation": info}),
                                json!({"type": "dealSynchronizationFinished"}),
                            ];
                            for (n, mut packet) in packets.into_iter().enumerate() {
                                packet["synchronizationId"] = id.clone();
                                packet["sequenceNumber"] = n.into();
                                packet["sequenceTimestamp"] = 1.into();
                                let _ = socket.send(sync(&account, packet)).await;
                            }
                        }
                        _ => {}
                    }
                }
            })
        }
    };
    let app = axum::Router::new()
        .route("/ws/", axum::routing::any(handler.clone()))
        .route("/ws", axum::routing::any(handler));
    tests::serve_router(app).await
}

#[tokio::test]
async fn an_account_refused_by_a_full_server_connection_moves_to_another_socket() {
    let base = server_full_on_its_first_connection(false).await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let pool = StreamingPool::new(http, settings(&base));
    let synchronized = |f: &Folded| f.synchronized > 0;
    let mut a = pool.subscribe("a", None, None);
    let mut a_folded = Folded::default();
    a_folded.until(&mut a, "a synchronized", synchronized).await;
    let mut b = pool.subscribe("b", None, None);
    let mut b_folded = Folded::default();
    b_folded
        .until(&mut b, "b refused, then synchronized", |f| {
            f.refused > 0 && f.synchronized > 0
        })
        .await;
    assert_eq!(pool.sockets(), 2, "b moved to a new socket");
    // The full socket takes no new account; the new one does.
    let mut c = pool.subscribe("c", None, None);
    let mut c_folded = Folded::default();
    c_folded.until(&mut c, "c synchronized", synchronized).await;
    assert_eq!((c_folded.refused, pool.sockets()), (0, 2));
    // Meanwhile `a` kept its socket and its stream.
    while let Some(event) = a.try_next() {
        a_folded.fold(event);
    }
    assert_eq!((a_folded.disconnected, a_folded.refused), (0, 0));
}

/// Every account's summary, as an admin sees it.
async fn summaries(
    admin: &reqwest::Client,
    server: &tests::TestServer,
) -> Vec<shared::api::AccountSummary> {
    let Ok(response) = admin.get(server.url("/api/accounts")).send().await else {
        return Vec::new();
    };
    response
        .json::<shared::api::AccountsResponse>()
        .await
        .map(|r| r.accounts)
        .unwrap_or_default()
}

#[tokio::test]
async fn riskdeck_follows_accounts_over_the_stream_and_polls_while_it_is_refused() {
    use shared::api::{FeedStatus, FeedTransport, Transport};
    let (base, demo, stop) = start_demo().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = tests::demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.accounts =
        backend::config::AccountConfig::demo_accounts(&demo, &base, Transport::Streaming)
            .into_iter()
            .take(3)
            .collect();
    let server = tests::TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let on = |transport: FeedTransport| {
        move |all: &[shared::api::AccountSummary]| {
            all.len() == 3
                && all.iter().all(|s| {
                    s.transport == Some(transport)
                        && s.feed == FeedStatus::Live
                        && s.latest.is_some()
                })
        }
    };
    tests::eventually(WITHIN, "every account live on the stream", || async {
        let all = summaries(&admin, &server).await;
        on(FeedTransport::Streaming)(&all).then_some(())
    })
    .await
    .expect("streaming");
    // Once the stream is live, REST is only for reconciliation (every 10 minutes by default):
    // in a window where polling would read the account 15 times, it is not read at all, and
    // its numbers move all the same.
    let account = demo.accounts()[0].id.clone();
    let shown_time = || async {
        summaries(&admin, &server)
            .await
            .into_iter()
            .find(|s| s.id.as_str() == account)
            .and_then(|s| s.latest.map(|v| v.time))
    };
    let mut quiet = false;
    for _ in 0..20 {
        let (requests, moved) = (demo.faults(&account).requests, shown_time().await);
        tokio::time::sleep(Duration::from_secs(3)).await;
        if demo.faults(&account).requests == requests && shown_time().await > moved {
            quiet = true;
            break;
        }
    }
    assert!(
        quiet,
        "the streamed account kept being polled, or its numbers stood still"
    );

    // The broker refuses one account's stream: it is polled meanwhile, and says so.
    demo.set_faults(
        &account,
        Faults {
            stream_disconnected: FaultMode::Next(1),
            stream_refuse: FaultMode::Always,
            ..Faults::default()
        },
    )
    .expect("known account");
    let one = |transport: FeedTransport| {
        let account = account.clone();
        move |all: &[shared::api::AccountSummary]| {
            all.iter().any(|s| {
                s.id.as_str() == account
                    && s.transport == Some(transport)
                    && s.feed == FeedStatus::Live
            })
        }
    };
    tests::eventually(WITHIN, "the refused account polled over REST", || async {
        let all = summaries(&admin, &server).await;
        one(FeedTransport::RestFallback)(&all).then_some(())
    })
    .await
    .expect("fallback");
    // Polled, its numbers still move.
    let before = summaries(&admin, &server)
        .await
        .into_iter()
        .find(|s| s.id.as_str() == account)
        .and_then(|s| s.latest.map(|v| v.time));
    tests::eventually(WITHIN, "polled numbers", || async {
        let now = summaries(&admin, &server)
            .await
            .into_iter()
            .find(|s| s.id.as_str() == account)
            .and_then(|s| s.latest.map(|v| v.time));
        (now > before).then_some(())
    })
    .await
    .expect("polled");

    // Once the broker accepts the subscription again, the account streams again.
    demo.set_faults(&account, Faults::default())
        .expect("known account");
    tests::eventually(WITHIN, "the account back on the stream", || async {
        let all = summaries(&admin, &server).await;
        one(FeedTransport::Streaming)(&all).then_some(())
    })
    .await
    .expect("streaming again");
    stop.cancel();
}

#[tokio::test]
async fn a_server_full_everywhere_makes_the_account_wait_not_open_socket_after_socket() {
    let base = server_full_on_its_first_connection(true).await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let pool = StreamingPool::new(http, settings(&base));
    let mut b = pool.subscribe("b", None, None);
    let mut refusals = Vec::new();
    let deadline = tokio::time::Instant::now() + WITHIN;
    while refusals.len() < 2 {
        match tokio::time::timeout_at(deadline, b.next()).await {
            Ok(Some(StreamEvent::Refused { retry_after, .. })) => refusals.push(retry_after),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("two refusals expected, got {refusals:?}"),
        }
    }
    // Moved once at once; refused on the new socket too, it waits for the recommended time.
    assert_eq!(refusals[0], Duration::ZERO);
    assert!(refusals[1] > Duration::from_secs(30), "{refusals:?}");
    assert_eq!(pool.sockets(), 2);
}
