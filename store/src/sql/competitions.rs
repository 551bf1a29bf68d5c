//! Competitions, their entrants, day ranks and final standings, and users' display names.
//! The SQL of [`crate::Competitions`], one text for both databases.

/// Implements [`crate::Competitions`] for a store type with a `pool` field of a sqlx pool of
/// database `$db`.
macro_rules! portable_competitions {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Competitions for $store {
            async fn create_competition(
                &self,
                c: &$crate::StoredCompetition,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let inserted = sqlx::query(
                    "INSERT INTO competitions (id, definition, start_ms, end_ms, public_slug,
                         created_by, created_at_ms, updated_by, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&c.id)
                .bind(&c.definition_json)
                .bind(c.start.timestamp_millis())
                .bind(c.end.timestamp_millis())
                .bind(c.public_slug.as_deref())
                .bind(&c.created_by)
                .bind(c.created_at.timestamp_millis())
                .bind(&c.updated_by)
                .bind(c.updated_at.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }
            async fn competitions(
                &self,
            ) -> Result<Vec<$crate::StoredCompetition>, $crate::StoreError> {
                let rows: Vec<$crate::competitions::CompetitionRow> = sqlx::query_as(&format!(
                    "{} ORDER BY start_ms, id",
                    $crate::competitions::COMPETITION_SELECT
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::competitions::competition_from_row)
                    .collect()
            }
            async fn competition(
                &self,
                id: &str,
            ) -> Result<Option<$crate::StoredCompetition>, $crate::StoreError> {
                let row: Option<$crate::competitions::CompetitionRow> = sqlx::query_as(
                    &format!("{} WHERE id = $1", $crate::competitions::COMPETITION_SELECT),
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::competitions::competition_from_row)
                    .transpose()
            }
            async fn update_competition(
                &self,
                c: &$crate::StoredCompetition,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let updated = sqlx::query(
                    "UPDATE competitions SET definition = $2, start_ms = $3, end_ms = $4,
                         public_slug = $5, updated_by = $6, updated_at_ms = $7
                     WHERE id = $1 AND NOT started",
                )
                .bind(&c.id)
                .bind(&c.definition_json)
                .bind(c.start.timestamp_millis())
                .bind(c.end.timestamp_millis())
                .bind(c.public_slug.as_deref())
                .bind(&c.updated_by)
                .bind(c.updated_at.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(updated == 1)
            }
            async fn set_competition_public(
                &self,
                c: &$crate::StoredCompetition,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let updated = sqlx::query(
                    "UPDATE competitions SET definition = $2, public_slug = $3, updated_by = $4,
                         updated_at_ms = $5
                     WHERE id = $1",
                )
                .bind(&c.id)
                .bind(&c.definition_json)
                .bind(c.public_slug.as_deref())
                .bind(&c.updated_by)
                .bind(c.updated_at.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(updated == 1)
            }
            async fn change_entries(
                &self,
                id: &str,
                add: &[shared::domain::AccountId],
                remove: &[shared::domain::AccountId],
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<Vec<$crate::StoredEntry>>, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                // Takes the competition's row (and checks it has not started) first, so two
                // admins' changes number their entrants one after the other.
                let next: Option<i64> = sqlx::query_scalar(
                    "UPDATE competitions SET next_entry = next_entry
                     WHERE id = $1 AND NOT started RETURNING next_entry",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(mut next) = next else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                for account in remove {
                    sqlx::query(
                        "DELETE FROM competition_entries
                         WHERE competition_id = $1 AND account_id = $2",
                    )
                    .bind(id)
                    .bind(account.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                for account in add {
                    let inserted = sqlx::query(
                        "INSERT INTO competition_entries
                             (competition_id, entry, account_id, entered_at_ms)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (competition_id, account_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(next)
                    .bind(account.as_str())
                    .bind(at.timestamp_millis())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    next += i64::try_from(inserted).unwrap_or(0);
                }
                sqlx::query("UPDATE competitions SET next_entry = $2 WHERE id = $1")
                    .bind(id)
                    .bind(next)
                    .execute(&mut *tx)
                    .await?;
                let rows: Vec<$crate::competitions::EntryRow> = sqlx::query_as(&format!(
                    "{} WHERE competition_id = $1 ORDER BY entry",
                    $crate::competitions::ENTRY_SELECT
                ))
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.into_iter()
                    .map($crate::competitions::entry_from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            async fn competition_entries(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::StoredEntry>, $crate::StoreError> {
                let rows: Vec<$crate::competitions::EntryRow> = sqlx::query_as(&format!(
                    "{} WHERE competition_id = $1 ORDER BY entry",
                    $crate::competitions::ENTRY_SELECT
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::competitions::entry_from_row)
                    .collect()
            }
            async fn account_competitions(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Vec<String>, $crate::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT competition_id FROM competition_entries WHERE account_id = $1
                     ORDER BY competition_id",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?)
            }
            async fn start_competition(
                &self,
                id: &str,
                notices: &[$crate::CompetitionNotice],
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let moved = sqlx::query(
                    "UPDATE competitions SET started = TRUE WHERE id = $1 AND NOT started",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::insert_notices(&mut tx, notices).await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn set_entry_baseline(
                &self,
                id: &str,
                entry: u32,
                baseline: &$crate::Baseline,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let set = sqlx::query(
                    "UPDATE competition_entries SET baseline_equity = $3, baseline_trades = $4,
                         baseline_at_ms = $5
                     WHERE competition_id = $1 AND entry = $2 AND baseline_at_ms IS NULL",
                )
                .bind(id)
                .bind(i64::from(entry))
                .bind(baseline.equity.to_string())
                .bind(i64::from(baseline.trades))
                .bind(baseline.at.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(set == 1)
            }
            async fn disqualify_entry(
                &self,
                id: &str,
                entry: u32,
                why: &$crate::StoredDisqualification,
                notices: &[$crate::CompetitionNotice],
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let set = sqlx::query(
                    "UPDATE competition_entries SET dq_rule = $3, dq_label = $4, dq_at_ms = $5,
                         dq_evidence = $6, dq_equity = $7, dq_trades = $8
                     WHERE competition_id = $1 AND entry = $2 AND dq_at_ms IS NULL",
                )
                .bind(id)
                .bind(i64::from(entry))
                .bind(&why.rule)
                .bind(&why.label)
                .bind(why.at.timestamp_millis())
                .bind(&why.evidence)
                .bind(why.equity.map(|e| e.to_string()))
                .bind(why.trades.map(i64::from))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if set != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::insert_notices(&mut tx, notices).await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn save_day_ranks(
                &self,
                id: &str,
                day: &str,
                ranks_json: &str,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let inserted = sqlx::query(
                    "INSERT INTO competition_day_ranks (competition_id, day, ranks_json)
                     VALUES ($1, $2, $3) ON CONFLICT (competition_id, day) DO NOTHING",
                )
                .bind(id)
                .bind(day)
                .bind(ranks_json)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }
            async fn latest_day_ranks(
                &self,
                id: &str,
            ) -> Result<Option<(String, String)>, $crate::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT day, ranks_json FROM competition_day_ranks WHERE competition_id = $1
                     ORDER BY day DESC LIMIT 1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }
            async fn finish_competition(
                &self,
                id: &str,
                final_json: &str,
                at: chrono::DateTime<chrono::Utc>,
                notices: &[$crate::CompetitionNotice],
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let set = sqlx::query(
                    "UPDATE competitions SET final_json = $2, final_at_ms = $3
                     WHERE id = $1 AND final_json IS NULL",
                )
                .bind(id)
                .bind(final_json)
                .bind(at.timestamp_millis())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if set != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::insert_notices(&mut tx, notices).await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn display_names(
                &self,
            ) -> Result<Vec<(shared::api::UserId, String)>, $crate::StoreError> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT id, display_name FROM users WHERE display_name IS NOT NULL
                     ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name)| (shared::api::UserId(id), name))
                    .collect())
            }
            async fn display_name(
                &self,
                user: shared::api::UserId,
            ) -> Result<Option<String>, $crate::StoreError> {
                let name: Option<Option<String>> =
                    sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
                        .bind(user.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(name.flatten())
            }
            async fn set_display_name(
                &self,
                user: shared::api::UserId,
                name: Option<&str>,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let set = sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
                    .bind(user.0)
                    .bind(name)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(set == 1)
            }
        }

        impl $store {
            /// Records competition notices inside `tx`: each a challenge event of its account
            /// with its notification in the outbox, as a tracker's save records events.
            async fn insert_notices(
                tx: &mut sqlx::Transaction<'_, $db>,
                notices: &[$crate::CompetitionNotice],
            ) -> Result<(), $crate::StoreError> {
                let now_ms = chrono::Utc::now().timestamp_millis();
                for notice in notices {
                    let event = &notice.event;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO challenge_events (account_id, t_ms, kind, rule, body)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(notice.account.as_str())
                    .bind(event.time.timestamp_millis())
                    .bind(&event.kind)
                    .bind(event.rule.as_deref())
                    .bind(&event.body)
                    .fetch_one(&mut **tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO notification_outbox
                             (event_id, account_id, created_at_ms, status, attempts,
                              next_attempt_at_ms)
                         VALUES ($1, $2, $3, 'pending', 0, $4)",
                    )
                    .bind(id)
                    .bind(notice.account.as_str())
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use portable_competitions;
