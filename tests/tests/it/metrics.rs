//! `/metrics`: Prometheus text, public, with the numbers operations needs and nothing personal.

use std::time::Duration;
use tests::{SseReader, TestServer, demo_config, eventually};

#[tokio::test]
async fn metrics_are_served_with_their_names_and_no_personal_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let accounts = server.account_ids().await.expect("accounts");
    let admin = server.login("admin").await.expect("sign in");
    let mut stream = SseReader::open(&admin, &server.url("/api/stream"))
        .await
        .expect("open");
    stream
        .next(Duration::from_secs(30))
        .await
        .expect("an event");

    let anyone = reqwest::Client::new();
    let url = server.url("/metrics");
    let text = eventually(Duration::from_secs(30), "account events counted", || {
        let (anyone, url) = (anyone.clone(), url.clone());
        async move {
            let response = anyone.get(&url).send().await.ok()?;
            assert_eq!(response.status().as_u16(), 200);
            let content_type = response.headers().get("content-type")?.to_str().ok()?;
            assert!(content_type.starts_with("text/plain"), "{content_type}");
            let text = response.text().await.ok()?;
            text.contains("riskdeck_events_total{kind=\"account\"}")
                .then_some(text)
        }
    })
    .await
    .expect("metrics");

    for line in [
        format!("riskdeck_accounts_tracked {}", accounts.len()),
        "riskdeck_sse_clients 1".to_owned(),
        "riskdeck_feeds{status=\"live\"}".to_owned(),
        "riskdeck_feed_lag_max_seconds ".to_owned(),
        "riskdeck_sse_resyncs_total 0".to_owned(),
        "riskdeck_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/accounts\",status=\"200\"".to_owned(),
        "riskdeck_http_request_duration_seconds_count{method=\"POST\",route=\"/api/auth/login\",status=\"200\"}".to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} is missing from:\n{text}");
    }
    for account in &accounts {
        assert!(
            !text.contains(account.as_str()),
            "{account} leaks into /metrics"
        );
    }
    assert!(!text.contains("admin") && !text.contains("trader"));
    server.stop().await;
}
