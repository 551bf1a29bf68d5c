use leptos::prelude::*;

/// Rules (admin console).
#[component]
pub fn AdminRulesPage() -> impl IntoView {
    crate::pages::set_title("Rules · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-rules">
            <h1>"Rules"</h1>
        </section>
    }
}
