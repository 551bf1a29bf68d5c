//! Editing a running challenge's rules over real HTTP: validation with reasons (422), admins
//! only (403 for a trader), versions with an effective-from instant, the change applied live
//! by the account's tracker (the trader's view shows the new limit), the history of changes
//! the trader sees, and the what-if replay of the journal under draft rules.

use backend::config::{AccountConfig, ChallengeSetup};
use rust_decimal::Decimal;
use shared::api::{
    AccountSummary, ErrorBody, IngestResponse, RuleSetSaved, RuleSetsResponse, WhatIfResponse,
};
use shared::engine::edit::RuleSetDraft;
use shared::engine::{ChallengeStatus, Limit, RuleKind};
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

const ACCOUNT: &str = "ea-rules";
const TOKEN: &str = "rules-token-0123456789abcdef0123456789ab";

const OPEN: &str = r#"{"time":"2026-03-02T08:00:00Z","accountInformation":{"balance":100000,"equity":100000,"margin":0,"freeMargin":100000,"currency":"USD","leverage":100,"credit":0}}
{"time":"2026-03-02T08:00:00Z","positions":[]}
"#;

fn equity(time: &str, equity: i64) -> String {
    format!(
        r#"{{"time":"{time}","accountInformation":{{"balance":100000,"equity":{equity},"margin":0,"freeMargin":{equity},"currency":"USD","leverage":100,"credit":0}}}}"#
    ) + "\n"
}

