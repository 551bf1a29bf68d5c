//! The backend's HTTP API as typed async functions. The only module that knows URLs (the stream
//! URL included, which `sse` receives from here).
//!
//! Every request goes to the page's own origin; bodies are the `shared::api` types. The browser
//! sends the session cookie by itself (same origin); this module keeps the session's
//! anti-forgery token from signing in (or from `me`) and sends it with every request that
//! changes something. A 401 from any call but signing in runs the handler set with
//! [`on_unauthorized`], so the app can ask the person to sign in.
// The trader's bundle (no `admin` feature) leaves the console's calls unused.
#![cfg_attr(not(feature = "admin"), allow(dead_code))]

use chrono::{DateTime, SecondsFormat, Utc};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use shared::api::{
    AccountSummary, AccountsResponse, ErrorBody, HistoryResponse, LoginRequest, SessionResponse,
};
use shared::domain::AccountId;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

thread_local! {
    /// The signed-in session's anti-forgery token.
    static CSRF_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Called when the server says no one is signed in.
    static ON_UNAUTHORIZED: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Why an API call gave no data, in terms a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The server answered 401: no one is signed in, or the session ended; `message` is the
    /// server's sentence.
    Unauthorized { message: String },
    /// The server answered 404; `message` is the server's sentence.
    NotFound { message: String },
    /// The server answered with another error; `message` is the server's sentence when it sent
    /// one.
    Server { status: u16, message: String },
    /// The request did not reach the server or the answer was cut off.
    Network,
    /// The server answered with a body this app cannot read (usually a version mismatch).
    Unreadable,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized { message }
            | Self::NotFound { message }
            | Self::Server { message, .. } => f.write_str(message),
            Self::Network => f.write_str(
                "Riskdeck's server cannot be reached. Check your connection; the page will \
                 work again once the server is back.",
            ),
            Self::Unreadable => f.write_str(
                "The server sent an answer this page cannot read. Reload the page to get the \
                 latest version of Riskdeck.",
            ),
        }
    }
}

/// Sets what happens when the server answers 401 to any call but [`login`].
pub fn on_unauthorized(handler: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|slot| *slot.borrow_mut() = Some(Rc::new(handler)));
}

fn signed_out() {
    CSRF_TOKEN.with(|token| token.borrow_mut().take());
    // Taken out of the slot before the call, so the handler may set a new one.
    let handler = ON_UNAUTHORIZED.with(|slot| slot.borrow().clone());
    if let Some(handler) = handler {
        handler();
    }
}

fn keep_csrf_token(session: &SessionResponse) {
    CSRF_TOKEN.with(|token| *token.borrow_mut() = Some(session.csrf_token.clone()));
}

/// `POST /api/auth/login`: signs in; a wrong password is an `Unauthorized` with the server's
/// sentence, too many attempts a `Server` error with status 429.
pub async fn login(username: &str, password: &str) -> Result<SessionResponse, ApiError> {
    let body = LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    let response = Request::post("/api/auth/login")
        .header("Accept", "application/json")
        .json(&body)
        .map_err(|_| ApiError::Unreadable)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    if !response.ok() {
        return Err(error_from(response).await);
    }
    let session: SessionResponse = response.json().await.map_err(|_| ApiError::Unreadable)?;
    keep_csrf_token(&session);
    Ok(session)
}

/// `GET /api/auth/me`: who is signed in (and the session's anti-forgery token).
pub async fn me() -> Result<SessionResponse, ApiError> {
    let session: SessionResponse = get_json("/api/auth/me").await?;
    keep_csrf_token(&session);
    Ok(session)
}

/// `POST /api/auth/logout`: ends the session.
pub async fn logout() -> Result<(), ApiError> {
    let result = send_change(Request::post("/api/auth/logout")).await;
    CSRF_TOKEN.with(|token| token.borrow_mut().take());
    result.map(drop)
}

/// `GET /api/accounts`.
pub async fn accounts() -> Result<AccountsResponse, ApiError> {
    get_json("/api/accounts").await
}

/// `GET /api/accounts/{id}`.
pub async fn account(id: &AccountId) -> Result<AccountSummary, ApiError> {
    get_json(&format!("/api/accounts/{}", encode(id.as_str()))).await
}

