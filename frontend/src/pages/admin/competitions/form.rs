//! Writing a competition: `/admin/competitions/new` and `/admin/competitions/:id/edit`. The
//! window is typed as local date-times in the competition's time zone (the firm's), the rules
//! that disqualify with the rule editor's fields (`RuleSetFields`), the ranking's measure and
//! its tie-breaks in order, and the public link on or off. The server checks it all
//! (`CompetitionDraft::validate`) and names every problem by its field, shown next to it.
//! Once the competition started the form is read-only, and says why.

use super::problems;
use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Load, Loading};
use crate::pages::admin::paths;
use crate::pages::admin::rules::{Model, RuleSetFields};
use chrono::{Duration, NaiveDateTime, Timelike};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use shared::competitions::{
    CompetitionDetail, CompetitionDraft, CreateCompetitionRequest, RankBy, Ranking, Stage,
    TieBreak, UpdateCompetitionRequest,
};

/// How `datetime-local` inputs write a time.
const LOCAL: &str = "%Y-%m-%dT%H:%M";

/// The form's text, as typed (the rules are in their own model).
#[derive(Clone, Debug, PartialEq)]
struct Fields {
    id: String,
    name: String,
    description: String,
    time_zone: String,
    start: String,
    end: String,
    by: RankBy,
    tie_breaks: Vec<TieBreak>,
    public: bool,
}

impl Fields {
    /// A new competition: tomorrow at midnight for four weeks, in UTC until the admin says.
    fn fresh() -> Self {
        let today = crate::format::now().naive_utc().date();
        let start = (today + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        let end = start + Duration::days(28);
        Self {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            time_zone: "UTC".to_owned(),
            start: start.format(LOCAL).to_string(),
            end: end.format(LOCAL).to_string(),
            by: RankBy::Return,
            tie_breaks: Ranking::default().tie_breaks,
            public: false,
        }
    }

    fn of(id: &str, draft: &CompetitionDraft) -> Self {
        let at = |time: NaiveDateTime| {
            if time.second() == 0 {
                time.format(LOCAL).to_string()
            } else {
                time.format("%Y-%m-%dT%H:%M:%S").to_string()
            }
        };
        Self {
            id: id.to_owned(),
            name: draft.name.clone(),
            description: draft.description.clone(),
            time_zone: draft.time_zone.clone(),
            start: at(draft.start),
            end: at(draft.end),
            by: draft.ranking.by,
            tie_breaks: draft.ranking.tie_breaks.clone(),
            public: draft.public,
        }
    }

    /// The draft to send, or the problems found before sending (each with its field).
    fn draft(&self, rules: &Model) -> Result<CompetitionDraft, Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut time = |field: &str, text: &str| {
            let parsed = parse_local(text);
            if parsed.is_none() {
                found.push((
                    field.to_owned(),
                    format!("{text:?} is not a date and time: pick one (day and HH:MM)"),
                ));
            }
            parsed
        };
        let start = time("start", &self.start);
        let end = time("end", &self.end);
        let rules = match rules.draft() {
            Ok(rules) => Some(rules),
            Err(problems) => {
                found.extend(problems.into_iter().map(|p| ("rules".to_owned(), p)));
                None
            }
        };
        match (start, end, rules) {
            (Some(start), Some(end), Some(rules)) if found.is_empty() => Ok(CompetitionDraft {
                name: self.name.trim().to_owned(),
                description: self.description.trim().to_owned(),
                time_zone: self.time_zone.trim().to_owned(),
                start,
                end,
                rules,
                ranking: Ranking {
                    by: self.by,
                    tie_breaks: self.tie_breaks.clone(),
                },
                public: self.public,
            }),
            _ => Err(found),
        }
    }
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, LOCAL)
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

