//! `/admin/api-tokens`: the tokens that open Riskdeck's copy of MetaApi's risk management API
//! (`/users/current`) to an application, each for the accounts chosen. Create one (its secret is
//! shown once: the server keeps only a hash), see who created it and when it was last used, and
//! revoke it (it opens nothing from then on).

use super::super::Load;
use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Loading};
use crate::format;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{AccountSummary, ApiTokenSummary, CreateApiTokenRequest, CreatedApiToken};

/// The account names a row shows before it sums up the rest ("and 4 more").
const ACCOUNTS_SHOWN: usize = 3;

/// API tokens (admin console).
#[component]
pub fn AdminApiTokensPage() -> impl IntoView {
    crate::pages::set_title("API tokens · Admin · Riskdeck");
    let tokens = RwSignal::new(Load::<Vec<ApiTokenSummary>>::Loading);
    // A sentence saying what the last change did.
    let done = RwSignal::new(None::<String>);
    // The token just created, with its secret: shown until the admin dismisses it or leaves.
    let created = RwSignal::new(None::<CreatedApiToken>);

    let load = move |quiet: bool| {
        if !quiet {
            tokens.set(Load::Loading);
        }
        spawn_local(async move {
            tokens.try_set(api::api_tokens().await.map(|r| r.tokens).into());
        });
    };
    load(false);
    let on_created = Callback::new(move |token: CreatedApiToken| {
        done.set(None);
        created.set(Some(token));
        load(true);
    });
    let on_revoked = Callback::new(move |message: String| {
        done.set(Some(message));
        load(true);
    });
    let retry = Callback::new(move |()| load(false));
    let about = format!(
        "Tokens for applications written for MetaApi's risk management API. Each one opens {} \
         for the accounts chosen, sent as the auth-token header. Revoking a token shuts its \
         application out at once.",
        api::risk_api_base()
    );

    // Cards, as on the challenges overview: what just happened, the form, then the tokens.
    view! {
        <div class="page-head">
            <div>
                <h1>"API tokens"</h1>
                <p class="subtle">{about}</p>
            </div>
        </div>
        <section class="admin-api-tokens" id="api-tokens" data-testid="api-tokens">
            {move || {
                done.get()
                    .map(|message| {
                        view! {
                            <p class="form-done" role="status" data-testid="api-tokens-done">
                                {message}
                            </p>
                        }
                    })
            }}
            {move || {
                created
                    .get()
                    .map(|token| {
                        view! {
                            <CreatedSecret
                                token
                                on_dismiss=Callback::new(move |()| created.set(None))
                            />
                        }
                    })
            }}
            <NewTokenForm on_created />
            {move || match tokens.get() {
                Load::Loading => view! { <Loading label="Loading the API tokens…" /> }.into_any(),
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The API tokens could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(list) if list.is_empty() => {
                    view! {
                        <section class="panel notice" data-testid="api-tokens-empty">
                            <h2>"No API tokens yet."</h2>
                            <p>
                                "A token lets an application written for MetaApi's risk \
                                 management API read and manage trackers on the accounts you \
                                 choose."
                            </p>
                        </section>
                    }
                        .into_any()
                }
                Load::Ready(list) => view! { <TokensTable tokens=list on_revoked /> }.into_any(),
            }}
        </section>
    }
}

