//! The risk engine in the running server: a breach seen through the real MetaApi client is
//! stored with its evidence before it is shown, and survives a restart.
//!
//! The broker here is a small scripted MetaApi-shaped server whose equity the test sets.

use axum::Router;
use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup};
use shared::api::{AccountSummary, EventsResponse, RuleSetsResponse};
use shared::domain::AccountId;
use shared::engine::{ChallengeStatus, RuleStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// Balance and equity the scripted broker reports.
type Book = Arc<Mutex<(f64, f64)>>;

async fn scripted_broker(book: Book) -> String {
    scripted_broker_with_history(book, serde_json::json!([])).await
}

/// The scripted broker, with `deals` as its whole deal history (served for any time range).
async fn scripted_broker_with_history(book: Book, deals: serde_json::Value) -> String {
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
            get(move || {
                let deals = deals.clone();
                async move { axum::Json(deals) }
            }),
        );
    tests::serve_router(app).await
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
            estimated_equity_breaches: false,
            program: None,
        }),
        trader: Some("jane".into()),
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    config
}

async fn challenge_of(
    server: &TestServer,
    client: &reqwest::Client,
) -> Option<shared::api::ChallengeView> {
    let summary: AccountSummary = client
        .get(server.url("/api/accounts/ftmo-100k"))
        .send()
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
    // The account's trader, created at the first start with a generated password.
    let jane_password = server.password("jane").expect("a generated password");
    let jane = server.login("jane").await.expect("sign in");

    let active = eventually(Duration::from_secs(20), "an active challenge", || {
        challenge_of(&server, &jane)
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
        challenge_of(&server, &jane)
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
    let store = store::open(&config(dir.path(), &base).database_url)
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
    assert!(
        server.logins.iter().all(|l| l.username != "jane"),
        "an existing trader keeps their password across restarts"
    );
    let jane = server
        .login_with_password("jane", &jane_password)
        .await
        .expect("sign in again")
        .client;
    let after = eventually(Duration::from_secs(20), "the restored challenge", || {
        challenge_of(&server, &jane)
    })
    .await
    .expect("restored");
    assert_eq!(after.status, ChallengeStatus::Failed);
    server.stop().await;
}

/// A deal of the scripted history, `days_ago` days before now at the given UTC hour.
fn history_deal(
    id: u32,
    days_ago: i64,
    kind: &str,
    entry: Option<&str>,
    profit: f64,
) -> serde_json::Value {
    let now = chrono::Utc::now();
    let time = now - chrono::Duration::days(days_ago);
    let time = time.format("%Y-%m-%dT10:%M:%S%.3fZ").to_string();
    let mut deal = serde_json::json!({
        "id": id.to_string(), "type": kind, "time": time, "brokerTime": time,
        "profit": profit, "commission": 0, "swap": 0, "positionId": format!("p{}", id / 2),
    });
    if let Some(entry) = entry {
        deal["entryType"] = entry.into();
        deal["symbol"] = "EURUSD".into();
        deal["volume"] = 1.into();
        deal["price"] = 1.1.into();
    }
    deal
}

#[tokio::test]
async fn an_account_onboarded_mid_challenge_is_measured_against_its_history() {
    // Funded five days ago, traded on three days since: +1,500, +700 and -900.
    let deals = serde_json::json!([
        history_deal(1, 5, "DEAL_TYPE_BALANCE", None, 100_000.0),
        history_deal(2, 4, "DEAL_TYPE_BUY", Some("DEAL_ENTRY_IN"), 0.0),
        history_deal(3, 4, "DEAL_TYPE_SELL", Some("DEAL_ENTRY_OUT"), 1_500.0),
        history_deal(4, 3, "DEAL_TYPE_BUY", Some("DEAL_ENTRY_IN"), 0.0),
        history_deal(5, 3, "DEAL_TYPE_SELL", Some("DEAL_ENTRY_OUT"), 700.0),
        history_deal(6, 2, "DEAL_TYPE_BUY", Some("DEAL_ENTRY_IN"), 0.0),
        history_deal(7, 2, "DEAL_TYPE_SELL", Some("DEAL_ENTRY_OUT"), -900.0),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let book: Book = Arc::new(Mutex::new((101_300.0, 101_300.0)));
    let base = scripted_broker_with_history(book, deals).await;
    let server = TestServer::start(config(dir.path(), &base))
        .await
        .expect("server");
    let jane = server.login("jane").await.expect("sign in");
    let challenge = eventually(Duration::from_secs(20), "the onboarded challenge", || {
        challenge_of(&server, &jane)
    })
    .await
    .expect("the challenge is evaluated");
    let rule = |id: &str| {
        challenge
            .rules
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("rule {id}"))
            .clone()
    };
    assert_eq!(challenge.status, ChallengeStatus::Active);
    assert_eq!(
        rule("min_trading_days").measured,
        Some(3.into()),
        "three trading days from the history"
    );
    // The funding is the initial balance, not a deposit: the target is 10% above 100,000, and
    // 1,300 of it is made.
    let target = rule("profit_target");
    assert_eq!(target.limit, Some(110_000.into()), "{target:?}");
    assert_eq!(target.remaining, Some(8_700.into()), "{target:?}");
    let summary: AccountSummary = jane
        .get(server.url("/api/accounts/ftmo-100k"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let latest = summary.latest.expect("latest");
    assert_eq!(latest.starting_capital, 100_000.into());
    assert_eq!(
        latest.peak_balance,
        102_200.into(),
        "the peak closed balance of the history"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_challenge_events_and_rule_sets_are_served_to_the_owner_page_by_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book: Book = Arc::new(Mutex::new((100_000.0, 100_000.0)));
    let base = scripted_broker(book.clone()).await;
    let server = TestServer::start(config(dir.path(), &base))
        .await
        .expect("server");
    let jane = server.login("jane").await.expect("sign in");
    eventually(Duration::from_secs(20), "an active challenge", || {
        challenge_of(&server, &jane)
    })
    .await
    .expect("the challenge is evaluated");
    *book.lock().expect("book") = (100_000.0, 94_999.0);
    eventually(Duration::from_secs(20), "a failed challenge", || async {
        challenge_of(&server, &jane)
            .await
            .filter(|c| c.status == ChallengeStatus::Failed)
    })
    .await
    .expect("the breach fails the challenge");

    let id = AccountId::from("ftmo-100k");
    let stored = server
        .state
        .store
        .challenge_event_records(&id, 0, 1_000)
        .await
        .expect("events");
    assert!(stored.len() >= 2, "a breach and the failure: {stored:?}");
    // One event per page, following next_after, gives every stored event in order.
    let mut served = Vec::new();
    let mut after = 0;
    for _ in 0..=stored.len() {
        let page: EventsResponse = jane
            .get(server.url(&format!(
                "/api/accounts/ftmo-100k/events?after={after}&limit=1"
            )))
            .send()
            .await
            .expect("request")
            .error_for_status()
            .expect("200")
            .json()
            .await
            .expect("json");
        assert!(page.events.len() <= 1);
        served.extend(page.events);
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    // The tracker may have stored more since the snapshot above; the served pages start with
    // the snapshot.
    assert!(served.len() >= stored.len());
    for (view, record) in served.iter().zip(&stored) {
        assert_eq!(view.id, record.id);
        assert_eq!(view.kind, record.event.kind);
        assert_eq!(view.rule, record.event.rule);
        assert_eq!(
            view.event,
            serde_json::from_str::<serde_json::Value>(&record.event.body).expect("json")
        );
    }
    let breach = served
        .iter()
        .find(|e| e.kind == "breach")
        .expect("a breach");
    assert_eq!(breach.event["evidence"]["limit"], "95000");
    let bad = jane
        .get(server.url("/api/accounts/ftmo-100k/events?limit=0"))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 400);

    // Rule sets: every stored version, oldest first.
    let rules_url = server.url("/api/accounts/ftmo-100k/rule-sets");
    let none: RuleSetsResponse = jane
        .get(&rules_url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(none.versions.is_empty());
    let from = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
    for target in [10, 8] {
        server
            .state
            .store
            .save_rule_set(&id, from, &serde_json::json!({ "target": target }), "admin")
            .await
            .expect("save");
    }
    let versions: RuleSetsResponse = jane
        .get(&rules_url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let summary: Vec<_> = versions
        .versions
        .iter()
        .map(|v| (v.version, v.rules["target"].clone(), v.effective_from))
        .collect();
    assert_eq!(
        summary,
        [
            (1, serde_json::json!(10), from),
            (2, serde_json::json!(8), from)
        ]
    );
    server.stop().await;
}
