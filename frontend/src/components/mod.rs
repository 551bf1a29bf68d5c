//! Reusable pieces of the pages, one component per file.

mod error_panel;
mod feed_badge;
mod loading;
mod rules_panel;
mod stat_tile;
mod stream_status;
mod user_menu;

pub use error_panel::ErrorPanel;
pub use feed_badge::FeedBadge;
pub use loading::Loading;
pub use rules_panel::RulesPanel;
pub use stat_tile::{StatTile, Tone};
pub use stream_status::StreamStatus;
pub use user_menu::UserMenu;
