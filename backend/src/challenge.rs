//! One account's challenge: the risk engine fed from each poll, with what it needs to resume.
//!
//! The engine itself is pure (`shared::engine`); this module decides which records to feed it
//! (new deals, then account information, then positions), keeps the deal window that lets a
//! restart resume without gaps, knows every deal fed over the whole challenge (so a deal the
//! broker files late, found by the tracker's periodic pass over the whole history, is fed once
//! and only once), and turns engine events into stored events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::api::ChallengeView;
use shared::domain::{AccountInfo, Deal, Position};
use shared::engine::{Challenge, Event, EventKind, Record, RecordData};
use shared::programs::ProgramLink;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use store::StoredEvent;

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
    /// Every deal fed over the whole challenge, by a hash of its id. Not saved with the state
    /// (it would grow every save): the store keeps every deal fed in the transaction that
    /// saves the state, and a restore reads their ids back ([`ChallengeRun::remember_fed`]).
    #[serde(skip)]
    fed_ids: HashSet<u64>,
    /// Deals fed since [`ChallengeRun::take_fed_deals`] was last called, for the store's
    /// trade history (not part of the saved state: they are stored with it).
    #[serde(skip)]
    fed: Vec<Deal>,
    /// Deals fed since [`ChallengeRun::take_new_deals`] was last called, for the account's
    /// MetaApi risk trackers (`crate::risk`).
    #[serde(skip)]
    new_deals: Vec<Deal>,
    /// Whether the feed was last recorded stale: saved with the state, so that a restart
    /// neither records a `feed_stale` twice nor misses the `feed_recovered`.
    #[serde(default)]
    feed_stale: bool,
    /// Since when data flows again after the feed was recorded stale (`feed_recovered` is
    /// recorded once it has flowed for the hold).
    #[serde(default)]
    recovering_since: Option<DateTime<Utc>>,
    /// The latest admin commands carried out, by idempotency key, with their results: saved
    /// in the same transaction as the state they changed, so a retry gets the first result
    /// and never applies twice.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    commands: VecDeque<DoneCommand>,
    /// The account's currency as the broker last reported it: with the engine's numbers, what
    /// a restart shows before the first new data arrives.
    #[serde(default)]
    currency: Option<String>,
    /// The program, version and phase it is on (`None`: a preset's challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    program: Option<ProgramLink>,
}

/// The idempotency keys a challenge remembers (the oldest are forgotten first).
pub const REMEMBERED_COMMANDS: usize = 100;

/// An admin command carried out, remembered by its idempotency key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoneCommand {
    /// The key the client sent.
    pub key: String,
    /// What it did (the audit log's action).
    pub action: String,
    /// What the API answered.
    pub result: serde_json::Value,
}

impl ChallengeRun {
    /// A challenge starting now.
    pub fn new(challenge: Challenge, now: DateTime<Utc>) -> Self {
        Self {
            challenge,
            deals_since: now,
            seen_deals: HashMap::new(),
            fed_ids: HashSet::new(),
            fed: Vec::new(),
            new_deals: Vec::new(),
            feed_stale: false,
            recovering_since: None,
            commands: VecDeque::new(),
            currency: None,
            program: None,
        }
    }

    /// Remembers deals fed before (their ids, as the store keeps them), so that they are never
    /// fed again: called when a saved challenge is restored.
    pub fn remember_fed(&mut self, ids: impl IntoIterator<Item = String>) {
        self.fed_ids.extend(ids.into_iter().map(|id| id_hash(&id)));
    }

    /// The next phase of a program on the same account: `challenge` (the next phase's rules,
    /// its initial balance the account's balance now) started at `now`, every deal fed so far
    /// remembered (none is fed to the new phase), its events (the start) returned.
    pub fn next_phase(
        &self,
        mut challenge: Challenge,
        link: ProgramLink,
        now: DateTime<Utc>,
    ) -> (Self, Vec<Event>) {
        let mut events = Vec::new();
        if let Err(error) = challenge.apply(&Record::new(now, RecordData::Tick {}), &mut events) {
            tracing::warn!(%error, "the next phase's start was refused");
        }
        let run = Self {
            challenge,
            deals_since: now,
            seen_deals: self.seen_deals.clone(),
            fed_ids: self.fed_ids.clone(),
            fed: Vec::new(),
            new_deals: Vec::new(),
            feed_stale: self.feed_stale,
            recovering_since: self.recovering_since,
            commands: self.commands.clone(),
            currency: self.currency.clone(),
            program: Some(link),
        };
        (run, events)
    }

