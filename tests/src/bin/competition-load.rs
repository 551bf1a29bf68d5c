//! Competition load harness (a program, not a test): one competition of N entrants, ranked live,
//! watched over its leaderboard stream and by many public viewers at once.
//!
//! ```text
//! cargo run --release -p tests --bin competition-load -- --entrants 10000 --seconds 30
//! ```
//!
//! The server runs in a child process (this program started with `server`), so the CPU and
//! memory measured are Riskdeck's alone. It tracks N accounts fed by pushes (nothing is pushed:
//! their numbers are published through the hub, as a tracker publishes them after persisting),
//! with an admin. The harness creates a competition over HTTP (public link on), enters every
//! account (in batches, as the console would), and waits for the start. Then the child
//! publishes every entrant's first numbers (equity 100,000: each entrant's baseline), and for
//! `--seconds`:
//! - every `--interval` ms (100) one random entrant's equity jumps above everyone's, its profit
//!   in cents the wall-clock time of publishing in milliseconds, so it is ranked first at once;
//! - `--churn` views a second (1,000) move other random entrants a little (the board re-ranks
//!   all N with each batch).
//!
//! `--streams` clients (50) follow `/api/competitions/{id}/leaderboard/stream?per_page=10` as
//! the admin; each notes, for every new leader it is sent, the time from that stamp to
//! receipt: a change in an account reflected in the stream. Meanwhile `--viewers` public
//! viewers (1,000), each from its own loopback address (the public link is rate-limited per
//! address), read the public page once a second: requests served, their latency, and any answer
//! but 200. It reports both, with the server's CPU time and resident memory.
//!
//! Options: `--entrants N` (10000), `--seconds S` (30), `--interval MS` (100), `--churn C`
//! (1000), `--streams K` (50), `--viewers V` (1000).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tests::load::percentile;

const PASSWORD: &str = "competition-load-harness-password";
const COMPETITION: &str = "load-cup";
const BATCH: usize = 2_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("server") {
        let entrants = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
        return runtime.block_on(server::run(entrants));
    }
    let options = Options::parse(&args)?;
    runtime.block_on(run(options))
}

struct Options {
    entrants: usize,
    seconds: u64,
    interval: u64,
    churn: u64,
    streams: usize,
    viewers: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Options {
            entrants: 10_000,
            seconds: 30,
            interval: 100,
            churn: 1_000,
            streams: 50,
            viewers: 1_000,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            match flag.as_str() {
                "--entrants" => options.entrants = value.parse()?,
                "--seconds" => options.seconds = value.parse()?,
                "--interval" => options.interval = value.parse()?,
                "--churn" => options.churn = value.parse()?,
                "--streams" => options.streams = value.parse()?,
                "--viewers" => options.viewers = value.parse()?,
                _ => anyhow::bail!("unknown option {flag}"),
            }
        }
        Ok(options)
    }
}

/// The `/proc` numbers of a process: CPU time (user + system) and resident memory.
fn cpu_and_rss(pid: u32) -> (Duration, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 10);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    (cpu, rss)
}

fn now_ms() -> u64 {
    tests::load::unix_ms()
}

/// The rules that disqualify: FTMO's 2-step losses (no profit target).
fn rules() -> anyhow::Result<serde_json::Value> {
    use shared::engine::rules::RuleKind;
    let config = shared::engine::presets::preset("ftmo-2step", 100_000.into())
        .map_err(|e| anyhow::anyhow!("no ftmo-2step preset: {e}"))?;
    let set = shared::engine::edit::RuleSet {
        clock: config.clock,
        rules: config
            .rules
            .into_iter()
            .filter(|r| !matches!(r.kind, RuleKind::ProfitTarget { .. }))
            .collect(),
        estimated_equity_breaches: config.estimated_equity_breaches,
        interest_dividend_tax: config.interest_dividend_tax,
    };
    Ok(serde_json::to_value(set.draft())?)
}

