//! The three ways a notification leaves: the Telegram Bot API (`sendMessage`), a webhook (JSON
//! signed with HMAC-SHA256) and email over SMTP. Each send is one attempt; the notifier decides
//! about retries from the [`SendError`].

use super::config::{EmailConfig, SmtpTls};
use super::message::Message;
use lettre::AsyncTransport;
use ring::hmac;
use std::time::Duration;

/// The signature header of a webhook: `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "x-riskdeck-signature";
/// The webhook's send time (Unix seconds), also in the signed body as `sent_at`.
pub const TIMESTAMP_HEADER: &str = "x-riskdeck-timestamp";
/// The delivery's id, the same on every attempt: receivers drop a repeat by it.
pub const DELIVERY_HEADER: &str = "x-riskdeck-delivery";

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (timeouts, 5xx, 429, a server that is away), after at least
    /// the given wait when the other side said how long.
    #[error("{message}")]
    Transient {
        /// What happened (no secrets in it).
        message: String,
        /// The wait the other side asked for.
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (a chat that does not exist, an address the server refuses,
    /// the channel not configured).
    #[error("{0}")]
    Permanent(String),
}

fn transient(message: String) -> SendError {
    SendError::Transient {
        message,
        retry_after: None,
    }
}

/// Sends through the Telegram Bot API.
pub async fn telegram(
    http: &reqwest::Client,
    api_base_url: &str,
    bot_token: &str,
    chat_id: &str,
    message: &Message,
) -> Result<(), SendError> {
    let url = format!(
        "{}/bot{bot_token}/sendMessage",
        api_base_url.trim_end_matches('/')
    );
    let response = http
        .post(url)
        .json(&serde_json::json!({
            "chat_id": chat_id,
            "text": message.text,
            "disable_web_page_preview": true,
        }))
        .send()
        .await
        // The URL holds the bot token: keep it out of the message.
        .map_err(|e| transient(format!("telegram: {}", e.without_url())))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if status.is_success() && body["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    let description = body["description"]
        .as_str()
        .unwrap_or("no description")
        .chars()
        .take(300)
        .collect::<String>();
    let message = format!("telegram: HTTP {}: {description}", status.as_u16());
    if status.as_u16() == 429 {
        let retry_after = body["parameters"]["retry_after"]
            .as_u64()
            .map(Duration::from_secs);
        return Err(SendError::Transient {
            message,
            retry_after,
        });
    }
    if status.is_server_error() {
        return Err(transient(message));
    }
    Err(SendError::Permanent(message))
}

/// The hex HMAC-SHA256 of `body` under `secret`, as the signature header carries it.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// Posts the message's JSON to a webhook, signed.
pub async fn webhook(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery_id: &str,
    message: &Message,
) -> Result<(), SendError> {
    let sent_at = chrono::Utc::now().timestamp();
    let mut body = serde_json::to_value(&message.payload)
        .map_err(|e| SendError::Permanent(format!("webhook: cannot write the body: {e}")))?;
    body["delivery"] = serde_json::Value::from(delivery_id);
    body["sent_at"] = serde_json::Value::from(sent_at);
    let body = body.to_string();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(secret, body.as_bytes()))
        .header(TIMESTAMP_HEADER, sent_at.to_string())
        .header(DELIVERY_HEADER, delivery_id)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // The address guard refused every address of the name: trying again cannot help.
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(error) = source {
                if error.to_string().contains(super::address::REFUSED) {
                    tracing::warn!(reason = %error, "a webhook to a refused address was not sent");
                    return SendError::Permanent(format!("webhook: refused: {error}"));
                }
                source = error.source();
            }
            transient(format!("webhook: {}", e.without_url()))
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let message = format!("webhook: HTTP {}", status.as_u16());
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(SendError::Transient {
            message,
            retry_after,
        });
    }
    Err(SendError::Permanent(message))
}

/// An SMTP connection set up from the configuration (connections are opened per send).
pub type Mailer = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// The SMTP transport the configuration describes.
pub fn mailer(config: &EmailConfig, timeout: Duration) -> Result<Mailer, String> {
    let builder = match config.tls {
        SmtpTls::None => Mailer::builder_dangerous(&config.host),
        SmtpTls::Starttls => Mailer::starttls_relay(&config.host)
            .map_err(|e| format!("[notifications.email] {e}"))?,
        SmtpTls::Tls => {
            Mailer::relay(&config.host).map_err(|e| format!("[notifications.email] {e}"))?
        }
    };
    let builder = builder.port(config.port).timeout(Some(timeout)).hello_name(
        lettre::transport::smtp::extension::ClientId::Domain("riskdeck".to_owned()),
    );
    let builder = match (&config.username, &config.password) {
        (Some(user), Some(password)) => {
            builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                user.clone(),
                password.clone(),
            ))
        }
        _ => builder,
    };
    Ok(builder.build())
}

/// Sends the message by email. Its `Message-ID` is the delivery's, so a mail client shows a
/// repeat once.
pub async fn email(
    mailer: &Mailer,
    from: &str,
    to: &str,
    delivery_id: &str,
    message: &Message,
) -> Result<(), SendError> {
    let from = from
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| SendError::Permanent(format!("email: from: {e}")))?;
    let to = to
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| SendError::Permanent(format!("email: to: {e}")))?;
    let email = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(&message.subject)
        .message_id(Some(format!("<{delivery_id}@riskdeck>")))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|e| SendError::Permanent(format!("email: {e}")))?;
    match mailer.send(email).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_permanent() => Err(SendError::Permanent(format!("email: {error}"))),
        Err(error) => Err(transient(format!("email: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
