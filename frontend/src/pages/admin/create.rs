//! `/admin/accounts/new`: create a challenge. Connect an account (MetaApi: account id and token;
//! cTrader: Open API endpoint, application credentials, access token and ctidTraderAccountId;
//! or an account of the built-in demo broker), choose the rules (a program of the firm and its
//! phase, or a preset and its phase), initial balance, currency and owner; the server checks
//! every field and names the one to fix, and the page
//! shows the message under that field. Once created, the page follows the account on the live
//! stream: reading its history (with progress), then live, with links to it.

use super::paths;
use crate::components::FeedBadge;
use crate::sse::{self, Connection};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{
    AccountSummary, ConnectionOptions, ConnectionRequest, CreateAccountRequest, FeedStatus,
    ProgramSummary, StreamEvent,
};
use shared::domain::AccountId;

/// The fields of the form, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Draft {
    id: String,
    name: String,
    /// `demo`, `metaapi` or `ctrader`.
    kind: String,
    demo_account: String,
    metaapi_account_id: String,
    token: String,
    base_url: String,
    ctrader_url: String,
    ctrader_client_id: String,
    ctrader_client_secret: String,
    ctrader_access_token: String,
    ctrader_refresh_token: String,
    ctrader_account_id: String,
    /// `program` (a program of the firm) or `preset`.
    rules: String,
    /// The program's id, and its phase's name.
    program: String,
    program_phase: String,
    preset: String,
    phase: String,
    initial_balance: String,
    currency: String,
    owner: String,
    /// `streaming` or `rest` (MetaApi and demo accounts).
    transport: String,
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
            ctrader_url: String::new(),
            ctrader_client_id: String::new(),
            ctrader_client_secret: String::new(),
            ctrader_access_token: String::new(),
            ctrader_refresh_token: String::new(),
            ctrader_account_id: String::new(),
            rules: "preset".to_owned(),
            program: String::new(),
            program_phase: String::new(),
            preset: "ftmo-2step".to_owned(),
            phase: String::new(),
            initial_balance: "100000".to_owned(),
            currency: "USD".to_owned(),
            owner: String::new(),
            transport: "streaming".to_owned(),
        }
    }
}

impl Draft {
    fn on_program(&self) -> bool {
        self.rules == "program"
    }

    /// Puts the challenge on `program`'s first phase.
    fn choose_program(&mut self, program: &ProgramSummary) {
        self.program.clone_from(&program.id);
        self.program_phase = program
            .phases
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
    }

