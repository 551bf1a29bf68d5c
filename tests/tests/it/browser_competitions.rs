//! Headless Chromium against the real server and bundle: competitions (issue 25). An admin
//! creates a competition in the console (a refused field is shown by its field, as the server
//! names it), adds demo accounts (a refused id named, nothing added), and turns on its public
//! link; a trader chooses a display name and sees the leaderboard with their own row
//! highlighted; the public page renders without signing in, with no personal data.

use std::path::PathBuf;
use std::time::Duration;
use tests::{Browser, TestServer, demo_config, eventually};

/// Generous: the page waits on a real server on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

fn save_screenshot(name: &str, png: &[u8]) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).expect("write screenshot");
}

#[tokio::test]
async fn an_admin_runs_a_competition_that_traders_and_the_public_follow() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");

    // The console: no competition yet, then a new one.
    let admin = Browser::start(1280, 1400).await.expect("browser");
    admin
        .client
        .goto(&server.url("/admin/competitions"))
        .await
        .expect("open the console");
    let password = server.password("admin").expect("password");
    admin.sign_in("admin", &password).await;
    admin
        .wait_for_text("[data-testid=competitions-empty]", "No competitions yet")
        .await;
    admin.click("[data-testid=competition-new]").await;
    admin
        .type_into("[data-testid=competition-id]", "spring-cup")
        .await;
    admin
        .type_into("[data-testid=competition-name]", "Spring Cup")
        .await;
    admin
        .type_into("[data-testid=competition-time_zone]", "Mars/Olympus")
        .await;
    admin.click("[data-testid=competition-public]").await;
    admin.click("[data-testid=competition-save]").await;
    // Refused: the unknown zone is named under its field, as typed.
    admin
        .wait_for_text("[data-testid=competition-time_zone-error]", "Mars/Olympus")
        .await;
    admin
        .wait_for_text("[data-testid=competition-problems]", "time_zone")
        .await;
    admin
        .client
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .expect("scroll");
    let png = admin.client.screenshot().await.expect("screenshot");
    save_screenshot("admin-competition-refused.png", &png);
    admin
        .type_into("[data-testid=competition-time_zone]", "Europe/London")
        .await;
    admin.click("[data-testid=competition-save]").await;
    admin
        .wait_for_text("[data-testid=competition-title]", "Spring Cup")
        .await;
    assert_eq!(admin.current_path().await, "/admin/competitions/spring-cup");

    // Entrants: an unknown id is refused by name and nothing is added; then two demo accounts.
    admin
        .type_into(
            "[data-testid=entrant-paste]",
            "demo-gold-swing, no-such-account",
        )
        .await;
    admin.click("[data-testid=entrant-add]").await;
    admin
        .wait_for_text("[data-testid=entrants-refused]", "no-such-account")
        .await;
    admin.wait_for("[data-testid=entrants-empty]").await;
    admin
        .type_into(
            "[data-testid=entrant-paste]",
            "demo-gold-swing\ndemo-index-breakout",
        )
        .await;
    admin.click("[data-testid=entrant-add]").await;
    admin
        .wait_for_text("[data-testid=entrants-done]", "2 accounts added")
        .await;
    admin
        .wait_for("[data-testid=entrant-row][data-account=demo-index-breakout]")
        .await;
    // The live leaderboard lists both.
    eventually(
        WAIT,
        "both entrants on the console's leaderboard",
        || async {
            let rows = admin
                .client
                .find_all(fantoccini::Locator::Css("[data-testid=leaderboard-row]"))
                .await
                .ok()?;
            (rows.len() == 2).then_some(())
        },
    )
    .await
    .expect("two rows");
    let public_url = admin
        .wait_for("[data-testid=competition-public-link] input")
        .await
        .prop("value")
        .await
        .expect("value")
        .expect("a link");
    assert!(public_url.contains("/c/"), "{public_url}");
    let png = admin.client.screenshot().await.expect("screenshot");
    save_screenshot("admin-competition.png", &png);
    admin
        .client
        .goto(&server.url("/admin/competitions"))
        .await
        .expect("open the list");
    admin
        .wait_for_text(
            "[data-testid=admin-competition-row][data-competition=spring-cup] \
             [data-testid=admin-competition-entrants]",
            "2",
        )
        .await;
    let png = admin.client.screenshot().await.expect("screenshot");
    save_screenshot("admin-competitions.png", &png);
    admin.close().await;

    // The trader: a display name, then the leaderboard with their own row highlighted.
    let trader = Browser::start(1280, 1000).await.expect("browser");
    trader
        .client
        .goto(&server.url("/settings/notifications"))
        .await
        .expect("open the settings");
    let password = server.password("trader").expect("password");
    trader.sign_in("trader", &password).await;
    let field = trader.wait_for("[data-testid=display-name]").await;
    eventually(WAIT, "the display name field ready", || async {
        field.is_enabled().await.ok()?.then_some(())
    })
    .await
    .expect("enabled");
    trader.type_into("[data-testid=display-name]", "x").await;
    trader.click("[data-testid=display-name-save]").await;
    trader
        .wait_for_text("[data-testid=display-name-outcome]", "display_name")
        .await;
    trader
        .type_into("[data-testid=display-name]", "Swing King")
        .await;
    trader.click("[data-testid=display-name-save]").await;
    trader
        .wait_for_text("[data-testid=display-name-outcome]", "Swing King")
        .await;

    trader
        .client
        .goto(&server.url("/"))
        .await
        .expect("open the accounts");
    trader.click("[data-testid=competitions-link]").await;
    trader
        .click("[data-testid=competition-row][data-competition=spring-cup] [data-testid=competition-link]")
        .await;
    trader
        .wait_for_text("[data-testid=leaderboard-title]", "Spring Cup")
        .await;
    trader
        .wait_for_text(
            "[data-testid=leaderboard-row][data-mine=true] [data-testid=leaderboard-name]",
            "Swing King",
        )
        .await;
    // The other entrant is anonymous: never a username or an account.
    let other = trader
        .wait_for_text(
            "[data-testid=leaderboard-row][data-mine=false] [data-testid=leaderboard-name]",
            "Entrant",
        )
        .await;
    assert!(
        !other.contains("trader2") && !other.contains("demo-"),
        "{other}"
    );
    let png = trader.client.screenshot().await.expect("screenshot");
    save_screenshot("trader-leaderboard.png", &png);
    trader.close().await;

    // The public page: no sign-in, the same standings, nothing personal.
    let public = Browser::start(1100, 900).await.expect("browser");
    public
        .client
        .goto(&public_url)
        .await
        .expect("open the public page");
    public
        .wait_for_text("[data-testid=leaderboard-title]", "Spring Cup")
        .await;
    public
        .wait_for_text("[data-testid=leaderboard-table]", "Swing King")
        .await;
    assert!(public.current_path().await.starts_with("/c/"));
    let html = public.client.source().await.expect("page source");
    assert!(!html.contains("data-mine=\"true\""));
    assert!(!html.contains("demo-gold-swing") && !html.contains("demo-index-breakout"));
    let png = public.client.screenshot().await.expect("screenshot");
    save_screenshot("public-leaderboard.png", &png);

    // An unknown link says so.
    public
        .client
        .goto(&server.url("/c/no-such-link"))
        .await
        .expect("open an unknown link");
    public
        .wait_for_text("[data-testid=leaderboard-error]", "not public")
        .await;
    public.close().await;
    server.stop().await;
}
