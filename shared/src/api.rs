//! The wire contract between backend and frontend: REST bodies and stream events.
//!
//! Change both sides together. Money travels as decimal strings, times as RFC 3339 UTC.

use crate::domain::{AccountId, Money};
use crate::engine::{ChallengeStatus, RuleReport};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Health of an account's data feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// No data received yet.
    Connecting,
    /// Data is arriving on schedule.
    Live,
    /// The last polls failed; numbers shown are the last known ones.
    Stale,
}

/// What the dashboard shows of an account at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// When the broker data was observed.
    pub time: DateTime<Utc>,
    /// Closed balance.
    pub balance: Money,
    /// Balance plus floating P/L.
    pub equity: Money,
    /// Equity minus balance.
    pub floating_pl: Money,
    /// Balance when tracking began.
    pub starting_capital: Money,
    /// Highest balance seen.
    pub peak_balance: Money,
    /// Highest equity seen.
    pub peak_equity: Money,
    /// Peak equity minus equity, never negative.
    pub drawdown: Money,
    /// Drawdown as a percent of peak equity.
    pub drawdown_percent: Option<Decimal>,
    /// Number of open positions.
    pub open_positions: u32,
    /// The challenge on this account, when one is configured.
    #[serde(default)]
    pub challenge: Option<ChallengeView>,
}

/// A challenge's standing, exactly as the risk engine decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeView {
    /// The rule preset (e.g. `ftmo-2step`).
    pub preset: String,
    /// Active, passed, failed or paused.
    pub status: ChallengeStatus,
    /// Every rule with its status and remaining room.
    pub rules: Vec<RuleReport>,
    /// The next daily reset in the firm's time zone.
    pub next_reset: Option<DateTime<Utc>>,
}

/// An account in the accounts list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// Riskdeck's id of the account.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// Account currency, once known.
    pub currency: Option<String>,
    /// Feed health.
    pub feed: FeedStatus,
    /// Latest numbers, once known.
    pub latest: Option<AccountView>,
}

/// `GET /api/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsResponse {
    /// Every account the caller may see.
    pub accounts: Vec<AccountSummary>,
}

/// One sample of the equity curve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// Sample time.
    pub time: DateTime<Utc>,
    /// Balance at that time.
    pub balance: Money,
    /// Equity at that time.
    pub equity: Money,
}

/// `GET /api/accounts/{id}/history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryResponse {
    /// Samples in time order.
    pub points: Vec<EquityPoint>,
}

/// One message of the live stream (`GET /api/stream`), sent as the SSE `data` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Built once per poll and serialised at once: the size of a variant does not matter here.
#[allow(clippy::large_enum_variant)]
pub enum StreamEvent {
    /// An account's numbers changed.
    Account {
        /// Which account.
        account_id: AccountId,
        /// Feed health.
        feed: FeedStatus,
        /// The latest numbers.
        view: AccountView,
    },
    /// An account's feed health changed without new numbers.
    Feed {
        /// Which account.
        account_id: AccountId,
        /// Feed health.
        feed: FeedStatus,
    },
}

/// The one error body every API error uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`.
    pub error: String,
    /// A sentence for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn stream_events_are_tagged_by_type() {
        let event = StreamEvent::Feed {
            account_id: "a1".into(),
            feed: FeedStatus::Stale,
        };
        let json = serde_json::to_string(&event).expect("serialise");
        assert_eq!(json, r#"{"type":"feed","account_id":"a1","feed":"stale"}"#);
        let view = AccountView {
            time: DateTime::<Utc>::UNIX_EPOCH,
            balance: dec!(1),
            equity: dec!(2),
            floating_pl: dec!(1),
            starting_capital: dec!(1),
            peak_balance: dec!(1),
            peak_equity: dec!(2),
            drawdown: dec!(0),
            drawdown_percent: Some(dec!(0)),
            open_positions: 0,
            challenge: None,
        };
        let event = StreamEvent::Account {
            account_id: "a1".into(),
            feed: FeedStatus::Live,
            view,
        };
        let back: StreamEvent =
            serde_json::from_str(&serde_json::to_string(&event).expect("serialise"))
                .expect("deserialise");
        assert_eq!(back, event);
    }
}
