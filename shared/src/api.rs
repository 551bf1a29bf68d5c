//! The wire contract between backend and frontend: REST bodies and stream events.
//!
//! Change both sides together. Money travels as decimal strings, times as RFC 3339 UTC.

use crate::domain::Position;
use crate::domain::{AccountId, Money};
use crate::engine::edit::{RuleChange, RuleSetDraft};
use crate::engine::sizing::{PositionRisk, SizingContext};
use crate::engine::stats::DayStats;
use crate::engine::{Anchors, ChallengeStatus, Event, EventKind, Metrics, RuleReport};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Health of an account's data feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Archived by an admin: no longer tracked; the challenge is kept as it stood, read-only
    /// (its history, events, trades and statement are still there and exported).
    Archived,
}

/// What the dashboard shows of an account at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    /// When the broker data was observed.
    pub time: DateTime<Utc>,
    /// Closed balance.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub balance: Money,
    /// Balance plus floating P/L.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub equity: Money,
    /// Equity minus balance.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub floating_pl: Money,
    /// Balance when tracking began.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub starting_capital: Money,
    /// Highest balance seen.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peak_balance: Money,
    /// Highest equity seen.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub peak_equity: Money,
    /// Peak equity minus equity, never negative.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: Option<Box<Metrics>>,
    /// The decisive events (breaches, objectives met, passed, failed) with their evidence,
    /// oldest first; warnings are left out.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<EventView>,
    /// Open positions with their risk to stop loss.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub positions: Vec<PositionRisk>,
    /// What the lot-size calculator needs (see [`crate::engine::sizing::max_lots`]).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sizing: Option<SizingContext>,
    /// Finished trading days, oldest first: the daily P/L calendar.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub days: Vec<DayStats>,
    /// A balance change the broker reported that no deal explains yet (a deposit, a
    /// withdrawal, or a closed trade whose deal has not synced); `None` when everything is
    /// explained. A decision resting on it is held (the rule's `held_since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub unexplained_balance: Option<Money>,
    /// Deals that arrived late (dated well before they were read), oldest first, with the
    /// day's closed P/L before and after each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_deals: Vec<crate::engine::LateDeal>,
    /// The program, version and phase the challenge is on (`title` and `phase` are then the
    /// program's and the phase's names); `None` for a challenge on a preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<crate::programs::ProgramLink>,
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
    /// For a breach held while a balance change was unexplained: when the deal that decided
    /// it arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<DateTime<Utc>>,
    /// For a breach decided without the deal of a balance change it rested on: that change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexplained: Option<Decimal>,
    /// The position the rule was about (holding time, weekend), when it was one position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    /// The deal the rule was about (a closed trade's loss), when it was one deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
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
            decided: evidence.and_then(|e| e.decided),
            unexplained: evidence.and_then(|e| e.unexplained),
            position_id: evidence.and_then(|e| e.position_id.clone()),
            deal_id: evidence.and_then(|e| e.deal_id.clone()),
        }
    }
}

/// An account in the accounts list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// How far the reading of the account's deal history has got, while the feed is
    /// `backfilling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillProgress>,
    /// How the account's data reaches Riskdeck now (a MetaApi account: streaming, or REST
    /// polling); `None` when it is not told (a cTrader or pushed account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<FeedTransport>,
}

/// How a MetaApi account is followed, as configured: over MetaApi's streaming API (the
/// default: pushed as it changes, REST only to onboard and reconcile) or by REST polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MetaApi's streaming API.
    #[default]
    Streaming,
    /// REST polling.
    Rest,
}

/// How an account's data reaches Riskdeck now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeedTransport {
    /// Streamed: MetaApi pushes every change.
    Streaming,
    /// Polled over REST, as configured.
    Rest,
    /// Polled over REST because streaming is refused or failing; streaming is tried again.
    RestFallback,
}

impl AccountSummary {
    /// Applies a stream event about this account, the one way the hub, every page and the
    /// admin console fold the stream into what they show; whether anything changed. An event
    /// about another account changes nothing, nor does a view older than the one shown (an
    /// answer to a fetch can land after a live update newer than it).
    pub fn apply(&mut self, event: &StreamEvent) -> bool {
        // An archived account's numbers stay as they stood.
        if event.account_id() != Some(&self.id) || self.feed == FeedStatus::Archived {
            return false;
        }
        match event {
            StreamEvent::Account { feed, view, .. } => {
                if self
                    .latest
                    .as_ref()
                    .is_some_and(|shown| view.time < shown.time)
                {
                    return false;
                }
                self.feed = *feed;
                self.latest = Some(view.clone());
                self.backfill = None;
            }
            StreamEvent::Feed { feed, .. } => {
                if self.feed == *feed {
                    return false;
                }
                self.feed = *feed;
            }
            StreamEvent::Backfill { progress, .. } => {
                self.feed = FeedStatus::Backfilling;
                self.backfill = Some(progress.clone());
            }
            StreamEvent::Transport { transport, .. } => {
                if self.transport == Some(*transport) {
                    return false;
                }
                self.transport = Some(*transport);
            }
            _ => return false,
        }
        true
    }
}

/// How far a backfill of an account's deal history has read (pages of up to 1,000 deals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackfillProgress {
    /// Deals read so far.
    pub deals_read: u64,
    /// Where the history read starts.
    pub from: DateTime<Utc>,
    /// The time of the latest deal read so far (history is read oldest first).
    pub reached: Option<DateTime<Utc>>,
}

/// `GET /api/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountsResponse {
    /// Every account the caller may see.
    pub accounts: Vec<AccountSummary>,
}

/// One sample of the equity curve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EquityPoint {
    /// Sample time.
    pub time: DateTime<Utc>,
    /// Balance at that time.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub balance: Money,
    /// Equity at that time.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub equity: Money,
}

/// Open, close, lowest and highest value of one quantity over a time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ohlc {
    /// The value at the bucket's first sample.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub open: Money,
    /// The value at the bucket's last sample.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub close: Money,
    /// The lowest value of any sample in the bucket.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub min: Money,
    /// The highest value of any sample in the bucket.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitPoint {
    /// From when the level holds.
    pub time: DateTime<Utc>,
    /// The rule's id.
    pub rule: String,
    /// The rule's kind (`daily_loss`, `max_loss`, `monthly_loss`, `profit_target`).
    pub kind: String,
    /// The level in account currency.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub level: Money,
}

/// One message of the live stream (`GET /api/stream`), sent as the SSE `data` field.
///
/// A stream opens with a [`StreamEvent::Snapshot`], then carries deltas. Every event has an SSE
/// `id` (`EPOCH-SEQ`: the server process and the event's sequence number); a reconnect that sends
/// it back (`Last-Event-ID`, or `?last_event_id=`) resumes right after it, with no gap and no
/// duplicate, while the server still holds the events since. Otherwise, and whenever a client
/// falls too far behind, the server sends a new `Snapshot`: the client must then resynchronise
/// (replace what it shows, and refetch what the stream does not carry, such as history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Reading an account's deal history got further (its feed is `backfilling`).
    Backfill {
        /// Which account.
        account_id: AccountId,
        /// How far it got.
        progress: BackfillProgress,
    },
    /// How an account's data reaches Riskdeck changed (streaming, REST, or REST while
    /// streaming is unavailable).
    Transport {
        /// Which account.
        account_id: AccountId,
        /// How now.
        transport: FeedTransport,
    },
    /// The full current state of the stream's accounts: the first event of a stream, and the
    /// instruction to resynchronise when deltas were lost (a client too slow, or a resume the
    /// server cannot serve). Replaces whatever the client knew.
    Snapshot {
        /// Every account of the stream, in id order.
        accounts: Vec<AccountSummary>,
    },
}

