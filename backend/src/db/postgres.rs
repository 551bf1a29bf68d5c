//! The PostgreSQL store, for firms that outgrow one machine.

use super::StoreError;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// PostgreSQL behind [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Write transactions are ordinary ones (read committed). The bucket fold reads, merges and
    /// writes an account's buckets; it relies on one writer per account (its tracker).
    const BEGIN_WRITE: &'static str = "BEGIN";

    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| super::open_error(url, &e))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(super::migrate_error)?;
        let store = Self { pool };
        store.fold_legacy_samples().await?;
        Ok(store)
    }
}

super::sql::portable_store!(PostgresStore, sqlx::Postgres);
