//! Competitions (issue 25): many accounts on the same rules over the same window, ranked live.
//!
//! [`Competitions`] keeps a [`Board`] per competition in memory, loaded at start-up and when an
//! admin changes one. One task ([`Competitions::run`]) feeds the boards from the hub's account
//! views (an account on a board: its numbers since the start; a failure on a rule at or after
//! the start: disqualified, its numbers frozen), re-ranks changed boards at most every
//! [`COALESCE`], and walks each competition through its timeline:
//! - at the start (once, whatever instances: a compare-and-swap in the store) the entrants'
//!   owners hear of it, and every entrant's challenge takes the competition's rules from the
//!   start through its tracker's rule change (once per challenge: a version the competition
//!   stored is never sent again; one not reached yet is tried again at the next step, by
//!   every instance, so the instance holding the account's tracker delivers it);
//! - at each local midnight in the competition's time zone the ranks are kept (movement);
//! - at the end the standings are frozen and stored once with every disqualification's
//!   evidence, and the owners hear the final standings; after that every read serves them.
//!
//! What it must not do: hold a board's lock across IO (boards are memory only).

mod board;

pub use board::{Board, FinalRow, FinalStandings, Snapshot, Viewer};

use crate::hub::{Hub, Start};
use crate::tracker::{CommandError, Commands, RuleChangeRequest};
use board::{EntrantState, Found};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::api::{StreamEvent, UserId};
use shared::competitions::CompetitionDraft;
use shared::domain::AccountId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use store::{
    Baseline, CompetitionNotice, Store, StoredCompetition, StoredDisqualification, StoredEvent,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Changed boards are re-ranked at most this often.
pub const COALESCE: Duration = Duration::from_millis(50);
/// How often the timeline (start, day ends, end) is looked at.
const TIMELINE: Duration = Duration::from_millis(250);
/// How long a public page's JSON is served from the cache.
const PUBLIC_CACHE: Duration = Duration::from_secs(1);
/// Public requests one address may make at once, and how many more it may make per second.
const PUBLIC_BURST: f64 = 30.0;
const PUBLIC_PER_SECOND: f64 = 10.0;

/// The notification kinds competitions record (`notify::KINDS` names them too).
pub const STARTED: &str = "competition_started";
pub const DISQUALIFIED: &str = "competition_disqualified";
pub const FINAL: &str = "competition_final";

/// Every competition's board, and the public link's cache and rate limit.
pub struct Competitions {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    trackers: Arc<Commands>,
    boards: RwLock<HashMap<String, Arc<Board>>>,
    /// Which boards each account is on.
    index: RwLock<HashMap<AccountId, Vec<Arc<Board>>>>,
    /// Timeline steps under way (a slow tracker must not start a step twice).
    busy: Mutex<std::collections::HashSet<String>>,
    public: Mutex<PublicState>,
}

#[derive(Default)]
struct PublicState {
    /// (slug, page, search) to when it was made and its JSON.
    cache: HashMap<(String, u32, String), (Instant, Arc<str>)>,
    /// Each address's tokens and when they were counted.
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl std::fmt::Debug for Competitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Competitions").finish_non_exhaustive()
    }
}

/// Why a competition's stored definition cannot be used.
fn unreadable(id: &str, error: impl std::fmt::Display) -> store::StoreError {
    store::StoreError::Corrupt {
        column: "competitions.definition",
        value: format!("{id}: {error}"),
    }
}

/// A stored competition's definition, window and time zone.
pub fn definition(
    stored: &StoredCompetition,
) -> Result<(CompetitionDraft, shared::competitions::Window, Tz), store::StoreError> {
    let draft: CompetitionDraft =
        serde_json::from_str(&stored.definition_json).map_err(|e| unreadable(&stored.id, e))?;
    let zone = draft
        .time_zone
        .trim()
        .parse::<Tz>()
        .map_err(|e| unreadable(&stored.id, e))?;
    let window = shared::competitions::Window {
        start: stored.start,
        end: stored.end,
    };
    Ok((draft, window, zone))
}

