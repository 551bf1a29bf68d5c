//! The admin console's operations over real HTTP: overrides of the engine's decision (clear a
//! breach, end a soft breach's pause) with a mandatory reason, carried out by the account's
//! tracker, seen by the trader and audited; the audit log as JSON pages and as CSV; who owns
//! which account.
//!
//! The account is fed by pushes (as in `ingest.rs`), so every record arrives when the test
//! says.

use backend::config::{AccountConfig, ChallengeSetup};
use serde_json::json;
use shared::api::{
    AccountOwnersResponse, AccountSummary, AuditResponse, ErrorBody, EventsResponse,
    OverrideResponse,
};
use shared::domain::AccountId;
use shared::engine::ChallengeStatus;
use store::{AuditEntry, AuditFilter};
use tests::{TestServer, demo_config};

const ACCOUNT: &str = "ea-bridge";
const TOKEN: &str = "bridge-token-0123456789abcdef0123456789";

const OPEN: &str = r#"{"time":"2026-03-02T08:00:00Z","accountInformation":{"balance":100000,"equity":100000,"margin":0,"freeMargin":100000,"currency":"USD","leverage":100,"credit":0}}
{"time":"2026-03-02T08:00:00Z","positions":[]}
"#;

/// Equity of 94,000 on a 100,000 account: below the 5 % daily floor of 95,000.
const DIP: &str = r#"{"time":"2026-03-02T15:00:00Z","accountInformation":{"balance":100000,"equity":94000,"margin":0,"freeMargin":94000,"currency":"USD","leverage":100,"credit":0}}
"#;

/// Back above the floor.
const RECOVERY: &str = r#"{"time":"2026-03-02T15:05:00Z","accountInformation":{"balance":100000,"equity":99000,"margin":0,"freeMargin":99000,"currency":"USD","leverage":100,"credit":0}}
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

async fn push(server: &TestServer, body: &str) -> Option<ChallengeStatus> {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(TOKEN)
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let answer: shared::api::IngestResponse = response.json().await.expect("ingest response");
    answer.status
}