/// `GET /api/accounts/{id}/history`: the equity curve since `from`, in at most `points`
/// buckets, oldest first.
pub async fn history(
    id: &AccountId,
    from: DateTime<Utc>,
    points: u32,
) -> Result<HistoryResponse, ApiError> {
    get_json(&history_url(id, from, points)).await
}

fn history_url(id: &AccountId, from: DateTime<Utc>, points: u32) -> String {
    let from = from.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "/api/accounts/{}/history?from={}&points={points}",
        encode(id.as_str()),
        encode(&from)
    )
}

/// `GET /api/accounts/{id}/trades`: a page of closed trades, newest first, older than the
/// cursor `before` (a page's `next`), or the newest without one.
pub async fn trades(
    id: &AccountId,
    before: Option<&str>,
) -> Result<shared::api::TradesPage, ApiError> {
    get_json(&trades_url(id, before)).await
}

/// Trades per page of the trade history.
pub const TRADES_PAGE: u32 = 20;

fn trades_url(id: &AccountId, before: Option<&str>) -> String {
    let mut url = format!(
        "/api/accounts/{}/trades?limit={TRADES_PAGE}",
        encode(id.as_str())
    );
    if let Some(before) = before {
        url.push_str("&before=");
        url.push_str(&encode(before));
    }
    url
}

/// The Server-Sent Events stream of `StreamEvent`s, for one account or all of them.
pub fn stream_url(account: Option<&AccountId>) -> String {
    match account {
        Some(id) => format!("/api/stream?account={}", encode(id.as_str())),
        None => "/api/stream".to_owned(),
    }
}

/// A stream URL (from [`stream_url`]) that resumes after the event with id `last_event_id`: for
/// a new `EventSource`, which cannot send the `Last-Event-ID` header itself.
pub fn stream_resume_url(url: &str, last_event_id: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}last_event_id={}", encode(last_event_id))
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    checked(response)
        .await?
        .json::<T>()
        .await
        .map_err(|_| ApiError::Unreadable)
}

/// Sends a request that changes something, with the anti-forgery token.
async fn send_change(request: RequestBuilder) -> Result<Response, ApiError> {
    let token = CSRF_TOKEN
        .with(|token| token.borrow().clone())
        .unwrap_or_default();
    let response = request
        .header("Accept", "application/json")
        .header("x-csrf-token", &token)
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    checked(response).await
}

/// The response when it is a success; otherwise its error, after telling the app about a 401.
async fn checked(response: Response) -> Result<Response, ApiError> {
    if response.ok() {
        return Ok(response);
    }
    let error = error_from(response).await;
    if matches!(error, ApiError::Unauthorized { .. }) {
        signed_out();
    }
    Err(error)
}

async fn error_from(response: Response) -> ApiError {
    let status = response.status();
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.message,
        Err(_) if status == 404 => "This page does not exist.".to_owned(),
        Err(_) if status >= 500 => {
            "Riskdeck's server ran into a problem. Please try again in a moment.".to_owned()
        }
        Err(_) => format!("The server refused the request (HTTP {status})."),
    };
    match status {
        401 => ApiError::Unauthorized { message },
        404 => ApiError::NotFound { message },
        _ => ApiError::Server { status, message },
    }
}

/// The sign-in page's path, coming back to `back` afterwards.
pub fn login_path(back: &str) -> String {
    if back == "/" || back.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode(back))
    }
}

/// Where to go after signing in: `next` when it is a path of this app, else the start page.
/// Anything that could leave the origin (`//host`, `/\host`, `https://...`) is refused.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters pass through).
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// Admin console: the challenges overview and creating a challenge.

/// What the admin overview asks for: search, filters, sort and page (empty: the server's
/// default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewQuery {
    /// Search in id, name and owner.
    pub q: String,
    /// `active`, `passed`, `failed`, `paused`, `none` or empty.
    pub status: String,
    /// `live`, `stale`, `starting` or empty.
    pub feed: String,
    /// `breach`, `name`, `equity`, `pl` or `id`.
    pub sort: String,
    /// The page, from 1.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
}

