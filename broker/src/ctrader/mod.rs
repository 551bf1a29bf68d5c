//! cTrader Open API: the connector ([`client`]) over the JSON protocol on WebSocket (its
//! messages and units are in `wire::ctrader`; the protocol-faithful local server is
//! `demo::ctrader`). cTrader has no REST API for account data (brokers.md, section 2):
//! everything is a message on one connection.

pub mod client;
mod connection;
pub mod stream;
mod tokens;

pub use client::{CtraderClient, CtraderSettings};
pub use connection::WAIT_OUT;
pub use stream::Subscription;
pub use tokens::TokenStore;
