//! cTrader Open API: the connector ([`client`]) over the JSON protocol on WebSocket (its
//! messages and units are in `wire::ctrader`; the protocol-faithful local server is
//! `demo::ctrader`). cTrader has no REST API for account data (brokers.md, section 2):
//! everything is a message on one connection.

pub mod client;

pub use client::{CtraderClient, CtraderSettings};
