//! `/admin/imports`: accounts by the thousand. A CSV file (or JSON rows), chosen or pasted, is
//! checked on the server ("Check": every problem in a table, row, line, field and what to do;
//! nothing is written) or imported ("Import": every account created in one go, or none), then
//! followed: a bar of the accounts done, how many are live, reading their history or starting,
//! those that failed with why, and the time left, read every second until the last is done. The
//! template (the columns and an example row) downloads from the server.

use super::paths;
use crate::api::{self, ApiError, ImportAnswer};
use crate::format;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{ImportJob, ImportProblem, ImportRefused, ImportReport};
use wasm_bindgen::JsCast;

/// The problems a refusal lists on the page; the rest are counted (fix these, check again).
const PROBLEMS_SHOWN: usize = 500;
/// The failed rows the progress lists.
const FAILURES_SHOWN: usize = 200;

/// What the last check or import said.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// A dry run found every row good.
    Checked(ImportReport),
    /// Rows have problems; nothing was written.
    Refused(ImportRefused),
    /// The file could not be read, or the server could not be reached.
    Failed(String),
}

/// Importing accounts (admin console).
#[component]
pub fn AdminImportsPage() -> impl IntoView {
    crate::pages::set_title("Import accounts · Admin · Riskdeck");
    let text = RwSignal::new(String::new());
    let source = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<&'static str>);
    let outcome = RwSignal::new(None::<Outcome>);
    let job = RwSignal::new(None::<ImportJob>);
    // Each followed import gets a number; a poll of an older one stops.
    let following = RwSignal::new(0u64);
    let recent = RwSignal::new(Vec::<ImportJob>::new());

    spawn_local(async move {
        if let Ok(list) = api::imports().await {
            recent.try_set(list.imports);
        }
    });

    // The recent imports' list shows the progress of the one followed.
    Effect::new(move |_| {
        if let Some(current) = job.get() {
            recent.update(|list| {
                for item in list.iter_mut().filter(|item| item.id == current.id) {
                    *item = current.clone();
                }
            });
        }
    });
    let follow_job = move |first: ImportJob| follow(job, following, first);
    let send = move |dry_run: bool| {
        if busy.get_untracked().is_some() {
            return;
        }
        let body = text.get_untracked();
        if body.trim().is_empty() {
            outcome.set(Some(Outcome::Failed(
                "Choose a file or paste its rows first.".to_owned(),
            )));
            return;
        }
        let json = is_json(source.get_untracked().as_deref(), &body);
        busy.set(Some(if dry_run {
            "Checking…"
        } else {
            "Importing…"
        }));
        outcome.set(None);
        spawn_local(async move {
            let answer = api::import_accounts(body, json, dry_run).await;
            busy.try_set(None);
            match answer {
                Ok(ImportAnswer::Checked(report)) => {
                    outcome.try_set(Some(Outcome::Checked(report)));
                }
                Ok(ImportAnswer::Refused(refused)) => {
                    outcome.try_set(Some(Outcome::Refused(refused)));
                }
                Ok(ImportAnswer::Started(started)) => {
                    recent.try_update(|list| list.insert(0, started.clone()));
                    follow_job(started);
                }
                Err(error) => {
                    outcome.try_set(Some(Outcome::Failed(error.to_string())));
                }
            }
        });
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Import accounts"</h1>
                <p class="subtle">
                    "Create many challenge accounts at once from a CSV file (or JSON rows). \
                     Every row is checked first: one bad row imports nothing, and every problem \
                     is listed. The accounts are then created in one go and tracked at once."
                </p>
            </div>
        </div>
        <section class="admin-imports" data-testid="imports">
            <ImportForm text source busy send />
            {move || outcome.get().map(|outcome| view! { <OutcomeView outcome /> })}
            {move || job.get().map(|job| view! { <ImportProgress job /> })}
            <RecentImports recent on_show=Callback::new(follow_job) />
        </section>
    }
}

