//! The MetaApi REST client. One client type serves the real MetaApi service and the built-in
//! demo broker alike: only the base URL and the token differ.
//!
//! Tokens travel only in the `auth-token` header; they never appear in an error or a log line.

use super::wire::{
    AccountInformation, MetaDeal, MetaError, MetaPosition, MetaSymbolPrice,
    MetaSymbolSpecification, ServerTime,
};
use crate::journal::{Journal, Kind};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use shared::domain::{AccountInfo, Deal, Position, SymbolPrice, SymbolSpec};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// MetaApi's largest page of deal history.
pub const DEALS_PAGE_LIMIT: usize = 1000;

/// Why a broker call failed, in terms the poller can act on.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The token was refused.
    #[error("the broker refused the token (HTTP {0})")]
    Unauthorized(u16),
    /// The account, symbol or position is unknown to the broker.
    #[error("not found at the broker: {0}")]
    NotFound(String),
    /// Over the rate limit: wait this long before the next call.
    #[error("rate limited by the broker; retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other non-success status.
    #[error("the broker answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// No answer in time.
    #[error("the broker did not answer in time")]
    Timeout,
    /// The connection failed or broke.
    #[error("cannot reach the broker: {0}")]
    Connection(String),
    /// The answer is not the JSON we expect.
    #[error("the broker sent data that cannot be read: {0}")]
    Malformed(String),
    /// The configuration cannot form a request.
    #[error("invalid broker configuration: {0}")]
    Config(String),
}

impl BrokerError {
    fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            BrokerError::Timeout
        } else if error.is_decode() || error.is_body() {
            BrokerError::Malformed(error.without_url().to_string())
        } else {
            BrokerError::Connection(error.without_url().to_string())
        }
    }
}

/// A client for one MetaApi account.
#[derive(Clone)]
pub struct MetaApiClient {
    http: reqwest::Client,
    account_base: Url,
    token: String,
    journal: Option<Arc<Journal>>,
}

impl std::fmt::Debug for MetaApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaApiClient")
            .field("account_base", &self.account_base.as_str())
            .finish_non_exhaustive()
    }
}

/// Builds the shared HTTP client with Riskdeck's timeouts.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, BrokerError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("riskdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BrokerError::Config(e.to_string()))
}

impl MetaApiClient {
    /// A client for `account_id` at `base_url` (e.g. `https://mt-client-api-v1.london.agiliumtrade.ai`).
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
        })
    }

    /// Appends every record this client pulls to `journal`, in the replay format.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Self {
        self.journal = Some(journal);
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

    /// The parsed body and the bytes it was parsed from.
    async fn get_raw<T: DeserializeOwned>(
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
        let retry_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
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
                retry_after: retry_header.or_else(|| body.as_ref().and_then(recommended_wait)),
            },
            _ => BrokerError::Status {
                status: status.as_u16(),
                message,
            },
        })
    }

    /// `GET /account-information`.
    pub async fn account_information(&self) -> Result<AccountInfo, BrokerError> {
        let (wire, raw): (AccountInformation, _) =
            self.get_raw(self.url(&["account-information"])).await?;
        self.journal(Kind::AccountInformation, &raw);
        Ok(wire.into())
    }

    /// `GET /positions`.
    pub async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let (wire, raw): (Vec<MetaPosition>, _) = self.get_raw(self.url(&["positions"])).await?;
        self.journal(Kind::Positions, &raw);
        wire.into_iter()
            .map(|p| Position::try_from(p).map_err(|e| BrokerError::Malformed(e.to_string())))
            .collect()
    }

    /// `GET /history-deals/time/:start/:end`, all pages, without duplicates.
    pub async fn deals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
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

    /// `GET /symbols/:symbol/current-price`.
    pub async fn current_price(&self, symbol: &str) -> Result<SymbolPrice, BrokerError> {
        let (wire, raw): (MetaSymbolPrice, _) = self
            .get_raw(self.url(&["symbols", symbol, "current-price"]))
            .await?;
        self.journal(Kind::Price, &raw);
        Ok(wire.into())
    }

    /// `GET /server-time`.
    pub async fn server_time(&self) -> Result<ServerTime, BrokerError> {
        self.get(self.url(&["server-time"])).await
    }
}

/// MetaApi's 429 body carries `metadata.recommendedRetryTime` (an ISO-8601 instant).
fn recommended_wait(body: &MetaError) -> Option<Duration> {
    let when = body
        .metadata
        .as_ref()?
        .get("recommendedRetryTime")?
        .as_str()?;
    let when = DateTime::parse_from_rfc3339(when).ok()?.with_timezone(&Utc);
    (when - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