fn challenges_url(query: &OverviewQuery) -> String {
    let mut url = format!(
        "/api/admin/challenges?page={}&per_page={}",
        query.page.max(1),
        query.per_page.max(1)
    );
    for (key, value) in [
        ("q", &query.q),
        ("status", &query.status),
        ("feed", &query.feed),
        ("sort", &query.sort),
    ] {
        let value = value.trim();
        if !value.is_empty() {
            url.push_str(&format!("&{key}={}", encode(value)));
        }
    }
    url
}

/// `GET /api/admin/challenges`: one page of every challenge (admins).
pub async fn admin_challenges(
    query: &OverviewQuery,
) -> Result<shared::api::ChallengesPage, ApiError> {
    get_json(&challenges_url(query)).await
}

/// `GET /api/admin/connections`: what a new challenge can be connected to (admins).
pub async fn connection_options() -> Result<shared::api::ConnectionOptions, ApiError> {
    get_json("/api/admin/connections").await
}

/// `POST /api/accounts`: creates a challenge account (admins); a refused field is a `Server`
/// error whose message names it.
pub async fn create_account(
    request: &shared::api::CreateAccountRequest,
) -> Result<shared::api::CreateAccountResponse, ApiError> {
    let token = CSRF_TOKEN
        .with(|token| token.borrow().clone())
        .unwrap_or_default();
    let response = Request::post("/api/accounts")
        .header("Accept", "application/json")
        .header("x-csrf-token", &token)
        .json(request)
        .map_err(|_| ApiError::Unreadable)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    checked(response)
        .await?
        .json()
        .await
        .map_err(|_| ApiError::Unreadable)
}

// --- Admin console: users, overrides, audit log (issue #8) ---

/// Sends a JSON body with a request that changes something, and reads the JSON answer.
async fn post_json<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: Option<&B>,
) -> Result<T, ApiError> {
    post_json_once(url, body, None).await
}

/// A new idempotency key for an admin action: sent with the action, and again with its
/// retries, so the server carries it out at most once.
pub fn idempotency_key() -> String {
    let now = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    format!("{now:x}-{random:x}")
}

/// `post_json` with an `Idempotency-Key` header when `key` is given.
async fn post_json_once<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: Option<&B>,
    key: Option<&str>,
) -> Result<T, ApiError> {
    let token = CSRF_TOKEN
        .with(|token| token.borrow().clone())
        .unwrap_or_default();
    let mut request = Request::post(url)
        .header("Accept", "application/json")
        .header("x-csrf-token", &token);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let sent = match body {
        Some(body) => {
            request
                .json(body)
                .map_err(|_| ApiError::Unreadable)?
                .send()
                .await
        }
        None => request.send().await,
    };
    checked(sent.map_err(|_| ApiError::Network)?)
        .await?
        .json::<T>()
        .await
        .map_err(|_| ApiError::Unreadable)
}

/// `GET /api/users` (admins).
pub async fn users() -> Result<shared::api::UsersResponse, ApiError> {
    get_json("/api/users").await
}

/// `POST /api/users` (admins): a new trader or admin.
pub async fn create_user(
    request: &shared::api::CreateUserRequest,
) -> Result<shared::api::UserSummary, ApiError> {
    post_json("/api/users", Some(request)).await
}

/// `POST /api/users/{id}/password` (admins): a new password; the user's sessions end.
pub async fn reset_password(
    user: shared::api::UserId,
    password: &str,
) -> Result<shared::api::UserSummary, ApiError> {
    let body = shared::api::ResetPasswordRequest {
        password: password.to_owned(),
    };
    post_json(&format!("/api/users/{user}/password"), Some(&body)).await
}

/// `POST /api/users/{id}/disable` or `.../enable` (admins).
pub async fn set_user_disabled(
    user: shared::api::UserId,
    disabled: bool,
) -> Result<shared::api::UserSummary, ApiError> {
    let verb = if disabled { "disable" } else { "enable" };
    post_json::<(), _>(&format!("/api/users/{user}/{verb}"), None).await
}

/// `POST /api/accounts/{id}/assign` (admins): `user` owns the account from now on.
pub async fn assign_account(
    id: &AccountId,
    user: shared::api::UserId,
) -> Result<shared::api::AccountOwnerResponse, ApiError> {
    let body = shared::api::AssignAccountRequest { user };
    post_json(
        &format!("/api/accounts/{}/assign", encode(id.as_str())),
        Some(&body),
    )
    .await
}