impl StreamEvent {
    /// The account a delta is about; `None` for a snapshot (it is about all of them).
    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Self::Account { account_id, .. }
            | Self::Feed { account_id, .. }
            | Self::Backfill { account_id, .. }
            | Self::Transport { account_id, .. } => Some(account_id),
            Self::Snapshot { .. } => None,
        }
    }

    /// The snapshot's accounts as the deltas that would bring a client to them, one per account:
    /// the account's numbers, or its feed health when it has none yet. Deltas yield themselves.
    pub fn into_deltas(self) -> Vec<StreamEvent> {
        match self {
            Self::Snapshot { accounts } => accounts
                .into_iter()
                .map(|summary| match summary.latest {
                    Some(view) => Self::Account {
                        account_id: summary.id,
                        feed: summary.feed,
                        view,
                    },
                    None => match summary.backfill {
                        Some(progress) => Self::Backfill {
                            account_id: summary.id,
                            progress,
                        },
                        None => Self::Feed {
                            account_id: summary.id,
                            feed: summary.feed,
                        },
                    },
                })
                .collect(),
            delta => vec![delta],
        }
    }

    /// Reads one event from its JSON, exactly as `serde_json::from_str::<StreamEvent>` would.
    ///
    /// The derived reader of an internally tagged enum buffers the whole event into an
    /// intermediate tree before it can look at `type`, which compiles a second copy of every
    /// payload type's reader. This one reads the event's fields in one pass, as a flat struct,
    /// and then checks that the variant named by `type` has what it needs: the browser bundle
    /// (which reads every event of the stream) is much smaller for it.
    pub fn from_json(json: &str) -> Result<Self, StreamEventError> {
        let wire: StreamEventWire =
            serde_json::from_str(json).map_err(|error| StreamEventError(error.to_string()))?;
        let missing = |field: &str| StreamEventError(format!("missing field `{field}`"));
        Ok(match wire.kind.as_str() {
            "account" => Self::Account {
                account_id: wire.account_id.ok_or_else(|| missing("account_id"))?,
                feed: wire.feed.ok_or_else(|| missing("feed"))?,
                view: wire.view.ok_or_else(|| missing("view"))?,
            },
            "feed" => Self::Feed {
                account_id: wire.account_id.ok_or_else(|| missing("account_id"))?,
                feed: wire.feed.ok_or_else(|| missing("feed"))?,
            },
            "backfill" => Self::Backfill {
                account_id: wire.account_id.ok_or_else(|| missing("account_id"))?,
                progress: wire.progress.ok_or_else(|| missing("progress"))?,
            },
            "snapshot" => Self::Snapshot {
                accounts: wire.accounts.ok_or_else(|| missing("accounts"))?,
            },
            other => return Err(StreamEventError(format!("unknown event type `{other}`"))),
        })
    }
}

/// Why [`StreamEvent::from_json`] could not read an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEventError(String);

impl std::fmt::Display for StreamEventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamEventError {}

/// Every field any [`StreamEvent`] variant has, for [`StreamEvent::from_json`].
#[derive(Deserialize)]
struct StreamEventWire {
    #[serde(rename = "type")]
    kind: String,
    account_id: Option<AccountId>,
    feed: Option<FeedStatus>,
    view: Option<AccountView>,
    progress: Option<BackfillProgress>,
    accounts: Option<Vec<AccountSummary>>,
}

/// What a push of records (`POST /api/ingest/{account}`) did. Returned once the batch and the
/// events it caused are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResponse {
    /// Records fed to the risk engine.
    pub accepted: u32,
    /// Deals an earlier push already delivered, skipped (resending a batch is safe).
    pub duplicate_deals: u32,
    /// Records the engine refused, with why; every other record was applied.
    pub refused: Vec<RefusedRecord>,
    /// The challenge's status after the batch, when the account is on a challenge.
    pub status: Option<ChallengeStatus>,
}

/// A pushed record the risk engine refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedRecord {
    /// Its line number in the pushed body (from 1).
    pub line: u32,
    /// Why.
    pub message: String,
}

/// An admin's correction of one anchor of an account's challenge
/// (`POST /api/accounts/{account}/anchors`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnchorCorrectionRequest {
    /// Which anchor, e.g. `start_of_day_balance`.
    pub anchor: crate::engine::AnchorField,
    /// Its corrected value.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub value: rust_decimal::Decimal,
    /// Why: mandatory, kept in the audit log and shown to the trader.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"\S"))]
    pub reason: String,
}

/// The anchors after a correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnchorsResponse {
    /// Every anchor as it now stands.
    pub anchors: crate::engine::Anchors,
}

/// The one error body every API error uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`.
    pub error: String,
    /// A sentence for a person.
    pub message: String,
}

/// Riskdeck's identifier of a person who signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct UserId(pub i64);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a person may do: a trader sees the accounts they own, an admin sees everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    /// The signed-in person.
    pub user: UserInfo,
    /// The session's anti-forgery token.
    pub csrf_token: String,
}

/// One user as an admin sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsersResponse {
    /// Every user, in id order.
    pub users: Vec<UserSummary>,
}

/// `POST /api/users` (admins only): a new trader or admin.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The sign-in name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`; unique in any case.
    pub username: String,
    /// The first password: at least 12 characters.
    pub password: String,
    /// What they may do.
    pub role: Role,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// `POST /api/users/{user}/password` (admins only): sets a new password and ends every session
/// of the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The new password: at least 12 characters.
    pub password: String,
}

impl std::fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPasswordRequest")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /api/accounts/{account}/assign` (admins only): the trader who owns the account from
/// now on (an account has at most one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignAccountRequest {
    /// The trader's id.
    pub user: UserId,
}

/// `POST /api/accounts/{account}/assign` and `.../unassign`: who owns the account now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountOwnerResponse {
    /// The account.
    pub account: AccountId,
    /// Its owner, when it has one (admins see every account either way).
    pub owner: Option<UserSummary>,
}

/// One event of an account's challenge, as the risk engine decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeEventView {
    /// Increasing in the order events were stored, never reused: page on with it.
    pub id: i64,
    /// When it happened (the time of the broker record that caused it).
    pub time: DateTime<Utc>,
    /// The engine's `warning`, `breach`, `held`, `objective_met`, `passed` or `failed`; the
    /// tracker's `feed_stale`, `feed_recovered` or `daily_summary`; a MetaApi risk tracker's
    /// `tracker_exceeded`; an admin's `anchor_corrected`, `breach_cleared`, `unpaused` or
    /// `rules_changed`.
    pub kind: String,
    /// The rule concerned, if any.
    pub rule: Option<String>,
    /// The engine's whole event, evidence included.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: serde_json::Value,
}

/// `GET /api/accounts/{account}/events?after=&limit=`: an account's challenge events, oldest
/// first, those with an id above `after` (default 0), at most `limit` (default 100, at most
/// 1000).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventsResponse {
    /// The page of events.
    pub events: Vec<ChallengeEventView>,
    /// The `after` of the next page, when this page is full (there may be more).
    pub next_after: Option<i64>,
}

/// One version of an account's rule set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetView {
    /// 1, 2, 3, ... per account.
    pub version: i64,
    /// From when it applies (a later version supersedes it from its own instant on).
    pub effective_from: DateTime<Utc>,
    /// The rules, in the engine's rule set format.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: serde_json::Value,
    /// Who saved it.
    pub created_by: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
    /// What it changed from the rules in force before it, parameter by parameter.
    #[serde(default)]
    pub changes: Vec<RuleChange>,
}

/// `GET /api/accounts/{account}/rule-sets`: every version of the account's rule set, oldest
/// first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetsResponse {
    /// The versions.
    pub versions: Vec<RuleSetView>,
    /// The rules the running challenge is measured against now (the editor starts from
    /// them); `None` before the challenge runs.
    #[serde(default)]
    pub current: Option<RuleSetDraft>,
    /// The challenge's initial balance (the editor's checks compare limits at it).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub initial_balance: Option<Money>,
    /// The version the running challenge applies now; `None`: its preset's rules.
    #[serde(default)]
    pub applied_version: Option<i64>,
}

/// `POST /api/accounts/{account}/rule-sets` (admins): a new version of the challenge's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SaveRuleSetRequest {
    /// The rules.
    pub draft: RuleSetDraft,
    /// From when they apply: now when left out; never in the past.
    #[serde(default)]
    pub effective_from: Option<DateTime<Utc>>,
}

/// The answer to [`SaveRuleSetRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleSetSaved {
    /// The version saved.
    pub version: i64,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
    /// Whether the running challenge applies it already (`false`: it will at `effective_from`).
    pub applied: bool,
    /// What it changes, parameter by parameter.
    pub changes: Vec<RuleChange>,
}

/// `POST /api/accounts/{account}/rule-sets/what-if` (admins): replay the account's journal
/// under draft rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfRequest {
    /// The rules to try.
    pub draft: RuleSetDraft,
}

/// One rule's fate in a what-if replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfRule {
    /// The rule's id.
    pub id: String,
    /// Its kind (`daily_loss`, ...).
    pub kind: String,
    /// Its status at the end of the replay.
    pub status: crate::engine::RuleStatus,
    /// When it first warned, if it did.
    pub first_warning: Option<DateTime<Utc>>,
    /// How many warnings it raised.
    pub warnings: u32,
    /// When it was first breached, if it was.
    pub breached: Option<DateTime<Utc>>,
    /// When its objective was met, if it was.
    pub met: Option<DateTime<Utc>>,
}

/// The outcome of one rule set over the replayed journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfOutcome {
    /// The challenge's status at the end of the replay.
    pub status: ChallengeStatus,
    /// When it failed or passed, if it did.
    pub decided: Option<DateTime<Utc>>,
    /// Every rule.
    pub rules: Vec<WhatIfRule>,
}

