//! Fault knobs: ways for the demo broker to misbehave, switched on per account, so that tests,
//! the load harness and a person at the keyboard can watch Riskdeck cope with a broker that is
//! slow, failing, rate limiting, sending garbage, cutting answers short, hanging up, or frozen.
//!
//! Set them from Rust with [`DemoBroker::set_faults`](crate::DemoBroker::set_faults) or over HTTP
//! with `PUT /demo/faults/{account}` (`*` for every account; same `auth-token` as the rest), a
//! JSON [`Faults`]; `{}` clears them. `GET /demo/faults` lists every account's faults (counters
//! as they stand) and how many requests it received. Each fault but latency and freezing fires
//! `"always"`, for the `{"next": n}` requests, or on `{"percent": p}` of the requests (drawn from
//! a generator seeded with the broker's seed, so a given sequence of requests meets the same
//! faults), and at most one fires per request, in this order: dropped connection, server error,
//! rate limit, truncated body, malformed JSON.
//!
//! This module decides; `server` answers. It must not touch the simulated world except through
//! the broker (freezing is the world's).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use wire::metaapi::MetaError;

/// How often a fault fires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultMode {
    /// Never (`"off"`).
    #[default]
    Off,
    /// On every request (`"always"`).
    Always,
    /// On the next this many requests, counted down as they are hit (`{"next": 3}`).
    Next(u32),
    /// On each request with this chance, in percent (`{"percent": 20}`).
    Percent(u8),
}

impl FaultMode {
    /// Whether the fault fires on this request (counting a `Next` down when it does).
    fn fires(&mut self, rng: &mut fastrand::Rng) -> bool {
        match self {
            FaultMode::Off => false,
            FaultMode::Always => true,
            FaultMode::Next(left) => {
                let fires = *left > 0;
                *left = left.saturating_sub(1);
                fires
            }
            FaultMode::Percent(chance) => rng.u8(0..100) < *chance,
        }
    }
}

/// One account's faults. Every field may be left out of the JSON; `{}` is a healthy broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Faults {
    /// Every answer waits this long first.
    pub latency_ms: u64,
    /// HTTP 500 with MetaApi's error body.
    pub server_error: FaultMode,
    /// HTTP 429 with `Retry-After: retryAfterSecs` and `metadata.recommendedRetryTime`.
    pub rate_limit: FaultMode,
    /// The wait a rate limit asks for, in seconds.
    pub retry_after_secs: u64,
    /// HTTP 200 whose JSON is cut short (its closing bracket replaced by a comma), with a
    /// `Content-Length` that matches: the transport is fine, the JSON is not.
    pub malformed_json: FaultMode,
    /// The real answer with `Content-Length` of the whole body, but only its first half sent
    /// before the connection closes.
    pub truncated_body: FaultMode,
    /// The connection closes without an answer.
    pub drop_connection: FaultMode,
    /// The account stops in time: the same balance, equity, positions, quotes and last quote
    /// time until it thaws (see the world's docs).
    pub frozen: bool,
    /// The account's closing deals are filed dated this many seconds in the past (the balance
    /// moves now): a stop-loss close that appears in the history after its time, as MetaApi's
    /// history sync can do. 0: off.
    pub late_deals_secs: u64,
    /// The account's deals show in the history only this many seconds after their time, while
    /// the balance moves at once: account information reports a balance before its deal.
    /// 0: off.
    pub deal_delay_secs: u64,
    /// Streaming (`/ws`): the socket carrying the account closes, checked once per live tick.
    pub stream_drop: FaultMode,
    /// Streaming: the socket carrying the account goes silent without closing (no packets, no
    /// answers to pings), checked once per live tick.
    pub stream_stall: FaultMode,
    /// Streaming: a `disconnected` packet for the account, which then streams nothing until
    /// subscribed again, checked once per live tick.
    pub stream_disconnected: FaultMode,
    /// Streaming: each sequenced packet of the account is sent twice, checked per packet.
    pub stream_duplicates: FaultMode,
    /// Streaming: a sequenced packet is swapped with the one after it, checked per packet.
    pub stream_out_of_order: FaultMode,
    /// Streaming: `subscribe` is refused with `TooManyRequestsError`
    /// (`LIMIT_ACCOUNT_SUBSCRIPTIONS_PER_USER_PER_SERVER`, retry after `retryAfterSecs`),
    /// checked per subscribe.
    pub stream_refuse: FaultMode,
}

