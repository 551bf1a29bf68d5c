//! Risk management API latency harness (a program, not a test): how long a tracker event takes
//! from the account update that crossed the threshold to a waiting long poll
//! (`GET /users/current/tracker-events/stream`, as MetaApi's SDK listeners call it).
//!
//! ```text
//! cargo run --release -p tests --bin risk-latency -- --events 50
//! ```
//!
//! Riskdeck runs in this process in demo mode (SQLite file, the demo broker's accounts polled
//! every 200 ms with quotes in between). Rounds: a long poll is opened with the cursor of the
//! last event seen, then trackers with tiny thresholds (`lifetime`, 0.01 either way) are
//! created on every demo account, and the floating P/L crosses them within seconds; after the
//! poll answers, the round's trackers are deleted. For each
//! event answered, latency = when the long poll's answer arrived − when the tracker loop folded
//! the update that crossed the threshold (the event's `created_at` in the store). Events stored
//! before the poll was opened are not counted (no poll was waiting for them).
//!
//! Options: `--events N` (50): stop after N events measured.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{TestServer, demo_config};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wanted: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(wanted))
}

async fn run(wanted: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(demo_config(&dir.path().join("r.db"))).await?;
    let accounts: Vec<String> = server
        .account_ids()
        .await?
        .into_iter()
        .map(|a| a.0)
        .collect();
    let admin = server.login("admin").await?;
    let created: Value = admin
        .post(server.url("/api/api-tokens"))
        .json(&json!({ "name": "latency", "accounts": accounts }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["token"].as_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::new();
    let mut latencies: Vec<f64> = Vec::new();
    let mut cursor = server.state.store.last_tracker_event().await?;
    let mut round = 0;
    let started = std::time::Instant::now();
    while latencies.len() < wanted && started.elapsed() < Duration::from_secs(600) {
        round += 1;
        let opened = chrono::Utc::now();
        let poll = {
            let (client, token) = (client.clone(), token.clone());
            let url = server.url(&format!(
                "/users/current/tracker-events/stream?previousSequenceNumber={cursor}"
            ));
            tokio::spawn(async move {
                let response = client.get(url).header("auth-token", token).send().await?;
                let received = chrono::Utc::now();
                let events: Value = response.json().await?;
                anyhow::Ok((received, events))
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut made = Vec::new();
        for account in &accounts {
            let response = client
                .post(server.url(&format!("/users/current/accounts/{account}/trackers")))
                .header("auth-token", &token)
                .json(&json!({
                    "name": format!("round {round}"),
                    "period": "lifetime",
                    "absoluteDrawdownThreshold": 0.01,
                    "absoluteProfitThreshold": 0.01
                }))
                .send()
                .await?;
            if !response.status().is_success() {
                anyhow::bail!(
                    "creating a tracker on {account}: {}",
                    response.text().await?
                );
            }
            let id: Value = response.json().await?;
            made.push((account, id["id"].as_str().unwrap_or_default().to_owned()));
        }
        let (received, events) = poll.await??;
        // A round's trackers go (an account holds at most 100): a crossing of theirs still
        // coming is not waited for.
        for (account, id) in made {
            client
                .delete(server.url(&format!("/users/current/accounts/{account}/trackers/{id}")))
                .header("auth-token", &token)
                .send()
                .await?;
        }
        let stored = server
            .state
            .store
            .tracker_events(&store::TrackerEventFilter {
                after_sequence: Some(cursor),
                ..store::TrackerEventFilter::default()
            })
            .await?;
        for event in events.as_array().into_iter().flatten() {
            let number = event["sequenceNumber"].as_i64().unwrap_or_default();
            cursor = cursor.max(number);
            let Some(record) = stored.iter().find(|r| r.sequence_number == number) else {
                continue;
            };
            if record.event.created_at < opened {
                continue;
            }
            let ms = (received - record.event.created_at)
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1000.0;
            latencies.push(ms);
        }
    }
    server.stop().await;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "events measured: {} in {round} rounds; update to long-poll answer: p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
