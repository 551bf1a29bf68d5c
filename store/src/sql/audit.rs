//! The audit log of every change an admin makes (append-only). The SQL of [`crate::Audit`], one
//! text for both databases.

/// Implements [`crate::Audit`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_audit {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Audit for $store {
            async fn append_audit(
                &self,
                entry: &$crate::AuditEntry,
            ) -> Result<i64, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
                    (
                        i64,
                        i64,
                        String,
                        String,
                        String,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                    ),
                >(&sql);
                for text in texts {
                    query = query.bind(text);
                }
                for number in numbers {
                    query = query.bind(number);
                }
                let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(
                        |(id, t_ms, actor, action, subject, before, after, reason)| {
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
                        },
                    )
                    .collect()
            }
        }
    };
}

pub(crate) use portable_audit;
