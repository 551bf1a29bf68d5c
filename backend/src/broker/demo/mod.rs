//! TEMPORARY stub of the demo broker's API; replaced by the real module on merge.
use chrono::{DateTime, Utc};
use std::time::Duration;

pub struct DemoConfig {
    pub seed: u64,
    pub token: String,
    pub step: Duration,
}
impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            token: "demo-token".into(),
            step: Duration::from_secs(1),
        }
    }
}
pub struct DemoAccount {
    pub id: String,
    pub name: String,
}
#[derive(Clone)]
pub struct DemoBroker {
    token: String,
}
impl DemoBroker {
    pub fn new(config: DemoConfig, _start: DateTime<Utc>) -> Self {
        Self {
            token: config.token,
        }
    }
    pub fn accounts(&self) -> Vec<DemoAccount> {
        Vec::new()
    }
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
    }
}
pub async fn serve(
    listener: tokio::net::TcpListener,
    broker: DemoBroker,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, broker.router())
        .with_graceful_shutdown(shutdown)
        .await
}
