//! MetaApi's risk management API under `/users/current` (see `docs/METAAPI-RISK-API.md`):
//! trackers, their statistics, tracker events (by broker time, and the long poll the SDK's
//! listeners use) and the equity chart, in MetaApi's shapes and errors, for an API token
//! (header `auth-token`) that sees only the accounts an admin chose.

use crate::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde_json::{Value, json};
use shared::domain::AccountId;
use shared::trackers::{
    Detail, EquityChart, MAX_NAME_CHARS, Observation, TrackerSpec, parse_broker_time,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::{ApiToken, Rename, TrackerEventFilter};

/// The header MetaApi's clients send their token in.
pub const TOKEN_HEADER: &str = "auth-token";
/// How long the event long poll holds a request with nothing to answer.
pub const LONG_POLL: Duration = Duration::from_secs(30);
/// How often a waiting long poll looks at the store even when this instance stored nothing
/// (another instance may have).
const LONG_POLL_RECHECK: Duration = Duration::from_secs(1);
/// How often a token's last use is written.
const USE_RECORDED_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
/// The most statistics or chart items one call returns.
const MAX_LIMIT: usize = 1_000;
/// A tracker may not start before this year (its periods are counted from its start).
const EARLIEST_START_YEAR: i32 = 2000;
/// The farthest back an equity chart without `startTime` reaches.
const CHART_DEFAULT_DAYS: i64 = 31;

/// When each token's use was last written, by token id.
pub type TokenUses = Arc<Mutex<HashMap<String, DateTime<Utc>>>>;

/// The API token of a request, left by the guard for the handler.
#[derive(Clone, Debug)]
pub struct Caller(pub ApiToken);

impl Caller {
    fn actor(&self) -> String {
        format!("api-token:{}", self.0.name)
    }
}

/// A MetaApi error: `{id, error, message, details?}` with the status its SDK maps to an
/// exception (`ValidationError` 400, `UnauthorizedError` 401, `NotFoundError` 404, ...).
#[derive(Debug)]
pub struct MetaApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
    details: Option<Vec<Detail>>,
}

impl MetaApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
            details: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Send a valid, unrevoked Riskdeck API token in the auth-token header (an admin \
             creates one in the console, under API tokens).",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    fn validation(message: impl Into<String>, details: Vec<Detail>) -> Self {
        Self {
            details: Some(details),
            ..Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
        }
    }

    fn invalid(parameter: &str, value: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::validation(
            format!("Validation failed: {parameter}: {message}"),
            vec![Detail {
                parameter: parameter.to_owned(),
                value: value.map(Value::from),
                message,
            }],
        )
    }

    /// The error of a status that is not MetaApi's own (a rejection axum wrote).
    pub fn from_status(status: StatusCode, message: String) -> Self {
        let error = match status.as_u16() {
            400 | 413 | 415 | 422 => "ValidationError",
            401 => "UnauthorizedError",
            403 => "ForbiddenError",
            404 => "NotFoundError",
            405 => "MethodNotAllowedError",
            409 => "ConflictError",
            429 => "TooManyRequestsError",
            _ => "InternalError",
        };
        Self::new(status, error, message)
    }
}

impl IntoResponse for MetaApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "id": 1, "error": self.error, "message": self.message });
        if let Some(details) = self.details {
            body["details"] = serde_json::to_value(details).unwrap_or_default();
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<store::StoreError> for MetaApiError {
    fn from(error: store::StoreError) -> Self {
        tracing::error!(%error, "risk management API: the database failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The database is unavailable; try again shortly.",
        )
    }
}

/// The guard of every `/users/current` route: the `auth-token` header must hash to a stored,
/// unrevoked token; its use is recorded (at most once a minute).
pub async fn authorize(parts: &mut Parts, state: &AppState) -> Result<(), MetaApiError> {
    let Some(secret) = parts
        .headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    else {
        return Err(MetaApiError::unauthorized());
    };
    let token = state
        .store
        .api_token_by_secret(&crate::auth::token_hash(secret))
        .await?
        .filter(|token| token.revoked_at.is_none())
        .ok_or_else(MetaApiError::unauthorized)?;
    let now = Utc::now();
    let due = {
        let mut uses = state
            .api_token_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = uses
            .get(&token.id)
            .is_none_or(|last| now - *last >= USE_RECORDED_EVERY);
        if due {
            uses.insert(token.id.clone(), now);
        }
        due
    };
    if due && let Err(error) = state.store.touch_api_token(&token.id, now).await {
        tracing::warn!(%error, "cannot record an API token's use");
    }
    parts.extensions.insert(Caller(token));
    Ok(())
}

/// Rewrites an error answer of a `/users/current` route that is not MetaApi's (axum's
/// rejections, the timeout) into MetaApi's error shape.
pub async fn response(mut response: Response) -> Response {
    // Answers are personal and live, as the rest of the API's.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text.chars().take(300).collect()
    };
    MetaApiError::from_status(status, message).into_response()
}

