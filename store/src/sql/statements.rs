//! The statements issued (append-only). The SQL of [`crate::Statements`], one text for both
//! databases.

/// Implements [`crate::Statements`] for a store type with a `pool` field of a sqlx pool of
/// database `$db`.
macro_rules! portable_statements {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Statements for $store {
            async fn record_statement(
                &self,
                statement: &$crate::IssuedStatement,
            ) -> Result<i64, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                Ok(sqlx::query_scalar(
                    "INSERT INTO statements (account_id, sha256, generated_at_ms, generated_by)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(statement.account.as_str())
                .bind(&statement.sha256)
                .bind(statement.generated_at.timestamp_millis())
                .bind(&statement.generated_by)
                .fetch_one(&self.pool)
                .await?)
            }
            async fn statements_by_sha256(
                &self,
                sha256: &str,
            ) -> Result<Vec<$crate::IssuedStatement>, $crate::StoreError> {
                let rows: Vec<$crate::statements::StatementRow> = sqlx::query_as(&format!(
                    "{} WHERE sha256 = $1 ORDER BY id",
                    $crate::statements::STATEMENT_SELECT
                ))
                .bind(sha256)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::statements::statement_from_row)
                    .collect()
            }
            async fn account_statements(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Vec<$crate::IssuedStatement>, $crate::StoreError> {
                let rows: Vec<$crate::statements::StatementRow> = sqlx::query_as(&format!(
                    "{} WHERE account_id = $1 ORDER BY id DESC",
                    $crate::statements::STATEMENT_SELECT
                ))
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::statements::statement_from_row)
                    .collect()
            }
        }
    };
}

pub(crate) use portable_statements;