/// Starts following `first`: shown at once, then read every second until its last account is
/// done (or the page is left, or another import is followed).
fn follow(job: RwSignal<Option<ImportJob>>, following: RwSignal<u64>, first: ImportJob) {
    let mine = following.get_untracked() + 1;
    following.set(mine);
    let id = first.id.clone();
    let finished = first.finished_at.is_some();
    job.set(Some(first));
    if finished {
        return;
    }
    spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(1_000).await;
            if following.try_get_untracked() != Some(mine) {
                break;
            }
            match api::import_job(&id).await {
                Ok(view) => {
                    let finished = view.finished_at.is_some();
                    if job.try_set(Some(view)).is_some() || finished {
                        break;
                    }
                }
                // The server restarted: the import's accounts are tracked, its progress gone.
                Err(ApiError::NotFound { .. }) => break,
                // A blip: read again at the next second.
                Err(_) => {}
            }
        }
    });
}

/// Whether a file holds JSON rows rather than CSV: by its name, or by its first character.
fn is_json(name: Option<&str>, text: &str) -> bool {
    match name.map(str::to_ascii_lowercase) {
        Some(name) if name.ends_with(".json") => true,
        Some(name) if name.ends_with(".csv") => false,
        _ => text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with(['{', '[']),
    }
}

/// Reads the file chosen in `input` into `text`.
fn read_file(
    input: &web_sys::HtmlInputElement,
    text: RwSignal<String>,
    source: RwSignal<Option<String>>,
) {
    let Some(file) = input.files().and_then(|files| files.get(0)) else {
        return;
    };
    let Ok(reader) = web_sys::FileReader::new() else {
        return;
    };
    let name = file.name();
    let loaded = reader.clone();
    let on_load = wasm_bindgen::closure::Closure::once_into_js(move |_: web_sys::Event| {
        if let Some(content) = loaded.result().ok().and_then(|r| r.as_string()) {
            text.try_set(content);
            source.try_set(Some(name));
        }
    });
    reader.set_onload(Some(on_load.unchecked_ref()));
    let _ = reader.read_as_text(&file);
}

#[component]
fn ImportForm(
    text: RwSignal<String>,
    source: RwSignal<Option<String>>,
    busy: RwSignal<Option<&'static str>>,
    send: impl Fn(bool) + Copy + 'static,
) -> impl IntoView {
    let rows = move || {
        text.with(|t| {
            let lines = t.lines().filter(|l| !l.trim().is_empty()).count();
            match (lines, is_json(source.get().as_deref(), t)) {
                (0, _) => String::new(),
                (_, true) => "JSON rows".to_owned(),
                (1, false) => "a header line and no rows yet".to_owned(),
                (n, false) => format!("about {} rows", n - 1),
            }
        })
    };
    view! {
        <form
            class="admin-form import-form"
            aria-labelledby="import-file-title"
            on:submit=move |ev| {
                ev.prevent_default();
                send(false);
            }
        >
            <h2 id="import-file-title">"The file"</h2>
            <p class="subtle">
                "A header line names the columns (in any order): id, name, connection (demo, \
                 metaapi or ctrader), account (the broker's id of the account), program and \
                 phase or preset, owner (a trader's username or email address), \
                 initial_balance, currency; for MetaApi also token (and base_url), for cTrader \
                 url, client_id, client_secret, access_token (and refresh_token); transport \
                 (streaming or rest) is optional. "
                <a
                    href=api::import_template_url()
                    download="riskdeck-import-template.csv"
                    data-testid="import-template"
                >
                    "Download the CSV template"
                </a>
                "."
            </p>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Choose a CSV or JSON file"</span>
                    <input
                        type="file"
                        accept=".csv,.json,text/csv,application/json"
                        data-testid="import-file"
                        disabled=move || busy.get().is_some()
                        on:change=move |ev| {
                            if let Some(input) = ev
                                .target()
                                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                            {
                                read_file(&input, text, source);
                            }
                        }
                    />
                </label>
            </div>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"…or paste its rows"</span>
                    <textarea
                        class="import-text num"
                        rows="8"
                        spellcheck="false"
                        placeholder="id,name,connection,account,preset,owner,initial_balance,currency"
                        data-testid="import-text"
                        prop:value=text
                        on:input=move |ev| {
                            text.set(event_target_value(&ev));
                            source.set(None);
                        }
                        disabled=move || busy.get().is_some()
                    ></textarea>
                </label>
            </div>
            <p class="subtle" data-testid="import-size">
                {move || {
                    let name = source.get().map(|n| format!("{n}: ")).unwrap_or_default();
                    let rows = rows();
                    if rows.is_empty() { String::new() } else { format!("{name}{rows}.") }
                }}
            </p>
            <div class="form-row">
                <button
                    class="button button-quiet"
                    type="button"
                    data-testid="import-check"
                    disabled=move || busy.get().is_some()
                    on:click=move |_| send(true)
                >
                    "Check"
                </button>
                <button
                    class="button"
                    type="submit"
                    data-testid="import-submit"
                    disabled=move || busy.get().is_some()
                >
                    "Import"
                </button>
                {move || busy.get().map(|label| view! { <span role="status">{label}</span> })}
            </div>
        </form>
    }
}

