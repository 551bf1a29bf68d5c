//! The MetaApi client against the demo broker over real HTTP, healthy and with each fault knob.

use broker::metaapi::client::{RetryPolicy, http_client};
use broker::{BrokerError, metaapi::MetaApiClient};
use chrono::{Duration as Days, Utc};
use demo::faults::{FaultMode, Faults};
use demo::{DemoBroker, DemoConfig, serve};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn start_demo() -> (String, DemoBroker, CancellationToken) {
    let demo = DemoBroker::new(
        DemoConfig {
            token: "t0ken".into(),
            ..DemoConfig::default()
        },
        Utc::now() - Days::hours(2),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let token = stop.clone();
    let broker = demo.clone();
    tokio::spawn(
        async move { serve(listener, broker, async move { token.cancelled().await }).await },
    );
    (base, demo, stop)
}

#[tokio::test]
async fn the_metaapi_client_reads_every_demo_endpoint() {
    let (base, demo, stop) = start_demo().await;
    let http = http_client(Duration::from_secs(5)).expect("http");
    let account = demo.accounts()[0].id.clone();
    let client = MetaApiClient::new(http.clone(), &base, &account, "t0ken").expect("client");

    let info = client
        .account_information()
        .await
        .expect("account information");
    assert_eq!(info.currency, "USD");
    let positions = client.positions().await.expect("positions");
    assert!(positions.iter().all(|p| p.stop_loss.is_some()));
    let deals = client
        .deals(Utc::now() - Days::days(1), Utc::now())
        .await
        .expect("deals");
    assert!(
        !deals.is_empty(),
        "two hours of simulated trading left deals"
    );
    let deposits: rust_decimal::Decimal = deals
        .iter()
        .filter(|d| d.is_balance_operation())
        .map(|d| d.closed_pl())
        .sum();
    let closed: rust_decimal::Decimal = deals
        .iter()
        .filter(|d| !d.is_balance_operation())
        .map(|d| d.closed_pl())
        .sum();
    assert_eq!(
        info.balance,
        deposits + closed,
        "balance = deposits + closed P/L"
    );
    if let Some(first) = positions.first() {
        let one = client.position(&first.id).await.expect("one position");
        assert_eq!(one.id, first.id);
    }
    assert!(client.orders().await.expect("orders").is_empty());
    client
        .refreshed_account_information()
        .await
        .expect("refreshed account information");
    let age = client.quote_age().await.expect("server time");
    assert!(
        age.is_some_and(|age| age < Duration::from_secs(2)),
        "{age:?}"
    );
    let spec = client.specification("EURUSD").await.expect("spec");
    assert!(spec.tick_size > rust_decimal::Decimal::ZERO);
    let price = client.current_price("EURUSD").await.expect("price");
    assert!(price.ask >= price.bid);
    client.server_time().await.expect("server time");

    let wrong = MetaApiClient::new(http.clone(), &base, &account, "wrong").expect("client");
    assert!(matches!(
        wrong.account_information().await,
        Err(BrokerError::Unauthorized(401))
    ));
    let unknown = MetaApiClient::new(http, &base, "no-such-account", "t0ken").expect("client");
    assert!(matches!(
        unknown.account_information().await,
        Err(BrokerError::NotFound(_))
    ));
    stop.cancel();
}

const ACCOUNT: &str = "demo-gold-swing";

/// Whether an error is the one a fault should cause.
type Expected = fn(&BrokerError) -> bool;

/// A client for `ACCOUNT` with quick retries, so a test sees every attempt.
fn client(base: &str, timeout: Duration) -> MetaApiClient {
    let retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(10),
    };
    MetaApiClient::new(http_client(timeout).expect("http"), base, ACCOUNT, "t0ken")
        .expect("client")
        .with_retry(retry)
}

/// Sets `faults` on `ACCOUNT`, runs `call`, and says how many requests reached the broker.
async fn with_faults<T>(
    demo: &DemoBroker,
    faults: Faults,
    call: impl std::future::Future<Output = T>,
) -> (T, u64) {
    demo.set_faults(ACCOUNT, faults).expect("known account");
    let before = demo.faults(ACCOUNT).requests;
    let result = call.await;
    let requests = demo.faults(ACCOUNT).requests - before;
    demo.set_faults(ACCOUNT, Faults::default())
        .expect("known account");
    (result, requests)
}

#[tokio::test]
async fn transient_faults_are_retried_until_the_broker_answers() {
    let (base, demo, stop) = start_demo().await;
    let client = client(&base, Duration::from_secs(5));
    for faults in [
        Faults {
            server_error: FaultMode::Next(2),
            ..Faults::default()
        },
        Faults {
            drop_connection: FaultMode::Next(2),
            ..Faults::default()
        },
        Faults {
            truncated_body: FaultMode::Next(2),
            ..Faults::default()
        },
    ] {
        let (info, requests) = with_faults(&demo, faults, client.account_information()).await;
        assert!(info.is_ok(), "{faults:?}: {info:?}");
        assert_eq!(requests, 3, "{faults:?}: two failures, then the answer");
    }
    stop.cancel();
}

