use leptos::prelude::*;
use shared::api::{BackfillProgress, FeedStatus, FeedTransport};

/// The health of an account's data feed as a coloured badge (`data-feed` carries the raw state);
/// while history is read, how far it got; for a MetaApi account, how its data comes
/// (`data-transport`: streaming, REST polling, or REST while the stream is unavailable).
#[component]
pub fn FeedBadge(
    #[prop(into)] feed: Signal<FeedStatus>,
    #[prop(optional, into)] backfill: Signal<Option<BackfillProgress>>,
    #[prop(optional, into)] transport: Signal<Option<FeedTransport>>,
) -> impl IntoView {
    let transport_key = move || match transport.get() {
        Some(FeedTransport::Streaming) => "streaming",
        Some(FeedTransport::Rest) => "rest",
        Some(FeedTransport::RestFallback) => "rest_fallback",
        None => "",
    };
    let transport_label = move || match transport.get() {
        Some(FeedTransport::Streaming) => " · streaming",
        Some(FeedTransport::Rest) => " · polling",
        Some(FeedTransport::RestFallback) => " · polling (stream down)",
        None => "",
    };
    let transport_hint = move || match transport.get() {
        Some(FeedTransport::Streaming) => " MetaApi streams every change as it happens.",
        Some(FeedTransport::Rest) => " The account is read over MetaApi's REST API every second.",
        Some(FeedTransport::RestFallback) => {
            " MetaApi's stream is unavailable for this account: it is read over REST meanwhile, and streams again as soon as it can."
        }
        None => "",
    };
    let progress = move || {
        (feed.get() == FeedStatus::Backfilling)
            .then(|| backfill.get())
            .flatten()
            .map(|p| {
                let deals = crate::format::grouped(p.deals_read.into(), 0);
                match p.reached {
                    Some(reached) => {
                        format!(
                            " · {deals} deals, up to {}",
                            crate::format::day_month_year(&reached)
                        )
                    }
                    None => format!(" · {deals} deals"),
                }
            })
    };
    let (key, label, hint) = (
        move || match feed.get() {
            FeedStatus::Connecting => "connecting",
            FeedStatus::Backfilling => "backfilling",
            FeedStatus::Live => "live",
            FeedStatus::Stale => "stale",
            FeedStatus::Archived => "archived",
        },
        move || match feed.get() {
            FeedStatus::Connecting => "Connecting",
            FeedStatus::Backfilling => "Reading history",
            FeedStatus::Live => "Live",
            FeedStatus::Stale => "Stale",
            FeedStatus::Archived => "Archived",
        },
        move || match feed.get() {
            FeedStatus::Connecting => "No data from the broker yet.",
            FeedStatus::Backfilling => {
                "Reading the account's trade history to rebuild its anchors; rules are checked once it is done."
            }
            FeedStatus::Live => "Data from the broker is arriving on schedule.",
            FeedStatus::Stale => {
                "The broker has not answered lately: the numbers shown are the last known ones."
            }
            FeedStatus::Archived => "Archived: kept as it stood, read-only; no longer tracked.",
        },
    );
    view! {
        <span
            class=move || format!("badge badge-{}", key())
            data-testid="feed-status"
            data-feed=key
            data-transport=transport_key
            title=move || format!("{}{}", hint(), transport_hint())
        >
            <span class="badge-dot" aria-hidden="true"></span>
            {label}
            <span data-testid="backfill-progress">{progress}</span>
            <span class="feed-transport" data-testid="feed-transport">{transport_label}</span>
        </span>
    }
}
