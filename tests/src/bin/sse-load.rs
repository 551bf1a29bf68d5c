//! SSE load harness (a program, not a test): Riskdeck holding N concurrent live streams.
//!
//! ```text
//! cargo run --release -p tests --bin sse-load -- --clients 10000 --events 30
//! ```
//!
//! The server runs in a child process (this program started with `server`), so the memory
//! measured is Riskdeck's alone, and each process stays within its own open-file limit (both
//! raise their soft `RLIMIT_NOFILE` to the hard one; N streams need N descriptors on each side,
//! so the hard limit must exceed N: `ulimit -Hn`). The server tracks one probe account (its
//! broker unreachable, so only the probe publishes numbers for it) with the default stream
//! settings, except that one user may hold all N streams.
//!
//! The harness signs in once, opens N streams of that account over N connections (at most
//! `--connect` connecting at once), and waits until each has its snapshot. Then the child
//! publishes `--events` views through the hub, one every `--interval` ms, each stamped with the
//! wall-clock time of publishing; every client notes, per view, the time from that stamp to
//! receipt. It reports:
//! - resident memory per client: the server's RSS with N streams open (and again after the
//!   events), less its RSS before the first one, over N;
//! - delivery latency from publishing to receipt, p50, p99 and max over every client and event;
//! - views missed and resyncs (a client too slow is sent a snapshot instead of a gap).
//!
//! Options: `--clients N` (10000), `--events E` (30), `--interval MS` (1000), `--connect C`
//! (256).

use shared::api::StreamEvent;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The account the probe publishes on.
const PROBE: &str = "sse-probe";
const PASSWORD: &str = "sse-load-harness-password";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    raise_open_files();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("server") {
        let clients = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
        return runtime.block_on(server::run(clients));
    }
    let options = Options::parse(&args)?;
    runtime.block_on(run(options))
}

/// Raises the soft open-file limit to the hard one.
fn raise_open_files() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => eprintln!("open-file limit of process {}: {limit}", std::process::id()),
        Err(error) => eprintln!("cannot raise the open-file limit: {error}"),
    }
}

struct Options {
    clients: usize,
    events: usize,
    interval: u64,
    connect: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options {
            clients: 10_000,
            events: 30,
            interval: 1000,
            connect: 256,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            match flag.as_str() {
                "--clients" => options.clients = value.parse()?,
                "--events" => options.events = value.parse()?,
                "--interval" => options.interval = value.parse()?,
                "--connect" => options.connect = value.parse()?,
                _ => anyhow::bail!("unknown option {flag}"),
            }
        }
        Ok(options)
    }
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

use tests::load::percentile;

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Publish-to-receipt times of the probe's views, in microseconds.
    latencies: Vec<u64>,
    snapshots: usize,
    error: Option<String>,
}

