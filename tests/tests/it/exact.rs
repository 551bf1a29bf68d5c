//! Exact against the real world: the decisions a trader would dispute, through the path real
//! data takes (MetaApi client, tracker, engine, store, API).
//!
//! Two brokers: the demo broker with its knobs (a close filed dated ten minutes in the past,
//! deals that show in the history seconds after the balance moved, a partly closed position),
//! and a small MetaApi stub built from MetaApi's documented examples (a commission deal with an
//! entry type, an MT5 netting reversal, a 429 whose `recommendedRetryTime` is an HTTP date, as
//! MetaApi's own SDK tests send, and price reads that must keep their subscription).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup};
use chrono::{DateTime, TimeDelta, Utc};
use demo::faults::Faults;
use demo::world::{PARTIAL_CLOSE_UNITS, PASS_UNITS};
use demo::{DemoBroker, DemoConfig, serve};
use rust_decimal::Decimal;
use shared::api::{AccountSummary, ChallengeView, FeedStatus, TradeSide, TradesPage};
use shared::engine::{ChallengeStatus, RuleStatus};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tests::{TestServer, demo_config, eventually};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(40);

/// A demo broker (20 ms steps, one-second script units starting three seconds in, history from
/// half an hour ago) and a Riskdeck tracking some of its accounts every 200 ms, reading each
/// challenge's whole deal history every 2 s.
struct Rig {
    demo: DemoBroker,
    demo_base: String,
    server: TestServer,
    admin: reqwest::Client,
    stop_demo: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn rig(accounts: &[&str]) -> Rig {
    let now = Utc::now();
    let demo = DemoBroker::new(
        DemoConfig {
            seed: 11,
            token: "t0ken".into(),
            step: Duration::from_millis(20),
            script_start: Some(now + TimeDelta::seconds(3)),
            script_unit: Duration::from_secs(1),
        },
        now - TimeDelta::minutes(30),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let demo_base = format!("http://{}", listener.local_addr().expect("address"));
    let stop_demo = CancellationToken::new();
    let stop = stop_demo.clone();
    tokio::spawn(serve(listener, demo.clone(), async move {
        stop.cancelled().await;
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.deal_reconcile_interval = Duration::from_secs(2);
    config.accounts = backend::config::AccountConfig::demo_accounts(
        &demo,
        &demo_base,
        shared::api::Transport::Rest,
    )
    .into_iter()
    .filter(|a| accounts.contains(&a.id.as_str()))
    .collect();
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    Rig {
        demo,
        demo_base,
        server,
        admin,
        stop_demo,
        _dir: dir,
    }
}

impl Rig {
    async fn summary(&self, id: &str) -> Option<AccountSummary> {
        get_json(
            &self.admin,
            &self.server.url(&format!("/api/accounts/{id}")),
        )
        .await
    }

    async fn challenge(&self, id: &str) -> Option<ChallengeView> {
        self.summary(id).await?.latest?.challenge
    }

    async fn trades(&self, id: &str) -> TradesPage {
        get_json(
            &self.admin,
            &self
                .server
                .url(&format!("/api/accounts/{id}/trades?limit=200")),
        )
        .await
        .expect("the trade history")
    }

    /// A MetaApi answer of the demo broker, as raw JSON.
    async fn broker(&self, account: &str, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!(
                "{}/users/current/accounts/{account}/{path}",
                self.demo_base
            ))
            .header("auth-token", "t0ken")
            .send()
            .await
            .expect("the demo broker answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn stop(self) {
        self.server.stop().await;
        self.stop_demo.cancel();
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Option<T> {
    client.get(url).send().await.ok()?.json().await.ok()
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// A stop-loss close that MetaApi files in its history ten minutes after its time (history
/// sync is not instant): the balance moves at once, the deal appears dated before the window
/// each poll reads. The pass over the whole history finds it; it is applied once, counted in
/// the trades, the day's closed P/L and the trade history, and said to be late.
#[tokio::test]
async fn a_close_the_broker_files_ten_minutes_late_is_applied_once_and_said_to_be_late() {
    const PASSING: &str = "demo-passing";
    let rig = rig(&[PASSING]).await;
    rig.demo
        .set_faults(
            PASSING,
            Faults {
                late_deals_secs: 600,
                ..Faults::default()
            },
        )
        .expect("knob");
    let close_at = rig
        .demo
        .script_instant(i32::try_from(PASS_UNITS).expect("small"));
    let passed = eventually(WAIT, "the late close to be read", || async {
        rig.challenge(PASSING)
            .await
            .filter(|c| c.status == ChallengeStatus::Passed)
    })
    .await
    .expect("the challenge passes once the late close is read");
    let late = passed
        .late_deals
        .first()
        .expect("the late deal is remembered");
    assert!(
        late.time <= close_at - TimeDelta::minutes(9),
        "dated in the past: {late:?}"
    );
    assert!(late.arrived >= close_at, "{late:?}");
    assert_eq!(late.closed_pl, dec("3680"));
    let metrics = passed.metrics.expect("metrics");
    assert_eq!(metrics.trades, 1);
    // The close counts on the trading day it was dated in: the demo's Apex account resets at
    // 17:00 New York, so in the ten minutes after a reset the late close belongs to the day
    // before and today's closed P/L is rightly nothing.
    let day_start = metrics.next_reset.expect("a reset clock") - TimeDelta::days(1);
    let today = if late.time >= day_start {
        dec("3680")
    } else {
        dec("0")
    };
    assert_eq!(
        metrics.today_closed_pl, today,
        "late {late:?}, day from {day_start}"
    );
    // Several whole-history passes later, it is still there once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let trades = rig.trades(PASSING).await;
    let closes: Vec<_> = trades
        .trades
        .iter()
        .filter(|t| t.deal_id == late.deal_id)
        .collect();
    assert_eq!(closes.len(), 1, "{trades:?}");
    let again = rig.challenge(PASSING).await.expect("view");
    assert_eq!(again.metrics.expect("metrics").trades, 1);
    assert_eq!(again.late_deals.len(), 1);
    rig.stop().await;
}

/// MetaApi's position `profit` is cumulative: a partly closed position's already holds what
/// its closed part realised (and its swap and commission). The dashboard's positions show the
/// open part only, and equity is balance plus exactly those.
#[tokio::test]
async fn a_partly_closed_position_shows_its_open_part_only() {
    const NO_STOP: &str = "demo-no-stop";
    let rig = rig(&[NO_STOP]).await;
    let after = rig
        .demo
        .script_instant(i32::try_from(PARTIAL_CLOSE_UNITS).expect("small"));
    let view = eventually(WAIT, "a view after the partial close", || async {
        let latest = rig.summary(NO_STOP).await?.latest?;
        let challenge = latest.challenge.clone()?;
        // Equity is the balance plus the open parts, exactly, in a poll whose two reads (the
        // account, its positions) saw the same prices: on a busy machine they can straddle a
        // step of the script's price, and the next poll's agree. The cumulative figures would
        // never agree (they hold the realised 38 less costs).
        let open_parts: Decimal = challenge.positions.iter().map(|p| p.profit).sum();
        (latest.time > after + TimeDelta::milliseconds(300)
            && challenge.metrics.as_ref()?.trades == 1
            && latest.equity - latest.balance == open_parts)
            .then_some(latest)
    })
    .await
    .expect("the partial close is tracked");
    let challenge = view.challenge.expect("challenge");
    let buy = challenge
        .positions
        .iter()
        .find(|p| p.side == shared::domain::Side::Buy)
        .expect("the buy is still open");
    assert_eq!(buy.volume, dec("2"));
    // What the broker says of the open part, field for field.
    let positions = rig.broker(NO_STOP, "positions").await;
    let wire = positions
        .as_array()
        .expect("positions")
        .iter()
        .find(|p| p["type"] == "POSITION_TYPE_BUY")
        .expect("the broker's buy");
    let number = |key: &str| {
        let value = &wire[key];
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
            .parse::<Decimal>()
            .unwrap_or_else(|_| panic!("{key} = {value} in {wire}"))
    };
    let open_part =
        number("unrealizedProfit") + number("unrealizedSwap") + number("unrealizedCommission");
    assert_ne!(
        number("profit") + number("swap") + number("commission"),
        open_part,
        "the cumulative figures differ from the open part's"
    );
    // Equity is the balance plus the open parts, exactly (the poll found above).
    let open_parts: Decimal = challenge.positions.iter().map(|p| p.profit).sum();
    assert_eq!(view.equity - view.balance, open_parts);
    let trades = rig.trades(NO_STOP).await;
    let partial = trades.trades.first().expect("the partial close");
    assert_eq!(partial.volume, dec("1"));
    assert_eq!(partial.side, TradeSide::Buy);
    assert_eq!(partial.profit, dec("38"));
    // The closed lot's own commission and its share (a third) of the opening commission.
    assert_eq!(partial.costs, dec("-7.00"));
    assert_eq!(challenge.status, ChallengeStatus::Active);
    rig.stop().await;
}

/// How much `id` may still lose today before its daily floor, and its initial balance.
async fn daily_room(rig: &Rig, id: &str) -> Decimal {
    let challenge = eventually(WAIT, "an evaluated challenge", || async {
        rig.challenge(id).await.filter(|c| c.metrics.is_some())
    })
    .await
    .expect("the challenge is evaluated");
    challenge
        .rules
        .iter()
        .find(|r| r.id == "daily_loss")
        .and_then(|r| r.remaining)
        .expect("daily room")
}

/// A withdrawal of more than the day's room: reported before its deal (the broker's balance
/// moves three seconds before the history shows the deal), the decision is held until the deal
/// says it was a withdrawal, and nothing fails; reported with its deal, nothing fails either.
#[tokio::test]
async fn a_withdrawal_fails_nothing_whether_its_deal_comes_first_or_last() {
    const BALANCE_FIRST: &str = "demo-eurusd-scalper";
    const DEAL_FIRST: &str = "demo-gold-swing";
    let rig = rig(&[BALANCE_FIRST, DEAL_FIRST]).await;
    rig.demo
        .set_faults(
            BALANCE_FIRST,
            Faults {
                deal_delay_secs: 3,
                ..Faults::default()
            },
        )
        .expect("knob");
    for id in [BALANCE_FIRST, DEAL_FIRST] {
        let room = daily_room(&rig, id).await;
        let amount = -(room.round_dp(0) + Decimal::from(2_000));
        rig.demo.book_balance(id, amount).expect("withdrawal");
        if id == BALANCE_FIRST {
            // While the deal is missing, the view says so and holds the decision.
            let held = eventually(WAIT, "the held decision", || async {
                let challenge = rig.challenge(id).await?;
                // The trader's own closes are delayed too: the withdrawal is most of it.
                let unexplained = challenge.unexplained_balance?;
                (unexplained < amount / Decimal::TWO).then_some(challenge)
            })
            .await
            .expect("a balance without its deal is shown as unexplained");
            let daily = held
                .rules
                .iter()
                .find(|r| r.id == "daily_loss")
                .expect("rule");
            assert!(daily.held_since.is_some(), "{daily:?}");
            assert_ne!(daily.status, RuleStatus::Breached);
            assert_eq!(held.status, ChallengeStatus::Active);
        }
        let settled = eventually(WAIT, "the withdrawal's deal", || async {
            let challenge = rig.challenge(id).await?;
            let anchors_moved = challenge.metrics.as_ref()?.net_deposits == amount;
            (anchors_moved && challenge.unexplained_balance.is_none()).then_some(challenge)
        })
        .await
        .expect("the deal arrives and moves the anchors");
        assert_eq!(settled.status, ChallengeStatus::Active, "{id}");
        assert!(
            settled
                .events
                .iter()
                .all(|e| e.rule.as_deref() != Some("daily_loss")),
            "{id}: {:?}",
            settled.events
        );
        assert!(settled.rules.iter().all(|r| r.held_since.is_none()), "{id}");
    }
    rig.stop().await;
}

/// The MetaApi stub: account information, positions and a deal history served for the time
/// range asked (start inclusive, end exclusive, paged), prices only to reads that keep their
/// subscription, and a rate limit that can be switched on with an HTTP-date retry time.
#[derive(Default)]
struct Stub {
    info: serde_json::Value,
    positions: serde_json::Value,
    deals: Vec<serde_json::Value>,
    /// Until when every request is answered 429.
    limited_until: Option<SystemTime>,
    /// Every request: when, and its path.
    log: Vec<(Instant, String)>,
    /// Price reads without `keepSubscription=true`.
    unsubscribed_price_reads: usize,
}

type Shared = Arc<Mutex<Stub>>;

fn limited(stub: &Shared, path: String) -> Option<axum::response::Response> {
    let mut stub = stub.lock().expect("stub");
    stub.log.push((Instant::now(), path));
    let until = stub
        .limited_until
        .filter(|until| SystemTime::now() < *until)?;
    let body = serde_json::json!({
        "id": 1, "error": "TooManyRequestsError",
        "message": "One user can use maximum 1000 CPU credits per 1 seconds",
        "metadata": {"periodInMinutes": 1, "requestsPerPeriodAllowed": 1000,
                     "recommendedRetryTime": httpdate::fmt_http_date(until),
                     "type": "LIMIT_REQUEST_RATE_PER_USER"}
    });
    Some((StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response())
}

async fn stub_broker(stub: Shared) -> String {
    async fn info(State(stub): State<Shared>) -> axum::response::Response {
        if let Some(limited) = limited(&stub, "account-information".into()) {
            return limited;
        }
        axum::Json(stub.lock().expect("stub").info.clone()).into_response()
    }
    async fn positions(State(stub): State<Shared>) -> axum::response::Response {
        if let Some(limited) = limited(&stub, "positions".into()) {
            return limited;
        }
        axum::Json(stub.lock().expect("stub").positions.clone()).into_response()
    }
    async fn deals(
        State(stub): State<Shared>,
        Path((_, start, end)): Path<(String, String, String)>,
        Query(paging): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        if let Some(limited) = limited(&stub, "history-deals".into()) {
            return limited;
        }
        let (Ok(start), Ok(end)) = (start.parse::<DateTime<Utc>>(), end.parse::<DateTime<Utc>>())
        else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let offset: usize = paging
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let limit: usize = paging
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(1000);
        let stub = stub.lock().expect("stub");
        let page: Vec<_> = stub
            .deals
            .iter()
            .filter(|d| {
                let time: DateTime<Utc> = d["time"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("time");
                start <= time && time < end
            })
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        axum::Json(page).into_response()
    }
    async fn price(
        State(stub): State<Shared>,
        Path((_, symbol)): Path<(String, String)>,
        Query(query): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        if let Some(limited) = limited(&stub, "current-price".into()) {
            return limited;
        }
        if query.get("keepSubscription").map(String::as_str) != Some("true") {
            stub.lock().expect("stub").unsubscribed_price_reads += 1;
            return StatusCode::BAD_REQUEST.into_response();
        }
        axum::Json(serde_json::json!({
            "symbol": symbol, "bid": 1.08652, "ask": 1.08660, "profitTickValue": 1,
            "lossTickValue": 1, "time": Utc::now(), "brokerTime": "2026-01-05 12:00:00.000"
        }))
        .into_response()
    }
    async fn specification(
        State(stub): State<Shared>,
        Path((_, symbol)): Path<(String, String)>,
    ) -> axum::response::Response {
        if let Some(limited) = limited(&stub, "specification".into()) {
            return limited;
        }
        axum::Json(serde_json::json!({
            "symbol": symbol, "tickSize": 0.00001, "minVolume": 0.01, "maxVolume": 100,
            "volumeStep": 0.01, "contractSize": 100000, "digits": 5
        }))
        .into_response()
    }
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(info),
        )
        .route("/users/current/accounts/{id}/positions", get(positions))
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(deals),
        )
        .route(
            "/users/current/accounts/{id}/symbols/{symbol}/current-price",
            get(price),
        )
        .route(
            "/users/current/accounts/{id}/symbols/{symbol}/specification",
            get(specification),
        )
        .with_state(stub);
    tests::serve_router(app).await
}

/// An MT5 netting account as MetaApi documents its history: the funding, a buy of 1 lot with
/// its commission, a commission deal booked with `DEAL_ENTRY_IN` (a charge, not a trade), a
/// sell of 3 lots that reverses the position (`DEAL_ENTRY_INOUT`: closes 1, opens 2 short),
/// and a buy of 2 that closes it.
fn netting_history(start: DateTime<Utc>) -> Vec<serde_json::Value> {
    let at = |minutes: i64| (start + TimeDelta::minutes(minutes)).to_rfc3339();
    vec![
        serde_json::json!({"id": "1", "type": "DEAL_TYPE_BALANCE", "time": at(0),
            "profit": 100000, "comment": "funding"}),
        serde_json::json!({"id": "2", "type": "DEAL_TYPE_BUY", "entryType": "DEAL_ENTRY_IN",
            "symbol": "EURUSD", "time": at(5), "volume": 1, "price": 1.0850,
            "commission": -3.5, "swap": 0, "profit": 0, "positionId": "77", "orderId": "77"}),
        serde_json::json!({"id": "4", "type": "DEAL_TYPE_SELL", "entryType": "DEAL_ENTRY_INOUT",
            "symbol": "EURUSD", "time": at(10), "volume": 3, "price": 1.0870,
            "commission": -10.5, "swap": 0, "profit": 200, "positionId": "77", "orderId": "78"}),
        serde_json::json!({"id": "5", "type": "DEAL_TYPE_BUY", "entryType": "DEAL_ENTRY_OUT",
            "symbol": "EURUSD", "time": at(15), "volume": 2, "price": 1.0860,
            "commission": -7, "swap": 0, "profit": 200, "positionId": "77", "orderId": "79"}),
        serde_json::json!({"id": "6", "type": "DEAL_TYPE_BUY", "entryType": "DEAL_ENTRY_IN",
            "symbol": "EURUSD", "time": at(20), "volume": 0.1, "price": 1.0860,
            "commission": -0.35, "swap": 0, "profit": 0, "positionId": "80", "orderId": "80"}),
        // A day later: were it a trade, it would count a second trading day.
        serde_json::json!({"id": "3", "type": "DEAL_TYPE_COMMISSION", "entryType": "DEAL_ENTRY_IN",
            "time": at(24 * 60 + 6), "commission": -2, "profit": 0}),
    ]
}

fn stub_config(dir: &std::path::Path, base: &str) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.price_interval = Some(Duration::from_millis(100));
    config.accounts = vec![AccountConfig {
        id: "netting".into(),
        name: "MT5 netting".into(),
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
        trader: None,
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    config
}

/// Through the MetaApi stub: a commission deal counts no trading day whatever its entry type;
/// a netting reversal's trade has the size, side and open price of what it closed, with each
/// opening commission once; price reads keep their subscription; and a 429 whose retry time is
/// an HTTP date keeps every request away until then, without the feed going stale.
#[tokio::test]
async fn metaapi_documented_shapes_are_read_as_metaapi_means_them() {
    // Two days ago at 10:00 UTC: the trades below fall on one trading day in Prague.
    let start = (Utc::now() - TimeDelta::days(2))
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .expect("a time")
        .and_utc();
    let stub: Shared = Arc::new(Mutex::new(Stub {
        info: serde_json::json!({
            "platform": "mt5", "broker": "Stub", "currency": "USD", "server": "Stub-1",
            "balance": 100376.65, "equity": 100381.85, "margin": 108.6, "freeMargin": 100273.25,
            "leverage": 100, "credit": 0,
            "marginMode": "ACCOUNT_MARGIN_MODE_RETAIL_NETTING"
        }),
        positions: serde_json::json!([{
            "id": "80", "type": "POSITION_TYPE_BUY", "symbol": "EURUSD",
            "time": start + TimeDelta::minutes(20), "openPrice": 1.0860, "currentPrice": 1.08652, "volume": 0.1,
            "stopLoss": 1.0800, "profit": 5.2, "swap": 0, "commission": 0
        }]),
        deals: netting_history(start),
        ..Stub::default()
    }));
    let base = stub_broker(stub.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(stub_config(dir.path(), &base))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let view = eventually(WAIT, "the onboarded challenge", || async {
        let summary: AccountSummary =
            get_json(&admin, &server.url("/api/accounts/netting")).await?;
        let challenge = summary.latest?.challenge?;
        (challenge.metrics.as_ref()?.trades == 2).then_some(challenge)
    })
    .await
    .expect("the history is read");
    let metrics = view.metrics.expect("metrics");
    assert_eq!(metrics.trading_days, 1, "the commission deal is no trade");
    assert_eq!(
        metrics.lots,
        dec("3"),
        "1 lot closed by the reversal, then 2"
    );
    let page: TradesPage = get_json(&admin, &server.url("/api/accounts/netting/trades"))
        .await
        .expect("trades");
    let trade = |id: &str| {
        page.trades
            .iter()
            .find(|t| t.deal_id == id)
            .unwrap_or_else(|| panic!("trade {id} in {page:?}"))
    };
    let reversal = trade("4");
    assert_eq!(
        (reversal.side, reversal.volume, reversal.open_price),
        (TradeSide::Buy, dec("1"), Some(dec("1.0850")))
    );
    assert_eq!(
        reversal.costs,
        dec("-7.0"),
        "the buy's 3.50 and a third of 10.50"
    );
    let last = trade("5");
    assert_eq!(
        (last.side, last.volume, last.open_price),
        (TradeSide::Sell, dec("2"), Some(dec("1.0870")))
    );
    assert_eq!(
        last.costs,
        dec("-14.0"),
        "its own 7 and two thirds of 10.50"
    );
    // Prices flow between polls, read with keepSubscription=true only.
    eventually(WAIT, "quotes between polls", || async {
        let summary: AccountSummary =
            get_json(&admin, &server.url("/api/accounts/netting")).await?;
        let risk = summary.latest?.challenge?.positions.first()?.risk?;
        (risk > Decimal::ZERO).then_some(())
    })
    .await
    .expect("the position's risk is priced from quotes");
    assert_eq!(stub.lock().expect("stub").unsubscribed_price_reads, 0);

    // A 429 with an HTTP date (whole seconds) about three seconds ahead: nothing is asked
    // again before then.
    let whole = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let until = SystemTime::UNIX_EPOCH + Duration::from_secs(whole + 3);
    let limited_at = Instant::now();
    stub.lock().expect("stub").limited_until = Some(until);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked: Vec<String> = stub
        .lock()
        .expect("stub")
        .log
        .iter()
        .filter(|(at, _)| *at > limited_at)
        .map(|(_, path)| path.clone())
        .collect();
    // The first poll and quote read meet the 429 (with what ran beside them); then silence.
    assert!(!asked.is_empty(), "the limit was met");
    assert!(
        asked.len() <= 4,
        "asked again while told to wait: {asked:?}"
    );
    let summary: AccountSummary = get_json(&admin, &server.url("/api/accounts/netting"))
        .await
        .expect("summary");
    assert_eq!(
        summary.feed,
        FeedStatus::Live,
        "a wait asked for is no outage"
    );
    eventually(WAIT, "polls after the wait", || async {
        let log = stub.lock().ok()?.log.len();
        let after = stub
            .lock()
            .ok()?
            .log
            .iter()
            .filter(|(at, _)| *at > limited_at + Duration::from_secs(3))
            .count();
        (log > 0 && after > 2).then_some(())
    })
    .await
    .expect("polling resumes after the retry time");
    server.stop().await;
}

/// The dashboard says both: a balance change waiting for its deal (and the rule whose decision
/// is held), and a deal the broker filed late with the day's figures it changed.
#[tokio::test]
async fn the_dashboard_shows_a_held_decision_and_a_late_deal() {
    const PASSING: &str = "demo-passing";
    const SCALPER: &str = "demo-eurusd-scalper";
    tests::require_bundle();
    // The browser first: waiting for a turn at one (`tests::Browser`) must not eat into the
    // scripted world's timeline.
    let browser = tests::Browser::start(1280, 2400).await.expect("browser");
    let rig = rig(&[PASSING, SCALPER]).await;
    rig.demo
        .set_faults(
            PASSING,
            Faults {
                late_deals_secs: 600,
                ..Faults::default()
            },
        )
        .expect("knob");
    rig.demo
        .set_faults(
            SCALPER,
            Faults {
                deal_delay_secs: 60,
                ..Faults::default()
            },
        )
        .expect("knob");
    let room = daily_room(&rig, SCALPER).await;
    rig.demo
        .book_balance(SCALPER, -(room.round_dp(0) + Decimal::from(2_000)))
        .expect("withdrawal");
    browser
        .client
        .goto(&rig.server.url(&format!("/accounts/{SCALPER}")))
        .await
        .expect("open the app");
    browser
        .sign_in("admin", &rig.server.password("admin").expect("password"))
        .await;
    let notice = browser
        .wait_for_text("[data-testid=unexplained-balance]", "Waiting for a deal")
        .await;
    assert!(notice.contains("balance change of"), "{notice}");
    let held = browser
        .wait_for_text("[data-testid=rule-held]", "held")
        .await;
    assert!(held.contains("Decision held since"), "{held}");
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("held-decision.png"),
        png,
    )
    .expect("screenshot written");

    eventually(WAIT, "the late close to be read", || async {
        rig.challenge(PASSING)
            .await
            .filter(|c| !c.late_deals.is_empty())
    })
    .await
    .expect("the late close is read");
    browser
        .client
        .goto(&rig.server.url(&format!("/accounts/{PASSING}")))
        .await
        .expect("open the dashboard");
    let late = browser
        .wait_for_text("[data-testid=late-deal]", "arrived")
        .await;
    assert!(late.contains("late"), "{late}");
    assert!(late.contains("3,680.00"), "{late}");
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("late-deal.png"),
        png,
    )
    .expect("screenshot written");
    browser.close().await;
    rig.stop().await;
}
