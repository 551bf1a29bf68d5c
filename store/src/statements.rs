//! The statements for disputes the firm issued ([`Statements`]): for each, the account, the
//! SHA-256 of its JSON, when it was generated and who asked for it (append-only). The statement
//! itself is `shared::statement`'s and is not kept: its hash is enough to recognise a file the
//! firm issued.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::domain::AccountId;

use crate::StoreError;

/// One statement issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedStatement {
    /// The account it is of.
    pub account: AccountId,
    /// The SHA-256 of its JSON, 64 lower-case hex digits.
    pub sha256: String,
    /// When it was generated (its `generated_at`).
    pub generated_at: DateTime<Utc>,
    /// The username of who asked for it.
    pub generated_by: String,
}

/// The statements issued (append-only).
#[async_trait]
pub trait Statements: Send + Sync + 'static {
    /// Records a statement issued; returns its id.
    async fn record_statement(&self, statement: &IssuedStatement) -> Result<i64, StoreError>;
    /// The statements issued whose JSON has this SHA-256 (lower-case hex), oldest first.
    async fn statements_by_sha256(&self, sha256: &str) -> Result<Vec<IssuedStatement>, StoreError>;
    /// The statements issued for an account, newest first.
    async fn account_statements(
        &self,
        account: &AccountId,
    ) -> Result<Vec<IssuedStatement>, StoreError>;
}

pub(crate) const STATEMENT_SELECT: &str =
    "SELECT account_id, sha256, generated_at_ms, generated_by FROM statements";

pub(crate) type StatementRow = (String, String, i64, String);

pub(crate) fn statement_from_row(
    (account, sha256, generated_at_ms, generated_by): StatementRow,
) -> Result<IssuedStatement, StoreError> {
    Ok(IssuedStatement {
        account: AccountId(account),
        sha256,
        generated_at: crate::time_from_ms(generated_at_ms)?,
        generated_by,
    })
}