/// The answer to [`WhatIfRequest`]: the draft's outcome next to the current rules'.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfResponse {
    /// Under the draft.
    pub draft: WhatIfOutcome,
    /// Under the rules in force now.
    pub current: WhatIfOutcome,
    /// Journal records replayed.
    pub records: u64,
    /// Records the engine refused (out of order, malformed), skipped.
    pub skipped: u64,
    /// The replay stopped early (too many records or too long): the outcome covers the
    /// journal up to `to` only.
    pub truncated: bool,
    /// The first replayed record's time.
    pub from: Option<DateTime<Utc>>,
    /// The last replayed record's time.
    pub to: Option<DateTime<Utc>>,
}

/// Which way a trade went: the direction of the position it closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    /// A long position (opened by buying).
    Buy,
    /// A short position (opened by selling).
    Sell,
}

/// One closing trade of the trade history: the deal that closed (part of) a position, with the
/// position's opening price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradeView {
    /// The closing deal's broker id.
    pub deal_id: String,
    /// The position it closed, when the broker says.
    pub position_id: Option<String>,
    /// When it closed.
    pub time: DateTime<Utc>,
    /// The firm's time zone's offset from UTC at `time`, in minutes (so the browser can show
    /// the firm's local time without a time zone database); `None` without a challenge.
    pub zone_offset_minutes: Option<i32>,
    /// When the position was opened, when its opening deal is known.
    pub opened: Option<DateTime<Utc>>,
    /// Instrument.
    pub symbol: String,
    /// The position's direction.
    pub side: TradeSide,
    /// Lots closed.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub volume: crate::domain::Lots,
    /// The opening deal's price, when it is known.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub open_price: Option<crate::domain::Price>,
    /// The closing deal's price.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub close_price: Option<crate::domain::Price>,
    /// Gross profit.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub profit: Money,
    /// Commission and swap: the closing deal's, plus the opening deal's commission in
    /// proportion to the volume closed.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub costs: Money,
    /// Profit plus costs.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub net: Money,
    /// Why it closed (`DEAL_REASON_SL`, ...), as the broker says.
    pub reason: Option<String>,
}

impl ChallengeView {
    /// The firm's time zone, read from the reset clock (`Europe/Prague 00:00`).
    pub fn time_zone(&self) -> Option<chrono_tz::Tz> {
        self.reset_clock
            .as_deref()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

impl TradeView {
    /// The trade of a closing deal, from the position's deals before it (`earlier`, oldest
    /// first: its opening deals, partial closes, reversals) or, when those are not known, its
    /// first opening deal; `zone` is the firm's time zone. `None` when `close` is not a closing
    /// trade deal.
    ///
    /// The position is followed deal by deal, as a netting account builds it: an opening deal
    /// adds volume at a volume-weighted open price and its commission to what the open part
    /// carries; a close takes its share of that commission; a reversal (`DEAL_ENTRY_INOUT`)
    /// closes the volume that was open (its commission split between the part it closes and
    /// the part it opens) and opens the rest the other way at its own price. So a trade's
    /// size, side and open price are those of what it closed, and each opening commission is
    /// counted once.
    pub fn from_deals(
        close: &crate::domain::Deal,
        open: Option<&crate::domain::Deal>,
        earlier: &[crate::domain::Deal],
        zone: Option<chrono_tz::Tz>,
    ) -> Option<Self> {
        use chrono::Offset;
        if !close.is_closing_trade() {
            return None;
        }
        let followed = if earlier.is_empty() {
            open.map(std::slice::from_ref).unwrap_or_default()
        } else {
            earlier
        };
        let mut position = OpenPart::default();
        for deal in followed {
            position.apply(deal);
        }
        let part = position.close(close);
        let costs = part.close_commission + close.swap + part.open_commission;
        Some(Self {
            deal_id: close.id.clone(),
            position_id: close.position_id.clone(),
            time: close.time,
            zone_offset_minutes: zone.map(|zone| {
                close
                    .time
                    .with_timezone(&zone)
                    .offset()
                    .fix()
                    .local_minus_utc()
                    / 60
            }),
            opened: part.opened,
            symbol: close.symbol.clone().unwrap_or_default(),
            side: part.side,
            volume: part.volume,
            open_price: part.open_price,
            close_price: close.price,
            profit: close.profit,
            costs,
            net: close.profit + costs,
            reason: close.reason.clone(),
        })
    }
}

/// A position's open part, as its deals built it (see [`TradeView::from_deals`]).
#[derive(Default)]
struct OpenPart {
    side: Option<TradeSide>,
    volume: Decimal,
    open_price: Option<Decimal>,
    /// Opening commission not yet taken by a close.
    commission: Decimal,
    opened: Option<DateTime<Utc>>,
}

/// What one closing deal closed.
struct ClosedPart {
    side: TradeSide,
    volume: Decimal,
    open_price: Option<Decimal>,
    opened: Option<DateTime<Utc>>,
    open_commission: Decimal,
    close_commission: Decimal,
}

fn side_of(deal: &crate::domain::Deal) -> Option<TradeSide> {
    match deal.kind {
        crate::domain::DealKind::Buy => Some(TradeSide::Buy),
        crate::domain::DealKind::Sell => Some(TradeSide::Sell),
        _ => None,
    }
}

/// `amount x part / whole`, `amount` when the part is all of it (or the whole is unknown).
fn share_of(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal {
    if whole <= Decimal::ZERO || part >= whole {
        return amount;
    }
    amount
        .checked_mul(part)
        .and_then(|v| v.checked_div(whole))
        .map_or(amount, |v| v.round_dp(2))
}

impl OpenPart {
    fn apply(&mut self, deal: &crate::domain::Deal) {
        use crate::domain::DealEntry;
        let Some(side) = side_of(deal) else {
            return;
        };
        let volume = deal.volume.unwrap_or_default();
        match deal.entry {
            Some(DealEntry::In) => self.add(side, volume, deal),
            Some(DealEntry::Out | DealEntry::OutBy) => {
                let closed = volume.min(self.volume);
                self.commission -= share_of(self.commission, closed, self.volume);
                self.volume -= closed;
            }
            Some(DealEntry::InOut) => {
                let closed = self.volume.min(volume);
                let closing_commission = share_of(deal.commission, closed, volume);
                *self = OpenPart::default();
                let opened = volume - closed;
                if opened > Decimal::ZERO {
                    self.add(side, opened, deal);
                    self.commission = deal.commission - closing_commission;
                }
            }
            None => {}
        }
    }

    fn add(&mut self, side: TradeSide, volume: Decimal, deal: &crate::domain::Deal) {
        if self.volume <= Decimal::ZERO {
            *self = OpenPart {
                side: Some(side),
                opened: Some(deal.time),
                ..OpenPart::default()
            };
        }
        let total = self.volume + volume;
        self.open_price = match (self.open_price, deal.price) {
            (Some(before), Some(price)) if total > Decimal::ZERO => before
                .checked_mul(self.volume)
                .and_then(|a| a.checked_add(price.checked_mul(volume)?))
                .and_then(|sum| sum.checked_div(total))
                .or(Some(price)),
            (None, price) => price,
            (before, None) => before,
            (Some(_), Some(price)) => Some(price),
        };
        self.volume = total;
        self.commission += deal.commission;
    }

    /// What `close` closes of this part.
    fn close(&self, close: &crate::domain::Deal) -> ClosedPart {
        use crate::domain::{DealEntry, DealKind};
        let volume = close.volume.unwrap_or_default();
        let known = self.volume > Decimal::ZERO;
        let closed = if known {
            volume.min(self.volume)
        } else {
            volume
        };
        let close_commission = if close.entry == Some(DealEntry::InOut) {
            share_of(close.commission, closed, volume)
        } else {
            close.commission
        };
        // The closing deal goes against the position.
        let fallback = if close.kind == DealKind::Sell {
            TradeSide::Buy
        } else {
            TradeSide::Sell
        };
        ClosedPart {
            side: self.side.filter(|_| known).unwrap_or(fallback),
            volume: closed,
            open_price: self.open_price.filter(|_| known),
            opened: self.opened.filter(|_| known),
            open_commission: if known {
                share_of(self.commission, closed, self.volume)
            } else {
                Decimal::ZERO
            },
            close_commission,
        }
    }
}

/// `GET /api/accounts/{account}/trades?before=&limit=`: a page of the account's closing trades,
/// newest first, those before the cursor `before` (none: from the newest), at most `limit`
/// (default 50, at most 200).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradesPage {
    /// The page of trades, newest first.
    pub trades: Vec<TradeView>,
    /// The `before` of the next (older) page; `None` on the last page.
    pub next: Option<String>,
    /// The firm's time zone (IANA name) the offsets are of; `None` without a challenge.
    pub time_zone: Option<String>,
}

// Admin console: the challenges overview and creating a challenge (issue #8).

/// How a new challenge's account is reached.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConnectionRequest {
    /// A MetaTrader account reached through MetaApi.
    Metaapi {
        /// MetaApi's id of the account.
        account_id: String,
        /// The MetaApi token (stored sealed, never returned).
        token: String,
        /// The MetaApi base URL; by default MetaApi's London region.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// An account of the built-in demo broker (demo mode only).
    Demo {
        /// The demo broker's account id, e.g. `demo-eurusd-scalper`.
        account: String,
    },
    /// A cTrader account reached through the cTrader Open API (JSON over WebSocket).
    Ctrader {
        /// The Open API endpoint: `wss://live.ctraderapi.com:5036` for live accounts,
        /// `wss://demo.ctraderapi.com:5036` for demo accounts.
        url: String,
        /// The Open API application's client id.
        client_id: String,
        /// The application's client secret (stored sealed, never returned).
        client_secret: String,
        /// The account owner's OAuth access token (stored sealed, never returned).
        access_token: String,
        /// The OAuth refresh token that renews the access token before its 30 days run out
        /// (stored sealed, never returned). Without it the account stops when the access token
        /// expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_token: Option<String>,
        /// The trading account's `ctidTraderAccountId`, digits as text (not the login number
        /// cTrader shows).
        account_id: String,
    },
}

impl std::fmt::Debug for ConnectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Metaapi {
                account_id,
                base_url,
                ..
            } => f
                .debug_struct("Metaapi")
                .field("account_id", account_id)
                .field("token", &"<redacted>")
                .field("base_url", base_url)
                .finish(),
            Self::Demo { account } => f.debug_struct("Demo").field("account", account).finish(),
            Self::Ctrader {
                url,
                client_id,
                account_id,
                ..
            } => f
                .debug_struct("Ctrader")
                .field("url", url)
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("access_token", &"<redacted>")
                .field("refresh_token", &"<redacted>")
                .field("account_id", account_id)
                .finish(),
        }
    }
}

