//! The authorization matrix, generated from the server's route table: every route, called by
//! no one, by trader A, by trader B and by an admin, is allowed or denied exactly as its access
//! level says. A route added to the table is in the matrix without anyone writing a line here.

use backend::routes::{Access, Route, routes};
use shared::api::{ErrorBody, Role};
use tests::{TestServer, demo_config};

/// Trader A (`trader`) owns this demo account; trader B (`trader2`) does not.
const A_ACCOUNT: &str = "demo-eurusd-scalper";
/// An account no one owns, stored but not tracked.
const SPARE_ACCOUNT: &str = "spare-account";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persona {
    Anonymous,
    TraderA,
    TraderB,
    Admin,
}

impl Persona {
    fn username(self) -> Option<&'static str> {
        match self {
            Self::Anonymous => None,
            Self::TraderA => Some("trader"),
            Self::TraderB => Some("trader2"),
            Self::Admin => Some("admin"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Allow,
    /// Sign in first.
    Unauthorized,
    /// Signed in, but not allowed.
    Forbidden,
    /// The account does not exist as far as this caller may know.
    NotFound,
}

fn expected(access: Access, persona: Persona) -> Outcome {
    use Outcome::{Allow, Forbidden, NotFound, Unauthorized};
    match (access, persona) {
        (Access::Public, _) => Allow,
        // Only the account's ingest token opens it, never a session (tests/tests/ingest.rs).
        (Access::IngestToken, _) => Unauthorized,
        // Only an API token opens MetaApi's risk management API, never a session
        // (tests/tests/it/risk_api.rs).
        (Access::ApiToken, _) => Unauthorized,
        (_, Persona::Anonymous) => Unauthorized,
        (Access::Authenticated, _) => Allow,
        (Access::Owner, Persona::TraderA | Persona::Admin) => Allow,
        (Access::Owner, Persona::TraderB) => NotFound,
        (Access::Admin, Persona::Admin) => Allow,
        (Access::Admin, Persona::TraderA | Persona::TraderB) => Forbidden,
    }
}

async fn call(server: &TestServer, route: &Route, path: &str, persona: Persona) -> (u16, String) {
    // A fresh session for every call: a route that ends sessions (signing out) cannot disturb
    // the next row.
    let client = match persona.username() {
        None => reqwest::Client::new(),
        Some(username) => {
            server
                .session_for(username)
                .await
                .expect("a session")
                .client
        }
    };
    let mut request = client.request(route.verb.method(), server.url(path));
    if route.verb.changes_state() {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    // An open stream never ends: its status is all there is to see.
    let body = if status == 200 && (path.starts_with("/api/stream") || path.ends_with("/stream")) {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    (status, body)
}

#[tokio::test]
async fn every_route_allows_and_denies_as_its_access_level_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    // Routes about a user act on a spare trader, so the matrix changes no one it signs in as.
    let spare = server
        .state
        .store
        .create_user("spare", "not-a-hash", Role::Trader)
        .await
        .expect("create")
        .expect("a new user");
    // Admin routes about an account act on a spare one, so the matrix changes no account
    // whose owner it signs in as.
    server
        .state
        .store
        .upsert_account(&SPARE_ACCOUNT.into(), "Spare", None)
        .await
        .expect("spare account");
    // Routes about an API token act on a spare one.
    server
        .state
        .store
        .create_api_token(
            &store::ApiToken {
                id: "spare-token".into(),
                name: "spare".into(),
                accounts: vec![A_ACCOUNT.into()],
                created_by: "admin".into(),
                created_at: chrono::Utc::now(),
                last_used_at: None,
                revoked_at: None,
            },
            "spare-token-hash",
        )
        .await
        .expect("spare token");
    // Routes about a program act on a spare one.
    server
        .state
        .store
        .create_program(
            "spare-program",
            None,
            &store::ProgramVersion {
                version: 1,
                definition_json: serde_json::to_string(
                    &shared::programs::template("ftmo-2step")
                        .expect("template")
                        .program,
                )
                .expect("json"),
                apply_json: r#"{"to":"new_challenges"}"#.into(),
                applied_to: 0,
                created_by: "admin".into(),
                created_at: chrono::Utc::now(),
            },
        )
        .await
        .expect("spare program");
    // Routes about an import read a spare one (one account on the demo broker).
    let spare_import: shared::api::ImportJob = server
        .session_for("admin")
        .await
        .expect("admin")
        .client
        .post(server.url("/api/imports"))
        .header("content-type", "text/csv")
        .body(
            "id,name,connection,account,preset,initial_balance,currency\n\
             spare-import,Spare,demo,demo-gold-swing,ftmo-2step,100000,USD\n",
        )
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("spare import");
    // Routes about a competition read a spare one (next year, so it never starts here) with an
    // entrant of each trader, its public link on.
    let spare_cup = serde_json::json!({
        "name": "Spare cup", "time_zone": "UTC",
        "start": "2099-01-01T00:00:00", "end": "2099-02-01T00:00:00",
        "rules": {"time_zone": "UTC", "reset_time": "00:00", "rules": []},
    });
    let now = chrono::Utc::now();
    let store = server.state.store.as_ref();
    store
        .create_competition(&store::StoredCompetition {
            id: "spare-cup".into(),
            definition_json: spare_cup.to_string(),
            start: "2099-01-01T00:00:00Z".parse().expect("start"),
            end: "2099-02-01T00:00:00Z".parse().expect("end"),
            public_slug: Some("sparepublicslug1".into()),
            started: false,
            final_json: None,
            final_at: None,
            created_by: "admin".into(),
            created_at: now,
            updated_by: "admin".into(),
            updated_at: now,
        })
        .await
        .expect("spare competition");
    store
        .change_entries(
            "spare-cup",
            &[A_ACCOUNT.into(), "demo-index-breakout".into()],
            &[],
            now,
        )
        .await
        .expect("entrants");
    server
        .state
        .competitions
        .reload("spare-cup")
        .await
        .expect("board");
    let (_, missing_account) = call(
        &server,
        &Route {
            verb: backend::routes::Verb::Get,
            path: "/api/accounts/{account}",
            access: Access::Owner,
        },
        "/api/accounts/no-such-account",
        Persona::Admin,
    )
    .await;
    let missing_account: ErrorBody = serde_json::from_str(&missing_account).expect("error body");

    let table = routes();
    assert!(table.len() >= 19, "{table:?}");
    let mut failures = Vec::new();
    let mut checked = 0;
    for route in &table {
        let account = if route.access == Access::Admin {
            SPARE_ACCOUNT
        } else {
            A_ACCOUNT
        };
        let path = route
            .path
            .replace("{account}", account)
            .replace("{user}", &spare.id.to_string())
            .replace("{token}", "spare-token")
            .replace("{program}", "spare-program")
            .replace("{import}", &spare_import.id)
            .replace("{competition}", "spare-cup")
            .replace("{slug}", "sparepublicslug1")
            .replace("{tracker}", "no-such-tracker")
            .replace("{*name}", "no/such/name");
        assert!(
            !path.contains('{'),
            "the matrix does not know how to fill in {}: teach it",
            route.path
        );
        for persona in [
            Persona::Anonymous,
            Persona::TraderA,
            Persona::TraderB,
            Persona::Admin,
        ] {
            let want = expected(route.access, persona);
            let (status, body) = call(&server, route, &path, persona).await;
            let error = serde_json::from_str::<ErrorBody>(&body).ok();
            let ok = match want {
                Outcome::Allow => !matches!(status, 401 | 403 | 404) && status < 500,
                // MetaApi's API answers in MetaApi's words.
                Outcome::Unauthorized if route.access == Access::ApiToken => {
                    status == 401 && error.is_some_and(|e| e.error == "UnauthorizedError")
                }
                Outcome::Unauthorized => {
                    status == 401 && error.is_some_and(|e| e.error == "unauthorized")
                }
                Outcome::Forbidden => {
                    status == 403 && error.is_some_and(|e| e.error == "forbidden")
                }
                // Exactly what an account that does not exist gets: nothing leaks.
                Outcome::NotFound => status == 404 && error.as_ref() == Some(&missing_account),
            };
            checked += 1;
            if !ok {
                failures.push(format!(
                    "{:?} {} as {persona:?}: expected {want:?}, got {status} {body}",
                    route.verb, route.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, table.len() * 4);
    server.stop().await;
}

/// The accounts of the first event of a stream (its snapshot), or the refusal's status.
async fn stream_start(
    server: &TestServer,
    persona: Persona,
    query: &str,
) -> Result<(tests::SseReader, Vec<String>), u16> {
    let client = match persona.username() {
        None => reqwest::Client::new(),
        Some(username) => {
            server
                .session_for(username)
                .await
                .expect("a session")
                .client
        }
    };
    let url = server.url(&format!("/api/stream{query}"));
    let response = client.get(&url).send().await.expect("request");
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    drop(response);
    let mut stream = tests::SseReader::open(&client, &url).await.expect("open");
    let ids = snapshot_of(&mut stream).await;
    Ok((stream, ids))
}

async fn snapshot_of(stream: &mut tests::SseReader) -> Vec<String> {
    loop {
        let (_, data) = stream
            .next(std::time::Duration::from_secs(30))
            .await
            .expect("an event");
        if let shared::api::StreamEvent::Snapshot { accounts } =
            serde_json::from_str(&data).expect("a stream event")
        {
            return accounts.into_iter().map(|a| a.id.0).collect();
        }
    }
}

/// Streams in the matrix: what each persona's stream carries, before and after an account
/// changes hands (decided per event, not once per connection), for the whole stream and for
/// one account's.
#[tokio::test]
async fn streams_carry_what_each_role_may_see_before_and_after_an_owner_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let owned_by = |username: &str| {
        let store = server.state.store.clone();
        let username = username.to_owned();
        async move {
            let user = store
                .user_credentials(&username)
                .await
                .expect("store")
                .expect("user")
                .user;
            let mut ids: Vec<String> = store
                .accounts_owned_by(user.id)
                .await
                .expect("store")
                .into_iter()
                .map(|id| id.0)
                .collect();
            ids.sort();
            (user.id, ids)
        }
    };
    let (_, a_accounts) = owned_by("trader").await;
    let (b_id, b_accounts) = owned_by("trader2").await;
    assert!(a_accounts.contains(&A_ACCOUNT.to_owned()));
    let mut every: Vec<String> = server
        .account_ids()
        .await
        .expect("ids")
        .into_iter()
        .map(|id| id.0)
        .collect();
    every.sort();
    let one = format!("?account={A_ACCOUNT}");
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };

    assert_eq!(
        stream_start(&server, Persona::Anonymous, "").await.err(),
        Some(401)
    );
    assert_eq!(
        stream_start(&server, Persona::Anonymous, &one).await.err(),
        Some(401)
    );
    assert_eq!(
        stream_start(&server, Persona::TraderB, &one).await.err(),
        Some(404)
    );
    let (mut a_all, ids) = stream_start(&server, Persona::TraderA, "")
        .await
        .expect("A");
    assert_eq!(sorted(ids), a_accounts);
    let (mut a_one, ids) = stream_start(&server, Persona::TraderA, &one)
        .await
        .expect("A");
    assert_eq!(ids, [A_ACCOUNT]);
    let (mut b_all, ids) = stream_start(&server, Persona::TraderB, "")
        .await
        .expect("B");
    assert_eq!(sorted(ids), b_accounts);
    let (mut admin_all, ids) = stream_start(&server, Persona::Admin, "")
        .await
        .expect("admin");
    assert_eq!(sorted(ids), every);

    // The admin gives trader A's account to trader B.
    let admin = server.session_for("admin").await.expect("session");
    let response = admin
        .client
        .post(server.url(&format!("/api/accounts/{A_ACCOUNT}/assign")))
        .json(&serde_json::json!({ "user": b_id }))
        .send()
        .await
        .expect("assign");
    assert_eq!(response.status(), 200);
    let mut a_after = a_accounts.clone();
    a_after.retain(|id| id != A_ACCOUNT);
    let mut b_after = b_accounts.clone();
    b_after.push(A_ACCOUNT.to_owned());
    assert_eq!(sorted(snapshot_of(&mut a_all).await), a_after);
    assert_eq!(snapshot_of(&mut a_one).await, Vec::<String>::new());
    assert_eq!(
        sorted(snapshot_of(&mut b_all).await),
        sorted(b_after.clone())
    );
    // New streams follow the new owner.
    assert_eq!(
        stream_start(&server, Persona::TraderA, &one).await.err(),
        Some(404)
    );
    let (_, ids) = stream_start(&server, Persona::TraderB, &one)
        .await
        .expect("B");
    assert_eq!(ids, [A_ACCOUNT]);
    let (_, ids) = stream_start(&server, Persona::TraderB, "")
        .await
        .expect("B");
    assert_eq!(sorted(ids), sorted(b_after));
    // An admin's stream carries every account throughout: nothing to decide again.
    let (_, ids) = stream_start(&server, Persona::Admin, "")
        .await
        .expect("admin");
    assert_eq!(sorted(ids), every);
    drop(
        admin_all
            .next(std::time::Duration::from_secs(30))
            .await
            .expect("still open"),
    );
    server.stop().await;
}
