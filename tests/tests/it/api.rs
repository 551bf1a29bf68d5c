//! The JSON API over a real socket, against the real demo broker.

use shared::api::{AccountSummary, AccountsResponse, ErrorBody, FeedStatus, HistoryResponse};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: &str) -> (u16, T) {
    let response = client.get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn demo_accounts_are_listed_and_go_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let (status, list): (_, AccountsResponse) =
        get_json(&admin, &server.url("/api/accounts")).await;
    assert_eq!(status, 200);
    assert!(list.accounts.len() >= 3, "{list:?}");
    let id = list.accounts[0].id.clone();
    let live: AccountSummary = eventually(Duration::from_secs(20), "a live account", || {
        let url = server.url(&format!("/api/accounts/{id}"));
        let admin = &admin;
        async move {
            let (_, summary): (_, AccountSummary) = get_json(admin, &url).await;
            (summary.feed == FeedStatus::Live && summary.latest.is_some()).then_some(summary)
        }
    })
    .await
    .expect("account goes live");
    let view = live.latest.expect("latest");
    assert_eq!(view.floating_pl, view.equity - view.balance);
    assert!(view.peak_equity >= view.equity);
    assert_eq!(live.currency.as_deref(), Some("USD"));

    let history: HistoryResponse = eventually(Duration::from_secs(10), "history", || {
        let url = server.url(&format!("/api/accounts/{id}/history"));
        let admin = &admin;
        async move {
            let (_, history): (_, HistoryResponse) = get_json(admin, &url).await;
            (history.buckets.iter().map(|b| b.samples).sum::<u64>() >= 2).then_some(history)
        }
    })
    .await
    .expect("history");
    assert!(history.buckets.windows(2).all(|w| w[0].end <= w[1].start));
    for bucket in &history.buckets {
        assert!(bucket.equity.min <= bucket.equity.open && bucket.equity.open <= bucket.equity.max);
        assert!(
            bucket.equity.min <= bucket.equity.close && bucket.equity.close <= bucket.equity.max
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_history_parameters_get_a_json_400_saying_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let id = server.account_ids().await.expect("accounts")[0].to_string();
    for (query, says) in [
        ("points=0", "points"),
        ("points=5001", "points"),
        ("points=many", "points"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "after"),
    ] {
        let (status, body): (_, ErrorBody) = get_json(
            &admin,
            &server.url(&format!("/api/accounts/{id}/history?{query}")),
        )
        .await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body.error, "bad_request", "{query}");
        assert!(body.message.contains(says), "{query}: {}", body.message);
    }
    let (status, history): (_, HistoryResponse) = get_json(
        &admin,
        &server.url(&format!(
            "/api/accounts/{id}/history?from=2020-01-01T00:00:00Z&points=5000"
        )),
    )
    .await;
    assert_eq!(status, 200);
    assert!(history.buckets.len() <= 5000);
    server.stop().await;
}

#[tokio::test]
async fn unknown_things_get_a_json_404_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    for path in [
        "/api/accounts/nope",
        "/api/accounts/nope/history",
        "/api/no-such-endpoint",
        "/api/stream?account=nope",
    ] {
        let (status, body): (_, ErrorBody) = get_json(&admin, &server.url(path)).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body.error, "not_found", "{path}");
        assert!(!body.message.is_empty(), "{path}");
    }
    let health = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn an_account_tracked_mid_way_gets_its_starting_capital_from_deal_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let trader = server.login("trader").await.expect("sign in");
    // The demo world has traded for two simulated hours before tracking starts; its scalper
    // was funded with 100,000.
    let view = eventually(Duration::from_secs(20), "a live view", || {
        let url = server.url("/api/accounts/demo-eurusd-scalper");
        let trader = &trader;
        async move {
            let (_, summary): (_, AccountSummary) = get_json(trader, &url).await;
            summary.latest
        }
    })
    .await
    .expect("live");
    assert_eq!(view.starting_capital, rust_decimal::Decimal::from(100_000));
    assert!(view.peak_balance >= view.balance);
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_readyz_checks_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    for path in ["/", "/accounts/x", "/api/accounts", "/api/nope", "/readyz"] {
        let response = reqwest::get(server.url(path)).await.expect("request");
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let ready = reqwest::get(server.url("/readyz")).await.expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_broker_shows_as_a_stale_feed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port that was free a moment ago: nothing listens there, connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.stale_after = Duration::from_millis(600);
    config.accounts = vec![backend::config::AccountConfig {
        id: "down".into(),
        name: "Broker down".into(),
        base_url: format!("http://127.0.0.1:{port}"),
        metaapi_account_id: "x".into(),
        token: "t".into(),
        poll_interval: None,
        challenge: None,
        trader: None,
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let summary: AccountSummary = eventually(Duration::from_secs(20), "a stale feed", || {
        let url = server.url("/api/accounts/down");
        let admin = &admin;
        async move {
            let (_, summary): (_, AccountSummary) = get_json(admin, &url).await;
            (summary.feed == FeedStatus::Stale).then_some(summary)
        }
    })
    .await
    .expect("the feed goes stale");
    assert!(summary.latest.is_none(), "no numbers were invented");
    server.stop().await;
}
