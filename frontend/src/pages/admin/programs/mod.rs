//! Programs: what the firm sells ("2-Step 100k": Phase 1, Phase 2, Funded) as data.
//! `/admin/programs` lists them and creates one from a template or blank (`list`), under the
//! passed phases' promotions to approve, reject or connect (`promotions`);
//! `/admin/programs/:program` shows one with its versions and challenges (`detail`) and edits a
//! new version (`editor`: phases, each phase's rules with the rule editor's fields, the
//! what-if over the running challenges, then saving it for new challenges only or for the
//! running ones too). `draft` is the editor's model without signals, checked by the server's
//! own `ProgramDraft::validate`.
//!
//! Both pages are chunks of their own (`#[wasm_split]`, shown through `components::Lazy`): the
//! editor is the console's largest page, and most visits to the console never open it.

mod detail;
mod draft;
mod editor;
mod list;
mod promotions;

use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};

/// `/admin/programs`, from its chunk.
#[wasm_split(programs, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_programs_page() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <list::AdminProgramsPage /> }.into_any())
}

/// `/admin/programs/:program`, from its chunk.
#[wasm_split(program, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_program_page() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <detail::AdminProgramPage /> }.into_any())
}
