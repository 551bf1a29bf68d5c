//! The admin console's challenges over real HTTP: creating a challenge (validated field by
//! field, tracked at once, stored, audited, tracked again after a restart), on the demo broker,
//! through MetaApi and through cTrader (the cTrader Open API simulator over real WebSockets),
//! and the overview (searched, filtered, sorted and paged on the server).

use broker::ctrader::{CtraderClient, CtraderSettings};
use chrono::{TimeDelta, Utc};
use demo::ctrader::{CtraderSimulator, SimulatorConfig};
use demo::{DemoBroker, DemoConfig};
use serde_json::{Value, json};
use shared::api::{
    AccountSummary, AccountsResponse, ChallengesPage, ConnectionOptions, CreateAccountResponse,
    ErrorBody, FeedStatus,
};
use shared::domain::{AccountId, AccountInfo, Deal};
use std::collections::BTreeMap;
use std::time::Duration;
use store::AuditFilter;
use tests::{TestServer, demo_config, eventually};
use tokio_util::sync::CancellationToken;

/// Generous: a loaded 2-core machine reads a demo account's history in well under this.
const LIVE_WITHIN: Duration = Duration::from_secs(60);

fn demo_request(id: &str) -> Value {
    json!({
        "id": id,
        "name": "Jane's FTMO 100k",
        "connection": { "kind": "demo", "account": "demo-gold-swing" },
        "preset": "ftmo-2step",
        "phase": "Phase 2",
        "initial_balance": "100000",
        "currency": "USD",
        "owner": "trader2",
    })
}

