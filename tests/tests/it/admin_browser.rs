//! The admin console's users, overrides and audit pages in headless Chromium, against the real
//! server serving the real WASM bundle; and a trader kept out of every admin page.
//!
//! The challenge account is fed by pushes, so its breach happens when the test says.

use backend::config::{AccountConfig, ChallengeSetup};
use fantoccini::Locator;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, eventually};

const ACCOUNT: &str = "ea-bridge";
const TOKEN: &str = "bridge-token-0123456789abcdef0123456789";

const OPEN: &str = r#"{"time":"2026-03-02T08:00:00Z","accountInformation":{"balance":100000,"equity":100000,"margin":0,"freeMargin":100000,"currency":"USD","leverage":100,"credit":0}}
{"time":"2026-03-02T08:00:00Z","positions":[]}
"#;

/// Equity of 94,000 on a 100,000 account: below the 5 % daily floor of 95,000.
const DIP: &str = r#"{"time":"2026-03-02T15:00:00Z","accountInformation":{"balance":100000,"equity":94000,"margin":0,"freeMargin":94000,"currency":"USD","leverage":100,"credit":0}}
"#;

fn config(dir: &std::path::Path) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    // The feed stays live between the test's pushes.
    config.stale_after = Duration::from_secs(600);
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

async fn push(server: &TestServer, body: &str) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(TOKEN)
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

/// Opens `path` and signs in as `username` on the sign-in page the app shows, and waits until
/// the app is signed in.
async fn open_signed_in(browser: &Browser, server: &TestServer, path: &str, username: &str) {
    browser
        .client
        .goto(&server.url(path))
        .await
        .expect("open the app");
    browser
        .type_into("[data-testid=login-username]", username)
        .await;
    let password = server.password(username).expect("a generated password");
    browser
        .type_into("[data-testid=login-password]", &password)
        .await;
    browser.click("[data-testid=login-submit]").await;
    // Signed in only once the app says who is: navigating away before that would cancel the
    // sign-in (on a loaded machine, checking the password takes a while).
    browser
        .wait_for_text("[data-testid=current-user]", username)
        .await;
}

