//! The admin console's challenges: the overview of every challenge (searched, filtered, sorted
//! and paged here, from the hub's latest views, not the database), what a new challenge can be
//! connected to, and creating one.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use crate::provision::CreateError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use shared::api::{
    ChallengeCounts, ChallengeRow, ChallengesPage, ConnectionOptions, ConnectionRequest,
    CreateAccountRequest, CreateAccountResponse, FeedStatus,
};
use shared::engine::{ChallengeStatus, RuleStatus};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Rows per page when the caller does not say.
const DEFAULT_PER_PAGE: u32 = 50;
/// The most rows one page holds.
const MAX_PER_PAGE: u32 = 500;

/// The overview's query, every value checked by hand so a bad one gets the API's error body.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    q: Option<String>,
    status: Option<String>,
    feed: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// A status filter: a challenge status, or `none` (no evaluated challenge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatusFilter {
    Is(ChallengeStatus),
    None,
}

/// A feed filter; `starting` is connecting or backfilling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeedFilter {
    Live,
    Stale,
    Starting,
    /// Archived challenges (listed only with this filter).
    Archived,
}

/// What to sort by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortKey {
    /// Closest to breach first (breached, then the largest share of a limit used).
    Breach,
    Name,
    Equity,
    Profit,
    Id,
}

/// A checked overview query.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Overview {
    q: Option<String>,
    status: Option<StatusFilter>,
    feed: Option<FeedFilter>,
    sort: SortKey,
    descending: bool,
    page: u32,
    per_page: u32,
}

fn parse(query: &OverviewQuery) -> Result<Overview, AppError> {
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let status = match blank(&query.status).as_deref() {
        None => None,
        Some("active") => Some(StatusFilter::Is(ChallengeStatus::Active)),
        Some("passed") => Some(StatusFilter::Is(ChallengeStatus::Passed)),
        Some("failed") => Some(StatusFilter::Is(ChallengeStatus::Failed)),
        Some("paused") => Some(StatusFilter::Is(ChallengeStatus::Paused)),
        Some("none") => Some(StatusFilter::None),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "status {other:?} is unknown: use active, passed, failed, paused or none."
            )));
        }
    };
    let feed = match blank(&query.feed).as_deref() {
        None => None,
        Some("live") => Some(FeedFilter::Live),
        Some("stale") => Some(FeedFilter::Stale),
        Some("starting") => Some(FeedFilter::Starting),
        Some("archived") => Some(FeedFilter::Archived),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "feed {other:?} is unknown: use live, stale, starting or archived."
            )));
        }
    };
    let sort = match blank(&query.sort).as_deref() {
        None | Some("breach") => SortKey::Breach,
        Some("name") => SortKey::Name,
        Some("equity") => SortKey::Equity,
        Some("pl") => SortKey::Profit,
        Some("id") => SortKey::Id,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "sort {other:?} is unknown: use breach, name, equity, pl or id."
            )));
        }
    };
    let descending = match blank(&query.dir).as_deref() {
        // Closest to breach, the largest equity and P/L first; names and ids A to Z.
        None => matches!(sort, SortKey::Breach | SortKey::Equity | SortKey::Profit),
        Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "dir {other:?} is unknown: use asc or desc."
            )));
        }
    };
    let number = |name: &str, value: Option<String>, default: u32, max: u32| match value {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AppError::BadRequest(format!("{name} must be a whole number from 1 to {max}."))
            }),
    };
    Ok(Overview {
        q: blank(&query.q).map(|q| q.to_lowercase()),
        status,
        feed,
        sort,
        descending,
        page: number("page", blank(&query.page), 1, u32::MAX)?,
        per_page: number(
            "per_page",
            blank(&query.per_page),
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
        )?,
    })
}

fn matches(row: &ChallengeRow, query: &Overview) -> bool {
    let text = query.q.as_deref().is_none_or(|q| {
        row.id.as_str().to_lowercase().contains(q)
            || row.name.to_lowercase().contains(q)
            || row
                .owner
                .as_deref()
                .is_some_and(|o| o.to_lowercase().contains(q))
    });
    let status = query.status.is_none_or(|filter| match filter {
        StatusFilter::Is(status) => row.status == Some(status),
        StatusFilter::None => row.status.is_none(),
    });
    let feed = match query.feed {
        // Archived challenges are out of the way unless asked for.
        None => row.feed != FeedStatus::Archived,
        Some(FeedFilter::Live) => row.feed == FeedStatus::Live,
        Some(FeedFilter::Stale) => row.feed == FeedStatus::Stale,
        Some(FeedFilter::Starting) => {
            matches!(row.feed, FeedStatus::Connecting | FeedStatus::Backfilling)
        }
        Some(FeedFilter::Archived) => row.feed == FeedStatus::Archived,
    };
    text && status && feed
}

