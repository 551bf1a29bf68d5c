//! Headless Chromium against the real server and bundle: the admin console's API tokens for
//! MetaApi's risk management API, and the risk trackers panel on an account's dashboard. An
//! admin creates a token in the console, sees its secret once, an application's call with it
//! works until the admin revokes it; the trackers an application sets up show on their trader's
//! open dashboard, a crossed threshold marked and its event listed.

use fantoccini::Locator;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, eventually};

/// Trader `trader` owns it.
const ACCOUNT: &str = "demo-eurusd-scalper";

/// Generous: the page waits on a real server on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

/// Pictures of the pages, for a person to look at: in cargo's temporary directory.
fn save_screenshot(name: &str, png: &[u8]) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).expect("write screenshot");
}

/// The page in the dark theme, scrolled to the element with id `show` when given (the theme's
/// button is at the top).
async fn save_dark_screenshot(browser: &Browser, name: &str, show: Option<&str>) {
    browser.click("[data-testid=theme-toggle]").await;
    tests::wait_until(WAIT, "the dark theme", || async {
        browser
            .attr_of("[data-testid=theme-toggle]", "aria-pressed")
            .await
            .as_deref()
            == Some("true")
    })
    .await;
    if let Some(id) = show {
        scroll_to(browser, id).await;
    }
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot(name, &png);
}

/// Scrolls the element with id `id` to the middle of the window.
async fn scroll_to(browser: &Browser, id: &str) {
    browser
        .client
        .execute(
            "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});",
            vec![json!(id)],
        )
        .await
        .expect("scroll");
}

/// Opens `path` and signs in as `username` on the sign-in page the app shows, and waits until
/// the app is signed in.
async fn open_signed_in(browser: &Browser, server: &TestServer, path: &str, username: &str) {
    browser
        .client
        .goto(&server.url(path))
        .await
        .expect("open the app");
    let password = server.password(username).expect("a generated password");
    browser.sign_in(username, &password).await;
    browser
        .wait_for_text("[data-testid=current-user]", username)
        .await;
}

