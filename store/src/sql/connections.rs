//! How to reach each account's broker (secrets sealed) and the setups of accounts admins created.
//! The SQL of [`crate::Connections`], one text for both databases.

/// Implements [`crate::Connections`] for a store type with a `pool` field of a
/// sqlx pool of database `$db`.
macro_rules! portable_connections {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Connections for $store {
            async fn save_broker_connection(
                &self,
                connection: &$crate::StoredBrokerConnection,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                Self::upsert_connection(&self.pool, connection).await
            }
            async fn load_broker_connection(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Option<$crate::StoredBrokerConnection>, $crate::StoreError> {
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    i64,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    Option<i64>,
                    Option<i64>,
                    Option<String>,
                );
                let row: Option<Row> = sqlx::query_as(
                    "SELECT platform, base_url, external_account_id, sealed_token, updated_at_ms,
                         client_id, sealed_client_secret, sealed_refresh_token,
                         token_expires_at_ms, token_refreshed_at_ms, token_lineage
                     FROM broker_connections WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(
                    |(
                        platform,
                        base_url,
                        external_account_id,
                        sealed,
                        updated,
                        client_id,
                        client_secret,
                        refresh_token,
                        expires_ms,
                        refreshed_ms,
                        lineage,
                    )| {
                        Ok($crate::StoredBrokerConnection {
                            account: account.clone(),
                            platform,
                            base_url,
                            external_account_id,
                            sealed_token: $crate::secrets::SealedSecret::from_stored(sealed),
                            client_id,
                            sealed_client_secret: client_secret
                                .map($crate::secrets::SealedSecret::from_stored),
                            sealed_refresh_token: refresh_token
                                .map($crate::secrets::SealedSecret::from_stored),
                            token_expires_at: expires_ms
                                .map($crate::time_from_ms)
                                .transpose()?,
                            token_refreshed_at: refreshed_ms
                                .map($crate::time_from_ms)
                                .transpose()?,
                            token_lineage: lineage,
                            updated_at: $crate::time_from_ms(updated)?,
                        })
                    },
                )
                .transpose()
            }
            async fn token_lineage_accounts(
                &self,
                lineage: &str,
            ) -> Result<Vec<shared::domain::AccountId>, $crate::StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT account_id FROM broker_connections WHERE token_lineage = $1
                     ORDER BY account_id",
                )
                .bind(lineage)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id,)| shared::domain::AccountId(id))
                    .collect())
            }
            async fn save_refreshed_tokens(
                &self,
                connection: &$crate::StoredBrokerConnection,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let Some(refreshed) = connection.token_refreshed_at.map(|t| t.timestamp_millis())
                else {
                    return Ok(false);
                };
                let replaced = sqlx::query(
                    "UPDATE broker_connections SET sealed_token = $2, sealed_refresh_token = $3,
                         token_expires_at_ms = $4, token_refreshed_at_ms = $5, updated_at_ms = $6
                     WHERE account_id = $1
                         AND (token_refreshed_at_ms IS NULL OR token_refreshed_at_ms < $5)",
                )
                .bind(connection.account.as_str())
                .bind(connection.sealed_token.as_str())
                .bind(connection.sealed_refresh_token.as_ref().map(|s| s.as_str()))
                .bind(connection.token_expires_at.map(|t| t.timestamp_millis()))
                .bind(refreshed)
                .bind(connection.updated_at.timestamp_millis())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(replaced > 0)
            }
            async fn create_account_setup(
                &self,
                setup: &$crate::AccountSetup,
                name: &str,
                owner: Option<shared::api::UserId>,
                connection: Option<&$crate::StoredBrokerConnection>,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                if !Self::insert_account_setup(&mut tx, setup, name, owner, connection).await? {
                    tx.rollback().await?;
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }
            async fn create_account_setups(
                &self,
                accounts: &[$crate::NewAccount],
            ) -> Result<Vec<shared::domain::AccountId>, $crate::StoreError> {
                // Rows per statement: well within both databases' limits on bound values.
                const CHUNK: usize = 500;
                let mut seen = std::collections::HashSet::new();
                let repeated: Vec<shared::domain::AccountId> = accounts
                    .iter()
                    .filter(|a| !seen.insert(a.setup.account.as_str()))
                    .map(|a| a.setup.account.clone())
                    .collect();
                if !repeated.is_empty() {
                    return Ok(repeated);
                }
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let mut taken = Vec::new();
                for chunk in accounts.chunks(CHUNK) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO accounts (id, name, owner_user_id, created_at_ms) ",
                    );
                    insert.push_values(chunk, |mut row, account| {
                        row.push_bind(account.setup.account.as_str())
                            .push_bind(account.name.as_str())
                            .push_bind(account.owner.map(|user| user.0))
                            .push_bind(account.setup.created_at.timestamp_millis());
                    });
                    insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
                    let inserted: std::collections::HashSet<String> = insert
                        .build_query_as::<(String,)>()
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|(id,)| id)
                        .collect();
                    taken.extend(
                        chunk
                            .iter()
                            .filter(|a| !inserted.contains(a.setup.account.as_str()))
                            .map(|a| a.setup.account.clone()),
                    );
                }
                if !taken.is_empty() {
                    tx.rollback().await?;
                    return Ok(taken);
                }
                for chunk in accounts.chunks(CHUNK) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO account_setups (account_id, connection, external_account_id,
                             preset, initial_balance, currency, created_by, created_at_ms,
                             transport) ",
                    );
                    insert.push_values(chunk, |mut row, account| {
                        let setup = &account.setup;
                        row.push_bind(setup.account.as_str())
                            .push_bind(setup.connection.as_str())
                            .push_bind(setup.external_account_id.as_str())
                            .push_bind(setup.preset.as_str())
                            .push_bind(setup.initial_balance.to_string())
                            .push_bind(setup.currency.as_str())
                            .push_bind(setup.created_by.as_str())
                            .push_bind(setup.created_at.timestamp_millis())
                            .push_bind(match setup.transport {
                                shared::api::Transport::Streaming => "streaming",
                                shared::api::Transport::Rest => "rest",
                            });
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                for account in accounts {
                    if let Some(connection) = &account.connection {
                        Self::upsert_connection(&mut *tx, connection).await?;
                    }
                    if let Some(enrollment) = &account.setup.program {
                        Self::upsert_enrollment(&mut *tx, enrollment).await?;
                    }
                }
                tx.commit().await?;
                Ok(taken)
            }
            async fn account_setups(
                &self,
            ) -> Result<Vec<$crate::AccountSetup>, $crate::StoreError> {
                type Row = (String, String, String, String, String, String, String, i64, String);
                let rows: Vec<Row> =
                    sqlx::query_as(
                        "SELECT account_id, connection, external_account_id, preset,
                             initial_balance, currency, created_by, created_at_ms, transport
                         FROM account_setups ORDER BY account_id",
                    )
                    .fetch_all(&self.pool)
                    .await?;
                let mut programs: std::collections::HashMap<String, $crate::Enrollment> =
                    $crate::Programs::enrollments(self, None)
                        .await?
                        .into_iter()
                        .map(|e| (e.account.as_str().to_owned(), e))
                        .collect();
                rows.into_iter()
                    .map(
                        |(id, connection, external, preset, balance, currency, by, created, transport)| {
                            Ok($crate::AccountSetup {
                                program: programs.remove(&id),
                                account: shared::domain::AccountId(id),
                                connection,
                                external_account_id: external,
                                preset,
                                initial_balance: $crate::decimal("initial_balance", Some(balance))?
                                    .unwrap_or_default(),
                                currency,
                                created_by: by,
                                created_at: $crate::time_from_ms(created)?,
                                transport: if transport == "rest" {
                                    shared::api::Transport::Rest
                                } else {
                                    shared::api::Transport::Streaming
                                },
                            })
                        },
                    )
                    .collect()
            }
        }

        impl $store {
            /// Inserts a new account with its setup (connection and enrollment too) inside a
            /// transaction; `false`, and nothing of it written, when the id is taken.
            async fn insert_account_setup(
                tx: &mut sqlx::Transaction<'_, $db>,
                setup: &$crate::AccountSetup,
                name: &str,
                owner: Option<shared::api::UserId>,
                connection: Option<&$crate::StoredBrokerConnection>,
            ) -> Result<bool, $crate::StoreError> {
                let created_ms = setup.created_at.timestamp_millis();
                let inserted = sqlx::query(
                    "INSERT INTO accounts (id, name, owner_user_id, created_at_ms)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(setup.account.as_str())
                .bind(name)
                .bind(owner.map(|user| user.0))
                .bind(created_ms)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO account_setups (account_id, connection, external_account_id,
                         preset, initial_balance, currency, created_by, created_at_ms, transport)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(setup.account.as_str())
                .bind(&setup.connection)
                .bind(&setup.external_account_id)
                .bind(&setup.preset)
                .bind(setup.initial_balance.to_string())
                .bind(&setup.currency)
                .bind(&setup.created_by)
                .bind(created_ms)
                .bind(match setup.transport {
                    shared::api::Transport::Streaming => "streaming",
                    shared::api::Transport::Rest => "rest",
                })
                .execute(&mut **tx)
                .await?;
                if let Some(connection) = connection {
                    Self::upsert_connection(&mut **tx, connection).await?;
                }
                if let Some(enrollment) = &setup.program {
                    Self::upsert_enrollment(&mut **tx, enrollment).await?;
                }
                Ok(true)
            }

            /// Inserts or replaces an account's broker connection (secrets sealed), on the pool
            /// or inside a transaction.
            async fn upsert_connection<'c, E>(
                executor: E,
                connection: &$crate::StoredBrokerConnection,
            ) -> Result<(), $crate::StoreError>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                let now = connection.updated_at.timestamp_millis();
                sqlx::query(
                    "INSERT INTO broker_connections (account_id, platform, base_url,
                         external_account_id, sealed_token, created_at_ms, updated_at_ms,
                         client_id, sealed_client_secret, sealed_refresh_token,
                         token_expires_at_ms, token_refreshed_at_ms, token_lineage)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (account_id) DO UPDATE SET
                         platform = excluded.platform, base_url = excluded.base_url,
                         external_account_id = excluded.external_account_id,
                         sealed_token = excluded.sealed_token,
                         updated_at_ms = excluded.updated_at_ms,
                         client_id = excluded.client_id,
                         sealed_client_secret = excluded.sealed_client_secret,
                         sealed_refresh_token = excluded.sealed_refresh_token,
                         token_expires_at_ms = excluded.token_expires_at_ms,
                         token_refreshed_at_ms = excluded.token_refreshed_at_ms,
                         token_lineage = excluded.token_lineage",
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
                .bind(connection.sealed_refresh_token.as_ref().map(|s| s.as_str()))
                .bind(connection.token_expires_at.map(|t| t.timestamp_millis()))
                .bind(connection.token_refreshed_at.map(|t| t.timestamp_millis()))
                .bind(connection.token_lineage.as_deref())
                .execute(executor)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use portable_connections;