    /// Whether the deal with id `id` was fed already.
    pub fn was_fed(&self, id: &str) -> bool {
        self.seen_deals.contains_key(id) || self.fed_ids.contains(&id_hash(id))
    }

    fn mark_fed(&mut self, deal: &Deal) {
        self.seen_deals.insert(deal.id.clone(), deal.time);
        self.fed_ids.insert(id_hash(&deal.id));
    }

    /// Where a pass over the whole challenge's deal history starts: the challenge's first
    /// record (for an onboarded challenge, its funding), less a minute.
    pub fn history_from(&self) -> DateTime<Utc> {
        self.challenge.started().unwrap_or(self.deals_since) - chrono::Duration::minutes(1)
    }

    /// Notes the account's currency (saved with the state).
    pub fn note_currency(&mut self, currency: &str) {
        if self.currency.as_deref() != Some(currency) {
            self.currency = Some(currency.to_owned());
        }
    }

    /// The account's currency as last reported, if known.
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The command carried out earlier under idempotency `key`, if it is remembered.
    pub fn done_command(&self, key: &str) -> Option<&DoneCommand> {
        self.commands.iter().find(|done| done.key == key)
    }

    /// Remembers a command carried out under idempotency `key` (stored with the next save).
    pub fn remember_command(&mut self, key: String, action: &str, result: serde_json::Value) {
        if self.commands.len() == REMEMBERED_COMMANDS {
            self.commands.pop_front();
        }
        self.commands.push_back(DoneCommand {
            key,
            action: action.to_owned(),
            result,
        });
    }

