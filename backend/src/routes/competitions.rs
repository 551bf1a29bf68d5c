//! Competitions: admins create and edit them (until the start) and choose their entrants;
//! entrants' owners and admins read the leaderboard (a page, or live over SSE); a public
//! read-only link when the admin turns it on (rate-limited per address, served from memory);
//! and each user's display name. Every change is written to the audit log.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::{AdminUser, ClientIp, CurrentUser};
use crate::competitions::{Viewer, definition};
use crate::error::AppError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::Stream;
use serde::Deserialize;
use shared::api::Role;
use shared::competitions::{
    CompetitionDetail, CompetitionDraft, CompetitionEntry, CompetitionSummary,
    CompetitionsResponse, CreateCompetitionRequest, DEFAULT_PER_PAGE, EntriesRequest,
    EntriesResponse, LeaderboardPage, MAX_ENTRANTS, Profile, Stage, UpdateCompetitionRequest,
    check_display_name,
};
use shared::domain::AccountId;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;
use store::StoredCompetition;

/// How often an idle leaderboard stream sends a comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often an open stream checks that its session still works.
const SESSION_CHECK: Duration = Duration::from_secs(5);
/// The longest search accepted.
const MAX_QUERY_CHARS: usize = 64;

fn no_such_competition() -> AppError {
    AppError::NotFound("There is no such competition.".to_owned())
}

/// The draft checked: its window in UTC, or every problem named (422).
fn checked(draft: &CompetitionDraft) -> Result<shared::competitions::Window, AppError> {
    draft.validate().map_err(|error| {
        AppError::Unprocessable(format!(
            "The competition was refused: {}.",
            error.problems.join("; ")
        ))
    })
}

/// A new public slug: 16 lowercase letters and digits.
fn new_slug() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// A stored competition as lists show it to `user`.
fn summary(
    state: &AppState,
    stored: &StoredCompetition,
    user: &CurrentUser,
) -> Result<CompetitionSummary, AppError> {
    let (draft, window, _) = definition(stored)?;
    let snapshot = state.competitions.board(&stored.id).map(|b| b.snapshot());
    let (entrants, mine) = snapshot.as_ref().map_or((0, 0), |s| {
        (
            u32::try_from(s.rows.len()).unwrap_or(u32::MAX),
            s.entrants_of(user.user.id),
        )
    });
    Ok(CompetitionSummary {
        id: stored.id.clone(),
        name: draft.name,
        stage: window.stage(Utc::now()),
        window,
        time_zone: draft.time_zone,
        entrants,
        mine,
        public_path: stored
            .public_slug
            .as_ref()
            .filter(|_| user.is_admin())
            .map(|slug| format!("/c/{slug}")),
    })
}

