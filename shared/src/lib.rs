//! Riskdeck's domain and risk engine.
//!
//! Everything here is pure and deterministic: no IO, no clocks, no runtime, nothing that cannot
//! compile to `wasm32-unknown-unknown`. The backend and the browser run the same code, so a
//! number shown in the dashboard is the number the backend decided on.
//!
//! - [`domain`]: broker data normalised to one shape (account information, positions, deals,
//!   prices, symbol specifications), money in [`rust_decimal::Decimal`].
//! - [`peaks`]: the numbers the broker does not keep (starting capital, peak balance and equity).
//! - [`api`]: the wire contract between backend and frontend.
//! - [`engine`]: the risk engine: challenges, rules, presets, metrics and statistics.
//! - [`history`]: equity history at chart resolution, extremes kept.
//! - [`programs`]: the firm's programs (phases, their rules, splits and time limits) and templates.
//! - [`competitions`]: competitions: a window, the rules that disqualify, the ranking, the leaderboard.
//! - [`statement`]: a challenge's statement for disputes, its bytes and their SHA-256.

pub mod api;
pub mod competitions;
pub mod domain;
pub mod engine;
pub mod format;
pub mod history;
pub mod peaks;
pub mod programs;
pub mod statement;
pub mod trackers;

pub use rust_decimal::Decimal;
