use leptos::prelude::*;

/// A failed request, explained, with a way to try again.
#[component]
pub fn ErrorPanel(
    #[prop(into)] title: String,
    #[prop(into)] message: String,
    #[prop(optional)] on_retry: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        <section class="panel notice notice-error" role="alert" data-testid="error">
            <h2>{title}</h2>
            <p>{message}</p>
            {on_retry
                .map(|retry| {
                    view! {
                        <button class="button" type="button" on:click=move |_| retry.run(())>
                            "Try again"
                        </button>
                    }
                })}
        </section>
    }
}
