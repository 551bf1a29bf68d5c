//! API tokens, trackers and tracker events of MetaApi's risk management API. The SQL of
//! [`crate::RiskApi`], one text for both databases.

/// Implements [`crate::RiskApi`] for a store type with a `pool` field of a sqlx pool of
/// database `$db`.
macro_rules! portable_risk {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::RiskApi for $store {
            async fn create_api_token(
                &self,
                token: &$crate::ApiToken,
                secret_hash: &str,
            ) -> Result<(), $crate::StoreError> {
                let accounts = $crate::risk::accounts_json(&token.accounts);
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, secret_hash, accounts_json, created_by,
                         created_at_ms, last_used_at_ms, revoked_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&token.id)
                .bind(&token.name)
                .bind(secret_hash)
                .bind(accounts)
                .bind(&token.created_by)
                .bind(token.created_at.timestamp_millis())
                .bind(token.last_used_at.map(|t| t.timestamp_millis()))
                .bind(token.revoked_at.map(|t| t.timestamp_millis()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn api_tokens(&self) -> Result<Vec<$crate::ApiToken>, $crate::StoreError> {
                let rows: Vec<$crate::risk::TokenRow> = sqlx::query_as(&format!(
                    "{} ORDER BY created_at_ms DESC, id DESC",
                    $crate::risk::TOKEN_SELECT
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::risk::token_from_row).collect()
            }
            async fn api_token_by_secret(
                &self,
                secret_hash: &str,
            ) -> Result<Option<$crate::ApiToken>, $crate::StoreError> {
                let row: Option<$crate::risk::TokenRow> = sqlx::query_as(&format!(
                    "{} WHERE secret_hash = $1",
                    $crate::risk::TOKEN_SELECT
                ))
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::risk::token_from_row).transpose()
            }
            async fn api_token(
                &self,
                id: &str,
            ) -> Result<Option<$crate::ApiToken>, $crate::StoreError> {
                let row: Option<$crate::risk::TokenRow> =
                    sqlx::query_as(&format!("{} WHERE id = $1", $crate::risk::TOKEN_SELECT))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::risk::token_from_row).transpose()
            }
            async fn revoke_api_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::ApiToken>, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at_ms = $2
                     WHERE id = $1 AND revoked_at_ms IS NULL",
                )
                .bind(id)
                .bind(at.timestamp_millis())
                .execute(&self.pool)
                .await?;
                <Self as $crate::RiskApi>::api_token(self, id).await
            }
            async fn touch_api_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                sqlx::query("UPDATE api_tokens SET last_used_at_ms = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn create_tracker(
                &self,
                tracker: &$crate::StoredTracker,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let done = sqlx::query(
                    "INSERT INTO risk_trackers
                         (id, account_id, name, spec_json, created_at_ms, state_json)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (account_id, name) DO NOTHING",
                )
                .bind(&tracker.id)
                .bind(tracker.account.as_str())
                .bind(&tracker.name)
                .bind(&tracker.spec_json)
                .bind(tracker.created_at.timestamp_millis())
                .bind(tracker.state_json.as_deref())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
            async fn trackers(
                &self,
                account: Option<&shared::domain::AccountId>,
            ) -> Result<Vec<$crate::StoredTracker>, $crate::StoreError> {
                let rows: Vec<(String, String, String, String, i64, Option<String>)> =
                    sqlx::query_as(
                        "SELECT id, account_id, name, spec_json, created_at_ms, state_json
                         FROM risk_trackers WHERE ($1 IS NULL OR account_id = $1)
                         ORDER BY created_at_ms, id",
                    )
                    .bind(account.map(|a| a.as_str().to_owned()))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(id, account, name, spec_json, created, state_json)| {
                        Ok($crate::StoredTracker {
                            id,
                            account: shared::domain::AccountId(account),
                            name,
                            spec_json,
                            created_at: $crate::time_from_ms(created)?,
                            state_json,
                        })
                    })
                    .collect()
            }
            async fn rename_tracker(
                &self,
                account: &shared::domain::AccountId,
                id: &str,
                name: &str,
                spec_json: &str,
            ) -> Result<$crate::Rename, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin().await?;
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM risk_trackers WHERE account_id = $1 AND id = $2",
                )
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_none() {
                    return Ok($crate::Rename::NotFound);
                }
                let taken: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM risk_trackers
                     WHERE account_id = $1 AND name = $2 AND id <> $3",
                )
                .bind(account.as_str())
                .bind(name)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Ok($crate::Rename::NameTaken);
                }
                let updated = sqlx::query(
                    "UPDATE risk_trackers SET name = $3, spec_json = $4
                     WHERE account_id = $1 AND id = $2",
                )
                .bind(account.as_str())
                .bind(id)
                .bind(name)
                .bind(spec_json)
                .execute(&mut *tx)
                .await;
                match updated {
                    // A rename to the same name committed meanwhile (PostgreSQL, two
                    // instances): the unique index holds, and the answer says so.
                    Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                        Ok($crate::Rename::NameTaken)
                    }
                    Err(error) => Err(error.into()),
                    Ok(_) => {
                        tx.commit().await?;
                        Ok($crate::Rename::Renamed)
                    }
                }
            }
            async fn delete_tracker(
                &self,
                account: &shared::domain::AccountId,
                id: &str,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let done =
                    sqlx::query("DELETE FROM risk_trackers WHERE account_id = $1 AND id = $2")
                        .bind(account.as_str())
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected() > 0)
            }
            async fn save_tracker_states(
                &self,
                states: &[(String, String)],
            ) -> Result<(), $crate::StoreError> {
                if states.is_empty() {
                    return Ok(());
                }
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin().await?;
                for (id, state) in states {
                    sqlx::query("UPDATE risk_trackers SET state_json = $2 WHERE id = $1")
                        .bind(id)
                        .bind(state)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            async fn append_tracker_events(
                &self,
                events: &[$crate::NewTrackerEvent],
            ) -> Result<Vec<i64>, $crate::StoreError> {
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                // A threshold crossed is news: it goes before routine writes.
                let _turn = self.gate.enter(true).await;
                let mut tx = self.pool.begin().await?;
                let mut numbers = Vec::with_capacity(events.len());
                for event in events {
                    let number: i64 = sqlx::query_scalar(
                        "INSERT INTO risk_tracker_events
                             (account_id, tracker_id, broker_time, body_json, created_at_ms)
                         VALUES ($1, $2, $3, $4, $5) RETURNING sequence_number",
                    )
                    .bind(event.account.as_str())
                    .bind(&event.tracker_id)
                    .bind(&event.broker_time)
                    .bind(&event.body_json)
                    .bind(event.created_at.timestamp_millis())
                    .fetch_one(&mut *tx)
                    .await?;
                    numbers.push(number);
                }
                tx.commit().await?;
                Ok(numbers)
            }
            async fn tracker_events(
                &self,
                filter: &$crate::TrackerEventFilter,
            ) -> Result<Vec<$crate::TrackerEventRecord>, $crate::StoreError> {
                let (sql, texts, after, limit) = $crate::risk::events_query(filter);
                let Some(sql) = sql else {
                    return Ok(Vec::new());
                };
                let mut query =
                    sqlx::query_as::<_, (i64, String, String, String, String, i64)>(&sql);
                for text in &texts {
                    query = query.bind(text.as_str());
                }
                let rows = query.bind(after).bind(limit).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(
                        |(number, account, tracker_id, broker_time, body_json, created)| {
                            Ok($crate::TrackerEventRecord {
                                sequence_number: number,
                                event: $crate::NewTrackerEvent {
                                    account: shared::domain::AccountId(account),
                                    tracker_id,
                                    broker_time,
                                    body_json,
                                    created_at: $crate::time_from_ms(created)?,
                                },
                            })
                        },
                    )
                    .collect()
            }
            async fn last_tracker_event(&self) -> Result<i64, $crate::StoreError> {
                let last: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(sequence_number) FROM risk_tracker_events")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(last.unwrap_or(0))
            }
        }
    };
}

pub(crate) use portable_risk;
