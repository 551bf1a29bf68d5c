//! The trader's competitions: `/competitions` lists the ones the trader has an account in,
//! `/competitions/:id` shows one's live leaderboard with the trader's own rows highlighted
//! (pinned above the page when off it, linked to their dashboards), and `/c/:slug` is the
//! public read-only leaderboard an admin may turn on (no sign-in, polled, no personal data).
//!
//! All three are in one chunk with the notification settings (`rare_pages`): the trader's
//! main module is at its budget and most traders are in no competition.

use crate::api;
use crate::components::{
    BoardSource, ErrorPanel, Leaderboard, Load, Loading, stage_class, stage_words, window_words,
};
use leptos::either::EitherOf4;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use shared::competitions::{CompetitionSummary, CompetitionsResponse};

/// The pages few visits open, in one chunk (`rare_pages`), so the main module holds one
/// loader for them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RarePage {
    /// `/settings/notifications`.
    NotificationSettings,
    /// `/competitions`.
    Competitions,
    /// `/competitions/:id`.
    Competition,
    /// `/c/:slug`.
    PublicCompetition,
}

impl RarePage {
    /// The competitions page at `path`, if it is one (the app's fallback shows them).
    pub fn at(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        let one = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        };
        if path == "/competitions" {
            Some(Self::Competitions)
        } else if one("/competitions/") {
            Some(Self::Competition)
        } else if one("/c/") {
            Some(Self::PublicCompetition)
        } else {
            None
        }
    }
}

/// The last segment of the address, decoded, after `prefix` (these pages are shown by the
/// app's fallback, not a route with parameters).
fn segment_after(prefix: &'static str) -> Memo<String> {
    let location = leptos_router::hooks::use_location();
    Memo::new(move |_| {
        let path = location.pathname.get();
        let raw = path
            .strip_prefix(prefix)
            .unwrap_or_default()
            .trim_end_matches('/');
        js_sys::decode_uri_component(raw)
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_else(|| raw.to_owned())
    })
}

/// A rarely opened page, from the `rare_pages` chunk.
#[wasm_split(rare_pages, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_rare_page(page: RarePage) -> Result<AnyView, SplitLoaderError> {
    Ok(match page {
        RarePage::NotificationSettings => {
            EitherOf4::A(view! { <super::notification_settings::NotificationSettingsPage /> })
        }
        RarePage::Competitions => EitherOf4::B(view! { <CompetitionsPage /> }),
        RarePage::Competition => EitherOf4::C(view! { <CompetitionPage /> }),
        RarePage::PublicCompetition => EitherOf4::D(view! { <PublicCompetitionPage /> }),
    }
    .into_any())
}

/// The path of a competition's leaderboard.
fn competition_path(id: &str) -> String {
    format!("/competitions/{}", api::encode(id))
}

#[component]
fn CompetitionsPage() -> impl IntoView {
    super::set_title("Competitions · Riskdeck");
    let competitions = RwSignal::new(Load::<CompetitionsResponse>::Loading);
    let load = move || {
        competitions.set(Load::Loading);
        spawn_local(async move {
            competitions.try_set(api::competitions().await.into());
        });
    };
    load();
    let retry = Callback::new(move |()| load());
    view! {
        <div class="page-head">
            <div>
                <h1>"Competitions"</h1>
                <p class="subtle">
                    "Competitions your accounts are entered in: everyone on the same rules over \
                     the same window, ranked live."
                </p>
            </div>
        </div>
        <NameNote />
        {move || match competitions.get() {
            Load::Loading => EitherOf4::A(view! { <Loading label="Loading your competitions…" /> }),
            Load::Failed(error) => EitherOf4::B(view! {
                <ErrorPanel
                    title="Your competitions could not be loaded"
                    message=error.to_string()
                    on_retry=retry
                />
            }),
            Load::Ready(response) if response.competitions.is_empty() => EitherOf4::C(view! {
                <section class="panel notice" data-testid="competitions-empty">
                    <h2>"You are in no competition yet"</h2>
                    <p>
                        "When your firm enters one of your accounts in a competition, it appears \
                         here with its live leaderboard. Your challenge dashboard stays as it is."
                    </p>
                    <a class="button button-quiet" href="/">"Back to my accounts"</a>
                </section>
            }),
            Load::Ready(response) => EitherOf4::D(view! { <CompetitionsTable competitions=response.competitions /> }),
        }}
    }
}

/// Where a trader's display name is chosen, and what leaderboards show without one.
#[component]
fn NameNote() -> impl IntoView {
    view! {
        <p class="subtle name-note" data-testid="competitions-name-note">
            "Leaderboards show the display name you choose, or “Entrant N” until you choose one: \
             never your username, real name or account number. "
            <a href="/settings/notifications#display-name">"Choose your display name"</a>
        </p>
    }
}

#[component]
fn CompetitionsTable(competitions: Vec<CompetitionSummary>) -> impl IntoView {
    let rows = competitions
        .into_iter()
        .map(|c| {
            let mine = match c.mine {
                0 => String::new(),
                1 => "1 of your accounts".to_owned(),
                n => format!("{n} of your accounts"),
            };
            view! {
                <tr data-testid="competition-row" data-competition=c.id.clone()>
                    <th scope="row">
                        <a href=competition_path(&c.id) data-testid="competition-link">{c.name.clone()}</a>
                    </th>
                    <td><span class=stage_class(c.stage)>{stage_words(c.stage)}</span></td>
                    <td>{window_words(&c.window, &c.time_zone)}</td>
                    <td class="num">{c.entrants}</td>
                    <td>{mine}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="panel table-panel table-scroll">
            <table class="data-table" data-testid="competitions-list">
                <thead>
                    <tr>
                        <th scope="col">"Competition"</th>
                        <th scope="col">"Stage"</th>
                        <th scope="col">"Window"</th>
                        <th scope="col" class="num">"Entrants"</th>
                        <th scope="col">"Yours"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[component]
fn CompetitionPage() -> impl IntoView {
    super::set_title("Competition · Riskdeck");
    let id = segment_after("/competitions/");
    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href="/competitions">"Competitions"</a>
        </nav>
        {move || {
            let competition = id.get();
            view! {
                <Leaderboard
                    competition
                    source=BoardSource::Live
                    link=super::account_path
                    titled=true
                />
            }
        }}
        <NameNote />
    }
}

#[component]
fn PublicCompetitionPage() -> impl IntoView {
    super::set_title("Leaderboard · Riskdeck");
    let slug = segment_after("/c/");
    view! {
        <div data-testid="public-leaderboard">
            {move || {
                let competition = slug.get();
                view! { <Leaderboard competition source=BoardSource::Public titled=true /> }
            }}
            <p class="subtle">
                "A read-only public leaderboard: traders appear under the names they chose, \
                 and it refreshes every few seconds."
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_knows_the_competitions_pages() {
        assert_eq!(RarePage::at("/competitions"), Some(RarePage::Competitions));
        assert_eq!(RarePage::at("/competitions/"), Some(RarePage::Competitions));
        assert_eq!(
            RarePage::at("/competitions/spring-cup"),
            Some(RarePage::Competition)
        );
        assert_eq!(RarePage::at("/c/ab12cd"), Some(RarePage::PublicCompetition));
        for other in ["/", "/c/", "/competitions/a/b", "/competition", "/cx/a"] {
            assert_eq!(RarePage::at(other), None, "{other}");
        }
    }
}
