//! The risk engine in the running server: a breach seen through the real MetaApi client is
//! stored with its evidence before it is shown, and survives a restart.
//!
//! The broker here is a small scripted MetaApi-shaped server whose equity the test sets.

use axum::Router;
use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup};
use shared::api::AccountSummary;
use shared::domain::AccountId;
use shared::engine::{ChallengeStatus, RuleStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// Balance and equity the scripted broker reports.
type Book = Arc<Mutex<(f64, f64)>>;

async fn scripted_broker(book: Book) -> String {
    let account = {
        let book = book.clone();
        move || {
            let (balance, equity) = *book.lock().expect("book");
            async move {
                axum::Json(serde_json::json!({
                    "platform": "mt5", "broker": "Scripted", "currency": "USD",
                    "server": "Scripted-1", "balance": balance, "equity": equity,
                    "margin": 500, "freeMargin": equity - 500.0, "leverage": 100,
                    "marginLevel": equity / 5.0, "credit": 0
                }))
            }
        }
    };
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(account),
        )
        .route(
            "/users/current/accounts/{id}/positions",
            get(|| async { axum::Json(serde_json::json!([])) }),
        )
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(|| async { axum::Json(serde_json::json!([])) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn config(dir: &std::path::Path, base: &str) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts = vec![AccountConfig {
        id: "ftmo-100k".into(),
        name: "FTMO 100k".into(),
        base_url: base.to_owned(),
        metaapi_account_id: "acc".into(),
        token: "t".into(),
        poll_interval: None,
        challenge: Some(ChallengeSetup {
            preset: "ftmo-2step".into(),
            initial_balance: 100_000.into(),
        }),
    }];
    config
}

async fn challenge_of(server: &TestServer) -> Option<shared::api::ChallengeView> {
    let summary: AccountSummary = reqwest::get(server.url("/api/accounts/ftmo-100k"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    summary.latest?.challenge
}

#[tokio::test]
async fn a_breach_is_stored_with_its_evidence_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book: Book = Arc::new(Mutex::new((100_000.0, 100_000.0)));
    let base = scripted_broker(book.clone()).await;
    let server = TestServer::start(config(dir.path(), &base))
        .await
        .expect("server");

    let active = eventually(Duration::from_secs(20), "an active challenge", || {
        challenge_of(&server)
    })
    .await
    .expect("the challenge is evaluated");
    assert_eq!(active.status, ChallengeStatus::Active);
    let ids: Vec<_> = active.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "daily_loss",
            "max_loss",
            "profit_target",
            "min_trading_days"
        ]
    );

    // Equity dips below the 5% daily floor for a moment, then recovers: the breach is final.
    *book.lock().expect("book") = (100_000.0, 94_999.0);
    let failed = eventually(Duration::from_secs(20), "a failed challenge", || async {
        challenge_of(&server)
            .await
            .filter(|c| c.status == ChallengeStatus::Failed)
    })
    .await
    .expect("the breach fails the challenge");
    *book.lock().expect("book") = (100_000.0, 100_500.0);
    let daily = failed
        .rules
        .iter()
        .find(|r| r.id == "daily_loss")
        .expect("daily loss");
    assert_eq!(daily.status, RuleStatus::Breached);
    server.stop().await;

    // The breach was stored with its evidence.
    let store = backend::db::open(&config(dir.path(), &base).database_url)
        .await
        .expect("store");
    let events = store
        .challenge_events(&AccountId::from("ftmo-100k"))
        .await
        .expect("events");
    let breach = events
        .iter()
        .find(|e| e.kind == "breach")
        .expect("a stored breach");
    assert_eq!(breach.rule.as_deref(), Some("daily_loss"));
    let body: serde_json::Value = serde_json::from_str(&breach.body).expect("json");
    assert_eq!(body["evidence"]["measured"], "94999");
    assert_eq!(body["evidence"]["limit"], "95000");
    assert!(events.iter().any(|e| e.kind == "failed"));
    drop(store);

    // After a restart, with equity long recovered, the challenge is still failed.
    let server = TestServer::start(config(dir.path(), &base))
        .await
        .expect("restart");
    let after = eventually(Duration::from_secs(20), "the restored challenge", || {
        challenge_of(&server)
    })
    .await
    .expect("restored");
    assert_eq!(after.status, ChallengeStatus::Failed);
    server.stop().await;
}
