//! One competition's leaderboard in memory: its entrants' numbers since the start, ranked by
//! `shared::competitions::rank`, published as an [`Arc`]'d [`Snapshot`] through a `watch`
//! channel; every reader renders its own page from the snapshot ([`Snapshot::page`]).
//!
//! What it must not do: IO, or hold its lock across anything but memory work.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::api::{AccountView, UserId};
use shared::competitions::{
    CompetitionDraft, Disqualification, DisqualificationRecord, Entrant, EntrantStatus,
    LeaderboardPage, LeaderboardRow, Stage, Window, anonymous_name, rank,
};
use shared::domain::AccountId;
use shared::engine::{ChallengeStatus, EventKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Who reads a leaderboard: what they may see of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Every row with its account.
    Admin,
    /// Their own rows marked, with their accounts, and pinned when off the page.
    Trader(UserId),
    /// The public link: display names and numbers only.
    Public,
}

/// One ranked row, with what a page needs to decide who sees what.
#[derive(Clone, Debug)]
pub struct Ranked {
    /// The row with its account (taken out for those who may not see it).
    pub row: LeaderboardRow,
    /// The account's owner.
    pub owner: Option<UserId>,
    /// The display name in lower case, for searching.
    key: String,
}

/// A competition's standings at one moment, shared by every reader.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub competition: String,
    pub name: String,
    pub stage: Stage,
    pub window: Window,
    pub time_zone: String,
    pub ranking: String,
    /// Best first.
    pub rows: Vec<Ranked>,
    pub as_of: Option<DateTime<Utc>>,
    pub is_final: bool,
    /// The public link's slug, while it is on.
    pub public_slug: Option<String>,
    /// Every disqualification with its evidence (admins only).
    pub disqualifications: Vec<DisqualificationRecord>,
    /// Each owner's rows (indices into `rows`, best first).
    by_owner: HashMap<UserId, Vec<usize>>,
}

impl Snapshot {
    /// Whether `user` owns an entrant.
    pub fn has_entrant_of(&self, user: UserId) -> bool {
        self.by_owner.contains_key(&user)
    }

    /// How many entrants `user` owns.
    pub fn entrants_of(&self, user: UserId) -> u32 {
        count(self.by_owner.get(&user).map_or(0, Vec::len))
    }

