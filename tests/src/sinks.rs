//! Local stand-ins for the outside services notifications go to: a Telegram-Bot-API-shaped
//! HTTP server, a webhook receiver that checks the signature, and an SMTP sink speaking enough
//! of the protocol for a real client. Each records what it received and can be told to fail.
//!
//! Plain tokio and axum only.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr.to_string())
}

/// One `sendMessage` the Telegram stand-in accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelegramMessage {
    /// The bot token in the URL.
    pub token: String,
    /// `chat_id`.
    pub chat_id: String,
    /// `text`.
    pub text: String,
}

/// A Telegram Bot API stand-in: `POST /bot{token}/sendMessage`.
#[derive(Clone, Default)]
pub struct Telegram {
    accepted: Arc<Mutex<Vec<TelegramMessage>>>,
    /// 0: answer `ok`; otherwise answer with this status and `ok: false`.
    failing: Arc<AtomicU16>,
    refused: Arc<AtomicU16>,
}

impl Telegram {
    /// Starts the server; returns it and its base URL.
    pub async fn start() -> (Self, String) {
        let telegram = Self::default();
        let app = Router::new()
            .route("/{bot}/sendMessage", post(Self::send_message))
            .with_state(telegram.clone());
        let (listener, addr) = bind().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        (telegram, format!("http://{addr}"))
    }

    async fn send_message(
        State(telegram): State<Self>,
        Path(bot): Path<String>,
        body: axum::Json<serde_json::Value>,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        let failing = telegram.failing.load(Ordering::SeqCst);
        if failing != 0 {
            telegram.refused.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(failing).unwrap_or(StatusCode::BAD_GATEWAY);
            return (
                status,
                axum::Json(serde_json::json!({
                    "ok": false, "error_code": failing, "description": "Bad Request: chat not found"
                })),
            );
        }
        let chat_id = match &body["chat_id"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lock(&telegram.accepted).push(TelegramMessage {
            token: bot.strip_prefix("bot").unwrap_or(&bot).to_owned(),
            chat_id,
            text: body["text"].as_str().unwrap_or_default().to_owned(),
        });
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ok": true, "result": {"message_id": 1}})),
        )
    }

    /// Every message accepted so far.
    pub fn accepted(&self) -> Vec<TelegramMessage> {
        lock(&self.accepted).clone()
    }

    /// Answer every request with `status` (`0`: accept again).
    pub fn fail_with(&self, status: u16) {
        self.failing.store(status, Ordering::SeqCst);
    }

    /// Requests answered with a failure so far.
    pub fn refused(&self) -> u16 {
        self.refused.load(Ordering::SeqCst)
    }
}

/// One webhook call the receiver accepted.
#[derive(Clone, Debug)]
pub struct WebhookCall {
    /// `X-Riskdeck-Delivery`.
    pub delivery: String,
    /// The body.
    pub body: serde_json::Value,
}

/// A webhook receiver that checks `X-Riskdeck-Signature` against its key and answers 401 to a
/// call whose signature is wrong (counted as `bad_signatures`).
#[derive(Clone)]
pub struct Webhook {
    secret: Arc<String>,
    accepted: Arc<Mutex<Vec<WebhookCall>>>,
    bad_signatures: Arc<AtomicU16>,
    failing: Arc<AtomicU16>,
    refused: Arc<AtomicU16>,
    held: Arc<AtomicU16>,
}

/// [`Webhook::fail_with`] this to hold every call unanswered until told otherwise.
pub const HOLD: u16 = 1;
/// [`Webhook::fail_with`] this to accept every call (it is recorded) but hold the answer back
/// until told otherwise: the receiver has it, the sender does not know yet.
pub const ACCEPT_THEN_HOLD: u16 = 2;

impl Webhook {
    /// Starts a receiver checking signatures with `secret`; returns it and its URL.
    pub async fn start(secret: &str) -> (Self, String) {
        let webhook = Self {
            secret: Arc::new(secret.to_owned()),
            accepted: Arc::default(),
            bad_signatures: Arc::default(),
            failing: Arc::default(),
            refused: Arc::default(),
            held: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(Self::receive))
            .with_state(webhook.clone());
        let (listener, addr) = bind().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        (webhook, format!("http://{addr}/hook"))
    }

