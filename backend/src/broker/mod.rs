//! Broker connectors. Each platform's JSON stays inside its module; what leaves is
//! `shared::domain`.

pub mod demo;
pub mod metaapi;
