//! Route-level components, one per file.

mod account;
mod accounts;
mod competitions;
mod display_name;
// The admin console is its own bundle (`admin` feature): traders never download it.
#[cfg(feature = "admin")]
mod admin;
mod login;
mod not_found;
mod notification_settings;

pub use account::AccountPage;
pub use accounts::lazy_accounts_page;
#[cfg(feature = "admin")]
pub use admin::AdminImportsPage;
#[cfg(feature = "admin")]
pub use admin::{
    AdminApiTokensPage, AdminAuditPage, AdminChallengePage, AdminCreatePage,
    AdminNotificationsPage, AdminOnly, AdminOverviewPage, AdminRulesPage, AdminUsersPage,
    lazy_program_page, lazy_programs_page,
};
#[cfg(feature = "admin")]
pub use admin::{CompetitionsConsole, lazy_competitions_console};
pub use competitions::{RarePage, lazy_rare_page};
pub use login::lazy_login_page;
pub use not_found::NotFound;
#[cfg(not(feature = "admin"))]
pub use not_found::OpenAdminConsole;

pub(crate) use crate::components::Load;
use crate::sse::Connection;
use shared::api::{AccountSummary, StreamEvent};
use shared::domain::AccountId;

/// The path of an account's page.
pub fn account_path(id: &AccountId) -> String {
    format!("/accounts/{}", crate::api::encode(id.as_str()))
}

/// Sets the browser tab's title.
fn set_title(title: &str) {
    leptos::prelude::document().set_title(title);
}

/// The account a stream event is about (`None` for a snapshot, which `sse` hands over as one
/// delta per account).
fn event_account(event: &StreamEvent) -> Option<&AccountId> {
    event.account_id()
}

/// Folds a summary fetched again (after a reconnect, say) into the one on screen, keeping
/// whichever numbers are newer: live updates may have overtaken the fetch.
fn merge_summary(current: &mut AccountSummary, fetched: AccountSummary) {
    current.name = fetched.name;
    current.currency = fetched.currency;
    let fetched_is_newer = match (&current.latest, &fetched.latest) {
        (Some(shown), Some(fetched)) => fetched.time >= shown.time,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if fetched_is_newer {
        current.feed = fetched.feed;
        current.latest = fetched.latest;
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

/// The stream's connection callback for a page: shows the state in `connection`. Updates sent
/// while the stream was down are not lost: the stream resumes, or resynchronises (`sse` then
/// calls the page's refresh). A drop may be the session ending (the stream cannot say): the
/// session is checked then, and a 401 sends the person to sign in.
fn connection_status(
    connection: leptos::prelude::RwSignal<Connection>,
) -> impl Fn(Connection) + 'static {
    use leptos::prelude::*;
    let was_down = std::cell::Cell::new(false);
    move |state| {
        connection.try_set(state);
        match state {
            // Once per drop: the first `Reconnecting` marks the stream down.
            Connection::Reconnecting if !was_down.replace(true) => {
                leptos::task::spawn_local(async {
                    // A 401 is handled by the app; other failures are the stream's to retry.
                    let _ = crate::api::me().await;
                });
            }
            Connection::Open => {
                was_down.set(false);
            }
            _ => {}
        }
    }
}
