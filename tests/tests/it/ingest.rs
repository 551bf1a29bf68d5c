//! Push ingestion over real HTTP: a bridge posts JSON Lines records with the account's ingest
//! token; the server journals them, feeds the engine, stores the outcome and answers.

use backend::config::{AccountConfig, ChallengeSetup};
use shared::api::{AccountSummary, ErrorBody, FeedStatus, IngestResponse};
use shared::domain::AccountId;
use shared::engine::ChallengeStatus;
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

const ACCOUNT: &str = "ea-bridge";
const TOKEN: &str = "bridge-token-0123456789abcdef0123456789";

const OPEN: &str = r#"{"time":"2026-03-02T08:00:00Z","accountInformation":{"balance":100000,"equity":100000,"margin":0,"freeMargin":100000,"currency":"USD","leverage":100,"credit":0}}
{"time":"2026-03-02T08:00:00Z","positions":[]}
"#;

/// A closed loss of 6,000 on a 100,000 account: below the 5 % daily floor of 95,000.
const LOSS: &str = r#"{"time":"2026-03-02T15:00:00Z","deal":{"id":"1","type":"DEAL_TYPE_SELL","entryType":"DEAL_ENTRY_OUT","symbol":"EURUSD","time":"2026-03-02T15:00:00Z","volume":2,"price":1.0640,"profit":-6000,"commission":0,"swap":0,"positionId":"p1"}}
{"time":"2026-03-02T15:00:01Z","accountInformation":{"balance":94000,"equity":94000,"margin":0,"freeMargin":94000,"currency":"USD","leverage":100,"credit":0}}
"#;

