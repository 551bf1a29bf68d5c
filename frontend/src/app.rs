//! The application shell: header, routes, the session check and the paths of the app's own
//! pages.

use crate::components::{Lazy, ThemeToggle, page_placeholder};
#[cfg(feature = "admin")]
use crate::pages::AdminImportsPage;
use crate::pages::{
    AccountPage, NotFound, RarePage, lazy_accounts_page, lazy_login_page, lazy_rare_page,
};
#[cfg(feature = "admin")]
use crate::pages::{
    AdminApiTokensPage, AdminAuditPage, AdminChallengePage, AdminCreatePage,
    AdminNotificationsPage, AdminOnly, AdminOverviewPage, AdminRulesPage, AdminUsersPage,
    lazy_program_page, lazy_programs_page,
};
use crate::session::{Session, SessionState, SignedIn, UserMenu};
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Shell />
        </Router>
    }
}

/// Everything inside the router: the session, the header and the pages.
#[component]
fn Shell() -> impl IntoView {
    let session = Session(RwSignal::new(SessionState::Checking));
    provide_context(session);
    crate::api::on_unauthorized(move || {
        session.0.try_set(SessionState::SignedOut);
    });
    session.check();

    // Whoever is signed out goes to the sign-in page, which brings them back here afterwards.
    let navigate = use_navigate();
    let location = use_location();
    Effect::new(move || {
        if session
            .0
            .with(|state| matches!(state, SessionState::SignedOut))
        {
            let path = location.pathname.get_untracked();
            // A public leaderboard (`/c/...`) needs no sign-in.
            if path != "/login" && !path.starts_with("/c/") {
                let search = location.search.get_untracked();
                let search = search.trim_start_matches('?');
                let back = if search.is_empty() {
                    path
                } else {
                    format!("{path}?{search}")
                };
                navigate(
                    &crate::api::login_path(&back),
                    NavigateOptions {
                        replace: true,
                        ..NavigateOptions::default()
                    },
                );
            }
        }
    });

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Riskdeck"
                </a>
                <span class="tagline">"Real-time risk monitor"</span>
                <ThemeToggle />
                <UserMenu />
            </div>
        </header>
        <main id="main" class="container">
            {routes()}
        </main>
    }
}

// The pages a trader may never open, in chunks of their own: the dashboard (`AccountPage`) is
// what a trader comes for, so it is in the main module.

fn login_page() -> impl IntoView {
    view! {
        <Lazy what="the sign-in page" placeholder=page_placeholder() content=lazy_login_page() />
    }
}

fn accounts_page() -> impl IntoView {
    view! {
        <Lazy what="your accounts" placeholder=page_placeholder() content=lazy_accounts_page() />
    }
}

fn notification_settings_page() -> impl IntoView {
    rare_page("your notification settings", RarePage::NotificationSettings)
}

// The competitions pages share the notification settings' chunk (and its one loader here).
fn rare_page(what: &'static str, page: RarePage) -> impl IntoView {
    view! { <Lazy what placeholder=page_placeholder() content=lazy_rare_page(page) /> }
}

/// What no route matches: the competitions pages (`/competitions`, `/competitions/:id`, and
/// the public `/c/:slug` without signing in), else "not found". They are not in the route
/// table because every route there is generic code in the main module, which is at its budget.
fn fallback() -> impl IntoView {
    let location = use_location();
    move || match RarePage::at(&location.pathname.get()) {
        Some(RarePage::PublicCompetition) => {
            rare_page("the leaderboard", RarePage::PublicCompetition).into_any()
        }
        Some(page) => {
            view! { <SignedIn>{rare_page("the competitions", page)}</SignedIn> }.into_any()
        }
        None => view! { <NotFound /> }.into_any(),
    }
}

// The programs pages (the console's largest), in chunks of their own.

#[cfg(feature = "admin")]
fn programs_page() -> impl IntoView {
    view! {
        <Lazy what="the programs page" placeholder=page_placeholder() content=lazy_programs_page() />
    }
}

