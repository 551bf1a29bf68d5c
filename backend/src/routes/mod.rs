//! The route table: every endpoint with who may call it, as data. The router is built from it,
//! and tests iterate it ([`routes`]), so no endpoint escapes the authorization matrix.
//!
//! Handlers are thin: extract, call, map. Access is checked before a handler runs, from the
//! table; requests that change something (any method but GET and HEAD) also need the session's
//! anti-forgery token, except signing in.

mod accounts;
mod api_tokens;
mod assets;
mod audit;
mod auth;
mod challenges;
mod competitions;
mod docs;
mod health;
mod imports;
mod ingest;
mod metrics;
mod notifications;
pub mod openapi;
mod overrides;
mod owners;
mod programs;
pub mod risk_api;
mod rule_sets;
mod statements;
mod stream;
mod users;

use crate::AppState;
use crate::auth::{AdminUser, CurrentUser, OwnedAccount};
use crate::error::AppError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

pub use risk_api::TokenUses;

/// Where MetaApi's risk management API is served (`routes::risk_api`).
const RISK_API_PREFIX: &str = "/users/current";

/// The longest an ordinary API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Anyone signed in.
    Authenticated,
    /// Anyone signed in who may see the path's `{account}`: its owner or an admin. For anyone
    /// else the account does not exist (404).
    Owner,
    /// Admins only (403 for traders).
    Admin,
    /// A bridge pushing records for the path's `{account}`, holding its ingest token
    /// (`Authorization: Bearer`); sessions play no part (401 without the token).
    IngestToken,
    /// An application holding an API token an admin created (header `auth-token`): MetaApi's
    /// risk management API under `/users/current`, for the token's accounts only (any other
    /// account does not exist: 404); sessions play no part (401 without the token).
    ApiToken,
}

/// The HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Reads.
    Get,
    /// Changes something.
    Post,
    /// Replaces something (MetaApi's tracker update).
    Put,
    /// Deletes something (MetaApi's tracker delete).
    Delete,
}

impl Verb {
    /// The HTTP method.
    pub fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Delete => Method::DELETE,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Delete => MethodFilter::DELETE,
        }
    }

    /// Whether requests change something (and so need the anti-forgery token).
    pub fn changes_state(self) -> bool {
        !matches!(self, Self::Get)
    }
}

/// One row of the route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub verb: Verb,
    /// The path, with `{account}` for an account id and `{user}` for a user id.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// A row with its handler.
struct Row {
    route: Route,
    handler: MethodRouter<AppState>,
    /// Ordinary requests get a deadline; the stream is long-lived by design.
    deadline: bool,
}

fn row<H, T>(verb: Verb, path: &'static str, access: Access, handler: H) -> Row
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Row {
        route: Route { verb, path, access },
        handler: on(verb.filter(), handler),
        deadline: true,
    }
}