fn config(dir: &std::path::Path) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts = vec![AccountConfig {
        id: ACCOUNT.into(),
        name: "EA bridge".into(),
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
        trader: Some("jane".into()),
        region: None,
        ingest_token: Some(TOKEN.into()),
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    config
}

async fn push(server: &TestServer, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .header("content-type", "application/x-ndjson")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn pushed(server: &TestServer, body: &str) -> IngestResponse {
    let response = push(server, Some(TOKEN), body).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("an ingest response")
}

#[tokio::test]
async fn pushed_records_are_journaled_evaluated_stored_and_safe_to_resend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let jane = server.login("jane").await.expect("sign in");
    let summary = || async {
        jane.get(server.url(&format!("/api/accounts/{ACCOUNT}")))
            .send()
            .await
            .ok()?
            .json::<AccountSummary>()
            .await
            .ok()
    };

    // No token, a wrong token, a session: refused, with the usual error body.
    for token in [None, Some("bridge-token-0123456789abcdef012345678X")] {
        let response = push(&server, token, OPEN).await;
        assert_eq!(response.status(), 401);
        let error: ErrorBody = response.json().await.expect("error body");
        assert!(error.message.contains("Bearer"), "{error:?}");
    }
    let with_session = jane
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .body(OPEN)
        .send()
        .await
        .expect("request");
    assert_eq!(with_session.status(), 401);

    // One bad line refuses the whole batch, naming the line; nothing of it is kept.
    let response = push(
        &server,
        Some(TOKEN),
        &format!("{OPEN}{{\"time\":\"soon\"}}\n"),
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: ErrorBody = response.json().await.expect("error body");
    assert!(error.message.starts_with("line 3: "), "{error:?}");
    assert_eq!(summary().await.and_then(|s| s.latest), None);

    let opened = pushed(&server, OPEN).await;
    assert_eq!(opened.accepted, 2);
    assert_eq!(opened.status, Some(ChallengeStatus::Active));
    let live = summary().await.expect("summary");
    assert_eq!(live.feed, FeedStatus::Live);
    assert_eq!(
        live.latest.map(|v| v.balance),
        Some(rust_decimal::Decimal::from(100_000))
    );

    let lost = pushed(&server, LOSS).await;
    assert_eq!((lost.accepted, lost.duplicate_deals), (2, 0));
    assert_eq!(lost.status, Some(ChallengeStatus::Failed));
    // The bridge did not hear the answer and sends the batch again: the deal is not counted
    // twice, and the breach is recorded once.
    let again = pushed(&server, LOSS).await;
    assert_eq!((again.accepted, again.duplicate_deals), (1, 1));
    assert!(again.refused.is_empty(), "{again:?}");
    let failed = summary().await.and_then(|s| s.latest?.challenge);
    assert_eq!(failed.map(|c| c.status), Some(ChallengeStatus::Failed));
    let events = server
        .state
        .store
        .challenge_events(&AccountId::from(ACCOUNT))
        .await
        .expect("events");
    let breaches: Vec<_> = events.iter().filter(|e| e.kind == "breach").collect();
    assert_eq!(breaches.len(), 1, "{events:?}");
    assert_eq!(breaches[0].rule.as_deref(), Some("daily_loss"));

    // The journal holds every accepted line as sent, and replays to the same decision.
    let journal = dir.path().join("journal").join(format!("{ACCOUNT}.jsonl"));
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert_eq!(text, format!("{OPEN}{LOSS}{LOSS}"));
    let rules = broker::replay::configure("ftmo-2step", 100_000.into(), None).expect("preset");
    let report = broker::replay::run(rules, &journal).expect("replay");
    assert_eq!(report.status, ChallengeStatus::Failed);

    // Silence from the bridge turns the feed stale.
    eventually(Duration::from_secs(20), "a stale feed", || async {
        (summary().await?.feed == FeedStatus::Stale).then_some(())
    })
    .await
    .expect("the feed goes stale without pushes");
    server.stop().await;
}

#[tokio::test]
async fn a_push_account_needs_a_long_token_and_no_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut short = config(dir.path());
    short.accounts[0].ingest_token = Some("short".into());
    let error = short.validate().expect_err("refused").to_string();
    assert!(error.contains("at least 32 characters"), "{error}");
    let mut both = config(dir.path());
    both.accounts[0].metaapi_account_id = "abc".into();
    let error = both.validate().expect_err("refused").to_string();
    assert!(error.contains("fed by pushes"), "{error}");
}

#[tokio::test]
async fn an_admin_corrects_an_anchor_with_a_reason_and_the_floor_moves_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let jane = server.login("jane").await.expect("sign in");
    let url = server.url(&format!("/api/accounts/{ACCOUNT}/anchors"));
    let correction = |reason: &str, value: i64| {
        serde_json::json!({
            "anchor": "start_of_day_balance",
            "value": value,
            "reason": reason,
        })
    };
    // Before anything was pushed there is no running challenge to correct.
    let early = admin
        .post(&url)
        .json(&correction("backfill missed a deal", 104_000))
        .send()
        .await
        .expect("request");
    assert_eq!(early.status(), 409);
    pushed(&server, OPEN).await;

    let refused = |response: reqwest::Response, status: u16| async move {
        assert_eq!(response.status(), status);
        response
            .json::<ErrorBody>()
            .await
            .expect("error body")
            .message
    };
    // Traders cannot; a reason is mandatory; the engine refuses an impossible value.
    let by_trader = jane
        .post(&url)
        .json(&correction("mine", 104_000))
        .send()
        .await;
    refused(by_trader.expect("request"), 403).await;
    let no_reason = admin
        .post(&url)
        .json(&correction("  ", 104_000))
        .send()
        .await;
    assert!(
        refused(no_reason.expect("request"), 400)
            .await
            .contains("why")
    );
    let zero = admin.post(&url).json(&correction("typo", 0)).send().await;
    assert!(
        refused(zero.expect("request"), 400)
            .await
            .contains("positive")
    );

    let corrected: shared::api::AnchorsResponse = admin
        .post(&url)
        .json(&correction("the backfill missed a deal of 4,000", 104_000))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("corrected")
        .json()
        .await
        .expect("anchors");
    assert_eq!(
        corrected.anchors.start_of_day_balance,
        rust_decimal::Decimal::from(104_000)
    );
    // The daily floor is now 104,000 - 5,000: equity of 98,900 breaches it.
    let dip = r#"{"time":"2026-03-02T09:00:00Z","accountInformation":{"balance":100000,"equity":98900,"margin":0,"freeMargin":98900,"currency":"USD","leverage":100,"credit":0}}"#;
    assert_eq!(
        pushed(&server, dip).await.status,
        Some(ChallengeStatus::Failed)
    );

    let events = server
        .state
        .store
        .challenge_events(&AccountId::from(ACCOUNT))
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let corrected_at = kinds.iter().position(|k| *k == "anchor_corrected");
    let breached_at = kinds.iter().position(|k| *k == "breach");
    assert!(
        corrected_at < breached_at && corrected_at.is_some(),
        "{kinds:?}"
    );
    let body: serde_json::Value =
        serde_json::from_str(&events[corrected_at.unwrap_or_default()].body).expect("json");
    assert_eq!(body["reason"], "the backfill missed a deal of 4,000");
    assert_eq!(body["by"], "admin");
    let audit = server
        .state
        .store
        .audit_log(&store::AuditFilter::default())
        .await
        .expect("audit");
    let entry = audit
        .iter()
        .find(|r| r.entry.action == "anchor.correct")
        .expect("an audit entry");
    assert_eq!(entry.entry.actor, "admin");
    assert_eq!(entry.entry.subject, format!("account:{ACCOUNT}"));
    assert_eq!(
        entry.entry.before,
        Some(serde_json::json!({"start_of_day_balance": "100000"}))
    );
    server.stop().await;
}

