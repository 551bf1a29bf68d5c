//! The cTrader connector against the protocol simulator, both over the demo broker's one world:
//! the same scripted scenario played through the MetaApi-shaped demo server and through the
//! cTrader simulator gives the same records and the same engine reports, with money scaled by 2
//! or 8 digits, in either JSON form (numbers, or protobuf's canonical strings and names), and a
//! connection cut in the middle, or a server gone silent without closing it, loses no deal.
//!
//! The world's clock is pinned at each poll instant, so both platforms show the same moment.

use backend::challenge::ChallengeRun;
use broker::StreamEvent;
use broker::ctrader::{CtraderClient, CtraderSettings};
use broker::metaapi::MetaApiClient;
use broker::metaapi::client::http_client;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use demo::ctrader::{CtraderSimulator, JsonForm, SimulatorConfig};
use demo::{DemoBroker, DemoConfig};
use shared::domain::{AccountInfo, Deal, Position};
use shared::engine::Challenge;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wire::ctrader::payload as wire_payload;

const TOKEN: &str = "metaapi-demo-token-for-the-ctrader-test";
const APP_ID: &str = "riskdeck-app";
const APP_SECRET: &str = "riskdeck-app-secret";
const ACCESS_TOKEN: &str = "ctrader-access-token";
const REFRESH_TOKEN: &str = "ctrader-refresh-token";

struct Platforms {
    broker: DemoBroker,
    simulator: CtraderSimulator,
    metaapi_url: String,
    ctrader_url: String,
    start: DateTime<Utc>,
    stop: CancellationToken,
}

impl Drop for Platforms {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn platforms(money_digits: u32, json: JsonForm) -> Platforms {
    let start = Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .expect("whole seconds")
        + TimeDelta::seconds(5);
    let broker = DemoBroker::new(
        DemoConfig {
            seed: 7,
            token: TOKEN.into(),
            step: Duration::from_secs(1),
            script_start: Some(start),
            script_unit: Duration::from_secs(60),
        },
        start - TimeDelta::minutes(30),
    );
    broker.pin_clock(Some(start - TimeDelta::seconds(1)));
    let simulator = CtraderSimulator::new(
        broker.clone(),
        SimulatorConfig {
            client_id: APP_ID.into(),
            client_secret: APP_SECRET.into(),
            access_token: ACCESS_TOKEN.into(),
            refresh_token: REFRESH_TOKEN.into(),
            token_lifetime: demo::ctrader::TOKEN_LIFETIME,
            money_digits,
            json,
        },
    );
    let stop = CancellationToken::new();
    let metaapi = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ctrader = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metaapi_url = format!("http://{}", metaapi.local_addr().expect("addr"));
    let ctrader_url = format!("ws://{}/", ctrader.local_addr().expect("addr"));
    let until = stop.clone();
    tokio::spawn(demo::serve(metaapi, broker.clone(), async move {
        until.cancelled().await
    }));
    let until = stop.clone();
    tokio::spawn(demo::ctrader::serve(
        ctrader,
        simulator.clone(),
        async move { until.cancelled().await },
    ));
    Platforms {
        broker,
        simulator,
        metaapi_url,
        ctrader_url,
        start,
        stop,
    }
}

impl Platforms {
    fn metaapi(&self, account: &str) -> MetaApiClient {
        MetaApiClient::new(
            http_client(Duration::from_secs(10)).expect("http client"),
            &self.metaapi_url,
            account,
            TOKEN,
        )
        .expect("metaapi client")
    }

    fn ctrader(&self, account: &str, timeout: Duration) -> CtraderClient {
        CtraderClient::new(CtraderSettings {
            timeout,
            ..settings(self, account)
        })
    }

