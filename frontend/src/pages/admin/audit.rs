//! `/admin/audit`: the audit log, newest first, filtered by actor, action, account and time
//! range, page by page, with a CSV export of everything the filters match.

use super::super::Load;
use crate::api::{self, AuditQuery};
use crate::components::{ErrorPanel, Loading};
use crate::format;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{AuditEntryView, AuditResponse};

/// The actions the server writes, for the filter's suggestions.
const ACTIONS: &[&str] = &[
    "user.create",
    "user.reset_password",
    "user.disable",
    "user.enable",
    "account.assign",
    "account.unassign",
    "anchor.correct",
    "challenge.clear_breach",
    "challenge.unpause",
    "rule_set.save",
];

/// A `datetime-local` input's value (the browser's local time) as RFC 3339; empty stays empty.
fn instant(local: &str) -> Result<String, String> {
    let local = local.trim();
    if local.is_empty() {
        return Ok(String::new());
    }
    chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .and_then(|t| t.and_local_timezone(format::local_offset()).single())
        .map(|t| t.to_rfc3339())
        .ok_or_else(|| format!("{local} is not a date and time."))
}

/// Audit log (admin console).
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    crate::pages::set_title("Audit log · Admin · Riskdeck");
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let account = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let form_error = RwSignal::new(None::<String>);
    // The filters applied, and the `before_id`s of the pages before this one.
    let query = RwSignal::new(AuditQuery::default());
    let earlier_pages = RwSignal::new(Vec::<Option<i64>>::new());
    let page = RwSignal::new(Load::<AuditResponse>::Loading);

    let fetch = move || {
        page.set(Load::Loading);
        let query = query.get_untracked();
        spawn_local(async move {
            page.try_set(api::audit(&query).await.into());
        });
    };
    fetch();

    let apply = move |event: SubmitEvent| {
        event.prevent_default();
        let (from_at, to_at) = match (instant(&from.get_untracked()), instant(&to.get_untracked()))
        {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => {
                form_error.set(Some(e));
                return;
            }
        };
        form_error.set(None);
        query.set(AuditQuery {
            actor: actor.get_untracked(),
            action: action.get_untracked(),
            account: account.get_untracked(),
            from: from_at,
            to: to_at,
            before_id: None,
        });
        earlier_pages.set(Vec::new());
        fetch();
    };
    let older = move |_| {
        let next = page.with_untracked(|p| match p {
            Load::Ready(r) => r.next_before_id,
            _ => None,
        });
        if let Some(next) = next {
            let current = query.with_untracked(|q| q.before_id);
            earlier_pages.update(|pages| pages.push(current));
            query.update(|q| q.before_id = Some(next));
            fetch();
        }
    };
    let newer = move |_| {
        if let Some(previous) = earlier_pages.try_update(Vec::pop).flatten() {
            query.update(|q| q.before_id = previous);
            fetch();
        }
    };
    let retry = Callback::new(move |()| fetch());
    let csv = move || api::audit_csv_url(&query.get());
    let suggestions = ACTIONS
        .iter()
        .copied()
        .map(|action| view! { <option value=action></option> })
        .collect_view();
    let field = |label: &'static str,
                 testid: &'static str,
                 kind: &'static str,
                 signal: RwSignal<String>| {
        let list = if testid == "audit-action" {
            "audit-actions"
        } else {
            ""
        };
        view! {
            <label class="field">
                <span class="field-label">{label}</span>
                <input
                    type=kind
                    data-testid=testid
                    list=list
                    prop:value=signal
                    on:input=move |ev| signal.set(event_target_value(&ev))
                />
            </label>
        }
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Audit log"</h1>
                <p class="subtle">
                    "Every change an admin made: who, when, to what, before and after, and why."
                </p>
            </div>
            <a class="button" href=csv download="riskdeck-audit.csv" data-testid="audit-csv">
                "Export CSV"
            </a>
        </div>
        <section class="panel admin-audit" data-testid="admin-audit">
            <form class="admin-form audit-filters" on:submit=apply aria-label="Filters">
                <datalist id="audit-actions">{suggestions}</datalist>
                <div class="form-row">
                    {field("Actor (username)", "audit-actor", "text", actor)}
                    {field("Action", "audit-action", "text", action)}
                    {field("Account", "audit-account", "text", account)}
                    {field("From", "audit-from", "datetime-local", from)}
                    {field("To", "audit-to", "datetime-local", to)}
                </div>
                {move || {
                    form_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })
                }}
                <button class="button" type="submit" data-testid="audit-apply">
                    "Apply filters"
                </button>
            </form>
            {move || match page.get() {
                Load::Loading => view! { <Loading label="Loading the audit log…" /> }.into_any(),
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The audit log could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(response) if response.entries.is_empty() => {
                    view! {
                        <p class="subtle" data-testid="audit-empty">
                            "No entries match these filters."
                        </p>
                    }
                        .into_any()
                }
                Load::Ready(response) => view! { <AuditTable entries=response.entries /> }.into_any(),
            }}
            <div class="pager">
                <button
                    class="button button-quiet"
                    type="button"
                    data-testid="audit-newer"
                    disabled=move || earlier_pages.with(Vec::is_empty)
                    on:click=newer
                >
                    "Newer"
                </button>
                <button
                    class="button button-quiet"
                    type="button"
                    data-testid="audit-older"
                    disabled=move || {
                        page.with(|p| !matches!(p, Load::Ready(r) if r.next_before_id.is_some()))
                    }
                    on:click=older
                >
                    "Older"
                </button>
            </div>
        </section>
    }
}

fn json_text(value: &Option<serde_json::Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "–".to_owned(), serde_json::Value::to_string)
}

#[component]
fn AuditTable(entries: Vec<AuditEntryView>) -> impl IntoView {
    let rows = entries
        .into_iter()
        .map(|e| {
            view! {
                <tr data-testid="audit-row" data-action=e.action.clone()>
                    <td data-label="When">{format::date_time(e.time)}</td>
                    <td data-label="Actor">{e.actor.clone()}</td>
                    <td data-label="Action"><code>{e.action.clone()}</code></td>
                    <td data-label="Subject">{e.subject.clone()}</td>
                    <td data-label="Reason" data-testid="audit-reason">
                        {e.reason.clone().unwrap_or_else(|| "–".to_owned())}
                    </td>
                    <td data-label="Change" class="audit-change">
                        <span class="subtle">"before "</span>
                        <code>{json_text(&e.before)}</code>
                        <br />
                        <span class="subtle">"after "</span>
                        <code>{json_text(&e.after)}</code>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-panel">
            <table class="admin-table audit" data-testid="audit-list">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Subject"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Change"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
