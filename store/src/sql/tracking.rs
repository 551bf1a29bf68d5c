//! A challenge's engine state with its events (and their notifications in the outbox), the deals it
//! was fed, the trade history, the peaks of accounts without a challenge, and versioned rule sets.
//! The SQL of [`crate::Tracking`], one text for both databases.

/// Implements [`crate::Tracking`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_tracking {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Tracking for $store {
            async fn load_peaks(&self, account: &shared::domain::AccountId) -> Result<Option<shared::peaks::Peaks>, $crate::StoreError> {
                let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT starting_capital, peak_balance, peak_equity FROM account_peaks
                     WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(capital, balance, equity)| {
                    Ok(shared::peaks::Peaks {
                        starting_capital: $crate::decimal("starting_capital", capital)?,
                        peak_balance: $crate::decimal("peak_balance", balance)?,
                        peak_equity: $crate::decimal("peak_equity", equity)?,
                    })
                })
                .transpose()
            }
            async fn save_peaks(&self, account: &shared::domain::AccountId, peaks: &shared::peaks::Peaks) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
            async fn load_challenge(&self, account: &shared::domain::AccountId) -> Result<Option<String>, $crate::StoreError> {
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
                events: &[$crate::StoredEvent],
            ) -> Result<(), $crate::StoreError> {
                self.write_challenge(account, state, events, None).await
            }
            async fn save_challenge_fenced(
                &self,
                account: &shared::domain::AccountId,
                state: &str,
                events: &[$crate::StoredEvent],
                lease: &$crate::Lease,
            ) -> Result<(), $crate::StoreError> {
                self.write_challenge(account, state, events, Some(lease)).await
            }
            async fn link_challenge_rule_set(
                &self,
                account: &shared::domain::AccountId,
                version: i64,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let done = sqlx::query(
                    "UPDATE challenge_state SET rule_set_version = $2
                     WHERE account_id = $1
                       AND EXISTS (SELECT 1 FROM rule_sets WHERE account_id = $1 AND version = $2)",
                )
                .bind(account.as_str())
                .bind(version)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
            async fn challenge_rule_set_version(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Option<i64>, $crate::StoreError> {
                let version: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT rule_set_version FROM challenge_state WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                Ok(version.flatten())
            }
            async fn challenge_events(&self, account: &shared::domain::AccountId) -> Result<Vec<$crate::StoredEvent>, $crate::StoreError> {
                let rows: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT t_ms, kind, rule, body FROM challenge_events
                     WHERE account_id = $1 ORDER BY id",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(t_ms, kind, rule, body)| {
                        Ok($crate::StoredEvent {
                            time: $crate::time_from_ms(t_ms)?,
                            kind,
                            rule,
                            body,
                        })
                    })
                    .collect()
            }
            async fn challenge_event_records(
                &self,
                account: &shared::domain::AccountId,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<$crate::EventRecord>, $crate::StoreError> {
                let rows: Vec<(i64, i64, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT id, t_ms, kind, rule, body FROM challenge_events
                     WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(account.as_str())
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, t_ms, kind, rule, body)| {
                        Ok($crate::EventRecord {
                            id,
                            event: $crate::StoredEvent {
                                time: $crate::time_from_ms(t_ms)?,
                                kind,
                                rule,
                                body,
                            },
                        })
                    })
                    .collect()
            }
            async fn save_rule_set(
                &self,
                account: &shared::domain::AccountId,
                effective_from: chrono::DateTime<chrono::Utc>,
                rules: &serde_json::Value,
                created_by: &str,
            ) -> Result<i64, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                // The next version is computed in the insert itself; two concurrent saves for one
                // account cannot both take it (the key refuses the second).
                Ok(sqlx::query_scalar(
                    "INSERT INTO rule_sets
                         (account_id, version, effective_from_ms, rules, created_by, created_at_ms)
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5
                     FROM rule_sets WHERE account_id = $6
                     RETURNING version",
                )
                .bind(account.as_str())
                .bind(effective_from.timestamp_millis())
                .bind(rules.to_string())
                .bind(created_by)
                .bind(chrono::Utc::now().timestamp_millis())
                .bind(account.as_str())
                .fetch_one(&self.pool)
                .await?)
            }
            async fn rule_set_at(
                &self,
                account: &shared::domain::AccountId,
                instant: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::RuleSetVersion>, $crate::StoreError> {
                let row: Option<(i64, i64, String, String, i64)> = sqlx::query_as(
                    "SELECT version, effective_from_ms, rules, created_by, created_at_ms
                     FROM rule_sets WHERE account_id = $1 AND effective_from_ms <= $2
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(account.as_str())
                .bind(instant.timestamp_millis())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::rule_set_from_row).transpose()
            }
            async fn rule_set_versions(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Vec<$crate::RuleSetVersion>, $crate::StoreError> {
                let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
                    "SELECT version, effective_from_ms, rules, created_by, created_at_ms
                     FROM rule_sets WHERE account_id = $1 ORDER BY version",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::rule_set_from_row).collect()
            }
            async fn save_challenge_with_deals(
                &self,
                account: &shared::domain::AccountId,
                state: &str,
                events: &[$crate::StoredEvent],
                deals: &[shared::domain::Deal],
                lease: Option<&$crate::Lease>,
            ) -> Result<(), $crate::StoreError> {
                self.write_challenge_with_deals(account, state, events, deals, lease).await
            }
            async fn fed_deal_ids(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Vec<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar("SELECT deal_id FROM deals WHERE account_id = $1")
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?)
            }
            async fn trades(
                &self,
                account: &shared::domain::AccountId,
                before: Option<&$crate::TradeCursor>,
                limit: u32,
            ) -> Result<Vec<$crate::StoredTrade>, $crate::StoreError> {
                // Without a cursor, start before a key newer than any deal.
                let (before_ms, before_id) = before
                    .map_or((i64::MAX, ""), |cursor| (cursor.t_ms, cursor.deal_id.as_str()));
                let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                    "SELECT d.body,
                            (SELECT o.body FROM deals o
                             WHERE o.account_id = d.account_id AND o.position_id = d.position_id
                               AND o.opening
                             ORDER BY o.t_ms, o.deal_id LIMIT 1)
                     FROM deals d
                     WHERE d.account_id = $1 AND d.closing
                       AND (d.t_ms < $2 OR (d.t_ms = $2 AND d.deal_id < $3))
                     ORDER BY d.t_ms DESC, d.deal_id DESC
                     LIMIT $4",
                )
                .bind(account.as_str())
                .bind(before_ms)
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let deal = |body: String| {
                    serde_json::from_str::<shared::domain::Deal>(&body).map_err(|_| {
                        $crate::StoreError::Corrupt {
                            column: "deals.body",
                            value: body,
                        }
                    })
                };
                // The deals of the page's positions, to follow each position up to its close.
                let history: Vec<String> = sqlx::query_scalar(
                    "SELECT o.body FROM deals o
                     WHERE o.account_id = $1 AND o.position_id IN (
                         SELECT d.position_id FROM deals d
                         WHERE d.account_id = $1 AND d.closing
                           AND (d.t_ms < $2 OR (d.t_ms = $2 AND d.deal_id < $3))
                         ORDER BY d.t_ms DESC, d.deal_id DESC
                         LIMIT $4)
                     ORDER BY o.t_ms, o.deal_id",
                )
                .bind(account.as_str())
                .bind(before_ms)
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let history = history
                    .into_iter()
                    .map(deal)
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(|(close, open)| {
                        let close = deal(close)?;
                        let key = (close.time, close.id.as_str());
                        let earlier = history
                            .iter()
                            .filter(|d| {
                                d.position_id.is_some()
                                    && d.position_id == close.position_id
                                    && (d.time, d.id.as_str()) < key
                            })
                            .cloned()
                            .collect();
                        Ok($crate::StoredTrade {
                            open: open.map(deal).transpose()?,
                            earlier,
                            close,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use portable_tracking;
