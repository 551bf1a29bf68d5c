//! `/admin/programs`: every program with its phases (rules in a few words, split, time limit,
//! challenges in each), and a form to create one from a template or blank; a new program opens
//! on its own page, where its phases and rules are edited. Above them, the promotions of
//! challenges that passed a phase (`promotions`).

use super::draft::{self, split_words, time_limit_words};
use super::promotions::Promotions;
use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Load, Loading};
use crate::format;
use crate::pages::admin::paths;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use shared::api::{
    CreateProgramRequest, ProgramPhaseSummary, ProgramSummary, ProgramTemplate, ProgramsResponse,
};

/// The create form's choice for a program without a template.
const BLANK: &str = "blank";

/// Programs (admin console).
#[component]
pub(super) fn AdminProgramsPage() -> impl IntoView {
    crate::pages::set_title("Programs · Admin · Riskdeck");
    let programs = RwSignal::new(Load::<ProgramsResponse>::Loading);
    let load = move || {
        programs.set(Load::Loading);
        spawn_local(async move {
            programs.try_set(api::programs().await.into());
        });
    };
    load();
    let retry = Callback::new(move |()| load());

    view! {
        <div class="page-head">
            <div>
                <h1>"Programs"</h1>
                <p class="subtle">
                    "What the firm sells, as data: each program is its phases in order (Phase 1, \
                     Phase 2, Funded), each phase with its rules, time limit, profit split and \
                     how a pass moves the trader on. Every change is a new version."
                </p>
            </div>
        </div>
        <Promotions />
        <section class="admin-programs" data-testid="programs">
            {move || match programs.get() {
                Load::Loading => view! { <Loading label="Loading the programs…" /> }.into_any(),
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The programs could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(response) => {
                    let ProgramsResponse { programs, templates } = response;
                    let names: Vec<String> = templates
                        .iter()
                        .map(|t| t.program.name.clone())
                        .collect();
                    let list = if programs.is_empty() {
                        view! { <EmptyState templates=names /> }.into_any()
                    } else {
                        view! { <ProgramsTable programs /> }.into_any()
                    };
                    view! {
                        <NewProgramForm templates />
                        {list}
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn EmptyState(templates: Vec<String>) -> impl IntoView {
    let from = if templates.is_empty() {
        String::new()
    } else {
        format!(" ({})", templates.join(", "))
    };
    view! {
        <section class="panel notice" data-testid="programs-empty">
            <h2>"No programs yet"</h2>
            <p>
                {format!(
                    "Start from a template{from} or a blank program with the form above: give \
                     it an id, then edit its phases and rules on its page. Challenges can then \
                     be started on one of its phases."
                )}
            </p>
        </section>
    }
}

/// Which field a server's refusal is about (`id: ...`, `template: ...`), and its advice
/// without the field's name.
fn refusal(error: &ApiError) -> (&'static str, String) {
    let message = error.to_string();
    for field in ["id", "template"] {
        if let Some(advice) = message
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
        {
            return (field, capitalise(advice.trim_start()));
        }
    }
    ("form", message)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The request for a new program: a template (renamed when a name is given) or a blank
/// program named `name`.
fn request(
    id: &str,
    choice: &str,
    name: &str,
    templates: &[ProgramTemplate],
) -> CreateProgramRequest {
    let id = id.trim().to_owned();
    let name = name.trim();
    if choice == BLANK {
        return CreateProgramRequest {
            id,
            template: None,
            program: draft::blank(name),
        };
    }
    let program = templates
        .iter()
        .find(|t| t.id == choice)
        .filter(|_| !name.is_empty())
        .map(|t| {
            let mut program = t.program.clone();
            program.name = name.to_owned();
            program
        });
    CreateProgramRequest {
        id,
        template: Some(choice.to_owned()),
        program,
    }
}

#[component]
fn NewProgramForm(templates: Vec<ProgramTemplate>) -> impl IntoView {
    let navigate = use_navigate();
    let choice = RwSignal::new(
        templates
            .first()
            .map_or_else(|| BLANK.to_owned(), |t| t.id.clone()),
    );
    let id = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<(&'static str, String)>);
    let templates = StoredValue::new(templates);

    let about = move || {
        let chosen = choice.get();
        if chosen == BLANK {
            return "One evaluation phase with a daily loss, a maximum loss, a profit target and \
                    minimum trading days to edit; add phases on the program's page."
                .to_owned();
        }
        templates.with_value(|all| {
            all.iter()
                .find(|t| t.id == chosen)
                .map(|t| {
                    let phases: Vec<&str> =
                        t.program.phases.iter().map(|p| p.name.as_str()).collect();
                    format!("{} Phases: {}.", t.program.description, phases.join(", "))
                })
                .unwrap_or_default()
        })
    };
    let name_hint = move || {
        if choice.get() == BLANK {
            "Name (as sold, e.g. 2-Step 100k)"
        } else {
            "Name (empty: the template's)"
        }
    };
    let error_for = move |field: &'static str| {
        move || {
            error.get().and_then(|(f, message)| {
                (f == field).then(|| {
                    view! {
                        <p
                            class="form-error"
                            role="alert"
                            data-testid=format!("program-create-{field}-error")
                        >
                            {message}
                        </p>
                    }
                })
            })
        }
    };
    let invalid = move |field: &'static str| {
        move || {
            error
                .with(|e| e.as_ref().is_some_and(|(f, _)| *f == field))
                .to_string()
        }
    };
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = templates.with_value(|all| {
            request(
                &id.get_untracked(),
                &choice.get_untracked(),
                &name.get_untracked(),
                all,
            )
        });
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::create_program(&request).await {
                Ok(created) => navigate(&paths::program(&created.id), Default::default()),
                Err(failure) => {
                    error.try_set(Some(refusal(&failure)));
                }
            }
            busy.try_set(false);
        });
    };

    let options = templates.with_value(|all| {
        all.iter()
            .map(|t| {
                let selected = choice.get_untracked() == t.id;
                view! {
                    <option value=t.id.clone() selected=selected>
                        {t.program.name.clone()}
                    </option>
                }
            })
            .collect_view()
    });

    view! {
        <form class="admin-form program-create" on:submit=submit aria-labelledby="program-create-title">
            <h2 id="program-create-title">"New program"</h2>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Start from"</span>
                    <select
                        data-testid="program-create-template"
                        aria-invalid=invalid("template")
                        on:change=move |ev| choice.set(event_target_value(&ev))
                        disabled=busy
                    >
                        {options}
                        <option value=BLANK selected=move || choice.get() == BLANK>
                            "A blank program"
                        </option>
                    </select>
                    {error_for("template")}
                </label>
                <label class="field">
                    <span class="field-label">"Id"</span>
                    <input
                        type="text"
                        maxlength="64"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="e.g. two-step-100k"
                        data-testid="program-create-id"
                        aria-invalid=invalid("id")
                        prop:value=id
                        on:input=move |ev| id.set(event_target_value(&ev))
                        disabled=busy
                    />
                    {error_for("id")}
                </label>
                <label class="field">
                    <span class="field-label">{name_hint}</span>
                    <input
                        type="text"
                        maxlength="100"
                        autocomplete="off"
                        data-testid="program-create-name"
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                        disabled=busy
                    />
                </label>
            </div>
            <p class="subtle" data-testid="program-create-about">{about}</p>
            <p class="subtle">
                "The id names the program for good (3 to 64 lowercase letters, digits and \
                 '-'); the name can change with any version."
            </p>
            {error_for("form")}
            <button class="button" type="submit" data-testid="program-create-submit" disabled=busy>
                {move || if busy.get() { "Creating…" } else { "Create program" }}
            </button>
        </form>
    }
}

#[component]
fn ProgramsTable(programs: Vec<ProgramSummary>) -> impl IntoView {
    let rows = programs
        .into_iter()
        .map(|program| view! { <ProgramRow program /> })
        .collect_view();
    view! {
        <div class="panel table-panel">
            <table class="admin-table programs-table" data-testid="programs-list">
                <thead>
                    <tr>
                        <th scope="col">"Program"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Phases"</th>
                        <th scope="col">"Challenges"</th>
                        <th scope="col">"Updated"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[component]
fn ProgramRow(program: ProgramSummary) -> impl IntoView {
    let href = paths::program(&program.id);
    let template = program
        .template
        .as_ref()
        .map(|t| format!(" · from template {t}"));
    let phases = program
        .phases
        .into_iter()
        .map(|phase| view! { <PhaseSummary phase /> })
        .collect_view();
    view! {
        <tr class="program-row" data-testid="program-row" data-program-id=program.id.clone()>
            <th scope="row" data-label="Program">
                <a href=href data-testid="program-link">{program.name.clone()}</a>
                <br />
                <span class="subtle">{format!("id {}", program.id)}{template}</span>
                {(!program.description.is_empty())
                    .then(|| {
                        view! { <p class="program-description subtle">{program.description.clone()}</p> }
                    })}
            </th>
            <td data-label="Version" data-testid="program-version">
                {format!("v{}", program.version)}
            </td>
            <td data-label="Phases">
                <ol class="program-phases">{phases}</ol>
            </td>
            <td data-label="Challenges" class="num" data-testid="program-challenges">
                {program.challenges}
            </td>
            <td data-label="Updated">
                {format::date_time(program.updated_at)}
                <br />
                <span class="subtle">{format!("by {}", program.updated_by)}</span>
            </td>
        </tr>
    }
}

/// One phase in a few words: name, kind, split, time limit, challenges, then its rules.
#[component]
pub(super) fn PhaseSummary(phase: ProgramPhaseSummary) -> impl IntoView {
    let mut facts = Vec::new();
    if phase.funded {
        facts.push(format!("split {}", split_words(phase.profit_split)));
    }
    if phase.time_limit_days.is_some() {
        facts.push(format!(
            "time limit {}",
            time_limit_words(phase.time_limit_days)
        ));
    }
    // The badge says "funded" unless the name does.
    let named_funded = !phase.funded || phase.name.to_lowercase().contains("funded");
    facts.push(match phase.challenges {
        1 => "1 challenge".to_owned(),
        n => format!("{n} challenges"),
    });
    view! {
        <li
            class="program-phase-summary"
            data-testid="program-phase-summary"
            data-phase=phase.name.clone()
            data-challenges=phase.challenges.to_string()
        >
            <strong>{phase.name.clone()}</strong>
            {(!named_funded)
                .then(|| view! { <span class="badge badge-passed program-funded">"Funded"</span> })}
            <span class="program-phase-facts">{format!(" · {}", facts.join(" · "))}</span>
            <br />
            <span class="subtle program-phase-rule-words">{phase.rules.clone()}</span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Vec<ProgramTemplate> {
        shared::programs::templates()
            .into_iter()
            .map(|t| ProgramTemplate {
                id: t.id.to_owned(),
                program: t.program,
            })
            .collect()
    }

    #[test]
    fn a_template_is_sent_by_id_and_renamed_only_when_a_name_is_given() {
        let all = templates();
        let plain = request(" two-step ", "ftmo-2step", " ", &all);
        assert_eq!(plain.id, "two-step");
        assert_eq!(plain.template.as_deref(), Some("ftmo-2step"));
        assert_eq!(plain.program, None);
        let renamed = request("two-step", "ftmo-2step", "2-Step 100k", &all);
        let program = renamed.program.expect("program");
        assert_eq!(program.name, "2-Step 100k");
        assert_eq!(program.phases.len(), 3);
        let blank = request("mine", BLANK, "Mine", &all);
        assert_eq!(blank.template, None);
        blank.program.expect("program").validate().expect("valid");
    }

    #[test]
    fn a_refusal_is_shown_next_to_the_field_it_names() {
        let refused = |message: &str| ApiError::Server {
            status: 422,
            message: message.to_owned(),
        };
        assert_eq!(
            refusal(&refused(
                "id: a program \"x\" exists already; choose another id."
            )),
            (
                "id",
                "A program \"x\" exists already; choose another id.".to_owned()
            )
        );
        assert_eq!(
            refusal(&refused("template: there is no template \"y\".")).0,
            "template"
        );
        assert_eq!(
            refusal(&refused(
                "The program was refused: the program needs a name."
            ))
            .0,
            "form"
        );
    }
}
