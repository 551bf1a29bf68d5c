//! An account followed by what its application's shared connection pushes, not by polling:
//! cTrader's answer to "thousands of accounts on two connections" (issue 22).
//!
//! [`CtraderClient::subscribe`] synchronizes the account (three requests: trader, reconcile,
//! unrealized P/L, and the deals since the last one known, a historical read), then follows it:
//!
//! - an **execution event** (`ProtoOAExecutionEvent`: a fill, a deposit or withdrawal, a swap)
//!   tells its deal at once and reads the account again (three requests), so balance, margin
//!   and positions are the broker's own numbers after every change;
//! - a **spot event** moves each open position's P/L from where the broker last put it, by the
//!   price's change since, times its size in units, converted into the deposit currency; the
//!   broker's own P/L is read again every [`PNL_REFRESH`] while positions are open (one
//!   request: a thousand accounts cost eight requests a second of the connection's fifty);
//! - a dropped connection, a lost authorization or more execution events than are kept start
//!   a new synchronization from the last deal told, so no deal is missed.
//!
//! At rest an account costs nothing on the connection: its quotes come from its broker's feed,
//! shared with every account of the broker that reads the same symbol (see `connection`); the
//! requests an account makes take their turn in the connection's queue with every other
//! account's.

use super::client::{CtraderClient, Snapshot, cash_flow_deal, margin_level, trade_deal};
use crate::{BrokerError, StreamEvent};
use ::wire::ctrader as wire;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::domain::Deal;
use std::collections::HashSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How often the broker's own unrealized P/L is read again while positions are open.
pub const PNL_REFRESH: Duration = Duration::from_secs(120);
/// At most one equity update per account this often, however fast the quotes come.
pub const PRICE_EVERY: Duration = Duration::from_millis(250);
/// Events waiting for the follower before the stream waits for it.
const QUEUE: usize = 256;
/// The longest wait between two synchronizations that failed.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long refused credentials are left before they are tried again.
const CREDENTIALS_RETRY: Duration = Duration::from_secs(60);

/// One account's events; dropping it stops following the account.
pub struct Subscription {
    events: mpsc::Receiver<StreamEvent>,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        self.events.recv().await
    }

    /// An event already received, without waiting.
    pub fn try_next(&mut self) -> Option<StreamEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Turns the account's execution events off when its stream ends (aborted or not).
struct Streaming(CtraderClient);

