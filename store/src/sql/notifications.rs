//! The notification outbox and its deliveries per channel and recipient, and each person's
//! notification preferences. The SQL of [`crate::Notifications`], one text for both databases.

/// Implements [`crate::Notifications`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_notifications {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Notifications for $store {
            async fn claim_notifications(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<$crate::Notification>, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
            async fn plan_deliveries(
                &self,
                event_id: i64,
                account: &shared::domain::AccountId,
                targets: &[$crate::DeliveryTarget],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
    };
}

pub(crate) use portable_notifications;
