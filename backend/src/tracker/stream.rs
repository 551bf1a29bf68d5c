//! An account followed over MetaApi's streaming API (`broker::metaapi::streaming`): REST reads
//! its history and starts the challenge (the first poll, the backfill), then the stream is
//! subscribed from the challenge's last deal and every change it brings is fed to the engine
//! exactly as a poll's would be (deals before the account information that includes them,
//! each deal once by id). While the stream is live the account is polled only to reconcile
//! (every `deal_reconcile_interval`); while it is refused or broken it is polled as a REST
//! account is, and the dashboard says so (`FeedTransport::RestFallback`) until the stream
//! synchronizes again.

use super::{Tracker, schedule};
use broker::StreamEvent;
use broker::ctrader::CtraderClient;
use broker::journal::Journal;
use broker::metaapi::{StreamingPool, Subscription};
use chrono::Utc;
use shared::api::{EquityPoint, FeedStatus, FeedTransport};
use shared::domain::{AccountInfo, Deal, Position};
use std::sync::Arc;
use tokio::time::Instant;

/// Where an account's stream comes from.
enum Source {
    /// MetaApi's streaming API: the pool of sockets and MetaApi's id of the account.
    MetaApi {
        pool: StreamingPool,
        account: String,
        journal: Option<Arc<Journal>>,
    },
    /// cTrader's events on the application's shared connection.
    Ctrader(CtraderClient),
}

/// A subscription of either source.
enum Subscribed {
    MetaApi(Subscription),
    Ctrader(broker::ctrader::Subscription),
}

impl Subscribed {
    async fn next(&mut self) -> Option<StreamEvent> {
        match self {
            Subscribed::MetaApi(s) => s.next().await,
            Subscribed::Ctrader(s) => s.next().await,
        }
    }

    fn try_next(&mut self) -> Option<StreamEvent> {
        match self {
            Subscribed::MetaApi(s) => s.try_next(),
            Subscribed::Ctrader(s) => s.try_next(),
        }
    }
}

/// The stream of one account and what it has told so far.
pub(crate) struct Streamed {
    source: Source,
    /// The account, for the logs.
    account: String,
    subscription: Option<Subscribed>,
    info: Option<AccountInfo>,
    positions: Vec<Position>,
    /// Deals told and not yet fed.
    deals: Vec<Deal>,
    /// A synchronization completed and nothing broke since.
    live: bool,
    /// Since when the stream is not live (subscribing, synchronizing, broken).
    down_since: Instant,
    /// The broker refused the subscription (it is retried).
    refused: bool,
}

impl Streamed {
    /// An account to follow through `pool` (not subscribed until the tracker has onboarded it).
    pub(crate) fn new(pool: StreamingPool, account: &str, journal: Option<Arc<Journal>>) -> Self {
        Self::from_source(
            Source::MetaApi {
                pool,
                account: account.to_owned(),
                journal,
            },
            account,
        )
    }

    /// A cTrader account followed by its connection's events. While its stream synchronizes
    /// (after a drop, say) it is not polled: thousands of accounts share one connection's
    /// request budget, and the stream catches up from the last deal.
    pub(crate) fn ctrader(client: CtraderClient) -> Self {
        let account = client.account_id().to_string();
        Self::from_source(Source::Ctrader(client), &account)
    }

    fn from_source(source: Source, account: &str) -> Self {
        Self {
            source,
            account: account.to_owned(),
            subscription: None,
            info: None,
            positions: Vec::new(),
            deals: Vec::new(),
            live: false,
            down_since: Instant::now(),
            refused: false,
        }
    }

    /// Unsubscribes and forgets what the stream told (a lost lease).
    pub(super) fn reset(&mut self) {
        self.subscription = None;
        self.info = None;
        self.positions.clear();
        self.deals.clear();
        self.live = false;
        self.down_since = Instant::now();
        self.refused = false;
    }

    /// Folds one event; whether the numbers it carries should be fed now.
    fn fold(&mut self, event: StreamEvent) -> bool {
        match event {
            StreamEvent::SynchronizationStarted => {
                self.live = false;
                false
            }
            StreamEvent::AccountInformation(info) => {
                self.info = Some(info);
                self.live
            }
            StreamEvent::Positions(positions) => {
                self.positions = positions;
                self.live
            }
            StreamEvent::PositionsChanged { updated, removed } => {
                self.positions
                    .retain(|p| !removed.contains(&p.id) && !updated.iter().any(|u| u.id == p.id));
                self.positions.extend(updated);
                self.live
            }
            StreamEvent::Deals(deals) => {
                self.deals.extend(deals);
                false
            }
            StreamEvent::Prices {
                equity,
                margin,
                free_margin,
                margin_level,
                ..
            } => {
                let Some(info) = self.info.as_mut() else {
                    return false;
                };
                if let Some(equity) = equity {
                    info.equity = equity;
                }
                if let Some(margin) = margin {
                    info.margin = margin;
                }
                if let Some(free_margin) = free_margin {
                    info.free_margin = free_margin;
                }
                if margin_level.is_some() {
                    info.margin_level = margin_level;
                }
                self.live && equity.is_some()
            }
            StreamEvent::Specifications(_) => false,
            StreamEvent::Synchronized => {
                self.live = true;
                self.refused = false;
                self.info.is_some()
            }
            StreamEvent::Disconnected { reason } => {
                if self.live {
                    self.down_since = Instant::now();
                }
                self.live = false;
                tracing::info!(account = %self.account, %reason, "the account's stream is down; it is subscribed again");
                false
            }
            StreamEvent::Refused { reason, .. } => {
                if self.live {
                    self.down_since = Instant::now();
                }
                self.live = false;
                self.refused = true;
                tracing::warn!(account = %self.account, %reason, "the broker refused the account's stream; polling over REST meanwhile");
                false
            }
        }
    }
}

