//! `/admin/competitions/:id`: one competition. Its terms in a few words and the public link to
//! copy; the entrants, added by picking accounts or pasting their ids and removed before the
//! start (every refused account named); the live leaderboard (final standings after the end);
//! and each disqualification with the evidence its challenge recorded.

use super::{problems, public_url};
use crate::api::{self, OverviewQuery};
use crate::components::{
    BoardSource, ErrorPanel, Leaderboard, Load, Loading, stage_class, stage_words, window_words,
};
use crate::format;
use crate::pages::admin::paths;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use shared::api::ChallengeRow;
use shared::competitions::{
    CompetitionDetail, CompetitionEntry, DisqualificationRecord, EntriesRequest, Stage,
};
use shared::domain::AccountId;

/// One competition (admin console).
#[component]
pub(super) fn AdminCompetitionPage() -> impl IntoView {
    crate::pages::set_title("Competition · Admin · Riskdeck");
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    let detail = RwSignal::new(Load::<CompetitionDetail>::Loading);
    // The entrants change on this page without loading the rest again.
    let entries = RwSignal::new(Vec::<CompetitionEntry>::new());
    let load = {
        let id = id.clone();
        move || {
            let id = id.clone();
            detail.set(Load::Loading);
            spawn_local(async move {
                let found = api::competition(&id).await;
                if let Ok(found) = &found {
                    entries.try_set(found.entries.clone());
                }
                detail.try_set(found.into());
            });
        }
    };
    load();
    let retry = Callback::new(move |()| load());
    move || {
        match detail.get() {
        Load::Loading => view! { <Loading label="Loading the competition…" /> }.into_any(),
        Load::Failed(error) => view! {
            <ErrorPanel title="The competition could not be loaded" message=error.to_string() on_retry=retry />
        }
        .into_any(),
        Load::Ready(found) => view! { <Competition found entries /> }.into_any(),
    }
    }
}

#[component]
fn Competition(
    found: CompetitionDetail,
    entries: RwSignal<Vec<CompetitionEntry>>,
) -> impl IntoView {
    crate::pages::set_title(&format!("{} · Admin · Riskdeck", found.summary.name));
    let summary = found.summary.clone();
    let stage = summary.stage;
    let upcoming = stage == Stage::Upcoming;
    let edit_label = if upcoming {
        "Edit"
    } else {
        "Settings (read-only)"
    };
    let description = (!found.competition.description.is_empty())
        .then(|| view! { <p>{found.competition.description.clone()}</p> });
    let rules = found
        .competition
        .rules
        .rules
        .iter()
        .map(|rule| crate::components::rule_label(rule.kind.name(), &rule.id))
        .collect::<Vec<_>>()
        .join(", ");
    let public = summary
        .public_path
        .clone()
        .map(|path| view! { <PublicLink path /> });
    let leaderboard_id = summary.id.clone();
    let heading = if stage == Stage::Ended {
        "Final standings"
    } else {
        "Leaderboard"
    };
    view! {
        <div class="page-head">
            <div>
                <nav class="crumbs"><a href=paths::COMPETITIONS>"Competitions"</a></nav>
                <h1 data-testid="competition-title">{summary.name.clone()}</h1>
                <p>
                    <span class=stage_class(stage) data-testid="competition-stage">{stage_words(stage)}</span>
                    " "
                    <span class="subtle">{window_words(&summary.window, &summary.time_zone)}</span>
                </p>
            </div>
            <div class="page-actions">
                <a class="button button-quiet" href=paths::edit_competition(&summary.id) data-testid="competition-edit">
                    {edit_label}
                </a>
            </div>
        </div>
        {description}
        <dl class="facts">
            <dt>"Ranked by"</dt>
            <dd>{found.ranking.clone()}</dd>
            <dt>"Disqualified for breaking"</dt>
            <dd>{if rules.is_empty() { "no rule".to_owned() } else { rules }}</dd>
            <dt>"Last changed"</dt>
            <dd>{format!("{} by {}", format::date_time(found.updated_at), found.updated_by)}</dd>
        </dl>
        {public}
        <Entrants id=summary.id.clone() upcoming entries />
        <section class="competition-board">
            <h2>{heading}</h2>
            <Leaderboard competition=leaderboard_id source=BoardSource::Live link=paths::challenge />
        </section>
        <Disqualifications records=found.disqualifications />
    }
}

