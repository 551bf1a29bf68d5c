//! The OpenAPI document: the committed copy (`docs/openapi.json`) is what the code generates,
//! the server serves that same document, and every route of the route table is in it. Also the
//! request ids every response carries.

use backend::routes::routes;
use tests::{TestServer, demo_config, workspace_root};

/// Set to `1` to write the generated document to `docs/openapi.json` instead of comparing.
const UPDATE: &str = "RISKDECK_UPDATE_OPENAPI";

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let path = workspace_root().join("docs/openapi.json");
    let generated = backend::openapi::json();
    if std::env::var(UPDATE).is_ok_and(|value| value == "1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(generated.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "docs/openapi.json differs from the API the code describes (first at line {line}). \
             If the change to the API is intended, refresh the file with\n\n    \
             {UPDATE}=1 cargo test -p tests --test openapi\n\nand commit it."
        );
    }
}

#[tokio::test]
async fn the_server_serves_the_document_with_every_route_of_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    // Public: tools read it without signing in.
    let response = reqwest::get(server.url("/api/openapi.json"))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served = response.text().await.expect("body");
    assert_eq!(served, backend::openapi::json());
    let document: serde_json::Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut missing = Vec::new();
    for route in routes() {
        let method = route.verb.method().as_str().to_lowercase();
        let operation = &document["paths"][backend::openapi::document_path(route.path)][&method];
        if !operation.is_object() {
            missing.push(format!("{method} {}", route.path));
            continue;
        }
        // A route that needs a session says so, and one that changes something also needs the
        // anti-forgery header.
        // A bridge's push carries its ingest token instead.
        let security = operation["security"].to_string();
        let ingest = route.access == backend::routes::Access::IngestToken;
        assert_eq!(ingest, security.contains("ingest_token"), "{}", route.path);
        // MetaApi's risk management API carries an API token.
        let token = route.access == backend::routes::Access::ApiToken;
        assert_eq!(token, security.contains("api_token"), "{}", route.path);
        let session = !matches!(
            route.access,
            backend::routes::Access::Public
                | backend::routes::Access::IngestToken
                | backend::routes::Access::ApiToken
        );
        assert_eq!(session, security.contains("session"), "{}", route.path);
        assert_eq!(
            session && route.verb.changes_state(),
            security.contains("csrf"),
            "{}",
            route.path
        );
    }
    assert!(
        missing.is_empty(),
        "routes of the table missing from the served document (describe them in \
         backend::openapi): {missing:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let client = reqwest::Client::new();
    let id_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    // None sent: a new one, different for each request, on answers and errors alike.
    let mut made = Vec::new();
    for path in ["/healthz", "/api/accounts", "/api/no-such-endpoint", "/"] {
        let response = client.get(server.url(path)).send().await.expect("request");
        let id = id_of(&response).unwrap_or_else(|| panic!("{path}: no x-request-id"));
        assert!(id.len() >= 16, "{path}: {id}");
        made.push(id);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 4, "{made:?}");

    // One sent: echoed.
    let response = client
        .get(server.url("/api/accounts"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(id_of(&response).as_deref(), Some("support-ticket-42"));

    // One no log should carry: replaced by a new one.
    let response = client
        .get(server.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .expect("request");
    let id = id_of(&response).expect("an id");
    assert!(id.len() < 100 && !id.contains("xxxx"), "{id}");
    server.stop().await;
}
