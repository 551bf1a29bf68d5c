//! `/admin/accounts/:id`: one challenge for an admin: its summary, its owner, links to the
//! trader's dashboard and the rule editor, and the overrides (clear a breach, end a pause,
//! correct an anchor), each with a mandatory reason that the trader sees.

use super::super::Load;
use crate::api;
use crate::components::{AdminActions, ErrorPanel, Loading};
use crate::format;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use shared::api::{AccountSummary, ChallengeView, ConnectionStatus, Role, UserId, UserSummary};
use shared::domain::AccountId;
use shared::engine::{AnchorField, ChallengeStatus, RuleStatus};

/// Challenge (admin console).
#[component]
pub fn AdminChallengePage() -> impl IntoView {
    crate::pages::set_title("Challenge · Admin · Riskdeck");
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    move || {
        let id = AccountId(id.get());
        view! { <ChallengeAdmin id /> }
    }
}

/// The page's data: the account, its owner and the traders who could own it.
#[derive(Clone, Debug, PartialEq)]
struct Data {
    summary: AccountSummary,
    connection: ConnectionStatus,
    owner: Option<UserSummary>,
    traders: Vec<UserSummary>,
}

#[component]
fn ChallengeAdmin(id: AccountId) -> impl IntoView {
    let data = RwSignal::new(Load::<Data>::Loading);
    let done = RwSignal::new(None::<String>);
    let load = {
        let id = id.clone();
        move |quiet: bool| {
            let id = id.clone();
            if !quiet {
                data.set(Load::Loading);
            }
            spawn_local(async move {
                let (summary, owners, users, connection) = futures::join!(
                    api::account(&id),
                    api::account_owners(),
                    api::users(),
                    api::account_connection(&id)
                );
                // The token's status is extra: the page shows without it.
                let connection = connection.unwrap_or_default();
                let loaded = summary.and_then(|summary| {
                    let owner = owners?
                        .accounts
                        .into_iter()
                        .find(|o| o.account == id)
                        .and_then(|o| o.owner);
                    let traders = users?
                        .users
                        .into_iter()
                        .filter(|u| u.role == Role::Trader && !u.disabled)
                        .collect();
                    Ok(Data {
                        summary,
                        connection,
                        owner,
                        traders,
                    })
                });
                data.try_set(loaded.into());
            });
        }
    };
    load(false);
    let changed = {
        let load = load.clone();
        Callback::new(move |message: String| {
            done.set(Some(message));
            load(true);
        })
    };
    let retry = {
        let load = load.clone();
        Callback::new(move |()| load(false))
    };
    let challenge = Signal::derive(move || {
        data.with(|d| match d {
            Load::Ready(d) => d.summary.latest.as_ref().and_then(|v| v.challenge.clone()),
            _ => None,
        })
    });
    let title = id.to_string();
    let dashboard = crate::pages::account_path(&id);
    let rules = super::paths::rules(&id);

    view! {
        <div class="page-head">
            <div>
                <h1 data-testid="admin-challenge-title">{title}</h1>
                <p class="subtle links">
                    <a href=dashboard data-testid="admin-challenge-dashboard">
                        "Trader's dashboard"
                    </a>
                    " · "
                    <a href=rules data-testid="admin-challenge-rules">
                        "Rules"
                    </a>
                </p>
            </div>
        </div>
        <div data-testid="admin-challenge">
            {move || {
                done.get()
                    .map(|message| {
                        view! {
                            <p class="form-done" role="status" data-testid="admin-challenge-done">
                                {message}
                            </p>
                        }
                    })
            }}
            {
                let id = id.clone();
                move || match data.get() {
                    Load::Loading => {
                        view! { <Loading label="Loading the challenge…" /> }.into_any()
                    }
                    Load::Failed(error) => {
                        view! {
                            <ErrorPanel
                                title="The challenge could not be loaded"
                                message=error.to_string()
                                on_retry=retry
                            />
                        }
                            .into_any()
                    }
                    Load::Ready(d) => {
                        let challenge_now = d.summary.latest.as_ref().and_then(|v| v.challenge.clone());
                        let archived = d.summary.feed == shared::api::FeedStatus::Archived;
                        view! {
                            <Summary summary=d.summary.clone() connection=d.connection.clone() />
                            <Owner id=id.clone() owner=d.owner.clone() traders=d.traders.clone() on_changed=changed />
                            {match challenge_now {
                                _ if archived => view! {
                                    <section class="panel notice" data-testid="admin-archived">
                                        <h2>"Archived"</h2>
                                        <p>"This challenge is kept as it stood, read-only: it is no longer tracked, and its rules, overrides and anchors cannot change. Its dashboard, trades, events and statement are still there, and exports include it. The audit log says who archived it and why."</p>
                                    </section>
                                }.into_any(),
                                Some(c) => view! { <Overrides id=id.clone() challenge=c on_changed=changed /> }.into_any(),
                                None => view! {
                                    <section class="panel notice" data-testid="admin-no-challenge">
                                        <h2>"No running challenge yet"</h2>
                                        <p>"The account may still be reading its history. Overrides become available once its challenge shows."</p>
                                    </section>
                                }.into_any(),
                            }}
                        }
                            .into_any()
                    }
                }
            }
            <AdminActions id=id.clone() challenge=challenge />
            {
                let id = id.clone();
                move || {
                    let archivable = data.with(|d| match d {
                        Load::Ready(d) => d.summary.feed != shared::api::FeedStatus::Archived,
                        _ => false,
                    });
                    archivable.then(|| view! { <Archive id=id.clone() on_changed=changed /> })
                }
            }
        </div>
    }
}