#[cfg(feature = "admin")]
fn competitions_console(page: crate::pages::CompetitionsConsole) -> impl IntoView {
    view! {
        <Lazy
            what="the competitions"
            placeholder=page_placeholder()
            content=crate::pages::lazy_competitions_console(page)
        />
    }
}

#[cfg(feature = "admin")]
fn program_page() -> impl IntoView {
    view! {
        <Lazy what="the program's page" placeholder=page_placeholder() content=lazy_program_page() />
    }
}

/// Every page: the admin console's bundle.
#[cfg(feature = "admin")]
fn routes() -> impl IntoView {
    view! {
        <Routes fallback=fallback>
            <Route path=path!("/login") view=login_page />
            <Route path=path!("/") view=|| view! { <SignedIn>{accounts_page()}</SignedIn> } />
            <Route
                path=path!("/accounts/:id")
                view=|| view! { <SignedIn><AccountPage /></SignedIn> }
            />
            <Route
                path=path!("/settings/notifications")
                view=|| view! { <SignedIn>{notification_settings_page()}</SignedIn> }
            />
            <Route
                path=path!("/admin")
                view=|| view! { <SignedIn><AdminOnly><AdminOverviewPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/accounts/new")
                view=|| view! { <SignedIn><AdminOnly><AdminCreatePage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/imports")
                view=|| view! { <SignedIn><AdminOnly><AdminImportsPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/accounts/:id")
                view=|| view! { <SignedIn><AdminOnly><AdminChallengePage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/accounts/:id/rules")
                view=|| view! { <SignedIn><AdminOnly><AdminRulesPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/users")
                view=|| view! { <SignedIn><AdminOnly><AdminUsersPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/audit")
                view=|| view! { <SignedIn><AdminOnly><AdminAuditPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/notifications")
                view=|| view! { <SignedIn><AdminOnly><AdminNotificationsPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/api-tokens")
                view=|| view! { <SignedIn><AdminOnly><AdminApiTokensPage /></AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/programs")
                view=|| view! { <SignedIn><AdminOnly>{programs_page()}</AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/programs/:program")
                view=|| view! { <SignedIn><AdminOnly>{program_page()}</AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/competitions")
                view=|| view! { <SignedIn><AdminOnly>{competitions_console(crate::pages::CompetitionsConsole::List)}</AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/competitions/new")
                view=|| view! { <SignedIn><AdminOnly>{competitions_console(crate::pages::CompetitionsConsole::New)}</AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/competitions/:id")
                view=|| view! { <SignedIn><AdminOnly>{competitions_console(crate::pages::CompetitionsConsole::One)}</AdminOnly></SignedIn> }
            />
            <Route
                path=path!("/admin/competitions/:id/edit")
                view=|| view! { <SignedIn><AdminOnly>{competitions_console(crate::pages::CompetitionsConsole::Edit)}</AdminOnly></SignedIn> }
            />
        </Routes>
    }
}

/// The trader's pages: the trader's bundle. An `/admin` address belongs to the admin console's
/// bundle, so the server is asked for it.
#[cfg(not(feature = "admin"))]
fn routes() -> impl IntoView {
    use crate::pages::OpenAdminConsole;
    view! {
        <Routes fallback=fallback>
            <Route path=path!("/login") view=login_page />
            <Route path=path!("/") view=|| view! { <SignedIn>{accounts_page()}</SignedIn> } />
            <Route
                path=path!("/accounts/:id")
                view=|| view! { <SignedIn><AccountPage /></SignedIn> }
            />
            <Route
                path=path!("/settings/notifications")
                view=|| view! { <SignedIn>{notification_settings_page()}</SignedIn> }
            />
            <Route path=path!("/admin") view=OpenAdminConsole />
            <Route path=path!("/admin/*any") view=OpenAdminConsole />
        </Routes>
    }
}