/// The new-competition page, or the edit page of `:id`.
#[component]
pub(super) fn CompetitionFormPage(editing: bool) -> impl IntoView {
    crate::pages::set_title(if editing {
        "Edit competition · Admin · Riskdeck"
    } else {
        "New competition · Admin · Riskdeck"
    });
    let params = use_params_map();
    let id = params.read_untracked().get("id").unwrap_or_default();
    if !editing {
        return view! {
            <div class="page-head">
                <div>
                    <nav class="crumbs"><a href=paths::COMPETITIONS>"Competitions"</a></nav>
                    <h1>"New competition"</h1>
                </div>
            </div>
            <CompetitionForm fields=Fields::fresh() rules=Model::starter(&["daily_loss", "max_loss"]) detail=None />
        }
        .into_any();
    }
    let detail = RwSignal::new(Load::<CompetitionDetail>::Loading);
    let load = {
        let id = id.clone();
        move || {
            let id = id.clone();
            detail.set(Load::Loading);
            spawn_local(async move {
                detail.try_set(api::competition(&id).await.into());
            });
        }
    };
    load();
    let retry = Callback::new(move |()| load());
    view! {
        {move || match detail.get() {
            Load::Loading => view! { <Loading label="Loading the competition…" /> }.into_any(),
            Load::Failed(error) => view! {
                <ErrorPanel title="The competition could not be loaded" message=error.to_string() on_retry=retry />
            }
            .into_any(),
            Load::Ready(found) => {
                let fields = Fields::of(&found.summary.id, &found.competition);
                let rules = Model::of(&found.competition.rules);
                view! {
                    <div class="page-head">
                        <div>
                            <nav class="crumbs">
                                <a href=paths::COMPETITIONS>"Competitions"</a>
                                " / "
                                <a href=paths::competition(&found.summary.id)>{found.summary.name.clone()}</a>
                            </nav>
                            <h1>{format!("Edit {}", found.summary.name)}</h1>
                        </div>
                    </div>
                    <CompetitionForm fields rules detail=Some(found) />
                }
                .into_any()
            }
        }}
    }
    .into_any()
}

