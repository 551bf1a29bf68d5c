//! The backend's HTTP API as typed async functions. The only module that knows URLs (the stream
//! URL included, which `sse` receives from here).
//!
//! Every request goes to the page's own origin; bodies are the `shared::api` types. The browser
//! sends the session cookie by itself (same origin); this module keeps the session's
//! anti-forgery token from signing in (or from `me`) and sends it with every request that
//! changes something. A 401 from any call but signing in runs the handler set with
//! [`on_unauthorized`], so the app can ask the person to sign in.

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
    post_json(&rule_sets_url(id), request).await
}

/// `POST /api/accounts/{id}/rule-sets/what-if` (admins): the journal replayed under a draft.
pub async fn what_if(
    id: &AccountId,
    request: &shared::api::WhatIfRequest,
) -> Result<shared::api::WhatIfResponse, ApiError> {
    post_json(&format!("{}/what-if", rule_sets_url(id)), request).await
}

fn rule_sets_url(id: &AccountId) -> String {
    format!("/api/accounts/{}/rule-sets", encode(id.as_str()))
}

/// Posts `body` as JSON with the anti-forgery token and reads the JSON answer.
async fn post_json<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, ApiError> {
    let token = CSRF_TOKEN
        .with(|token| token.borrow().clone())
        .unwrap_or_default();
    let response = Request::post(url)
        .header("Accept", "application/json")
        .header("x-csrf-token", &token)
        .json(body)
        .map_err(|_| ApiError::Unreadable)?
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    checked(response)
        .await?
        .json::<T>()
        .await
        .map_err(|_| ApiError::Unreadable)
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
