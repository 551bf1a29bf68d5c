//! Riskdeck's server: broker ingestion, persistence, API, live stream and the demo broker.

pub mod broker;
