//! The built-in demo broker: a real HTTP server that speaks MetaApi's REST shape, so Riskdeck
//! runs with no broker account and no internet. The backend's MetaApi client polls it exactly as
//! it polls the real service (same paths, same `auth-token` header, same JSON).
//!
//! The market and its traders live in [`world`] (pure and deterministic): three accounts with
//! simulated traders, and five scripted accounts whose story is known to the minute (a daily-loss
//! breach, a pass, a deposit, a loss held across FTMO's midnight, positions without stop loss;
//! see the world's docs). [`server`] maps HTTP requests onto it. There is no background task:
//! each request first advances the world to the current time, in whole steps. [`faults`] makes
//! the broker misbehave on request (latency, 5xx, 429, malformed JSON, truncated bodies, dropped
//! connections, frozen data), per account, from Rust or over HTTP.
//!
//! [`streaming`] serves MetaApi's streaming API (Engine.IO 3 / Socket.IO 2 at `/ws`) over the
//! same world, with its own fault knobs.
//!
//! [`ctrader`] is the cTrader Open API simulator over the same world (`demo_platform =
//! "ctrader"`).
//!
//! This crate must not be used as a source of truth about any real broker, must not reach the
//! network itself, and its JSON must not leak out: consumers read it through the connectors
//! (`broker`) like any other MetaApi or cTrader account.

pub mod ctrader;
pub mod faults;
pub mod server;
pub mod streaming;
pub mod world;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};

use faults::{AccountFaults, FaultBook, Faults, FaultsError};
pub use streaming::StreamConfig;
use world::{ScriptClock, World};

/// How the demo broker simulates and whom it lets in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seed of the simulation: the same seed, start and step give the same history.
    pub seed: u64,
    /// The value every request must carry in its `auth-token` header.
    pub token: String,
    /// Simulated time between two market ticks. The traders' habits are chances per step,
    /// tuned for one-second steps: shorter steps make them trade more often in real time.
    pub step: Duration,
    /// When the scripted accounts' scripts begin; `None`: when the broker is created.
    pub script_start: Option<DateTime<Utc>>,
    /// The scripts' time unit: a minute, so a person watching sees each scripted moment a few
    /// minutes after launch; tests shorten it.
    pub script_unit: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 42,
            token: "demo-token".into(),
            step: Duration::from_secs(1),
            script_start: None,
            script_unit: Duration::from_secs(60),
        }
    }
}

/// A demo account, as listed for whoever wants to connect to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoAccount {
    pub id: String,
    pub name: String,
    /// The risk-engine preset of the account's challenge.
    pub preset: String,
    /// The challenge's starting capital.
    pub initial_balance: rust_decimal::Decimal,
}

/// The demo broker: a shared simulated world, its faults and the token guarding it. Clones share
/// the world and the faults.
#[derive(Clone, Debug)]
pub struct DemoBroker {
    world: Arc<Mutex<World>>,
    faults: Arc<Mutex<FaultBook>>,
    token: Arc<str>,
    /// A fixed present, when a test holds the world still ([`DemoBroker::pin_clock`]).
    pinned: Arc<Mutex<Option<DateTime<Utc>>>>,
    /// The streaming sessions (`/ws`).
    hub: Arc<streaming::Hub>,
}

impl DemoBroker {
    /// A demo broker whose history begins at `start`. Pass a time in the past to have history
    /// from the first request on; catching up costs a few milliseconds per simulated hour of
    /// one-second steps.
    pub fn new(config: DemoConfig, start: DateTime<Utc>) -> DemoBroker {
        let script = ScriptClock {
            start: config.script_start.unwrap_or_else(now),
            unit: TimeDelta::from_std(config.script_unit).unwrap_or(TimeDelta::minutes(1)),
        };
        DemoBroker {
            world: Arc::new(Mutex::new(World::new(
                config.seed,
                start,
                config.step,
                script,
            ))),
            faults: Arc::new(Mutex::new(FaultBook::new(config.seed))),
            token: config.token.into(),
            pinned: Arc::new(Mutex::new(None)),
            hub: Arc::new(streaming::Hub::new(StreamConfig::default())),
        }
    }

    /// The same broker with other streaming timings; call it before serving.
    pub fn with_stream_config(mut self, config: StreamConfig) -> DemoBroker {
        self.hub = Arc::new(streaming::Hub::new(config));
        self
    }

    pub(crate) fn hub(&self) -> &streaming::Hub {
        &self.hub
    }

