//! The PostgreSQL store, for firms that outgrow one machine.

use super::{Store, StoreError, StoredEvent, decimal, time_from_ms};
use async_trait::async_trait;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use shared::peaks::Peaks;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// PostgreSQL behind [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL and migrates the database.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Open(super::redact_url(url, &e)))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn load_peaks(&self, account: &AccountId) -> Result<Option<Peaks>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT starting_capital, peak_balance, peak_equity FROM account_peaks
             WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(capital, balance, equity)| {
            Ok(Peaks {
                starting_capital: decimal("starting_capital", capital)?,
                peak_balance: decimal("peak_balance", balance)?,
                peak_equity: decimal("peak_equity", equity)?,
            })
        })
        .transpose()
    }

    async fn save_peaks(&self, account: &AccountId, peaks: &Peaks) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_peaks
                 (account_id, starting_capital, peak_balance, peak_equity, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id) DO UPDATE SET
                 starting_capital = excluded.starting_capital,
                 peak_balance = excluded.peak_balance,
                 peak_equity = excluded.peak_equity,
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(account.as_str())
        .bind(peaks.starting_capital.map(|d| d.to_string()))
        .bind(peaks.peak_balance.map(|d| d.to_string()))
        .bind(peaks.peak_equity.map(|d| d.to_string()))
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_challenge(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT state FROM challenge_state WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn save_challenge(
        &self,
        account: &AccountId,
        state: &str,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO challenge_state (account_id, state, updated_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET
                 state = excluded.state, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(account.as_str())
        .bind(state)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await?;
        for event in events {
            sqlx::query(
                "INSERT INTO challenge_events (account_id, t_ms, kind, rule, body)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account.as_str())
            .bind(event.time.timestamp_millis())
            .bind(&event.kind)
            .bind(event.rule.as_deref())
            .bind(&event.body)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn challenge_events(&self, account: &AccountId) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
            "SELECT t_ms, kind, rule, body FROM challenge_events
             WHERE account_id = $1 ORDER BY id",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(t_ms, kind, rule, body)| {
                Ok(StoredEvent {
                    time: time_from_ms(t_ms)?,
                    kind,
                    rule,
                    body,
                })
            })
            .collect()
    }

    async fn append_sample(
        &self,
        account: &AccountId,
        point: &EquityPoint,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO equity_samples (account_id, t_ms, balance, equity) VALUES ($1, $2, $3, $4)",
        )
        .bind(account.as_str())
        .bind(point.time.timestamp_millis())
        .bind(point.balance.to_string())
        .bind(point.equity.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recent_samples(
        &self,
        account: &AccountId,
        limit: u32,
    ) -> Result<Vec<EquityPoint>, StoreError> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT t_ms, balance, equity FROM (
                 SELECT t_ms, balance, equity FROM equity_samples
                 WHERE account_id = $1 ORDER BY t_ms DESC LIMIT $2
             ) AS latest ORDER BY t_ms ASC",
        )
        .bind(account.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(t_ms, balance, equity)| {
                Ok(EquityPoint {
                    time: time_from_ms(t_ms)?,
                    balance: decimal("balance", Some(balance))?.unwrap_or_default(),
                    equity: decimal("equity", Some(equity))?.unwrap_or_default(),
                })
            })
            .collect()
    }
}