#[tokio::test]
async fn an_admin_creates_a_trader_and_disabling_them_ends_their_open_session() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let browser = Browser::start(1280, 1200).await.expect("browser");
    open_signed_in(&browser, &server, "/admin/users", "admin").await;
    browser.wait_for("[data-testid=users-list]").await;

    // The server's refusal is shown next to the field it is about.
    browser
        .type_into("[data-testid=user-create-username]", "zoe")
        .await;
    browser
        .type_into("[data-testid=user-create-password]", "short")
        .await;
    browser.click("[data-testid=user-create-submit]").await;
    browser
        .wait_for_text("[data-testid=user-create-password-error]", "12")
        .await;

    let password = "a long enough passphrase";
    browser
        .type_into("[data-testid=user-create-password]", password)
        .await;
    browser.click("[data-testid=user-create-submit]").await;
    let row = "[data-testid=user-row][data-username=zoe]";
    browser
        .wait_for_text(&format!("{row} [data-testid=user-status]"), "Active")
        .await;

    // Zoe signs in elsewhere and her session works.
    let zoe = server
        .login_with_password("zoe", password)
        .await
        .expect("zoe signs in");
    let me = |client: reqwest::Client| {
        let url = server.url("/api/auth/me");
        async move { client.get(url).send().await.expect("request").status() }
    };
    assert_eq!(me(zoe.client.clone()).await, 200);

    // Disabling asks first; once confirmed, her open session ends at once.
    browser
        .click(&format!("{row} [data-testid=user-disable]"))
        .await;
    browser
        .wait_for_text(&format!("{row} [data-testid=user-confirm-box]"), "sessions")
        .await;
    assert_eq!(
        me(zoe.client.clone()).await,
        200,
        "nothing happens before confirming"
    );
    browser
        .click(&format!("{row} [data-testid=user-confirm]"))
        .await;
    browser
        .wait_for_text(&format!("{row} [data-testid=user-status]"), "Disabled")
        .await;
    assert_eq!(me(zoe.client.clone()).await, 401);
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_admin_clears_a_breach_and_the_traders_open_page_shows_it() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    push(&server, OPEN).await;
    push(&server, DIP).await;

    let trader = Browser::start(1280, 1500).await.expect("trader's browser");
    open_signed_in(&trader, &server, &format!("/accounts/{ACCOUNT}"), "jane").await;
    trader
        .wait_for_text("[data-testid=challenge-status]", "Failed")
        .await;

    let admin = Browser::start(1280, 1500).await.expect("admin's browser");
    open_signed_in(
        &admin,
        &server,
        &format!("/admin/accounts/{ACCOUNT}"),
        "admin",
    )
    .await;
    admin
        .wait_for_text("[data-testid=admin-challenge-status]", "Failed")
        .await;
    admin
        .wait_for_text("[data-testid=admin-challenge-owner]", "jane")
        .await;
    // Without a reason nothing is sent.
    admin.click("[data-testid=override-clear-breach]").await;
    admin
        .wait_for_text("[data-testid=override-reason-error]", "reason")
        .await;
    admin
        .type_into(
            "[data-testid=override-reason]",
            "the dip was a bad quote from the bridge",
        )
        .await;
    admin.click("[data-testid=override-clear-breach]").await;
    admin.click("[data-testid=override-confirm]").await;
    admin
        .wait_for_text("[data-testid=admin-challenge-status]", "Active")
        .await;
    admin
        .wait_for_text("[data-testid=admin-actions]", "bad quote")
        .await;

    // The trader's open page follows without a reload: active, and the admin's action listed.
    trader
        .wait_for_text("[data-testid=challenge-status]", "Active")
        .await;
    let action = trader
        .wait_for_text("[data-testid=admin-action]", "Cleared the breach")
        .await;
    assert!(
        action.contains("daily_loss") && action.contains("admin"),
        "{action}"
    );
    assert!(
        action.contains("the dip was a bad quote from the bridge"),
        "{action}"
    );
    // The console sent the action under an idempotency key, remembered with the state it
    // changed (a retry of that click would get the first answer).
    let saved = server
        .state
        .store
        .load_challenge(&ACCOUNT.into())
        .await
        .expect("load")
        .expect("saved");
    let saved: serde_json::Value = serde_json::from_str(&saved).expect("state");
    let commands = saved["commands"].as_array().expect("remembered commands");
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["action"], "challenge.clear_breach");

    // Archived (issue 24): a reason, a confirmation; the console says it is read-only, and
    // the trader's open page shows it archived without a reload.
    admin.click("[data-testid=archive]").await;
    admin
        .wait_for_text("[data-testid=archive-error]", "Say why")
        .await;
    admin
        .type_into("[data-testid=archive-reason]", "kept for the dispute")
        .await;
    admin.click("[data-testid=archive]").await;
    admin.click("[data-testid=archive-confirm]").await;
    admin
        .wait_for_text("[data-testid=admin-archived]", "read-only")
        .await;
    trader
        .wait_for_text("[data-testid=feed-status]", "Archived")
        .await;
    if let Ok(png) = admin.client.screenshot().await {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("admin-archived.png"), png);
    }

    // Issue 19, item 1: the account is taken from the trader; their open page stops showing it
    // without a reload.
    let response = server
        .session_for("admin")
        .await
        .expect("admin")
        .client
        .post(server.url(&format!("/api/accounts/{ACCOUNT}/unassign")))
        .send()
        .await
        .expect("unassign");
    assert_eq!(response.status(), 200);
    trader.wait_for("[data-testid=not-found]").await;
    assert_eq!(trader.text_of("[data-testid=challenge-status]").await, None);
    trader.close().await;
    admin.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_admin_corrects_an_anchor_assigns_the_challenge_and_resets_a_password() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    push(&server, OPEN).await;
    let admin_api = server.session_for("admin").await.expect("admin").client;
    let response = admin_api
        .post(server.url("/api/users"))
        .json(&serde_json::json!({
            "username": "max", "password": "correct horse battery", "role": "trader"
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let max: serde_json::Value = response.json().await.expect("the user");
    let max_id = max["id"].to_string();

    // The challenge's page: the start-of-day balance corrected, with a reason.
    let browser = Browser::start(1280, 1500).await.expect("browser");
    open_signed_in(
        &browser,
        &server,
        &format!("/admin/accounts/{ACCOUNT}"),
        "admin",
    )
    .await;
    browser
        .wait_for_text("[data-testid=admin-challenge-status]", "active")
        .await;
    browser
        .wait_for("[data-testid=override-anchor]")
        .await
        .select_by_value("start_of_day_balance")
        .await
        .expect("choose the anchor");
    browser
        .type_into("[data-testid=override-anchor-value]", "99000")
        .await;
    browser
        .type_into(
            "[data-testid=override-reason]",
            "the bridge sent the day's first balance late",
        )
        .await;
    browser.click("[data-testid=override-correct-anchor]").await;
    browser.click("[data-testid=override-confirm]").await;
    browser
        .wait_for_text(
            "[data-testid=admin-challenge-done]",
            "corrected start of day balance",
        )
        .await;
    // Every limit hanging from it moved: the daily floor is 99,000 less 5 % of 100,000.
    let floor = eventually(Duration::from_secs(30), "the moved daily floor", || async {
        let account: serde_json::Value = admin_api
            .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let rules = account["latest"]["challenge"]["rules"].as_array()?.clone();
        let daily = rules.iter().find(|r| r["id"] == "daily_loss")?;
        let limit = daily["limit"].as_str()?.to_owned();
        (limit.parse::<f64>().ok()? == 94_000.0).then_some(limit)
    })
    .await;
    assert!(floor.is_ok(), "the daily floor did not move: {floor:?}");

    // The users page: the challenge assigned to Max, then a new password for him.
    browser
        .client
        .goto(&server.url("/admin/users"))
        .await
        .expect("open the users page");
    browser.wait_for("[data-testid=users-list]").await;
    browser
        .wait_for("[data-testid=assign-account]")
        .await
        .select_by_value(ACCOUNT)
        .await
        .expect("choose the challenge");
    browser
        .wait_for("[data-testid=assign-trader]")
        .await
        .select_by_value(&max_id)
        .await
        .expect("choose the trader");
    browser.click("[data-testid=assign-submit]").await;
    browser
        .wait_for_text("[data-testid=users-done]", "assigned to max")
        .await;
    let row = "[data-testid=user-row][data-username=max]";
    browser
        .click(&format!("{row} [data-testid=user-reset-password]"))
        .await;
    let password = "a brand new passphrase for max";
    browser
        .type_into(&format!("{row} [data-testid=user-new-password]"), password)
        .await;
    browser
        .click(&format!("{row} [data-testid=user-confirm]"))
        .await;
    browser
        .wait_for_text("[data-testid=users-done]", "new password for max")
        .await;
    browser.close().await;

    // Max signs in with the new password and sees the challenge as his own.
    let session = server
        .login_with_password("max", password)
        .await
        .expect("max signs in with the new password");
    let mine = session
        .client
        .get(server.url(&format!("/api/accounts/{ACCOUNT}")))
        .send()
        .await
        .expect("request");
    assert_eq!(mine.status(), 200, "the assigned challenge is his");
    // Every step is in the audit log.
    let audit: serde_json::Value = admin_api
        .get(server.url("/api/audit"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("the audit log");
    let text = audit.to_string();
    for action in ["anchor.correct", "account.assign", "user.reset_password"] {
        assert!(text.contains(action), "{action} missing from {text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_admin_filters_the_audit_log_and_a_trader_cannot_open_any_admin_page() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(config(dir.path())).await.expect("server");
    let admin_api = server.session_for("admin").await.expect("admin").client;
    for name in ["amy", "bob"] {
        let response = admin_api
            .post(server.url("/api/users"))
            .json(&serde_json::json!({
                "username": name, "password": "correct horse battery", "role": "trader"
            }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
    }
    let response = admin_api
        .post(server.url(&format!("/api/accounts/{ACCOUNT}/unassign")))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);

    let browser = Browser::start(1280, 1200).await.expect("browser");
    open_signed_in(&browser, &server, "/admin/audit", "admin").await;
    let rows = |want: usize| {
        let browser = &browser;
        async move {
            eventually(Duration::from_secs(30), "audit rows", || async {
                let rows = browser
                    .client
                    .find_all(Locator::Css("[data-testid=audit-row]"))
                    .await
                    .ok()?;
                let mut actions = Vec::new();
                for row in &rows {
                    actions.push(row.attr("data-action").await.ok()??);
                }
                (actions.len() == want).then_some(actions)
            })
            .await
            .expect("the rows")
        }
    };
    assert_eq!(
        rows(3).await,
        ["account.unassign", "user.create", "user.create"]
    );
    browser
        .type_into("[data-testid=audit-account]", ACCOUNT)
        .await;
    browser.click("[data-testid=audit-apply]").await;
    assert_eq!(rows(1).await, ["account.unassign"]);
    let csv = browser
        .wait_for("[data-testid=audit-csv]")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    assert_eq!(csv, format!("/api/audit.csv?account={ACCOUNT}"));
    browser.close().await;

    // A trader: every admin page says it is not theirs, and shows nothing of it.
    let browser = Browser::start(1280, 1200).await.expect("browser");
    open_signed_in(&browser, &server, "/admin", "jane").await;
    for path in [
        "/admin".to_owned(),
        "/admin/users".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/accounts/new".to_owned(),
        format!("/admin/accounts/{ACCOUNT}"),
        format!("/admin/accounts/{ACCOUNT}/rules"),
    ] {
        browser.client.goto(&server.url(&path)).await.expect("open");
        browser.wait_for("[data-testid=admin-forbidden]").await;
        let nav = browser
            .client
            .find_all(Locator::Css("[data-testid=admin-nav]"))
            .await
            .expect("find");
        assert!(
            nav.is_empty(),
            "{path} shows the admin navigation to a trader"
        );
    }
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_admin_sees_each_notification_delivery_and_filters_the_failed_ones() {
    use backend::notify::NotifyConfig;
    use backend::notify::config::{TelegramConfig, WebhookConfig};
    use tests::sinks::{Telegram, Webhook};
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let (telegram, telegram_url) = Telegram::start().await;
    let (webhook, webhook_url) = Webhook::start("firm-webhook-key-0123456789").await;
    // The firm's webhook is down and given up at once; its Telegram chat takes everything.
    webhook.fail_with(503);
    let mut config = config(dir.path());
    config.notifications = NotifyConfig {
        poll_interval: Duration::from_millis(50),
        max_attempts: 1,
        telegram: Some(TelegramConfig {
            api_base_url: telegram_url,
            bot_token: "123456:test-token".to_owned(),
            chat_id: Some("-1001".to_owned()),
        }),
        webhook: Some(WebhookConfig {
            url: webhook_url,
            secret: "firm-webhook-key-0123456789".to_owned(),
        }),
        ..NotifyConfig::default()
    };
    let server = TestServer::start(config).await.expect("server");
    // A breach now (older events are not notified).
    let now = chrono::Utc::now();
    let line = |at: chrono::DateTime<chrono::Utc>, equity: u32| {
        format!(
            r#"{{"time":"{}","accountInformation":{{"balance":100000,"equity":{equity},"margin":0,"freeMargin":{equity},"currency":"USD","leverage":100,"credit":0}}}}"#,
            at.to_rfc3339()
        ) + "\n"
    };
    push(&server, &line(now - chrono::Duration::minutes(2), 100_000)).await;
    push(&server, &line(now - chrono::Duration::minutes(1), 94_000)).await;
    let store = server.state.store.clone();
    let all = eventually(
        Duration::from_secs(60),
        "every delivery settles",
        || async {
            let list = store.deliveries(None, 100).await.ok()?;
            let settled = !list.is_empty()
                && list
                    .iter()
                    .all(|d| d.status != shared::api::DeliveryStatus::Pending)
                && list.iter().filter(|d| d.channel == "webhook").count()
                    == list.iter().filter(|d| d.channel == "telegram").count();
            settled.then_some(list)
        },
    )
    .await
    .expect("deliveries");
    let failed = all.iter().filter(|d| d.channel == "webhook").count();
    assert!(failed >= 2, "a breach and the failure: {all:?}");
    assert_eq!(telegram.accepted().len(), all.len() - failed);

    let browser = Browser::start(1280, 1200).await.expect("browser");
    open_signed_in(&browser, &server, "/admin/notifications", "admin").await;
    let statuses = |want: usize| {
        let browser = &browser;
        async move {
            eventually(Duration::from_secs(30), "delivery rows", || async {
                let rows = browser
                    .client
                    .find_all(Locator::Css("[data-testid=notification-row]"))
                    .await
                    .ok()?;
                let mut statuses = Vec::new();
                for row in &rows {
                    statuses.push(row.attr("data-status").await.ok()??);
                }
                (statuses.len() == want).then_some(statuses)
            })
            .await
            .expect("the rows")
        }
    };
    let shown = statuses(all.len()).await;
    assert_eq!(shown.iter().filter(|s| *s == "failed").count(), failed);
    assert_eq!(
        shown.iter().filter(|s| *s == "delivered").count(),
        all.len() - failed
    );
    // One page holds them all: no older page.
    let older = browser.wait_for("[data-testid=notifications-older]").await;
    assert_eq!(
        older.attr("disabled").await.expect("attr").as_deref(),
        Some("true")
    );

    // Only the failed ones, each with its error.
    browser
        .wait_for("[data-testid=notifications-status]")
        .await
        .select_by_value("failed")
        .await
        .expect("select");
    assert!(statuses(failed).await.iter().all(|s| s == "failed"));
    browser
        .wait_for_text("[data-testid=notification-error]", "webhook: HTTP 503")
        .await;

    // Nothing is pending: the empty state says so.
    browser
        .wait_for("[data-testid=notifications-status]")
        .await
        .select_by_value("pending")
        .await
        .expect("select");
    browser
        .wait_for_text(
            "[data-testid=notifications-empty]",
            "No pending deliveries.",
        )
        .await;
    // The console's navigation leads here.
    let link = browser
        .wait_for("[data-testid=admin-nav] a[href='/admin/notifications']")
        .await;
    assert_eq!(link.text().await.expect("text"), "Notifications");
    browser.close().await;
    server.stop().await;
}
