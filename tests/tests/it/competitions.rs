//! Competitions over real HTTP (issue 25): a competition refused with every problem named,
//! edited before its start and not after; entrants refused with each account named and nothing
//! written; a competition of two traders' scripted demo accounts starting seconds after it was
//! made, its leaderboard streamed live (ranked, display names, no one else's account ids, the
//! trader's own row marked and pinned), hidden from a trader not in it; the public link (off:
//! 404; on: no account ids or usernames; 429 when hammered); and the end: final standings
//! frozen with the scripted daily-loss breach's disqualification and its evidence, kept after a
//! restart, with the start, the disqualification and the final standings notified once.

use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};
use demo::{DemoBroker, DemoConfig, serve};
use serde_json::{Value, json};
use shared::competitions::{
    CompetitionDetail, CompetitionsResponse, EntrantStatus, EntriesResponse, LeaderboardPage,
};
use shared::engine::edit::RuleSet;
use shared::engine::rules::RuleKind;
use std::path::Path;
use std::time::Duration;
use tests::{SseReader, TestServer, demo_config, eventually};
use tokio_util::sync::CancellationToken;

const BREACH: &str = "demo-daily-breach";
const PASSING: &str = "demo-passing";
const OUTSIDER: &str = "demo-deposit";
const ON_A_PROGRAM: &str = "demo-no-stop";
/// Generous: the machine may be loaded.
const WAIT: Duration = Duration::from_secs(60);