/// The competition `user` may see: any for an admin, one with an entrant of theirs for a
/// trader (404 otherwise).
async fn visible(
    state: &AppState,
    id: &str,
    user: &CurrentUser,
) -> Result<StoredCompetition, AppError> {
    let stored = state
        .store
        .competition(id)
        .await?
        .ok_or_else(no_such_competition)?;
    if user.is_admin() {
        return Ok(stored);
    }
    let theirs = state
        .competitions
        .board(id)
        .is_some_and(|b| b.snapshot().has_entrant_of(user.user.id));
    if theirs {
        Ok(stored)
    } else {
        Err(no_such_competition())
    }
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<CompetitionsResponse>, AppError> {
    let mut competitions = Vec::new();
    for stored in state.store.competitions().await? {
        let summary = summary(&state, &stored, &user)?;
        if user.is_admin() || summary.mine > 0 {
            competitions.push(summary);
        }
    }
    let order = |stage: Stage| match stage {
        Stage::Running => 0,
        Stage::Upcoming => 1,
        Stage::Ended => 2,
    };
    competitions.sort_by(|a, b| {
        order(a.stage)
            .cmp(&order(b.stage))
            .then(a.window.start.cmp(&b.window.start))
            .then(a.id.cmp(&b.id))
    });
    Ok(Json(CompetitionsResponse { competitions }))
}

/// The competition in full for `user` (entrants and disqualifications for admins only).
async fn detail_of(
    state: &AppState,
    stored: &StoredCompetition,
    user: &CurrentUser,
) -> Result<CompetitionDetail, AppError> {
    let (draft, _, _) = definition(stored)?;
    let (entries, disqualifications) = if user.is_admin() {
        let entries = entries_of(state, &stored.id).await?;
        let disqualifications = state
            .competitions
            .board(&stored.id)
            .map(|b| b.snapshot().disqualifications.clone())
            .unwrap_or_default();
        (entries, disqualifications)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(CompetitionDetail {
        summary: summary(state, stored, user)?,
        ranking: draft.ranking.describe(),
        competition: draft,
        entries,
        disqualifications,
        updated_by: stored.updated_by.clone(),
        updated_at: stored.updated_at,
    })
}

/// The entrants as the admin sees them.
async fn entries_of(state: &AppState, id: &str) -> Result<Vec<CompetitionEntry>, AppError> {
    let accounts: HashMap<AccountId, store::AccountRecord> = state
        .store
        .accounts()
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let usernames: HashMap<shared::api::UserId, String> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let shown: HashMap<u32, String> = state
        .competitions
        .board(id)
        .map(|b| {
            b.lock()
                .entrants
                .iter()
                .map(|e| (e.entry, e.display_name.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(state
        .store
        .competition_entries(id)
        .await?
        .into_iter()
        .map(|e| {
            let record = accounts.get(&e.account);
            CompetitionEntry {
                entry: e.entry,
                account_name: record.map_or_else(|| e.account.to_string(), |r| r.name.clone()),
                owner: record
                    .and_then(|r| r.owner)
                    .and_then(|owner| usernames.get(&owner).cloned()),
                display_name: shown
                    .get(&e.entry)
                    .cloned()
                    .unwrap_or_else(|| shared::competitions::anonymous_name(e.entry)),
                account: e.account,
                entered_at: e.entered_at,
            }
        })
        .collect())
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(request): JsonBody<CreateCompetitionRequest>,
) -> Result<(StatusCode, Json<CompetitionDetail>), AppError> {
    let id = request.id.trim().to_owned();
    super::check_slug(&id, "spring-cup-2027")?;
    let draft = request.competition;
    let window = checked(&draft)?;
    let now = Utc::now();
    if window.start <= now {
        return Err(AppError::Unprocessable(format!(
            "start: {} is past: a competition starts in the future.",
            draft.start
        )));
    }
    let stored = StoredCompetition {
        id: id.clone(),
        definition_json: serde_json::to_string(&draft)
            .map_err(|e| AppError::Internal(e.to_string()))?,
        start: window.start,
        end: window.end,
        public_slug: draft.public.then(new_slug),
        started: false,
        final_json: None,
        final_at: None,
        created_by: admin.user.username.clone(),
        created_at: now,
        updated_by: admin.user.username.clone(),
        updated_at: now,
    };
    if !state.store.create_competition(&stored).await? {
        return Err(AppError::Conflict(format!(
            "id: a competition {id:?} exists already; choose another id."
        )));
    }
    state.competitions.reload(&id).await?;
    audit(
        &state,
        &admin,
        "competition.create",
        format!("competition:{id}"),
        None::<&()>,
        Some(&draft),
    )
    .await?;
    let detail = detail_of(&state, &stored, &admin).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<CompetitionDetail>, AppError> {
    let stored = visible(&state, &id, &user).await?;
    Ok(Json(detail_of(&state, &stored, &user).await?))
}

/// 409 once the competition has started.
fn not_started(stored: &StoredCompetition) -> Result<(), AppError> {
    if stored.started || Utc::now() >= stored.start {
        Err(AppError::Conflict(format!(
            "The competition started at {}: its definition and entrants are fixed now.",
            stored.start.to_rfc3339()
        )))
    } else {
        Ok(())
    }
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<UpdateCompetitionRequest>,
) -> Result<Json<CompetitionDetail>, AppError> {
    let before = state
        .store
        .competition(&id)
        .await?
        .ok_or_else(no_such_competition)?;
    let draft = request.competition;
    let old: Option<CompetitionDraft> = serde_json::from_str(&before.definition_json).ok();
    // The public link may be turned on or off at any stage: a change of `public` alone.
    let only_public = old.as_ref().is_some_and(|old| {
        let mut same = old.clone();
        same.public = draft.public;
        same == draft && old.public != draft.public
    });
    if only_public && (before.started || Utc::now() >= before.start) {
        let mut stored = before.clone();
        stored.definition_json =
            serde_json::to_string(&draft).map_err(|e| AppError::Internal(e.to_string()))?;
        stored.public_slug = draft.public.then(new_slug);
        stored.updated_by = admin.user.username.clone();
        stored.updated_at = Utc::now();
        if !state.store.set_competition_public(&stored).await? {
            return Err(no_such_competition());
        }
        state.competitions.reload(&id).await?;
        audit(
            &state,
            &admin,
            "competition.public",
            format!("competition:{id}"),
            Some(&serde_json::json!({"public": !draft.public})),
            Some(&serde_json::json!({"public": draft.public})),
        )
        .await?;
        return Ok(Json(detail_of(&state, &stored, &admin).await?));
    }
    not_started(&before)?;
    let window = checked(&draft)?;
    let now = Utc::now();
    if window.start <= now {
        return Err(AppError::Unprocessable(format!(
            "start: {} is past: a competition starts in the future.",
            draft.start
        )));
    }
    let mut stored = before.clone();
    stored.definition_json =
        serde_json::to_string(&draft).map_err(|e| AppError::Internal(e.to_string()))?;
    stored.start = window.start;
    stored.end = window.end;
    stored.public_slug = match (draft.public, before.public_slug.clone()) {
        (true, Some(slug)) => Some(slug),
        (true, None) => Some(new_slug()),
        (false, _) => None,
    };
    stored.updated_by = admin.user.username.clone();
    stored.updated_at = now;
    if !state.store.update_competition(&stored).await? {
        return Err(AppError::Conflict(format!(
            "The competition started at {}: its definition and entrants are fixed now.",
            before.start.to_rfc3339()
        )));
    }
    state.competitions.reload(&id).await?;
    audit(
        &state,
        &admin,
        "competition.update",
        format!("competition:{id}"),
        old.as_ref(),
        Some(&draft),
    )
    .await?;
    Ok(Json(detail_of(&state, &stored, &admin).await?))
}

pub async fn entries(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<EntriesRequest>,
) -> Result<Json<EntriesResponse>, AppError> {
    let stored = state
        .store
        .competition(&id)
        .await?
        .ok_or_else(no_such_competition)?;
    not_started(&stored)?;
    let current = state.store.competition_entries(&id).await?;
    let accounts = state.store.accounts().await?;
    let known: HashSet<AccountId> = accounts.iter().map(|a| a.id.clone()).collect();
    let archived: HashSet<AccountId> = accounts
        .into_iter()
        .filter(|a| a.archived.is_some())
        .map(|a| a.id)
        .collect();
    let others: HashMap<String, StoredCompetition> = state
        .store
        .competitions()
        .await?
        .into_iter()
        .filter(|c| c.id != id)
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for account in &request.add {
        if !seen.insert(account.clone()) {
            problems.push(format!("add: {account} is given twice"));
            continue;
        }
        if current.iter().any(|e| &e.account == account) {
            continue;
        }
        if !known.contains(account) {
            problems.push(format!("add: {account}: there is no such account"));
            continue;
        }
        if archived.contains(account) {
            problems.push(format!(
                "add: {account} is archived (read-only): enter an account that is tracked"
            ));
            continue;
        }
        if let Some(enrollment) = state.store.enrollment(account).await? {
            problems.push(format!(
                "add: {account} is on program {} (phase {}): a competition takes accounts that \
                 are on no program",
                enrollment.program,
                enrollment.phase + 1
            ));
        }
        for other in state.store.account_competitions(account).await? {
            if let Some(other) = others.get(&other)
                && other.start < stored.end
                && stored.start < other.end
            {
                problems.push(format!(
                    "add: {account} is in competition {:?}, whose window overlaps this one's",
                    other.id
                ));
            }
        }
        let failed = state
            .hub
            .summary(account)
            .and_then(|s| s.latest)
            .and_then(|v| v.challenge)
            .is_some_and(|c| c.status == shared::engine::ChallengeStatus::Failed);
        if failed {
            problems.push(format!(
                "add: {account}: its challenge has failed; enter an account whose challenge runs"
            ));
        }
    }
    for account in &request.remove {
        if !current.iter().any(|e| &e.account == account) {
            problems.push(format!("remove: {account} is not an entrant"));
        }
    }
    let after = current.len() + request.add.len()
        - request
            .add
            .iter()
            .filter(|a| current.iter().any(|e| &e.account == *a))
            .count();
    let after = after.saturating_sub(request.remove.len());
    if after > MAX_ENTRANTS {
        problems.push(format!(
            "add: {after} entrants would be more than the {MAX_ENTRANTS} a competition may have"
        ));
    }
    if !problems.is_empty() {
        return Err(AppError::Unprocessable(format!(
            "Nothing was changed: {}.",
            problems.join("; ")
        )));
    }
    let Some(_) = state
        .store
        .change_entries(&id, &request.add, &request.remove, Utc::now())
        .await?
    else {
        return Err(AppError::Conflict(format!(
            "The competition started at {}: its definition and entrants are fixed now.",
            stored.start.to_rfc3339()
        )));
    };
    state.competitions.reload(&id).await?;
    audit(
        &state,
        &admin,
        "competition.entries",
        format!("competition:{id}"),
        None::<&()>,
        Some(&request),
    )
    .await?;
    Ok(Json(EntriesResponse {
        entries: entries_of(&state, &id).await?,
    }))
}

/// `?page=&per_page=&q=` of a leaderboard.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    q: Option<String>,
}

impl PageQuery {
    fn q(&self) -> Result<Option<&str>, AppError> {
        match self.q.as_deref() {
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => Err(AppError::Unprocessable(
                format!("q: at most {MAX_QUERY_CHARS} characters"),
            )),
            other => Ok(other),
        }
    }
}

fn viewer(user: &CurrentUser) -> Viewer {
    match user.user.role {
        Role::Admin => Viewer::Admin,
        _ => Viewer::Trader(user.user.id),
    }
}

pub async fn leaderboard(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<LeaderboardPage>, AppError> {
    visible(&state, &id, &user).await?;
    let board = state
        .competitions
        .board(&id)
        .ok_or_else(no_such_competition)?;
    Ok(Json(board.snapshot().page(
        viewer(&user),
        query.page.unwrap_or(1),
        query.per_page.unwrap_or(DEFAULT_PER_PAGE),
        query.q()?,
    )))
}

pub async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    visible(&state, &id, &user).await?;
    let board = state
        .competitions
        .board(&id)
        .ok_or_else(no_such_competition)?;
    let q = query.q()?.map(str::to_owned);
    let Some(slot) = state.streams.acquire(user.user.id) else {
        return Err(AppError::TooManyRequests {
            message: format!(
                "You have {} live streams open, the most allowed. Close a tab and try again.",
                state.streams.max_per_user()
            ),
            retry_after: SESSION_CHECK,
        });
    };
    let (page, per_page) = (
        query.page.unwrap_or(1),
        query.per_page.unwrap_or(DEFAULT_PER_PAGE),
    );
    let who = viewer(&user);
    let shutdown = state.shutdown.clone();
    let store = state.store.clone();
    let mut snapshots = board.subscribe();
    let mut session_check = tokio::time::interval(SESSION_CHECK);
    session_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = async_stream::stream! {
        let _slot = slot;
        let mut last = String::new();
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            let rendered = snapshot.page(who, page, per_page, q.as_deref());
            // Sent only when this page (or its pinned rows) changed.
            if let Ok(json) = serde_json::to_string(&rendered)
                && json != last
            {
                yield Ok(Event::default().event("leaderboard").data(json.clone()));
                last = json;
            }
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = session_check.tick() => {
                        if let Ok(false) = user.still_valid(store.as_ref(), Utc::now()).await {
                            return;
                        }
                        continue;
                    }
                    changed = snapshots.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// `?page=&q=` of the public leaderboard.
#[derive(Debug, Deserialize)]
pub struct PublicQuery {
    page: Option<u32>,
    q: Option<String>,
}

pub async fn public(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(slug): Path<String>,
    Query(query): Query<PublicQuery>,
) -> Result<Response, AppError> {
    if let Err(wait) = state.competitions.public_allowed(ip) {
        return Err(AppError::TooManyRequests {
            message: "Too many requests for public leaderboards from this address: wait a \
                      second and try again."
                .to_owned(),
            retry_after: wait,
        });
    }
    let q = query.q.unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::Unprocessable(format!(
            "q: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let board = state
        .competitions
        .public_board(&slug)
        .ok_or_else(no_such_competition)?;
    let json = state
        .competitions
        .public_page(&board, query.page.unwrap_or(1).max(1), q.trim());
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=1"),
    );
    Ok(response)
}

pub async fn profile(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<Profile>, AppError> {
    Ok(Json(Profile {
        display_name: state.store.display_name(user.user.id).await?,
    }))
}

pub async fn update_profile(
    State(state): State<AppState>,
    user: CurrentUser,
    JsonBody(request): JsonBody<Profile>,
) -> Result<Json<Profile>, AppError> {
    let name = match request.display_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(check_display_name(name).map_err(AppError::Unprocessable)?),
    };
    let before = state.store.display_name(user.user.id).await?;
    state
        .store
        .set_display_name(user.user.id, name.as_deref())
        .await?;
    state.competitions.rename(user.user.id, name.as_deref());
    let profile = Profile { display_name: name };
    audit(
        &state,
        &user,
        "profile.update",
        format!("user:{}", user.user.id.0),
        Some(&Profile {
            display_name: before,
        }),
        Some(&profile),
    )
    .await?;
    Ok(Json(profile))
}