    /// A challenge onboarded mid-way: its deal history (any order, duplicates allowed) is
    /// replayed into the engine at the deals' own times, so trading days, daily closed P/L,
    /// start-of-day and start-of-month balances and the peak balance are what they were.
    ///
    /// The leading balance operations (before the first trade) are the funding of the account:
    /// they are the challenge's initial balance, not deposits, and the challenge starts at the
    /// first of them. Equity between deals is unknown; the engine stands it at the balance (see
    /// `shared::engine`), which keeps equity anchors lenient. Returns the run, the events the
    /// history caused, and what was read, for the log.
    pub fn onboard(
        mut challenge: Challenge,
        mut history: Vec<Deal>,
        now: DateTime<Utc>,
    ) -> (Self, Vec<Event>, Onboarding) {
        history.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        history.dedup_by(|a, b| a.id == b.id);
        let funding_deals = history
            .iter()
            .take_while(|deal| deal.is_balance_operation())
            .count();
        let summary = Onboarding {
            deals: history.len(),
            funding: history[..funding_deals].iter().map(Deal::closed_pl).sum(),
            started: history.first().map_or(now, |deal| deal.time),
        };
        let mut events = Vec::new();
        if history.is_empty() {
            return (Self::new(challenge, now), events, summary);
        }
        let mut records = Vec::with_capacity(history.len() + 1 - funding_deals);
        records.push(Record::new(summary.started, RecordData::Tick {}));
        records.extend(
            history[funding_deals..]
                .iter()
                .map(|deal| Record::new(deal.time, RecordData::Deal(deal.clone()))),
        );
        for record in &records {
            if let Err(error) = challenge.apply(record, &mut events) {
                tracing::warn!(%error, "the risk engine refused a deal of the history");
            }
        }
        let mut run = Self::new(challenge, now);
        // The whole history goes to the trade history, funding included.
        run.fed.clone_from(&history);
        run.remember_fed(history.iter().map(|deal| deal.id.clone()));
        let horizon = run.deals_from() - DEAL_OVERLAP;
        run.seen_deals = history
            .into_iter()
            .filter(|deal| deal.time >= horizon)
            .map(|deal| (deal.id, deal.time))
            .collect();
        (run, events, summary)
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
            deals.retain(|d| !self.was_fed(&d.id));
            deals.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
            deals.dedup_by(|a, b| a.id == b.id);
            for deal in deals {
                self.mark_fed(&deal);
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
        for record in records {
            match self.challenge.apply(&record, &mut events) {
                Ok(()) => {
                    if let RecordData::Deal(deal) = record.data {
                        self.new_deals.push(deal.clone());
                        self.fed.push(deal);
                    }
                }
                Err(error) => tracing::warn!(account, %error, "the risk engine refused a record"),
            }
        }
        events
    }

    /// The deals the engine was fed (and accepted) since the last call, oldest first: what
    /// the next save stores in the trade history.
    pub fn take_fed_deals(&mut self) -> Vec<Deal> {
        std::mem::take(&mut self.fed)
    }

    /// The deals the engine accepted since the last call, oldest first: what the account's
    /// risk trackers fold next.
    pub fn take_new_deals(&mut self) -> Vec<Deal> {
        std::mem::take(&mut self.new_deals)
    }

    /// Feeds records observed at `now` (quotes, specifications between polls); records the
    /// engine refuses are logged and skipped.
    pub fn apply_records(
        &mut self,
        account: &str,
        now: DateTime<Utc>,
        records: Vec<RecordData>,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        for data in records {
            if let Err(error) = self.challenge.apply(&Record::new(now, data), &mut events) {
                tracing::warn!(account, %error, "the risk engine refused a record");
            }
        }
        events
    }

    /// Feeds pushed records in the order sent, each at its own time. A deal an earlier push
    /// delivered (same id) is skipped, so a batch can be sent again safely; pushed deal ids are
    /// kept for the whole challenge. Records the engine refuses are reported, the rest applied.
    pub fn apply_pushed(&mut self, account: &str, records: &[(u32, &Record)]) -> PushOutcome {
        let mut outcome = PushOutcome::default();
        for (line, record) in records {
            if let RecordData::Deal(deal) = &record.data {
                if self.was_fed(&deal.id) {
                    outcome.duplicate_deals += 1;
                    continue;
                }
                self.mark_fed(deal);
            }
            self.deals_since = self.deals_since.max(record.time);
            match self.challenge.apply(record, &mut outcome.events) {
                Ok(()) => {
                    outcome.accepted += 1;
                    outcome.accepted_lines.push(*line);
                    if let RecordData::Deal(deal) = &record.data {
                        self.new_deals.push(deal.clone());
                        self.fed.push(deal.clone());
                    }
                }
                Err(error) => {
                    tracing::warn!(account, line, %error, "the risk engine refused a pushed record");
                    outcome.refused.push((*line, error.to_string()));
                }
            }
        }
        outcome
    }

    /// The symbols of the open positions, each once.
    pub fn open_symbols(&self) -> Vec<String> {
        let mut symbols: Vec<String> = self
            .challenge
            .open_positions()
            .iter()
            .map(|p| p.symbol.clone())
            .collect();
        symbols.sort();
        symbols.dedup();
        symbols
    }

    /// What the dashboard shows of the challenge.
    pub fn view(&self) -> ChallengeView {
        let challenge = &self.challenge;
        let described = shared::engine::presets::describe(challenge.preset());
        let (title, phase) = match &self.program {
            Some(link) => (Some(link.name.clone()), Some(link.phase.clone())),
            None => (
                described.map(|(title, _)| title.to_owned()),
                described.map(|(_, phase)| phase.to_owned()),
            ),
        };
        let clock = challenge.clock();
        ChallengeView {
            preset: challenge.preset().to_owned(),
            status: challenge.status(),
            rules: challenge.rule_reports(),
            next_reset: challenge.next_reset(),
            title,
            phase,
            day: challenge.day_number(),
            reset_clock: Some(format!(
                "{} {}",
                clock.time_zone.name(),
                clock.local_time.format("%H:%M")
            )),
            started: challenge.started(),
            metrics: Some(Box::new(challenge.metrics())),
            events: challenge
                .events()
                .iter()
                .filter(|event| event.kind != EventKind::Warning)
                .map(shared::api::EventView::from)
                .collect(),
            positions: challenge.position_risks(),
            sizing: Some(challenge.sizing()),
            days: challenge.days().to_vec(),
            unexplained_balance: Some(challenge.unexplained_balance()).filter(|b| !b.is_zero()),
            late_deals: challenge.late_deals().to_vec(),
            program: self.program.clone(),
        }
    }

    /// The program, version and phase the challenge is on.
    pub fn program(&self) -> Option<&ProgramLink> {
        self.program.as_ref()
    }

    /// Records the program, version and phase the challenge is on (a new version applied to
    /// it changes the version).
    pub fn set_program(&mut self, link: Option<ProgramLink>) {
        self.program = link;
    }

    /// Corrects one anchor (see [`Challenge::correct_anchor`]); returns the value it replaced.
    pub fn correct_anchor(
        &mut self,
        field: shared::engine::AnchorField,
        value: shared::domain::Money,
    ) -> Result<shared::domain::Money, shared::engine::EngineError> {
        self.challenge.correct_anchor(field, value)
    }

    /// Measures the challenge against new rules from now on (see
    /// [`Challenge::change_rules`]).
    pub fn change_rules(
        &mut self,
        set: &shared::engine::edit::RuleSet,
    ) -> Result<(), shared::engine::EngineError> {
        self.challenge.change_rules(set)
    }

    /// Carries out an admin's override (see [`Challenge::clear_breaches`] and
    /// [`Challenge::unpause`]); returns the ids of the rules it released.
    pub fn override_decision(
        &mut self,
        kind: OverrideKind,
    ) -> Result<Vec<String>, shared::engine::EngineError> {
        match kind {
            OverrideKind::ClearBreach => self.challenge.clear_breaches(),
            OverrideKind::Unpause => self.challenge.unpause(),
        }
    }

    /// The engine state.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// Notes the feed's health at `now`: the event to store when it changed (`feed_stale`
    /// when it went stale, `feed_recovered` when data flows again), with why (`detail`) and
    /// the last data seen, else `None`.
    ///
    /// Debounced for notifications: a stale feed is recorded recovered only once data has
    /// flowed for `hold` without the feed going stale again, so a feed that keeps failing
    /// and answering records one `feed_stale` (the outage is never hidden) and one
    /// `feed_recovered` when it is steady again, not a pair per hiccup.
    pub fn note_feed(
        &mut self,
        stale: bool,
        now: DateTime<Utc>,
        detail: &str,
        last_data: Option<DateTime<Utc>>,
        hold: chrono::Duration,
    ) -> Option<StoredEvent> {
        if stale {
            // Stale again before the recovery held: the recovery starts over.
            self.recovering_since = None;
        } else if self.feed_stale {
            let since = *self.recovering_since.get_or_insert(now);
            if now - since < hold {
                return None;
            }
            self.recovering_since = None;
        }
        if stale == self.feed_stale {
            return None;
        }
        self.feed_stale = stale;
        let kind = if stale {
            "feed_stale"
        } else {
            "feed_recovered"
        };
        let body = serde_json::json!({
            "kind": kind,
            "time": now,
            "detail": detail,
            "last_data": last_data,
        });
        Some(StoredEvent {
            time: now,
            kind: kind.to_owned(),
            rule: None,
            body: body.to_string(),
        })
    }

    /// The `daily_summary` of the newest trading day finished since `days_before` days were
    /// (the others are on the dashboard's calendar), at `at` (the reset that closed it): its
    /// closing balance and equity, its P/L, its lowest equity, the challenge's status and
    /// every rule's room as the new day starts. `None` when no day finished.
    pub fn daily_summary(&self, days_before: usize, at: DateTime<Utc>) -> Option<StoredEvent> {
        let days = self.challenge.days();
        if days.len() <= days_before {
            return None;
        }
        let day = days.last()?;
        let body = serde_json::json!({
            "kind": "daily_summary",
            "time": at,
            "date": day.date,
            "start_balance": day.start_balance,
            "start_equity": day.start_equity,
            "end_balance": day.end_balance,
            "end_equity": day.end_equity,
            "day_pl": day.end_equity.checked_sub(day.start_equity),
            "closed_pl": day.closed_pl,
            "min_equity": day.min_equity,
            "status": self.challenge.status(),
            "rules": self
                .challenge
                .rule_reports()
                .into_iter()
                .map(|report| {
                    let objective = self
                        .challenge
                        .rules()
                        .any(|def| def.id == report.id && def.kind.is_objective());
                    serde_json::json!({
                        "id": report.id,
                        "status": report.status,
                        "remaining": report.remaining,
                        "unit": report.unit,
                        "measured": report.measured,
                        "limit": report.limit,
                        "objective": objective,
                    })
                })
                .collect::<Vec<_>>(),
        });
        Some(StoredEvent {
            time: at,
            kind: "daily_summary".to_owned(),
            rule: None,
            body: body.to_string(),
        })
    }
}

/// A 64-bit hash of a deal id: what [`ChallengeRun`] keeps of every deal fed (8 bytes a deal;
/// a collision among one account's deals is about as likely as one in 10^11 for 5,000 deals).
/// Never stored: a restore hashes the stored ids again.
fn id_hash(id: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// An admin's override of what the engine decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverrideKind {
    /// Clear every breach: the challenge is active again (`breach_cleared`).
    ClearBreach,
    /// End a soft breach's pause before the next reset (`unpaused`).
    Unpause,
}

impl OverrideKind {
    /// The kind of the challenge event that records it (the trader sees it).
    pub fn event_kind(self) -> &'static str {
        match self {
            Self::ClearBreach => "breach_cleared",
            Self::Unpause => "unpaused",
        }
    }