/// `GET /api/accounts/{id}/connection` (admins): the broker connection's token status.
pub async fn account_connection(id: &AccountId) -> Result<shared::api::ConnectionStatus, ApiError> {
    get_json(&format!("/api/accounts/{}/connection", encode(id.as_str()))).await
}

/// `GET /api/account-owners` (admins): every account with its owner.
pub async fn account_owners() -> Result<shared::api::AccountOwnersResponse, ApiError> {
    get_json("/api/account-owners").await
}

/// `POST /api/accounts/{id}/unassign` (admins).
pub async fn unassign_account(
    id: &AccountId,
) -> Result<shared::api::AccountOwnerResponse, ApiError> {
    post_json::<(), _>(
        &format!("/api/accounts/{}/unassign", encode(id.as_str())),
        None,
    )
    .await
}

/// `POST /api/accounts/{id}/clear-breach` (admins), with the reason, under the action's
/// idempotency `key`.
pub async fn clear_breach(
    id: &AccountId,
    reason: &str,
    key: &str,
) -> Result<shared::api::OverrideResponse, ApiError> {
    let body = shared::api::OverrideRequest {
        reason: reason.to_owned(),
    };
    post_json_once(
        &format!("/api/accounts/{}/clear-breach", encode(id.as_str())),
        Some(&body),
        Some(key),
    )
    .await
}

/// `POST /api/accounts/{id}/archive` (admins), with the reason.
pub async fn archive(
    id: &AccountId,
    reason: &str,
) -> Result<shared::api::ArchiveResponse, ApiError> {
    let body = shared::api::ArchiveRequest {
        reason: reason.to_owned(),
    };
    post_json(
        &format!("/api/accounts/{}/archive", encode(id.as_str())),
        Some(&body),
    )
    .await
}

/// `POST /api/accounts/{id}/unpause` (admins), with the reason, under the action's
/// idempotency `key`.
pub async fn unpause(
    id: &AccountId,
    reason: &str,
    key: &str,
) -> Result<shared::api::OverrideResponse, ApiError> {
    let body = shared::api::OverrideRequest {
        reason: reason.to_owned(),
    };
    post_json_once(
        &format!("/api/accounts/{}/unpause", encode(id.as_str())),
        Some(&body),
        Some(key),
    )
    .await
}

/// `POST /api/accounts/{id}/anchors` (admins): corrects one anchor, with the reason, under
/// the action's idempotency `key`.
pub async fn correct_anchor(
    id: &AccountId,
    request: &shared::api::AnchorCorrectionRequest,
    key: &str,
) -> Result<shared::api::AnchorsResponse, ApiError> {
    post_json_once(
        &format!("/api/accounts/{}/anchors", encode(id.as_str())),
        Some(request),
        Some(key),
    )
    .await
}

/// `GET /api/accounts/{id}/events`: the challenge's events with an id above `after`, oldest
/// first.
pub async fn challenge_events(
    id: &AccountId,
    after: i64,
) -> Result<shared::api::EventsResponse, ApiError> {
    get_json(&format!(
        "/api/accounts/{}/events?after={after}&limit=1000",
        encode(id.as_str())
    ))
    .await
}

/// The audit log's filters; empty fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// A username.
    pub actor: String,
    /// An action, e.g. `user.disable`.
    pub action: String,
    /// An account id.
    pub account: String,
    /// RFC 3339 start.
    pub from: String,
    /// RFC 3339 end.
    pub to: String,
    /// Entries older than this id (the next page).
    pub before_id: Option<i64>,
}

impl AuditQuery {
    fn query_string(&self) -> String {
        let mut parts: Vec<String> = [
            ("actor", &self.actor),
            ("action", &self.action),
            ("account", &self.account),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value.trim())))
        .collect();
        if let Some(id) = self.before_id {
            parts.push(format!("before_id={id}"));
        }
        parts.join("&")
    }
}

