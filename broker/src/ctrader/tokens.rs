//! An OAuth token pair belongs to a cTrader ID, not to one trading account: every account the
//! ID opens signs in with the same access token, and a refresh spends the refresh token for
//! all of them. So the accounts of one pair share one [`Lineage`] in the process (found by
//! any refresh token the pair ever had), which one refresh at a time renews for all; and before
//! it spends a refresh token it asks the [`TokenStore`] whether another process renewed the
//! pair already.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

/// How long before its expiry an access token is refreshed.
pub const REFRESH_AHEAD: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// The account's token pair as it stands: what to store when it changes.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires, once a refresh has said so.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the pair was last refreshed.
    pub refreshed_at: Option<DateTime<Utc>>,
    /// The account (`ctidTraderAccountId`) whose client refreshed the pair, when one in this
    /// process did: its server spreads the pair to every stored account that holds it (each
    /// other holder stores only its own copy).
    pub refreshed_by: Option<i64>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .field("refreshed_at", &self.refreshed_at)
            .field("refreshed_by", &self.refreshed_by)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Whether the access token should be refreshed at `now` (it can be, and expires soon):
    /// [`REFRESH_AHEAD`] before its expiry, or half its lifetime before when that is shorter
    /// (a token that lasts two days is not refreshed at every request).
    pub(crate) fn refresh_due(&self, now: DateTime<Utc>) -> bool {
        let (Some(_), Some(expires)) = (&self.refresh_token, self.expires_at) else {
            return false;
        };
        let lifetime = self
            .refreshed_at
            .map_or(REFRESH_AHEAD * 2, |at| expires - at);
        expires - REFRESH_AHEAD.min(lifetime / 2) <= now
    }
}

/// Where the pairs a server stored are read again: a pair another process refreshed (its
/// refresh token spent the one held here) is adopted instead of refreshed twice.
pub trait TokenStore: Send + Sync + 'static {
    /// The account's pair as stored now, `None` when none is stored or it cannot be read.
    fn latest(&self) -> Pin<Box<dyn Future<Output = Option<Tokens>> + Send + '_>>;
}

/// A token pair's line of refreshes, shared by every client in the process that holds it.
pub(crate) struct Lineage {
    id: u64,
    tokens: tokio::sync::watch::Sender<Tokens>,
    /// One refresh at a time: the others wait, then use the new pair.
    pub(crate) refreshing: tokio::sync::Mutex<()>,
    /// The registry key's application part (URL and client id).
    application: (String, String),
}

type Key = (String, String, String);

fn registry() -> &'static Mutex<HashMap<Key, Weak<Lineage>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Lineage>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether `a` was refreshed later than `b` (a pair never refreshed is the oldest).
fn newer(a: &Tokens, b: &Tokens) -> bool {
    a.refreshed_at > b.refreshed_at
}

impl Lineage {
    /// The lineage of `tokens` for the application at `url` with `client_id`: the live one that
    /// ever held its refresh token (taking `tokens` when they were refreshed later), or a new
    /// one. A pair without a refresh token is never renewed, so it is shared with no one.
    pub(crate) fn join(url: &str, client_id: &str, tokens: Tokens) -> Arc<Lineage> {
        let application = (url.to_owned(), client_id.to_owned());
        let Some(refresh) = tokens.refresh_token.clone() else {
            return Arc::new(Self::new(application, tokens));
        };
        let key = (application.0.clone(), application.1.clone(), refresh);
        let held = {
            let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
            match registry.get(&key).and_then(Weak::upgrade) {
                Some(held) => held,
                None => {
                    registry.retain(|_, lineage| lineage.strong_count() > 0);
                    let lineage = Arc::new(Self::new(application, tokens));
                    registry.insert(key, Arc::downgrade(&lineage));
                    return lineage;
                }
            }
        };
        // Outside the registry's lock: a later pair is registered by its refresh token too.
        held.adopt(tokens);
        held
    }

    fn new(application: (String, String), tokens: Tokens) -> Self {
        Lineage {
            id: next_id(),
            tokens: tokio::sync::watch::Sender::new(tokens),
            refreshing: tokio::sync::Mutex::new(()),
            application,
        }
    }

    /// Tells this lineage apart from the others in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The pair as it stands.
    pub(crate) fn current(&self) -> Tokens {
        self.tokens.borrow().clone()
    }

    /// Reads the pair without cloning it.
    pub(crate) fn with<R>(&self, read: impl FnOnce(&Tokens) -> R) -> R {
        read(&self.tokens.borrow())
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<Tokens> {
        self.tokens.subscribe()
    }

    /// Publishes a renewed pair to every holder, and finds this lineage by its refresh token
    /// from now on (a client built later from a stored pair joins it).
    pub(crate) fn renew(self: &Arc<Self>, tokens: Tokens) {
        if let Some(refresh) = &tokens.refresh_token {
            let key = (
                self.application.0.clone(),
                self.application.1.clone(),
                refresh.clone(),
            );
            registry()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, Arc::downgrade(self));
        }
        self.tokens.send_replace(tokens);
    }

    /// Takes a pair stored by another process when it was refreshed later than the one held;
    /// whether it did.
    pub(crate) fn adopt(self: &Arc<Self>, stored: Tokens) -> bool {
        if stored.refresh_token.is_none() || !newer(&stored, &self.tokens.borrow()) {
            return false;
        }
        self.renew(Tokens {
            refreshed_by: None,
            ..stored
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, Utc};

    fn pair(access: &str, refresh: Option<&str>, refreshed: Option<i64>) -> Tokens {
        Tokens {
            access_token: access.into(),
            refresh_token: refresh.map(Into::into),
            expires_at: None,
            refreshed_at: refreshed.map(|days| Utc::now() - TimeDelta::days(days)),
            refreshed_by: None,
        }
    }

    #[test]
    fn accounts_of_one_pair_share_its_lineage_and_its_renewals() {
        let url = "wss://lineage.test";
        let a = Lineage::join(url, "app", pair("a0", Some("r0"), None));
        let b = Lineage::join(url, "app", pair("a0", Some("r0"), None));
        assert_eq!(a.id(), b.id(), "one pair, one lineage");
        let other_app = Lineage::join(url, "other", pair("a0", Some("r0"), None));
        assert_ne!(a.id(), other_app.id(), "another application's is its own");
        let without = Lineage::join(url, "app", pair("a0", None, None));
        assert_ne!(
            a.id(),
            without.id(),
            "a pair that is never renewed is not shared"
        );

        let seen = b.subscribe();
        a.renew(pair("a1", Some("r1"), Some(0)));
        assert!(seen.has_changed().unwrap_or(false));
        assert_eq!(b.current().access_token, "a1");

        // A client built later from the spent pair (a stale stored copy) gets the new one.
        let late = Lineage::join(url, "app", pair("a0", Some("r0"), Some(10)));
        assert_eq!(late.id(), a.id());
        assert_eq!(
            late.current().access_token,
            "a1",
            "the older pair is not taken"
        );
        let by_new = Lineage::join(url, "app", pair("a1", Some("r1"), Some(0)));
        assert_eq!(by_new.id(), a.id(), "found by its new refresh token too");

        // Another process's refresh, read from the store: taken only when it is later.
        assert!(!a.adopt(pair("a9", Some("r9"), Some(5))));
        assert!(a.adopt(pair("a2", Some("r2"), Some(-1))));
        assert_eq!(b.current().access_token, "a2");
    }
}