    /// One page as `viewer` may see it: rows whose display name contains `q` (any case), the
    /// viewer's own rows pinned when they are not on it.
    pub fn page(
        &self,
        viewer: Viewer,
        page: u32,
        per_page: u32,
        q: Option<&str>,
    ) -> LeaderboardPage {
        let per_page = per_page.clamp(1, shared::competitions::MAX_PER_PAGE);
        let page = page.max(1);
        let q = q
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        let skip = (page as usize - 1).saturating_mul(per_page as usize);
        let shown = |r: &Ranked| {
            let mut row = r.row.clone();
            let mine = matches!(viewer, Viewer::Trader(user) if r.owner == Some(user));
            row.mine = mine;
            if !(mine || viewer == Viewer::Admin) {
                row.account = None;
            }
            row
        };
        // Without a search the page is a slice: a reader of a large board looks at its own
        // rows only.
        let (matching, rows): (usize, Vec<LeaderboardRow>) = match &q {
            None => (
                self.rows.len(),
                self.rows
                    .iter()
                    .skip(skip)
                    .take(per_page as usize)
                    .map(shown)
                    .collect(),
            ),
            Some(q) => {
                let found: Vec<&Ranked> = self
                    .rows
                    .iter()
                    .filter(|r| r.key.contains(q.as_str()))
                    .collect();
                let rows = found
                    .iter()
                    .skip(skip)
                    .take(per_page as usize)
                    .map(|r| shown(r))
                    .collect();
                (found.len(), rows)
            }
        };
        let pinned = match viewer {
            Viewer::Trader(user) => self
                .by_owner
                .get(&user)
                .into_iter()
                .flatten()
                .filter_map(|&i| self.rows.get(i))
                .filter(|r| !rows.iter().any(|shown| shown.entry == r.row.entry))
                .map(shown)
                .collect(),
            _ => Vec::new(),
        };
        LeaderboardPage {
            competition: self.competition.clone(),
            name: self.name.clone(),
            stage: self.stage,
            window: self.window,
            time_zone: self.time_zone.clone(),
            ranking: self.ranking.clone(),
            entrants: count(self.rows.len()),
            matching: count(matching),
            page,
            per_page,
            rows,
            pinned,
            as_of: self.as_of,
            is_final: self.is_final,
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The final standings as stored: every row with its account and owner, and every
/// disqualification's evidence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalStandings {
    pub as_of: DateTime<Utc>,
    pub rows: Vec<FinalRow>,
    pub disqualifications: Vec<DisqualificationRecord>,
}

/// A row of the final standings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalRow {
    pub row: LeaderboardRow,
    pub owner: Option<UserId>,
}

/// An entrant's numbers as the board keeps them.
#[derive(Clone, Debug)]
pub struct EntrantState {
    pub entry: u32,
    pub account: AccountId,
    pub owner: Option<UserId>,
    pub display_name: String,
    pub currency: Option<String>,
    /// Equity and closed trades at the start.
    pub baseline: Option<(Decimal, u32)>,
    pub equity: Option<Decimal>,
    /// Closed trades as the challenge counts them (all of them, not only since the start).
    pub trades_total: u32,
    pub peak: Option<Decimal>,
    pub max_drawdown_percent: Decimal,
    pub disqualified: Option<(Disqualification, String)>,
}

impl EntrantState {
    fn entrant(&self) -> Entrant {
        let trades = self.baseline.map_or(0, |(_, at_start)| {
            self.trades_total.saturating_sub(at_start)
        });
        Entrant {
            entry: self.entry,
            baseline: self.baseline.map(|(equity, _)| equity),
            equity: self.equity,
            trades,
            max_drawdown_percent: self.max_drawdown_percent,
            disqualified: self.disqualified.as_ref().map(|(why, _)| why.clone()),
        }
    }
}

/// What applying a view found that must be stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// The entrant's first numbers at or after the start.
    Baseline {
        entry: u32,
        equity: Decimal,
        trades: u32,
        at: DateTime<Utc>,
    },
    /// The entrant's challenge failed on a rule at or after the start.
    Disqualified {
        entry: u32,
        account: AccountId,
        why: Disqualification,
        evidence: String,
        /// The equity and closed trades its numbers froze at.
        equity: Decimal,
        trades: u32,
    },
}

/// The mutable part of a board.
#[derive(Debug)]
pub struct BoardState {
    pub draft: CompetitionDraft,
    pub window: Window,
    pub zone: Tz,
    pub public_slug: Option<String>,
    pub entrants: Vec<EntrantState>,
    by_account: HashMap<AccountId, usize>,
    /// Entry number to rank at the end of the last day kept.
    pub previous: Option<HashMap<u32, u32>>,
    /// The local day whose end was kept last (or the day the board was loaded on).
    pub day: Option<NaiveDate>,
    pub dirty: bool,
    pub as_of: Option<DateTime<Utc>>,
    pub final_standings: Option<FinalStandings>,
    /// Entries whose challenge has the competition's rules (as far as this instance knows).
    pub rules_sent: std::collections::HashSet<u32>,
}

/// One competition's live leaderboard.
#[derive(Debug)]
pub struct Board {
    pub id: String,
    state: Mutex<BoardState>,
    tx: watch::Sender<Arc<Snapshot>>,
}

impl Board {
    /// A board for a competition with these entrants (by entry number).
    pub fn new(
        id: String,
        draft: CompetitionDraft,
        window: Window,
        zone: Tz,
        public_slug: Option<String>,
        entrants: Vec<EntrantState>,
    ) -> Self {
        let by_account = entrants
            .iter()
            .enumerate()
            .map(|(i, e)| (e.account.clone(), i))
            .collect();
        let state = BoardState {
            draft,
            window,
            zone,
            public_slug,
            entrants,
            by_account,
            previous: None,
            day: None,
            dirty: true,
            as_of: None,
            final_standings: None,
            rules_sent: std::collections::HashSet::new(),
        };
        let snapshot = snapshot_of(&id, &state, Utc::now());
        Self {
            id,
            state: Mutex::new(state),
            tx: watch::Sender::new(Arc::new(snapshot)),
        }
    }

    /// The board's state, locked (memory work only).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        // A poisoned lock only means a writer panicked mid-update of plain data: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }

    /// Watches the snapshots.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.tx.subscribe()
    }

    /// Ranks again and publishes, when something changed (or `force`).
    pub fn publish(&self, now: DateTime<Utc>, force: bool) {
        let snapshot = {
            let mut state = self.lock();
            if !(state.dirty || force) {
                return;
            }
            state.dirty = false;
            snapshot_of(&self.id, &state, now)
        };
        self.tx.send_replace(Arc::new(snapshot));
    }

    /// Whether the board does not know the account's currency yet.
    pub fn lacks_currency(&self, account: &AccountId) -> bool {
        let state = self.lock();
        state
            .by_account
            .get(account)
            .is_some_and(|&i| state.entrants[i].currency.is_none())
    }

    /// Applies an account's new numbers; what must be stored (a baseline, a
    /// disqualification).
    pub fn apply(
        &self,
        account: &AccountId,
        currency: Option<&str>,
        view: &AccountView,
    ) -> Vec<Found> {
        let mut state = self.lock();
        let Some(&index) = state.by_account.get(account) else {
            return Vec::new();
        };
        let window = state.window;
        if state.final_standings.is_some() || view.time >= window.end {
            return Vec::new();
        }
        let mut found = Vec::new();
        let entrant = &mut state.entrants[index];
        if entrant.currency.is_none() {
            entrant.currency = currency.map(str::to_owned);
        }
        if view.time < window.start || entrant.disqualified.is_some() {
            return found;
        }
        let trades = view
            .challenge
            .as_ref()
            .and_then(|c| c.metrics.as_ref())
            .map_or(0, |m| m.trades);
        if entrant.baseline.is_none() {
            entrant.baseline = Some((view.equity, trades));
            entrant.peak = Some(view.equity);
            found.push(Found::Baseline {
                entry: entrant.entry,
                equity: view.equity,
                trades,
                at: view.time,
            });
        }
        entrant.equity = Some(view.equity);
        entrant.trades_total = trades;
        let peak = entrant.peak.map_or(view.equity, |p| p.max(view.equity));
        entrant.peak = Some(peak);
        if peak > Decimal::ZERO {
            let drawdown = (peak - view.equity) * Decimal::ONE_HUNDRED / peak;
            entrant.max_drawdown_percent = entrant.max_drawdown_percent.max(drawdown);
        }
        if let Some((why, evidence)) = disqualification(view, window.start) {
            entrant.disqualified = Some((why.clone(), evidence.clone()));
            found.push(Found::Disqualified {
                entry: entrant.entry,
                account: account.clone(),
                why,
                evidence,
                equity: view.equity,
                trades,
            });
        }
        state.dirty = true;
        state.as_of = Some(state.as_of.map_or(view.time, |t| t.max(view.time)));
        found
    }
}