/// The table. Keep handlers' extractors in step with the access column: `OwnedAccount` for
/// `Owner`, `AdminUser` for `Admin`, `CurrentUser` for `Authenticated`.
fn table() -> Vec<Row> {
    use Access::{Admin, ApiToken, Authenticated, IngestToken, Owner, Public};
    use Verb::{Delete, Get, Post, Put};
    vec![
        row(Get, "/healthz", Public, health::live),
        row(Get, "/readyz", Public, health::ready),
        row(Get, "/metrics", Public, metrics::render),
        row(Post, "/api/auth/login", Public, auth::login),
        row(Post, "/api/auth/logout", Authenticated, auth::logout),
        row(Get, "/api/auth/me", Authenticated, auth::me),
        row(Get, "/api/accounts", Authenticated, accounts::list),
        row(Get, "/api/accounts/{account}", Owner, accounts::get),
        row(
            Get,
            "/api/accounts/{account}/history",
            Owner,
            accounts::history,
        ),
        row(
            Post,
            "/api/accounts/{account}/anchors",
            Admin,
            accounts::correct_anchor,
        ),
        Row {
            deadline: false,
            ..row(Get, "/api/stream", Authenticated, stream::subscribe)
        },
        row(Get, "/api/users", Admin, users::list),
        row(Post, "/api/users/{user}/disable", Admin, users::disable),
        row(Post, "/api/users/{user}/enable", Admin, users::enable),
        Row {
            handler: on(MethodFilter::POST, ingest::push)
                .layer(DefaultBodyLimit::max(crate::ingest::MAX_BATCH_BYTES)),
            ..row(Post, "/api/ingest/{account}", IngestToken, ingest::push)
        },
        row(Get, "/api/openapi.json", Public, docs::openapi),
        row(Post, "/api/users", Admin, users::create),
        row(
            Post,
            "/api/users/{user}/password",
            Admin,
            users::reset_password,
        ),
        row(
            Get,
            "/api/accounts/{account}/events",
            Owner,
            accounts::events,
        ),
        row(
            Get,
            "/api/accounts/{account}/rule-sets",
            Owner,
            rule_sets::list,
        ),
        row(
            Post,
            "/api/accounts/{account}/assign",
            Admin,
            accounts::assign,
        ),
        row(
            Post,
            "/api/accounts/{account}/unassign",
            Admin,
            accounts::unassign,
        ),
        row(
            Get,
            "/api/accounts/{account}/trades",
            Owner,
            accounts::trades,
        ),
        // A challenge's statement for disputes: the JSON, and the same for people.
        row(
            Get,
            "/api/accounts/{account}/statement",
            Owner,
            statements::json,
        ),
        row(
            Get,
            "/api/accounts/{account}/statement.pdf",
            Owner,
            statements::pdf,
        ),
        row(
            Get,
            "/api/accounts/{account}/statement.html",
            Owner,
            statements::html,
        ),
        row(
            Post,
            "/api/accounts/{account}/rule-sets",
            Admin,
            rule_sets::save,
        ),
        row(
            Post,
            "/api/accounts/{account}/rule-sets/what-if",
            Admin,
            rule_sets::what_if,
        ),
        // Admin console: challenges overview and creating a challenge.
        row(Get, "/api/admin/challenges", Admin, challenges::overview),
        row(
            Get,
            "/api/admin/connections",
            Admin,
            challenges::connections,
        ),
        row(Post, "/api/accounts", Admin, challenges::create),
        row(
            Get,
            "/api/accounts/{account}/connection",
            Admin,
            accounts::connection,
        ),
        row(
            Post,
            "/api/accounts/{account}/clear-breach",
            Admin,
            overrides::clear_breach,
        ),
        row(
            Post,
            "/api/accounts/{account}/unpause",
            Admin,
            overrides::unpause,
        ),
        row(
            Post,
            "/api/accounts/{account}/archive",
            Admin,
            accounts::archive,
        ),
        row(Get, "/api/audit", Admin, audit::list),
        row(Get, "/api/audit.csv", Admin, audit::csv),
        row(Get, "/api/account-owners", Admin, owners::list),
        row(Get, "/api/notifications", Admin, notifications::list),
        row(
            Get,
            "/api/me/notifications",
            Authenticated,
            notifications::mine,
        ),
        row(
            Post,
            "/api/me/notifications",
            Authenticated,
            notifications::update_mine,
        ),
        row(
            Get,
            "/api/users/{user}/notifications",
            Admin,
            notifications::get_user,
        ),
        row(
            Post,
            "/api/users/{user}/notifications",
            Admin,
            notifications::update_user,
        ),
        // Programs: what the firm sells, versioned.
        row(Get, "/api/programs", Admin, programs::list),
        row(Post, "/api/programs", Admin, programs::create),
        row(Get, "/api/programs/{program}", Admin, programs::detail),
        row(
            Post,
            "/api/programs/{program}/what-if",
            Admin,
            programs::what_if,
        ),
        row(
            Post,
            "/api/programs/{program}/versions",
            Admin,
            programs::save,
        ),
        row(Get, "/api/promotions", Admin, programs::promotions),
        row(
            Post,
            "/api/accounts/{account}/promotion",
            Admin,
            programs::decide_promotion,
        ),
        // Competitions: live leaderboards, a public link, and how a trader is shown on them.
        row(Get, "/api/competitions", Authenticated, competitions::list),
        row(Post, "/api/competitions", Admin, competitions::create),
        row(
            Get,
            "/api/competitions/{competition}",
            Authenticated,
            competitions::detail,
        ),
        row(
            Post,
            "/api/competitions/{competition}",
            Admin,
            competitions::update,
        ),
        row(
            Post,
            "/api/competitions/{competition}/entries",
            Admin,
            competitions::entries,
        ),
        row(
            Get,
            "/api/competitions/{competition}/leaderboard",
            Authenticated,
            competitions::leaderboard,
        ),
        Row {
            deadline: false,
            ..row(
                Get,
                "/api/competitions/{competition}/leaderboard/stream",
                Authenticated,
                competitions::stream,
            )
        },
        row(
            Get,
            "/api/public/competitions/{slug}/leaderboard",
            Public,
            competitions::public,
        ),
        row(Get, "/api/me/profile", Authenticated, competitions::profile),
        row(
            Post,
            "/api/me/profile",
            Authenticated,
            competitions::update_profile,
        ),
        // Importing accounts by the thousand: a larger body, and no deadline (the accounts
        // are created and started in a task of their own, whatever the client does).
        Row {
            handler: on(MethodFilter::POST, imports::create)
                .layer(DefaultBodyLimit::max(crate::imports::MAX_BODY_BYTES)),
            deadline: false,
            ..row(Post, "/api/imports", Admin, imports::create)
        },
        row(Get, "/api/imports", Admin, imports::list),
        row(Get, "/api/imports/template.csv", Admin, imports::template),
        row(Get, "/api/imports/{import}", Admin, imports::progress),
        // API tokens (MetaApi's risk management API), and an account's trackers on its page.
        row(Get, "/api/api-tokens", Admin, api_tokens::list),
        row(Post, "/api/api-tokens", Admin, api_tokens::create),
        row(
            Post,
            "/api/api-tokens/{token}/revoke",
            Admin,
            api_tokens::revoke,
        ),
        row(
            Get,
            "/api/accounts/{account}/trackers",
            Owner,
            api_tokens::account_trackers,
        ),
        // MetaApi's risk management API, as its SDK calls it.
        row(
            Post,
            "/users/current/accounts/{account}/trackers",
            ApiToken,
            risk_api::create_tracker,
        ),
        row(
            Get,
            "/users/current/accounts/{account}/trackers",
            ApiToken,
            risk_api::list_trackers,
        ),
        row(
            Get,
            "/users/current/accounts/{account}/trackers/{tracker}",
            ApiToken,
            risk_api::get_tracker,
        ),
        row(
            Put,
            "/users/current/accounts/{account}/trackers/{tracker}",
            ApiToken,
            risk_api::update_tracker,
        ),
        row(
            Delete,
            "/users/current/accounts/{account}/trackers/{tracker}",
            ApiToken,
            risk_api::delete_tracker,
        ),
        row(
            Get,
            "/users/current/accounts/{account}/trackers/name/{*name}",
            ApiToken,
            risk_api::get_tracker_by_name,
        ),
        row(
            Get,
            "/users/current/accounts/{account}/trackers/{tracker}/statistics",
            ApiToken,
            risk_api::statistics,
        ),
        row(
            Get,
            "/users/current/accounts/{account}/equity-chart",
            ApiToken,
            risk_api::equity_chart,
        ),
        row(
            Get,
            "/users/current/tracker-events/by-broker-time",
            ApiToken,
            risk_api::events_by_broker_time,
        ),
        Row {
            deadline: false,
            ..row(
                Get,
                "/users/current/tracker-events/stream",
                ApiToken,
                risk_api::events_stream,
            )
        },
    ]
}

