//! A long backfill reports its progress: the account's summary (and its stream) say how many
//! deals of its history have been read, page by page, until the challenge is evaluated.

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup};
use shared::api::{AccountSummary, FeedStatus};
use std::collections::BTreeSet;
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// Deals in the scripted history: three pages of at most 1,000.
const DEALS: usize = 2_500;

/// Each page of deal history takes this long to serve: long enough to be seen.
const PAGE_DELAY: Duration = Duration::from_millis(1_500);

#[derive(serde::Deserialize)]
struct Page {
    offset: usize,
    limit: usize,
}

fn history() -> Vec<serde_json::Value> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
        .expect("time")
        .to_utc();
    let mut deals = vec![serde_json::json!({
        "id": "0", "type": "DEAL_TYPE_BALANCE", "time": start, "profit": 100000,
        "commission": 0, "swap": 0
    })];
    deals.extend((1..DEALS).map(|i| {
        let time = start + chrono::Duration::minutes(i64::try_from(i).expect("small"));
        serde_json::json!({
            "id": i.to_string(), "type": "DEAL_TYPE_SELL", "entryType": "DEAL_ENTRY_OUT",
            "symbol": "EURUSD", "time": time, "volume": 0.1, "price": 1.1, "profit": 1,
            "commission": 0, "swap": 0, "positionId": format!("p{i}")
        })
    }));
    deals
}

async fn slow_broker() -> String {
    let deals = history();
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(|| async {
                axum::Json(serde_json::json!({
                    "platform": "mt5", "broker": "Scripted", "currency": "USD",
                    "server": "Scripted-1", "balance": 102499, "equity": 102499,
                    "margin": 0, "freeMargin": 102499, "leverage": 100, "credit": 0
                }))
            }),
        )
        .route(
            "/users/current/accounts/{id}/positions",
            get(|| async { axum::Json(serde_json::json!([])) }),
        )
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(move |Query(page): Query<Page>| {
                let deals = deals.clone();
                async move {
                    tokio::time::sleep(PAGE_DELAY).await;
                    let end = (page.offset + page.limit).min(deals.len());
                    axum::Json(deals.get(page.offset..end).unwrap_or_default().to_vec())
                }
            }),
        );
    tests::serve_router(app).await
}

#[tokio::test]
async fn a_long_backfill_shows_how_many_deals_it_has_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.stale_after = Duration::from_secs(60);
    config.broker_timeout = Duration::from_secs(30);
    config.accounts = vec![AccountConfig {
        id: "history".into(),
        name: "Long history".into(),
        base_url: slow_broker().await,
        metaapi_account_id: "acc".into(),
        token: "t".into(),
        poll_interval: None,
        challenge: Some(ChallengeSetup {
            preset: "ftmo-2step".into(),
            initial_balance: 100_000.into(),
            estimated_equity_breaches: false,
            program: None,
        }),
        trader: None,
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let seen = std::cell::RefCell::new(BTreeSet::new());
    eventually(Duration::from_secs(60), "the challenge evaluated", || {
        let (admin, server, seen) = (&admin, &server, &seen);
        async move {
            let summary: AccountSummary = admin
                .get(server.url("/api/accounts/history"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            if let Some(progress) = summary.backfill {
                assert_eq!(summary.feed, FeedStatus::Backfilling);
                seen.borrow_mut().insert(progress.deals_read);
            }
            summary.latest?.challenge.map(drop)
        }
    })
    .await
    .expect("the backfill finishes");
    // Pages end at 1,000 and 2,000 deals, each on screen for a page's delay.
    let seen = seen.into_inner();
    assert!(
        seen.contains(&1_000) && seen.contains(&2_000),
        "progress seen: {seen:?}"
    );
    let done: AccountSummary = admin
        .get(server.url("/api/accounts/history"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("summary");
    assert_eq!(done.backfill, None, "progress is cleared once live");
    server.stop().await;
}
