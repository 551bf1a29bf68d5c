//! The MetaApi client against the demo broker over real HTTP.

use backend::broker::demo::{DemoBroker, DemoConfig, serve};
use backend::broker::metaapi::client::http_client;
use backend::broker::metaapi::{BrokerError, MetaApiClient};
use chrono::{Duration as Days, Utc};
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