/// `POST /api/accounts` (admins only): a new challenge account, tracked at once and at every
/// start from then on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Riskdeck's id: a slug of 3 to 64 lowercase letters, digits and `-`, unique.
    pub id: String,
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Where the account's data comes from.
    pub connection: ConnectionRequest,
    /// A risk-engine preset (see `GET /api/admin/connections` for the list), e.g. `ftmo-2step`;
    /// leave it out (or empty) with a `program`.
    #[serde(default)]
    pub preset: String,
    /// A program of the firm (`GET /api/programs`), instead of a preset: the challenge takes
    /// its latest version's rules for the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The phase (`Phase 1`, `Phase 2`, ...): of the program (by default its first), or of the
    /// preset (by default its own; a preset with another phase of the same program is chosen
    /// when it exists).
    #[serde(default)]
    pub phase: Option<String>,
    /// The challenge's starting capital, a positive decimal as text (e.g. `"100000"`).
    pub initial_balance: String,
    /// The account's currency: three capital letters (e.g. `USD`).
    pub currency: String,
    /// The username of the trader who owns it; none: only admins see it.
    #[serde(default)]
    pub owner: Option<String>,
    /// How a MetaApi (or demo) account is followed: `streaming` (the default) or `rest`
    /// polling. A cTrader account is always polled through its Open API.
    #[serde(default)]
    pub transport: Option<Transport>,
}

/// `POST /api/accounts`: the account as now tracked (its feed starts `connecting`, then
/// `backfilling` while its history is read, then `live`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateAccountResponse {
    /// The new account.
    pub account: AccountSummary,
}

/// An account of the built-in demo broker a challenge may be connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DemoAccountOption {
    /// The demo broker's id of the account.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The preset its own demo challenge uses.
    pub preset: String,
    /// Its simulated starting balance.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub initial_balance: Money,
}

/// A risk-engine preset a challenge may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresetOption {
    /// The preset's name, e.g. `ftmo-2step`.
    pub name: String,
    /// One line about its rules.
    pub description: String,
    /// Its phase (`Phase 1`, `Phase 2`, `Evaluation`, `Funded`).
    pub phase: String,
}

/// `GET /api/admin/connections` (admins only): what a new challenge can be connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionOptions {
    /// Whether the built-in demo broker runs (demo mode), so demo connections are possible.
    pub demo: bool,
    /// The demo broker's accounts (empty outside demo mode).
    pub demo_accounts: Vec<DemoAccountOption>,
    /// Whether a `secret_key` is configured, without which MetaApi tokens and cTrader
    /// credentials cannot be stored.
    pub secret_key: bool,
    /// Every preset.
    pub presets: Vec<PresetOption>,
}

/// The rule of a challenge closest to breaching, as the engine reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClosestRule {
    /// The rule's id.
    pub id: String,
    /// The rule's kind (`daily_loss`, `max_loss`, ...).
    pub kind: String,
    /// Its status (`ok`, `warning`, `breached`, ...).
    pub status: crate::engine::RuleStatus,
    /// The share of its budget used up, 0 to 1.
    pub progress: Option<Decimal>,
    /// Room left before a breach, in the rule's unit.
    pub remaining: Option<Decimal>,
    /// `remaining` as a percent of the initial balance, for rules measured in money.
    pub remaining_percent: Option<Decimal>,
}

impl ClosestRule {
    /// The limit (not an objective) that is breached, or else has used the largest share of
    /// its budget: read from the engine's report, nothing recomputed.
    pub fn of(rules: &[RuleReport]) -> Option<Self> {
        use crate::engine::RuleStatus;
        let objective =
            |kind: &str| matches!(kind, "profit_target" | "min_trading_days" | "best_day");
        rules
            .iter()
            .filter(|rule| !objective(&rule.kind))
            .max_by_key(|rule| {
                (
                    rule.status == RuleStatus::Breached,
                    rule.progress.unwrap_or(Decimal::ZERO),
                )
            })
            .map(|rule| Self {
                id: rule.id.clone(),
                kind: rule.kind.clone(),
                status: rule.status,
                progress: rule.progress,
                remaining: rule.remaining,
                remaining_percent: rule.remaining_percent,
            })
    }
}

/// One challenge in the admin overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeRow {
    /// The account's id.
    pub id: AccountId,
    /// Its display name.
    pub name: String,
    /// The owning trader's username, if any.
    pub owner: Option<String>,
    /// Feed health.
    pub feed: FeedStatus,
    /// The challenge's status; `None` for an account without a challenge or not yet evaluated.
    pub status: Option<ChallengeStatus>,
    /// The preset.
    pub preset: Option<String>,
    /// The phase.
    pub phase: Option<String>,
    /// The account currency, once known.
    pub currency: Option<String>,
    /// Closed balance.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub balance: Option<Money>,
    /// Equity.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub equity: Option<Money>,
    /// Profit or loss since the start: equity minus starting capital.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub profit: Option<Money>,
    /// The rule closest to breach.
    pub closest: Option<ClosestRule>,
    /// History read so far while backfilling.
    pub backfill: Option<BackfillProgress>,
    /// How the account's data reaches Riskdeck now, when told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<FeedTransport>,
    /// When the numbers were observed.
    pub updated: Option<DateTime<Utc>>,
}

impl ChallengeRow {
    /// The row of an account's latest summary (what the hub keeps and the stream sends).
    pub fn from_summary(summary: &AccountSummary, owner: Option<String>) -> Self {
        let latest = summary.latest.as_ref();
        let challenge = latest.and_then(|view| view.challenge.as_ref());
        Self {
            id: summary.id.clone(),
            name: summary.name.clone(),
            owner,
            feed: summary.feed,
            status: challenge.map(|c| c.status),
            preset: challenge.map(|c| c.preset.clone()),
            phase: challenge.and_then(|c| c.phase.clone()),
            currency: summary.currency.clone(),
            balance: latest.map(|view| view.balance),
            equity: latest.map(|view| view.equity),
            profit: latest.map(|view| view.equity - view.starting_capital),
            closest: challenge.and_then(|c| ClosestRule::of(&c.rules)),
            backfill: summary.backfill.clone(),
            transport: summary.transport,
            updated: latest.map(|view| view.time),
        }
    }
}

impl ChallengeRow {
    /// Applies a stream event about this row's account by [`AccountSummary::apply`]: new
    /// numbers rebuild the row as [`ChallengeRow::from_summary`] does; whether it changed.
    pub fn apply(&mut self, event: &StreamEvent) -> bool {
        let mut summary = AccountSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            currency: self.currency.clone(),
            feed: self.feed,
            latest: None,
            backfill: self.backfill.clone(),
            transport: self.transport,
        };
        if let StreamEvent::Account { view, .. } = event
            && self.updated.is_some_and(|shown| view.time < shown)
        {
            return false;
        }
        if !summary.apply(event) {
            return false;
        }
        if summary.latest.is_some() {
            *self = Self::from_summary(&summary, self.owner.take());
        } else {
            self.feed = summary.feed;
            self.backfill = summary.backfill;
            self.transport = summary.transport;
        }
        true
    }
}

