//! Headless Chromium against the real server and bundle: the admin console's challenges. An
//! admin creates a demo challenge in the form, sees its progress then live, and finds it in the
//! overview by search; a trader opening the console is told it is for admins.

use fantoccini::Locator;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, dist_dir, eventually};

/// Generous: the page waits on a real tracker reading a real history on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

fn require_bundle() {
    let index = dist_dir().join("index.html");
    assert!(
        index.is_file(),
        "{} is missing: build the browser app first (`cargo xtask test` does)",
        index.display()
    );
}

async fn wait_for(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    eventually(WAIT, css, || async {
        browser.client.find(Locator::Css(css)).await.ok()
    })
    .await
    .expect("the element appears")
}

async fn attr_of(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let element = browser.client.find(Locator::Css(css)).await.ok()?;
    element.attr(name).await.ok().flatten()
}

async fn sign_in(browser: &Browser, username: &str, password: &str) {
    let name = wait_for(browser, "[data-testid=login-username]").await;
    name.send_keys(username).await.expect("type the username");
    let secret = wait_for(browser, "[data-testid=login-password]").await;
    secret.send_keys(password).await.expect("type the password");
    wait_for(browser, "[data-testid=login-submit]")
        .await
        .click()
        .await
        .expect("submit");
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = wait_for(browser, css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn choose(browser: &Browser, css: &str, value: &str) {
    let select = wait_for(browser, css).await;
    select.select_by_value(value).await.expect("choose");
}

#[tokio::test]
async fn an_admin_creates_a_demo_challenge_watches_it_go_live_and_finds_it_in_the_overview() {
    require_bundle();
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
    sign_in(
        &browser,
        "admin",
        &server.password("admin").expect("password"),
    )
    .await;

    // The form: a demo account (the first is proposed once the options load), rules, owner.
    wait_for(&browser, "[data-testid=create-form]").await;
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
    choose(
        &browser,
        "[data-testid=create-demo-account]",
        "demo-gold-swing",
    )
    .await;
    type_into(&browser, "[data-testid=create-id]", "browser-made").await;
    type_into(&browser, "[data-testid=create-name]", "Made In The Browser").await;
    choose(&browser, "[data-testid=create-preset]", "ftmo-2step").await;
    type_into(&browser, "[data-testid=create-balance]", "not money").await;
    wait_for(&browser, "[data-testid=create-submit]")
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
        attr_of(&browser, "[data-testid=create-balance]", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );

    type_into(&browser, "[data-testid=create-balance]", "100000").await;
    type_into(&browser, "[data-testid=create-owner]", "trader2").await;
    wait_for(&browser, "[data-testid=create-submit]")
        .await
        .click()
        .await
        .expect("submit again");

    // Progress, then live with a link to the dashboard.
    wait_for(&browser, "[data-testid=create-progress]").await;
    // Every state the page showed on the way (reading history may be quick).
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(feed) = attr_of(&browser, "[data-testid=create-progress]", "data-feed").await
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
        attr_of(&browser, "[data-testid=create-progress]", "data-feed")
            .await
            .as_deref(),
        Some("live"),
        "the page showed {seen:?}"
    );
    let href = attr_of(&browser, "[data-testid=create-open-dashboard]", "href")
        .await
        .expect("a link to the dashboard");
    assert_eq!(href, "/accounts/browser-made");

    // The overview finds it by search, with its owner, and links to both of its pages.
    wait_for(&browser, "[data-testid=admin-console-link]")
        .await
        .click()
        .await
        .expect("to the console");
    wait_for(&browser, "[data-testid=overview-search]")
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
    let owner = wait_for(&browser, &format!("{row} td[data-label=Owner]"))
        .await
        .text()
        .await
        .expect("owner");
    assert_eq!(owner.trim(), "trader2");
    assert_eq!(
        attr_of(
            &browser,
            &format!("{row} [data-testid=challenge-admin-link]"),
            "href"
        )
        .await
        .as_deref(),
        Some("/admin/accounts/browser-made")
    );
    assert_eq!(
        attr_of(
            &browser,
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
    require_bundle();
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
    sign_in(
        &browser,
        "trader",
        &server.password("trader").expect("password"),
    )
    .await;
    wait_for(&browser, "[data-testid=admin-forbidden]").await;
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
    require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 900).await.expect("browser");
    browser.client.goto(&server.base).await.expect("open");
    sign_in(
        &browser,
        "admin",
        &server.password("admin").expect("password"),
    )
    .await;
    wait_for(&browser, "[data-testid=account-row]").await;
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

    wait_for(&browser, "[data-testid=admin-console-link]")
        .await
        .click()
        .await
        .expect("open the console");
    wait_for(&browser, "[data-testid=admin-nav]").await;
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

    wait_for(&browser, "a.brand")
        .await
        .click()
        .await
        .expect("back to the accounts");
    wait_for(&browser, "[data-testid=account-row]").await;
    browser.close().await;
    server.stop().await;
}
