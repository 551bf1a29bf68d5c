//! `/admin/competitions`: every competition by stage (running, upcoming, ended) with its
//! window in its time zone, entrants and public link; "New competition" starts one.

use super::public_url;
use crate::api;
use crate::components::{ErrorPanel, Load, Loading, stage_class, stage_words, window_words};
use crate::pages::admin::paths;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::competitions::{CompetitionSummary, CompetitionsResponse, Stage};

/// Competitions (admin console).
#[component]
pub(super) fn AdminCompetitionsPage() -> impl IntoView {
    crate::pages::set_title("Competitions · Admin · Riskdeck");
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
                    "Many accounts on the same rules over the same window, ranked live by return \
                     or profit. Traders see the leaderboard under the names they choose."
                </p>
            </div>
            <div class="page-actions">
                <a class="button" href=paths::NEW_COMPETITION data-testid="competition-new">
                    "New competition"
                </a>
            </div>
        </div>
        {move || match competitions.get() {
            Load::Loading => view! { <Loading label="Loading the competitions…" /> }.into_any(),
            Load::Failed(error) => view! {
                <ErrorPanel
                    title="The competitions could not be loaded"
                    message=error.to_string()
                    on_retry=retry
                />
            }
            .into_any(),
            Load::Ready(response) if response.competitions.is_empty() => view! {
                <section class="panel notice" data-testid="competitions-empty">
                    <h2>"No competitions yet"</h2>
                    <p>
                        "Create one with a name, a window in your firm's time zone, the rules that \
                         disqualify (say a 5% daily and a 10% maximum loss) and how entrants are \
                         ranked; then add the accounts that take part. It can be edited until \
                         it starts."
                    </p>
                    <a class="button" href=paths::NEW_COMPETITION>"New competition"</a>
                </section>
            }
            .into_any(),
            Load::Ready(response) => {
                let sections = [Stage::Running, Stage::Upcoming, Stage::Ended]
                    .into_iter()
                    .filter_map(|stage| {
                        let these: Vec<CompetitionSummary> = response
                            .competitions
                            .iter()
                            .filter(|c| c.stage == stage)
                            .cloned()
                            .collect();
                        (!these.is_empty()).then(|| view! { <StageTable stage competitions=these /> })
                    })
                    .collect_view();
                view! { <div data-testid="competitions-list">{sections}</div> }.into_any()
            }
        }}
    }
}

#[component]
fn StageTable(stage: Stage, competitions: Vec<CompetitionSummary>) -> impl IntoView {
    let rows = competitions
        .into_iter()
        .map(|c| {
            let public = c.public_path.as_deref().map(|path| {
                let url = public_url(path);
                view! { <a href=path.to_owned() class="mono" data-testid="competition-public">{url}</a> }
                    .into_any()
            });
            let public = public.unwrap_or_else(|| view! { <span class="subtle">"off"</span> }.into_any());
            view! {
                <tr data-testid="admin-competition-row" data-competition=c.id.clone()>
                    <th scope="row">
                        <a href=paths::competition(&c.id) data-testid="admin-competition-link">{c.name.clone()}</a>
                        <br />
                        <span class="subtle">{format!("id {}", c.id)}</span>
                    </th>
                    <td>{window_words(&c.window, &c.time_zone)}</td>
                    <td class="num" data-testid="admin-competition-entrants">{c.entrants}</td>
                    <td>{public}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel table-panel table-scroll competitions-stage">
            <h2>
                <span class=stage_class(stage)>{stage_words(stage)}</span>
            </h2>
            <table class="admin-table">
                <thead>
                    <tr>
                        <th scope="col">"Competition"</th>
                        <th scope="col">"Window"</th>
                        <th scope="col" class="num">"Entrants"</th>
                        <th scope="col">"Public link"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