/// How many challenges are in each status and each feed state (of all, not only the page).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeCounts {
    /// Every account not archived.
    pub all: u64,
    /// Active challenges.
    pub active: u64,
    /// Passed challenges.
    pub passed: u64,
    /// Failed challenges.
    pub failed: u64,
    /// Paused challenges (a soft breach, until the next reset).
    pub paused: u64,
    /// Accounts without an evaluated challenge (none configured, or still connecting).
    pub none: u64,
    /// Feeds live.
    pub live: u64,
    /// Feeds stale.
    pub stale: u64,
    /// Feeds connecting or backfilling.
    pub starting: u64,
    /// Archived challenges (counted apart from all the others, and listed only with the
    /// `archived` feed filter).
    #[serde(default)]
    pub archived: u64,
}

/// `GET /api/admin/challenges?q=&status=&feed=&sort=&dir=&page=&per_page=` (admins only): one
/// page of the challenges that match, with the counts of all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengesPage {
    /// The rows of this page.
    pub rows: Vec<ChallengeRow>,
    /// How many rows match the search and filters (all pages).
    pub total: u64,
    /// This page, from 1.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// Counts over every account, whatever the filters.
    pub counts: ChallengeCounts,
}

/// `POST /api/accounts/{account}/clear-breach` and `.../unpause` (admins only): an override
/// of the engine's decision on the account's challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Why: mandatory (an empty or missing reason is refused with 400), kept in the audit log
    /// and shown to the trader.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, pattern = r"\S")
    )]
    pub reason: String,
}

/// `POST /api/accounts/{account}/archive` (admins only): the challenge is kept as it stands,
/// read-only, and no longer tracked; its history, events, trades and statement stay (and are
/// exported). Once, never undone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// Why: mandatory (422 without one), kept in the audit log.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, min_length = 1, pattern = r"\S")
    )]
    pub reason: String,
}

/// An account's archiving.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveResponse {
    pub account: AccountId,
    pub archived_at: DateTime<Utc>,
    /// The admin's username.
    pub archived_by: String,
    pub reason: String,
}

/// The challenge after an override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverrideResponse {
    /// The challenge's status now (active).
    pub status: ChallengeStatus,
    /// The ids of the rules whose breach was cleared or released.
    pub rules: Vec<String>,
}

/// `GET /api/accounts/{account}/connection` (admins only): how the account reaches its broker,
/// never its secrets. Everything is empty when nothing is stored for it (an account of the
/// configuration file whose token was never refreshed, a demo account).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionStatus {
    /// `metaapi` or `ctrader`, when a connection is stored.
    pub platform: Option<String>,
    /// Whether a refresh token is stored (cTrader): the access token is then renewed before it
    /// expires.
    pub refresh_token: bool,
    /// When the access token expires, as its last refresh said (cTrader).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// When the token pair was last refreshed (cTrader).
    pub token_refreshed_at: Option<DateTime<Utc>>,
}

/// `GET /api/account-owners` (admins only): every account with its owner, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountOwnersResponse {
    /// The accounts.
    pub accounts: Vec<AccountOwnerResponse>,
}

/// One entry of the audit log: who did what to which thing, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryView {
    /// Increasing, never reused: page on with it (`before_id`).
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Who: a username, or `system`.
    pub actor: String,
    /// What, e.g. `user.disable`, `challenge.clear_breach`.
    pub action: String,
    /// To what, e.g. `account:ftmo-100k`, `user:3`.
    pub subject: String,
    /// The thing before, when there was one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    /// The thing after, when there is one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    /// Why, when given.
    pub reason: Option<String>,
}

/// `GET /api/audit?actor=&action=&account=&from=&to=&before_id=&limit=` (admins only): the
/// audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditResponse {
    /// The page of entries.
    pub entries: Vec<AuditEntryView>,
    /// The `before_id` of the next (older) page, when this page is full (there may be more).
    pub next_before_id: Option<i64>,
}

// Notifications (issue #9).

/// Where a person wants to hear about their accounts' events, and which ones. Every channel
/// is optional; none set means no messages for them (the firm's channels are configured on the
/// server).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationPreferences {
    /// The Telegram chat the firm's bot writes to (the number `@userinfobot` shows, or a
    /// group's negative id).
    #[serde(default)]
    pub telegram_chat_id: Option<String>,
    /// An `https://` (or `http://`) URL that receives each event as signed JSON.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The key the webhook's `X-Riskdeck-Signature` is computed with (HMAC-SHA256), at least
    /// 16 characters. Write-only: the server's answers never carry it (it sends `None`, which
    /// is left out); left out of a request, the stored one is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Whether a webhook key is stored (set by the server).
    #[serde(default)]
    pub webhook_secret_set: bool,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
    /// The kinds of events to hear about (`warning`, `breach`, `held`, `objective_met`,
    /// `passed`, `failed`, `feed_stale`, `feed_recovered`, `daily_summary`,
    /// `tracker_exceeded`); empty means every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only events of these rules (rule ids, e.g. `daily_loss`); empty means every rule.
    /// Events that concern no rule (passed) are always sent.
    #[serde(default)]
    pub rules: Vec<String>,
}

impl std::fmt::Debug for NotificationPreferences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationPreferences")
            .field("telegram_chat_id", &self.telegram_chat_id)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("webhook_secret_set", &self.webhook_secret_set)
            .field("email", &self.email)
            .field("kinds", &self.kinds)
            .field("rules", &self.rules)
            .finish()
    }
}

/// Where one delivery of a notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: due at its next attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up after the last attempt; the error says why.
    Failed,
}

