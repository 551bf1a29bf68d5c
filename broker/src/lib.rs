//! Broker connectors: MetaApi's REST API ([`metaapi`]) and cTrader's Open API ([`ctrader`]),
//! one [`BrokerClient`] for either, the [`journal`] of every record they read and its
//! [`replay`]. Each platform's JSON (the `wire` crate) stays inside this crate: what leaves is
//! `shared::domain`, and a caller cannot name a wire type (it does not depend on `wire`).
//!
//! This crate must not know about trackers, stores or the HTTP API.

pub mod ctrader;
mod error;
pub mod journal;
pub mod metaapi;
pub mod replay;
mod stream;

pub use stream::StreamEvent;

use chrono::{DateTime, Utc};
use ctrader::CtraderClient;
pub use error::BrokerError;
use metaapi::MetaApiClient;
use shared::domain::{AccountInfo, Deal, Position, SymbolPrice, SymbolSpec};
use std::time::Duration;

/// A polled account's connector, whichever platform it is on. Both give the same
/// `shared::domain` records, so the tracker and the engine never know which one they read.
#[derive(Clone, Debug)]
pub enum BrokerClient {
    /// MetaTrader 4 and 5 through MetaApi's REST API (and the demo broker).
    MetaApi(MetaApiClient),
    /// cTrader through its Open API (and the cTrader simulator).
    Ctrader(CtraderClient),
}

impl From<MetaApiClient> for BrokerClient {
    fn from(client: MetaApiClient) -> Self {
        BrokerClient::MetaApi(client)
    }
}

impl From<CtraderClient> for BrokerClient {
    fn from(client: CtraderClient) -> Self {
        BrokerClient::Ctrader(client)
    }
}

impl BrokerClient {
    /// Balance, equity, margin and currency.
    pub async fn account_information(&self) -> Result<AccountInfo, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.account_information().await,
            BrokerClient::Ctrader(c) => c.account_information().await,
        }
    }

    /// Open positions.
    pub async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.positions().await,
            BrokerClient::Ctrader(c) => c.positions().await,
        }
    }

    /// Deals in `[start, end)`.
    pub async fn deals(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Deal>, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.deals(start, end).await,
            BrokerClient::Ctrader(c) => c.deals(start, end).await,
        }
    }

    /// [`Self::deals`], reporting progress (deals read, latest time read) as it goes.
    pub async fn deals_with_progress(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        progress: impl FnMut(usize, Option<DateTime<Utc>>),
    ) -> Result<Vec<Deal>, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.deals_with_progress(start, end, progress).await,
            BrokerClient::Ctrader(c) => c.deals_with_progress(start, end, progress).await,
        }
    }

    /// A symbol's specification.
    pub async fn specification(&self, symbol: &str) -> Result<SymbolSpec, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.specification(symbol).await,
            BrokerClient::Ctrader(c) => c.specification(symbol).await,
        }
    }

    /// A symbol's current quote and tick values.
    pub async fn current_price(&self, symbol: &str) -> Result<SymbolPrice, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.current_price(symbol).await,
            BrokerClient::Ctrader(c) => c.current_price(symbol).await,
        }
    }

    /// How old the broker's latest quote is (`None` when it cannot say).
    pub async fn quote_age(&self) -> Result<Option<Duration>, BrokerError> {
        match self {
            BrokerClient::MetaApi(c) => c.quote_age().await,
            BrokerClient::Ctrader(c) => c.quote_age().await,
        }
    }
}
