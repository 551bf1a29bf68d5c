use leptos::prelude::*;

/// All challenges (admin console).
#[component]
pub fn AdminOverviewPage() -> impl IntoView {
    crate::pages::set_title("All challenges · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-overview">
            <h1>"All challenges"</h1>
        </section>
    }
}
