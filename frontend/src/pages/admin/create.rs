//! `/admin/accounts/new`: create a challenge. Connect an account (MetaApi: account id and token;
//! or an account of the built-in demo broker), choose a preset, phase, initial balance,
//! currency and owner; the server checks every field and names the one to fix. Once created,
//! the page follows the account on the live stream: reading its history (with progress), then
//! live, with links to it.

use super::paths;
use crate::components::FeedBadge;
use crate::sse::{self, Connection};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{
    AccountSummary, ConnectionOptions, ConnectionRequest, CreateAccountRequest, FeedStatus,
    StreamEvent,
};
use shared::domain::AccountId;

/// The fields of the form, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Draft {
    id: String,
    name: String,
    /// `demo` or `metaapi`.
    kind: String,
    demo_account: String,
    metaapi_account_id: String,
    token: String,
    base_url: String,
    preset: String,
    phase: String,
    initial_balance: String,
    currency: String,
    owner: String,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            kind: "demo".to_owned(),
            demo_account: String::new(),
            metaapi_account_id: String::new(),
            token: String::new(),
            base_url: String::new(),
            preset: "ftmo-2step".to_owned(),
            phase: String::new(),
            initial_balance: "100000".to_owned(),
            currency: "USD".to_owned(),
            owner: String::new(),
        }
    }
}

impl Draft {
    fn request(&self) -> CreateAccountRequest {
        let optional = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        CreateAccountRequest {
            id: self.id.trim().to_owned(),
            name: self.name.trim().to_owned(),
            connection: if self.kind == "metaapi" {
                ConnectionRequest::Metaapi {
                    account_id: self.metaapi_account_id.trim().to_owned(),
                    token: self.token.trim().to_owned(),
                    base_url: optional(&self.base_url),
                }
            } else {
                ConnectionRequest::Demo {
                    account: self.demo_account.clone(),
                }
            },
            preset: self.preset.clone(),
            phase: optional(&self.phase),
            initial_balance: self.initial_balance.trim().to_owned(),
            currency: self.currency.trim().to_uppercase(),
            owner: optional(&self.owner),
        }
    }
}

/// The field a server message names (`"initial_balance: ..."` names `initial_balance`;
/// `connection.token` names `connection.token`).
fn field_of(message: &str) -> Option<&str> {
    let (field, _) = message.split_once(':')?;
    field
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
        .then_some(field)
}

/// Where the page stands.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per page, replaced as a whole
enum Stage {
    Editing,
    Saving,
    Created(AccountSummary),
}