/// The demo world with the scripts starting at `script_start` (units of a second) and a server
/// tracking four of its accounts: jane owns the daily breach, bob the passing one, carol one
/// that is in no competition of jane's and bob's; the fourth has no owner.
async fn demo_world(
    script_start: chrono::DateTime<Utc>,
) -> (DemoBroker, String, CancellationToken) {
    let now = Utc::now();
    let demo = DemoBroker::new(
        DemoConfig {
            seed: 11,
            token: "t0ken".into(),
            step: Duration::from_millis(100),
            script_start: Some(script_start),
            script_unit: Duration::from_secs(1),
        },
        now - TimeDelta::minutes(5),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(serve(listener, demo.clone(), async move {
        stopped.cancelled().await;
    }));
    (demo, base, stop)
}

fn config(dir: &Path, demo: &DemoBroker, base: &str) -> backend::config::Config {
    let mut config = demo_config(&dir.join("r.db"));
    config.demo = false;
    config.accounts =
        backend::config::AccountConfig::demo_accounts(demo, base, shared::api::Transport::Rest)
            .into_iter()
            .filter_map(|mut account| {
                account.trader = match account.id.as_str() {
                    BREACH => Some("jane".to_owned()),
                    PASSING => Some("bob".to_owned()),
                    OUTSIDER => Some("carol".to_owned()),
                    ON_A_PROGRAM => None,
                    _ => return None,
                };
                Some(account)
            })
            .collect();
    config
}

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

/// FTMO's 2-step rules without the profit target, as the rule editor writes them.
fn rules() -> Value {
    let config = shared::engine::presets::preset("ftmo-2step", 100_000.into()).expect("preset");
    let set = RuleSet {
        clock: config.clock,
        rules: config
            .rules
            .into_iter()
            .filter(|r| !matches!(r.kind, RuleKind::ProfitTarget { .. }))
            .collect(),
        estimated_equity_breaches: config.estimated_equity_breaches,
        interest_dividend_tax: config.interest_dividend_tax,
    };
    serde_json::to_value(set.draft()).expect("draft")
}

fn local(at: chrono::DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

fn competition(name: &str, start: NaiveDateTime, end: NaiveDateTime, public: bool) -> Value {
    json!({
        "name": name,
        "time_zone": "UTC",
        "start": start,
        "end": end,
        "rules": rules(),
        "public": public,
    })
}

async fn page(client: &reqwest::Client, server: &TestServer, query: &str) -> (u16, String) {
    send(
        client,
        server,
        &format!("/api/competitions/spring-cup/leaderboard{query}"),
        None,
    )
    .await
}

#[tokio::test]
async fn a_competition_runs_live_from_its_start_to_its_frozen_final_standings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script_start = Utc::now() + TimeDelta::seconds(8);
    let (demo, base, stop_broker) = demo_world(script_start).await;
    let config = config(dir.path(), &demo, &base);
    let server = TestServer::start(config.clone()).await.expect("server");
    let admin = server.session_for("admin").await.expect("admin").client;
    let jane = server.session_for("jane").await.expect("jane").client;
    let bob = server.session_for("bob").await.expect("bob").client;
    let carol = server.session_for("carol").await.expect("carol").client;

    // Every problem named.
    let later = local(Utc::now() + TimeDelta::days(30));
    let mut bad = competition("Bad", later, later + TimeDelta::days(1), false);
    bad["time_zone"] = json!("Mars/Olympus");
    let target = shared::engine::presets::preset("ftmo-2step", 100_000.into())
        .expect("preset")
        .rules
        .into_iter()
        .find(|r| matches!(r.kind, RuleKind::ProfitTarget { .. }))
        .expect("a target");
    bad["rules"]["rules"]
        .as_array_mut()
        .expect("rules")
        .push(serde_json::to_value(target).expect("rule"));
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "bad-one", "competition": bad})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for needle in [
        "time_zone: unknown time zone \\\"Mars/Olympus\\\"",
        "is a profit target: a competition ranks by return and has no target",
    ] {
        assert!(body.contains(needle), "{needle:?} not in {body}");
    }
    let gap: NaiveDateTime = "2099-03-29T01:30:00".parse().expect("gap");
    let mut in_the_gap = competition("Gap", gap, gap + TimeDelta::days(3), false);
    in_the_gap["time_zone"] = json!("Europe/London");
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "gap-one", "competition": in_the_gap})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("start: 2099-03-29 01:30:00 does not exist in Europe/London"),
        "{body}"
    );
    let backwards = competition("Backwards", later, later - TimeDelta::days(1), false);
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "backwards", "competition": backwards})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("end: the competition must end after it starts"),
        "{body}"
    );
    let (status, _) = send(
        &jane,
        &server,
        "/api/competitions",
        Some(&json!({"id": "mine", "competition": backwards})),
    )
    .await;
    assert_eq!(status, 403, "traders make no competitions");

    // The competition: from a few seconds from now until after the scripted breach.
    let start = (Utc::now() + TimeDelta::seconds(3))
        .duration_round(TimeDelta::seconds(1))
        .expect("round");
    let breach_at = script_start + TimeDelta::seconds(5);
    assert!(
        start + TimeDelta::seconds(1) < breach_at,
        "the machine is too slow for this test's timeline"
    );
    let end = script_start + TimeDelta::seconds(9);
    let cup = competition("Spring cup", local(start), local(end), false);
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "spring-cup", "competition": cup})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "spring-cup", "competition": cup})),
    )
    .await;
    assert_eq!(status, 409, "an id is taken once");
    // Another competition at the same time, with carol's account in it.
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "rival-cup", "competition": competition("Rival", local(start), local(end), false)})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/rival-cup/entries",
        Some(&json!({"add": [OUTSIDER]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Public link off: no page.
    let anonymous = reqwest::Client::new();
    let (status, _) = send(
        &anonymous,
        &server,
        "/api/public/competitions/aaaaaaaaaaaaaaaa/leaderboard",
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Edited before the start: renamed, public link on.
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup",
        Some(
            &json!({"competition": competition("Spring Cup 2027", local(start), local(end), true)}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let detail: CompetitionDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.summary.name, "Spring Cup 2027");
    let public_path = detail.summary.public_path.clone().expect("a public link");
    let slug = public_path.strip_prefix("/c/").expect("/c/slug").to_owned();
    assert_eq!(slug.len(), 16);

    // Entrants refused, each named, nothing written.
    let (status, body) = send(
        &admin,
        &server,
        "/api/programs",
        Some(&json!({"id": "two-step", "template": "ftmo-2step"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    server
        .state
        .store
        .enroll(&store::Enrollment {
            account: ON_A_PROGRAM.into(),
            program: "two-step".into(),
            version: 1,
            phase: 0,
            journey: ON_A_PROGRAM.into(),
            enrolled_at: Utc::now(),
        })
        .await
        .expect("enroll");
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup/entries",
        Some(&json!({"add": [BREACH, "no-such-account", OUTSIDER, ON_A_PROGRAM]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    for needle in [
        "no-such-account: there is no such account",
        "demo-deposit is in competition \\\"rival-cup\\\", whose window overlaps",
        "demo-no-stop is on program two-step",
    ] {
        assert!(body.contains(needle), "{needle:?} not in {body}");
    }
    assert!(!body.contains(BREACH), "{body}");
    let (_, body) = send(&admin, &server, "/api/competitions/spring-cup", None).await;
    let detail: CompetitionDetail = serde_json::from_str(&body).expect("detail");
    assert!(detail.entries.is_empty(), "nothing written");
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup/entries",
        Some(&json!({"add": [BREACH, PASSING]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entries: EntriesResponse = serde_json::from_str(&body).expect("entries");
    assert_eq!(
        entries
            .entries
            .iter()
            .map(|e| (e.entry, e.account.as_str()))
            .collect::<Vec<_>>(),
        [(1, BREACH), (2, PASSING)]
    );

    // Bob chooses a display name; jane does not.
    let (status, body) = send(
        &bob,
        &server,
        "/api/me/profile",
        Some(&json!({"display_name": "  Bobby   Tables "})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Bobby Tables\""), "{body}");
    let (status, body) = send(
        &jane,
        &server,
        "/api/me/profile",
        Some(&json!({"display_name": "<b>"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("display_name"), "{body}");

    // Carol has no entrant: the competition does not exist for her.
    for path in [
        "/api/competitions/spring-cup",
        "/api/competitions/spring-cup/leaderboard",
    ] {
        let (status, _) = send(&carol, &server, path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, body) = send(&carol, &server, "/api/competitions", None).await;
    let listed: CompetitionsResponse = serde_json::from_str(&body).expect("list");
    assert_eq!(
        listed
            .competitions
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["rival-cup"]
    );
    assert!(listed.competitions[0].public_path.is_none());

    // Jane's live leaderboard, one row a page: the second page, her own row pinned when off it.
    let mut stream = SseReader::open(
        &jane,
        &server.url("/api/competitions/spring-cup/leaderboard/stream?page=2&per_page=1"),
    )
    .await
    .expect("stream");
    let (_, data) = stream.next(WAIT).await.expect("the page at once");
    let first: LeaderboardPage = serde_json::from_str(&data).expect("page");
    assert_eq!((first.page, first.per_page, first.entrants), (2, 1, 2));

    // After the start: fixed.
    tokio::time::sleep(
        (start - Utc::now())
            .to_std()
            .unwrap_or_default()
            .saturating_add(Duration::from_millis(300)),
    )
    .await;
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup",
        Some(&json!({"competition": cup})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("started at"), "{body}");
    let (status, _) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup/entries",
        Some(&json!({"remove": [PASSING]})),
    )
    .await;
    assert_eq!(status, 409);

    // The stream ranks them live: jane disqualified on the daily loss, last, and pinned.
    let deadline = tokio::time::Instant::now() + WAIT;
    let disqualified = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jane is not disqualified on the stream"
        );
        let (_, data) = stream.next(WAIT).await.expect("a page");
        let page: LeaderboardPage = serde_json::from_str(&data).expect("page");
        let own = page.rows.iter().chain(&page.pinned).find(|r| r.mine);
        if own.is_some_and(|r| matches!(r.status, EntrantStatus::Disqualified { .. })) {
            break page;
        }
    };
    assert_eq!(disqualified.rows.len(), 1);
    let own = &disqualified.rows[0];
    assert_eq!((own.rank, own.entry), (2, 1));
    assert!(own.mine && own.account.as_ref().is_some_and(|a| a.as_str() == BREACH));
    assert_eq!(own.display_name, "Entrant 1");
    let EntrantStatus::Disqualified { why } = &own.status else {
        panic!("disqualified");
    };
    assert_eq!(why.rule, "daily_loss");
    // Page 1: bob's row without his account; jane's own row pinned above it.
    let (status, body) = page(&jane, &server, "?page=1&per_page=1").await;
    assert_eq!(status, 200, "{body}");
    let first_page: LeaderboardPage = serde_json::from_str(&body).expect("page");
    assert_eq!(first_page.rows[0].display_name, "Bobby Tables");
    assert_eq!(first_page.rows[0].rank, 1);
    assert!(!first_page.rows[0].mine && first_page.rows[0].account.is_none());
    assert_eq!(first_page.pinned.len(), 1);
    assert!(first_page.pinned[0].mine);
    for secret in [PASSING, "bob"] {
        assert!(
            !body.contains(&format!("\"{secret}\"")),
            "{secret} in {body}"
        );
    }
    let (_, body) = page(&bob, &server, "?q=entrant").await;
    let searched: LeaderboardPage = serde_json::from_str(&body).expect("page");
    assert_eq!((searched.matching, searched.entrants), (1, 2));
    assert!(!body.contains(BREACH), "{body}");

    // The public page: names and numbers only, cached and rate-limited.
    let url = server.url(&format!("/api/public/competitions/{slug}/leaderboard"));
    let response = anonymous.get(&url).send().await.expect("public");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=1")
    );
    let body = response.text().await.expect("body");
    let public: LeaderboardPage = serde_json::from_str(&body).expect("page");
    assert_eq!(public.entrants, 2);
    for secret in [
        BREACH,
        PASSING,
        "jane",
        "\"bob\"",
        "\"account\"",
        "\"mine\"",
    ] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    let mut limited = None;
    for _ in 0..200 {
        let response = anonymous.get(&url).send().await.expect("public");
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("hammering is refused");
    assert!(limited.headers().contains_key("retry-after"));
    // The link may be turned off (a change of `public` alone) while it runs.
    let (status, body) = send(
        &admin,
        &server,
        "/api/competitions/spring-cup",
        Some(&json!({
            "competition": competition("Spring Cup 2027", local(start), local(end), false)
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // (After a moment: the address's allowance refills.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = send(
        &anonymous,
        &server,
        &format!("/api/public/competitions/{slug}/leaderboard"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The end: the final standings, frozen, with the disqualification's evidence.
    let last = eventually(WAIT, "the final standings", || async {
        let (_, body) = page(&admin, &server, "").await;
        let page: LeaderboardPage = serde_json::from_str(&body).ok()?;
        page.is_final.then_some(page)
    })
    .await
    .expect("final");
    assert_eq!(
        last.rows
            .iter()
            .map(|r| (r.rank, r.account.as_ref().map(|a| a.to_string())))
            .collect::<Vec<_>>(),
        [(1, Some(PASSING.to_owned())), (2, Some(BREACH.to_owned()))]
    );
    assert!(
        last.rows[0].return_percent > rust_decimal::Decimal::ZERO,
        "{last:?}"
    );
    let (_, body) = send(&admin, &server, "/api/competitions/spring-cup", None).await;
    let detail: CompetitionDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.disqualifications.len(), 1, "{body}");
    let record = &detail.disqualifications[0];
    assert_eq!((record.entry, record.why.rule.as_str()), (1, "daily_loss"));
    assert!(record.why.at >= start && record.why.at < end, "{record:?}");
    assert!(record.evidence.contains("measured"), "{}", record.evidence);
    let (_, body) = send(&jane, &server, "/api/competitions/spring-cup", None).await;
    let seen_by_jane: CompetitionDetail = serde_json::from_str(&body).expect("detail");
    assert!(seen_by_jane.entries.is_empty() && seen_by_jane.disqualifications.is_empty());

    // Each owner heard of the start, jane of her disqualification, both of the final standings.
    let kinds = |account: &'static str| {
        let store = server.state.store.clone();
        async move {
            store
                .challenge_events(&account.into())
                .await
                .expect("events")
                .into_iter()
                .filter(|e| e.kind.starts_with("competition_"))
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        kinds(BREACH).await,
        [
            "competition_started",
            "competition_disqualified",
            "competition_final"
        ]
    );
    assert_eq!(
        kinds(PASSING).await,
        ["competition_started", "competition_final"]
    );

    // After a restart: the same final standings, nothing notified again.
    drop(stream);
    server.stop().await;
    let server = TestServer::start(config).await.expect("server again");
    let admin = server.session_for("admin").await.expect("admin").client;
    let (status, body) = page(&admin, &server, "").await;
    assert_eq!(status, 200, "{body}");
    let again: LeaderboardPage = serde_json::from_str(&body).expect("page");
    assert!(again.is_final);
    assert_eq!(again.rows, last.rows);
    let (_, body) = send(&admin, &server, "/api/competitions/spring-cup", None).await;
    let detail: CompetitionDetail = serde_json::from_str(&body).expect("detail");
    assert_eq!(detail.disqualifications.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = server
        .state
        .store
        .challenge_events(&BREACH.into())
        .await
        .expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind.starts_with("competition_"))
            .count(),
        3
    );
    // A failed challenge enters no competition.
    let next = local(Utc::now() + TimeDelta::days(40));
    let (status, _) = send(
        &admin,
        &server,
        "/api/competitions",
        Some(&json!({"id": "autumn-cup", "competition": competition("Autumn", next, next + TimeDelta::days(2), false)})),
    )
    .await;
    assert_eq!(status, 201);
    let body = eventually(WAIT, "the failed challenge refused", || async {
        let (status, body) = send(
            &admin,
            &server,
            "/api/competitions/autumn-cup/entries",
            Some(&json!({"add": [BREACH]})),
        )
        .await;
        (status == 422).then_some(body)
    })
    .await
    .expect("refused");
    assert!(body.contains("its challenge has failed"), "{body}");
    server.stop().await;
    stop_broker.cancel();
}
