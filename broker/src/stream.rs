//! What a streaming connector tells an account's follower, whichever platform: MetaApi's
//! streaming API (`metaapi::streaming`) and cTrader's events (`ctrader::stream`) both speak it,
//! in `shared::domain` terms.

use rust_decimal::Decimal;
use shared::domain::{AccountInfo, Deal, Money, Position, SymbolPrice, SymbolSpec};
use std::time::Duration;

/// What a subscription tells its account's follower, in the order the broker sent it.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A synchronization began: full account information, positions and the deals since the
    /// requested time follow.
    SynchronizationStarted,
    /// The account's balance, equity, margin (the whole object).
    AccountInformation(AccountInfo),
    /// The whole set of open positions (a synchronization).
    Positions(Vec<Position>),
    /// Open positions changed: these were opened or updated, these (ids) closed.
    PositionsChanged {
        updated: Vec<Position>,
        removed: Vec<String>,
    },
    /// Deals not seen before on this subscription, oldest first.
    Deals(Vec<Deal>),
    /// Quotes, with the account's equity and margin as the broker computed them at these
    /// prices (when it sent them).
    Prices {
        prices: Vec<SymbolPrice>,
        equity: Option<Money>,
        margin: Option<Money>,
        free_margin: Option<Money>,
        margin_level: Option<Decimal>,
    },
    /// Symbol specifications.
    Specifications(Vec<SymbolSpec>),
    /// The synchronization is complete: what follows is live.
    Synchronized,
    /// The account's stream broke (socket dropped or silent, `disconnected`, a gap): it is
    /// being subscribed again; until then nothing is live.
    Disconnected { reason: String },
    /// The broker refused the subscription; it is tried again after `retry_after`.
    Refused {
        reason: String,
        retry_after: Duration,
    },
}