    fn challenge(&self, account: &str) -> Challenge {
        let demo = self
            .broker
            .accounts()
            .into_iter()
            .find(|a| a.id == account)
            .expect("a demo account");
        Challenge::new(shared::engine::preset(&demo.preset, demo.initial_balance).expect("preset"))
            .expect("challenge")
    }
}

/// One poll of a platform: new deals, account information, positions.
struct Poll {
    deals: Vec<Deal>,
    info: AccountInfo,
    positions: Vec<Position>,
}

async fn poll_metaapi(client: &MetaApiClient, from: DateTime<Utc>, to: DateTime<Utc>) -> Poll {
    Poll {
        deals: client.deals(from, to).await.expect("metaapi deals"),
        info: client.account_information().await.expect("metaapi info"),
        positions: client.positions().await.expect("metaapi positions"),
    }
}

async fn poll_ctrader(
    client: &CtraderClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    expected: &Poll,
) -> Poll {
    // Quotes reach cTrader clients as a stream: wait until it shows the pinned moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let positions = client.positions().await.expect("ctrader positions");
        if positions == expected.positions || std::time::Instant::now() > deadline {
            return Poll {
                deals: client.deals(from, to).await.expect("ctrader deals"),
                info: client.account_information().await.expect("ctrader info"),
                positions,
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the engine sees of a deal on both platforms (MetaApi's reason and balance-deal entry
/// have no counterpart in cTrader's messages, and the engine does not read them).
fn comparable(deals: &[Deal]) -> Vec<Deal> {
    deals
        .iter()
        .cloned()
        .map(|mut d| {
            d.reason = None;
            if d.is_balance_operation() {
                d.entry = None;
            }
            d
        })
        .collect()
}

/// What happens to the cTrader connections just before a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// They are cut, as a network failure would.
    Drop,
    /// The server stops answering and sending heartbeats, without closing them.
    Silence,
}

/// How long the cTrader client waits for an answer when the server is going to go silent
/// (short, so the test is too); otherwise 10 s.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(3);

/// Plays `account` through both platforms, polling every 30 s of world time for `minutes`, and
/// checks records and engine reports at every poll. `cut` does that to the cTrader connections
/// just before that poll. Returns how many deals were seen and the final report's status.
async fn play(
    money_digits: u32,
    account: &str,
    minutes: i64,
    cut: Option<(i64, Cut)>,
) -> (usize, String) {
    play_in(JsonForm::Numbers, money_digits, account, minutes, cut).await
}

/// [`play`], with the simulator writing its JSON in `json`'s form.
async fn play_in(
    json: JsonForm,
    money_digits: u32,
    account: &str,
    minutes: i64,
    cut: Option<(i64, Cut)>,
) -> (usize, String) {
    let p = platforms(money_digits, json).await;
    let metaapi = p.metaapi(account);
    let timeout = match cut {
        Some((_, Cut::Silence)) => SILENCE_TIMEOUT,
        _ => Duration::from_secs(10),
    };
    let ctrader = p.ctrader(account, timeout);
    let history_end = p.start;
    p.broker.pin_clock(Some(history_end));
    let history_a = metaapi
        .deals(p.start - TimeDelta::hours(2), history_end)
        .await
        .expect("history");
    let history_b = ctrader
        .deals(p.start - TimeDelta::hours(2), history_end)
        .await
        .expect("history");
    assert_eq!(
        comparable(&history_a),
        comparable(&history_b),
        "{account}: history"
    );
    let mut deals_seen = history_a.len();
    let (mut a, _, _) = ChallengeRun::onboard(p.challenge(account), history_a, history_end);
    let (mut b, _, _) = ChallengeRun::onboard(p.challenge(account), history_b, history_end);
    let mut from = history_end;
    for step in 1..=(minutes * 2) {
        let now = p.start + TimeDelta::seconds(30 * step);
        match cut {
            Some((at, Cut::Drop)) if at == step => p.simulator.drop_connections(),
            Some((at, Cut::Silence)) if at == step => p.simulator.silence_connections(),
            _ => {}
        }
        p.broker.pin_clock(Some(now));
        let to = now + TimeDelta::milliseconds(1);
        let poll_a = poll_metaapi(&metaapi, from, to).await;
        let started = std::time::Instant::now();
        let poll_b = poll_ctrader(&ctrader, from, to, &poll_a).await;
        if cut == Some((step, Cut::Silence)) {
            // Noticed within one answer's timeout, then served on a new connection.
            assert!(
                started.elapsed() < SILENCE_TIMEOUT * 3,
                "{account} at step {step}: the poll took {:?}",
                started.elapsed()
            );
        }
        assert_eq!(
            poll_a.info, poll_b.info,
            "{account} at step {step}: account information"
        );
        assert_eq!(
            poll_a.positions, poll_b.positions,
            "{account} at step {step}: positions"
        );
        assert_eq!(
            comparable(&poll_a.deals),
            comparable(&poll_b.deals),
            "{account} at step {step}: deals"
        );
        deals_seen += poll_a.deals.len();
        a.apply_poll(
            account,
            now,
            Some(poll_a.deals),
            &poll_a.info,
            &poll_a.positions,
        );
        b.apply_poll(
            account,
            now,
            Some(poll_b.deals),
            &poll_b.info,
            &poll_b.positions,
        );
        let (report_a, report_b) = (a.challenge().report(), b.challenge().report());
        assert_eq!(
            serde_json::to_value(&report_a).expect("report"),
            serde_json::to_value(&report_b).expect("report"),
            "{account} at step {step}: engine reports"
        );
        from = to;
    }
    if let Some((step, how)) = cut {
        assert!(
            ctrader.connections() >= 2,
            "the {how:?} at step {step} was followed by a new connection"
        );
    }
    let status = serde_json::to_value(a.challenge().report()).expect("report")["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (deals_seen, status)
}

#[tokio::test]
async fn a_scripted_daily_breach_reads_the_same_through_ctrader_as_through_metaapi() {
    let (deals, status) = play(2, "demo-daily-breach", 9, None).await;
    assert!(deals >= 3, "funding, the buy and the stop-out: {deals}");
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn the_same_breach_reads_the_same_when_ctrader_writes_protobufs_canonical_json() {
    // 64-bit integers as strings, enums by name: what Spotware's SDK prints.
    let (deals, status) = play_in(JsonForm::Canonical, 2, "demo-daily-breach", 9, None).await;
    assert!(deals >= 3, "funding, the buy and the stop-out: {deals}");
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn a_passing_challenge_reads_the_same_with_money_in_eight_digits() {
    let (_, status) = play(8, "demo-passing", 5, None).await;
    assert_eq!(status, "passed");
}

#[tokio::test]
async fn a_deposit_is_a_cash_flow_on_ctrader_and_the_same_balance_operation() {
    let (deals, _) = play(2, "demo-deposit", 5, None).await;
    assert!(deals >= 4, "funding, buy, sell and the deposit: {deals}");
}

#[tokio::test]
async fn a_connection_cut_mid_stream_loses_no_deal() {
    // The simulated scalper trades all the time; the cut falls in the middle of its session.
    let (deals, _) = play(2, "demo-eurusd-scalper", 6, Some((5, Cut::Drop))).await;
    assert!(deals > 0);
}

#[tokio::test]
async fn a_server_gone_silent_is_noticed_within_the_timeout_and_no_deal_is_lost() {
    // The server stops answering and sending heartbeats but keeps the connection open: the
    // client's next request waits one timeout, ends the connection, signs in again on a new
    // one and gets its answer there.
    let (deals, _) = play(2, "demo-eurusd-scalper", 6, Some((5, Cut::Silence))).await;
    assert!(deals > 0);
}

#[tokio::test]
async fn a_blocked_payload_type_is_waited_out_not_asked_again_at_every_poll() {
    use broker::BrokerError;
    use broker::ctrader::WAIT_OUT;
    use wire::ctrader::payload;
    let p = platforms(2, JsonForm::Numbers).await;
    let ctrader = p.ctrader("demo-passing", Duration::from_secs(10));
    p.broker.pin_clock(Some(p.start));
    let (from, to) = (p.start - TimeDelta::hours(2), p.start);
    ctrader
        .deals(from, to)
        .await
        .expect("history before the block");

    // A short pause is the connection's normal price: the request waits it out and is sent
    // once more after it, and the caller only sees the answer.
    p.simulator
        .block(payload::DEAL_LIST_REQ, Duration::from_secs(1));
    let asked = p.simulator.received(payload::DEAL_LIST_REQ);
    let started = std::time::Instant::now();
    ctrader
        .deals(from, to)
        .await
        .expect("history after a short pause");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        p.simulator.received(payload::DEAL_LIST_REQ),
        asked + 2,
        "refused once, then asked once more after the pause"
    );

    // A long one fails the call at once with its wait, and the server is not asked again
    // before it is over; other payload types go on.
    p.simulator
        .block(payload::DEAL_LIST_REQ, Duration::from_secs(30));
    let asked = p.simulator.received(payload::DEAL_LIST_REQ);
    let wait = match ctrader.deals(from, to).await {
        Err(BrokerError::RateLimited {
            retry_after: Some(wait),
        }) => wait,
        other => panic!("BLOCKED_PAYLOAD_TYPE is a rate limit with its wait: {other:?}"),
    };
    assert!(
        wait > WAIT_OUT && wait <= Duration::from_secs(30),
        "the server's retryAfter: {wait:?}"
    );
    for _ in 0..5 {
        assert!(matches!(
            ctrader.deals(from, to).await,
            Err(BrokerError::RateLimited { .. })
        ));
    }
    assert_eq!(
        p.simulator.received(payload::DEAL_LIST_REQ),
        asked + 1,
        "asked once, then waited"
    );
    ctrader
        .account_information()
        .await
        .expect("only the blocked payload type waits");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_new_pair_published() {
    use broker::BrokerError;
    use broker::ctrader::client::Tokens;
    use wire::ctrader::payload;
    let p = platforms(2, JsonForm::Numbers).await;
    let ctrader = p.ctrader("demo-passing", Duration::from_secs(10));
    let tokens = ctrader.tokens();
    let before = ctrader
        .account_information()
        .await
        .expect("the first token opens it");
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 0);

    // Thirty days later: the server invalidates the token; the next request signs in again, is
    // told the token expired, trades the refresh token for a new pair once, and goes on.
    p.simulator.expire_access_token();
    let after = ctrader
        .account_information()
        .await
        .expect("the account keeps answering through the refresh");
    assert_eq!(after.currency, before.currency);
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 1);
    let pair = tokens.borrow().clone();
    assert_eq!(pair.access_token, p.simulator.access_token());
    assert_ne!(
        pair.refresh_token.as_deref(),
        Some(REFRESH_TOKEN),
        "a new refresh token"
    );
    let expires = pair.expires_at.expect("the refresh says when it expires");
    let lifetime = expires - pair.refreshed_at.expect("refreshed now");
    assert_eq!(lifetime.num_seconds(), 2_628_000, "cTrader's 30 days");

    // The next expiry uses the new refresh token.
    p.simulator.expire_access_token();
    ctrader.positions().await.expect("refreshed again");
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 2);

    // A stored pair about to expire is refreshed before it is used, not after it fails (once
    // no client of the process holds the pair: one that does has the later renewal).
    let stored = tokens.borrow().clone();
    drop(ctrader);
    let resumed = p
        .ctrader("demo-deposit", Duration::from_secs(10))
        .with_tokens(Tokens {
            expires_at: Some(Utc::now() + TimeDelta::hours(20)),
            refreshed_at: Some(Utc::now() - TimeDelta::days(29)),
            ..stored
        });
    resumed
        .account_information()
        .await
        .expect("refreshed ahead of expiry");
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 3);
    // Refreshed, the new pair's thirty days are far from due: the next calls refresh nothing.
    resumed.positions().await.expect("no second refresh");
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 3);

    // Without a refresh token, or with one the server refuses, the account stops with the
    // server's reason, which names the token.
    let stale = CtraderClient::new(CtraderSettings {
        refresh_token: None,
        ..settings(&p, "demo-overnight")
    });
    match stale.account_information().await {
        Err(BrokerError::Refused { code, .. }) => assert_eq!(code, "CH_ACCESS_TOKEN_INVALID"),
        other => panic!("an old token is refused: {other:?}"),
    }
    let refused = CtraderClient::new(CtraderSettings {
        refresh_token: Some("not-the-refresh-token".into()),
        ..settings(&p, "demo-overnight")
    });
    match refused.account_information().await {
        Err(BrokerError::Refused { code, message }) => {
            assert_eq!(code, "REFRESH_TOKEN_REFUSED");
            assert!(
                message.contains("refused the refresh token (CH_ACCESS_TOKEN_INVALID)"),
                "{message}"
            );
        }
        other => panic!("a refused refresh token stops the account: {other:?}"),
    }
}

#[tokio::test]
async fn the_accounts_of_one_token_pair_refresh_it_once_in_a_process_and_across_servers() {
    use broker::ctrader::TokenStore;
    use broker::ctrader::client::Tokens;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use wire::ctrader::payload;

    /// What a server stores: the pair the other server refreshed, as the store keeps it.
    #[derive(Default)]
    struct Stored(std::sync::Mutex<Option<Tokens>>);
    impl TokenStore for Stored {
        fn latest(&self) -> Pin<Box<dyn Future<Output = Option<Tokens>> + Send + '_>> {
            let stored = self.0.lock().expect("lock").clone();
            Box::pin(async move { stored })
        }
    }

    let p = platforms(2, JsonForm::Numbers).await;
    // One cTrader ID's pair opens the simulator's accounts: three of them in this process.
    let accounts = ["demo-passing", "demo-deposit", "demo-overnight"];
    let clients: Vec<CtraderClient> = accounts
        .iter()
        .map(|account| p.ctrader(account, Duration::from_secs(10)))
        .collect();
    assert!(
        clients
            .iter()
            .all(|c| c.token_lineage() == clients[0].token_lineage()),
        "one pair, one lineage"
    );
    for client in &clients {
        client.account_information().await.expect("signed in");
    }

    // The token expires: every account signs in again, but the refresh token is spent once and
    // the new pair serves them all (a second refresh with the spent one would be refused).
    p.simulator.expire_access_token();
    let answers =
        futures_util::future::join_all(clients.iter().map(|client| client.account_information()))
            .await;
    for (account, answer) in accounts.iter().zip(answers) {
        answer.unwrap_or_else(|e| panic!("{account} goes on through one refresh: {e}"));
    }
    assert_eq!(p.simulator.received(payload::REFRESH_TOKEN_REQ), 1);
    let renewed = clients[0].tokens().borrow().clone();
    assert_eq!(renewed.access_token, p.simulator.access_token());
    assert!(
        clients
            .iter()
            .all(|c| c.tokens().borrow().access_token == renewed.access_token)
    );
    let by = renewed.refreshed_by.expect("refreshed here");
    assert!(
        accounts
            .iter()
            .any(|a| p.simulator.account_id(a) == Some(by)),
        "the account that spent it is named, for its server to spread the pair"
    );

    // A client built later from the spent pair (a stale stored copy) gets the new one.
    let late = p.ctrader("demo-passing", Duration::from_secs(10));
    assert_eq!(late.tokens().borrow().access_token, renewed.access_token);

    // Another server (another application link, as a second process has) holds the old pair
    // in its memory; the store has the new one, which it reads before spending the spent
    // refresh token.
    let stored = Arc::new(Stored::default());
    *stored.0.lock().expect("lock") = Some(renewed.clone());
    let other = CtraderClient::new(CtraderSettings {
        url: p.ctrader_url.trim_end_matches('/').to_owned(),
        ..settings(&p, "demo-deposit")
    })
    .with_token_store(Arc::clone(&stored) as Arc<dyn TokenStore>);
    assert_ne!(other.token_lineage(), clients[0].token_lineage());
    other
        .account_information()
        .await
        .expect("the stored pair is taken, not a refused refresh");
    assert_eq!(
        p.simulator.received(payload::REFRESH_TOKEN_REQ),
        1,
        "not refreshed twice"
    );
    assert_eq!(other.tokens().borrow().access_token, renewed.access_token);
    assert_eq!(
        other.tokens().borrow().refreshed_by,
        None,
        "adopted, not refreshed"
    );
}

fn settings(p: &Platforms, account: &str) -> CtraderSettings {
    CtraderSettings {
        url: p.ctrader_url.clone(),
        client_id: APP_ID.into(),
        client_secret: APP_SECRET.into(),
        access_token: ACCESS_TOKEN.into(),
        refresh_token: Some(REFRESH_TOKEN.into()),
        account_id: p.simulator.account_id(account).expect("a demo account"),
        timeout: Duration::from_secs(10),
    }
}

/// Reads `subscription` until `until` says stop, at most `within`; every event read, in order.
async fn read_until(
    subscription: &mut broker::ctrader::Subscription,
    within: Duration,
    mut until: impl FnMut(&StreamEvent) -> bool,
) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("no stop within {within:?}; read {events:#?}"))
            .expect("the stream goes on");
        let stop = until(&event);
        events.push(event);
        if stop {
            return events;
        }
    }
}

