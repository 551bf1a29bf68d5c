//! `/admin/notifications`: every notification delivery (one per event, channel and recipient)
//! with its status, attempts and last error, filtered by status.

use crate::components::{ErrorPanel, Loading};
use crate::{api, format};
use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use shared::api::{DeliveryStatus, NotificationDelivery};

/// Notification deliveries (admin console).
#[component]
pub fn AdminNotificationsPage() -> impl IntoView {
    crate::pages::set_title("Notifications · Admin · Riskdeck");
    // The status filter: empty for every status.
    let status = RwSignal::new(String::new());
    let rows = RwSignal::new(None::<Result<Vec<NotificationDelivery>, api::ApiError>>);
    let load = move || {
        let filter = status.get_untracked();
        rows.set(None);
        spawn_local_scoped_with_cancellation(async move {
            let result = api::notifications(&filter)
                .await
                .map(|response| response.deliveries);
            rows.try_set(Some(result));
        });
    };
    Effect::new(move |_| {
        status.track();
        load();
    });
    let table = move || match rows.get() {
        None => view! { <Loading label="Loading deliveries…" /> }.into_any(),
        Some(Err(error)) => view! {
            <ErrorPanel
                title="The deliveries could not be loaded"
                message=error.to_string()
                on_retry=Callback::new(move |()| load())
            />
        }
        .into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <p class="muted" data-testid="notifications-empty">"No deliveries."</p>
        }
        .into_any(),
        Some(Ok(list)) => view! {
            <table class="notifications-table" data-testid="notifications-table">
                <thead>
                    <tr>
                        <th>"Event"</th>
                        <th>"Account"</th>
                        <th>"Kind"</th>
                        <th>"Channel"</th>
                        <th>"Recipient"</th>
                        <th>"Status"</th>
                        <th>"Attempts"</th>
                        <th>"Last error"</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|delivery| {
                            let kind = match &delivery.rule {
                                Some(rule) => format!("{} ({rule})", delivery.kind),
                                None => delivery.kind.clone(),
                            };
                            let status = delivery.status.as_str();
                            view! {
                                <tr data-testid="notification-row">
                                    <td>{format::date_time(delivery.event_time)}</td>
                                    <td>{delivery.account.to_string()}</td>
                                    <td>{kind}</td>
                                    <td>{delivery.channel.clone()}</td>
                                    <td>{delivery.recipient.clone()}</td>
                                    <td>
                                        <span class=format!("delivery-status delivery-{status}")>
                                            {status}
                                        </span>
                                    </td>
                                    <td>{delivery.attempts}</td>
                                    <td class="delivery-error">
                                        {delivery.last_error.clone().unwrap_or_default()}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
        .into_any(),
    };
    view! {
        <section class="panel" data-testid="admin-notifications">
            <h1>"Notifications"</h1>
            <label class="notifications-filter">
                "Status "
                <select on:change=move |event| status.set(event_target_value(&event))>
                    <option value="">"All"</option>
                    {[DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed]
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> })
                        .collect_view()}
                </select>
            </label>
            {table}
        </section>
    }
}
