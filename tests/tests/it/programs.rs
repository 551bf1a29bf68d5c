//! The firm's programs over real HTTP (issue 24): a program made from a template, refused
//! programs with every problem named, a challenge created on a program's phase (its rules, name
//! and phase on the dashboard), the what-if of a new version over the running challenges, a
//! version that cannot apply to a running challenge refused with the challenge named, a version
//! applied to the running challenges, the audit log, and all of it after a restart.

use serde_json::{Value, json};
use shared::api::{
    AccountSummary, FeedStatus, ProgramDetail, ProgramImpact, ProgramSaved, ProgramSummary,
    ProgramWhatIfResponse, ProgramsResponse,
};
use shared::engine::rules::{Limit, RuleKind};
use shared::programs::ProgramDraft;
use std::time::Duration;
use store::AuditFilter;
use tests::{TestServer, demo_config, eventually};

const LIVE_WITHIN: Duration = Duration::from_secs(60);

async fn send(
    client: &reqwest::Client,
    server: &TestServer,
    path: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let request = match body {
        Some(body) => client.post(server.url(path)).json(body),
        None => client.get(server.url(path)),
    };
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn summary(
    client: &reqwest::Client,
    server: &TestServer,
    id: &str,
) -> Option<AccountSummary> {
    let (status, body) = send(client, server, &format!("/api/accounts/{id}"), None).await;
    (status == 200).then(|| serde_json::from_str(&body).expect("summary"))
}

/// A copy of `program` with phase `index`'s profit target at `percent` of the initial balance.
fn with_target(program: &ProgramDraft, index: usize, percent: i64) -> ProgramDraft {
    let mut next = program.clone();
    for rule in &mut next.phases[index].rules.rules {
        if let RuleKind::ProfitTarget { target, .. } = &mut rule.kind {
            *target = Limit::PercentOfInitial(percent.into());
        }
    }
    next
}

#[tokio::test]
async fn an_admin_runs_a_program_from_its_template_to_its_running_challenges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    let trader = server.login("trader").await.expect("trader");

    // Templates, and a program made from one.
    let (status, body) = send(&admin, &server, "/api/programs", None).await;
    assert_eq!(status, 200, "{body}");
    let listed: ProgramsResponse = serde_json::from_str(&body).expect("programs");
    assert!(listed.programs.is_empty());
    assert!(listed.templates.iter().any(|t| t.id == "ftmo-2step"));
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs",
        Some(&json!({"id": "two-step-100k", "template": "ftmo-2step"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let created: ProgramSummary = serde_json::from_str(&body).expect("summary");
    assert_eq!(created.version, 1);
    assert_eq!(
        created
            .phases
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["Phase 1", "Phase 2", "Funded"]
    );
    let (status, _) = send(
        &admin,
        &server,
        "/api/programs",
        Some(&json!({"id": "two-step-100k", "template": "ftmo-1step"})),
    )
    .await;
    assert_eq!(status, 409, "an id is taken once");
    // A program with problems: every one named, with its phase.
    let mut bad = listed
        .templates
        .iter()
        .find(|t| t.id == "ftmo-2step")
        .expect("template")
        .program
        .clone();
    bad.phases.swap(0, 2);
    bad.phases[1].profit_split = Some(150.into());
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs",
        Some(&json!({"id": "bad-one", "program": bad})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for needle in [
        "phase 1 (Funded): a funded phase is the program's last",
        "phase 2 (Phase 2): only a funded phase has a profit split",
    ] {
        assert!(body.contains(needle), "{needle:?} not in {body}");
    }
    // Traders see no programs and make none.
    let (status, _) = send(&trader, &server, "/api/programs", None).await;
    assert_eq!(status, 403);
    let (status, _) = send(
        &trader,
        &server,
        "/api/programs",
        Some(&json!({"id": "mine", "template": "ftmo-2step"})),
    )
    .await;
    assert_eq!(status, 403);

    // A challenge on the program's second phase: its rules, name and phase.
    let (status, body) = send(
        &admin,
        &server,
        "/api/accounts",
        Some(&json!({
            "id": "jane-p2",
            "name": "Jane 2-Step",
            "connection": {"kind": "demo", "account": "demo-gold-swing"},
            "program": "two-step-100k",
            "phase": "phase 2",
            "initial_balance": "100000",
            "currency": "USD",
            "owner": "trader2",
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        &admin,
        &server,
        "/api/accounts",
        Some(&json!({
            "id": "nobody",
            "name": "Nobody",
            "connection": {"kind": "demo", "account": "demo-gold-swing"},
            "program": "two-step-100k",
            "phase": "Phase 9",
            "initial_balance": "100000",
            "currency": "USD",
        })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("has no phase \\\"Phase 9\\\"") && body.contains("Phase 1, Phase 2, Funded"),
        "{body}"
    );
    let live = eventually(
        LIVE_WITHIN,
        "the program's challenge to go live",
        || async {
            summary(&admin, &server, "jane-p2")
                .await
                .filter(|s| s.feed == FeedStatus::Live)
                .and_then(|s| s.latest?.challenge)
        },
    )
    .await
    .expect("live");
    assert_eq!(live.title.as_deref(), Some("FTMO 2-Step"));
    assert_eq!(live.phase.as_deref(), Some("Phase 2"));
    let link = live.program.clone().expect("program link");
    assert_eq!(
        (link.program.as_str(), link.version, link.phase_index),
        ("two-step-100k", 1, 1)
    );
    assert!(
        live.rules.iter().any(|r| r.id == "profit_target"),
        "{:?}",
        live.rules
    );
    let owner = server.login("trader2").await.expect("trader2");
    let seen = summary(&owner, &server, "jane-p2")
        .await
        .and_then(|s| s.latest?.challenge)
        .expect("the owner sees it");
    assert_eq!(seen.phase.as_deref(), Some("Phase 2"));

    let (status, body) = send(&admin, &server, "/api/programs/two-step-100k", None).await;
    assert_eq!(status, 200, "{body}");
    let detail: ProgramDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.summary.phases[1].challenges, 1);
    assert_eq!(detail.challenges.len(), 1);
    assert_eq!(detail.challenges[0].owner.as_deref(), Some("trader2"));
    let (status, _) = send(&admin, &server, "/api/programs/no-such", None).await;
    assert_eq!(status, 404);

    // A version without the challenge's phase cannot apply to it: refused, naming it, nothing
    // saved.
    let mut shorter = detail.program.clone();
    shorter.phases.truncate(1);
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs/two-step-100k/what-if",
        Some(&json!({"program": shorter})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let what_if: ProgramWhatIfResponse = serde_json::from_str(&body).expect("what-if");
    assert_eq!(what_if.invalid, 1, "{what_if:?}");
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs/two-step-100k/versions",
        Some(&json!({"program": shorter, "apply": {"to": "running"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("jane-p2") && body.contains("phase 2"),
        "{body}"
    );
    // For new challenges only, it is a version like any other.
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs/two-step-100k/versions",
        Some(&json!({"program": detail.program, "apply": {"to": "new_challenges"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let saved: ProgramSaved = serde_json::from_str(&body).expect("saved");
    assert_eq!((saved.version, saved.applied_to), (2, 0));

    // A higher phase 2 target: the what-if says what it does, then it reaches the challenge.
    let higher = with_target(&detail.program, 1, 7);
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs/two-step-100k/what-if",
        Some(&json!({"program": higher})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let what_if: ProgramWhatIfResponse = serde_json::from_str(&body).expect("what-if");
    assert_eq!(what_if.challenges.len(), 1, "{what_if:?}");
    let impact = what_if.challenges[0].impact;
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs/two-step-100k/versions",
        Some(&json!({"program": higher, "apply": {"to": "running"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let saved: ProgramSaved = serde_json::from_str(&body).expect("saved");
    assert_eq!(saved.version, 3);
    if impact == ProgramImpact::Change {
        assert_eq!(saved.applied_to, 1);
        assert!(
            what_if.challenges[0]
                .changes
                .iter()
                .any(|c| c.contains("profit_target") && c.contains("7%")),
            "{what_if:?}"
        );
        let moved = eventually(LIVE_WITHIN, "the challenge on version 3", || async {
            summary(&admin, &server, "jane-p2")
                .await
                .and_then(|s| s.latest?.challenge)
                .filter(|c| c.program.as_ref().is_some_and(|l| l.version == 3))
        })
        .await
        .expect("moved");
        let target = moved
            .rules
            .iter()
            .find(|r| r.id == "profit_target")
            .expect("target");
        assert!(format!("{target:?}").contains("7000"), "{target:?}");
    } else {
        // The demo's simulated trader may already have passed or failed: a decision stays.
        assert_eq!(impact, ProgramImpact::Decided, "{what_if:?}");
        assert_eq!(saved.applied_to, 0);
    }
    let audit = |action: &'static str| {
        let store = server.state.store.clone();
        async move {
            store
                .audit_log(&AuditFilter {
                    action: Some(action.into()),
                    ..AuditFilter::default()
                })
                .await
                .expect("audit")
        }
    };
    assert_eq!(audit("program.create").await.len(), 1);
    assert_eq!(audit("program.version").await.len(), 2);
    server.stop().await;

    // After a restart: the program, its versions, the challenge on its phase.
    let server = TestServer::start(config).await.expect("restarted");
    let admin = server.login("admin").await.expect("admin");
    let (status, body) = send(&admin, &server, "/api/programs/two-step-100k", None).await;
    assert_eq!(status, 200, "{body}");
    let detail: ProgramDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.versions.len(), 3);
    let again = eventually(LIVE_WITHIN, "the challenge after the restart", || async {
        summary(&admin, &server, "jane-p2")
            .await
            .and_then(|s| s.latest?.challenge)
    })
    .await
    .expect("tracked again");
    assert_eq!(again.phase.as_deref(), Some("Phase 2"));
    assert_eq!(
        again.program.map(|l| l.version),
        Some(if impact == ProgramImpact::Change {
            3
        } else {
            1
        })
    );
    server.stop().await;
}
