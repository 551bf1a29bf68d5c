//! Headless Chromium against the real server and bundle: the admin console's challenges. An
//! admin creates a demo challenge in the form, sees its progress then live, and finds it in the
//! overview by search; a trader opening the console is told it is for admins.

use fantoccini::Locator;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, eventually};

/// Generous: the page waits on a real tracker reading a real history on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_admin_creates_a_demo_challenge_watches_it_go_live_and_finds_it_in_the_overview() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 900).await.expect("browser");
    browser
        .client
        .goto(&server.url("/admin/accounts/new"))
        .await
        .expect("open the form");
    browser
        .sign_in("admin", &server.password("admin").expect("password"))
        .await;

    // The form: a demo account (the first is proposed once the options load), rules, owner.
    browser.wait_for("[data-testid=create-form]").await;
    eventually(WAIT, "the demo accounts", || async {
        let options = browser
            .client
            .find_all(Locator::Css("[data-testid=create-demo-account] option"))
            .await
            .ok()?;
        (!options.is_empty()).then_some(())
    })
    .await
    .expect("demo accounts offered");
    browser
        .choose("[data-testid=create-demo-account]", "demo-gold-swing")
        .await;
    browser
        .type_into("[data-testid=create-id]", "browser-made")
        .await;
    browser
        .type_into("[data-testid=create-name]", "Made In The Browser")
        .await;
    // The demo's program is offered first; this challenge takes a preset.
    browser.click("[data-testid=create-rules-preset]").await;
    browser
        .choose("[data-testid=create-preset]", "ftmo-2step")
        .await;
    browser
        .type_into("[data-testid=create-balance]", "not money")
        .await;
    browser
        .wait_for("[data-testid=create-submit]")
        .await
        .click()
        .await
        .expect("submit");

    // A refused field is named and marked.
    let error = eventually(WAIT, "the refusal", || async {
        let element = browser
            .client
            .find(Locator::Css("[data-testid=create-error]"))
            .await
            .ok()?;
        element.text().await.ok().filter(|t| !t.is_empty())
    })
    .await
    .expect("an error");
    assert!(error.starts_with("initial_balance:"), "{error}");
    assert_eq!(
        browser
            .attr_of("[data-testid=create-balance]", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );

    browser
        .type_into("[data-testid=create-balance]", "100000")
        .await;
    browser
        .type_into("[data-testid=create-owner]", "trader2")
        .await;
    browser
        .wait_for("[data-testid=create-submit]")
        .await
        .click()
        .await
        .expect("submit again");

    // Progress, then live with a link to the dashboard.
    browser.wait_for("[data-testid=create-progress]").await;
    // Every state the page showed on the way (reading history may be quick).
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(feed) = browser
            .attr_of("[data-testid=create-progress]", "data-feed")
            .await
            && seen.last() != Some(&feed)
        {
            seen.push(feed);
        }
        if browser
            .client
            .find(Locator::Css("[data-testid=create-live]"))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not live after {WAIT:?}; the page showed {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        browser
            .attr_of("[data-testid=create-progress]", "data-feed")
            .await
            .as_deref(),
        Some("live"),
        "the page showed {seen:?}"
    );
    let href = browser
        .attr_of("[data-testid=create-open-dashboard]", "href")
        .await
        .expect("a link to the dashboard");
    assert_eq!(href, "/accounts/browser-made");

    // The overview finds it by search, with its owner, and links to both of its pages.
    browser
        .wait_for("[data-testid=admin-console-link]")
        .await
        .click()
        .await
        .expect("to the console");
    browser
        .wait_for("[data-testid=overview-search]")
        .await
        .send_keys("browser")
        .await
        .expect("search");
    let row = "[data-testid=challenge-row][data-account-id=browser-made]";
    eventually(WAIT, "only the new challenge listed", || async {
        let rows = browser
            .client
            .find_all(Locator::Css("[data-testid=challenge-row]"))
            .await
            .ok()?;
        let ours = browser.client.find(Locator::Css(row)).await.ok()?;
        (rows.len() == 1).then_some(ours)
    })
    .await
    .expect("found by search");
    let owner = browser
        .wait_for(&format!("{row} td[data-label=Owner]"))
        .await
        .text()
        .await
        .expect("owner");
    assert_eq!(owner.trim(), "trader2");
    assert_eq!(
        browser
            .attr_of(&format!("{row} [data-testid=challenge-admin-link]"), "href")
            .await
            .as_deref(),
        Some("/admin/accounts/browser-made")
    );
    assert_eq!(
        browser
            .attr_of(
                &format!("{row} [data-testid=challenge-dashboard-link]"),
                "href"
            )
            .await
            .as_deref(),
        Some("/accounts/browser-made")
    );
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_trader_opening_the_admin_console_is_told_it_is_for_admins() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1024, 768).await.expect("browser");
    browser
        .client
        .goto(&server.url("/admin"))
        .await
        .expect("open the console");
    browser
        .sign_in("trader", &server.password("trader").expect("password"))
        .await;
    browser.wait_for("[data-testid=admin-forbidden]").await;
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=challenges-list]"))
            .await
            .is_err(),
        "no challenge is listed"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=admin-console-link]"))
            .await
            .is_err(),
        "no link to the console for a trader"
    );
    browser.close().await;
    server.stop().await;
}

/// The trader's bundle has no admin pages: an admin following the console's link from the
/// accounts page gets the admin console's bundle from the server, and from the console the
/// accounts page is one click away again.
#[tokio::test]
async fn an_admin_goes_from_the_accounts_page_to_the_console_and_back() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 900).await.expect("browser");
    browser.client.goto(&server.base).await.expect("open");
    browser
        .sign_in("admin", &server.password("admin").expect("password"))
        .await;
    browser.wait_for("[data-testid=account-row]").await;
    let bundle = || async {
        browser
            .client
            .execute(
                "return document.querySelector('script[type=module]').getAttribute('src');",
                vec![],
            )
            .await
            .expect("the page's script")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        bundle().await.contains("boot-frontend"),
        "the trader's bundle"
    );

    browser
        .wait_for("[data-testid=admin-console-link]")
        .await
        .click()
        .await
        .expect("open the console");
    browser.wait_for("[data-testid=admin-nav]").await;
    assert!(
        bundle().await.contains("boot-admin"),
        "the console's bundle"
    );
    assert!(
        browser
            .client
            .current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/admin"),
        "at the console's address"
    );

    browser
        .wait_for("a.brand")
        .await
        .click()
        .await
        .expect("back to the accounts");
    browser.wait_for("[data-testid=account-row]").await;
    browser.close().await;
    server.stop().await;
}
