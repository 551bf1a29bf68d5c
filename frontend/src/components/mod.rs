//! Reusable pieces of the pages, one component per file.

mod admin_actions;
mod breach_evidence;
mod challenge_header;
mod deal_notes;
mod equity_chart;
mod error_panel;
mod feed_badge;
mod lazy;
mod leaderboard;
mod loading;
mod metrics_panel;
mod risk_panel;
mod rule_history;
mod rules_panel;
mod stat_tile;
mod stream_status;
mod theme_toggle;
mod trackers_panel;
mod trade_history;

#[cfg(feature = "admin")]
pub use admin_actions::AdminActions;
pub use admin_actions::lazy_admin_actions;
pub use breach_evidence::BreachEvidence;
pub use challenge_header::ChallengeHeader;
pub use deal_notes::{UnexplainedBalance, lazy_late_deals};
pub use equity_chart::{ChartData, chart_placeholder, lazy_equity_chart, preload_dashboard};
pub use error_panel::ErrorPanel;
pub use feed_badge::FeedBadge;
pub use lazy::{Lazy, page_placeholder, panel_placeholder};
pub use leaderboard::{Leaderboard, Source as BoardSource, stage_class, stage_words, window_words};
pub use loading::{Load, Loading};
pub use metrics_panel::{lazy_metrics_panel, lazy_pnl_calendar};
pub use risk_panel::RiskPanel;
pub use rule_history::lazy_rule_history;
pub use rules_panel::{RulesPanel, amount, rule_label, status_badge};
pub use stat_tile::{StatTile, Tone};
pub use stream_status::StreamStatus;
pub use theme_toggle::ThemeToggle;
pub use trackers_panel::lazy_trackers_panel;
pub use trade_history::lazy_trade_history;
