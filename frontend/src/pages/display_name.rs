//! The display name competition leaderboards show for the signed-in trader, on the settings
//! page. Without one a leaderboard shows `Entrant N`, never the username or the account; the
//! server checks the name (`shared::competitions::check_display_name`) and names what to fix.

use crate::api;
use leptos::either::EitherOf3;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::competitions::{MAX_DISPLAY_NAME_CHARS, Profile, check_display_name};

/// What the last save said.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Saved(Option<String>),
    Refused(String),
}

/// The display-name form.
#[component]
pub fn DisplayNameSettings() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let loaded = RwSignal::new(None::<Result<(), String>>);
    let saving = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Outcome>);
    spawn_local(async move {
        match api::profile().await {
            Ok(profile) => {
                name.try_set(profile.display_name.unwrap_or_default());
                loaded.try_set(Some(Ok(())));
            }
            Err(error) => {
                loaded.try_set(Some(Err(error.to_string())));
            }
        }
    });
    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let typed = name.get_untracked();
        // Checked here first with the server's own rule, so a mistake is named at once.
        let display_name = if typed.trim().is_empty() {
            None
        } else {
            match check_display_name(&typed) {
                Ok(name) => Some(name),
                Err(problem) => {
                    outcome.set(Some(Outcome::Refused(problem)));
                    return;
                }
            }
        };
        saving.set(true);
        outcome.set(None);
        spawn_local(async move {
            let answer = api::save_profile(&Profile { display_name }).await;
            match answer {
                Ok(profile) => {
                    name.try_set(profile.display_name.clone().unwrap_or_default());
                    outcome.try_set(Some(Outcome::Saved(profile.display_name)));
                }
                Err(error) => {
                    outcome.try_set(Some(Outcome::Refused(error.to_string())));
                }
            }
            saving.try_set(false);
        });
    };
    let said = move || {
        outcome.get().map(|outcome| match outcome {
            Outcome::Saved(Some(name)) => EitherOf3::A(view! {
                <p class="form-done" role="status" data-testid="display-name-outcome">
                    {format!("Saved: leaderboards show you as “{name}”.")}
                </p>
            }),
            Outcome::Saved(None) => EitherOf3::B(view! {
                <p class="form-done" role="status" data-testid="display-name-outcome">
                    "Saved: leaderboards show you as “Entrant N”."
                </p>
            }),
            Outcome::Refused(message) => EitherOf3::C(view! {
                <p class="form-error" role="alert" data-testid="display-name-outcome">{message}</p>
            }),
        })
    };
    let failed = move || {
        loaded.get().and_then(Result::err).map(|message| {
            view! { <p class="form-error" role="alert">{message}</p> }
        })
    };
    view! {
        <form
            id="display-name"
            class="panel settings-form"
            data-testid="display-name-form"
            novalidate=true
            on:submit=submit
        >
            <fieldset class="admin-form">
                <legend>"Your name on competition leaderboards"</legend>
                <p class="subtle">
                    "Leaderboards show this name next to your return and profit. Until you \
                     choose one they show “Entrant N” (your entry number): never your username, \
                     your real name or your account."
                </p>
                <label class="field">
                    <span class="field-label">"Display name"</span>
                    <input
                        type="text"
                        maxlength=MAX_DISPLAY_NAME_CHARS.to_string()
                        autocomplete="nickname"
                        placeholder="e.g. Swing King"
                        data-testid="display-name"
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                        disabled=move || saving.get() || loaded.get().is_none()
                    />
                    <small class="subtle">
                        {format!(
                            "2 to {MAX_DISPLAY_NAME_CHARS} characters: letters, digits, spaces and - _ . ' ; empty to be “Entrant N” again."
                        )}
                    </small>
                </label>
                {failed}
                {said}
                <div class="form-actions">
                    <button
                        class="button"
                        type="submit"
                        data-testid="display-name-save"
                        disabled=move || saving.get()
                    >
                        {move || if saving.get() { "Saving…" } else { "Save display name" }}
                    </button>
                </div>
            </fieldset>
        </form>
    }
}
