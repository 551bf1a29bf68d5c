//! A competition's leaderboard: the stage and time left, a search in display names, the
//! signed-in trader's own rows pinned above the page when they are off it, the table (rank,
//! name, return, profit, trades, status with the rule that disqualified, movement since the
//! day before), pages, and the top ten's returns as bars. The same component shows the
//! trader's page (live over SSE), the admin console's (live, every row linked) and the public
//! page (polled, read-only, no `mine`).
//!
//! It only shows what the server sent: ranking happens on the server (`shared::competitions`).

use super::{ErrorPanel, Load, Loading, StreamStatus};
use crate::api::{self, ApiError, BoardQuery};
use crate::format;
use crate::sse::{self, Connection};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos::task::spawn_local;
use rust_decimal::Decimal;
use shared::competitions::{
    EntrantStatus, LeaderboardPage, LeaderboardRow, MAX_PER_PAGE, Stage, Window,
};
use shared::domain::AccountId;
use shared::format::{grouped, money};

/// Where a leaderboard's pages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The signed-in stream (`mine` and the pinned rows for traders, accounts for admins).
    Live,
    /// The public link, polled: display names and numbers only.
    Public,
}

/// How often the public page asks again, and how much longer after a 429.
const POLL_MS: u32 = 5_000;
const SLOW_DOWN_POLLS: u32 = 3;

/// A leaderboard, following its pages as they change. `competition` is the id (or the public
/// slug for [`Source::Public`]); `link` is where a row with an account leads (the entrant's
/// own dashboard for a trader, the challenge's console page for an admin).
#[component]
pub fn Leaderboard(
    #[prop(into)] competition: String,
    source: Source,
    #[prop(optional)] link: Option<fn(&AccountId) -> String>,
    /// Rows per page (0: the server's default).
    #[prop(optional)]
    per_page: u32,
    /// Whether the competition's name is the page's heading (and the tab's title).
    #[prop(optional)]
    titled: bool,
) -> impl IntoView {
    let page = RwSignal::new(1u32);
    let query = RwSignal::new(String::new());
    let board = RwSignal::new(Load::<LeaderboardPage>::Loading);
    let connection = RwSignal::new(Connection::Connecting);
    let slowed = RwSignal::new(false);

    match source {
        Source::Live => follow_live(
            competition.clone(),
            page,
            query,
            per_page,
            board,
            connection,
        ),
        Source::Public => poll_public(competition.clone(), page, query, board, slowed),
    }

    let now = RwSignal::new(format::now());
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        1_000,
        move || {
            now.try_set(format::now());
        },
    )));
    on_cleanup(move || ticker.dispose());

    let typed = RwSignal::new(String::new());
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        page.set(1);
        query.set(typed.get_untracked().trim().to_owned());
    };

    let failed = move || board.with(|shown| matches!(shown, Load::Failed(_)));
    // The search and the stream's state stay put while the standings below them change, so
    // typing keeps its focus when an update arrives.
    view! {
        <section class="leaderboard" data-testid="leaderboard">
            {move || match board.get() {
                Load::Loading => EitherOf3::A(view! { <Loading label="Loading the standings…" /> }),
                Load::Failed(error) => EitherOf3::B(view! { <BoardError error source /> }),
                Load::Ready(shown) => EitherOf3::C(view! { <BoardHead board=shown now titled /> }),
            }}
            <div class="leaderboard-tools" style:display=move || if failed() { "none" } else { "" }>
                <form class="leaderboard-search" role="search" on:submit=search>
                    <label class="visually-hidden" for="leaderboard-q">
                        "Search by display name"
                    </label>
                    <input
                        id="leaderboard-q"
                        type="search"
                        placeholder="Search by display name"
                        maxlength="32"
                        data-testid="leaderboard-search"
                        prop:value=typed
                        on:input=move |ev| typed.set(event_target_value(&ev))
                    />
                    <button class="button button-quiet" type="submit">
                        "Search"
                    </button>
                </form>
                {(source == Source::Live).then(|| view! { <StreamStatus connection /> })}
            </div>
            {move || {
                (source == Source::Public && slowed.get())
                    .then(|| {
                        view! {
                            <p class="subtle" role="status">
                                "Many people are looking at this page: updates come a little slower."
                            </p>
                        }
                    })
            }}
            {move || match board.get() {
                Load::Ready(shown) => Some(view! {
                    <TopBars board=shown.clone() />
                    <BoardTable board=shown.clone() link query />
                    <Pager board=shown page />
                }),
                _ => None,
            }}
        </section>
    }
}

