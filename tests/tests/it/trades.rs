//! The trade history over real HTTP: deals pushed by a bridge are stored with the engine state
//! that counted them, and a trader pages through their closed trades, newest first.

use backend::config::{AccountConfig, ChallengeSetup};
use rust_decimal::Decimal;
use shared::api::{AccountSummary, ErrorBody, IngestResponse, TradeSide, TradesPage};
use std::collections::HashSet;
use tests::{TestServer, demo_config};

const ACCOUNT: &str = "jane-bridge";
const OTHER: &str = "bob-bridge";
const TOKEN: &str = "bridge-token-0123456789abcdef0123456789";
const OTHER_TOKEN: &str = "bridge-token-9876543210fedcba9876543210";

/// Closed round trips pushed; four of them close in the same second (the deal id orders them).
const ROUND_TRIPS: usize = 23;

fn account(id: &str, trader: &str, token: &str) -> AccountConfig {
    AccountConfig {
        id: id.into(),
        name: id.into(),
        base_url: String::new(),
        metaapi_account_id: String::new(),
        token: String::new(),
        poll_interval: None,
        challenge: Some(ChallengeSetup {
            preset: "ftmo-2step".into(),
            initial_balance: 100_000.into(),
            estimated_equity_breaches: false,
            program: None,
        }),
        trader: Some(trader.into()),
        region: None,
        ingest_token: Some(token.into()),
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }
}

fn config(dir: &std::path::Path) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts = vec![
        account(ACCOUNT, "jane", TOKEN),
        account(OTHER, "bob", OTHER_TOKEN),
    ];
    config
}

/// The account's opening, then `ROUND_TRIPS` buys closed at a profit of 10 × their number, each
/// with a commission of 2 on both deals and a swap of 0.5 on the close (the fifth closes half
/// the position), in time order; the first four close in the same second.
fn batch() -> String {
    let mut lines = vec![
        r#"{"time":"2026-03-02T08:00:00Z","accountInformation":{"balance":100000,"equity":100000,"margin":0,"freeMargin":100000,"currency":"USD","leverage":100,"credit":0}}"#.to_owned(),
    ];
    let open = |n: usize, time: &str| {
        format!(
            r#"{{"time":"{time}","deal":{{"id":"in-{n:02}","type":"DEAL_TYPE_BUY","entryType":"DEAL_ENTRY_IN","symbol":"EURUSD","time":"{time}","volume":1,"price":1.08,"profit":0,"commission":-2,"swap":0,"positionId":"p{n}"}}}}"#
        )
    };
    let close = |n: usize, time: &str| {
        let volume = if n == 5 { "0.5" } else { "1" };
        format!(
            r#"{{"time":"{time}","deal":{{"id":"out-{n:02}","type":"DEAL_TYPE_SELL","entryType":"DEAL_ENTRY_OUT","symbol":"EURUSD","time":"{time}","volume":{volume},"price":1.081,"profit":{profit},"commission":-2,"swap":-0.5,"positionId":"p{n}"}}}}"#,
            profit = n * 10
        )
    };
    for n in 1..=4 {
        lines.push(open(n, &format!("2026-03-02T09:0{n}:00Z")));
    }
    for n in 1..=4 {
        lines.push(close(n, "2026-03-02T09:10:00Z"));
    }
    for n in 5..=ROUND_TRIPS {
        lines.push(open(n, &format!("2026-03-02T10:{n:02}:00Z")));
        lines.push(close(n, &format!("2026-03-02T10:{n:02}:30Z")));
    }
    let mut body = lines.join("\n");
    body.push('\n');
    body
}

