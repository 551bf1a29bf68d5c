//! `/admin/users`: every user; create traders and admins, reset a password, disable and enable
//! (the user's sessions end at once), and assign challenges to traders.

use super::super::Load;
use crate::api::{self, ApiError};
use crate::components::{ErrorPanel, Loading};
use crate::format;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{AccountOwnerResponse, CreateUserRequest, Role, UserId, UserSummary};
use shared::domain::AccountId;

/// What the page shows: the users and who owns which account.
#[derive(Clone, Debug, PartialEq)]
struct People {
    users: Vec<UserSummary>,
    owners: Vec<AccountOwnerResponse>,
}

impl People {
    /// The accounts `user` owns.
    fn accounts_of(&self, user: UserId) -> Vec<AccountId> {
        self.owners
            .iter()
            .filter(|o| o.owner.as_ref().is_some_and(|owner| owner.id == user))
            .map(|o| o.account.clone())
            .collect()
    }
}

/// Users (admin console).
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    crate::pages::set_title("Users · Admin · Riskdeck");
    let people = RwSignal::new(Load::<People>::Loading);
    // A sentence saying what the last change did.
    let done = RwSignal::new(None::<String>);

    let load = move |quiet: bool| {
        if !quiet {
            people.set(Load::Loading);
        }
        spawn_local(async move {
            let users = api::users().await;
            let owners = api::account_owners().await;
            let loaded = match (users, owners) {
                (Ok(users), Ok(owners)) => Ok(People {
                    users: users.users,
                    owners: owners.accounts,
                }),
                (Err(error), _) | (_, Err(error)) => Err(error),
            };
            people.try_set(loaded.into());
        });
    };
    load(false);
    let changed = Callback::new(move |message: String| {
        done.set(Some(message));
        load(true);
    });
    let retry = Callback::new(move |()| load(false));

    view! {
        <div class="page-head">
            <div>
                <h1>"Users"</h1>
                <p class="subtle">
                    "Traders see the challenges assigned to them; admins see everything. "
                    "Disabling a user or resetting their password ends their sessions at once."
                </p>
            </div>
        </div>
        <section class="panel admin-users" data-testid="admin-users">
            {move || {
                done.get()
                    .map(|message| {
                        view! {
                            <p class="form-done" role="status" data-testid="users-done">
                                {message}
                            </p>
                        }
                    })
            }}
            <CreateUserForm on_created=changed />
            {move || match people.get() {
                Load::Loading => view! { <Loading label="Loading users…" /> }.into_any(),
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The users could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(people) if people.users.is_empty() => {
                    view! {
                        <p class="subtle" data-testid="users-empty">
                            "No users yet: create the first trader above."
                        </p>
                    }
                        .into_any()
                }
                Load::Ready(people) => {
                    view! {
                        <UsersTable people=people.clone() on_changed=changed />
                        <AssignForm people on_changed=changed />
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// Which field a server's refusal is about, from its words.
fn field_of(error: &ApiError) -> &'static str {
    let message = error.to_string().to_lowercase();
    match error {
        ApiError::Server { status: 409, .. } => "username",
        _ if message.contains("password") => "password",
        _ if message.contains("username") => "username",
        _ => "form",
    }
}

#[component]
fn CreateUserForm(on_created: Callback<String>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Trader);
    let busy = RwSignal::new(false);
    // The refusal and the field it is about.
    let error = RwSignal::new(None::<(&'static str, String)>);
    let error_for = move |field: &'static str| {
        move || {
            error.get().and_then(|(f, message)| {
                (f == field).then(|| {
                    view! {
                        <p
                            class="form-error"
                            role="alert"
                            data-testid=format!("user-create-{field}-error")
                        >
                            {message}
                        </p>
                    }
                })
            })
        }
    };

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = CreateUserRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            role: role.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::create_user(&request).await {
                Ok(user) => {
                    username.try_set(String::new());
                    password.try_set(String::new());
                    on_created.try_run(format!(
                        "Created {} ({}).",
                        user.username,
                        user.role.as_str()
                    ));
                }
                Err(failure) => {
                    error.try_set(Some((field_of(&failure), failure.to_string())));
                }
            }
            busy.try_set(false);
        });
    };

    view! {
        <form class="admin-form user-create" on:submit=submit aria-labelledby="user-create-title">
            <h2 id="user-create-title">"New user"</h2>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Username"</span>
                    <input
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        data-testid="user-create-username"
                        prop:value=username
                        on:input=move |ev| username.set(event_target_value(&ev))
                        disabled=busy
                    />
                    {error_for("username")}
                </label>
                <label class="field">
                    <span class="field-label">"First password (12 characters or more)"</span>
                    <input
                        type="password"
                        autocomplete="new-password"
                        data-testid="user-create-password"
                        prop:value=password
                        on:input=move |ev| password.set(event_target_value(&ev))
                        disabled=busy
                    />
                    {error_for("password")}
                </label>
                <label class="field">
                    <span class="field-label">"Role"</span>
                    <select
                        data-testid="user-create-role"
                        on:change=move |ev| {
                            role.set(
                                if event_target_value(&ev) == "admin" {
                                    Role::Admin
                                } else {
                                    Role::Trader
                                },
                            )
                        }
                        disabled=busy
                    >
                        <option value="trader" selected=move || role.get() == Role::Trader>
                            "Trader"
                        </option>
                        <option value="admin" selected=move || role.get() == Role::Admin>
                            "Admin"
                        </option>
                    </select>
                </label>
            </div>
            {error_for("form")}
            <button class="button" type="submit" data-testid="user-create-submit" disabled=busy>
                {move || if busy.get() { "Creating…" } else { "Create user" }}
            </button>
        </form>
    }
}

#[component]
fn UsersTable(people: People, on_changed: Callback<String>) -> impl IntoView {
    let rows = people
        .users
        .iter()
        .map(|user| {
            let accounts = people.accounts_of(user.id);
            view! { <UserRow user=user.clone() accounts on_changed /> }
        })
        .collect_view();
    view! {
        <div class="table-panel">
            <table class="admin-table users" data-testid="users-list">
                <thead>
                    <tr>
                        <th scope="col">"User"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Challenges"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// A change that waits for the admin's confirmation.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    Disable,
    ResetPassword,
    Unassign(AccountId),
}

#[component]
fn UserRow(
    user: UserSummary,
    accounts: Vec<AccountId>,
    on_changed: Callback<String>,
) -> impl IntoView {
    let pending = RwSignal::new(None::<Pending>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let new_password = RwSignal::new(String::new());
    let id = user.id;
    let name = user.username.clone();

    // Runs one change; on success the page reloads its data and says what happened.
    let act = move |what: Pending| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let secret = new_password.get_untracked();
        spawn_local(async move {
            let outcome = match &what {
                Pending::Disable => api::set_user_disabled(id, true)
                    .await
                    .map(|u| format!("Disabled {}: their sessions have ended.", u.username)),
                Pending::ResetPassword => api::reset_password(id, &secret)
                    .await
                    .map(|u| format!("Set a new password for {}.", u.username)),
                Pending::Unassign(account) => api::unassign_account(account)
                    .await
                    .map(|r| format!("{} has no owner now.", r.account)),
            };
            busy.try_set(false);
            match outcome {
                Ok(message) => {
                    pending.try_set(None);
                    new_password.try_set(String::new());
                    on_changed.try_run(message);
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                }
            }
        });
    };
    let enable = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let outcome = api::set_user_disabled(id, false).await;
            busy.try_set(false);
            match outcome {
                Ok(u) => {
                    on_changed.try_run(format!("Enabled {}.", u.username));
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                }
            }
        });
    };

    let challenges = if accounts.is_empty() {
        view! { <span class="subtle">"–"</span> }.into_any()
    } else {
        accounts
            .into_iter()
            .map(|account| {
                let href = crate::pages::admin::paths::challenge(&account);
                let label = account.to_string();
                let unassign = Pending::Unassign(account.clone());
                view! {
                    <span class="owned-challenge">
                        <a href=href>{label}</a>
                        <button
                            class="link-button"
                            type="button"
                            data-testid="user-unassign"
                            on:click=move |_| pending.set(Some(unassign.clone()))
                        >
                            "Unassign"
                        </button>
                    </span>
                }
            })
            .collect_view()
            .into_any()
    };

    let confirm_text = {
        let name = name.clone();
        move || match pending.get() {
            Some(Pending::Disable) => {
                format!("Disable {name}? They cannot sign in, and their open sessions end at once.")
            }
            Some(Pending::ResetPassword) => format!(
                "Set a new password for {name} (12 characters or more)? Their open sessions end \
                 at once."
            ),
            Some(Pending::Unassign(account)) => {
                format!("Take {account} away from {name}? They will no longer see it.")
            }
            None => String::new(),
        }
    };
    let disabled = user.disabled;
    let enabled = !disabled;
    let is_admin = user.role == Role::Admin;
    let created = format::date_time(user.created_at);

    view! {
        <tr
            data-testid="user-row"
            data-username=name.clone()
            class:disabled-user=disabled
        >
            <th scope="row" data-label="User">{name.clone()}</th>
            <td data-label="Role">{if is_admin { "Admin" } else { "Trader" }}</td>
            <td data-label="Status">
                <span
                    class="badge"
                    class:badge-error=disabled
                    class:badge-ok=enabled
                    data-testid="user-status"
                >
                    {if disabled { "Disabled" } else { "Active" }}
                </span>
            </td>
            <td data-label="Challenges">{challenges}</td>
            <td data-label="Created">{created}</td>
            <td data-label="Actions" class="actions">
                <button
                    class="button button-small"
                    type="button"
                    data-testid="user-reset-password"
                    on:click=move |_| pending.set(Some(Pending::ResetPassword))
                >
                    "Reset password"
                </button>
                {if disabled {
                    view! {
                        <button
                            class="button button-small"
                            type="button"
                            data-testid="user-enable"
                            on:click=enable
                            disabled=busy
                        >
                            "Enable"
                        </button>
                    }
                        .into_any()
                } else {
                    view! {
                        <button
                            class="button button-small button-danger"
                            type="button"
                            data-testid="user-disable"
                            on:click=move |_| pending.set(Some(Pending::Disable))
                        >
                            "Disable"
                        </button>
                    }
                        .into_any()
                }}
                {move || {
                    pending
                        .get()
                        .map(|what| {
                            let needs_password = what == Pending::ResetPassword;
                            let confirm = what.clone();
                            view! {
                                <div class="confirm" role="group" data-testid="user-confirm-box">
                                    <p>{confirm_text.clone()}</p>
                                    {needs_password
                                        .then(|| {
                                            view! {
                                                <input
                                                    type="password"
                                                    autocomplete="new-password"
                                                    aria-label="New password"
                                                    data-testid="user-new-password"
                                                    prop:value=new_password
                                                    on:input=move |ev| {
                                                        new_password.set(event_target_value(&ev))
                                                    }
                                                />
                                            }
                                        })}
                                    <button
                                        class="button button-small button-danger"
                                        type="button"
                                        data-testid="user-confirm"
                                        disabled=busy
                                        on:click=move |_| act(confirm.clone())
                                    >
                                        "Confirm"
                                    </button>
                                    <button
                                        class="button button-small button-quiet"
                                        type="button"
                                        data-testid="user-cancel"
                                        on:click=move |_| {
                                            pending.set(None);
                                            error.set(None);
                                        }
                                    >
                                        "Cancel"
                                    </button>
                                </div>
                            }
                        })
                }}
                {move || {
                    error
                        .get()
                        .map(|message| {
                            view! {
                                <p class="form-error" role="alert" data-testid="user-error">
                                    {message}
                                </p>
                            }
                        })
                }}
            </td>
        </tr>
    }
}

