//! A scripted MetaApi-shaped broker: the REST paths the tracker polls, each answered by a handler
//! the test gives (its numbers, its failures, its counters). Positions and deal history are empty
//! unless the test says otherwise.

use axum::Router;
use axum::routing::{MethodRouter, get};

/// The account's balance, equity and margin.
pub const ACCOUNT_INFORMATION: &str = "/users/current/accounts/{id}/account-information";
/// The open positions.
pub const POSITIONS: &str = "/users/current/accounts/{id}/positions";
/// The deal history between two times.
pub const HISTORY_DEALS: &str = "/users/current/accounts/{id}/history-deals/time/{start}/{end}";
/// A symbol's contract specification.
pub const SPECIFICATION: &str = "/users/current/accounts/{id}/symbols/{symbol}/specification";
/// A symbol's current quote.
pub const CURRENT_PRICE: &str = "/users/current/accounts/{id}/symbols/{symbol}/current-price";

/// An account-information answer: an MT5 account at 100,000 balance with `equity` (also its
/// free margin), as JSON.
#[must_use]
pub fn account_information(equity: &str) -> ([(&'static str, &'static str); 1], String) {
    (
        [("content-type", "application/json")],
        format!(
            r#"{{"platform":"mt5","broker":"Scripted","currency":"USD","server":"S-1",
            "balance":100000,"equity":{equity},"margin":0,"freeMargin":{equity},
            "leverage":100,"credit":0}}"#
        ),
    )
}

/// A broker built from the handlers of its paths; [`ScriptedBroker::serve`] starts it.
pub struct ScriptedBroker {
    account: MethodRouter,
    positions: MethodRouter,
    deals: MethodRouter,
    extra: Router,
}

fn empty() -> MethodRouter {
    get(|| async { axum::Json(serde_json::json!([])) })
}

impl ScriptedBroker {
    /// A broker answering account information with `account`, no positions and no deals.
    #[must_use]
    pub fn new(account: MethodRouter) -> Self {
        Self {
            account,
            positions: empty(),
            deals: empty(),
            extra: Router::new(),
        }
    }

    /// Answers [`POSITIONS`] with `positions`.
    #[must_use]
    pub fn positions(mut self, positions: MethodRouter) -> Self {
        self.positions = positions;
        self
    }

    /// Answers [`HISTORY_DEALS`] with `deals`.
    #[must_use]
    pub fn deals(mut self, deals: MethodRouter) -> Self {
        self.deals = deals;
        self
    }

    /// Answers another path (a symbol's specification or price) with `handler`.
    #[must_use]
    pub fn route(mut self, path: &str, handler: MethodRouter) -> Self {
        self.extra = self.extra.route(path, handler);
        self
    }

    /// Serves the broker on a loopback port; returns its base URL.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn serve(self) -> String {
        let app = self
            .extra
            .route(ACCOUNT_INFORMATION, self.account)
            .route(POSITIONS, self.positions)
            .route(HISTORY_DEALS, self.deals);
        crate::serve_router(app).await
    }
}