#[allow(clippy::cast_precision_loss)]
async fn run(options: Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["server", &options.clients.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no server stdin"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no server stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let base = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("the server said nothing"))??;
    anyhow::ensure!(base.starts_with("http://"), "the server said {base:?}");

    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar)
        .pool_max_idle_per_host(0)
        .build()?;
    http.post(format!("{base}/api/auth/login"))
        .json(&shared::api::LoginRequest {
            username: "admin".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .send()
        .await?
        .error_for_status()?;
    // Let start-up settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss(pid);

    eprintln!("opening {} streams", options.clients);
    let url = format!("{base}/api/stream?account={PROBE}");
    let connected = Arc::new(AtomicUsize::new(0));
    // Clients that ended: with every view, or failing.
    let ended = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(options.connect));
    let stop = CancellationToken::new();
    let opened = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..options.clients {
        let (http, url, connected, ended, gate, stop) = (
            http.clone(),
            url.clone(),
            connected.clone(),
            ended.clone(),
            gate.clone(),
            stop.clone(),
        );
        let events = options.events;
        clients.spawn(async move {
            let mut seen = Seen::default();
            let permit = gate.acquire_owned().await;
            let result = tokio::select! {
                () = stop.cancelled() => Ok(()),
                result = client(&http, &url, events, &mut seen, permit.ok(), &connected) => result,
            };
            if let Err(error) = result {
                seen.error = Some(error.to_string());
            }
            ended.fetch_add(1, Ordering::Relaxed);
            seen
        });
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while connected.load(Ordering::Relaxed) + ended.load(Ordering::Relaxed) < options.clients
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_time = opened.elapsed();
    let open = connected.load(Ordering::Relaxed);
    eprintln!("{open} streams open after {connect_time:.1?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_open = rss(pid);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let sse_clients = metrics
        .lines()
        .find_map(|l| l.strip_prefix("riskdeck_sse_clients "))
        .unwrap_or("?")
        .to_owned();

    eprintln!(
        "publishing {} views, one every {} ms",
        options.events, options.interval
    );
    writeln!(stdin, "go {} {}", options.events, options.interval)?;
    stdin.flush()?;
    let done = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("the server stopped"))??;
    anyhow::ensure!(done.starts_with("done"), "the server said {done:?}");
    // Every client ends on its own once it has every view; give stragglers a while.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ended.load(Ordering::Relaxed) < options.clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let rss_after = rss(pid);
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let mut resyncs = 0;
    let mut finished = 0;
    while let Some(joined) = clients.join_next().await {
        let seen = joined?;
        if seen.latencies.len() == options.events {
            finished += 1;
        }
        resyncs += seen.snapshots.saturating_sub(1);
        if let Some(error) = seen.error {
            errors.push(error);
        }
        all.extend(seen.latencies);
    }
    all.sort_unstable();
    let _ = child.kill();
    let _ = child.wait();

    let per_client = |rss: u64| rss.saturating_sub(rss_before) as f64 / 1024.0 / open.max(1) as f64;
    let ms = |micros: u64| micros as f64 / 1000.0;
    println!(
        "clients                  {} ({open} open; server counted {sse_clients})",
        options.clients
    );
    println!("connect time             {connect_time:.1?}");
    println!(
        "server RSS               {:.0} MiB before, {:.0} MiB with the streams open, {:.0} MiB after the events",
        rss_before as f64 / 1048576.0,
        rss_open as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    println!(
        "memory per client        {:.1} KiB open, {:.1} KiB after the events",
        per_client(rss_open),
        per_client(rss_after)
    );
    println!(
        "delivery latency         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deliveries)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or(0)),
        all.len()
    );
    println!(
        "views missed             {} of {} ({finished} clients got all {}); resyncs {resyncs}",
        (options.events * open).saturating_sub(all.len()),
        options.events * open,
        options.events
    );
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        println!(
            "client errors            {}: {:?}",
            errors.len(),
            errors.iter().take(5).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// One client: opens the stream, counts itself connected at its snapshot, then notes the
/// latency of each probe view until it has `events` of them.
async fn client(
    http: &reqwest::Client,
    url: &str,
    events: usize,
    seen: &mut Seen,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    connected: &AtomicUsize,
) -> anyhow::Result<()> {
    let mut response = http
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let mut buffer = String::new();
    let mut permit = permit;
    while seen.latencies.len() < events {
        let Some(chunk) = response.chunk().await? else {
            anyhow::bail!("the stream ended");
        };
        let received = chrono::Utc::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            match serde_json::from_str::<StreamEvent>(data.trim_start()) {
                Ok(StreamEvent::Snapshot { .. }) => {
                    seen.snapshots += 1;
                    if permit.take().is_some() {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(StreamEvent::Account { view, .. }) => {
                    let micros = (received - view.time).num_microseconds().unwrap_or(0);
                    seen.latencies.push(u64::try_from(micros).unwrap_or(0));
                }
                Ok(
                    StreamEvent::Feed { .. }
                    | StreamEvent::Backfill { .. }
                    | StreamEvent::Transport { .. },
                ) => {}
                Err(error) => anyhow::bail!("not a stream event: {error}"),
            }
        }
    }
    Ok(())
}

/// The server child: Riskdeck tracking one probe account whose broker cannot be reached, on a
/// fresh SQLite file, with an admin who may hold every stream. It prints its base URL, then
/// waits for `go EVENTS INTERVAL_MS` on standard input, publishes that many probe views, and
/// prints `done`.
mod server {
    use super::{PASSWORD, PROBE};
    use backend::config::{AccountConfig, AdminConfig, Config};
    use rust_decimal::Decimal;
    use shared::api::AccountView;
    use shared::domain::AccountId;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    pub async fn run(clients: usize) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("sse.db").display()),
            journal_dir: None,
            max_streams_per_user: clients.max(1),
            admin: AdminConfig {
                username: "admin".to_owned(),
                password: Some(PASSWORD.to_owned()),
            },
            accounts: vec![AccountConfig {
                id: PROBE.to_owned(),
                name: "SSE probe".to_owned(),
                // Nothing listens there: the tracker's polls fail at once and publish nothing
                // but its feed health.
                base_url: "http://127.0.0.1:9".to_owned(),
                metaapi_account_id: PROBE.to_owned(),
                token: "probe".to_owned(),
                poll_interval: None,
                trader: None,
                region: None,
                challenge: None,
                ingest_token: None,
                ctrader: None,
                transport: Some(shared::api::Transport::Rest),
            }],
            ..Config::default()
        };
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let started = backend::start(&config, shutdown.clone()).await?;
        let hub = started.state.hub.clone();
        let app = backend::app(started.state.clone(), &config.assets);
        // The harness holds thousands of streams: the connection cap is not what it measures.
        let limits = backend::ServeLimits {
            max_connections: 1_000_000,
            ..config.serve_limits()
        };
        tokio::spawn(backend::serve(listener, app, shutdown.clone(), limits));
        println!("http://{addr}");

        // Standard input is read on a thread of its own: the harness's commands, one a line.
        let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = commands.recv().await {
            let mut words = line.split_whitespace().skip(1);
            let events: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let interval: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(1000);
            let id = AccountId(PROBE.to_owned());
            let mut tick = tokio::time::interval(Duration::from_millis(interval));
            for n in 0..events {
                tick.tick().await;
                hub.publish_view(&id, "USD", probe_view(n));
            }
            println!("done");
        }
        shutdown.cancel();
        started.join().await;
        Ok(())
    }

    /// A view stamped now: the client measures from this stamp.
    fn probe_view(n: usize) -> AccountView {
        let balance = Decimal::from(100_000) + Decimal::from(n);
        AccountView {
            time: chrono::Utc::now(),
            balance,
            equity: balance,
            floating_pl: Decimal::ZERO,
            starting_capital: Decimal::from(100_000),
            peak_balance: balance,
            peak_equity: balance,
            drawdown: Decimal::ZERO,
            drawdown_percent: Some(Decimal::ZERO),
            open_positions: 0,
            challenge: None,
        }
    }
}
