//! The SQL both stores share. Every statement here is portable between SQLite and PostgreSQL
//! (`$n` placeholders, `ON CONFLICT ... DO UPDATE`, money as decimal text, times as Unix
//! milliseconds), so one text serves both pool types; only opening and migrating differ.

/// Implements [`super::Store`] for a store type with a `pool` field of any sqlx pool.
macro_rules! portable_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::db::Store for $store {
            async fn ping(&self) -> Result<(), $crate::db::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn load_peaks(&self, account: &shared::domain::AccountId) -> Result<Option<shared::peaks::Peaks>, $crate::db::StoreError> {
                let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT starting_capital, peak_balance, peak_equity FROM account_peaks
                     WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(capital, balance, equity)| {
                    Ok(shared::peaks::Peaks {
                        starting_capital: $crate::db::decimal("starting_capital", capital)?,
                        peak_balance: $crate::db::decimal("peak_balance", balance)?,
                        peak_equity: $crate::db::decimal("peak_equity", equity)?,
                    })
                })
                .transpose()
            }

            async fn save_peaks(&self, account: &shared::domain::AccountId, peaks: &shared::peaks::Peaks) -> Result<(), $crate::db::StoreError> {
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

            async fn load_challenge(&self, account: &shared::domain::AccountId) -> Result<Option<String>, $crate::db::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT state FROM challenge_state WHERE account_id = $1")
                        .bind(account.as_str())
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn save_challenge(
                &self,
                account: &shared::domain::AccountId,
                state: &str,
                events: &[$crate::db::StoredEvent],
            ) -> Result<(), $crate::db::StoreError> {
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

            async fn challenge_events(&self, account: &shared::domain::AccountId) -> Result<Vec<$crate::db::StoredEvent>, $crate::db::StoreError> {
                let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT t_ms, kind, rule, body FROM challenge_events
                     WHERE account_id = $1 ORDER BY id",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(t_ms, kind, rule, body)| {
                        Ok($crate::db::StoredEvent {
                            time: $crate::db::time_from_ms(t_ms)?,
                            kind,
                            rule,
                            body,
                        })
                    })
                    .collect()
            }

            async fn append_sample(
                &self,
                account: &shared::domain::AccountId,
                point: &shared::api::EquityPoint,
            ) -> Result<(), $crate::db::StoreError> {
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
                account: &shared::domain::AccountId,
                limit: u32,
            ) -> Result<Vec<shared::api::EquityPoint>, $crate::db::StoreError> {
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
                        Ok(shared::api::EquityPoint {
                            time: $crate::db::time_from_ms(t_ms)?,
                            balance: $crate::db::decimal("balance", Some(balance))?.unwrap_or_default(),
                            equity: $crate::db::decimal("equity", Some(equity))?.unwrap_or_default(),
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use portable_store;