impl DeliveryStatus {
    /// The status's name (`pending`, `delivered`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The status a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One notification of one event on one channel to one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationDelivery {
    /// The event's id.
    pub event_id: i64,
    /// The account.
    pub account: AccountId,
    /// The event's kind (`warning`, `breach`, ...).
    pub kind: String,
    /// The rule, when the event concerns one.
    pub rule: Option<String>,
    /// When the event happened.
    pub event_time: DateTime<Utc>,
    /// `telegram`, `webhook` or `email`.
    pub channel: String,
    /// `firm` (the firm's own channel) or `user:ID`.
    pub recipient: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is next tried (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// `GET /api/notifications` (admins only): a page of deliveries, newest event first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationsResponse {
    /// At most `limit` (500 when left out) deliveries, newest event first.
    pub deliveries: Vec<NotificationDelivery>,
    /// The `offset` of the next page, when there is one.
    #[serde(default)]
    pub next_offset: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn summary_view(second: i64, equity: i64) -> AccountView {
        AccountView {
            time: DateTime::from_timestamp(second, 0).expect("time"),
            balance: Decimal::from(100),
            equity: Decimal::from(equity),
            floating_pl: Decimal::from(equity - 100),
            starting_capital: Decimal::from(100),
            peak_balance: Decimal::from(100),
            peak_equity: Decimal::from(equity),
            drawdown: Decimal::ZERO,
            drawdown_percent: Some(Decimal::ZERO),
            open_positions: 0,
            challenge: None,
        }
    }

    #[test]
    fn a_summary_and_an_overview_row_fold_the_stream_the_same_one_way() {
        let mut summary = AccountSummary {
            id: "a1".into(),
            name: "A".into(),
            currency: Some("USD".into()),
            feed: FeedStatus::Live,
            latest: Some(summary_view(20, 120)),
            backfill: None,
            transport: None,
        };
        let mut row = ChallengeRow::from_summary(&summary, Some("jane".into()));
        let account = |feed, second, equity| StreamEvent::Account {
            account_id: "a1".into(),
            feed,
            view: summary_view(second, equity),
        };
        // An older view changes nothing (a fetch's answer overtaken by a live update).
        let older = account(FeedStatus::Stale, 10, 110);
        assert!(!summary.apply(&older) && !row.apply(&older));
        assert_eq!(summary.latest, Some(summary_view(20, 120)));
        assert_eq!(
            (summary.feed, row.feed),
            (FeedStatus::Live, FeedStatus::Live)
        );
        // A newer one replaces the numbers; the row is rebuilt as the server builds it.
        let newer = account(FeedStatus::Live, 30, 130);
        assert!(summary.apply(&newer) && row.apply(&newer));
        assert_eq!(summary.latest, Some(summary_view(30, 130)));
        assert_eq!(
            row,
            ChallengeRow::from_summary(&summary, Some("jane".into()))
        );
        // Another account's event changes nothing.
        let other = StreamEvent::Feed {
            account_id: "b2".into(),
            feed: FeedStatus::Stale,
        };
        assert!(!summary.apply(&other) && !row.apply(&other));
        assert_eq!(summary.feed, FeedStatus::Live);
        // Backfilling, then numbers again: the progress goes with the new numbers.
        let progress = BackfillProgress {
            deals_read: 1_000,
            from: DateTime::from_timestamp(0, 0).expect("time"),
            reached: None,
        };
        let backfill = StreamEvent::Backfill {
            account_id: "a1".into(),
            progress: progress.clone(),
        };
        assert!(summary.apply(&backfill) && row.apply(&backfill));
        assert_eq!(
            (summary.feed, row.backfill.clone()),
            (FeedStatus::Backfilling, Some(progress))
        );
        let live = account(FeedStatus::Live, 40, 140);
        assert!(summary.apply(&live) && row.apply(&live));
        assert_eq!(
            (summary.backfill.clone(), row.backfill.clone()),
            (None, None)
        );
        assert_eq!(
            row,
            ChallengeRow::from_summary(&summary, Some("jane".into()))
        );
        // The same feed again is no change.
        let same = StreamEvent::Feed {
            account_id: "a1".into(),
            feed: FeedStatus::Live,
        };
        assert!(!summary.apply(&same) && !row.apply(&same));
    }

    #[test]
    fn a_trade_reads_its_side_costs_and_zone_from_its_deals() {
        use crate::domain::{Deal, DealEntry, DealKind};
        let deal = |id: &str, kind, entry, volume, commission| Deal {
            id: id.into(),
            kind,
            entry: Some(entry),
            symbol: Some("EURUSD".into()),
            time: "2026-07-01T12:00:00Z".parse().expect("time"),
            volume: Some(volume),
            price: Some(dec!(1.1)),
            profit: dec!(-30),
            commission,
            swap: dec!(-1),
            position_id: Some("p".into()),
            reason: None,
        };
        let open = deal("1", DealKind::Sell, DealEntry::In, dec!(2), dec!(-4));
        let close = deal("2", DealKind::Buy, DealEntry::Out, dec!(0.5), dec!(-1));
        let zone: chrono_tz::Tz = "Europe/Prague".parse().expect("zone");
        let trade = TradeView::from_deals(&close, Some(&open), &[], Some(zone)).expect("a trade");
        assert_eq!(trade.side, TradeSide::Sell);
        // The close's commission and swap, and a quarter of the opening commission.
        assert_eq!(trade.costs, dec!(-3));
        assert_eq!(trade.net, dec!(-33));
        assert_eq!(
            trade.zone_offset_minutes,
            Some(120),
            "summer time in Prague"
        );
        let alone = TradeView::from_deals(&close, None, &[], None).expect("a trade");
        assert_eq!(alone.side, TradeSide::Sell, "a buy closes a short position");
        assert_eq!((alone.open_price, alone.zone_offset_minutes), (None, None));
        assert_eq!(
            TradeView::from_deals(&open, None, &[], None),
            None,
            "an opening deal"
        );
    }

    /// MT5 netting: buy 1 lot, add 1 lot, sell 3 (a reversal: closes 2, opens 1 short), buy 1
    /// to close. Each trade has the size, side and open price of what it closed, and every
    /// opening commission is counted once across the trades.
    #[test]
    fn a_netting_position_reversed_gives_each_trade_what_it_closed() {
        use crate::domain::{Deal, DealEntry, DealKind};
        let deal = |id: &str, kind, entry, volume, price, profit, commission| Deal {
            id: id.into(),
            kind,
            entry: Some(entry),
            symbol: Some("EURUSD".into()),
            time: format!("2026-07-01T12:0{id}:00Z").parse().expect("time"),
            volume: Some(volume),
            price: Some(price),
            profit,
            commission,
            swap: Decimal::ZERO,
            position_id: Some("p".into()),
            reason: None,
        };
        let history = [
            deal(
                "1",
                DealKind::Buy,
                DealEntry::In,
                dec!(1),
                dec!(1.1000),
                dec!(0),
                dec!(-7),
            ),
            deal(
                "2",
                DealKind::Buy,
                DealEntry::In,
                dec!(1),
                dec!(1.1010),
                dec!(0),
                dec!(-7),
            ),
            // Sells 3 against 2 long: closes 2 at 1.1020, opens 1 short; 21 of commission for
            // 3 lots, 14 of it the closing part.
            deal(
                "3",
                DealKind::Sell,
                DealEntry::InOut,
                dec!(3),
                dec!(1.1020),
                dec!(300),
                dec!(-21),
            ),
            deal(
                "4",
                DealKind::Buy,
                DealEntry::Out,
                dec!(1),
                dec!(1.1000),
                dec!(200),
                dec!(-7),
            ),
        ];
        let trade = |index: usize| {
            TradeView::from_deals(&history[index], None, &history[..index], None)
                .expect("a closing deal")
        };
        let reversal = trade(2);
        assert_eq!(reversal.side, TradeSide::Buy);
        assert_eq!(reversal.volume, dec!(2), "the volume that was open");
        assert_eq!(reversal.open_price, Some(dec!(1.1005)), "volume-weighted");
        assert_eq!(
            reversal.costs,
            dec!(-28),
            "both opening commissions and 14 of 21"
        );
        let last = trade(3);
        assert_eq!(last.side, TradeSide::Sell);
        assert_eq!(last.volume, dec!(1));
        assert_eq!(
            last.open_price,
            Some(dec!(1.1020)),
            "opened by the reversal"
        );
        assert_eq!(
            last.costs,
            dec!(-14),
            "its own 7 and the reversal's opening 7"
        );
        let all: Decimal = history.iter().map(|d| d.commission).sum();
        assert_eq!(reversal.costs + last.costs, all, "each commission once");
        // A close by an opposite position (`DEAL_ENTRY_OUT_BY`) closes its own position.
        let by = deal(
            "5",
            DealKind::Buy,
            DealEntry::OutBy,
            dec!(0.5),
            dec!(1.1),
            dec!(5),
            dec!(0),
        );
        let short = deal(
            "0",
            DealKind::Sell,
            DealEntry::In,
            dec!(2),
            dec!(1.1050),
            dec!(0),
            dec!(-14),
        );
        let closed = TradeView::from_deals(&by, None, &[short], None).expect("a close by");
        assert_eq!(
            (closed.side, closed.volume, closed.open_price, closed.costs),
            (TradeSide::Sell, dec!(0.5), Some(dec!(1.1050)), dec!(-3.5))
        );
    }

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
    fn the_flat_stream_reader_agrees_with_the_derived_one() {
        let view = AccountView {
            time: DateTime::<Utc>::UNIX_EPOCH,
            balance: dec!(100.25),
            equity: dec!(99.5),
            floating_pl: dec!(-0.75),
            starting_capital: dec!(100),
            peak_balance: dec!(100.25),
            peak_equity: dec!(100.5),
            drawdown: dec!(1),
            drawdown_percent: None,
            open_positions: 1,
            challenge: None,
        };
        let events = [
            StreamEvent::Account {
                account_id: "a1".into(),
                feed: FeedStatus::Live,
                view: view.clone(),
            },
            StreamEvent::Feed {
                account_id: "a2".into(),
                feed: FeedStatus::Stale,
            },
            StreamEvent::Backfill {
                account_id: "a3".into(),
                progress: BackfillProgress {
                    deals_read: 12,
                    from: DateTime::<Utc>::UNIX_EPOCH,
                    reached: None,
                },
            },
            StreamEvent::Snapshot {
                accounts: vec![AccountSummary {
                    id: "a1".into(),
                    name: "One".into(),
                    currency: Some("USD".into()),
                    feed: FeedStatus::Live,
                    latest: Some(view),
                    backfill: None,
                    transport: None,
                }],
            },
        ];
        for event in events {
            let json = serde_json::to_string(&event).expect("serialise");
            let derived: StreamEvent = serde_json::from_str(&json).expect("derived");
            assert_eq!(StreamEvent::from_json(&json), Ok(derived), "{json}");
        }

        for (json, error) in [
            (
                r#"{"type":"feed","account_id":"a1"}"#,
                "missing field `feed`",
            ),
            (
                r#"{"type":"account","account_id":"a1","feed":"live"}"#,
                "missing field `view`",
            ),
            (r#"{"type":"gossip"}"#, "unknown event type `gossip`"),
        ] {
            assert_eq!(
                StreamEvent::from_json(json).map_err(|e| e.to_string()),
                Err(error.to_owned())
            );
        }
        assert!(StreamEvent::from_json(r#"{"account_id":"a1"}"#).is_err());
        assert!(StreamEvent::from_json("not json").is_err());
    }

    #[test]
    fn a_snapshot_is_one_delta_per_account() {
        let summary = |id: &str| AccountSummary {
            id: id.into(),
            name: id.to_owned(),
            currency: None,
            feed: FeedStatus::Connecting,
            latest: None,
            backfill: None,
            transport: None,
        };
        let snapshot = StreamEvent::Snapshot {
            accounts: vec![summary("a1"), summary("a2")],
        };
        let json = serde_json::to_string(&snapshot).expect("serialise");
        assert!(
            json.starts_with(r#"{"type":"snapshot","accounts":[{"id":"a1""#),
            "{json}"
        );
        assert_eq!(snapshot.account_id(), None);
        let deltas = snapshot.into_deltas();
        let ids: Vec<_> = deltas
            .iter()
            .filter_map(|d| d.account_id().map(AccountId::as_str))
            .collect();
        assert_eq!(ids, ["a1", "a2"]);
        assert!(matches!(
            deltas[0],
            StreamEvent::Feed {
                feed: FeedStatus::Connecting,
                ..
            }
        ));
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
        let create = CreateUserRequest {
            username: "jane".into(),
            password: "hunter2-hunter2".into(),
            role: Role::Trader,
        };
        let reset = ResetPasswordRequest {
            password: "hunter2-hunter2".into(),
        };
        for debug in [format!("{create:?}"), format!("{reset:?}")] {
            assert!(!debug.contains("hunter2"), "{debug}");
        }
    }
}

/// An API token as the console lists it: never its secret. Tokens open MetaApi's risk
/// management API (`/users/current/...`, header `auth-token`) for the accounts listed only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenSummary {
    /// Public id.
    pub id: String,
    /// What the admin called it.
    pub name: String,
    /// The only accounts it sees.
    pub accounts: Vec<String>,
    /// The admin who created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked token opens nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `GET /api/api-tokens` (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokensResponse {
    /// Every token, newest first, revoked ones included.
    pub tokens: Vec<ApiTokenSummary>,
}

/// `POST /api/api-tokens` (admins only): a new token for some accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    /// What it is for (1 to 100 characters).
    pub name: String,
    /// The accounts it may see (at least one; each must exist).
    pub accounts: Vec<String>,
}

/// The answer to creating a token: its secret, shown this once (only a hash is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// The secret to send as the `auth-token` header.
    pub token: String,
    pub api_token: ApiTokenSummary,
}

/// One MetaApi risk tracker of an account, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskTrackerView {
    pub id: String,
    pub name: String,
    /// `day`, `week`, ..., `lifetime`.
    pub period: String,
    /// Its thresholds in words (e.g. "drawdown over 5% or 1000").
    pub thresholds: String,
    /// The current period's start, broker time.
    pub period_start: Option<String>,
    /// The current period's largest drawdown and profit so far.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub max_drawdown: Option<Decimal>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub max_profit: Option<Decimal>,
    /// `drawdown` or `profit` when the current period exceeded a threshold.
    pub exceeded: Option<String>,
}

/// One tracker event, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskTrackerEventView {
    pub sequence_number: i64,
    pub tracker_id: String,
    /// When, broker time.
    pub broker_time: String,
    /// `drawdown` or `profit`.
    pub exceeded: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub absolute_drawdown: Decimal,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub absolute_profit: Decimal,
}

