//! The wire contract between backend and frontend: REST bodies and stream events.
//!
//! Change both sides together. Money travels as decimal strings, times as RFC 3339 UTC.

use crate::domain::Position;
use crate::domain::{AccountId, Money};
use crate::engine::sizing::{PositionRisk, SizingContext};
use crate::engine::stats::DayStats;
use crate::engine::{Anchors, ChallengeStatus, Event, EventKind, Metrics, RuleReport};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Health of an account's data feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// No data received yet.
    Connecting,
    /// Reading the account's deal history to rebuild what happened before tracking began
    /// (onboarding mid-challenge); rules are evaluated once it is complete.
    Backfilling,
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
    /// The preset's name for a person (e.g. `FTMO 2-Step Challenge`); `None` for a custom
    /// rule set.
    #[serde(default)]
    pub title: Option<String>,
    /// The phase (`Phase 1`, `Phase 2`, `Evaluation`, `Funded`).
    #[serde(default)]
    pub phase: Option<String>,
    /// Which day of the challenge it is (1 on the first trading day).
    #[serde(default)]
    pub day: Option<u32>,
    /// The firm's daily reset: IANA time zone and local time, e.g. `Europe/Prague 00:00`.
    #[serde(default)]
    pub reset_clock: Option<String>,
    /// When the challenge started (its first record).
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    /// Every metric and statistic the engine computes.
    #[serde(default)]
    pub metrics: Option<Box<Metrics>>,
    /// The decisive events (breaches, objectives met, passed, failed) with their evidence,
    /// oldest first; warnings are left out.
    #[serde(default)]
    pub events: Vec<EventView>,
    /// Open positions with their risk to stop loss.
    #[serde(default)]
    pub positions: Vec<PositionRisk>,
    /// What the lot-size calculator needs (see [`crate::engine::sizing::max_lots`]).
    #[serde(default)]
    pub sizing: Option<SizingContext>,
    /// Finished trading days, oldest first: the daily P/L calendar.
    #[serde(default)]
    pub days: Vec<DayStats>,
}

/// A challenge event as the dashboard shows it: the engine's [`Event`] and its evidence, less
/// the raw record that caused it (that stays in the store and the export).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Breach, objective met, passed, failed (or warning).
    pub kind: EventKind,
    /// The rule concerned, if any.
    pub rule: Option<String>,
    /// The measured value (equity for loss rules), for breaches and warnings.
    pub measured: Option<Decimal>,
    /// The limit it was measured against (the equity floor for loss rules).
    pub limit: Option<Decimal>,
    /// Whether `measured` is equity estimated from quotes.
    #[serde(default)]
    pub estimated: bool,
    /// The anchors at that moment.
    pub anchors: Option<Anchors>,
    /// The positions open at that moment.
    #[serde(default)]
    pub open_positions: Vec<Position>,
}

impl From<&Event> for EventView {
    fn from(event: &Event) -> Self {
        let evidence = event.evidence.as_deref();
        Self {
            time: event.time,
            kind: event.kind,
            rule: event.rule.clone(),
            measured: evidence.map(|e| e.measured),
            limit: evidence.map(|e| e.limit),
            estimated: evidence.is_some_and(|e| e.estimated),
            anchors: evidence.map(|e| e.anchors),
            open_positions: evidence
                .map(|e| e.open_positions.clone())
                .unwrap_or_default(),
        }
    }
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

/// Open, close, lowest and highest value of one quantity over a time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ohlc {
    /// The value at the bucket's first sample.
    pub open: Money,
    /// The value at the bucket's last sample.
    pub close: Money,
    /// The lowest value of any sample in the bucket.
    pub min: Money,
    /// The highest value of any sample in the bucket.
    pub max: Money,
}

impl Ohlc {
    /// One sample's value: open, close, min and max are all `value`.
    pub fn point(value: Money) -> Self {
        Self {
            open: value,
            close: value,
            min: value,
            max: value,
        }
    }
}