/// Archiving the challenge: a reason, a confirmation, then it is read-only for good.
#[component]
fn Archive(id: AccountId, on_changed: Callback<String>) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let ask = move |_| {
        if reason.get_untracked().trim().is_empty() {
            error.set(Some(
                "Say why it is archived first: the audit log keeps the reason.".to_owned(),
            ));
            return;
        }
        error.set(None);
        confirming.set(true);
    };
    let archive = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let id = id.clone();
        let why = reason.get_untracked();
        spawn_local(async move {
            let outcome = api::archive(&id, why.trim()).await;
            busy.try_set(false);
            confirming.try_set(false);
            match outcome {
                Ok(done) => {
                    on_changed.try_run(format!(
                        "Archived {}: it is read-only and no longer tracked.",
                        done.account
                    ));
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <section class="panel" data-testid="archive-panel">
            <h2>"Archive"</h2>
            <p class="subtle">
                "Instead of deleting a challenge, archive it: it stops being tracked and becomes read-only, and its dashboard, trades, events and statement stay available (and exported). This cannot be undone."
            </p>
            <label class="field">
                <span>"Reason"</span>
                <input
                    type="text"
                    maxlength="500"
                    data-testid="archive-reason"
                    placeholder="e.g. Failed on 2 March; kept for disputes"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))
                />
            </label>
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="form-error" role="alert" data-testid="archive-error">
                                {message}
                            </p>
                        }
                    })
            }}
            {move || {
                if confirming.get() {
                    view! {
                        <div class="confirm" role="group" data-testid="archive-confirm-box">
                            <span>"Archive for good? Tracking stops now."</span>
                            <button
                                type="button"
                                class="danger"
                                data-testid="archive-confirm"
                                disabled=move || busy.get()
                                on:click=archive.clone()
                            >
                                "Archive"
                            </button>
                            <button type="button" on:click=move |_| confirming.set(false)>
                                "Cancel"
                            </button>
                        </div>
                    }
                        .into_any()
                } else {
                    view! {
                        <button type="button" data-testid="archive" on:click=ask>
                            "Archive this challenge…"
                        </button>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

fn status_word(status: ChallengeStatus) -> &'static str {
    match status {
        ChallengeStatus::Active => "Active",
        ChallengeStatus::Passed => "Passed",
        ChallengeStatus::Failed => "Failed",
        ChallengeStatus::Paused => "Paused",
    }
}

/// The access token's standing, for a cTrader connection: what to show and whether it needs
/// the admin's attention.
fn token_standing(connection: &ConnectionStatus) -> Option<(String, bool)> {
    if connection.platform.as_deref() != Some("ctrader") {
        return None;
    }
    Some(
        match (connection.refresh_token, connection.token_expires_at) {
            (true, Some(expires)) => (
                format!(
                    "Renewed automatically · expires {}{}",
                    format::date_time(expires),
                    connection
                        .token_refreshed_at
                        .map(|at| format!(" · last renewed {}", format::date_time(at)))
                        .unwrap_or_default()
                ),
                false,
            ),
            (true, None) => (
                "Renewed automatically before it expires (not renewed yet)".to_owned(),
                false,
            ),
            (false, _) => (
                "Cannot be renewed (no refresh token): the account stops when the token's 30 days \
             run out."
                    .to_owned(),
                true,
            ),
        },
    )
}

#[component]
fn Summary(summary: AccountSummary, connection: ConnectionStatus) -> impl IntoView {
    let token = token_standing(&connection);
    let challenge = summary.latest.as_ref().and_then(|v| v.challenge.clone());
    let status = challenge.as_ref().map(|c| c.status);
    let breached: Vec<String> = challenge
        .as_ref()
        .map(|c| {
            c.rules
                .iter()
                .filter(|r| r.status == RuleStatus::Breached)
                .map(|r| r.id.clone())
                .collect()
        })
        .unwrap_or_default();
    let money = |pick: fn(&shared::api::AccountView) -> rust_decimal::Decimal| {
        summary
            .latest
            .as_ref()
            .map_or_else(|| "–".to_owned(), |v| format::money(pick(v)))
    };
    let currency = summary.currency.clone().unwrap_or_default();
    let stopped = matches!(
        status,
        Some(ChallengeStatus::Failed | ChallengeStatus::Paused)
    );
    let passed = status == Some(ChallengeStatus::Passed);
    view! {
        <section class="panel admin-summary" aria-labelledby="summary-title">
            <h2 id="summary-title">{summary.name.clone()}</h2>
            <dl class="facts">
                <dt>"Status"</dt>
                <dd>
                    <span
                        class="badge"
                        class:badge-breached=stopped
                        class:badge-passed=passed
                        data-testid="admin-challenge-status"
                    >
                        {status.map_or("No challenge", status_word)}
                    </span>
                </dd>
                <dt>"Rules"</dt>
                <dd>
                    {challenge
                        .as_ref()
                        .map(|c| c.title.clone().unwrap_or_else(|| c.preset.clone()))
                        .unwrap_or_else(|| "–".to_owned())}
                </dd>
                <dt>"Breached rules"</dt>
                <dd data-testid="admin-challenge-breached">
                    {if breached.is_empty() { "None".to_owned() } else { breached.join(", ") }}
                </dd>
                <dt>"Balance"</dt>
                <dd>{format!("{} {currency}", money(|v| v.balance))}</dd>
                <dt>"Equity"</dt>
                <dd>{format!("{} {currency}", money(|v| v.equity))}</dd>
                {token
                    .map(|(text, warn)| {
                        view! {
                            <dt>"Access token"</dt>
                            <dd class:warning-text=warn data-testid="admin-challenge-token">
                                {text}
                            </dd>
                        }
                    })}
            </dl>
        </section>
    }
}

#[component]
fn Owner(
    id: AccountId,
    owner: Option<UserSummary>,
    traders: Vec<UserSummary>,
    on_changed: Callback<String>,
) -> impl IntoView {
    let chosen = RwSignal::new(String::new());
    let confirm_unassign = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let has_owner = owner.is_some();
    let owner_name = owner.as_ref().map_or_else(
        || "No owner (only admins see it)".to_owned(),
        |u| u.username.clone(),
    );
    let options = traders
        .iter()
        .map(|u| view! { <option value=u.id.to_string()>{u.username.clone()}</option> })
        .collect_view();
    let assign = {
        let id = id.clone();
        move |_| {
            let Some(user) = chosen.get_untracked().parse::<i64>().ok().map(UserId) else {
                error.set(Some("Choose a trader first.".to_owned()));
                return;
            };
            let id = id.clone();
            busy.set(true);
            error.set(None);
            spawn_local(async move {
                let outcome = api::assign_account(&id, user).await;
                busy.try_set(false);
                match outcome {
                    Ok(r) => {
                        on_changed.try_run(format!(
                            "Assigned to {}.",
                            r.owner.map(|u| u.username).unwrap_or_default()
                        ));
                    }
                    Err(e) => {
                        error.try_set(Some(e.to_string()));
                    }
                }
            });
        }
    };
    let unassign = move |_| {
        let id = id.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let outcome = api::unassign_account(&id).await;
            busy.try_set(false);
            confirm_unassign.try_set(false);
            match outcome {
                Ok(_) => {
                    on_changed.try_run("The challenge has no owner now.".to_owned());
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <section class="panel admin-owner" aria-labelledby="owner-title">
            <h2 id="owner-title">"Owner"</h2>
            <p data-testid="admin-challenge-owner">{owner_name}</p>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Assign to"</span>
                    <select
                        data-testid="owner-trader"
                        on:change=move |ev| chosen.set(event_target_value(&ev))
                    >
                        <option value="">"Choose a trader…"</option>
                        {options}
                    </select>
                </label>
                <button
                    class="button"
                    type="button"
                    data-testid="owner-assign"
                    disabled=busy
                    on:click=assign
                >
                    "Assign"
                </button>
                {has_owner
                    .then(|| {
                        view! {
                            <button
                                class="button button-quiet"
                                type="button"
                                data-testid="owner-unassign"
                                on:click=move |_| confirm_unassign.set(true)
                            >
                                "Unassign"
                            </button>
                        }
                    })}
            </div>
            {move || {
                confirm_unassign
                    .get()
                    .then(|| {
                        let unassign = unassign.clone();
                        view! {
                            <div class="confirm" role="group">
                                <p>"Take the challenge away from its trader? They will no longer see it."</p>
                                <button
                                    class="button button-small button-danger"
                                    type="button"
                                    data-testid="owner-unassign-confirm"
                                    disabled=busy
                                    on:click=unassign
                                >
                                    "Unassign"
                                </button>
                                <button
                                    class="button button-small button-quiet"
                                    type="button"
                                    on:click=move |_| confirm_unassign.set(false)
                                >
                                    "Cancel"
                                </button>
                            </div>
                        }
                    })
            }}
            {move || {
                error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })
            }}
        </section>
    }
}

/// An override waiting for confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ClearBreach,
    Unpause,
    CorrectAnchor,
}

#[component]
fn Overrides(
    id: AccountId,
    challenge: ChallengeView,
    on_changed: Callback<String>,
) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let anchor = RwSignal::new(AnchorField::StartOfDayBalance);
    let value = RwSignal::new(String::new());
    let pending = RwSignal::new(None::<Action>);
    let busy = RwSignal::new(false);
    // The idempotency key of the action last sent, with what it asked, kept while its outcome
    // is unknown (no answer, or "try again"): sending the same again reuses it, so the server
    // carries it out at most once; a new action (or new inputs) gets a new key.
    let sent = StoredValue::new(None::<(String, String)>);
    // The refusal, and whether it is about the reason (shown next to it) or the anchor value.
    let error = RwSignal::new(None::<(&'static str, String)>);
    let breached = challenge
        .rules
        .iter()
        .any(|r| r.status == RuleStatus::Breached);
    let paused = challenge.status == ChallengeStatus::Paused;
    let (cannot_clear, cannot_unpause) = (!breached, !paused);
    let clear_title = if breached { "" } else { "No rule is breached." };
    let unpause_title = if paused {
        ""
    } else {
        "The challenge is not paused."
    };

    let ask = move |action: Action| {
        if reason.get_untracked().trim().is_empty() {
            error.set(Some((
                "reason",
                "Give a reason first: the trader sees it and the audit log keeps it.".to_owned(),
            )));
            return;
        }
        if action == Action::CorrectAnchor
            && value
                .get_untracked()
                .trim()
                .parse::<rust_decimal::Decimal>()
                .is_err()
        {
            error.set(Some((
                "value",
                "Enter the anchor's corrected value as a number, e.g. 100000.".to_owned(),
            )));
            return;
        }
        error.set(None);
        pending.set(Some(action));
    };
    let run = move |action: Action| {
        if busy.get_untracked() {
            return;
        }
        let id = id.clone();
        let why = reason.get_untracked();
        let field = anchor.get_untracked();
        let amount = value.get_untracked();
        busy.set(true);
        error.set(None);
        let asked = format!("{action:?}|{field:?}|{}|{why}", amount.trim());
        let key = match sent.get_value() {
            Some((previous, key)) if previous == asked => key,
            _ => api::idempotency_key(),
        };
        sent.set_value(Some((asked.clone(), key.clone())));
        spawn_local(async move {
            let outcome = match action {
                Action::ClearBreach => api::clear_breach(&id, &why, &key).await.map(|r| {
                    format!(
                        "Cleared the breach of {}: the challenge is active.",
                        r.rules.join(", ")
                    )
                }),
                Action::Unpause => api::unpause(&id, &why, &key)
                    .await
                    .map(|_| "Ended the pause: the challenge is active.".to_owned()),
                Action::CorrectAnchor => {
                    let request = shared::api::AnchorCorrectionRequest {
                        anchor: field,
                        value: amount.trim().parse().unwrap_or_default(),
                        reason: why,
                    };
                    api::correct_anchor(&id, &request, &key)
                        .await
                        .map(|_| format!("Corrected {}.", field.name().replace('_', " ")))
                }
            };
            busy.try_set(false);
            pending.try_set(None);
            // Only an answer that says what happened ends the key's use.
            let unknown = matches!(
                &outcome,
                Err(api::ApiError::Network | api::ApiError::Server { status: 500.., .. })
            );
            if !unknown {
                sent.try_set_value(None);
            }
            match outcome {
                Ok(message) => {
                    reason.try_set(String::new());
                    value.try_set(String::new());
                    on_changed.try_run(message);
                }
                Err(e) => {
                    let field = if e.to_string().to_lowercase().contains("why") {
                        "reason"
                    } else {
                        "form"
                    };
                    error.try_set(Some((field, e.to_string())));
                }
            }
        });
    };
    let error_for = move |field: &'static str| {
        move || {
            error.get().and_then(|(f, message)| {
                (f == field).then(|| {
                    view! {
                        <p class="form-error" role="alert" data-testid=format!("override-{field}-error")>
                            {message}
                        </p>
                    }
                })
            })
        }
    };
    let anchor_options = AnchorField::ALL
        .into_iter()
        .map(|field| {
            let name = field.name();
            view! {
                <option value=name selected=move || anchor.get() == field>
                    {name.replace('_', " ")}
                </option>
            }
        })
        .collect_view();
    let confirm_text = move || match pending.get() {
        Some(Action::ClearBreach) => {
            "Clear every breach? The challenge becomes active and the rules measure again from \
             the next update; the breach stays in the record."
        }
        Some(Action::Unpause) => "End the pause now, before the next daily reset?",
        Some(Action::CorrectAnchor) => {
            "Correct the anchor? Every limit hanging from it moves at once."
        }
        None => "",
    };

    view! {
        <section class="panel admin-overrides" aria-labelledby="overrides-title">
            <h2 id="overrides-title">"Overrides"</h2>
            <p class="subtle">
                "Each override needs a reason. The trader sees it on their dashboard, and the "
                "audit log keeps it."
            </p>
            <label class="field">
                <span class="field-label">"Reason"</span>
                <textarea
                    rows="2"
                    maxlength="500"
                    data-testid="override-reason"
                    prop:value=reason
                    on:input=move |ev| reason.set(event_target_value(&ev))
                ></textarea>
                {error_for("reason")}
            </label>
            <div class="override-actions">
                <button
                    class="button button-danger"
                    type="button"
                    data-testid="override-clear-breach"
                    disabled=cannot_clear
                    title=clear_title
                    on:click=move |_| ask(Action::ClearBreach)
                >
                    "Clear breach"
                </button>
                <button
                    class="button"
                    type="button"
                    data-testid="override-unpause"
                    disabled=cannot_unpause
                    title=unpause_title
                    on:click=move |_| ask(Action::Unpause)
                >
                    "Unpause"
                </button>
            </div>
            <h3>"Correct an anchor"</h3>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Anchor"</span>
                    <select
                        data-testid="override-anchor"
                        on:change=move |ev| {
                            let name = event_target_value(&ev);
                            if let Some(field) = AnchorField::ALL
                                .into_iter()
                                .find(|f| f.name() == name)
                            {
                                anchor.set(field);
                            }
                        }
                    >
                        {anchor_options}
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Corrected value"</span>
                    <input
                        type="text"
                        inputmode="decimal"
                        data-testid="override-anchor-value"
                        prop:value=value
                        on:input=move |ev| value.set(event_target_value(&ev))
                    />
                    {error_for("value")}
                </label>
                <button
                    class="button"
                    type="button"
                    data-testid="override-correct-anchor"
                    on:click=move |_| ask(Action::CorrectAnchor)
                >
                    "Correct anchor"
                </button>
            </div>
            {move || {
                pending
                    .get()
                    .map(|action| {
                        let run = run.clone();
                        view! {
                            <div class="confirm" role="group" data-testid="override-confirm-box">
                                <p>{confirm_text}</p>
                                <button
                                    class="button button-small button-danger"
                                    type="button"
                                    data-testid="override-confirm"
                                    disabled=busy
                                    on:click=move |_| run(action)
                                >
                                    "Confirm"
                                </button>
                                <button
                                    class="button button-small button-quiet"
                                    type="button"
                                    on:click=move |_| pending.set(None)
                                >
                                    "Cancel"
                                </button>
                            </div>
                        }
                    })
            }}
            {error_for("form")}
        </section>
    }
}