#[tokio::test]
async fn lasting_faults_fail_with_errors_the_tracker_understands() {
    let (base, demo, stop) = start_demo().await;
    let client = client(&base, Duration::from_millis(500));
    let always = FaultMode::Always;
    let cases: [(Faults, Expected, u64); 5] = [
        (
            Faults {
                server_error: always,
                ..Faults::default()
            },
            |e| matches!(e, BrokerError::Status { status: 500, .. }),
            3,
        ),
        (
            Faults {
                drop_connection: always,
                ..Faults::default()
            },
            |e| matches!(e, BrokerError::Connection(_)),
            3,
        ),
        (
            Faults {
                truncated_body: always,
                ..Faults::default()
            },
            |e| matches!(e, BrokerError::Connection(_)),
            3,
        ),
        (
            Faults {
                latency_ms: 2_000,
                ..Faults::default()
            },
            |e| matches!(e, BrokerError::Timeout),
            3,
        ),
        // Garbage is not retried: asking again would bring the same garbage.
        (
            Faults {
                malformed_json: always,
                ..Faults::default()
            },
            |e| matches!(e, BrokerError::Malformed(_)),
            1,
        ),
    ];
    for (faults, expected, tries) in cases {
        let (info, requests) = with_faults(&demo, faults, client.account_information()).await;
        let error = info.expect_err("the fault lasts");
        assert!(expected(&error), "{faults:?}: {error:?}");
        assert_eq!(requests, tries, "{faults:?}: {error:?}");
        assert!(!error.to_string().contains("t0ken"), "{error}");
    }
    // A short delay is only slow.
    let slow = Faults {
        latency_ms: 100,
        ..Faults::default()
    };
    let (info, requests) = with_faults(&demo, slow, client.account_information()).await;
    assert!(info.is_ok(), "{info:?}");
    assert_eq!(requests, 1);
    stop.cancel();
}

#[tokio::test]
async fn a_rate_limit_keeps_the_client_away_for_as_long_as_the_broker_asks() {
    let (base, demo, stop) = start_demo().await;
    let client = client(&base, Duration::from_secs(5));
    let limited = Faults {
        rate_limit: FaultMode::Always,
        retry_after_secs: 1,
        ..Faults::default()
    };
    demo.set_faults(ACCOUNT, limited).expect("known account");
    let error = client
        .account_information()
        .await
        .expect_err("rate limited");
    let BrokerError::RateLimited {
        retry_after: Some(wait),
    } = error
    else {
        panic!("{error:?}");
    };
    assert!(
        wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    let requests = demo.faults(ACCOUNT).requests;
    for _ in 0..5 {
        assert!(matches!(
            client.positions().await,
            Err(BrokerError::RateLimited { .. })
        ));
    }
    assert_eq!(
        demo.faults(ACCOUNT).requests,
        requests,
        "nothing reaches the broker before the wait is over"
    );
    demo.set_faults(ACCOUNT, Faults::default())
        .expect("known account");
    tokio::time::sleep(wait).await;
    client.positions().await.expect("the wait is over");
    stop.cancel();
}

#[tokio::test]
async fn frozen_data_answers_the_same_while_its_quotes_age() {
    let (base, demo, stop) = start_demo().await;
    let client = client(&base, Duration::from_secs(5));
    let frozen = Faults {
        frozen: true,
        ..Faults::default()
    };
    demo.set_faults(ACCOUNT, frozen).expect("known account");
    let info = client.account_information().await.expect("answers");
    let positions = client.positions().await.expect("answers");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(client.account_information().await.expect("answers"), info);
    assert_eq!(client.positions().await.expect("answers"), positions);
    let age = client.quote_age().await.expect("answers");
    assert!(
        age.is_some_and(|age| age >= Duration::from_secs(1)),
        "{age:?}"
    );

    demo.set_faults(ACCOUNT, Faults::default())
        .expect("known account");
    let age = client.quote_age().await.expect("answers");
    assert!(
        age.is_some_and(|age| age < Duration::from_secs(1)),
        "{age:?}"
    );
    stop.cancel();
}

#[tokio::test]
async fn faults_are_set_over_http_with_the_demo_token() {
    let (base, demo, stop) = start_demo().await;
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{base}/demo/faults/*"))
        .header("auth-token", "t0ken")
        .json(&serde_json::json!({"serverError": {"next": 1}}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        demo.faults("demo-passing").faults.server_error,
        FaultMode::Next(1)
    );
    let listed: serde_json::Value = http
        .get(format!("{base}/demo/faults"))
        .header("auth-token", "t0ken")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[ACCOUNT]["faults"]["serverError"]["next"], 1);
    let refused = http
        .put(format!("{base}/demo/faults/*"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    stop.cancel();
}