/// `GET /api/audit` (admins): a page of 50 entries, newest first.
pub async fn audit(query: &AuditQuery) -> Result<shared::api::AuditResponse, ApiError> {
    get_json(&audit_url("/api/audit", query, Some(50))).await
}

/// The address of the audit log's CSV export with these filters (a download link).
pub fn audit_csv_url(query: &AuditQuery) -> String {
    let query = AuditQuery {
        before_id: None,
        ..query.clone()
    };
    audit_url("/api/audit.csv", &query, None)
}

fn audit_url(path: &str, query: &AuditQuery, limit: Option<u32>) -> String {
    let mut text = query.query_string();
    if let Some(limit) = limit {
        if !text.is_empty() {
            text.push('&');
        }
        text.push_str(&format!("limit={limit}"));
    }
    if text.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{text}")
    }
}

/// How many deliveries one page of the admin console's notifications shows.
const NOTIFICATIONS_PAGE: u32 = 50;

/// `GET /api/notifications`: a page of notification deliveries (admins), newest event first,
/// of one status when given, from `offset` on.
pub async fn notifications(
    status: Option<shared::api::DeliveryStatus>,
    offset: u32,
) -> Result<shared::api::NotificationsResponse, ApiError> {
    let mut url = format!("/api/notifications?offset={offset}&limit={NOTIFICATIONS_PAGE}");
    if let Some(status) = status {
        url.push_str(&format!("&status={}", status.as_str()));
    }
    get_json(&url).await
}

// Rule sets: the admin console's rule editor and the trader's history of rule changes.

/// `GET /api/accounts/{id}/rule-sets`: every version with what it changed, and the rules in
/// force.
pub async fn rule_sets(id: &AccountId) -> Result<shared::api::RuleSetsResponse, ApiError> {
    get_json(&rule_sets_url(id)).await
}

/// `POST /api/accounts/{id}/rule-sets` (admins): saves a new version of the rules.
pub async fn save_rule_set(
    id: &AccountId,
    request: &shared::api::SaveRuleSetRequest,
) -> Result<shared::api::RuleSetSaved, ApiError> {
    post_json(&rule_sets_url(id), Some(request)).await
}

/// `POST /api/accounts/{id}/rule-sets/what-if` (admins): the journal replayed under a draft.
pub async fn what_if(
    id: &AccountId,
    request: &shared::api::WhatIfRequest,
) -> Result<shared::api::WhatIfResponse, ApiError> {
    post_json(&format!("{}/what-if", rule_sets_url(id)), Some(request)).await
}

fn rule_sets_url(id: &AccountId) -> String {
    format!("/api/accounts/{}/rule-sets", encode(id.as_str()))
}

// Programs: what the firm sells, versioned (admins).

/// `GET /api/programs` (admins): every program, and the templates to start one from.
pub async fn programs() -> Result<shared::api::ProgramsResponse, ApiError> {
    get_json("/api/programs").await
}

/// `POST /api/programs` (admins): a new program from a template or written out. A refusal is
/// a `Server` error whose message names its field (`id: ...`, `template: ...`) or every
/// problem of the program.
pub async fn create_program(
    request: &shared::api::CreateProgramRequest,
) -> Result<shared::api::ProgramSummary, ApiError> {
    post_json("/api/programs", Some(request)).await
}

/// `GET /api/programs/{program}` (admins): the program, its versions and its challenges.
pub async fn program(id: &str) -> Result<shared::api::ProgramDetail, ApiError> {
    get_json(&program_url(id)).await
}

/// `POST /api/programs/{program}/what-if` (admins): what a new version would do to the
/// running challenges; nothing is saved.
pub async fn program_what_if(
    id: &str,
    request: &shared::api::ProgramWhatIfRequest,
) -> Result<shared::api::ProgramWhatIfResponse, ApiError> {
    post_json(&format!("{}/what-if", program_url(id)), Some(request)).await
}

/// `POST /api/programs/{program}/versions` (admins): saves a new version for new challenges,
/// or for the running ones too from an instant.
pub async fn save_program(
    id: &str,
    request: &shared::api::SaveProgramRequest,
) -> Result<shared::api::ProgramSaved, ApiError> {
    post_json(&format!("{}/versions", program_url(id)), Some(request)).await
}

