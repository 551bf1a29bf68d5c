use leptos::prelude::*;

/// Challenge (admin console).
#[component]
pub fn AdminChallengePage() -> impl IntoView {
    crate::pages::set_title("Challenge · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-challenge">
            <h1>"Challenge"</h1>
        </section>
    }
}
