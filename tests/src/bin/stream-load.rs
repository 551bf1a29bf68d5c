//! Streaming load harness (a program, not a test): Riskdeck following N MetaApi accounts over
//! MetaApi's streaming API, each sending a `prices` packet (with equity and margin) every
//! `1 / --price-hz` seconds.
//!
//! ```text
//! cargo run --release -p tests --bin stream-load -- --accounts 10000 --warmup 40 --seconds 30
//! ```
//!
//! The broker runs in a child process (this program started with `broker`): a lean MetaApi
//! server speaking the streaming protocol as MetaApi's SDK does (polling handshake, WebSocket
//! upgrade, `subscribe`, `synchronize`, `prices`, `status`) and the REST endpoints Riskdeck
//! onboards and reconciles with, counting REST requests. Riskdeck runs in this process
//! (`backend::start`, SQLite file), so the CPU and memory measured are Riskdeck's alone. After
//! a warm-up that ends when every account is onboarded and streaming (at most `--warmup`
//! seconds; the time it took is printed), the harness measures for
//! `--seconds`:
//! - packets applied per second (every `prices` packet is folded; the engine is fed at the rate
//!   they come, several waiting packets at once) and CPU cores used;
//! - resident memory per account;
//! - latency from the broker sending a packet whose equity is under the account's daily floor
//!   (time stamped by the broker just before it writes the frame) to the engine's breach
//!   reaching the hub (what every SSE stream is sent from);
//! - REST requests per account per hour while streaming, against polling's.
//!
//! Options: `--accounts N` (1000), `--seconds S` (30), `--warmup S` (30), `--price-hz H` (1).

use backend::config::{AccountConfig, ChallengeSetup, Config};
use shared::api::FeedTransport;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("broker") {
        let hz: f64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1.0);
        return runtime.block_on(broker::serve(hz));
    }
    let options = Options::parse(&args)?;
    runtime.block_on(run(options))
}

struct Options {
    accounts: usize,
    seconds: u64,
    warmup: u64,
    price_hz: f64,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options {
            accounts: 1000,
            seconds: 30,
            warmup: 30,
            price_hz: 1.0,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            match flag.as_str() {
                "--accounts" => options.accounts = value.parse()?,
                "--seconds" => options.seconds = value.parse()?,
                "--warmup" => options.warmup = value.parse()?,
                "--price-hz" => options.price_hz = value.parse()?,
                _ => anyhow::bail!("unknown option {flag}"),
            }
        }
        anyhow::ensure!(
            options.price_hz > 0.0 && options.price_hz <= 50.0,
            "--price-hz must be in (0, 50]"
        );
        Ok(options)
    }
}

use tests::load::{HubWatch, cpu_time, percentile, rss, unix_ms};