#[component]
fn OutcomeView(outcome: Outcome) -> impl IntoView {
    match outcome {
        Outcome::Checked(report) => view! {
            <p class="form-done" role="status" data-testid="import-checked">
                {format!(
                    "All {} rows are good (checked in {} ms): press Import to create them.",
                    report.rows, report.checked_ms
                )}
            </p>
        }
        .into_any(),
        Outcome::Failed(message) => view! {
            <p class="form-error" role="alert" data-testid="import-error">{message}</p>
        }
        .into_any(),
        Outcome::Refused(refused) => view! { <ProblemsTable refused /> }.into_any(),
    }
}

#[component]
fn ProblemsTable(refused: ImportRefused) -> impl IntoView {
    let more = refused.problems.len().saturating_sub(PROBLEMS_SHOWN);
    let rows = refused
        .problems
        .into_iter()
        .take(PROBLEMS_SHOWN)
        .map(|problem| view! { <ProblemRow problem /> })
        .collect_view();
    view! {
        <section class="panel table-panel import-problems" data-testid="import-problems">
            <p class="form-error" role="alert">{refused.message}</p>
            <table class="admin-table">
                <thead>
                    <tr>
                        <th scope="col">"Row"</th>
                        <th scope="col">"Id"</th>
                        <th scope="col">"Field"</th>
                        <th scope="col">"Problem"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {(more > 0)
                .then(|| {
                    view! {
                        <p class="subtle">
                            {format!("…and {more} more problems: fix these and check again.")}
                        </p>
                    }
                })}
        </section>
    }
}

#[component]
fn ProblemRow(problem: ImportProblem) -> impl IntoView {
    let row = match problem.line {
        Some(line) => format!("{} (line {line})", problem.row),
        None => problem.row.to_string(),
    };
    let field = problem.field.clone();
    view! {
        <tr data-testid="import-problem" data-row=problem.row data-field=field>
            <td data-label="Row">{row}</td>
            <td data-label="Id">{problem.id.unwrap_or_default()}</td>
            <td data-label="Field"><code>{problem.field}</code></td>
            <td data-label="Problem">{capitalised(&problem.message)}</td>
        </tr>
    }
}