/// The largest request body a route accepts.
pub fn body_limit(route: &Route) -> usize {
    match (route.verb, route.path) {
        (Verb::Post, "/api/imports") => crate::imports::MAX_BODY_BYTES,
        (Verb::Post, "/api/ingest/{account}") => crate::ingest::MAX_BATCH_BYTES,
        _ => MAX_BODY_BYTES,
    }
}

/// Every route of the server with its access level (the browser app's files, served for every
/// other path, are public).
pub fn routes() -> Vec<Route> {
    table().into_iter().map(|row| row.route).collect()
}

/// Every route of the server.
pub fn router(state: AppState, assets_dir: &Path) -> Router {
    let mut api = Router::new();
    let mut risk = Router::new();
    let mut root = Router::new();
    for Row {
        route,
        handler,
        deadline,
    } in table()
    {
        let handler = if deadline {
            handler.layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            ))
        } else {
            handler
        };
        let handler = handler.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            move |State(state): State<AppState>, request: Request, next: Next| async move {
                let started = std::time::Instant::now();
                let metrics = state.metrics.clone();
                let response = guard(route, state, request, next).await;
                metrics.observe_request(
                    route.path,
                    route.verb.method().as_str(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
                response
            },
        ));
        if let Some(rest) = route.path.strip_prefix("/api") {
            api = api.route(rest, handler);
        } else if let Some(rest) = route.path.strip_prefix(RISK_API_PREFIX) {
            risk = risk.route(rest, handler);
        } else {
            root = root.route(route.path, handler);
        }
    }
    let risk = risk
        .fallback(risk_api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(risk_api::response));
    let api = api
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(api_response));
    root.nest("/api", api)
        .nest(RISK_API_PREFIX, risk)
        .with_state(state)
        .fallback_service(assets::service(assets_dir))
}