    async fn receive(
        State(webhook): State<Self>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, webhook.secret.as_bytes());
        let signature = header("x-riskdeck-signature");
        let valid = signature
            .strip_prefix("sha256=")
            .and_then(|hex_text| hex::decode(hex_text).ok())
            .is_some_and(|tag| ring::hmac::verify(&key, &body, &tag).is_ok());
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        // `sent_at` is a JSON number: its text is what the header carries.
        let sent_at = json["sent_at"].to_string();
        let timestamp_signed = sent_at == header("x-riskdeck-timestamp");
        if !valid || !timestamp_signed {
            webhook.bad_signatures.fetch_add(1, Ordering::SeqCst);
            return StatusCode::UNAUTHORIZED;
        }
        if webhook.failing.load(Ordering::SeqCst) == HOLD {
            // Keep the sender waiting: it is in the middle of delivering. A call held is never
            // accepted (its sender may be gone by the time it is let go).
            webhook.held.fetch_add(1, Ordering::SeqCst);
            while webhook.failing.load(Ordering::SeqCst) == HOLD {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let failing = webhook.failing.load(Ordering::SeqCst);
        if failing != 0 && failing != ACCEPT_THEN_HOLD {
            webhook.refused.fetch_add(1, Ordering::SeqCst);
            return StatusCode::from_u16(failing).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        }
        lock(&webhook.accepted).push(WebhookCall {
            delivery: header("x-riskdeck-delivery"),
            body: json,
        });
        if failing == ACCEPT_THEN_HOLD {
            webhook.held.fetch_add(1, Ordering::SeqCst);
            while webhook.failing.load(Ordering::SeqCst) == ACCEPT_THEN_HOLD {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        StatusCode::NO_CONTENT
    }

    /// Every call accepted so far.
    pub fn accepted(&self) -> Vec<WebhookCall> {
        lock(&self.accepted).clone()
    }

    /// The calls accepted, each delivery once: a repeat of a delivery id already seen is
    /// dropped, as a receiver following the documentation does.
    pub fn distinct(&self) -> Vec<WebhookCall> {
        let mut seen = std::collections::HashSet::new();
        self.accepted()
            .into_iter()
            .filter(|call| seen.insert(call.delivery.clone()))
            .collect()
    }

    /// Calls refused for a wrong signature so far.
    pub fn bad_signatures(&self) -> u16 {
        self.bad_signatures.load(Ordering::SeqCst)
    }

    /// Answer every correctly signed call with `status` (`0`: accept again; [`HOLD`]: keep
    /// it waiting; [`ACCEPT_THEN_HOLD`]: accept it, then keep the answer waiting).
    pub fn fail_with(&self, status: u16) {
        self.failing.store(status, Ordering::SeqCst);
    }

    /// Correctly signed calls answered with a failure so far.
    pub fn refused(&self) -> u16 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Calls held unanswered so far ([`HOLD`], [`ACCEPT_THEN_HOLD`]).
    pub fn held(&self) -> u16 {
        self.held.load(Ordering::SeqCst)
    }
}

/// One message the SMTP sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, dot-stuffing undone).
    pub data: String,
}

impl Mail {
    /// The value of a header (first line only).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data.lines().find_map(|line| {
            line.to_ascii_lowercase()
                .starts_with(&prefix)
                .then(|| line[prefix.len()..].trim().to_owned())
        })
    }
}

/// An SMTP server that accepts every message (no TLS, no authentication).
#[derive(Clone, Default)]
pub struct Smtp {
    accepted: Arc<Mutex<Vec<Mail>>>,
}

impl Smtp {
    /// Starts the sink; returns it and its port (on 127.0.0.1).
    pub async fn start() -> (Self, u16) {
        let smtp = Self::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sink = smtp.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let _ = sink.session(socket).await;
                });
            }
        });
        (smtp, port)
    }

    async fn session(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP ready\r\n").await?;
        let mut to = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                b"250 sink\r\n"
            } else if command.starts_with("MAIL FROM") {
                to.clear();
                b"250 OK\r\n"
            } else if command.starts_with("RCPT TO") {
                let address = line
                    .trim_end()
                    .get(8..)
                    .unwrap_or_default()
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned();
                to.push(address);
                b"250 OK\r\n"
            } else if command == "DATA" {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                lock(&self.accepted).push(Mail {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 OK queued\r\n"
            } else if command == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else if command == "RSET" || command == "NOOP" {
                b"250 OK\r\n"
            } else {
                b"502 not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
    }

    /// Every message accepted so far.
    pub fn accepted(&self) -> Vec<Mail> {
        lock(&self.accepted).clone()
    }
}
