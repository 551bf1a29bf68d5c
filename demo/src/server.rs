//! The demo broker's HTTP face: MetaApi's REST paths, `auth-token` check and error bodies, over
//! the simulated [`World`](crate::world::World), with the [fault knobs](crate::faults) in front
//! of them and their own routes (`GET /demo/faults`, `PUT /demo/faults/{account}`).
//!
//! Handlers are thin: advance the world, ask it, serialise. They must not simulate anything
//! themselves, and every body they send is one of the MetaApi wire types, with MetaApi's number
//! and time formats (see [`metaapi_json`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DemoBroker;
use crate::faults::{self, Fault, Faults, FaultsError};
use crate::world::{WorldError, utc_millis};
use wire::metaapi::MetaError;

/// Largest page of deals MetaApi hands out.
pub const MAX_DEALS_PAGE: usize = 1000;

/// What can go wrong in a request, each with MetaApi's error name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DemoError {
    #[error("missing or wrong auth-token header")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Validation(String),
    #[error("could not encode the response")]
    Internal,
}

impl From<WorldError> for DemoError {
    fn from(e: WorldError) -> Self {
        match e {
            WorldError::UnknownAccount(_)
            | WorldError::UnknownPosition(_)
            | WorldError::UnknownSymbol(_) => DemoError::NotFound(e.to_string()),
            WorldError::ReversedRange => DemoError::Validation(e.to_string()),
        }
    }
}

impl From<FaultsError> for DemoError {
    fn from(e: FaultsError) -> Self {
        match e {
            FaultsError::UnknownAccount(_) => DemoError::NotFound(e.to_string()),
            FaultsError::Invalid(_) => DemoError::Validation(e.to_string()),
        }
    }
}

impl IntoResponse for DemoError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            DemoError::Unauthorized => (StatusCode::UNAUTHORIZED, "UnauthorizedError"),
            DemoError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundError"),
            DemoError::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
            DemoError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        let body = MetaError {
            id: Some(1),
            error: error.into(),
            message: self.to_string(),
            metadata: None,
        };
        (status, Json(body)).into_response()
    }
}

pub(super) fn router(broker: DemoBroker) -> Router {
    let account = Router::new()
        .route("/account-information", get(account_information))
        .route("/positions", get(positions))
        .route("/positions/{position_id}", get(position))
        .route("/orders", get(orders))
        .route("/history-deals/time/{start_time}/{end_time}", get(deals))
        .route("/symbols/{symbol}/specification", get(specification))
        .route("/symbols/{symbol}/current-price", get(current_price))
        .route("/server-time", get(server_time));
    Router::new()
        .nest("/users/current/accounts/{account_id}", account)
        .route("/demo/faults", get(list_faults))
        .route("/demo/faults/{account}", put(set_faults))
        .route("/demo/balance/{account}", post(book_balance))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            broker.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn_with_state(broker.clone(), authenticate))
        .with_state(broker)
}

/// Where MetaApi's account routes begin.
const ACCOUNTS_PREFIX: &str = "/users/current/accounts/";

/// Counts each request to an account's MetaApi routes and spoils it as the account's faults say.
async fn inject_faults(State(broker): State<DemoBroker>, request: Request, next: Next) -> Response {
    let Some(account) = request
        .uri()
        .path()
        .strip_prefix(ACCOUNTS_PREFIX)
        .and_then(|rest| rest.split('/').next())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    let plan = broker.fault_book(|book| book.plan(&account));
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    match plan.fault {
        None => next.run(request).await,
        Some(Fault::DropConnection) => faults::dropped_connection(),
        Some(Fault::ServerError) => faults::server_error(),
        Some(Fault::RateLimit { retry_after_secs }) => faults::rate_limited(retry_after_secs),
        Some(Fault::TruncatedBody) => faults::truncated(next.run(request).await).await,
        Some(Fault::MalformedJson) => faults::malformed(next.run(request).await).await,
    }
}

/// `GET /demo/faults`: every account's faults and request count.
async fn list_faults(State(broker): State<DemoBroker>) -> Response {
    Json(broker.all_faults()).into_response()
}

