//! cTrader load harness (a program, not a test): Riskdeck following N cTrader accounts of one
//! application, all on one shared connection (and its standby), by spot and execution events.
//!
//! ```text
//! cargo run --release -p tests --bin ctrader-load -- --accounts 1000 --seconds 60
//! ```
//!
//! The broker runs in a child process (this program started with `broker`): a lean cTrader
//! Open API server over its JSON WebSocket protocol that keeps Spotware's per-connection limits
//! (50 requests a second, 5 of them historical; past them it answers
//! `REQUEST_FREQUENCY_EXCEEDED`). Each account `ctid = i + 1` has a 100,000 USD deposit and two
//! open positions of one lot: EURUSD, which every account holds, and a symbol of its own
//! (`OWN<ctid>`). All accounts are one broker's, so EURUSD's quotes are shared: a spot event
//! `--spot-hz` times a second to each subscription to it (Riskdeck takes one). Every
//! `--exec-every` seconds one account in turn gets an execution event (a 1 USD deposit).
//! Riskdeck runs in this process (`backend::start`, SQLite file).
//!
//! It measures: the time until every account is live, onboarding included, and the requests it
//! took by kind (historical ones against the 5 a second limit) with the refusals the server
//! gave; then, for `--seconds`: spot and execution events sent and views published per second,
//! CPU cores used, memory per account, the latency from the broker sending a spot event of an
//! account's own symbol that takes its equity under its daily floor to the engine's breach
//! reaching the hub (what every browser's SSE stream is sent from), and whether every deposit
//! reached its account's balance; and the connections and spot subscriptions the server
//! served.
//!
//! Options: `--accounts N` (1000), `--seconds S` (60), `--spot-hz H` (2), `--exec-every S` (0.2).

use backend::config::{AccountConfig, ChallengeSetup, Config, CtraderAccount};
use shared::api::FeedStatus;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tests::load::{HubWatch, cpu_time, percentile, rss, unix_ms};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("broker") {
        let number = |i: usize, default: f64| {
            args.get(i)
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(default)
        };
        return runtime.block_on(lean::serve(number(1, 2.0), number(2, 0.2)));
    }
    let options = Options::parse(&args)?;
    // RUST_LOG=backend=debug,broker=debug shows what Riskdeck does (on stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    runtime.block_on(run(options))
}

struct Options {
    accounts: usize,
    seconds: u64,
    spot_hz: f64,
    exec_every: f64,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options {
            accounts: 1000,
            seconds: 60,
            spot_hz: 2.0,
            exec_every: 0.2,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            match flag.as_str() {
                "--accounts" => options.accounts = value.parse()?,
                "--seconds" => options.seconds = value.parse()?,
                "--spot-hz" => options.spot_hz = value.parse()?,
                "--exec-every" => options.exec_every = value.parse()?,
                _ => anyhow::bail!("unknown option {flag}"),
            }
        }
        anyhow::ensure!(
            options.spot_hz > 0.0 && options.spot_hz <= 10.0,
            "--spot-hz must be in (0, 10]"
        );
        anyhow::ensure!(
            options.exec_every >= 0.01,
            "--exec-every must be at least 0.01"
        );
        Ok(options)
    }
}

async fn control(base: &str, http: &reqwest::Client, what: &str) -> String {
    let Ok(response) = http.get(format!("{base}/control/{what}")).send().await else {
        return String::new();
    };
    response.text().await.unwrap_or_default()
}

async fn counter(base: &str, http: &reqwest::Client, what: &str) -> u64 {
    control(base, http, what).await.trim().parse().unwrap_or(0)
}

