//! Broker connections: how to reach an account's broker, kept in the store with the token sealed
//! under the configured `secret_key` (see [`crate::secrets`]). A plaintext token exists only in
//! memory, inside a [`BrokerConnection`], whose `Debug` redacts it; no API returns it.

use crate::db::{Store, StoreError, StoredBrokerConnection};
use crate::secrets::{Secret, SecretError, SecretKey};
use chrono::{DateTime, Utc};
use shared::domain::AccountId;

/// How to reach one account's broker, token in the clear (in memory only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConnection {
    /// Riskdeck's account id.
    pub account: AccountId,
    /// The platform, e.g. `metaapi`.
    pub platform: String,
    /// The broker API's base URL.
    pub base_url: String,
    /// The broker's id of the account.
    pub external_account_id: String,
    /// The token (redacted in `Debug`).
    pub token: Secret,
}

/// Why a connection could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token could not be sealed or opened.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Seals the token and saves the connection (replacing the account's previous one).
pub async fn save(
    store: &dyn Store,
    key: &SecretKey,
    connection: &BrokerConnection,
    now: DateTime<Utc>,
) -> Result<(), ConnectionError> {
    let sealed_token = key.seal(connection.account.as_str(), &connection.token)?;
    store
        .save_broker_connection(&StoredBrokerConnection {
            account: connection.account.clone(),
            platform: connection.platform.clone(),
            base_url: connection.base_url.clone(),
            external_account_id: connection.external_account_id.clone(),
            sealed_token,
            updated_at: now,
        })
        .await?;
    Ok(())
}

/// Loads an account's connection and opens its token.
pub async fn load(
    store: &dyn Store,
    key: &SecretKey,
    account: &AccountId,
) -> Result<Option<BrokerConnection>, ConnectionError> {
    let Some(stored) = store.load_broker_connection(account).await? else {
        return Ok(None);
    };
    let token = key.open(account.as_str(), &stored.sealed_token)?;
    Ok(Some(BrokerConnection {
        account: stored.account,
        platform: stored.platform,
        base_url: stored.base_url,
        external_account_id: stored.external_account_id,
        token,
    }))
}