/// Follows the page and search on screen over the stream: a new subscription when either
/// changes, dropped (closed) with the component.
fn follow_live(
    competition: String,
    page: RwSignal<u32>,
    query: RwSignal<String>,
    per_page: u32,
    board: RwSignal<Load<LeaderboardPage>>,
    connection: RwSignal<Connection>,
) {
    let follow = StoredValue::new_local(None::<sse::Follow>);
    on_cleanup(move || follow.dispose());
    // Pages the stream delivered: a fetch that answers after one of them is older, and is
    // dropped.
    let delivered = StoredValue::new(0u64);
    Effect::new(move || {
        let wanted = BoardQuery {
            page: page.get(),
            per_page: per_page.min(MAX_PER_PAGE),
            q: query.get(),
        };
        let url = api::leaderboard_stream_url(&competition, &wanted);
        // The first page arrives on the stream; a plain fetch as well, so a stream the
        // network refuses still shows the standings (and a 404 is said in words).
        let id = competition.clone();
        let asked = delivered.get_value();
        let fetch_query = wanted.clone();
        spawn_local(async move {
            let fetched = api::leaderboard(&id, &fetch_query).await;
            if delivered.try_get_value() != Some(asked) {
                return;
            }
            board.try_update(|shown| match fetched {
                Ok(fresh) => *shown = Load::Ready(fresh),
                // A failure after the board was shown keeps the last standings on screen.
                Err(error) if !matches!(shown, Load::Ready(_)) => *shown = Load::Failed(error),
                Err(_) => {}
            });
        });
        follow.set_value(None);
        follow.set_value(Some(sse::follow::<LeaderboardPage>(
            url,
            "leaderboard",
            move |fresh| {
                delivered.try_update_value(|n| *n += 1);
                board.try_set(Load::Ready(fresh));
            },
            move |state| {
                connection.try_set(state);
            },
        )));
    });
}

/// Asks the public address every few seconds (and for each page and search at once); after a
/// 429 it waits a few turns.
fn poll_public(
    slug: String,
    page: RwSignal<u32>,
    query: RwSignal<String>,
    board: RwSignal<Load<LeaderboardPage>>,
    slowed: RwSignal<bool>,
) {
    let skip = StoredValue::new(0u32);
    let fetch = move |slug: String| {
        let wanted = BoardQuery {
            page: page.get_untracked(),
            per_page: 0,
            q: query.get_untracked(),
        };
        spawn_local(async move {
            match api::public_leaderboard(&slug, &wanted).await {
                Err(ApiError::Server { status: 429, .. }) => {
                    slowed.try_set(true);
                    skip.try_set_value(SLOW_DOWN_POLLS);
                }
                // A failure after the board was shown keeps the last standings on screen.
                Err(error) => {
                    board.try_update(|shown| {
                        if !matches!(shown, Load::Ready(_)) {
                            *shown = Load::Failed(error);
                        }
                    });
                }
                Ok(fresh) => {
                    board.try_set(Load::Ready(fresh));
                }
            }
        });
    };
    let first = slug.clone();
    Effect::new(move || {
        page.track();
        query.track();
        fetch(first.clone());
    });
    let ticker = StoredValue::new_local(Some(gloo_timers::callback::Interval::new(
        POLL_MS,
        move || {
            let waiting = skip.try_get_value().unwrap_or(0);
            if waiting > 0 {
                skip.try_set_value(waiting - 1);
                return;
            }
            let gone = board
                .try_with_untracked(|shown| {
                    matches!(shown, Load::Failed(ApiError::NotFound { .. }))
                })
                .unwrap_or(true);
            if !gone {
                fetch(slug.clone());
            }
        },
    )));
    on_cleanup(move || ticker.dispose());
}

#[component]
fn BoardError(error: ApiError, source: Source) -> impl IntoView {
    let (title, message) = match (&error, source) {
        (ApiError::NotFound { .. }, Source::Public) => (
            "This leaderboard is not public",
            "The link is unknown, or the competition's organiser turned its public page off. \
             Ask them for a new link."
                .to_owned(),
        ),
        (ApiError::NotFound { .. }, Source::Live) => (
            "No such competition",
            "This competition does not exist, or none of your accounts is in it.".to_owned(),
        ),
        _ => ("The standings could not be loaded", error.to_string()),
    };
    view! {
        <div data-testid="leaderboard-error">
            <ErrorPanel title message />
        </div>
    }
}

