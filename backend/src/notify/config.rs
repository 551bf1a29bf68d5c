//! The `[notifications]` section of the configuration: the firm's channels and the delivery
//! schedule. Secrets (bot token, webhook key, SMTP password) are redacted in `Debug`.

use serde::Deserialize;
use std::time::Duration;

/// How notifications are sent, and where the firm's own copies go.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The dashboard's public address (e.g. `https://riskdeck.example.com`): messages link to
    /// the account's page under it. Without it messages carry no link.
    pub public_url: Option<String>,
    /// The firm's time zone (IANA, e.g. `Europe/Prague`): times in messages are shown in it.
    pub time_zone: String,
    /// How often the notifier looks for due work when it found none the last time.
    #[serde(with = "crate::config::millis")]
    pub poll_interval: Duration,
    /// Attempts per delivery before it is given up (its error kept).
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one (with
    /// jitter), up to `retry_max`.
    #[serde(with = "crate::config::millis")]
    pub retry_base: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "crate::config::millis")]
    pub retry_max: Duration,
    /// The longest one attempt may take. A delivery being sent is leased for this and 5 s
    /// more: if the process dies meanwhile it is tried again once the lease runs out.
    #[serde(with = "crate::config::millis")]
    pub send_timeout: Duration,
    /// The kinds of events the firm's channels hear about; empty means every kind.
    pub kinds: Vec<String>,
    /// The Telegram bot (needed for anyone's Telegram messages).
    pub telegram: Option<TelegramConfig>,
    /// The firm's webhook.
    pub webhook: Option<WebhookConfig>,
    /// The SMTP server (needed for anyone's email).
    pub email: Option<EmailConfig>,
    /// Internal hosts traders' webhooks may reach (`"hooks.internal:8080"`, `"10.0.0.5"`):
    /// any other loopback, private, link-local or metadata address is refused.
    pub allow_internal_hosts: Vec<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            time_zone: "UTC".to_owned(),
            poll_interval: Duration::from_secs(1),
            max_attempts: 8,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(15 * 60),
            send_timeout: Duration::from_secs(10),
            kinds: Vec::new(),
            telegram: None,
            webhook: None,
            email: None,
            allow_internal_hosts: Vec::new(),
        }
    }
}

/// The Telegram Bot API.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The Bot API's address; tests point it at a local server.
    #[serde(default = "telegram_api")]
    pub api_base_url: String,
    /// The bot's token from `@BotFather`. Never logged.
    pub bot_token: String,
    /// The firm's chat (a person's or a group's id); per-trader chats are in their preferences.
    #[serde(default)]
    pub chat_id: Option<String>,
}

fn telegram_api() -> String {
    "https://api.telegram.org".to_owned()
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("api_base_url", &self.api_base_url)
            .field("bot_token", &"<redacted>")
            .field("chat_id", &self.chat_id)
            .finish()
    }
}

/// The firm's webhook.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where each event is posted.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Riskdeck-Signature` header (at least 16 characters).
    /// Never logged.
    pub secret: String,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    Starttls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

/// The SMTP server.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The server's host name.
    pub host: String,
    /// Its port (587 by default).
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default = "smtp_tls")]
    pub tls: SmtpTls,
    /// The sign-in name, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// The password. Never logged.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `Riskdeck <alerts@example.com>`.
    pub from: String,
    /// The firm's own address, if it wants a copy of every message.
    #[serde(default)]
    pub to: Option<String>,
}

fn smtp_port() -> u16 {
    587
}

fn smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl NotifyConfig {
    /// Checks what serde cannot; the message names the key to fix.
    pub fn validate(&self) -> Result<(), String> {
        let http_url = |key: &str, url: &str| match url::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
            _ => Err(format!(
                "[notifications] {key} {url:?} is not an http(s) URL"
            )),
        };
        if let Some(url) = &self.public_url {
            http_url("public_url", url)?;
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "[notifications] time_zone {:?} is not an IANA time zone (e.g. \"Europe/Prague\")",
                self.time_zone
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err("[notifications] max_attempts must be between 1 and 100".to_owned());
        }
        if self.poll_interval < Duration::from_millis(50) {
            return Err("[notifications] poll_interval must be at least 50 ms".to_owned());
        }
        if self.retry_base < Duration::from_millis(10) || self.retry_max < self.retry_base {
            return Err(
                "[notifications] retry_base must be at least 10 ms and retry_max at least \
                 retry_base"
                    .to_owned(),
            );
        }
        if self.send_timeout < Duration::from_millis(100) {
            return Err("[notifications] send_timeout must be at least 100 ms".to_owned());
        }
        super::address::AllowList::parse(&self.allow_internal_hosts)?;
        for kind in &self.kinds {
            if !super::KINDS.contains(&kind.as_str()) {
                return Err(format!(
                    "[notifications] kinds: {kind:?} is not one of {}",
                    super::KINDS.join(", ")
                ));
            }
        }
        if let Some(telegram) = &self.telegram {
            http_url("telegram.api_base_url", &telegram.api_base_url)?;
            if telegram.bot_token.is_empty() || telegram.bot_token.contains(['/', ' ']) {
                return Err(
                    "[notifications.telegram] bot_token must be the token @BotFather gave \
                     (digits, a colon, letters)"
                        .to_owned(),
                );
            }
            if let Some(chat) = &telegram.chat_id {
                super::prefs::check_chat_id(chat)
                    .map_err(|m| format!("[notifications.telegram] chat_id: {m}"))?;
            }
        }
        if let Some(webhook) = &self.webhook {
            http_url("webhook.url", &webhook.url)?;
            if webhook.secret.chars().count() < super::prefs::MIN_SECRET_CHARS {
                return Err(format!(
                    "[notifications.webhook] secret must be at least {} characters (e.g. the \
                     output of `openssl rand -hex 24`)",
                    super::prefs::MIN_SECRET_CHARS
                ));
            }
        }
        if let Some(email) = &self.email {
            if email.host.is_empty() {
                return Err("[notifications.email] host is empty".to_owned());
            }
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(format!(
                    "[notifications.email] from {:?} is not an address (e.g. \"Riskdeck \
                     <alerts@example.com>\")",
                    email.from
                ));
            }
            if let Some(to) = &email.to {
                super::prefs::check_email(to)
                    .map_err(|m| format!("[notifications.email] to: {m}"))?;
            }
            if email.username.is_some() != email.password.is_some() {
                return Err(
                    "[notifications.email] give both username and password, or neither".to_owned(),
                );
            }
        }
        Ok(())
    }
}