/// `PUT /demo/faults/{account}` (`*` for every account) with a JSON [`Faults`]. The body is read
/// as JSON whatever its content type, so a bare `curl -d` works.
async fn set_faults(
    State(broker): State<DemoBroker>,
    Path(account): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let faults: Faults =
        serde_json::from_slice(&body).map_err(|e| DemoError::Validation(format!("faults: {e}")))?;
    broker.set_faults(&account, faults)?;
    Ok(Json(broker.all_faults()).into_response())
}

/// `POST /demo/balance/{account}` with `{"amount": "-8000"}` (a decimal string or number):
/// books a deposit or withdrawal now, for tests and a person trying out what Riskdeck makes of
/// one (with `dealDelaySecs`, the balance moves before the deal shows).
async fn book_balance(
    State(broker): State<DemoBroker>,
    Path(account): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Booking {
        amount: Decimal,
    }
    let booking: Booking = serde_json::from_slice(&body)
        .map_err(|e| DemoError::Validation(format!("balance: {e}")))?;
    if booking.amount.is_zero() || booking.amount.abs() > Decimal::from(1_000_000_000) {
        return Err(DemoError::Validation(
            "amount must be non-zero and at most 1,000,000,000 in size".into(),
        ));
    }
    broker.book_balance(&account, booking.amount)?;
    let info = broker.with_current_world(|w, _| w.account_information(&account))?;
    metaapi_json(&info)
}

/// Every request, known route or not, needs the right `auth-token` first, as on MetaApi.
async fn authenticate(State(broker): State<DemoBroker>, request: Request, next: Next) -> Response {
    let authorised = request
        .headers()
        .get("auth-token")
        .is_some_and(|token| token.as_bytes() == broker.token().as_bytes());
    if authorised {
        next.run(request).await
    } else {
        DemoError::Unauthorized.into_response()
    }
}

async fn not_found() -> DemoError {
    DemoError::NotFound("no such resource".into())
}

type Answer = Result<Response, DemoError>;

async fn account_information(
    State(broker): State<DemoBroker>,
    Path(account): Path<String>,
) -> Answer {
    let info = broker.with_current_world(|w, _| w.account_information(&account))?;
    metaapi_json(&info)
}

async fn positions(State(broker): State<DemoBroker>, Path(account): Path<String>) -> Answer {
    let positions = broker.with_current_world(|w, _| w.positions(&account))?;
    metaapi_json(&positions)
}

async fn position(
    State(broker): State<DemoBroker>,
    Path((account, position)): Path<(String, String)>,
) -> Answer {
    let position = broker.with_current_world(|w, _| w.position(&account, &position))?;
    metaapi_json(&position)
}

/// The simulated traders only use market orders, so there are never pending ones.
async fn orders(State(broker): State<DemoBroker>, Path(account): Path<String>) -> Answer {
    broker.with_current_world(|w, _| w.check_account(&account))?;
    metaapi_json(&Vec::<Value>::new())
}

/// `offset` and `limit` as they arrive; parsed by hand so bad values get MetaApi's error body.
#[derive(Debug, Deserialize)]
struct Paging {
    offset: Option<String>,
    limit: Option<String>,
}

async fn deals(
    State(broker): State<DemoBroker>,
    Path((account, start, end)): Path<(String, String, String)>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Answer {
    let Query(paging) = paging.map_err(|e| DemoError::Validation(e.body_text()))?;
    let start = parse_time("startTime", &start)?;
    let end = parse_time("endTime", &end)?;
    let offset = parse_number("offset", paging.offset.as_deref(), 0, usize::MAX)?.unwrap_or(0);
    let limit = parse_number("limit", paging.limit.as_deref(), 1, MAX_DEALS_PAGE)?
        .unwrap_or(MAX_DEALS_PAGE);
    let deals = visible_deals(&broker, &account, start, end, offset, limit)?;
    metaapi_json(&deals)
}

/// The account's deals in `start..end` as the history shows them now: with `dealDelaySecs`,
/// the history has not caught up with the last seconds yet. REST and streaming both read this.
pub(crate) fn visible_deals(
    broker: &DemoBroker,
    account: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    offset: usize,
    limit: usize,
) -> Result<Vec<wire::metaapi::MetaDeal>, WorldError> {
    let delay = broker.faults(account).faults.deal_delay_secs;
    broker.with_current_world(|w, now| {
        let synced = now - chrono::TimeDelta::seconds(i64::try_from(delay).unwrap_or(0));
        let end = if delay > 0 {
            end.min(synced).max(start)
        } else {
            end
        };
        w.deals(account, start, end, offset, limit)
    })
}

async fn specification(
    State(broker): State<DemoBroker>,
    Path((account, symbol)): Path<(String, String)>,
) -> Answer {
    let spec = broker.with_current_world(|w, _| {
        w.check_account(&account)?;
        w.specification(&symbol)
    })?;
    metaapi_json(&spec)
}

async fn current_price(
    State(broker): State<DemoBroker>,
    Path((account, symbol)): Path<(String, String)>,
) -> Answer {
    let price = broker.with_current_world(|w, _| w.price(&account, &symbol))?;
    metaapi_json(&price)
}

async fn server_time(State(broker): State<DemoBroker>, Path(account): Path<String>) -> Answer {
    let time = broker.with_current_world(|w, now| w.server_time(&account, now))?;
    metaapi_json(&time)
}

/// Reads an ISO-8601 time: RFC 3339 with any offset, or without offset, taken as UTC.
fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, DemoError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| {
            DemoError::Validation(format!("{name} must be an ISO-8601 time, got {text:?}"))
        })
}

