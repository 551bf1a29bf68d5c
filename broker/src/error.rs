//! Why a broker call failed, in terms the tracker can act on (whichever connector failed).

use std::time::Duration;

/// Why a broker call failed, in terms the poller can act on.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The token was refused.
    #[error("the broker refused the token (HTTP {0})")]
    Unauthorized(u16),
    /// The account, symbol or position is unknown to the broker.
    #[error("not found at the broker: {0}")]
    NotFound(String),
    /// Over the rate limit: wait this long before the next call.
    #[error("rate limited by the broker; retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other non-success status.
    #[error("the broker answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// No answer in time.
    #[error("the broker did not answer in time")]
    Timeout,
    /// The connection failed or broke, before or during the answer.
    #[error("cannot reach the broker: {0}")]
    Connection(String),
    /// The answer is not the JSON we expect.
    #[error("the broker sent data that cannot be read: {0}")]
    Malformed(String),
    /// The configuration cannot form a request.
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// A broker speaking a message protocol (cTrader) refused the request with an error code.
    #[error("the broker refused the request: {code}: {message}")]
    Refused { code: String, message: String },
}

impl BrokerError {
    /// Whether the same request may well succeed if tried again soon.
    pub fn is_transient(&self) -> bool {
        match self {
            BrokerError::Timeout | BrokerError::Connection(_) => true,
            BrokerError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether the broker refused the account's credentials (a revoked or expired token, an
    /// unknown application): asking again changes nothing until someone gives new ones.
    pub fn is_credentials(&self) -> bool {
        match self {
            BrokerError::Unauthorized(_) => true,
            BrokerError::Refused { code, .. } => matches!(
                code.as_str(),
                "CH_ACCESS_TOKEN_INVALID"
                    | "OA_AUTH_TOKEN_EXPIRED"
                    | "REFRESH_TOKEN_REFUSED"
                    | "CH_CLIENT_AUTH_FAILURE"
                    | "ACCESS_DENIED"
            ),
            _ => false,
        }
    }
}