fn config(dir: &std::path::Path) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts = vec![AccountConfig {
        id: ACCOUNT.into(),
        name: "EA rules".into(),
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

async fn pushed(server: &TestServer, body: &str) -> IngestResponse {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(TOKEN)
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("an ingest response")
}

async fn rule_sets(client: &reqwest::Client, server: &TestServer) -> RuleSetsResponse {
    client
        .get(server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("rule sets")
}

fn with_daily(draft: &RuleSetDraft, limit: Limit) -> RuleSetDraft {
    let mut draft = draft.clone();
    for rule in &mut draft.rules {
        if let RuleKind::DailyLoss { limit: l, .. } = &mut rule.kind {
            *l = limit;
        }
    }
    draft
}

/// The daily loss floor the account's live view shows.
async fn daily_floor(client: &reqwest::Client, server: &TestServer) -> Option<Decimal> {
    let summary: AccountSummary = client
        .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    summary
        .latest?
        .challenge?
        .rules
        .into_iter()
        .find(|r| r.id == "daily_loss")?
        .limit
}

async fn refused(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response
        .json::<ErrorBody>()
        .await
        .expect("error body")
        .message
}

#[tokio::test]
async fn an_admin_changes_a_rule_the_trader_sees_it_live_and_in_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let jane = server.login("jane").await.expect("sign in");
    let url = server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets"));
    let save = |draft: &RuleSetDraft| {
        admin
            .post(&url)
            .json(&serde_json::json!({ "draft": draft }))
            .send()
    };

    // No running challenge before the first push: nothing to edit yet.
    let before = rule_sets(&admin, &server).await;
    assert!(before.current.is_none() && before.versions.is_empty());
    pushed(&server, OPEN).await;
    let current = rule_sets(&admin, &server).await;
    let draft = current.current.expect("the rules in force");
    assert_eq!(draft.time_zone, "Europe/Prague");
    assert_eq!(current.initial_balance, Some(Decimal::from(100_000)));
    assert_eq!(current.applied_version, None);

    // A trader may not; impossible and contradictory values are refused with the reason.
    let tighter = with_daily(&draft, Limit::PercentOfInitial(Decimal::from(3)));
    let by_trader = jane
        .post(&url)
        .json(&serde_json::json!({ "draft": tighter }))
        .send()
        .await
        .expect("request");
    refused(by_trader, 403).await;
    let contradiction = with_daily(&draft, Limit::PercentOfInitial(Decimal::from(12)));
    let message = refused(save(&contradiction).await.expect("request"), 422).await;
    assert!(message.contains("is not smaller than"), "{message}");
    let mut nowhere = tighter.clone();
    nowhere.time_zone = "Mars/Olympus".into();
    nowhere.reset_time = "25:00".into();
    let message = refused(save(&nowhere).await.expect("request"), 422).await;
    assert!(
        message.contains("unknown time zone") && message.contains("out of range"),
        "{message}"
    );
    let negative = with_daily(&draft, Limit::Money(Decimal::from(-10)));
    let message = refused(save(&negative).await.expect("request"), 422).await;
    assert!(message.contains("negative"), "{message}");
    let past = admin
        .post(&url)
        .json(&serde_json::json!({ "draft": tighter, "effective_from": "2020-01-01T00:00:00Z" }))
        .send()
        .await
        .expect("request");
    assert!(refused(past, 422).await.contains("in the past"));
    assert_eq!(
        daily_floor(&jane, &server).await,
        Some(Decimal::from(95_000))
    );

    // A valid version applies at once: the trader's view shows the new floor.
    let saved: RuleSetSaved = save(&tighter)
        .await
        .expect("request")
        .error_for_status()
        .expect("saved")
        .json()
        .await
        .expect("answer");
    assert_eq!(saved.version, 1);
    assert!(saved.applied);
    let words: Vec<String> = saved.changes.iter().map(|c| c.words()).collect();
    assert_eq!(
        words,
        vec!["daily_loss.limit: 5% of the initial balance → 3% of the initial balance"]
    );
    eventually(
        Duration::from_secs(30),
        "the new floor in the view",
        || async {
            (daily_floor(&jane, &server).await == Some(Decimal::from(97_000))).then_some(())
        },
    )
    .await
    .expect("live");

    // The trader sees the history; the challenge is linked to the version; it is audited.
    let history = rule_sets(&jane, &server).await;
    assert_eq!(history.versions.len(), 1);
    assert_eq!(history.versions[0].created_by, "admin");
    assert_eq!(history.versions[0].changes, saved.changes);
    assert_eq!(history.applied_version, Some(1));
    assert_eq!(history.current, Some(tighter.clone()));
    let audit = server
        .state
        .store
        .audit_log(&store::AuditFilter::default())
        .await
        .expect("audit");
    let entry = audit
        .iter()
        .find(|r| r.entry.action == "rule_set.save")
        .expect("an audit entry");
    assert_eq!(entry.entry.actor, "admin");
    assert_eq!(entry.entry.subject, format!("account:{ACCOUNT}"));

    // From then on the new limit decides: 96,500 is above the old floor, below the new one.
    let after = pushed(&server, &equity("2026-03-02T09:00:00Z", 96_500)).await;
    assert_eq!(after.status, Some(ChallengeStatus::Failed));
    let events = server
        .state
        .store
        .challenge_events(&ACCOUNT.into())
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let changed = kinds.iter().position(|k| *k == "rules_changed");
    let breached = kinds.iter().position(|k| *k == "breach");
    assert!(changed.is_some() && changed < breached, "{kinds:?}");

    // Loosening the rule afterwards does not undo the breach.
    let looser: RuleSetSaved = save(&draft)
        .await
        .expect("request")
        .error_for_status()
        .expect("saved")
        .json()
        .await
        .expect("answer");
    assert_eq!(looser.version, 2);
    let summary: AccountSummary = jane
        .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("summary");
    let challenge = summary.latest.and_then(|v| v.challenge).expect("challenge");
    assert_eq!(challenge.status, ChallengeStatus::Failed);
    server.stop().await;
}

#[tokio::test]
async fn a_version_effective_later_applies_only_from_its_instant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let jane = server.login("jane").await.expect("sign in");
    let url = server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets"));
    pushed(&server, OPEN).await;
    let draft = rule_sets(&admin, &server).await.current.expect("rules");

    // An hour from now: stored, not applied; the floor stays.
    let in_an_hour = chrono::Utc::now() + chrono::Duration::hours(1);
    let later: RuleSetSaved = admin
        .post(&url)
        .json(&serde_json::json!({
            "draft": with_daily(&draft, Limit::PercentOfInitial(Decimal::from(2))),
            "effective_from": in_an_hour,
        }))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("saved")
        .json()
        .await
        .expect("answer");
    assert!(!later.applied);
    assert_eq!(later.effective_from, in_an_hour);
    let listed = rule_sets(&jane, &server).await;
    assert_eq!(listed.versions.len(), 1);
    assert_eq!(listed.applied_version, None);
    assert_eq!(listed.current, Some(draft.clone()));
    assert_eq!(
        daily_floor(&jane, &server).await,
        Some(Decimal::from(95_000))
    );

    // A few seconds from now: applied once its instant has come, superseding the later one.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(3);
    let saved: RuleSetSaved = admin
        .post(&url)
        .json(&serde_json::json!({
            "draft": with_daily(&draft, Limit::PercentOfInitial(Decimal::from(4))),
            "effective_from": soon,
        }))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("saved")
        .json()
        .await
        .expect("answer");
    assert_eq!(saved.version, 2);
    let floor = eventually(Duration::from_secs(60), "the version applied", || async {
        let floor = daily_floor(&jane, &server).await?;
        (floor != Decimal::from(95_000)).then_some(floor)
    })
    .await
    .expect("applied");
    assert!(chrono::Utc::now() >= soon);
    assert_eq!(floor, Decimal::from(96_000));
    let listed = rule_sets(&jane, &server).await;
    assert_eq!(listed.applied_version, Some(2));
    server.stop().await;
}

#[tokio::test]
async fn what_if_replays_the_journal_under_the_draft_next_to_the_rules_in_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let jane = server.login("jane").await.expect("sign in");
    let url = server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets/what-if"));
    pushed(&server, OPEN).await;
    pushed(&server, &equity("2026-03-02T10:00:00Z", 96_000)).await;
    pushed(&server, &equity("2026-03-02T11:00:00Z", 99_000)).await;
    let draft = rule_sets(&admin, &server).await.current.expect("rules");
    let tighter = with_daily(&draft, Limit::PercentOfInitial(Decimal::from(3)));

    let by_trader = jane
        .post(&url)
        .json(&serde_json::json!({ "draft": tighter }))
        .send()
        .await
        .expect("request");
    refused(by_trader, 403).await;
    let bad = admin
        .post(&url)
        .json(&serde_json::json!({ "draft": with_daily(&draft, Limit::Money(Decimal::ZERO)) }))
        .send()
        .await
        .expect("request");
    assert!(refused(bad, 422).await.contains("must be more than 0"));

    let answer: WhatIfResponse = admin
        .post(&url)
        .json(&serde_json::json!({ "draft": tighter }))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("what-if")
        .json()
        .await
        .expect("answer");
    assert_eq!(answer.records, 4);
    assert!(!answer.truncated);
    let daily = |outcome: &shared::api::WhatIfOutcome| {
        outcome
            .rules
            .iter()
            .find(|r| r.id == "daily_loss")
            .cloned()
            .expect("daily_loss")
    };
    let ten = "2026-03-02T10:00:00Z".parse().expect("time");
    assert_eq!(daily(&answer.draft).breached, Some(ten));
    assert_eq!(answer.draft.status, ChallengeStatus::Failed);
    assert_eq!(answer.draft.decided, Some(ten));
    assert_eq!(daily(&answer.current).breached, None);
    assert_eq!(daily(&answer.current).first_warning, Some(ten));
    assert_eq!(answer.current.status, ChallengeStatus::Active);
    // Nothing was saved or changed.
    assert!(rule_sets(&admin, &server).await.versions.is_empty());
    server.stop().await;

    // A server without a journal says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.journal_dir = None;
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    pushed(&server, OPEN).await;
    let none = admin
        .post(server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets/what-if")))
        .json(&serde_json::json!({ "draft": tighter }))
        .send()
        .await
        .expect("request");
    let message = refused(none, 409).await;
    assert!(message.contains("journal_dir is not set"), "{message}");
    server.stop().await;
}
