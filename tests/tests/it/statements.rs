//! A challenge's statement for disputes, end to end: the demo world's scripted daily-loss
//! breach fails a challenge, its trader downloads the statement (JSON, PDF, printable page),
//! each carrying the SHA-256 of the JSON it was made from; another trader learns nothing; the
//! firm's database records every statement issued; and `riskdeck statement verify` (the real
//! binary) confirms the downloaded file and refuses an altered copy.

use chrono::TimeDelta;
use demo::{DemoBroker, DemoConfig, serve};
use shared::api::{AccountSummary, ErrorBody};
use shared::engine::{ChallengeStatus, EventKind, RuleStatus};
use shared::statement::Statement;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use store::AuditFilter;
use tests::{TestServer, demo_config, eventually};
use tokio_util::sync::CancellationToken;

const BREACH: &str = "demo-daily-breach";
const PASSING: &str = "demo-passing";
/// Generous: the script fails the challenge about ten seconds after the start.
const WAIT: Duration = Duration::from_secs(90);

/// The server tracking two scripted demo accounts (script units of a second, so the stories
/// happen within the test): jane owns the daily breach, bob the passing one.
async fn scripted_server(dir: &Path) -> (TestServer, CancellationToken) {
    let now = chrono::Utc::now();
    let demo = DemoBroker::new(
        DemoConfig {
            seed: 7,
            token: "t0ken".into(),
            step: Duration::from_millis(100),
            script_start: Some(now + TimeDelta::seconds(3)),
            script_unit: Duration::from_secs(1),
        },
        now - TimeDelta::minutes(5),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(serve(listener, demo.clone(), async move {
        stopped.cancelled().await;
    }));
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts =
        backend::config::AccountConfig::demo_accounts(&demo, &base, shared::api::Transport::Rest)
            .into_iter()
            .filter_map(|mut account| {
                let owner = match account.id.as_str() {
                    BREACH => "jane",
                    PASSING => "bob",
                    _ => return None,
                };
                account.trader = Some(owner.to_owned());
                Some(account)
            })
            .collect();
    let server = TestServer::start(config).await.expect("server");
    (server, stop)
}

async fn summary(
    server: &TestServer,
    client: &reqwest::Client,
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

/// One download: status, the hash header, the content type, the disposition and the body.
struct Download {
    status: u16,
    sha256: Option<String>,
    content_type: String,
    disposition: Option<String>,
    body: Vec<u8>,
}

async fn download(server: &TestServer, client: &reqwest::Client, path: &str) -> Download {
    let response = client.get(server.url(path)).send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Download {
        status: response.status().as_u16(),
        sha256: header("x-statement-sha256"),
        content_type: header("content-type").unwrap_or_default(),
        disposition: header("content-disposition"),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

/// The SHA-256 of `bytes` by another implementation than the server's (ring's).
fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn riskdeck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
        .args(args)
        .env_remove("RISKDECK_DATABASE_URL")
        .env_remove("RISKDECK_CONFIG")
        .output()
        .expect("run riskdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_failed_challenge_is_stated_with_its_evidence_and_its_hash_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, stop_demo) = scripted_server(dir.path()).await;
    let jane = server.login("jane").await.expect("jane signs in");
    let bob = server.login("bob").await.expect("bob signs in");
    let admin = server.login("admin").await.expect("the admin signs in");

    // The breach fails the challenge; then the stop loss closes the position.
    eventually(
        WAIT,
        "the failed challenge with its closed trade",
        || async {
            let view = summary(&server, &jane, BREACH).await?.latest?.challenge?;
            (view.status == ChallengeStatus::Failed && view.metrics?.trades >= 1).then_some(())
        },
    )
    .await
    .expect("the script fails the challenge and closes its trade");

    // The owner gets the JSON, as a download, with the hash of exactly its bytes.
    let path = format!("/api/accounts/{BREACH}/statement");
    let json = download(&server, &jane, &path).await;
    assert_eq!(json.status, 200, "{}", String::from_utf8_lossy(&json.body));
    assert_eq!(json.content_type, "application/json");
    let hash = json.sha256.clone().expect("the hash header");
    assert_eq!(hash, sha256(&json.body));
    let statement = Statement::from_json(&json.body).expect("a statement");
    assert_eq!(
        json.disposition.as_deref(),
        Some(format!("attachment; filename=\"{}\"", statement.file_name("json")).as_str())
    );
    assert_eq!(
        statement.file_name("json"),
        format!(
            "statement-{BREACH}-{}.json",
            statement.generated_at.format("%Y-%m-%d")
        )
    );
    assert_eq!(statement.format, shared::statement::FORMAT);
    assert_eq!(statement.account_id.as_str(), BREACH);
    assert_eq!(statement.owner.as_deref(), Some("jane"));
    assert_eq!(statement.preset, "ftmo-2step");
    assert_eq!(
        statement.initial_balance,
        Some(rust_decimal::Decimal::from(100_000))
    );

    // The decision, when, and its evidence: the daily floor and the equity below it.
    let decision = &statement.decision;
    assert_eq!(decision.status, ChallengeStatus::Failed);
    let failed = decision
        .decisive
        .iter()
        .find(|e| e.kind == EventKind::Failed)
        .expect("the failure");
    assert_eq!(decision.decided_at, Some(failed.time));
    let breach = decision
        .decisive
        .iter()
        .find(|e| e.kind == EventKind::Breach && e.rule.as_deref() == Some("daily_loss"))
        .expect("the daily-loss breach");
    let (measured, limit) = (
        breach.measured.expect("measured"),
        breach.limit.expect("limit"),
    );
    assert!(measured < limit, "{measured} is not below {limit}");
    assert!(breach.anchors.is_some(), "the anchors at the breach");
    // The stored record holds the same events, evidence included.
    let stored = decision
        .record
        .iter()
        .find(|e| e.kind == "breach" && e.rule.as_deref() == Some("daily_loss"))
        .expect("the stored breach");
    assert!(
        stored.event["evidence"]["measured"].is_string(),
        "{}",
        stored.event
    );
    assert!(decision.record.iter().any(|e| e.kind == "failed"));
    // The rules in force at the end, and the trading record.
    let daily = statement
        .rules
        .reports
        .iter()
        .find(|r| r.id == "daily_loss")
        .expect("the daily-loss rule");
    assert_eq!(daily.status, RuleStatus::Breached);
    assert!(statement.rules.in_force.is_some(), "the rules' parameters");
    assert!(statement.metrics.is_some());
    let trade = statement.trading.trades.first().expect("the closed trade");
    assert_eq!(trade.symbol, "EURUSD");
    assert!(trade.net < rust_decimal::Decimal::ZERO);

    // Another trader gets exactly what an account that does not exist gets.
    for suffix in ["", ".pdf", ".html"] {
        let theirs = download(&server, &bob, &format!("{path}{suffix}")).await;
        let nothing = download(
            &server,
            &bob,
            &format!("/api/accounts/no-such-account/statement{suffix}"),
        )
        .await;
        assert_eq!((theirs.status, nothing.status), (404, 404), "{suffix}");
        assert_eq!(theirs.sha256, None);
        let theirs: ErrorBody = serde_json::from_slice(&theirs.body).expect("error body");
        let nothing: ErrorBody = serde_json::from_slice(&nothing.body).expect("error body");
        assert_eq!(theirs, nothing);
    }

    // The PDF and the page: each a new statement, stating the hash of its own JSON.
    let pdf = download(&server, &jane, &format!("{path}.pdf")).await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF-"), "a PDF");
    let pdf_hash = pdf.sha256.clone().expect("the PDF's hash header");
    assert!(
        pdf.body
            .windows(64)
            .any(|window| window == pdf_hash.as_bytes()),
        "the PDF states its JSON's hash"
    );
    let page = download(&server, &admin, &format!("{path}.html")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let page_hash = page.sha256.clone().expect("the page's hash header");
    let text = String::from_utf8(page.body).expect("UTF-8");
    assert!(text.contains(&page_hash), "the page states its JSON's hash");
    assert!(text.contains("FAILED"));

    // The firm's database records every statement issued, with who asked, and the audit log
    // has each.
    let store = &server.state.store;
    let recorded = store.statements_by_sha256(&hash).await.expect("by hash");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].generated_by, "jane");
    assert_eq!(recorded[0].generated_at, statement.generated_at);
    let by_admin = store
        .statements_by_sha256(&page_hash)
        .await
        .expect("by hash");
    assert_eq!(by_admin[0].generated_by, "admin");
    assert_eq!(
        store
            .account_statements(&BREACH.into())
            .await
            .expect("issued")
            .len(),
        3
    );
    let audited = store
        .audit_log(&AuditFilter {
            action: Some("statement.issue".into()),
            subject: Some(format!("account:{BREACH}")),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.len(), 3);
    assert!(audited.iter().any(|entry| {
        entry
            .entry
            .after
            .as_ref()
            .is_some_and(|a| a["sha256"] == hash.as_str())
    }));

    // The command line verifies the file as downloaded: the hash, and that the firm issued it.
    let file = dir.path().join(statement.file_name("json"));
    std::fs::write(&file, &json.body).expect("save the download");
    let file_arg = file.to_str().expect("UTF-8 path");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let (code, stdout, stderr) = riskdeck(&[
        "statement",
        "verify",
        file_arg,
        "--sha256",
        &hash.to_uppercase(),
        "--database-url",
        &url,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("sha256 {hash}")), "{stdout}");
    assert!(stdout.contains("matches the expected SHA-256"), "{stdout}");
    assert!(stdout.contains("issued by the firm"), "{stdout}");
    assert!(stdout.contains("asked for by jane"), "{stdout}");
    assert!(stdout.contains("challenge failed"), "{stdout}");

    // One byte changed (a digit of the breach's measured equity) and the copy is refused.
    let mut altered = json.body.clone();
    let at = String::from_utf8_lossy(&json.body)
        .find(&format!("\"measured\": \"{measured}\""))
        .expect("the measured value")
        + "\"measured\": \"".len();
    altered[at] = if altered[at] == b'1' { b'2' } else { b'1' };
    let copy = dir.path().join("altered.json");
    std::fs::write(&copy, &altered).expect("save the altered copy");
    let copy_arg = copy.to_str().expect("UTF-8 path");
    let (code, stdout, stderr) = riskdeck(&["statement", "verify", copy_arg, "--sha256", &hash]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("does NOT match"), "{stderr}");
    assert!(!stdout.contains(&format!("sha256 {hash}")), "{stdout}");
    let (code, _, stderr) = riskdeck(&["statement", "verify", copy_arg, "--database-url", &url]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("holds no statement with this SHA-256"),
        "{stderr}"
    );

    // What is not a statement is named, without a panic.
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, b"%PDF-1.4 not JSON").expect("write");
    let (code, stdout, stderr) =
        riskdeck(&["statement", "verify", garbage.to_str().expect("UTF-8 path")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.starts_with("sha256 "), "{stdout}");
    assert!(stderr.contains("is not a statement"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, _, stderr) = riskdeck(&["statement", "verify", file_arg, "--sha256", "abc"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("64 hexadecimal digits"), "{stderr}");

    server.stop().await;
    stop_demo.cancel();
}

#[tokio::test]
async fn an_account_still_connecting_has_no_statement_yet() {
    // A demo server whose accounts are still connecting: the route answers 409 with a reason,
    // and nothing is recorded or audited.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    // A broker that never answers: every account stays without a challenge view.
    config.demo = false;
    config.accounts = vec![backend::config::AccountConfig {
        trader: Some("jane".into()),
        ..backend::config::AccountConfig::demo_accounts(
            &DemoBroker::new(DemoConfig::default(), chrono::Utc::now()),
            "http://127.0.0.1:9",
            shared::api::Transport::Rest,
        )
        .into_iter()
        .find(|account| account.id == BREACH)
        .expect("the scripted account")
    }];
    let server = TestServer::start(config).await.expect("server");
    let jane = server.login("jane").await.expect("jane signs in");
    let answer = download(&server, &jane, &format!("/api/accounts/{BREACH}/statement")).await;
    assert_eq!(
        answer.status,
        409,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let error: ErrorBody = serde_json::from_slice(&answer.body).expect("error body");
    assert_eq!(error.error, "conflict");
    assert!(error.message.contains("no challenge"), "{}", error.message);
    assert!(
        server
            .state
            .store
            .account_statements(&BREACH.into())
            .await
            .expect("issued")
            .is_empty()
    );
    server.stop().await;
}
