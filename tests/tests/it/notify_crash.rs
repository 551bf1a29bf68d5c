//! Notifications survive `kill -9` in the middle of delivery: the real `riskdeck serve` binary
//! sends a breach's events to a Telegram-API-shaped server, an SMTP sink, the firm's webhook
//! (which holds every call unanswered: nothing received) and the trader's webhook (which takes
//! every call, then holds the answer back: received, but the sender cannot know). The process is
//! killed with SIGKILL while those calls hang, and started again on the same database. Nothing
//! is lost: every event reaches every channel. Nothing is doubled: what was recorded as
//! delivered is never sent again, the firm's webhook gets each event once, and the trader's
//! gets each repeat with the same delivery id, which the receiver drops. On SQLite and on
//! PostgreSQL (when `TEST_POSTGRES_URL` is set).

use axum::routing::get;
use shared::api::DeliveryStatus;
use shared::domain::AccountId;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use store::{Delivery, Store};
use tests::broker::{ScriptedBroker, account_information};
use tests::sinks::{Smtp, Telegram, Webhook};

const ACCOUNT: &str = "ftmo-100k";
const FIRM_KEY: &str = "firm-webhook-key-0123456789";
const JANE_KEY: &str = "jane-webhook-key-0123456789";
const BOT_TOKEN: &str = "123456:test-token";
const FIRM_CHAT: &str = "-1001";

/// A MetaApi-shaped broker at 100,000 equity, or at 94,999 (under the 5% daily floor) while
/// `dip` is set; counts account-information requests.
#[derive(Clone, Default)]
struct Broker {
    dip: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
}

impl Broker {
    async fn start(&self) -> String {
        let broker = self.clone();
        let account = move || {
            broker.polls.fetch_add(1, Ordering::SeqCst);
            let equity = if broker.dip.load(Ordering::SeqCst) {
                "94999"
            } else {
                "100000"
            };
            async move { account_information(equity) }
        };
        ScriptedBroker::new(get(account)).serve().await
    }

    fn polls(&self) -> u64 {
        self.polls.load(Ordering::SeqCst)
    }
}

struct Sinks {
    telegram: Telegram,
    telegram_url: String,
    firm: Webhook,
    firm_url: String,
    jane: Webhook,
    jane_url: String,
    smtp: Smtp,
    smtp_port: u16,
}

fn write_config(dir: &Path, database_url: &str, broker: &str, sinks: &Sinks) -> std::path::PathBuf {
    let path = dir.join("riskdeck.toml");
    let config = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{database_url}"
journal_dir = "{journal}"
assets = "{assets}"
poll_interval = 100
stale_after = 5000
lease_ttl = 1000

[admin]
username = "admin"
password = "notify-crash-password"

[[accounts]]
id = "{ACCOUNT}"
name = "FTMO 100k"
base_url = "{broker}"
metaapi_account_id = "acc"
token = "t"
trader = "jane"
challenge = {{ preset = "ftmo-2step", initial_balance = 100000 }}

[notifications]
public_url = "https://dash.example"
time_zone = "Europe/Prague"
poll_interval = 50
max_attempts = 5
retry_base = 50
retry_max = 200
# A delivery in flight is leased for this and 5 s more: the restart sends it again after that.
send_timeout = 5000
# The trader's webhook receiver runs on this machine: an operator's explicit allow-list.
allow_internal_hosts = ["127.0.0.1"]

[notifications.telegram]
api_base_url = "{telegram}"
bot_token = "{BOT_TOKEN}"
chat_id = "{FIRM_CHAT}"

[notifications.webhook]
url = "{firm}"
secret = "{FIRM_KEY}"

[notifications.email]
host = "127.0.0.1"
port = {smtp}
tls = "none"
from = "Riskdeck <alerts@firm.example>"
to = "desk@firm.example"
"#,
        journal = dir.join("journal").display(),
        assets = dir.join("no-assets").display(),
        telegram = sinks.telegram_url,
        firm = sinks.firm_url,
        smtp = sinks.smtp_port,
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
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
        // Drain standard output for the life of the process, so the server never blocks on it.
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

async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deliveries(store: &dyn Store) -> Vec<Delivery> {
    store.deliveries(None, 1_000).await.expect("deliveries")
}

fn on<'a>(list: &'a [Delivery], channel: &str, recipient: &str) -> Vec<&'a Delivery> {
    list.iter()
        .filter(|d| d.channel == channel && d.recipient == recipient)
        .collect()
}

