use leptos::prelude::*;
use shared::api::{BackfillProgress, FeedStatus};

/// The health of an account's data feed as a coloured badge (`data-feed` carries the raw state);
/// while history is read, how far it got.
#[component]
pub fn FeedBadge(
    #[prop(into)] feed: Signal<FeedStatus>,
    #[prop(optional, into)] backfill: Signal<Option<BackfillProgress>>,
) -> impl IntoView {
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
        },
        move || match feed.get() {
            FeedStatus::Connecting => "Connecting",
            FeedStatus::Backfilling => "Reading history",
            FeedStatus::Live => "Live",
            FeedStatus::Stale => "Stale",
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
        },
    );
    view! {
        <span
            class=move || format!("badge badge-{}", key())
            data-testid="feed-status"
            data-feed=key
            title=hint
        >
            <span class="badge-dot" aria-hidden="true"></span>
            {label}
            <span data-testid="backfill-progress">{progress}</span>
        </span>
    }
}
