//! Import load harness (a program, not a test): N accounts imported from one CSV file through
//! `POST /api/imports`, on SQLite and, when `TEST_POSTGRES_URL` is set, on a fresh PostgreSQL
//! database.
//!
//! ```text
//! cargo run --release -p tests --bin import-load -- --rows 5000
//! ```
//!
//! Riskdeck runs in this process in demo mode (journals off, polls every second, the built-in
//! demo broker in the same process). The file's rows are demo connections spread over the demo
//! broker's eight accounts (many Riskdeck accounts follow each), on `ftmo-2step`, a third owned
//! by `trader`, a third by `trader2`. Measured, per database:
//!
//! - the check: `?dry_run=true`, the request's wall time and the server's `checked_ms`;
//! - the import: the request's wall time, of which the one transaction that writes every
//!   account (`written_ms`) and starting every tracker (`launched_ms`);
//! - the time from the accounts' creation until every one is live (the job's `finished_at`),
//!   read every 250 ms, with the progress printed every 5 s;
//! - CPU time and resident memory of the process over the import.
//!
//! Options: `--rows N` (5000); `--transport streaming|rest` (streaming, the default of a new
//! account); `--timeout SECONDS` (900) to give up waiting for every account to be live.

use shared::api::{ImportJob, ImportReport};
use std::time::{Duration, Instant};
use tests::load::{cpu_time, rss};
use tests::{TestServer, demo_config};

struct Options {
    rows: usize,
    transport: String,
    timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let options = Options {
        rows: value("--rows").and_then(|n| n.parse().ok()).unwrap_or(5000),
        transport: value("--transport").unwrap_or_else(|| "streaming".to_owned()),
        timeout: Duration::from_secs(
            value("--timeout")
                .and_then(|n| n.parse().ok())
                .unwrap_or(900),
        ),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_all(options))
}

async fn run_all(options: Options) -> anyhow::Result<()> {
    println!(
        "| database | rows | check (server) | import request | one transaction | trackers started | every account live | failed | CPU | memory growth |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("r.db").display());
    run("SQLite", &sqlite, &options).await?;
    if let Some(fresh) = store::testing::FreshPostgres::create().await {
        run("PostgreSQL", fresh.url(), &options).await?;
    } else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL is left out.");
    }
    Ok(())
}

/// The CSV file of `rows` accounts following the demo broker's `accounts` in turn.
fn file(rows: usize, transport: &str, accounts: &[String]) -> String {
    let mut text = String::from(
        "id,name,connection,account,preset,owner,initial_balance,currency,transport\n",
    );
    for i in 0..rows {
        let owner = match i % 3 {
            0 => "trader",
            1 => "trader2",
            _ => "",
        };
        text.push_str(&format!(
            "imported-{i:05},Imported {i},demo,{},ftmo-2step,{owner},100000,USD,{transport}\n",
            accounts[i % accounts.len()]
        ));
    }
    text
}

async fn run(label: &str, database_url: &str, options: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = demo_config(&dir.path().join("unused.db"));
    config.database_url = database_url.to_owned();
    config.journal_dir = None;
    config.poll_interval = Duration::from_secs(1);
    config.stale_after = Duration::from_secs(60);
    let server = TestServer::start(config).await?;
    let admin = server.login("admin").await?;
    let demo: Vec<String> = server
        .state
        .launcher
        .demo
        .as_ref()
        .map(|demo| demo.broker.accounts().into_iter().map(|a| a.id).collect())
        .unwrap_or_default();
    anyhow::ensure!(!demo.is_empty(), "the demo broker has no accounts");
    let csv = file(options.rows, &options.transport, &demo);
    eprintln!("{label}: {} rows, {} KiB", options.rows, csv.len() / 1024);

    let sent = Instant::now();
    let response = admin
        .post(server.url("/api/imports?dry_run=true"))
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "dry run: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    let report: ImportReport = response.json().await?;
    let dry_run = sent.elapsed();
    eprintln!(
        "{label}: checked {} rows in {} ms (request {} ms)",
        report.rows,
        report.checked_ms,
        dry_run.as_millis()
    );

    let (cpu_before, rss_before) = (cpu_time(), rss());
    let sent = Instant::now();
    let response = admin
        .post(server.url("/api/imports"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 201,
        "import: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    let job: ImportJob = response.json().await?;
    let request = sent.elapsed();
    eprintln!(
        "{label}: imported in {} ms: checked {} ms, one transaction {} ms, trackers started {} ms",
        request.as_millis(),
        job.checked_ms,
        job.written_ms,
        job.launched_ms
    );

    let mut last_print = Instant::now();
    let done = loop {
        let job: ImportJob = admin
            .get(server.url(&format!("/api/imports/{}", job.id)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if job.finished_at.is_some() {
            break job;
        }
        if last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            eprintln!(
                "{label}: {:>5.1} s: {}/{} done ({} live, {} backfilling, {} connecting, {} failed), about {} s left",
                sent.elapsed().as_secs_f64(),
                job.done,
                job.total,
                job.live,
                job.backfilling,
                job.connecting,
                job.failed.len(),
                job.seconds_left
                    .map_or_else(|| "?".to_owned(), |s| s.to_string())
            );
        }
        anyhow::ensure!(
            sent.elapsed() < options.timeout,
            "{label}: not every account is live after {} s: {}/{} done",
            options.timeout.as_secs(),
            job.done,
            job.total
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let live_after = done
        .finished_at
        .map(|at| (at - done.started_at).num_milliseconds())
        .unwrap_or_default();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let grown = rss().saturating_sub(rss_before);
    eprintln!(
        "{label}: every account done {:.1} s after creation ({} live, {} failed)",
        live_after as f64 / 1000.0,
        done.live,
        done.failed.len()
    );
    for failure in done.failed.iter().take(5) {
        eprintln!("{label}: row {} failed: {}", failure.row, failure.reason);
    }
    println!(
        "| {label} | {} | {} ms | {:.1} s | {} ms | {} ms | {:.1} s | {} | {:.1} s | {} MiB ({:.1} KiB a row) |",
        options.rows,
        report.checked_ms,
        request.as_secs_f64(),
        done.written_ms,
        done.launched_ms,
        live_after as f64 / 1000.0,
        done.failed.len(),
        cpu.as_secs_f64(),
        grown / (1024 * 1024),
        grown as f64 / 1024.0 / options.rows.max(1) as f64,
    );
    server.stop().await;
    Ok(())
}
