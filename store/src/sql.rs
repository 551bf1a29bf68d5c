//! The SQL both stores share. Every statement here is portable between SQLite and PostgreSQL
//! (`$n` placeholders, `ON CONFLICT ... DO UPDATE`, money as decimal text, times as Unix
//! milliseconds), so one text serves both pool types; only opening and migrating differ.

/// Implements [`super::Store`] for a store type with a `pool` field of a sqlx pool of database
/// `$db`.
macro_rules! portable_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

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

            async fn acquire_lease(
                &self,
                account: &shared::domain::AccountId,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::Lease>, $crate::StoreError> {
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

            async fn release_lease(
                &self,
                lease: &$crate::Lease,
            ) -> Result<(), $crate::StoreError> {
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
                Ok(sqlx::query_scalar("SELECT body FROM live_views WHERE account_id = $1")
                    .bind(account.as_str())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn keep_setting(
                &self,
                name: &str,
                value: &str,
            ) -> Result<String, $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?)
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

            async fn append_samples(
                &self,
                account: &shared::domain::AccountId,
                points: &[shared::api::EquityPoint],
            ) -> Result<(), $crate::StoreError> {
                if points.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                Self::fold_samples(&mut tx, account.as_str(), points).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn equity_history(
                &self,
                account: &shared::domain::AccountId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                max_points: u32,
            ) -> Result<Vec<shared::api::EquityBucket>, $crate::StoreError> {
                use $crate::buckets::{COARSEST, COLUMNS, TIERS, bucket_start};
                let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
                let max_points = max_points.max(1);
                if from_ms > to_ms {
                    return Ok(Vec::new());
                }
                // The coarsest tier is never pruned: its first sample is the account's first.
                let data_start: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(first_ms) FROM equity_buckets
                     WHERE account_id = $1 AND resolution_ms = $2",
                )
                .bind(account.as_str())
                .bind(COARSEST.resolution_ms)
                .fetch_one(&self.pool)
                .await?;
                let Some(data_start) = data_start else {
                    return Ok(Vec::new());
                };
                let covered_from = from_ms.max(data_start);
                let mut chosen = COARSEST;
                for tier in &TIERS[..TIERS.len() - 1] {
                    // A pruned tier serves only ranges that start after its oldest bucket.
                    let tier_start: Option<i64> = sqlx::query_scalar(
                        "SELECT MIN(start_ms) FROM equity_buckets
                         WHERE account_id = $1 AND resolution_ms = $2",
                    )
                    .bind(account.as_str())
                    .bind(tier.resolution_ms)
                    .fetch_one(&self.pool)
                    .await?;
                    if !tier_start.is_some_and(|start| start <= covered_from) {
                        continue;
                    }
                    // Counting stops one past the budget, so a long range costs no full scan.
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (
                             SELECT 1 FROM equity_buckets
                             WHERE account_id = $1 AND resolution_ms = $2
                               AND start_ms >= $3 AND start_ms <= $4
                               AND first_ms <= $5 AND last_ms >= $6
                             LIMIT $7
                         ) AS bounded",
                    )
                    .bind(account.as_str())
                    .bind(tier.resolution_ms)
                    .bind(bucket_start(from_ms, tier.resolution_ms))
                    .bind(to_ms)
                    .bind(to_ms)
                    .bind(from_ms)
                    .bind(i64::from(max_points) + 1)
                    .fetch_one(&self.pool)
                    .await?;
                    if count <= i64::from(max_points) {
                        chosen = *tier;
                        break;
                    }
                }
                let rows: Vec<$crate::buckets::Row> = sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM equity_buckets
                     WHERE account_id = $1 AND resolution_ms = $2
                       AND start_ms >= $3 AND start_ms <= $4
                       AND first_ms <= $5 AND last_ms >= $6
                     ORDER BY start_ms"
                ))
                .bind(account.as_str())
                .bind(chosen.resolution_ms)
                .bind(bucket_start(from_ms, chosen.resolution_ms))
                .bind(to_ms)
                .bind(to_ms)
                .bind(from_ms)
                .fetch_all(&self.pool)
                .await?;
                let buckets = rows
                    .into_iter()
                    .map($crate::buckets::from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let budget = usize::try_from(max_points).unwrap_or(usize::MAX);
                Ok(shared::history::downsample(buckets, budget))
            }

            async fn append_limits(
                &self,
                account: &shared::domain::AccountId,
                limits: &[shared::api::LimitPoint],
            ) -> Result<(), $crate::StoreError> {
                if limits.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for limit in limits {
                    sqlx::query(
                        "INSERT INTO challenge_limits (account_id, rule, t_ms, kind, level)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (account_id, rule, t_ms) DO UPDATE SET
                             kind = excluded.kind,
                             level = excluded.level",
                    )
                    .bind(account.as_str())
                    .bind(limit.rule.as_str())
                    .bind(limit.time.timestamp_millis())
                    .bind(limit.kind.as_str())
                    .bind(limit.level.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn limit_history(
                &self,
                account: &shared::domain::AccountId,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<shared::api::LimitPoint>, $crate::StoreError> {
                let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
                    "SELECT l.t_ms, l.rule, l.kind, l.level FROM challenge_limits l
                     WHERE l.account_id = $1 AND l.t_ms <= $3
                       AND (l.t_ms > $2 OR l.t_ms = (
                           SELECT MAX(m.t_ms) FROM challenge_limits m
                           WHERE m.account_id = l.account_id AND m.rule = l.rule
                             AND m.t_ms <= $2))
                     ORDER BY l.t_ms, l.rule",
                )
                .bind(account.as_str())
                .bind(from.timestamp_millis())
                .bind(to.timestamp_millis())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(t_ms, rule, kind, level)| {
                        Ok(shared::api::LimitPoint {
                            time: $crate::time_from_ms(t_ms)?,
                            rule,
                            kind,
                            level: $crate::decimal("level", Some(level))?
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            }

            async fn equity_tier(
                &self,
                account: &shared::domain::AccountId,
                resolution_ms: i64,
            ) -> Result<Vec<shared::api::EquityBucket>, $crate::StoreError> {
                let rows: Vec<$crate::buckets::Row> = sqlx::query_as(&format!(
                    "SELECT {} FROM equity_buckets
                     WHERE account_id = $1 AND resolution_ms = $2 ORDER BY start_ms",
                    $crate::buckets::COLUMNS
                ))
                .bind(account.as_str())
                .bind(resolution_ms)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::buckets::from_row).collect()
            }

            async fn prune_equity_buckets(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let mut deleted = 0;
                for tier in $crate::buckets::TIERS {
                    let Some(keep_ms) = tier.keep_ms else {
                        continue;
                    };
                    let horizon = $crate::buckets::bucket_start(
                        now.timestamp_millis().saturating_sub(keep_ms),
                        tier.resolution_ms,
                    );
                    deleted += sqlx::query(
                        "DELETE FROM equity_buckets WHERE resolution_ms = $1 AND start_ms < $2",
                    )
                    .bind(tier.resolution_ms)
                    .bind(horizon)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                }
                Ok(deleted)
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

            async fn append_audit(
                &self,
                entry: &$crate::AuditEntry,
            ) -> Result<i64, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO audit_log
                         (t_ms, actor, action, subject, before_json, after_json, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(entry.time.timestamp_millis())
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.subject)
                .bind(entry.before.as_ref().map(serde_json::Value::to_string))
                .bind(entry.after.as_ref().map(serde_json::Value::to_string))
                .bind(entry.reason.as_deref())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn audit_log(
                &self,
                filter: &$crate::AuditFilter,
            ) -> Result<Vec<$crate::AuditRecord>, $crate::StoreError> {
                // Only the filters that are set become conditions, numbered in order.
                let mut sql = String::from(
                    "SELECT id, t_ms, actor, action, subject, before_json, after_json, reason
                     FROM audit_log WHERE 1 = 1",
                );
                let mut texts: Vec<&str> = Vec::new();
                let mut numbers: Vec<i64> = Vec::new();
                for (column, value) in [
                    ("actor", &filter.actor),
                    ("action", &filter.action),
                    ("subject", &filter.subject),
                ] {
                    if let Some(value) = value {
                        texts.push(value);
                        sql.push_str(&format!(" AND {column} = ${}", texts.len()));
                    }
                }
                for (condition, value) in [
                    ("t_ms >=", filter.from.map(|t| t.timestamp_millis())),
                    ("t_ms <=", filter.to.map(|t| t.timestamp_millis())),
                    ("id <", filter.before_id),
                ] {
                    if let Some(value) = value {
                        numbers.push(value);
                        sql.push_str(&format!(
                            " AND {condition} ${}",
                            texts.len() + numbers.len()
                        ));
                    }
                }
                let limit = match filter.limit {
                    0 => $crate::MAX_AUDIT_PAGE,
                    n => n.min($crate::MAX_AUDIT_PAGE),
                };
                sql.push_str(&format!(
                    " ORDER BY id DESC LIMIT ${}",
                    texts.len() + numbers.len() + 1
                ));
                let mut query = sqlx::query_as::<
                    _,
                    (i64, i64, String, String, String, Option<String>, Option<String>, Option<String>),
                >(&sql);
                for text in texts {
                    query = query.bind(text);
                }
                for number in numbers {
                    query = query.bind(number);
                }
                let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|(id, t_ms, actor, action, subject, before, after, reason)| {
                        Ok($crate::AuditRecord {
                            id,
                            entry: $crate::AuditEntry {
                                time: $crate::time_from_ms(t_ms)?,
                                actor,
                                action,
                                subject,
                                before: $crate::json("before_json", before)?,
                                after: $crate::json("after_json", after)?,
                                reason,
                            },
                        })
                    })
                    .collect()
            }

            async fn claim_notifications(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::Notification>, $crate::StoreError> {
                // The outer condition is checked again on the row being updated, so of two
                // concurrent claims only one takes a row (PostgreSQL re-reads it; SQLite has one
                // writer at a time).
                let claimed: Vec<i64> = sqlx::query_scalar(
                    "UPDATE notification_outbox
                     SET attempts = attempts + 1, next_attempt_at_ms = $1
                     WHERE status = 'pending' AND next_attempt_at_ms <= $2
                       AND event_id IN (
                           SELECT event_id FROM notification_outbox
                           WHERE status = 'pending' AND next_attempt_at_ms <= $3
                           ORDER BY next_attempt_at_ms, event_id LIMIT $4
                       )
                     RETURNING event_id",
                )
                .bind(lease_until.timestamp_millis())
                .bind(now.timestamp_millis())
                .bind(now.timestamp_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(claimed.len());
                for event_id in claimed {
                    if let Some(notification) = self.notification(event_id).await? {
                        out.push(notification);
                    }
                }
                out.sort_by_key(|n| (n.event.time, n.event_id));
                Ok(out)
            }

            async fn mark_notification_delivered(
                &self,
                event_id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "UPDATE notification_outbox SET status = 'delivered', delivered_at_ms = $1,
                         last_error = NULL
                     WHERE event_id = $2",
                )
                .bind(at.timestamp_millis())
                .bind(event_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn mark_notification_failed(
                &self,
                event_id: i64,
                error: &str,
                retry_at: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<(), $crate::StoreError> {
                let status = match retry_at {
                    Some(_) => $crate::NotificationStatus::Pending,
                    None => $crate::NotificationStatus::Failed,
                };
                sqlx::query(
                    "UPDATE notification_outbox
                     SET status = $1, last_error = $2,
                         next_attempt_at_ms = COALESCE($3, next_attempt_at_ms)
                     WHERE event_id = $4 AND status = 'pending'",
                )
                .bind(status.as_str())
                .bind(error)
                .bind(retry_at.map(|t| t.timestamp_millis()))
                .bind(event_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn notification(
                &self,
                event_id: i64,
            ) -> Result<Option<$crate::Notification>, $crate::StoreError> {
                let row: Option<(
                    String,
                    String,
                    i64,
                    i64,
                    Option<String>,
                    i64,
                    String,
                    Option<String>,
                    String,
                )> = sqlx::query_as(
                    "SELECT o.account_id, o.status, o.attempts, o.next_attempt_at_ms, o.last_error,
                            e.t_ms, e.kind, e.rule, e.body
                     FROM notification_outbox o JOIN challenge_events e ON e.id = o.event_id
                     WHERE o.event_id = $1",
                )
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(
                    |(account, status, attempts, next, last_error, t_ms, kind, rule, body)| {
                        Ok($crate::Notification {
                            event_id,
                            account: shared::domain::AccountId(account),
                            event: $crate::StoredEvent {
                                time: $crate::time_from_ms(t_ms)?,
                                kind,
                                rule,
                                body,
                            },
                            status: $crate::NotificationStatus::parse(&status)?,
                            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                            next_attempt_at: $crate::time_from_ms(next)?,
                            last_error,
                        })
                    },
                )
                .transpose()
            }

            async fn save_rule_set(
                &self,
                account: &shared::domain::AccountId,
                effective_from: chrono::DateTime<chrono::Utc>,
                rules: &serde_json::Value,
                created_by: &str,
            ) -> Result<i64, $crate::StoreError> {
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

            async fn save_broker_connection(
                &self,
                connection: &$crate::StoredBrokerConnection,
            ) -> Result<(), $crate::StoreError> {
                let now = connection.updated_at.timestamp_millis();
                sqlx::query(
                    "INSERT INTO broker_connections (account_id, platform, base_url,
                         external_account_id, sealed_token, created_at_ms, updated_at_ms,
                         client_id, sealed_client_secret)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (account_id) DO UPDATE SET
                         platform = excluded.platform, base_url = excluded.base_url,
                         external_account_id = excluded.external_account_id,
                         sealed_token = excluded.sealed_token,
                         updated_at_ms = excluded.updated_at_ms,
                         client_id = excluded.client_id,
                         sealed_client_secret = excluded.sealed_client_secret",
                )
                .bind(connection.account.as_str())
                .bind(&connection.platform)
                .bind(&connection.base_url)
                .bind(&connection.external_account_id)
                .bind(connection.sealed_token.as_str())
                .bind(now)
                .bind(now)
                .bind(connection.client_id.as_deref())
                .bind(connection.sealed_client_secret.as_ref().map(|s| s.as_str()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn load_broker_connection(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Option<$crate::StoredBrokerConnection>, $crate::StoreError> {
                type Row = (String, String, String, String, i64, Option<String>, Option<String>);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT platform, base_url, external_account_id, sealed_token, updated_at_ms,
                         client_id, sealed_client_secret
                     FROM broker_connections WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(platform, base_url, external_account_id, sealed, updated, client_id, client_secret)| {
                    Ok($crate::StoredBrokerConnection {
                        account: account.clone(),
                        platform,
                        base_url,
                        external_account_id,
                        sealed_token: $crate::secrets::SealedSecret::from_stored(sealed),
                        client_id,
                        sealed_client_secret: client_secret
                            .map($crate::secrets::SealedSecret::from_stored),
                        updated_at: $crate::time_from_ms(updated)?,
                    })
                })
                .transpose()
            }

            async fn create_user(
                &self,
                username: &str,
                password_hash: &str,
                role: shared::api::Role,
            ) -> Result<Option<$crate::User>, $crate::StoreError> {
                let row: Option<$crate::UserRow> = sqlx::query_as(
                    "INSERT INTO users (username, username_key, password_hash, role, disabled, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (username_key) DO NOTHING
                     RETURNING id, username, role, disabled, created_at_ms",
                )
                .bind(username)
                .bind($crate::username_key(username))
                .bind(password_hash)
                .bind(role.as_str())
                .bind(false)
                .bind(chrono::Utc::now().timestamp_millis())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::user_from_row).transpose()
            }

            async fn upsert_user(
                &self,
                username: &str,
                password_hash: &str,
                role: shared::api::Role,
            ) -> Result<$crate::User, $crate::StoreError> {
                let row: $crate::UserRow = sqlx::query_as(
                    "INSERT INTO users (username, username_key, password_hash, role, disabled, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (username_key) DO UPDATE SET
                         password_hash = excluded.password_hash, role = excluded.role
                     RETURNING id, username, role, disabled, created_at_ms",
                )
                .bind(username)
                .bind($crate::username_key(username))
                .bind(password_hash)
                .bind(role.as_str())
                .bind(false)
                .bind(chrono::Utc::now().timestamp_millis())
                .fetch_one(&self.pool)
                .await?;
                $crate::user_from_row(row)
            }

            async fn user_credentials(
                &self,
                username: &str,
            ) -> Result<Option<$crate::Credentials>, $crate::StoreError> {
                let row: Option<(i64, String, String, bool, i64, String)> = sqlx::query_as(
                    "SELECT id, username, role, disabled, created_at_ms, password_hash FROM users
                     WHERE username_key = $1",
                )
                .bind($crate::username_key(username))
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(id, username, role, disabled, created, password_hash)| {
                    Ok($crate::Credentials {
                        user: $crate::user_from_row((id, username, role, disabled, created))?,
                        password_hash,
                    })
                })
                .transpose()
            }

            async fn user(
                &self,
                id: shared::api::UserId,
            ) -> Result<Option<$crate::User>, $crate::StoreError> {
                let row: Option<$crate::UserRow> = sqlx::query_as(
                    "SELECT id, username, role, disabled, created_at_ms FROM users WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::user_from_row).transpose()
            }

            async fn users(&self) -> Result<Vec<$crate::User>, $crate::StoreError> {
                let rows: Vec<$crate::UserRow> = sqlx::query_as(
                    "SELECT id, username, role, disabled, created_at_ms FROM users ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::user_from_row).collect()
            }

            async fn admin_exists(&self) -> Result<bool, $crate::StoreError> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM users WHERE role = $1 AND disabled = $2 LIMIT 1",
                )
                .bind(shared::api::Role::Admin.as_str())
                .bind(false)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn set_user_disabled(
                &self,
                id: shared::api::UserId,
                disabled: bool,
            ) -> Result<Option<$crate::User>, $crate::StoreError> {
                self.update_user(
                    "UPDATE users SET disabled = $2 WHERE id = $1
                     RETURNING id, username, role, disabled, created_at_ms",
                    id,
                    disabled,
                    disabled,
                )
                .await
            }

            async fn set_user_password(
                &self,
                id: shared::api::UserId,
                password_hash: &str,
            ) -> Result<Option<$crate::User>, $crate::StoreError> {
                self.update_user(
                    "UPDATE users SET password_hash = $2 WHERE id = $1
                     RETURNING id, username, role, disabled, created_at_ms",
                    id,
                    password_hash.to_owned(),
                    true,
                )
                .await
            }

            async fn create_session(
                &self,
                session: &$crate::NewSession,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO sessions
                         (token_hash, user_id, csrf_token, created_at_ms, expires_at_ms, last_seen_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&session.token_hash)
                .bind(session.user.0)
                .bind(&session.csrf_token)
                .bind(session.created_at.timestamp_millis())
                .bind(session.expires_at.timestamp_millis())
                .bind(session.created_at.timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::Session>, $crate::StoreError> {
                let row: Option<(String, i64, i64, i64, i64, String, String, bool, i64)> =
                    sqlx::query_as(
                        "SELECT s.csrf_token, s.created_at_ms, s.expires_at_ms, s.last_seen_ms,
                                u.id, u.username, u.role, u.disabled, u.created_at_ms
                         FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.token_hash = $1 AND s.expires_at_ms > $2 AND u.disabled = $3",
                    )
                    .bind(token_hash)
                    .bind(now.timestamp_millis())
                    .bind(false)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(
                    |(csrf_token, created, expires, seen, id, username, role, disabled, user_created)| {
                        Ok($crate::Session {
                            token_hash: token_hash.to_owned(),
                            user: $crate::user_from_row((id, username, role, disabled, user_created))?,
                            csrf_token,
                            created_at: $crate::time_from_ms(created)?,
                            expires_at: $crate::time_from_ms(expires)?,
                            last_seen: $crate::time_from_ms(seen)?,
                        })
                    },
                )
                .transpose()
            }

            async fn touch_session(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query("UPDATE sessions SET last_seen_ms = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(now.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, token_hash: &str) -> Result<(), $crate::StoreError> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_user_sessions(
                &self,
                user: shared::api::UserId,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.0)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn delete_expired_sessions(
                &self,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
                    .bind(now.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn upsert_account(
                &self,
                id: &shared::domain::AccountId,
                name: &str,
                owner: Option<shared::api::UserId>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO accounts (id, name, owner_user_id, created_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET
                         name = excluded.name, owner_user_id = excluded.owner_user_id",
                )
                .bind(id.as_str())
                .bind(name)
                .bind(owner.map(|user| user.0))
                .bind(chrono::Utc::now().timestamp_millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_account_owner(
                &self,
                id: &shared::domain::AccountId,
                owner: Option<shared::api::UserId>,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query("UPDATE accounts SET owner_user_id = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(owner.map(|user| user.0))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn accounts(&self) -> Result<Vec<$crate::AccountRecord>, $crate::StoreError> {
                let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT id, name, owner_user_id, created_at_ms FROM accounts ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, name, owner, created)| {
                        Ok($crate::AccountRecord {
                            id: shared::domain::AccountId(id),
                            name,
                            owner: owner.map(shared::api::UserId),
                            created_at: $crate::time_from_ms(created)?,
                        })
                    })
                    .collect()
            }

            async fn account_owner(
                &self,
                id: &shared::domain::AccountId,
            ) -> Result<Option<shared::api::UserId>, $crate::StoreError> {
                let owner: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT owner_user_id FROM accounts WHERE id = $1")
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(owner.flatten().map(shared::api::UserId))
            }

            async fn accounts_owned_by(
                &self,
                user: shared::api::UserId,
            ) -> Result<Vec<shared::domain::AccountId>, $crate::StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM accounts WHERE owner_user_id = $1 ORDER BY id",
                )
                .bind(user.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(shared::domain::AccountId).collect())
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

            async fn create_account_setup(
                &self,
                setup: &$crate::AccountSetup,
                name: &str,
                owner: Option<shared::api::UserId>,
                connection: Option<&$crate::StoredBrokerConnection>,
            ) -> Result<bool, $crate::StoreError> {
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let created_ms = setup.created_at.timestamp_millis();
                let inserted = sqlx::query(
                    "INSERT INTO accounts (id, name, owner_user_id, created_at_ms)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(setup.account.as_str())
                .bind(name)
                .bind(owner.map(|user| user.0))
                .bind(created_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO account_setups (account_id, connection, external_account_id,
                         preset, initial_balance, currency, created_by, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(setup.account.as_str())
                .bind(&setup.connection)
                .bind(&setup.external_account_id)
                .bind(&setup.preset)
                .bind(setup.initial_balance.to_string())
                .bind(&setup.currency)
                .bind(&setup.created_by)
                .bind(created_ms)
                .execute(&mut *tx)
                .await?;
                if let Some(connection) = connection {
                    let now = connection.updated_at.timestamp_millis();
                    sqlx::query(
                        "INSERT INTO broker_connections (account_id, platform, base_url,
                             external_account_id, sealed_token, created_at_ms, updated_at_ms,
                             client_id, sealed_client_secret)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (account_id) DO UPDATE SET
                             platform = excluded.platform, base_url = excluded.base_url,
                             external_account_id = excluded.external_account_id,
                             sealed_token = excluded.sealed_token,
                             updated_at_ms = excluded.updated_at_ms,
                             client_id = excluded.client_id,
                             sealed_client_secret = excluded.sealed_client_secret",
                    )
                    .bind(connection.account.as_str())
                    .bind(&connection.platform)
                    .bind(&connection.base_url)
                    .bind(&connection.external_account_id)
                    .bind(connection.sealed_token.as_str())
                    .bind(now)
                    .bind(now)
                    .bind(connection.client_id.as_deref())
                    .bind(connection.sealed_client_secret.as_ref().map(|s| s.as_str()))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn account_setups(
                &self,
            ) -> Result<Vec<$crate::AccountSetup>, $crate::StoreError> {
                let rows: Vec<(String, String, String, String, String, String, String, i64)> =
                    sqlx::query_as(
                        "SELECT account_id, connection, external_account_id, preset,
                             initial_balance, currency, created_by, created_at_ms
                         FROM account_setups ORDER BY account_id",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(id, connection, external, preset, balance, currency, by, created)| {
                        Ok($crate::AccountSetup {
                            account: shared::domain::AccountId(id),
                            connection,
                            external_account_id: external,
                            preset,
                            initial_balance: $crate::decimal("initial_balance", Some(balance))?
                                .unwrap_or_default(),
                            currency,
                            created_by: by,
                            created_at: $crate::time_from_ms(created)?,
                        })
                    })
                    .collect()
            }

            async fn plan_deliveries(
                &self,
                event_id: i64,
                account: &shared::domain::AccountId,
                targets: &[$crate::DeliveryTarget],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let now_ms = now.timestamp_millis();
                for target in targets {
                    // A fan-out repeated after a crash finds its deliveries there and keeps them
                    // as they stand (one delivered is not sent again).
                    sqlx::query(
                        "INSERT INTO notification_deliveries
                             (event_id, channel, recipient, account_id, created_at_ms, status,
                              attempts, next_attempt_at_ms)
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6)
                         ON CONFLICT (event_id, channel, recipient) DO NOTHING",
                    )
                    .bind(event_id)
                    .bind(&target.channel)
                    .bind(&target.recipient)
                    .bind(account.as_str())
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE notification_outbox SET status = 'delivered', delivered_at_ms = $1,
                         last_error = NULL
                     WHERE event_id = $2",
                )
                .bind(now_ms)
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::Delivery>, $crate::StoreError> {
                // As for the outbox: the outer condition is checked again on the row being
                // updated, so of two concurrent claims only one takes a delivery.
                let claimed: Vec<(i64, String, String)> = sqlx::query_as(
                    "UPDATE notification_deliveries
                     SET attempts = attempts + 1, next_attempt_at_ms = $1
                     WHERE status = 'pending' AND next_attempt_at_ms <= $2
                       AND (event_id, channel, recipient) IN (
                           SELECT event_id, channel, recipient FROM notification_deliveries
                           WHERE status = 'pending' AND next_attempt_at_ms <= $3
                           ORDER BY next_attempt_at_ms, event_id, channel, recipient LIMIT $4
                       )
                     RETURNING event_id, channel, recipient",
                )
                .bind(lease_until.timestamp_millis())
                .bind(now.timestamp_millis())
                .bind(now.timestamp_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(claimed.len());
                for (event_id, channel, recipient) in claimed {
                    if let Some(delivery) = self.delivery(event_id, &channel, &recipient).await? {
                        out.push(delivery);
                    }
                }
                out.sort_by(|a, b| {
                    (a.event.time, a.event_id, &a.channel, &a.recipient)
                        .cmp(&(b.event.time, b.event_id, &b.channel, &b.recipient))
                });
                Ok(out)
            }

            async fn mark_delivery_delivered(
                &self,
                event_id: i64,
                channel: &str,
                recipient: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "UPDATE notification_deliveries
                     SET status = 'delivered', delivered_at_ms = $1, last_error = NULL
                     WHERE event_id = $2 AND channel = $3 AND recipient = $4
                       AND status = 'pending'",
                )
                .bind(at.timestamp_millis())
                .bind(event_id)
                .bind(channel)
                .bind(recipient)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn mark_delivery_failed(
                &self,
                event_id: i64,
                channel: &str,
                recipient: &str,
                error: &str,
                retry_at: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<(), $crate::StoreError> {
                let status = match retry_at {
                    Some(_) => shared::api::DeliveryStatus::Pending,
                    None => shared::api::DeliveryStatus::Failed,
                };
                sqlx::query(
                    "UPDATE notification_deliveries
                     SET status = $1, last_error = $2,
                         next_attempt_at_ms = COALESCE($3, next_attempt_at_ms)
                     WHERE event_id = $4 AND channel = $5 AND recipient = $6
                       AND status = 'pending'",
                )
                .bind(status.as_str())
                .bind(error)
                .bind(retry_at.map(|t| t.timestamp_millis()))
                .bind(event_id)
                .bind(channel)
                .bind(recipient)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delivery(
                &self,
                event_id: i64,
                channel: &str,
                recipient: &str,
            ) -> Result<Option<$crate::Delivery>, $crate::StoreError> {
                let row: Option<$crate::DeliveryRow> = sqlx::query_as(
                    "SELECT d.event_id, d.channel, d.recipient, d.account_id, d.status,
                            d.attempts, d.next_attempt_at_ms, d.last_error, d.delivered_at_ms,
                            e.t_ms, e.kind, e.rule, e.body
                     FROM notification_deliveries d JOIN challenge_events e ON e.id = d.event_id
                     WHERE d.event_id = $1 AND d.channel = $2 AND d.recipient = $3",
                )
                .bind(event_id)
                .bind(channel)
                .bind(recipient)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::delivery_from_row).transpose()
            }

            async fn deliveries_page(
                &self,
                status: Option<shared::api::DeliveryStatus>,
                offset: u32,
                limit: u32,
            ) -> Result<Vec<$crate::Delivery>, $crate::StoreError> {
                let rows: Vec<$crate::DeliveryRow> = sqlx::query_as(
                    "SELECT d.event_id, d.channel, d.recipient, d.account_id, d.status,
                            d.attempts, d.next_attempt_at_ms, d.last_error, d.delivered_at_ms,
                            e.t_ms, e.kind, e.rule, e.body
                     FROM notification_deliveries d JOIN challenge_events e ON e.id = d.event_id
                     WHERE ($1 = '' OR d.status = $2)
                     ORDER BY d.event_id DESC, d.channel, d.recipient
                     LIMIT $3 OFFSET $4",
                )
                .bind(status.map_or("", shared::api::DeliveryStatus::as_str))
                .bind(status.map_or("", shared::api::DeliveryStatus::as_str))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::delivery_from_row).collect()
            }

            async fn notification_preferences(
                &self,
                user: shared::api::UserId,
            ) -> Result<Option<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT body FROM notification_preferences WHERE user_id = $1",
                )
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn save_notification_preferences(
                &self,
                user: shared::api::UserId,
                body: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO notification_preferences (user_id, body, updated_at_ms)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO UPDATE SET
                         body = excluded.body, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(user.0)
                .bind(body)
                .bind(at.timestamp_millis())
                .execute(&self.pool)
                .await?;
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