/// Any other path under `/users/current`.
pub async fn not_found() -> MetaApiError {
    MetaApiError::not_found("There is no such endpoint of the risk management API.")
}

/// The account of the path, when the caller's token may see it and Riskdeck follows it.
fn account_in_reach(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<AccountId, MetaApiError> {
    let account = AccountId(id);
    if caller.0.accounts.contains(&account) && state.hub.contains(&account) {
        Ok(account)
    } else {
        Err(MetaApiError::not_found(format!(
            "Account {} not found (or not one this API token may see).",
            account
        )))
    }
}

/// The query's parameters (the first of a repeated one).
fn query_map(query: Option<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        map.entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// A time parameter: broker time text (`YYYY-MM-DD HH:mm:ss.SSS`), or a time with an offset
/// (as Python writes a `datetime`), turned into the account's broker time.
fn time_param(
    query: &HashMap<String, String>,
    name: &str,
    zone: chrono_tz::Tz,
) -> Result<Option<NaiveDateTime>, MetaApiError> {
    let Some(text) = query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Some(time) = parse_broker_time(text) {
        return Ok(Some(time));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Ok(Some(time.with_timezone(&zone).naive_local()));
        }
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(time.with_timezone(&zone).naive_local()));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(time));
        }
    }
    Err(MetaApiError::invalid(
        name,
        Some(text),
        "write a broker time as YYYY-MM-DD HH:mm:ss.SSS",
    ))
}

