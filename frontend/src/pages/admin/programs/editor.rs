//! The editor of a program's next version: its name and description, its phases (added,
//! removed, moved; each with its name, kind, profit split, time limit, how a pass moves the
//! trader on, and its rules in the rule editor's fields), every problem shown as it is typed
//! (the server's own check), what it changes from the latest version, a what-if over the
//! running challenges, and saving it for new challenges only or for the running ones too, from
//! now or from a date and time.

use super::draft::{self, PhaseInput, impact_rank, impact_words, phase_label, running_count};
use crate::api;
use crate::format;
use crate::pages::admin::rules::{Model, RuleSetFields, parse_local};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{
    ProgramApply, ProgramSaved, ProgramWhatIfRequest, ProgramWhatIfResponse, ProgramWhatIfRow,
    SaveProgramRequest,
};
use shared::programs::{MAX_PHASES, NextAccount, ProgramDraft, Promotion};

/// One phase's inputs, each a signal of its own (so a phase keeps its inputs when moved).
#[derive(Clone, Copy)]
struct PhaseForm {
    key: u32,
    name: RwSignal<String>,
    funded: RwSignal<bool>,
    split: RwSignal<String>,
    time_limit: RwSignal<String>,
    account: RwSignal<NextAccount>,
    promotion: RwSignal<Promotion>,
    rules: RwSignal<Model>,
    /// Bumped when its rules are added or removed (see `RuleSetFields`).
    layout: RwSignal<u32>,
}

impl PhaseForm {
    fn new(key: u32, input: PhaseInput) -> Self {
        Self {
            key,
            name: RwSignal::new(input.name),
            funded: RwSignal::new(input.funded),
            split: RwSignal::new(input.split),
            time_limit: RwSignal::new(input.time_limit),
            account: RwSignal::new(input.account),
            promotion: RwSignal::new(input.promotion),
            rules: RwSignal::new(input.rules),
            layout: RwSignal::new(0),
        }
    }

    /// What is typed (tracked).
    fn input(&self) -> PhaseInput {
        PhaseInput {
            name: self.name.get(),
            funded: self.funded.get(),
            split: self.split.get(),
            time_limit: self.time_limit.get(),
            account: self.account.get(),
            promotion: self.promotion.get(),
            rules: self.rules.get(),
        }
    }

    fn input_untracked(&self) -> PhaseInput {
        untrack(|| self.input())
    }
}

/// How the version reaches challenges, as chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ApplyChoice {
    NewChallenges,
    RunningNow,
    RunningFrom,
}

/// The editor's form: the program's fields and its phases.
#[derive(Clone, Copy)]
struct Form {
    name: RwSignal<String>,
    description: RwSignal<String>,
    phases: RwSignal<Vec<PhaseForm>>,
    /// The next phase's key.
    next_key: StoredValue<u32>,
}

impl Form {
    fn new(program: &ProgramDraft) -> Self {
        let form = Self {
            name: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            phases: RwSignal::new(Vec::new()),
            next_key: StoredValue::new(0),
        };
        form.reset(program);
        form
    }

    /// Puts `program` in the form.
    fn reset(&self, program: &ProgramDraft) {
        self.name.set(program.name.clone());
        self.description.set(program.description.clone());
        let phases = program
            .phases
            .iter()
            .map(|phase| self.phase(PhaseInput::of(phase)))
            .collect();
        self.phases.set(phases);
    }

    fn phase(&self, input: PhaseInput) -> PhaseForm {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        PhaseForm::new(key, input)
    }

    /// A new evaluation phase: before a funded last phase, else last; with the rules of the
    /// phase it follows.
    fn add_phase(&self) {
        let phases = self.phases.get_untracked();
        if phases.len() >= MAX_PHASES {
            return;
        }
        let funded_last = phases.last().is_some_and(|p| p.funded.get_untracked());
        let at = if funded_last {
            phases.len() - 1
        } else {
            phases.len()
        };
        let from = at
            .checked_sub(1)
            .and_then(|i| phases.get(i))
            .or(phases.last())
            .map(PhaseForm::input_untracked);
        let taken: Vec<String> = phases.iter().map(|p| p.name.get_untracked()).collect();
        let phase = self.phase(draft::new_phase(
            from.as_ref(),
            draft::unused_name(&taken, at + 1),
        ));
        self.phases.update(|phases| phases.insert(at, phase));
    }
}

