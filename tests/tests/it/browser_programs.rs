//! Headless Chromium against the real server and bundle: the admin console's programs (issue
//! 24). An admin starts a program from a template, puts a challenge on it, edits the next
//! version's daily limit, sees the what-if over the running challenge, saves the version for
//! the running challenges too and sees it applied; a program without a name is refused in the
//! browser before anything is sent; the trader's accounts list names the program and phase.
//! The demo's own program is listed from the start, and the New challenge form puts a challenge
//! on its Phase 2, whose dashboard names the program and the phase.

use serde_json::json;
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
async fn an_admin_makes_a_program_from_a_template_and_applies_a_new_version_to_its_challenge() {
    tests::require_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let browser = Browser::start(1280, 1100).await.expect("browser");
    browser
        .client
        .goto(&server.url("/admin/programs"))
        .await
        .expect("open the console");
    let password = server.password("admin").expect("password");
    browser.sign_in("admin", &password).await;
    browser
        .wait_for_text("[data-testid=current-user]", "admin")
        .await;

    // The demo's program is there from the start.
    browser
        .wait_for_text(
            "[data-testid=program-row][data-program-id='2-step-100k']",
            "2-Step 100k",
        )
        .await;
    // A refused id is shown by its field; then the program from FTMO's template.
    browser
        .choose("[data-testid=program-create-template]", "ftmo-2step")
        .await;
    browser
        .type_into("[data-testid=program-create-id]", "Not An Id")
        .await;
    browser.click("[data-testid=program-create-submit]").await;
    browser
        .wait_for_text("[data-testid=program-create-id-error]", "not a usable id")
        .await;
    browser
        .client
        .find(fantoccini::Locator::Css("[data-testid=program-create-id]"))
        .await
        .expect("id field")
        .clear()
        .await
        .expect("clear");
    browser
        .type_into("[data-testid=program-create-id]", "two-step")
        .await;
    browser.click("[data-testid=program-create-submit]").await;
    browser
        .wait_for_text("[data-testid=program-title]", "FTMO 2-Step")
        .await;

    // A challenge on the program's first phase (through the API, as an import would).
    let admin = server.login("admin").await.expect("admin");
    let response = admin
        .post(server.url("/api/accounts"))
        .json(&json!({
            "id": "jane-two-step",
            "name": "Jane 2-Step",
            "connection": {"kind": "demo", "account": "demo-gold-swing"},
            "program": "two-step",
            "initial_balance": "50000",
            "currency": "USD",
            "owner": "trader",
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status().as_u16(), 201);
    eventually(WAIT, "the challenge on the program", || async {
        let summary: shared::api::AccountSummary = admin
            .get(server.url("/api/accounts/jane-two-step"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        summary.latest?.challenge
    })
    .await
    .expect("evaluated");
    browser
        .client
        .goto(&server.url("/admin/programs/two-step"))
        .await
        .expect("open the program");
    browser
        .wait_for("[data-testid=program-challenge][data-account=jane-two-step]")
        .await;

    // The next version: phase 1's daily limit tightened, the change in words.
    let limit = "[data-testid=program-phase][data-phase-index='0'] \
                 [data-testid=rule-fields][data-rule-id=daily_loss] \
                 [data-testid=rule-limit-value]";
    let field = browser.wait_for(limit).await;
    field.clear().await.expect("clear");
    browser.type_into(limit, "4").await;
    browser
        .wait_for_text("[data-testid=program-changes]", "daily_loss")
        .await;
    // A nameless program is refused in the browser, with the reason (clearing a field fires
    // no input event in WebDriver: a blank is typed).
    let name = browser.wait_for("[data-testid=program-name]").await;
    name.clear().await.expect("clear");
    browser.type_into("[data-testid=program-name]", " ").await;
    browser
        .wait_for_text("[data-testid=program-problems]", "the program needs a name")
        .await;
    name.clear().await.expect("clear");
    browser
        .type_into("[data-testid=program-name]", "2-Step 50k")
        .await;

    // What if: the running challenge's fate under the draft.
    browser.click("[data-testid=program-what-if]").await;
    browser
        .wait_for("[data-testid=program-what-if-result]")
        .await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("admin-program-what-if.png", &png);

    // Saved for the running challenge too, from now: version 2, applied.
    browser.click("[data-testid=program-apply-now]").await;
    browser.click("[data-testid=program-save]").await;
    browser
        .wait_for_text("[data-testid=program-saved]", "Saved version 2")
        .await;
    browser
        .wait_for("[data-testid=program-version][data-version='2']")
        .await;
    let versions: shared::api::ProgramDetail = admin
        .get(server.url("/api/programs/two-step"))
        .send()
        .await
        .expect("detail")
        .json()
        .await
        .expect("json");
    assert_eq!(versions.versions.len(), 2);
    assert_eq!(versions.program.name, "2-Step 50k");
    eventually(WAIT, "the challenge on version 2", || async {
        let summary: shared::api::AccountSummary = admin
            .get(server.url("/api/accounts/jane-two-step"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let challenge = summary.latest?.challenge?;
        (challenge.program?.version == 2 || challenge.status.is_final()).then_some(())
    })
    .await
    .expect("applied");

    // The New challenge form: on the demo's program, its Phase 2, the phase's rules in words.
    browser
        .client
        .goto(&server.url("/admin/accounts/new"))
        .await
        .expect("open the form");
    browser
        .wait_for("[data-testid=create-program] option[value='2-step-100k']")
        .await;
    browser
        .choose("[data-testid=create-program]", "2-step-100k")
        .await;
    browser
        .wait_for("[data-testid=create-program-phase] option[value='Phase 2']")
        .await;
    browser
        .choose("[data-testid=create-program-phase]", "Phase 2")
        .await;
    browser
        .wait_for_text("[data-testid=create-program-rules]", "profit_target 5%")
        .await;
    browser
        .wait_for_text(
            "[data-testid=create-program-about]",
            "Version 1: Phase 1 → Phase 2 → Funded",
        )
        .await;
    browser
        .wait_for("[data-testid=create-demo-account] option[value=demo-gold-swing]")
        .await;
    browser
        .choose("[data-testid=create-demo-account]", "demo-gold-swing")
        .await;
    browser
        .type_into("[data-testid=create-id]", "form-phase-two")
        .await;
    browser
        .type_into("[data-testid=create-name]", "Form Phase Two")
        .await;
    let png = browser.client.screenshot().await.expect("screenshot");
    save_screenshot("admin-create-on-program.png", &png);
    browser.click("[data-testid=create-submit]").await;
    browser.wait_for("[data-testid=create-live]").await;
    browser.click("[data-testid=create-open-dashboard]").await;
    browser
        .wait_for_text("[data-testid=challenge-title]", "2-Step 100k")
        .await;
    browser
        .wait_for_text("[data-testid=challenge-phase]", "Phase 2")
        .await;
    let created: shared::api::AccountSummary = admin
        .get(server.url("/api/accounts/form-phase-two"))
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    let link = created
        .latest
        .and_then(|v| v.challenge)
        .and_then(|c| c.program)
        .expect("on a program");
    assert_eq!(
        (link.program.as_str(), link.phase_index),
        ("2-step-100k", 1)
    );
    browser.close().await;
    server.stop().await;
}