/// The streaming fault knobs, each drawn on its own occasion (see [`Faults`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFault {
    Drop,
    Stall,
    Disconnected,
    Duplicates,
    OutOfOrder,
    Refuse,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            server_error: FaultMode::Off,
            rate_limit: FaultMode::Off,
            retry_after_secs: 1,
            malformed_json: FaultMode::Off,
            truncated_body: FaultMode::Off,
            drop_connection: FaultMode::Off,
            frozen: false,
            late_deals_secs: 0,
            deal_delay_secs: 0,
            stream_drop: FaultMode::Off,
            stream_stall: FaultMode::Off,
            stream_disconnected: FaultMode::Off,
            stream_duplicates: FaultMode::Off,
            stream_out_of_order: FaultMode::Off,
            stream_refuse: FaultMode::Off,
        }
    }
}

/// The longest latency a fault may add.
const MAX_LATENCY_MS: u64 = 10 * 60 * 1_000;
/// The longest wait a rate limit may ask for.
const MAX_RETRY_AFTER_SECS: u64 = 3_600;
/// The furthest a deal may be back-dated or held back (a week).
const MAX_DEAL_SHIFT_SECS: u64 = 7 * 24 * 3_600;

impl Faults {
    /// Checks the values serde cannot.
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (name, mode) in self.modes() {
            if let FaultMode::Percent(chance) = mode
                && chance > 100
            {
                return Err(FaultsError::Invalid(format!(
                    "{name}: percent must be from 0 to 100, got {chance}"
                )));
            }
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(FaultsError::Invalid(format!(
                "latencyMs must be at most {MAX_LATENCY_MS}"
            )));
        }
        if self.retry_after_secs > MAX_RETRY_AFTER_SECS {
            return Err(FaultsError::Invalid(format!(
                "retryAfterSecs must be at most {MAX_RETRY_AFTER_SECS}"
            )));
        }
        for (name, secs) in [
            ("lateDealsSecs", self.late_deals_secs),
            ("dealDelaySecs", self.deal_delay_secs),
        ] {
            if secs > MAX_DEAL_SHIFT_SECS {
                return Err(FaultsError::Invalid(format!(
                    "{name} must be at most {MAX_DEAL_SHIFT_SECS}"
                )));
            }
        }
        Ok(())
    }

    fn modes(&self) -> [(&'static str, FaultMode); 11] {
        [
            ("dropConnection", self.drop_connection),
            ("serverError", self.server_error),
            ("rateLimit", self.rate_limit),
            ("truncatedBody", self.truncated_body),
            ("malformedJson", self.malformed_json),
            ("streamDrop", self.stream_drop),
            ("streamStall", self.stream_stall),
            ("streamDisconnected", self.stream_disconnected),
            ("streamDuplicates", self.stream_duplicates),
            ("streamOutOfOrder", self.stream_out_of_order),
            ("streamRefuse", self.stream_refuse),
        ]
    }

    fn stream_mode(&mut self, fault: StreamFault) -> &mut FaultMode {
        match fault {
            StreamFault::Drop => &mut self.stream_drop,
            StreamFault::Stall => &mut self.stream_stall,
            StreamFault::Disconnected => &mut self.stream_disconnected,
            StreamFault::Duplicates => &mut self.stream_duplicates,
            StreamFault::OutOfOrder => &mut self.stream_out_of_order,
            StreamFault::Refuse => &mut self.stream_refuse,
        }
    }
}

/// Why faults could not be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultsError {
    #[error("account {0} not found")]
    UnknownAccount(String),
    #[error("{0}")]
    Invalid(String),
}

/// What to do with one request instead of answering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    DropConnection,
    ServerError,
    RateLimit { retry_after_secs: u64 },
    TruncatedBody,
    MalformedJson,
}

/// One request's fate: how long it waits, and what goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub latency: Duration,
    pub fault: Option<Fault>,
}

/// One account's faults and requests, as listed by `GET /demo/faults`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFaults {
    /// The faults, with `next` counters as they stand.
    pub faults: Faults,
    /// Requests for this account's MetaApi routes so far.
    pub requests: u64,
}

/// Every account's faults and request counts, and the generator for `percent` faults.
#[derive(Debug)]
pub(super) struct FaultBook {
    accounts: HashMap<String, AccountFaults>,
    rng: fastrand::Rng,
}

