//! Signing in and out, sessions, throttling, anti-forgery tokens and what each user may see,
//! over a real socket against the real server and the demo broker.

use shared::api::{
    AccountsResponse, ErrorBody, LoginRequest, Role, SessionResponse, StreamEvent, UserSummary,
};
use std::collections::BTreeSet;
use std::time::Duration;
use tests::{SseReader, TestServer, demo_config};

async fn demo_server(dir: &tempfile::TempDir) -> TestServer {
    TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server")
}

async fn attempt(server: &TestServer, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/auth/login"))
        .json(&LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .send()
        .await
        .expect("request")
}

async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("an error body"))
}

fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn account_ids(client: &reqwest::Client, server: &TestServer) -> BTreeSet<String> {
    let list: AccountsResponse = client
        .get(server.url("/api/accounts"))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("listed")
        .json()
        .await
        .expect("json");
    list.accounts.into_iter().map(|a| a.id.0).collect()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let password = server.password("trader").expect("password");

    // The name is not case-sensitive.
    let response = attempt(&server, "TRADER", &password).await;
    assert_eq!(response.status().as_u16(), 200);
    let cookie = set_cookie(&response);
    for flag in [
        "riskdeck_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP by default: {cookie}"
    );
    let token = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("riskdeck_session="))
        .expect("the token")
        .to_owned();
    let body: SessionResponse = response.json().await.expect("json");
    assert_eq!(body.user.username, "trader");
    assert_eq!(body.user.role, Role::Trader);
    assert_eq!(body.csrf_token.len(), 64);

    // The cookie alone is the session.
    let with_cookie = |client: &reqwest::Client, method: reqwest::Method, path: &str| {
        client
            .request(method, server.url(path))
            .header("cookie", format!("riskdeck_session={token}"))
    };
    let plain = reqwest::Client::new();
    let me: SessionResponse = with_cookie(&plain, reqwest::Method::GET, "/api/auth/me")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(me, body, "me answers who is signed in and the same token");

    let out = with_cookie(&plain, reqwest::Method::POST, "/api/auth/logout")
        .header("x-csrf-token", &body.csrf_token)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status().as_u16(), 204);
    let cleared = set_cookie(&out);
    assert!(
        cleared.contains("riskdeck_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // The old cookie no longer works.
    let (status, error) = error_of(
        with_cookie(&plain, reqwest::Method::GET, "/api/auth/me")
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, error.error.as_str()), (401, "unauthorized"));
    let anonymous = reqwest::Client::new()
        .get(server.url("/api/accounts"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
    server.stop().await;
}

#[tokio::test]
async fn secure_cookies_are_marked_secure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.secure_cookies = true;
    let server = TestServer::start(config).await.expect("server");
    let response = attempt(
        &server,
        "admin",
        &server.password("admin").expect("password"),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let cookie = set_cookie(&response);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_401() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let wrong = error_of(attempt(&server, "trader", "not the password").await).await;
    let unknown = error_of(attempt(&server, "nobody", "not the password").await).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1.error, "unauthorized");
    assert_eq!(wrong, unknown, "no user enumeration");

    let trader2 = server
        .state
        .store
        .user_credentials("trader2")
        .await
        .expect("store")
        .expect("seeded")
        .user;
    server
        .state
        .store
        .set_user_disabled(trader2.id, true)
        .await
        .expect("disable");
    let disabled = error_of(
        attempt(
            &server,
            "trader2",
            &server.password("trader2").expect("password"),
        )
        .await,
    )
    .await;
    assert_eq!(disabled, wrong, "a disabled user is told nothing more");

    let malformed = reqwest::Client::new()
        .post(server.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(malformed).await;
    assert_eq!((status, body.error.as_str()), (400, "bad_request"));
    server.stop().await;
}

#[tokio::test]
async fn repeated_failures_for_a_username_are_throttled_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let password = server.password("trader").expect("password");
    for _ in 0..5 {
        let response = attempt(&server, "trader", "guess").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    // The right password from the same address waits now (another address would not).
    let response = attempt(&server, "Trader", &password).await;
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let (_, body) = error_of(response).await;
    assert_eq!(body.error, "too_many_requests");
    assert!(
        body.message.contains("Too many sign-in attempts"),
        "{body:?}"
    );

    // Another user from the same address is not locked out by them.
    server
        .login("trader2")
        .await
        .expect("another user signs in");
    server.stop().await;
}

#[tokio::test]
async fn many_usernames_from_one_address_are_throttled_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let mut throttled = None;
    let started = std::time::Instant::now();
    for i in 0..200 {
        let response = attempt(&server, &format!("guess{i}"), "guess").await;
        if response.status().as_u16() == 429 {
            throttled = Some(i);
            break;
        }
        assert_eq!(response.status().as_u16(), 401);
    }
    // The address's burst is 30 attempts, and one more comes back every 2 s: on a slow machine
    // the attempts themselves take long enough to earn a few back.
    let earned = u32::try_from(started.elapsed().as_secs() / 2 + 1).expect("small");
    let throttled = throttled.expect("the address is throttled");
    assert!(
        (30..=30 + earned).contains(&throttled),
        "throttled after {throttled} attempts (burst 30, {earned} earned back)"
    );
    server.stop().await;
}

#[tokio::test]
async fn changes_without_the_anti_forgery_token_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let admin = server.login_session("admin").await.expect("sign in");
    let trader = server
        .state
        .store
        .user_credentials("trader")
        .await
        .expect("store")
        .expect("seeded")
        .user;
    let disable = server.url(&format!("/api/users/{}/disable", trader.id));

    let missing = admin
        .without_csrf
        .post(&disable)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(missing).await;
    assert_eq!((status, body.error.as_str()), (403, "forbidden"));
    let wrong = admin
        .without_csrf
        .post(&disable)
        .header("x-csrf-token", "0".repeat(64))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status().as_u16(), 403);
    let logout = admin
        .without_csrf
        .post(server.url("/api/auth/logout"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        logout.status().as_u16(),
        403,
        "signing out needs the token too"
    );
    assert!(
        !server
            .state
            .store
            .user(trader.id)
            .await
            .expect("store")
            .expect("exists")
            .disabled,
        "nothing changed"
    );
    // Reads need no token, and the session still works.
    let me = admin
        .without_csrf
        .get(server.url("/api/auth/me"))
        .send()
        .await
        .expect("request");
    assert_eq!(me.status().as_u16(), 200);
    let done = admin.client.post(&disable).send().await.expect("request");
    assert_eq!(done.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_trader_sees_only_their_own_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let a = server.login("trader").await.expect("sign in");
    let b = server.login("trader2").await.expect("sign in");
    let admin = server.login("admin").await.expect("sign in");
    assert_eq!(
        account_ids(&a, &server).await,
        BTreeSet::from([
            "demo-daily-breach".to_owned(),
            "demo-eurusd-scalper".to_owned(),
            "demo-gold-swing".to_owned(),
            "demo-passing".to_owned(),
        ])
    );
    assert_eq!(
        account_ids(&b, &server).await,
        BTreeSet::from([
            "demo-deposit".to_owned(),
            "demo-index-breakout".to_owned(),
            "demo-no-stop".to_owned(),
            "demo-overnight".to_owned(),
        ])
    );
    let all = account_ids(&admin, &server).await;
    assert!(
        all.len() >= 3 && all.contains("demo-eurusd-scalper"),
        "{all:?}"
    );

    // B is told A's account does not exist, exactly as for one that does not.
    let nothing = error_of(
        b.get(server.url("/api/accounts/no-such-account"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(nothing.0, 404);
    for path in [
        "/api/accounts/demo-eurusd-scalper",
        "/api/accounts/demo-eurusd-scalper/history",
        "/api/stream?account=demo-eurusd-scalper",
    ] {
        let denied = error_of(b.get(server.url(path)).send().await.expect("request")).await;
        assert_eq!(denied, nothing, "{path}");
    }
    let own = b
        .get(server.url("/api/accounts/demo-index-breakout/history"))
        .send()
        .await
        .expect("request");
    assert_eq!(own.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_traders_stream_carries_only_their_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let b = server.login("trader2").await.expect("sign in");
    let admin = server.login("admin").await.expect("sign in");
    let mut theirs = SseReader::open(&b, &server.url("/api/stream"))
        .await
        .expect("open");
    let mut everything = SseReader::open(&admin, &server.url("/api/stream"))
        .await
        .expect("open");

    // The accounts an event is about: a snapshot's, or a delta's one.
    let accounts_of = |data: &str| -> Vec<String> {
        serde_json::from_str::<StreamEvent>(data)
            .expect("event")
            .into_deltas()
            .iter()
            .filter_map(|delta| delta.account_id().map(|id| id.0.clone()))
            .collect()
    };
    let bs = BTreeSet::from([
        "demo-deposit",
        "demo-index-breakout",
        "demo-no-stop",
        "demo-overnight",
    ]);
    // Other accounts are publishing meanwhile: the admin's stream shows them.
    let mut others_seen = BTreeSet::new();
    while others_seen.len() < 2 {
        let (_, data) = everything
            .next(Duration::from_secs(20))
            .await
            .expect("event");
        for id in accounts_of(&data) {
            if !bs.contains(id.as_str()) {
                others_seen.insert(id);
            }
        }
    }
    // Trader B's stream, snapshot and changes, is only about B's accounts.
    let mut seen = BTreeSet::new();
    for _ in 0..24 {
        let (_, data) = theirs.next(Duration::from_secs(20)).await.expect("event");
        seen.extend(accounts_of(&data));
    }
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|id| bs.contains(id.as_str())),
        "trader2 was sent {seen:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_users_sessions_stop_working_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    let trader = server.login_session("trader").await.expect("sign in");
    let admin = server.login_session("admin").await.expect("sign in");
    let mut stream = SseReader::open(&trader.client, &server.url("/api/stream"))
        .await
        .expect("open");
    stream
        .next(Duration::from_secs(20))
        .await
        .expect("an event");

    let disabled: UserSummary = admin
        .client
        .post(server.url(&format!("/api/users/{}/disable", trader.user.id)))
        .send()
        .await
        .expect("request")
        .error_for_status()
        .expect("disabled")
        .json()
        .await
        .expect("json");
    assert!(disabled.disabled);
    for path in [
        "/api/auth/me",
        "/api/accounts",
        "/api/accounts/demo-eurusd-scalper",
    ] {
        let response = trader
            .client
            .get(server.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 401, "{path}");
    }
    // The open stream ends by itself (it checks its session every few seconds).
    let mut ended = false;
    for _ in 0..200 {
        if let Err(error) = stream.next(Duration::from_secs(20)).await {
            assert!(error.to_string().contains("ended"), "{error}");
            ended = true;
            break;
        }
    }
    assert!(ended, "the disabled user's stream ends");
    let password = server.password("trader").expect("password");
    assert_eq!(
        attempt(&server, "trader", &password)
            .await
            .status()
            .as_u16(),
        401
    );

    // An admin cannot lock themselves out; enabling lets the trader back in.
    let own = admin
        .client
        .post(server.url(&format!("/api/users/{}/disable", admin.user.id)))
        .send()
        .await
        .expect("request");
    assert_eq!(own.status().as_u16(), 400);
    let enabled = admin
        .client
        .post(server.url(&format!("/api/users/{}/enable", trader.user.id)))
        .send()
        .await
        .expect("request");
    assert_eq!(enabled.status().as_u16(), 200);
    server.login("trader").await.expect("signs in again");
    server.stop().await;
}

#[tokio::test]
async fn outside_demo_the_first_admin_is_created_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    let server = TestServer::start(config.clone()).await.expect("server");
    let logins: Vec<_> = server
        .logins
        .iter()
        .map(|l| (l.username.as_str(), l.role))
        .collect();
    assert_eq!(
        logins,
        [("admin", Role::Admin)],
        "a generated one-time password"
    );
    let password = server.password("admin").expect("password");
    let admin = server.login_session("admin").await.expect("sign in");
    assert_eq!(admin.user.role, Role::Admin);
    server.stop().await;

    // Next start: the admin exists, nothing is generated, the password still works.
    let server = TestServer::start(config).await.expect("restart");
    assert!(server.logins.is_empty());
    server
        .login_with_password("admin", &password)
        .await
        .expect("the same password");
    server.stop().await;

    // A configured password is used as it is, and not shown.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.admin.username = "Root".into();
    config.admin.password = Some("a configured password".into());
    let server = TestServer::start(config).await.expect("server");
    assert!(server.logins.is_empty());
    let root = server
        .login_with_password("root", "a configured password")
        .await
        .expect("sign in");
    assert_eq!(
        (root.user.username.as_str(), root.user.role),
        ("Root", Role::Admin)
    );
    server.stop().await;
}

#[tokio::test]
async fn probes_and_the_app_need_no_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = demo_server(&dir).await;
    for path in ["/healthz", "/readyz", "/", "/login", "/accounts/x"] {
        let response = reqwest::get(server.url(path)).await.expect("request");
        let status = response.status().as_u16();
        assert!(status != 401 && status != 403, "{path}: {status}");
    }
    server.stop().await;
}