async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, String) {
    let response = client.post(url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[track_caller]
fn message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .unwrap_or_else(|e| panic!("not an error body ({e}): {body}"))
        .message
}

async fn status_seen_by(server: &TestServer, client: &reqwest::Client) -> Option<ChallengeStatus> {
    let summary: AccountSummary = client
        .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(summary.latest?.challenge?.status)
}

async fn events_seen_by(server: &TestServer, client: &reqwest::Client) -> EventsResponse {
    client
        .get(server.url(&format!("/api/accounts/{ACCOUNT}/events")))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("events")
        .json()
        .await
        .expect("events JSON")
}

async fn audit_of(server: &TestServer, action: &str) -> Vec<AuditEntry> {
    server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some(action.to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit log")
        .into_iter()
        .map(|record| record.entry)
        .collect()
}

#[tokio::test]
async fn an_admin_clears_a_breach_with_a_reason_and_the_trader_sees_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;
    let clear = server.url(&format!("/api/accounts/{ACCOUNT}/clear-breach"));
    let unpause = server.url(&format!("/api/accounts/{ACCOUNT}/unpause"));
    let reason = json!({"reason": "the broker's equity spike was a bad quote"});

    // Nothing pushed yet: no running challenge.
    let (status, body) = post(&admin, &clear, reason.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("no running challenge"), "{body}");

    assert_eq!(push(&server, OPEN).await, Some(ChallengeStatus::Active));
    // Active: no breach to clear, no pause to end.
    let (status, body) = post(&admin, &clear, reason.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("no breach to clear"), "{body}");
    let (status, body) = post(&admin, &unpause, reason.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("not paused"), "{body}");

    assert_eq!(push(&server, DIP).await, Some(ChallengeStatus::Failed));
    // A trader may not; a reason is mandatory (empty, blank or missing).
    let (status, body) = post(&jane, &clear, reason.clone()).await;
    assert_eq!(status, 403, "{body}");
    for without in [json!({"reason": ""}), json!({"reason": "  \n"}), json!({})] {
        let (status, body) = post(&admin, &clear, without).await;
        assert_eq!(status, 400, "{body}");
        assert!(message(&body).contains("Say why"), "{body}");
    }
    let (status, body) = post(&admin, &clear, json!({"reason": "x".repeat(501)})).await;
    assert_eq!(status, 400, "{body}");
    // A failed challenge is not paused: unpausing is not the way.
    let (status, body) = post(&admin, &unpause, reason.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        status_seen_by(&server, &jane).await,
        Some(ChallengeStatus::Failed)
    );

    let (status, body) = post(&admin, &clear, reason.clone()).await;
    assert_eq!(status, 200, "{body}");
    let cleared: OverrideResponse = serde_json::from_str(&body).expect("override response");
    assert_eq!(cleared.status, ChallengeStatus::Active);
    assert_eq!(cleared.rules, ["daily_loss"]);
    // The trader's view is active at once, and stays so above the floor.
    assert_eq!(
        status_seen_by(&server, &jane).await,
        Some(ChallengeStatus::Active)
    );
    assert_eq!(push(&server, RECOVERY).await, Some(ChallengeStatus::Active));
    // Cleared once: there is nothing left to clear.
    let (status, body) = post(&admin, &clear, reason.clone()).await;
    assert_eq!(status, 409, "{body}");

    // The breach keeps its evidence; the clearing is an event of its own the trader reads.
    let events = events_seen_by(&server, &jane).await.events;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let breach = kinds.iter().position(|k| *k == "breach");
    let cleared_at = kinds.iter().position(|k| *k == "breach_cleared");
    assert!(breach.is_some() && breach < cleared_at, "{kinds:?}");
    let event = &events[cleared_at.unwrap_or_default()].event;
    assert_eq!(event["by"], "admin");
    assert_eq!(event["reason"], "the broker's equity spike was a bad quote");
    assert_eq!(event["rules"], json!(["daily_loss"]));
    assert_eq!(event["before"], "failed");
    assert_eq!(event["after"], "active");

    let audit = audit_of(&server, "challenge.clear_breach").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].actor, "admin");
    assert_eq!(audit[0].subject, format!("account:{ACCOUNT}"));
    assert_eq!(
        audit[0].reason.as_deref(),
        Some("the broker's equity spike was a bad quote")
    );
    assert_eq!(audit[0].before, Some(json!({"status": "failed"})));
    assert_eq!(
        audit[0].after,
        Some(json!({"status": "active", "rules": ["daily_loss"]}))
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_ends_a_soft_breach_pause_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let server = TestServer::start(config.clone()).await.expect("server");
    assert_eq!(push(&server, OPEN).await, Some(ChallengeStatus::Active));
    server.stop().await;

    // No preset has a soft loss rule: make the stored challenge's daily loss rule soft, so a
    // dip pauses the challenge instead of failing it.
    let store = store::open(&config.database_url).await.expect("open store");
    let account = AccountId::from(ACCOUNT);
    let state = store
        .load_challenge(&account)
        .await
        .expect("load")
        .expect("a stored challenge");
    let mut state: serde_json::Value = serde_json::from_str(&state).expect("state JSON");
    let rules = state["challenge"]["rules"]
        .as_array_mut()
        .expect("the engine's rules");
    let daily = rules
        .iter_mut()
        .find(|rule| rule["def"]["id"] == "daily_loss")
        .expect("the daily loss rule");
    daily["def"]["severity"] = json!("soft");
    store
        .save_challenge(&account, &state.to_string(), &[])
        .await
        .expect("save state");
    drop(store);

    let server = TestServer::start(config).await.expect("restart");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;
    let unpause = server.url(&format!("/api/accounts/{ACCOUNT}/unpause"));
    assert_eq!(push(&server, DIP).await, Some(ChallengeStatus::Paused));

    let (status, body) = post(&jane, &unpause, json!({"reason": "mine"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&admin, &unpause, json!({"reason": " "})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        status_seen_by(&server, &jane).await,
        Some(ChallengeStatus::Paused)
    );

    let (status, body) = post(
        &admin,
        &unpause,
        json!({"reason": "the firm lifts the pause after review"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: OverrideResponse = serde_json::from_str(&body).expect("override response");
    assert_eq!(answer.status, ChallengeStatus::Active);
    assert_eq!(answer.rules, ["daily_loss"]);
    assert_eq!(
        status_seen_by(&server, &jane).await,
        Some(ChallengeStatus::Active)
    );
    let (status, body) = post(&admin, &unpause, json!({"reason": "again"})).await;
    assert_eq!(status, 409, "{body}");

    let events = events_seen_by(&server, &jane).await.events;
    let unpaused = events
        .iter()
        .find(|e| e.kind == "unpaused")
        .expect("an unpaused event");
    assert_eq!(
        unpaused.event["reason"],
        "the firm lifts the pause after review"
    );
    assert_eq!(unpaused.event["by"], "admin");
    assert!(events.iter().any(|e| e.kind == "breach"));
    let audit = audit_of(&server, "challenge.unpause").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].before, Some(json!({"status": "paused"})));
    server.stop().await;
}

#[tokio::test]
async fn the_audit_log_is_filtered_paged_and_exported_as_safe_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;

    for name in ["amy", "bob", "cat"] {
        let (status, body) = post(
            &admin,
            &server.url("/api/users"),
            json!({"username": name, "password": "correct horse battery", "role": "trader"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = post(
        &admin,
        &server.url(&format!("/api/accounts/{ACCOUNT}/unassign")),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // An entry whose text a spreadsheet would run, written as any entry is.
    let written = chrono::Utc::now();
    server
        .state
        .store
        .append_audit(&AuditEntry {
            time: written,
            actor: "=cmd|' /C calc'!A0".into(),
            action: "user.create".into(),
            subject: "user:99".into(),
            before: None,
            after: Some(json!({"note": "a, \"quoted\"\nline"})),
            reason: Some("+1, -1 and @SUM(A1)".into()),
        })
        .await
        .expect("append");

    let page = |query: &str| {
        let url = server.url(&format!("/api/audit{query}"));
        let admin = admin.clone();
        async move {
            let response = admin.get(url).send().await.expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.expect("body");
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<AuditResponse>(&body).expect("audit response")
        }
    };
    let all = page("").await;
    assert!(all.entries.len() >= 5, "{all:?}");
    assert!(
        all.entries.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );

    let by_admin = page("?actor=admin&action=user.create").await;
    let created: Vec<_> = by_admin
        .entries
        .iter()
        .map(|e| e.after.as_ref().map(|a| a["username"].clone()))
        .collect();
    assert_eq!(
        created,
        [Some(json!("cat")), Some(json!("bob")), Some(json!("amy"))]
    );
    let on_account = page(&format!("?account={ACCOUNT}")).await;
    assert_eq!(on_account.entries.len(), 1, "{on_account:?}");
    assert_eq!(on_account.entries[0].action, "account.unassign");

    // Pages of one, followed to the end, are the whole filtered list.
    let mut seen = Vec::new();
    let mut query = "?action=user.create&limit=1".to_owned();
    loop {
        let page = page(&query).await;
        seen.extend(page.entries.iter().map(|e| e.id));
        match page.next_before_id {
            Some(id) => query = format!("?action=user.create&limit=1&before_id={id}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    // A time range after the entries holds none of them.
    let later = (written + chrono::Duration::hours(1)).to_rfc3339();
    let empty = page(&format!("?from={}", url_encode(&later))).await;
    assert!(empty.entries.is_empty(), "{empty:?}");
    let until = page(&format!("?to={}", url_encode(&later))).await;
    assert_eq!(until.entries.len(), all.entries.len());

    for bad in [
        "?from=yesterday",
        "?limit=0",
        "?before_id=x",
        "?account=a&subject=b",
    ] {
        let response = admin
            .get(server.url(&format!("/api/audit{bad}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{bad}");
        let body = response.text().await.expect("body");
        assert!(!message(&body).is_empty());
    }
    for path in ["/api/audit", "/api/audit.csv"] {
        let response = jane.get(server.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 403, "{path}");
    }

    let response = admin
        .get(server.url("/api/audit.csv?action=user.create"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let csv = response.text().await.expect("csv");
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("id,time,actor,action,subject,reason,before,after")
    );
    // The hostile entry: every cell quoted, quotes doubled, formulas defused.
    let hostile = csv
        .split("\r\n")
        .find(|line| line.contains("calc"))
        .expect("the hostile row");
    assert!(
        hostile.contains(
            r#","'=cmd|' /C calc'!A0","user.create","user:99","'+1, -1 and @SUM(A1)","","#
        ),
        "{hostile}"
    );
    assert!(
        csv.contains("{\"\"note\"\":\"\"a, \\\"\"quoted\\\"\"\\nline\"\"}"),
        "{csv}"
    );
    // One row per entry (the hostile one's JSON keeps its line break escaped).
    let rows = csv.split("\r\n").filter(|l| !l.is_empty()).count();
    assert_eq!(rows, 1 + 4, "{csv}");
    server.stop().await;
}

fn url_encode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn admins_see_who_owns_each_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;
    let owners: AccountOwnersResponse = admin
        .get(server.url("/api/account-owners"))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("owners")
        .json()
        .await
        .expect("owners JSON");
    assert_eq!(owners.accounts.len(), 1, "{owners:?}");
    assert_eq!(owners.accounts[0].account, AccountId::from(ACCOUNT));
    assert_eq!(
        owners.accounts[0]
            .owner
            .as_ref()
            .map(|u| u.username.as_str()),
        Some("jane")
    );
    let response = jane
        .get(server.url("/api/account-owners"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    server.stop().await;
}

/// Archiving: a challenge kept as it stood, read-only, no longer tracked; readable and exported
/// still, after a restart too.
#[tokio::test]
async fn an_archived_challenge_is_read_only_kept_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;
    let archive = server.url(&format!("/api/accounts/{ACCOUNT}/archive"));
    assert_eq!(push(&server, OPEN).await, Some(ChallengeStatus::Active));
    assert_eq!(push(&server, DIP).await, Some(ChallengeStatus::Failed));

    // Admins only; a reason is mandatory; an unknown account does not exist.
    let reason = json!({"reason": "failed on 2 March; kept for disputes"});
    let (status, body) = post(&jane, &archive, reason.clone()).await;
    assert_eq!(status, 403, "{body}");
    for without in [json!({"reason": ""}), json!({"reason": " \n"}), json!({})] {
        let (status, body) = post(&admin, &archive, without).await;
        assert_eq!(status, 422, "{body}");
        assert!(message(&body).starts_with("reason:"), "{body}");
    }
    let (status, body) = post(
        &admin,
        &server.url("/api/accounts/nope/archive"),
        reason.clone(),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = post(&admin, &archive, reason.clone()).await;
    assert_eq!(status, 200, "{body}");
    let archived: shared::api::ArchiveResponse = serde_json::from_str(&body).expect("archived");
    assert_eq!(archived.archived_by, "admin");
    // Once: the first archiving stands.
    let (status, body) = post(&admin, &archive, json!({"reason": "again"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("failed on 2 March"), "{body}");

    // The trader still sees it, archived, with its numbers as they stood.
    let seen = |server: &TestServer, client: reqwest::Client| {
        let url = server.url(&format!("/api/accounts/{ACCOUNT}"));
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("request")
                .json::<AccountSummary>()
                .await
                .expect("summary")
        }
    };
    let summary = seen(&server, jane.clone()).await;
    assert_eq!(summary.feed, shared::api::FeedStatus::Archived);
    let challenge = summary.latest.and_then(|v| v.challenge).expect("challenge");
    assert_eq!(challenge.status, ChallengeStatus::Failed);

    // Read-only: no override, no new rules, no more records.
    let (status, body) = post(
        &admin,
        &server.url(&format!("/api/accounts/{ACCOUNT}/clear-breach")),
        json!({"reason": "bad quote"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("archived"), "{body}");
    let rules: shared::api::RuleSetsResponse = admin
        .get(server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets")))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("rule sets");
    let (status, body) = post(
        &admin,
        &server.url(&format!("/api/accounts/{ACCOUNT}/rule-sets")),
        json!({"draft": rules.current.expect("the rules in force")}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let pushed = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(TOKEN)
        .body(RECOVERY.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(pushed.status(), 409);

    // Still readable and exported: events with the breach's evidence, the statement.
    let events = events_seen_by(&server, &jane).await.events;
    assert!(events.iter().any(|e| e.kind == "breach"), "{events:?}");
    let statement = jane
        .get(server.url(&format!("/api/accounts/{ACCOUNT}/statement")))
        .send()
        .await
        .expect("request");
    assert_eq!(statement.status(), 200);

    // The console lists it apart.
    let overview = |filter: &'static str| {
        let admin = admin.clone();
        let url = server.url(&format!("/api/admin/challenges{filter}"));
        async move {
            admin
                .get(url)
                .send()
                .await
                .expect("request")
                .json::<shared::api::ChallengesPage>()
                .await
                .expect("overview")
        }
    };
    let all = overview("").await;
    assert!(all.rows.iter().all(|r| r.id.as_str() != ACCOUNT));
    assert_eq!(all.counts.archived, 1);
    let archived_rows = overview("?feed=archived").await;
    assert_eq!(archived_rows.rows.len(), 1);
    assert_eq!(audit_of(&server, "account.archive").await.len(), 1);

    // After a restart it is shown as it stood, never tracked again.
    server.stop().await;
    let server = TestServer::start(config(dir.path()))
        .await
        .expect("restart");
    let jane = server.session_for("jane").await.expect("jane").client;
    let mut summary = seen(&server, jane.clone()).await;
    for _ in 0..100 {
        if summary.feed == shared::api::FeedStatus::Archived {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        summary = seen(&server, jane.clone()).await;
    }
    assert_eq!(summary.feed, shared::api::FeedStatus::Archived);
    let challenge = summary.latest.and_then(|v| v.challenge).expect("challenge");
    assert_eq!(challenge.status, ChallengeStatus::Failed);
    server.stop().await;
}