impl FaultBook {
    pub fn new(seed: u64) -> Self {
        FaultBook {
            accounts: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn set(&mut self, account: &str, faults: Faults) {
        self.accounts.entry(account.to_owned()).or_default().faults = faults;
    }

    pub fn get(&self, account: &str) -> AccountFaults {
        self.accounts.get(account).copied().unwrap_or_default()
    }

    /// Counts a request for `account` and decides its fate.
    pub fn plan(&mut self, account: &str) -> Plan {
        let entry = self.accounts.entry(account.to_owned()).or_default();
        entry.requests += 1;
        let faults = &mut entry.faults;
        let rng = &mut self.rng;
        let fault = if faults.drop_connection.fires(rng) {
            Some(Fault::DropConnection)
        } else if faults.server_error.fires(rng) {
            Some(Fault::ServerError)
        } else if faults.rate_limit.fires(rng) {
            Some(Fault::RateLimit {
                retry_after_secs: faults.retry_after_secs,
            })
        } else if faults.truncated_body.fires(rng) {
            Some(Fault::TruncatedBody)
        } else if faults.malformed_json.fires(rng) {
            Some(Fault::MalformedJson)
        } else {
            None
        };
        Plan {
            latency: Duration::from_millis(faults.latency_ms),
            fault,
        }
    }

    /// Whether the streaming `fault` fires now for `account` (counting a `next` down). Streaming
    /// does not count as requests.
    pub fn stream_fires(&mut self, account: &str, fault: StreamFault) -> bool {
        let Some(entry) = self.accounts.get_mut(account) else {
            return false;
        };
        entry.faults.stream_mode(fault).fires(&mut self.rng)
    }

    /// The listed accounts' entries, in id order.
    pub fn list<'a>(
        &self,
        accounts: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<String, AccountFaults> {
        accounts
            .into_iter()
            .map(|id| (id.to_owned(), self.get(id)))
            .collect()
    }
}

/// MetaApi's error body.
fn error_body(
    status: StatusCode,
    error: &str,
    message: &str,
    metadata: Option<serde_json::Value>,
) -> Response {
    let body = MetaError {
        id: Some(1),
        error: error.to_owned(),
        message: message.to_owned(),
        metadata,
    };
    (status, axum::Json(body)).into_response()
}

pub(super) fn server_error() -> Response {
    error_body(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "demo fault: the server failed",
        None,
    )
}

/// 429 as MetaApi sends it: a `Retry-After` header and the instant in the body's metadata.
pub(super) fn rate_limited(retry_after_secs: u64) -> Response {
    let wait = chrono::TimeDelta::try_seconds(i64::try_from(retry_after_secs).unwrap_or(0))
        .unwrap_or_default();
    let when = crate::world::utc_millis(chrono::Utc::now() + wait);
    let mut response = error_body(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsError",
        "demo fault: too many requests",
        Some(serde_json::json!({
            "periodInMinutes": 60,
            "requestsPerPeriodAllowed": 10_000,
            "recommendedRetryTime": when,
            "type": "LIMIT_REQUEST_RATE_PER_USER",
        })),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// A body that fails before anything of it is sent: the connection is closed without an answer.
pub(super) fn dropped_connection() -> Response {
    Response::new(Body::from_stream(futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "demo fault: connection dropped",
        ))
    })))
}

/// The real answer, announced whole, of which only the first half is sent before the
/// connection closes.
pub(super) async fn truncated(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return dropped_connection();
    };
    let half = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let chunks = futures_util::stream::iter([
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "demo fault: body truncated",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(chunks))
}

