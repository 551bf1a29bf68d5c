//! Importing accounts by the thousand, over real HTTP: a CSV file of demo accounts (owners by
//! username and by the email address of their notification settings, a program's phase)
//! checked, imported in one go and followed until every account is live; a file with bad rows
//! writes nothing and names every bad row and field; malformed files get a clear 4xx naming the
//! line; a row whose broker fails shows as failed, then live once it recovers; traders may not
//! import.

use demo::faults::{FaultMode, Faults};
use serde_json::json;
use shared::api::{
    AccountsResponse, ErrorBody, ImportJob, ImportRefused, ImportReport, ImportsResponse,
};
use std::time::Duration;
use store::AuditFilter;
use tests::{TestServer, demo_config, eventually};

/// Generous: a loaded machine reads a demo account's history in well under this.
const LIVE_WITHIN: Duration = Duration::from_secs(90);

async fn post(
    client: &reqwest::Client,
    server: &TestServer,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Option<String>) {
    let response = client
        .post(server.url(&format!("/api/imports{query}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.text().await.expect("body"), location)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    server: &TestServer,
    path: &str,
) -> T {
    let response = client.get(server.url(path)).send().await.expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// Waits until every account of the import is done; its progress then.
async fn finished(client: &reqwest::Client, server: &TestServer, id: &str) -> ImportJob {
    eventually(LIVE_WITHIN, "the import to finish", || async {
        let job: ImportJob = get_json(client, server, &format!("/api/imports/{id}")).await;
        job.finished_at.is_some().then_some(job)
    })
    .await
    .expect("finished")
}

/// How many accounts the store and the hub hold.
async fn accounts_held(server: &TestServer) -> (usize, usize, usize) {
    let store = server.state.store.as_ref();
    (
        store.accounts().await.expect("accounts").len(),
        store.account_setups().await.expect("setups").len(),
        server.state.hub.summaries().len(),
    )
}

#[tokio::test]
async fn a_csv_of_demo_accounts_is_imported_whole_and_every_account_goes_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    // trader2 is named by the email address of their notification settings.
    let trader2 = server.login("trader2").await.expect("trader2");
    let saved = trader2
        .post(server.url("/api/me/notifications"))
        .json(&json!({"email": "Jane.Two@Example.com"}))
        .send()
        .await
        .expect("preferences");
    assert_eq!(
        saved.status(),
        200,
        "{}",
        saved.text().await.unwrap_or_default()
    );
    // A program to put one row on.
    let created = admin
        .post(server.url("/api/programs"))
        .json(&json!({"id": "two-step-100k", "template": "ftmo-2step"}))
        .send()
        .await
        .expect("program");
    assert_eq!(created.status(), 201);

    let csv = "\u{feff}id,name,connection,account,program,phase,preset,owner,initial_balance,currency,transport\r\n\
        imp-gold-1,\"Gold, the first\",demo,demo-gold-swing,,,ftmo-2step,trader,100000,USD,rest\r\n\
        imp-gold-2,Gold two,demo,demo-gold-swing,,Phase 2,ftmo-2step,jane.two@example.com,50000,USD,\r\n\
        imp-scalper,Scalper,DEMO,demo-eurusd-scalper,,,ftmo-2step,,25000.50,USD,rest\r\n\
        imp-program,On a program,demo,demo-gold-swing,two-step-100k,Phase 2,,TRADER2,100000,USD,rest\r\n";
    let before = accounts_held(&server).await;

    // The dry run checks and writes nothing.
    let (status, body, _) = post(&admin, &server, "?dry_run=true", "text/csv", csv).await;
    assert_eq!(status, 200, "{body}");
    let report: ImportReport = serde_json::from_str(&body).expect("report");
    assert_eq!((report.rows, report.bad_rows), (4, 0));
    assert!(report.problems.is_empty());
    assert_eq!(accounts_held(&server).await, before);

    let (status, body, location) = post(&admin, &server, "", "text/csv; charset=utf-8", csv).await;
    assert_eq!(status, 201, "{body}");
    let job: ImportJob = serde_json::from_str(&body).expect("job");
    assert_eq!(job.total, 4);
    assert_eq!(job.created_by, "admin");
    assert_eq!(location, Some(format!("/api/imports/{}", job.id)));
    assert_eq!(
        accounts_held(&server).await,
        (before.0 + 4, before.1 + 4, before.2 + 4)
    );

    let done = finished(&admin, &server, &job.id).await;
    assert_eq!((done.live, done.done, done.total), (4, 4, 4), "{done:?}");
    assert!(done.failed.is_empty(), "{done:?}");
    assert_eq!(done.seconds_left, None);

    // Each evaluated on its own challenge, seen by its owner only.
    let program = server
        .state
        .hub
        .summary(&"imp-program".into())
        .and_then(|s| s.latest)
        .and_then(|view| view.challenge)
        .expect("challenge");
    assert_eq!(program.phase.as_deref(), Some("Phase 2"));
    let enrollment = server
        .state
        .store
        .enrollment(&"imp-program".into())
        .await
        .expect("enrollment")
        .expect("enrolled");
    assert_eq!(
        (enrollment.program.as_str(), enrollment.phase),
        ("two-step-100k", 1)
    );
    let mine = |list: AccountsResponse| {
        let mut ids: Vec<String> = list
            .accounts
            .into_iter()
            .map(|a| a.id.to_string())
            .filter(|id| id.starts_with("imp-"))
            .collect();
        ids.sort();
        ids
    };
    let trader = server.login("trader").await.expect("trader");
    assert_eq!(
        mine(get_json(&trader, &server, "/api/accounts").await),
        ["imp-gold-1"]
    );
    assert_eq!(
        mine(get_json(&trader2, &server, "/api/accounts").await),
        ["imp-gold-2", "imp-program"]
    );
    let gold = server
        .state
        .hub
        .summary(&"imp-gold-1".into())
        .expect("shown");
    assert_eq!(gold.name, "Gold, the first");

    // Audited once, with every id; listed among the recent imports.
    let audit = server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some("accounts.import".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    let after = audit[0].entry.after.clone().expect("after");
    assert_eq!(after["count"], 4);
    assert_eq!(after["ids"][3], "imp-program");
    assert_eq!(audit[0].entry.subject, format!("import:{}", job.id));
    let listed: ImportsResponse = get_json(&admin, &server, "/api/imports").await;
    assert_eq!(listed.imports.len(), 1);
    assert_eq!(listed.imports[0].id, job.id);

    // The same through JSON rows; the template's example row reads as a good row.
    let rows = json!({"rows": [
        {"id": "imp-json-1", "name": "JSON one", "connection": "demo",
         "account": "demo-eurusd-scalper", "preset": "ftmo-1step", "initial_balance": 10000,
         "currency": "USD", "owner": "trader"},
        {"id": "imp-json-2", "name": "JSON two", "connection": "demo",
         "account": "demo-gold-swing", "preset": "ftmo-2step", "initial_balance": "200000",
         "currency": "USD", "transport": "rest"}
    ]});
    let (status, body, _) = post(&admin, &server, "", "application/json", rows.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let json_job: ImportJob = serde_json::from_str(&body).expect("job");
    let done = finished(&admin, &server, &json_job.id).await;
    assert_eq!(done.live, 2, "{done:?}");
    let template = admin
        .get(server.url("/api/imports/template.csv"))
        .send()
        .await
        .expect("template");
    assert_eq!(template.status(), 200);
    assert!(
        template
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let template = template.text().await.expect("text");
    assert!(
        template.starts_with("id,name,connection,account,"),
        "{template}"
    );
    let (status, body, _) = post(&admin, &server, "?dry_run=1", "text/csv", template).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_file_with_bad_rows_writes_nothing_and_names_every_bad_row_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let csv = "id,name,connection,account,program,phase,preset,owner,initial_balance,currency\n\
        good-row,Good,demo,demo-gold-swing,,,ftmo-2step,trader,100000,USD\n\
        unknown-owner,X,demo,demo-gold-swing,,,ftmo-2step,nobody@nowhere.test,100000,USD\n\
        bad-balance,X,demo,demo-gold-swing,,,ftmo-2step,,\"100,000\",USD\n\
        twice,X,demo,demo-gold-swing,,,ftmo-2step,,100000,USD\n\
        twice,X,demo,demo-gold-swing,,,ftmo-2step,,100000,USD\n\
        no-program,X,demo,demo-gold-swing,no-such-program,,,,100000,USD\n\
        no-phase,X,demo,demo-gold-swing,,Phase 9,ftmo-2step,,100000,USD\n\
        bad-currency,X,demo,demo-gold-swing,,,ftmo-2step,,100000,usd\n\
        demo-gold-swing,Taken,demo,demo-gold-swing,,,ftmo-2step,admin,-5,EUR\n";
    let before = accounts_held(&server).await;
    let expected = [
        (2, "owner"),
        (3, "initial_balance"),
        (4, "id"),
        (5, "id"),
        (6, "program"),
        (7, "phase"),
        (8, "currency"),
        (9, "id"),
        (9, "owner"),
        (9, "initial_balance"),
        (9, "currency"),
    ];
    for query in ["", "?dry_run=true"] {
        let (status, body, _) = post(&admin, &server, query, "text/csv", csv).await;
        assert_eq!(status, 422, "{query}: {body}");
        // The API's one error body, and every problem besides.
        let error: ErrorBody = serde_json::from_str(&body).expect("error body");
        assert_eq!(error.error, "invalid");
        assert!(
            error.message.contains("nothing was imported"),
            "{}",
            error.message
        );
        let refused: ImportRefused = serde_json::from_str(&body).expect("refusal");
        assert_eq!((refused.rows, refused.bad_rows), (9, 8));
        let named: Vec<(u32, &str)> = refused
            .problems
            .iter()
            .map(|p| (p.row, p.field.as_str()))
            .collect();
        assert_eq!(named, expected, "{:#?}", refused.problems);
        let problem = |row: u32, field: &str| {
            refused
                .problems
                .iter()
                .find(|p| p.row == row && p.field == field)
                .expect("named")
        };
        assert!(problem(2, "owner").message.contains("nobody@nowhere.test"));
        assert!(problem(4, "id").message.contains("rows 4, 5"));
        assert!(problem(6, "program").message.contains("no-such-program"));
        assert!(problem(9, "id").message.contains("exists already"));
        assert_eq!(problem(3, "initial_balance").line, Some(4));
        assert_eq!(problem(8, "currency").id.as_deref(), Some("bad-currency"));
    }
    // Nothing written: no account, no setup, nothing tracked, no import, no audit entry.
    assert_eq!(accounts_held(&server).await, before);
    let listed: ImportsResponse = get_json(&admin, &server, "/api/imports").await;
    assert!(listed.imports.is_empty());
    let audit = server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some("accounts.import".into()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert!(audit.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn malformed_files_get_a_clear_4xx_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let header = "id,name,connection,account,preset,initial_balance,currency\n";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "text/csv",
            format!("{header}a-one,A,demo,demo-gold-swing,ftmo-2step,1000,USD\n\"open,b\n"),
            400,
            "line 3",
        ),
        (
            "text/csv",
            format!("{header}a-one,A,demo\n"),
            400,
            "line 2: 3 fields",
        ),
        (
            "text/csv",
            format!("{header}a-one,A,demo,demo-gold-swing,ftmo-2step,1000,US\"D\n"),
            400,
            "line 2",
        ),
        ("text/csv", "id,name,colour\n".to_owned(), 422, "\"colour\""),
        ("text/csv", header.to_owned(), 422, "no rows"),
        ("text/csv", String::new(), 422, "empty"),
        (
            "application/json",
            "{\"rows\": [{\"id\": \"a\",}]}".to_owned(),
            400,
            "line 1",
        ),
        (
            "application/json",
            "{\n  \"rows\": 5\n}".to_owned(),
            422,
            "rows: give an array",
        ),
        (
            "application/json",
            "{\"rows\": [], \"dry\": true}".to_owned(),
            422,
            "\"dry\"",
        ),
        ("text/plain", header.to_owned(), 415, "text/csv"),
    ];
    for (content_type, body, want, says) in cases {
        let (status, text, _) = post(&admin, &server, "", content_type, body.clone()).await;
        let error: ErrorBody = serde_json::from_str(&text).expect("error body");
        assert_eq!(status, want, "{body:?}: {text}");
        assert!(error.message.contains(says), "{body:?}: {}", error.message);
    }
    // Larger than the limit, and a query that does not read.
    let (status, text, _) = post(
        &admin,
        &server,
        "",
        "text/csv",
        format!("{header}{}", "x".repeat(9 * 1024 * 1024)),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    let (status, _, _) = post(&admin, &server, "?dry_run=maybe", "text/csv", header).await;
    assert_eq!(status, 400);
    let missing = admin
        .get(server.url("/api/imports/no-such-import"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_row_whose_broker_fails_is_shown_failed_with_why_then_live_once_it_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.stale_after = Duration::from_secs(2);
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    let demo = server
        .state
        .launcher
        .demo
        .as_ref()
        .expect("demo mode")
        .broker
        .clone();
    demo.set_faults(
        "demo-gold-swing",
        Faults {
            server_error: FaultMode::Always,
            ..Faults::default()
        },
    )
    .expect("known account");
    let csv = "id,name,connection,account,preset,initial_balance,currency,transport\n\
        failing-one,F,demo,demo-gold-swing,ftmo-2step,100000,USD,rest\n\
        working-one,W,demo,demo-eurusd-scalper,ftmo-2step,100000,USD,rest\n";
    let (status, body, _) = post(&admin, &server, "", "text/csv", csv).await;
    assert_eq!(status, 201, "{body}");
    let job: ImportJob = serde_json::from_str(&body).expect("job");
    let failed = finished(&admin, &server, &job.id).await;
    assert_eq!((failed.live, failed.done), (1, 2), "{failed:?}");
    assert_eq!(failed.failed.len(), 1);
    assert_eq!(failed.failed[0].row, 1);
    assert_eq!(failed.failed[0].account.as_str(), "failing-one");
    assert!(!failed.failed[0].reason.is_empty());

    demo.set_faults("demo-gold-swing", Faults::default())
        .expect("known account");
    let recovered = eventually(LIVE_WITHIN, "the failed row to go live", || async {
        let job: ImportJob = get_json(&admin, &server, &format!("/api/imports/{}", job.id)).await;
        (job.live == 2).then_some(job)
    })
    .await
    .expect("live");
    assert!(recovered.failed.is_empty(), "{recovered:?}");
    assert_eq!(recovered.finished_at, failed.finished_at);
    server.stop().await;
}

#[tokio::test]
async fn traders_may_not_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let trader = server.login("trader").await.expect("trader");
    let csv = "id,name,connection,account,preset,initial_balance,currency\n\
        mine,Mine,demo,demo-gold-swing,ftmo-2step,100000,USD\n";
    let before = accounts_held(&server).await;
    let (status, body, _) = post(&trader, &server, "", "text/csv", csv).await;
    assert_eq!(status, 403, "{body}");
    for path in ["/api/imports", "/api/imports/template.csv"] {
        let response = trader.get(server.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 403, "{path}");
    }
    let anonymous = reqwest::Client::new();
    let response = anonymous
        .post(server.url("/api/imports"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(accounts_held(&server).await, before);
    server.stop().await;
}

#[tokio::test]
async fn an_admin_checks_a_file_in_the_browser_sees_every_problem_then_imports_and_follows_it() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = tests::Browser::start(1280, 1000).await.expect("browser");
    browser
        .client
        .goto(&server.url("/admin/imports"))
        .await
        .expect("open the app");
    let password = server.password("admin").expect("a generated password");
    browser.sign_in("admin", &password).await;
    browser
        .wait_for_text("[data-testid=current-user]", "admin")
        .await;

    // A file with two bad rows, chosen from the disk: checked, every problem in the table.
    let file = dir.path().join("accounts.csv");
    std::fs::write(
        &file,
        "id,name,connection,account,preset,owner,initial_balance,currency\n\
         web-one,Web one,demo,demo-gold-swing,ftmo-2step,trader,100000,USD\n\
         web-two,Web two,demo,demo-gold-swing,ftmo-2step,nobody,100000,usd\n\
         web-one,Web three,demo,demo-gold-swing,ftmo-2step,,lots,USD\n",
    )
    .expect("write the file");
    browser
        .wait_for("[data-testid=import-file]")
        .await
        .send_keys(&file.display().to_string())
        .await
        .expect("choose the file");
    browser
        .wait_for_text("[data-testid=import-size]", "accounts.csv: about 3 rows")
        .await;
    browser.click("[data-testid=import-check]").await;
    browser
        .wait_for_text("[data-testid=import-problems]", "nothing was imported")
        .await;
    let named = browser
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=import-problem]"))
        .await
        .expect("the problems");
    let mut cells = Vec::new();
    for row in &named {
        cells.push((
            row.attr("data-row")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
            row.attr("data-field")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        ));
    }
    let cells: Vec<(&str, &str)> = cells
        .iter()
        .map(|(row, field)| (row.as_str(), field.as_str()))
        .collect();
    assert_eq!(
        cells,
        [
            ("1", "id"),
            ("2", "owner"),
            ("2", "currency"),
            ("3", "id"),
            ("3", "initial_balance")
        ]
    );
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=import-problems]')\
             .scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("scroll");
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("imports-problems.png"),
        &png,
    )
    .expect("screenshot");
    assert!(
        server
            .state
            .store
            .account_setups()
            .await
            .expect("setups")
            .is_empty()
    );

    // Put right (pasted), imported, followed until every account is live.
    browser
        .type_into(
            "[data-testid=import-text]",
            "id,name,connection,account,preset,owner,initial_balance,currency\n\
             web-one,Web one,demo,demo-gold-swing,ftmo-2step,trader,100000,USD\n\
             web-two,Web two,demo,demo-eurusd-scalper,ftmo-2step,,100000,USD\n",
        )
        .await;
    browser.click("[data-testid=import-check]").await;
    browser
        .wait_for_text("[data-testid=import-checked]", "All 2 rows are good")
        .await;
    browser.click("[data-testid=import-submit]").await;
    browser
        .wait_for_text("[data-testid=import-status]", "Finished")
        .await;
    browser
        .wait_for_text("[data-testid=import-counts]", "2 of 2 done · 2 live")
        .await;
    browser
        .client
        .execute(
            "document.querySelector('[data-testid=import-progress]')\
             .scrollIntoView({block: 'center'});",
            vec![],
        )
        .await
        .expect("scroll");
    let png = browser.client.screenshot().await.expect("screenshot");
    std::fs::write(
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("imports-done.png"),
        &png,
    )
    .expect("screenshot");
    assert_eq!(
        server
            .state
            .store
            .account_setups()
            .await
            .expect("setups")
            .len(),
        2
    );
    browser.close().await;
    server.stop().await;
}

/// The `competition` column: each imported account enters the competition its row names.
#[tokio::test]
async fn imported_accounts_enter_the_competition_their_rows_name() {
    use shared::engine::rules::RuleKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let config = shared::engine::presets::preset("ftmo-2step", 100_000.into()).expect("preset");
    let rules = shared::engine::edit::RuleSet {
        clock: config.clock,
        rules: config
            .rules
            .into_iter()
            .filter(|r| !matches!(r.kind, RuleKind::ProfitTarget { .. }))
            .collect(),
        estimated_equity_breaches: false,
        interest_dividend_tax: config.interest_dividend_tax,
    };
    let start = (chrono::Utc::now() + chrono::TimeDelta::days(2)).naive_utc();
    let created = admin
        .post(server.url("/api/competitions"))
        .json(&json!({
            "id": "import-cup",
            "competition": {
                "name": "Import Cup",
                "time_zone": "UTC",
                "start": start,
                "end": start + chrono::TimeDelta::days(7),
                "rules": rules.draft(),
            }
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(
        created.status(),
        201,
        "{}",
        created.text().await.unwrap_or_default()
    );

    // A competition that does not exist is named, and nothing is written.
    let header = "id,name,connection,account,preset,initial_balance,currency,competition";
    let bad = format!(
        "{header}\ncup-one,Cup One,demo,demo-gold-swing,ftmo-2step,100000,USD,no-such-cup\n"
    );
    let (status, body, _) = post(&admin, &server, "", "text/csv", bad).await;
    assert_eq!(status, 422, "{body}");
    let refused: ImportRefused = serde_json::from_str(&body).expect("refused");
    assert_eq!(refused.problems[0].field, "competition", "{body}");
    assert!(
        server
            .state
            .store
            .competition_entries("import-cup")
            .await
            .expect("entries")
            .is_empty()
    );

    let good = format!(
        "{header}\n\
         cup-one,Cup One,demo,demo-gold-swing,ftmo-2step,100000,USD,import-cup\n\
         cup-two,Cup Two,demo,demo-eurusd-scalper,ftmo-2step,100000,USD,import-cup\n\
         cup-three,Cup Three,demo,demo-eurusd-scalper,ftmo-2step,100000,USD,\n"
    );
    let (status, body, _) = post(&admin, &server, "", "text/csv", good).await;
    assert_eq!(status, 201, "{body}");
    let detail: shared::competitions::CompetitionDetail =
        get_json(&admin, &server, "/api/competitions/import-cup").await;
    let entered: Vec<&str> = detail.entries.iter().map(|e| e.account.as_str()).collect();
    assert_eq!(entered, ["cup-one", "cup-two"]);
    let audited = server
        .state
        .store
        .audit_log(&AuditFilter {
            action: Some("competition.entries".to_owned()),
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.len(), 1);
    server.stop().await;
}