    /// The audit log's action.
    pub fn action(self) -> &'static str {
        match self {
            Self::ClearBreach => "challenge.clear_breach",
            Self::Unpause => "challenge.unpause",
        }
    }
}

/// What feeding a pushed batch did.
#[derive(Debug, Default)]
pub struct PushOutcome {
    /// The engine's events.
    pub events: Vec<Event>,
    /// Records applied.
    pub accepted: u32,
    /// The line numbers of the records applied: only these may move what is shown (peaks,
    /// the chart, the latest numbers).
    pub accepted_lines: Vec<u32>,
    /// Deals skipped because an earlier push delivered them.
    pub duplicate_deals: u32,
    /// Records the engine refused: line number and reason.
    pub refused: Vec<(u32, String)>,
}

/// What an onboarding read from the deal history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Onboarding {
    /// Deals in the history (after removing duplicates).
    pub deals: usize,
    /// The sum of the leading balance operations: the account's funding.
    pub funding: shared::domain::Money,
    /// When the challenge started: the first deal, or now with no history.
    pub started: DateTime<Utc>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use demo::world::World;
    use rust_decimal::Decimal;
    use shared::domain::{DealEntry, DealKind};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("test time")
    }

    fn deal(id: &str, time: &str, kind: DealKind, entry: Option<DealEntry>, profit: i64) -> Deal {
        Deal {
            id: id.into(),
            kind,
            entry,
            symbol: (kind != DealKind::Balance).then(|| "EURUSD".into()),
            time: at(time),
            volume: (kind != DealKind::Balance).then_some(Decimal::ONE),
            price: None,
            profit: Decimal::from(profit),
            commission: Decimal::ZERO,
            swap: Decimal::ZERO,
            position_id: Some(format!("p-{id}")),
            reason: None,
        }
    }

    #[test]
    fn onboarding_replays_history_with_the_funding_as_initial_balance() {
        let challenge =
            Challenge::from_preset("ftmo-2step", Decimal::from(100_000)).expect("preset");
        // Prague midnight is 23:00 UTC in January: three trading days, a loss on the last.
        let history = vec![
            deal(
                "1",
                "2026-01-05T08:00:00Z",
                DealKind::Balance,
                None,
                100_000,
            ),
            deal(
                "2",
                "2026-01-05T09:00:00Z",
                DealKind::Buy,
                Some(DealEntry::In),
                0,
            ),
            deal(
                "3",
                "2026-01-05T10:00:00Z",
                DealKind::Sell,
                Some(DealEntry::Out),
                1_500,
            ),
            deal(
                "4",
                "2026-01-06T09:00:00Z",
                DealKind::Buy,
                Some(DealEntry::In),
                0,
            ),
            deal(
                "5",
                "2026-01-06T10:00:00Z",
                DealKind::Sell,
                Some(DealEntry::Out),
                700,
            ),
            deal(
                "6",
                "2026-01-07T09:00:00Z",
                DealKind::Buy,
                Some(DealEntry::In),
                0,
            ),
            deal(
                "7",
                "2026-01-07T10:00:00Z",
                DealKind::Sell,
                Some(DealEntry::Out),
                -900,
            ),
            // The same deal twice (page edges) counts once.
            deal(
                "7",
                "2026-01-07T10:00:00Z",
                DealKind::Sell,
                Some(DealEntry::Out),
                -900,
            ),
        ];
        let (run, events, summary) =
            ChallengeRun::onboard(challenge, history, at("2026-01-07T12:00:00Z"));
        assert_eq!(summary.deals, 7);
        assert_eq!(summary.funding, Decimal::from(100_000));
        assert_eq!(summary.started, at("2026-01-05T08:00:00Z"));
        assert!(events.is_empty(), "{events:?}");
        let anchors = run.challenge().anchors();
        assert_eq!(anchors.initial_balance, Decimal::from(100_000));
        assert_eq!(
            anchors.net_deposits,
            Decimal::ZERO,
            "the funding is no deposit"
        );
        assert_eq!(anchors.start_of_day_balance, Decimal::from(102_200));
        assert_eq!(anchors.peak_balance, Decimal::from(102_200));
        assert_eq!(anchors.peak_end_of_day_balance, Decimal::from(102_200));
        let metrics = run.challenge().metrics();
        assert_eq!(metrics.trading_days, 3);
        // The deals already fed are not fed again by the next poll's overlapping window.
        assert!(run.deals_from() <= at("2026-01-07T12:00:00Z"));
    }

    #[test]
    fn onboarding_without_history_starts_now() {
        let challenge =
            Challenge::from_preset("ftmo-2step", Decimal::from(100_000)).expect("preset");
        let now = at("2026-01-07T12:00:00Z");
        let (run, events, summary) = ChallengeRun::onboard(challenge, Vec::new(), now);
        assert!(events.is_empty());
        assert_eq!(summary.started, now);
        assert_eq!(run.deals_from(), now - DEAL_OVERLAP);
    }

    /// The same demo history, once watched live poll by poll and once read afterwards as deal
    /// history: every balance anchor agrees to the cent (the backfill's peak balance may be
    /// higher: it sees the peaks between polls).
    #[test]
    fn backfill_reproduces_the_anchors_live_tracking_computed() {
        let start = at("2026-03-02T06:00:00Z");
        let step = std::time::Duration::from_secs(1);
        let clock = demo::world::ScriptClock {
            start,
            unit: chrono::Duration::minutes(1),
        };
        let mut world = World::new(7, start, step, clock);
        let accounts = world.accounts();
        let fresh = |id: &str| {
            let account = accounts.iter().find(|a| a.id == id).expect("account");
            Challenge::from_preset(&account.preset, account.initial_balance).expect("preset")
        };
        let accounts: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        // Live tracking begins with the account's funding, as a tracker's first poll does.
        let mut live: Vec<ChallengeRun> = accounts
            .iter()
            .map(|id| {
                let challenge = fresh(id);
                let funding = world
                    .deals(
                        id,
                        start,
                        start + chrono::Duration::seconds(1),
                        0,
                        usize::MAX,
                    )
                    .expect("deals")
                    .into_iter()
                    .map(Deal::from)
                    .collect();
                let (run, _, summary) = ChallengeRun::onboard(challenge, funding, start);
                assert_eq!(summary.deals, 1, "the funding deal");
                run
            })
            .collect();
        let end = start + chrono::Duration::hours(60);
        let mut now = start;
        while now < end {
            now += chrono::Duration::minutes(5);
            world.advance_to(now);
            for (id, run) in accounts.iter().zip(&mut live) {
                let deals: Vec<Deal> = world
                    .deals(id, run.deals_from(), now, 0, usize::MAX)
                    .expect("deals")
                    .into_iter()
                    .map(Deal::from)
                    .collect();
                let info = AccountInfo::from(world.account_information(id).expect("info"));
                run.apply_poll(id, now, Some(deals), &info, &[]);
            }
        }
        for (id, live) in accounts.iter().zip(&live) {
            let history: Vec<Deal> = world
                .deals(id, start, now + chrono::Duration::minutes(1), 0, usize::MAX)
                .expect("deals")
                .into_iter()
                .map(Deal::from)
                .collect();
            let challenge = fresh(id);
            let (mut backfilled, _, _) = ChallengeRun::onboard(challenge, history, now);
            let info = AccountInfo::from(world.account_information(id).expect("info"));
            backfilled.apply_poll(id, now, None, &info, &[]);
            let (l, b) = (live.challenge().anchors(), backfilled.challenge().anchors());
            assert_eq!(l.initial_balance, b.initial_balance, "{id}");
            assert_eq!(l.net_deposits, b.net_deposits, "{id}");
            assert_eq!(l.start_of_day_balance, b.start_of_day_balance, "{id}");
            assert_eq!(l.start_of_month_balance, b.start_of_month_balance, "{id}");
            // Live polls see the balance only when they poll; the history has every deal, so
            // a peak between two polls is seen by the backfill alone.
            assert!(b.peak_balance >= l.peak_balance, "{id}");
            assert_eq!(l.peak_end_of_day_balance, b.peak_end_of_day_balance, "{id}");
            let (lm, bm) = (live.challenge().metrics(), backfilled.challenge().metrics());
            assert_eq!(lm.trading_days, bm.trading_days, "{id}");
        }
    }

    /// The feed events a run of health observations records: `(seconds, stale)` each.
    #[track_caller]
    fn check_feed(observations: &[(i64, bool)], want: &[&str]) {
        let challenge = Challenge::new(
            shared::engine::preset("ftmo-2step", Decimal::from(100_000)).expect("preset"),
        )
        .expect("challenge");
        let start = at("2026-03-02T08:00:00Z");
        let mut run = ChallengeRun::new(challenge, start);
        let hold = chrono::Duration::seconds(20);
        let recorded: Vec<String> = observations
            .iter()
            .filter_map(|(second, stale)| {
                let now = start + chrono::Duration::seconds(*second);
                run.note_feed(*stale, now, "why", None, hold)
            })
            .map(|event| event.kind)
            .collect();
        assert_eq!(recorded, want, "{observations:?}");
    }

    #[test]
    fn a_flapping_feed_is_recorded_stale_once_and_recovered_once_it_is_steady() {
        // Healthy: nothing.
        check_feed(&[(0, false), (5, false)], &[]);
        // A lasting outage is recorded at once, and once.
        check_feed(&[(0, true), (5, true), (60, true)], &["feed_stale"]);
        // Data flowing again is recorded only after the hold (20 s here).
        check_feed(&[(0, true), (1, false), (10, false)], &["feed_stale"]);
        check_feed(
            &[(0, true), (1, false), (10, false), (21, false), (30, false)],
            &["feed_stale", "feed_recovered"],
        );
        // Stale again within the hold: the recovery starts over, nothing more is recorded.
        let mut flapping = vec![(0, true)];
        for cycle in 0..10 {
            let t = 1 + cycle * 15;
            flapping.extend([(t, false), (t + 5, false), (t + 10, true)]);
        }
        check_feed(&flapping, &["feed_stale"]);
        flapping.extend([(200, false), (215, false), (221, false)]);
        check_feed(&flapping, &["feed_stale", "feed_recovered"]);
        // After a steady recovery, a new outage is recorded again.
        check_feed(
            &[(0, true), (1, false), (30, false), (40, true)],
            &["feed_stale", "feed_recovered", "feed_stale"],
        );
    }

    #[test]
    fn an_idempotency_key_is_remembered_with_its_result_and_the_oldest_are_forgotten() {
        let challenge = Challenge::new(
            shared::engine::preset("ftmo-2step", Decimal::from(100_000)).expect("preset"),
        )
        .expect("challenge");
        let mut run = ChallengeRun::new(challenge, at("2026-03-02T08:00:00Z"));
        run.remember_command(
            "k-0".into(),
            "challenge.clear_breach",
            serde_json::json!({"n": 0}),
        );
        let saved: ChallengeRun =
            serde_json::from_str(&serde_json::to_string(&run).expect("save")).expect("restore");
        let done = saved
            .done_command("k-0")
            .expect("remembered across a restart");
        assert_eq!(
            (done.action.as_str(), &done.result),
            ("challenge.clear_breach", &serde_json::json!({"n": 0}))
        );
        for n in 1..=REMEMBERED_COMMANDS {
            run.remember_command(format!("k-{n}"), "anchor.correct", serde_json::json!(n));
        }
        assert!(run.done_command("k-0").is_none(), "the oldest is forgotten");
        assert!(run.done_command("k-1").is_some());
        assert!(
            run.done_command(&format!("k-{REMEMBERED_COMMANDS}"))
                .is_some()
        );
    }
}