fn limit_param(query: &HashMap<String, String>, default: usize) -> Result<usize, MetaApiError> {
    match query.get("limit").filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(MetaApiError::invalid(
                "limit",
                Some(text),
                format!("a whole number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

fn json_body(body: &Bytes) -> Result<Value, MetaApiError> {
    serde_json::from_slice(body).map_err(|error| {
        MetaApiError::invalid("body", None, format!("the body is not JSON: {error}"))
    })
}

async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    account: &AccountId,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), MetaApiError> {
    state
        .store
        .append_audit(&store::AuditEntry {
            time: Utc::now(),
            actor: caller.actor(),
            action: action.to_owned(),
            subject: format!("account:{account}"),
            before,
            after,
            reason: None,
        })
        .await?;
    Ok(())
}

/// `POST /users/current/accounts/{account}/trackers`: 201 `{"id"}`.
pub async fn create_tracker(
    State(state): State<AppState>,
    Path(account): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let spec = TrackerSpec::read(&json_body(&body)?)
        .map_err(|details| MetaApiError::validation("Validation failed", details))?;
    if let Some(start) = spec.start_broker_time
        && start.year() < EARLIEST_START_YEAR
    {
        return Err(MetaApiError::invalid(
            "startBrokerTime",
            Some(&shared::trackers::format_broker_time(start)),
            format!("a time in {EARLIEST_START_YEAR} or later"),
        ));
    }
    if state.risk.count(&account) >= crate::risk::MAX_TRACKERS_PER_ACCOUNT {
        return Err(MetaApiError::invalid(
            "name",
            Some(&spec.name),
            format!(
                "the account has {} trackers, the most it may have; delete one first",
                crate::risk::MAX_TRACKERS_PER_ACCOUNT
            ),
        ));
    }
    let name = spec.name.clone();
    let Some(id) = state.risk.create(&account, spec.clone()).await? else {
        return Err(name_taken(&name));
    };
    audit(
        &state,
        &caller,
        "tracker.create",
        &account,
        None,
        Some(spec.to_json(&id)),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

fn name_taken(name: &str) -> MetaApiError {
    MetaApiError::invalid(
        "name",
        Some(name),
        "the account has a tracker of this name already; tracker names are unique per account",
    )
}

/// `GET /users/current/accounts/{account}/trackers`.
pub async fn list_trackers(
    State(state): State<AppState>,
    Path(account): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Json<Value>, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    Ok(Json(Value::Array(
        state
            .risk
            .trackers(&account)
            .iter()
            .map(crate::risk::TrackerInfo::to_json)
            .collect(),
    )))
}

/// A tracker as MetaApi writes it, for the audit log.
fn tracker_json(state: &AppState, account: &AccountId, id: &str) -> Option<Value> {
    state.risk.tracker(account, id).map(|t| t.to_json())
}

fn tracker_not_found(id: &str) -> MetaApiError {
    MetaApiError::not_found(format!("Tracker {id} not found."))
}

/// `GET /users/current/accounts/{account}/trackers/{tracker}`.
pub async fn get_tracker(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Json<Value>, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let tracker = state
        .risk
        .tracker(&account, &id)
        .ok_or_else(|| tracker_not_found(&id))?;
    Ok(Json(tracker.to_json()))
}

/// `GET /users/current/accounts/{account}/trackers/name/{name}` (the name may hold `/`).
pub async fn get_tracker_by_name(
    State(state): State<AppState>,
    Path((account, name)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<Json<Value>, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let tracker = state
        .risk
        .trackers(&account)
        .into_iter()
        .find(|t| t.spec.name == name)
        .ok_or_else(|| MetaApiError::not_found(format!("Tracker {name:?} not found.")))?;
    Ok(Json(tracker.to_json()))
}

/// `PUT /users/current/accounts/{account}/trackers/{tracker}`: body `{"name"}`, 204.
pub async fn update_tracker(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Bytes,
) -> Result<StatusCode, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let body = json_body(&body)?;
    let Some(fields) = body.as_object() else {
        return Err(MetaApiError::invalid(
            "body",
            None,
            "an update is a JSON object with `name`",
        ));
    };
    let mut details: Vec<Detail> = fields
        .keys()
        .filter(|key| *key != "name")
        .map(|key| Detail {
            parameter: key.clone(),
            value: None,
            message: "only a tracker's name can be changed".to_owned(),
        })
        .collect();
    let name = fields.get("name").and_then(Value::as_str).map(str::trim);
    match name {
        Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS => {}
        _ => details.push(Detail {
            parameter: "name".to_owned(),
            value: fields.get("name").cloned(),
            message: format!("a name of 1 to {MAX_NAME_CHARS} characters"),
        }),
    }
    let (Some(name), true) = (name, details.is_empty()) else {
        return Err(MetaApiError::validation("Validation failed", details));
    };
    let before = tracker_json(&state, &account, &id);
    match state.risk.rename(&account, &id, name).await? {
        Rename::Renamed => {}
        Rename::NameTaken => return Err(name_taken(name)),
        Rename::NotFound => return Err(tracker_not_found(&id)),
    }
    let after = tracker_json(&state, &account, &id);
    audit(&state, &caller, "tracker.update", &account, before, after).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/current/accounts/{account}/trackers/{tracker}`: 204.
pub async fn delete_tracker(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Result<StatusCode, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let before = tracker_json(&state, &account, &id);
    if !state.risk.delete(&account, &id).await? {
        return Err(tracker_not_found(&id));
    }
    audit(&state, &caller, "tracker.delete", &account, before, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /users/current/accounts/{account}/trackers/{tracker}/statistics?startTime&limit`:
/// newest period first (`realTime` is accepted: statistics are always current).
pub async fn statistics(
    State(state): State<AppState>,
    Path((account, id)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let query = query_map(query);
    let zone = state.risk.zone(&account).await;
    let start = time_param(&query, "startTime", zone)?;
    let limit = limit_param(&query, 1)?;
    let stats = state
        .risk
        .statistics(&account, &id, start, limit)
        .ok_or_else(|| tracker_not_found(&id))?;
    Ok(Json(Value::Array(stats)))
}

/// `GET /users/current/accounts/{account}/equity-chart?realTime&startTime&endTime`: the
/// account's equity and balance by the hour (broker time), oldest first, from the stored
/// samples.
pub async fn equity_chart(
    State(state): State<AppState>,
    Path(account): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, MetaApiError> {
    let account = account_in_reach(&state, &caller, account)?;
    let query = query_map(query);
    let zone = state.risk.zone(&account).await;
    let start = time_param(&query, "startTime", zone)?;
    let end = time_param(&query, "endTime", zone)?;
    let real_time = query.get("realTime").is_some_and(|v| v == "true");
    let utc = |time: NaiveDateTime| {
        zone.from_local_datetime(&time)
            .earliest()
            .map_or_else(|| time.and_utc(), |t| t.with_timezone(&Utc))
    };
    let now = Utc::now();
    let from = start.map_or(now - chrono::TimeDelta::days(CHART_DEFAULT_DAYS), utc);
    let to = end.map_or(now, utc).min(now);
    if from > to {
        return Ok(Json(Value::Array(Vec::new())));
    }
    let buckets = state
        .store
        .equity_history(&account, from, to, 50_000)
        .await?;
    let mut chart = EquityChart::default();
    let local = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local();
    for bucket in buckets {
        chart.observe(Observation {
            time: local(bucket.first),
            balance: bucket.balance.open,
            equity: bucket.equity.open,
        });
        chart.observe(Observation {
            time: local(bucket.last),
            balance: bucket.balance.close,
            equity: bucket.equity.close,
        });
        chart.widen(
            (bucket.balance.min, bucket.balance.max),
            (bucket.equity.min, bucket.equity.max),
        );
    }
    Ok(Json(Value::Array(
        chart
            .between(start, end)
            .map(|hour| hour.to_json(real_time))
            .collect(),
    )))
}

fn event_json(record: &store::TrackerEventRecord) -> Value {
    let mut body: Value = serde_json::from_str(&record.event.body_json).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("sequenceNumber".into(), record.sequence_number.into());
    }
    body
}

fn event_filter(
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<TrackerEventFilter, MetaApiError> {
    Ok(TrackerEventFilter {
        within: Some(caller.0.accounts.clone()),
        account: query
            .get("accountId")
            .filter(|t| !t.is_empty())
            .map(|a| AccountId(a.clone())),
        tracker_id: query.get("trackerId").filter(|t| !t.is_empty()).cloned(),
        limit: u32::try_from(limit_param(query, MAX_LIMIT)?).unwrap_or(1_000),
        ..TrackerEventFilter::default()
    })
}

/// `GET /users/current/tracker-events/by-broker-time?startBrokerTime&endBrokerTime&accountId
/// &trackerId&limit`: oldest first, bounds inclusive.
pub async fn events_by_broker_time(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, MetaApiError> {
    let query = query_map(query);
    let mut filter = event_filter(&caller, &query)?;
    for (name, bound) in [
        ("startBrokerTime", &mut filter.from_broker_time),
        ("endBrokerTime", &mut filter.to_broker_time),
    ] {
        if let Some(text) = query.get(name).filter(|t| !t.is_empty()) {
            let time = parse_broker_time(text).ok_or_else(|| {
                MetaApiError::invalid(
                    name,
                    Some(text),
                    "write a broker time as YYYY-MM-DD HH:mm:ss.SSS",
                )
            })?;
            *bound = Some(shared::trackers::format_broker_time(time));
        }
    }
    let events = state.store.tracker_events(&filter).await?;
    Ok(Json(Value::Array(events.iter().map(event_json).collect())))
}

/// `GET /users/current/tracker-events/stream?previousSequenceNumber&accountId&trackerId&limit`:
/// the events after `previousSequenceNumber` (without it: after the request came, as MetaApi's
/// Python SDK sends none), held up to [`LONG_POLL`] until there is one.
pub async fn events_stream(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, MetaApiError> {
    let query = query_map(query);
    let mut filter = event_filter(&caller, &query)?;
    let mut latest = state.risk.latest();
    let after = match query
        .get("previousSequenceNumber")
        .filter(|t| !t.is_empty())
    {
        Some(text) => text.parse::<i64>().map_err(|_| {
            MetaApiError::invalid(
                "previousSequenceNumber",
                Some(text),
                "a whole number: the last sequence number received",
            )
        })?,
        // Without a cursor: what is stored now, whoever stored it.
        None => {
            latest.borrow_and_update();
            state.risk.stored_latest().await?
        }
    };
    filter.after_sequence = Some(after);
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        // A token revoked while its poll waits gets nothing more.
        let still = state.store.api_token(&caller.0.id).await?;
        if still.is_none_or(|token| token.revoked_at.is_some()) {
            return Err(MetaApiError::unauthorized());
        }
        let events = state.store.tracker_events(&filter).await?;
        if !events.is_empty() {
            return Ok(Json(Value::Array(events.iter().map(event_json).collect())));
        }
        tokio::select! {
            () = state.shutdown.cancelled() => break,
            () = tokio::time::sleep_until(deadline) => break,
            _ = latest.changed() => {}
            () = tokio::time::sleep(LONG_POLL_RECHECK) => {}
        }
        latest.borrow_and_update();
    }
    Ok(Json(Value::Array(Vec::new())))
}
