//! Notifications: every challenge event, once per channel and recipient, over Telegram, a
//! signed webhook and email.
//!
//! The event and its outbox row are written in one transaction with the engine state (see
//! `db`). The notifier then works in two steps, each claimed from the database with a lease so
//! that a crash loses nothing and two instances never take the same work:
//!
//! 1. **Fan-out**: an outbox row becomes one delivery per (channel, recipient): the firm's
//!    channels from the configuration and the account owner's from their preferences, filtered
//!    by the kinds and rules each wants. Deliveries are keyed by (event, channel, recipient), so
//!    a fan-out repeated after a crash adds nothing.
//! 2. **Delivery**: each due delivery is sent once; a failure is tried again after an
//!    exponentially growing wait with jitter, up to `max_attempts`, then given up with its
//!    error kept. A delivered one is never sent again, however often the notifier polls or
//!    restarts. Only a crash between a send and its record can repeat that one send, once;
//!    every channel carries the delivery's id (webhook header, email `Message-ID`) so the
//!    receiving side can drop the repeat.
//!
//! It must not: send from the tracker (a slow SMTP server never delays risk tracking), or
//! decide anything about the challenge.

pub mod address;
pub mod channels;
pub mod config;
pub mod message;
pub mod prefs;

use channels::SendError;
use chrono::{DateTime, Utc};
pub use config::NotifyConfig;
use shared::api::{Role, UserId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::{Delivery, DeliveryTarget, Notification, Store};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The event kinds people can ask to hear about: the engine's, then the tracker's, then a
/// MetaApi risk tracker's (`crate::risk`).
pub const KINDS: [&str; 14] = [
    "warning",
    "breach",
    "held",
    "objective_met",
    "passed",
    "failed",
    "feed_stale",
    "feed_recovered",
    "daily_summary",
    crate::risk::EVENT_KIND,
    // A program phase's next phase started (`tracker::promotion`).
    "promoted",
    // A competition started, disqualified an entrant, froze its final standings
    // (`crate::competitions`).
    "competition_started",
    "competition_disqualified",
    "competition_final",
];
/// The channels.
pub const CHANNELS: [&str; 3] = ["telegram", "webhook", "email"];
/// The recipient that stands for the firm's own channels.
pub const FIRM: &str = "firm";
/// How many outbox rows or deliveries one round takes.
const BATCH: u32 = 50;
/// Events older than this when they are fanned out are not sent: the events a new challenge's
/// history replays, and the backlog of a database that had events before notifications were
/// sent, are old news (they stay on the dashboard and in the events list).
pub const HORIZON: chrono::Duration = chrono::Duration::hours(24);

/// Sends notifications; one per server (several instances on one database share the work).
pub struct Notifier {
    store: Arc<dyn Store>,
    config: NotifyConfig,
    zone: chrono_tz::Tz,
    http: reqwest::Client,
    /// Sends traders' webhooks: names resolve only to addresses a webhook may reach.
    guarded: reqwest::Client,
    /// The internal hosts an operator lets traders' webhooks reach.
    allow: address::AllowList,
    mailer: Option<channels::Mailer>,
    /// Opens the traders' sealed webhook keys.
    secret_key: Option<store::secrets::SecretKey>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The recipient key of a user.
pub fn user_recipient(user: UserId) -> String {
    format!("user:{user}")
}

/// How every notification leaves: within `timeout`, never following a redirect.
fn http_client(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("riskdeck/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
}

/// The id of one delivery, the same on every attempt (`12-webhook-user-3`).
pub fn delivery_id(event_id: i64, channel: &str, recipient: &str) -> String {
    format!("{event_id}-{channel}-{}", recipient.replace(':', "-"))
}

impl Notifier {
    /// A notifier for the configured channels (checked already by `Config::validate`);
    /// `secret_key` opens the webhook keys people stored.
    pub fn new(
        store: Arc<dyn Store>,
        config: NotifyConfig,
        secret_key: Option<store::secrets::SecretKey>,
    ) -> Result<Self, String> {
        let zone = config
            .time_zone
            .parse()
            .map_err(|_| format!("[notifications] time_zone {:?}", config.time_zone))?;
        let allow = address::AllowList::parse(&config.allow_internal_hosts)?;
        let client = || http_client(config.send_timeout);
        let http = client()
            .build()
            .map_err(|e| format!("cannot set up the notifier's HTTP client: {e}"))?;
        // Traders' webhooks connect only to addresses the resolver lets through.
        let guarded = client()
            .dns_resolver(Arc::new(address::Resolver::new(allow.clone())))
            .build()
            .map_err(|e| format!("cannot set up the notifier's HTTP client: {e}"))?;
        let mailer = config
            .email
            .as_ref()
            .map(|email| channels::mailer(email, config.send_timeout))
            .transpose()?;
        Ok(Self {
            store,
            config,
            zone,
            http,
            guarded,
            allow,
            mailer,
            secret_key,
        })
    }

    /// The client for a webhook: the firm's (configured by the operator) and allow-listed
    /// hosts go out as they are; a trader's goes through the address guard.
    fn webhook_client(&self, trader: bool, url: &str) -> Result<&reqwest::Client, SendError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| SendError::Permanent("webhook: the URL does not parse".to_owned()))?;
        if !trader || self.allow.allows(&parsed) {
            return Ok(&self.http);
        }
        address::check_literal(&parsed).map_err(|reason| {
            tracing::warn!(%reason, "a webhook to a refused address was not sent");
            SendError::Permanent(format!("webhook: refused: {reason}"))
        })?;
        Ok(&self.guarded)
    }

    /// How long a claim keeps work from others: one attempt's time limit and a margin.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.send_timeout + Duration::from_secs(5))
            .unwrap_or(chrono::Duration::seconds(60))
    }

    /// Fans out and delivers until there is nothing due, then every `poll_interval`, until
    /// `shutdown`. Store failures are logged and retried at the next turn. Each delivery is
    /// sent in its own task and recorded as soon as it is answered, so a slow receiver holds up
    /// neither the others nor the next events; at shutdown the sends in flight are let finish
    /// (each bounded by the send timeout) and recorded, so a restart does not repeat them.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut sending = JoinSet::new();
        loop {
            while sending.try_join_next().is_some() {}
            let room = BATCH.saturating_sub(u32::try_from(sending.len()).unwrap_or(BATCH));
            let busy = match self.round(Utc::now(), room, &mut sending).await {
                Ok(work) => work > 0,
                Err(error) => {
                    tracing::warn!(%error, "notifier: the store failed; will retry");
                    false
                }
            };
            if busy && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
                Some(_) = sending.join_next(), if !sending.is_empty() => {}
            }
        }
        while sending.join_next().await.is_some() {}
    }

    /// One round: fans out the due outbox rows, then claims up to `room` due deliveries and
    /// starts sending each in `sending`. Returns how much it took on.
    async fn round(
        self: &Arc<Self>,
        now: DateTime<Utc>,
        room: u32,
        sending: &mut JoinSet<()>,
    ) -> Result<usize, store::StoreError> {
        let lease_until = now + self.lease();
        let outbox = self
            .store
            .claim_notifications(now, lease_until, BATCH)
            .await?;
        let planned = outbox.len();
        for notification in outbox {
            let targets = self.targets(&notification).await?;
            self.store
                .plan_deliveries(
                    notification.event_id,
                    &notification.account,
                    &targets,
                    Utc::now(),
                )
                .await?;
        }
        if room == 0 {
            return Ok(planned);
        }
        let due = self
            .store
            .claim_deliveries(Utc::now(), Utc::now() + self.lease(), room)
            .await?;
        let sent = due.len();
        if due.is_empty() {
            return Ok(planned);
        }
        let names: Arc<HashMap<String, String>> = Arc::new(
            self.store
                .accounts()
                .await?
                .into_iter()
                .map(|a| (a.id.0, a.name))
                .collect(),
        );
        for delivery in due {
            let notifier = Arc::clone(self);
            let names = Arc::clone(&names);
            sending.spawn(async move {
                let outcome = notifier.send(&delivery, &names).await;
                if let Err(error) = notifier.settle(&delivery, outcome).await {
                    // The claim's lease runs out and the delivery is tried again.
                    tracing::warn!(
                        event_id = delivery.event_id,
                        channel = %delivery.channel,
                        recipient = %delivery.recipient,
                        %error,
                        "notifier: cannot record a delivery's outcome; it will be tried again"
                    );
                }
            });
        }
        Ok(planned + sent)
    }

    /// Who hears about an outbox notification, on which channels.
    async fn targets(
        &self,
        notification: &Notification,
    ) -> Result<Vec<DeliveryTarget>, store::StoreError> {
        let event = &notification.event;
        let mut targets = Vec::new();
        if !KINDS.contains(&event.kind.as_str()) {
            // Other events (an admin's anchor correction, ...) are not notified.
            return Ok(targets);
        }
        if event.time < Utc::now() - HORIZON {
            tracing::info!(
                event_id = notification.event_id,
                account = %notification.account,
                "event older than a day: not notified"
            );
            return Ok(targets);
        }
        let target = |channel: &str, recipient: &str| DeliveryTarget {
            channel: channel.to_owned(),
            recipient: recipient.to_owned(),
        };
        if prefs::wants(&self.config.kinds, &[], &event.kind, event.rule.as_deref()) {
            if self
                .config
                .telegram
                .as_ref()
                .is_some_and(|t| t.chat_id.is_some())
            {
                targets.push(target("telegram", FIRM));
            }
            if self.config.webhook.is_some() {
                targets.push(target("webhook", FIRM));
            }
            if self.config.email.as_ref().is_some_and(|e| e.to.is_some()) {
                targets.push(target("email", FIRM));
            }
        }
        if let Some(owner) = self.store.account_owner(&notification.account).await?
            && let Some(user) = self.store.user(owner).await?
            && !user.disabled
            && user.role == Role::Trader
        {
            let stored = prefs::Stored::parse(
                self.store.notification_preferences(owner).await?.as_deref(),
                self.secret_key.as_ref(),
                owner,
            );
            if stored.wants(&event.kind, event.rule.as_deref()) {
                let recipient = user_recipient(owner);
                if stored.telegram_chat_id.is_some() && self.config.telegram.is_some() {
                    targets.push(target("telegram", &recipient));
                }
                if stored.webhook_url.is_some() {
                    targets.push(target("webhook", &recipient));
                }
                if stored.email.is_some() && self.config.email.is_some() {
                    targets.push(target("email", &recipient));
                }
            }
        }
        Ok(targets)
    }

    /// One attempt at one delivery.
    async fn send(
        &self,
        delivery: &Delivery,
        names: &HashMap<String, String>,
    ) -> Result<(), SendError> {
        let account = delivery.account.as_str();
        let message = message::render(
            delivery.event_id,
            account,
            names.get(account).map_or(account, String::as_str),
            &delivery.event,
            self.zone,
            self.config.public_url.as_deref(),
        );
        let id = delivery_id(delivery.event_id, &delivery.channel, &delivery.recipient);
        let user = match delivery.recipient.strip_prefix("user:") {
            Some(id) => {
                let id = id
                    .parse()
                    .map(UserId)
                    .map_err(|_| SendError::Permanent(format!("unknown recipient {id:?}")))?;
                Some(prefs::Stored::parse(
                    self.store
                        .notification_preferences(id)
                        .await
                        .map_err(|e| SendError::Transient {
                            message: format!("cannot read the preferences: {e}"),
                            retry_after: None,
                        })?
                        .as_deref(),
                    self.secret_key.as_ref(),
                    id,
                ))
            }
            None => None,
        };
        let gone = || {
            SendError::Permanent(format!(
                "the recipient no longer has {} configured",
                delivery.channel
            ))
        };
        match delivery.channel.as_str() {
            "telegram" => {
                let telegram = self.config.telegram.as_ref().ok_or_else(gone)?;
                let chat = match &user {
                    Some(user) => user.telegram_chat_id.as_deref(),
                    None => telegram.chat_id.as_deref(),
                }
                .ok_or_else(gone)?;
                channels::telegram(
                    &self.http,
                    &telegram.api_base_url,
                    &telegram.bot_token,
                    chat,
                    &message,
                )
                .await
            }
            "webhook" => {
                let (url, secret) = match &user {
                    Some(user) => (user.webhook_url.as_deref(), user.webhook_secret.as_deref()),
                    None => self.config.webhook.as_ref().map_or((None, None), |w| {
                        (Some(w.url.as_str()), Some(w.secret.as_str()))
                    }),
                };
                let (Some(url), Some(secret)) = (url, secret) else {
                    return Err(gone());
                };
                channels::webhook(
                    self.webhook_client(user.is_some(), url)?,
                    url,
                    secret,
                    &id,
                    &message,
                )
                .await
            }
            "email" => {
                let (Some(mailer), Some(email)) = (&self.mailer, &self.config.email) else {
                    return Err(gone());
                };
                let to = match &user {
                    Some(user) => user.email.as_deref(),
                    None => email.to.as_deref(),
                }
                .ok_or_else(gone)?;
                channels::email(mailer, &email.from, to, &id, &message).await
            }
            other => Err(SendError::Permanent(format!("unknown channel {other:?}"))),
        }
    }

    /// Records an attempt's outcome: delivered, due again after a backoff, or given up.
    async fn settle(
        &self,
        delivery: &Delivery,
        outcome: Result<(), SendError>,
    ) -> Result<(), store::StoreError> {
        let (event_id, channel, recipient) =
            (delivery.event_id, &delivery.channel, &delivery.recipient);
        match outcome {
            Ok(()) => {
                self.store
                    .mark_delivery_delivered(event_id, channel, recipient, Utc::now())
                    .await
            }
            Err(error) => {
                let retry_at = match &error {
                    SendError::Transient { retry_after, .. }
                        if delivery.attempts < self.config.max_attempts =>
                    {
                        let wait = backoff(
                            self.config.retry_base,
                            self.config.retry_max,
                            delivery.attempts,
                            fastrand::f64(),
                        )
                        .max(retry_after.unwrap_or_default());
                        Some(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
                    }
                    _ => None,
                };
                let text = error.to_string();
                match retry_at {
                    Some(at) => tracing::info!(
                        event_id, %channel, %recipient, attempt = delivery.attempts,
                        error = %text, retry_at = %at, "notification failed; will retry"
                    ),
                    None => tracing::warn!(
                        event_id, %channel, %recipient, attempts = delivery.attempts,
                        error = %text, "notification given up"
                    ),
                }
                self.store
                    .mark_delivery_failed(event_id, channel, recipient, &text, retry_at)
                    .await
            }
        }
    }
}

