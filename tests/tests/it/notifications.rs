//! Notifications end to end: the real server tracks an account on a scripted broker, its
//! challenge breaks the daily loss limit, and every event reaches a Telegram-API-shaped server,
//! a webhook receiver that checks the signature and an SMTP sink: the firm's copies of every
//! event and the trader's of the kinds they chose, each exactly once, with the numbers that
//! matter and a link to the dashboard; nothing is sent again while the server keeps polling.
//! Failures are retried with backoff and given up with their error, which the admin sees.

use axum::routing::get;
use backend::config::{AccountConfig, ChallengeSetup, Config};
use backend::notify::NotifyConfig;
use backend::notify::config::{EmailConfig, SmtpTls, TelegramConfig, WebhookConfig};
use shared::api::{DeliveryStatus, NotificationPreferences, NotificationsResponse};
use shared::domain::AccountId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tests::broker::{ScriptedBroker, account_information};
use tests::sinks::{Smtp, Telegram, Webhook};
use tests::{TestServer, wait_until};

const ACCOUNT: &str = "ftmo-100k";
const SECRET: &str = "firm-webhook-key-0123456789";
const ADMIN_PASSWORD: &str = "notify-admin-password";
const BOT_TOKEN: &str = "123456:test-token";
const FIRM_CHAT: &str = "-1001";
/// How long a wait may take (a loaded machine is slow, never this slow).
const WAIT: Duration = Duration::from_secs(90);

/// A broker whose equity stands at 100,000, or at 94,999 (under the 5% daily floor) once
/// `dip` is set. Counts account-information requests (the tracker's polls).
#[derive(Clone, Default)]
struct Broker {
    dip: Arc<AtomicBool>,
    /// Answer every request with 503 (the broker is away).
    down: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
}

impl Broker {
    async fn start(&self) -> String {
        let broker = self.clone();
        let account = move || {
            broker.polls.fetch_add(1, Ordering::SeqCst);
            let down = broker.down.load(Ordering::SeqCst);
            let equity = if broker.dip.load(Ordering::SeqCst) {
                "94999"
            } else {
                "100000"
            };
            async move {
                let status = if down {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                };
                (status, account_information(equity))
            }
        };
        ScriptedBroker::new(get(account)).serve().await
    }

    fn polls(&self) -> u64 {
        self.polls.load(Ordering::SeqCst)
    }
}