/// The stage, the window and what is left of it, the ranking and the last change.
#[component]
fn BoardHead(board: LeaderboardPage, now: RwSignal<DateTime<Utc>>, titled: bool) -> impl IntoView {
    let title = titled.then(|| {
        leptos::prelude::document().set_title(&format!("{} · Riskdeck", board.name));
        view! { <h1 data-testid="leaderboard-title">{board.name.clone()}</h1> }
    });
    let window = window_words(&board.window, &board.time_zone);
    let stage = board.stage;
    let is_final = board.is_final;
    let ends = board.window;
    let left = move || time_left(stage, is_final, &ends, now.get());
    let as_of = board
        .as_of
        .map(|at| format!(" · updated {}", format::clock(at)));
    let count = match (board.entrants, board.matching) {
        (1, _) => "1 entrant".to_owned(),
        (all, matching) if matching != all => format!("{matching} of {all} entrants match"),
        (all, _) => format!("{all} entrants"),
    };
    view! {
        {title}
        <div class="leaderboard-head">
            <span class=stage_class(stage) data-testid="leaderboard-stage">
                {stage_words(stage)}
            </span>
            <strong class="leaderboard-left" data-testid="leaderboard-left">{left}</strong>
            <span class="subtle">{window}</span>
        </div>
        <p class="subtle leaderboard-facts">
            {format!("Ranked by {} · {count}", board.ranking)}
            {as_of}
        </p>
    }
}

/// A stage in a word.
pub fn stage_words(stage: Stage) -> &'static str {
    match stage {
        Stage::Upcoming => "Upcoming",
        Stage::Running => "Running",
        Stage::Ended => "Ended",
    }
}

/// The badge class of a stage.
pub fn stage_class(stage: Stage) -> &'static str {
    match stage {
        Stage::Upcoming => "badge stage-upcoming",
        Stage::Running => "badge badge-live",
        Stage::Ended => "badge stage-ended",
    }
}

/// A window as the firm reads it: `4 Jan 2027, 00:00 – 31 Jan 2027, 23:59 Europe/London`
/// (in UTC when the zone is unknown).
pub fn window_words(window: &Window, zone: &str) -> String {
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    let at = |time: DateTime<Utc>| {
        let local = time.with_timezone(&tz);
        format!("{}, {}", format::day_month_year(&local), format::hm(&local))
    };
    format!("{} – {} {}", at(window.start), at(window.end), tz.name())
}

/// What is left: `starts in 2 d 04 h`, `ends in 5 h 12 min`, or `Final standings`.
pub fn time_left(stage: Stage, is_final: bool, window: &Window, now: DateTime<Utc>) -> String {
    match stage {
        _ if is_final => "Final standings".to_owned(),
        Stage::Ended => "Ended: the final standings are being settled".to_owned(),
        Stage::Upcoming => format!("Starts in {}", span((window.start - now).num_seconds())),
        Stage::Running => format!("Ends in {}", span((window.end - now).num_seconds())),
    }
}

/// A span of time in its two largest units.
fn span(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let days = seconds / 86_400;
    if days > 0 {
        format!("{days} d {:02} h", seconds / 3_600 % 24)
    } else {
        format::countdown(seconds)
    }
}

/// Movement since the day before: `▲3`, `▼1`, `–` (none), or nothing on the first day.
pub fn movement_words(movement: Option<i32>) -> (&'static str, String) {
    match movement {
        None => ("movement", String::new()),
        Some(0) => ("movement", "–".to_owned()),
        Some(up) if up > 0 => ("movement movement-up", format!("▲{up}")),
        Some(down) => (
            "movement movement-down",
            format!("▼{}", down.unsigned_abs()),
        ),
    }
}