/// How close a row is to breach: breached first, then the share of a limit used.
fn breach_key(row: &ChallengeRow) -> (bool, rust_decimal::Decimal) {
    row.closest
        .as_ref()
        .map_or((false, rust_decimal::Decimal::MIN), |rule| {
            (
                rule.status == RuleStatus::Breached,
                rule.progress.unwrap_or(rust_decimal::Decimal::ZERO),
            )
        })
}

/// Orders rows by the key; rows without the value last either way, then by id.
fn compare(a: &ChallengeRow, b: &ChallengeRow, key: SortKey, descending: bool) -> Ordering {
    fn optional<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) if descending => b.cmp(&a),
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let primary = match key {
        SortKey::Breach => optional(
            a.closest.as_ref().map(|_| breach_key(a)),
            b.closest.as_ref().map(|_| breach_key(b)),
            descending,
        ),
        SortKey::Name => {
            let order = a.name.to_lowercase().cmp(&b.name.to_lowercase());
            if descending { order.reverse() } else { order }
        }
        SortKey::Equity => optional(a.equity, b.equity, descending),
        SortKey::Profit => optional(a.profit, b.profit, descending),
        SortKey::Id => {
            let order = a.id.cmp(&b.id);
            if descending { order.reverse() } else { order }
        }
    };
    primary.then_with(|| a.id.cmp(&b.id))
}

fn count(rows: &[ChallengeRow]) -> ChallengeCounts {
    let mut counts = ChallengeCounts::default();
    for row in rows {
        if row.feed == FeedStatus::Archived {
            counts.archived += 1;
            continue;
        }
        counts.all += 1;
        match row.status {
            Some(ChallengeStatus::Active) => counts.active += 1,
            Some(ChallengeStatus::Passed) => counts.passed += 1,
            Some(ChallengeStatus::Failed) => counts.failed += 1,
            Some(ChallengeStatus::Paused) => counts.paused += 1,
            None => counts.none += 1,
        }
        match row.feed {
            FeedStatus::Live => counts.live += 1,
            FeedStatus::Stale => counts.stale += 1,
            FeedStatus::Connecting | FeedStatus::Backfilling => counts.starting += 1,
            FeedStatus::Archived => {}
        }
    }
    counts
}

/// One page of the overview from every row.
fn page_of(mut rows: Vec<ChallengeRow>, query: &Overview) -> ChallengesPage {
    let counts = count(&rows);
    rows.retain(|row| matches(row, query));
    rows.sort_by(|a, b| compare(a, b, query.sort, query.descending));
    let total = rows.len() as u64;
    let start = (u64::from(query.page) - 1).saturating_mul(u64::from(query.per_page));
    let rows = rows
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(query.per_page as usize)
        .collect();
    ChallengesPage {
        rows,
        total,
        page: query.page,
        per_page: query.per_page,
        counts,
    }
}

/// `GET /api/admin/challenges`: one page of the challenges, from the hub's latest views (the
/// owners' names from the store).
pub async fn overview(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    query: Result<Query<OverviewQuery>, QueryRejection>,
) -> Result<Json<ChallengesPage>, AppError> {
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest(
            "The query string is malformed: use q, status, feed, sort, dir, page and per_page."
                .into(),
        )
    })?;
    let query = parse(&query)?;
    let usernames: HashMap<_, _> = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|user| (user.id, user.username))
        .collect();
    let owners: HashMap<_, _> = state
        .store
        .accounts()
        .await?
        .into_iter()
        .filter_map(|account| Some((account.id, usernames.get(&account.owner?)?.clone())))
        .collect();
    let rows = state
        .hub
        .summaries()
        .iter()
        .map(|summary| ChallengeRow::from_summary(summary, owners.get(&summary.id).cloned()))
        .collect();
    Ok(Json(page_of(rows, &query)))
}

