//! Persistence. All SQL lives below this module; the rest of the server sees [`Store`].
//!
//! Money is stored as exact decimal text and times as Unix milliseconds, so the same schema
//! reads back bit-for-bit on every database.

mod postgres;
mod sql;
mod sqlite;
#[cfg(test)]
mod suite;
pub mod testing;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use shared::peaks::Peaks;
use std::sync::Arc;

/// A failure of the database, with enough context to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Connecting or opening failed.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value cannot be read back.
    #[error("corrupt value in column {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
}

/// Everything the server persists.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The peaks saved for an account, if any.
    async fn load_peaks(&self, account: &AccountId) -> Result<Option<Peaks>, StoreError>;
    /// Saves an account's peaks (replacing what was saved).
    async fn save_peaks(&self, account: &AccountId, peaks: &Peaks) -> Result<(), StoreError>;
    /// Appends one equity sample.
    async fn append_sample(
        &self,
        account: &AccountId,
        point: &EquityPoint,
    ) -> Result<(), StoreError>;
    /// The saved engine state of an account's challenge (JSON), if any.
    async fn load_challenge(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    /// Saves the engine state and appends its new events, in one transaction: either both are
    /// stored or neither is.
    async fn save_challenge(
        &self,
        account: &AccountId,
        state: &str,
        events: &[StoredEvent],
    ) -> Result<(), StoreError>;
    /// An account's events, oldest first.
    async fn challenge_events(&self, account: &AccountId) -> Result<Vec<StoredEvent>, StoreError>;
    /// The latest `limit` samples of an account, oldest first.
    async fn recent_samples(
        &self,
        account: &AccountId,
        limit: u32,
    ) -> Result<Vec<EquityPoint>, StoreError>;
}

/// One engine event as stored: when, what kind, which rule, and the event itself as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event time.
    pub time: DateTime<Utc>,
    /// `warning`, `breach`, `objective_met`, `passed` or `failed`.
    pub kind: String,
    /// The rule, when the event concerns one.
    pub rule: Option<String>,
    /// The whole event (with its evidence) as JSON.
    pub body: String,
}

/// Opens the store a URL names and applies its migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact(url)))
    }
}

fn decimal(column: &'static str, text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.map(|value| {
        value
            .parse::<Decimal>()
            .map_err(|_| StoreError::Corrupt { column, value })
    })
    .transpose()
}

fn time_from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Corrupt {
        column: "t_ms",
        value: ms.to_string(),
    })
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn redact_url(url: &str, error: &sqlx::Error) -> String {
    format!("{}: {error}", redact(url))
}
