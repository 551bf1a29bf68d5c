//! MetaApi's risk management API served by Riskdeck (`/users/current`), over real HTTP against
//! the demo: API tokens (created by an admin, scoped to accounts, revoked), trackers in
//! MetaApi's shapes and errors, events reaching a waiting long poll, statistics, the equity
//! chart, the dashboard's view and the audit trail, and trackers surviving a restart.
//! MetaApi's own SDK drives the same API in `cargo xtask conformance`.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

/// Trader `trader` owns it; the demo scalper's positions float every second.
const ACCOUNT: &str = "demo-eurusd-scalper";
const OTHER: &str = "demo-gold-swing";

async fn create_token(server: &TestServer, accounts: &[&str]) -> (String, Value) {
    let admin = server.login("admin").await.expect("admin");
    let response = admin
        .post(server.url("/api/api-tokens"))
        .json(&json!({ "name": "firm app", "accounts": accounts }))
        .send()
        .await
        .expect("create token");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let secret = body["token"].as_str().expect("secret").to_owned();
    (secret, body["api_token"].clone())
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &TestServer, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: server.url("/users/current"),
            token: token.to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("auth-token", &self.token)
            .header("api-version", "1");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> u16 {
        self.call(reqwest::Method::DELETE, path, None).await.0
    }
}

