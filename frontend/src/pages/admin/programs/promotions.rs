//! The Programs page's promotions: each passed phase on its way to the next, with what an
//! admin does about it (approve or reject one awaiting approval, connect the next phase's new
//! account to one awaiting it). The list refreshes itself while the page is open; a row whose
//! promotion did not change keeps what is being typed into it.

use crate::api;
use crate::components::{ErrorPanel, Load, Loading};
use crate::format;
use crate::pages::admin::paths;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{
    ConnectionRequest, CreateAccountRequest, PromotionDecision, PromotionState, PromotionView,
};
use shared::domain::AccountId;

/// How often the list is read again while the page is open.
const REFRESH_MS: u32 = 10_000;

/// What the section shows; the table itself is built once and its rows follow the list.
#[derive(Clone, PartialEq)]
enum Shown {
    Loading,
    Failed(String),
    Empty,
    Rows,
}

/// Promotions: above the programs list.
#[component]
pub(super) fn Promotions() -> impl IntoView {
    let promotions = RwSignal::new(Load::<Vec<PromotionView>>::Loading);
    let in_flight = StoredValue::new(false);
    // Bumped by every action: a read begun before it is older than the action's answer.
    let generation = StoredValue::new(0_u64);
    let read = move || {
        let Some(started) = generation.try_get_value() else {
            return;
        };
        in_flight.set_value(true);
        spawn_local(async move {
            let result = api::promotions().await.map(|r| r.promotions);
            // A refresh that fails leaves the list shown: the next one may do better.
            let keep = result.is_err()
                && promotions
                    .try_with_untracked(|p| matches!(p, Load::Ready(_)))
                    .unwrap_or(true);
            if !keep && generation.try_get_value() == Some(started) {
                promotions.try_set(result.into());
            }
            in_flight.try_set_value(false);
        });
    };
    // The timer's read: one at a time, none once the page is gone.
    let fetch = move || {
        if !in_flight.try_get_value().unwrap_or(true) {
            read();
        }
    };
    fetch();
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        REFRESH_MS, fetch,
    )));
    on_cleanup(move || ticker.dispose());
    // After an action: its answer at once, then the whole list again.
    let reload = Callback::new(move |changed: PromotionView| {
        generation.update_value(|g| *g += 1);
        promotions.update(|p| {
            if let Load::Ready(list) = p
                && let Some(row) = list
                    .iter_mut()
                    .find(|r| r.account == changed.account && r.from_phase == changed.from_phase)
            {
                *row = changed;
            }
        });
        read();
    });
    let retry = Callback::new(move |()| {
        promotions.set(Load::Loading);
        fetch();
    });

    let shown = Memo::new(move |_| {
        promotions.with(|p| match p {
            Load::Loading => Shown::Loading,
            Load::Failed(error) => Shown::Failed(error.to_string()),
            Load::Ready(list) if list.is_empty() => Shown::Empty,
            Load::Ready(_) => Shown::Rows,
        })
    });
    let rows = move || {
        promotions.with(|p| match p {
            Load::Ready(list) => list.clone(),
            _ => Vec::new(),
        })
    };

    view! {
        <section class="admin-promotions" data-testid="promotions" aria-labelledby="promotions-title">
            <h2 id="promotions-title">"Promotions"</h2>
            {move || match shown.get() {
                Shown::Loading => view! { <Loading label="Loading the promotions…" /> }.into_any(),
                Shown::Failed(message) => {
                    view! {
                        <ErrorPanel
                            title="The promotions could not be loaded"
                            message
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Shown::Empty => {
                    view! {
                        <p class="panel notice subtle" data-testid="promotions-empty">
                            "No promotions yet: when a challenge on a program passes a phase, \
                             its move to the next phase shows here."
                        </p>
                    }
                        .into_any()
                }
                Shown::Rows => {
                    view! {
                        <div class="panel table-panel">
                            <table class="admin-table promotions-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Account"</th>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Owner"</th>
                                        <th scope="col">"Program"</th>
                                        <th scope="col">"Phase"</th>
                                        <th scope="col">"Passed"</th>
                                        <th scope="col">"State"</th>
                                        <th scope="col">"Decided"</th>
                                        <th scope="col">"Actions"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    <For
                                        each=rows
                                        key=row_key
                                        children=move |promotion| {
                                            view! { <PromotionRow promotion on_changed=reload /> }
                                        }
                                    />
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// A row is rebuilt only when its promotion moved on.
fn row_key(p: &PromotionView) -> String {
    format!(
        "{}|{}|{}|{:?}|{:?}",
        p.account,
        p.from_phase,
        state_key(p.state),
        p.next_account,
        p.decided_at
    )
}

/// The state as the API spells it (`data-state`).
fn state_key(state: PromotionState) -> &'static str {
    match state {
        PromotionState::AwaitingApproval => "awaiting_approval",
        PromotionState::Approved => "approved",
        PromotionState::AwaitingAccount => "awaiting_account",
        PromotionState::Done => "done",
        PromotionState::Rejected => "rejected",
    }
}

/// The state in words, and its badge's class.
fn state_words(state: PromotionState) -> (&'static str, &'static str) {
    match state {
        PromotionState::AwaitingApproval => ("Awaiting approval", "badge-stale"),
        PromotionState::Approved => ("Approved", "badge-connecting"),
        PromotionState::AwaitingAccount => ("Awaiting a new account", "badge-stale"),
        PromotionState::Done => ("Done", "badge-passed"),
        PromotionState::Rejected => ("Rejected", "badge-breached"),
    }
}

#[component]
fn PromotionRow(promotion: PromotionView, on_changed: Callback<PromotionView>) -> impl IntoView {
    let PromotionView {
        account,
        name,
        owner,
        program,
        program_name,
        from_phase,
        to_phase,
        passed_at,
        same_account,
        approval,
        state,
        next_account,
        decided_by,
        decided_at,
    } = promotion;
    let (words, badge) = state_words(state);
    let next = next_account.map(|next| {
        let href = paths::challenge(&AccountId::from(next.as_str()));
        view! {
            <br />
            <a href=href data-testid="promotion-next-account">{next}</a>
        }
    });
    let how = match (same_account, approval) {
        (true, true) => "same account, after approval",
        (true, false) => "same account",
        (false, true) => "new account, after approval",
        (false, false) => "new account",
    };
    let decided = match (decided_by, decided_at) {
        (None, None) => view! { <span class="subtle">"–"</span> }.into_any(),
        (by, at) => view! {
            {by}
            <br />
            <span class="subtle">{at.map(format::date_time)}</span>
        }
        .into_any(),
    };
    let actions = match state {
        PromotionState::AwaitingApproval => {
            view! { <Decide account=account.clone() on_changed /> }.into_any()
        }
        PromotionState::AwaitingAccount => view! {
            <ConnectForm account=account.clone() name=name.clone() to_phase=to_phase.clone() on_changed />
        }
        .into_any(),
        _ => view! { <span class="subtle">"–"</span> }.into_any(),
    };
    view! {
        <tr
            class="promotion-row"
            data-testid="promotion-row"
            data-account=account.clone()
            data-state=state_key(state)
        >
            <th scope="row" data-label="Account">
                <a href=paths::challenge(&AccountId::from(account.as_str()))>{account.clone()}</a>
            </th>
            <td data-label="Name">{name}</td>
            <td data-label="Owner">
                {owner.unwrap_or_else(|| "–".to_owned())}
            </td>
            <td data-label="Program">
                <a href=paths::program(&program)>{program_name}</a>
            </td>
            <td data-label="Phase">
                {format!("{from_phase} → {to_phase}")}
                <br />
                <span class="subtle">{how}</span>
            </td>
            <td data-label="Passed">{format::date_time(passed_at)}</td>
            <td data-label="State">
                <span class=format!("badge {badge}") data-testid="promotion-state">{words}</span>
                {next}
            </td>
            <td data-label="Decided">{decided}</td>
            <td data-label="Actions" class="promotion-actions">{actions}</td>
        </tr>
    }
}

/// Approve, or reject with a reason.
#[component]
fn Decide(account: String, on_changed: Callback<PromotionView>) -> impl IntoView {
    let account = StoredValue::new(account);
    let busy = RwSignal::new(false);
    let rejecting = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let send = move |action: &'static str| {
        if busy.get_untracked() {
            return;
        }
        let why = reason.get_untracked().trim().to_owned();
        if action == "reject" && why.is_empty() {
            error.set(Some(
                "Say why the promotion is rejected: the trader's record keeps it.".to_owned(),
            ));
            return;
        }
        let decision = PromotionDecision {
            action: action.to_owned(),
            reason: (action == "reject").then_some(why),
            account: None,
        };
        busy.set(true);
        error.set(None);
        let account = account.get_value();
        spawn_local(async move {
            match api::decide_promotion(&account, &decision).await {
                Ok(changed) => {
                    on_changed.try_run(changed);
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let confirm = move |event: SubmitEvent| {
        event.prevent_default();
        send("reject");
    };

    view! {
        {move || {
            if !rejecting.get() {
                return view! {
                    <button
                        class="button button-small"
                        type="button"
                        data-testid="promotion-approve"
                        disabled=busy
                        on:click=move |_| send("approve")
                    >
                        {move || if busy.get() { "Approving…" } else { "Approve" }}
                    </button>
                    " "
                    <button
                        class="button button-small button-quiet button-danger"
                        type="button"
                        data-testid="promotion-reject"
                        disabled=busy
                        on:click=move |_| {
                            error.set(None);
                            rejecting.set(true);
                        }
                    >
                        "Reject"
                    </button>
                }
                    .into_any();
            }
            view! {
                <form class="confirm promotion-reject-box" on:submit=confirm>
                    <label class="field">
                        <span class="field-label">"Why (the trader's record keeps it)"</span>
                        <input
                            type="text"
                            maxlength="500"
                            autocomplete="off"
                            data-testid="promotion-reject-reason"
                            prop:value=reason
                            on:input=move |ev| reason.set(event_target_value(&ev))
                            disabled=busy
                        />
                    </label>
                    <button
                        class="button button-small button-danger"
                        type="submit"
                        data-testid="promotion-reject-confirm"
                        disabled=busy
                    >
                        {move || if busy.get() { "Rejecting…" } else { "Reject promotion" }}
                    </button>
                    " "
                    <button
                        class="button button-small button-quiet"
                        type="button"
                        on:click=move |_| {
                            rejecting.set(false);
                            error.set(None);
                        }
                    >
                        "Cancel"
                    </button>
                </form>
            }
                .into_any()
        }}
        <Refusal error />
    }
}

/// The server's sentence when an action was refused.
#[component]
fn Refusal(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|message| {
            view! {
                <p class="form-error" role="alert" data-testid="promotion-error">
                    {message}
                </p>
            }
        })
    }
}

/// A suggested id for the next phase's account: the passed one's with the phase's name.
fn next_id(account: &str, to_phase: &str) -> String {
    let phase: String = to_phase
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let words: Vec<&str> = phase.split('-').filter(|w| !w.is_empty()).collect();
    let mut id = format!("{account}-{}", words.join("-"));
    id.truncate(64);
    id.trim_end_matches('-').to_owned()
}

/// The next phase's new account, on MetaApi; its program and phase are the promotion's.
#[component]
fn ConnectForm(
    account: String,
    name: String,
    to_phase: String,
    on_changed: Callback<PromotionView>,
) -> impl IntoView {
    let id = RwSignal::new(next_id(&account, &to_phase));
    let label = RwSignal::new(format!("{name} · {to_phase}"));
    let account = StoredValue::new(account);
    let metaapi = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let base_url = RwSignal::new(String::new());
    let balance = RwSignal::new(String::new());
    let currency = RwSignal::new("USD".to_owned());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let base_url = base_url.get_untracked().trim().to_owned();
        let request = CreateAccountRequest {
            id: id.get_untracked().trim().to_owned(),
            name: label.get_untracked().trim().to_owned(),
            connection: ConnectionRequest::Metaapi {
                account_id: metaapi.get_untracked().trim().to_owned(),
                token: token.get_untracked().trim().to_owned(),
                base_url: (!base_url.is_empty()).then_some(base_url),
            },
            preset: String::new(),
            program: None,
            phase: None,
            initial_balance: balance.get_untracked().trim().to_owned(),
            currency: currency.get_untracked().trim().to_uppercase(),
            owner: None,
            transport: None,
        };
        let decision = PromotionDecision {
            action: "connect".to_owned(),
            reason: None,
            account: Some(request),
        };
        busy.set(true);
        error.set(None);
        let account = account.get_value();
        spawn_local(async move {
            match api::decide_promotion(&account, &decision).await {
                Ok(changed) => {
                    on_changed.try_run(changed);
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let input = move |value: RwSignal<String>, label: &'static str, testid: &'static str| {
        view! {
            <input
                type="text"
                autocomplete="off"
                spellcheck="false"
                aria-label=label
                placeholder=label
                data-testid=testid
                prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
                disabled=busy
            />
        }
    };

    view! {
        <form class="promotion-connect" data-testid="promotion-connect-form" on:submit=submit>
            <p class="subtle promotion-connect-note">
                "Connect the next phase's account on the "
                <a href=paths::CREATE>"New challenge"</a>
                " page, or here:"
            </p>
            {input(id, "Id", "promotion-connect-id")}
            {input(label, "Name", "promotion-connect-name")}
            {input(metaapi, "MetaApi account id", "promotion-connect-account")}
            <input
                type="password"
                autocomplete="off"
                aria-label="MetaApi token"
                placeholder="MetaApi token"
                data-testid="promotion-connect-token"
                prop:value=token
                on:input=move |ev| token.set(event_target_value(&ev))
                disabled=busy
            />
            {input(base_url, "Base URL (optional)", "promotion-connect-base-url")}
            {input(balance, "Initial balance", "promotion-connect-balance")}
            {input(currency, "Currency", "promotion-connect-currency")}
            <button
                class="button button-small"
                type="submit"
                data-testid="promotion-connect-submit"
                disabled=busy
            >
                {move || if busy.get() { "Connecting…" } else { "Connect account" }}
            </button>
            <Refusal error />
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_key_is_the_wire_name() {
        for state in [
            PromotionState::AwaitingApproval,
            PromotionState::Approved,
            PromotionState::AwaitingAccount,
            PromotionState::Done,
            PromotionState::Rejected,
        ] {
            assert_eq!(
                serde_json::to_value(state).expect("state"),
                serde_json::Value::from(state_key(state))
            );
        }
    }

    #[test]
    fn the_next_id_is_the_account_with_the_phase() {
        assert_eq!(next_id("ftmo-1", "Phase 2"), "ftmo-1-phase-2");
        assert_eq!(next_id("ftmo-1", " Funded!"), "ftmo-1-funded");
        assert_eq!(next_id(&"a".repeat(70), "Phase 2").len(), 64);
    }
}