#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
async fn run(options: Options) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["server", &options.entrants.to_string()])
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
    let http = reqwest::Client::builder().cookie_provider(jar).build()?;
    let login: shared::api::SessionResponse = http
        .post(format!("{base}/api/auth/login"))
        .json(&shared::api::LoginRequest {
            username: "admin".to_owned(),
            password: PASSWORD.to_owned(),
        })
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let csrf = login.csrf_token;

    // The competition: starts once every entrant is in.
    let setup = Instant::now();
    let start =
        chrono::Utc::now() + chrono::TimeDelta::seconds(30 + (options.entrants / 500) as i64);
    let end = start + chrono::TimeDelta::days(7);
    let created = http
        .post(format!("{base}/api/competitions"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({
            "id": COMPETITION,
            "competition": {
                "name": "Load Cup",
                "time_zone": "UTC",
                "start": start.naive_utc(),
                "end": end.naive_utc(),
                "rules": rules()?,
                "public": true,
            }
        }))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "the competition was refused: {}",
        created.text().await?
    );
    let detail: shared::competitions::CompetitionDetail = created.json().await?;
    let public_path = detail
        .summary
        .public_path
        .ok_or_else(|| anyhow::anyhow!("no public link"))?;
    let slug = public_path.trim_start_matches("/c/").to_owned();
    let ids: Vec<String> = (0..options.entrants).map(server::account).collect();
    for batch in ids.chunks(BATCH) {
        let added = http
            .post(format!("{base}/api/competitions/{COMPETITION}/entries"))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({ "add": batch }))
            .send()
            .await?;
        anyhow::ensure!(
            added.status().is_success(),
            "entries were refused: {}",
            added.text().await?
        );
    }
    eprintln!(
        "{} entrants entered in {:.1?}; the competition starts at {start}",
        options.entrants,
        setup.elapsed()
    );
    let wait = (start - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
    tokio::time::sleep(wait).await;
    writeln!(stdin, "baseline")?;
    stdin.flush()?;
    let ready = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("the server stopped"))??;
    anyhow::ensure!(ready.starts_with("ready"), "the server said {ready:?}");
    // Every baseline reaches the board before the changes begin.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The streams.
    let stream_url =
        format!("{base}/api/competitions/{COMPETITION}/leaderboard/stream?per_page=10");
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut streams = tokio::task::JoinSet::new();
    for _ in 0..options.streams {
        let (http, url, latencies, stop) = (
            http.clone(),
            stream_url.clone(),
            latencies.clone(),
            stop.clone(),
        );
        streams.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => Ok(()),
                result = follow(&http, &url, &latencies) => result,
            }
        });
    }

    // The public viewers, each from its own loopback address.
    let public_url = format!("{base}/api/public/competitions/{slug}/leaderboard");
    let served = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
    let public_latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut viewers = tokio::task::JoinSet::new();
    for n in 0..options.viewers {
        let address = IpAddr::V4(Ipv4Addr::new(
            127,
            1 + u8::try_from(n / 62_500).unwrap_or(0),
            u8::try_from((n / 250) % 250).unwrap_or(0),
            1 + u8::try_from(n % 250).unwrap_or(0),
        ));
        let client = reqwest::Client::builder().local_address(address).build()?;
        let (url, served, refused, lat, stop) = (
            public_url.clone(),
            served.clone(),
            refused.clone(),
            public_latencies.clone(),
            stop.clone(),
        );
        viewers.spawn(async move {
            // Spread over the first second, then once a second each.
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1000))).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !stop.is_cancelled() {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let sent = Instant::now();
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        let _ = response.bytes().await;
                        served.fetch_add(1, Ordering::Relaxed);
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(0);
                        lat.lock().unwrap_or_else(|e| e.into_inner()).push(micros);
                    }
                    Ok(response) => refused
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(response.status().as_u16()),
                    Err(_) => refused.lock().unwrap_or_else(|e| e.into_inner()).push(0),
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (cpu_before, _) = cpu_and_rss(pid);
    let window = Instant::now();
    eprintln!(
        "for {} s: a new leader every {} ms, {} other changes a second; {} streams, {} public viewers",
        options.seconds, options.interval, options.churn, options.streams, options.viewers
    );
    writeln!(
        stdin,
        "go {} {} {}",
        options.seconds, options.interval, options.churn
    )?;
    stdin.flush()?;
    let done = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("the server stopped"))??;
    anyhow::ensure!(done.starts_with("done"), "the server said {done:?}");
    let published: u64 = done
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let elapsed = window.elapsed();
    let (cpu_after, rss) = cpu_and_rss(pid);
    stop.cancel();
    let mut errors = Vec::new();
    while let Some(joined) = streams.join_next().await {
        if let Ok(Err(error)) = joined {
            errors.push(error.to_string());
        }
    }
    while viewers.join_next().await.is_some() {}
    let _ = child.kill();
    let _ = child.wait();

    let mut all = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    all.sort_unstable();
    let mut public =
        std::mem::take(&mut *public_latencies.lock().unwrap_or_else(|e| e.into_inner()));
    public.sort_unstable();
    let refused = refused.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let served = served.load(Ordering::Relaxed);
    let ms = |micros: u64| micros as f64 / 1000.0;
    let cpu = (cpu_after - cpu_before).as_secs_f64() / elapsed.as_secs_f64();
    println!("entrants                 {}", options.entrants);
    println!(
        "changes                  {published} new leaders, {} other changes a second, for {} s",
        options.churn, options.seconds
    );
    println!(
        "change to stream         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deliveries to {} streams)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or(0)),
        all.len(),
        options.streams
    );
    println!(
        "public page              {served} served ({:.0} a second) to {} viewers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} refused {:?}",
        served as f64 / elapsed.as_secs_f64(),
        options.viewers,
        ms(percentile(&public, 0.5)),
        ms(percentile(&public, 0.99)),
        ms(public.last().copied().unwrap_or(0)),
        refused.len(),
        {
            let mut kinds = refused.clone();
            kinds.sort_unstable();
            kinds.dedup();
            kinds
        }
    );
    println!(
        "server                   {cpu:.2} cores, {:.0} MiB resident",
        rss as f64 / 1_048_576.0
    );
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        println!("stream errors            {errors:?}");
    }
    Ok(())
}

