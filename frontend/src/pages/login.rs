//! `/login`: username and password; afterwards, back to the page the person came from.

use crate::api;
use crate::session::{Session, SessionState};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

/// The sign-in page, from the `login` chunk: a signed-in trader never needs it.
#[wasm_split(login, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_login_page() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <LoginPage /> }.into_any())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    super::set_title("Sign in · Riskdeck");
    let session = Session::get();
    let query = use_query_map();
    let next = Memo::new(move |_| query.with(|q| api::safe_next(q.get("next").as_deref())));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    // Signed in (now, or already): go where the person was going.
    let navigate = use_navigate();
    Effect::new(move || {
        if matches!(session.0.get(), SessionState::SignedIn(_)) {
            navigate(
                &next.get_untracked(),
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            );
        }
    });

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (name, secret) = (username.get_untracked(), password.get_untracked());
        if name.trim().is_empty() || secret.is_empty() {
            error.set(Some("Enter your username and password.".to_owned()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::login(name.trim(), &secret).await {
                Ok(signed_in) => {
                    password.try_set(String::new());
                    session.0.try_set(SessionState::SignedIn(signed_in.user));
                }
                Err(failure) => {
                    error.try_set(Some(failure.to_string()));
                    busy.try_set(false);
                }
            }
        });
    };

    view! {
        <section class="login">
            <form class="panel login-card" on:submit=submit aria-labelledby="login-title">
                <h1 id="login-title">"Sign in"</h1>
                <p class="subtle">"Riskdeck shows the accounts you are allowed to see, live."</p>
                <label class="field">
                    <span class="field-label">"Username"</span>
                    <input
                        type="text"
                        name="username"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        autofocus
                        data-testid="login-username"
                        prop:value=username
                        on:input=move |ev| username.set(event_target_value(&ev))
                        disabled=busy
                    />
                </label>
                <label class="field">
                    <span class="field-label">"Password"</span>
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        data-testid="login-password"
                        prop:value=password
                        on:input=move |ev| password.set(event_target_value(&ev))
                        disabled=busy
                    />
                </label>
                {move || {
                    error
                        .get()
                        .map(|message| {
                            view! {
                                <p class="form-error" role="alert" data-testid="login-error">
                                    {message}
                                </p>
                            }
                        })
                }}
                <button
                    class="button button-block"
                    type="submit"
                    data-testid="login-submit"
                    disabled=busy
                    aria-busy=move || busy.get().to_string()
                >
                    {move || {
                        if busy.get() {
                            view! {
                                <span class="spinner spinner-inline" aria-hidden="true"></span>
                                "Signing in…"
                            }
                                .into_any()
                        } else {
                            "Sign in".into_any()
                        }
                    }}
                </button>
            </form>
        </section>
    }
}