/// `GET /api/accounts/{account}/trackers`: the account's MetaApi risk trackers and their
/// latest events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskTrackersResponse {
    pub trackers: Vec<RiskTrackerView>,
    /// Newest first, at most 50.
    pub events: Vec<RiskTrackerEventView>,
}

// Programs (issue 24): what the firm sells, as data, versioned.

/// A phase of a program as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramPhaseSummary {
    /// Its name, e.g. `Phase 1`.
    pub name: String,
    /// A funded phase (profit split, no target).
    pub funded: bool,
    /// The trader's share of the profit, in percent (funded phases).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub profit_split: Option<Decimal>,
    /// Calendar days to pass it, if limited.
    pub time_limit_days: Option<u32>,
    /// The rules in a few words (e.g. `daily_loss 5%, max_loss 10%, profit_target 10%`).
    pub rules: String,
    /// Challenges in this phase now (any status).
    pub challenges: u32,
}

/// A program as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramSummary {
    /// Its id: a slug of 3 to 64 lowercase letters, digits and `-`.
    pub id: String,
    pub name: String,
    pub description: String,
    /// Its latest version (1, 2, ...).
    pub version: u32,
    /// The built-in template it started from, if any.
    pub template: Option<String>,
    pub phases: Vec<ProgramPhaseSummary>,
    /// Challenges on the program now, every phase.
    pub challenges: u32,
    /// Who saved the latest version, and when.
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A built-in program to start from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramTemplate {
    /// Its id, e.g. `ftmo-2step`.
    pub id: String,
    pub program: crate::programs::ProgramDraft,
}

/// `GET /api/programs` (admins only): every program, and the templates to start one from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramsResponse {
    /// By name.
    pub programs: Vec<ProgramSummary>,
    pub templates: Vec<ProgramTemplate>,
}

/// `POST /api/programs` (admins only): a new program, from a template or written out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProgramRequest {
    /// Its id: a slug of 3 to 64 lowercase letters, digits and `-`, unique.
    pub id: String,
    /// The template to start from (`GET /api/programs` lists them); its program is used when
    /// `program` is left out.
    #[serde(default)]
    pub template: Option<String>,
    /// The program; required without a template.
    #[serde(default)]
    pub program: Option<crate::programs::ProgramDraft>,
}

/// How a new version of a program reaches challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProgramApply {
    /// New challenges only; running ones keep the version they started on.
    NewChallenges,
    /// New challenges, and every running challenge of the program from `from` on (now when
    /// left out): its phase's new rules, measured from that instant (nothing recorded before
    /// is judged again; a breach stays final).
    Running {
        #[serde(default)]
        from: Option<DateTime<Utc>>,
    },
}

/// One version of a program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramVersionView {
    pub version: u32,
    pub program: crate::programs::ProgramDraft,
    /// How it reached challenges.
    pub apply: ProgramApply,
    /// The running challenges it was applied to.
    pub applied_to: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A challenge on a program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramChallenge {
    pub account: String,
    pub name: String,
    /// The phase's name and index (0-based).
    pub phase: String,
    pub phase_index: u32,
    /// The program version it is measured against.
    pub version: u32,
    /// `None` until its history has been read.
    pub status: Option<crate::engine::ChallengeStatus>,
    /// Its owner's username, if any.
    pub owner: Option<String>,
}

/// `GET /api/programs/{program}` (admins only): the program, every version, its challenges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramDetail {
    pub summary: ProgramSummary,
    /// The latest version's program, as the editor starts from it.
    pub program: crate::programs::ProgramDraft,
    /// Newest first.
    pub versions: Vec<ProgramVersionView>,
    /// By phase, then account.
    pub challenges: Vec<ProgramChallenge>,
}

/// `POST /api/programs/{program}/versions` (admins only): a new version, and how it reaches
/// challenges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveProgramRequest {
    pub program: crate::programs::ProgramDraft,
    pub apply: ProgramApply,
}

/// `POST /api/programs/{program}/what-if` (admins only): what a new version would do to the
/// running challenges if applied now, before it is saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProgramWhatIfRequest {
    pub program: crate::programs::ProgramDraft,
}

/// What a new version does to one running challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProgramImpact {
    /// Its numbers already break a new limit: it fails at its next update.
    Breach,
    /// Its numbers already meet every new objective: it passes at its next update.
    Pass,
    /// Its limits or objectives move; its status does not.
    Change,
    /// Its phase's rules are the same.
    Unchanged,
    /// Already passed or failed: a final decision is never judged again.
    Decided,
    /// The new version cannot apply to it (named in `problem`).
    Invalid,
}

/// One running challenge in a program what-if.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramWhatIfRow {
    pub account: String,
    pub name: String,
    pub phase: String,
    pub impact: ProgramImpact,
    /// The rules it would break, or the objectives it would meet (ids).
    pub rules: Vec<String>,
    /// What changes for it, in words.
    pub changes: Vec<String>,
    /// Why the version cannot apply to it.
    pub problem: Option<String>,
}

/// The answer to [`ProgramWhatIfRequest`]: every running challenge of the program, the counts
/// first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramWhatIfResponse {
    pub breach: u32,
    pub pass: u32,
    pub change: u32,
    pub unchanged: u32,
    pub decided: u32,
    pub invalid: u32,
    /// Breaches first, then passes, changes, invalid ones, the rest.
    pub challenges: Vec<ProgramWhatIfRow>,
}

/// The answer to [`SaveProgramRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgramSaved {
    pub version: u32,
    /// Running challenges the version was applied to (0 for new challenges only).
    pub applied_to: u32,
    /// When it applies to them.
    pub from: Option<DateTime<Utc>>,
}

/// Where a passed phase stands on its way to the next (issue 24, lifecycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PromotionState {
    /// An admin is to approve or reject it.
    AwaitingApproval,
    /// Approved: the next phase starts on the same account within seconds.
    Approved,
    /// The next phase is on a new account the admin is to connect.
    AwaitingAccount,
    /// The next phase has started.
    Done,
    /// Rejected: the trader stays on the passed phase.
    Rejected,
}

