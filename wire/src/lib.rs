//! The brokers' JSON shapes, field for field, and their conversion into `shared::domain` types:
//! MetaApi's REST answers ([`metaapi`]) and cTrader Open API's messages ([`ctrader`], with its
//! units), and MetaApi's streaming framing and request envelope ([`metaapi_streaming`]). Only the connectors (`broker`) and the simulators (`demo`) depend on this crate, so
//! nothing else in Riskdeck can name a broker's JSON: the compiler keeps that border.

pub mod ctrader;
pub mod metaapi;
pub mod metaapi_streaming;
