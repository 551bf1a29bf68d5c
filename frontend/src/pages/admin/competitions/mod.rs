//! Competitions in the admin console (issue 25): `/admin/competitions` lists them by stage
//! (`list`); `/admin/competitions/new` and `/admin/competitions/:id/edit` write one (`form`:
//! name, window in the firm's time zone, the rules that disqualify with the rule editor's
//! fields, the ranking and its ordered tie-breaks, the public link), read-only once it
//! started; `/admin/competitions/:id` shows its entrants to add and remove, the live
//! leaderboard, and after the end the final standings with each disqualification's evidence
//! (`detail`).
//!
//! All of them are one chunk of their own (`#[wasm_split]`): most visits to the console never
//! open them.

mod detail;
mod form;
mod list;

use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};

/// Which competitions page of the console to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompetitionsConsole {
    /// `/admin/competitions`.
    List,
    /// `/admin/competitions/new`.
    New,
    /// `/admin/competitions/:id/edit`.
    Edit,
    /// `/admin/competitions/:id`.
    One,
}

/// A competitions page of the console, from its chunk.
#[wasm_split(competitions_console, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_competitions_console(page: CompetitionsConsole) -> Result<AnyView, SplitLoaderError> {
    Ok(match page {
        CompetitionsConsole::List => view! { <list::AdminCompetitionsPage /> }.into_any(),
        CompetitionsConsole::New => {
            view! { <form::CompetitionFormPage editing=false /> }.into_any()
        }
        CompetitionsConsole::Edit => {
            view! { <form::CompetitionFormPage editing=true /> }.into_any()
        }
        CompetitionsConsole::One => view! { <detail::AdminCompetitionPage /> }.into_any(),
    })
}

/// The public leaderboard's full address, from its path.
fn public_url(path: &str) -> String {
    let origin = leptos::prelude::window()
        .location()
        .origin()
        .unwrap_or_default();
    format!("{origin}{path}")
}

/// The server's refusal split into its problems (`name: ...; start: ...`), each with the field
/// it names (`form` when none). A leading sentence (`The competition was refused: ...`) and the
/// closing period are left out.
fn problems(message: &str) -> Vec<(String, String)> {
    let message = message.trim().trim_end_matches('.');
    message
        .split("; ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(index, problem)| {
            if let Some(named) = named(problem) {
                return named;
            }
            // Only the first problem carries the sentence before the list.
            if index == 0
                && let Some((_, rest)) = problem.split_once(": ")
                && let Some(named) = named(rest)
            {
                return named;
            }
            ("form".to_owned(), problem.to_owned())
        })
        .collect()
}

/// `field: advice` when the text starts with a field's name.
fn named(problem: &str) -> Option<(String, String)> {
    let (field, advice) = problem.split_once(": ")?;
    let is_field = !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
    is_field.then(|| (field.to_owned(), advice.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_split_into_its_fields() {
        assert_eq!(
            problems(
                "name: the competition needs a name; end: the competition must end after it starts"
            ),
            vec![
                ("name".to_owned(), "the competition needs a name".to_owned()),
                (
                    "end".to_owned(),
                    "the competition must end after it starts".to_owned()
                ),
            ]
        );
        assert_eq!(
            problems("rules: daily_loss: limit must be positive"),
            vec![(
                "rules".to_owned(),
                "daily_loss: limit must be positive".to_owned()
            )]
        );
        assert_eq!(
            problems(
                "The competition was refused: time_zone: unknown time zone \"Mars\"; end: too late."
            ),
            vec![
                (
                    "time_zone".to_owned(),
                    "unknown time zone \"Mars\"".to_owned()
                ),
                ("end".to_owned(), "too late".to_owned()),
            ]
        );
        assert_eq!(
            problems("Nothing was changed: add: x: there is no such account."),
            vec![("add".to_owned(), "x: there is no such account".to_owned())]
        );
        assert_eq!(
            problems("The competition started: it can no longer change."),
            vec![(
                "form".to_owned(),
                "The competition started: it can no longer change".to_owned()
            )]
        );
    }
}