    fn request(&self) -> CreateAccountRequest {
        let optional = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        CreateAccountRequest {
            id: self.id.trim().to_owned(),
            name: self.name.trim().to_owned(),
            connection: match self.kind.as_str() {
                "metaapi" => ConnectionRequest::Metaapi {
                    account_id: self.metaapi_account_id.trim().to_owned(),
                    token: self.token.trim().to_owned(),
                    base_url: optional(&self.base_url),
                },
                "ctrader" => ConnectionRequest::Ctrader {
                    url: self.ctrader_url.trim().to_owned(),
                    client_id: self.ctrader_client_id.trim().to_owned(),
                    client_secret: self.ctrader_client_secret.trim().to_owned(),
                    access_token: self.ctrader_access_token.trim().to_owned(),
                    refresh_token: optional(&self.ctrader_refresh_token),
                    account_id: self.ctrader_account_id.trim().to_owned(),
                },
                _ => ConnectionRequest::Demo {
                    account: self.demo_account.clone(),
                },
            },
            preset: if self.on_program() {
                String::new()
            } else {
                self.preset.clone()
            },
            program: self.on_program().then(|| self.program.clone()),
            phase: if self.on_program() {
                optional(&self.program_phase)
            } else {
                optional(&self.phase)
            },
            initial_balance: self.initial_balance.trim().to_owned(),
            currency: self.currency.trim().to_uppercase(),
            owner: optional(&self.owner),
            transport: match (self.kind.as_str(), self.transport.as_str()) {
                ("ctrader", _) => None,
                (_, "rest") => Some(shared::api::Transport::Rest),
                _ => Some(shared::api::Transport::Streaming),
            },
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

/// Whether a server message is about `field` (or a part of it: `connection` covers
/// `connection.url`).
fn names(message: &str, field: &str) -> bool {
    field_of(message).is_some_and(|named| {
        named == field
            || named
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// A server message without the field it names: what to show under that field.
fn advice(message: &str) -> &str {
    match field_of(message) {
        Some(field) => message[field.len() + 1..].trim_start(),
        None => message,
    }
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
    // The firm's programs (`None` while loading), or why they could not be loaded.
    let programs = RwSignal::new(None::<Vec<ProgramSummary>>);
    let programs_error = RwSignal::new(None::<String>);
    // Whether the person chose between a program and a preset before the programs arrived.
    let rules_chosen = StoredValue::new(false);

    spawn_local(async move {
        match api::programs().await {
            Ok(fetched) => {
                // A firm with programs starts its challenges on them.
                if let Some(first) = fetched.programs.first()
                    && !rules_chosen.get_value()
                {
                    draft.try_update(|d| {
                        d.rules = "program".to_owned();
                        d.choose_program(first);
                    });
                }
                programs.try_set(Some(fetched.programs));
            }
            Err(e) => {
                programs.try_set(Some(Vec::new()));
                programs_error.try_set(Some(format!(
                    "The firm's programs could not be loaded: {e}"
                )));
            }
        }
    });

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
                if let Stage::Created(summary) = stage {
                    summary.apply(&event);
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
        move || error.with(|e| e.as_deref().is_some_and(|m| names(m, field)))
    };
    // The server's message, under the field it names.
    let field_error = move |field: &'static str| {
        move || {
            error
                .with(|e| {
                    e.as_deref()
                        .filter(|m| names(m, field))
                        .map(|m| advice(m).to_owned())
                })
                .map(|message| {
                    view! {
                        <small class="field-error" data-testid=format!("error-{field}")>
                            {message}
                        </small>
                    }
                })
        }
    };
    // Only a change of connection kind redraws the connection's fields (not every keystroke,
    // which would take the focus away from the field being typed in).
    let kind = Memo::new(move |_| draft.with(|d| d.kind.clone()));
    let is_kind = move |k: &'static str| move || kind.with(|kind| kind == k);
    let demo_available = move || options.with(|o| o.as_ref().is_some_and(|o| o.demo));
    let no_secret_key = move || options.with(|o| o.as_ref().is_some_and(|o| !o.secret_key));
    let rules = Memo::new(move |_| draft.with(|d| d.rules.clone()));
    let choose_rules = move |choice: &'static str| {
        move |_| {
            rules_chosen.set_value(true);
            draft.update(|d| {
                choice.clone_into(&mut d.rules);
                if choice == "program" && d.program.is_empty() {
                    programs.with_untracked(|p| {
                        if let Some(first) = p.as_ref().and_then(|p| p.first()) {
                            d.choose_program(first);
                        }
                    });
                }
            });
        }
    };
    // The chosen program (from the list as loaded).
    let chosen_program = move || {
        let id = draft.with(|d| d.program.clone());
        programs.with(|p| {
            p.as_ref()
                .and_then(|p| p.iter().find(|p| p.id == id).cloned())
        })
    };
    // The chosen phase's rules in a few words.
    let phase_rules = move || {
        let phase = draft.with(|d| d.program_phase.clone());
        chosen_program().and_then(|program| {
            program
                .phases
                .into_iter()
                .find(|p| p.name == phase)
                .map(|p| {
                    let mut words = p.rules;
                    if let Some(split) = p.profit_split {
                        words.push_str(&format!("; {}% profit split", split.normalize()));
                    }
                    if words.is_empty() {
                        "No rules".to_owned()
                    } else {
                        words
                    }
                })
        })
    };
    // The chosen program's latest version and phases, e.g. `Version 2: Phase 1 → Funded`.
    let program_about = move || {
        chosen_program().map(|program| {
            let phases: Vec<_> = program.phases.iter().map(|p| p.name.as_str()).collect();
            format!("Version {}: {}", program.version, phases.join(" → "))
        })
    };
    let pick_program = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let program = programs.with_untracked(|p| {
            p.as_ref()
                .and_then(|p| p.iter().find(|p| p.id == value).cloned())
        });
        draft.update(|d| match &program {
            Some(program) => d.choose_program(program),
            None => d.program = value,
        });
    };
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
                        {field_error("id")}
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
                        {field_error("name")}
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
                        {field_error("owner")}
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
                                prop:checked=is_kind("demo")
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
                                prop:checked=is_kind("metaapi")
                                on:change=move |_| draft.update(|d| d.kind = "metaapi".to_owned())
                            />
                            "MetaApi account"
                        </label>
                        <label class="radio">
                            <input
                                type="radio"
                                name="kind"
                                value="ctrader"
                                data-testid="create-kind-ctrader"
                                prop:checked=is_kind("ctrader")
                                on:change=move |_| draft.update(|d| d.kind = "ctrader".to_owned())
                            />
                            "cTrader"
                        </label>
                    </div>
                    <Show when=move || !demo_available() && options.with(Option::is_some)>
                        <p class="subtle">"Demo accounts exist only when the server runs in demo mode."</p>
                    </Show>
                    <Show when=move || kind.with(|k| k != "demo") && no_secret_key()>
                        <p class="notice-inline" data-testid="no-secret-key">
                            "This server has no secret_key, so it cannot store broker "
                            "credentials. Ask the operator to set secret_key (or "
                            "RISKDECK_SECRET_KEY) and restart, or connect a demo account."
                        </p>
                    </Show>
                    {move || match kind.get().as_str() {
                        "demo" => view! {
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
                                {field_error("connection")}
                            </label>
                        }.into_any(),
                        "ctrader" => view! {
                            <label>
                                <span>"Open API endpoint"</span>
                                <input
                                    name="ctrader_url"
                                    data-testid="create-ctrader-url"
                                    list="ctrader-endpoints"
                                    placeholder="wss://live.ctraderapi.com:5036"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.url")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_url.clone())
                                    on:input=set(|d, v| d.ctrader_url = v)
                                />
                                <datalist id="ctrader-endpoints">
                                    <option value="wss://live.ctraderapi.com:5036">"Live accounts"</option>
                                    <option value="wss://demo.ctraderapi.com:5036">"Demo accounts"</option>
                                </datalist>
                                {field_error("connection.url")}
                                <small class="subtle">
                                    "wss://live.ctraderapi.com:5036 for a live account, "
                                    "wss://demo.ctraderapi.com:5036 for a demo account: what "
                                    "cTrader calls the account (Live or Demo) decides."
                                </small>
                            </label>
                            <label>
                                <span>"Application client id"</span>
                                <input
                                    name="ctrader_client_id"
                                    data-testid="create-ctrader-client-id"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.client_id")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_client_id.clone())
                                    on:input=set(|d, v| d.ctrader_client_id = v)
                                />
                                {field_error("connection.client_id")}
                                <small class="subtle">
                                    "Your Open API application's credentials: openapi.ctrader.com, "
                                    "Applications, Credentials."
                                </small>
                            </label>
                            <label>
                                <span>"Application client secret"</span>
                                <input
                                    name="ctrader_client_secret"
                                    type="password"
                                    data-testid="create-ctrader-client-secret"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.client_secret")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_client_secret.clone())
                                    on:input=set(|d, v| d.ctrader_client_secret = v)
                                />
                                {field_error("connection.client_secret")}
                                <small class="subtle">"Stored encrypted; never shown again."</small>
                            </label>
                            <label>
                                <span>"Access token"</span>
                                <input
                                    name="ctrader_access_token"
                                    type="password"
                                    data-testid="create-ctrader-access-token"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.access_token")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_access_token.clone())
                                    on:input=set(|d, v| d.ctrader_access_token = v)
                                />
                                {field_error("connection.access_token")}
                                <small class="subtle">
                                    "The account owner's OAuth access token, from your "
                                    "application's sign-in on id.ctrader.com or the Open API "
                                    "Playground. Stored encrypted; never shown again."
                                </small>
                            </label>
                            <label>
                                <span>"Refresh token (recommended)"</span>
                                <input
                                    name="ctrader_refresh_token"
                                    type="password"
                                    data-testid="create-ctrader-refresh-token"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.refresh_token")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_refresh_token.clone())
                                    on:input=set(|d, v| d.ctrader_refresh_token = v)
                                />
                                {field_error("connection.refresh_token")}
                                <small class="subtle">
                                    "Given with the access token. Access tokens last about 30 "
                                    "days: with the refresh token Riskdeck renews them before "
                                    "they expire; without it the account stops when this one "
                                    "does. Stored encrypted; never shown again."
                                </small>
                            </label>
                            <label>
                                <span>"ctidTraderAccountId"</span>
                                <input
                                    name="ctrader_account_id"
                                    inputmode="numeric"
                                    data-testid="create-ctrader-account-id"
                                    placeholder="40000001"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.account_id")().to_string()
                                    prop:value=move || draft.with(|d| d.ctrader_account_id.clone())
                                    on:input=set(|d, v| d.ctrader_account_id = v)
                                />
                                {field_error("connection.account_id")}
                                <small class="subtle">
                                    "Not the login number cTrader shows: the Open API "
                                    "Playground's account list (or "
                                    "ProtoOAGetAccountListByAccessTokenReq) gives each account's "
                                    "ctidTraderAccountId."
                                </small>
                            </label>
                        }.into_any(),
                        _ => view! {
                            <label>
                                <span>"MetaApi account id"</span>
                                <input
                                    name="metaapi_account_id"
                                    autocomplete="off"
                                    aria-invalid=move || invalid("connection.account_id")().to_string()
                                    prop:value=move || draft.with(|d| d.metaapi_account_id.clone())
                                    on:input=set(|d, v| d.metaapi_account_id = v)
                                />
                                {field_error("connection.account_id")}
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
                                {field_error("connection.token")}
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
                                {field_error("connection.base_url")}
                            </label>
                        }.into_any(),
                    }}
                    <Show when=move || kind.with(|k| k != "ctrader")>
                        <label>
                            <span>"Data"</span>
                            <select
                                name="transport"
                                data-testid="create-transport"
                                aria-invalid=move || invalid("transport")().to_string()
                                prop:value=move || draft.with(|d| d.transport.clone())
                                on:change=move |ev| {
                                    let value = event_target_value(&ev);
                                    draft.update(|d| d.transport = value);
                                }
                            >
                                <option value="streaming">"Streaming (real time)"</option>
                                <option value="rest">"REST polling"</option>
                            </select>
                            {field_error("transport")}
                            <small class="subtle">
                                "Streaming follows every change as MetaApi pushes it, and falls "
                                "back to polling while the stream is unavailable. Polling reads "
                                "the account every second and counts against MetaApi's rate limits."
                            </small>
                        </label>
                    </Show>
                </fieldset>
                <fieldset>
                    <legend>"Challenge"</legend>
                    <div class="radio-row" role="radiogroup" aria-label="Rules">
                        <label class="radio">
                            <input
                                type="radio"
                                name="rules"
                                value="program"
                                data-testid="create-rules-program"
                                prop:checked=move || rules.with(|r| r == "program")
                                on:change=choose_rules("program")
                            />
                            "A program of the firm"
                        </label>
                        <label class="radio">
                            <input
                                type="radio"
                                name="rules"
                                value="preset"
                                data-testid="create-rules-preset"
                                prop:checked=move || rules.with(|r| r == "preset")
                                on:change=choose_rules("preset")
                            />
                            "A preset"
                        </label>
                    </div>
                    {move || match rules.get().as_str() {
                        "program" => view! {
                            {move || programs_error.get().map(|message| view! {
                                <p class="notice-inline">{message}</p>
                            })}
                            <Show when=move || {
                                programs.with(|p| p.as_ref().is_some_and(Vec::is_empty))
                                    && programs_error.with(Option::is_none)
                            }>
                                <p class="notice-inline" data-testid="create-no-programs">
                                    "The firm has no program yet. "
                                    <a href=paths::PROGRAMS>"Make one on the Programs page"</a>
                                    ", or choose a preset."
                                </p>
                            </Show>
                            <Show when=move || programs.with(|p| p.as_ref().is_some_and(|p| !p.is_empty()))>
                                <label>
                                    <span>"Program"</span>
                                    <select
                                        name="program"
                                        data-testid="create-program"
                                        aria-invalid=move || invalid("program")().to_string()
                                        on:change=pick_program
                                    >
                                        {move || programs.get().unwrap_or_default().into_iter().map(|program| {
                                            let label = format!("{} (v{})", program.name, program.version);
                                            let id = program.id.clone();
                                            view! {
                                                <option
                                                    value=program.id
                                                    prop:selected=move || draft.with(|d| d.program == id)
                                                >
                                                    {label}
                                                </option>
                                            }
                                        }).collect_view()}
                                    </select>
                                    {field_error("program")}
                                    <small class="subtle" data-testid="create-program-about">{program_about}</small>
                                </label>
                                <label>
                                    <span>"Phase"</span>
                                    <select
                                        name="program_phase"
                                        data-testid="create-program-phase"
                                        aria-invalid=move || invalid("phase")().to_string()
                                        on:change=set(|d, v| d.program_phase = v)
                                    >
                                        {move || chosen_program().map(|program| program.phases.into_iter().map(|phase| {
                                            let name = phase.name.clone();
                                            let value = phase.name.clone();
                                            view! {
                                                <option
                                                    value=value
                                                    prop:selected=move || draft.with(|d| d.program_phase == name)
                                                >
                                                    {phase.name}
                                                </option>
                                            }
                                        }).collect_view())}
                                    </select>
                                    {field_error("phase")}
                                    <small class="subtle" data-testid="create-program-rules">{phase_rules}</small>
                                </label>
                            </Show>
                        }.into_any(),
                        _ => view! {
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
                                {field_error("preset")}
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
                                {field_error("phase")}
                            </label>
                        }.into_any(),
                    }}
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
                        {field_error("initial_balance")}
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
                        {field_error("currency")}
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
    let dashboard = crate::pages::account_path(&summary.id);
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
        FeedStatus::Archived => "Archived",
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
        assert!(names("connection.url: no", "connection"));
        assert!(names("connection.url: no", "connection.url"));
        assert!(!names("connection.url: no", "connection.url_x"));
        assert!(!names("connection_x: no", "connection"));
        assert_eq!(advice("connection.url: give wss://x"), "give wss://x");
        assert_eq!(advice("Something broke"), "Something broke");
    }

    #[test]
    fn a_ctrader_draft_becomes_a_ctrader_connection() {
        let draft = Draft {
            kind: "ctrader".into(),
            ctrader_url: " wss://demo.ctraderapi.com:5036 ".into(),
            ctrader_client_id: "app".into(),
            ctrader_client_secret: "secret".into(),
            ctrader_access_token: "token".into(),
            ctrader_refresh_token: " refresh ".into(),
            ctrader_account_id: " 40000001".into(),
            ..Draft::default()
        };
        assert_eq!(
            draft.request().connection,
            ConnectionRequest::Ctrader {
                url: "wss://demo.ctraderapi.com:5036".into(),
                client_id: "app".into(),
                client_secret: "secret".into(),
                access_token: "token".into(),
                refresh_token: Some("refresh".into()),
                account_id: "40000001".into(),
            }
        );
    }

    #[test]
    fn a_draft_on_a_program_sends_the_program_and_its_phase_without_a_preset() {
        let draft = Draft {
            rules: "program".into(),
            program: "2-step-100k".into(),
            program_phase: "Phase 2".into(),
            phase: "Phase 1".into(),
            ..Draft::default()
        };
        let request = draft.request();
        assert_eq!(request.program.as_deref(), Some("2-step-100k"));
        assert_eq!(request.phase.as_deref(), Some("Phase 2"));
        assert_eq!(request.preset, "");
        let on_preset = Draft {
            rules: "preset".into(),
            ..draft
        }
        .request();
        assert_eq!(on_preset.program, None);
        assert_eq!(on_preset.preset, "ftmo-2step");
        assert_eq!(on_preset.phase.as_deref(), Some("Phase 1"));
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
