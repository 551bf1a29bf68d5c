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
    /// The pair's lineage ([`lineage_of`] the refresh token it was first stored with); `None`
    /// for a new pair, whose lineage is its own refresh token's.
    pub lineage: Option<String>,
}

/// A pair's lineage: the SHA-256 (hex) of the refresh token it was first stored with. It
/// finds the connections that hold one pair and cannot be turned back into the token.
pub fn lineage_of(refresh_token: &Secret) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("riskdeck/ctrader-token-lineage/{}", refresh_token.expose()).as_bytes(),
    );
    hex::encode(digest.as_ref())
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
        token_lineage: refresh.map(|r| r.lineage.clone().unwrap_or_else(|| lineage_of(&r.token))),
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
            lineage: stored.token_lineage.clone(),
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

/// A refreshed token pair, to store on every connection that holds its lineage.
#[derive(Clone, Debug)]
pub struct RefreshedPair {
    /// The new access token.
    pub access_token: Secret,
    /// The new refresh token.
    pub refresh_token: Secret,
    /// When the new access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the pair was refreshed (the compare-and-swap's order).
    pub refreshed_at: DateTime<Utc>,
}

/// Stores `pair` on every connection of `lineage` that does not hold a pair refreshed at the
/// same time or later (each sealed for its own account); how many it replaced.
pub async fn spread_refreshed(
    store: &dyn Store,
    key: &SecretKey,
    lineage: &str,
    pair: &RefreshedPair,
    now: DateTime<Utc>,
) -> Result<usize, ConnectionError> {
    let mut replaced = 0;
    for account in store.token_lineage_accounts(lineage).await? {
        if save_refreshed(store, key, &account, pair, now).await? {
            replaced += 1;
        }
    }
    Ok(replaced)
}

/// Stores `pair` on one account's connection unless it holds a pair refreshed at the same time
/// or later; whether it did (`false` too when the account has no connection).
pub async fn save_refreshed(
    store: &dyn Store,
    key: &SecretKey,
    account: &AccountId,
    pair: &RefreshedPair,
    now: DateTime<Utc>,
) -> Result<bool, ConnectionError> {
    let Some(mut connection) = load(store, key, account).await? else {
        return Ok(false);
    };
    if connection
        .refresh
        .as_ref()
        .is_some_and(|held| held.refreshed_at >= Some(pair.refreshed_at))
    {
        return Ok(false);
    }
    let lineage = connection.refresh.as_ref().map(|held| {
        held.lineage
            .clone()
            .unwrap_or_else(|| lineage_of(&held.token))
    });
    connection.token = pair.access_token.clone();
    connection.refresh = Some(TokenRefresh {
        token: pair.refresh_token.clone(),
        expires_at: pair.expires_at,
        refreshed_at: Some(pair.refreshed_at),
        lineage,
    });
    Ok(store
        .save_refreshed_tokens(&seal(key, &connection, now)?)
        .await?)
}