async fn loses_nothing_and_doubles_nothing(database_url: &str, dir: &Path) {
    let broker = Broker::default();
    let broker_url = broker.start().await;
    let (telegram, telegram_url) = Telegram::start().await;
    let (firm, firm_url) = Webhook::start(FIRM_KEY).await;
    let (jane, jane_url) = Webhook::start(JANE_KEY).await;
    let (smtp, smtp_port) = Smtp::start().await;
    let sinks = Sinks {
        telegram,
        telegram_url,
        firm,
        firm_url,
        jane,
        jane_url,
        smtp,
        smtp_port,
    };
    let config = write_config(dir, database_url, &broker_url, &sinks);
    let store = store::open(database_url).await.expect("store");

    let server = Server::start(&config);
    // The trader (seeded from the account's `trader`) wants every event on her webhook.
    let jane_id = until("the trader is seeded", || async {
        store
            .user_credentials("jane")
            .await
            .expect("user")
            .map(|c| c.user.id)
    })
    .await;
    let prefs = serde_json::json!({"webhook_url": sinks.jane_url, "webhook_secret": JANE_KEY});
    store
        .save_notification_preferences(jane_id, &prefs.to_string(), chrono::Utc::now())
        .await
        .expect("preferences");
    until("the first polls", || async {
        (broker.polls() >= 3).then_some(())
    })
    .await;

    // The firm's webhook receives nothing and keeps the sender waiting; the trader's receives
    // every call and keeps the answer back.
    sinks.firm.fail_with(tests::sinks::HOLD);
    sinks.jane.fail_with(tests::sinks::ACCEPT_THEN_HOLD);
    broker.dip.store(true, Ordering::SeqCst);
    let account = AccountId::from(ACCOUNT);
    let events = until("the challenge fails", || async {
        let events = store.challenge_events(&account).await.expect("events");
        events.iter().any(|e| e.kind == "failed").then_some(events)
    })
    .await;
    let n = events.len();
    // Telegram and email are answered and recorded; both webhooks hang.
    until("the sends in flight", || async {
        let list = deliveries(&*store).await;
        let delivered = list
            .iter()
            .filter(|d| d.status == DeliveryStatus::Delivered)
            .count();
        (list.len() == n * 4
            && delivered == n * 2
            && usize::from(sinks.firm.held()) == n
            && usize::from(sinks.jane.held()) == n)
            .then_some(())
    })
    .await;
    server.kill();

    // What the killed process left: Telegram and email recorded as delivered; both webhooks'
    // attempts claimed and never recorded.
    let left = deliveries(&*store).await;
    for (channel, recipient) in [("telegram", "firm"), ("email", "firm")] {
        let list = on(&left, channel, recipient);
        assert_eq!(list.len(), n, "{channel}");
        assert!(
            list.iter()
                .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1),
            "{list:?}"
        );
    }
    let jane_recipient = format!("user:{jane_id}");
    for (channel, recipient) in [("webhook", "firm"), ("webhook", jane_recipient.as_str())] {
        let list = on(&left, channel, recipient);
        assert_eq!(list.len(), n, "{channel} to {recipient}");
        assert!(
            list.iter().all(|d| d.status == DeliveryStatus::Pending
                && d.attempts == 1
                && d.last_error.is_none()),
            "the kill came in the middle of the webhooks' first attempt: {list:?}"
        );
    }
    assert_eq!(sinks.telegram.accepted().len(), n);
    assert_eq!(sinks.smtp.accepted().len(), n);
    assert!(sinks.firm.accepted().is_empty());
    assert_eq!(sinks.jane.accepted().len(), n);

    // Both receivers answer again; a new process on the same database finishes the work.
    sinks.firm.fail_with(0);
    sinks.jane.fail_with(0);
    let server = Server::start(&config);
    let settled = until("every delivery settles", || async {
        let list = deliveries(&*store).await;
        (list.len() == n * 4 && list.iter().all(|d| d.status == DeliveryStatus::Delivered))
            .then_some(list)
    })
    .await;
    // Nothing was lost: every event on every channel. Nothing recorded as delivered was sent
    // again; the webhooks' attempts cut off by the kill were made once more.
    for d in &settled {
        let expected = if d.channel == "webhook" { 2 } else { 1 };
        assert_eq!(d.attempts, expected, "{d:?}");
    }
    let telegram = sinks.telegram.accepted();
    assert_eq!(telegram.len(), n, "no Telegram message twice: {telegram:?}");
    assert!(telegram.iter().all(|m| m.chat_id == FIRM_CHAT));
    let mails = sinks.smtp.accepted();
    assert_eq!(mails.len(), n, "no email twice");
    let mut message_ids: Vec<_> = mails
        .iter()
        .filter_map(|m| m.header("message-id"))
        .collect();
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), n);
    // The firm's webhook never had the first attempt: it gets each event once.
    let firm_calls = sinks.firm.accepted();
    assert_eq!(firm_calls.len(), n);
    assert_eq!(sinks.firm.distinct().len(), n);
    let mut event_ids: Vec<_> = firm_calls
        .iter()
        .filter_map(|c| c.body["event_id"].as_i64())
        .collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    assert_eq!(event_ids.len(), n, "each event once");
    // The trader's webhook had every first attempt: it gets each again under the same delivery
    // id and event id, and dropping repeats by that id leaves each event once.
    let jane_calls = sinks.jane.accepted();
    assert_eq!(jane_calls.len(), n * 2);
    let distinct = sinks.jane.distinct();
    assert_eq!(distinct.len(), n);
    for call in &jane_calls {
        let first = distinct
            .iter()
            .find(|d| d.delivery == call.delivery)
            .expect("a repeat of a delivery seen");
        assert_eq!(first.body["event_id"], call.body["event_id"]);
    }
    assert_eq!(sinks.firm.bad_signatures() + sinks.jane.bad_signatures(), 0);

    // The new process keeps polling: nothing is sent again.
    let polls = broker.polls();
    until("20 more polls", || async {
        (broker.polls() >= polls + 20).then_some(())
    })
    .await;
    assert_eq!(sinks.telegram.accepted().len(), n);
    assert_eq!(sinks.smtp.accepted().len(), n);
    assert_eq!(sinks.firm.accepted().len(), n);
    assert_eq!(sinks.jane.accepted().len(), n * 2);
    assert_eq!(deliveries(&*store).await.len(), n * 4);
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_notifications_survive_kill_9_mid_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("riskdeck.db").display());
    loses_nothing_and_doubles_nothing(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_survive_kill_9_mid_delivery() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    loses_nothing_and_doubles_nothing(fresh.url(), dir.path()).await;
}