/// The server's sentence (`field: what to do`, the field shown apart) as a sentence.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// "45 s", "3 min 20 s", "1 h 5 min".
fn duration_words(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[component]
fn ImportProgress(job: ImportJob) -> impl IntoView {
    let percent = if job.total == 0 {
        100
    } else {
        u64::from(job.done) * 100 / u64::from(job.total)
    };
    let failed = job.failed.len();
    let bar_class = if failed > 0 {
        "bar bar-warn"
    } else {
        "bar bar-good"
    };
    let status = match (job.finished_at, job.seconds_left) {
        (Some(at), _) => format!(
            "Finished: every account is done, {} after they were created.",
            duration_words(u64::try_from((at - job.started_at).num_seconds()).unwrap_or(0))
        ),
        (None, Some(left)) => format!("About {} left.", duration_words(left)),
        (None, None) => "Starting…".to_owned(),
    };
    let failures = job
        .failed
        .iter()
        .take(FAILURES_SHOWN)
        .map(|failure| {
            let id = failure.account.clone();
            view! {
                <tr data-testid="import-failure">
                    <td data-label="Row">{failure.row}</td>
                    <td data-label="Account">
                        <a href=paths::challenge(&id)>{id.to_string()}</a>
                    </td>
                    <td data-label="Why">{failure.reason.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section
            class="panel import-progress"
            aria-labelledby="import-progress-title"
            data-testid="import-progress"
            data-import-id=job.id.clone()
        >
            <h2 id="import-progress-title">
                {format!("Import of {} accounts", job.total)}
            </h2>
            <p class="subtle">
                {format!("By {}, {}.", job.created_by, format::date_time(job.started_at))}
            </p>
            <div
                class="progress import-bar"
                role="progressbar"
                aria-label="Accounts done"
                aria-valuemin="0"
                aria-valuemax=job.total
                aria-valuenow=job.done
            >
                <div
                    class=bar_class
                    style=format!("width:{percent}%")
                ></div>
            </div>
            <p data-testid="import-counts">
                <strong>{format!("{} of {} done", job.done, job.total)}</strong>
                {format!(
                    " · {} live · {} reading their history · {} starting · {failed} failed",
                    job.live, job.backfilling, job.connecting
                )}
            </p>
            <p role="status" data-testid="import-status">{status}</p>
            {(failed > 0)
                .then(|| {
                    view! {
                        <table class="admin-table" data-testid="import-failures">
                            <thead>
                                <tr>
                                    <th scope="col">"Row"</th>
                                    <th scope="col">"Account"</th>
                                    <th scope="col">"Why it is not live"</th>
                                </tr>
                            </thead>
                            <tbody>{failures}</tbody>
                        </table>
                    }
                })}
        </section>
    }
}

#[component]
fn RecentImports(recent: RwSignal<Vec<ImportJob>>, on_show: Callback<ImportJob>) -> impl IntoView {
    move || {
        let list = recent.get();
        (!list.is_empty()).then(|| {
            let rows = list
                .into_iter()
                .map(|job| {
                    let shown = job.clone();
                    view! {
                        <li>
                            {format!(
                                "{}: {} accounts by {} ({} done) ",
                                format::date_time(job.started_at),
                                job.total,
                                job.created_by,
                                job.done
                            )}
                            <button
                                class="link-button"
                                type="button"
                                on:click=move |_| on_show.run(shown.clone())
                            >
                                "Show progress"
                            </button>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <section class="panel import-recent" data-testid="imports-recent">
                    <h2>"Recent imports on this server"</h2>
                    <ul>{rows}</ul>
                </section>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_from_csv_by_the_name_or_the_first_character() {
        assert!(is_json(Some("rows.JSON"), "id,name"));
        assert!(!is_json(Some("rows.csv"), "[]"));
        assert!(is_json(None, "\u{feff}  {\"rows\": []}"));
        assert!(is_json(None, "[{}]"));
        assert!(!is_json(None, "id,name\n"));
    }

    #[test]
    fn a_problem_reads_as_a_sentence() {
        assert_eq!(capitalised("there is no user"), "There is no user");
        assert_eq!(capitalised("\"lots\" is not"), "\"lots\" is not");
        assert_eq!(capitalised(""), "");
    }

    #[test]
    fn durations_read_in_words() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(200), "3 min 20 s");
        assert_eq!(duration_words(3900), "1 h 5 min");
    }
}
