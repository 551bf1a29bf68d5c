use leptos::prelude::*;

/// Any path the app has no page for.
#[component]
pub fn NotFound() -> impl IntoView {
    super::set_title("Page not found · Riskdeck");
    view! {
        <section class="panel notice" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <a class="button" href="/">"Back to all accounts"</a>
        </section>
    }
}
