//! The admin console: one file per page, all behind [`AdminOnly`] and sharing [`AdminNav`].
//! The server refuses every admin endpoint to traders (403) whatever the browser shows; this
//! guard only keeps traders from a page they could not use.

mod api_tokens;
mod audit;
mod challenge;
mod competitions;
mod create;
mod imports;
mod notifications;
mod overview;
mod programs;
mod rules;
mod users;

pub use api_tokens::AdminApiTokensPage;
pub use audit::AdminAuditPage;
pub use challenge::AdminChallengePage;
pub use competitions::{CompetitionsConsole, lazy_competitions_console};
pub use create::AdminCreatePage;
pub use imports::AdminImportsPage;
pub use notifications::AdminNotificationsPage;
pub use overview::AdminOverviewPage;
pub use programs::{lazy_program_page, lazy_programs_page};
pub use rules::AdminRulesPage;
pub use users::AdminUsersPage;

use crate::session::Session;
use leptos::prelude::*;
use shared::api::Role;

/// The console's top-level paths.
#[allow(dead_code)] // `challenge` and `rules` are linked from pages being built.
pub mod paths {
    /// All challenges.
    pub const OVERVIEW: &str = "/admin";
    /// A new account and its challenge.
    pub const CREATE: &str = "/admin/accounts/new";
    /// Importing accounts by the thousand.
    pub const IMPORTS: &str = "/admin/imports";
    /// People.
    pub const USERS: &str = "/admin/users";
    /// The audit log.
    pub const AUDIT: &str = "/admin/audit";
    /// Notification deliveries.
    pub const NOTIFICATIONS: &str = "/admin/notifications";
    /// API tokens for MetaApi's risk management API.
    pub const API_TOKENS: &str = "/admin/api-tokens";
    /// Programs: what the firm sells.
    pub const PROGRAMS: &str = "/admin/programs";
    /// Competitions: many accounts ranked over one window.
    pub const COMPETITIONS: &str = "/admin/competitions";
    /// A new competition.
    pub const NEW_COMPETITION: &str = "/admin/competitions/new";

    /// One competition: entrants, leaderboard, disqualifications.
    pub fn competition(id: &str) -> String {
        format!("{COMPETITIONS}/{}", crate::api::encode(id))
    }

    /// One competition's settings.
    pub fn edit_competition(id: &str) -> String {
        format!("{}/edit", competition(id))
    }

    /// One program: its versions, challenges and the editor of a new version.
    pub fn program(id: &str) -> String {
        format!("{PROGRAMS}/{}", crate::api::encode(id))
    }

    /// One challenge's admin page (overrides, owner, anchors).
    pub fn challenge(id: &shared::domain::AccountId) -> String {
        format!("/admin/accounts/{}", crate::api::encode(id.as_str()))
    }

    /// One challenge's rule editor.
    pub fn rules(id: &shared::domain::AccountId) -> String {
        format!("/admin/accounts/{}/rules", crate::api::encode(id.as_str()))
    }
}

/// Shows `children` to admins only; a trader is told the page is not theirs.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let session = Session::get();
    let is_admin = Memo::new(move |_| session.user().is_some_and(|user| user.role == Role::Admin));
    move || {
        if is_admin.get() {
            view! {
                <AdminNav />
                {children()}
            }
            .into_any()
        } else {
            view! {
                <section class="panel notice" data-testid="admin-forbidden">
                    <h1>"Admins only"</h1>
                    <p>"This page is part of the admin console. Your challenges are on the accounts page."</p>
                    <a class="button" href="/">"Back to my accounts"</a>
                </section>
            }
            .into_any()
        }
    }
}

/// The console's navigation.
#[component]
pub fn AdminNav() -> impl IntoView {
    view! {
        <nav class="admin-nav" aria-label="Admin console" data-testid="admin-nav">
            <a href=paths::OVERVIEW>"Challenges"</a>
            <a href=paths::CREATE>"New challenge"</a>
            <a href=paths::IMPORTS>"Import accounts"</a>
            <a href=paths::PROGRAMS>"Programs"</a>
            <a href=paths::COMPETITIONS>"Competitions"</a>
            <a href=paths::USERS>"Users"</a>
            <a href=paths::AUDIT>"Audit log"</a>
            <a href=paths::NOTIFICATIONS>"Notifications"</a>
            <a href=paths::API_TOKENS>"API tokens"</a>
        </nav>
    }
}