/// The public link, with a button that copies it.
#[component]
fn PublicLink(path: String) -> impl IntoView {
    let url = public_url(&path);
    let copied = RwSignal::new(false);
    let copy = {
        let url = url.clone();
        move |_| {
            copy_text(&url);
            copied.set(true);
        }
    };
    view! {
        <section class="panel public-link" data-testid="competition-public-link">
            <h2>"Public leaderboard"</h2>
            <p class="subtle">
                "Anyone with this link sees the standings read-only: display names and numbers, \
                 never accounts or usernames."
            </p>
            <div class="form-row">
                <input type="text" readonly=true class="mono" value=url.clone() aria-label="Public link" />
                <button type="button" class="button button-quiet" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy link" }}
                </button>
                <a class="button button-quiet" href=path target="_blank" rel="noopener">"Open"</a>
            </div>
        </section>
    }
}

/// Puts `text` on the clipboard where the browser allows it (the field can be copied by hand
/// otherwise).
fn copy_text(text: &str) {
    use wasm_bindgen::JsCast;
    let window = leptos::prelude::window();
    let write = js_sys::Reflect::get(&window, &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"clipboard".into()))
        .and_then(|clipboard| {
            let write = js_sys::Reflect::get(&clipboard, &"writeText".into())?;
            Ok((clipboard, write))
        });
    if let Ok((clipboard, write)) = write
        && let Some(write) = write.dyn_ref::<js_sys::Function>()
    {
        let _ = write.call1(&clipboard, &text.into());
    }
}

/// Account ids pasted in any shape: one a line, or separated by commas, semicolons or spaces.
fn pasted_ids(text: &str) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = Vec::new();
    for id in text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        let id = AccountId::from(id);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The entrants: who is in, and (before the start) adding and removing them.