/// One stream: for every new leader it is sent, the time from the stamp in its profit to now.
async fn follow(
    http: &reqwest::Client,
    url: &str,
    latencies: &std::sync::Mutex<Vec<u64>>,
) -> anyhow::Result<()> {
    let mut response = http
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let mut buffer = String::new();
    let mut last = 0u64;
    loop {
        let Some(chunk) = response.chunk().await? else {
            anyhow::bail!("the stream ended");
        };
        let received = now_ms();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let page: shared::competitions::LeaderboardPage =
                serde_json::from_str(data.trim_start())?;
            // A leader's profit in cents is the time it was published, in milliseconds.
            let Some(stamp) = page.rows.first().and_then(|row| {
                use rust_decimal::prelude::ToPrimitive;
                (row.profit * rust_decimal::Decimal::ONE_HUNDRED).to_u64()
            }) else {
                continue;
            };
            if stamp > last && stamp > 1_000_000_000_000 {
                last = stamp;
                latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(received.saturating_sub(stamp) * 1000);
            }
        }
    }
}

/// The server child: Riskdeck with N accounts fed by pushes (none is pushed), an admin, on a
/// fresh SQLite file. It prints its base URL; on `baseline` it publishes every account's first
/// numbers and prints `ready`; on `go SECONDS INTERVAL_MS CHURN` it publishes the new leaders
/// and the other changes, then prints `done LEADERS`.
mod server {
    use super::PASSWORD;
    use backend::config::{AccountConfig, AdminConfig, ChallengeSetup, Config};
    use rust_decimal::Decimal;
    use shared::api::AccountView;
    use shared::domain::AccountId;
    use std::time::{Duration, Instant};
    use tokio_util::sync::CancellationToken;

