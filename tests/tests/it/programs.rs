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
const JANE_PASSWORD: &str = "a long trader password 1";

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
    // Only the program the demo seeds.
    assert_eq!(
        listed
            .programs
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["2-step-100k"]
    );
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
    // The admin's program, and the demo's.
    assert_eq!(audit("program.create").await.len(), 2);
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

/// A passing demo account (1 s script units) and a server with no configured accounts that can
/// store MetaApi tokens: accounts are created on programs through the API.
struct Lifecycle {
    demo_base: String,
    server: TestServer,
    admin: reqwest::Client,
    stop_demo: tokio_util::sync::CancellationToken,
    config: backend::config::Config,
    _dir: tempfile::TempDir,
}

async fn lifecycle_rig() -> Lifecycle {
    lifecycle_rig_on(None).await
}

/// The rig on a given database (a PostgreSQL URL), or a new SQLite file.
async fn lifecycle_rig_on(database_url: Option<&str>) -> Lifecycle {
    use chrono::{TimeDelta, Utc};
    let now = Utc::now();
    let demo = demo::DemoBroker::new(
        demo::DemoConfig {
            seed: 11,
            token: "t0ken".into(),
            step: Duration::from_millis(20),
            script_start: Some(now + TimeDelta::seconds(4)),
            script_unit: Duration::from_secs(1),
        },
        now - TimeDelta::minutes(30),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let demo_base = format!("http://{}", listener.local_addr().expect("address"));
    let stop_demo = tokio_util::sync::CancellationToken::new();
    let stop = stop_demo.clone();
    tokio::spawn(demo::serve(listener, demo, async move {
        stop.cancelled().await;
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.secret_key = Some(store::secrets::SecretKey::parse(&"5e".repeat(32)).expect("key"));
    if let Some(url) = database_url {
        url.clone_into(&mut config.database_url);
    }
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.login("admin").await.expect("admin");
    let (status, body) = send(
        &admin,
        &server,
        "/api/users",
        Some(&json!({"username": "jane", "password": JANE_PASSWORD, "role": "trader"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    Lifecycle {
        demo_base,
        server,
        admin,
        stop_demo,
        config,
        _dir: dir,
    }
}

impl Lifecycle {
    /// A program from the Apex template whose evaluation's target is 5% (2,500 on the passing
    /// account's 50,000: its +3,680 passes), promoted as `advance` says.
    async fn program(&self, id: &str, advance: Value) {
        let listed: ProgramsResponse = serde_json::from_str(
            &send(&self.admin, &self.server, "/api/programs", None)
                .await
                .1,
        )
        .expect("programs");
        let mut program = listed
            .templates
            .into_iter()
            .find(|t| t.id == "apex")
            .expect("apex")
            .program;
        program = with_target(&program, 0, 5);
        program.phases[0].advance = serde_json::from_value(advance).expect("advance");
        let (status, body) = send(
            &self.admin,
            &self.server,
            "/api/programs",
            Some(&json!({"id": id, "program": program})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn enroll(&self, account: &str, program: &str) {
        let (status, body) = send(
            &self.admin,
            &self.server,
            "/api/accounts",
            Some(&json!({
                "id": account,
                "name": format!("{account} (passing)"),
                "connection": {
                    "kind": "metaapi",
                    "account_id": "demo-passing",
                    "token": "t0ken",
                    "base_url": self.demo_base,
                },
                "program": program,
                "initial_balance": "50000",
                "currency": "USD",
                "owner": "jane",
                "transport": "rest",
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn challenge(&self, account: &str) -> Option<shared::api::ChallengeView> {
        summary(&self.admin, &self.server, account)
            .await
            .and_then(|s| s.latest?.challenge)
    }

    async fn promotions(&self) -> shared::api::PromotionsResponse {
        let (status, body) = send(&self.admin, &self.server, "/api/promotions", None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("promotions")
    }
}

#[tokio::test]
async fn the_demo_seeds_its_program_once_and_keeps_it_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    for start in ["first start", "restart"] {
        let server = TestServer::start(config.clone()).await.expect(start);
        let admin = server.login("admin").await.expect("admin");
        let (status, body) = send(&admin, &server, "/api/programs", None).await;
        assert_eq!(status, 200, "{body}");
        let listed: ProgramsResponse = serde_json::from_str(&body).expect("programs");
        let [program] = listed.programs.as_slice() else {
            panic!("one program after the {start}: {listed:?}");
        };
        assert_eq!(
            (program.id.as_str(), program.name.as_str(), program.version),
            ("2-step-100k", "2-Step 100k", 1),
            "{start}"
        );
        assert_eq!(program.template.as_deref(), Some("ftmo-2step"));
        assert_eq!(program.updated_by, "demo");
        assert_eq!(
            program
                .phases
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["Phase 1", "Phase 2", "Funded"]
        );
        let created = server
            .state
            .store
            .audit_log(&AuditFilter {
                action: Some("program.create".into()),
                ..AuditFilter::default()
            })
            .await
            .expect("audit");
        assert_eq!(created.len(), 1, "{start}: {created:?}");
        assert_eq!(created[0].entry.actor, "demo");
        assert_eq!(created[0].entry.subject, "program:2-step-100k");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_passed_phase_moves_on_once_automatically_or_on_approval_and_survives_a_restart() {
    use shared::api::PromotionState;
    use shared::engine::ChallengeStatus;
    let rig = lifecycle_rig().await;
    rig.program("apex-auto", json!({})).await;
    rig.program("apex-approved", json!({"promotion": "approval"}))
        .await;
    rig.program("apex-new", json!({"account": "new"})).await;
    rig.enroll("auto-1", "apex-auto").await;
    rig.enroll("approved-1", "apex-approved").await;
    rig.enroll("new-1", "apex-new").await;
    let within = Duration::from_secs(90);

    // Automatic, same account: the funded phase starts from the balance at the pass.
    let funded = eventually(within, "the funded phase on auto-1", || async {
        rig.challenge("auto-1")
            .await
            .filter(|c| c.program.as_ref().is_some_and(|l| l.phase_index == 1))
    })
    .await
    .expect("promoted");
    assert_eq!(funded.phase.as_deref(), Some("Funded"));
    assert_eq!(funded.status, ChallengeStatus::Active);
    let link = funded.program.clone().expect("link");
    assert!(
        link.funded && link.profit_split == Some(90.into()),
        "{link:?}"
    );
    let metrics = funded.metrics.clone().expect("metrics");
    assert_eq!(
        metrics.starting_capital,
        53_680.into(),
        "from the balance at the pass"
    );
    let events: shared::api::EventsResponse = serde_json::from_str(
        &send(&rig.admin, &rig.server, "/api/accounts/auto-1/events", None)
            .await
            .1,
    )
    .expect("events");
    assert_eq!(
        events
            .events
            .iter()
            .filter(|e| e.kind == "promoted")
            .count(),
        1,
        "{events:?}"
    );
    assert!(
        events.events.iter().any(|e| e.kind == "passed"),
        "the pass is kept"
    );

    // On approval: it waits; a trader cannot approve; the admin approves; it moves on.
    let waiting =
        eventually(
            within,
            "approved-1's promotion awaiting approval",
            || async {
                rig.promotions().await.promotions.into_iter().find(|p| {
                    p.account == "approved-1" && p.state == PromotionState::AwaitingApproval
                })
            },
        )
        .await
        .expect("awaiting");
    assert_eq!(
        (waiting.from_phase.as_str(), waiting.to_phase.as_str()),
        ("Evaluation", "Funded")
    );
    assert_eq!(waiting.owner.as_deref(), Some("jane"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rig.challenge("approved-1")
            .await
            .and_then(|c| c.program)
            .map(|l| l.phase_index),
        Some(0),
        "nothing moves before the approval"
    );
    let jane = rig
        .server
        .login_with_password("jane", JANE_PASSWORD)
        .await
        .expect("jane")
        .client;
    let decide = "/api/accounts/approved-1/promotion";
    let (status, _) = send(
        &jane,
        &rig.server,
        decide,
        Some(&json!({"action": "approve"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = send(
        &rig.admin,
        &rig.server,
        decide,
        Some(&json!({"action": "reject"})),
    )
    .await;
    assert_eq!(status, 422, "a rejection needs a reason: {body}");
    let (status, body) = send(
        &rig.admin,
        &rig.server,
        decide,
        Some(&json!({"action": "approve"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(
        &rig.admin,
        &rig.server,
        decide,
        Some(&json!({"action": "approve"})),
    )
    .await;
    assert_eq!(status, 409, "decided once");
    eventually(within, "the funded phase on approved-1", || async {
        rig.challenge("approved-1")
            .await
            .filter(|c| c.phase.as_deref() == Some("Funded"))
    })
    .await
    .expect("promoted after the approval");
    let done: Vec<_> = rig
        .promotions()
        .await
        .promotions
        .into_iter()
        .map(|p| (p.account, p.state, p.decided_by))
        .collect();
    assert!(
        done.contains(&(
            "approved-1".into(),
            PromotionState::Done,
            Some("admin".into())
        )),
        "{done:?}"
    );
    assert!(
        done.iter()
            .any(|(a, s, _)| a == "auto-1" && *s == PromotionState::Done),
        "{done:?}"
    );
    // On a new account: it waits for the admin to connect one, then the next phase is there.
    eventually(within, "new-1's promotion awaiting an account", || async {
        rig.promotions()
            .await
            .promotions
            .into_iter()
            .find(|p| p.account == "new-1" && p.state == PromotionState::AwaitingAccount)
    })
    .await
    .expect("awaiting an account");
    let connect = json!({
        "action": "connect",
        "account": {
            "id": "new-1-funded",
            "name": "Jane funded",
            "connection": {
                "kind": "metaapi",
                "account_id": "demo-gold-swing",
                "token": "t0ken",
                "base_url": rig.demo_base,
            },
            "initial_balance": "50000",
            "currency": "USD",
            "transport": "rest",
        },
    });
    let (status, body) = send(
        &rig.admin,
        &rig.server,
        "/api/accounts/new-1/promotion",
        Some(&connect),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let connected: shared::api::PromotionView = serde_json::from_str(&body).expect("view");
    assert_eq!(connected.state, PromotionState::Done);
    assert_eq!(connected.next_account.as_deref(), Some("new-1-funded"));
    let next = eventually(within, "the funded phase on the new account", || async {
        rig.challenge("new-1-funded").await
    })
    .await
    .expect("tracked");
    assert_eq!(next.phase.as_deref(), Some("Funded"));
    let enrolled = rig
        .server
        .state
        .store
        .enrollment(&"new-1-funded".into())
        .await
        .expect("read")
        .expect("enrolled");
    assert_eq!(enrolled.journey, "new-1", "one journey across the accounts");
    let jane = rig
        .server
        .login_with_password("jane", JANE_PASSWORD)
        .await
        .expect("jane")
        .client;
    assert_eq!(
        summary(&jane, &rig.server, "new-1-funded")
            .await
            .map(|s| s.name),
        Some("Jane funded".to_owned()),
        "the trader owns the next account"
    );
    let journey = rig
        .server
        .state
        .store
        .phase_records("auto-1")
        .await
        .expect("phases");
    assert_eq!(journey.len(), 1);
    assert_eq!(journey[0].status, "passed");

    // After a restart: still funded, promoted once.
    let Lifecycle {
        server,
        config,
        stop_demo,
        _dir,
        ..
    } = rig;
    let password = server.password("admin").expect("password");
    server.stop().await;
    let server = TestServer::start(config).await.expect("restarted");
    let admin = server
        .login_with_password("admin", &password)
        .await
        .expect("admin")
        .client;
    let again = eventually(within, "auto-1 after the restart", || async {
        summary(&admin, &server, "auto-1")
            .await
            .and_then(|s| s.latest?.challenge)
    })
    .await
    .expect("tracked again");
    assert_eq!(again.phase.as_deref(), Some("Funded"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let promotions = server.state.store.promotions(10).await.expect("promotions");
    assert_eq!(
        promotions.len(),
        3,
        "one promotion per pass: {promotions:?}"
    );
    assert_eq!(
        server
            .state
            .store
            .phase_records("auto-1")
            .await
            .expect("phases")
            .len(),
        1
    );
    server.stop().await;
    stop_demo.cancel();
}

#[tokio::test]
async fn two_instances_on_one_database_promote_a_pass_once() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        eprintln!("skipped: TEST_POSTGRES_URL is not set");
        return;
    };
    let rig = lifecycle_rig_on(Some(fresh.url())).await;
    rig.program("apex-auto", json!({})).await;
    rig.enroll("auto-1", "apex-auto").await;
    // A second instance on the same database: it tracks the stored account too, when it holds
    // its lease (and takes it over when the first stops).
    let other = TestServer::start(rig.config.clone())
        .await
        .expect("second instance");
    let within = Duration::from_secs(90);
    let store = other.state.store.clone();
    eventually(within, "the funded phase", || async {
        store
            .enrollment(&"auto-1".into())
            .await
            .ok()
            .flatten()
            .filter(|e| e.phase == 1)
    })
    .await
    .expect("promoted");
    // The first instance stops: the second holds the account from now on.
    let password = rig.server.password("admin").expect("password");
    let Lifecycle {
        server, stop_demo, ..
    } = rig;
    server.stop().await;
    let admin = other
        .login_with_password("admin", &password)
        .await
        .expect("admin")
        .client;
    let funded = eventually(within, "auto-1 on the second instance", || async {
        summary(&admin, &other, "auto-1")
            .await
            .and_then(|s| s.latest?.challenge)
            .filter(|c| c.phase.as_deref() == Some("Funded"))
    })
    .await
    .expect("funded on the second instance");
    assert_eq!(funded.status, shared::engine::ChallengeStatus::Active);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(store.promotions(10).await.expect("promotions").len(), 1);
    assert_eq!(
        store.phase_records("auto-1").await.expect("phases").len(),
        1
    );
    let events = store
        .challenge_events(&"auto-1".into())
        .await
        .expect("events");
    assert_eq!(
        events.iter().filter(|e| e.kind == "promoted").count(),
        1,
        "one promoted event"
    );
    other.stop().await;
    stop_demo.cancel();
}

#[tokio::test]
async fn an_admin_approves_a_promotion_in_the_browser() {
    use shared::api::PromotionState;
    tests::require_bundle();
    let rig = lifecycle_rig().await;
    rig.program("apex-approved", json!({"promotion": "approval"}))
        .await;
    rig.enroll("approved-1", "apex-approved").await;
    let browser = tests::Browser::start(1280, 1000).await.expect("browser");
    browser
        .client
        .goto(&rig.server.url("/admin/programs"))
        .await
        .expect("open the console");
    let password = rig.server.password("admin").expect("password");
    browser.sign_in("admin", &password).await;
    browser
        .wait_for_text("[data-testid=current-user]", "admin")
        .await;
    // The pass shows up (the list refreshes itself) awaiting approval; approved, it is done.
    let row = "[data-testid=promotion-row][data-account=approved-1]";
    browser
        .wait_for(&format!("{row}[data-state=awaiting_approval]"))
        .await;
    browser
        .click(&format!("{row} [data-testid=promotion-approve]"))
        .await;
    eventually(Duration::from_secs(60), "the promotion done", || async {
        rig.promotions()
            .await
            .promotions
            .into_iter()
            .find(|p| p.account == "approved-1" && p.state == PromotionState::Done)
    })
    .await
    .expect("done");
    browser.wait_for(&format!("{row}[data-state=done]")).await;
    let decided = rig
        .promotions()
        .await
        .promotions
        .into_iter()
        .find(|p| p.account == "approved-1")
        .expect("promotion");
    assert_eq!(decided.decided_by.as_deref(), Some("admin"));
    browser.close().await;
    rig.server.stop().await;
    rig.stop_demo.cancel();
}
