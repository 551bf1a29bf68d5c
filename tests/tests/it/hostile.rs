//! Held under attack: the hostile cases of issue 19, each through the real server over real
//! HTTP. Sign-in lockout by a stranger, sessions that outlive a password rotated at start-up,
//! errors that are not the one JSON body, cacheable API answers, passwords of only blanks.

use backend::config::AccountConfig;
use shared::api::{ErrorBody, Role};
use std::net::{IpAddr, Ipv4Addr};
use tests::{TestServer, demo_config};

/// A client whose connections come from `local` (any 127.0.0.0/8 address reaches the server).
fn client_from(local: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local)
        .build()
        .expect("client")
}

async fn sign_in(
    server: &TestServer,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> u16 {
    client
        .post(server.url("/api/auth/login"))
        .json(&shared::api::LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .send()
        .await
        .expect("sign-in request")
        .status()
        .as_u16()
}

async fn error_body(response: reqwest::Response) -> ErrorBody {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    response.json().await.expect("the JSON error body")
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_and_successes_are_never_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let password = server.password("admin").expect("admin password");
    let attacker = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let owner = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));

    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(sign_in(&server, &attacker, "admin", "not-the-password").await);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    assert_eq!(
        sign_in(&server, &owner, "admin", &password).await,
        200,
        "the owner signs in from their own address"
    );
    for _ in 0..20 {
        assert_eq!(sign_in(&server, &owner, "Admin", &password).await, 200);
    }
    server.stop().await;
}

/// Signs in and returns the session cookie (`name=value`) as the server set it.
async fn session_cookie(server: &TestServer, username: &str) -> String {
    let response = reqwest::Client::new()
        .post(server.url("/api/auth/login"))
        .json(&shared::api::LoginRequest {
            username: username.to_owned(),
            password: server.password(username).expect("password"),
        })
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 200);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    set_cookie.split(';').next().expect("name=value").to_owned()
}

async fn me_status(server: &TestServer, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/api/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_restart_that_rotates_the_demo_passwords_ends_their_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    let server = TestServer::start(config.clone()).await.expect("server");
    let cookie = session_cookie(&server, "trader").await;
    assert_eq!(me_status(&server, &cookie).await, 200);
    server.stop().await;

    // The same database: the demo gives its users new passwords at every start.
    let restarted = TestServer::start(config).await.expect("restarted");
    assert_eq!(
        me_status(&restarted, &cookie).await,
        401,
        "the session opened with the old password ended"
    );
    restarted.stop().await;
}