fn info_line(time: &str, balance: i64, equity: i64) -> String {
    format!(
        r#"{{"time":"{time}","accountInformation":{{"balance":{balance},"equity":{equity},"margin":0,"freeMargin":{equity},"currency":"USD","leverage":100,"credit":0}}}}"#
    )
}

/// Issue 19, item 3: a record the engine refuses (older than the last) moves nothing shown:
/// not the dashboard's equity, not the stored peaks, not the chart. A record dated beyond the
/// clock-skew bound refuses its batch with a clear error, so the real records after it are
/// still evaluated (a real -20% fails the challenge).
#[tokio::test]
async fn refused_and_future_records_change_nothing_shown_or_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let account = AccountId::from(ACCOUNT);
    let summary = || async {
        server
            .state
            .hub
            .summary(&account)
            .and_then(|s| s.latest)
            .expect("a view")
    };
    pushed(&server, OPEN).await;
    let up = pushed(
        &server,
        &info_line("2026-03-02T09:00:00Z", 100_000, 101_000),
    )
    .await;
    assert_eq!((up.accepted, up.refused.len()), (1, 0));
    assert_eq!(summary().await.equity, 101_000.into());

    // Older than the last: refused by the engine, and nothing moves.
    let old = pushed(
        &server,
        &info_line("2026-03-02T08:30:00Z", 5_000_000, 5_000_000),
    )
    .await;
    assert_eq!(old.accepted, 0);
    assert_eq!(old.refused.iter().map(|r| r.line).collect::<Vec<_>>(), [1]);
    let shown = summary().await;
    assert_eq!(
        (shown.equity, shown.peak_equity),
        (101_000.into(), 101_000.into())
    );
    let peaks = server
        .state
        .store
        .load_peaks(&account)
        .await
        .expect("store")
        .expect("peaks");
    assert_eq!(peaks.peak_equity, Some(101_000.into()));
    assert_eq!(peaks.peak_balance, Some(100_000.into()));

    // Dated beyond the skew bound (a day ahead, the year 9999): the batch is refused whole.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for time in [tomorrow.as_str(), "9999-12-31T00:00:00Z"] {
        let body = format!(
            "{}\n{}\n",
            info_line("2026-03-02T09:30:00Z", 100_000, 100_500),
            info_line(time, 7_000_000, 7_000_000)
        );
        let response = push(&server, Some(TOKEN), &body).await;
        assert_eq!(response.status(), 422, "{time}");
        let error: ErrorBody = response.json().await.expect("error body");
        assert!(error.message.starts_with("line 2: "), "{error:?}");
        assert!(
            error.message.contains("ahead of the server's clock"),
            "{error:?}"
        );
    }
    assert_eq!(
        summary().await.equity,
        101_000.into(),
        "nothing of a refused batch is kept"
    );

    // The real records still count: -20% fails the challenge.
    let loss = pushed(&server, &info_line("2026-03-02T10:00:00Z", 100_000, 80_000)).await;
    assert_eq!(
        (loss.accepted, loss.status),
        (1, Some(ChallengeStatus::Failed))
    );
    let shown = summary().await;
    assert_eq!(
        (shown.equity, shown.peak_equity),
        (80_000.into(), 101_000.into())
    );

    // The chart never saw the refused numbers (samples are written in batches: all of them
    // once the server stops).
    let store = server.state.store.clone();
    server.stop().await;
    let buckets = store
        .equity_history(
            &account,
            "2026-03-01T00:00:00Z".parse().expect("time"),
            chrono::Utc::now(),
            1_000,
        )
        .await
        .expect("history");
    assert!(!buckets.is_empty());
    let highest = buckets.iter().map(|b| b.equity.max).max().expect("buckets");
    assert_eq!(highest, 101_000.into());
}

