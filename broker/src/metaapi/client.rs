//! The MetaApi REST client. One client type serves the real MetaApi service and the built-in
//! demo broker alike: only the base URL and the token differ.
//!
//! Every call is a GET, so a call that failed in a way that may pass (no answer in time, a broken
//! connection, a 5xx) is retried with exponential backoff and full jitter, a bounded number of
//! times within a bounded time ([`RetryPolicy`]). A refused token, an unknown account, an
//! unreadable body and a rate limit are never retried. Over the rate limit (HTTP 429) the client
//! honours the broker's `Retry-After` header or its body's `metadata.recommendedRetryTime`: until
//! then every call fails at once with [`BrokerError::RateLimited`], without reaching the broker,
//! and the caller (the tracker) pauses.
//!
//! Tokens travel only in the `auth-token` header; they never appear in an error or a log line.

use crate::BrokerError;
use crate::journal::{Journal, Kind};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use shared::domain::{AccountInfo, Deal, Order, Position, SymbolPrice, SymbolSpec};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use url::Url;
use wire::metaapi::{
    AccountInformation, MetaDeal, MetaError, MetaOrder, MetaPosition, MetaSymbolPrice,
    MetaSymbolSpecification, ServerTime,
};

/// MetaApi's largest page of deal history.
pub const DEALS_PAGE_LIMIT: usize = 1000;

impl BrokerError {
    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        // We parse bodies ourselves, so any other reqwest error means the exchange itself failed
        // (refused, reset, or cut off in the middle of the body).
        if error.is_timeout() {
            BrokerError::Timeout
        } else {
            BrokerError::Connection(error.without_url().to_string())
        }
    }
}

/// How a client retries a call that failed in a way that may pass ([`BrokerError::is_transient`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included (1: never retry).
    pub attempts: u32,
    /// The first retry waits at most this long; each further retry at most twice as long as the
    /// one before.
    pub base_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
    /// No retry starts when its wait would end this long after the first try began.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub const NEVER: RetryPolicy = RetryPolicy {
        attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_elapsed: Duration::ZERO,
    };

    /// The longest wait before retry number `retry` (0 for the first retry):
    /// `base_delay x 2^retry`, at most `max_delay`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry number `retry`: "full jitter", uniformly random between zero and
    /// [`RetryPolicy::ceiling`], so that clients which failed together do not retry together.
    pub fn delay(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.u64(0..=ceiling))
    }
}

/// Until when the broker asked this account's client to stay away (after an HTTP 429). Shared by
/// a client and its clones.
#[derive(Debug, Default)]
struct RateGate(Mutex<Option<Instant>>);

impl RateGate {
    fn close_for(&self, wait: Duration) {
        let mut until = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let new = Instant::now() + wait;
        *until = Some(until.map_or(new, |old| old.max(new)));
    }

    /// How long the gate stays closed, if it is closed.
    fn closed_for(&self) -> Option<Duration> {
        let until = (*self.0.lock().unwrap_or_else(PoisonError::into_inner))?;
        until
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }
}

/// A client for one MetaApi account.
#[derive(Clone)]
pub struct MetaApiClient {
    http: reqwest::Client,
    account_base: Url,
    token: String,
    journal: Option<Arc<Journal>>,
    retry: RetryPolicy,
    gate: Arc<RateGate>,
}

