//! Sustained write rates of the store: equity samples folded into buckets (one at a time, as the
//! tracker writes them, and in batches) and challenge events (one per transaction, and in
//! batches), on SQLite (a file, WAL) and on PostgreSQL (`TEST_POSTGRES_URL`, a fresh database).
//!
//! `cargo bench -p store --bench store_load -- --seconds 5` (docs/BENCHMARKS.md has results).
//! Each case runs for the given time with `ACCOUNTS` accounts written concurrently, then prints
//! one table row.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use std::sync::Arc;
use std::time::Instant;
use store::{Store, StoredEvent, buckets::TIERS};

/// Accounts written at the same time (one writer task each, like one tracker each).
const ACCOUNTS: usize = 8;

struct Case {
    name: &'static str,
    /// Samples (or events) per store call.
    batch: usize,
    events: bool,
}

const CASES: [Case; 4] = [
    Case {
        name: "equity samples, 1 per call (the tracker's write)",
        batch: 1,
        events: false,
    },
    Case {
        name: "equity samples, batches of 100",
        batch: 100,
        events: false,
    },
    Case {
        name: "events + outbox with state, 1 per call",
        batch: 1,
        events: true,
    },
    Case {
        name: "events + outbox with state, batches of 100",
        batch: 100,
        events: true,
    },
];

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Writes for `seconds` from `ACCOUNTS` tasks; returns items written and seconds taken.
async fn run_case(store: &Arc<dyn Store>, case: &Case, tag: &str, seconds: f64) -> (u64, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..ACCOUNTS {
        let store = store.clone();
        let account = AccountId(format!("{tag}-{a}"));
        let batch = case.batch;
        let events = case.events;
        tasks.push(tokio::spawn(async move {
            let mut written = 0u64;
            let mut second = 0i64;
            // A state about the size of a real challenge's.
            let state = format!("{{\"state\":\"{}\"}}", "x".repeat(2_000));
            while started.elapsed().as_secs_f64() < seconds {
                if events {
                    let batch: Vec<StoredEvent> = (0..batch)
                        .map(|_| {
                            second += 1;
                            StoredEvent {
                                time: start_time() + Duration::seconds(second),
                                kind: "warning".into(),
                                rule: Some("daily_loss".into()),
                                body: r#"{"kind":"warning","evidence":{"measured":"95500.25","limit":"95000"}}"#.into(),
                            }
                        })
                        .collect();
                    if let Err(error) = store.save_challenge(&account, &state, &batch).await {
                        eprintln!("save_challenge failed: {error}");
                        break;
                    }
                } else {
                    // One sample a second, equity wandering: new buckets open as time passes.
                    let batch: Vec<EquityPoint> = (0..batch)
                        .map(|_| {
                            second += 1;
                            EquityPoint {
                                time: start_time() + Duration::seconds(second),
                                balance: Decimal::new(10_000_000, 2),
                                equity: Decimal::new(10_000_000 + (second * 7919) % 50_000, 2),
                            }
                        })
                        .collect();
                    if let Err(error) = store.append_samples(&account, &batch).await {
                        eprintln!("append_samples failed: {error}");
                        break;
                    }
                }
                written += batch as u64;
            }
            written
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    (total, started.elapsed().as_secs_f64())
}

async fn bench(database: &str, url: &str, seconds: f64) {
    let store = match store::open(url).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("{database}: cannot open: {error}");
            return;
        }
    };
    for (i, case) in CASES.iter().enumerate() {
        let (written, took) = run_case(&store, case, &format!("c{i}"), seconds).await;
        let rate = written as f64 / took;
        let unit = if case.events {
            format!("{rate:.0} events/s")
        } else {
            format!("{rate:.0} samples/s, each into {} tiers", TIERS.len())
        };
        println!(
            "| {database} | {} | {} accounts | {written} in {took:.1} s | {unit} |",
            case.name, ACCOUNTS
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; only `--seconds N` is ours.
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(5.0);
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start a runtime");
        std::process::exit(1);
    };
    runtime.block_on(async {
        println!("| database | case | writers | written | rate |");
        println!("|---|---|---|---|---|");
        let Ok(dir) = tempfile::tempdir() else {
            eprintln!("cannot make a temporary directory");
            return;
        };
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        bench("SQLite (file, WAL)", &url, seconds).await;
        match store::testing::FreshPostgres::create().await {
            Some(fresh) => bench("PostgreSQL", fresh.url(), seconds).await,
            None => eprintln!("PostgreSQL skipped: set TEST_POSTGRES_URL to measure it"),
        }
    });
}