async fn post(client: &reqwest::Client, server: &TestServer, body: &Value) -> (u16, String) {
    let response = client
        .post(server.url("/api/accounts"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn summary(
    client: &reqwest::Client,
    server: &TestServer,
    id: &str,
) -> Option<AccountSummary> {
    client
        .get(server.url(&format!("/api/accounts/{id}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

async fn goes_live(client: &reqwest::Client, server: &TestServer, id: &str) -> AccountSummary {
    eventually(LIVE_WITHIN, "the new account to go live", || async {
        summary(client, server, id)
            .await
            .filter(|s| s.feed == FeedStatus::Live && s.latest.is_some())
    })
    .await
    .expect("live")
}

#[tokio::test]
async fn an_admin_creates_a_demo_challenge_that_goes_live_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");

    let options: ConnectionOptions = admin
        .get(server.url("/api/admin/connections"))
        .send()
        .await
        .expect("options")
        .json()
        .await
        .expect("json");
    assert!(options.demo && !options.secret_key);
    assert!(
        options
            .demo_accounts
            .iter()
            .any(|a| a.id == "demo-gold-swing")
    );
    assert!(
        options
            .presets
            .iter()
            .any(|p| p.name == "ftmo-2step-phase2")
    );

    let (status, body) = post(&admin, &server, &demo_request("jane-ftmo")).await;
    assert_eq!(status, 201, "{body}");
    let created: CreateAccountResponse = serde_json::from_str(&body).expect("response");
    assert_eq!(created.account.id.as_str(), "jane-ftmo");
    assert_eq!(created.account.name, "Jane's FTMO 100k");

    let list: AccountsResponse = admin
        .get(server.url("/api/accounts"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(list.accounts.iter().any(|a| a.id.as_str() == "jane-ftmo"));

    let live = goes_live(&admin, &server, "jane-ftmo").await;
    let challenge = live
        .latest
        .and_then(|view| view.challenge)
        .expect("evaluated against its challenge");
    assert_eq!(
        challenge.preset, "ftmo-2step-phase2",
        "the phase chose the preset"
    );
    assert_eq!(challenge.phase.as_deref(), Some("Phase 2"));

    // The owner sees it; the other trader does not.
    let owner = server.login("trader2").await.expect("trader2");
    assert!(summary(&owner, &server, "jane-ftmo").await.is_some());
    let other = server.login("trader").await.expect("trader");
    let response = other
        .get(server.url("/api/accounts/jane-ftmo"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);

    // In the overview, found by search (owner and name), with its counts.
    let page: ChallengesPage = admin
        .get(server.url("/api/admin/challenges?q=JANE&sort=name"))
        .send()
        .await
        .expect("overview")
        .json()
        .await
        .expect("json");
    assert_eq!(page.total, 1, "{page:?}");
    assert_eq!(page.rows[0].id.as_str(), "jane-ftmo");
    assert_eq!(page.rows[0].owner.as_deref(), Some("trader2"));
    assert_eq!(page.counts.all, 9, "eight demo accounts and the new one");

    let audit = server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some("account.create".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.actor, "admin");
    assert_eq!(audit[0].entry.subject, "account:jane-ftmo");
    server.stop().await;
}

#[tokio::test]
async fn every_unusable_field_is_refused_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("id", json!("Not A Slug"), "lowercase letters"),
        ("id", json!("ab"), "3 to 64"),
        ("name", json!("   "), "display name"),
        (
            "connection",
            json!({ "kind": "demo", "account": "demo-nowhere" }),
            "choose one of",
        ),
        (
            "connection",
            json!({ "kind": "metaapi", "account_id": "abc", "token": "secret-token" }),
            "secret_key",
        ),
        (
            "connection",
            json!({ "kind": "metaapi", "account_id": "", "token": "t" }),
            "MetaApi's account id",
        ),
        ("preset", json!("ftmo-9step"), "choose one of"),
        ("phase", json!("Phase 9"), "has no phase"),
        ("initial_balance", json!("a lot"), "not a number"),
        ("initial_balance", json!("0"), "more than 0"),
        ("currency", json!("usd"), "three capital letters"),
        ("currency", json!("EUR"), "in USD"),
        ("owner", json!("nobody-here"), "create the trader"),
        ("owner", json!("admin"), "choose a trader"),
    ];
    for (field, value, says) in cases {
        let mut body = demo_request("bad-field");
        body[field] = value.clone();
        let (status, text) = post(&admin, &server, &body).await;
        assert_eq!(status, 422, "{field} = {value}: {text}");
        let error: ErrorBody = serde_json::from_str(&text).expect("error body");
        assert!(
            error.message.starts_with(field) && error.message.contains(says),
            "{field} = {value}: {}",
            error.message
        );
        assert!(!text.contains("secret-token"), "the token is never echoed");
    }
    // A missing field is named too.
    let mut body = demo_request("bad-field");
    body.as_object_mut().expect("object").remove("preset");
    let (status, text) = post(&admin, &server, &body).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("preset"), "{text}");
    // Nothing was created.
    assert!(summary(&admin, &server, "bad-field").await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_taken_id_is_a_conflict_and_traders_may_not_create_or_see_the_overview() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let (status, body) = post(&admin, &server, &demo_request("twice")).await;
    assert_eq!(status, 201, "{body}");
    for id in ["twice", "demo-gold-swing"] {
        let (status, body) = post(&admin, &server, &demo_request(id)).await;
        assert_eq!(status, 409, "{id}: {body}");
        let error: ErrorBody = serde_json::from_str(&body).expect("error body");
        assert!(
            error.message.contains("choose another id"),
            "{}",
            error.message
        );
    }
    let trader = server.login("trader").await.expect("trader");
    let (status, _) = post(&trader, &server, &demo_request("mine")).await;
    assert_eq!(status, 403);
    for path in ["/api/admin/challenges", "/api/admin/connections"] {
        let response = trader.get(server.url(path)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 403, "{path}");
    }
    let bad = admin
        .get(server.url("/api/admin/challenges?sort=age"))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status().as_u16(), 400);
    server.stop().await;
}

#[tokio::test]
async fn a_created_challenge_survives_a_restart_on_the_same_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    let (status, body) = post(&admin, &server, &demo_request("keeps")).await;
    assert_eq!(status, 201, "{body}");
    goes_live(&admin, &server, "keeps").await;
    server.stop().await;

    let server = TestServer::start(config).await.expect("restarted");
    let admin = server.login("admin").await.expect("admin");
    let again = goes_live(&admin, &server, "keeps").await;
    assert_eq!(again.name, "Jane's FTMO 100k");
    let owner = server.login("trader2").await.expect("trader2");
    assert!(
        summary(&owner, &server, "keeps").await.is_some(),
        "still theirs"
    );
    // Tracked once: creating it again is still a conflict.
    let (status, _) = post(&admin, &server, &demo_request("keeps")).await;
    assert_eq!(status, 409);
    server.stop().await;
}

#[tokio::test]
async fn a_metaapi_challenge_stores_its_token_sealed_and_never_returns_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.secret_key = Some(
        store::secrets::SecretKey::parse(
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .expect("key"),
    );
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    // The demo broker speaks MetaApi: connect to it as to MetaApi, with its token.
    let demo = server.state.launcher.demo.clone().expect("demo mode");
    let token = demo.broker.token().to_owned();
    let body = json!({
        "id": "via-metaapi",
        "name": "Through MetaApi",
        "connection": {
            "kind": "metaapi",
            "account_id": "demo-eurusd-scalper",
            "token": token,
            "base_url": demo.base_url,
        },
        "preset": "ftmo-1step",
        "initial_balance": "100000",
        "currency": "USD",
    });
    let (status, text) = post(&admin, &server, &body).await;
    assert_eq!(status, 201, "{text}");
    assert!(!text.contains(&token));
    let live = goes_live(&admin, &server, "via-metaapi").await;
    assert!(!serde_json::to_string(&live).expect("json").contains(&token));
    let stored = server
        .state
        .store
        .load_broker_connection(&"via-metaapi".into())
        .await
        .expect("load")
        .expect("stored");
    assert!(stored.sealed_token.as_str().starts_with("v1."));
    assert!(!stored.sealed_token.as_str().contains(&token));
    let audit = server
        .state
        .store
        .audit_log(&AuditFilter::default())
        .await
        .expect("audit");
    assert!(
        !format!("{audit:?}").contains(&token),
        "the audit log keeps no token"
    );
    server.stop().await;
}

const CTRADER_CLIENT_ID: &str = "firm-app";
const CTRADER_SECRET: &str = "client-secret-never-shown";
const CTRADER_TOKEN: &str = "access-token-never-shown";
const CTRADER_REFRESH: &str = "refresh-token-never-shown";
const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A cTrader Open API simulator on its own port, over its own demo world whose clock is pinned a
/// minute ago: the numbers stand still, so what the server tracks can be compared with what the
/// simulator says. It outlives the servers started against it; it stops when dropped.
struct Simulator {
    simulator: CtraderSimulator,
    url: String,
    stop: CancellationToken,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Simulator {
    async fn start() -> Simulator {
        let now = Utc::now();
        let broker = DemoBroker::new(
            DemoConfig {
                seed: 11,
                token: "unused-metaapi-token".into(),
                step: Duration::from_secs(1),
                script_start: Some(now - TimeDelta::minutes(20)),
                script_unit: Duration::from_secs(60),
            },
            now - TimeDelta::hours(2),
        );
        broker.pin_clock(Some(now - TimeDelta::minutes(1)));
        let simulator = CtraderSimulator::new(
            broker,
            SimulatorConfig {
                client_id: CTRADER_CLIENT_ID.into(),
                client_secret: CTRADER_SECRET.into(),
                access_token: CTRADER_TOKEN.into(),
                refresh_token: CTRADER_REFRESH.into(),
                token_lifetime: demo::ctrader::TOKEN_LIFETIME,
                money_digits: 2,
                json: demo::ctrader::JsonForm::Numbers,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("ws://{}/", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(demo::ctrader::serve(
            listener,
            simulator.clone(),
            async move { until.cancelled().await },
        ));
        Simulator {
            simulator,
            url,
            stop,
        }
    }

    fn account_id(&self, demo_account: &str) -> i64 {
        self.simulator
            .account_id(demo_account)
            .expect("a demo account")
    }

    /// What the simulator says of an account, read with the connector itself: its account
    /// information and its deals.
    async fn read(&self, demo_account: &str) -> (AccountInfo, Vec<Deal>) {
        let client = CtraderClient::new(CtraderSettings {
            url: self.url.clone(),
            client_id: CTRADER_CLIENT_ID.into(),
            client_secret: CTRADER_SECRET.into(),
            access_token: CTRADER_TOKEN.into(),
            refresh_token: None,
            account_id: self.account_id(demo_account),
            timeout: Duration::from_secs(20),
        });
        let now = Utc::now();
        let deals = client
            .deals(now - TimeDelta::days(3), now + TimeDelta::hours(1))
            .await
            .expect("the simulator's deals");
        let info = client
            .account_information()
            .await
            .expect("the simulator's account");
        (info, deals)
    }

    fn request(&self, id: &str, demo_account: &str) -> Value {
        json!({
            "id": id,
            "name": "Jane on cTrader",
            "connection": {
                "kind": "ctrader",
                "url": self.url,
                "client_id": CTRADER_CLIENT_ID,
                "client_secret": CTRADER_SECRET,
                "access_token": CTRADER_TOKEN,
                "account_id": self.account_id(demo_account).to_string(),
            },
            "preset": "ftmo-2step",
            "initial_balance": "100000",
            "currency": "USD",
            "owner": "trader2",
        })
    }
}

/// A server that can store broker secrets, and does not call a feed stale for quotes standing
/// still (the simulator's world is pinned).
fn with_secret_key(mut config: backend::config::Config) -> backend::config::Config {
    config.secret_key = Some(store::secrets::SecretKey::parse(SECRET_KEY).expect("key"));
    config.stale_after = Duration::from_secs(3600);
    config
}

/// The account's stored connection once a refreshed token pair is in it.
async fn refreshed_connection(
    server: &TestServer,
    account: &AccountId,
) -> store::StoredBrokerConnection {
    eventually(LIVE_WITHIN, "the refreshed pair stored", || async {
        let stored = server
            .state
            .store
            .load_broker_connection(account)
            .await
            .ok()??;
        stored.token_refreshed_at.is_some().then_some(stored)
    })
    .await
    .expect("stored after the refresh")
}

/// Waits until the account is live showing exactly the simulator's balance and equity.
async fn live_as_simulated(
    client: &reqwest::Client,
    server: &TestServer,
    id: &str,
    info: &AccountInfo,
) -> AccountSummary {
    let last = std::sync::Mutex::new(None);
    let live = eventually(
        LIVE_WITHIN,
        "the cTrader account live with its balance",
        || async {
            let seen = summary(client, server, id).await;
            let found = seen.clone().filter(|s| {
                s.feed == FeedStatus::Live
                    && s.latest
                        .as_ref()
                        .is_some_and(|v| v.balance == info.balance && v.equity == info.equity)
            });
            *last.lock().expect("lock") = seen;
            found
        },
    )
    .await;
    live.unwrap_or_else(|e| {
        let last = last.lock().expect("lock");
        let seen = last
            .as_ref()
            .map(|s| (s.feed, s.latest.as_ref().map(|v| (v.balance, v.equity))));
        panic!("{e}: the simulator says {info:?}; last seen {seen:?}")
    })
}

/// The account's closing trades as the server lists them: deal id to profit.
async fn trades(
    client: &reqwest::Client,
    server: &TestServer,
    id: &str,
) -> BTreeMap<String, rust_decimal::Decimal> {
    let mut all = BTreeMap::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", "200".to_owned())];
        if let Some(cursor) = &before {
            query.push(("before", cursor.clone()));
        }
        let page: shared::api::TradesPage = client
            .get(server.url(&format!("/api/accounts/{id}/trades")))
            .query(&query)
            .send()
            .await
            .expect("trades")
            .json()
            .await
            .expect("json");
        for trade in page.trades {
            assert!(
                all.insert(trade.deal_id.clone(), trade.profit).is_none(),
                "deal {} listed twice",
                trade.deal_id
            );
        }
        match page.next {
            Some(next) => before = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn an_admin_connects_a_ctrader_account_that_goes_live_with_its_deals_and_survives_a_restart()
{
    let simulator = Simulator::start().await;
    let (info, deals) = simulator.read("demo-eurusd-scalper").await;
    let closed: BTreeMap<String, rust_decimal::Decimal> = deals
        .iter()
        .filter(|d| d.is_closing_trade())
        .map(|d| (d.id.clone(), d.profit))
        .collect();
    assert!(
        !closed.is_empty(),
        "the scalper has closed trades to compare"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = with_secret_key(demo_config(&dir.path().join("r.db")));
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.login("admin").await.expect("admin");

    // A bad field is refused with a 422 that names it, and creates nothing.
    for (field, value, says) in [
        ("account_id", json!("12 34"), "ctidTraderAccountId"),
        (
            "url",
            json!("https://live.ctraderapi.com"),
            "wss://live.ctraderapi.com:5036",
        ),
        ("client_id", json!(""), "client id"),
        ("access_token", json!("two words"), "one line"),
    ] {
        let mut body = simulator.request("bad-ctrader", "demo-eurusd-scalper");
        body["connection"][field] = value.clone();
        let (status, text) = post(&admin, &server, &body).await;
        assert_eq!(status, 422, "{field} = {value}: {text}");
        let error: ErrorBody = serde_json::from_str(&text).expect("error body");
        assert!(
            error.message.starts_with(&format!("connection.{field}:"))
                && error.message.contains(says),
            "{field} = {value}: {}",
            error.message
        );
        for secret in [CTRADER_SECRET, CTRADER_TOKEN] {
            assert!(!text.contains(secret), "{field}: a secret echoed");
        }
    }
    assert!(summary(&admin, &server, "bad-ctrader").await.is_none());

    let (status, text) = post(
        &admin,
        &server,
        &simulator.request("jane-ctrader", "demo-eurusd-scalper"),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let live = live_as_simulated(&admin, &server, "jane-ctrader", &info).await;
    let view = live.latest.as_ref().expect("latest");
    assert_eq!(live.currency.as_deref(), Some("USD"));
    assert!(
        view.challenge
            .as_ref()
            .is_some_and(|c| c.preset == "ftmo-2step"),
        "evaluated against its challenge"
    );
    let seen = eventually(LIVE_WITHIN, "every closed trade listed", || async {
        let seen = trades(&admin, &server, "jane-ctrader").await;
        (seen.len() >= closed.len()).then_some(seen)
    })
    .await
    .expect("trades");
    assert_eq!(seen, closed, "the simulator's closed trades, each once");

    // No secret in the response, the account's view, the stored connection or the audit log.
    let live_json = serde_json::to_string(&live).expect("json");
    let stored = server
        .state
        .store
        .load_broker_connection(&"jane-ctrader".into())
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(stored.platform, "ctrader");
    assert_eq!(stored.client_id.as_deref(), Some(CTRADER_CLIENT_ID));
    let sealed_secret = stored.sealed_client_secret.clone().expect("sealed secret");
    for sealed in [&stored.sealed_token, &sealed_secret] {
        assert!(sealed.as_str().starts_with("v1."));
    }
    let audit = server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some("account.create".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.subject, "account:jane-ctrader");
    let audit_text = format!("{audit:?}");
    assert!(audit_text.contains("ctrader"), "{audit_text}");
    for secret in [CTRADER_SECRET, CTRADER_TOKEN] {
        for (what, text) in [
            ("the response", &text),
            ("the account", &live_json),
            ("the audit log", &audit_text),
            ("the sealed token", &stored.sealed_token.as_str().to_owned()),
            ("the sealed secret", &sealed_secret.as_str().to_owned()),
        ] {
            assert!(!text.contains(secret), "{what} holds a secret");
        }
    }
    server.stop().await;

    // Tracked again after a restart, from the stored (sealed) connection.
    let server = TestServer::start(config).await.expect("restarted");
    let admin = server.login("admin").await.expect("admin");
    let again = live_as_simulated(&admin, &server, "jane-ctrader", &info).await;
    assert_eq!(again.name, "Jane on cTrader");
    assert_eq!(trades(&admin, &server, "jane-ctrader").await, closed);
    let owner = server.login("trader2").await.expect("trader2");
    assert!(summary(&owner, &server, "jane-ctrader").await.is_some());
    let (status, _) = post(
        &admin,
        &server,
        &simulator.request("jane-ctrader", "demo-eurusd-scalper"),
    )
    .await;
    assert_eq!(status, 409, "tracked once");
    server.stop().await;
}

/// A cTrader access token that expires is refreshed with the refresh token the admin gave; the
/// new pair is stored sealed at once with its expiry, and after a restart the account goes on
/// with it (the first pair opens nothing any more).
#[tokio::test]
async fn an_expired_ctrader_token_is_refreshed_stored_sealed_and_used_after_a_restart() {
    use wire::ctrader::payload;
    let simulator = Simulator::start().await;
    let (info, _) = simulator.read("demo-gold-swing").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = with_secret_key(demo_config(&dir.path().join("r.db")));
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    let mut body = simulator.request("renewed-ctrader", "demo-gold-swing");
    body["connection"]["refresh_token"] = json!(CTRADER_REFRESH);
    let (status, text) = post(&admin, &server, &body).await;
    assert_eq!(status, 201, "{text}");
    assert!(
        !text.contains(CTRADER_REFRESH),
        "the refresh token is never echoed"
    );
    live_as_simulated(&admin, &server, "renewed-ctrader", &info).await;
    // Another account of the same cTrader ID, connected with the same pair.
    let (sibling_info, _) = simulator.read("demo-eurusd-scalper").await;
    let mut sibling = simulator.request("renewed-sibling", "demo-eurusd-scalper");
    sibling["connection"]["refresh_token"] = json!(CTRADER_REFRESH);
    let (status, text) = post(&admin, &server, &sibling).await;
    assert_eq!(status, 201, "{text}");
    live_as_simulated(&admin, &server, "renewed-sibling", &sibling_info).await;

    simulator.simulator.expire_access_token();
    let account = AccountId::from("renewed-ctrader");
    let stored = refreshed_connection(&server, &account).await;
    let (expires, refreshed) = (
        stored.token_expires_at.expect("its expiry"),
        stored.token_refreshed_at.expect("its refresh"),
    );
    assert_eq!((expires - refreshed).num_seconds(), 2_628_000);
    let sealed = stored
        .sealed_refresh_token
        .clone()
        .expect("sealed refresh token");
    assert!(sealed.as_str().starts_with("v1.") && !sealed.as_str().contains("refresh-token"));
    let key = config.secret_key.clone().expect("key");
    let opened = store::connections::load(server.state.store.as_ref(), &key, &account)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(opened.token.expose(), simulator.simulator.access_token());
    assert_ne!(
        opened
            .refresh
            .as_ref()
            .map(|r| r.token.expose().to_owned())
            .as_deref(),
        Some(CTRADER_REFRESH),
        "the refresh brought a new refresh token"
    );
    live_as_simulated(&admin, &server, "renewed-ctrader", &info).await;
    // The pair was spent once for both accounts, and both stored the new one.
    let sibling_id = AccountId::from("renewed-sibling");
    refreshed_connection(&server, &sibling_id).await;
    let sibling_stored = store::connections::load(server.state.store.as_ref(), &key, &sibling_id)
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(sibling_stored.token, opened.token);
    assert_eq!(
        sibling_stored.refresh.as_ref().map(|r| &r.lineage),
        opened.refresh.as_ref().map(|r| &r.lineage),
        "one pair, one lineage"
    );
    live_as_simulated(&admin, &server, "renewed-sibling", &sibling_info).await;
    assert_eq!(simulator.simulator.received(payload::REFRESH_TOKEN_REQ), 1);
    server.stop().await;

    // After a restart only the stored pair works: the accounts go live without refreshing.
    let server = TestServer::start(config).await.expect("restarted");
    let admin = server.login("admin").await.expect("admin");
    live_as_simulated(&admin, &server, "renewed-ctrader", &info).await;
    live_as_simulated(&admin, &server, "renewed-sibling", &sibling_info).await;
    assert_eq!(simulator.simulator.received(payload::REFRESH_TOKEN_REQ), 1);

    // The owner revokes the application's access: the refresh is refused, and the feed is
    // stale at once with the reason in its event (which notifies), not after a silence.
    simulator.simulator.revoke_tokens();
    let stale = eventually(LIVE_WITHIN, "the feed stale with the reason", || async {
        let events = server
            .state
            .store
            .challenge_event_records(&account, 0, 1_000)
            .await
            .ok()?;
        events
            .into_iter()
            .find(|e| e.event.kind == "feed_stale")
            .map(|e| e.event.body)
    })
    .await
    .expect("a feed_stale event");
    assert!(
        stale.contains("credentials") && stale.contains("refresh token"),
        "{stale}"
    );
    let shown = summary(&admin, &server, "renewed-ctrader")
        .await
        .expect("shown");
    assert_eq!(shown.feed, FeedStatus::Stale);
    server.stop().await;
}

/// The console's form connects a cTrader account: the admin picks cTrader, fills in the
/// application's credentials and the ctidTraderAccountId, and follows the new challenge from
/// connecting to live, with the simulator's balance.
#[tokio::test]
async fn an_admin_connects_a_ctrader_account_in_the_browser() {
    tests::require_bundle();
    let simulator = Simulator::start().await;
    let (info, _) = simulator.read("demo-gold-swing").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(with_secret_key(demo_config(&dir.path().join("r.db"))))
        .await
        .expect("server");
    let browser = tests::Browser::start(1280, 1400).await.expect("browser");
    browser
        .client
        .goto(&server.url("/admin/accounts/new"))
        .await
        .expect("open the form");
    browser
        .sign_in("admin", &server.password("admin").expect("password"))
        .await;
    browser.wait_for("[data-testid=create-form]").await;
    browser.click("[data-testid=create-kind-ctrader]").await;
    browser
        .type_into("[data-testid=create-id]", "gold-on-ctrader")
        .await;
    browser
        .type_into("[data-testid=create-name]", "Gold on cTrader")
        .await;
    browser
        .type_into("[data-testid=create-ctrader-url]", &simulator.url)
        .await;
    browser
        .type_into("[data-testid=create-ctrader-client-id]", CTRADER_CLIENT_ID)
        .await;
    browser
        .type_into("[data-testid=create-ctrader-client-secret]", CTRADER_SECRET)
        .await;
    browser
        .type_into("[data-testid=create-ctrader-access-token]", CTRADER_TOKEN)
        .await;
    browser
        .type_into(
            "[data-testid=create-ctrader-refresh-token]",
            CTRADER_REFRESH,
        )
        .await;
    browser
        .type_into(
            "[data-testid=create-ctrader-account-id]",
            &simulator.account_id("demo-gold-swing").to_string(),
        )
        .await;
    browser
        .type_into("[data-testid=create-balance]", "50000")
        .await;
    browser.click("[data-testid=create-submit]").await;
    browser.wait_for("[data-testid=create-live]").await;

    let admin = server.login("admin").await.expect("admin");
    let live = live_as_simulated(&admin, &server, "gold-on-ctrader", &info).await;
    assert_eq!(live.name, "Gold on cTrader");
    let page = browser.client.source().await.expect("the page");
    for secret in [CTRADER_SECRET, CTRADER_TOKEN, CTRADER_REFRESH] {
        assert!(!page.contains(secret), "a secret left on the page");
    }

    // The challenge's admin page tells how the token stands: renewed automatically, and after
    // a renewal when it expires and when it was renewed.
    let account_page = server.url("/admin/accounts/gold-on-ctrader");
    browser.client.goto(&account_page).await.expect("open");
    browser
        .wait_for("[data-testid=admin-challenge-token]")
        .await;
    let token = browser
        .text_of("[data-testid=admin-challenge-token]")
        .await
        .unwrap_or_default();
    assert!(
        token.contains("Renewed automatically") && token.contains("not renewed yet"),
        "{token}"
    );
    simulator.simulator.expire_access_token();
    let account = AccountId::from("gold-on-ctrader");
    refreshed_connection(&server, &account).await;
    browser
        .client
        .goto(&account_page)
        .await
        .expect("open again");
    let token = eventually(LIVE_WITHIN, "the expiry shown", || async {
        let token = browser
            .text_of("[data-testid=admin-challenge-token]")
            .await?;
        token.contains("expires").then_some(token)
    })
    .await
    .expect("the expiry on the page");
    assert!(token.contains("last renewed"), "{token}");
    browser.close().await;
    server.stop().await;
}
