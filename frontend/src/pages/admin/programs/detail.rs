//! `/admin/programs/:program`: one program: its phases as the latest version has them, the
//! challenges on it, every version (newest first: who saved it, when, how it was applied and
//! what it changed), and the editor of the next version.

use super::draft::{apply_words, changes};
use super::editor::ProgramEditor;
use super::list::PhaseSummary;
use crate::api;
use crate::components::{ErrorPanel, Load, Loading, status_badge};
use crate::format;
use crate::pages::admin::paths;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use shared::api::{ProgramChallenge, ProgramDetail, ProgramSaved, ProgramVersionView};
use shared::domain::AccountId;

/// Program (admin console).
#[component]
pub(super) fn AdminProgramPage() -> impl IntoView {
    crate::pages::set_title("Program · Admin · Riskdeck");
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("program").unwrap_or_default());
    move || {
        let id = id.get();
        view! { <Program id /> }
    }
}

#[component]
fn Program(id: String) -> impl IntoView {
    let detail = RwSignal::new(Load::<ProgramDetail>::Loading);
    // The last save's answer: kept here, since the editor is built again after a save.
    let saved = RwSignal::new(None::<Result<ProgramSaved, String>>);
    let load = {
        let id = id.clone();
        move |quiet: bool| {
            if !quiet {
                detail.set(Load::Loading);
            }
            let id = id.clone();
            spawn_local(async move {
                detail.try_set(api::program(&id).await.into());
            });
        }
    };
    load(false);
    let retry = {
        let load = load.clone();
        Callback::new(move |()| load(false))
    };
    let on_saved = Callback::new(move |()| load(true));
    let title = move || {
        detail.with(|d| match d {
            Load::Ready(d) => d.summary.name.clone(),
            _ => "Program".to_owned(),
        })
    };

    view! {
        <nav class="crumbs" aria-label="Breadcrumb">
            <a href=paths::PROGRAMS data-testid="program-back">"← Programs"</a>
        </nav>
        <div class="page-head">
            <div>
                <h1 data-testid="program-title">{title}</h1>
                <p class="subtle">{format!("id {id}")}</p>
            </div>
        </div>
        <div class="admin-program" data-testid="program" data-program-id=id.clone()>
            {move || match detail.get() {
                Load::Loading => view! { <Loading label="Loading the program…" /> }.into_any(),
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The program could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(detail) => {
                    let ProgramDetail { summary, program, versions, challenges } = detail;
                    let about = (!summary.description.is_empty())
                        .then(|| view! { <p class="program-description">{summary.description.clone()}</p> });
                    let template = summary
                        .template
                        .as_ref()
                        .map(|t| format!(" · from template {t}"))
                        .unwrap_or_default();
                    let facts = format!(
                        "Version {} · saved {} by {}{template}",
                        summary.version,
                        format::date_time(summary.updated_at),
                        summary.updated_by
                    );
                    let phases = summary
                        .phases
                        .iter()
                        .cloned()
                        .map(|phase| view! { <PhaseSummary phase /> })
                        .collect_view();
                    view! {
                        <section class="panel admin-summary program-summary" data-testid="program-summary">
                            <h2>"Phases"</h2>
                            {about}
                            <p class="subtle" data-testid="program-facts">{facts}</p>
                            <ol class="program-phases">{phases}</ol>
                        </section>
                        <Challenges challenges latest=summary.version />
                        <Versions versions />
                        <ProgramEditor
                            id=summary.id.clone()
                            current=program
                            version=summary.version
                            saved
                            on_saved
                        />
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

/// The challenges on the program: account, name, owner, phase, version and status.
#[component]
fn Challenges(challenges: Vec<ProgramChallenge>, latest: u32) -> impl IntoView {
    let count = challenges.len();
    let body = if challenges.is_empty() {
        view! {
            <p class="subtle" data-testid="program-challenges-empty">
                "No challenge is on this program yet."
            </p>
        }
        .into_any()
    } else {
        let rows = challenges
            .into_iter()
            .map(|challenge| view! { <ChallengeRow challenge latest /> })
            .collect_view();
        view! {
            <div class="table-scroll">
                <table class="admin-table program-challenges" data-testid="program-challenges">
                    <thead>
                        <tr>
                            <th scope="col">"Account"</th>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Phase"</th>
                            <th scope="col">"Version"</th>
                            <th scope="col">"Status"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="panel admin-summary" aria-labelledby="program-challenges-title">
            <h2 id="program-challenges-title">{format!("Challenges ({count})")}</h2>
            {body}
        </section>
    }
}

#[component]
fn ChallengeRow(challenge: ProgramChallenge, latest: u32) -> impl IntoView {
    let href = paths::challenge(&AccountId::from(challenge.account.as_str()));
    let (class, word) = challenge
        .status
        .map_or(("badge badge-connecting", "Reading history"), status_badge);
    let version = if challenge.version < latest {
        format!("v{} (latest v{latest})", challenge.version)
    } else {
        format!("v{}", challenge.version)
    };
    let owner = challenge
        .owner
        .as_ref()
        .map(|owner| view! { <br /><span class="subtle">{format!("owner {owner}")}</span> });
    view! {
        <tr
            data-testid="program-challenge"
            data-account=challenge.account.clone()
            data-phase-index=challenge.phase_index.to_string()
        >
            <th scope="row" data-label="Account">
                <a href=href>{challenge.account.clone()}</a>
            </th>
            <td data-label="Name">{challenge.name.clone()}{owner}</td>
            <td data-label="Phase" data-testid="program-challenge-phase">
                {format!("{} · {}", challenge.phase_index + 1, challenge.phase)}
            </td>
            <td data-label="Version" data-testid="program-challenge-version">{version}</td>
            <td data-label="Status">
                <span class=class data-testid="program-challenge-status">{word}</span>
            </td>
        </tr>
    }
}

/// Every version, newest first, with what it changed from the one before.
#[component]
fn Versions(mut versions: Vec<ProgramVersionView>) -> impl IntoView {
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    let items = versions
        .iter()
        .enumerate()
        .map(|(index, version)| {
            let how = apply_words(
                version.apply,
                version.applied_to,
                version.created_at,
                format::date_time,
            );
            let changed = match versions.get(index + 1) {
                Some(before) => changes(&before.program, &version.program),
                None => vec!["the program created".to_owned()],
            };
            let changed = if changed.is_empty() {
                vec!["no change".to_owned()]
            } else {
                changed
            };
            let changed = changed
                .into_iter()
                .map(|words| view! { <li>{words}</li> })
                .collect_view();
            view! {
                <li data-testid="program-version" data-version=version.version.to_string()>
                    <strong>{format!("Version {}", version.version)}</strong>
                    {format!(
                        " · {} · by {} · {how}",
                        format::date_time(version.created_at),
                        version.created_by
                    )}
                    <ul class="rule-change-list">{changed}</ul>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="panel admin-summary program-versions" aria-labelledby="program-versions-title">
            <h2 id="program-versions-title">"Versions"</h2>
            <ol class="program-version-list" data-testid="program-versions">{items}</ol>
        </section>
    }
}
