//! Ingestion load harness (a program, not a test): Riskdeck tracking N accounts of a
//! MetaApi-shaped broker, each polled every second.
//!
//! ```text
//! cargo run --release -p tests --bin ingest-load -- --accounts 1000 --seconds 30
//! ```
//!
//! The broker runs in a child process (this program started with `broker N`), so the CPU and
//! memory measured are Riskdeck's (in this process) alone. After a warm-up in which every
//! account is onboarded, the harness measures for `--seconds`:
//! - polls per second achieved (each account asks for one a second) and CPU cores used, hence
//!   accounts sustained per core;
//! - resident memory per account (after warm-up, less before start);
//! - latency from a broker-side change (an account's equity falls under its daily floor, time
//!   stamped by the broker) to the engine's breach reaching the hub (what SSE clients get).
//!
//! Options: `--accounts N` (1000), `--seconds S` (30), `--warmup S` (20), `--concurrency C`
//! (`max_concurrent_polls`, 64), `--database-url URL` (a fresh SQLite file by default).

use backend::config::{AccountConfig, ChallengeSetup, Config};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("broker") {
        let accounts = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        return runtime.block_on(broker::serve(accounts));
    }
    let options = Options::parse(&args)?;
    runtime.block_on(run(options))
}

struct Options {
    accounts: usize,
    seconds: u64,
    warmup: u64,
    concurrency: usize,
    database_url: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options {
            accounts: 1000,
            seconds: 30,
            warmup: 20,
            concurrency: 64,
            database_url: None,
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
                "--concurrency" => options.concurrency = value.parse()?,
                "--database-url" => options.database_url = Some(value.clone()),
                _ => anyhow::bail!("unknown option {flag}"),
            }
        }
        Ok(options)
    }
}

use tests::load::{HubWatch, cpu_time, percentile, rss, unix_ms};

async fn run(options: Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["broker", &options.accounts.to_string()])
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
        database_url: options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("load.db").display())),
        journal_dir: None,
        poll_interval: Duration::from_secs(1),
        stale_after: Duration::from_secs(10),
        max_concurrent_polls: options.concurrency,
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
                transport: Some(shared::api::Transport::Rest),
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

    // Count published account views, and note when each dropped account's breach arrives.
    let watch = HubWatch::start(&hub);

    eprintln!(
        "tracking {} accounts; warming up for {} s",
        options.accounts, options.warmup
    );
    tokio::time::sleep(Duration::from_secs(options.warmup)).await;
    let rss_after = rss();

    let http = reqwest::Client::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut drops: Vec<(String, u64)> = Vec::new();
    let views_start = watch.views();
    let cpu_start = cpu_time();
    let wall = Instant::now();
    let window = Duration::from_secs(options.seconds);
    let mut next = 0usize;
    while wall.elapsed() < window {
        // Every 500 ms one more account's equity falls under its daily floor.
        let id = format!("load-{}", (next * 7919) % options.accounts);
        next += 1;
        if let Ok(response) = http.post(format!("{base}/control/drop/{id}")).send().await
            && let Ok(text) = response.text().await
            && let Ok(at) = text.trim().parse::<u64>()
        {
            drops.push((id, at));
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = wall.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    let polls = watch.views() - views_start;
    // Give the last drops one more poll to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let latencies = watch.breach_latencies(&drops);

    shutdown.cancel();
    started.join().await;
    let _ = child.kill();
    let _ = child.wait();

    let seconds = elapsed.as_secs_f64();
    let polls_per_second = polls as f64 / seconds;
    let cores = cpu.as_secs_f64() / seconds;
    println!("accounts                 {}", options.accounts);
    println!("max_concurrent_polls     {}", options.concurrency);
    println!(
        "database                 {}",
        config.database_url.split(':').next().unwrap_or("")
    );
    println!("window                   {seconds:.1} s");
    println!(
        "polls per second         {polls_per_second:.0} (asked: {})",
        options.accounts
    );
    println!("CPU cores used           {cores:.2}");
    println!(
        "accounts per core        {:.0}",
        if cores > 0.0 {
            polls_per_second / cores
        } else {
            0.0
        }
    );
    println!(
        "memory per account       {:.1} KiB (RSS {:.0} MiB after warm-up)",
        rss_after.saturating_sub(rss_before) as f64 / 1024.0 / options.accounts as f64,
        rss_after as f64 / 1024.0 / 1024.0
    );
    println!(
        "change to breach latency p50 {} ms, p99 {} ms, max {} ms ({} of {} breaches seen)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        latencies.len(),
        drops.len()
    );
    println!("hub events lagged        {}", watch.lagged());
    Ok(())
}

/// The broker child: N MetaApi-shaped accounts at 100,000 balance and equity, with no
/// positions and no deals, and a control endpoint that drops an account's equity to 94,000
/// (under the FTMO daily floor) and answers the Unix milliseconds of the change.
mod broker {
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::routing::{get, post};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex, PoisonError};

    type Dropped = Arc<Mutex<HashSet<String>>>;

    pub async fn serve(_accounts: usize) -> anyhow::Result<()> {
        let dropped: Dropped = Arc::default();
        let app = Router::new()
            .route(
                "/users/current/accounts/{id}/account-information",
                get(info),
            )
            .route(
                "/users/current/accounts/{id}/positions",
                get(|| async { axum::Json(serde_json::json!([])) }),
            )
            .route(
                "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
                get(|| async { axum::Json(serde_json::json!([])) }),
            )
            .route("/control/drop/{id}", post(drop_equity))
            .with_state(dropped);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }

    async fn info(
        State(dropped): State<Dropped>,
        Path(id): Path<String>,
    ) -> axum::Json<serde_json::Value> {
        let down = dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id);
        let equity = if down { 94_000 } else { 100_000 };
        axum::Json(serde_json::json!({
            "platform": "mt5", "broker": "Load", "currency": "USD", "server": "Load-1",
            "balance": 100_000, "equity": equity, "margin": 0, "freeMargin": equity,
            "leverage": 100, "credit": 0
        }))
    }

    async fn drop_equity(State(dropped): State<Dropped>, Path(id): Path<String>) -> String {
        dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
        super::unix_ms().to_string()
    }
}