impl std::fmt::Debug for MetaApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaApiClient")
            .field("account_base", &self.account_base.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Builds the shared HTTP client; `timeout` bounds each request (each try, when retried).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BrokerError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("riskdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BrokerError::Config(e.to_string()))
}

/// MetaApi's base URL in `region` (e.g. `london`, `new-york`, `vint-hill`).
pub fn region_base_url(region: &str) -> String {
    format!("https://mt-client-api-v1.{region}.agiliumtrade.ai")
}

impl MetaApiClient {
    /// A client for `account_id` at `base_url` (e.g. `https://mt-client-api-v1.london.agiliumtrade.ai`),
    /// retrying as [`RetryPolicy::default`] says.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        account_id: &str,
        token: &str,
    ) -> Result<Self, BrokerError> {
        let mut account_base = Url::parse(base_url)
            .map_err(|e| BrokerError::Config(format!("base URL {base_url:?}: {e}")))?;
        account_base
            .path_segments_mut()
            .map_err(|()| BrokerError::Config(format!("base URL {base_url:?} cannot have paths")))?
            .pop_if_empty()
            .extend(["users", "current", "accounts", account_id]);
        Ok(Self {
            http,
            account_base,
            token: token.to_owned(),
            journal: None,
            retry: RetryPolicy::default(),
            gate: Arc::default(),
        })
    }

    /// Appends every record this client pulls to `journal`, in the replay format.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Retries as `retry` says.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client without the journal (for reads that do not feed decisions, such as a
    /// first backfill of peaks).
    pub fn without_journal(&self) -> Self {
        Self {
            journal: None,
            ..self.clone()
        }
    }

    fn journal(&self, kind: Kind, raw: &[u8]) {
        if let Some(journal) = &self.journal {
            journal.append(Utc::now(), kind, raw);
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.account_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, BrokerError> {
        self.get_raw(url).await.map(|(value, _)| value)
    }

    /// The parsed body and the bytes it was parsed from, retried as the policy says.
    async fn get_raw<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<(T, bytes::Bytes), BrokerError> {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            if let Some(left) = self.gate.closed_for() {
                return Err(BrokerError::RateLimited {
                    retry_after: Some(left),
                });
            }
            let error = match self.get_once(url.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if let BrokerError::RateLimited {
                retry_after: Some(wait),
            } = &error
            {
                self.gate.close_for(*wait);
            }
            if !error.is_transient() || retry + 1 >= self.retry.attempts {
                return Err(error);
            }
            let wait = self.retry.delay(retry, &mut fastrand::Rng::new());
            if started.elapsed() + wait >= self.retry.max_elapsed {
                return Err(error);
            }
            retry += 1;
            tracing::debug!(path = url.path(), retry, ?wait, %error, "retrying a broker read");
            tokio::time::sleep(wait).await;
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<(T, bytes::Bytes), BrokerError> {
        let response = self
            .http
            .get(url)
            .header("auth-token", &self.token)
            .send()
            .await
            .map_err(BrokerError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            let bytes = response.bytes().await.map_err(BrokerError::from_reqwest)?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| BrokerError::Malformed(e.to_string()))?;
            return Ok((value, bytes));
        }
        let now = SystemTime::now();
        let retry_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now));
        let body: Option<MetaError> = response.json().await.ok();
        let message = body
            .as_ref()
            .map(|b| format!("{}: {}", b.error, b.message))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                BrokerError::Unauthorized(status.as_u16())
            }
            StatusCode::NOT_FOUND => BrokerError::NotFound(message),
            StatusCode::TOO_MANY_REQUESTS => BrokerError::RateLimited {
                // Both may be given; the longer wait is the one that keeps us under the limit.
                // A 429 that names no time still closes the gate for a while: asking again at
                // once is what got it.
                // A time already past (an HTTP date has whole seconds; clocks differ) still
                // means at least a second.
                retry_after: Some(
                    retry_header
                        .into_iter()
                        .chain(body.as_ref().and_then(|b| recommended_wait(b, now)))
                        .max()
                        .map_or(RATE_LIMIT_WAIT, |wait| wait.max(RATE_LIMIT_MIN_WAIT)),
                ),
            },
            _ => BrokerError::Status {
                status: status.as_u16(),
                message,
            },
        })
    }

    /// `GET /account-information`.
    pub async fn account_information(&self) -> Result<AccountInfo, BrokerError> {
        self.read_account_information(self.url(&["account-information"]))
            .await
    }

    /// `GET /account-information?refreshTerminalState=true`: slower, but asks the terminal for
    /// its state instead of answering from MetaApi's cache.
    pub async fn refreshed_account_information(&self) -> Result<AccountInfo, BrokerError> {
        let mut url = self.url(&["account-information"]);
        url.query_pairs_mut()
            .append_pair("refreshTerminalState", "true");
        self.read_account_information(url).await
    }

    async fn read_account_information(&self, url: Url) -> Result<AccountInfo, BrokerError> {
        let (wire, raw): (AccountInformation, _) = self.get_raw(url).await?;
        self.journal(Kind::AccountInformation, &raw);
        Ok(wire.into())
    }

    /// `GET /positions`.
    pub async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let (wire, raw): (Vec<MetaPosition>, _) = self.get_raw(self.url(&["positions"])).await?;
        self.journal(Kind::Positions, &raw);
        wire.into_iter().map(position).collect()
    }

    /// `GET /positions/:positionId`.
    pub async fn position(&self, id: &str) -> Result<Position, BrokerError> {
        let wire: MetaPosition = self.get(self.url(&["positions", id])).await?;
        position(wire)
    }

    /// `GET /orders`: the pending orders.
    pub async fn orders(&self) -> Result<Vec<Order>, BrokerError> {
        let wire: Vec<MetaOrder> = self.get(self.url(&["orders"])).await?;
        Ok(wire.into_iter().map(Order::from).collect())
    }

    /// `GET /history-deals/time/:start/:end`, all pages, without duplicates.
    ///
    /// Pages are read by offset, [`DEALS_PAGE_LIMIT`] at a time, until a page comes back short.
    /// A deal filed while we page shifts the later ones by one, so the first deal of a page may
    /// be the last of the one before: it is kept once.
    pub async fn deals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Deal>, BrokerError> {
        self.deals_with_progress(start, end, |_, _| {}).await
    }

    /// [`Self::deals`], calling `progress` after each page with the number of deals read so
    /// far and the latest deal time read (a long backfill reports how far it got).
    pub async fn deals_with_progress(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        mut progress: impl FnMut(usize, Option<DateTime<Utc>>),
    ) -> Result<Vec<Deal>, BrokerError> {
        let start = start.to_rfc3339_opts(SecondsFormat::Millis, true);
        let end = end.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut deals = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        loop {
            let mut url = self.url(&["history-deals", "time", &start, &end]);
            url.query_pairs_mut()
                .append_pair("offset", &offset.to_string())
                .append_pair("limit", &DEALS_PAGE_LIMIT.to_string());
            let (page, raw): (Vec<MetaDeal>, _) = self.get_raw(url).await?;
            if let Some(journal) = &self.journal {
                journal.append_each(Utc::now(), Kind::Deal, &raw);
            }
            let count = page.len();
            deals.extend(
                page.into_iter()
                    .filter(|d| seen.insert(d.id.clone()))
                    .map(Deal::from),
            );
            progress(deals.len(), deals.iter().map(|d| d.time).max());
            if count < DEALS_PAGE_LIMIT {
                return Ok(deals);
            }
            offset += count;
        }
    }

    /// `GET /symbols/:symbol/specification`.
    pub async fn specification(&self, symbol: &str) -> Result<SymbolSpec, BrokerError> {
        let wire: MetaSymbolSpecification = self
            .get(self.url(&["symbols", symbol, "specification"]))
            .await?;
        Ok(wire.into())
    }

    /// `GET /symbols/:symbol/current-price?keepSubscription=true`: MetaApi keeps the symbol
    /// subscribed after the read, as its docs advise for prices read again and again, so the
    /// next read is answered from the subscription (cheaper, and in credits too).
    pub async fn current_price(&self, symbol: &str) -> Result<SymbolPrice, BrokerError> {
        let mut url = self.url(&["symbols", symbol, "current-price"]);
        url.query_pairs_mut()
            .append_pair("keepSubscription", "true");
        let (wire, raw): (MetaSymbolPrice, _) = self.get_raw(url).await?;
        self.journal(Kind::Price, &raw);
        Ok(wire.into())
    }

    /// `GET /server-time`.
    pub async fn server_time(&self) -> Result<ServerTime, BrokerError> {
        self.get(self.url(&["server-time"])).await
    }

    /// How long before the broker's present, by the broker's own clock, its last quote arrived
    /// (`None` when the broker does not say). A terminal whose data froze keeps answering, but
    /// this age keeps growing.
    pub async fn quote_age(&self) -> Result<Option<Duration>, BrokerError> {
        let time = self.server_time().await?;
        Ok(time
            .last_quote_time
            .map(|quote| (time.time - quote).to_std().unwrap_or_default()))
    }
}