/// The wait after attempt `attempt` (1 for the first) failed: `base` doubled per further
/// attempt, at most `max`, scaled by a jitter between one half and one (`unit` in 0..1), so
/// that many deliveries failing together do not retry in step.
pub fn backoff(base: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    doubled.min(max).mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(attempt: u32, unit: f64, expected_ms: u64) {
        let wait = backoff(
            Duration::from_secs(1),
            Duration::from_secs(60),
            attempt,
            unit,
        );
        assert_eq!(
            wait,
            Duration::from_millis(expected_ms),
            "attempt {attempt}"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        check(1, 1.0, 1_000);
        check(1, 0.0, 500);
        check(2, 1.0, 2_000);
        check(3, 1.0, 4_000);
        check(7, 1.0, 60_000);
        check(40, 0.0, 30_000);
        check(0, 1.0, 1_000);
    }

    #[test]
    fn delivery_ids_are_stable_and_safe_in_a_message_id() {
        assert_eq!(delivery_id(12, "email", "user:3"), "12-email-user-3");
        assert_eq!(delivery_id(12, "webhook", FIRM), "12-webhook-firm");
    }

    #[tokio::test]
    async fn webhooks_follow_no_redirect_and_the_guard_refuses_internal_names() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(|| async { axum::response::Redirect::temporary("/internal") }),
            )
            .route(
                "/internal",
                axum::routing::post(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let message = message::Message {
            subject: "s".to_owned(),
            text: "t".to_owned(),
            payload: message::Payload {
                event_id: 1,
                account: "a".to_owned(),
                account_name: "A".to_owned(),
                kind: "breach".to_owned(),
                rule: None,
                time: chrono::Utc::now(),
                local_time: String::new(),
                value: None,
                limit: None,
                room: None,
                fraction: None,
                link: None,
                text: String::new(),
                event: serde_json::Value::Null,
            },
        };
        let http = http_client(Duration::from_secs(5)).build().expect("client");
        let url = format!("http://{addr}/hook");
        let error = channels::webhook(&http, &url, "0123456789abcdef", "1", &message)
            .await
            .expect_err("a redirect is not a delivery");
        assert!(
            matches!(&error, SendError::Permanent(m) if m.contains("307")),
            "{error:?}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "the redirect was not followed"
        );

        let guarded = http_client(Duration::from_secs(5))
            .dns_resolver(Arc::new(address::Resolver::new(
                address::AllowList::default(),
            )))
            .build()
            .expect("client");
        let url = format!("http://localhost:{}/internal", addr.port());
        let error = channels::webhook(&guarded, &url, "0123456789abcdef", "1", &message)
            .await
            .expect_err("localhost is refused");
        assert!(
            matches!(&error, SendError::Permanent(m) if m.contains("refused")),
            "{error:?}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }
}