/// What an application written for MetaApi's SDK gets from listing the account's trackers
/// with `token`.
async fn list_trackers(server: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url(&format!("/users/current/accounts/{ACCOUNT}/trackers")))
        .header("auth-token", token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_admin_creates_a_token_sees_its_secret_once_and_revoking_it_shuts_the_api() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 1000).await.expect("browser");
    open_signed_in(&browser, &server, "/admin/api-tokens", "admin").await;

    // No token yet: the page says what one is for.
    browser.wait_for("#api-tokens").await;
    browser
        .wait_for_text("[data-testid=api-tokens-empty]", "No API tokens yet")
        .await;
    // The accounts to choose from.
    let choice = format!(".token-account-choice[data-account-id={ACCOUNT}] input");
    browser.wait_for(&choice).await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("api-tokens-empty.png", &png);

    // The server's refusal is shown next to what it is about.
    browser.type_into("#new-token-name", "Risk bot").await;
    browser.click("#create-token").await;
    browser
        .wait_for_text("[data-testid=token-accounts-error]", "at least one account")
        .await;

    // "Select all" ticks every account, and unticks them again.
    browser.click("#token-all-accounts").await;
    let ticked = || async {
        let boxes = browser
            .client
            .find_all(Locator::Css(".token-account-choice input"))
            .await
            .expect("the accounts");
        let mut ticked = 0;
        for input in &boxes {
            if input.prop("checked").await.ok().flatten().as_deref() == Some("true") {
                ticked += 1;
            }
        }
        (ticked, boxes.len())
    };
    let (on, all) = ticked().await;
    assert!(all > 1 && on == all, "{on} of {all} ticked");
    browser.click("#token-all-accounts").await;
    assert_eq!(ticked().await.0, 0);

    // A token for one account: its secret shows once, with how to use it.
    browser.click(&choice).await;
    browser.click("#create-token").await;
    let secret_box = browser.wait_for("#token-secret").await;
    let secret = secret_box
        .prop("value")
        .await
        .expect("the secret")
        .unwrap_or_default();
    assert!(secret.starts_with("rdk_"), "{secret}");
    browser
        .wait_for_text(
            "[data-testid=token-created]",
            "Copy it now: it is not shown again. Send it as the auth-token header.",
        )
        .await;
    browser
        .wait_for_text(
            "[data-testid=token-created]",
            &format!("{}/users/current", server.base),
        )
        .await;
    let row = ".api-token-row[data-token-name='Risk bot']";
    let text = browser.wait_for_text(row, "Active").await;
    assert!(
        text.contains("1 account") && text.contains(ACCOUNT),
        "{text}"
    );
    assert!(text.contains("Never"), "not used yet: {text}");
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("api-tokens-created.png", &png);

    // An application's call with it works.
    assert_eq!(list_trackers(&server, &secret).await, 200);

    // Shown once: the page opened again lists the token, not its secret.
    browser
        .client
        .goto(&server.url("/admin/api-tokens"))
        .await
        .expect("reload");
    browser.wait_for(row).await;
    assert!(
        browser
            .client
            .find(Locator::Css("#token-secret"))
            .await
            .is_err(),
        "the secret is not shown again"
    );
    let source = browser.client.source().await.expect("the page");
    assert!(!source.contains(&secret), "the secret is not in the page");

    // Revoking asks first; once confirmed, the application is refused.
    browser.click(&format!("{row} .revoke-token")).await;
    browser
        .wait_for_text(&format!("{row} .confirm"), "cannot be undone")
        .await;
    assert_eq!(
        list_trackers(&server, &secret).await,
        200,
        "nothing happens before confirming"
    );
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("api-tokens-confirm.png", &png);
    browser.click(&format!("{row} .confirm-revoke")).await;
    browser
        .wait_for_text(&format!("{row} [data-testid=api-token-status]"), "Revoked")
        .await;
    browser
        .wait_for_text("[data-testid=api-tokens-done]", "Revoked")
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css(&format!("{row} .revoke-token")))
            .await
            .is_err(),
        "a revoked token cannot be revoked again"
    );
    assert_eq!(list_trackers(&server, &secret).await, 401);
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("api-tokens-revoked.png", &png);
    save_dark_screenshot(&browser, "api-tokens-revoked-dark.png", None).await;
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn trackers_an_application_sets_up_show_on_the_traders_open_dashboard() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let response = admin
        .post(server.url("/api/api-tokens"))
        .json(&json!({ "name": "firm app", "accounts": [ACCOUNT] }))
        .send()
        .await
        .expect("create a token");
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.expect("json");
    let secret = created["token"].as_str().expect("the secret").to_owned();

    // Without trackers, the dashboard has no trackers panel.
    let browser = Browser::start(1280, 1500).await.expect("browser");
    open_signed_in(&browser, &server, &format!("/accounts/{ACCOUNT}"), "trader").await;
    browser.wait_for("[data-testid=rules]").await;
    browser
        .wait_for("[data-testid=equity-chart] .chart-svg")
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css("#risk-trackers"))
            .await
            .is_err(),
        "no panel for an account without trackers"
    );

    // An application sets one up; the open page shows it at its next refresh.
    let response = reqwest::Client::new()
        .post(server.url(&format!("/users/current/accounts/{ACCOUNT}/trackers")))
        .header("auth-token", &secret)
        .json(&json!({ "name": "daily", "period": "day", "relativeDrawdownThreshold": 0.05 }))
        .send()
        .await
        .expect("create a tracker");
    assert_eq!(response.status(), 201);
    let tracker = browser
        .wait_for_text("#risk-trackers .risk-tracker", "daily")
        .await;
    assert!(tracker.contains("drawdown over 5%"), "{tracker}");
    assert!(tracker.contains("Day"), "{tracker}");
    // Its period starts once the tracker has seen the account.
    eventually(WAIT, "the tracker's period", || async {
        let start = browser
            .text_of("#risk-trackers .risk-tracker td:nth-of-type(2)")
            .await?;
        start.starts_with("20").then_some(())
    })
    .await
    .expect("a period start");

    // A tracker whose threshold the floating positions cross at once: marked, with its event.
    let response = reqwest::Client::new()
        .post(server.url(&format!("/users/current/accounts/{ACCOUNT}/trackers")))
        .header("auth-token", &secret)
        // Both ways: the floating P/L may only rise (or only fall) for a while.
        .json(&json!({
            "name": "tiny",
            "period": "lifetime",
            "absoluteDrawdownThreshold": 0.01,
            "absoluteProfitThreshold": 0.01
        }))
        .send()
        .await
        .expect("create a tracker");
    assert_eq!(response.status(), 201);
    let tiny: serde_json::Value = response.json().await.expect("json");
    let tiny = tiny["id"].as_str().expect("id").to_owned();
    browser
        .wait_for_text(
            &format!("#risk-trackers .risk-tracker[data-tracker-id='{tiny}'] [data-testid=tracker-exceeded]"),
            "Exceeded: ",
        )
        .await;
    browser
        .wait_for_text("#risk-trackers [data-testid=tracker-event]", "tiny")
        .await;
    let daily = browser
        .wait_for_text("#risk-trackers .risk-tracker", "daily")
        .await;
    assert!(!daily.contains("Exceeded"), "{daily}");

    let panel = browser.wait_for("#risk-trackers").await;
    scroll_to(&browser, "risk-trackers").await;
    let png = panel.screenshot().await.expect("screenshot");
    save_screenshot("account-trackers-panel.png", &png);
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("account-trackers.png", &png);
    save_dark_screenshot(&browser, "account-trackers-dark.png", Some("risk-trackers")).await;
    browser.close().await;
    server.stop().await;
}
