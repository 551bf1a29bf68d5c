//! Riskdeck's browser app: Leptos, client-side rendered, built to WASM by `cargo xtask dist`.
//!
//! Layout: `api` is the only module that knows the server's URLs, `sse` the only one that opens
//! an `EventSource`; `pages` holds one component per route, `components` the reusable pieces and
//! `charts` the plotters drawings (plain data in, SVG out); `session` knows who is signed in.
//! Money is shown from `Decimal`s only.

mod api;
mod app;
mod charts;
mod components;
mod format;
mod pages;
mod session;
mod sse;

/// The address the page was loaded at, before any client-side navigation.
#[cfg_attr(feature = "admin", allow(dead_code))]
static BOOT_PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn main() {
    console_error_panic_hook::set_once();
    if let Ok(path) = leptos::prelude::window().location().pathname() {
        let _ = BOOT_PATH.set(path);
    }
    // `index.html` shows a loading note until the app is running.
    if let Some(boot) = leptos::prelude::document().get_element_by_id("boot") {
        boot.remove();
    }
    leptos::mount::mount_to_body(app::App);
}
