//! What MetaApi's risk management API keeps ([`crate::RiskApi`]): API tokens (hashed, scoped to
//! accounts), trackers with their run's statistics, and tracker events numbered across every
//! account. The store keeps the JSON it is given: reading and checking trackers is
//! `shared::trackers`' work, serving them the server's.

use chrono::{DateTime, Utc};
use shared::domain::AccountId;

/// An API token as listed: never its secret (only a SHA-256 of it is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id (shown in the console and the audit trail).
    pub id: String,
    /// What the admin called it.
    pub name: String,
    /// The only accounts it sees.
    pub accounts: Vec<AccountId>,
    /// The admin who created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked token opens nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A tracker as stored: its definition as MetaApi writes it and its run's statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTracker {
    pub id: String,
    pub account: AccountId,
    /// Unique among the account's trackers.
    pub name: String,
    /// The definition (MetaApi's `Tracker` JSON).
    pub spec_json: String,
    pub created_at: DateTime<Utc>,
    /// The run (periods and their statistics), when it has been saved.
    pub state_json: Option<String>,
}

/// What renaming a tracker did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rename {
    Renamed,
    /// Another tracker of the account has the name.
    NameTaken,
    NotFound,
}

/// A tracker event to store: the event as MetaApi writes it, without its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTrackerEvent {
    pub account: AccountId,
    pub tracker_id: String,
    /// When the threshold was exceeded, broker time text (`YYYY-MM-DD HH:MM:SS.SSS`).
    pub broker_time: String,
    /// The event as MetaApi writes it (`TrackerEvent` JSON, no `sequenceNumber`).
    pub body_json: String,
    pub created_at: DateTime<Utc>,
}

/// A stored tracker event with its sequence number (increasing across every account, never
/// reused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerEventRecord {
    pub sequence_number: i64,
    pub event: NewTrackerEvent,
}

/// Which tracker events to read, oldest first (or newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerEventFilter {
    /// Only these accounts (an API token's); `None`: every account.
    pub within: Option<Vec<AccountId>>,
    pub account: Option<AccountId>,
    pub tracker_id: Option<String>,
    /// Broker time bounds, inclusive (text compares as time in this format).
    pub from_broker_time: Option<String>,
    pub to_broker_time: Option<String>,
    /// Only events after this sequence number.
    pub after_sequence: Option<i64>,
    /// At most this many (0: [`MAX_TRACKER_EVENTS`]).
    pub limit: u32,
    /// Newest first (a page of the latest), instead of oldest first.
    pub newest_first: bool,
}

/// The most tracker events one read returns (MetaApi's page limit).
pub const MAX_TRACKER_EVENTS: u32 = 1_000;

/// The columns of an API token, in [`TokenRow`]'s order.
pub(crate) const TOKEN_SELECT: &str = "SELECT id, name, accounts_json, created_by, created_at_ms,
    last_used_at_ms, revoked_at_ms FROM api_tokens";

pub(crate) type TokenRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

pub(crate) fn accounts_json(accounts: &[AccountId]) -> String {
    serde_json::Value::from(
        accounts
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

pub(crate) fn token_from_row(row: TokenRow) -> Result<ApiToken, crate::StoreError> {
    let (id, name, accounts, created_by, created, used, revoked) = row;
    let accounts = serde_json::from_str::<Vec<String>>(&accounts)
        .map_err(|_| crate::StoreError::Corrupt {
            column: "api_tokens.accounts_json",
            value: accounts.clone(),
        })?
        .into_iter()
        .map(AccountId)
        .collect();
    Ok(ApiToken {
        id,
        name,
        accounts,
        created_by,
        created_at: crate::time_from_ms(created)?,
        last_used_at: used.map(crate::time_from_ms).transpose()?,
        revoked_at: revoked.map(crate::time_from_ms).transpose()?,
    })
}

/// The statement reading tracker events for `filter`, with the texts to bind first (in
/// order), then the sequence number to read after and the limit. No statement when the filter
/// can match nothing (no account within reach).
pub(crate) fn events_query(filter: &TrackerEventFilter) -> (Option<String>, Vec<String>, i64, i64) {
    let mut sql = String::from(
        "SELECT sequence_number, account_id, tracker_id, broker_time, body_json, created_at_ms
         FROM risk_tracker_events WHERE 1 = 1",
    );
    let mut texts: Vec<String> = Vec::new();
    let condition = |sql: &mut String, texts: &mut Vec<String>, text: String, op: &str| {
        texts.push(text);
        sql.push_str(&format!(" AND {op} ${}", texts.len()));
    };
    if let Some(within) = &filter.within {
        if within.is_empty() {
            return (None, Vec::new(), 0, 0);
        }
        sql.push_str(" AND account_id IN (");
        for (i, account) in within.iter().enumerate() {
            texts.push(account.as_str().to_owned());
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", texts.len()));
        }
        sql.push(')');
    }
    if let Some(account) = &filter.account {
        condition(
            &mut sql,
            &mut texts,
            account.as_str().to_owned(),
            "account_id =",
        );
    }
    if let Some(tracker) = &filter.tracker_id {
        condition(&mut sql, &mut texts, tracker.clone(), "tracker_id =");
    }
    if let Some(from) = &filter.from_broker_time {
        condition(&mut sql, &mut texts, from.clone(), "broker_time >=");
    }
    if let Some(to) = &filter.to_broker_time {
        condition(&mut sql, &mut texts, to.clone(), "broker_time <=");
    }
    sql.push_str(&format!(
        " AND sequence_number > ${} ORDER BY sequence_number {} LIMIT ${}",
        texts.len() + 1,
        if filter.newest_first { "DESC" } else { "ASC" },
        texts.len() + 2
    ));
    let limit = match filter.limit {
        0 => MAX_TRACKER_EVENTS,
        n => n.min(MAX_TRACKER_EVENTS),
    };
    (
        Some(sql),
        texts,
        filter.after_sequence.unwrap_or(0),
        i64::from(limit),
    )
}