async fn counter(base: &str, http: &reqwest::Client, what: &str) -> u64 {
    let Ok(response) = http.get(format!("{base}/control/{what}")).send().await else {
        return 0;
    };
    response
        .text()
        .await
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

async fn run(options: Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["broker", &options.price_hz.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no broker stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line.trim().to_owned();
    anyhow::ensure!(base.starts_with("http://"), "the broker said {base:?}");

    let dir = tempfile::tempdir()?;
    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("load.db").display()),
        journal_dir: None,
        poll_interval: Duration::from_secs(1),
        stale_after: Duration::from_secs(10),
        max_concurrent_polls: 64,
        demo: false,
        accounts: (0..options.accounts)
            .map(|i| AccountConfig {
                id: format!("load-{i}"),
                name: format!("Load {i}"),
                base_url: base.clone(),
                metaapi_account_id: format!("load-{i}"),
                token: "load".into(),
                poll_interval: None,
                trader: None,
                region: None,
                ingest_token: None,
                ctrader: None,
                transport: Some(shared::api::Transport::Streaming),
                challenge: Some(ChallengeSetup {
                    preset: "ftmo-2step".into(),
                    initial_balance: 100_000.into(),
                    estimated_equity_breaches: false,
                    program: None,
                }),
            })
            .collect(),
        ..Config::default()
    };
    let rss_before = rss();
    let shutdown = CancellationToken::new();
    let started = backend::start(&config, shutdown.clone()).await?;
    let hub = started.state.hub.clone();

    let watch = HubWatch::start(&hub);

    eprintln!(
        "following {} accounts over the stream; warming up until all stream (at most {} s)",
        options.accounts, options.warmup
    );
    // The warm-up ends when every account streams (onboarded from REST, subscribed,
    // synchronized, a first packet applied), or after `--warmup` seconds.
    let warming = Instant::now();
    let count_streaming = || {
        hub.summaries()
            .iter()
            .filter(|s| s.transport == Some(FeedTransport::Streaming) && s.latest.is_some())
            .count()
    };
    let mut streaming = 0;
    while warming.elapsed() < Duration::from_secs(options.warmup) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        streaming = count_streaming();
        if streaming == options.accounts {
            break;
        }
    }
    let onboarded_in = warming.elapsed();
    let rss_after = rss();

    let http = reqwest::Client::new();
    let mut drops: Vec<(String, u64)> = Vec::new();
    let views_start = watch.views();
    let packets_start = counter(&base, &http, "packets").await;
    let rest_start = counter(&base, &http, "rest").await;
    let cpu_start = cpu_time();
    let wall = Instant::now();
    let window = Duration::from_secs(options.seconds);
    let mut next = 0usize;
    while wall.elapsed() < window {
        // Every 500 ms one more account's equity falls under its daily floor, in a packet the
        // broker sends at once.
        let id = format!("load-{}", (next * 7919) % options.accounts);
        next += 1;
        if let Ok(response) = http.post(format!("{base}/control/drop/{id}")).send().await
            && let Ok(text) = response.text().await
            && let Ok(at) = text.trim().parse::<u64>()
        {
            drops.push((id, at));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = wall.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    let applied = watch.views() - views_start;
    let packets = counter(&base, &http, "packets")
        .await
        .saturating_sub(packets_start);
    let rest = counter(&base, &http, "rest")
        .await
        .saturating_sub(rest_start);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let latencies = watch.breach_latencies(&drops);

    shutdown.cancel();
    started.join().await;
    let _ = child.kill();
    let _ = child.wait();
    let stored = tests::load::stored_summary(&config.database_url).await?;

    let seconds = elapsed.as_secs_f64();
    let cores = cpu.as_secs_f64() / seconds;
    let hours = seconds / 3600.0;
    println!("accounts                 {}", options.accounts);
    println!(
        "streaming after warm-up  {streaming} of {} ({:.0} s)",
        options.accounts,
        onboarded_in.as_secs_f64()
    );
    println!("window                   {seconds:.1} s");
    println!(
        "packets sent per second  {:.0} (prices at {} Hz per account)",
        packets as f64 / seconds,
        options.price_hz
    );
    println!(
        "views published per sec  {:.0} (every packet folded; waiting ones fed together)",
        applied as f64 / seconds
    );
    println!("CPU cores used           {cores:.2}");
    println!(
        "memory per account       {:.1} KiB (RSS {:.0} MiB after warm-up)",
        rss_after.saturating_sub(rss_before) as f64 / 1024.0 / options.accounts as f64,
        rss_after as f64 / 1024.0 / 1024.0
    );
    println!(
        "packet to breach latency p50 {} ms, p99 {} ms, max {} ms ({} of {} breaches seen)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len(),
        drops.len()
    );
    println!(
        "REST requests            {:.1} per account per hour while streaming (polling every \
         second: 10800, three reads a poll)",
        rest as f64 / options.accounts as f64 / hours
    );
    println!("hub events lagged        {}", watch.lagged());
    println!("stored                   {stored}");
    Ok(())
}

/// The broker child: accounts `load-<i>` at 100,000 balance and equity, no positions and no
/// deals, over REST and MetaApi's streaming API; `POST /control/drop/{id}` sends the account a
/// `prices` packet with equity 94,000 (under the FTMO daily floor) at once and answers the Unix
/// milliseconds just before it was written; `/control/packets` and `/control/rest` count.
mod broker {
    use axum::Router;
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::{Path, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{any, get, post};
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;
    use tokio::sync::{mpsc, oneshot};
    use wire::metaapi_streaming::{encode_payload, event, parse_event};

    #[derive(Clone)]
    struct Broker {
        hz: f64,
        packets: Arc<AtomicU64>,
        rest: Arc<AtomicU64>,
        /// Which socket follows each account (a channel to its writer).
        sockets: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Out>>>>,
    }

    enum Out {
        Drop(String, oneshot::Sender<u64>),
    }

    const INFO_EQUITY: i64 = 100_000;

    fn info(equity: i64) -> Value {
        json!({
            "platform": "mt5", "broker": "Load", "currency": "USD", "server": "Load-1",
            "balance": 100_000, "equity": equity, "margin": 0, "freeMargin": equity,
            "leverage": 100, "credit": 0, "name": "Load", "login": 1
        })
    }

    pub async fn serve(hz: f64) -> anyhow::Result<()> {
        let broker = Broker {
            hz,
            packets: Arc::default(),
            rest: Arc::default(),
            sockets: Arc::default(),
        };
        let app =
            Router::new()
                .route(
                    "/users/current/accounts/{id}/account-information",
                    get(|State(b): State<Broker>| async move {
                        b.rest.fetch_add(1, Ordering::Relaxed);
                        axum::Json(info(INFO_EQUITY))
                    }),
                )
                .route(
                    "/users/current/accounts/{id}/positions",
                    get(|State(b): State<Broker>| async move {
                        b.rest.fetch_add(1, Ordering::Relaxed);
                        axum::Json(json!([]))
                    }),
                )
                .route(
                    "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
                    get(|State(b): State<Broker>| async move {
                        b.rest.fetch_add(1, Ordering::Relaxed);
                        axum::Json(json!([]))
                    }),
                )
                .route("/ws", any(ws))
                .route("/ws/", any(ws))
                .route("/control/drop/{id}", post(drop_equity))
                .route(
                    "/control/packets",
                    get(|State(b): State<Broker>| async move {
                        b.packets.load(Ordering::Relaxed).to_string()
                    }),
                )
                .route(
                    "/control/rest",
                    get(|State(b): State<Broker>| async move {
                        b.rest.load(Ordering::Relaxed).to_string()
                    }),
                )
                .with_state(broker);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }

    async fn drop_equity(State(broker): State<Broker>, Path(id): Path<String>) -> String {
        let socket = broker
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        let (tx, rx) = oneshot::channel();
        if let Some(socket) = socket
            && socket.send(Out::Drop(id, tx)).is_ok()
            && let Ok(at) = rx.await
        {
            return at.to_string();
        }
        "not streaming".to_owned()
    }

    async fn ws(
        State(broker): State<Broker>,
        upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    ) -> Response {
        let Ok(upgrade) = upgrade else {
            let open = r#"0{"sid":"load","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":60000}"#;
            return encode_payload(&[open, "40"]).into_response();
        };
        upgrade.on_upgrade(move |socket| follow(broker, socket))
    }

    fn synchronization(account: &str, mut data: Value) -> Message {
        data["accountId"] = account.into();
        data["instanceIndex"] = 0.into();
        data["host"] = "load-1".into();
        Message::text(event("synchronization", &data))
    }

    fn prices(account: &str, equity: i64) -> Message {
        synchronization(
            account,
            json!({"type": "prices", "prices": [], "equity": equity, "margin": 0,
                   "freeMargin": equity}),
        )
    }

    /// One socket: answers pings and requests, and sends every synchronized account a
    /// `prices` packet at the broker's rate and a `status` every 15 s.
    async fn follow(broker: Broker, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut out) = mpsc::unbounded_channel();
        let mut accounts: Vec<(String, i64)> = Vec::new();
        let mut prices_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / broker.hz));
        let mut status_tick = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(Ok(Message::Text(text))) = message else { break };
                    let text = text.as_str();
                    let reply: Vec<Message> = if text == "2probe" {
                        vec![Message::text("3probe")]
                    } else if text == "2" {
                        vec![Message::text("3")]
                    } else if let Some((_, request)) = text.strip_prefix('4').and_then(parse_event) {
                        let account = request["accountId"].as_str().unwrap_or_default().to_owned();
                        match request["type"].as_str() {
                            Some("subscribe") => {
                                broker.sockets.lock().unwrap_or_else(PoisonError::into_inner)
                                    .insert(account.clone(), tx.clone());
                                vec![synchronization(&account, json!({"type": "authenticated", "replicas": 1}))]
                            }
                            Some("synchronize") => {
                                let id = request["requestId"].clone();
                                if !accounts.iter().any(|(a, _)| *a == account) {
                                    accounts.push((account.clone(), INFO_EQUITY));
                                }
                                ["synchronizationStarted", "accountInformation", "positions",
                                 "orderSynchronizationFinished", "dealSynchronizationFinished"]
                                    .iter()
                                    .map(|kind| {
                                        let mut data = json!({"type": kind, "synchronizationId": id});
                                        match *kind {
                                            "accountInformation" => data["accountInformation"] = info(INFO_EQUITY),
                                            "positions" => data["positions"] = json!([]),
                                            _ => {}
                                        }
                                        synchronization(&account, data)
                                    })
                                    .collect()
                            }
                            _ => Vec::new(),
                        }
                    } else {
                        Vec::new()
                    };
                    for message in reply {
                        if sink.send(message).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Out::Drop(account, answer)) = out.recv() => {
                    if let Some(entry) = accounts.iter_mut().find(|(a, _)| *a == account) {
                        entry.1 = 94_000;
                    }
                    let at = super::unix_ms();
                    broker.packets.fetch_add(1, Ordering::Relaxed);
                    if sink.send(prices(&account, 94_000)).await.is_err() {
                        return;
                    }
                    let _ = answer.send(at);
                }
                _ = prices_tick.tick() => {
                    for (account, equity) in &accounts {
                        broker.packets.fetch_add(1, Ordering::Relaxed);
                        if sink.feed(prices(account, *equity)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                _ = status_tick.tick() => {
                    for (account, _) in &accounts {
                        let status = json!({"type": "status", "connected": true, "authenticated": true});
                        if sink.feed(synchronization(account, status)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
