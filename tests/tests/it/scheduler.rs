//! The poll scheduler: however many accounts, at most `max_concurrent_polls` polls talk to the
//! broker at once.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use backend::config::AccountConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// Requests in flight now, the most ever in flight, and how many were answered.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
    answered: AtomicUsize,
}

/// A slow MetaApi-shaped broker that measures how many requests overlap.
async fn slow_broker(gauge: Arc<Gauge>) -> String {
    async fn answer(
        State(gauge): State<Arc<Gauge>>,
        body: serde_json::Value,
    ) -> axum::Json<serde_json::Value> {
        let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        gauge.now.fetch_sub(1, Ordering::SeqCst);
        gauge.answered.fetch_add(1, Ordering::SeqCst);
        axum::Json(body)
    }
    let info = serde_json::json!({
        "platform": "mt5", "broker": "Slow", "currency": "USD", "server": "Slow-1",
        "balance": 100_000, "equity": 100_000, "margin": 0, "freeMargin": 100_000,
        "leverage": 100, "credit": 0
    });
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(move |state| answer(state, info.clone())),
        )
        .route(
            "/users/current/accounts/{id}/positions",
            get(|state| answer(state, serde_json::json!([]))),
        )
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(|state| answer(state, serde_json::json!([]))),
        )
        .with_state(gauge);
    tests::serve_router(app).await
}

#[tokio::test]
async fn at_most_max_concurrent_polls_poll_at_once() {
    let gauge = Arc::new(Gauge::default());
    let base = slow_broker(gauge.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("s.db"));
    config.demo = false;
    config.max_concurrent_polls = 2;
    config.poll_interval = Duration::from_millis(100);
    config.accounts = (0..12)
        .map(|i| AccountConfig {
            id: format!("acc-{i}"),
            name: format!("Account {i}"),
            base_url: base.clone(),
            metaapi_account_id: format!("acc-{i}"),
            token: "t".into(),
            poll_interval: None,
            trader: None,
            region: None,
            ingest_token: None,
            ctrader: None,
            transport: Some(shared::api::Transport::Rest),
            challenge: None,
        })
        .collect();
    let server = TestServer::start(config).await.expect("server");
    eventually(Duration::from_secs(60), "many answered requests", || {
        let answered = gauge.answered.load(Ordering::SeqCst);
        async move { (answered >= 200).then_some(()) }
    })
    .await
    .expect("the accounts are polled");
    server.stop().await;
    // A poll asks for account information and positions together: two polls at once make at
    // most four requests in flight.
    let most = gauge.most.load(Ordering::SeqCst);
    assert!(most <= 4, "{most} requests were in flight at once");
    assert!(
        most >= 2,
        "polls never overlapped ({most}): the test proves nothing"
    );
}