/// Lets a request through when the route's access level allows it: the extractor for the
/// level decides (and leaves what it found for the handler), then a request that changes
/// something must carry the session's anti-forgery token.
async fn guard(route: Route, state: AppState, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let allowed = match route.access {
        Access::Public => Ok(()),
        Access::Authenticated => CurrentUser::from_request_parts(&mut parts, &state)
            .await
            .map(drop),
        Access::Owner => OwnedAccount::from_request_parts(&mut parts, &state)
            .await
            .map(drop),
        Access::Admin => AdminUser::from_request_parts(&mut parts, &state)
            .await
            .map(drop),
        Access::IngestToken => ingest::authorize(&mut parts, &state).await,
        Access::ApiToken => match risk_api::authorize(&mut parts, &state).await {
            Ok(()) => Ok(()),
            Err(error) => return error.into_response(),
        },
    };
    if let Err(error) = allowed {
        return error.into_response();
    }
    // A token in a header is not sent by browsers on their own: no forgery to guard against.
    let session_based = !matches!(
        route.access,
        Access::Public | Access::IngestToken | Access::ApiToken
    );
    if session_based && route.verb.changes_state() {
        let csrf_ok = parts
            .extensions
            .get::<CurrentUser>()
            .is_some_and(|user| user.csrf_matches(&parts.headers));
        if !csrf_ok {
            return AppError::Forbidden(
                "This request lacks its anti-forgery token. Reload the page and try again."
                    .to_owned(),
            )
            .into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Every API answer is `Cache-Control: no-store` (they are personal and live; the public
/// leaderboard sets its own), and every API error carries the one JSON error body: a rejection
/// axum writes as plain text (a query or path that does not parse, a body over the limit, a
/// method the route lacks) is rewritten.
async fn api_response(response: Response) -> Response {
    use axum::http::header::{self, HeaderValue};
    let (mut parts, body) = response.into_parts();
    // A handler that made its answer public (the public leaderboard) keeps its caching; any
    // other (the streams' `no-cache` too) is `no-store`.
    let public = parts
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("public"));
    if !public {
        parts
            .headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = parts.status;
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Response::from_parts(parts, body);
    }
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The body is larger than this endpoint accepts.".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => "This endpoint does not take this method.".to_owned(),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("The request failed.")
            .to_owned(),
        _ => match text.char_indices().nth(MAX_REJECTION_CHARS) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text,
        },
    };
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request".to_owned(),
        StatusCode::UNPROCESSABLE_ENTITY => "invalid".to_owned(),
        StatusCode::INTERNAL_SERVER_ERROR => "internal".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "unavailable".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .replace([' ', '-'], "_"),
    };
    let mut rewritten = (
        status,
        axum::Json(shared::api::ErrorBody {
            error: code,
            message,
        }),
    )
        .into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    rewritten.headers_mut().extend(parts.headers);
    rewritten
}