/// The form itself: a new competition when `detail` is `None`.
#[component]
fn CompetitionForm(
    fields: Fields,
    rules: Model,
    detail: Option<CompetitionDetail>,
) -> impl IntoView {
    let navigate = use_navigate();
    let creating = detail.is_none();
    let frozen = detail
        .as_ref()
        .is_some_and(|d| d.summary.stage != Stage::Upcoming);
    let fields = RwSignal::new(fields);
    let model = RwSignal::new(rules);
    let layout = RwSignal::new(0u32);
    let busy = RwSignal::new(false);
    let refused = RwSignal::new(Vec::<(String, String)>::new());

    let error_for = move |field: &'static str| {
        move || {
            let mine: Vec<String> = refused.with(|all| {
                all.iter()
                    .filter(|(f, _)| f == field || f.starts_with(&format!("{field}.")))
                    .map(|(_, advice)| advice.clone())
                    .collect()
            });
            (!mine.is_empty()).then(|| {
                view! {
                    <p class="form-error" role="alert" data-testid=format!("competition-{field}-error")>
                        {mine.join(" ")}
                    </p>
                }
            })
        }
    };
    let invalid = move |field: &'static str| {
        move || {
            refused
                .with(|all| all.iter().any(|(f, _)| f == field))
                .to_string()
        }
    };
    let text_input =
        move |field: &'static str, read: fn(&Fields) -> String, write: fn(&mut Fields, String)| {
            view! {
                <input
                    type="text"
                    autocomplete="off"
                    data-testid=format!("competition-{field}")
                    aria-invalid=invalid(field)
                    prop:value=move || fields.with(read)
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        fields.update(|f| write(f, text));
                    }
                />
            }
        };

    let existing = detail.as_ref().map(|d| d.summary.id.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || frozen {
            return;
        }
        let typed = fields.get_untracked();
        let draft = match model.with_untracked(|rules| typed.draft(rules)) {
            Ok(draft) => draft,
            Err(found) => {
                refused.set(found);
                return;
            }
        };
        busy.set(true);
        refused.set(Vec::new());
        let navigate = navigate.clone();
        let existing = existing.clone();
        spawn_local(async move {
            let answer = match &existing {
                None => {
                    api::create_competition(&CreateCompetitionRequest {
                        id: typed.id.trim().to_owned(),
                        competition: draft,
                    })
                    .await
                }
                Some(id) => {
                    api::update_competition(id, &UpdateCompetitionRequest { competition: draft })
                        .await
                }
            };
            match answer {
                Ok(saved) => navigate(&paths::competition(&saved.summary.id), Default::default()),
                Err(error) => {
                    let mut found = problems(&error.to_string());
                    if !creating && matches!(error, ApiError::Server { status: 409, .. }) {
                        found.push((
                            "form".to_owned(),
                            "A competition that started keeps its terms, so every entrant is \
                             ranked on the same ones."
                                .to_owned(),
                        ));
                    }
                    refused.try_set(found);
                }
            }
            busy.try_set(false);
        });
    };

    let frozen_note = frozen.then(|| {
        view! {
            <section class="panel notice" data-testid="competition-frozen">
                <h2>"Read-only: the competition has started"</h2>
                <p>
                    "Its window, rules and ranking are fixed once it starts, so every entrant is \
                     ranked on the same terms from the first minute to the last. The settings \
                     below are shown as they run."
                </p>
            </section>
        }
    });
    let all_problems =
        move || {
            let all = refused.get();
            (!all.is_empty()).then(|| {
            let items = all
                .into_iter()
                .map(|(field, advice)| {
                    let text = if field == "form" { advice } else { format!("{field}: {advice}") };
                    view! { <li>{text}</li> }
                })
                .collect_view();
            view! {
                <div class="notice notice-error" role="alert" data-testid="competition-problems">
                    <p>"The competition was not saved. Fix these and save again:"</p>
                    <ul>{items}</ul>
                </div>
            }
        })
        };

    view! {
        {frozen_note}
        <form class="admin-form competition-form" on:submit=submit novalidate=true data-testid="competition-form">
            <fieldset disabled=frozen>
                <legend>"The competition"</legend>
                <div class="form-row">
                    {creating.then(|| view! {
                        <label class="field">
                            <span class="field-label">"Id (for good: 3 to 64 lowercase letters, digits and -)"</span>
                            {text_input("id", |f| f.id.clone(), |f, t| f.id = t)}
                            {error_for("id")}
                        </label>
                    })}
                    <label class="field">
                        <span class="field-label">"Name"</span>
                        {text_input("name", |f| f.name.clone(), |f, t| f.name = t)}
                        {error_for("name")}
                    </label>
                </div>
                <label class="field">
                    <span class="field-label">"Description (shown to entrants; optional)"</span>
                    <textarea
                        rows="2"
                        data-testid="competition-description"
                        prop:value=move || fields.with(|f| f.description.clone())
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            fields.update(|f| f.description = text);
                        }
                    ></textarea>
                    {error_for("description")}
                </label>
            </fieldset>
            <fieldset disabled=frozen>
                <legend>"Window"</legend>
                <div class="form-row">
                    <label class="field">
                        <span class="field-label">"Time zone (IANA, e.g. Europe/London)"</span>
                        {text_input("time_zone", |f| f.time_zone.clone(), |f, t| f.time_zone = t)}
                        {error_for("time_zone")}
                    </label>
                    <label class="field">
                        <span class="field-label">"Starts (local time in that zone)"</span>
                        <input
                            type="datetime-local"
                            data-testid="competition-start"
                            aria-invalid=invalid("start")
                            prop:value=move || fields.with(|f| f.start.clone())
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                fields.update(|f| f.start = text);
                            }
                        />
                        {error_for("start")}
                    </label>
                    <label class="field">
                        <span class="field-label">"Ends (local time in that zone)"</span>
                        <input
                            type="datetime-local"
                            data-testid="competition-end"
                            aria-invalid=invalid("end")
                            prop:value=move || fields.with(|f| f.end.clone())
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                fields.update(|f| f.end = text);
                            }
                        />
                        {error_for("end")}
                    </label>
                </div>
                <p class="subtle">
                    "Days for the leaderboard's movement arrows also end at midnight in this zone."
                </p>
            </fieldset>
            <fieldset disabled=frozen class="competition-rules">
                <legend>"Rules that disqualify"</legend>
                <p class="subtle">
                    "An entrant whose challenge breaks one of these is disqualified, with the \
                     breach's evidence kept. No profit target: the ranking decides."
                </p>
                <div class="rule-form">
                    <RuleSetFields model layout />
                </div>
                {error_for("rules")}
            </fieldset>
            <fieldset disabled=frozen>
                <legend>"Ranking"</legend>
                <RankingFields fields />
                {error_for("ranking")}
            </fieldset>
            <fieldset disabled=frozen>
                <legend>"Public leaderboard"</legend>
                <label class="check">
                    <input
                        type="checkbox"
                        data-testid="competition-public"
                        prop:checked=move || fields.with(|f| f.public)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            fields.update(|f| f.public = on);
                        }
                    />
                    "A read-only public link: display names and numbers only, no accounts or \
                     usernames; cached and rate-limited."
                </label>
            </fieldset>
            {all_problems}
            {(!frozen).then(|| view! {
                <div class="form-actions">
                    <button class="button" type="submit" data-testid="competition-save" disabled=busy>
                        {move || match (busy.get(), creating) {
                            (true, _) => "Saving…",
                            (false, true) => "Create competition",
                            (false, false) => "Save changes",
                        }}
                    </button>
                </div>
            })}
        </form>
    }
}