/// Issue 19, item 8: after a restart, an account shows its restored numbers at once, marked
/// stale, before any new data arrives (here: no push), on the REST API and on the stream.
#[tokio::test]
async fn a_restarted_server_shows_the_restored_view_as_stale_before_new_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    pushed(&server, OPEN).await;
    pushed(&server, &info_line("2026-03-02T09:00:00Z", 100_000, 99_000)).await;
    server.stop().await;

    let server = TestServer::start(config(dir.path()))
        .await
        .expect("restart");
    let jane = server.session_for("jane").await.expect("a session").client;
    let shown = eventually(Duration::from_secs(30), "the restored view", || async {
        let summary: AccountSummary = jane
            .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        summary.latest.is_some().then_some(summary)
    })
    .await
    .expect("shown without new data");
    assert_eq!(shown.feed, FeedStatus::Stale);
    assert_eq!(shown.currency.as_deref(), Some("USD"));
    let view = shown.latest.expect("a view");
    assert_eq!((view.balance, view.equity), (100_000.into(), 99_000.into()));
    assert_eq!(
        view.time,
        "2026-03-02T09:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("time")
    );
    let challenge = view.challenge.expect("the challenge's view");
    assert_eq!(challenge.status, ChallengeStatus::Active);

    let mut stream = tests::SseReader::open(&jane, &server.url("/api/stream"))
        .await
        .expect("stream");
    let (_, data) = stream
        .next(Duration::from_secs(30))
        .await
        .expect("snapshot");
    match serde_json::from_str(&data).expect("event") {
        shared::api::StreamEvent::Snapshot { accounts } => {
            assert_eq!(accounts.len(), 1);
            assert_eq!(accounts[0].feed, FeedStatus::Stale);
            assert_eq!(
                accounts[0].latest.as_ref().map(|v| v.equity),
                Some(99_000.into())
            );
        }
        other => panic!("a snapshot first, not {other:?}"),
    }
    // The first push brings it live again.
    pushed(&server, &info_line("2026-03-02T09:05:00Z", 100_000, 99_500)).await;
    let live = server.state.hub.summary(&ACCOUNT.into()).expect("account");
    assert_eq!(live.feed, FeedStatus::Live);
    server.stop().await;
}
