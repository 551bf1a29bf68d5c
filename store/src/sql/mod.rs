//! The SQL both stores share. Every statement here is portable between SQLite and PostgreSQL
//! (`$n` placeholders, `ON CONFLICT ... DO UPDATE`, money as decimal text, times as Unix
//! milliseconds), so one text serves both pool types; only opening and migrating differ. One
//! file per concern, each a macro implementing that concern's trait; [`portable_store`] applies
//! them all, with the helpers several share.

mod audit;
mod competitions;
mod connections;
mod history;
mod notifications;
mod programs;
mod risk;
mod scale_out;
mod statements;
mod tracking;
mod users;

pub(crate) use audit::portable_audit;
pub(crate) use competitions::portable_competitions;
pub(crate) use connections::portable_connections;
pub(crate) use history::portable_history;
pub(crate) use notifications::portable_notifications;
pub(crate) use programs::portable_programs;
pub(crate) use risk::portable_risk;
pub(crate) use scale_out::portable_scale_out;
pub(crate) use statements::portable_statements;
pub(crate) use tracking::portable_tracking;
pub(crate) use users::portable_users;

/// Implements [`crate::Store`] and every concern's trait for a store type with a `pool` field of
/// a sqlx pool of database `$db`, with the helpers several concerns share.
macro_rules! portable_store {
    ($store:ty, $db:ty) => {
        $crate::sql::portable_tracking!($store, $db);
        $crate::sql::portable_history!($store, $db);
        $crate::sql::portable_users!($store, $db);
        $crate::sql::portable_audit!($store, $db);
        $crate::sql::portable_notifications!($store, $db);
        $crate::sql::portable_connections!($store, $db);
        $crate::sql::portable_scale_out!($store, $db);
        $crate::sql::portable_risk!($store, $db);
        $crate::sql::portable_programs!($store, $db);
        $crate::sql::portable_statements!($store, $db);
        $crate::sql::portable_competitions!($store, $db);

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        impl $store {
            /// Updates a user with `statement` (`$1` the id, `$2` the value, returning the user
            /// row) and, when `end_sessions`, ends every session of theirs in the same
            /// transaction, so a disabled user or a changed password stops working at once.
            /// `None` when there is no such user.
            async fn update_user<T>(
                &self,
                statement: &'static str,
                id: shared::api::UserId,
                value: T,
                end_sessions: bool,
            ) -> Result<Option<$crate::User>, $crate::StoreError>
            where
                T: 'static + Send + for<'q> sqlx::Encode<'q, $db> + sqlx::Type<$db>,
            {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin().await?;
                let row: Option<$crate::UserRow> = sqlx::query_as(statement)
                    .bind(id.0)
                    .bind(value)
                    .fetch_optional(&mut *tx)
                    .await?;
                if row.is_some() && end_sessions {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                row.map($crate::user_from_row).transpose()
            }

            /// [`Self::write_challenge_with_deals`] without deals.
            async fn write_challenge(
                &self,
                account: &shared::domain::AccountId,
                state: &str,
                events: &[$crate::StoredEvent],
                lease: Option<&$crate::Lease>,
            ) -> Result<(), $crate::StoreError> {
                self.write_challenge_with_deals(account, state, events, &[], lease).await
            }

            /// Saves the engine state, its new events and the deals it was fed in one
            /// transaction; with a lease, first checks (and locks) it, writing nothing when it
            /// is no longer this holder's.
            async fn write_challenge_with_deals(
                &self,
                account: &shared::domain::AccountId,
                state: &str,
                events: &[$crate::StoredEvent],
                deals: &[shared::domain::Deal],
                lease: Option<&$crate::Lease>,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(!events.is_empty()).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                if let Some(lease) = lease {
                    // A no-op update that matches only while the lease is unchanged: it also
                    // locks the lease row until commit, so a takeover waits for this save.
                    let held = sqlx::query(
                        "UPDATE account_leases SET generation = generation
                         WHERE account_id = $1 AND holder = $2 AND generation = $3",
                    )
                    .bind(account.as_str())
                    .bind(&lease.holder)
                    .bind(lease.generation)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if held == 0 {
                        tx.rollback().await?;
                        return Err($crate::StoreError::LeaseLost(account.to_string()));
                    }
                }
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
                let now_ms = chrono::Utc::now().timestamp_millis();
                for event in events {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO challenge_events (account_id, t_ms, kind, rule, body)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(account.as_str())
                    .bind(event.time.timestamp_millis())
                    .bind(&event.kind)
                    .bind(event.rule.as_deref())
                    .bind(&event.body)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO notification_outbox
                             (event_id, account_id, created_at_ms, status, attempts,
                              next_attempt_at_ms)
                         VALUES ($1, $2, $3, 'pending', 0, $4)",
                    )
                    .bind(id)
                    .bind(account.as_str())
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_deals(&mut tx, account.as_str(), deals).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Inserts deals inside `tx`, once per account and deal id (many rows per
            /// statement; a deal already stored is left as it was).
            async fn insert_deals(
                tx: &mut sqlx::Transaction<'_, $db>,
                account: &str,
                deals: &[shared::domain::Deal],
            ) -> Result<(), $crate::StoreError> {
                const COLUMNS: usize = 7;
                const CHUNK: usize = 100;
                for chunk in deals.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO deals
                             (account_id, deal_id, t_ms, position_id, opening, closing, body)
                         VALUES {}
                         ON CONFLICT (account_id, deal_id) DO NOTHING",
                        $crate::buckets::values_placeholders(chunk.len(), COLUMNS)
                    );
                    let mut query = sqlx::query(&sql);
                    for deal in chunk {
                        let body = serde_json::to_string(deal).map_err(|error| {
                            $crate::StoreError::Corrupt {
                                column: "deals.body",
                                value: format!("deal {}: {error}", deal.id),
                            }
                        })?;
                        query = query
                            .bind(account)
                            .bind(deal.id.as_str())
                            .bind(deal.time.timestamp_millis())
                            .bind(deal.position_id.as_deref())
                            .bind(deal.is_opening_trade())
                            .bind(deal.is_closing_trade())
                            .bind(body);
                    }
                    query.execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Folds samples into every tier's buckets inside `tx`: reads the touched buckets
            /// (one query), merges in Rust (exact decimals), writes them back (one multi-row
            /// upsert per chunk).
            async fn fold_samples(
                tx: &mut sqlx::Transaction<'_, $db>,
                account: &str,
                points: &[shared::api::EquityPoint],
            ) -> Result<(), $crate::StoreError> {
                use $crate::buckets::{COLUMNS, TIERS, UPSERT_CHUNK, values_placeholders};
                let mut folded = $crate::buckets::fold(points)?;
                let mut sql = format!(
                    "SELECT {COLUMNS} FROM equity_buckets WHERE account_id = $1 AND ("
                );
                let mut ranges: Vec<i64> = Vec::new();
                for tier in TIERS {
                    let mut starts = folded
                        .range((tier.resolution_ms, i64::MIN)..=(tier.resolution_ms, i64::MAX))
                        .map(|(key, _)| key.1);
                    let Some(low) = starts.next() else {
                        continue;
                    };
                    let high = starts.last().unwrap_or(low);
                    if !ranges.is_empty() {
                        sql.push_str(" OR ");
                    }
                    let n = ranges.len() + 2;
                    sql.push_str(&format!(
                        "(resolution_ms = ${} AND start_ms >= ${} AND start_ms <= ${})",
                        n,
                        n + 1,
                        n + 2
                    ));
                    ranges.extend([tier.resolution_ms, low, high]);
                }
                sql.push(')');
                let mut query = sqlx::query_as::<_, $crate::buckets::Row>(&sql).bind(account);
                for value in &ranges {
                    query = query.bind(*value);
                }
                for row in query.fetch_all(&mut **tx).await? {
                    let key = (row.0, row.1);
                    let mut stored = $crate::buckets::from_row(row)?;
                    if let Some(fresh) = folded.get_mut(&key) {
                        stored.merge(fresh);
                        *fresh = stored;
                    }
                }
                let buckets: Vec<((i64, i64), shared::api::EquityBucket)> =
                    folded.into_iter().collect();
                for chunk in buckets.chunks(UPSERT_CHUNK) {
                    let sql = format!(
                        "INSERT INTO equity_buckets (account_id, {COLUMNS})
                         VALUES {}
                         ON CONFLICT (account_id, resolution_ms, start_ms) DO UPDATE SET
                             first_ms = excluded.first_ms, last_ms = excluded.last_ms,
                             samples = excluded.samples,
                             balance_open = excluded.balance_open,
                             balance_close = excluded.balance_close,
                             balance_min = excluded.balance_min,
                             balance_max = excluded.balance_max,
                             equity_open = excluded.equity_open,
                             equity_close = excluded.equity_close,
                             equity_min = excluded.equity_min,
                             equity_max = excluded.equity_max",
                        values_placeholders(chunk.len(), 14)
                    );
                    let mut query = sqlx::query(&sql);
                    for ((resolution_ms, start_ms), bucket) in chunk {
                        query = query
                            .bind(account)
                            .bind(*resolution_ms)
                            .bind(*start_ms)
                            .bind(bucket.first.timestamp_millis())
                            .bind(bucket.last.timestamp_millis())
                            .bind(i64::try_from(bucket.samples).unwrap_or(i64::MAX))
                            .bind(bucket.balance.open.to_string())
                            .bind(bucket.balance.close.to_string())
                            .bind(bucket.balance.min.to_string())
                            .bind(bucket.balance.max.to_string())
                            .bind(bucket.equity.open.to_string())
                            .bind(bucket.equity.close.to_string())
                            .bind(bucket.equity.min.to_string())
                            .bind(bucket.equity.max.to_string());
                    }
                    query.execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Folds the rows left in the legacy `equity_samples` table (written before equity
            /// buckets existed) into buckets and deletes them, a batch at a time, each batch in
            /// one transaction. Returns how many samples were folded.
            pub(crate) async fn fold_legacy_samples(&self) -> Result<u64, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                const BATCH: i64 = 10_000;
                let accounts: Vec<String> =
                    sqlx::query_scalar("SELECT DISTINCT account_id FROM equity_samples")
                        .fetch_all(&self.pool)
                        .await?;
                let mut folded = 0;
                for account in accounts {
                    loop {
                        let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                        // The batch ends at a time, so samples sharing it stay together.
                        let cutoff: Option<i64> = sqlx::query_scalar(
                            "SELECT t_ms FROM equity_samples WHERE account_id = $1
                             ORDER BY t_ms LIMIT 1 OFFSET $2",
                        )
                        .bind(&account)
                        .bind(BATCH - 1)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let rows: Vec<(i64, String, String)> = sqlx::query_as(
                            "SELECT t_ms, balance, equity FROM equity_samples
                             WHERE account_id = $1 AND t_ms <= $2 ORDER BY t_ms",
                        )
                        .bind(&account)
                        .bind(cutoff.unwrap_or(i64::MAX))
                        .fetch_all(&mut *tx)
                        .await?;
                        let Some(&(last, _, _)) = rows.last() else {
                            break;
                        };
                        let points = rows
                            .into_iter()
                            .map(|(t_ms, balance, equity)| {
                                Ok(shared::api::EquityPoint {
                                    time: $crate::time_from_ms(t_ms)?,
                                    balance: $crate::decimal("balance", Some(balance))?
                                        .unwrap_or_default(),
                                    equity: $crate::decimal("equity", Some(equity))?
                                        .unwrap_or_default(),
                                })
                            })
                            .collect::<Result<Vec<_>, $crate::StoreError>>()?;
                        Self::fold_samples(&mut tx, &account, &points).await?;
                        sqlx::query("DELETE FROM equity_samples WHERE account_id = $1 AND t_ms <= $2")
                            .bind(&account)
                            .bind(last)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        folded += points.len() as u64;
                    }
                }
                if folded > 0 {
                    tracing::info!(samples = folded, "folded legacy equity samples into buckets");
                }
                Ok(folded)
            }

        }

    };
}

pub(crate) use portable_store;