/// Why the challenge on `view` counts as disqualified: it failed, on a breach (or a failure)
/// dated at or after `start`; with the breach's evidence in words.
pub fn disqualification(
    view: &AccountView,
    start: DateTime<Utc>,
) -> Option<(Disqualification, String)> {
    let challenge = view.challenge.as_ref()?;
    if challenge.status != ChallengeStatus::Failed {
        return None;
    }
    let decisive = challenge
        .events
        .iter()
        .filter(|e| e.time >= start)
        .find(|e| e.kind == EventKind::Breach)
        .or_else(|| {
            challenge
                .events
                .iter()
                .find(|e| e.time >= start && e.kind == EventKind::Failed)
        })?;
    let rule = decisive.rule.clone().unwrap_or_else(|| "failed".to_owned());
    let kind = challenge
        .rules
        .iter()
        .find(|r| r.id == rule)
        .map_or(rule.as_str(), |r| r.kind.as_str());
    let label = rule_label(kind);
    let mut evidence = format!("{label} ({rule}) broken at {}", decisive.time.to_rfc3339());
    if let (Some(measured), Some(limit)) = (decisive.measured, decisive.limit) {
        evidence.push_str(&format!(
            ": measured {} against the limit {}{}",
            measured.normalize(),
            limit.normalize(),
            if decisive.estimated {
                " (equity estimated from quotes)"
            } else {
                ""
            }
        ));
    }
    if !decisive.open_positions.is_empty() {
        evidence.push_str(&format!(
            "; {} open position{}",
            decisive.open_positions.len(),
            if decisive.open_positions.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    Some((
        Disqualification {
            rule,
            label,
            at: decisive.time,
        },
        evidence,
    ))
}

/// A rule's kind in words.
fn rule_label(kind: &str) -> String {
    match kind {
        "daily_loss" => "Maximum daily loss".to_owned(),
        "max_loss" => "Maximum loss".to_owned(),
        "monthly_loss" => "Maximum monthly loss".to_owned(),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    }
}

/// The ranks now, entry number to rank.
pub fn ranks(state: &BoardState) -> HashMap<u32, u32> {
    let entrants: Vec<Entrant> = state.entrants.iter().map(EntrantState::entrant).collect();
    rank(&entrants, &state.draft.ranking)
        .into_iter()
        .enumerate()
        .map(|(place, i)| (entrants[i].entry, count(place + 1)))
        .collect()
}

/// Ranks the entrants (or reads the final standings) into a snapshot.
pub fn snapshot_of(id: &str, state: &BoardState, now: DateTime<Utc>) -> Snapshot {
    let (rows, disqualifications, is_final, as_of) = match &state.final_standings {
        Some(standings) => (
            standings
                .rows
                .iter()
                .map(|r| Ranked {
                    key: r.row.display_name.to_lowercase(),
                    row: r.row.clone(),
                    owner: r.owner,
                })
                .collect(),
            standings.disqualifications.clone(),
            true,
            Some(standings.as_of),
        ),
        None => {
            let (rows, disqualifications) = standings_of(state);
            (rows, disqualifications, false, state.as_of)
        }
    };
    let mut by_owner: HashMap<UserId, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(owner) = row.owner {
            by_owner.entry(owner).or_default().push(i);
        }
    }
    Snapshot {
        competition: id.to_owned(),
        name: state.draft.name.clone(),
        stage: state.window.stage(now),
        window: state.window,
        time_zone: state.draft.time_zone.clone(),
        ranking: state.draft.ranking.describe(),
        rows,
        as_of,
        is_final,
        public_slug: state.public_slug.clone(),
        disqualifications,
        by_owner,
    }
}

/// The live standings: ranked rows and the disqualifications.
pub fn standings_of(state: &BoardState) -> (Vec<Ranked>, Vec<DisqualificationRecord>) {
    let entrants: Vec<Entrant> = state.entrants.iter().map(EntrantState::entrant).collect();
    let order = rank(&entrants, &state.draft.ranking);
    let rows = order
        .iter()
        .enumerate()
        .map(|(place, &i)| {
            let (numbers, kept) = (&entrants[i], &state.entrants[i]);
            let rank = count(place + 1);
            let status = match &numbers.disqualified {
                Some(why) => EntrantStatus::Disqualified { why: why.clone() },
                None => EntrantStatus::Active,
            };
            let movement = state.previous.as_ref().and_then(|previous| {
                previous
                    .get(&numbers.entry)
                    .map(|before| i64::from(*before) - i64::from(rank))
                    .and_then(|moved| i32::try_from(moved).ok())
            });
            Ranked {
                key: kept.display_name.to_lowercase(),
                owner: kept.owner,
                row: LeaderboardRow {
                    rank,
                    entry: numbers.entry,
                    display_name: kept.display_name.clone(),
                    return_percent: numbers.return_percent(),
                    profit: numbers.profit(),
                    currency: kept.currency.clone(),
                    trades: numbers.trades,
                    status,
                    movement,
                    mine: false,
                    account: Some(kept.account.clone()),
                },
            }
        })
        .collect();
    let disqualifications = state
        .entrants
        .iter()
        .filter_map(|e| {
            e.disqualified
                .as_ref()
                .map(|(why, evidence)| DisqualificationRecord {
                    entry: e.entry,
                    account: e.account.clone(),
                    why: why.clone(),
                    evidence: evidence.clone(),
                })
        })
        .collect();
    (rows, disqualifications)
}

/// The name a board shows for an entrant: the owner's chosen one, else `Entrant N`.
pub fn shown_name(entry: u32, chosen: Option<&String>) -> String {
    chosen.cloned().unwrap_or_else(|| anonymous_name(entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::competitions::Ranking;

    fn entrant(entry: u32, owner: i64, name: Option<&str>) -> EntrantState {
        EntrantState {
            entry,
            account: AccountId(format!("acc-{entry}")),
            owner: Some(UserId(owner)),
            display_name: shown_name(entry, name.map(str::to_owned).as_ref()),
            currency: Some("USD".into()),
            baseline: Some((Decimal::from(1_000), 0)),
            equity: Some(Decimal::from(1_000 + i64::from(entry))),
            trades_total: 0,
            peak: None,
            max_drawdown_percent: Decimal::ZERO,
            disqualified: None,
        }
    }

    fn board(n: u32) -> Board {
        let draft: CompetitionDraft = serde_json::from_value(serde_json::json!({
            "name": "Cup", "time_zone": "UTC", "start": "2027-01-01T00:00:00",
            "end": "2027-02-01T00:00:00",
            "rules": {"time_zone": "UTC", "reset_time": "00:00", "rules": []}
        }))
        .expect("draft");
        let window = Window {
            start: "2027-01-01T00:00:00Z".parse().expect("start"),
            end: "2027-02-01T00:00:00Z".parse().expect("end"),
        };
        assert_eq!(draft.ranking, Ranking::default());
        let entrants = (1..=n)
            .map(|e| entrant(e, i64::from(e % 3), (e == 2).then_some("Zed")))
            .collect();
        Board::new("cup".into(), draft, window, Tz::UTC, None, entrants)
    }

    #[test]
    fn a_trader_sees_their_rows_marked_and_pinned_and_no_one_elses_account() {
        let board = board(10);
        board.publish(Utc::now(), true);
        let snapshot = board.snapshot();
        // Entry 10 has the best return; user 1 owns entries 1, 4, 7 and 10.
        let page = snapshot.page(Viewer::Trader(UserId(1)), 2, 3, None);
        assert_eq!(
            page.rows.iter().map(|r| r.entry).collect::<Vec<_>>(),
            [7, 6, 5]
        );
        assert!(page.rows[0].mine && page.rows[0].account.is_some());
        assert!(!page.rows[1].mine && page.rows[1].account.is_none());
        assert_eq!(
            page.pinned.iter().map(|r| r.entry).collect::<Vec<_>>(),
            [10, 4, 1]
        );
        let public = snapshot.page(Viewer::Public, 1, 100, Some("zED"));
        assert_eq!(public.matching, 1);
        assert_eq!(public.rows[0].display_name, "Zed");
        assert!(public.rows[0].account.is_none() && public.pinned.is_empty());
        let admin = snapshot.page(Viewer::Admin, 1, 100, Some("entrant 1"));
        assert_eq!(
            admin.rows.iter().map(|r| r.entry).collect::<Vec<_>>(),
            [10, 1]
        );
        assert!(admin.rows.iter().all(|r| r.account.is_some()));
    }

    #[test]
    fn movement_counts_places_gained_since_the_last_day() {
        let board = board(3);
        board.lock().previous = Some(HashMap::from([(3, 3), (2, 1), (1, 2)]));
        board.publish(Utc::now(), true);
        let rows = board.snapshot().page(Viewer::Admin, 1, 10, None).rows;
        assert_eq!(
            rows.iter()
                .map(|r| (r.entry, r.movement))
                .collect::<Vec<_>>(),
            [(3, Some(2)), (2, Some(-1)), (1, Some(-1))]
        );
    }

    #[test]
    fn final_standings_read_back_as_they_were_written() {
        let board = board(3);
        {
            let mut state = board.lock();
            state.entrants[0].disqualified = Some((
                Disqualification {
                    rule: "daily_loss".into(),
                    label: "Maximum daily loss".into(),
                    at: "2027-01-02T10:00:00Z".parse().expect("at"),
                },
                "measured 94385 against the limit 95000".into(),
            ));
        }
        let (rows, disqualifications) = standings_of(&board.lock());
        let standings = FinalStandings {
            as_of: Utc::now(),
            rows: rows
                .into_iter()
                .map(|r| FinalRow {
                    row: r.row,
                    owner: r.owner,
                })
                .collect(),
            disqualifications,
        };
        let text = serde_json::to_string(&standings).expect("json");
        let back: FinalStandings = serde_json::from_str(&text).expect("read back");
        assert_eq!(
            back.rows.iter().map(|r| &r.row).collect::<Vec<_>>(),
            standings.rows.iter().map(|r| &r.row).collect::<Vec<_>>()
        );
        assert_eq!(back.disqualifications, standings.disqualifications);
        assert!(matches!(
            back.rows[2].row.status,
            EntrantStatus::Disqualified { .. }
        ));
    }
}