fn parse_number(
    name: &str,
    text: Option<&str>,
    min: usize,
    max: usize,
) -> Result<Option<usize>, DemoError> {
    let Some(text) = text else { return Ok(None) };
    match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(DemoError::Validation(format!(
            "{name} must be a whole number from {min} to {max}, got {text:?}"
        ))),
    }
}

/// Fields that MetaApi sends as JSON numbers. `rust_decimal` serialises as strings in this
/// workspace, which is right for Riskdeck's own API but not for MetaApi's.
const NUMBER_FIELDS: &[&str] = &[
    "balance",
    "equity",
    "margin",
    "freeMargin",
    "marginLevel",
    "credit",
    "openPrice",
    "currentPrice",
    "currentTickValue",
    "stopLoss",
    "takeProfit",
    "volume",
    "swap",
    "profit",
    "unrealizedProfit",
    "realizedProfit",
    "unrealizedSwap",
    "realizedSwap",
    "unrealizedCommission",
    "realizedCommission",
    "commission",
    "price",
    "tickSize",
    "minVolume",
    "maxVolume",
    "volumeStep",
    "contractSize",
    "point",
    "pipSize",
    "bid",
    "ask",
    "profitTickValue",
    "lossTickValue",
];

/// Fields that MetaApi sends as RFC 3339 UTC times with milliseconds.
const TIME_FIELDS: &[&str] = &["time", "updateTime", "lastQuoteTime"];

/// Serialises a wire value the way MetaApi writes it: decimals as JSON numbers, UTC times with
/// exactly three fractional digits, and absent optional fields left out instead of `null`.
///
/// A JSON number is written from an `f64`; the shortest text that round-trips that `f64` is the
/// original decimal for anything with at most 15 significant digits, which covers every amount
/// and price the demo produces, and readers such as `rust_decimal` parse it back exactly.
pub fn metaapi_json<T: Serialize>(body: &T) -> Answer {
    let value = metaapi_value(body).ok_or(DemoError::Internal)?;
    Ok(Json(value).into_response())
}

/// A wire value as MetaApi writes it (see [`metaapi_json`]), for the streaming packets.
pub(crate) fn metaapi_value<T: Serialize>(body: &T) -> Option<Value> {
    let mut value = serde_json::to_value(body).ok()?;
    normalise(&mut value);
    Some(value)
}

fn normalise(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(fields) => {
            // MetaApi leaves absent optional fields out rather than sending `null`.
            fields.retain(|_, field| !field.is_null());
            for (name, field) in fields.iter_mut() {
                let name = name.as_str();
                match field {
                    Value::String(text) if NUMBER_FIELDS.contains(&name) => {
                        if let Some(number) = decimal_number(text) {
                            *field = Value::Number(number);
                        }
                    }
                    Value::String(text) if TIME_FIELDS.contains(&name) => {
                        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                            *text = utc_millis(t.to_utc());
                        }
                    }
                    other => normalise(other),
                }
            }
        }
        _ => {}
    }
}

