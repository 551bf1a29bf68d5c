//! Users, their sessions, and the accounts they own. The SQL of [`crate::Users`], one text for both
//! databases.

/// Implements [`crate::Users`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_users {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Users for $store {
            async fn create_user(
                &self,
                username: &str,
                password_hash: &str,
                role: shared::api::Role,
            ) -> Result<Option<$crate::User>, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
                sqlx::query("UPDATE sessions SET last_seen_ms = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(now.timestamp_millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn delete_session(&self, token_hash: &str) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
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
                let _turn = self.gate.enter(false).await;
                let done = sqlx::query("UPDATE accounts SET owner_user_id = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(owner.map(|user| user.0))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
            async fn accounts(&self) -> Result<Vec<$crate::AccountRecord>, $crate::StoreError> {
                let rows: Vec<(String, String, Option<i64>, i64, Option<i64>, Option<String>, Option<String>)> =
                    sqlx::query_as(
                        "SELECT id, name, owner_user_id, created_at_ms, archived_at_ms, archived_by,
                                archive_reason
                         FROM accounts ORDER BY id",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(id, name, owner, created, at, by, reason)| {
                        Ok($crate::AccountRecord {
                            id: shared::domain::AccountId(id),
                            name,
                            owner: owner.map(shared::api::UserId),
                            created_at: $crate::time_from_ms(created)?,
                            archived: $crate::archived_from_row(at, by, reason)?,
                        })
                    })
                    .collect()
            }
            async fn archive_account(
                &self,
                id: &shared::domain::AccountId,
                archived: &$crate::Archived,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let done = sqlx::query(
                    "UPDATE accounts SET archived_at_ms = $2, archived_by = $3, archive_reason = $4
                     WHERE id = $1 AND archived_at_ms IS NULL",
                )
                .bind(id.as_str())
                .bind(archived.at.timestamp_millis())
                .bind(&archived.by)
                .bind(&archived.reason)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }
            async fn archived(
                &self,
                id: &shared::domain::AccountId,
            ) -> Result<Option<$crate::Archived>, $crate::StoreError> {
                let row: Option<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT archived_at_ms, archived_by, archive_reason FROM accounts WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some((at, by, reason)) => $crate::archived_from_row(at, by, reason),
                    None => Ok(None),
                }
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
        }
    };
}

pub(crate) use portable_users;
