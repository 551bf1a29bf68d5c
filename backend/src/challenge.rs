//! One account's challenge: the risk engine fed from each poll, with what it needs to resume.
//!
//! The engine itself is pure (`shared::engine`); this module decides which records to feed it
//! (new deals, then account information, then positions), keeps the deal window that lets a
//! restart resume without gaps or double counting, and turns engine events into stored events.

use crate::db::StoredEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::api::ChallengeView;
use shared::domain::{AccountInfo, Deal, Position};
use shared::engine::{Challenge, Event, Record, RecordData};
use std::collections::HashMap;

/// How far back each deal fetch reaches before the previous one, so a deal the broker files
/// late is still seen. Deals already fed are recognised by id.
pub const DEAL_OVERLAP: chrono::Duration = chrono::Duration::minutes(2);

/// A challenge and its ingestion cursor, as persisted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChallengeRun {
    challenge: Challenge,
    /// Deals from here on (less the overlap) are fetched next.
    deals_since: DateTime<Utc>,
    /// Deals already fed, by id, with their time (pruned outside the overlap window).
    seen_deals: HashMap<String, DateTime<Utc>>,
}

impl ChallengeRun {
    /// A challenge starting now.
    pub fn new(challenge: Challenge, now: DateTime<Utc>) -> Self {
        Self {
            challenge,
            deals_since: now,
            seen_deals: HashMap::new(),
        }
    }

    /// Where the next deal fetch starts.
    pub fn deals_from(&self) -> DateTime<Utc> {
        self.deals_since - DEAL_OVERLAP
    }

    /// Feeds one poll's worth of data, in the order that keeps anchors right: deals first,
    /// then the account information that may already include them, then positions.
    /// Records the engine refuses are logged and skipped; tracking goes on.
    pub fn apply_poll(
        &mut self,
        account: &str,
        now: DateTime<Utc>,
        deals: Option<Vec<Deal>>,
        info: &AccountInfo,
        positions: &[Position],
    ) -> Vec<Event> {
        let mut records = Vec::new();
        if let Some(mut deals) = deals {
            deals.retain(|d| !self.seen_deals.contains_key(&d.id));
            deals.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
            for deal in deals {
                self.seen_deals.insert(deal.id.clone(), deal.time);
                records.push(Record::new(now, RecordData::Deal(deal)));
            }
            self.deals_since = now;
            let horizon = self.deals_from() - DEAL_OVERLAP;
            self.seen_deals.retain(|_, time| *time >= horizon);
        }
        records.push(Record::new(
            now,
            RecordData::AccountInformation(info.clone()),
        ));
        records.push(Record::new(now, RecordData::Positions(positions.to_vec())));
        let mut events = Vec::new();
        for record in &records {
            if let Err(error) = self.challenge.apply(record, &mut events) {
                tracing::warn!(account, %error, "the risk engine refused a record");
            }
        }
        events
    }

    /// What the dashboard shows of the challenge.
    pub fn view(&self) -> ChallengeView {
        ChallengeView {
            preset: self.challenge.preset().to_owned(),
            status: self.challenge.status(),
            rules: self.challenge.rule_reports(),
            next_reset: self.challenge.next_reset(),
        }
    }

    /// The engine state.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }
}

/// An engine event as the store keeps it.
pub fn stored(event: &Event) -> StoredEvent {
    let kind = serde_json::to_value(event.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}", event.kind));
    StoredEvent {
        time: event.time,
        kind,
        rule: event.rule.clone(),
        body: serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned()),
    }
}
