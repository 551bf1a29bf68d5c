//! The history of a challenge's rule changes on the trader's dashboard: each version an admin
//! saved, when it applies, who saved it and what it changed, in words. Fetched again whenever
//! the live view's rules change, so a change shows without a reload.

use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use shared::api::{ChallengeView, RuleSetView};
use shared::domain::AccountId;

/// The rule changes, from the `dashboard` chunk: the panel shows only
/// once its fetch finds a change, so its code loads alongside that fetch.
#[wasm_split(dashboard, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn lazy_rule_history(
    id: AccountId,
    challenge: Signal<Option<ChallengeView>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <RuleHistory id challenge /> }.into_any())
}

/// The panel; renders nothing until a rule change exists.
#[component]
fn RuleHistory(
    id: AccountId,
    #[prop(into)] challenge: Signal<Option<ChallengeView>>,
) -> impl IntoView {
    let versions = RwSignal::new(Vec::<RuleSetView>::new());
    let applied = RwSignal::new(None::<i64>);
    // What the engine measures against: a change of it means a version was applied.
    let rules = Memo::new(move |_| {
        challenge.with(|c| {
            c.as_ref()
                .map(|c| {
                    c.rules
                        .iter()
                        .map(|r| (r.id.clone(), r.limit, r.budget))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    Effect::new(move |_| {
        // Read, not only tracked: a memo that is never read never runs, so it would never
        // subscribe to the view and never change.
        rules.with(|_| ());
        let id = id.clone();
        spawn_local_scoped_with_cancellation(async move {
            match api::rule_sets(&id).await {
                Ok(response) => {
                    applied.try_set(response.applied_version);
                    versions.try_set(response.versions);
                }
                Err(error) => leptos::logging::warn!("cannot read the rule changes: {error}"),
            }
        });
    });
    move || {
        let list = versions.get();
        if list.is_empty() {
            return None;
        }
        let in_force = applied.get();
        let items = list
            .into_iter()
            .rev()
            .map(|version| {
                let state = match in_force {
                    Some(v) if v >= version.version => "applied",
                    _ => "scheduled",
                };
                let changes = version
                    .changes
                    .iter()
                    .map(|c| view! { <li>{c.words()}</li> })
                    .collect_view();
                view! {
                    <li data-testid="rule-change" data-version=version.version.to_string() data-state=state>
                        <div class="rule-change-head">
                            <strong>{format!("Version {}", version.version)}</strong>
                            {format!(
                                " · effective {} · by {} · {state}",
                                format::date_time(version.effective_from),
                                version.created_by,
                            )}
                        </div>
                        <ul class="rule-change-words">{changes}</ul>
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <section class="panel rule-history" aria-labelledby="rule-history-title" data-testid="rule-history">
                <h2 id="rule-history-title">"Rule changes"</h2>
                <ol class="rule-change-list">{items}</ol>
            </section>
        })
    }
}
