//! Structured logs: with the JSON format, every line written while a request is served carries
//! the request's id. The subscriber is the one `riskdeck` installs (`backend::logs`), writing
//! into memory; it is this test binary's global subscriber, so this file holds one test and is
//! the one integration-test binary besides `tests/it`: in `it` every other test's logs would go
//! into it too, and a thread-scoped subscriber (`set_default`) misses the request's span there.

use backend::logs::{LogFormat, subscriber};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tests::{TestServer, demo_config};
use tracing_subscriber::EnvFilter;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is one JSON object"))
            .collect()
    }
}

#[tokio::test]
async fn json_log_lines_carry_the_request_id() {
    let captured = Captured::default();
    tracing::subscriber::set_global_default(subscriber(
        LogFormat::Json,
        EnvFilter::new(backend::logs::DEFAULT_FILTER),
        captured.clone(),
    ))
    .expect("the only subscriber of this binary");

    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    // A failed sign-in logs a line while the request is served.
    let response = reqwest::Client::new()
        .post(server.url("/api/auth/login"))
        .header("x-request-id", "req-json-log-1")
        .json(&shared::api::LoginRequest {
            username: "admin".into(),
            password: "not the password".into(),
        })
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    server.stop().await;

    let lines = captured.lines();
    let failed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "a sign-in failed")
        .collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    let span = &failed[0]["span"];
    assert_eq!(span["request_id"], "req-json-log-1", "{span}");
    assert_eq!(span["method"], "POST", "{span}");
    assert_eq!(span["path"], "/api/auth/login", "{span}");
}
