//! `riskdeck export`: everything stored about one account's challenge as one JSON document:
//! peaks, the engine state, every event with its evidence, every rule set version, and the
//! equity history at every stored tier (each tier as far back as it is kept; see
//! docs/OPERATIONS.md). Money stays decimal text, times RFC 3339 UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::api::EquityBucket;
use shared::domain::AccountId;
use shared::peaks::Peaks;
use store::{Store, StoreError, buckets::TIERS};

/// The document's format name; a reader checks it before anything else.
pub const FORMAT: &str = "riskdeck-export/1";

/// Events are read a page at a time.
const EVENT_PAGE: u32 = 1_000;

/// One account's export.
#[derive(Debug, Serialize)]
pub struct Export {
    /// Always [`FORMAT`].
    pub format: &'static str,
    /// The account.
    pub account_id: AccountId,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// Starting capital and peaks, once tracked.
    pub peaks: Option<Peaks>,
    /// The engine state of the account's challenge (as the server persists it), if any.
    pub challenge: Option<serde_json::Value>,
    /// The rule set version the challenge is measured against, once linked.
    pub challenge_rule_set_version: Option<i64>,
    /// Every event, oldest first.
    pub events: Vec<ExportedEvent>,
    /// Every rule set version, oldest first.
    pub rule_sets: Vec<ExportedRuleSet>,
    /// The equity history, finest tier first.
    pub equity: Vec<ExportedTier>,
}

/// One stored event.
#[derive(Debug, Serialize)]
pub struct ExportedEvent {
    /// Database id (storage order).
    pub id: i64,
    /// Event time.
    pub time: DateTime<Utc>,
    /// `warning`, `breach`, `objective_met`, `passed` or `failed`.
    pub kind: String,
    /// The rule, when the event concerns one.
    pub rule: Option<String>,
    /// The whole event with its evidence.
    pub event: serde_json::Value,
}

/// One rule set version.
#[derive(Debug, Serialize)]
pub struct ExportedRuleSet {
    /// 1, 2, 3, ...
    pub version: i64,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
    /// The rules.
    pub rules: serde_json::Value,
    /// Who saved it.
    pub created_by: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// The buckets of one tier.
#[derive(Debug, Serialize)]
pub struct ExportedTier {
    /// The tier's name, e.g. `10s`.
    pub tier: &'static str,
    /// Bucket width in milliseconds.
    pub resolution_ms: i64,
    /// Every bucket kept, oldest first.
    pub buckets: Vec<EquityBucket>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Nothing at all is stored for the account.
    #[error("nothing is stored for account {0:?}: check the id and the database URL")]
    UnknownAccount(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads everything stored about `account`.
pub async fn export(
    store: &dyn Store,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<Export, ExportError> {
    let peaks = store.load_peaks(account).await?;
    let challenge = match store.load_challenge(account).await? {
        Some(state) => Some(
            serde_json::from_str(&state).map_err(|_| StoreError::Corrupt {
                column: "challenge_state.state",
                value: state,
            })?,
        ),
        None => None,
    };
    let challenge_rule_set_version = store.challenge_rule_set_version(account).await?;
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .challenge_event_records(account, after, EVENT_PAGE)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for record in page {
            let body = record.event.body;
            events.push(ExportedEvent {
                id: record.id,
                time: record.event.time,
                kind: record.event.kind,
                rule: record.event.rule,
                event: serde_json::from_str(&body).map_err(|_| StoreError::Corrupt {
                    column: "challenge_events.body",
                    value: body,
                })?,
            });
        }
    }
    let rule_sets = store
        .rule_set_versions(account)
        .await?
        .into_iter()
        .map(|v| ExportedRuleSet {
            version: v.version,
            effective_from: v.effective_from,
            rules: v.rules,
            created_by: v.created_by,
            created_at: v.created_at,
        })
        .collect::<Vec<_>>();
    let mut equity = Vec::with_capacity(TIERS.len());
    for tier in TIERS {
        equity.push(ExportedTier {
            tier: tier.name,
            resolution_ms: tier.resolution_ms,
            buckets: store.equity_tier(account, tier.resolution_ms).await?,
        });
    }
    let nothing = peaks.is_none()
        && challenge.is_none()
        && events.is_empty()
        && rule_sets.is_empty()
        && equity.iter().all(|t| t.buckets.is_empty());
    if nothing {
        return Err(ExportError::UnknownAccount(account.to_string()));
    }
    Ok(Export {
        format: FORMAT,
        account_id: account.clone(),
        exported_at: now,
        peaks,
        challenge,
        challenge_rule_set_version,
        events,
        rule_sets,
        equity,
    })
}