fn program_url(id: &str) -> String {
    format!("/api/programs/{}", encode(id))
}

/// `GET /api/promotions` (admins): passed phases on their way to the next, open ones first.
pub async fn promotions() -> Result<shared::api::PromotionsResponse, ApiError> {
    get_json("/api/promotions").await
}

/// `POST /api/accounts/{account}/promotion` (admins): approves, rejects (with a reason) or
/// connects the next phase's account to the account's open promotion. A refusal (409, 422) is
/// a `Server` error with the server's sentence.
pub async fn decide_promotion(
    account: &str,
    decision: &shared::api::PromotionDecision,
) -> Result<shared::api::PromotionView, ApiError> {
    post_json(&promotion_url(account), Some(decision)).await
}

fn promotion_url(account: &str) -> String {
    format!("/api/accounts/{}/promotion", encode(account))
}

// The signed-in person's notification preferences (traders and admins alike).

/// `GET /api/me/notifications`: where and what the signed-in person hears about.
pub async fn my_notifications() -> Result<shared::api::NotificationPreferences, ApiError> {
    get_json("/api/me/notifications").await
}

/// `POST /api/me/notifications`: replaces them (a webhook key left out keeps the stored one).
pub async fn save_my_notifications(
    preferences: &shared::api::NotificationPreferences,
) -> Result<shared::api::NotificationPreferences, ApiError> {
    post_json("/api/me/notifications", Some(preferences)).await
}

// API tokens for MetaApi's risk management API (admins), and an account's risk trackers.

/// `GET /api/api-tokens` (admins): every token, newest first, revoked ones included.
pub async fn api_tokens() -> Result<shared::api::ApiTokensResponse, ApiError> {
    get_json("/api/api-tokens").await
}

/// `POST /api/api-tokens` (admins): a token for some accounts; its secret is in this answer
/// only. A refused field is a `Server` error whose message names it (`name: ...`).
pub async fn create_api_token(
    request: &shared::api::CreateApiTokenRequest,
) -> Result<shared::api::CreatedApiToken, ApiError> {
    post_json("/api/api-tokens", Some(request)).await
}

/// `POST /api/api-tokens/{id}/revoke` (admins): the token opens nothing from now on.
pub async fn revoke_api_token(id: &str) -> Result<shared::api::ApiTokenSummary, ApiError> {
    post_json::<(), _>(&format!("/api/api-tokens/{}/revoke", encode(id)), None).await
}

/// `GET /api/accounts/{id}/trackers`: the account's risk trackers and their latest events.
pub async fn trackers(id: &AccountId) -> Result<shared::api::RiskTrackersResponse, ApiError> {
    get_json(&format!("/api/accounts/{}/trackers", encode(id.as_str()))).await
}

/// Where an application sends its API token: this server's copy of MetaApi's risk management
/// API, `<origin>/users/current`.
pub fn risk_api_base() -> String {
    let origin = leptos::prelude::window()
        .location()
        .origin()
        .unwrap_or_default();
    format!("{origin}{RISK_API_PATH}")
}

const RISK_API_PATH: &str = "/users/current";

// --- Importing accounts (issue 24) ---

/// What `POST /api/imports` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportAnswer {
    /// A dry run: every row can be created.
    Checked(shared::api::ImportReport),
    /// Imported: the import's progress.
    Started(shared::api::ImportJob),
    /// Rows have problems (every one named); nothing was written.
    Refused(shared::api::ImportRefused),
}

/// `POST /api/imports` (admins): `body` is a CSV file, or JSON rows when `json`; with
/// `dry_run`, only checked.
pub async fn import_accounts(
    body: String,
    json: bool,
    dry_run: bool,
) -> Result<ImportAnswer, ApiError> {
    let url = if dry_run {
        "/api/imports?dry_run=true"
    } else {
        "/api/imports"
    };
    let token = CSRF_TOKEN
        .with(|token| token.borrow().clone())
        .unwrap_or_default();
    let response = Request::post(url)
        .header("Accept", "application/json")
        .header("x-csrf-token", &token)
        .header(
            "content-type",
            if json { "application/json" } else { "text/csv" },
        )
        .body(body)
        .map_err(|_| ApiError::Unreadable)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    if response.status() == 422 {
        let refused: shared::api::ImportRefused =
            response.json().await.map_err(|_| ApiError::Unreadable)?;
        if refused.problems.is_empty() {
            return Err(ApiError::Server {
                status: 422,
                message: refused.message,
            });
        }
        return Ok(ImportAnswer::Refused(refused));
    }
    let response = checked(response).await?;
    if dry_run {
        response
            .json()
            .await
            .map(ImportAnswer::Checked)
            .map_err(|_| ApiError::Unreadable)
    } else {
        response
            .json()
            .await
            .map(ImportAnswer::Started)
            .map_err(|_| ApiError::Unreadable)
    }
}