/// Assigns a challenge to a trader (an account has at most one owner: assigning moves it).
#[component]
fn AssignForm(people: People, on_changed: Callback<String>) -> impl IntoView {
    let account = RwSignal::new(String::new());
    let trader = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let traders: Vec<UserSummary> = people
        .users
        .iter()
        .filter(|u| u.role == Role::Trader && !u.disabled)
        .cloned()
        .collect();
    if people.owners.is_empty() {
        return view! {
            <p class="subtle" data-testid="assign-none">
                "There are no challenges to assign yet."
            </p>
        }
        .into_any();
    }
    let account_options = people
        .owners
        .iter()
        .map(|o| {
            let id = o.account.to_string();
            let owner = o.owner.as_ref().map_or_else(
                || "no owner".to_owned(),
                |u| format!("owned by {}", u.username),
            );
            view! { <option value=id.clone()>{format!("{id} ({owner})")}</option> }
        })
        .collect_view();
    let trader_options = traders
        .iter()
        .map(|u| view! { <option value=u.id.to_string()>{u.username.clone()}</option> })
        .collect_view();

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (Some(user), false) = (
            trader.get_untracked().parse::<i64>().ok().map(UserId),
            account.get_untracked().is_empty(),
        ) else {
            error.set(Some("Choose a challenge and a trader.".to_owned()));
            return;
        };
        let id = AccountId(account.get_untracked());
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let outcome = api::assign_account(&id, user).await;
            busy.try_set(false);
            match outcome {
                Ok(r) => {
                    on_changed.try_run(format!(
                        "{} is now assigned to {}.",
                        r.account,
                        r.owner.map(|u| u.username).unwrap_or_default()
                    ));
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                }
            }
        });
    };

    view! {
        <form class="admin-form assign" on:submit=submit aria-labelledby="assign-title">
            <h2 id="assign-title">"Assign a challenge"</h2>
            <div class="form-row">
                <label class="field">
                    <span class="field-label">"Challenge"</span>
                    <select
                        data-testid="assign-account"
                        on:change=move |ev| account.set(event_target_value(&ev))
                    >
                        <option value="">"Choose…"</option>
                        {account_options}
                    </select>
                </label>
                <label class="field">
                    <span class="field-label">"Trader"</span>
                    <select
                        data-testid="assign-trader"
                        on:change=move |ev| trader.set(event_target_value(&ev))
                    >
                        <option value="">"Choose…"</option>
                        {trader_options}
                    </select>
                </label>
            </div>
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="form-error" role="alert" data-testid="assign-error">
                                {message}
                            </p>
                        }
                    })
            }}
            <button class="button" type="submit" data-testid="assign-submit" disabled=busy>
                "Assign"
            </button>
        </form>
    }
    .into_any()
}
