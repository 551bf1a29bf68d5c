//! cTrader Open API: the connector ([`client`]) over the JSON protocol on WebSocket, and a
//! protocol-faithful local server ([`simulator`]) over the demo broker's world. cTrader has no
//! REST API for account data (brokers.md, section 2): everything is a message on one connection.

pub mod client;
pub mod simulator;
pub mod units;
pub mod wire;

pub use client::{CtraderClient, CtraderSettings};
pub use simulator::{CtraderSimulator, SimulatorConfig};
