//! Competitions ([`crate::Competitions`]): each competition's definition (JSON the store does
//! not read), its window, its entrants with the numbers taken at the start and their
//! disqualifications, the ranks at each day's end, the start carried out once and the final
//! standings kept once. Checking and ranking competitions is `shared::competitions`' work.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::domain::AccountId;

/// A competition as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCompetition {
    /// A slug, unique.
    pub id: String,
    /// `shared::competitions::CompetitionDraft` as JSON.
    pub definition_json: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The public leaderboard's slug, while its public link is on.
    pub public_slug: Option<String>,
    /// Whether the start was carried out (the rules sent to every entrant's challenge).
    pub started: bool,
    /// The final standings (`shared::competitions::LeaderboardRow`s and the
    /// disqualifications, as JSON), once frozen.
    pub final_json: Option<String>,
    pub final_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// One entrant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Entry number (1, 2, ... in entry order, never reused).
    pub entry: u32,
    pub account: AccountId,
    pub entered_at: DateTime<Utc>,
    /// Equity, closed trades and the numbers' time at the start, once seen.
    pub baseline: Option<Baseline>,
    pub disqualification: Option<StoredDisqualification>,
}

/// An entrant's numbers at the start: the first the board saw dated at or after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub equity: Decimal,
    pub trades: u32,
    pub at: DateTime<Utc>,
}

/// Why an entrant was disqualified, with the breach's evidence in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDisqualification {
    pub rule: String,
    pub label: String,
    pub at: DateTime<Utc>,
    pub evidence: String,
    /// The entrant's equity and closed trades (as the challenge counts them) when it was
    /// disqualified: its numbers stay there.
    pub equity: Option<Decimal>,
    pub trades: Option<u32>,
}

/// A notification to record with a competition's step (start, disqualification, final
/// standings): a challenge event of the entrant's account, with its outbox row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompetitionNotice {
    pub account: AccountId,
    pub event: crate::StoredEvent,
}

pub(crate) const COMPETITION_SELECT: &str =
    "SELECT id, definition, start_ms, end_ms, public_slug, started, final_json, final_at_ms,
         created_by, created_at_ms, updated_by, updated_at_ms
     FROM competitions";

pub(crate) type CompetitionRow = (
    String,
    String,
    i64,
    i64,
    Option<String>,
    bool,
    Option<String>,
    Option<i64>,
    String,
    i64,
    String,
    i64,
);

pub(crate) fn competition_from_row(
    row: CompetitionRow,
) -> Result<StoredCompetition, crate::StoreError> {
    let (id, definition_json, start, end, public_slug, started, final_json, final_at) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    Ok(StoredCompetition {
        id,
        definition_json,
        start: crate::time_from_ms(start)?,
        end: crate::time_from_ms(end)?,
        public_slug,
        started,
        final_json,
        final_at: final_at.map(crate::time_from_ms).transpose()?,
        created_by: row.8,
        created_at: crate::time_from_ms(row.9)?,
        updated_by: row.10,
        updated_at: crate::time_from_ms(row.11)?,
    })
}

pub(crate) const ENTRY_SELECT: &str =
    "SELECT entry, account_id, entered_at_ms, baseline_equity, baseline_trades, baseline_at_ms,
         dq_rule, dq_label, dq_at_ms, dq_evidence, dq_equity, dq_trades
     FROM competition_entries";

pub(crate) type EntryRow = (
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn entry_from_row(row: EntryRow) -> Result<StoredEntry, crate::StoreError> {
    let (entry, account, entered, equity, trades, baseline_at) =
        (row.0, row.1, row.2, row.3, row.4, row.5);
    let (rule, label, dq_at, evidence, frozen, frozen_trades) =
        (row.6, row.7, row.8, row.9, row.10, row.11);
    let baseline = match (crate::decimal("baseline_equity", equity)?, baseline_at) {
        (Some(equity), Some(at)) => Some(Baseline {
            equity,
            trades: u32::try_from(trades.unwrap_or(0)).unwrap_or(0),
            at: crate::time_from_ms(at)?,
        }),
        _ => None,
    };
    let disqualification = match (rule, dq_at) {
        (Some(rule), Some(at)) => Some(StoredDisqualification {
            rule,
            label: label.unwrap_or_default(),
            at: crate::time_from_ms(at)?,
            evidence: evidence.unwrap_or_default(),
            equity: crate::decimal("dq_equity", frozen)?,
            trades: frozen_trades.and_then(|t| u32::try_from(t).ok()),
        }),
        _ => None,
    };
    Ok(StoredEntry {
        entry: u32::try_from(entry).map_err(|_| crate::StoreError::Corrupt {
            column: "competition_entries.entry",
            value: entry.to_string(),
        })?,
        account: AccountId(account),
        entered_at: crate::time_from_ms(entered)?,
        baseline,
        disqualification,
    })
}