async fn push(server: &TestServer, account: &str, token: &str, body: &str) -> IngestResponse {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{account}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(token)
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("an ingest response")
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_trader_pages_through_their_closed_trades_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let body = batch();
    let first = push(&server, ACCOUNT, TOKEN, &body).await;
    assert!(first.refused.is_empty(), "{first:?}");
    // Sent again (the bridge did not hear the answer): nothing is stored twice.
    let again = push(&server, ACCOUNT, TOKEN, &body).await;
    assert_eq!(again.duplicate_deals as usize, 2 * ROUND_TRIPS);
    push(&server, OTHER, OTHER_TOKEN, &body).await;

    let jane = server.login("jane").await.expect("sign in");
    let base = server.url(&format!("/api/accounts/{ACCOUNT}/trades"));
    let mut trades = Vec::new();
    let mut url = format!("{base}?limit=5");
    let mut pages = 0;
    loop {
        let (status, text) = get(&jane, &url).await;
        assert_eq!(status, 200, "{text}");
        let page: TradesPage = serde_json::from_str(&text).expect("a page");
        assert!(page.trades.len() <= 5);
        assert_eq!(page.time_zone.as_deref(), Some("Europe/Prague"));
        pages += 1;
        trades.extend(page.trades);
        match page.next {
            Some(next) => {
                url = format!("{base}?limit=5&before={}", urlencode(&next));
            }
            None => break,
        }
        assert!(pages <= ROUND_TRIPS, "paging does not end");
    }
    let ids: Vec<String> = trades.iter().map(|t| t.deal_id.clone()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicate: {ids:?}");
    let mut expected: Vec<String> = (1..=ROUND_TRIPS).map(|n| format!("out-{n:02}")).collect();
    expected.reverse();
    assert_eq!(ids, expected, "every trade once, newest first");
    assert_eq!(pages, ROUND_TRIPS.div_ceil(5));

    // The closed-trade count the engine shows is the history's length.
    let summary: AccountSummary = serde_json::from_str(
        &get(&jane, &server.url(&format!("/api/accounts/{ACCOUNT}")))
            .await
            .1,
    )
    .expect("summary");
    let metrics = summary
        .latest
        .and_then(|view| view.challenge)
        .and_then(|challenge| challenge.metrics)
        .expect("metrics");
    assert_eq!(metrics.trades as usize, trades.len());

    // A trade reads as the trader expects: the opening price, costs, net, the firm's offset.
    let oldest = trades.last().expect("a trade");
    assert_eq!(oldest.symbol, "EURUSD");
    assert_eq!(oldest.side, TradeSide::Buy);
    assert_eq!(oldest.open_price, Some("1.08".parse().expect("price")));
    assert_eq!(oldest.close_price, Some("1.081".parse().expect("price")));
    assert_eq!(oldest.profit, Decimal::from(10));
    assert_eq!(oldest.costs, "-4.5".parse::<Decimal>().expect("costs"));
    assert_eq!(oldest.net, "5.5".parse::<Decimal>().expect("net"));
    assert_eq!(
        oldest.zone_offset_minutes,
        Some(60),
        "Prague is UTC+1 in March"
    );
    let partial = trades
        .iter()
        .find(|t| t.deal_id == "out-05")
        .expect("out-05");
    assert_eq!(
        partial.costs,
        "-3.5".parse::<Decimal>().expect("costs"),
        "half the opening commission for half the position"
    );

    // Limits are clamped; garbage gets a 400 that says what to send.
    let (status, text) = get(&jane, &format!("{base}?limit=0")).await;
    assert_eq!(status, 200, "{text}");
    let one: TradesPage = serde_json::from_str(&text).expect("a page");
    assert_eq!(one.trades.len(), 1);
    for query in ["before=garbage", "before=12%3A", "limit=lots", "limit=1.5"] {
        let (status, text) = get(&jane, &format!("{base}?{query}")).await;
        assert_eq!(status, 400, "{query}: {text}");
        let error: ErrorBody = serde_json::from_str(&text).expect("error body");
        assert_eq!(error.error, "bad_request");
        let says = if query.starts_with("before") {
            "before must be"
        } else {
            "limit must be"
        };
        assert!(error.message.contains(says), "{query}: {error:?}");
    }

    // Another trader's account answers like one that does not exist.
    let (status, text) = get(&jane, &server.url(&format!("/api/accounts/{OTHER}/trades"))).await;
    assert_eq!(status, 404, "{text}");
    let (status, _) = get(&jane, &server.url("/api/accounts/no-such-account/trades")).await;
    assert_eq!(status, 404);
    let bob = server.login("bob").await.expect("sign in");
    let (status, text) = get(&bob, &server.url(&format!("/api/accounts/{OTHER}/trades"))).await;
    assert_eq!(status, 200, "{text}");
    server.stop().await;
}

/// Percent-encodes a cursor for a query string.
fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
