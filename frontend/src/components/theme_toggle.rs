//! Light or dark: follows the system setting until the person picks one, which is remembered
//! in the browser (`localStorage`) and set as `data-theme` on the document element.

use leptos::prelude::*;

const KEY: &str = "riskdeck-theme";

fn stored() -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()?
        .get_item(KEY)
        .ok()?
}

fn apply(theme: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-theme", theme);
    }
}

fn system_is_dark() -> bool {
    window()
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
        .is_some_and(|query| query.matches())
}

/// A button that switches between the light and the dark theme.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let initial =
        stored().unwrap_or_else(|| if system_is_dark() { "dark" } else { "light" }.to_owned());
    let dark = RwSignal::new(initial == "dark");
    Effect::new(move || {
        let theme = if dark.get() { "dark" } else { "light" };
        apply(theme);
    });
    let toggle = move |_| {
        dark.update(|d| *d = !*d);
        let theme = if dark.get_untracked() {
            "dark"
        } else {
            "light"
        };
        if let Some(storage) = window().local_storage().ok().flatten() {
            let _ = storage.set_item(KEY, theme);
        }
    };
    view! {
        <button
            type="button"
            class="button-quiet theme-toggle"
            data-testid="theme-toggle"
            aria-pressed=move || dark.get().to_string()
            on:click=toggle
        >
            {move || if dark.get() { "☀ Light theme" } else { "☾ Dark theme" }}
        </button>
    }
}
