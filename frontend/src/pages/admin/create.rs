use leptos::prelude::*;

/// New challenge (admin console).
#[component]
pub fn AdminCreatePage() -> impl IntoView {
    crate::pages::set_title("New challenge · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-create">
            <h1>"New challenge"</h1>
        </section>
    }
}
