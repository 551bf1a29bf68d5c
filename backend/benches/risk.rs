//! MetaApi risk trackers on the tracker loop's update path: `Risk::observe` for 10,000
//! accounts with three trackers each (the lock, the account's lookup, broker time in its IANA
//! zone, and the three folds), through the real `Risk` on a real SQLite store.
//!
//! Run: `cargo bench -p backend --bench risk -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use backend::risk::Risk;
use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use shared::domain::AccountId;
use shared::trackers::TrackerSpec;

const ACCOUNTS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let accounts: Vec<AccountId> = (0..ACCOUNTS)
        .map(|n| AccountId(format!("bench-{n}")))
        .collect();
    let risk = runtime.block_on(async {
        let store = store::open(&url).await.expect("store");
        let (risk, writer) = Risk::start(store, false, shutdown.clone())
            .await
            .expect("risk");
        tokio::spawn(writer);
        let spec = |period: &str, field: &str, threshold: f64| {
            TrackerSpec::read(
                &serde_json::json!({"name": period, "period": period, field: threshold}),
            )
            .expect("a valid tracker")
        };
        let specs = [
            spec("day", "relativeDrawdownThreshold", 0.5),
            spec("week", "absoluteDrawdownThreshold", 90_000.0),
            spec("lifetime", "relativeProfitThreshold", 5.0),
        ];
        for account in &accounts {
            for spec in &specs {
                risk.create(account, spec.clone())
                    .await
                    .expect("create")
                    .expect("a new name");
            }
        }
        risk
    });
    let zone = chrono_tz::Europe::Prague;
    let start: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().expect("time");
    let equities: Vec<Decimal> = (0..1024i64)
        .map(|n| Decimal::new(9_900_000 + (n * 7919) % 200_000, 2))
        .collect();
    let balance = Decimal::from(100_000);
    let mut group = c.benchmark_group("risk");
    group.throughput(Throughput::Elements(ACCOUNTS as u64));
    group.bench_function(format!("observe_three_per_account_{ACCOUNTS}"), |b| {
        let mut round = 0usize;
        b.iter(|| {
            let time = start + chrono::TimeDelta::seconds(round as i64);
            for (n, account) in accounts.iter().enumerate() {
                let equity = equities[(n + round) & 1023];
                let crossed = risk.observe(account, zone, &[], time, balance, equity);
                black_box(crossed);
            }
            round = round.wrapping_add(1);
        });
    });
    group.finish();
    shutdown.cancel();
}

criterion_group!(benches, bench);
criterion_main!(benches);