/// The next version's editor.
#[component]
pub(super) fn ProgramEditor(
    id: String,
    current: ProgramDraft,
    version: u32,
    /// The last save's answer (kept by the page: the editor is built again after a save).
    saved: RwSignal<Option<Result<ProgramSaved, String>>>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let form = Form::new(&current);
    let current = StoredValue::new(current);
    let checked = Memo::new(move |_| {
        let phases: Vec<PhaseInput> = form
            .phases
            .with(|p| p.iter().map(PhaseForm::input).collect());
        draft::check(&form.name.get(), &form.description.get(), &phases)
    });
    let changes = Memo::new(move |_| {
        checked.with(|c| {
            c.program
                .as_ref()
                .map(|program| current.with_value(|old| draft::changes(old, program)))
        })
    });
    // The last what-if's answer, with the program it judged.
    let what_if = RwSignal::new(None::<(ProgramDraft, Result<ProgramWhatIfResponse, String>)>);
    let replaying = RwSignal::new(false);
    let apply = RwSignal::new(ApplyChoice::NewChallenges);
    let from = RwSignal::new(String::new());
    let saving = RwSignal::new(false);
    let id = StoredValue::new(id);

    let run_what_if = move |_| {
        let Some(program) = checked.with_untracked(|c| c.valid().cloned()) else {
            return;
        };
        replaying.set(true);
        what_if.set(None);
        let id = id.get_value();
        spawn_local(async move {
            let request = ProgramWhatIfRequest { program };
            let answer = api::program_what_if(&id, &request).await;
            replaying.try_set(false);
            what_if.try_set(Some((request.program, answer.map_err(|e| e.to_string()))));
        });
    };
    let save = move |_| {
        let Some(program) = checked.with_untracked(|c| c.valid().cloned()) else {
            return;
        };
        let apply = match apply.get_untracked() {
            ApplyChoice::NewChallenges => ProgramApply::NewChallenges,
            ApplyChoice::RunningNow => ProgramApply::Running { from: None },
            ApplyChoice::RunningFrom => match parse_local(from.get_untracked().trim()) {
                Some(at) => ProgramApply::Running { from: Some(at) },
                None => {
                    saved.set(Some(Err(
                        "Choose the date and time the running challenges take the new version \
                         from."
                            .to_owned(),
                    )));
                    return;
                }
            },
        };
        saving.set(true);
        saved.set(None);
        let id = id.get_value();
        spawn_local(async move {
            let answer = api::save_program(&id, &SaveProgramRequest { program, apply }).await;
            saving.try_set(false);
            let ok = answer.is_ok();
            saved.try_set(Some(answer.map_err(|e| e.to_string())));
            if ok {
                on_saved.try_run(());
            }
        });
    };
    let start_over = move |_| {
        current.with_value(|program| form.reset(program));
        what_if.set(None);
    };

    let problems = move || {
        checked.with(|c| {
            if c.problems.is_empty() {
                return None;
            }
            let items = c
                .problems
                .iter()
                .map(|p| view! { <li>{p.clone()}</li> })
                .collect_view();
            Some(view! {
                <div class="rule-problems" role="alert" data-testid="program-problems">
                    <strong>"This version cannot be saved yet:"</strong>
                    <ul>{items}</ul>
                </div>
            })
        })
    };
    let change_list = move || {
        changes.with(|changes| {
            let changes = changes.as_ref()?;
            if changes.is_empty() {
                return Some(
                    view! {
                        <p class="rule-diff-none" data-testid="program-no-change">
                            {format!("No change from version {version}.")}
                        </p>
                    }
                    .into_any(),
                );
            }
            let items = changes
                .iter()
                .map(|c| view! { <li data-testid="program-change">{c.clone()}</li> })
                .collect_view();
            Some(
                view! {
                    <div class="program-changes" data-testid="program-changes">
                        <strong>{format!("Changes from version {version}:")}</strong>
                        <ul class="rule-change-list">{items}</ul>
                    </div>
                }
                .into_any(),
            )
        })
    };
    let json = move || {
        checked.with(|c| {
            c.program
                .as_ref()
                .and_then(|p| serde_json::to_string_pretty(p).ok())
                .unwrap_or_else(|| "(Some fields cannot be read yet: see above.)".to_owned())
        })
    };
    let cannot_send = move || checked.with(|c| c.valid().is_none());
    let unchanged = move || changes.with(|c| c.as_ref().is_some_and(Vec::is_empty));
    // A version without change is worth saving only to move the running challenges onto it.
    let nothing_to_save =
        move || cannot_send() || (unchanged() && apply.get() == ApplyChoice::NewChallenges);
    let saved_note = move || {
        saved.get().map(|answer| match answer {
            Ok(saved) => {
                let reached = match saved.from {
                    None => "for new challenges only".to_owned(),
                    Some(from) => format!(
                        "for new challenges and applied to {} from {}",
                        running_count(saved.applied_to),
                        format::date_time(from)
                    ),
                };
                view! {
                    <p class="form-done" role="status" data-testid="program-saved">
                        {format!("Saved version {}, {reached}.", saved.version)}
                    </p>
                }
                .into_any()
            }
            Err(message) => view! {
                <p class="rule-save-error" role="alert" data-testid="program-save-error">
                    {message}
                </p>
            }
            .into_any(),
        })
    };
    let what_if_view = move || {
        if replaying.get() {
            return Some(
                view! {
                    <p class="what-if-running" role="status" data-testid="program-what-if-running">
                        <span class="spinner" aria-hidden="true"></span>
                        "Judging every running challenge under the new version…"
                    </p>
                }
                .into_any(),
            );
        }
        what_if.get().map(|(judged, answer)| {
            let stale = move || {
                checked.with(|c| c.valid() != Some(&judged)).then(|| {
                    view! {
                        <p class="notice-inline" data-testid="program-what-if-stale">
                            "The version was edited since this what-if: run it again to see \
                             what the edited one does."
                        </p>
                    }
                })
            };
            let result = match answer {
                Ok(answer) => view! { <WhatIf answer /> }.into_any(),
                Err(message) => view! {
                    <p class="what-if-error" role="alert" data-testid="program-what-if-error">
                        {message}
                    </p>
                }
                .into_any(),
            };
            view! {
                {stale}
                {result}
            }
            .into_any()
        })
    };
    let apply_choice = move |choice: ApplyChoice, testid: &'static str, words: &'static str| {
        view! {
            <label class="radio">
                <input
                    type="radio"
                    name="program-apply"
                    data-testid=testid
                    prop:checked=move || apply.get() == choice
                    on:change=move |_| apply.set(choice)
                />
                {words}
            </label>
        }
    };
    let can_add = move || form.phases.with(|p| p.len() < MAX_PHASES);

    view! {
        <section
            class="panel rule-editor program-editor"
            aria-labelledby="program-editor-title"
            data-testid="program-editor"
        >
            <h2 id="program-editor-title">{format!("New version (version {})", version + 1)}</h2>
            <p class="subtle">
                "Running challenges keep their phase's position: the challenges in phase 2 take \
                 the new phase 2's rules when a version is applied to them."
            </p>
            <form class="program-form" on:submit=|ev| ev.prevent_default()>
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Name"</span>
                        <input
                            type="text"
                            maxlength="100"
                            data-testid="program-name"
                            prop:value=form.name
                            on:input=move |ev| form.name.set(event_target_value(&ev))
                        />
                    </label>
                </div>
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Description"</span>
                        <textarea
                            rows="2"
                            maxlength="1000"
                            data-testid="program-description"
                            prop:value=form.description
                            on:input=move |ev| form.description.set(event_target_value(&ev))
                        ></textarea>
                    </label>
                </div>
                <ol class="program-phase-list" data-testid="program-phases">
                    <For
                        each=move || form.phases.get()
                        key=|phase| phase.key
                        children=move |phase| view! { <PhaseEditor phase form /> }
                    />
                </ol>
                <div class="form-actions">
                    <button
                        type="button"
                        class="button"
                        data-testid="program-add-phase"
                        prop:disabled=move || !can_add()
                        on:click=move |_| form.add_phase()
                    >
                        "Add a phase"
                    </button>
                    <button
                        type="button"
                        class="button button-quiet"
                        data-testid="program-reset"
                        on:click=start_over
                    >
                        {format!("Start over from version {version}")}
                    </button>
                </div>
            </form>
            {problems}
            {change_list}
            <details class="program-json" data-testid="program-json">
                <summary>"The version as JSON"</summary>
                <pre>{json}</pre>
            </details>
            <div class="rule-actions">
                <button
                    type="button"
                    class="button button-quiet"
                    data-testid="program-what-if"
                    prop:disabled=move || cannot_send() || replaying.get()
                    on:click=run_what_if
                >
                    "What if? Judge the running challenges"
                </button>
            </div>
            {what_if_view}
            <fieldset class="program-apply" data-testid="program-apply">
                <legend>"Save it for"</legend>
                {apply_choice(
                    ApplyChoice::NewChallenges,
                    "program-apply-new",
                    "New challenges only (running ones keep their version)",
                )}
                {apply_choice(
                    ApplyChoice::RunningNow,
                    "program-apply-now",
                    "Running challenges too, from now",
                )}
                <span class="program-apply-at">
                    {apply_choice(
                        ApplyChoice::RunningFrom,
                        "program-apply-at",
                        "Running challenges too, from",
                    )}
                    <input
                        type="datetime-local"
                        aria-label="From (your time)"
                        data-testid="program-apply-from"
                        prop:value=from
                        on:input=move |ev| {
                            from.set(event_target_value(&ev));
                            apply.set(ApplyChoice::RunningFrom);
                        }
                    />
                </span>
                <p class="subtle">
                    "Applied to running challenges, each takes its phase's new rules from that \
                     instant: nothing recorded before is judged again, and a pass or a failure \
                     stays."
                </p>
            </fieldset>
            <div class="rule-actions">
                <button
                    type="button"
                    class="button"
                    data-testid="program-save"
                    prop:disabled=move || nothing_to_save() || saving.get()
                    on:click=save
                >
                    {move || {
                        if saving.get() {
                            "Saving…".to_owned()
                        } else {
                            format!("Save version {}", version + 1)
                        }
                    }}
                </button>
                {move || {
                    (unchanged() && apply.get() != ApplyChoice::NewChallenges)
                        .then(|| {
                            view! {
                                <span class="subtle" data-testid="program-same-again">
                                    "No change from the latest version: saving it again moves every \
                                     running challenge onto it (to retry those that did not take \
                                     the last one, say)."
                                </span>
                            }
                        })
                }}
            </div>
            {saved_note}
        </section>
    }
}