/// The real answer with its last byte (a JSON document's closing bracket) replaced by a comma.
pub(super) async fn malformed(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return dropped_connection();
    };
    let mut broken = bytes.to_vec();
    match broken.last_mut() {
        Some(last) => *last = b',',
        None => broken.push(b'{'),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(broken))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_from_json_with_defaults_for_what_is_left_out() {
        #[track_caller]
        fn check(json: &str, want: Faults) {
            let got: Faults = serde_json::from_str(json).expect("valid faults");
            assert_eq!(got, want, "{json}");
        }
        check("{}", Faults::default());
        check(
            r#"{"latencyMs": 250, "serverError": "always", "rateLimit": {"next": 2},
                "retryAfterSecs": 3, "malformedJson": {"percent": 10}, "truncatedBody": "off",
                "dropConnection": {"next": 1}, "frozen": true}"#,
            Faults {
                latency_ms: 250,
                server_error: FaultMode::Always,
                rate_limit: FaultMode::Next(2),
                retry_after_secs: 3,
                malformed_json: FaultMode::Percent(10),
                truncated_body: FaultMode::Off,
                drop_connection: FaultMode::Next(1),
                frozen: true,
                ..Faults::default()
            },
        );
        check(
            r#"{"lateDealsSecs": 600, "dealDelaySecs": 5}"#,
            Faults {
                late_deals_secs: 600,
                deal_delay_secs: 5,
                ..Faults::default()
            },
        );
        for bad in [
            r#"{"serverError": "sometimes"}"#,
            r#"{"colour": "red"}"#,
            r#"{"rateLimit": {"next": -1}}"#,
        ] {
            assert!(serde_json::from_str::<Faults>(bad).is_err(), "{bad}");
        }
        let too_likely = Faults {
            server_error: FaultMode::Percent(101),
            ..Faults::default()
        };
        assert!(
            matches!(too_likely.validate(), Err(FaultsError::Invalid(m)) if m.contains("serverError"))
        );
        let too_slow = Faults {
            latency_ms: MAX_LATENCY_MS + 1,
            ..Faults::default()
        };
        assert!(too_slow.validate().is_err());
    }

    #[test]
    fn next_counts_down_and_one_fault_fires_per_request_in_order() {
        let mut book = FaultBook::new(42);
        book.set(
            "a",
            Faults {
                latency_ms: 5,
                server_error: FaultMode::Next(2),
                malformed_json: FaultMode::Always,
                ..Faults::default()
            },
        );
        let fates: Vec<_> = (0..4).map(|_| book.plan("a").fault).collect();
        assert_eq!(
            fates,
            [
                Some(Fault::ServerError),
                Some(Fault::ServerError),
                Some(Fault::MalformedJson),
                Some(Fault::MalformedJson)
            ]
        );
        assert_eq!(book.plan("a").latency, Duration::from_millis(5));
        assert_eq!(book.get("a").faults.server_error, FaultMode::Next(0));
        assert_eq!(book.get("a").requests, 5);
        assert_eq!(
            book.plan("b"),
            Plan {
                latency: Duration::ZERO,
                fault: None
            }
        );
        assert_eq!(book.get("b").requests, 1);
    }

    #[test]
    fn stream_knobs_read_from_json_and_count_down_without_counting_requests() {
        let faults: Faults = serde_json::from_str(
            r#"{"streamDrop": {"next": 1}, "streamStall": "always", "streamDisconnected": "off",
                "streamDuplicates": {"percent": 100}, "streamOutOfOrder": {"next": 2},
                "streamRefuse": {"next": 1}}"#,
        )
        .expect("valid stream faults");
        let mut book = FaultBook::new(1);
        book.set("a", faults);
        let fires = |book: &mut FaultBook, fault| {
            (0..3)
                .map(|_| book.stream_fires("a", fault))
                .collect::<Vec<_>>()
        };
        assert_eq!(fires(&mut book, StreamFault::Drop), [true, false, false]);
        assert_eq!(fires(&mut book, StreamFault::Stall), [true, true, true]);
        assert_eq!(
            fires(&mut book, StreamFault::Disconnected),
            [false, false, false]
        );
        assert_eq!(
            fires(&mut book, StreamFault::Duplicates),
            [true, true, true]
        );
        assert_eq!(
            fires(&mut book, StreamFault::OutOfOrder),
            [true, true, false]
        );
        assert_eq!(fires(&mut book, StreamFault::Refuse), [true, false, false]);
        assert!(!book.stream_fires("unknown", StreamFault::Refuse));
        assert_eq!(book.get("a").requests, 0);
        let too_likely = Faults {
            stream_refuse: FaultMode::Percent(101),
            ..Faults::default()
        };
        assert!(
            matches!(too_likely.validate(), Err(FaultsError::Invalid(m)) if m.contains("streamRefuse"))
        );
    }

    #[test]
    fn percent_faults_follow_the_seed() {
        let run = |seed| {
            let mut book = FaultBook::new(seed);
            book.set(
                "a",
                Faults {
                    drop_connection: FaultMode::Percent(30),
                    ..Faults::default()
                },
            );
            (0..1_000)
                .map(|_| book.plan("a").fault.is_some())
                .collect::<Vec<_>>()
        };
        let fired = run(7);
        assert_eq!(fired, run(7), "the same seed, the same faults");
        let count = fired.iter().filter(|f| **f).count();
        assert!((220..380).contains(&count), "{count} of 1000 at 30%");
        assert_eq!(
            Faults::default().modes().map(|(_, mode)| mode),
            [FaultMode::Off; 11]
        );
    }
}
