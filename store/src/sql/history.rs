//! The equity history (buckets in tiers) and the limit levels over time: chart data. The SQL of
//! [`crate::History`], one text for both databases.

/// Implements [`crate::History`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_history {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::History for $store {
            async fn append_samples(
                &self,
                account: &shared::domain::AccountId,
                points: &[shared::api::EquityPoint],
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                if points.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                Self::fold_samples(&mut tx, account.as_str(), points).await?;
                tx.commit().await?;
                Ok(())
            }
            async fn append_samples_batch(
                &self,
                batch: &[(shared::domain::AccountId, Vec<shared::api::EquityPoint>)],
            ) -> Result<(), $crate::StoreError> {
                if batch.iter().all(|(_, points)| points.is_empty()) {
                    return Ok(());
                }
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                for (account, points) in batch.iter().filter(|(_, p)| !p.is_empty()) {
                    Self::fold_samples(&mut tx, account.as_str(), points).await?;
                }
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
                let _turn = self.gate.enter(false).await;
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
                            level: $crate::decimal("level", Some(level))?.unwrap_or_default(),
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
                let _turn = self.gate.enter(false).await;
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
        }
    };
}

pub(crate) use portable_history;