fn config(dir: &std::path::Path, broker: &str, notifications: NotifyConfig) -> Config {
    let mut config = tests::demo_config(&dir.join("r.db"));
    config.demo = false;
    config.poll_interval = Duration::from_millis(100);
    config.admin.password = Some(ADMIN_PASSWORD.to_owned());
    config.secret_key = Some(store::secrets::SecretKey::parse(&"5e".repeat(32)).expect("key"));
    config.accounts = vec![AccountConfig {
        id: ACCOUNT.to_owned(),
        name: "FTMO 100k".to_owned(),
        base_url: broker.to_owned(),
        metaapi_account_id: "acc".to_owned(),
        token: "t".to_owned(),
        poll_interval: None,
        challenge: Some(ChallengeSetup {
            preset: "ftmo-2step".to_owned(),
            initial_balance: 100_000.into(),
            estimated_equity_breaches: false,
            program: None,
        }),
        trader: Some("jane".to_owned()),
        region: None,
        ingest_token: None,
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    config.notifications = notifications;
    config
}

fn schedule() -> NotifyConfig {
    NotifyConfig {
        public_url: Some("https://dash.example".to_owned()),
        time_zone: "Europe/Prague".to_owned(),
        poll_interval: Duration::from_millis(50),
        max_attempts: 3,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        send_timeout: Duration::from_secs(5),
        ..NotifyConfig::default()
    }
}

async fn admin(server: &TestServer) -> reqwest::Client {
    server
        .login_with_password("admin", ADMIN_PASSWORD)
        .await
        .expect("admin")
        .client
}

async fn deliveries(
    admin: &reqwest::Client,
    server: &TestServer,
    query: &str,
) -> NotificationsResponse {
    admin
        .get(server.url(&format!("/api/notifications{query}")))
        .send()
        .await
        .expect("list")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("json")
}

/// The stored events of the account, with their ids.
async fn events(server: &TestServer) -> Vec<store::EventRecord> {
    server
        .state
        .store
        .challenge_event_records(&AccountId::from(ACCOUNT), 0, 1_000)
        .await
        .expect("events")
}

#[tokio::test]
async fn every_event_reaches_each_channel_once_with_its_numbers_and_is_not_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::default();
    let broker_url = broker.start().await;
    let (telegram, telegram_url) = Telegram::start().await;
    let (webhook, webhook_url) = Webhook::start(SECRET).await;
    let (smtp, smtp_port) = Smtp::start().await;
    let notifications = NotifyConfig {
        telegram: Some(TelegramConfig {
            api_base_url: telegram_url,
            bot_token: BOT_TOKEN.to_owned(),
            chat_id: Some(FIRM_CHAT.to_owned()),
        }),
        webhook: Some(WebhookConfig {
            url: webhook_url,
            secret: SECRET.to_owned(),
        }),
        email: Some(EmailConfig {
            host: "127.0.0.1".to_owned(),
            port: smtp_port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "Riskdeck <alerts@firm.example>".to_owned(),
            to: Some("desk@firm.example".to_owned()),
        }),
        ..schedule()
    };
    let server = TestServer::start(config(dir.path(), &broker_url, notifications))
        .await
        .expect("server");
    // The trader wants breaches only, on Telegram and by email.
    let jane = server.login("jane").await.expect("jane");
    let saved: NotificationPreferences = jane
        .post(server.url("/api/me/notifications"))
        .json(&NotificationPreferences {
            telegram_chat_id: Some("42".to_owned()),
            email: Some("jane@example.com".to_owned()),
            kinds: vec!["breach".to_owned()],
            ..NotificationPreferences::default()
        })
        .send()
        .await
        .expect("save")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("json");
    assert_eq!(saved.kinds, ["breach"]);
    // The account is tracked and healthy before it dips.
    wait_until(WAIT, "first polls", || async { broker.polls() >= 3 }).await;
    assert!(events(&server).await.is_empty(), "no event while healthy");
    broker.dip.store(true, Ordering::SeqCst);

    let admin = admin(&server).await;
    wait_until(WAIT, "the challenge fails", || async {
        events(&server)
            .await
            .iter()
            .any(|r| r.event.kind == "failed")
    })
    .await;
    let events = events(&server).await;
    let breaches = events.iter().filter(|r| r.event.kind == "breach").count();
    assert!(breaches >= 1, "{events:?}");
    let expected = events.len() * 3 + breaches * 2;
    wait_until(WAIT, "every delivery settles", || async {
        let list = deliveries(&admin, &server, "").await.deliveries;
        list.len() == expected && list.iter().all(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;

    // Telegram: the firm's chat has every event once, the trader's every breach once.
    let sent = telegram.accepted();
    assert!(sent.iter().all(|m| m.token == BOT_TOKEN));
    let firm: Vec<_> = sent.iter().filter(|m| m.chat_id == FIRM_CHAT).collect();
    let mine: Vec<_> = sent.iter().filter(|m| m.chat_id == "42").collect();
    assert_eq!(firm.len(), events.len(), "{sent:?}");
    assert_eq!(mine.len(), breaches, "{sent:?}");
    let breach = mine[0].text.clone();
    for part in [
        "Rule breached: daily_loss on FTMO 100k",
        "Rule: daily_loss",
        "Value: 94,999.00  Limit: 95,000.00",
        "Beyond the limit by: 1.00",
        "Time: ",
        "Dashboard: https://dash.example/accounts/ftmo-100k",
    ] {
        assert!(breach.contains(part), "{part:?} is not in {breach}");
    }
    // The time is the firm's (Prague: CET or CEST).
    assert!(
        breach.contains(" CET") || breach.contains(" CEST"),
        "{breach}"
    );

    // Webhook: every event once, correctly signed, with the numbers as data.
    assert_eq!(webhook.bad_signatures(), 0);
    let calls = webhook.accepted();
    assert_eq!(calls.len(), events.len());
    let mut ids: Vec<_> = calls.iter().map(|c| c.delivery.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), calls.len(), "each delivery once");
    let call = calls
        .iter()
        .find(|c| c.body["kind"] == "breach")
        .expect("the breach");
    assert_eq!(call.body["rule"], "daily_loss");
    let number = |field: &str| -> rust_decimal::Decimal {
        call.body[field]
            .as_str()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("{field} is a decimal string: {}", call.body))
    };
    assert_eq!(number("value"), rust_decimal::Decimal::from(94_999));
    assert_eq!(number("limit"), rust_decimal::Decimal::from(95_000));
    assert_eq!(number("room"), rust_decimal::Decimal::from(-1));
    assert_eq!(call.body["link"], "https://dash.example/accounts/ftmo-100k");
    assert_eq!(call.body["event"]["evidence"]["rule"], "daily_loss");

    // Email: the firm's desk every event, the trader the breaches, each with its own id.
    let mails = smtp.accepted();
    let desk = mails
        .iter()
        .filter(|m| m.to == ["desk@firm.example"])
        .count();
    let to_jane: Vec<_> = mails
        .iter()
        .filter(|m| m.to == ["jane@example.com"])
        .collect();
    assert_eq!(desk, events.len());
    assert_eq!(to_jane.len(), breaches);
    assert!(
        to_jane[0]
            .header("subject")
            .is_some_and(|s| s.contains("Rule breached")),
        "{:?}",
        to_jane[0].data
    );
    assert!(to_jane[0].data.contains("Room") || to_jane[0].data.contains("Beyond"));
    let mut message_ids: Vec<_> = mails
        .iter()
        .filter_map(|m| m.header("message-id"))
        .collect();
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), mails.len());

    // Page by page: the same deliveries, in the same order, each once.
    let all = deliveries(&admin, &server, "").await;
    assert_eq!(all.next_offset, None);
    let mut paged = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = deliveries(&admin, &server, &format!("?limit=2&offset={at}")).await;
        assert!(page.deliveries.len() <= 2);
        paged.extend(page.deliveries);
        offset = page.next_offset;
    }
    assert_eq!(paged, all.deliveries);
    for bad in ["?limit=abc", "?limit=501", "?offset=-1"] {
        let response = admin
            .get(server.url(&format!("/api/notifications{bad}")))
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 400, "{bad}");
    }

    // The tracker keeps polling a failed challenge and the notifier keeps looking: nothing is
    // sent again (the Python monitor re-sent its alert every cycle).
    let polls = broker.polls();
    wait_until(WAIT, "30 more polls", || async {
        broker.polls() >= polls + 30
    })
    .await;
    assert_eq!(telegram.accepted().len(), sent.len());
    assert_eq!(webhook.accepted().len(), calls.len());
    assert_eq!(smtp.accepted().len(), mails.len());
    assert_eq!(
        deliveries(&admin, &server, "").await.deliveries.len(),
        expected
    );
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_given_up_with_their_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::default();
    broker.dip.store(true, Ordering::SeqCst);
    let broker_url = broker.start().await;
    let (telegram, telegram_url) = Telegram::start().await;
    let (webhook, webhook_url) = Webhook::start(SECRET).await;
    // The chat does not exist (permanent); the webhook's server is down (transient).
    telegram.fail_with(400);
    webhook.fail_with(503);
    let notifications = NotifyConfig {
        telegram: Some(TelegramConfig {
            api_base_url: telegram_url,
            bot_token: BOT_TOKEN.to_owned(),
            chat_id: Some(FIRM_CHAT.to_owned()),
        }),
        webhook: Some(WebhookConfig {
            url: webhook_url,
            secret: SECRET.to_owned(),
        }),
        ..schedule()
    };
    let server = TestServer::start(config(dir.path(), &broker_url, notifications))
        .await
        .expect("server");
    let admin = admin(&server).await;
    wait_until(WAIT, "the challenge fails", || async {
        events(&server)
            .await
            .iter()
            .any(|r| r.event.kind == "failed")
    })
    .await;
    let events = events(&server).await.len();
    wait_until(WAIT, "every delivery is given up", || async {
        let failed = deliveries(&admin, &server, "?status=failed")
            .await
            .deliveries;
        failed.len() == events * 2
    })
    .await;
    let failed = deliveries(&admin, &server, "?status=failed")
        .await
        .deliveries;
    for delivery in &failed {
        match delivery.channel.as_str() {
            "telegram" => {
                assert_eq!(delivery.attempts, 1, "a permanent error is not retried");
                let error = delivery.last_error.as_deref().unwrap_or_default();
                assert!(
                    error.contains("HTTP 400") && error.contains("chat not found"),
                    "{error}"
                );
                assert!(!error.contains(BOT_TOKEN), "the token stays out: {error}");
            }
            "webhook" => {
                assert_eq!(delivery.attempts, 3, "tried max_attempts times");
                assert_eq!(delivery.last_error.as_deref(), Some("webhook: HTTP 503"));
            }
            other => panic!("unexpected channel {other}"),
        }
        assert_eq!(delivery.delivered_at, None);
    }
    assert_eq!(u64::from(webhook.refused()), events as u64 * 3);
    assert_eq!(u64::from(telegram.refused()), events as u64);
    assert!(
        deliveries(&admin, &server, "?status=delivered")
            .await
            .deliveries
            .is_empty()
    );
    let bad = admin
        .get(server.url("/api/notifications?status=lost"))
        .send()
        .await
        .expect("list");
    assert_eq!(bad.status(), 400);
    let body: shared::api::ErrorBody = bad.json().await.expect("error body");
    assert!(
        body.message.contains("pending, delivered or failed"),
        "{body:?}"
    );
}