fn deal_ids(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .flat_map(|e| match e {
            StreamEvent::Deals(deals) => deals.iter().map(|d| d.id.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[tokio::test]
async fn every_account_of_an_application_shares_one_connection_and_follows_by_events() {
    let p = platforms(2, JsonForm::Numbers).await;
    p.broker.pin_clock(None);
    let accounts: Vec<String> = p.broker.accounts().into_iter().map(|a| a.id).collect();
    let clients: Vec<CtraderClient> = accounts
        .iter()
        .map(|a| p.ctrader(a, Duration::from_secs(10)))
        .collect();
    let from = p.start - TimeDelta::minutes(31);
    let mut subscriptions: Vec<_> = clients.iter().map(|c| c.subscribe(Some(from))).collect();
    let mut told: Vec<Vec<String>> = Vec::new();
    for subscription in &mut subscriptions {
        let events = read_until(subscription, Duration::from_secs(30), |e| {
            matches!(e, StreamEvent::Synchronized)
        })
        .await;
        assert!(matches!(events[0], StreamEvent::SynchronizationStarted));
        told.push(deal_ids(&events));
    }
    // One application: one connection for all eight accounts, and its standby.
    assert_eq!(p.simulator.connections(), (2, 2), "served and open");

    // The scalper trades all the time: its deals come as execution events, each once, and
    // the account is read again after each (the broker's balance, not a sum of ours).
    let scalper = accounts
        .iter()
        .position(|a| a == "demo-eurusd-scalper")
        .expect("the scalper");
    let traders_before = p.simulator.received(wire_payload::TRADER_REQ);
    let watched = std::time::Instant::now();
    let events = read_until(&mut subscriptions[scalper], Duration::from_secs(30), |e| {
        matches!(e, StreamEvent::AccountInformation(_))
    })
    .await;
    let new = deal_ids(&events);
    assert!(
        !new.is_empty(),
        "a deal before the account is read again: {events:#?}"
    );
    told[scalper].extend(new);
    let metaapi = p.metaapi("demo-eurusd-scalper");
    let world: Vec<String> = metaapi
        .deals(from, Utc::now() + TimeDelta::minutes(1))
        .await
        .expect("the world's deals")
        .into_iter()
        .map(|d| d.id)
        .collect();
    let mut unique = told[scalper].clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), told[scalper].len(), "no deal told twice");
    for id in &told[scalper] {
        assert!(world.contains(id), "deal {id} is the broker's");
    }
    // Between executions only quotes move the equity: an account is read again after its
    // executions, not polled (polling eight accounts reads each once a second or more).
    let read = p.simulator.received(wire_payload::TRADER_REQ) - traders_before;
    let seconds = watched.elapsed().as_secs_f64().max(1.0);
    assert!(
        (read as f64) < accounts.len() as f64 * seconds / 2.0,
        "{read} reads of the accounts in {seconds:.1} s"
    );
    let priced = read_until(&mut subscriptions[scalper], Duration::from_secs(30), |e| {
        matches!(
            e,
            StreamEvent::Prices {
                equity: Some(_),
                ..
            }
        )
    })
    .await;
    assert!(!priced.is_empty());

    // Held still, the equity the quotes give is the broker's, to the cent per position.
    let pinned = p.broker.now();
    p.broker.pin_clock(Some(pinned));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut equity = None;
    let mut positions = 0;
    let mut seen: Vec<StreamEvent> = events.into_iter().chain(priced).collect();
    while let Some(event) = subscriptions[scalper].try_next() {
        seen.push(event);
    }
    for event in seen {
        match event {
            StreamEvent::Prices {
                equity: Some(e), ..
            } => equity = Some(e),
            StreamEvent::AccountInformation(info) => equity = Some(info.equity),
            StreamEvent::Positions(p) => positions = p.len(),
            StreamEvent::PositionsChanged { updated, .. } => positions = updated.len(),
            _ => {}
        }
    }
    let broker = metaapi.account_information().await.expect("info");
    let equity = equity.expect("the stream told the equity");
    let off = (equity - broker.equity).abs();
    let tolerance =
        rust_decimal::Decimal::new(1, 2) * rust_decimal::Decimal::from(positions.max(1));
    assert!(
        off <= tolerance,
        "streamed {equity}, broker {} ({positions} positions)",
        broker.equity
    );

    // The connection drops: the standby takes over (no second application auth beyond its
    // own), a new standby is opened, and the stream catches up from its last deal.
    p.broker.pin_clock(None);
    clients[scalper].disconnect().await;
    let events = read_until(&mut subscriptions[scalper], Duration::from_secs(30), |e| {
        matches!(e, StreamEvent::Synchronized)
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::Disconnected { .. })),
        "{events:#?}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while p.simulator.connections() != (3, 2) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.simulator.connections(), (3, 2), "served and open");
}

#[tokio::test]
async fn quotes_are_shared_by_symbol_among_one_brokers_accounts() {
    let p = platforms(2, JsonForm::Numbers).await;
    // Held still: every quote is the one the world shows, whoever's subscription carried it.
    p.broker.pin_clock(Some(p.broker.now()));
    // The simulated traders are quoted from the market: one broker's accounts. A scripted
    // account is quoted on its own path: a broker of its own.
    let market = [
        "demo-eurusd-scalper",
        "demo-gold-swing",
        "demo-index-breakout",
    ];
    let mut clients: Vec<CtraderClient> = market
        .iter()
        .map(|a| p.ctrader(a, Duration::from_secs(10)))
        .collect();
    let world = p
        .metaapi(market[0])
        .current_price("EURUSD")
        .await
        .expect("the world's quote");
    for client in &clients {
        let price = client.current_price("EURUSD").await.expect("a quote");
        assert_eq!((price.bid, price.ask), (world.bid, world.ask));
    }
    assert_eq!(
        p.simulator.spot_subscriptions(),
        1,
        "one subscription feeds the broker's three accounts"
    );
    let apart = p.ctrader("demo-daily-breach", Duration::from_secs(10));
    apart.current_price("EURUSD").await.expect("a quote");
    assert_eq!(p.simulator.spot_subscriptions(), 2, "another broker's own");

    // The account that fed the quote goes: the next to ask subscribes in its place, once.
    drop(clients.remove(0));
    for client in &clients {
        let price = client.current_price("EURUSD").await.expect("a quote");
        assert_eq!((price.bid, price.ask), (world.bid, world.ask));
    }
    assert_eq!(p.simulator.spot_subscriptions(), 3);

    // A reconnect ends every subscription: the first account back feeds the others again.
    clients[0].disconnect().await;
    for client in &clients {
        let price = client.current_price("EURUSD").await.expect("a quote");
        assert_eq!((price.bid, price.ask), (world.bid, world.ask));
    }
    assert_eq!(p.simulator.spot_subscriptions(), 4);

    // The quotes move on for every reader.
    p.broker.pin_clock(None);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for client in &clients {
        loop {
            let price = client.current_price("EURUSD").await.expect("a quote");
            if (price.bid, price.ask) != (world.bid, world.ask) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the shared quote never moved"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