impl Drop for Streaming {
    fn drop(&mut self) {
        let listener = self.0.listener();
        listener.streaming.store(false, Ordering::Relaxed);
        listener
            .executions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Why following the account live stopped.
enum Stopped {
    /// The follower is gone.
    Unsubscribed,
    /// The stream starts over (a synchronization from the last deal).
    Resync(String),
}

/// What the stream knows between two reads of the broker.
struct Live {
    snapshot: Snapshot,
    /// Deal ids told since the synchronization.
    told: HashSet<String>,
    last_deal: Option<DateTime<Utc>>,
    /// Deals read or told and not yet sent.
    pending: Vec<Deal>,
    equity: Decimal,
    priced: Option<Instant>,
    read_at: Instant,
}

impl CtraderClient {
    /// Follows the account by events from now on: its deals since `deals_from` (none without
    /// it), then every change. The events come in [`StreamEvent`]s, as MetaApi's stream's do.
    pub fn subscribe(&self, deals_from: Option<DateTime<Utc>>) -> Subscription {
        let (tx, events) = mpsc::channel(QUEUE);
        let client = self.clone();
        let task = tokio::spawn(async move { client.follow(deals_from, tx).await });
        Subscription {
            events,
            task: task.abort_handle(),
        }
    }

    async fn follow(self, mut since: Option<DateTime<Utc>>, tx: mpsc::Sender<StreamEvent>) {
        let listener = self.listener().clone();
        listener.streaming.store(true, Ordering::Relaxed);
        let _streaming = Streaming(self.clone());
        let mut backoff = Duration::from_secs(1);
        loop {
            if tx.send(StreamEvent::SynchronizationStarted).await.is_err() {
                return;
            }
            // Executions from here on are kept; the history read covers what came before.
            listener
                .executions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            listener.overflowed.store(false, Ordering::Relaxed);
            let (link, mut live) = match self.synchronize(since).await {
                Ok(synced) => synced,
                Err(error) => {
                    let (event, wait) = refusal(&error, backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if tx.send(event).await.is_err() {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = tx.closed() => return,
                    }
                    continue;
                }
            };
            backoff = Duration::from_secs(1);
            let deals = live.pending_deals();
            let events = [
                (!deals.is_empty()).then_some(StreamEvent::Deals(deals)),
                Some(StreamEvent::AccountInformation(live.snapshot.info.clone())),
                Some(StreamEvent::Positions(live.snapshot.positions.clone())),
                Some(StreamEvent::Synchronized),
            ];
            for event in events.into_iter().flatten() {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            let stopped = self.live(&link, &mut live, &tx).await;
            since = live.last_deal.or(since);
            match stopped {
                Stopped::Unsubscribed => return,
                Stopped::Resync(reason) => {
                    if tx.send(StreamEvent::Disconnected { reason }).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Authorizes the account, reads it and the deals since `since`.
    async fn synchronize(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<(super::connection::Link, Live), BrokerError> {
        let link = self.session().await?;
        let snapshot = self.snapshot().await?;
        let deals = match since {
            // To the end of the next second: a deal of this very moment is included.
            Some(from) => {
                self.deals(from, Utc::now() + Duration::from_secs(1))
                    .await?
            }
            None => Vec::new(),
        };
        let equity = snapshot.info.equity;
        let live = Live {
            snapshot,
            told: HashSet::new(),
            last_deal: None,
            pending: deals,
            equity,
            priced: None,
            read_at: Instant::now(),
        };
        Ok((link, live))
    }

    /// Follows the account on `link` until it must synchronize again or the follower is gone.
    /// A read of the account (after an execution, or the periodic one) runs beside the quotes:
    /// waiting its turn in the connection's queue never holds up an equity update.
    async fn live(
        &self,
        link: &super::connection::Link,
        live: &mut Live,
        tx: &mpsc::Sender<StreamEvent>,
    ) -> Stopped {
        type Reading = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Snapshot, BrokerError>> + Send>,
        >;
        let listener = self.listener().clone();
        let mut reading: Option<Reading> = None;
        // Another read is wanted once the current one is done (an execution came meanwhile).
        let mut again = false;
        let mut price_due: Option<Instant> = None;
        loop {
            let refresh_at = live.read_at + PNL_REFRESH;
            let refresh = !live.snapshot.positions.is_empty() && reading.is_none();
            let mut read_again = false;
            tokio::select! {
                () = link.closed.cancelled() => {
                    return Stopped::Resync("the connection to cTrader ended".into());
                }
                () = listener.changed.notified() => {
                    if !self.authorized_on(link) {
                        return Stopped::Resync("cTrader ended the account's session".into());
                    }
                    if !self.spots_fed() {
                        // The account whose subscription fed a quote is gone: a read of the
                        // account subscribes in its place.
                        read_again = true;
                    }
                    if listener.overflowed.swap(false, Ordering::Relaxed) {
                        return Stopped::Resync(
                            "more execution events came than are kept; reading the account again"
                                .into(),
                        );
                    }
                    let executions: Vec<_> = listener
                        .executions
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain(..)
                        .collect();
                    let mut deals = Vec::new();
                    for envelope in executions {
                        read_again = true;
                        match self.deal_of(envelope.payload).await {
                            Ok(Some(deal)) => deals.push(deal),
                            Ok(None) => {}
                            Err(error) => tracing::warn!(account = self.account_id(), %error, "an unreadable cTrader execution event; reading the account again"),
                        }
                    }
                    live.pending = deals;
                    let deals = live.pending_deals();
                    if !deals.is_empty() && tx.send(StreamEvent::Deals(deals)).await.is_err() {
                        return Stopped::Unsubscribed;
                    }
                    // Quotes: at most one equity update per PRICE_EVERY.
                    price_due.get_or_insert_with(|| {
                        live.priced.map_or_else(Instant::now, |p| p + PRICE_EVERY)
                    });
                }
                () = tokio::time::sleep_until(refresh_at), if refresh => {
                    // The broker's own P/L only; the whole account when its positions changed
                    // unseen.
                    let (client, snapshot) = (self.clone(), live.snapshot.clone());
                    reading = Some(Box::pin(async move {
                        match client.repriced(snapshot).await? {
                            Some(snapshot) => Ok(snapshot),
                            None => client.snapshot().await,
                        }
                    }));
                }
                () = tokio::time::sleep_until(price_due.unwrap_or(refresh_at)), if price_due.is_some() => {
                    price_due = None;
                    live.priced = Some(Instant::now());
                    if let Some(events) = self.priced(live) {
                        for event in events {
                            if tx.send(event).await.is_err() {
                                return Stopped::Unsubscribed;
                            }
                        }
                    }
                }
                read = async { match reading.as_mut() { Some(r) => r.await, None => unreachable_pending().await } }, if reading.is_some() => {
                    reading = None;
                    match read {
                        Ok(snapshot) => {
                            live.equity = snapshot.info.equity;
                            live.snapshot = snapshot;
                            live.read_at = Instant::now();
                            for event in [
                                StreamEvent::Positions(live.snapshot.positions.clone()),
                                StreamEvent::AccountInformation(live.snapshot.info.clone()),
                            ] {
                                if tx.send(event).await.is_err() {
                                    return Stopped::Unsubscribed;
                                }
                            }
                        }
                        Err(error) => {
                            return Stopped::Resync(format!("cannot read the account: {error}"));
                        }
                    }
                    read_again = std::mem::take(&mut again);
                }
                () = tx.closed() => return Stopped::Unsubscribed,
            }
            if read_again {
                if reading.is_some() {
                    again = true;
                } else {
                    let client = self.clone();
                    reading = Some(Box::pin(async move { client.snapshot().await }));
                }
            }
        }
    }

    /// The positions and equity at the latest quotes, when the equity moved.
    fn priced(&self, live: &mut Live) -> Option<[StreamEvent; 2]> {
        let snapshot = &live.snapshot;
        let digits = snapshot.money_digits;
        let mut floating = Decimal::ZERO;
        let mut updated = Vec::with_capacity(snapshot.positions.len());
        for (position, mark) in snapshot.positions.iter().zip(&snapshot.marks) {
            let mut position = position.clone();
            let price = self
                .spot_now(mark.symbol_id)
                .and_then(|spot| spot.close(position.side));
            let moved = match price.map(|p| ::wire::ctrader::units::spot_price(p, mark.digits)) {
                Some(Ok(price)) => {
                    position.current_price = price;
                    mark.moved(position.side, price).round_dp(digits)
                }
                _ => Decimal::ZERO,
            };
            position.profit = (mark.gross + moved).normalize();
            floating += mark.net + moved;
            updated.push(position);
        }
        let info = &snapshot.info;
        let equity = (info.balance + floating).normalize();
        if equity == live.equity {
            return None;
        }
        live.equity = equity;
        Some([
            StreamEvent::PositionsChanged {
                updated,
                removed: Vec::new(),
            },
            StreamEvent::Prices {
                prices: Vec::new(),
                equity: Some(equity),
                margin: None,
                free_margin: Some((equity - info.margin).normalize()),
                margin_level: margin_level(equity, info.margin),
            },
        ])
    }

    /// The deal an execution event tells, if it tells one.
    async fn deal_of(&self, payload: serde_json::Value) -> Result<Option<Deal>, BrokerError> {
        let event: wire::ExecutionEvent = serde_json::from_value(payload)
            .map_err(|e| BrokerError::Malformed(format!("an execution event: {e}")))?;
        match event.execution_type {
            wire::execution::ORDER_FILLED | wire::execution::ORDER_PARTIAL_FILL => {
                let Some(deal) = event.deal.filter(|d| {
                    matches!(
                        d.deal_status,
                        wire::deal_status::FILLED | wire::deal_status::PARTIALLY_FILLED
                    )
                }) else {
                    return Ok(None);
                };
                let catalog = self.catalog().await?;
                trade_deal(&catalog, deal).map(Some)
            }
            wire::execution::DEPOSIT_WITHDRAW => {
                event.deposit_withdraw.map(cash_flow_deal).transpose()
            }
            _ => Ok(None),
        }
    }
}

impl Live {
    /// Deals waiting to be told, less those told already, oldest first; noted as told.
    fn pending_deals(&mut self) -> Vec<Deal> {
        let mut deals: Vec<Deal> = std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|d| self.told.insert(d.id.clone()))
            .collect();
        deals.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        if let Some(last) = deals.last() {
            self.last_deal = Some(self.last_deal.map_or(last.time, |t| t.max(last.time)));
        }
        deals
    }
}

/// A future that never resolves, for a `select!` branch whose condition is false.
async fn unreachable_pending<T>() -> T {
    std::future::pending().await
}

/// What a failed synchronization tells the follower, and how long until the next.
fn refusal(error: &BrokerError, backoff: Duration) -> (StreamEvent, Duration) {
    match error {
        // The connection's limits are every account's: a pause is waited out, not a refusal
        // (which would have the account polled meanwhile, on the same limits).
        BrokerError::RateLimited { retry_after } => (
            StreamEvent::Disconnected {
                reason: error.to_string(),
            },
            retry_after.unwrap_or(backoff),
        ),
        error if error.is_credentials() => (
            StreamEvent::Refused {
                reason: error.to_string(),
                retry_after: CREDENTIALS_RETRY,
            },
            CREDENTIALS_RETRY,
        ),
        error => (
            StreamEvent::Disconnected {
                reason: error.to_string(),
            },
            backoff,
        ),
    }
}