async fn api_not_found() -> AppError {
    AppError::NotFound("There is no such API endpoint.".to_owned())
}

/// The longest piece of a JSON error message shown (serde quotes the offending value, which
/// may be most of a 64 KiB body).
const MAX_REJECTION_CHARS: usize = 300;

/// A JSON request body. A rejected one gets the usual error body: 400 for text that is not
/// JSON, 422 for JSON of the wrong shape, 415 without `content-type: application/json`, 413
/// for a body over the limit.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + serde::Serialize> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        if !json_content_type(request.headers()) {
            return Err(AppError::UnsupportedMediaType(
                "Send the body as JSON, with the header content-type: application/json.".to_owned(),
            ));
        }
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(format!(
                    "The body is larger than the {MAX_BODY_BYTES} bytes accepted."
                )),
                _ => AppError::BadRequest(rejection.body_text()),
            })?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&body).map_err(|rejection| {
            let text = rejection.body_text();
            let message = match text.char_indices().nth(MAX_REJECTION_CHARS) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            };
            match rejection.status() {
                StatusCode::UNPROCESSABLE_ENTITY => AppError::Unprocessable(message),
                _ => AppError::BadRequest(message),
            }
        })?;
        if let Some(field) = separated_decimal(&body, &value) {
            return Err(AppError::Unprocessable(format!(
                "{field}: write a decimal with digits and at most one point, without `_` \
                 separators (e.g. \"100000.50\")."
            )));
        }
        Ok(Self(value))
    }
}

/// Whether `content-type` says JSON (`application/json`, or `application/...+json`).
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The field (a JSON path such as `draft.rules[0].kind.limit.value`) where `sent` wrote a
/// decimal with `_` separators (`"100_000"`) that was read as a number anyway: the decimal
/// parser accepts them, the API does not, so what a person typed is never read as something
/// else. Found by comparing what was sent with what was read, written back; only bodies with
/// a digit next to a `_` are looked at.
pub(crate) fn separated_decimal(sent: &[u8], read: &impl serde::Serialize) -> Option<String> {
    let suspicious = sent
        .windows(2)
        .any(|pair| matches!(pair, [b'_', d] | [d, b'_'] if d.is_ascii_digit()));
    if !suspicious {
        return None;
    }
    let sent: serde_json::Value = serde_json::from_slice(sent).ok()?;
    let read = serde_json::to_value(read).ok()?;
    let mut path = String::new();
    separated_decimal_at(&sent, &read, &mut path).then_some(path)
}