/// `GET /api/imports/{import}` (admins): an import's progress.
pub async fn import_job(id: &str) -> Result<shared::api::ImportJob, ApiError> {
    get_json(&format!("/api/imports/{}", encode(id))).await
}

/// `GET /api/imports` (admins): the recent imports.
pub async fn imports() -> Result<shared::api::ImportsResponse, ApiError> {
    get_json("/api/imports").await
}

/// The CSV template of imports (a download link).
pub fn import_template_url() -> &'static str {
    "/api/imports/template.csv"
}

// --- Competitions (issue 25) ---

/// What a leaderboard page asks for: the page (from 1), rows per page (0: the server's
/// default) and a search in display names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoardQuery {
    pub page: u32,
    pub per_page: u32,
    pub q: String,
}

impl BoardQuery {
    fn query_string(&self) -> String {
        let mut text = format!("page={}", self.page.max(1));
        if self.per_page > 0 {
            text.push_str(&format!("&per_page={}", self.per_page));
        }
        let q = self.q.trim();
        if !q.is_empty() {
            text.push_str(&format!("&q={}", encode(q)));
        }
        text
    }
}

fn competition_url(id: &str) -> String {
    format!("/api/competitions/{}", encode(id))
}

/// `GET /api/competitions`: every competition for an admin, a trader's own for a trader.
pub async fn competitions() -> Result<shared::competitions::CompetitionsResponse, ApiError> {
    get_json("/api/competitions").await
}

/// `GET /api/competitions/{id}`: the competition (its entrants and disqualifications' evidence
/// for admins).
pub async fn competition(id: &str) -> Result<shared::competitions::CompetitionDetail, ApiError> {
    get_json(&competition_url(id)).await
}

/// `POST /api/competitions` (admins): a refusal is a `Server` error whose message names every
/// problem by its field (`name: ...; start: ...`).
pub async fn create_competition(
    request: &shared::competitions::CreateCompetitionRequest,
) -> Result<shared::competitions::CompetitionDetail, ApiError> {
    post_json("/api/competitions", Some(request)).await
}

/// `POST /api/competitions/{id}` (admins): rewrites it before the start (409 after).
pub async fn update_competition(
    id: &str,
    request: &shared::competitions::UpdateCompetitionRequest,
) -> Result<shared::competitions::CompetitionDetail, ApiError> {
    post_json(&competition_url(id), Some(request)).await
}

/// `POST /api/competitions/{id}/entries` (admins): adds and removes entrants; a 422 names
/// each refused account.
pub async fn competition_entries(
    id: &str,
    request: &shared::competitions::EntriesRequest,
) -> Result<shared::competitions::EntriesResponse, ApiError> {
    post_json(&format!("{}/entries", competition_url(id)), Some(request)).await
}

/// `GET /api/competitions/{id}/leaderboard`: one page of the standings.
pub async fn leaderboard(
    id: &str,
    query: &BoardQuery,
) -> Result<shared::competitions::LeaderboardPage, ApiError> {
    get_json(&format!(
        "{}/leaderboard?{}",
        competition_url(id),
        query.query_string()
    ))
    .await
}

/// The leaderboard's live stream (`leaderboard` events, each a whole page), for `sse`.
pub fn leaderboard_stream_url(id: &str, query: &BoardQuery) -> String {
    format!(
        "{}/leaderboard/stream?{}",
        competition_url(id),
        query.query_string()
    )
}

