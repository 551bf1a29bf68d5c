//! Headless Chromium against the real server serving the real WASM bundle.
//!
//! These tests never skip: `cargo xtask test` builds the bundle and installs Chromium first, and
//! CI fails when they did not run.

use fantoccini::Locator;
use std::path::PathBuf;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, dist_dir, eventually, workspace_root};

fn require_bundle() {
    let index = dist_dir().join("index.html");
    assert!(
        index.is_file(),
        "{} is missing: build the browser app first (`cargo xtask test` does)",
        index.display()
    );
}

async fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let element = browser.client.find(Locator::Css(css)).await.ok()?;
    let text = element.text().await.ok()?;
    let text = text.trim().to_owned();
    (!text.is_empty() && text != "—" && text != "–").then_some(text)
}

/// Waits for an element and returns it.
async fn wait_for(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    eventually(Duration::from_secs(30), css, || async {
        browser.client.find(Locator::Css(css)).await.ok()
    })
    .await
    .expect("the element appears")
}

/// Fills in and submits the sign-in form the app shows.
async fn sign_in(browser: &Browser, username: &str, password: &str) {
    let name = wait_for(browser, "[data-testid=login-username]").await;
    name.clear().await.expect("clear");
    name.send_keys(username).await.expect("type the username");
    let secret = wait_for(browser, "[data-testid=login-password]").await;
    secret.clear().await.expect("clear");
    secret.send_keys(password).await.expect("type the password");
    wait_for(browser, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit");
}

async fn current_path(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .map(|url| url.path().to_owned())
        .unwrap_or_default()
}

fn save_screenshot(name: &str, png: &[u8]) {
    let path = screenshot_path(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("screenshot dir");
    }
    std::fs::write(&path, png).expect("write screenshot");
}

fn screenshot_path(name: &str) -> PathBuf {
    if std::env::var_os("RISKDECK_UPDATE_SCREENSHOTS").is_some() {
        workspace_root().join("docs/screenshots").join(name)
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
    }
}

#[tokio::test]
async fn account_page_updates_live_in_a_real_browser() {
    require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 1500).await.expect("browser");

    // No one is signed in: the app asks for a sign-in first.
    browser
        .client
        .goto(&server.base)
        .await
        .expect("open the app");
    wait_for(&browser, "[data-testid=login-username]").await;
    assert_eq!(current_path(&browser).await, "/login");
    let login_png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("login.png", &login_png);
    sign_in(
        &browser,
        "trader",
        &server
            .password("trader")
            .expect("the demo trader's password"),
    )
    .await;

    // The accounts list shows the trader's demo accounts, and only those, linking to each page.
    let rows = eventually(Duration::from_secs(30), "account rows", || async {
        let rows = browser
            .client
            .find_all(Locator::Css("[data-testid=account-row]"))
            .await
            .ok()?;
        (rows.len() >= 4).then_some(rows)
    })
    .await
    .expect("the list renders");
    assert_eq!(rows.len(), 4, "the trader owns four demo accounts");
    let user = text_of(&browser, "[data-testid=current-user]").await;
    assert!(
        user.is_some_and(|u| u.contains("trader")),
        "the header names the user"
    );
    let mut ids = Vec::new();
    for row in &rows {
        ids.push(
            row.attr("data-account-id")
                .await
                .expect("attribute")
                .expect("rows carry their account id"),
        );
    }
    assert!(ids.iter().any(|id| id == "demo-daily-breach"), "{ids:?}");
    let id = "demo-eurusd-scalper";
    assert!(ids.iter().any(|i| i == id), "{ids:?}");

    browser
        .client
        .goto(&server.url(&format!("/accounts/{id}")))
        .await
        .expect("open account page");
    let first = eventually(Duration::from_secs(30), "an equity value", || {
        text_of(&browser, "[data-testid=equity]")
    })
    .await
    .expect("the account page renders its equity");
    assert!(
        text_of(&browser, "[data-testid=account-name]")
            .await
            .is_some(),
        "the page names the account"
    );
    let changed = eventually(Duration::from_secs(45), "equity to change live", || async {
        let now = text_of(&browser, "[data-testid=equity]").await?;
        (now != first).then_some(now)
    })
    .await
    .expect("equity changes without a reload");
    assert_ne!(changed, first);
    eventually(Duration::from_secs(20), "the equity chart", || async {
        browser
            .client
            .find(Locator::Css("[data-testid=equity-chart] svg"))
            .await
            .ok()
    })
    .await
    .expect("the equity curve is drawn");
    // The challenge's rules, as the engine decided them.
    let rules = eventually(Duration::from_secs(20), "the rules table", || async {
        let rows = browser
            .client
            .find_all(Locator::Css("[data-testid=rule-row]"))
            .await
            .ok()?;
        (!rows.is_empty()).then_some(rows)
    })
    .await
    .expect("the rules are shown");
    let mut rule_ids = Vec::new();
    for row in &rules {
        rule_ids.push(
            row.attr("data-rule-id")
                .await
                .expect("attr")
                .unwrap_or_default(),
        );
    }
    assert!(rule_ids.contains(&"daily_loss".to_owned()), "{rule_ids:?}");
    assert!(
        text_of(&browser, "[data-testid=challenge-status]")
            .await
            .is_some(),
        "the challenge status is shown"
    );
    // Let the curve grow a little before the picture.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("account.png", &png);

    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn signing_in_and_out_in_a_real_browser() {
    require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1024, 768).await.expect("browser");
    browser
        .client
        .goto(&server.url("/accounts/demo-index-breakout"))
        .await
        .expect("open an account page");

    // A wrong password is explained on the form.
    sign_in(&browser, "trader2", "not the password").await;
    let error = eventually(Duration::from_secs(30), "an error message", || {
        text_of(&browser, "[data-testid=login-error]")
    })
    .await
    .expect("the form says what went wrong");
    assert!(error.contains("not right"), "{error}");

    // The right one brings the trader back to the page they asked for.
    sign_in(
        &browser,
        "trader2",
        &server.password("trader2").expect("password"),
    )
    .await;
    eventually(Duration::from_secs(30), "the account page", || {
        text_of(&browser, "[data-testid=account-name]")
    })
    .await
    .expect("the account page after signing in");
    assert_eq!(
        current_path(&browser).await,
        "/accounts/demo-index-breakout"
    );

    // Signing out ends the session: the app asks for a sign-in again, even after a reload.
    wait_for(&browser, "[data-testid=logout]")
        .await
        .click()
        .await
        .expect("sign out");
    wait_for(&browser, "[data-testid=login-username]").await;
    browser.client.goto(&server.base).await.expect("reload");
    wait_for(&browser, "[data-testid=login-submit]").await;
    assert_eq!(current_path(&browser).await, "/login");
    assert!(
        text_of(&browser, "[data-testid=current-user]")
            .await
            .is_none(),
        "no one is shown as signed in"
    );
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_account_page_says_so() {
    require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1024, 768).await.expect("browser");
    browser
        .client
        .goto(&server.url("/accounts/does-not-exist"))
        .await
        .expect("open");
    sign_in(
        &browser,
        "admin",
        &server.password("admin").expect("password"),
    )
    .await;
    let body = eventually(Duration::from_secs(30), "a not-found message", || async {
        let text = browser
            .client
            .find(Locator::Css("body"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.to_lowercase().contains("not").then_some(text)
    })
    .await
    .expect("a message");
    assert!(body.to_lowercase().contains("account"), "{body}");
    browser.close().await;
    server.stop().await;
}