/// The next event of `stream`'s subscription; never resolves without one.
/// A subscription that ended (its socket's task is gone) is dropped and told as a
/// disconnection: the account is polled meanwhile and subscribed again after its next poll.
pub(super) async fn next(stream: &mut Option<Streamed>) -> StreamEvent {
    let Some(stream) = stream.as_mut() else {
        return std::future::pending().await;
    };
    let Some(subscription) = stream.subscription.as_mut() else {
        return std::future::pending().await;
    };
    match subscription.next().await {
        Some(event) => event,
        None => {
            stream.subscription = None;
            StreamEvent::Disconnected {
                reason: "the stream's connection ended".to_owned(),
            }
        }
    }
}

impl Tracker {
    /// How the account's data comes now (for a MetaApi account), and whether a poll is due.
    pub(super) fn transport_now(&self) -> Option<FeedTransport> {
        if self.client.is_none() || self.pushes.is_some() {
            return None;
        }
        let Some(stream) = &self.stream else {
            return self.metaapi.then_some(FeedTransport::Rest);
        };
        Some(schedule::streaming_transport(
            stream.live,
            stream.refused,
            Instant::now().saturating_duration_since(stream.down_since),
            self.stale_after,
        ))
    }

    /// Publishes how the account's data comes now, when it changed.
    pub(super) fn publish_transport(&mut self) {
        let Some(transport) = self.transport_now() else {
            return;
        };
        if self.shown_transport != Some(transport) {
            self.shown_transport = Some(transport);
            self.hub.publish_transport(&self.id, transport);
        }
    }

    /// Whether the stream is live now (polls are then only reconciliations).
    pub(super) fn streaming_live(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.live)
    }

    /// Whether the account waits for its stream instead of polling: a cTrader stream that is
    /// synchronizing and not refused. Its accounts share one connection's limits, which polls
    /// would only spend; the feed shows stale meanwhile.
    pub(super) fn awaiting_stream(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| {
            matches!(s.source, Source::Ctrader(_))
                && s.subscription.is_some()
                && !s.live
                && !s.refused
        })
    }

    /// Subscribes the account's stream once its challenge is onboarded, from its last deal.
    pub(super) fn start_stream(&mut self) {
        if self.needs_backfill || self.onboarding.is_some() {
            return;
        }
        let deals_from = self.challenge.as_ref().map(|run| run.deals_from());
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream.subscription.is_some() {
            return;
        }
        stream.subscription = Some(match &stream.source {
            Source::MetaApi {
                pool,
                account,
                journal,
            } => Subscribed::MetaApi(pool.subscribe(account, deals_from, journal.clone())),
            Source::Ctrader(client) => Subscribed::Ctrader(client.subscribe(deals_from)),
        });
        stream.down_since = Instant::now();
    }

    /// Folds a stream event (and every other already waiting: price packets are folded at the
    /// rate they come, the engine fed once for all of them), then feeds the engine.
    pub(super) async fn on_stream(&mut self, first: StreamEvent) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let mut feed = stream.fold(first);
        let mut folded = 1;
        while folded < 1024 {
            let Some(event) = stream.subscription.as_mut().and_then(Subscribed::try_next) else {
                break;
            };
            feed |= stream.fold(event);
            folded += 1;
        }
        self.publish_transport();
        if feed {
            self.observe_streamed().await;
        }
    }

    /// Feeds the engine what the stream told, as a poll would, then stores and publishes.
    async fn observe_streamed(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let Some(info) = stream.info.clone() else {
            return;
        };
        let positions = stream.positions.clone();
        let deals = std::mem::take(&mut stream.deals);
        let now = Utc::now();
        self.last_success = Some(Instant::now());
        self.peaks.observe(&info);
        self.samples.push(EquityPoint {
            time: now,
            balance: info.balance,
            equity: info.equity,
        });
        self.note_feed(false, "the broker's stream flows again")
            .await;
        if let Some(run) = self.challenge.as_mut() {
            run.note_currency(&info.currency);
        }
        self.evaluate(now, Some(deals), &info, &positions).await;
        self.save_peaks().await;
        if self.lease_lost {
            return;
        }
        let view = self.view(now, &info, &positions);
        self.publish_view(&info.currency, view, FeedStatus::Live);
        // The chart's samples after the view: a routine write never holds up a breach shown.
        self.flush_samples(false).await;
    }
}