/// The measure, and the tie-breaks in the order they apply (moved up and down, added and
/// removed).
#[component]
fn RankingFields(fields: RwSignal<Fields>) -> impl IntoView {
    let chosen = move || fields.with(|f| f.tie_breaks.clone());
    let adding = RwSignal::new(String::new());
    let tie_rows = move || {
        let all = chosen();
        let last = all.len().saturating_sub(1);
        all.into_iter()
            .enumerate()
            .map(|(i, tie)| {
                let swap = move |a: usize, b: usize| fields.update(|f| f.tie_breaks.swap(a, b));
                view! {
                    <li data-testid="competition-tie-break" data-tie=tie.label()>
                        <span>{format!("then {}", tie.label())}</span>
                        <button type="button" class="button button-small button-quiet" disabled=i == 0
                            aria-label=format!("Move {} up", tie.label())
                            on:click=move |_| swap(i - 1, i)>"↑"</button>
                        <button type="button" class="button button-small button-quiet" disabled=i == last
                            aria-label=format!("Move {} down", tie.label())
                            on:click=move |_| swap(i, i + 1)>"↓"</button>
                        <button type="button" class="button button-small button-quiet"
                            aria-label=format!("Remove {}", tie.label())
                            on:click=move |_| fields.update(|f| { f.tie_breaks.remove(i); })>"Remove"</button>
                    </li>
                }
            })
            .collect_view()
    };
    let left = move || {
        let taken = chosen();
        TieBreak::ALL
            .into_iter()
            .filter(|t| !taken.contains(t))
            .collect::<Vec<_>>()
    };
    let add = move |_| {
        let wanted = adding.get_untracked();
        let pick = left()
            .into_iter()
            .find(|t| t.label() == wanted)
            .or_else(|| left().into_iter().next());
        if let Some(tie) = pick {
            fields.update(|f| f.tie_breaks.push(tie));
        }
    };
    let describe = move || {
        fields.with(|f| {
            Ranking {
                by: f.by,
                tie_breaks: f.tie_breaks.clone(),
            }
            .describe()
        })
    };
    view! {
        <div class="form-row">
            <label class="field">
                <span class="field-label">"Ranked by"</span>
                <select
                    data-testid="competition-rank-by"
                    on:change=move |ev| {
                        let by = if event_target_value(&ev) == "profit" { RankBy::Profit } else { RankBy::Return };
                        fields.update(|f| f.by = by);
                    }
                >
                    <option value="return" selected=move || fields.with(|f| f.by == RankBy::Return)>
                        "Return on the equity at the start (%)"
                    </option>
                    <option value="profit" selected=move || fields.with(|f| f.by == RankBy::Profit)>
                        "Profit (account currency)"
                    </option>
                </select>
            </label>
        </div>
        <ol class="tie-breaks">{tie_rows}</ol>
        {move || {
            let options = left();
            (!options.is_empty()).then(|| view! {
                <div class="rule-add">
                    <label>
                        "Add a tie-break"
                        <select data-testid="competition-tie-add-kind" on:change=move |ev| adding.set(event_target_value(&ev))>
                            {options.iter().map(|t| view! { <option value=t.label()>{t.label()}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="button" class="button button-quiet" data-testid="competition-tie-add" on:click=add>"Add"</button>
                </div>
            })
        }}
        <p class="subtle" data-testid="competition-ranking-words">
            {move || format!("Disqualified entrants rank below active ones; then {}.", describe())}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_form_is_a_valid_competition_once_named() {
        let mut fields = Fields::fresh();
        fields.name = " Spring Cup ".to_owned();
        let draft = fields
            .draft(&Model::starter(&["daily_loss", "max_loss"]))
            .expect("draft");
        assert_eq!(draft.name, "Spring Cup");
        draft.validate().expect("valid");
        assert_eq!(Fields::of("x", &draft).start, fields.start);
    }

    #[test]
    fn a_time_that_is_not_one_is_named_before_sending() {
        let mut fields = Fields::fresh();
        fields.end = "soon".to_owned();
        let found = fields
            .draft(&Model::starter(&["max_loss"]))
            .expect_err("refused");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "end");
    }
}
