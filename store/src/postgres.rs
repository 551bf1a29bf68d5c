//! The PostgreSQL store, for firms that outgrow one machine.

use super::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// PostgreSQL behind [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Lets every writer through (see `gate`).
    gate: std::sync::Arc<super::gate::WriteGate>,
}

impl PostgresStore {
    /// Write transactions are ordinary ones (read committed). The bucket fold reads, merges and
    /// writes an account's buckets; it relies on one writer per account (its tracker).
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// Several instances may share a PostgreSQL database: a lease is taken only when free or
    /// expired, and live updates travel between instances (LISTEN/NOTIFY).
    const SINGLE_INSTANCE: bool = false;

    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // A server paused or cut off in the middle of a transaction would hold its row locks
        // (an account's lease among them) for ever: the database ends such a session instead.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| super::open_error(url, &e))?
            .options([("idle_in_transaction_session_timeout", "10s")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| super::open_error(url, &e))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        let store = Self {
            pool,
            gate: std::sync::Arc::new(super::gate::WriteGate::open()),
        };
        store.fold_legacy_samples().await?;
        Ok(store)
    }

    /// A dedicated connection listening on the live updates channel.
    async fn listen_live_updates(&self) -> Result<Option<super::LiveListener>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(super::LIVE_CHANNEL).await?;
        Ok(Some(super::LiveListener { listener }))
    }
}

super::sql::portable_store!(PostgresStore, sqlx::Postgres);