fn separated_decimal_at(
    sent: &serde_json::Value,
    read: &serde_json::Value,
    path: &mut String,
) -> bool {
    use serde_json::Value;
    match (sent, read) {
        (Value::String(sent), Value::String(read)) => {
            sent.contains('_')
                && sent != read
                && matches!(
                    (sent.parse::<rust_decimal::Decimal>(), read.parse::<rust_decimal::Decimal>()),
                    (Ok(a), Ok(b)) if a == b
                )
        }
        (Value::Object(sent), Value::Object(read)) => sent.iter().any(|(key, value)| {
            let Some(read) = read.get(key) else {
                return false;
            };
            let before = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = separated_decimal_at(value, read, path);
            if !found {
                path.truncate(before);
            }
            found
        }),
        (Value::Array(sent), Value::Array(read)) => {
            sent.iter()
                .zip(read)
                .enumerate()
                .any(|(index, (value, read))| {
                    let before = path.len();
                    path.push_str(&format!("[{index}]"));
                    let found = separated_decimal_at(value, read, path);
                    if !found {
                        path.truncate(before);
                    }
                    found
                })
        }
        _ => false,
    }
}

fn audit_json(
    value: Option<&impl serde::Serialize>,
) -> Result<Option<serde_json::Value>, AppError> {
    value
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| AppError::Internal(format!("cannot write an audit entry: {e}")))
}

/// Writes one entry of the audit log for a change a signed-in person made: who, what, to
/// which thing, the thing before and after (never a password).
/// An id of a program or a competition: 3 to 64 lowercase letters, digits and `-`, not starting
/// or ending with `-` (422 otherwise, with `example`).
fn check_slug(id: &str, example: &str) -> Result<(), AppError> {
    let ok = (3..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(AppError::Unprocessable(format!(
            "id: {id:?} is not a usable id: use 3 to 64 lowercase letters, digits and '-', not \
             starting or ending with '-' (e.g. \"{example}\")."
        )))
    }
}

/// Refuses a change to an archived challenge (409, saying when, by whom and why it was
/// archived).
async fn writable(state: &AppState, id: &shared::domain::AccountId) -> Result<(), AppError> {
    match state.store.archived(id).await? {
        None => Ok(()),
        Some(archived) => Err(AppError::Conflict(format!(
            "{id} was archived on {} by {} ({}): it is read-only. Its history, events, trades \
             and statement are still there.",
            archived.at.format("%Y-%m-%d %H:%M UTC"),
            archived.by,
            archived.reason
        ))),
    }
}

async fn audit(
    state: &AppState,
    actor: &CurrentUser,
    action: &str,
    subject: String,
    before: Option<&impl serde::Serialize>,
    after: Option<&impl serde::Serialize>,
) -> Result<(), AppError> {
    state
        .store
        .append_audit(&store::AuditEntry {
            time: chrono::Utc::now(),
            actor: actor.user.username.clone(),
            action: action.to_owned(),
            subject,
            before: audit_json(before)?,
            after: audit_json(after)?,
            reason: None,
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_in_changes_state_without_a_session() {
        let public_changes: Vec<_> = routes()
            .into_iter()
            .filter(|r| r.access == Access::Public && r.verb.changes_state())
            .map(|r| r.path)
            .collect();
        assert_eq!(public_changes, ["/api/auth/login"]);
    }

    #[test]
    fn account_routes_name_the_account_and_paths_are_unique() {
        let routes = routes();
        for route in &routes {
            let token_account =
                route.access == Access::ApiToken && route.path.contains("/accounts/");
            if matches!(route.access, Access::Owner | Access::IngestToken) || token_account {
                assert!(route.path.contains("{account}"), "{route:?}");
            }
            // Only an admin acts on an account they do not own (a bridge pushes with its token).
            if route.path.contains("{account}") {
                assert!(
                    matches!(
                        route.access,
                        Access::Owner | Access::Admin | Access::IngestToken | Access::ApiToken
                    ),
                    "{route:?}"
                );
            }
        }
        let mut keys: Vec<_> = routes.iter().map(|r| (r.path, r.verb.method())).collect();
        keys.sort_by_key(|(path, method)| (*path, method.to_string()));
        keys.dedup();
        assert_eq!(keys.len(), routes.len());
    }
}
