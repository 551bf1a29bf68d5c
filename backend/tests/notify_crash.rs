//! Notifications survive `kill -9`: the real `riskdeck serve` binary sends a failed
//! challenge's events to Telegram, a webhook and email; it is killed while webhook calls are
//! in the middle of delivery (the receiver holds them unanswered). The next start sends what
//! was not delivered, and nothing that was: every event reaches every channel exactly once.
//!
//! The stand-ins for Telegram, the webhook receiver and the SMTP server are the tests crate's
//! (`tests/src/sinks.rs`), included by path since this crate cannot depend on that one.

#[allow(dead_code)]
#[path = "../../tests/src/sinks.rs"]
mod sinks;

use axum::Router;
use axum::routing::get;
use backend::db::Store;
use shared::api::DeliveryStatus;
use shared::domain::AccountId;
use sinks::{HOLD, Smtp, Telegram, Webhook};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ACCOUNT: &str = "ftmo-100k";
const SECRET: &str = "crash-webhook-key-0123456789";

/// A broker whose equity stands under the 5% daily floor: the challenge fails at once.
async fn failing_broker() -> String {
    let body = r#"{"platform":"mt5","broker":"Scripted","currency":"USD","server":"S-1",
        "balance":100000,"equity":94999,"margin":0,"freeMargin":94999,"leverage":100,"credit":0}"#;
    let app = Router::new()
        .route(
            "/users/current/accounts/{id}/account-information",
            get(move || async move { ([("content-type", "application/json")], body) }),
        )
        .route(
            "/users/current/accounts/{id}/positions",
            get(|| async { axum::Json(serde_json::json!([])) }),
        )
        .route(
            "/users/current/accounts/{id}/history-deals/time/{start}/{end}",
            get(|| async { axum::Json(serde_json::json!([])) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn write_config(
    dir: &Path,
    database_url: &str,
    broker: &str,
    telegram: &str,
    webhook: &str,
    smtp_port: u16,
) -> std::path::PathBuf {
    let path = dir.join("riskdeck.toml");
    let config = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{database_url}"
assets = "{assets}"
poll_interval = 100
stale_after = 5000
lease_ttl = 1000

[admin]
username = "admin"
password = "crash-test-password"

[[accounts]]
id = "{ACCOUNT}"
name = "FTMO 100k"
base_url = "{broker}"
metaapi_account_id = "acc"
token = "t"
challenge = {{ preset = "ftmo-2step", initial_balance = 100000 }}

[notifications]
public_url = "https://dash.example"
time_zone = "Europe/Prague"
poll_interval = 50
max_attempts = 100
retry_base = 100
retry_max = 500
send_timeout = 3000

[notifications.telegram]
api_base_url = "{telegram}"
bot_token = "123456:crash"
chat_id = "-1001"

[notifications.webhook]
url = "{webhook}"
secret = "{SECRET}"

[notifications.email]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Riskdeck <alerts@firm.example>"
to = "desk@firm.example"
"#,
        assets = dir.join("no-assets").display(),
    );
    std::fs::write(&path, config).expect("write config");
    path
}

/// The real binary, serving; killed with SIGKILL on drop at the latest.
struct Server {
    child: Child,
}

impl Server {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_riskdeck"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .env_remove("RISKDECK_DATABASE_URL")
            .env_remove("RISKDECK_LISTEN")
            .env_remove("RISKDECK_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start riskdeck");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("running at ") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the server says where it is running");
        Self { child }
    }

    /// `kill -9`: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_kill_in_the_middle_of_delivery_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}", dir.path().join("r.db").display());
    let broker = failing_broker().await;
    let (telegram, telegram_url) = Telegram::start().await;
    let (webhook, webhook_url) = Webhook::start(SECRET).await;
    let (smtp, smtp_port) = Smtp::start().await;
    let config = write_config(
        dir.path(),
        &database_url,
        &broker,
        &telegram_url,
        &webhook_url,
        smtp_port,
    );
    webhook.fail_with(HOLD);

    let server = Server::start(&config);
    let store = backend::db::open(&database_url).await.expect("store");
    let account = AccountId::from(ACCOUNT);
    let events = || async { store.challenge_events(&account).await.expect("events") };
    until("the challenge fails", || async {
        events().await.iter().any(|e| e.kind == "failed")
    })
    .await;
    let stored = events().await.len();
    until(
        "Telegram and email delivered, webhook calls in flight",
        || async {
            telegram.accepted().len() == stored
                && smtp.accepted().len() == stored
                && webhook.held() > 0
        },
    )
    .await;
    server.kill();
    let before = store.deliveries(None, 1_000).await.expect("deliveries");
    assert!(
        before
            .iter()
            .any(|d| d.channel == "webhook" && d.status == DeliveryStatus::Pending),
        "webhook deliveries were in the middle: {before:?}"
    );
    webhook.fail_with(0);

    let server = Server::start(&config);
    until("every delivery settles after the restart", || async {
        let all = store.deliveries(None, 1_000).await.expect("deliveries");
        all.len() == stored * 3 && all.iter().all(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(events().await.len(), stored, "no event repeated");

    // Exactly once per channel: the restart sent none of what was delivered again.
    let texts = |mut texts: Vec<String>| {
        texts.sort();
        let all = texts.len();
        texts.dedup();
        (all, texts.len())
    };
    assert_eq!(
        texts(telegram.accepted().into_iter().map(|m| m.text).collect()),
        (stored, stored)
    );
    assert_eq!(
        texts(webhook.accepted().into_iter().map(|c| c.delivery).collect()),
        (stored, stored)
    );
    assert_eq!(
        texts(
            smtp.accepted()
                .iter()
                .filter_map(|m| m.header("message-id"))
                .collect()
        ),
        (stored, stored)
    );
    assert_eq!(webhook.bad_signatures(), 0);
    server.kill();
}
