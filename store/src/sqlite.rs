//! The embedded SQLite store (the default): one file, WAL mode.

use super::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// SQLite behind [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers in turn, breaches first (see `gate`).
    gate: std::sync::Arc<super::gate::WriteGate>,
}

impl SqliteStore {
    /// Write transactions take the write lock at once. A deferred transaction that reads
    /// before it writes (the bucket fold does) fails with `SQLITE_BUSY_SNAPSHOT` when another
    /// connection commits in between, and the busy timeout cannot help it; an immediate one
    /// waits its turn instead.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// A SQLite file serves one instance: it always takes an account's lease (a restarted
    /// server does not wait for the leases of the process it replaces to expire), and there is
    /// no other instance to send live updates to.
    const SINGLE_INSTANCE: bool = true;

    /// Opens (creating when missing) the database at a `sqlite://PATH` URL and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect(url, true).await
    }

    /// Opens the existing database at a `sqlite://PATH` URL and migrates it; a missing file is
    /// an error, not a new empty database (for operator commands such as `riskdeck export`).
    pub async fn open_existing(url: &str) -> Result<Self, StoreError> {
        Self::connect(url, false).await
    }

    async fn connect(url: &str, create: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(format!("{url}: {e}: write it as sqlite://PATH")))?;
        if !create && !options.get_filename().exists() {
            return Err(StoreError::NoDatabase(
                options.get_filename().display().to_string(),
            ));
        }
        let options = options
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| super::open_error(url, &e))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        let store = Self {
            pool,
            gate: std::sync::Arc::new(super::gate::WriteGate::serial()),
        };
        store.fold_legacy_samples().await?;
        Ok(store)
    }

    /// One instance has no one to hear from.
    #[allow(clippy::unused_async)]
    async fn listen_live_updates(&self) -> Result<Option<super::LiveListener>, StoreError> {
        Ok(None)
    }
}

super::sql::portable_store!(SqliteStore, sqlx::Sqlite);