/// The secret of the token just created, shown this once, ready to be copied.
#[component]
fn CreatedSecret(token: CreatedApiToken, on_dismiss: Callback<()>) -> impl IntoView {
    let field = NodeRef::<leptos::html::Input>::new();
    // The whole secret selected, for the admin to copy: on focus, and from the button.
    let select = move || {
        if let Some(input) = field.get_untracked() {
            let _ = input.focus();
            input.select();
        }
    };
    let selected = RwSignal::new(false);
    let example = token.api_token.accounts.first().map(|account| {
        format!(
            "GET {}/accounts/{}/trackers",
            api::risk_api_base(),
            api::encode(account)
        )
    });
    view! {
        <section
            class="admin-form token-secret-box"
            aria-labelledby="token-created-title"
            data-testid="token-created"
        >
            <h2 id="token-created-title">
                {format!("Token “{}” created", token.api_token.name)}
            </h2>
            <div class="carry-warning" role="status">
                "Copy it now: it is not shown again. Send it as the auth-token header."
            </div>
            <div class="form-row">
                // In the numbers' typeface, where 0 and O, 1 and l differ.
                <label class="field num">
                    <input
                        id="token-secret"
                        class="token-secret"
                        type="text"
                        readonly
                        spellcheck="false"
                        autocomplete="off"
                        aria-label="The new token"
                        data-testid="token-secret"
                        node_ref=field
                        prop:value=token.token
                        on:focus=move |_| select()
                        on:click=move |_| select()
                    />
                </label>
                <button
                    class="button"
                    type="button"
                    data-testid="token-select"
                    on:click=move |_| {
                        select();
                        selected.set(true);
                    }
                >
                    "Select"
                </button>
            </div>
            <p class="subtle">
                {move || {
                    if selected.get() {
                        "Selected: press Ctrl+C (⌘C on a Mac) to copy it. "
                    } else {
                        ""
                    }
                }}
                {format!("The API's base URL is {}", api::risk_api_base())}
                {example.map(|example| format!("; for example {example}"))}
                "."
            </p>
            <button
                class="button button-quiet"
                type="button"
                data-testid="token-dismiss"
                on:click=move |_| on_dismiss.run(())
            >
                "I have copied it"
            </button>
        </section>
    }
}