#[component]
fn Entrants(id: String, upcoming: bool, entries: RwSignal<Vec<CompetitionEntry>>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let refusals = RwSignal::new(Vec::<String>::new());
    let done = RwSignal::new(None::<String>);
    let id = StoredValue::new(id);
    let send = move |request: EntriesRequest| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        refusals.set(Vec::new());
        done.set(None);
        let (added, removed) = (request.add.len(), request.remove.len());
        spawn_local(async move {
            match api::competition_entries(&id.get_value(), &request).await {
                Ok(answer) => {
                    entries.try_set(answer.entries);
                    done.try_set(Some(match (added, removed) {
                        (0, 1) => "1 entrant removed.".to_owned(),
                        (0, n) => format!("{n} entrants removed."),
                        (1, _) => "1 account added.".to_owned(),
                        (n, _) => format!("{n} accounts added."),
                    }));
                }
                Err(error) => {
                    refusals.try_set(
                        problems(&error.to_string())
                            .into_iter()
                            .map(|(field, advice)| {
                                if field == "form" {
                                    advice
                                } else {
                                    format!("{field}: {advice}")
                                }
                            })
                            .collect(),
                    );
                }
            }
            busy.try_set(false);
        });
    };
    let rows = move || {
        entries
            .get()
            .into_iter()
            .map(|entry| {
                let account = entry.account.clone();
                let remove = upcoming.then(|| {
                    let account = account.clone();
                    view! {
                        <button
                            type="button"
                            class="button button-small button-quiet"
                            data-testid="entrant-remove"
                            disabled=busy
                            on:click=move |_| send(EntriesRequest { add: Vec::new(), remove: vec![account.clone()] })
                        >
                            "Remove"
                        </button>
                    }
                });
                view! {
                    <tr data-testid="entrant-row" data-account=entry.account.to_string()>
                        <td class="num">{entry.entry}</td>
                        <th scope="row">
                            <a href=paths::challenge(&entry.account)>{entry.account_name.clone()}</a>
                            <br />
                            <span class="subtle mono">{entry.account.to_string()}</span>
                        </th>
                        <td>{entry.owner.clone().unwrap_or_else(|| "–".to_owned())}</td>
                        <td>{entry.display_name.clone()}</td>
                        <td>{format::date_time(entry.entered_at)}</td>
                        <td>{remove}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let table = move || {
        if entries.with(Vec::is_empty) {
            view! {
                <div class="notice" data-testid="entrants-empty">
                    <p>
                        {if upcoming {
                            "No entrants yet. Pick accounts below or paste their ids: each runs this \
                             competition's rules from the start, and its trader sees the leaderboard."
                        } else {
                            "This competition has no entrants."
                        }}
                    </p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="table-scroll">
                    <table class="admin-table" data-testid="entrants">
                        <thead>
                            <tr>
                                <th scope="col" class="num">"Entry"</th>
                                <th scope="col">"Account"</th>
                                <th scope="col">"Owner"</th>
                                <th scope="col">"Shown as"</th>
                                <th scope="col">"Entered"</th>
                                <th scope="col"></th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    };
    let outcome = move || {
        let refused = refusals.get();
        if !refused.is_empty() {
            let items = refused
                .into_iter()
                .map(|r| view! { <li>{r}</li> })
                .collect_view();
            return Some(
                view! {
                    <div class="notice notice-error" role="alert" data-testid="entrants-refused">
                        <p>"Nothing changed: every account must be accepted."</p>
                        <ul>{items}</ul>
                    </div>
                }
                .into_any(),
            );
        }
        done.get().map(|text| {
            view! { <p class="form-done" role="status" data-testid="entrants-done">{text}</p> }
                .into_any()
        })
    };
    let count = move || match entries.with(Vec::len) {
        1 => "1 entrant".to_owned(),
        n => format!("{n} entrants"),
    };
    view! {
        <section class="panel entrants" data-testid="competition-entrants">
            <h2>"Entrants " <span class="subtle">{count}</span></h2>
            {(!upcoming).then(|| view! {
                <p class="subtle">"The entrants are fixed once the competition starts."</p>
            })}
            {table}
            {outcome}
            {upcoming.then(|| view! { <AddEntrants entries busy done send /> })}
        </section>
    }
}

/// Adding entrants: accounts picked from a search of the challenges, or ids pasted.
#[component]
fn AddEntrants(
    entries: RwSignal<Vec<CompetitionEntry>>,
    busy: RwSignal<bool>,
    done: RwSignal<Option<String>>,
    send: impl Fn(EntriesRequest) + Copy + 'static,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let found = RwSignal::new(Load::<Vec<ChallengeRow>>::Loading);
    let picked = RwSignal::new(Vec::<AccountId>::new());
    let pasted = RwSignal::new(String::new());
    // What was picked and pasted stays until the server accepts it, so a refusal can be fixed.
    Effect::new(move || {
        if done.with(Option::is_some) {
            picked.set(Vec::new());
            pasted.set(String::new());
        }
    });
    let look = move || {
        let query = OverviewQuery {
            q: search.get_untracked(),
            page: 1,
            per_page: 50,
            ..OverviewQuery::default()
        };
        spawn_local(async move {
            found.try_set(
                api::admin_challenges(&query)
                    .await
                    .map(|page| page.rows)
                    .into(),
            );
        });
    };
    look();
    let choices = move || match found.get() {
        Load::Loading => view! { <Loading label="Loading the accounts…" /> }.into_any(),
        Load::Failed(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
        Load::Ready(rows) => {
            let entered: Vec<AccountId> =
                entries.with(|all| all.iter().map(|e| e.account.clone()).collect());
            let free: Vec<ChallengeRow> = rows
                .into_iter()
                .filter(|row| !entered.contains(&row.id))
                .collect();
            if free.is_empty() {
                return view! { <p class="subtle">"No account to add matches the search."</p> }
                    .into_any();
            }
            free.into_iter()
                .map(|row| {
                    let id = row.id.clone();
                    let checked = {
                        let id = id.clone();
                        move || picked.with(|p| p.contains(&id))
                    };
                    let owner = row.owner.clone().map(|o| format!(" · {o}")).unwrap_or_default();
                    view! {
                        <label class="check" data-testid="entrant-choice" data-account=row.id.to_string()>
                            <input
                                type="checkbox"
                                prop:checked=checked
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let id = id.clone();
                                    picked.update(|p| {
                                        p.retain(|x| *x != id);
                                        if on {
                                            p.push(id);
                                        }
                                    });
                                }
                            />
                            {format!("{} ({}){owner}", row.name, row.id)}
                        </label>
                    }
                })
                .collect_view()
                .into_any()
        }
    };
    let add = move |_| {
        let mut add = picked.get_untracked();
        for id in pasted_ids(&pasted.get_untracked()) {
            if !add.contains(&id) {
                add.push(id);
            }
        }
        if add.is_empty() {
            return;
        }
        send(EntriesRequest {
            add,
            remove: Vec::new(),
        });
    };
    let waiting = move || picked.with(Vec::len) + pasted_ids(&pasted.get()).len();
    view! {
        <div class="add-entrants">
            <h3>"Add entrants"</h3>
            <form class="form-row" role="search" on:submit=move |ev| { ev.prevent_default(); look(); }>
                <label class="field">
                    <span class="field-label">"Find accounts (id, name or owner)"</span>
                    <input
                        type="search"
                        data-testid="entrant-search"
                        prop:value=search
                        on:input=move |ev| search.set(event_target_value(&ev))
                    />
                </label>
                <button class="button button-quiet" type="submit">"Search"</button>
            </form>
            <div class="check-list entrant-choices">{choices}</div>
            <label class="field">
                <span class="field-label">"Or paste account ids (one a line, or separated by commas)"</span>
                <textarea
                    rows="3"
                    data-testid="entrant-paste"
                    prop:value=pasted
                    on:input=move |ev| pasted.set(event_target_value(&ev))
                ></textarea>
            </label>
            <button
                type="button"
                class="button"
                data-testid="entrant-add"
                disabled=move || busy.get() || waiting() == 0
                on:click=add
            >
                {move || match (busy.get(), waiting()) {
                    (true, _) => "Saving…".to_owned(),
                    (false, 0) => "Add accounts".to_owned(),
                    (false, 1) => "Add 1 account".to_owned(),
                    (false, n) => format!("Add {n} accounts"),
                }}
            </button>
        </div>
    }
}

/// Each disqualification, with what its challenge recorded.
#[component]
fn Disqualifications(records: Vec<DisqualificationRecord>) -> impl IntoView {
    if records.is_empty() {
        return ().into_any();
    }
    let rows = records
        .into_iter()
        .map(|record| {
            view! {
                <tr data-testid="disqualification" data-account=record.account.to_string()>
                    <td class="num">{record.entry}</td>
                    <th scope="row">
                        <a href=paths::challenge(&record.account)>{record.account.to_string()}</a>
                    </th>
                    <td>{record.why.label.clone()}</td>
                    <td>{format::date_time(record.why.at)}</td>
                    <td class="evidence-text">{record.evidence.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel table-panel table-scroll" data-testid="disqualifications">
            <h2>"Disqualifications"</h2>
            <p class="subtle">"Each with the evidence the engine decided on, kept with the standings."</p>
            <table class="admin-table">
                <thead>
                    <tr>
                        <th scope="col" class="num">"Entry"</th>
                        <th scope="col">"Account"</th>
                        <th scope="col">"Rule"</th>
                        <th scope="col">"When"</th>
                        <th scope="col">"Evidence"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_ids_come_in_any_shape_once_each() {
        let ids = pasted_ids("demo-1, demo-2\ndemo-3;demo-1  demo-4\n\n");
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["demo-1", "demo-2", "demo-3", "demo-4"]);
    }
}