/// One phase's inputs: its place (move up or down, remove), name, kind, split, time limit,
/// how a pass moves the trader on, and its rules.
#[component]
fn PhaseEditor(phase: PhaseForm, form: Form) -> impl IntoView {
    let key = phase.key;
    let position = Memo::new(move |_| {
        form.phases
            .with(|p| p.iter().position(|p| p.key == key))
            .unwrap_or(0)
    });
    let count = Memo::new(move |_| form.phases.with(Vec::len));
    let is_last = move || position.get() + 1 == count.get();
    let shift = move |by: isize| {
        form.phases.update(|phases| {
            let Some(at) = phases.iter().position(|p| p.key == key) else {
                return;
            };
            let to = at.checked_add_signed(by).filter(|to| *to < phases.len());
            if let Some(to) = to {
                phases.swap(at, to);
            }
        });
    };
    let remove = move |_| form.phases.update(|phases| phases.retain(|p| p.key != key));
    let heading = move || phase_label(position.get(), &phase.name.get());
    let text = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));

    view! {
        <li
            class="program-phase"
            data-testid="program-phase"
            data-phase-index=move || position.get().to_string()
        >
            <div class="program-phase-head">
                <h3>
                    {move || {
                        let name = phase.name.get();
                        let name = name.trim();
                        let name = if name.is_empty() { "(no name yet)" } else { name };
                        format!("{}. {name}", position.get() + 1)
                    }}
                </h3>
                <div class="form-actions">
                    <button
                        type="button"
                        class="button button-small button-quiet"
                        data-testid="phase-up"
                        aria-label=move || format!("Move {} up", heading())
                        prop:disabled=move || position.get() == 0
                        on:click=move |_| shift(-1)
                    >
                        "↑ Up"
                    </button>
                    <button
                        type="button"
                        class="button button-small button-quiet"
                        data-testid="phase-down"
                        aria-label=move || format!("Move {} down", heading())
                        prop:disabled=is_last
                        on:click=move |_| shift(1)
                    >
                        "↓ Down"
                    </button>
                    <button
                        type="button"
                        class="button button-small button-quiet button-danger"
                        data-testid="phase-remove"
                        aria-label=move || format!("Remove {}", heading())
                        prop:disabled=move || count.get() == 1
                        on:click=remove
                    >
                        "Remove"
                    </button>
                </div>
            </div>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Name"</span>
                    <input
                        type="text"
                        maxlength="100"
                        data-testid="phase-name"
                        prop:value=phase.name
                        on:input=text(phase.name)
                    />
                </label>
                <label class="check program-check">
                    <input
                        type="checkbox"
                        data-testid="phase-funded"
                        prop:checked=phase.funded
                        on:change=move |ev| phase.funded.set(event_target_checked(&ev))
                    />
                    "Funded (a profit split, no target; the last phase)"
                </label>
                <label class="field">
                    <span class="field-label">"Profit split (trader's %)"</span>
                    <input
                        type="text"
                        inputmode="decimal"
                        placeholder="e.g. 80"
                        data-testid="phase-split"
                        prop:value=phase.split
                        prop:disabled=move || !phase.funded.get()
                        on:input=text(phase.split)
                    />
                </label>
                <label class="field">
                    <span class="field-label">"Time limit (days; empty: none)"</span>
                    <input
                        type="text"
                        inputmode="numeric"
                        data-testid="phase-time-limit"
                        prop:value=phase.time_limit
                        on:input=text(phase.time_limit)
                    />
                </label>
            </div>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"After a pass, the next phase is on"</span>
                    <select
                        data-testid="phase-next-account"
                        prop:disabled=is_last
                        on:change=move |ev| {
                            phase
                                .account
                                .set(
                                    if event_target_value(&ev) == "new" {
                                        NextAccount::New
                                    } else {
                                        NextAccount::Same
                                    },
                                )
                        }
                    >
                        <option
                            value="same"
                            selected=move || phase.account.get() == NextAccount::Same
                        >
                            "the same account"
                        </option>
                        <option
                            value="new"
                            selected=move || phase.account.get() == NextAccount::New
                        >
                            "a new account"
                        </option>
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Moved on"</span>
                    <select
                        data-testid="phase-promotion"
                        prop:disabled=is_last
                        on:change=move |ev| {
                            phase
                                .promotion
                                .set(
                                    if event_target_value(&ev) == "approval" {
                                        Promotion::Approval
                                    } else {
                                        Promotion::Automatic
                                    },
                                )
                        }
                    >
                        <option
                            value="automatic"
                            selected=move || phase.promotion.get() == Promotion::Automatic
                        >
                            "at once"
                        </option>
                        <option
                            value="approval"
                            selected=move || phase.promotion.get() == Promotion::Approval
                        >
                            "on an admin's approval"
                        </option>
                    </select>
                </label>
                {move || {
                    is_last()
                        .then(|| {
                            view! {
                                <p class="subtle program-last-note">
                                    "The last phase: nothing follows it."
                                </p>
                            }
                        })
                }}
            </div>
            <details class="program-phase-rules" open>
                <summary>"Rules and daily reset"</summary>
                <div class="rule-form">
                    <RuleSetFields model=phase.rules layout=phase.layout />
                </div>
            </details>
        </li>
    }
}