fn decimal_number(text: &str) -> Option<serde_json::Number> {
    let decimal: Decimal = text.parse().ok()?;
    // Whole amounts go out as integers (`50000`, not `50000.0`), as MetaApi writes them.
    if decimal.fract().is_zero()
        && let Some(whole) = decimal.to_i64()
    {
        return Some(whole.into());
    }
    serde_json::Number::from_f64(decimal.to_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DemoConfig;
    use axum::body::Body;
    use axum::http::Request;
    use chrono::TimeDelta;
    use serde::de::DeserializeOwned;
    use tower::ServiceExt;
    use wire::metaapi::{
        AccountInformation, MetaDeal, MetaPosition, MetaSymbolPrice, MetaSymbolSpecification,
        ServerTime,
    };

    const BASE: &str = "/users/current/accounts";

    fn broker_with_history(hours: i64) -> DemoBroker {
        let start = DateTime::<Utc>::from(std::time::SystemTime::now()) - TimeDelta::hours(hours);
        DemoBroker::new(DemoConfig::default(), start)
    }

    /// Status, headers and body of the broker's answer to `request`.
    async fn send(
        broker: &DemoBroker,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        let response = broker
            .router()
            .oneshot(request)
            .await
            .expect("router never fails");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        (parts.status, parts.headers, bytes)
    }

    async fn get(broker: &DemoBroker, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("auth-token", token);
        }
        let (status, _, bytes) = send(broker, request.body(Body::empty()).expect("request")).await;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    async fn get_ok(broker: &DemoBroker, path: &str) -> Value {
        let (status, body) = get(broker, path, Some("demo-token")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    fn parse<T: DeserializeOwned>(body: Value) -> T {
        serde_json::from_value(body).expect("MetaApi shape")
    }

    #[track_caller]
    fn check_error(status: StatusCode, body: &Value, want_status: StatusCode, want: &str) {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["id"], 1, "{body}");
        assert_eq!(body["error"], want, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }

    #[tokio::test]
    async fn requests_without_the_right_token_are_unauthorized() {
        let broker = broker_with_history(0);
        let info = format!("{BASE}/demo-gold-swing/account-information");
        for (path, token) in [
            (info.as_str(), None),
            (info.as_str(), Some("wrong")),
            (info.as_str(), Some("")),
            ("/no/such/route", None),
            ("/users/current/accounts/nope/positions", None),
        ] {
            let (status, body) = get(&broker, path, token).await;
            check_error(status, &body, StatusCode::UNAUTHORIZED, "UnauthorizedError");
        }
    }

    #[tokio::test]
    async fn unknown_accounts_symbols_positions_and_routes_are_not_found() {
        let broker = broker_with_history(0);
        for path in [
            format!("{BASE}/nope/account-information"),
            format!("{BASE}/nope/positions"),
            format!("{BASE}/nope/orders"),
            format!("{BASE}/nope/server-time"),
            format!("{BASE}/nope/symbols/EURUSD/current-price"),
            format!("{BASE}/nope/history-deals/time/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z"),
            format!("{BASE}/demo-gold-swing/positions/123"),
            format!("{BASE}/demo-gold-swing/symbols/DOGEUSD/specification"),
            format!("{BASE}/demo-gold-swing/symbols/DOGEUSD/current-price"),
            format!("{BASE}/demo-gold-swing/nothing-here"),
        ] {
            let (status, body) = get(&broker, &path, Some("demo-token")).await;
            check_error(status, &body, StatusCode::NOT_FOUND, "NotFoundError");
        }
    }

    #[tokio::test]
    async fn bad_times_and_paging_are_validation_errors() {
        let broker = broker_with_history(0);
        let deals = format!("{BASE}/demo-gold-swing/history-deals/time");
        for path in [
            format!("{deals}/yesterday/2026-01-02T00:00:00Z"),
            format!("{deals}/2026-01-01T00:00:00Z/2026-13-02T00:00:00Z"),
            format!("{deals}/2026-01-02T00:00:00Z/2026-01-01T00:00:00Z"),
            format!("{deals}/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z?limit=1001"),
            format!("{deals}/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z?limit=0"),
            format!("{deals}/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z?limit=ten"),
            format!("{deals}/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z?offset=-1"),
        ] {
            let (status, body) = get(&broker, &path, Some("demo-token")).await;
            check_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
        }
    }

    #[track_caller]
    fn check_fields(body: &Value, fields: &[&str]) {
        let object = body.as_object().expect("a JSON object");
        for field in fields {
            assert!(object.contains_key(*field), "missing {field} in {body}");
        }
        for key in object.keys() {
            assert!(!key.contains('_'), "{key} is not camelCase");
        }
    }

    #[tokio::test]
    async fn account_information_has_metaapi_field_names_and_numbers() {
        let broker = broker_with_history(1);
        let body = get_ok(
            &broker,
            &format!("{BASE}/demo-eurusd-scalper/account-information"),
        )
        .await;
        check_fields(
            &body,
            &[
                "platform",
                "broker",
                "currency",
                "server",
                "balance",
                "equity",
                "margin",
                "freeMargin",
                "leverage",
                "tradeAllowed",
                "investorMode",
                "marginMode",
                "name",
                "login",
                "credit",
                "type",
                "currencyDigits",
            ],
        );
        assert!(body["balance"].is_number(), "{body}");
        assert!(body["freeMargin"].is_number(), "{body}");
        let info: AccountInformation = parse(body);
        assert_eq!(info.free_margin, info.equity - info.margin);
    }

    #[tokio::test]
    async fn margin_level_is_left_out_while_there_is_no_margin() {
        let broker = broker_with_history(0);
        let body = get_ok(
            &broker,
            &format!("{BASE}/demo-gold-swing/account-information"),
        )
        .await;
        assert!(body["margin"].is_number(), "{body}");
        if body["margin"] == 0 {
            assert!(body.get("marginLevel").is_none(), "{body}");
        } else {
            assert!(body["marginLevel"].is_number(), "{body}");
        }
    }

    #[tokio::test]
    async fn positions_have_metaapi_field_names_and_each_one_can_be_fetched() {
        let broker = broker_with_history(1);
        let list = get_ok(&broker, &format!("{BASE}/demo-eurusd-scalper/positions")).await;
        let items = list.as_array().expect("a list").clone();
        assert!(!items.is_empty(), "the scalper is rarely flat");
        for item in &items {
            check_fields(
                item,
                &[
                    "id",
                    "type",
                    "symbol",
                    "magic",
                    "time",
                    "brokerTime",
                    "updateTime",
                    "openPrice",
                    "currentPrice",
                    "currentTickValue",
                    "stopLoss",
                    "volume",
                    "swap",
                    "profit",
                    "unrealizedProfit",
                    "realizedProfit",
                    "commission",
                ],
            );
            assert!(item["openPrice"].is_number() && item["stopLoss"].is_number());
        }
        let first: MetaPosition = parse(items[0].clone());
        let one = get_ok(
            &broker,
            &format!("{BASE}/demo-eurusd-scalper/positions/{}", first.id),
        )
        .await;
        assert_eq!(parse::<MetaPosition>(one).id, first.id);
    }

    #[tokio::test]
    async fn deals_have_metaapi_field_names_and_times_with_milliseconds() {
        let broker = broker_with_history(1);
        let body = get_ok(
            &broker,
            &format!(
                "{BASE}/demo-eurusd-scalper/history-deals/time/2000-01-01T00:00:00.000Z/2100-01-01T00:00:00.000Z"
            ),
        )
        .await;
        let items = body.as_array().expect("a list");
        let trade = items
            .iter()
            .find(|d| d["entryType"] == "DEAL_ENTRY_OUT")
            .expect("an hour has closed trades");
        check_fields(
            trade,
            &[
                "id",
                "type",
                "entryType",
                "symbol",
                "time",
                "brokerTime",
                "volume",
                "price",
                "commission",
                "swap",
                "profit",
                "positionId",
                "orderId",
                "reason",
                "stopLoss",
            ],
        );
        let time = trade["time"].as_str().expect("time text");
        assert_eq!(time.len(), "2026-01-05T10:00:00.000Z".len(), "{time}");
        assert!(time.ends_with('Z'));
        let broker_time = trade["brokerTime"].as_str().expect("broker time text");
        assert_eq!(
            broker_time.len(),
            "2026-01-05 12:00:00.000".len(),
            "{broker_time}"
        );
        let deal: MetaDeal = parse(trade.clone());
        assert!(deal.stop_loss.is_some());
        assert_eq!(items[0]["type"], "DEAL_TYPE_BALANCE");
    }

    #[tokio::test]
    async fn paging_over_http_has_no_gap_and_no_duplicate() {
        let broker = broker_with_history(4);
        // A range that ends in the past does not grow while we page through it.
        let end = utc_millis(DateTime::<Utc>::from(std::time::SystemTime::now()));
        let range =
            format!("{BASE}/demo-eurusd-scalper/history-deals/time/2000-01-01T00:00:00.000Z/{end}");
        let all: Vec<MetaDeal> = parse(get_ok(&broker, &range).await);
        let expected: Vec<_> = all.into_iter().take(50).collect();
        assert_eq!(expected.len(), 50);
        let until = utc_millis(expected[49].time + TimeDelta::milliseconds(1));
        let range = format!(
            "{BASE}/demo-eurusd-scalper/history-deals/time/2000-01-01T00:00:00.000Z/{until}"
        );
        let mut paged: Vec<MetaDeal> = Vec::new();
        let mut offset = 0;
        loop {
            let page: Vec<MetaDeal> =
                parse(get_ok(&broker, &format!("{range}?offset={offset}&limit=7")).await);
            assert!(page.len() <= 7);
            offset += page.len();
            let last = page.len() < 7;
            paged.extend(page);
            if last {
                break;
            }
        }
        assert_eq!(paged, expected);
    }

    #[tokio::test]
    async fn symbols_prices_orders_and_server_time_have_metaapi_shapes() {
        let broker = broker_with_history(0);
        let account = format!("{BASE}/demo-gold-swing");
        for symbol in ["EURUSD", "GBPUSD", "XAUUSD", "US30"] {
            let spec = get_ok(
                &broker,
                &format!("{account}/symbols/{symbol}/specification"),
            )
            .await;
            check_fields(
                &spec,
                &[
                    "symbol",
                    "tickSize",
                    "minVolume",
                    "maxVolume",
                    "volumeStep",
                    "contractSize",
                    "digits",
                    "point",
                    "baseCurrency",
                    "profitCurrency",
                    "marginCurrency",
                ],
            );
            let spec: MetaSymbolSpecification = parse(spec);
            let price = get_ok(
                &broker,
                &format!("{account}/symbols/{symbol}/current-price"),
            )
            .await;
            check_fields(
                &price,
                &[
                    "symbol",
                    "bid",
                    "ask",
                    "profitTickValue",
                    "lossTickValue",
                    "time",
                    "brokerTime",
                ],
            );
            let price: MetaSymbolPrice = parse(price);
            assert_eq!(price.profit_tick_value, spec.tick_size * spec.contract_size);
        }
        assert_eq!(
            get_ok(&broker, &format!("{account}/orders")).await,
            Value::Array(vec![])
        );
        let time = get_ok(&broker, &format!("{account}/server-time")).await;
        check_fields(
            &time,
            &["time", "brokerTime", "lastQuoteTime", "lastQuoteBrokerTime"],
        );
        let time: ServerTime = parse(time);
        let offset =
            chrono::NaiveDateTime::parse_from_str(&time.broker_time, "%Y-%m-%d %H:%M:%S%.3f")
                .expect("broker time format")
                .and_utc()
                - time.time;
        assert_eq!(offset.num_minutes(), 120);
    }

    #[test]
    fn path_times_are_read_as_iso_8601() {
        #[track_caller]
        fn check(text: &str, want: Option<&str>) {
            let got = parse_time("startTime", text).ok().map(utc_millis);
            assert_eq!(got.as_deref(), want, "{text}");
        }
        check("2026-01-05T10:00:00Z", Some("2026-01-05T10:00:00.000Z"));
        check("2026-01-05T10:00:00.123Z", Some("2026-01-05T10:00:00.123Z"));
        check(
            "2026-01-05T12:00:00+02:00",
            Some("2026-01-05T10:00:00.000Z"),
        );
        check("2026-01-05T10:00:00", Some("2026-01-05T10:00:00.000Z"));
        check("2026-01-05T10:00:00.5", Some("2026-01-05T10:00:00.500Z"));
        check("2026-01-05", None);
        check("yesterday", None);
        check("", None);
    }

    #[test]
    fn decimals_become_numbers_with_the_same_text() {
        let mut value = serde_json::json!({
            "balance": "100000.55", "openPrice": "1.08513", "equity": "25000.00", "id": "123", "symbol": "EURUSD",
            "time": "2026-01-05T10:00:00Z", "nested": [{"profit": "-12.3", "marginLevel": null}],
        });
        normalise(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"balance":100000.55,"equity":25000,"id":"123","nested":[{"profit":-12.3}],"openPrice":1.08513,"symbol":"EURUSD","time":"2026-01-05T10:00:00.000Z"}"#
        );
    }

    async fn put(broker: &DemoBroker, path: &str, token: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::put(path)
            .header("auth-token", token)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let (status, _, bytes) = send(broker, request).await;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    async fn raw(
        broker: &DemoBroker,
        path: &str,
    ) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        let request = Request::get(path)
            .header("auth-token", "demo-token")
            .body(Body::empty())
            .expect("request");
        send(broker, request).await
    }

    #[tokio::test]
    async fn faults_are_set_and_listed_over_http_behind_the_token() {
        let broker = broker_with_history(0);
        let (status, body) = put(
            &broker,
            "/demo/faults/demo-gold-swing",
            "demo-token",
            r#"{"serverError": {"next": 2}, "latencyMs": 10}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["demo-gold-swing"]["faults"]["serverError"]["next"], 2);
        assert_eq!(body["demo-passing"]["faults"]["serverError"], "off");
        let listed = get_ok(&broker, "/demo/faults").await;
        assert_eq!(listed, body);

        let (status, body) = put(&broker, "/demo/faults/*", "demo-token", "{}").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.as_object()
                .expect("an object")
                .values()
                .all(|a| a["faults"]["serverError"] == "off")
        );

        let (status, body) = put(&broker, "/demo/faults/*", "wrong", "{}").await;
        check_error(status, &body, StatusCode::UNAUTHORIZED, "UnauthorizedError");
        let (status, body) = put(&broker, "/demo/faults/nope", "demo-token", "{}").await;
        check_error(status, &body, StatusCode::NOT_FOUND, "NotFoundError");
        for bad in [
            r#"{"serverError": {"percent": 101}}"#,
            r#"{"serverError": "sometimes"}"#,
            "not json",
        ] {
            let (status, body) = put(&broker, "/demo/faults/*", "demo-token", bad).await;
            check_error(status, &body, StatusCode::BAD_REQUEST, "ValidationError");
        }
    }

    #[tokio::test]
    async fn fault_knobs_spoil_answers_and_requests_are_counted() {
        let broker = broker_with_history(0);
        let info = format!("{BASE}/demo-gold-swing/account-information");
        let set = |faults: &'static str| {
            let broker = broker.clone();
            async move {
                let (status, body) = put(
                    &broker,
                    "/demo/faults/demo-gold-swing",
                    "demo-token",
                    faults,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        };

        set(r#"{"serverError": "always"}"#).await;
        let (status, body) = get(&broker, &info, Some("demo-token")).await;
        check_error(
            status,
            &body,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
        );
        // Another account is not affected.
        get_ok(&broker, &format!("{BASE}/demo-passing/account-information")).await;

        set(r#"{"rateLimit": "always", "retryAfterSecs": 7}"#).await;
        let (status, headers, bytes) = raw(&broker, &info).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "7");
        let body: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["error"], "TooManyRequestsError");
        let when = body["metadata"]["recommendedRetryTime"]
            .as_str()
            .expect("an instant");
        assert!(DateTime::parse_from_rfc3339(when).is_ok(), "{when}");

        set(r#"{"malformedJson": {"next": 1}}"#).await;
        let (status, _, bytes) = raw(&broker, &info).await;
        assert_eq!(status, StatusCode::OK);
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        assert!(bytes.ends_with(b","), "{}", String::from_utf8_lossy(&bytes));
        let (status, _, bytes) = raw(&broker, &info).await;
        assert_eq!(status, StatusCode::OK);
        assert!(serde_json::from_slice::<AccountInformation>(&bytes).is_ok());

        set(r#"{"frozen": true}"#).await;
        let first = get_ok(&broker, &info).await;
        let time = get_ok(&broker, &format!("{BASE}/demo-gold-swing/server-time")).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(get_ok(&broker, &info).await, first);
        let later = get_ok(&broker, &format!("{BASE}/demo-gold-swing/server-time")).await;
        assert_eq!(later["lastQuoteTime"], time["lastQuoteTime"]);
        assert_ne!(later["time"], time["time"]);

        assert_eq!(broker.faults("demo-gold-swing").requests, 8);
        assert_eq!(broker.faults("demo-passing").requests, 1);
    }
}
