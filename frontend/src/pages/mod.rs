//! Route-level components, one per file.

mod account;
mod accounts;
mod not_found;

pub use account::AccountPage;
pub use accounts::AccountsPage;
pub use not_found::NotFound;

use crate::api::ApiError;
use shared::api::{AccountSummary, StreamEvent};
use shared::domain::AccountId;

/// Data a page fetched, or is fetching.
#[derive(Clone, Debug, PartialEq)]
enum Load<T> {
    Loading,
    Ready(T),
    Failed(ApiError),
}

impl<T> From<Result<T, ApiError>> for Load<T> {
    fn from(result: Result<T, ApiError>) -> Self {
        match result {
            Ok(value) => Self::Ready(value),
            Err(error) => Self::Failed(error),
        }
    }
}

/// Sets the browser tab's title.
fn set_title(title: &str) {
    leptos::prelude::document().set_title(title);
}

/// The account a stream event is about.
fn event_account(event: &StreamEvent) -> &AccountId {
    match event {
        StreamEvent::Account { account_id, .. } | StreamEvent::Feed { account_id, .. } => {
            account_id
        }
    }
}

/// Applies a stream event to the account it is about. A view older than the one shown is
/// ignored: an answer to a fetch can land after a live update that is newer than it.
fn apply_event(summary: &mut AccountSummary, event: &StreamEvent) {
    match event {
        StreamEvent::Account {
            account_id,
            feed,
            view,
        } if *account_id == summary.id
            && summary
                .latest
                .as_ref()
                .is_none_or(|latest| view.time >= latest.time) =>
        {
            summary.feed = *feed;
            summary.latest = Some(view.clone());
        }
        StreamEvent::Feed { account_id, feed } if *account_id == summary.id => summary.feed = *feed,
        _ => {}
    }
}

/// Live events that arrive while a page is still fetching its data wait here, and are applied
/// to the data once it lands.
#[derive(Default)]
struct EarlyEvents(Vec<StreamEvent>);

impl EarlyEvents {
    const MAX: usize = 1_000;

    fn push(&mut self, event: StreamEvent) {
        if self.0.len() == Self::MAX {
            self.0.remove(0);
        }
        self.0.push(event);
    }

    fn take(&mut self) -> Vec<StreamEvent> {
        std::mem::take(&mut self.0)
    }
}