/// The top ten's returns as bars: a glance at how close the race is.
#[component]
fn TopBars(board: LeaderboardPage) -> impl IntoView {
    // Before anyone has a number (before the start, say) the bars would all be empty.
    if board.page != 1
        || board.rows.len() < 2
        || board.rows.iter().all(|r| r.return_percent.is_zero())
    {
        return None;
    }
    let top: Vec<&LeaderboardRow> = board.rows.iter().take(10).collect();
    let widest = top
        .iter()
        .map(|row| row.return_percent.abs())
        .max()
        .filter(|w| !w.is_zero())
        .unwrap_or(Decimal::ONE);
    let bars = top
        .into_iter()
        .map(|row| {
            let share = (row.return_percent.abs() * Decimal::ONE_HUNDRED / widest)
                .round_dp(1)
                .min(Decimal::ONE_HUNDRED);
            let class = if row.return_percent.is_sign_negative() && !row.return_percent.is_zero() {
                "top-bar top-bar-down"
            } else {
                "top-bar"
            };
            view! {
                <li class="top-bar-row" class:mine=row.mine>
                    <span class="top-bar-name">{format!("{}. {}", row.rank, row.display_name)}</span>
                    <span class="top-bar-track">
                        <span class=class style=format!("width: {share}%")></span>
                    </span>
                    <span class="top-bar-value num">{percent(row.return_percent)}</span>
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <figure class="panel top-bars" data-testid="leaderboard-bars">
            <figcaption>"Return of the top ten"</figcaption>
            <ol>{bars}</ol>
        </figure>
    })
}

fn percent(value: Decimal) -> String {
    let sign = if value > Decimal::ZERO && !shared::format::round(value, 2).is_zero() {
        "+"
    } else {
        ""
    };
    format!("{sign}{}%", grouped(value, 2))
}

#[component]
fn BoardTable(
    board: LeaderboardPage,
    link: Option<fn(&AccountId) -> String>,
    query: RwSignal<String>,
) -> impl IntoView {
    if board.rows.is_empty() && board.pinned.is_empty() {
        let (title, text) = if !query.get_untracked().is_empty() {
            (
                "No one matches",
                "No display name on this leaderboard contains that text. Clear the search to see everyone.",
            )
        } else if board.entrants == 0 {
            (
                "No entrants yet",
                "Entrants appear here once the organiser adds their accounts.",
            )
        } else {
            ("Nothing on this page", "Go back to the first page.")
        };
        return Either::Left(view! {
            <section class="panel notice" data-testid="leaderboard-empty">
                <h2>{title}</h2>
                <p>{text}</p>
            </section>
        });
    }
    let pinned = (!board.pinned.is_empty()).then(|| {
        let rows = board
            .pinned
            .iter()
            .cloned()
            .map(|row| view! { <BoardRow row link pinned=true stage=board.stage /> })
            .collect_view();
        view! {
            <tbody class="leaderboard-pinned" data-testid="leaderboard-pinned">
                {rows}
                <tr class="leaderboard-gap" aria-hidden="true">
                    <td colspan="7">"⋯"</td>
                </tr>
            </tbody>
        }
    });
    let rows = board
        .rows
        .into_iter()
        .map(|row| view! { <BoardRow row link pinned=false stage=board.stage /> })
        .collect_view();
    Either::Right(view! {
        <div class="panel table-panel table-scroll">
            <table class="data-table leaderboard-table" data-testid="leaderboard-table">
                <thead>
                    <tr>
                        <th scope="col" class="num">"Rank"</th>
                        <th scope="col">"Trader"</th>
                        <th scope="col" class="num">"Return"</th>
                        <th scope="col" class="num">"Profit"</th>
                        <th scope="col" class="num">"Trades"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col" title="Places since the end of the previous day">"Move"</th>
                    </tr>
                </thead>
                {pinned}
                <tbody>{rows}</tbody>
            </table>
        </div>
    })
}

#[component]
fn BoardRow(
    row: LeaderboardRow,
    link: Option<fn(&AccountId) -> String>,
    pinned: bool,
    stage: Stage,
) -> impl IntoView {
    let (move_class, move_text) = movement_words(row.movement);
    let status = match &row.status {
        EntrantStatus::Active if stage == Stage::Upcoming => {
            EitherOf3::A(view! { <span class="badge stage-upcoming">"Entered"</span> })
        }
        EntrantStatus::Active => {
            EitherOf3::B(view! { <span class="badge badge-live">"Active"</span> })
        }
        EntrantStatus::Disqualified { why } => EitherOf3::C(view! {
            <span class="badge badge-breached" title=format!("at {}", format::date_time(why.at))>
                "Disqualified"
            </span>
            <span class="subtle dq-rule">{format!(" {}", why.label)}</span>
        }),
    };
    let disqualified = matches!(row.status, EntrantStatus::Disqualified { .. });
    let name = match (link, &row.account) {
        (Some(link), Some(account)) => {
            let note = row.mine.then_some(" (you)");
            Either::Left(view! {
                <a href=link(account) data-testid="leaderboard-link">{row.display_name.clone()}</a>
                <span class="subtle">{note}</span>
            })
        }
        _ => {
            let note = row.mine.then_some(" (you)");
            Either::Right(view! { {row.display_name.clone()} <span class="subtle">{note}</span> })
        }
    };
    let profit = match &row.currency {
        Some(currency) => format!("{} {currency}", money(row.profit)),
        None => money(row.profit),
    };
    let tone = |value: Decimal| {
        if value.is_sign_negative() && !shared::format::round(value, 2).is_zero() {
            "num negative"
        } else {
            "num"
        }
    };
    view! {
        <tr
            class="leaderboard-row"
            class:mine=row.mine
            class:disqualified=disqualified
            data-testid=if pinned { "leaderboard-pinned-row" } else { "leaderboard-row" }
            data-mine=row.mine.to_string()
            data-rank=row.rank.to_string()
            aria-current=row.mine.then_some("true")
        >
            <td class="num rank">{row.rank}</td>
            <th scope="row" data-testid="leaderboard-name">{name}</th>
            <td class=tone(row.return_percent)>{percent(row.return_percent)}</td>
            <td class=tone(row.profit)>{profit}</td>
            <td class="num">{row.trades}</td>
            <td>{status}</td>
            <td class=move_class>{move_text}</td>
        </tr>
    }
}

#[component]
fn Pager(board: LeaderboardPage, page: RwSignal<u32>) -> impl IntoView {
    let per_page = board.per_page.max(1);
    let pages = board.matching.div_ceil(per_page).max(1);
    if pages <= 1 {
        return None;
    }
    let current = board.page.clamp(1, pages);
    Some(view! {
        <nav class="pager" aria-label="Leaderboard pages" data-testid="leaderboard-pager">
            <button
                class="button button-quiet"
                type="button"
                disabled=current <= 1
                on:click=move |_| page.set(current.saturating_sub(1).max(1))
            >
                "← Previous"
            </button>
            <span>{format!("Page {current} of {pages}")}</span>
            <button
                class="button button-quiet"
                type="button"
                data-testid="leaderboard-next"
                disabled=current >= pages
                on:click=move |_| page.set((current + 1).min(pages))
            >
                "Next →"
            </button>
        </nav>
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn movement_reads_as_arrows() {
        assert_eq!(movement_words(Some(3)).1, "▲3");
        assert_eq!(movement_words(Some(-1)).1, "▼1");
        assert_eq!(movement_words(Some(0)).1, "–");
        assert_eq!(movement_words(None).1, "");
    }

    #[test]
    fn time_left_counts_down_to_the_next_moment() {
        let at = |d, h| {
            Utc.with_ymd_and_hms(2027, 1, d, h, 0, 0)
                .single()
                .expect("time")
        };
        let window = Window {
            start: at(4, 0),
            end: at(8, 0),
        };
        assert_eq!(
            time_left(Stage::Upcoming, false, &window, at(1, 22)),
            "Starts in 2 d 02 h"
        );
        assert_eq!(
            time_left(Stage::Running, false, &window, at(7, 19)),
            "Ends in 5 h 00 min 00 s"
        );
        assert_eq!(
            time_left(Stage::Ended, true, &window, at(9, 0)),
            "Final standings"
        );
        assert_eq!(
            window_words(&window, "Europe/London"),
            "4 Jan 2027, 00:00 – 8 Jan 2027, 00:00 Europe/London"
        );
        assert_eq!(
            window_words(&window, "Asia/Tokyo"),
            "4 Jan 2027, 09:00 – 8 Jan 2027, 09:00 Asia/Tokyo"
        );
    }

    #[test]
    fn returns_carry_their_sign() {
        assert_eq!(percent(Decimal::new(1234, 2)), "+12.34%");
        assert_eq!(percent(Decimal::new(-5, 1)), "-0.50%");
        assert_eq!(percent(Decimal::ZERO), "0.00%");
    }
}