    /// The demo accounts: `demo-eurusd-scalper`, `demo-gold-swing`, `demo-index-breakout`
    /// (simulated traders), then `demo-daily-breach`, `demo-passing`, `demo-deposit`,
    /// `demo-overnight`, `demo-no-stop` (scripted).
    pub fn accounts(&self) -> Vec<DemoAccount> {
        self.with_world(|world| {
            world
                .accounts()
                .into_iter()
                .map(|a| DemoAccount {
                    id: a.id,
                    name: a.name,
                    preset: a.preset,
                    initial_balance: a.initial_balance,
                })
                .collect()
        })
    }

    /// The token clients must send in the `auth-token` header.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Holds the world's present at `at` (every platform's server then shows the same moment),
    /// or lets it follow the system clock again (`None`). The world never goes back: pinning
    /// an earlier time than it reached shows the time it reached.
    pub fn pin_clock(&self, at: Option<DateTime<Utc>>) {
        *self.pinned.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// The present as the world sees it: the pinned time, or the system clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.pinned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_else(now)
    }

    /// When the scripted accounts' scripts run.
    pub fn script_clock(&self) -> ScriptClock {
        self.with_world(|world| world.script_clock())
    }

    /// The scripted instant `units` script units after the scripts' start.
    pub fn script_instant(&self, units: i32) -> DateTime<Utc> {
        let clock = self.script_clock();
        clock
            .unit
            .checked_mul(units)
            .and_then(|offset| clock.start.checked_add_signed(offset))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Makes `account` misbehave as `faults` says (`*`: every account); `Faults::default()`
    /// heals it. Freezing or thawing takes effect at the current time.
    pub fn set_faults(&self, account: &str, faults: Faults) -> Result<(), FaultsError> {
        faults.validate()?;
        let now = self.now();
        let ids: Vec<String> = self
            .with_world(|world| world.accounts().into_iter().map(|a| a.id))
            .filter(|id| account == "*" || id == account)
            .collect();
        if ids.is_empty() {
            return Err(FaultsError::UnknownAccount(account.to_owned()));
        }
        let late_by = TimeDelta::seconds(i64::try_from(faults.late_deals_secs).unwrap_or(0));
        self.with_world(|world| {
            world.advance_to(now);
            for id in &ids {
                // Every id comes from the world itself.
                let _ = world.set_frozen(id, faults.frozen);
                let _ = world.set_late_deals(id, late_by);
            }
        });
        let mut book = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        for id in &ids {
            book.set(id, faults);
        }
        Ok(())
    }

    /// Books a deposit (positive) or withdrawal (negative) of `amount` on `account` now (with
    /// `dealDelaySecs` set, its deal shows in the history only that much later).
    pub fn book_balance(
        &self,
        account: &str,
        amount: rust_decimal::Decimal,
    ) -> Result<(), world::WorldError> {
        let now = self.now();
        self.with_world(|world| {
            world.advance_to(now);
            world.book_balance(account, amount)
        })
    }

    /// `account`'s faults (counters as they stand) and how many requests it received.
    pub fn faults(&self, account: &str) -> AccountFaults {
        self.fault_book(|book| book.get(account))
    }

    /// Every account's faults and request count, by id.
    pub fn all_faults(&self) -> std::collections::BTreeMap<String, AccountFaults> {
        let ids: Vec<String> = self.accounts().into_iter().map(|a| a.id).collect();
        self.fault_book(|book| book.list(ids.iter().map(String::as_str)))
    }

    fn fault_book<T>(&self, f: impl FnOnce(&mut FaultBook) -> T) -> T {
        let mut book = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut book)
    }