#[tokio::test]
async fn every_api_error_is_the_json_body_and_no_api_answer_is_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.accounts.push(AccountConfig {
        id: "bridge".into(),
        name: "Bridge".into(),
        base_url: String::new(),
        metaapi_account_id: String::new(),
        token: String::new(),
        poll_interval: None,
        challenge: None,
        trader: None,
        region: None,
        ingest_token: Some(TOKEN.into()),
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    });
    let server = TestServer::start(config).await.expect("server");
    let trader = server.login("trader").await.expect("sign in");

    // A repeated query parameter (a Query rejection).
    let response = trader
        .get(server.url("/api/stream?account=a&account=b"))
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 400);
    assert_no_store(&response);
    let body = error_body(response).await;
    assert_eq!(body.error, "bad_request", "{body:?}");

    // A body over the ingest limit.
    let response = reqwest::Client::new()
        .post(server.url("/api/ingest/bridge"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(vec![b' '; backend::ingest::MAX_BATCH_BYTES + 1024])
        .send()
        .await
        .expect("push");
    assert_eq!(response.status(), 413);
    let body = error_body(response).await;
    assert_eq!(body.error, "payload_too_large", "{body:?}");

    // A method the route lacks, and a path that is no endpoint.
    let response = trader
        .delete(server.url("/api/accounts"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 405);
    error_body(response).await;
    let response = trader
        .get(server.url("/api/nowhere"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    assert_no_store(&response);
    error_body(response).await;

    // Successful answers, the stream included, are not cached either.
    let response = trader
        .get(server.url("/api/accounts"))
        .send()
        .await
        .expect("accounts");
    assert_eq!(response.status(), 200);
    assert_no_store(&response);
    let response = trader
        .get(server.url("/api/stream"))
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    assert_no_store(&response);
    drop(response);
    server.stop().await;
}

const TOKEN: &str = "bridge-token-0123456789abcdef0123456789";

fn assert_no_store(response: &reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{:?}",
        response.url()
    );
}

#[tokio::test]
async fn passwords_of_blanks_or_control_characters_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let trader_id = server
        .state
        .store
        .user_credentials("trader")
        .await
        .expect("store")
        .expect("trader")
        .user
        .id;
    for password in [
        "              ",
        "\t\t\t\t\t\t\t\t\t\t\t\t",
        "good-password\u{7}bell",
        "new\nline-password",
    ] {
        let response = admin
            .post(server.url("/api/users"))
            .json(&serde_json::json!({"username": "newbie", "password": password, "role": Role::Trader}))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 422, "{password:?}");
        assert!(error_body(response).await.message.contains("password"));
        let response = admin
            .post(server.url(&format!("/api/users/{}/password", trader_id.0)))
            .json(&serde_json::json!({"password": password}))
            .send()
            .await
            .expect("reset");
        assert_eq!(response.status(), 422, "{password:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_trader_cannot_point_a_webhook_at_internal_addresses_unless_the_operator_allows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.secret_key = Some(store::secrets::SecretKey::parse(&"5e".repeat(32)).expect("key"));
    config.notifications.allow_internal_hosts = vec!["127.0.0.2".to_owned()];
    let server = TestServer::start(config).await.expect("server");
    let trader = server.login("trader").await.expect("sign in");
    let save = |url: &'static str| {
        let trader = &trader;
        let server = &server;
        async move {
            trader
                .post(server.url("/api/me/notifications"))
                .json(&serde_json::json!({
                    "webhook_url": url,
                    "webhook_secret": "trader-webhook-key-0123456789",
                }))
                .send()
                .await
                .expect("save")
        }
    };
    for url in [
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:5432/",
        "http://localhost:6379/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
    ] {
        let response = save(url).await;
        assert_eq!(response.status(), 422, "{url}");
        let body = error_body(response).await;
        assert!(
            body.message.contains("webhook_url") && body.message.contains("public addresses"),
            "{body:?}"
        );
    }
    assert_eq!(save("http://127.0.0.2:8080/hook").await.status(), 200);
    server.stop().await;
}

/// Opens a connection and sends the start of a request that never ends (slowloris).
async fn unfinished_request(server: &TestServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: riskdeck\r\nX-Slow: ")
        .await
        .expect("write the first bytes");
    stream
}

/// Reads until the server closes the connection (whatever it answers first).
async fn until_closed(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut sink = Vec::new();
    // The bound only keeps a regression from hanging the suite; it asserts no speed.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream.read_to_end(&mut sink),
    )
    .await
    .expect("the server closes a connection whose headers never end")
    .ok();
}

async fn server_with(
    dir: &std::path::Path,
    header_read_timeout: std::time::Duration,
    max_connections: usize,
) -> TestServer {
    let config = backend::config::Config {
        demo: false,
        header_read_timeout,
        max_connections,
        ..demo_config(&dir.join("r.db"))
    };
    TestServer::start(config).await.expect("server")
}

async fn health(url: String) -> u16 {
    reqwest::get(url)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with(dir.path(), std::time::Duration::from_millis(300), 8).await;
    let mut slow = unfinished_request(&server).await;
    until_closed(&mut slow).await;
    assert_eq!(health(server.url("/healthz")).await, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with(dir.path(), std::time::Duration::from_secs(120), 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(unfinished_request(&server).await);
    }
    let mut waiting = tokio::spawn(health(server.url("/healthz")));
    // While the three slow clients hold every connection, the fourth is not served.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a connection beyond max_connections was served"
    );
    drop(held.pop());
    assert_eq!(waiting.await.expect("task"), 200);
}

/// Sends `body` and returns the refusal's status and message.
async fn refusal(client: &reqwest::Client, url: String, body: serde_json::Value) -> (u16, String) {
    let response = client.post(url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, error_body(response).await.message)
}

#[tokio::test]
async fn decimals_written_with_underscores_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("admin");
    let account = "demo-eurusd-scalper";

    let (status, message) = refusal(
        &admin,
        server.url(&format!("/api/accounts/{account}/anchors")),
        serde_json::json!({
            "anchor": "start_of_day_balance",
            "value": "100_000",
            "reason": "typed with a separator",
        }),
    )
    .await;
    assert_eq!(status, 422, "{message}");
    assert!(message.starts_with("value:"), "{message}");

    let config =
        shared::engine::preset("ftmo-2step", rust_decimal::Decimal::from(100_000)).expect("preset");
    let mut draft = serde_json::to_value(shared::engine::edit::RuleSetDraft {
        time_zone: "Europe/Prague".to_owned(),
        reset_time: "00:00".to_owned(),
        rules: config.rules,
        estimated_equity_breaches: false,
        interest_dividend_tax: shared::engine::PlCounting::default(),
    })
    .expect("draft");
    let limit = draft["rules"]
        .as_array_mut()
        .expect("rules")
        .iter_mut()
        .find_map(|rule| rule["kind"].get_mut("limit"))
        .expect("a rule with a limit");
    limit["value"] = serde_json::json!("1_0");
    for path in ["rule-sets/what-if", "rule-sets"] {
        let (status, message) = refusal(
            &admin,
            server.url(&format!("/api/accounts/{account}/{path}")),
            serde_json::json!({ "draft": draft }),
        )
        .await;
        assert_eq!(status, 422, "{path}: {message}");
        assert!(message.contains(".limit.value:"), "{path}: {message}");
    }

    let (status, message) = refusal(
        &admin,
        server.url("/api/accounts"),
        serde_json::json!({
            "id": "separated-balance",
            "name": "Separated balance",
            "connection": { "kind": "demo", "account": "demo-gold-swing" },
            "preset": "ftmo-2step",
            "initial_balance": "100_000",
            "currency": "USD",
        }),
    )
    .await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("initial_balance"), "{message}");
    let listed = server.account_ids().await.expect("accounts");
    assert!(!listed.iter().any(|id| id.0 == "separated-balance"));
}