async fn run(options: Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "broker",
            &options.spot_hz.to_string(),
            &options.exec_every.to_string(),
        ])
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
    let ws = base.replacen("http://", "ws://", 1) + "/";

    let dir = tempfile::tempdir()?;
    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("load.db").display()),
        journal_dir: None,
        poll_interval: Duration::from_secs(1),
        stale_after: Duration::from_secs(30),
        max_concurrent_polls: 64,
        demo: false,
        accounts: (0..options.accounts)
            .map(|i| AccountConfig {
                id: format!("load-{i}"),
                name: format!("Load {i}"),
                base_url: String::new(),
                metaapi_account_id: String::new(),
                token: String::new(),
                poll_interval: None,
                trader: None,
                region: None,
                ingest_token: None,
                ctrader: Some(CtraderAccount {
                    url: ws.clone(),
                    client_id: "load-app".into(),
                    client_secret: "load-secret".into(),
                    access_token: "load-token".into(),
                    refresh_token: None,
                    account_id: i64::try_from(i).unwrap_or(0) + 1,
                    refreshed: None,
                }),
                transport: None,
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
    let onboarding = Instant::now();
    let started = backend::start(&config, shutdown.clone()).await?;
    let hub = started.state.hub.clone();

    let watch = HubWatch::start(&hub);

    eprintln!(
        "onboarding {} cTrader accounts on one connection",
        options.accounts
    );
    let live = || {
        hub.summaries()
            .iter()
            .filter(|s| s.feed == FeedStatus::Live && s.latest.is_some())
            .count()
    };
    // Live, and onboarded: the broker has been asked no historical request for three seconds
    // (the last streams have caught up from their history).
    let http = reqwest::Client::new();
    let mut shown = Instant::now();
    let mut history = (counter(&base, &http, "history").await, Instant::now());
    loop {
        let now = counter(&base, &http, "history").await;
        if now != history.0 {
            history = (now, Instant::now());
        }
        if live() == options.accounts && history.1.elapsed() >= Duration::from_secs(3) {
            break;
        }
        if shown.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "{} of {} live after {:.0} s",
                live(),
                options.accounts,
                onboarding.elapsed().as_secs_f64()
            );
            shown = Instant::now();
        }
        if onboarding.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("not every account went live within an hour");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let onboarded = onboarding.elapsed() - Duration::from_secs(3);
    let requests_onboarding = control(&base, &http, "requests").await;
    // The streams settle (the last accounts' first quotes) before the window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss();

    let mut drops: Vec<(String, u64)> = Vec::new();
    let views_start = watch.views();
    let spots_start = counter(&base, &http, "spots").await;
    let executions_start = counter(&base, &http, "executions").await;
    let requests_start = counter(&base, &http, "total").await;
    let cpu_start = cpu_time();
    let wall = Instant::now();
    let window = Duration::from_secs(options.seconds);
    let mut next = 0usize;
    while wall.elapsed() < window {
        // Every 500 ms one more account's price falls so its equity is under its daily floor,
        // in a spot event the broker sends at once.
        let ctid = (next * 7919) % options.accounts + 1;
        next += 1;
        if let Ok(response) = http
            .post(format!("{base}/control/drop/{ctid}"))
            .send()
            .await
            && let Ok(text) = response.text().await
            && let Ok(at) = text.trim().parse::<u64>()
        {
            drops.push((format!("load-{}", ctid - 1), at));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = wall.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    let applied = watch.views() - views_start;
    let spots = counter(&base, &http, "spots")
        .await
        .saturating_sub(spots_start);
    let executions = counter(&base, &http, "executions")
        .await
        .saturating_sub(executions_start);
    let requests = counter(&base, &http, "total")
        .await
        .saturating_sub(requests_start);
    // Every deposit told reaches its account's balance.
    let _ = http.post(format!("{base}/control/pause")).send().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let balances: HashMap<String, String> = control(&base, &http, "balances")
        .await
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(ctid, balance)| {
            let i: usize = ctid.parse().unwrap_or(1);
            (format!("load-{}", i - 1), balance.to_owned())
        })
        .collect();
    let matching = hub
        .summaries()
        .iter()
        .filter(|s| {
            s.latest.as_ref().is_some_and(|l| {
                balances.get(s.id.as_str()).map(String::as_str)
                    == Some(l.balance.normalize().to_string().as_str())
            })
        })
        .count();
    let latencies = watch.breach_latencies(&drops);
    let connections = control(&base, &http, "connections").await;
    let subscriptions = control(&base, &http, "subscriptions").await;
    let requests_total = control(&base, &http, "requests").await;

    shutdown.cancel();
    started.join().await;
    let _ = child.kill();
    let _ = child.wait();

    let seconds = elapsed.as_secs_f64();
    let cores = cpu.as_secs_f64() / seconds;
    println!("accounts                 {}", options.accounts);
    println!(
        "all live after           {:.1} s (onboarding: history, then the stream)",
        onboarded.as_secs_f64()
    );
    println!("requests to go live      {}", requests_onboarding.trim());
    println!("connections served       {}", connections.trim());
    println!(
        "spot subscriptions       {} (each account reads two symbols)",
        subscriptions.trim()
    );
    println!("requests in all          {}", requests_total.trim());
    println!("window                   {seconds:.1} s");
    println!(
        "spot events per second   {:.0} ({} Hz per subscription to EURUSD)",
        spots as f64 / seconds,
        options.spot_hz
    );
    println!(
        "executions per second    {:.1} (one deposit every {} s, accounts in turn)",
        executions as f64 / seconds,
        options.exec_every
    );
    println!(
        "requests per second      {:.1} while live (the server allows 50)",
        requests as f64 / seconds
    );
    println!("views published per sec  {:.0}", applied as f64 / seconds);
    println!("CPU cores used           {cores:.2}");
    println!(
        "memory per account       {:.1} KiB (RSS {:.0} MiB when live)",
        rss_after.saturating_sub(rss_before) as f64 / 1024.0 / options.accounts as f64,
        rss_after as f64 / 1024.0 / 1024.0
    );
    println!(
        "spot to breach latency   p50 {} ms, p99 {} ms, max {} ms ({} of {} breaches seen)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len(),
        drops.len()
    );
    println!(
        "balances as the broker's {matching} of {} (every deposit applied once)",
        options.accounts
    );
    println!("hub events lagged        {}", watch.lagged());
    Ok(())
}

/// The broker child: a lean cTrader Open API server (JSON over WebSocket) for accounts
/// `1..=N` (any id is an account) of one broker, each with a 100,000 USD deposit an hour ago
/// and two buys of one lot at 1.10000: EURUSD (symbol 1, on a random walk of ±2,000 USD) and
/// its own symbol (`OWN<ctid>`, symbol `OWN + ctid`, still). Control: `POST
/// /control/drop/{ctid}` sends the account a spot of its own symbol at 1.02000 (8,000 USD down:
/// its equity at most 94,000, under the FTMO daily floor) at once and answers the Unix
/// milliseconds just before it was written; `POST /control/pause` stops executions;
/// `/control/{spots,executions,total,requests,connections,subscriptions,balances}` count and
/// tell.
mod lean {
    use axum::Router;
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    use axum::extract::{Path, State};
    use axum::routing::{any, get, post};
    use futures_util::{SinkExt, StreamExt};
    use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, HashMap};
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;
    use tokio::sync::{mpsc, oneshot};
    use wire::ctrader::payload;

    const OPEN: i64 = 110_000;
    const DROPPED: i64 = 102_000;
    const LOT: i64 = 10_000_000;
    /// Account `ctid`'s own symbol is `OWN + ctid`.
    const OWN: i64 = 1_000_000;

    #[derive(Default)]
    struct Account {
        /// In cents.
        balance: i64,
        /// Deposits told by execution events: (id, time ms, cents).
        deposits: Vec<(i64, i64, i64)>,
        dropped: bool,
    }

    #[derive(Clone)]
    struct Broker {
        spot_hz: f64,
        exec_every: f64,
        start_ms: i64,
        accounts: Arc<Mutex<HashMap<i64, Account>>>,
        /// The connection each account is authorized on (its writer).
        routes: Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<Out>>>>,
        price: Arc<AtomicI64>,
        spots: Arc<AtomicU64>,
        executions: Arc<AtomicU64>,
        total: Arc<AtomicU64>,
        refused: Arc<AtomicU64>,
        by_type: Arc<Mutex<BTreeMap<u32, u64>>>,
        connections: Arc<AtomicU64>,
        subscriptions: Arc<AtomicU64>,
        paused: Arc<AtomicBool>,
    }

    enum Out {
        Drop(i64, oneshot::Sender<u64>),
        Execution(Value),
        /// A spot event (the first quote after a subscription).
        Spot(Message),
    }

    fn now_ms() -> i64 {
        i64::try_from(super::unix_ms()).unwrap_or(0)
    }

    pub async fn serve(spot_hz: f64, exec_every: f64) -> anyhow::Result<()> {
        let broker = Broker {
            spot_hz,
            exec_every,
            start_ms: now_ms() - 3_600_000,
            accounts: Arc::default(),
            routes: Arc::default(),
            price: Arc::new(AtomicI64::new(OPEN + 50)),
            spots: Arc::default(),
            executions: Arc::default(),
            total: Arc::default(),
            refused: Arc::default(),
            by_type: Arc::default(),
            connections: Arc::default(),
            subscriptions: Arc::default(),
            paused: Arc::default(),
        };
        tokio::spawn(executions(broker.clone()));
        let count = |f: fn(&Broker) -> &AtomicU64| {
            get(
                move |State(b): State<Broker>| async move { f(&b).load(Ordering::Relaxed).to_string() },
            )
        };
        let app = Router::new()
            .route("/", any(ws))
            .route("/control/drop/{ctid}", post(drop_price))
            .route(
                "/control/pause",
                post(|State(b): State<Broker>| async move {
                    b.paused.store(true, Ordering::Relaxed);
                }),
            )
            .route("/control/spots", count(|b| &b.spots))
            .route("/control/executions", count(|b| &b.executions))
            .route("/control/total", count(|b| &b.total))
            .route("/control/connections", count(|b| &b.connections))
            .route("/control/subscriptions", count(|b| &b.subscriptions))
            .route(
                "/control/history",
                get(|State(b): State<Broker>| async move {
                    let by_type = b.by_type.lock().unwrap_or_else(PoisonError::into_inner);
                    by_type
                        .iter()
                        .filter(|(t, _)| payload::is_history(**t))
                        .map(|(_, n)| n)
                        .sum::<u64>()
                        .to_string()
                }),
            )
            .route(
                "/control/requests",
                get(|State(b): State<Broker>| async move {
                    let by_type = b.by_type.lock().unwrap_or_else(PoisonError::into_inner);
                    let history: u64 = by_type
                        .iter()
                        .filter(|(t, _)| payload::is_history(**t))
                        .map(|(_, n)| n)
                        .sum();
                    let kinds: Vec<String> =
                        by_type.iter().map(|(t, n)| format!("{t}: {n}")).collect();
                    format!(
                        "{} ({} historical; {} refused as too frequent; by payload type {})",
                        b.total.load(Ordering::Relaxed),
                        history,
                        b.refused.load(Ordering::Relaxed),
                        kinds.join(", ")
                    )
                }),
            )
            .route(
                "/control/balances",
                get(|State(b): State<Broker>| async move {
                    let accounts = b.accounts.lock().unwrap_or_else(PoisonError::into_inner);
                    accounts
                        .iter()
                        .map(|(ctid, a)| {
                            format!(
                                "{ctid} {}\n",
                                rust_decimal::Decimal::new(a.balance, 2).normalize()
                            )
                        })
                        .collect::<String>()
                }),
            )
            .with_state(broker);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }

    /// One account in turn gets a 1 USD deposit every `exec_every` seconds.
    async fn executions(broker: Broker) {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(broker.exec_every));
        let mut next = 0usize;
        let mut id = 9_000_000_000i64;
        loop {
            tick.tick().await;
            if broker.paused.load(Ordering::Relaxed) {
                continue;
            }
            let routes: Vec<(i64, mpsc::UnboundedSender<Out>)> = {
                let routes = broker.routes.lock().unwrap_or_else(PoisonError::into_inner);
                let mut all: Vec<_> = routes.iter().map(|(c, s)| (*c, s.clone())).collect();
                all.sort_by_key(|(c, _)| *c);
                all
            };
            if routes.is_empty() {
                continue;
            }
            let (ctid, out) = &routes[next % routes.len()];
            next += 1;
            id += 1;
            let time = now_ms();
            let balance = {
                let mut accounts = broker
                    .accounts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let account = accounts.entry(*ctid).or_insert_with(fresh);
                account.balance += 100;
                account.deposits.push((id, time, 100));
                account.balance
            };
            let event = json!({
                "ctidTraderAccountId": ctid,
                "executionType": 10,
                "depositWithdraw": {
                    "operationType": 0, "balanceHistoryId": id, "balance": balance,
                    "delta": 100, "changeBalanceTimestamp": time, "moneyDigits": 2
                }
            });
            if out.send(Out::Execution(event)).is_ok() {
                broker.executions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn fresh() -> Account {
        Account {
            balance: 10_000_000,
            ..Account::default()
        }
    }

    async fn drop_price(State(broker): State<Broker>, Path(ctid): Path<i64>) -> String {
        let route = broker
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ctid)
            .cloned();
        let (tx, rx) = oneshot::channel();
        if let Some(route) = route
            && route.send(Out::Drop(ctid, tx)).is_ok()
            && let Ok(at) = rx.await
        {
            return at.to_string();
        }
        "not subscribed".to_owned()
    }

    async fn ws(
        State(broker): State<Broker>,
        upgrade: WebSocketUpgrade,
    ) -> axum::response::Response {
        upgrade.on_upgrade(move |socket| session(broker, socket))
    }

    fn envelope(id: Option<&Value>, payload_type: u32, body: Value) -> Message {
        let mut message = json!({"payloadType": payload_type, "payload": body});
        if let Some(id) = id {
            message["clientMsgId"] = id.clone();
        }
        Message::text(message.to_string())
    }

    fn spot(ctid: i64, symbol: i64, bid: i64) -> Message {
        envelope(
            None,
            payload::SPOT_EVENT,
            json!({"ctidTraderAccountId": ctid, "symbolId": symbol, "bid": bid, "ask": bid + 2,
                   "timestamp": now_ms()}),
        )
    }

    /// The bid of account `ctid`'s own symbol.
    fn own_price(broker: &Broker, ctid: i64) -> i64 {
        let accounts = broker
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if accounts.get(&ctid).is_some_and(|a| a.dropped) {
            DROPPED
        } else {
            OPEN
        }
    }

    /// One connection: its own limits, the accounts authorized on it, their spots.
    async fn session(broker: Broker, socket: WebSocket) {
        broker.connections.fetch_add(1, Ordering::Relaxed);
        let per_second = |n: u32| Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let requests: DefaultDirectRateLimiter = RateLimiter::direct(per_second(50));
        let history: DefaultDirectRateLimiter = RateLimiter::direct(per_second(5));
        let (mut sink, mut stream) = socket.split();
        let (tx, mut out) = mpsc::unbounded_channel();
        // The (account, symbol) subscriptions here: EURUSD is quoted at every tick, an own
        // symbol only when it moves.
        let mut subscribed: Vec<(i64, i64)> = Vec::new();
        let mut spot_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / broker.spot_hz));
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(Ok(Message::Text(text))) = message else { break };
                    let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    let payload_type = request["payloadType"].as_u64().and_then(|t| u32::try_from(t).ok()).unwrap_or(0);
                    if payload_type == payload::HEARTBEAT_EVENT {
                        continue;
                    }
                    broker.total.fetch_add(1, Ordering::Relaxed);
                    *broker.by_type.lock().unwrap_or_else(PoisonError::into_inner).entry(payload_type).or_default() += 1;
                    let id = request.get("clientMsgId");
                    let body = &request["payload"];
                    let reply = if requests.check().is_err()
                        || (payload::is_history(payload_type) && history.check().is_err())
                    {
                        broker.refused.fetch_add(1, Ordering::Relaxed);
                        envelope(id, payload::OA_ERROR_RES, json!({
                            "errorCode": "REQUEST_FREQUENCY_EXCEEDED", "retryAfter": 1}))
                    } else {
                        let (answer_type, answer) = answer(&broker, &tx, &mut subscribed, payload_type, body);
                        envelope(id, answer_type, answer)
                    };
                    if sink.send(reply).await.is_err() {
                        break;
                    }
                }
                Some(message) = out.recv() => {
                    let frame = match message {
                        Out::Drop(ctid, answer) => {
                            broker.accounts.lock().unwrap_or_else(PoisonError::into_inner)
                                .entry(ctid).or_insert_with(fresh).dropped = true;
                            let at = super::unix_ms();
                            broker.spots.fetch_add(1, Ordering::Relaxed);
                            if sink.send(spot(ctid, OWN + ctid, DROPPED)).await.is_err() {
                                break;
                            }
                            let _ = answer.send(at);
                            continue;
                        }
                        Out::Execution(event) => envelope(None, payload::EXECUTION_EVENT, event),
                        Out::Spot(message) => {
                            broker.spots.fetch_add(1, Ordering::Relaxed);
                            message
                        }
                    };
                    if sink.send(frame).await.is_err() {
                        break;
                    }
                }
                _ = spot_tick.tick() => {
                    // A random walk of a pip either way.
                    let step = if fastrand::bool() { 10 } else { -10 };
                    let price = (broker.price.fetch_add(step, Ordering::Relaxed) + step).clamp(OPEN - 2_000, OPEN + 2_000);
                    for (ctid, _) in subscribed.iter().filter(|(_, symbol)| *symbol == 1) {
                        broker.spots.fetch_add(1, Ordering::Relaxed);
                        if sink.feed(spot(*ctid, 1, price)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        // The accounts authorized here are not any more.
        broker
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, route| !route.same_channel(&tx));
    }

    fn answer(
        broker: &Broker,
        tx: &mpsc::UnboundedSender<Out>,
        subscribed: &mut Vec<(i64, i64)>,
        payload_type: u32,
        body: &Value,
    ) -> (u32, Value) {
        let ctid = body["ctidTraderAccountId"].as_i64().unwrap_or(0);
        let price = broker.price.load(Ordering::Relaxed);
        let own = own_price(broker, ctid);
        let (balance, deposits) = {
            let mut accounts = broker
                .accounts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let account = accounts.entry(ctid).or_insert_with(fresh);
            (account.balance, account.deposits.clone())
        };
        let open_ms = broker.start_ms + 60_000;
        match payload_type {
            payload::APPLICATION_AUTH_REQ => (payload::APPLICATION_AUTH_RES, json!({})),
            payload::ACCOUNT_AUTH_REQ => {
                broker
                    .routes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(ctid, tx.clone());
                (
                    payload::ACCOUNT_AUTH_RES,
                    json!({"ctidTraderAccountId": ctid}),
                )
            }
            payload::TRADER_REQ => (
                payload::TRADER_RES,
                json!({"ctidTraderAccountId": ctid, "trader": {
                    "ctidTraderAccountId": ctid, "balance": balance, "depositAssetId": 1,
                    "leverageInCents": 10_000, "moneyDigits": 2, "brokerName": "Lean broker",
                    "registrationTimestamp": broker.start_ms}}),
            ),
            payload::ASSET_LIST_REQ => (
                payload::ASSET_LIST_RES,
                json!({"ctidTraderAccountId": ctid, "asset": [
                    {"assetId": 1, "name": "USD", "digits": 2},
                    {"assetId": 2, "name": "EUR", "digits": 2}]}),
            ),
            payload::SYMBOLS_LIST_REQ => (
                payload::SYMBOLS_LIST_RES,
                json!({"ctidTraderAccountId": ctid, "symbol": [
                    {"symbolId": 1, "symbolName": "EURUSD", "enabled": true,
                     "baseAssetId": 2, "quoteAssetId": 1},
                    {"symbolId": OWN + ctid, "symbolName": format!("OWN{ctid}"),
                     "enabled": true, "baseAssetId": 3, "quoteAssetId": 1}]}),
            ),
            payload::SYMBOL_BY_ID_REQ => (
                payload::SYMBOL_BY_ID_RES,
                json!({"ctidTraderAccountId": ctid, "symbol": ([1, OWN + ctid].map(|id| json!(
                    {"symbolId": id, "digits": 5, "pipPosition": 4, "lotSize": LOT,
                     "minVolume": 100_000, "maxVolume": 1_000_000_000, "stepVolume": 100_000})))}),
            ),
            payload::RECONCILE_REQ => (
                payload::RECONCILE_RES,
                json!({"ctidTraderAccountId": ctid, "position": ([(0, 1), (1, OWN + ctid)].map(
                    |(n, symbol)| json!({
                    "positionId": ctid * 10 + n,
                    "tradeData": {"symbolId": symbol, "volume": LOT, "tradeSide": 1,
                                  "openTimestamp": open_ms},
                    "positionStatus": 1, "swap": 0, "price": 1.1, "commission": 0,
                    "usedMargin": 110_000, "moneyDigits": 2})))}),
            ),
            payload::GET_POSITION_UNREALIZED_PNL_REQ => {
                // One lot of 100,000: a point (1/100000) is 1 USD, 100 cents.
                let pnl = [(price - OPEN) * 100, (own - OPEN) * 100];
                (
                    payload::GET_POSITION_UNREALIZED_PNL_RES,
                    json!({"ctidTraderAccountId": ctid, "moneyDigits": 2,
                           "positionUnrealizedPnL": ([0, 1].map(|n| json!({
                             "positionId": ctid * 10 + n,
                             "grossUnrealizedPnL": pnl[n as usize],
                             "netUnrealizedPnL": pnl[n as usize]})))}),
                )
            }
            payload::DEAL_LIST_REQ => {
                let (from, to) = (
                    body["fromTimestamp"].as_i64().unwrap_or(0),
                    body["toTimestamp"].as_i64().unwrap_or(0),
                );
                let deals: Vec<Value> = if (from..=to).contains(&open_ms) {
                    [(0, 1), (1, OWN + ctid)]
                        .map(|(n, symbol)| {
                            json!({
                            "dealId": ctid * 100 + n, "orderId": ctid * 100 + n,
                            "positionId": ctid * 10 + n,
                            "volume": LOT, "filledVolume": LOT, "symbolId": symbol,
                            "createTimestamp": open_ms, "executionTimestamp": open_ms,
                            "executionPrice": 1.1, "tradeSide": 1, "dealStatus": 2,
                            "commission": 0, "moneyDigits": 2})
                        })
                        .to_vec()
                } else {
                    Vec::new()
                };
                (
                    payload::DEAL_LIST_RES,
                    json!({"ctidTraderAccountId": ctid, "deal": deals, "hasMore": false}),
                )
            }
            payload::CASH_FLOW_HISTORY_LIST_REQ => {
                let (from, to) = (
                    body["fromTimestamp"].as_i64().unwrap_or(0),
                    body["toTimestamp"].as_i64().unwrap_or(0),
                );
                let mut flows = Vec::new();
                let mut running = 10_000_000;
                if (from..=to).contains(&broker.start_ms) {
                    flows.push(json!({"operationType": 0, "balanceHistoryId": ctid * 1000,
                        "balance": running, "delta": 10_000_000,
                        "changeBalanceTimestamp": broker.start_ms, "moneyDigits": 2}));
                }
                for (id, time, delta) in deposits {
                    running += delta;
                    if (from..=to).contains(&time) {
                        flows.push(json!({"operationType": 0, "balanceHistoryId": id,
                            "balance": running, "delta": delta,
                            "changeBalanceTimestamp": time, "moneyDigits": 2}));
                    }
                }
                (
                    payload::CASH_FLOW_HISTORY_LIST_RES,
                    json!({"ctidTraderAccountId": ctid, "depositWithdraw": flows}),
                )
            }
            payload::SUBSCRIBE_SPOTS_REQ => {
                let symbols = body["symbolId"].as_array().cloned().unwrap_or_default();
                for symbol in symbols.iter().filter_map(Value::as_i64) {
                    if subscribed.contains(&(ctid, symbol)) {
                        continue;
                    }
                    subscribed.push((ctid, symbol));
                    broker.subscriptions.fetch_add(1, Ordering::Relaxed);
                    // The current quote follows the answer.
                    let bid = if symbol == 1 { price } else { own };
                    let _ = tx.send(Out::Spot(spot(ctid, symbol, bid)));
                }
                (
                    payload::SUBSCRIBE_SPOTS_RES,
                    json!({"ctidTraderAccountId": ctid}),
                )
            }
            other => (
                payload::OA_ERROR_RES,
                json!({"errorCode": "INVALID_REQUEST",
                       "description": format!("payload type {other} is not served here")}),
            ),
        }
    }
}