    /// The MetaApi-shaped routes, below `/users/current/accounts/{accountId}`, and MetaApi's
    /// streaming API at `/ws`.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone()).merge(streaming::router(self.clone()))
    }

    /// Runs `f` on the world after advancing it to the current time.
    pub(crate) fn with_current_world<T>(&self, f: impl FnOnce(&World, DateTime<Utc>) -> T) -> T {
        let now = self.now();
        self.with_world(|world| {
            world.advance_to(now);
            f(world, now)
        })
    }

    fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        // A panic while holding the lock cannot leave the world half-stepped in a way that
        // matters for a demo, so a poisoned lock is simply taken over.
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut world)
    }
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// Serves the demo broker on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    broker: DemoBroker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, broker.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// When a freshly started demo world begins: two simulated hours ago, so the accounts already
/// have a deal history and open positions when the first browser connects.
pub fn history_start() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn default_config_is_seed_42_demo_token_one_second_steps_and_minute_scripts() {
        let config = DemoConfig::default();
        assert_eq!(config.seed, 42);
        assert_eq!(config.token, "demo-token");
        assert_eq!(config.step, Duration::from_secs(1));
        assert_eq!(config.script_start, None);
        assert_eq!(config.script_unit, Duration::from_secs(60));
    }

    #[test]
    fn broker_lists_eight_named_accounts_and_keeps_its_token() {
        let broker = DemoBroker::new(DemoConfig::default(), now());
        let ids: Vec<_> = broker.accounts().into_iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "demo-eurusd-scalper",
                "demo-gold-swing",
                "demo-index-breakout",
                "demo-daily-breach",
                "demo-passing",
                "demo-deposit",
                "demo-overnight",
                "demo-no-stop",
            ]
        );
        assert!(broker.accounts().iter().all(|a| !a.name.is_empty()));
        assert_eq!(broker.token(), "demo-token");
    }

    #[test]
    fn scripts_start_when_the_broker_is_created_unless_told() {
        let before = now();
        let broker = DemoBroker::new(DemoConfig::default(), before - TimeDelta::hours(2));
        let clock = broker.script_clock();
        assert!(clock.start >= before, "{clock:?}");
        assert_eq!(clock.unit, TimeDelta::minutes(1));
        assert_eq!(
            broker.script_instant(5),
            clock.start + TimeDelta::minutes(5)
        );

        let start = before - TimeDelta::hours(1);
        let told = DemoBroker::new(
            DemoConfig {
                script_start: Some(start + TimeDelta::seconds(30)),
                script_unit: Duration::from_secs(2),
                ..DemoConfig::default()
            },
            start,
        );
        assert_eq!(told.script_clock().start, start + TimeDelta::seconds(30));
        assert_eq!(told.script_instant(3), start + TimeDelta::seconds(36));
    }

    #[test]
    fn faults_are_set_per_account_or_for_all_and_freeze_the_world() {
        let broker = DemoBroker::new(DemoConfig::default(), now() - TimeDelta::minutes(1));
        let frozen = Faults {
            frozen: true,
            ..Faults::default()
        };
        broker
            .set_faults("demo-gold-swing", frozen)
            .expect("known account");
        assert_eq!(broker.faults("demo-gold-swing").faults, frozen);
        assert_eq!(broker.faults("demo-passing").faults, Faults::default());
        assert!(broker.with_world(|w| w.is_frozen("demo-gold-swing")) == Ok(true));

        broker.set_faults("*", Faults::default()).expect("all");
        assert!(
            broker
                .all_faults()
                .values()
                .all(|f| f.faults == Faults::default())
        );
        assert!(broker.with_world(|w| w.is_frozen("demo-gold-swing")) == Ok(false));

        assert_eq!(
            broker.set_faults("nope", Faults::default()),
            Err(FaultsError::UnknownAccount("nope".into()))
        );
        let bad = Faults {
            rate_limit: faults::FaultMode::Percent(200),
            ..Faults::default()
        };
        assert!(matches!(
            broker.set_faults("*", bad),
            Err(FaultsError::Invalid(_))
        ));
    }

    #[test]
    fn clones_share_one_world_that_catches_up_with_the_clock() {
        let broker = DemoBroker::new(DemoConfig::default(), now() - TimeDelta::minutes(10));
        let clone = broker.clone();
        let steps = clone.with_current_world(|world, _| world.steps());
        assert!(steps >= 600, "{steps}");
        let seen_by_original = broker.with_world(|world| world.steps());
        assert!(seen_by_original >= steps);
    }

    #[tokio::test]
    async fn serve_answers_over_a_real_socket_and_stops_on_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let broker = DemoBroker::new(DemoConfig::default(), now());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, broker, async {
            let _ = stopped.await;
        }));

        let response = reqwest::Client::new()
            .get(format!(
                "http://{addr}/users/current/accounts/demo-gold-swing/account-information"
            ))
            .header("auth-token", "demo-token")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let info: wire::metaapi::AccountInformation =
            response.json().await.expect("MetaApi account information");
        assert_eq!(info.balance, rust_decimal::Decimal::from(50_000));

        stop.send(()).expect("server still running");
        server
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }
}
