//! MetaApi (MetaTrader 4 and 5 in the cloud): the REST client and its wire shapes.

pub mod client;

pub use client::MetaApiClient;
