//! Quotes between account polls: a trough the broker's equity never showed is seen as
//! estimated equity, warns (flagged as estimated), and breaches only when the challenge's
//! policy says estimated equity may breach.

use axum::Router;
use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup};
use shared::domain::AccountId;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// A broker whose account reports 100,000 equity on every poll, with one long EURUSD lot open,
/// while its quote falls to the bid the test sets.
async fn broker(bid: Arc<Mutex<f64>>) -> String {
    let opened = "2026-01-12T09:00:00Z";
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(|| async {
                axum::Json(serde_json::json!({
                    "platform": "mt5", "broker": "Quoted", "currency": "USD",
                    "server": "Quoted-1", "balance": 100_000, "equity": 100_000,
                    "margin": 1000, "freeMargin": 99_000, "leverage": 100, "credit": 0
                }))
            }),
        )
        .route(
            "/users/current/accounts/{id}/positions",
            get(move || async move {
                axum::Json(serde_json::json!([{
                    "id": "p1", "type": "POSITION_TYPE_BUY", "symbol": "EURUSD",
                    "time": opened, "openPrice": 1.1, "currentPrice": 1.1,
                    "stopLoss": 1.0, "volume": 1, "profit": 0
                }]))
            }),
        )
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(|| async { axum::Json(serde_json::json!([])) }),
        )
        .route(
            "/users/current/accounts/{id}/symbols/{symbol}/specification",
            get(|| async {
                axum::Json(serde_json::json!({
                    "symbol": "EURUSD", "tickSize": 0.00001, "contractSize": 100_000,
                    "digits": 5
                }))
            }),
        )
        .route(
            "/users/current/accounts/{id}/symbols/{symbol}/current-price",
            get(move || {
                let bid = *bid.lock().expect("bid");
                async move {
                    axum::Json(serde_json::json!({
                        "symbol": "EURUSD", "bid": bid, "ask": bid + 0.0001,
                        "profitTickValue": 1, "lossTickValue": 1,
                        "time": chrono::Utc::now().to_rfc3339()
                    }))
                }
            }),
        );
    tests::serve_router(app).await
}

fn config(dir: &std::path::Path, base: &str, estimated_breaches: bool) -> backend::config::Config {
    let mut config = demo_config(&dir.join("q.db"));
    config.demo = false;
    config.poll_interval = Duration::from_millis(400);
    config.price_interval = Some(Duration::from_millis(100));
    config.accounts = vec![AccountConfig {
        id: "quoted".into(),
        name: "Quoted".into(),
        base_url: base.to_owned(),
        metaapi_account_id: "acc".into(),
        token: "t".into(),
        poll_interval: None,
        trader: None,
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
        challenge: Some(ChallengeSetup {
            preset: "ftmo-2step".into(),
            initial_balance: 100_000.into(),
            estimated_equity_breaches: estimated_breaches,
            program: None,
        }),
    }];
    config
}

/// Runs the scenario: the quote falls 6,000 below the open (under the 95,000 daily floor)
/// while the broker's equity stays at 100,000. Returns the stored events as JSON.
async fn trough(estimated_breaches: bool, wanted: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let bid = Arc::new(Mutex::new(1.1));
    let base = broker(bid.clone()).await;
    let config = config(dir.path(), &base, estimated_breaches);
    let url = config.database_url.clone();
    let server = TestServer::start(config).await.expect("server");
    let store = store::open(&url).await.expect("store");
    let account = AccountId::from("quoted");
    eventually(
        Duration::from_secs(20),
        "the challenge is tracked",
        || async { store.load_challenge(&account).await.ok().flatten() },
    )
    .await
    .expect("tracked");
    *bid.lock().expect("bid") = 1.04;
    let events = eventually(Duration::from_secs(20), wanted, || async {
        let events = store.challenge_events(&account).await.ok()?;
        events.iter().any(|e| e.kind == wanted).then_some(events)
    })
    .await
    .expect("the trough is seen between polls");
    server.stop().await;
    events
        .iter()
        .map(|e| serde_json::from_str(&e.body).expect("event JSON"))
        .collect()
}

#[tokio::test]
async fn a_trough_between_polls_warns_as_estimated_but_does_not_breach() {
    let events = trough(false, "warning").await;
    let warning = events
        .iter()
        .find(|e| e["kind"] == "warning" && e["rule"] == "daily_loss")
        .expect("a daily-loss warning");
    assert_eq!(warning["evidence"]["estimated"], true, "{warning}");
    assert_eq!(warning["evidence"]["measured"], "94000", "{warning}");
    assert!(
        events.iter().all(|e| e["kind"] != "breach"),
        "estimated equity must not breach by default: {events:?}"
    );
}

#[tokio::test]
async fn a_trough_between_polls_breaches_when_the_policy_allows_it() {
    let events = trough(true, "breach").await;
    let breach = events
        .iter()
        .find(|e| e["kind"] == "breach")
        .expect("a breach");
    assert_eq!(breach["rule"], "daily_loss");
    assert_eq!(breach["evidence"]["estimated"], true, "{breach}");
}
