//! `/settings/notifications`: where the signed-in person hears about their challenges (Telegram,
//! a signed webhook, email) and which events and rules they want. Traders and admins alike; the
//! server checks every field and names the one to fix. Shown from the `rare_pages` chunk
//! (`competitions::lazy_rare_page`): rarely opened. Below, the name competition leaderboards
//! show (`display_name`).

use crate::api;
use crate::components::{ErrorPanel, Loading};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::NotificationPreferences;

/// The event kinds a person can choose, with their words.
const KINDS: [(&str, &str); 14] = [
    ("warning", "Warnings (a share of a limit used up)"),
    ("breach", "Breaches, with their evidence"),
    (
        "held",
        "Decisions held: a breach waits for the deal of a balance change",
    ),
    ("objective_met", "Objectives met"),
    ("passed", "Challenge passed"),
    ("failed", "Challenge failed"),
    ("feed_stale", "Broker data delayed"),
    ("feed_recovered", "Broker data back"),
    ("daily_summary", "Daily summary at the reset"),
    (
        "tracker_exceeded",
        "Risk tracker thresholds exceeded (MetaApi risk API)",
    ),
    ("promoted", "Next phase started (after a pass)"),
    ("competition_started", "A competition you entered started"),
    (
        "competition_disqualified",
        "Disqualified from a competition, with the evidence",
    ),
    ("competition_final", "A competition's final standings"),
];

/// The form's text, as typed.
#[derive(Clone, Debug, Default, PartialEq)]
struct Draft {
    telegram: String,
    webhook_url: String,
    webhook_key: String,
    key_stored: bool,
    email: String,
    /// Empty: every kind.
    kinds: Vec<String>,
    /// Rule ids, comma-separated; empty: every rule.
    rules: String,
}

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