/// `GET /api/public/competitions/{slug}/leaderboard`: the public read-only standings, no
/// sign-in (a 429 asks to slow down).
pub async fn public_leaderboard(
    slug: &str,
    query: &BoardQuery,
) -> Result<shared::competitions::LeaderboardPage, ApiError> {
    get_json(&public_leaderboard_url(slug, query)).await
}

fn public_leaderboard_url(slug: &str, query: &BoardQuery) -> String {
    let query = BoardQuery {
        per_page: 0,
        ..query.clone()
    };
    format!(
        "/api/public/competitions/{}/leaderboard?{}",
        encode(slug),
        query.query_string()
    )
}

/// `GET /api/me/profile`: how the signed-in person appears on leaderboards.
pub async fn profile() -> Result<shared::competitions::Profile, ApiError> {
    get_json("/api/me/profile").await
}

/// `POST /api/me/profile`: a new display name (`None`: `Entrant N` again); a refusal names
/// `display_name`.
pub async fn save_profile(
    profile: &shared::competitions::Profile,
) -> Result<shared::competitions::Profile, ApiError> {
    post_json("/api/me/profile", Some(profile)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(encode("demo-1"), "demo-1");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(
            stream_url(Some(&AccountId::from("x&y"))),
            "/api/stream?account=x%26y"
        );
        assert_eq!(stream_url(None), "/api/stream");
        assert_eq!(
            stream_resume_url("/api/stream", "ab12-7"),
            "/api/stream?last_event_id=ab12-7"
        );
        assert_eq!(
            stream_resume_url("/api/stream?account=a", "ab12-7"),
            "/api/stream?account=a&last_event_id=ab12-7"
        );
        assert_eq!(
            history_url(&AccountId::from("a b"), DateTime::<Utc>::UNIX_EPOCH, 1500),
            "/api/accounts/a%20b/history?from=1970-01-01T00%3A00%3A00Z&points=1500"
        );
        assert_eq!(program_url("two-step"), "/api/programs/two-step");
        assert_eq!(program_url("a/b"), "/api/programs/a%2Fb");
        assert_eq!(promotion_url("ftmo 1"), "/api/accounts/ftmo%201/promotion");
        assert_eq!(
            trades_url(&AccountId::from("a"), Some("1700000000000:4 2")),
            "/api/accounts/a/trades?limit=20&before=1700000000000%3A4%202"
        );
    }

    #[test]
    fn leaderboard_queries_leave_out_what_is_empty() {
        let query = BoardQuery {
            page: 0,
            per_page: 25,
            q: " Ana M ".into(),
        };
        assert_eq!(
            leaderboard_stream_url("spring cup", &query),
            "/api/competitions/spring%20cup/leaderboard/stream?page=1&per_page=25&q=Ana%20M"
        );
        assert_eq!(
            public_leaderboard_url("ab12", &query),
            "/api/public/competitions/ab12/leaderboard?page=1&q=Ana%20M"
        );
    }

    #[test]
    fn the_overview_query_leaves_out_what_is_empty() {
        let query = OverviewQuery {
            q: " jane doe ".into(),
            sort: "equity".into(),
            page: 2,
            per_page: 25,
            ..OverviewQuery::default()
        };
        assert_eq!(
            challenges_url(&query),
            "/api/admin/challenges?page=2&per_page=25&q=jane%20doe&sort=equity"
        );
    }

    #[test]
    fn audit_filters_become_a_query_string() {
        let query = AuditQuery {
            actor: " admin ".into(),
            account: "a b".into(),
            before_id: Some(9),
            ..AuditQuery::default()
        };
        assert_eq!(
            audit_url("/api/audit", &query, Some(50)),
            "/api/audit?actor=admin&account=a%20b&before_id=9&limit=50"
        );
        assert_eq!(
            audit_csv_url(&query),
            "/api/audit.csv?actor=admin&account=a%20b"
        );
        assert_eq!(audit_csv_url(&AuditQuery::default()), "/api/audit.csv");
    }

    #[test]
    fn sign_in_comes_back_only_to_this_app() {
        assert_eq!(login_path("/"), "/login");
        assert_eq!(
            login_path("/accounts/a b"),
            "/login?next=%2Faccounts%2Fa%20b"
        );
        assert_eq!(safe_next(Some("/accounts/x")), "/accounts/x");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/login",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
