//! Account leases: several instances on one PostgreSQL database share the accounts, and each
//! account is tracked (polled, evaluated, written) by exactly one of them, the holder of its
//! lease. This module decides when an instance takes, keeps and gives up a lease; the store
//! keeps the leases and fences every challenge save with one (see `db::Store::acquire_lease`
//! and `db::Store::save_challenge_fenced`). It never polls a broker or writes tracking data.
//!
//! - Each instance gets a random id at start and heartbeats its row in the store every third
//!   of `lease_ttl`; the number of live instances gives its fair share of the accounts
//!   (accounts divided by instances, rounded up).
//! - A tracker without its account's lease waits on standby and tries to take it while its
//!   instance holds fewer than its share. A lease still renewed by another instance is never
//!   taken; an expired one (its holder died or stalled for `lease_ttl`) is, with a higher
//!   generation: a takeover. The new holder restores the account's state from the store.
//! - A holder renews every third of `lease_ttl` in a task of its own (a slow broker poll does
//!   not delay it). When a renewal finds the lease taken, or renewals fail for most of the ttl,
//!   the tracker stops at once; a save it still attempts is refused by the fence.
//! - An instance over its share (another one started) gives the excess back: the tracker
//!   flushes, releases the lease (it expires at once) and goes on standby.
//!
//! On SQLite there is one instance: it always takes the leases and its share is every account.

use chrono::{DateTime, Utc};
use shared::domain::AccountId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;
use store::{Lease, Store, StoreError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// This instance's side of the account leases.
pub struct Leases {
    store: Arc<dyn Store>,
    instance: String,
    ttl: Duration,
    /// Accounts to share between the instances (grows when an admin creates one).
    accounts: AtomicUsize,
    /// One instance per database (SQLite): every lease is ours at once.
    single: bool,
    /// Leases held (or being taken) by this instance's trackers.
    held: AtomicUsize,
    /// Live instances at the last heartbeat, this one included.
    alive: AtomicU32,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("instance", &self.instance)
            .field("ttl", &self.ttl)
            .field("held", &self.held.load(Ordering::SeqCst))
            .field("alive", &self.alive.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Leases {
    /// Leases of `accounts` accounts for a new instance (a random id), each lease running for
    /// `ttl` unless renewed.
    pub fn new(store: Arc<dyn Store>, ttl: Duration, accounts: usize) -> Self {
        let random: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(12)
            .collect();
        Self {
            single: !store.shares_live_updates(),
            store,
            instance: format!("{}-{random}", std::process::id()),
            ttl,
            accounts: AtomicUsize::new(accounts),
            held: AtomicUsize::new(0),
            alive: AtomicU32::new(1),
        }
    }

    /// This instance's id (the holder named in its leases).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// How long a lease runs without renewal: the longest an account goes untracked when its
    /// holder dies (plus up to a third of it for the survivors to notice).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When a lease (or heartbeat) taken at `now` runs out.
    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(now)
    }

    fn renew_every(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(50))
    }

    /// How many accounts this instance should hold.
    fn share(&self) -> usize {
        let accounts = self.accounts.load(Ordering::SeqCst);
        if self.single {
            return accounts;
        }
        let alive = usize::try_from(self.alive.load(Ordering::SeqCst).max(1)).unwrap_or(1);
        accounts.div_ceil(alive)
    }

    /// Counts one more account to share (one created at runtime).
    pub fn add_account(&self) {
        self.accounts.fetch_add(1, Ordering::SeqCst);
    }

    /// Records that this instance is alive and counts the live ones.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        if self.single {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let until = self.expiry(now);
        let alive = self
            .store
            .heartbeat_instance(&self.instance, now, until)
            .await?;
        let before = self.alive.swap(alive.max(1), Ordering::SeqCst);
        if before != alive {
            tracing::info!(
                instance = %self.instance,
                instances = alive,
                share = self.share(),
                "live instances changed"
            );
        }
        Ok(())
    }

    /// Heartbeats until `shutdown`, then leaves (the others take its share at once).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if self.single {
            return;
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.renew_every()) => {}
            }
            if let Err(error) = self.heartbeat().await {
                tracing::warn!(instance = %self.instance, %error, "cannot record the heartbeat");
            }
        }
        if let Err(error) = self.store.remove_instance(&self.instance).await {
            tracing::warn!(instance = %self.instance, %error, "cannot remove the instance");
        }
    }

    /// Counts one more lease, if this instance is under its share.
    fn claim(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held < share).then_some(held + 1)
            })
            .is_ok()
    }

    /// Counts one lease less, if this instance is over its share.
    fn shed(&self) -> bool {
        let share = self.share();
        self.held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held > share).then(|| held - 1)
            })
            .is_ok()
    }

    fn unclaim(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                Some(held.saturating_sub(1))
            });
    }

    /// Waits on standby until this instance holds `account`'s lease; `None` at shutdown.
    pub async fn acquire(
        self: &Arc<Self>,
        account: &AccountId,
        shutdown: &CancellationToken,
    ) -> Option<Held> {
        loop {
            if self.claim() {
                let now = chrono::Utc::now();
                let until = self.expiry(now);
                match self
                    .store
                    .acquire_lease(account, &self.instance, now, until)
                    .await
                {
                    Ok(Some(lease)) => return Some(Held::start(self.clone(), lease)),
                    Ok(None) => self.unclaim(),
                    Err(error) => {
                        self.unclaim();
                        tracing::warn!(account = %account, %error, "cannot take the lease");
                    }
                }
            }
            // Standby: try again soon, at a random moment, so instances do not try in lockstep.
            let wait = (self.ttl / 4).mul_f64(0.5 + fastrand::f64());
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
    }
}