fn optional(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl Draft {
    fn from(stored: NotificationPreferences) -> Self {
        Self {
            telegram: text(stored.telegram_chat_id),
            webhook_url: text(stored.webhook_url),
            webhook_key: String::new(),
            key_stored: stored.webhook_secret_set,
            email: text(stored.email),
            kinds: stored.kinds,
            rules: stored.rules.join(", "),
        }
    }

    fn request(&self) -> NotificationPreferences {
        NotificationPreferences {
            telegram_chat_id: optional(&self.telegram),
            webhook_url: optional(&self.webhook_url),
            webhook_secret: optional(&self.webhook_key),
            webhook_secret_set: self.key_stored,
            email: optional(&self.email),
            kinds: self.kinds.clone(),
            rules: self
                .rules
                .split(',')
                .filter_map(optional)
                .collect::<Vec<_>>(),
        }
    }

    /// Whether `kind` is heard about (every kind when none is chosen).
    fn hears(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }

    /// Turns `kind` on or off; all on again is stored as "every kind".
    fn toggle(&mut self, kind: &str, on: bool) {
        let mut chosen: Vec<String> = KINDS
            .iter()
            .map(|(k, _)| (*k).to_owned())
            .filter(|k| if k == kind { on } else { self.hears(k) })
            .collect();
        if chosen.len() == KINDS.len() {
            chosen.clear();
        }
        self.kinds = chosen;
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Loading,
    Failed(String),
    Ready,
}

#[component]
pub fn NotificationSettingsPage() -> impl IntoView {
    super::set_title("Notifications · Riskdeck");
    let draft = RwSignal::new(Draft::default());
    let phase = RwSignal::new(Phase::Loading);
    let saving = RwSignal::new(false);
    // The outcome of the last save: a sentence, and whether it is an error.
    let outcome = RwSignal::new(None::<(bool, String)>);

    let load = move || {
        phase.set(Phase::Loading);
        spawn_local(async move {
            match api::my_notifications().await {
                Ok(stored) => {
                    draft.try_set(Draft::from(stored));
                    phase.try_set(Phase::Ready);
                }
                Err(error) => {
                    phase.try_set(Phase::Failed(error.to_string()));
                }
            }
        });
    };
    load();
    let retry = Callback::new(move |()| load());

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if saving.get_untracked() {
            return;
        }
        let request = draft.with_untracked(Draft::request);
        saving.set(true);
        outcome.set(None);
        spawn_local(async move {
            let answer = api::save_my_notifications(&request).await;
            saving.try_set(false);
            match answer {
                Ok(stored) => {
                    draft.try_set(Draft::from(stored));
                    outcome.try_set(Some((
                        false,
                        "Saved. New events are sent this way.".to_owned(),
                    )));
                }
                Err(error) => {
                    outcome.try_set(Some((true, error.to_string())));
                }
            }
        });
    };

    let field = move |label: &'static str,
                      testid: &'static str,
                      kind: &'static str,
                      help: &'static str,
                      get: fn(&Draft) -> String,
                      set: fn(&mut Draft, String)| {
        view! {
            <label class="field">
                <span class="field-label">{label}</span>
                <input
                    type=kind
                    data-testid=testid
                    autocomplete="off"
                    prop:value=move || draft.with(get)
                    on:input=move |ev| draft.update(|d| set(d, event_target_value(&ev)))
                />
                <small class="subtle">{help}</small>
            </label>
        }
    };

    let kinds = move || {
        KINDS
            .iter()
            .map(|(kind, words)| {
                let kind = *kind;
                view! {
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="notify-kind"
                            data-kind=kind
                            prop:checked=move || draft.with(|d| d.hears(kind))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                draft.update(|d| d.toggle(kind, on));
                            }
                        />
                        {*words}
                    </label>
                }
            })
            .collect_view()
    };

    let form = move || {
        view! {
            <form class="panel settings-form" data-testid="notify-form" novalidate=true on:submit=submit>
                <fieldset class="admin-form">
                    <legend>"Where"</legend>
                    <p class="subtle">
                        "Fill in any of the three; an empty field is not used. Every event is \
                         sent once per channel, with the rule, the value, the limit and the room \
                         left, and a link to your dashboard."
                    </p>
                    <div class="form-row">
                        {field(
                            "Telegram chat id",
                            "notify-telegram",
                            "text",
                            "The number @userinfobot shows you (or a group's id, starting with -); start a chat with the firm's bot first.",
                            |d| d.telegram.clone(),
                            |d, v| d.telegram = v,
                        )}
                        {field(
                            "Email",
                            "notify-email",
                            "email",
                            "An address the firm's mail server can reach.",
                            |d| d.email.clone(),
                            |d, v| d.email = v,
                        )}
                    </div>
                    <div class="form-row">
                        {field(
                            "Webhook URL",
                            "notify-webhook-url",
                            "url",
                            "Receives each event as JSON, signed in the X-Riskdeck-Signature header.",
                            |d| d.webhook_url.clone(),
                            |d, v| d.webhook_url = v,
                        )}
                        {field(
                            "Webhook key",
                            "notify-webhook-key",
                            "password",
                            "16 characters or more; the signature's HMAC-SHA256 key. It is stored sealed and never shown again.",
                            |d| d.webhook_key.clone(),
                            |d, v| d.webhook_key = v,
                        )}
                    </div>
                    <p class="subtle" data-testid="notify-key-stored">
                        {move || draft.with(|d| d.key_stored).then_some(
                            "A webhook key is stored: leave the field empty to keep it.",
                        )}
                    </p>
                </fieldset>
                <fieldset class="admin-form">
                    <legend>"What"</legend>
                    <div class="check-list">{kinds()}</div>
                    {field(
                        "Only these rules",
                        "notify-rules",
                        "text",
                        "Rule ids separated by commas, e.g. daily_loss, max_loss; empty hears about every rule.",
                        |d| d.rules.clone(),
                        |d, v| d.rules = v,
                    )}
                </fieldset>
                {move || outcome.get().map(|(error, message)| {
                    let class = if error { "form-error" } else { "form-done" };
                    let role = if error { "alert" } else { "status" };
                    view! { <p class=class role=role data-testid="notify-outcome">{message}</p> }
                })}
                <div class="form-actions">
                    <button class="button" type="submit" data-testid="notify-save" disabled=move || saving.get()>
                        {move || if saving.get() { "Saving…" } else { "Save" }}
                    </button>
                </div>
            </form>
        }
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Notifications"</h1>
                <p class="subtle">
                    "Hear about your challenges where you are: warnings before a limit, breaches, \
                     objectives, delayed data and a summary of each day."
                </p>
            </div>
        </div>
        {move || match phase.get() {
            Phase::Loading => view! { <Loading label="Loading your notification settings…" /> }.into_any(),
            Phase::Failed(message) => view! {
                <ErrorPanel
                    title="Your notification settings could not be loaded"
                    message=message
                    on_retry=retry
                />
            }
            .into_any(),
            Phase::Ready => form().into_any(),
        }}
        <super::display_name::DisplayNameSettings />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_on_is_stored_as_every_kind() {
        let mut draft = Draft::default();
        assert!(KINDS.iter().all(|(k, _)| draft.hears(k)));
        draft.toggle("daily_summary", false);
        assert_eq!(draft.kinds.len(), KINDS.len() - 1);
        assert!(!draft.hears("daily_summary"));
        draft.toggle("daily_summary", true);
        assert!(draft.kinds.is_empty(), "all on again means every kind");
    }

    #[test]
    fn empty_fields_are_left_out_and_rules_are_split() {
        let draft = Draft {
            telegram: "  ".to_owned(),
            email: " jane@example.com ".to_owned(),
            rules: "daily_loss, ,max_loss".to_owned(),
            ..Draft::default()
        };
        let request = draft.request();
        assert_eq!(request.telegram_chat_id, None);
        assert_eq!(request.email.as_deref(), Some("jane@example.com"));
        assert_eq!(request.rules, ["daily_loss", "max_loss"]);
        assert_eq!(
            request.webhook_secret, None,
            "an empty key keeps the stored one"
        );
    }
}
