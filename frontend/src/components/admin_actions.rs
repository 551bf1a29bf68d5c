//! What admins did to a challenge (anchor corrections, cleared breaches, pauses ended), with
//! who, when and why: read from the challenge's stored events, shown to its trader and to
//! admins. Fetched again whenever the challenge's status or rules change.

use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use shared::api::{ChallengeEventView, ChallengeView};
use shared::domain::AccountId;

/// One admin action as shown.
#[derive(Clone, Debug, PartialEq)]
struct Action {
    id: i64,
    time: chrono::DateTime<chrono::Utc>,
    what: String,
    by: String,
    reason: String,
}

fn action(event: &ChallengeEventView) -> Option<Action> {
    let body = &event.event;
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    let rules = || {
        body["rules"]
            .as_array()
            .map(|rules| {
                rules
                    .iter()
                    .filter_map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let what = match event.kind.as_str() {
        "anchor_corrected" => format!(
            "Corrected {} from {} to {}",
            text("anchor").replace('_', " "),
            text("before"),
            text("after")
        ),
        "breach_cleared" => format!("Cleared the breach of {}: the challenge is active", rules()),
        "unpaused" => "Ended the pause: the challenge is active".to_owned(),
        _ => return None,
    };
    Some(Action {
        id: event.id,
        time: event.time,
        what,
        by: text("by"),
        reason: text("reason"),
    })
}

/// The admin actions, from the `dashboard` chunk: the panel shows only
/// once its fetch finds an action, so its code loads alongside that fetch.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_admin_actions(
    id: AccountId,
    challenge: Signal<Option<ChallengeView>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <AdminActions id challenge /> }.into_any())
}

/// The admin actions on `id`'s challenge, newest first.
#[component]
pub fn AdminActions(
    id: AccountId,
    #[prop(into)] challenge: Signal<Option<ChallengeView>>,
) -> impl IntoView {
    let actions = RwSignal::new(Vec::<Action>::new());
    let failed = RwSignal::new(None::<String>);
    // What an admin action changes: the status, the rules' statuses and their limits (an
    // anchor correction moves a floor). Measured values change every poll and are left out.
    let key = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref().map(|c| {
                let rules: Vec<_> = c.rules.iter().map(|r| (r.status, r.limit)).collect();
                format!("{:?}{rules:?}", c.status)
            })
        })
    });
    Effect::new(move || {
        if key.get().is_none() {
            return;
        }
        let id = id.clone();
        spawn_local_scoped_with_cancellation(async move {
            let mut found = Vec::new();
            let mut after = 0;
            loop {
                match api::challenge_events(&id, after).await {
                    Ok(page) => {
                        found.extend(page.events.iter().filter_map(action));
                        match page.next_after {
                            Some(next) => after = next,
                            None => break,
                        }
                    }
                    Err(error) => {
                        failed.try_set(Some(error.to_string()));
                        return;
                    }
                }
            }
            found.reverse();
            failed.try_set(None);
            actions.try_set(found);
        });
    });
    move || {
        let list = actions.get();
        let error = failed.get();
        (!list.is_empty() || error.is_some()).then(|| {
            let items = list
                .into_iter()
                .map(|a| {
                    view! {
                        <li data-testid="admin-action" data-action-id=a.id.to_string()>
                            <span class="admin-action-what">{a.what}</span>
                            <span class="subtle">
                                {format!(" · {} by {}", format::date_time(a.time), a.by)}
                            </span>
                            <q class="admin-action-reason">{a.reason}</q>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <section
                    class="panel admin-actions"
                    aria-labelledby="admin-actions-title"
                    data-testid="admin-actions"
                >
                    <h2 id="admin-actions-title">"Admin actions on this challenge"</h2>
                    {error
                        .map(|message| {
                            view! {
                                <p class="form-error">
                                    {format!("The admin actions could not be loaded. {message}")}
                                </p>
                            }
                        })}
                    <ul class="admin-action-list">{items}</ul>
                </section>
            }
        })
    }
}
