//! Broker connections: how to reach an account's broker, kept in the store with the secrets
//! sealed under the configured `secret_key` (see [`crate::secrets`]). A plaintext secret exists
//! only in memory, inside a [`BrokerConnection`], whose `Debug` redacts it; no API returns it.
//!
//! A MetaApi connection has one secret, its token. A cTrader connection has two: the account
//! owner's access token (kept where MetaApi's token is) and the Open API application's client
//! secret, sealed with the field's name added to the associated data so that the two sealed
//! values cannot be swapped; and, when there is one, the OAuth refresh token (sealed the same
//! way) with the access token's expiry and its last refresh.

use crate::secrets::{Secret, SecretError, SecretKey};
use crate::{Store, StoreError, StoredBrokerConnection};
use chrono::{DateTime, Utc};
use shared::domain::AccountId;

/// How to reach one account's broker, secrets in the clear (in memory only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConnection {
    /// Riskdeck's account id.
    pub account: AccountId,
    /// The platform, e.g. `metaapi` or `ctrader`.
    pub platform: String,
    /// The broker API's base URL (cTrader: the WebSocket endpoint).
    pub base_url: String,
    /// The broker's id of the account.
    pub external_account_id: String,
    /// The token (redacted in `Debug`); cTrader: the access token.
    pub token: Secret,
    /// cTrader: the Open API application (client id and secret); `None` for MetaApi.
    pub application: Option<(String, Secret)>,
    /// cTrader: the OAuth refresh token, its access token's expiry and the last refresh.
    pub refresh: Option<TokenRefresh>,
}

/// A cTrader connection's refresh token and what its last refresh said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRefresh {
    /// The refresh token (redacted in `Debug`).
    pub token: Secret,
    /// When the access token expires (`None` before the first refresh).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the pair was last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// Why a connection could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The associated data the client secret is sealed with.
fn client_secret_context(account: &AccountId) -> String {
    format!("{}/client_secret", account.as_str())
}

/// The associated data the refresh token is sealed with.
fn refresh_token_context(account: &AccountId) -> String {
    format!("{}/refresh_token", account.as_str())
}

/// The connection as the store keeps it: every secret sealed.
pub fn seal(
    key: &SecretKey,
    connection: &BrokerConnection,
    now: DateTime<Utc>,
) -> Result<StoredBrokerConnection, SecretError> {
    let sealed_token = key.seal(connection.account.as_str(), &connection.token)?;
    let (client_id, sealed_client_secret) = match &connection.application {
        Some((client_id, secret)) => (
            Some(client_id.clone()),
            Some(key.seal(&client_secret_context(&connection.account), secret)?),
        ),
        None => (None, None),
    };
    let sealed_refresh_token = connection
        .refresh
        .as_ref()
        .map(|refresh| key.seal(&refresh_token_context(&connection.account), &refresh.token))
        .transpose()?;
    let refresh = connection.refresh.as_ref();
    Ok(StoredBrokerConnection {
        account: connection.account.clone(),
        platform: connection.platform.clone(),
        base_url: connection.base_url.clone(),
        external_account_id: connection.external_account_id.clone(),
        sealed_token,
        client_id,
        sealed_client_secret,
        sealed_refresh_token,
        token_expires_at: refresh.and_then(|r| r.expires_at),
        token_refreshed_at: refresh.and_then(|r| r.refreshed_at),
        updated_at: now,
    })
}

/// A stored connection with its secrets opened.
pub fn open(
    key: &SecretKey,
    stored: StoredBrokerConnection,
) -> Result<BrokerConnection, SecretError> {
    let token = key.open(stored.account.as_str(), &stored.sealed_token)?;
    let application = match (stored.client_id, &stored.sealed_client_secret) {
        (Some(client_id), Some(sealed)) => Some((
            client_id,
            key.open(&client_secret_context(&stored.account), sealed)?,
        )),
        _ => None,
    };
    let refresh = match &stored.sealed_refresh_token {
        Some(sealed) => Some(TokenRefresh {
            token: key.open(&refresh_token_context(&stored.account), sealed)?,
            expires_at: stored.token_expires_at,
            refreshed_at: stored.token_refreshed_at,
        }),
        None => None,
    };
    Ok(BrokerConnection {
        account: stored.account,
        platform: stored.platform,
        base_url: stored.base_url,
        external_account_id: stored.external_account_id,
        token,
        application,
        refresh,
    })
}

/// Seals the secrets and saves the connection (replacing the account's previous one).
pub async fn save(
    store: &dyn Store,
    key: &SecretKey,
    connection: &BrokerConnection,
    now: DateTime<Utc>,
) -> Result<(), ConnectionError> {
    store
        .save_broker_connection(&seal(key, connection, now)?)
        .await?;
    Ok(())
}

/// Loads an account's connection and opens its secrets.
pub async fn load(
    store: &dyn Store,
    key: &SecretKey,
    account: &AccountId,
) -> Result<Option<BrokerConnection>, ConnectionError> {
    let Some(stored) = store.load_broker_connection(account).await? else {
        return Ok(None);
    };
    Ok(Some(open(key, stored)?))
}
