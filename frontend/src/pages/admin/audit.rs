use leptos::prelude::*;

/// Audit log (admin console).
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    crate::pages::set_title("Audit log · Admin · Riskdeck");
    view! {
        <section class="panel" data-testid="admin-audit">
            <h1>"Audit log"</h1>
        </section>
    }
}