    /// The id of account `n`.
    pub fn account(n: usize) -> String {
        format!("entrant-{n:05}")
    }

    pub async fn run(entrants: usize) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let accounts = (0..entrants)
            .map(|n| AccountConfig {
                id: account(n),
                name: format!("Entrant {n}"),
                base_url: String::new(),
                metaapi_account_id: String::new(),
                token: String::new(),
                poll_interval: None,
                trader: None,
                region: None,
                challenge: Some(ChallengeSetup {
                    preset: "ftmo-2step".into(),
                    initial_balance: 100_000.into(),
                    estimated_equity_breaches: false,
                    program: None,
                }),
                ingest_token: Some(format!("load-harness-ingest-token-{n:08}")),
                ctrader: None,
                transport: None,
            })
            .collect();
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("competition.db").display()),
            journal_dir: None,
            max_streams_per_user: 10_000,
            admin: AdminConfig {
                username: "admin".to_owned(),
                password: Some(PASSWORD.to_owned()),
            },
            accounts,
            ..Config::default()
        };
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let started = backend::start(&config, shutdown.clone()).await?;
        let hub = started.state.hub.clone();
        let app = backend::app(started.state.clone(), &config.assets);
        let limits = backend::ServeLimits {
            max_connections: 1_000_000,
            ..config.serve_limits()
        };
        tokio::spawn(backend::serve(listener, app, shutdown.clone(), limits));
        println!("http://{addr}");

        let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ids: Vec<AccountId> = (0..entrants).map(|n| AccountId(account(n))).collect();
        while let Some(line) = commands.recv().await {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("baseline") => {
                    for id in &ids {
                        hub.publish_view(id, "USD", view(Decimal::from(100_000)));
                    }
                    println!("ready");
                }
                Some("go") => {
                    let mut number = || words.next().and_then(|w| w.parse::<u64>().ok());
                    let seconds = number().unwrap_or(30);
                    let interval = number().unwrap_or(100).max(1);
                    let churn = number().unwrap_or(1_000);
                    let leaders = go(&hub, &ids, seconds, interval, churn).await;
                    println!("done {leaders}");
                }
                _ => {}
            }
        }
        shutdown.cancel();
        started.join().await;
        Ok(())
    }

    /// New leaders every `interval` ms and `churn` other changes a second, for `seconds`.
    async fn go(
        hub: &backend::hub::Hub,
        ids: &[AccountId],
        seconds: u64,
        interval: u64,
        churn: u64,
    ) -> u64 {
        let end = Instant::now() + Duration::from_secs(seconds);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut leaders = 0u64;
        let mut next_leader = Instant::now();
        // Other changes are spread over the ticks: `churn / 100` each.
        let per_tick = churn / 100;
        while Instant::now() < end {
            tick.tick().await;
            for _ in 0..per_tick {
                let Some(id) = ids.get(fastrand::usize(..ids.len())) else {
                    break;
                };
                let equity = Decimal::from(99_000 + fastrand::i64(0..2_000));
                hub.publish_view(id, "USD", view(equity));
            }
            if Instant::now() >= next_leader {
                next_leader += Duration::from_millis(interval);
                let Some(id) = ids.get(fastrand::usize(..ids.len())) else {
                    continue;
                };
                // Its profit in cents is now in milliseconds: more than anyone's before.
                let stamp = Decimal::from(tests::load::unix_ms()) / Decimal::ONE_HUNDRED;
                hub.publish_view(id, "USD", view(Decimal::from(100_000) + stamp));
                leaders += 1;
            }
        }
        leaders
    }

    fn view(equity: Decimal) -> AccountView {
        AccountView {
            time: chrono::Utc::now(),
            balance: equity,
            equity,
            floating_pl: Decimal::ZERO,
            starting_capital: Decimal::from(100_000),
            peak_balance: equity,
            peak_equity: equity,
            drawdown: Decimal::ZERO,
            drawdown_percent: Some(Decimal::ZERO),
            open_positions: 0,
            challenge: None,
        }
    }
}