/// The equity curve over one span of time: how many samples fell in it and the open, close,
/// minimum and maximum of balance and equity, so no peak or trough is lost when a curve is
/// drawn from buckets. Buckets of one account never overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityBucket {
    /// Start of the bucket's span.
    pub start: DateTime<Utc>,
    /// End of the bucket's span (exclusive; equal to `start` for a single live sample).
    pub end: DateTime<Utc>,
    /// Time of the first sample in the bucket.
    pub first: DateTime<Utc>,
    /// Time of the last sample in the bucket.
    pub last: DateTime<Utc>,
    /// Number of samples folded into the bucket.
    pub samples: u64,
    /// Balance over the bucket.
    pub balance: Ohlc,
    /// Equity over the bucket.
    pub equity: Ohlc,
}

impl EquityBucket {
    /// A bucket over `start..end` holding one sample.
    pub fn from_sample(point: &EquityPoint, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            start,
            end,
            first: point.time,
            last: point.time,
            samples: 1,
            balance: Ohlc::point(point.balance),
            equity: Ohlc::point(point.equity),
        }
    }

    /// An instant bucket holding one sample (a live update between stored buckets).
    pub fn instant(point: &EquityPoint) -> Self {
        Self::from_sample(point, point.time, point.time)
    }

    /// Folds `other` in. The result does not depend on the order of merging, except that of two
    /// samples at the same instant the one merged later gives the close.
    pub fn merge(&mut self, other: &EquityBucket) {
        if other.first < self.first {
            self.balance.open = other.balance.open;
            self.equity.open = other.equity.open;
            self.first = other.first;
        }
        if other.last >= self.last {
            self.balance.close = other.balance.close;
            self.equity.close = other.equity.close;
            self.last = other.last;
        }
        for (mine, theirs) in [
            (&mut self.balance, &other.balance),
            (&mut self.equity, &other.equity),
        ] {
            mine.min = mine.min.min(theirs.min);
            mine.max = mine.max.max(theirs.max);
        }
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.samples = self.samples.saturating_add(other.samples);
    }
}

/// `GET /api/accounts/{id}/history?from=&to=&points=`: the equity curve between `from` and `to`
/// (RFC 3339; default: all of it, up to now) in at most `points` buckets (default 1000, at most
/// 5000), at the finest stored resolution that fits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryResponse {
    /// Buckets in time order.
    pub buckets: Vec<EquityBucket>,
    /// The challenge's limit levels as they stood over the range: for each rule, the level in
    /// force at `from` and every change after it, in time order (empty without a challenge).
    #[serde(default)]
    pub limits: Vec<LimitPoint>,
}

/// A limit level of a challenge rule from an instant on: a loss rule's equity floor or the
/// profit target's level. Drawn as a step function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitPoint {
    /// From when the level holds.
    pub time: DateTime<Utc>,
    /// The rule's id.
    pub rule: String,
    /// The rule's kind (`daily_loss`, `max_loss`, `monthly_loss`, `profit_target`).
    pub kind: String,
    /// The level in account currency.
    pub level: Money,
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

/// Riskdeck's identifier of a person who signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a person may do: a trader sees the accounts they own, an admin sees everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees only the accounts they own.
    Trader,
    /// Sees every account and manages users.
    Admin,
}

impl Role {
    /// The role's name as stored and sent (`trader`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trader => "trader",
            Self::Admin => "admin",
        }
    }

    /// The role a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "trader" => Some(Self::Trader),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The signed-in person, as the app shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Their id.
    pub id: UserId,
    /// Their sign-in name.
    pub username: String,
    /// What they may do.
    pub role: Role,
}

/// `POST /api/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The sign-in name (not case-sensitive).
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /api/auth/login` and `GET /api/auth/me`: who is signed in, and the token every
/// request that changes something must carry in the `x-csrf-token` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The signed-in person.
    pub user: UserInfo,
    /// The session's anti-forgery token.
    pub csrf_token: String,
}

/// One user as an admin sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// Their id.
    pub id: UserId,
    /// Their sign-in name.
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// A disabled user cannot sign in and their sessions no longer work.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// `GET /api/users` (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersResponse {
    /// Every user, in id order.
    pub users: Vec<UserSummary>,
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

    #[test]
    fn roles_travel_as_their_names_and_passwords_stay_out_of_debug() {
        for role in [Role::Trader, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).expect("serialise");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
        let request = LoginRequest {
            username: "jane".into(),
            password: "hunter2-hunter2".into(),
        };
        let debug = format!("{request:?}");
        assert!(
            debug.contains("jane") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
