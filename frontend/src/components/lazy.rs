//! Sections whose code is not in the main WASM module: `cargo xtask dist` splits every
//! `#[wasm_split]` function (with what only it uses) into a chunk of its own, fetched the first
//! time the function is called. The split functions live next to the components they show.
//!
//! They are declared `fallible` (not Leptos' `#[lazy]`, whose load failure panics and so aborts
//! the whole app): a chunk that cannot be fetched shows an error in the section's place.

use super::ErrorPanel;
use leptos::prelude::*;
use leptos::wasm_split::SplitLoaderError;
use std::future::Future;

/// Shows `placeholder` while `content` (a call of a split function) loads its chunk, then the
/// section; an error in its place when the chunk cannot be fetched.
#[component]
pub fn Lazy<F>(
    /// What loads, for the error message: "the metrics".
    what: &'static str,
    /// Shown while the chunk loads: the same layout as the section, so nothing jumps.
    #[prop(into)]
    placeholder: ViewFn,
    content: F,
    /// Nothing in its place when the chunk cannot be fetched: for a section that shows only
    /// when it has something to show (the chunk's other sections say what failed).
    #[prop(optional)]
    quiet: bool,
) -> impl IntoView
where
    F: Future<Output = Result<AnyView, SplitLoaderError>> + Send + 'static,
{
    view! {
        <Suspense fallback=move || placeholder.run()>
            {Suspend::new(async move {
                match content.await {
                    Ok(view) => view,
                    Err(_) if quiet => ().into_any(),
                    Err(_) => {
                        view! {
                            <ErrorPanel
                                title="Part of this page could not be loaded"
                                message=format!(
                                    "Riskdeck could not download {what}. Check your connection and reload the page.",
                                )
                            />
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The placeholder of a lazy page.
pub fn page_placeholder() -> ViewFn {
    ViewFn::from(|| view! { <super::Loading label="Loading the page…" /> })
}

/// The placeholder of a lazy panel: the panel's frame and heading, with a note where its
/// content will be.
pub fn panel_placeholder(class: &'static str, title: &'static str) -> ViewFn {
    ViewFn::from(move || {
        view! {
            <section class=format!("panel {class}") aria-busy="true">
                <h2>{title}</h2>
                <super::Loading label="Loading…" />
            </section>
        }
    })
}
