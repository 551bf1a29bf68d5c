//! `/admin/notifications`: every notification delivery (one per event, channel and recipient),
//! newest event first, filtered by status, page by page: where each stands, how many attempts
//! it took, the last error, and when it was delivered or is tried next.

use super::super::Load;
use crate::api;
use crate::components::{ErrorPanel, Loading};
use crate::format;
use leptos::prelude::*;
use leptos::task::spawn_local_scoped_with_cancellation;
use shared::api::{DeliveryStatus, NotificationDelivery, NotificationsResponse};

/// The status filter's choices: value, label.
const STATUSES: &[(&str, &str)] = &[
    ("", "All"),
    ("pending", "Pending"),
    ("delivered", "Delivered"),
    ("failed", "Failed"),
];

/// Notification deliveries (admin console).
#[component]
pub fn AdminNotificationsPage() -> impl IntoView {
    crate::pages::set_title("Notifications · Admin · Riskdeck");
    let status = RwSignal::new(None::<DeliveryStatus>);
    // The page shown, and the offsets of the pages before it.
    let offset = RwSignal::new(0u32);
    let earlier_pages = RwSignal::new(Vec::<u32>::new());
    let page = RwSignal::new(Load::<NotificationsResponse>::Loading);

    let fetch = move || {
        page.set(Load::Loading);
        let (status, offset) = (status.get_untracked(), offset.get_untracked());
        spawn_local_scoped_with_cancellation(async move {
            page.try_set(api::notifications(status, offset).await.into());
        });
    };
    fetch();

    let choose = move |ev: leptos::ev::Event| {
        status.set(DeliveryStatus::parse(&event_target_value(&ev)));
        offset.set(0);
        earlier_pages.set(Vec::new());
        fetch();
    };
    let older = move |_| {
        let next = page.with_untracked(|p| match p {
            Load::Ready(r) => r.next_offset,
            _ => None,
        });
        if let Some(next) = next {
            earlier_pages.update(|pages| pages.push(offset.get_untracked()));
            offset.set(next);
            fetch();
        }
    };
    let newer = move |_| {
        if let Some(previous) = earlier_pages.try_update(Vec::pop).flatten() {
            offset.set(previous);
            fetch();
        }
    };
    let retry = Callback::new(move |()| fetch());
    let options = STATUSES
        .iter()
        .map(|(value, label)| view! { <option value=*value>{*label}</option> })
        .collect_view();

    view! {
        <div class="page-head">
            <div>
                <h1>"Notifications"</h1>
                <p class="subtle">
                    "Every message sent about a challenge event, per channel and recipient: \
                     delivered, pending (with its next attempt) or given up (with its error)."
                </p>
            </div>
        </div>
        <section class="panel admin-notifications" data-testid="admin-notifications">
            <label class="field notifications-filter">
                <span class="field-label">"Status"</span>
                <select
                    data-testid="notifications-status"
                    prop:value=move || status.get().map_or("", DeliveryStatus::as_str)
                    on:change=choose
                >
                    {options}
                </select>
            </label>
            {move || match page.get() {
                Load::Loading => {
                    view! { <Loading label="Loading the deliveries…" /> }.into_any()
                }
                Load::Failed(error) => {
                    view! {
                        <ErrorPanel
                            title="The deliveries could not be loaded"
                            message=error.to_string()
                            on_retry=retry
                        />
                    }
                        .into_any()
                }
                Load::Ready(response) if response.deliveries.is_empty() => {
                    let text = match status.get_untracked() {
                        None => "No notifications yet: they appear here once a challenge event \
                                 is sent to a channel."
                            .to_owned(),
                        Some(s) => format!("No {} deliveries.", s.as_str()),
                    };
                    view! { <p class="subtle" data-testid="notifications-empty">{text}</p> }
                        .into_any()
                }
                Load::Ready(response) => {
                    view! { <DeliveriesTable deliveries=response.deliveries /> }.into_any()
                }
            }}
            <div class="pager">
                <button
                    class="button button-quiet"
                    type="button"
                    data-testid="notifications-newer"
                    disabled=move || earlier_pages.with(Vec::is_empty)
                    on:click=newer
                >
                    "Newer"
                </button>
                <button
                    class="button button-quiet"
                    type="button"
                    data-testid="notifications-older"
                    disabled=move || {
                        page.with(|p| !matches!(p, Load::Ready(r) if r.next_offset.is_some()))
                    }
                    on:click=older
                >
                    "Older"
                </button>
            </div>
        </section>
    }
}

/// What happened and when, in words: "delivered 12:00", "next attempt 12:05", "gave up".
fn when(delivery: &NotificationDelivery) -> String {
    match (delivery.status, delivery.delivered_at) {
        (DeliveryStatus::Delivered, Some(at)) => format!("delivered {}", format::date_time(at)),
        (DeliveryStatus::Delivered, None) => "delivered".to_owned(),
        (DeliveryStatus::Pending, _) => {
            format!(
                "next attempt {}",
                format::date_time(delivery.next_attempt_at)
            )
        }
        (DeliveryStatus::Failed, _) => "given up".to_owned(),
    }
}

#[component]
fn DeliveriesTable(deliveries: Vec<NotificationDelivery>) -> impl IntoView {
    let rows = deliveries
        .into_iter()
        .map(|d| {
            let status = d.status.as_str();
            let event = match &d.rule {
                Some(rule) => format!("{} · {rule}", d.kind),
                None => d.kind.clone(),
            };
            let when = when(&d);
            view! {
                <tr data-testid="notification-row" data-status=status>
                    <td data-label="Event">
                        <span>{event}</span>
                        <br />
                        <span class="subtle">
                            {format!(
                                "#{} · {} · {}",
                                d.event_id,
                                d.account.as_str(),
                                format::date_time(d.event_time),
                            )}
                        </span>
                    </td>
                    <td data-label="Channel">{d.channel.clone()}</td>
                    <td data-label="Recipient">{d.recipient.clone()}</td>
                    <td data-label="Status">
                        <span class=format!("delivery-status delivery-{status}")>{status}</span>
                    </td>
                    <td data-label="Attempts" class="num">{d.attempts}</td>
                    <td data-label="Last error" class="delivery-error" data-testid="notification-error">
                        {d.last_error.clone().unwrap_or_else(|| "–".to_owned())}
                    </td>
                    <td data-label="When">{when}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-panel">
            <table class="admin-table notifications-table" data-testid="notifications-list">
                <thead>
                    <tr>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Channel"</th>
                        <th scope="col">"Recipient"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"When"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
