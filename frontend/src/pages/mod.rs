//! Route-level components, one per file.

mod account;
mod accounts;
mod not_found;

pub use account::AccountPage;
pub use accounts::AccountsPage;
pub use not_found::NotFound;

use crate::api::ApiError;

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