/// A passed phase's promotion, as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionView {
    /// The account that passed, and its name.
    pub account: String,
    pub name: String,
    /// Its owner's username.
    pub owner: Option<String>,
    pub program: String,
    pub program_name: String,
    /// The phase passed and the next.
    pub from_phase: String,
    pub to_phase: String,
    pub passed_at: DateTime<Utc>,
    /// Whether the next phase is on the same account, and whether an admin approves it.
    pub same_account: bool,
    pub approval: bool,
    pub state: PromotionState,
    /// The next phase's account, once it started.
    pub next_account: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// `GET /api/promotions` (admins only): the open promotions first, then the latest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromotionsResponse {
    pub promotions: Vec<PromotionView>,
}

/// `POST /api/accounts/{account}/promotion` (admins only): approve or reject the account's
/// open promotion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromotionDecision {
    /// `approve` or `reject` a promotion awaiting approval; `connect` the next phase's new
    /// account to a promotion awaiting one.
    pub action: String,
    /// Why (kept in the audit log); required to reject.
    #[serde(default)]
    pub reason: Option<String>,
    /// With `connect`: the new account, as `POST /api/accounts` takes it (its program and phase
    /// are the promotion's; its owner by default the passed account's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<CreateAccountRequest>,
}

/// One row of an account import (`POST /api/imports`): [`CreateAccountRequest`] flattened so
/// that a spreadsheet can hold it, every value text (a JSON number is read as its text). The
/// columns of a CSV file have the same names. Which fields a row needs depends on its
/// `connection`: `account` for every kind; `token` (and optionally `base_url`) for `metaapi`;
/// `url`, `client_id`, `client_secret`, `access_token` (and optionally `refresh_token`) for
/// `ctrader`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// Riskdeck's id: a slug of 3 to 64 lowercase letters, digits and `-`, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name, 1 to 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The connection's kind: `demo`, `metaapi` or `ctrader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The broker's id of the account: the demo broker's account, MetaApi's account id or
    /// cTrader's `ctidTraderAccountId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// MetaApi: the API token (write-only: never shown back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// MetaApi: the base URL of the account's region (default: London's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// cTrader: the Open API WebSocket endpoint (`wss://live.ctraderapi.com:5036` or demo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// cTrader: the application's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// cTrader: the application's client secret (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// cTrader: the access token (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// cTrader: the refresh token, if any (write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// A program of the firm (its latest version), instead of a preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The phase (`Phase 1`, ...) of the program or the preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A risk-engine preset, instead of a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The owning trader: a username (any case) or the email address of their notification
    /// settings; empty: only admins see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The challenge's starting capital, e.g. `100000` or `25000.50`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_balance: Option<String>,
    /// The account's currency: three capital letters (e.g. `USD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `streaming` (the default for MetaApi and demo accounts) or `rest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// A competition not started yet (its id) the account enters once created (with a preset,
    /// not a program).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competition: Option<String>,
}

impl ImportRow {
    /// The columns of an import file, in the template's order.
    pub const COLUMNS: [&'static str; 19] = [
        "id",
        "name",
        "connection",
        "account",
        "token",
        "base_url",
        "url",
        "client_id",
        "client_secret",
        "access_token",
        "refresh_token",
        "program",
        "phase",
        "preset",
        "owner",
        "initial_balance",
        "currency",
        "transport",
        "competition",
    ];

    /// The value of a column (by its name in [`ImportRow::COLUMNS`]).
    pub fn get(&self, column: &str) -> Option<&str> {
        self.slot(column).and_then(|slot| slot.as_deref())
    }

    /// Sets a column's value; `false` when there is no such column.
    pub fn set(&mut self, column: &str, value: Option<String>) -> bool {
        match self.slot_mut(column) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    fn slot(&self, column: &str) -> Option<&Option<String>> {
        Some(match column {
            "id" => &self.id,
            "name" => &self.name,
            "connection" => &self.connection,
            "account" => &self.account,
            "token" => &self.token,
            "base_url" => &self.base_url,
            "url" => &self.url,
            "client_id" => &self.client_id,
            "client_secret" => &self.client_secret,
            "access_token" => &self.access_token,
            "refresh_token" => &self.refresh_token,
            "program" => &self.program,
            "phase" => &self.phase,
            "preset" => &self.preset,
            "owner" => &self.owner,
            "initial_balance" => &self.initial_balance,
            "currency" => &self.currency,
            "transport" => &self.transport,
            "competition" => &self.competition,
            _ => return None,
        })
    }

    fn slot_mut(&mut self, column: &str) -> Option<&mut Option<String>> {
        Some(match column {
            "id" => &mut self.id,
            "name" => &mut self.name,
            "connection" => &mut self.connection,
            "account" => &mut self.account,
            "token" => &mut self.token,
            "base_url" => &mut self.base_url,
            "url" => &mut self.url,
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            "access_token" => &mut self.access_token,
            "refresh_token" => &mut self.refresh_token,
            "program" => &mut self.program,
            "phase" => &mut self.phase,
            "preset" => &mut self.preset,
            "owner" => &mut self.owner,
            "initial_balance" => &mut self.initial_balance,
            "currency" => &mut self.currency,
            "transport" => &mut self.transport,
            "competition" => &mut self.competition,
            _ => return None,
        })
    }
}

impl std::fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("ImportRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("connection", &self.connection)
            .field("account", &self.account)
            .field("token", &secret(&self.token))
            .field("base_url", &self.base_url)
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &secret(&self.client_secret))
            .field("access_token", &secret(&self.access_token))
            .field("refresh_token", &secret(&self.refresh_token))
            .field("program", &self.program)
            .field("phase", &self.phase)
            .field("preset", &self.preset)
            .field("owner", &self.owner)
            .field("initial_balance", &self.initial_balance)
            .field("currency", &self.currency)
            .field("transport", &self.transport)
            .finish()
    }
}

/// `POST /api/imports` as JSON: the rows to create (a bare array of rows is read too). The
/// same route reads a CSV file sent as `text/csv`: a header line naming the columns
/// ([`ImportRow::COLUMNS`], in any order, unknown ones refused), then a line per row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The rows, at most 10,000.
    pub rows: Vec<ImportRow>,
}

/// One problem of an import file: which row, which field, what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportProblem {
    /// The row, counted from 1 (the first row after a CSV file's header is row 1).
    pub row: u32,
    /// In a CSV file, the line the row starts on (the header is line 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The row's id, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The column (field) at fault, e.g. `owner`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// `POST /api/imports?dry_run=true`: every row checked, nothing written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// The rows read.
    pub rows: u32,
    /// How many rows have at least one problem.
    pub bad_rows: u32,
    /// Every problem, by row then field order; empty when every row can be created.
    pub problems: Vec<ImportProblem>,
    /// How long the check took, in milliseconds.
    pub checked_ms: u64,
}

/// `POST /api/imports` refused (422): an `ErrorBody` (`error` is `invalid`) naming every bad
/// row and field. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRefused {
    /// `invalid`.
    pub error: String,
    /// A sentence for a person: how many rows have problems, and that nothing was written.
    pub message: String,
    /// The rows read (left out, with the problems, when the body is not an import at all: no
    /// rows, unknown columns).
    #[serde(default)]
    pub rows: u32,
    /// How many rows have at least one problem.
    #[serde(default)]
    pub bad_rows: u32,
    /// Every problem, by row.
    #[serde(default)]
    pub problems: Vec<ImportProblem>,
}

/// A row of an import whose account could not start tracking, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportFailure {
    /// The row, counted from 1.
    pub row: u32,
    /// The account's id.
    pub account: AccountId,
    /// Why it is not tracked (the broker's answer, when it gave one).
    pub reason: String,
}

/// An import's progress: every account was created in one transaction; each is then
/// `connecting` while its tracker starts, `backfilling` while its history is read, and counts
/// as done once `live` or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportJob {
    /// The import's id (`GET /api/imports/{import}`).
    pub id: String,
    /// The admin who imported.
    pub created_by: String,
    /// When the accounts were created.
    pub started_at: DateTime<Utc>,
    /// The rows (accounts created).
    pub total: u32,
    /// Accounts whose tracker is starting.
    pub connecting: u32,
    /// Accounts whose history is being read.
    pub backfilling: u32,
    /// Accounts tracked live (once live, an account counts as done).
    pub live: u32,
    /// Accounts that cannot start, with the reason (a feed that recovers moves to `live`).
    pub failed: Vec<ImportFailure>,
    /// Live or failed.
    pub done: u32,
    /// At the pace so far, how long until every account is done; `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<u64>,
    /// When the last account was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How long checking every row took, in milliseconds.
    pub checked_ms: u64,
    /// How long the one transaction that created every account took, in milliseconds.
    pub written_ms: u64,
    /// How long starting every tracker took, in milliseconds.
    pub launched_ms: u64,
}

/// `GET /api/imports`: the recent imports of this server, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportsResponse {
    /// The imports.
    pub imports: Vec<ImportJob>,
}