#[tokio::test]
async fn preferences_are_checked_kept_per_person_and_the_webhook_key_is_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::default();
    let broker_url = broker.start().await;
    let server = TestServer::start(config(dir.path(), &broker_url, schedule()))
        .await
        .expect("server");
    let jane = server.login_session("jane").await.expect("jane");
    let empty: NotificationPreferences = jane
        .client
        .get(server.url("/api/me/notifications"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(empty, NotificationPreferences::default());
    let key = "jane-webhook-key-0123456789";
    let saved: NotificationPreferences = jane
        .client
        .post(server.url("/api/me/notifications"))
        .json(&serde_json::json!({
            "webhook_url": "https://jane.example/hook",
            "webhook_secret": key,
            "rules": ["daily_loss"],
        }))
        .send()
        .await
        .expect("save")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("json");
    assert!(saved.webhook_secret_set);
    // At rest the key is sealed.
    let row = server
        .state
        .store
        .notification_preferences(jane.user.id)
        .await
        .expect("row")
        .expect("saved");
    assert!(!row.contains(key), "{row}");
    assert!(row.contains("webhook_secret_sealed"), "{row}");
    for bad in [
        serde_json::json!({"email": "not an address"}),
        serde_json::json!({"telegram_chat_id": "jane"}),
        serde_json::json!({"kinds": ["everything"]}),
        serde_json::json!({"webhook_url": "https://x.example", "webhook_secret": "short"}),
    ] {
        let response = jane
            .client
            .post(server.url("/api/me/notifications"))
            .json(&bad)
            .send()
            .await
            .expect("save");
        assert_eq!(response.status(), 422, "{bad}");
    }
    // An admin sees (and may change) anyone's; the key is never in an answer or the audit log.
    let admin = admin(&server).await;
    let path = format!("/api/users/{}/notifications", jane.user.id);
    let text = admin
        .get(server.url(&path))
        .send()
        .await
        .expect("get")
        .error_for_status()
        .expect("200")
        .text()
        .await
        .expect("text");
    assert!(!text.contains(key), "{text}");
    let seen: NotificationPreferences = serde_json::from_str(&text).expect("json");
    assert_eq!(
        seen.webhook_url.as_deref(),
        Some("https://jane.example/hook")
    );
    assert_eq!(seen.rules, ["daily_loss"]);
    let changed: NotificationPreferences = admin
        .post(server.url(&path))
        .json(&serde_json::json!({"email": "jane@example.com"}))
        .send()
        .await
        .expect("save")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("json");
    assert_eq!(changed.email.as_deref(), Some("jane@example.com"));
    assert_eq!(changed.webhook_url, None);
    let audit = server
        .state
        .store
        .audit_log(&store::AuditFilter {
            action: Some("notifications.update".to_owned()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|e| !format!("{e:?}").contains(key)));
    assert_eq!(audit[0].entry.actor, "admin");
    let missing = admin
        .get(server.url("/api/users/999999/notifications"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
}

fn firm_telegram(telegram_url: String) -> NotifyConfig {
    NotifyConfig {
        telegram: Some(TelegramConfig {
            api_base_url: telegram_url,
            bot_token: BOT_TOKEN.to_owned(),
            chat_id: Some(FIRM_CHAT.to_owned()),
        }),
        ..schedule()
    }
}

/// Saves jane's preferences: Telegram chat 42, only `kinds`.
async fn jane_hears(server: &TestServer, kinds: &[&str]) {
    let jane = server.login("jane").await.expect("jane");
    jane.post(server.url("/api/me/notifications"))
        .json(&NotificationPreferences {
            telegram_chat_id: Some("42".to_owned()),
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            ..NotificationPreferences::default()
        })
        .send()
        .await
        .expect("save")
        .error_for_status()
        .expect("200");
}

#[tokio::test]
async fn a_stale_feed_and_its_recovery_are_notified_once_each_to_those_who_want_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::default();
    let broker_url = broker.start().await;
    let (telegram, telegram_url) = Telegram::start().await;
    let mut config = config(dir.path(), &broker_url, firm_telegram(telegram_url));
    config.stale_after = Duration::from_millis(600);
    config.broker_timeout = Duration::from_millis(500);
    let server = TestServer::start(config).await.expect("server");
    // The trader hears about breaches only: no feed news.
    jane_hears(&server, &["breach"]).await;
    wait_until(WAIT, "first polls", || async { broker.polls() >= 3 }).await;
    let kinds = || async {
        events(&server)
            .await
            .into_iter()
            .map(|r| r.event.kind)
            .collect::<Vec<_>>()
    };
    assert!(kinds().await.is_empty(), "no event while healthy");

    broker.down.store(true, Ordering::SeqCst);
    wait_until(WAIT, "the feed goes stale", || async {
        kinds().await.contains(&"feed_stale".to_owned())
    })
    .await;
    // Still down for a while: stale is recorded once.
    let polls = broker.polls();
    wait_until(WAIT, "more failed polls", || async {
        broker.polls() >= polls + 5
    })
    .await;
    assert_eq!(kinds().await, ["feed_stale"]);

    broker.down.store(false, Ordering::SeqCst);
    wait_until(WAIT, "the feed recovers", || async {
        kinds().await == ["feed_stale", "feed_recovered"]
    })
    .await;
    wait_until(WAIT, "both reach the firm's chat", || async {
        telegram.accepted().len() >= 2
    })
    .await;
    let polls = broker.polls();
    wait_until(WAIT, "10 more polls", || async {
        broker.polls() >= polls + 10
    })
    .await;
    assert_eq!(kinds().await, ["feed_stale", "feed_recovered"]);
    let sent = telegram.accepted();
    assert_eq!(sent.len(), 2, "each once, to the firm only: {sent:?}");
    assert!(sent.iter().all(|m| m.chat_id == FIRM_CHAT), "{sent:?}");
    let stale = &sent[0].text;
    for part in [
        "Feed stale: FTMO 100k",
        "No fresh data from the broker",
        "Last data: ",
        "Why: the broker has not answered",
        "Dashboard: https://dash.example/accounts/ftmo-100k",
    ] {
        assert!(stale.contains(part), "{part:?} is not in {stale}");
    }
    assert!(stale.contains(" CET") || stale.contains(" CEST"), "{stale}");
    assert!(
        sent[1].text.starts_with("Feed recovered: FTMO 100k"),
        "{}",
        sent[1].text
    );
}

const INGEST_TOKEN: &str = "bridge-token-0123456789abcdef0123456789";
const JANE_KEY: &str = "jane-webhook-key-0123456789";

fn info_line(time: chrono::DateTime<chrono::Utc>, balance: &str, equity: &str) -> String {
    format!(
        r#"{{"time":"{}","accountInformation":{{"balance":{balance},"equity":{equity},"margin":0,"freeMargin":{equity},"currency":"USD","leverage":100,"credit":0}}}}"#,
        time.to_rfc3339()
    ) + "\n"
}

#[tokio::test]
async fn the_daily_summary_at_the_reset_carries_the_days_numbers_and_the_rules_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (telegram, telegram_url) = Telegram::start().await;
    let (webhook, webhook_url) = Webhook::start(SECRET).await;
    let notifications = NotifyConfig {
        webhook: Some(WebhookConfig {
            url: webhook_url,
            secret: SECRET.to_owned(),
        }),
        // The firm's channels hear about breaches only: no summary on its webhook.
        kinds: vec!["breach".to_owned()],
        // Jane's webhook listens on loopback: the operator allows it.
        allow_internal_hosts: vec!["127.0.0.1".to_owned()],
        ..firm_telegram(telegram_url)
    };
    let mut config = config(dir.path(), "http://127.0.0.1:9", notifications);
    config.accounts[0].ingest_token = Some(INGEST_TOKEN.to_owned());
    config.accounts[0].base_url = String::new();
    config.accounts[0].metaapi_account_id = String::new();
    config.accounts[0].token = String::new();
    let server = TestServer::start(config).await.expect("server");
    // The trader wants the summaries, and nothing else, on Telegram and on her webhook (its
    // key stored sealed, opened to sign).
    jane_hears(&server, &["daily_summary"]).await;
    let (jane_hook, jane_hook_url) = Webhook::start(JANE_KEY).await;
    let jane = server.login("jane").await.expect("jane");
    jane.post(server.url("/api/me/notifications"))
        .json(&serde_json::json!({
            "telegram_chat_id": "42",
            "webhook_url": jane_hook_url,
            "webhook_secret": JANE_KEY,
            "kinds": ["daily_summary"],
        }))
        .send()
        .await
        .expect("save")
        .error_for_status()
        .expect("200");
    // The firm's day ends at midnight in Prague: a day that closed at the last reset, pushed
    // by a bridge at the records' own times.
    let reset = shared::engine::ResetClock::prague_midnight()
        .previous_reset(chrono::Utc::now())
        .expect("a reset");
    let push = |body: String| {
        let server = &server;
        async move {
            reqwest::Client::new()
                .post(server.url(&format!("/api/ingest/{ACCOUNT}")))
                .header("content-type", "application/x-ndjson")
                .bearer_auth(INGEST_TOKEN)
                .body(body)
                .send()
                .await
                .expect("push")
                .error_for_status()
                .expect("200");
        }
    };
    push(info_line(
        reset - chrono::Duration::hours(2),
        "100000",
        "100000",
    ))
    .await;
    push(info_line(
        reset - chrono::Duration::hours(1),
        "100000",
        "99500",
    ))
    .await;
    let after = reset + (chrono::Utc::now() - reset) / 2;
    push(info_line(after, "100000", "99600")).await;
    wait_until(WAIT, "the summary is stored", || async {
        events(&server)
            .await
            .iter()
            .any(|r| r.event.kind == "daily_summary")
    })
    .await;
    let summaries: Vec<_> = events(&server)
        .await
        .into_iter()
        .filter(|r| r.event.kind == "daily_summary")
        .collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].event.time, reset, "at the reset");
    wait_until(WAIT, "the trader's summary", || async {
        telegram.accepted().iter().any(|m| m.chat_id == "42")
    })
    .await;
    let text = telegram
        .accepted()
        .into_iter()
        .find(|m| m.chat_id == "42")
        .expect("sent")
        .text;
    let date = reset
        .with_timezone(&chrono_tz_prague())
        .date_naive()
        .pred_opt()
        .expect("a day before");
    for part in [
        format!("Daily summary: FTMO 100k, {date}"),
        "Status: active".to_owned(),
        "Closing balance: 100,000.00  Closing equity: 99,500.00".to_owned(),
        "Day P/L: -500.00".to_owned(),
        "Lowest equity: 99,500.00".to_owned(),
        "daily_loss: 4,600.00 room left".to_owned(),
        "profit_target: ".to_owned(),
        "to go".to_owned(),
        "Dashboard: https://dash.example/accounts/ftmo-100k".to_owned(),
    ] {
        assert!(text.contains(&part), "{part:?} is not in {text}");
    }
    wait_until(WAIT, "the summary on the trader's webhook", || async {
        !jane_hook.accepted().is_empty()
    })
    .await;
    assert_eq!(jane_hook.bad_signatures(), 0);
    let call = &jane_hook.accepted()[0];
    assert_eq!(call.body["kind"], "daily_summary");
    assert_eq!(call.body["event"]["end_equity"], "99500");
    // The firm asked for breaches only: neither its chat nor its webhook had the summary.
    assert!(telegram.accepted().iter().all(|m| m.chat_id == "42"));
    assert!(webhook.accepted().is_empty());
}

/// Europe/Prague, read from the engine's reset clock (the tests do not depend on a zone
/// database of their own).
fn chrono_tz_prague() -> impl chrono::TimeZone {
    shared::engine::ResetClock::prague_midnight().time_zone
}