/// A lease this instance holds, renewed in the background until released or lost.
pub struct Held {
    leases: Arc<Leases>,
    lease: Lease,
    lost: CancellationToken,
    stop: CancellationToken,
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// Whether this lease still counts towards the instance's share.
    counted: bool,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("lease", &self.lease)
            .field("lost", &self.lost.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Held {
    fn start(leases: Arc<Leases>, lease: Lease) -> Self {
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            leases.clone(),
            lease.clone(),
            lost.clone(),
            stop.clone(),
        ));
        Self {
            leases,
            lease,
            lost,
            stop,
            renewer: Some(renewer),
            counted: true,
        }
    }

    /// The lease (its generation fences the holder's saves).
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Cancelled when the lease is lost: the holder must stop writing at once.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// Whether this instance holds more than its share; if so this lease no longer counts
    /// towards it and the holder should give it back ([`Held::release`]).
    pub fn over_share(&mut self) -> bool {
        if self.counted && !self.lost.is_cancelled() && self.leases.shed() {
            self.counted = false;
            return true;
        }
        false
    }

    /// Stops renewing and gives the lease up, so another instance can take it at once.
    pub async fn release(mut self) {
        self.stop.cancel();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
        if !self.lost.is_cancelled()
            && let Err(error) = self.leases.store.release_lease(&self.lease).await
        {
            // It expires on its own within the ttl.
            tracing::warn!(account = %self.lease.account, %error, "cannot release the lease");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.counted {
            self.leases.unclaim();
        }
    }
}

/// Renews `lease` every third of the ttl until `stop`; cancels `lost` when it is taken over,
/// or when renewals have failed for most of the ttl (this instance cannot tell whether it still
/// holds it, so it stops writing; the fence would refuse a save after a takeover anyway).
async fn renew(
    leases: Arc<Leases>,
    lease: Lease,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let mut renewed = Instant::now();
    let give_up = leases.ttl.mul_f64(0.8);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(leases.renew_every()) => {}
        }
        let asked = Instant::now();
        let now = chrono::Utc::now();
        let until = leases.expiry(now);
        match leases
            .store
            .acquire_lease(&lease.account, &leases.instance, now, until)
            .await
        {
            Ok(Some(renewal)) if renewal.generation == lease.generation => renewed = asked,
            Ok(_) => {
                tracing::warn!(
                    account = %lease.account,
                    generation = lease.generation,
                    "the lease was taken over by another instance; stopping"
                );
                lost.cancel();
                return;
            }
            Err(error) => {
                tracing::warn!(account = %lease.account, %error, "cannot renew the lease")
            }
        }
        if renewed.elapsed() >= give_up {
            tracing::warn!(
                account = %lease.account,
                "the lease could not be renewed in time; stopping"
            );
            lost.cancel();
            return;
        }
    }
}