/// Which field a server's refusal is about (`name: ...`, `accounts: ...`), and its advice
/// without the field's name.
fn refusal(error: &ApiError) -> (&'static str, String) {
    let message = error.to_string();
    for field in ["name", "accounts"] {
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

#[component]
fn NewTokenForm(on_created: Callback<CreatedApiToken>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    // The ids of the accounts ticked.
    let chosen = RwSignal::new(Vec::<String>::new());
    let accounts = RwSignal::new(Load::<Vec<AccountSummary>>::Loading);
    let busy = RwSignal::new(false);
    // The refusal and the field it is about.
    let error = RwSignal::new(None::<(&'static str, String)>);
    let fetch_accounts = move || {
        accounts.set(Load::Loading);
        spawn_local(async move {
            accounts.try_set(api::accounts().await.map(|r| r.accounts).into());
        });
    };
    fetch_accounts();
    let error_for = move |field: &'static str| {
        move || {
            error.get().and_then(|(f, message)| {
                (f == field).then(|| {
                    view! {
                        <p
                            class="form-error"
                            role="alert"
                            data-testid=format!("token-{field}-error")
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
        // In the order the accounts are listed.
        let ticked = chosen.get_untracked();
        let in_order = accounts.with_untracked(|a| match a {
            Load::Ready(list) => list
                .iter()
                .map(|a| a.id.to_string())
                .filter(|id| ticked.contains(id))
                .collect(),
            _ => ticked.clone(),
        });
        let request = CreateApiTokenRequest {
            name: name.get_untracked().trim().to_owned(),
            accounts: in_order,
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::create_api_token(&request).await {
                Ok(created) => {
                    name.try_set(String::new());
                    chosen.try_set(Vec::new());
                    on_created.try_run(created);
                }
                Err(failure) => {
                    error.try_set(Some(refusal(&failure)));
                }
            }
            busy.try_set(false);
        });
    };

    let choices = move || match accounts.get() {
        Load::Loading => view! { <Loading label="Loading the accounts…" /> }.into_any(),
        Load::Failed(failure) => view! {
            <p class="form-error" role="alert" data-testid="token-accounts-failed">
                {format!("The accounts could not be loaded. {failure} ")}
                <button
                    class="link-button"
                    type="button"
                    on:click=move |_| fetch_accounts()
                >
                    "Try again"
                </button>
            </p>
        }
        .into_any(),
        Load::Ready(list) if list.is_empty() => view! {
            <p class="subtle" data-testid="token-no-accounts">
                "There are no accounts yet: a token needs at least one."
            </p>
        }
        .into_any(),
        Load::Ready(list) => view! { <AccountChoices list chosen busy /> }.into_any(),
    };

    view! {
        <form class="admin-form token-create" on:submit=submit aria-labelledby="token-create-title">
            <h2 id="token-create-title">"New token"</h2>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Name (what it is for)"</span>
                    <input
                        id="new-token-name"
                        type="text"
                        maxlength="100"
                        autocomplete="off"
                        placeholder="e.g. Risk bot on the VPS"
                        data-testid="token-name"
                        aria-invalid=invalid("name")
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                        disabled=busy
                    />
                    {error_for("name")}
                </label>
            </div>
            <div
                class="form-row token-accounts"
                role="group"
                aria-labelledby="token-accounts-label"
                aria-invalid=invalid("accounts")
            >
                <div class="field">
                    <span class="field-label" id="token-accounts-label">
                        "Accounts it may see"
                    </span>
                    {choices}
                    {error_for("accounts")}
                </div>
            </div>
            {error_for("form")}
            <button
                id="create-token"
                class="button"
                type="submit"
                data-testid="token-create"
                disabled=busy
            >
                {move || if busy.get() { "Creating…" } else { "Create token" }}
            </button>
        </form>
    }
}

/// A checkbox per account, and one for them all.
#[component]
fn AccountChoices(
    list: Vec<AccountSummary>,
    chosen: RwSignal<Vec<String>>,
    busy: RwSignal<bool>,
) -> impl IntoView {
    let ids: Vec<String> = list.iter().map(|a| a.id.to_string()).collect();
    let total = ids.len();
    let all_chosen = move || chosen.with(|c| ids.iter().all(|id| c.contains(id)));
    let toggle_all = {
        let ids: Vec<String> = list.iter().map(|a| a.id.to_string()).collect();
        move |ev: leptos::ev::Event| {
            let on = event_target_checked(&ev);
            chosen.set(if on { ids.clone() } else { Vec::new() });
        }
    };
    let boxes = list
        .into_iter()
        .map(|account| {
            let id = account.id.to_string();
            let ticked = {
                let id = id.clone();
                move || chosen.with(|c| c.contains(&id))
            };
            let toggle = {
                let id = id.clone();
                move |ev: leptos::ev::Event| {
                    let on = event_target_checked(&ev);
                    chosen.update(|c| {
                        c.retain(|chosen| *chosen != id);
                        if on {
                            c.push(id.clone());
                        }
                    });
                }
            };
            // The id as well when the name is not the id.
            let shown_id = (account.name != id).then(|| id.clone());
            view! {
                <label class="check token-account-choice" data-account-id=id.clone()>
                    <input
                        type="checkbox"
                        value=id.clone()
                        prop:checked=ticked
                        on:change=toggle
                        disabled=busy
                    />
                    <span>
                        {account.name.clone()}
                        {shown_id
                            .map(|id| {
                                view! {
                                    <br />
                                    <span class="subtle">{id}</span>
                                }
                            })}
                    </span>
                </label>
            }
        })
        .collect_view();
    view! {
        <div class="check-list token-select-all">
            <label class="check">
                <input
                    id="token-all-accounts"
                    type="checkbox"
                    data-testid="token-all-accounts"
                    prop:checked=all_chosen
                    on:change=toggle_all
                    disabled=busy
                />
                <span>
                    <strong>"Select all"</strong>
                    " "
                    <span class="subtle" data-testid="token-chosen-count">
                        {move || format!("({} of {total} chosen)", chosen.with(Vec::len))}
                    </span>
                </span>
            </label>
        </div>
        <div class="check-list token-account-list">{boxes}</div>
    }
}

#[component]
fn TokensTable(tokens: Vec<ApiTokenSummary>, on_revoked: Callback<String>) -> impl IntoView {
    let rows = tokens
        .into_iter()
        .map(|token| view! { <TokenRow token on_revoked /> })
        .collect_view();
    view! {
        <div class="panel table-panel">
            <table class="admin-table api-tokens-table" data-testid="api-tokens-list">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Accounts"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// "2 accounts", then the first few names and how many more.
fn accounts_summary(accounts: &[String]) -> (String, String) {
    let count = match accounts.len() {
        1 => "1 account".to_owned(),
        n => format!("{n} accounts"),
    };
    let mut names = accounts
        .iter()
        .take(ACCOUNTS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if accounts.len() > ACCOUNTS_SHOWN {
        names.push_str(&format!(" and {} more", accounts.len() - ACCOUNTS_SHOWN));
    }
    (count, names)
}

#[component]
fn TokenRow(token: ApiTokenSummary, on_revoked: Callback<String>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let revoked = token.revoked_at.is_some();
    let (count, names) = accounts_summary(&token.accounts);
    let all_accounts = token.accounts.join(", ");
    let id = token.id.clone();
    let name = token.name.clone();

    let revoke = {
        let id = id.clone();
        move |_| {
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            error.set(None);
            let id = id.clone();
            spawn_local(async move {
                let outcome = api::revoke_api_token(&id).await;
                busy.try_set(false);
                match outcome {
                    Ok(token) => {
                        confirming.try_set(false);
                        on_revoked.try_run(format!(
                            "Revoked “{}”: applications using it are refused from now on.",
                            token.name
                        ));
                    }
                    Err(failure) => {
                        error.try_set(Some(failure.to_string()));
                    }
                }
            });
        }
    };

    let status = match token.revoked_at {
        Some(at) => view! {
            <span class="badge badge-connecting" data-testid="api-token-status">"Revoked"</span>
            <br />
            <span class="subtle">{format::date_time(at)}</span>
        }
        .into_any(),
        None => view! {
            <span class="badge badge-live" data-testid="api-token-status">"Active"</span>
        }
        .into_any(),
    };
    let last_used = match token.last_used_at {
        Some(at) => view! { <span>{format::date_time(at)}</span> }.into_any(),
        None => view! { <span class="subtle">"Never"</span> }.into_any(),
    };
    let actions = if revoked {
        view! { <span class="subtle">"–"</span> }.into_any()
    } else {
        let question = format!(
            "Revoke “{name}”? Applications using it are refused at once. This cannot be undone."
        );
        // The button, or in its place the question with the answers.
        view! {
            {move || {
                if !confirming.get() {
                    return view! {
                        <button
                            class="button button-small button-danger revoke-token"
                            type="button"
                            data-testid="api-token-revoke"
                            on:click=move |_| confirming.set(true)
                        >
                            "Revoke"
                        </button>
                    }
                        .into_any();
                }
                view! {
                    <div class="confirm" role="group" data-testid="api-token-confirm-box">
                        <p>{question.clone()}</p>
                        <button
                            class="button button-small button-danger confirm-revoke"
                            type="button"
                            data-testid="api-token-confirm"
                            disabled=busy
                            on:click=revoke.clone()
                        >
                            {move || if busy.get() { "Revoking…" } else { "Revoke token" }}
                        </button>
                        " "
                        <button
                            class="button button-small button-quiet"
                            type="button"
                            data-testid="api-token-cancel"
                            on:click=move |_| {
                                confirming.set(false);
                                error.set(None);
                            }
                        >
                            "Cancel"
                        </button>
                    </div>
                }
                    .into_any()
            }}
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="form-error" role="alert" data-testid="api-token-error">
                                {message}
                            </p>
                        }
                    })
            }}
        }
        .into_any()
    };

    view! {
        <tr
            class="api-token-row"
            class:revoked-token=revoked
            data-testid="api-token-row"
            data-token-id=id.clone()
            data-token-name=name.clone()
        >
            <th scope="row" data-label="Name">
                {name.clone()}
                <br />
                <span class="subtle">{format!("id {id}")}</span>
            </th>
            <td data-label="Accounts" class="api-token-accounts" title=all_accounts>
                {count}
                <br />
                <span class="subtle">{names}</span>
            </td>
            <td data-label="Created">
                {format::date_time(token.created_at)}
                <br />
                <span class="subtle">{format!("by {}", token.created_by)}</span>
            </td>
            <td data-label="Last used">{last_used}</td>
            <td data-label="Status">{status}</td>
            <td data-label="Actions" class="api-token-actions">{actions}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_names_a_few_accounts_and_counts_the_rest() {
        let ids = |n: usize| (1..=n).map(|i| format!("a{i}")).collect::<Vec<_>>();
        assert_eq!(
            accounts_summary(&ids(1)),
            ("1 account".to_owned(), "a1".to_owned())
        );
        assert_eq!(
            accounts_summary(&ids(3)),
            ("3 accounts".to_owned(), "a1, a2, a3".to_owned())
        );
        assert_eq!(
            accounts_summary(&ids(5)),
            ("5 accounts".to_owned(), "a1, a2, a3 and 2 more".to_owned())
        );
    }

    #[test]
    fn a_refusal_is_shown_next_to_the_field_it_names() {
        let refused = |message: &str| ApiError::Server {
            status: 422,
            message: message.to_owned(),
        };
        assert_eq!(
            refusal(&refused("name: give the token a name.")),
            ("name", "Give the token a name.".to_owned())
        );
        assert_eq!(
            refusal(&refused("accounts: there is no account \"x\".")),
            ("accounts", "There is no account \"x\".".to_owned())
        );
        assert_eq!(
            refusal(&refused("Something else.")),
            ("form", "Something else.".to_owned())
        );
    }
}
