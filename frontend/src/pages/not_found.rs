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

/// An `/admin` address reached inside the trader's bundle, which has no admin pages: the
/// address is loaded from the server, which answers `/admin` addresses with the admin console's
/// bundle (the app's own links to the console are `rel="external"`, so they load it directly). When the server itself handed this bundle out for the address (a build without the
/// console), there is nothing to load and the page says so instead of reloading for ever.
#[cfg(not(feature = "admin"))]
#[component]
pub fn OpenAdminConsole() -> impl IntoView {
    let served_for_admin = crate::BOOT_PATH
        .get()
        .is_some_and(|path| path == "/admin" || path.starts_with("/admin/"));
    if served_for_admin {
        super::set_title("Admin console unavailable · Riskdeck");
        return view! {
            <section class="panel notice" data-testid="admin-console-missing">
                <h1>"The admin console is not available"</h1>
                <p>"This server was started without the admin console's bundle. Build it with \
                    `cargo xtask dist` and start the server again."</p>
                <a class="button" href="/">"Back to all accounts"</a>
            </section>
        }
        .into_any();
    }
    // The router's address, not the browser's: the browser's may not have moved yet.
    let location = leptos_router::hooks::use_location();
    let (path, search) = (
        location.pathname.get_untracked(),
        location.search.get_untracked(),
    );
    let search = search.trim_start_matches('?');
    let address = if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    };
    if let Err(error) = window().location().assign(&address) {
        leptos::logging::warn!("cannot open the admin console: {error:?}");
    }
    view! { <crate::components::Loading label="Opening the admin console…" /> }.into_any()
}