#[component]
pub fn AdminCreatePage() -> impl IntoView {
    crate::pages::set_title("New challenge · Admin · Riskdeck");
    let draft = RwSignal::new(Draft::default());
    let options = RwSignal::new(None::<ConnectionOptions>);
    let error = RwSignal::new(None::<String>);
    let stage = RwSignal::new(Stage::Editing);
    let connection = RwSignal::new(Connection::Connecting);
    let subscription = StoredValue::new_local(None::<sse::Subscription>);
    on_cleanup(move || subscription.dispose());

    spawn_local(async move {
        match api::connection_options().await {
            Ok(fetched) => {
                draft.try_update(|d| {
                    if fetched.demo {
                        if let Some(first) = fetched.demo_accounts.first() {
                            d.demo_account = first.id.clone();
                        }
                    } else {
                        d.kind = "metaapi".to_owned();
                    }
                });
                options.try_set(Some(fetched));
            }
            Err(e) => {
                error.try_set(Some(format!(
                    "What accounts can be connected could not be loaded: {e}"
                )));
            }
        }
    });

    let follow = move |id: AccountId| {
        let on_event = move |event: StreamEvent| {
            stage.try_update(|stage| {
                if let Stage::Created(summary) = stage
                    && event.account_id() == Some(&summary.id)
                {
                    match &event {
                        StreamEvent::Account { feed, view, .. } => {
                            summary.feed = *feed;
                            summary.latest = Some(view.clone());
                            summary.backfill = None;
                        }
                        StreamEvent::Feed { feed, .. } => summary.feed = *feed,
                        StreamEvent::Backfill { progress, .. } => {
                            summary.feed = FeedStatus::Backfilling;
                            summary.backfill = Some(progress.clone());
                        }
                        _ => {}
                    }
                }
            });
        };
        let opened = sse::subscribe(
            api::stream_url(Some(&id)),
            on_event,
            move |state| {
                connection.try_set(state);
            },
            || {},
        );
        subscription.set_value(Some(opened));
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if stage.get_untracked() == Stage::Saving {
            return;
        }
        let request = draft.with_untracked(Draft::request);
        stage.set(Stage::Saving);
        error.set(None);
        spawn_local(async move {
            match api::create_account(&request).await {
                Ok(created) => {
                    let id = created.account.id.clone();
                    stage.try_set(Stage::Created(created.account));
                    follow(id);
                }
                Err(e) => {
                    stage.try_set(Stage::Editing);
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };

    let set = move |apply: fn(&mut Draft, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            draft.update(|d| apply(d, value));
        }
    };
    // Picking a demo account proposes its own challenge's preset and balance.
    let pick_demo = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let own = options.with_untracked(|o| {
            o.as_ref()
                .and_then(|o| o.demo_accounts.iter().find(|a| a.id == value).cloned())
        });
        draft.update(|d| {
            d.demo_account = value;
            if let Some(own) = own {
                d.preset = own.preset;
                d.phase.clear();
                d.initial_balance = own.initial_balance.to_string();
            }
        });
    };
    let invalid = move |field: &'static str| {
        move || {
            error.with(|e| {
                e.as_deref()
                    .and_then(field_of)
                    .is_some_and(|named| named == field || named.starts_with(&format!("{field}.")))
            })
        }
    };
    let is_demo = move || draft.with(|d| d.kind == "demo");
    let demo_available = move || options.with(|o| o.as_ref().is_some_and(|o| o.demo));
    let no_secret_key = move || options.with(|o| o.as_ref().is_some_and(|o| !o.secret_key));
    let preset_description = move || {
        let preset = draft.with(|d| d.preset.clone());
        options.with(|o| {
            o.as_ref().and_then(|o| {
                o.presets
                    .iter()
                    .find(|p| p.name == preset)
                    .map(|p| p.description.clone())
            })
        })
    };

    let form = move || {
        view! {
            <form class="panel create-form" data-testid="create-form" on:submit=submit>
                <fieldset>
                    <legend>"Account"</legend>
                    <label>
                        <span>"Id"</span>
                        <input
                            name="id"
                            data-testid="create-id"
                            placeholder="ftmo-100k-jane"
                            autocomplete="off"
                            aria-invalid=move || invalid("id")().to_string()
                            prop:value=move || draft.with(|d| d.id.clone())
                            on:input=set(|d, v| d.id = v)
                        />
                        <small class="subtle">"3 to 64 lowercase letters, digits and '-'. Used in links; cannot change later."</small>
                    </label>
                    <label>
                        <span>"Display name"</span>
                        <input
                            name="name"
                            data-testid="create-name"
                            placeholder="Jane's FTMO 100k"
                            aria-invalid=move || invalid("name")().to_string()
                            prop:value=move || draft.with(|d| d.name.clone())
                            on:input=set(|d, v| d.name = v)
                        />
                    </label>
                    <label>
                        <span>"Owner (optional)"</span>
                        <input
                            name="owner"
                            data-testid="create-owner"
                            placeholder="A trader's username"
                            autocomplete="off"
                            aria-invalid=move || invalid("owner")().to_string()
                            prop:value=move || draft.with(|d| d.owner.clone())
                            on:input=set(|d, v| d.owner = v)
                        />
                        <small class="subtle">"Leave empty to keep it to admins; assign a trader later from the challenge's page."</small>
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"Connection"</legend>
                    <div class="radio-row" role="radiogroup" aria-label="Connection">
                        <label class="radio">
                            <input
                                type="radio"
                                name="kind"
                                value="demo"
                                data-testid="create-kind-demo"
                                disabled=move || !demo_available()
                                prop:checked=is_demo
                                on:change=move |_| draft.update(|d| d.kind = "demo".to_owned())
                            />
                            "Demo broker account"
                        </label>
                        <label class="radio">
                            <input
                                type="radio"
                                name="kind"
                                value="metaapi"
                                data-testid="create-kind-metaapi"
                                prop:checked=move || !is_demo()
                                on:change=move |_| draft.update(|d| d.kind = "metaapi".to_owned())
                            />
                            "MetaApi account"
                        </label>
                    </div>
                    <Show when=move || !demo_available() && options.with(Option::is_some)>
                        <p class="subtle">"Demo accounts exist only when the server runs in demo mode."</p>
                    </Show>
                    {move || if is_demo() {
                        view! {
                            <label>
                                <span>"Demo account"</span>
                                <select
                                    name="demo_account"
                                    data-testid="create-demo-account"
                                    aria-invalid=move || invalid("connection")().to_string()
                                    prop:value=move || draft.with(|d| d.demo_account.clone())
                                    on:change=pick_demo
                                >
                                    {move || options.with(|o| {
                                        o.as_ref().map(|o| o.demo_accounts.iter().map(|a| {
                                            let label = format!("{} ({})", a.name, a.id);
                                            view! { <option value=a.id.clone()>{label}</option> }
                                        }).collect_view())
                                    })}
                                </select>
                            </label>
                        }.into_any()
                    } else {
                        view! {
                            <Show when=no_secret_key>
                                <p class="notice-inline" data-testid="no-secret-key">
                                    "This server has no secret_key, so it cannot store a MetaApi "
                                    "token. Ask the operator to set secret_key (or "
                                    "RISKDECK_SECRET_KEY) and restart, or connect a demo account."
                                </p>
                            </Show>
                            <label>
                                <span>"MetaApi account id"</span>
                                <input
                                    name="metaapi_account_id"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.account_id")().to_string()
                                    prop:value=move || draft.with(|d| d.metaapi_account_id.clone())
                                    on:input=set(|d, v| d.metaapi_account_id = v)
                                />
                            </label>
                            <label>
                                <span>"MetaApi token"</span>
                                <input
                                    name="token"
                                    type="password"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.token")().to_string()
                                    prop:value=move || draft.with(|d| d.token.clone())
                                    on:input=set(|d, v| d.token = v)
                                />
                                <small class="subtle">"Stored encrypted; never shown again."</small>
                            </label>
                            <label>
                                <span>"Base URL (optional)"</span>
                                <input
                                    name="base_url"
                                    placeholder="https://mt-client-api-v1.london.agiliumtrade.ai"
                                    aria-invalid=move || invalid("connection.base_url")().to_string()
                                    prop:value=move || draft.with(|d| d.base_url.clone())
                                    on:input=set(|d, v| d.base_url = v)
                                />
                            </label>
                        }.into_any()
                    }}
                </fieldset>
                <fieldset>
                    <legend>"Challenge"</legend>
                    <label>
                        <span>"Preset"</span>
                        <select
                            name="preset"
                            data-testid="create-preset"
                            aria-invalid=move || invalid("preset")().to_string()
                            prop:value=move || draft.with(|d| d.preset.clone())
                            on:change=set(|d, v| { d.preset = v; d.phase.clear(); })
                        >
                            {shared::engine::PRESETS.iter().map(|(name, _)| {
                                view! { <option value=*name>{*name}</option> }
                            }).collect_view()}
                        </select>
                        <small class="subtle">{preset_description}</small>
                    </label>
                    <label>
                        <span>"Phase"</span>
                        <select
                            name="phase"
                            data-testid="create-phase"
                            aria-invalid=move || invalid("phase")().to_string()
                            prop:value=move || draft.with(|d| d.phase.clone())
                            on:change=set(|d, v| d.phase = v)
                        >
                            <option value="">"The preset's own"</option>
                            <option value="Phase 1">"Phase 1"</option>
                            <option value="Phase 2">"Phase 2"</option>
                        </select>
                    </label>
                    <label>
                        <span>"Initial balance"</span>
                        <input
                            name="initial_balance"
                            inputmode="decimal"
                            data-testid="create-balance"
                            aria-invalid=move || invalid("initial_balance")().to_string()
                            prop:value=move || draft.with(|d| d.initial_balance.clone())
                            on:input=set(|d, v| d.initial_balance = v)
                        />
                    </label>
                    <label>
                        <span>"Currency"</span>
                        <input
                            name="currency"
                            maxlength="3"
                            data-testid="create-currency"
                            aria-invalid=move || invalid("currency")().to_string()
                            prop:value=move || draft.with(|d| d.currency.clone())
                            on:input=set(|d, v| d.currency = v)
                        />
                    </label>
                </fieldset>
                {move || error.get().map(|message| view! {
                    <p class="form-error" role="alert" data-testid="create-error">{message}</p>
                })}
                <div class="form-actions">
                    <button
                        class="button"
                        type="submit"
                        data-testid="create-submit"
                        disabled=move || stage.with(|s| *s == Stage::Saving)
                    >
                        {move || if stage.with(|s| *s == Stage::Saving) { "Creating…" } else { "Create challenge" }}
                    </button>
                </div>
            </form>
        }
    };

    // The form is built once and stays while it is being sent (its fields keep focus and what
    // was typed); only a created challenge replaces it.
    let created = Memo::new(move |_| {
        stage.with(|stage| match stage {
            Stage::Created(summary) => Some(summary.clone()),
            Stage::Editing | Stage::Saving => None,
        })
    });
    view! {
        <div class="page-head">
            <div>
                <h1>"New challenge"</h1>
                <p class="subtle">"Connect an account, choose its rules, and it is tracked at once."</p>
            </div>
        </div>
        {move || match created.get() {
            Some(summary) => view! { <Progress summary=summary connection=connection /> }.into_any(),
            None => form().into_any(),
        }}
    }
}

/// The new account as it starts: connecting, reading its history (how far), then live.
#[component]
fn Progress(summary: AccountSummary, connection: RwSignal<Connection>) -> impl IntoView {
    let dashboard = crate::app::account_path(&summary.id);
    let admin = paths::challenge(&summary.id);
    let live = summary.feed == FeedStatus::Live && summary.latest.is_some();
    let feed = summary.feed;
    let backfill = summary.backfill.clone();
    let equity = summary
        .latest
        .as_ref()
        .map(|view| format::money(view.equity));
    let headline = match feed {
        FeedStatus::Connecting => "Connecting to the broker…",
        FeedStatus::Backfilling => "Reading the account's history…",
        FeedStatus::Live => "Live",
        FeedStatus::Stale => "The broker is not answering yet; Riskdeck keeps trying.",
    };
    let connection_note = move || {
        (connection.get() == Connection::Reconnecting)
            .then_some("The live connection dropped; reconnecting…")
    };
    view! {
        <section
            class="panel create-progress"
            data-testid="create-progress"
            data-feed=format!("{feed:?}").to_lowercase()
            role="status"
        >
            <h2>{format!("{} created", summary.name)}</h2>
            <p>
                <FeedBadge feed=Signal::stored(feed) backfill=Signal::stored(backfill) />
                " "
                <span data-testid="create-progress-headline">{headline}</span>
            </p>
            {equity.map(|equity| view! { <p>"Equity " <strong>{equity}</strong></p> })}
            <p class="subtle">{connection_note}</p>
            {live.then(|| view! {
                <p class="form-actions" data-testid="create-live">
                    <a class="button" href=dashboard.clone() data-testid="create-open-dashboard">"Open its dashboard"</a>
                    " "
                    <a class="button button-quiet" href=admin.clone()>"Manage it"</a>
                    " "
                    <a class="button button-quiet" href=paths::OVERVIEW>"All challenges"</a>
                </p>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_a_message_names_is_found() {
        assert_eq!(
            field_of("initial_balance: not a number"),
            Some("initial_balance")
        );
        assert_eq!(
            field_of("connection.token: no key"),
            Some("connection.token")
        );
        assert_eq!(field_of("The body is: broken"), None);
    }

    #[test]
    fn the_draft_becomes_a_request_with_optional_fields_left_out() {
        let draft = Draft {
            id: " jane ".into(),
            currency: "usd".into(),
            demo_account: "demo-gold-swing".into(),
            ..Draft::default()
        };
        let request = draft.request();
        assert_eq!(request.id, "jane");
        assert_eq!(request.currency, "USD");
        assert_eq!(request.owner, None);
        assert_eq!(request.phase, None);
        assert!(matches!(request.connection, ConnectionRequest::Demo { .. }));
    }
}
