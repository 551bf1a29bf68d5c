//! The built-in demo broker: a real HTTP server that speaks MetaApi's REST shape, so Riskdeck
//! runs with no broker account and no internet. The backend's MetaApi client polls it exactly as
//! it polls the real service (same paths, same `auth-token` header, same JSON).
//!
//! The market and its traders live in [`world`] (pure and deterministic); [`server`] maps HTTP
//! requests onto it. There is no background task: each request first advances the world to the
//! current time, in whole steps.
//!
//! This module must not be used as a source of truth about any real broker, must not reach the
//! network itself, and its JSON must not leak out of `backend::broker`: consumers read it through
//! the MetaApi client like any other MetaApi account.

pub mod server;
pub mod world;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use world::World;

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
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 42,
            token: "demo-token".into(),
            step: Duration::from_secs(1),
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

/// The demo broker: a shared simulated world and the token guarding it. Clones share the world.
#[derive(Clone, Debug)]
pub struct DemoBroker {
    world: Arc<Mutex<World>>,
    token: Arc<str>,
}

impl DemoBroker {
    /// A demo broker whose history begins at `start`. Pass a time in the past to have history
    /// from the first request on; catching up costs a few milliseconds per simulated hour of
    /// one-second steps.
    pub fn new(config: DemoConfig, start: DateTime<Utc>) -> DemoBroker {
        DemoBroker {
            world: Arc::new(Mutex::new(World::new(config.seed, start, config.step))),
            token: config.token.into(),
        }
    }

    /// The demo accounts (ids `demo-eurusd-scalper`, `demo-gold-swing`, `demo-index-breakout`).
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

    /// The MetaApi-shaped routes, below `/users/current/accounts/{accountId}`.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    /// Runs `f` on the world after advancing it to the current time.
    pub(crate) fn with_current_world<T>(&self, f: impl FnOnce(&World, DateTime<Utc>) -> T) -> T {
        let now = now();
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
    fn default_config_is_seed_42_demo_token_and_one_second_steps() {
        let config = DemoConfig::default();
        assert_eq!(config.seed, 42);
        assert_eq!(config.token, "demo-token");
        assert_eq!(config.step, Duration::from_secs(1));
    }

    #[test]
    fn broker_lists_three_named_accounts_and_keeps_its_token() {
        let broker = DemoBroker::new(DemoConfig::default(), now());
        let ids: Vec<_> = broker.accounts().into_iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "demo-eurusd-scalper",
                "demo-gold-swing",
                "demo-index-breakout"
            ]
        );
        assert!(broker.accounts().iter().all(|a| !a.name.is_empty()));
        assert_eq!(broker.token(), "demo-token");
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
        let info: crate::broker::metaapi::wire::AccountInformation =
            response.json().await.expect("MetaApi account information");
        assert_eq!(info.balance, rust_decimal::Decimal::from(50_000));

        stop.send(()).expect("server still running");
        server
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }
}