/// The what-if's answer: the counts, then every challenge it touches (breaches first).
#[component]
fn WhatIf(answer: ProgramWhatIfResponse) -> impl IntoView {
    let counts = [
        ("breach", "Fail", answer.breach),
        ("pass", "Pass", answer.pass),
        ("change", "Change", answer.change),
        ("unchanged", "Unchanged", answer.unchanged),
        ("decided", "Decided already", answer.decided),
        ("invalid", "Cannot apply", answer.invalid),
    ]
    .into_iter()
    .map(|(key, words, count)| {
        let class = if count > 0 && matches!(key, "breach" | "invalid") {
            "count-chip count-chip-alert"
        } else {
            "count-chip"
        };
        view! {
            <span
                class=class
                data-testid="program-what-if-count"
                data-impact=key
                data-count=count.to_string()
            >
                <span class="count">{count}</span>
                {words}
            </span>
        }
    })
    .collect_view();
    let mut rows: Vec<ProgramWhatIfRow> = answer.challenges;
    rows.sort_by_key(|row| impact_rank(row.impact));
    let quiet = rows
        .iter()
        .filter(|row| impact_rank(row.impact) > impact_rank(shared::api::ProgramImpact::Invalid))
        .count();
    rows.retain(|row| impact_rank(row.impact) <= impact_rank(shared::api::ProgramImpact::Invalid));
    let table = if rows.is_empty() {
        view! {
            <p class="subtle" data-testid="program-what-if-none">
                "No running challenge would fail, pass or change under this version."
            </p>
        }
        .into_any()
    } else {
        let body = rows
            .into_iter()
            .map(|row| view! { <WhatIfRow row /> })
            .collect_view();
        view! {
            <div class="table-scroll">
                <table class="what-if program-what-if" data-testid="program-what-if-table">
                    <thead>
                        <tr>
                            <th scope="col">"Challenge"</th>
                            <th scope="col">"Phase"</th>
                            <th scope="col">"Outcome"</th>
                            <th scope="col">"Rules"</th>
                            <th scope="col">"What changes"</th>
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let left_out = (quiet > 0).then(|| format!("{quiet} unchanged or already decided not listed."));
    view! {
        <section class="what-if-result program-what-if-result" data-testid="program-what-if-result">
            <h3>"What if it applied to the running challenges now"</h3>
            <div class="status-counts program-impact-counts">{counts}</div>
            {table}
            {left_out.map(|words| view! { <p class="subtle">{words}</p> })}
        </section>
    }
}

#[component]
fn WhatIfRow(row: ProgramWhatIfRow) -> impl IntoView {
    let (key, words) = impact_words(row.impact);
    let rules = if row.rules.is_empty() {
        "–".to_owned()
    } else {
        row.rules.join(", ")
    };
    let changes = row
        .changes
        .iter()
        .map(|c| view! { <li>{c.clone()}</li> })
        .collect_view();
    view! {
        <tr data-testid="program-what-if-row" data-account=row.account.clone() data-impact=key>
            <th scope="row">
                {row.name.clone()}
                <br />
                <span class="subtle">{row.account.clone()}</span>
            </th>
            <td>{row.phase.clone()}</td>
            <td data-testid="program-what-if-outcome">
                {words}
                {row.problem.map(|problem| view! { <br /><span class="subtle">{problem}</span> })}
            </td>
            <td data-testid="program-what-if-rules">{rules}</td>
            <td>
                <ul class="rule-change-list">{changes}</ul>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::draft::Checked;
    use super::*;

    #[test]
    fn a_checked_program_reads_back_from_the_form() {
        // The form keeps what it is given: reading it back gives the same program.
        let owner = Owner::new();
        owner.with(|| {
            let program = shared::programs::template("ftmo-2step")
                .expect("template")
                .program;
            let form = Form::new(&program);
            let phases: Vec<PhaseInput> = form
                .phases
                .get_untracked()
                .iter()
                .map(PhaseForm::input_untracked)
                .collect();
            let checked: Checked = draft::check(
                &form.name.get_untracked(),
                &form.description.get_untracked(),
                &phases,
            );
            assert_eq!(checked.valid(), Some(&program));
            // A phase added goes before the funded one, with the rules of the phase before it.
            form.add_phase();
            let names: Vec<String> = form
                .phases
                .get_untracked()
                .iter()
                .map(|p| p.name.get_untracked())
                .collect();
            assert_eq!(names, ["Phase 1", "Phase 2", "Phase 3", "Funded"]);
            let phases = form.phases.get_untracked();
            assert_eq!(
                phases[2].rules.get_untracked(),
                phases[1].rules.get_untracked()
            );
        });
    }
}
