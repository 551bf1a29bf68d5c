//! Headless Chromium against the real server serving the real WASM bundle.
//!
//! These tests never skip: `cargo xtask test` builds the bundle and installs Chromium first, and
//! CI fails when they did not run.

use fantoccini::Locator;
use std::path::PathBuf;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, eventually, workspace_root};

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
    tests::require_bundle();
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
    browser.wait_for("[data-testid=login-username]").await;
    assert_eq!(browser.current_path().await, "/login");
    let login_png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("login.png", &login_png);
    browser
        .sign_in(
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
    let user = browser.text_of("[data-testid=current-user]").await;
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
    // Each challenge's standing shows in the list: its status badge, the limit closest to
    // breach with its room left, and progress to the profit target.
    let statuses = eventually(Duration::from_secs(30), "challenge statuses", || async {
        let found = browser
            .client
            .find_all(Locator::Css(".account-challenge-status"))
            .await
            .ok()?;
        let mut texts = Vec::new();
        for status in &found {
            texts.push(status.text().await.ok()?);
        }
        (texts.len() >= 4).then_some(texts)
    })
    .await
    .expect("every demo account shows its challenge status");
    for text in &statuses {
        assert!(
            ["active", "passed", "failed", "paused"]
                .iter()
                .any(|word| text.to_lowercase().starts_with(word)),
            "a status badge and the preset's name: {text:?}"
        );
    }
    // With the program (here the preset's) and the phase.
    assert!(
        statuses
            .iter()
            .any(|text| text.contains("FTMO 2-Step Challenge · Phase 1")),
        "{statuses:?}"
    );
    let closest = browser
        .text_of(&format!("[data-account-id={id}] .account-closest-rule"))
        .await
        .expect("the closest rule to breach shows");
    assert!(
        closest.contains(": ") && (closest.ends_with(" left") || closest.ends_with("broken")),
        "the rule closest to breach with its room left: {closest:?}"
    );
    let target = browser
        .attr_of(
            &format!("[data-account-id={id}] .account-target-progress [role=progressbar]"),
            "aria-valuenow",
        )
        .await
        .expect("progress to the profit target shows");
    let target: u32 = target.parse().expect("a whole percent");
    assert!(target <= 100, "{target}");
    let accounts_png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("accounts.png", &accounts_png);

    browser
        .client
        .goto(&server.url(&format!("/accounts/{id}")))
        .await
        .expect("open account page");
    let first = eventually(Duration::from_secs(30), "an equity value", || {
        browser.text_of("[data-testid=equity]")
    })
    .await
    .expect("the account page renders its equity");
    assert!(
        browser
            .text_of("[data-testid=account-name]")
            .await
            .is_some(),
        "the page names the account"
    );
    let changed = eventually(Duration::from_secs(45), "equity to change live", || async {
        let now = browser.text_of("[data-testid=equity]").await?;
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
        browser
            .text_of("[data-testid=challenge-status]")
            .await
            .is_some(),
        "the challenge status is shown"
    );
    // The curve drawn (a line: two points at least) before the picture.
    browser.wait_for_chart_drawn(2).await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("account.png", &png);

    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn signing_in_and_out_in_a_real_browser() {
    tests::require_bundle();
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
    browser.sign_in("trader2", "not the password").await;
    let error = eventually(Duration::from_secs(30), "an error message", || {
        browser.text_of("[data-testid=login-error]")
    })
    .await
    .expect("the form says what went wrong");
    assert!(error.contains("not right"), "{error}");

    // The right one brings the trader back to the page they asked for.
    browser
        .sign_in("trader2", &server.password("trader2").expect("password"))
        .await;
    eventually(Duration::from_secs(30), "the account page", || {
        browser.text_of("[data-testid=account-name]")
    })
    .await
    .expect("the account page after signing in");
    assert_eq!(
        browser.current_path().await,
        "/accounts/demo-index-breakout"
    );

    // Signing out ends the session: the app asks for a sign-in again, even after a reload.
    browser
        .wait_for("[data-testid=logout]")
        .await
        .click()
        .await
        .expect("sign out");
    browser.wait_for("[data-testid=login-username]").await;
    browser.client.goto(&server.base).await.expect("reload");
    browser.wait_for("[data-testid=login-submit]").await;
    assert_eq!(browser.current_path().await, "/login");
    assert!(
        browser
            .text_of("[data-testid=current-user]")
            .await
            .is_none(),
        "no one is shown as signed in"
    );
    browser.close().await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_account_page_says_so() {
    tests::require_bundle();
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
    browser
        .sign_in("admin", &server.password("admin").expect("password"))
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

/// A demo broker of our own with short script units, so the scripted breach happens within
/// the test; `owners` says which trader owns which of its accounts (the others are not
/// tracked).
async fn scripted_server(
    dir: &std::path::Path,
    owners: &[(&str, &str)],
) -> (TestServer, tokio_util::sync::CancellationToken) {
    use demo::{DemoBroker, DemoConfig, serve};
    let now = chrono::Utc::now();
    let demo = DemoBroker::new(
        DemoConfig {
            seed: 7,
            token: "t0ken".into(),
            step: Duration::from_millis(100),
            script_start: Some(now + chrono::TimeDelta::seconds(3)),
            script_unit: Duration::from_secs(2),
        },
        now - chrono::TimeDelta::minutes(5),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(serve(listener, demo.clone(), async move {
        stopped.cancelled().await;
    }));
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.poll_interval = Duration::from_millis(300);
    config.price_interval = Some(Duration::from_millis(150));
    config.accounts =
        backend::config::AccountConfig::demo_accounts(&demo, &base, shared::api::Transport::Rest)
            .into_iter()
            .filter_map(|mut account| {
                let (_, owner) = owners.iter().find(|(id, _)| *id == account.id)?;
                account.trader = Some((*owner).to_owned());
                Some(account)
            })
            .collect();
    let server = TestServer::start(config).await.expect("server");
    (server, stop)
}

async fn challenge_view(
    server: &TestServer,
    client: &reqwest::Client,
    id: &str,
) -> Option<shared::api::ChallengeView> {
    let summary: shared::api::AccountSummary = client
        .get(server.url(&format!("/api/accounts/{id}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    summary.latest?.challenge
}

/// The time from the start of navigation to the dashboard's first render with data, as the
/// app marks it (`riskdeck-dashboard`), in milliseconds.
async fn first_render_ms(browser: &Browser) -> Option<f64> {
    let value = browser
        .client
        .execute(
            "const m = performance.getEntriesByName('riskdeck-dashboard');\
             return m.length ? m[0].startTime : null;",
            vec![],
        )
        .await
        .ok()?;
    value.as_f64()
}

/// What the page downloaded of WASM so far, as the browser's Resource Timing reports it: each
/// module's name, bytes on the wire (body as sent, compressed or not) and bytes decoded.
async fn wasm_downloads(browser: &Browser) -> Vec<(String, u64, u64)> {
    let value = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource')\
               .filter((e) => new URL(e.name).pathname.endsWith('.wasm'))\
               .map((e) => [new URL(e.name).pathname.split('/').pop(),\
                            e.encodedBodySize, e.decodedBodySize]);",
            vec![],
        )
        .await
        .unwrap_or_default();
    value
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| {
                    let name = entry.get(0)?.as_str()?.to_owned();
                    Some((name, entry.get(1)?.as_u64()?, entry.get(2)?.as_u64()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn screenshot_at(browser: &Browser, name: &str, width: u32, height: u32, dark: bool) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize");
    let pressed = browser
        .attr_of("[data-testid=theme-toggle]", "aria-pressed")
        .await
        .unwrap_or_default();
    if (pressed == "true") != dark {
        browser
            .wait_for("[data-testid=theme-toggle]")
            .await
            .click()
            .await
            .expect("switch the theme");
    }
    // The theme switched and the chart redrawn at the new width before the picture.
    tests::wait_until(Duration::from_secs(60), "the theme to switch", || async {
        let pressed = browser
            .attr_of("[data-testid=theme-toggle]", "aria-pressed")
            .await
            .unwrap_or_default();
        (pressed == "true") == dark
    })
    .await;
    browser.wait_for_chart_drawn(2).await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot(name, &png);
}

#[tokio::test]
async fn the_dashboard_shows_a_breach_with_its_evidence_and_sizes_trades_like_the_engine() {
    tests::require_bundle();
    // The browser first: waiting for a turn at one (`tests::Browser`) must not eat into the
    // scripted world's timeline, whose prices stop moving after its first half minute.
    let browser = Browser::start(1280, 2400).await.expect("browser");
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, stop_demo) = scripted_server(
        dir.path(),
        &[
            ("demo-daily-breach", "jane"),
            ("demo-no-stop", "jane"),
            ("demo-passing", "bob"),
        ],
    )
    .await;
    let jane = server.login("jane").await.expect("jane signs in over HTTP");
    browser
        .client
        .goto(&server.url("/accounts/demo-no-stop"))
        .await
        .expect("open the app");
    browser
        .sign_in("jane", &server.password("jane").expect("password"))
        .await;

    // The header names the challenge; values update live.
    let first = eventually(Duration::from_secs(30), "an equity value", || {
        browser.text_of("[data-testid=equity]")
    })
    .await
    .expect("the dashboard renders");
    let title = eventually(Duration::from_secs(30), "the challenge title", || {
        browser.text_of("[data-testid=challenge-title]")
    })
    .await
    .expect("the challenge is named");
    assert!(title.contains("FTMO"), "{title}");
    assert!(
        browser
            .text_of("[data-testid=challenge-phase]")
            .await
            .is_some_and(|p| p == "Phase 1")
    );
    assert!(
        browser
            .text_of("[data-testid=reset-countdown]")
            .await
            .is_some_and(|t| t.contains("Daily reset in") && t.contains("Europe/Prague")),
        "the countdown to FTMO's reset"
    );
    eventually(Duration::from_secs(45), "equity to change live", || async {
        let now = browser.text_of("[data-testid=equity]").await?;
        (now != first).then_some(())
    })
    .await
    .expect("equity changes without a reload");

    // Positions without a stop loss stand out in the risk panel.
    eventually(
        Duration::from_secs(30),
        "positions without stop loss",
        || async {
            let rows = browser
                .client
                .find_all(Locator::Css(
                    "[data-testid=position-row][data-no-stop=true]",
                ))
                .await
                .ok()?;
            (rows.len() == 2).then_some(())
        },
    )
    .await
    .expect("both unprotected positions are flagged");
    assert!(
        browser.text_of("[data-testid=room-today]").await.is_some(),
        "the room left today is shown"
    );
    assert!(
        browser
            .text_of("[data-testid=metric-active-orders]")
            .await
            .is_some_and(|n| n == "2"),
        "the engine's statistics are shown"
    );

    // The calculator's answer is the engine's: the same function over the same numbers.
    let distance = browser.wait_for("[data-testid=calc-distance]").await;
    distance.send_keys("0.0050").await.expect("type a distance");
    let (shown, engine) = eventually(
        Duration::from_secs(30),
        "the page's lot size to match the engine's",
        || async {
            let shown = browser.text_of("[data-testid=calc-lots]").await?;
            let view = challenge_view(&server, &jane, "demo-no-stop").await?;
            let sizing = view.sizing?;
            let symbol = sizing.symbols.iter().find(|s| s.symbol == "GBPUSD")?;
            let engine = shared::engine::sizing::max_lots(
                symbol,
                "0.0050".parse().ok()?,
                sizing.room,
                sizing.per_trade_cap,
            )
            .ok()?;
            let engine = engine.lots.normalize().to_string();
            (shown == engine).then_some((shown, engine))
        },
    )
    .await
    .expect("the calculator agrees with the engine");
    assert_eq!(shown, engine);
    assert_ne!(shown, "0", "a positive lot size fits 200,000's room");

    // Another trader's challenge is refused like an unknown one.
    browser
        .client
        .goto(&server.url("/accounts/demo-passing"))
        .await
        .expect("open bob's account");
    browser.wait_for("[data-testid=not-found]").await;

    // The scripted breach turns the page to failed, with the evidence shown.
    browser
        .client
        .goto(&server.url("/accounts/demo-daily-breach"))
        .await
        .expect("open the breaching account");
    let status = eventually(Duration::from_secs(90), "the challenge to fail", || async {
        let status = browser.text_of("[data-testid=challenge-status]").await?;
        // The badge is styled in capitals; WebDriver reads the rendered text.
        status.eq_ignore_ascii_case("failed").then_some(status)
    })
    .await
    .expect("the breach fails the challenge");
    assert!(status.eq_ignore_ascii_case("failed"), "{status}");
    let limit = eventually(Duration::from_secs(30), "the breach evidence", || {
        browser.text_of(
            "[data-testid=breach-item][data-rule-id=daily_loss] [data-testid=evidence-limit]",
        )
    })
    .await
    .expect("the evidence is shown");
    assert_eq!(limit, "95,000.00", "the daily floor of 100,000 at 5%");
    let measured = browser
        .text_of("[data-testid=evidence-measured]")
        .await
        .expect("the measured equity");
    assert!(measured.starts_with("94,"), "{measured}");
    let breached = browser
        .attr_of(
            "[data-testid=rule-row][data-rule-id=daily_loss]",
            "data-status",
        )
        .await;
    assert_eq!(breached.as_deref(), Some("breached"));
    assert!(
        browser
            .text_of("[data-testid=rule-row][data-rule-id=daily_loss] [data-testid=rule-when]")
            .await
            .is_some_and(|t| t.starts_with("Breached")),
        "the breached rule says when"
    );
    eventually(
        Duration::from_secs(30),
        "the breach on the chart",
        || async {
            browser
                .client
                .find(Locator::Css("[data-testid=breach-marker]"))
                .await
                .ok()
        },
    )
    .await
    .expect("the breach is marked on the curve");

    // The trade history panel is part of the dashboard (paging is tested with a bridge
    // account below, where the trades are known).
    browser.wait_for("[data-testid=trade-history]").await;

    // A fresh load of the dashboard: the time to its first render, for docs/BENCHMARKS.md.
    browser
        .client
        .goto(&server.url("/accounts/demo-daily-breach"))
        .await
        .expect("reload");
    browser.wait_for("[data-testid=breach-evidence]").await;
    if let Some(ms) = first_render_ms(&browser).await {
        eprintln!("time to first render of the dashboard: {ms:.0} ms");
    }
    // And what it downloaded (for docs/BENCHMARKS.md too): the main module, then the chunks of
    // the sections below the fold.
    for (module, wire, decoded) in wasm_downloads(&browser).await {
        eprintln!("downloaded {module}: {wire} bytes on the wire, {decoded} bytes decoded");
    }

    // The curve drawn, then the pictures: desktop and phone, light and dark.
    browser.wait_for_chart_drawn(2).await;
    screenshot_at(&browser, "dashboard-desktop-light.png", 1280, 2400, false).await;
    screenshot_at(&browser, "dashboard-desktop-dark.png", 1280, 2400, true).await;
    screenshot_at(&browser, "dashboard-phone-dark.png", 390, 3200, true).await;
    screenshot_at(&browser, "dashboard-phone-light.png", 390, 3200, false).await;

    browser.close().await;
    server.stop().await;
    stop_demo.cancel();
}

const BRIDGE: &str = "jane-bridge";
const BRIDGE_TOKEN: &str = "bridge-token-0123456789abcdef0123456789";

/// One closed round trip on the bridge account, after every earlier one (records are fed in
/// time order): bought, sold a minute later at a profit of `n`.
fn round_trip(n: u32) -> String {
    let at = |minutes: u32| format!("2026-03-02T{:02}:{:02}:00Z", minutes / 60, minutes % 60);
    let (open, close) = (at(60 + 2 * n), at(61 + 2 * n));
    format!(
        "{{\"time\":\"{open}\",\"deal\":{{\"id\":\"in-{n:03}\",\"type\":\"DEAL_TYPE_BUY\",\"entryType\":\"DEAL_ENTRY_IN\",\"symbol\":\"EURUSD\",\"time\":\"{open}\",\"volume\":1,\"price\":1.08,\"profit\":0,\"commission\":-2,\"swap\":0,\"positionId\":\"p{n}\"}}}}\n\
         {{\"time\":\"{close}\",\"deal\":{{\"id\":\"out-{n:03}\",\"type\":\"DEAL_TYPE_SELL\",\"entryType\":\"DEAL_ENTRY_OUT\",\"symbol\":\"EURUSD\",\"time\":\"{close}\",\"volume\":1,\"price\":1.081,\"profit\":{n},\"commission\":-2,\"swap\":0,\"positionId\":\"p{n}\"}}}}\n\
         {{\"time\":\"{close}\",\"accountInformation\":{{\"balance\":100000,\"equity\":100000,\"margin\":0,\"freeMargin\":100000,\"currency\":\"USD\",\"leverage\":100,\"credit\":0}}}}\n"
    )
}

async fn push_bridge(server: &TestServer, body: String) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/api/ingest/{BRIDGE}")))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(BRIDGE_TOKEN)
        .body(body)
        .send()
        .await
        .expect("push");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

async fn trade_rows(browser: &Browser) -> Vec<String> {
    let Ok(rows) = browser
        .client
        .find_all(Locator::Css("[data-testid=trade-row]"))
        .await
    else {
        return Vec::new();
    };
    let mut deals = Vec::new();
    for row in rows {
        if let Ok(Some(deal)) = row.attr("data-deal").await {
            deals.push(deal);
        }
    }
    deals
}

#[tokio::test]
async fn the_trade_history_pages_older_trades_and_shows_new_ones_live() {
    use backend::config::{AccountConfig, ChallengeSetup};
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.accounts = vec![AccountConfig {
        id: BRIDGE.into(),
        name: "Jane's bridge".into(),
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
        ingest_token: Some(BRIDGE_TOKEN.into()),
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    let server = TestServer::start(config).await.expect("server");
    // 25 closed trades: more than one page (20).
    push_bridge(&server, (1..=25).map(round_trip).collect()).await;

    let browser = Browser::start(1280, 2400).await.expect("browser");
    browser
        .client
        .goto(&server.url(&format!("/accounts/{BRIDGE}")))
        .await
        .expect("open the app");
    browser
        .sign_in("jane", &server.password("jane").expect("password"))
        .await;

    let first_page = eventually(
        Duration::from_secs(30),
        "the newest page of trades",
        || async {
            let rows = trade_rows(&browser).await;
            (rows.len() == 20).then_some(rows)
        },
    )
    .await
    .expect("a page of trades");
    let expected: Vec<String> = (6..=25).rev().map(|n| format!("out-{n:03}")).collect();
    assert_eq!(first_page, expected, "newest first");
    let header = browser
        .text_of(".trades thead th")
        .await
        .unwrap_or_default();
    assert!(header.to_lowercase().contains("europe/prague"), "{header}");
    let net = browser
        .text_of("[data-testid=trade-row] [data-testid=trade-net]")
        .await
        .expect("a net result");
    assert_eq!(net, "21.00", "25 profit less 4 commission");

    // "Load older trades" by keyboard: focus the button and press Enter.
    let more = browser.wait_for("[data-testid=trades-more]").await;
    browser
        .client
        .execute(
            "arguments[0].focus();",
            vec![serde_json::to_value(&more).expect("element")],
        )
        .await
        .expect("focus");
    more.send_keys("\u{E007}").await.expect("press Enter");
    let all = eventually(Duration::from_secs(30), "the older trades", || async {
        let rows = trade_rows(&browser).await;
        (rows.len() == 25).then_some(rows)
    })
    .await
    .expect("the older page is appended");
    let expected: Vec<String> = (1..=25).rev().map(|n| format!("out-{n:03}")).collect();
    assert_eq!(all, expected, "no gap, no duplicate");
    eventually(Duration::from_secs(10), "the button to go", || async {
        browser
            .client
            .find(Locator::Css("[data-testid=trades-more]"))
            .await
            .is_err()
            .then_some(())
    })
    .await
    .expect("no more pages");

    // A trade closed now appears on top by itself, and the older ones stay.
    push_bridge(&server, round_trip(26)).await;
    let live = eventually(Duration::from_secs(30), "the new trade", || async {
        let rows = trade_rows(&browser).await;
        (rows.len() == 26).then_some(rows)
    })
    .await
    .expect("the new trade is shown live");
    assert_eq!(live[0], "out-026");
    assert_eq!(live[25], "out-001");

    // Phone width: the table scrolls inside its panel, the page does not.
    browser
        .client
        .set_window_size(390, 2400)
        .await
        .expect("resize");
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .expect("measure");
    assert!(
        overflow.as_f64().unwrap_or(0.0) <= 1.0,
        "the page scrolls sideways: {overflow}"
    );

    browser.close().await;
    server.stop().await;
}

/// The limit cell of the trader's `daily_loss` row.
const DAILY_LIMIT: &str = "[data-testid=rule-row][data-rule-id=daily_loss] td.num";

#[tokio::test]
async fn an_admin_edits_a_rule_and_the_traders_open_page_shows_the_new_limit_live() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let id = "demo-eurusd-scalper";

    // The trader has the dashboard open.
    let trader = Browser::start(1280, 1500).await.expect("browser");
    trader.client.goto(&server.base).await.expect("open");
    trader
        .sign_in("trader", &server.password("trader").expect("password"))
        .await;
    trader.wait_for("[data-testid=account-row]").await;
    trader
        .client
        .goto(&server.url(&format!("/accounts/{id}")))
        .await
        .expect("open the dashboard");
    let before = eventually(Duration::from_secs(60), "the daily loss limit", || {
        trader.text_of(DAILY_LIMIT)
    })
    .await
    .expect("the daily loss limit is shown");
    // A marker that a reload would wipe out.
    trader
        .client
        .execute("window.__riskdeckNoReload = 42; return 1;", vec![])
        .await
        .expect("set a marker");

    // An admin, in another browser, edits the daily loss limit and saves.
    let admin = Browser::start(1280, 1800).await.expect("browser");
    admin.client.goto(&server.base).await.expect("open");
    admin
        .sign_in("admin", &server.password("admin").expect("password"))
        .await;
    admin.wait_for("[data-testid=account-row]").await;
    admin
        .client
        .goto(&server.url(&format!("/admin/accounts/{id}/rules")))
        .await
        .expect("open the editor");
    let field = admin
        .wait_for(
            "[data-testid=rule-fields][data-rule-id=daily_loss] [data-testid=rule-limit-value]",
        )
        .await;
    let old = field
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    let new = if old == "3" { "2" } else { "3" };
    field.clear().await.expect("clear");
    field.send_keys(new).await.expect("type");
    let change = eventually(Duration::from_secs(20), "the diff", || {
        admin.text_of("[data-testid=rules-diff-row]")
    })
    .await
    .expect("the diff shows before saving");
    assert!(change.contains("daily_loss.limit"), "{change}");
    // The what-if replays the journal under the draft before anything is saved.
    admin
        .wait_for("[data-testid=rules-what-if]")
        .await
        .click()
        .await
        .expect("what if");
    eventually(Duration::from_secs(60), "the what-if", || async {
        admin
            .client
            .find(Locator::Css("[data-testid=what-if-draft]"))
            .await
            .ok()
    })
    .await
    .expect("the what-if answers");
    // Replayed under the rules in force, the journal decides what the live challenge did:
    // the deposit that funded the account is its initial balance, not a deposit.
    let current = admin
        .text_of("[data-testid=what-if-current] caption")
        .await
        .unwrap_or_default();
    assert!(current.ends_with("active"), "{current}");
    admin
        .wait_for("[data-testid=rules-save]")
        .await
        .click()
        .await
        .expect("save");
    let saved = eventually(Duration::from_secs(30), "the save", || {
        admin.text_of("[data-testid=rules-saved]")
    })
    .await
    .expect("saved");
    assert!(saved.contains("applied now"), "{saved}");

    // The trader's open page shows the new limit and the change, without a reload.
    let after = eventually(Duration::from_secs(60), "the new limit", || async {
        let now = trader.text_of(DAILY_LIMIT).await?;
        (now != before).then_some(now)
    })
    .await
    .expect("the new limit shows live");
    assert_ne!(after, before);
    let history = eventually(Duration::from_secs(30), "the rule history", || {
        trader.text_of("[data-testid=rule-change]")
    })
    .await
    .expect("the trader sees the change");
    assert!(history.contains("daily_loss.limit"), "{history}");
    let marker = trader
        .client
        .execute("return window.__riskdeckNoReload || 0;", vec![])
        .await
        .expect("read the marker");
    assert_eq!(marker, serde_json::json!(42), "the page was not reloaded");

    admin.close().await;
    trader.close().await;
    server.stop().await;
}

/// A trader sets where and what they hear about from the user menu; a refused field is
/// explained, what is saved comes back after a reload, and the webhook key is never shown.
#[tokio::test]
async fn a_trader_chooses_their_notifications() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.secret_key = Some(store::secrets::SecretKey::parse(&"5e".repeat(32)).expect("key"));
    let server = TestServer::start(config).await.expect("server");
    let browser = Browser::start(1280, 1400).await.expect("browser");
    browser.client.goto(&server.base).await.expect("open");
    browser
        .sign_in("trader", &server.password("trader").expect("password"))
        .await;
    browser
        .click("[data-testid=notification-settings-link]")
        .await;
    browser.wait_for("[data-testid=notify-form]").await;

    browser
        .type_into("[data-testid=notify-email]", "not an address")
        .await;
    browser.click("[data-testid=notify-save]").await;
    let refusal = browser
        .wait_for_text("[data-testid=notify-outcome]", "email")
        .await;
    assert!(!refusal.contains("Saved"), "{refusal}");

    browser
        .type_into("[data-testid=notify-email]", "trader@example.com")
        .await;
    browser
        .type_into("[data-testid=notify-telegram]", "123456789")
        .await;
    browser
        .type_into(
            "[data-testid=notify-webhook-url]",
            "https://hooks.example.com/riskdeck",
        )
        .await;
    browser
        .type_into(
            "[data-testid=notify-webhook-key]",
            "a webhook key of 16+ chars",
        )
        .await;
    browser
        .click("[data-testid=notify-kind][data-kind=daily_summary]")
        .await;
    browser
        .type_into("[data-testid=notify-rules]", "daily_loss, max_loss")
        .await;
    browser.click("[data-testid=notify-save]").await;
    browser
        .wait_for_text("[data-testid=notify-outcome]", "saved")
        .await;

    // After a reload: what was saved, and only that a key is stored.
    browser
        .client
        .goto(&server.url("/settings/notifications"))
        .await
        .expect("reload");
    browser
        .wait_for_text("[data-testid=notify-key-stored]", "key is stored")
        .await;
    let value = |css: &'static str| {
        let browser = &browser;
        async move {
            browser
                .wait_for(css)
                .await
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default()
        }
    };
    assert_eq!(
        value("[data-testid=notify-email]").await,
        "trader@example.com"
    );
    assert_eq!(value("[data-testid=notify-telegram]").await, "123456789");
    assert_eq!(
        value("[data-testid=notify-webhook-key]").await,
        "",
        "the key is never shown"
    );
    assert_eq!(
        value("[data-testid=notify-rules]").await,
        "daily_loss, max_loss"
    );
    let summary = browser
        .wait_for("[data-testid=notify-kind][data-kind=daily_summary]")
        .await
        .prop("checked")
        .await
        .expect("checked");
    assert_eq!(summary.as_deref(), Some("false"));

    let stored: serde_json::Value = server
        .session_for("trader")
        .await
        .expect("trader")
        .client
        .get(server.url("/api/me/notifications"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let kinds = stored["kinds"].as_array().expect("kinds");
    assert_eq!(
        kinds.len(),
        backend::notify::KINDS.len() - 1,
        "every kind but the daily summary: {stored}"
    );
    assert!(!stored.to_string().contains("16+ chars"), "{stored}");
    browser.close().await;
    server.stop().await;
}

/// Copies the bundle `from` to `to`, leaving out every file whose name starts with `missing`
/// (a chunk and its compressed twins).
fn copy_bundle_without(from: &std::path::Path, to: &std::path::Path, missing: &str) {
    std::fs::create_dir_all(to).expect("create the bundle copy");
    for entry in std::fs::read_dir(from).expect("read the bundle") {
        let entry = entry.expect("bundle entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_bundle_without(&entry.path(), &target, missing);
        } else if !entry.file_name().to_string_lossy().starts_with(missing) {
            std::fs::copy(entry.path(), &target).expect("copy a bundle file");
        }
    }
}

/// The sections whose code cannot be downloaded say so in their place, and the rest of the
/// dashboard works: here the server has lost the chunk of the chart and the sections below it.
#[tokio::test]
async fn a_section_whose_code_cannot_be_downloaded_says_so_and_the_rest_works() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let assets = dir.path().join("dist");
    copy_bundle_without(&tests::dist_dir(), &assets, "split_dashboard.wasm");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.assets = assets;
    let server = TestServer::start(config).await.expect("server");
    let browser = Browser::start(1280, 1500).await.expect("browser");
    browser
        .client
        .goto(&server.base)
        .await
        .expect("open the app");
    browser.wait_for("[data-testid=login-username]").await;
    browser
        .sign_in(
            "trader",
            &server
                .password("trader")
                .expect("the demo trader's password"),
        )
        .await;
    // Signed in once the accounts list shows (its chunk loads).
    browser.wait_for("[data-testid=account-row]").await;
    browser
        .client
        .goto(&server.url("/accounts/demo-eurusd-scalper"))
        .await
        .expect("open the account page");

    let message = browser
        .wait_for_text(
            "[data-testid=equity-chart] [data-testid=error]",
            "could not download the equity chart",
        )
        .await;
    assert!(
        message.contains("reload"),
        "the message says what to do: {message}"
    );
    browser
        .wait_for_text("main", "could not download the metrics")
        .await;
    // The first render's sections are all there: the figures, the rules, the risk panel.
    eventually(Duration::from_secs(30), "an equity value", || {
        browser.text_of("[data-testid=equity]")
    })
    .await
    .expect("the key figures show");
    browser.wait_for("[data-testid=rule-row]").await;
    browser.wait_for("[data-testid=room-today]").await;
    // Sections shown only when they have something to show stay hidden: the others explain.
    let page = browser.text_of("main").await.unwrap_or_default();
    assert!(
        !page.contains("could not download the rule changes"),
        "{page}"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=equity-chart] svg"))
            .await
            .is_err(),
        "no chart without its code"
    );
    browser.close().await;
    server.stop().await;
}
