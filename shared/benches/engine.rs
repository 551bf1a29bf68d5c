//! Risk engine throughput: one account-information update through a full preset, and many
//! accounts updated round-robin (cache misses included).
//!
//! Run: `cargo bench -p shared --bench engine -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::Decimal;
use shared::domain::AccountInfo;
use shared::engine::{Challenge, Event, Record, RecordData};

const INITIAL: i64 = 100_000;

fn time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_768_212_000, 0).unwrap_or_default() // 2026-01-12T10:00:00Z
}

/// Account updates with equity wandering within 0.5% of the initial balance, in cents: no event
/// for any preset, but every comparison runs.
fn updates(count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let cents = i64::try_from((i * 7919) % 100_000).unwrap_or(0) - 50_000;
            let equity = Decimal::new(INITIAL * 100 + cents, 2);
            Record::new(
                time(),
                RecordData::AccountInformation(AccountInfo {
                    balance: Decimal::from(INITIAL),
                    equity,
                    margin: Decimal::new(1000, 0),
                    free_margin: equity,
                    margin_level: Some(Decimal::new(10_000, 0)),
                    currency: "USD".into(),
                    leverage: Some(100),
                    credit: Decimal::ZERO,
                }),
            )
        })
        .collect()
}

fn challenge(preset: &str) -> Challenge {
    Challenge::from_preset(preset, Decimal::from(INITIAL)).unwrap_or_else(|e| panic!("{e}"))
}

fn single(c: &mut Criterion, preset: &str, group_name: &str) {
    let records = updates(1024);
    let mut state = challenge(preset);
    let mut events: Vec<Event> = Vec::with_capacity(64);
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("update", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let record = &records[i & 1023];
            i = i.wrapping_add(1);
            black_box(state.apply(black_box(record), &mut events)).ok();
        });
    });
    group.finish();
    assert!(
        events.is_empty(),
        "{preset}: the bench stream raised events"
    );
}

fn many_accounts(c: &mut Criterion, accounts: usize) {
    let records = updates(1024);
    let mut states: Vec<Challenge> = (0..accounts).map(|_| challenge("ftmo-2step")).collect();
    let mut events: Vec<Event> = Vec::with_capacity(64);
    let mut group = c.benchmark_group("ftmo_2step");
    group.throughput(Throughput::Elements(accounts as u64));
    group.bench_function(format!("many_accounts_{accounts}"), |b| {
        let mut round = 0usize;
        b.iter(|| {
            for (n, state) in states.iter_mut().enumerate() {
                let record = &records[(n + round) & 1023];
                black_box(state.apply(record, &mut events)).ok();
            }
            round = round.wrapping_add(1);
        });
    });
    group.finish();
    assert!(events.is_empty(), "the bench stream raised events");
}

/// MetaApi-style trackers riding the update path: 10,000 accounts with three trackers each
/// (daily drawdown, weekly drawdown, lifetime profit), each equity update folded into all
/// three; thresholds set so that none is crossed (every comparison runs, no period freezes).
fn trackers(c: &mut Criterion, accounts: usize) {
    use shared::trackers::{Period, PeriodStats, TrackerSpec, parse_broker_time};
    let start = parse_broker_time("2026-01-05 00:00:00.000").expect("time");
    let spec = |period: &str, field: &str, threshold: f64| {
        TrackerSpec::read(&serde_json::json!({"name": period, "period": period, field: threshold}))
            .expect("a valid tracker")
    };
    let specs = [
        spec("day", "relativeDrawdownThreshold", 0.5),
        spec("week", "absoluteDrawdownThreshold", 90_000.0),
        spec("lifetime", "relativeProfitThreshold", 5.0),
    ];
    let mut tracked: Vec<[PeriodStats; 3]> = (0..accounts)
        .map(|_| {
            specs.each_ref().map(|spec| {
                let bounds = shared::trackers::period_at(spec, start, start).expect("started");
                PeriodStats::new(spec.period, bounds, Decimal::from(100_000))
            })
        })
        .collect();
    debug_assert!(specs.iter().any(|s| s.period == Period::Lifetime));
    let equities: Vec<Decimal> = (0..1024i64)
        .map(|n| Decimal::new(9_900_000 + (n * 7919) % 200_000, 2))
        .collect();
    let mut group = c.benchmark_group("trackers");
    group.throughput(Throughput::Elements(accounts as u64));
    group.bench_function(format!("three_per_account_{accounts}"), |b| {
        let mut round = 0usize;
        b.iter(|| {
            let time = start + chrono::TimeDelta::seconds(round as i64);
            for (n, stats) in tracked.iter_mut().enumerate() {
                let equity = equities[(n + round) & 1023];
                for (stats, spec) in stats.iter_mut().zip(&specs) {
                    black_box(stats.observe(spec, equity, time));
                }
            }
            round = round.wrapping_add(1);
        });
    });
    group.finish();
    assert!(
        tracked.iter().flatten().all(|s| s.exceeded.is_none()),
        "the bench crossed a threshold"
    );
}

fn engine(c: &mut Criterion) {
    single(c, "ftmo-2step", "ftmo_2step");
    single(c, "apex-intraday-trailing", "apex_intraday_trailing");
    single(c, "fund-policy", "fund_policy");
    many_accounts(c, 1_000);
    many_accounts(c, 10_000);
    trackers(c, 10_000);
}

criterion_group!(benches, engine);
criterion_main!(benches);
