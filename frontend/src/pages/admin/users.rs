use leptos::prelude::*;

/// Users (admin console).
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    crate::pages::set_title("Users · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-users">
            <h1>"Users"</h1>
        </section>
    }
}