fn position(wire: MetaPosition) -> Result<Position, BrokerError> {
    Position::try_from(wire).map_err(|e| BrokerError::Malformed(e.to_string()))
}

/// Reads a `Retry-After` header: whole seconds, or an HTTP date (how long from `now` until then;
/// zero when it has passed).
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

/// How long a 429 that names no time keeps the gate closed.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);
/// The shortest a 429 keeps the gate closed, whatever time it names.
pub const RATE_LIMIT_MIN_WAIT: Duration = Duration::from_secs(1);

/// MetaApi's 429 body carries `metadata.recommendedRetryTime`: an ISO-8601 instant in its docs,
/// an HTTP date in its own SDK's tests; either is read. How long from `now` until then (zero
/// when it has passed).
fn recommended_wait(body: &MetaError, now: SystemTime) -> Option<Duration> {
    let when = body
        .metadata
        .as_ref()?
        .get("recommendedRetryTime")?
        .as_str()?
        .trim();
    if let Ok(when) = DateTime::parse_from_rfc3339(when) {
        return Some(
            (when.with_timezone(&Utc) - DateTime::<Utc>::from(now))
                .to_std()
                .unwrap_or_default(),
        );
    }
    let when = httpdate::parse_http_date(when).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, HeaderValue};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn urls_escape_ids_and_symbols() {
        let http = http_client(Duration::from_secs(1)).expect("client");
        let client =
            MetaApiClient::new(http, "https://example.test/", "acc 1/2", "t").expect("client");
        assert_eq!(
            client
                .url(&["symbols", "US30.cash/x", "current-price"])
                .as_str(),
            "https://example.test/users/current/accounts/acc%201%2F2/symbols/US30.cash%2Fx/current-price"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let http = http_client(Duration::from_secs(1)).expect("client");
        let client =
            MetaApiClient::new(http, "https://example.test", "a", "very-secret").expect("client");
        assert!(!format!("{client:?}").contains("very-secret"));
    }

    #[test]
    fn region_urls_follow_metaapi_naming() {
        assert_eq!(
            region_base_url("london"),
            "https://mt-client-api-v1.london.agiliumtrade.ai"
        );
        assert_eq!(
            region_base_url("new-york"),
            "https://mt-client-api-v1.new-york.agiliumtrade.ai"
        );
    }

    #[test]
    fn backoff_ceilings_double_up_to_the_cap() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            max_elapsed: Duration::from_secs(60),
        };
        let ceilings: Vec<_> = (0..6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy.ceiling(31), Duration::from_millis(1_000));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_millis(1_000));
        assert_eq!(RetryPolicy::NEVER.ceiling(3), Duration::ZERO);
    }

    #[test]
    fn backoff_delays_are_jittered_within_zero_and_the_ceiling() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for retry in 0..8 {
            let ceiling = policy.ceiling(retry);
            let delays: Vec<_> = (0..500).map(|_| policy.delay(retry, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "retry {retry}");
            // Full jitter spreads the waits over the whole range.
            assert!(delays.iter().any(|d| *d < ceiling / 4), "retry {retry}");
            assert!(delays.iter().any(|d| *d > ceiling * 3 / 4), "retry {retry}");
        }
        assert_eq!(
            RetryPolicy::NEVER.delay(0, &mut rng),
            Duration::ZERO,
            "a zero ceiling gives no wait"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        #[track_caller]
        fn check(value: &str, now: SystemTime, want: Option<u64>) {
            assert_eq!(
                retry_after(value, now),
                want.map(Duration::from_secs),
                "{value:?}"
            );
        }
        check("120", now, Some(120));
        check(" 5 ", now, Some(5));
        check("0", now, Some(0));
        check("Sun, 06 Nov 1994 08:50:07 GMT", now, Some(30));
        // The two obsolete date formats HTTP still accepts.
        check("Sunday, 06-Nov-94 08:50:07 GMT", now, Some(30));
        check("Sun Nov  6 08:50:07 1994", now, Some(30));
        check("Sun, 06 Nov 1994 08:00:00 GMT", now, Some(0));
        check("-1", now, None);
        check("soon", now, None);
        check("", now, None);
    }

    #[test]
    fn recommended_retry_time_is_read_from_the_429_body() {
        let now: SystemTime = DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
            .expect("time")
            .to_utc()
            .into();
        let body = |metadata: serde_json::Value| MetaError {
            id: Some(1),
            error: "TooManyRequestsError".into(),
            message: "slow down".into(),
            metadata: Some(metadata),
        };
        let wait = |metadata| recommended_wait(&body(metadata), now);
        assert_eq!(
            wait(serde_json::json!({"recommendedRetryTime": "2026-01-05T10:00:02.500Z"})),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(
            wait(serde_json::json!({"recommendedRetryTime": "2026-01-05T09:00:00Z"})),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait(serde_json::json!({"recommendedRetryTime": "later"})),
            None
        );
        // The form MetaApi's own SDK tests send: an HTTP date.
        assert_eq!(
            wait(serde_json::json!({"recommendedRetryTime": "Mon, 05 Jan 2026 10:00:07 GMT"})),
            Some(Duration::from_secs(7))
        );
        assert_eq!(wait(serde_json::json!({"periodInMinutes": 60})), None);
    }

    #[test]
    fn only_timeouts_broken_connections_and_5xx_are_worth_a_retry() {
        let status = |status| BrokerError::Status {
            status,
            message: String::new(),
        };
        assert!(BrokerError::Timeout.is_transient());
        assert!(BrokerError::Connection("reset".into()).is_transient());
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(409).is_transient());
        assert!(!BrokerError::Unauthorized(401).is_transient());
        assert!(!BrokerError::NotFound("x".into()).is_transient());
        assert!(!BrokerError::RateLimited { retry_after: None }.is_transient());
        assert!(!BrokerError::Malformed("x".into()).is_transient());
    }

    /// A local HTTP server answering MetaApi's paths for account `acc`.
    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn fast_retries() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(10),
        }
    }

    fn client(base: &str, timeout: Duration) -> MetaApiClient {
        MetaApiClient::new(
            http_client(timeout).expect("http"),
            base,
            "acc",
            "the-token",
        )
        .expect("client")
        .with_retry(fast_retries())
    }

    const INFO: &str = r#"{"currency":"USD","balance":1000,"equity":990.5}"#;

    /// Answers `account-information` with `status` for the first `failures` requests, then with
    /// account information; counts requests.
    async fn failing_server(
        failures: usize,
        status: StatusCode,
        headers: HeaderMap,
        body: &'static str,
    ) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let app = Router::new().route(
            "/users/current/accounts/acc/account-information",
            get(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let headers = headers.clone();
                async move {
                    if n < failures {
                        (status, headers, body).into_response()
                    } else {
                        (StatusCode::OK, INFO).into_response()
                    }
                }
            }),
        );
        (serve(app).await, count)
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_the_broker_answers() {
        let (base, count) =
            failing_server(3, StatusCode::BAD_GATEWAY, HeaderMap::new(), "oops").await;
        let info = client(&base, Duration::from_secs(5))
            .account_information()
            .await
            .expect("the fourth try succeeds");
        assert_eq!(info.equity, rust_decimal::Decimal::new(9905, 1));
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let (base, count) =
            failing_server(100, StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), "").await;
        let error = client(&base, Duration::from_secs(5))
            .account_information()
            .await
            .expect_err("always failing");
        assert!(
            matches!(error, BrokerError::Status { status: 503, .. }),
            "{error:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 4);
        assert!(!error.to_string().contains("the-token"));
    }

    #[tokio::test]
    async fn retries_stop_when_the_time_budget_is_spent() {
        let (base, count) =
            failing_server(100, StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), "").await;
        let patient = RetryPolicy {
            attempts: 1_000,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            max_elapsed: Duration::from_millis(200),
        };
        let error = client(&base, Duration::from_secs(5))
            .with_retry(patient)
            .account_information()
            .await
            .expect_err("always failing");
        assert!(error.is_transient());
        let tries = count.load(Ordering::SeqCst);
        assert!((2..1_000).contains(&tries), "{tries} tries");
    }

    #[tokio::test]
    async fn client_errors_and_unreadable_answers_are_not_retried() {
        for (status, body) in [
            (
                StatusCode::NOT_FOUND,
                r#"{"error":"NotFoundError","message":"no"}"#,
            ),
            (StatusCode::UNAUTHORIZED, ""),
            (StatusCode::BAD_REQUEST, ""),
            (StatusCode::OK, r#"{"currency":"USD","balance":"#),
        ] {
            let (base, count) = failing_server(1, status, HeaderMap::new(), body).await;
            let error = client(&base, Duration::from_secs(5))
                .account_information()
                .await
                .expect_err("refused");
            assert!(!error.is_transient(), "{error:?}");
            assert_eq!(count.load(Ordering::SeqCst), 1, "{status}: {error:?}");
        }
    }

    #[tokio::test]
    async fn a_request_that_times_out_is_retried() {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let app = Router::new().route(
            "/users/current/accounts/acc/account-information",
            get(move || {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    INFO
                }
            }),
        );
        let base = serve(app).await;
        client(&base, Duration::from_millis(200))
            .account_information()
            .await
            .expect("the second try answers in time");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_429_closes_the_gate_for_as_long_as_the_broker_asks() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("1"));
        let body = r#"{"id":1,"error":"TooManyRequestsError","message":"slow down",
            "metadata":{"recommendedRetryTime":"2000-01-01T00:00:00.000Z"}}"#;
        let (base, count) = failing_server(1, StatusCode::TOO_MANY_REQUESTS, headers, body).await;
        let client = client(&base, Duration::from_secs(5));
        let error = client
            .account_information()
            .await
            .expect_err("rate limited");
        let Some(wait) = (match error {
            BrokerError::RateLimited { retry_after } => retry_after,
            other => panic!("{other:?}"),
        }) else {
            panic!("Retry-After is read");
        };
        // The header says one second; the body's instant has passed: the longer wait wins.
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(count.load(Ordering::SeqCst), 1, "429 is not retried");

        // Clones share the gate: nothing reaches the broker until the wait is over.
        let clone = client.without_journal();
        let again = clone
            .account_information()
            .await
            .expect_err("still waiting");
        assert!(
            matches!(again, BrokerError::RateLimited { retry_after: Some(left) } if left <= wait),
            "{again:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);

        tokio::time::sleep(wait).await;
        client
            .account_information()
            .await
            .expect("the gate opens after the wait");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    /// MetaApi's SDK tests send `recommendedRetryTime` as an HTTP date, with no `Retry-After`:
    /// every read of the account waits for it, whichever clone and endpoint asks.
    #[tokio::test]
    async fn a_429_with_an_http_date_keeps_every_read_away_until_then() {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let until = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
        let limited = move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::json!({
                "id": 1, "error": "TooManyRequestsError",
                "message": "One user can use maximum 1000 CPU credits per 1 seconds",
                "metadata": {"periodInMinutes": 1, "requestsPerPeriodAllowed": 1000,
                             "recommendedRetryTime": until.clone(), "type": "LIMIT_REQUEST_RATE_PER_USER"}
            });
            async move {
                if n == 0 {
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
                } else {
                    (StatusCode::OK, INFO).into_response()
                }
            }
        };
        let app = Router::new()
            .route(
                "/users/current/accounts/acc/account-information",
                get(limited.clone()),
            )
            .route("/users/current/accounts/acc/positions", get(limited));
        let base = serve(app).await;
        let client = client(&base, Duration::from_secs(5));
        let error = client.account_information().await.expect_err("limited");
        let BrokerError::RateLimited {
            retry_after: Some(wait),
        } = error
        else {
            panic!("the HTTP date is read: {error:?}");
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        for _ in 0..5 {
            assert!(client.positions().await.is_err());
            assert!(
                client
                    .without_journal()
                    .account_information()
                    .await
                    .is_err()
            );
        }
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "nothing reached the broker"
        );
        tokio::time::sleep(wait + Duration::from_millis(50)).await;
        client
            .account_information()
            .await
            .expect("answered after the wait");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    /// A 429 that names no time at all still keeps the account's reads away for a while.
    #[tokio::test]
    async fn a_429_without_a_time_closes_the_gate_for_the_default_wait() {
        let (base, count) =
            failing_server(1, StatusCode::TOO_MANY_REQUESTS, HeaderMap::new(), "{}").await;
        let client = client(&base, Duration::from_secs(5));
        let error = client.account_information().await.expect_err("limited");
        assert!(
            matches!(error, BrokerError::RateLimited { retry_after: Some(w) } if w == RATE_LIMIT_WAIT),
            "{error:?}"
        );
        assert!(client.account_information().await.is_err());
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    /// Price reads keep MetaApi's subscription to the symbol, as its docs advise.
    #[tokio::test]
    async fn price_reads_keep_the_subscription() {
        let app = Router::new().route(
            "/users/current/accounts/acc/symbols/{symbol}/current-price",
            get(
                |Path(symbol): Path<String>, Query(query): Query<HashMap<String, String>>| async move {
                    if query.get("keepSubscription").map(String::as_str) != Some("true") {
                        return StatusCode::BAD_REQUEST.into_response();
                    }
                    axum::Json(serde_json::json!({
                        "symbol": symbol, "bid": 1.1, "ask": 1.1002, "profitTickValue": 1,
                        "lossTickValue": 1, "time": "2026-01-05T10:00:00.000Z"
                    }))
                    .into_response()
                },
            ),
        );
        let base = serve(app).await;
        let price = client(&base, Duration::from_secs(5))
            .current_price("EURUSD")
            .await
            .expect("price");
        assert_eq!(price.symbol, "EURUSD");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Paging {
        offset: usize,
        limit: usize,
    }

    fn deal_json(id: usize) -> serde_json::Value {
        serde_json::json!({
            "id": id.to_string(), "type": "DEAL_TYPE_BUY", "entryType": "DEAL_ENTRY_IN",
            "time": format!("2026-01-05T10:{:02}:{:02}.000Z", id / 60 % 60, id % 60),
            "profit": 0,
        })
    }

    /// Serves `total` deals in pages; after the first page, `late` more deals are filed at the
    /// front of the history (a broker catching up), shifting every later deal. Counts pages.
    async fn deal_server(total: usize, late: usize) -> (String, Arc<AtomicUsize>) {
        let pages = Arc::new(AtomicUsize::new(0));
        let seen = pages.clone();
        let app = Router::new().route(
            "/users/current/accounts/acc/history-deals/time/{start}/{end}",
            get(move |Query(paging): Query<Paging>| {
                let page = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut ids: Vec<usize> = (0..total).collect();
                    if page > 0 {
                        ids.splice(0..0, (0..late).map(|n| 1_000_000 + n));
                    }
                    let items: Vec<_> = ids
                        .into_iter()
                        .skip(paging.offset)
                        .take(paging.limit)
                        .map(deal_json)
                        .collect();
                    axum::Json(items)
                }
            }),
        );
        (serve(app).await, pages)
    }

    async fn all_deals(base: &str) -> Vec<String> {
        client(base, Duration::from_secs(5))
            .deals(Utc::now() - chrono::Duration::days(1), Utc::now())
            .await
            .expect("deals")
            .into_iter()
            .map(|d| d.id)
            .collect()
    }

    #[tokio::test]
    async fn deal_pages_have_no_gap_and_no_duplicate_at_their_edges() {
        for (total, pages) in [(0, 1), (999, 1), (1_000, 2), (1_001, 2), (2_000, 3)] {
            let (base, count) = deal_server(total, 0).await;
            let ids = all_deals(&base).await;
            let want: Vec<_> = (0..total).map(|n| n.to_string()).collect();
            assert_eq!(ids, want, "{total} deals");
            assert_eq!(count.load(Ordering::SeqCst), pages, "{total} deals");
        }
    }

    #[tokio::test]
    async fn a_deal_filed_while_paging_does_not_duplicate_the_page_edge() {
        // One late deal shifts everything by one: page two starts with page one's last deal.
        let (base, _) = deal_server(1_500, 1).await;
        let ids = all_deals(&base).await;
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "no duplicates");
        for n in 0..1_500 {
            assert!(unique.contains(&n.to_string()), "deal {n} is not lost");
        }
    }

    #[tokio::test]
    async fn position_orders_and_quote_age_are_read() {
        let app = Router::new()
            .route(
                "/users/current/accounts/acc/positions/{id}",
                get(|Path(id): Path<String>| async move {
                    axum::Json(serde_json::json!({
                        "id": id, "type": "POSITION_TYPE_SELL", "symbol": "EURUSD",
                        "time": "2026-01-05T10:00:00.000Z", "openPrice": 1.1,
                        "currentPrice": 1.09, "volume": 0.5, "profit": 500
                    }))
                }),
            )
            .route(
                "/users/current/accounts/acc/orders",
                get(|| async {
                    axum::Json(serde_json::json!([{
                        "id": "9", "type": "ORDER_TYPE_SELL_STOP", "symbol": "XAUUSD",
                        "time": "2026-01-05T10:00:00.000Z", "openPrice": 2600.5, "volume": 0.3
                    }]))
                }),
            )
            .route(
                "/users/current/accounts/acc/server-time",
                get(|| async {
                    axum::Json(serde_json::json!({
                        "time": "2026-01-05T10:00:05.000Z",
                        "brokerTime": "2026-01-05 12:00:05.000",
                        "lastQuoteTime": "2026-01-05T10:00:02.000Z",
                        "lastQuoteBrokerTime": "2026-01-05 12:00:02.000"
                    }))
                }),
            );
        let base = serve(app).await;
        let client = client(&base, Duration::from_secs(5));
        let position = client.position("77").await.expect("position");
        assert_eq!(position.id, "77");
        assert_eq!(position.side, shared::domain::Side::Sell);
        let orders = client.orders().await.expect("orders");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].kind, shared::domain::OrderKind::SellStop);
        assert_eq!(
            client.quote_age().await.expect("server time"),
            Some(Duration::from_secs(3))
        );
    }
}
