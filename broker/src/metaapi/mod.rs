//! MetaApi (MetaTrader 4 and 5 in the cloud): the REST client ([`client`]) and the streaming
//! connector ([`streaming`]).

pub mod client;
pub mod streaming;

pub use client::MetaApiClient;
pub use streaming::{StreamEvent, StreamSettings, StreamingPool, Subscription};