/// `GET /api/admin/connections`: what a new challenge can be connected to.
pub async fn connections(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Json<ConnectionOptions> {
    Json(state.launcher.options())
}

/// `POST /api/accounts`: creates a challenge account and starts tracking it at once.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(request): JsonBody<CreateAccountRequest>,
) -> Result<(StatusCode, Json<CreateAccountResponse>), AppError> {
    let (checked, account) = state
        .launcher
        .create(&request, &admin.user.username)
        .await?;
    // What was created, never the token.
    let after = serde_json::json!({
        "id": checked.id,
        "name": checked.name,
        "connection": checked.connection,
        "external_account_id": checked.external_account_id,
        "base_url": checked.base_url,
        "preset": checked.preset,
        "initial_balance": checked.initial_balance.to_string(),
        "currency": checked.currency,
        "owner": request.owner.as_deref().map(str::trim).filter(|o| !o.is_empty()),
        "demo": matches!(request.connection, ConnectionRequest::Demo { .. }),
    });
    audit(
        &state,
        &admin,
        "account.create",
        format!("account:{}", checked.id),
        None::<&()>,
        Some(&after),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreateAccountResponse { account })))
}

impl From<CreateError> for AppError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::Invalid(message) => AppError::Unprocessable(message),
            CreateError::Taken(message) => AppError::Conflict(message),
            CreateError::Store(error) => AppError::Database(error),
            CreateError::Internal(message) => AppError::Internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use shared::api::ClosestRule;
    use shared::domain::AccountId;

    fn row(
        id: &str,
        owner: Option<&str>,
        progress: Option<i64>,
        equity: Option<i64>,
    ) -> ChallengeRow {
        ChallengeRow {
            id: AccountId(id.to_owned()),
            name: id.to_uppercase(),
            owner: owner.map(str::to_owned),
            feed: if equity.is_some() {
                FeedStatus::Live
            } else {
                FeedStatus::Connecting
            },
            status: equity.map(|_| ChallengeStatus::Active),
            preset: None,
            phase: None,
            currency: None,
            balance: equity.map(Decimal::from),
            equity: equity.map(Decimal::from),
            profit: equity.map(|e| Decimal::from(e - 100)),
            closest: progress.map(|p| ClosestRule {
                id: "daily".into(),
                kind: "daily_loss".into(),
                status: RuleStatus::Ok,
                progress: Some(Decimal::new(p, 2)),
                remaining: None,
                remaining_percent: None,
            }),
            backfill: None,
            transport: None,
            updated: None,
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Result<Overview, AppError> {
        let mut q = OverviewQuery::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "q" => q.q = value,
                "status" => q.status = value,
                "feed" => q.feed = value,
                "sort" => q.sort = value,
                "dir" => q.dir = value,
                "page" => q.page = value,
                "per_page" => q.per_page = value,
                _ => unreachable!(),
            }
        }
        parse(&q)
    }

    fn ids(page: &ChallengesPage) -> Vec<&str> {
        page.rows.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn the_overview_searches_filters_sorts_and_pages() {
        let rows = vec![
            row("a", Some("jane"), Some(10), Some(120)),
            row("b", None, Some(80), Some(90)),
            row("c", Some("bob"), None, None),
            row("d", Some("janet"), Some(40), Some(150)),
        ];
        let page = page_of(rows.clone(), &query(&[]).expect("valid"));
        assert_eq!(ids(&page), ["b", "d", "a", "c"], "closest to breach first");
        assert_eq!(
            (page.counts.all, page.counts.active, page.counts.none),
            (4, 3, 1)
        );
        assert_eq!(page.counts.starting, 1);
        let page = page_of(rows.clone(), &query(&[("q", "JAN")]).expect("valid"));
        assert_eq!(ids(&page), ["d", "a"], "owner matched without case");
        let page = page_of(
            rows.clone(),
            &query(&[("sort", "equity"), ("dir", "asc")]).expect("valid"),
        );
        assert_eq!(ids(&page), ["b", "a", "d", "c"], "without a value last");
        let page = page_of(rows.clone(), &query(&[("status", "none")]).expect("valid"));
        assert_eq!(ids(&page), ["c"]);
        let page = page_of(
            rows.clone(),
            &query(&[("feed", "live"), ("sort", "name")]).expect("valid"),
        );
        assert_eq!(ids(&page), ["a", "b", "d"]);
        let page = page_of(
            rows,
            &query(&[("sort", "id"), ("per_page", "3"), ("page", "2")]).expect("valid"),
        );
        assert_eq!((ids(&page), page.total), (vec!["d"], 4));
    }

    #[test]
    fn bad_overview_parameters_say_what_is_allowed() {
        for (key, value, says) in [
            ("status", "dead", "active, passed"),
            ("feed", "slow", "live, stale"),
            ("sort", "age", "breach, name"),
            ("dir", "up", "asc or desc"),
            ("page", "0", "from 1"),
            ("per_page", "501", "from 1 to 500"),
        ] {
            let Err(AppError::BadRequest(message)) = query(&[(key, value)]) else {
                panic!("{key}={value} accepted");
            };
            assert!(message.contains(says), "{message}");
        }
    }
}