#[tokio::test]
async fn api_tokens_open_only_their_accounts_until_revoked_and_trackers_keep_metaapis_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let (secret, summary) = create_token(&server, &[ACCOUNT]).await;
    assert!(secret.starts_with("rdk_") && secret.len() > 60, "{secret}");
    let admin = server.login("admin").await.expect("admin");
    let listed = admin
        .get(server.url("/api/api-tokens"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(listed.contains(summary["id"].as_str().expect("id")));
    assert!(!listed.contains(&secret), "a secret is shown once only");
    let stored = server
        .state
        .store
        .api_token_by_secret(&secret)
        .await
        .expect("lookup");
    assert_eq!(stored, None, "the secret itself is not stored");

    // No token, a wrong token: MetaApi's 401.
    let stranger = Api::new(&server, "rdk_not-a-token");
    let (status, body) = stranger.get(&format!("/accounts/{ACCOUNT}/trackers")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("UnauthorizedError"))
    );

    let api = Api::new(&server, &secret);
    let tracker = json!({
        "name": "daily drawdown/5%",
        "period": "day",
        "relativeDrawdownThreshold": 0.05,
        "absoluteProfitThreshold": 1000
    });
    let (status, created) = api
        .post(&format!("/accounts/{ACCOUNT}/trackers"), tracker.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    // Another account is out of the token's reach: it does not exist.
    let (status, body) = api
        .post(&format!("/accounts/{OTHER}/trackers"), tracker.clone())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("NotFoundError"))
    );
    let (status, _) = api.get(&format!("/accounts/{OTHER}/equity-chart")).await;
    assert_eq!(status, 404);

    // MetaApi's validation errors, naming each parameter.
    let (status, body) = api
        .post(&format!("/accounts/{ACCOUNT}/trackers"), tracker.clone())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("ValidationError"))
    );
    assert_eq!(body["details"][0]["parameter"], "name", "{body}");
    let (status, body) = api
        .post(
            &format!("/accounts/{ACCOUNT}/trackers"),
            json!({ "name": "x", "period": "fortnight", "relativeDrawdownThreshold": 2 }),
        )
        .await;
    assert_eq!(status, 400);
    let parameters: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["parameter"].as_str())
        .collect();
    assert!(
        parameters.contains(&"period") && parameters.contains(&"relativeDrawdownThreshold"),
        "{body}"
    );
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/accounts/{ACCOUNT}/trackers"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("ValidationError"))
    );

    // Read back as written, by id, by name (with a slash) and in the list.
    let (status, got) = api.get(&format!("/accounts/{ACCOUNT}/trackers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["_id"], id.as_str());
    assert_eq!(got["name"], "daily drawdown/5%");
    assert_eq!(got["period"], "day");
    assert_eq!(got["relativeDrawdownThreshold"], 0.05);
    assert_eq!(got["absoluteProfitThreshold"], 1000);
    let (status, by_name) = api
        .get(&format!(
            "/accounts/{ACCOUNT}/trackers/name/daily%20drawdown/5%25"
        ))
        .await;
    assert_eq!((status, &by_name), (200, &got));
    let (_, list) = api.get(&format!("/accounts/{ACCOUNT}/trackers")).await;
    assert_eq!(list, json!([got]));

    // Renamed (the only change allowed), then deleted.
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            &format!("/accounts/{ACCOUNT}/trackers/{id}"),
            Some(json!({ "name": "renamed" })),
        )
        .await;
    assert_eq!(status, 204);
    let (_, got) = api.get(&format!("/accounts/{ACCOUNT}/trackers/{id}")).await;
    assert_eq!(got["name"], "renamed");
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            &format!("/accounts/{ACCOUNT}/trackers/{id}"),
            Some(json!({ "period": "week" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        api.delete(&format!("/accounts/{ACCOUNT}/trackers/{id}"))
            .await,
        204
    );
    let (status, body) = api.get(&format!("/accounts/{ACCOUNT}/trackers/{id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("NotFoundError"))
    );
    let (status, body) = api.get("/no-such-thing").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("NotFoundError"))
    );

    // Audited: who (the token), what, and the tracker.
    let audit: Value = admin
        .get(server.url("/api/audit?actor=api-token:firm%20app"))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["tracker.delete", "tracker.update", "tracker.create"],
        "{audit}"
    );

    // Revoked: it opens nothing, a poll already waiting included.
    let waiting = {
        let api = Api::new(&server, &secret);
        tokio::spawn(async move { api.get("/tracker-events/stream").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token_id = summary["id"].as_str().expect("id");
    let revoked = admin
        .post(server.url(&format!("/api/api-tokens/{token_id}/revoke")))
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let (status, _) = api.get(&format!("/accounts/{ACCOUNT}/trackers")).await;
    assert_eq!(status, 401);
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting poll ends")
        .expect("task");
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("UnauthorizedError"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_crossed_threshold_reaches_a_waiting_long_poll_the_dashboard_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    let server = TestServer::start(config.clone()).await.expect("server");
    let (secret, _) = create_token(&server, &[ACCOUNT]).await;
    let api = Api::new(&server, &secret);

    // A listener waits first (as MetaApi's Python SDK does: no cursor), then a tracker is
    // created that the scalper's floating P/L crosses within seconds.
    let waiting = {
        let api = Api::new(&server, &secret);
        tokio::spawn(async move { api.get("/tracker-events/stream").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, created) = api
        .post(
            &format!("/accounts/{ACCOUNT}/trackers"),
            json!({
                "name": "tiny",
                "period": "lifetime",
                "absoluteDrawdownThreshold": 0.01,
                "absoluteProfitThreshold": 0.01
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, events) = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the long poll answers")
        .expect("task");
    assert_eq!(status, 200);
    let event = events
        .as_array()
        .and_then(|e| e.first())
        .cloned()
        .unwrap_or_else(|| panic!("an event, not {events}"));
    assert_eq!(event["trackerId"], id.as_str());
    assert_eq!(event["accountId"], ACCOUNT);
    assert_eq!(event["period"], "lifetime");
    assert!(
        matches!(
            event["exceededThresholdType"].as_str(),
            Some("drawdown" | "profit")
        ),
        "{event}"
    );
    let number = event["sequenceNumber"].as_i64().expect("sequence number");
    let broker_time = event["brokerTime"]
        .as_str()
        .expect("broker time")
        .to_owned();

    // The same event by broker time (bounds inclusive), and after its number: nothing more
    // for this one-event-a-period tracker.
    let (_, by_time) = api
        .get(&format!(
            "/tracker-events/by-broker-time?startBrokerTime={0}&endBrokerTime={0}&accountId={ACCOUNT}",
            broker_time.replace(' ', "%20")
        ))
        .await;
    assert_eq!(by_time, json!([event.clone()]));
    let (_, later) = api
        .get(&format!(
            "/tracker-events/stream?previousSequenceNumber={number}&trackerId={id}&limit=5"
        ))
        .await;
    assert_eq!(later, json!([]), "lifetime: one period, one event");

    // Statistics: the period, exceeded, with the values of the moment.
    let (status, stats) = api
        .get(&format!(
            "/accounts/{ACCOUNT}/trackers/{id}/statistics?realTime=true"
        ))
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats[0]["period"], "lifetime");
    assert_eq!(stats[0]["thresholdExceeded"], true);
    assert_eq!(
        stats[0]["exceededThresholdType"],
        event["exceededThresholdType"]
    );
    assert!(stats[0]["initialBalance"].is_number(), "{stats}");

    // The equity chart, by the hour, from the samples stored.
    let chart = eventually(Duration::from_secs(60), "an equity chart hour", || async {
        let (_, chart) = api
            .get(&format!("/accounts/{ACCOUNT}/equity-chart?realTime=true"))
            .await;
        chart
            .as_array()
            .filter(|hours| !hours.is_empty())
            .map(|_| chart.clone())
    })
    .await
    .expect("chart");
    let hour = &chart[0];
    for key in [
        "startBrokerTime",
        "endBrokerTime",
        "averageEquity",
        "minEquity",
        "maxEquity",
        "lastBalance",
        "duration",
        "equitySum",
    ] {
        assert!(!hour[key].is_null(), "{key} in {hour}");
    }

    // The account's page shows the tracker and its event, to its owner.
    let trader = server.login("trader").await.expect("trader");
    let page: shared::api::RiskTrackersResponse = trader
        .get(server.url(&format!("/api/accounts/{ACCOUNT}/trackers")))
        .send()
        .await
        .expect("page")
        .json()
        .await
        .expect("json");
    assert_eq!(page.trackers.len(), 1);
    assert_eq!(page.trackers[0].name, "tiny");
    assert!(page.trackers[0].exceeded.is_some());
    assert_eq!(page.events[0].sequence_number, number);
    // One of the challenge's events too (so it is notified), named after its tracker.
    let listed = eventually(
        Duration::from_secs(30),
        "the event on the account's page",
        || {
            let trader = trader.clone();
            let url = server.url(&format!("/api/accounts/{ACCOUNT}/events?limit=1000"));
            async move {
                let page: shared::api::EventsResponse =
                    trader.get(url).send().await.ok()?.json().await.ok()?;
                page.events
                    .into_iter()
                    .find(|e| e.kind == "tracker_exceeded")
            }
        },
    )
    .await
    .expect("listed");
    assert_eq!(listed.rule.as_deref(), Some("tiny"));
    assert_eq!(listed.event["sequenceNumber"], Value::Null);
    assert_eq!(listed.event["trackerId"], id.as_str());
    // The audit trail has it.
    let audit = server
        .state
        .store
        .audit_log(&store::AuditFilter {
            action: Some("tracker.threshold_exceeded".into()),
            ..store::AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);

    // After a restart: the tracker, its statistics and its event are still there.
    server.stop().await;
    let server = TestServer::start(config).await.expect("restart");
    let api = Api::new(&server, &secret);
    let (status, again) = api
        .get(&format!("/accounts/{ACCOUNT}/trackers/{id}/statistics"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again[0]["thresholdExceeded"], true, "{again}");
    assert_eq!(again[0]["startBrokerTime"], stats[0]["startBrokerTime"]);
    let (_, events) = api
        .get(&format!("/tracker-events/by-broker-time?trackerId={id}"))
        .await;
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    server.stop().await;
}

#[tokio::test]
async fn instances_sharing_a_database_share_their_trackers() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    };
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let config = |dir: &std::path::Path| backend::config::Config {
        database_url: fresh.url().to_owned(),
        ..demo_config(&dir.join("unused.db"))
    };
    let a = TestServer::start(config(dir_a.path()))
        .await
        .expect("instance a");
    let b = TestServer::start(config(dir_b.path()))
        .await
        .expect("instance b");
    let secret = "rdk_shared-by-both-instances";
    a.state
        .store
        .create_api_token(
            &store::ApiToken {
                id: "shared".into(),
                name: "shared".into(),
                accounts: vec![ACCOUNT.into()],
                created_by: "admin".into(),
                created_at: chrono::Utc::now(),
                last_used_at: None,
                revoked_at: None,
            },
            &backend::auth::token_hash(secret),
        )
        .await
        .expect("token");
    let (api_a, api_b) = (Api::new(&a, secret), Api::new(&b, secret));
    // An event stored after both started (as the other instance would store it): a long poll
    // without a cursor on either instance waits for newer ones instead of answering it again
    // and again.
    a.state
        .store
        .append_tracker_events(&[store::NewTrackerEvent {
            account: ACCOUNT.into(),
            tracker_id: "elsewhere".into(),
            broker_time: "2026-01-05 10:00:00.000".into(),
            body_json: "{}".into(),
            created_at: chrono::Utc::now(),
        }])
        .await
        .expect("an event");
    for api in [&api_a, &api_b] {
        let waited = tokio::time::timeout(
            Duration::from_millis(1500),
            api.get("/tracker-events/stream"),
        )
        .await;
        assert!(waited.is_err(), "answered an old event: {waited:?}");
    }
    let (status, created) = api_a
        .post(
            &format!("/accounts/{ACCOUNT}/trackers"),
            json!({ "name": "shared", "period": "week", "absoluteDrawdownThreshold": 500 }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/accounts/{ACCOUNT}/trackers");
    eventually(
        Duration::from_secs(40),
        "the other instance lists it",
        || async {
            let (_, list) = api_b.get(&path).await;
            (list.as_array().map(Vec::len) == Some(1)).then_some(())
        },
    )
    .await
    .expect("listed by b");
    // Statistics from either instance, whichever tracks the account.
    for api in [&api_a, &api_b] {
        eventually(Duration::from_secs(40), "statistics", || async {
            let (_, stats) = api
                .get(&format!("/accounts/{ACCOUNT}/trackers/{id}/statistics"))
                .await;
            (stats[0]["period"] == "week").then_some(())
        })
        .await
        .expect("statistics");
    }
    assert_eq!(
        api_b
            .delete(&format!("/accounts/{ACCOUNT}/trackers/{id}"))
            .await,
        204
    );
    eventually(
        Duration::from_secs(40),
        "the first instance forgets it",
        || async {
            let (_, list) = api_a.get(&path).await;
            (list == json!([])).then_some(())
        },
    )
    .await
    .expect("gone from a");
    b.stop().await;
    a.stop().await;
}
