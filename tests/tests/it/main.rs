//! Every integration test of Riskdeck in one binary (one link of the backend instead of one per
//! file): each module is one former test file. Fixtures (server, scripted broker, waits) live in
//! the `tests` library (`tests/src`).

mod admin_accounts;
mod admin_browser;
mod admin_ops;
mod api;
mod auth;
mod authz;
mod backfill;
mod browser;
mod browser_admin_accounts;
mod browser_api_tokens;
mod browser_competitions;
mod browser_programs;
mod challenge;
mod competitions;
mod crash;
mod ctrader;
mod ctrader_demo;
mod demo_broker;
mod exact;
mod export_cli;
mod faults;
mod hostile;
mod hostile_bodies;
mod imports;
mod ingest;
mod journal;
mod metrics;
mod notifications;
mod notify_crash;
mod openapi;
mod persistence;
mod programs;
mod quotes;
mod replay_cli;
mod risk_api;
mod rule_sets;
mod scale_out;
mod scheduler;
mod startup_errors;
mod statements;
mod stream;
mod streaming;
mod trades;
mod users;
