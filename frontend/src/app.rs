//! The application shell: header, routes and the paths of the app's own pages.

use crate::pages::{AccountPage, AccountsPage, NotFound};
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use shared::domain::AccountId;

/// The path of an account's page.
pub fn account_path(id: &AccountId) -> String {
    format!("/accounts/{}", crate::api::encode(id.as_str()))
}

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="topbar">
                <div class="topbar-inner">
                    <a class="brand" href="/">
                        <span class="brand-mark" aria-hidden="true"></span>
                        "Riskdeck"
                    </a>
                    <span class="tagline">"Real-time risk monitor"</span>
                </div>
            </header>
            <main id="main" class="container">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=AccountsPage />
                    <Route path=path!("/accounts/:id") view=AccountPage />
                </Routes>
            </main>
        </Router>
    }
}
