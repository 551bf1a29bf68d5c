//! Several instances on one database: account leases, instances' heartbeats, live updates between
//! instances and settings shared by them. The SQL of [`crate::ScaleOut`], one text for both
//! databases.

/// Implements [`crate::ScaleOut`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_scale_out {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::ScaleOut for $store {
            async fn acquire_lease(
                &self,
                account: &shared::domain::AccountId,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::Lease>, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                // A new holder increases the generation (the fencing token); the same holder
                // renewing keeps it. The row lock this update takes makes a takeover wait for a
                // fenced save in progress (see `write_challenge`).
                let generation: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO account_leases (account_id, holder, generation, expires_at_ms)
                     VALUES ($1, $2, 1, $4)
                     ON CONFLICT (account_id) DO UPDATE SET
                         generation = CASE WHEN account_leases.holder = excluded.holder
                                           THEN account_leases.generation
                                           ELSE account_leases.generation + 1 END,
                         holder = excluded.holder,
                         expires_at_ms = excluded.expires_at_ms
                     WHERE account_leases.holder = excluded.holder
                        OR account_leases.expires_at_ms <= $3
                        OR $5
                     RETURNING generation",
                )
                .bind(account.as_str())
                .bind(holder)
                .bind(now.timestamp_millis())
                .bind(until.timestamp_millis())
                .bind(Self::SINGLE_INSTANCE)
                .fetch_optional(&self.pool)
                .await?;
                Ok(generation.map(|generation| $crate::Lease {
                    account: account.clone(),
                    holder: holder.to_owned(),
                    generation,
                    expires_at: until,
                }))
            }
            async fn release_lease(&self, lease: &$crate::Lease) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "UPDATE account_leases SET expires_at_ms = 0
                     WHERE account_id = $1 AND holder = $2 AND generation = $3",
                )
                .bind(lease.account.as_str())
                .bind(&lease.holder)
                .bind(lease.generation)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn leases(&self) -> Result<Vec<$crate::Lease>, $crate::StoreError> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT account_id, holder, generation, expires_at_ms FROM account_leases
                     ORDER BY account_id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(account, holder, generation, expires)| {
                        Ok($crate::Lease {
                            account: shared::domain::AccountId(account),
                            holder,
                            generation,
                            expires_at: $crate::time_from_ms(expires)?,
                        })
                    })
                    .collect()
            }
            async fn heartbeat_instance(
                &self,
                id: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<u32, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "INSERT INTO instances (id, started_at_ms, expires_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET expires_at_ms = excluded.expires_at_ms",
                )
                .bind(id)
                .bind(now.timestamp_millis())
                .bind(until.timestamp_millis())
                .execute(&self.pool)
                .await?;
                sqlx::query("DELETE FROM instances WHERE expires_at_ms <= $1")
                    .bind(now.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                let alive: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE expires_at_ms > $1")
                        .bind(now.timestamp_millis())
                        .fetch_one(&self.pool)
                        .await?;
                Ok(u32::try_from(alive).unwrap_or(u32::MAX))
            }
            async fn remove_instance(&self, id: &str) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query("DELETE FROM instances WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            fn shares_live_updates(&self) -> bool {
                !Self::SINGLE_INSTANCE
            }
            async fn publish_live(&self, payload: &str) -> Result<(), $crate::StoreError> {
                if Self::SINGLE_INSTANCE {
                    return Ok(());
                }
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind($crate::LIVE_CHANNEL)
                    .bind(payload)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn listen_live(
                &self,
            ) -> Result<Option<$crate::LiveListener>, $crate::StoreError> {
                self.listen_live_updates().await
            }
            async fn save_live_view(
                &self,
                account: &shared::domain::AccountId,
                body: &str,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "INSERT INTO live_views (account_id, body, updated_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id) DO UPDATE SET
                         body = excluded.body, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(account.as_str())
                .bind(body)
                .bind(chrono::Utc::now().timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn live_view(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Option<String>, $crate::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT body FROM live_views WHERE account_id = $1")
                        .bind(account.as_str())
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }
            async fn keep_setting(
                &self,
                name: &str,
                value: &str,
            ) -> Result<String, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(&self.pool)
                .await?;
                Ok(
                    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                        .bind(name)
                        .fetch_one(&self.pool)
                        .await?,
                )
            }
        }
    };
}

pub(crate) use portable_scale_out;
