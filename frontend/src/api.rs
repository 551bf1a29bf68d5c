//! The backend's HTTP API as typed async functions. The only module that knows URLs (the stream
//! URL included, which `sse` receives from here).
//!
//! Every request goes to the page's own origin; bodies are the `shared::api` types.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use shared::api::{AccountSummary, AccountsResponse, ErrorBody, HistoryResponse};
use shared::domain::AccountId;
use std::fmt;

/// Why an API call gave no data, in terms a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
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
            Self::NotFound { message } | Self::Server { message, .. } => f.write_str(message),
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

/// `GET /api/accounts`.
pub async fn accounts() -> Result<AccountsResponse, ApiError> {
    get_json("/api/accounts").await
}

/// `GET /api/accounts/{id}`.
pub async fn account(id: &AccountId) -> Result<AccountSummary, ApiError> {
    get_json(&format!("/api/accounts/{}", encode(id.as_str()))).await
}

/// `GET /api/accounts/{id}/history`: equity samples, oldest first.
pub async fn history(id: &AccountId) -> Result<HistoryResponse, ApiError> {
    get_json(&format!("/api/accounts/{}/history", encode(id.as_str()))).await
}

/// The Server-Sent Events stream of `StreamEvent`s, for one account or all of them.
pub fn stream_url(account: Option<&AccountId>) -> String {
    match account {
        Some(id) => format!("/api/stream?account={}", encode(id.as_str())),
        None => "/api/stream".to_owned(),
    }
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    if !response.ok() {
        return Err(error_from(response).await);
    }
    response.json::<T>().await.map_err(|_| ApiError::Unreadable)
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
    if status == 404 {
        ApiError::NotFound { message }
    } else {
        ApiError::Server { status, message }
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
    }
}