impl Competitions {
    /// Every stored competition's board, fed with the hub's latest numbers.
    pub async fn load(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        trackers: Arc<Commands>,
    ) -> Result<Arc<Self>, store::StoreError> {
        let competitions = Arc::new(Self {
            store: store.clone(),
            hub,
            trackers,
            boards: RwLock::new(HashMap::new()),
            index: RwLock::new(HashMap::new()),
            busy: Mutex::new(std::collections::HashSet::new()),
            public: Mutex::new(PublicState::default()),
        });
        for stored in store.competitions().await? {
            if let Err(error) = competitions.reload(&stored.id).await {
                tracing::error!(competition = %stored.id, %error, "cannot load a competition");
            }
        }
        Ok(competitions)
    }

    /// One competition's board.
    pub fn board(&self, id: &str) -> Option<Arc<Board>> {
        self.boards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Every board.
    pub fn boards(&self) -> Vec<Arc<Board>> {
        self.boards
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The board whose public link has this slug, while it is on.
    pub fn public_board(&self, slug: &str) -> Option<Arc<Board>> {
        self.boards()
            .into_iter()
            .find(|b| b.snapshot().public_slug.as_deref() == Some(slug))
    }

    /// (Re)builds a competition's board from the store (after it was created or changed, or
    /// at start-up); the numbers kept on the old board carry over.
    pub async fn reload(&self, id: &str) -> Result<(), store::StoreError> {
        let Some(stored) = self.store.competition(id).await? else {
            return Ok(());
        };
        let (draft, window, zone) = definition(&stored)?;
        let entries = self.store.competition_entries(id).await?;
        let owners: HashMap<AccountId, Option<UserId>> = self
            .store
            .accounts()
            .await?
            .into_iter()
            .map(|a| (a.id, a.owner))
            .collect();
        let names: HashMap<UserId, String> =
            self.store.display_names().await?.into_iter().collect();
        let old = self.board(id);
        let entrants = entries
            .into_iter()
            .map(|e| {
                let owner = owners.get(&e.account).copied().flatten();
                let kept = old.as_ref().and_then(|b| {
                    b.lock()
                        .entrants
                        .iter()
                        .find(|k| k.account == e.account)
                        .cloned()
                });
                let mut state = kept.unwrap_or(EntrantState {
                    entry: e.entry,
                    account: e.account.clone(),
                    owner,
                    display_name: String::new(),
                    currency: None,
                    baseline: None,
                    equity: None,
                    trades_total: 0,
                    peak: None,
                    max_drawdown_percent: rust_decimal::Decimal::ZERO,
                    disqualified: None,
                });
                state.entry = e.entry;
                state.owner = owner;
                state.display_name = board::shown_name(e.entry, owner.and_then(|o| names.get(&o)));
                state.baseline = e.baseline.map(|b| (b.equity, b.trades));
                if let Some(d) = e.disqualification {
                    // Its numbers stay where they froze.
                    if let Some(equity) = d.equity {
                        state.equity = Some(equity);
                    }
                    if let Some(trades) = d.trades {
                        state.trades_total = trades;
                    }
                    state.disqualified = Some((
                        shared::competitions::Disqualification {
                            rule: d.rule,
                            label: d.label,
                            at: d.at,
                        },
                        d.evidence,
                    ));
                }
                state
            })
            .collect();
        let board = Arc::new(Board::new(
            id.to_owned(),
            draft,
            window,
            zone,
            stored.public_slug.clone(),
            entrants,
        ));
        let day_ranks = self.store.latest_day_ranks(id).await?;
        let rules_sent = old
            .as_ref()
            .map(|b| b.lock().rules_sent.clone())
            .unwrap_or_default();
        let standings = match &stored.final_json {
            Some(text) => {
                Some(serde_json::from_str::<FinalStandings>(text).map_err(|e| unreadable(id, e))?)
            }
            None => None,
        };
        {
            let mut state = board.lock();
            state.final_standings = standings;
            state.rules_sent = rules_sent;
            if let Some((day, ranks)) = day_ranks {
                state.day = day.parse().ok();
                state.previous = serde_json::from_str(&ranks).ok();
            }
        }
        // The numbers the hub has now (a restart, or an entrant just added).
        if old.is_none() {
            for summary in self.hub.summaries() {
                if let Some(view) = &summary.latest {
                    let found = board.apply(&summary.id, summary.currency.as_deref(), view);
                    self.store_found(&board, found).await;
                }
            }
        }
        board.publish(Utc::now(), true);
        let mut boards = self.boards.write().unwrap_or_else(|e| e.into_inner());
        boards.insert(id.to_owned(), board);
        let mut index: HashMap<AccountId, Vec<Arc<Board>>> = HashMap::new();
        for board in boards.values() {
            for entrant in &board.lock().entrants {
                index
                    .entry(entrant.account.clone())
                    .or_default()
                    .push(board.clone());
            }
        }
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        Ok(())
    }

    /// A user chose (or cleared) their display name: every board shows it from now on.
    pub fn rename(&self, user: UserId, name: Option<&str>) {
        for board in self.boards() {
            let mut state = board.lock();
            if state.final_standings.is_some() {
                continue;
            }
            let mut changed = false;
            for entrant in state.entrants.iter_mut().filter(|e| e.owner == Some(user)) {
                entrant.display_name =
                    board::shown_name(entrant.entry, name.map(str::to_owned).as_ref());
                changed = true;
            }
            state.dirty |= changed;
        }
    }

    /// Feeds the boards and walks the timelines until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let attached = self.hub.attach(None);
        let mut rx = attached.rx;
        if let Start::Snapshot { accounts, .. } = attached.start {
            for summary in accounts {
                if let Some(view) = &summary.latest {
                    self.apply(&summary.id, summary.currency.as_deref(), view);
                }
            }
        }
        let mut owners = self.hub.watch_owners();
        let mut coalesce = tokio::time::interval(COALESCE);
        coalesce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut timeline = tokio::time::interval(TIMELINE);
        timeline.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = rx.recv() => match received {
                    Ok(message) => {
                        if let StreamEvent::Account { account_id, view, .. } = &message.event
                            && self.is_entrant(account_id)
                        {
                            // The currency is read from the hub once per entrant (a summary
                            // is a copy of the whole view).
                            let currency = self
                                .needs_currency(account_id)
                                .then(|| self.hub.summary(account_id).and_then(|s| s.currency))
                                .flatten();
                            self.apply(account_id, currency.as_deref(), view);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        for summary in self.hub.summaries() {
                            if let Some(view) = &summary.latest {
                                self.apply(&summary.id, summary.currency.as_deref(), view);
                            }
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = coalesce.tick() => {
                    let now = Utc::now();
                    for board in self.boards() {
                        board.publish(now, false);
                    }
                }
                _ = timeline.tick() => self.timeline(Utc::now()),
                changed = owners.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let me = self.clone();
                    tokio::spawn(async move {
                        for board in me.boards() {
                            if let Err(error) = me.reload(&board.id).await {
                                tracing::error!(competition = %board.id, %error, "cannot reload a competition");
                            }
                        }
                    });
                }
            }
        }
    }

    /// Whether the account is on a board.
    fn is_entrant(&self, account: &AccountId) -> bool {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(account)
    }

    /// Whether a board still lacks the account's currency.
    fn needs_currency(&self, account: &AccountId) -> bool {
        let boards = self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned()
            .unwrap_or_default();
        boards.iter().any(|board| board.lacks_currency(account))
    }

    /// Applies an account's numbers to its boards; what they found is stored in the
    /// background.
    fn apply(
        self: &Arc<Self>,
        account: &AccountId,
        currency: Option<&str>,
        view: &shared::api::AccountView,
    ) {
        let boards = self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned()
            .unwrap_or_default();
        for board in boards {
            let found = board.apply(account, currency, view);
            if !found.is_empty() {
                let me = self.clone();
                tokio::spawn(async move { me.store_found(&board, found).await });
            }
        }
    }

    /// Stores baselines and disqualifications (each once: the store keeps the first).
    async fn store_found(&self, board: &Board, found: Vec<Found>) {
        for found in found {
            let result = match found {
                Found::Baseline {
                    entry,
                    equity,
                    trades,
                    at,
                } => {
                    let baseline = Baseline { equity, trades, at };
                    match self
                        .store
                        .set_entry_baseline(&board.id, entry, &baseline)
                        .await
                    {
                        // Another instance kept its own first numbers: use them.
                        Ok(false) => self.adopt_baseline(board, entry).await,
                        other => other.map(drop),
                    }
                }
                Found::Disqualified {
                    entry,
                    account,
                    why,
                    evidence,
                    equity,
                    trades,
                } => {
                    let name = board.lock().draft.name.clone();
                    let body = serde_json::json!({
                        "kind": DISQUALIFIED,
                        "competition": board.id,
                        "name": name,
                        "entry": entry,
                        "rule": why.rule,
                        "label": why.label,
                        "evidence": evidence,
                    });
                    let notice = CompetitionNotice {
                        account,
                        event: StoredEvent {
                            time: why.at,
                            kind: DISQUALIFIED.to_owned(),
                            rule: Some(why.rule.clone()),
                            body: body.to_string(),
                        },
                    };
                    let stored = StoredDisqualification {
                        rule: why.rule,
                        label: why.label,
                        at: why.at,
                        evidence,
                        equity: Some(equity),
                        trades: Some(trades),
                    };
                    self.store
                        .disqualify_entry(&board.id, entry, &stored, &[notice])
                        .await
                        .map(|recorded| {
                            if recorded {
                                tracing::info!(competition = %board.id, entry, rule = %stored.rule, "entrant disqualified");
                            }
                        })
                }
            };
            if let Err(error) = result {
                tracing::error!(competition = %board.id, %error, "cannot store a competition's numbers");
            }
        }
    }

    async fn adopt_baseline(&self, board: &Board, entry: u32) -> Result<(), store::StoreError> {
        let stored = self.store.competition_entries(&board.id).await?;
        if let Some(baseline) = stored
            .into_iter()
            .find(|e| e.entry == entry)
            .and_then(|e| e.baseline)
        {
            let mut state = board.lock();
            if let Some(kept) = state.entrants.iter_mut().find(|e| e.entry == entry) {
                kept.baseline = Some((baseline.equity, baseline.trades));
            }
            state.dirty = true;
        }
        Ok(())
    }

    /// Starts the due steps of each running or ended competition's timeline (in the
    /// background, one at a time per competition).
    fn timeline(self: &Arc<Self>, now: DateTime<Utc>) {
        for board in self.boards() {
            let snapshot = board.snapshot();
            let stage = snapshot.window.stage(now);
            if stage != snapshot.stage {
                board.publish(now, true);
            }
            if snapshot.is_final || stage == shared::competitions::Stage::Upcoming {
                continue;
            }
            let id = board.id.clone();
            if !self
                .busy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone())
            {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(error) = me.step(&board, now).await {
                    tracing::error!(competition = %board.id, %error, "a competition's step failed; trying again");
                }
                me.busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
        }
    }

    /// The due steps of one competition: its start, a day's end, its end.
    async fn step(&self, board: &Arc<Board>, now: DateTime<Utc>) -> Result<(), store::StoreError> {
        let Some(stored) = self.store.competition(&board.id).await? else {
            return Ok(());
        };
        if !stored.started {
            self.start(board, &stored).await?;
        }
        if now < stored.end {
            self.send_rules(board, &stored).await;
        }
        // A day ended in the competition's time zone (while it runs): keep its ranks.
        let ended = {
            let mut state = board.lock();
            let today = now.with_timezone(&state.zone).date_naive();
            match state.day {
                None => {
                    state.day = Some(today);
                    None
                }
                Some(day) if day < today && now < state.window.end => {
                    let ranks = board::ranks(&state);
                    state.previous = Some(ranks.clone());
                    state.day = Some(today);
                    state.dirty = true;
                    Some((day, ranks))
                }
                Some(_) => None,
            }
        };
        if let Some((day, ranks)) = ended {
            let text = serde_json::to_string(&ranks).unwrap_or_default();
            if !self
                .store
                .save_day_ranks(&board.id, &day.to_string(), &text)
                .await?
                && let Some((_, kept)) = self.store.latest_day_ranks(&board.id).await?
            {
                // Another instance kept that day's ranks first: show the same movement.
                board.lock().previous = serde_json::from_str(&kept).ok();
            }
        }
        if now >= stored.end && stored.final_json.is_none() {
            self.finish(board, now).await?;
        } else if stored.final_json.is_some() {
            self.reload(&board.id).await?;
        }
        Ok(())
    }

    /// Marks the start once, with the owners' notices (the rules go out in
    /// [`Self::send_rules`]).
    async fn start(
        &self,
        board: &Board,
        stored: &StoredCompetition,
    ) -> Result<(), store::StoreError> {
        let (draft, entrants) = {
            let state = board.lock();
            (
                state.draft.clone(),
                state
                    .entrants
                    .iter()
                    .map(|e| (e.entry, e.account.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        let notices: Vec<CompetitionNotice> = entrants
            .iter()
            .map(|(entry, account)| CompetitionNotice {
                account: account.clone(),
                event: StoredEvent {
                    time: stored.start,
                    kind: STARTED.to_owned(),
                    rule: None,
                    body: serde_json::json!({
                        "kind": STARTED,
                        "competition": stored.id,
                        "name": draft.name,
                        "entry": entry,
                        "entrants": entrants.len(),
                        "start": stored.start,
                        "end": stored.end,
                        "ranking": draft.ranking.describe(),
                    })
                    .to_string(),
                },
            })
            .collect();
        if !self.store.start_competition(&stored.id, &notices).await? {
            return Ok(());
        }
        tracing::info!(competition = %stored.id, entrants = entrants.len(), "competition started");
        Ok(())
    }

    /// Sends the competition's rules, from the start, to every entrant's challenge that does not
    /// have them yet: through the tracker's rule change, once per challenge (a version stored by
    /// the competition is never sent again, whatever restarts or instances); one that cannot be
    /// reached now (its tracker runs on another instance, or is busy) is tried again at the next
    /// step, by every instance until it has them.
    async fn send_rules(&self, board: &Board, stored: &StoredCompetition) {
        let (draft, pending) = {
            let state = board.lock();
            let pending: Vec<(u32, AccountId)> = state
                .entrants
                .iter()
                .filter(|e| !state.rules_sent.contains(&e.entry))
                .map(|e| (e.entry, e.account.clone()))
                .collect();
            (state.draft.rules.clone(), pending)
        };
        if pending.is_empty() {
            return;
        }
        let actor = format!("competition:{}", stored.id);
        let attempts = pending.into_iter().map(|(entry, account)| {
            let (actor, draft) = (actor.clone(), draft.clone());
            async move {
                let sent = match self.store.rule_set_versions(&account).await {
                    Ok(versions) if versions.iter().any(|v| v.created_by == actor) => true,
                    Ok(_) => {
                        let change = RuleChangeRequest {
                            draft,
                            effective_from: stored.start,
                            actor,
                            program: None,
                        };
                        match self.trackers.change_rules(&account, change).await {
                            Ok(_) | Err(CommandError::NoChallenge) => true,
                            Err(CommandError::Refused(why)) => {
                                tracing::error!(competition = %stored.id, %account, %why, "an entrant's challenge refuses the competition's rules");
                                true
                            }
                            Err(error) => {
                                tracing::debug!(competition = %stored.id, %account, %error, "the competition's rules did not reach an entrant yet");
                                false
                            }
                        }
                    }
                    Err(error) => {
                        tracing::error!(competition = %stored.id, %account, %error, "cannot read an entrant's rule sets");
                        false
                    }
                };
                (entry, sent)
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let mut state = board.lock();
        for (entry, sent) in results {
            if sent {
                state.rules_sent.insert(entry);
            }
        }
    }

    /// Freezes the final standings once (with the owners' notices); every instance then serves
    /// the stored ones.
    async fn finish(&self, board: &Board, now: DateTime<Utc>) -> Result<(), store::StoreError> {
        let (standings, name) = {
            let state = board.lock();
            let (rows, disqualifications) = board::standings_of(&state);
            (
                FinalStandings {
                    as_of: state.window.end,
                    rows: rows
                        .into_iter()
                        .map(|r| FinalRow {
                            row: r.row,
                            owner: r.owner,
                        })
                        .collect(),
                    disqualifications,
                },
                state.draft.name.clone(),
            )
        };
        let entrants = standings.rows.len();
        let notices: Vec<CompetitionNotice> = standings
            .rows
            .iter()
            .filter_map(|r| {
                let account = r.row.account.clone()?;
                Some(CompetitionNotice {
                    account,
                    event: StoredEvent {
                        time: standings.as_of,
                        kind: FINAL.to_owned(),
                        rule: None,
                        body: serde_json::json!({
                            "kind": FINAL,
                            "competition": board.id,
                            "name": name,
                            "entry": r.row.entry,
                            "rank": r.row.rank,
                            "entrants": entrants,
                            "return_percent": r.row.return_percent.round_dp(2),
                            "profit": r.row.profit.round_dp(2),
                            "disqualified": matches!(r.row.status, shared::competitions::EntrantStatus::Disqualified { .. }),
                        })
                        .to_string(),
                    },
                })
            })
            .collect();
        let text = serde_json::to_string(&standings).map_err(|e| unreadable(&board.id, e))?;
        if self
            .store
            .finish_competition(&board.id, &text, now, &notices)
            .await?
        {
            tracing::info!(competition = %board.id, entrants, "final standings frozen");
        }
        self.reload(&board.id).await
    }

    /// A public page's JSON: from the cache when it is fresh, else rendered and kept.
    pub fn public_page(&self, board: &Board, page: u32, q: &str) -> Arc<str> {
        let snapshot = board.snapshot();
        let slug = snapshot.public_slug.clone().unwrap_or_default();
        let key = (slug, page, q.to_owned());
        let mut public = self.public.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made, json)) = public.cache.get(&key)
            && made.elapsed() < PUBLIC_CACHE
        {
            return json.clone();
        }
        let rendered = snapshot.page(
            Viewer::Public,
            page,
            shared::competitions::DEFAULT_PER_PAGE,
            Some(q),
        );
        let json: Arc<str> = serde_json::to_string(&rendered).unwrap_or_default().into();
        if public.cache.len() > 10_000 {
            public
                .cache
                .retain(|_, (made, _)| made.elapsed() < PUBLIC_CACHE);
        }
        public.cache.insert(key, (Instant::now(), json.clone()));
        json
    }

    /// Whether `ip` may make another public request now; `Err` with how long to wait.
    pub fn public_allowed(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let ip = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut public = self.public.lock().unwrap_or_else(|e| e.into_inner());
        if public.buckets.len() > 100_000 {
            public
                .buckets
                .retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
        }
        let now = Instant::now();
        let (tokens, at) = public.buckets.entry(ip).or_insert((PUBLIC_BURST, now));
        *tokens = (*tokens + at.elapsed().as_secs_f64() * PUBLIC_PER_SECOND).min(PUBLIC_BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs(1))
        }
    }
}
