//! Riskdeck's server: broker ingestion, persistence, the JSON API, the live stream, and the
//! built-in demo broker.
//!
//! [`start`] wires everything from a [`Config`]; [`app`] is the HTTP router alone (for tests).
//! `main.rs` stays thin: parse arguments, set up logging, call these.

pub mod auth;
pub mod challenge;
pub mod cli;
pub mod competitions;
pub mod config;
pub mod error;
pub mod export;
pub mod http_server;
pub use http_server::{ServeLimits, serve};
pub mod hub;
pub mod imports;
pub mod ingest;
pub mod lease;
pub mod live;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod pdf;
pub mod programs;
pub mod provision;
pub mod retention;
pub mod risk;
pub mod routes;
pub use routes::openapi;
pub mod statement;
pub mod tracker;
pub mod whatif;

use config::{AccountConfig, Config};
use demo::{DemoBroker, DemoConfig};
use hub::Hub;
use shared::domain::AccountId;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    /// Live account state and its fan-out.
    pub hub: Arc<Hub>,
    /// Persistence.
    pub store: Arc<dyn store::Store>,
    /// Cancelled when the server shuts down (ends open streams).
    pub shutdown: CancellationToken,
    /// Sessions, sign-in throttles and cookie settings.
    pub auth: Arc<auth::Auth>,
    /// The accounts fed by pushes, with their ingest tokens.
    pub ingest: Arc<ingest::Registry>,
    /// The running trackers, for an admin's corrections.
    pub trackers: Arc<tracker::Commands>,
    /// Open live streams, capped per user.
    pub streams: Arc<hub::StreamSlots>,
    /// What `/metrics` serves.
    pub metrics: Arc<metrics::Metrics>,
    /// Where the per-account journals are (what-if replays read them); `None`: not kept.
    pub journal_dir: Option<std::path::PathBuf>,
    /// Starts trackers for accounts admins create.
    pub launcher: Arc<provision::Launcher>,
    /// The internal hosts an operator lets webhooks reach.
    pub webhook_hosts: Arc<notify::address::AllowList>,
    /// MetaApi's risk trackers (served under `/users/current`).
    pub risk: Arc<risk::Risk>,
    /// When each API token's use was last recorded (recorded at most once a minute).
    pub api_token_uses: routes::TokenUses,
    /// The account imports of this process, for their progress.
    pub imports: Arc<imports::Imports>,
    /// Competitions' live leaderboards.
    pub competitions: Arc<competitions::Competitions>,
}

/// The HTTP application: API, stream and the browser app from `assets`, with security headers
/// on every response. Every request has an id (`x-request-id`: the client's, or a new one),
/// echoed in the response and recorded in a span around the request, so every log line written
/// while serving it carries the id.
pub fn app(state: AppState, assets: &Path) -> axum::Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    // Layers run outside in: the last added sees the request first.
    routes::router(state, assets)
        .layer(axum::middleware::map_response(security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(logs::request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::map_request(
            logs::drop_unusable_request_id,
        ))
}

/// The browser app runs under this policy: scripts and WebAssembly only from our origin, no
/// inline script, no framing, no third parties. Inline style attributes are allowed because the
/// chart's SVG uses them.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    headers
        .entry("permissions-policy")
        .or_insert(HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=()",
        ));
    response
}

/// Why the server could not start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The users could not be set up.
    #[error("cannot set up the users: {0}")]
    Users(#[from] auth::SeedError),
    /// Password hashing could not be set up.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// The metrics could not be set up.
    #[error("cannot set up the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A broker client could not be built.
    #[error("account {account}: {source}")]
    Broker {
        account: String,
        source: broker::BrokerError,
    },
}

/// A started Riskdeck: trackers (and the demo broker) running in the background.
pub struct Started {
    /// What the handlers share.
    pub state: AppState,
    /// Where the demo broker listens, in demo mode.
    pub demo_broker: Option<SocketAddr>,
    /// The demo broker's token (its `auth-token`), in demo mode.
    pub demo_broker_token: Option<String>,
    /// Where the cTrader simulator serves, when the demo accounts are tracked through it.
    pub ctrader_simulator: Option<SocketAddr>,
    /// The tracked accounts.
    pub accounts: Vec<AccountId>,
    /// Passwords generated at this start (the demo's users, a new admin or trader): show them
    /// once to whoever started the server.
    pub logins: Vec<auth::Login>,
    /// This instance's id, as named in the account leases it holds.
    pub instance: String,
    tasks: JoinSet<()>,
}

impl Started {
    /// Waits for the background tasks after `shutdown` was cancelled.
    pub async fn join(mut self) {
        let mut trackers = self.state.launcher.take_tasks();
        while trackers.join_next().await.is_some() {}
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Opens the store, starts the demo broker when asked, and starts one tracker per account.
pub async fn start(config: &Config, shutdown: CancellationToken) -> Result<Started, StartError> {
    config.validate()?;
    let store = store::open(&config.database_url).await?;
    let mut tasks = JoinSet::new();
    let mut accounts: Vec<AccountConfig> = config.accounts.clone();
    let mut demo_broker = None;
    let mut demo_broker_token = None;
    let mut demo_link = None;
    let mut ctrader_simulator = None;
    if config.demo {
        let demo = start_demo_broker(config, store.as_ref(), &shutdown, &mut tasks).await?;
        demo_broker = Some(demo.metaapi);
        demo_broker_token = Some(demo.broker.token().to_owned());
        ctrader_simulator = demo.ctrader;
        demo_link = Some(provision::DemoLink {
            broker: demo.broker,
            base_url: format!("http://{}", demo.metaapi),
        });
        accounts.extend(demo.accounts);
        // A program for admins to find; the demo runs without it if it cannot be made.
        if let Err(error) = programs::seed_demo(store.as_ref()).await {
            tracing::warn!(%error, "the demo's program could not be created");
        }
    }
    let logins = auth::seed(store.as_ref(), config, &accounts).await?;
    let auth = Arc::new(auth::Auth::new(config).await?);
    let hub = Arc::new(Hub::with_buffers(
        accounts
            .iter()
            .map(|a| (AccountId(a.id.clone()), a.name.clone())),
        config.stream_buffer,
        config.stream_replay,
    ));
    let metrics = Arc::new(metrics::Metrics::new()?);
    let http = broker::metaapi::client::http_client(config.broker_timeout).map_err(|source| {
        StartError::Broker {
            account: "*".to_owned(),
            source,
        }
    })?;
    // Each account is tracked by the instance holding its lease; the others show its updates.
    let leases = Arc::new(lease::Leases::new(
        store.clone(),
        config.lease_ttl,
        accounts.len(),
    ));
    leases.heartbeat().await?;
    tasks.spawn(leases.clone().run(shutdown.clone()));
    let fanout = live::start(
        store.clone(),
        hub.clone(),
        leases.instance(),
        &shutdown,
        &mut tasks,
    );
    tracing::info!(
        instance = leases.instance(),
        lease_ttl_ms = config.lease_ttl.as_millis(),
        "instance started"
    );
    // On PostgreSQL other instances may share the database (and so the trackers).
    let shared_database = !config.database_url.starts_with("sqlite:");
    let (risk, risk_writer) =
        risk::Risk::start(store.clone(), shared_database, shutdown.clone()).await?;
    tasks.spawn(risk_writer);
    let launcher = Arc::new(provision::Launcher::new(
        config,
        store.clone(),
        hub.clone(),
        leases.clone(),
        fanout,
        http,
        demo_link,
        shutdown.clone(),
        risk.clone(),
    ));
    // Archived accounts are shown as they stood, never tracked again.
    launcher.set_archived(
        store
            .accounts()
            .await?
            .into_iter()
            .filter(|account| account.archived.is_some())
            .map(|account| account.id),
    );
    let mut ingest = ingest::Registry::default();
    for (index, account) in accounts.iter().enumerate() {
        if let Some(token) = &account.ingest_token {
            let id = AccountId(account.id.clone());
            let batches = ingest.register(id.clone(), token);
            let tracker = tracker::Tracker::pushed(
                id.clone(),
                batches,
                launcher.journal(&account.id),
                store.clone(),
                hub.clone(),
                config.stale_after,
                account.challenge.clone(),
            )
            .with_leases(leases.clone())
            .with_fanout(launcher.fanout.clone());
            launcher.run(id, tracker);
            continue;
        }
        let demo_account = index >= config.accounts.len();
        let mut account = account.clone();
        if account.ctrader.is_some() && !demo_account {
            launcher.with_stored_tokens(&mut account).await;
        }
        launcher
            .spawn_polled(&account, demo_account)
            .map_err(|source| StartError::Broker {
                account: account.id.clone(),
                source,
            })?;
    }
    // The accounts admins created (stored), tracked again at every start.
    for (account, demo_account) in launcher.stored_accounts().await? {
        let id = AccountId(account.id.clone());
        if !hub.add_account(id.clone(), account.name.clone()) {
            tracing::warn!(account = %id, "a created account has the id of a configured one; not tracked twice");
            continue;
        }
        leases.add_account();
        launcher
            .spawn_polled(&account, demo_account)
            .map_err(|source| StartError::Broker {
                account: account.id.clone(),
                source,
            })?;
        accounts.push(account);
    }
    let webhook_hosts =
        notify::address::AllowList::parse(&config.notifications.allow_internal_hosts)
            .map_err(|message| StartError::Config(config::ConfigError::Invalid(message)))?;
    let notifier = notify::Notifier::new(
        store.clone(),
        config.notifications.clone(),
        config.secret_key.clone(),
    )
    .map_err(|message| StartError::Config(config::ConfigError::Invalid(message)))?;
    tasks.spawn(Arc::new(notifier).run(shutdown.clone()));
    tasks.spawn(retention::run(
        store.clone(),
        retention::PRUNE_INTERVAL,
        shutdown.clone(),
    ));
    let competitions =
        competitions::Competitions::load(store.clone(), hub.clone(), launcher.trackers.clone())
            .await?;
    tasks.spawn(competitions.clone().run(shutdown.clone()));
    Ok(Started {
        state: AppState {
            hub,
            store,
            shutdown,
            auth,
            ingest: Arc::new(ingest),
            trackers: launcher.trackers.clone(),
            streams: Arc::new(hub::StreamSlots::new(config.max_streams_per_user)),
            metrics,
            journal_dir: config.journal_dir.clone(),
            launcher,
            webhook_hosts: Arc::new(webhook_hosts),
            risk,
            api_token_uses: Arc::new(std::sync::Mutex::new(std::collections::HashMap::new())),
            imports: Arc::new(imports::Imports::default()),
            competitions,
        },
        demo_broker,
        demo_broker_token,
        ctrader_simulator,
        accounts: accounts.into_iter().map(|a| AccountId(a.id)).collect(),
        logins,
        instance: leases.instance().to_owned(),
        tasks,
    })
}

/// The demo broker as started: where it serves, and its accounts' configurations.
struct DemoStarted {
    metaapi: SocketAddr,
    ctrader: Option<SocketAddr>,
    broker: DemoBroker,
    accounts: Vec<AccountConfig>,
}

async fn bind_local() -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| StartError::Bind {
            addr: "127.0.0.1:0".to_owned(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: "127.0.0.1:0".to_owned(),
        source,
    })?;
    Ok((listener, addr))
}

/// When the demo world on this database began, and from which seed: kept in the store
/// (setting `demo_world`), so a demo restarted on the same database continues its world (the
/// simulated traders' history and the scripted accounts' stories) instead of starting it again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DemoWorld {
    seed: u64,
    history_start: chrono::DateTime<chrono::Utc>,
    script_start: chrono::DateTime<chrono::Utc>,
}

impl DemoWorld {
    /// The demo world this database's demo runs in: the one it began before, or a new one.
    async fn kept(config: &Config, store: &dyn store::Store) -> Result<Self, StartError> {
        let new = DemoWorld {
            seed: config.demo_seed,
            history_start: demo::history_start(),
            script_start: chrono::Utc::now(),
        };
        let text = serde_json::to_string(&new).unwrap_or_default();
        let kept = store.keep_setting("demo_world", &text).await?;
        let world = match serde_json::from_str::<DemoWorld>(&kept) {
            Ok(world) => world,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the stored demo world cannot be read; the demo starts a new one"
                );
                return Ok(new);
            }
        };
        if kept == text {
            tracing::info!(seed = world.seed, "the demo world starts on this database");
        } else {
            tracing::info!(
                seed = world.seed,
                began = %world.script_start,
                "the demo continues the world it began on this database"
            );
            if world.seed != config.demo_seed {
                tracing::warn!(
                    stored = world.seed,
                    configured = config.demo_seed,
                    "this database's demo world has another seed than configured; it continues \
                     with its own (start the demo on a new database to use the configured seed)"
                );
            }
        }
        Ok(world)
    }
}

async fn start_demo_broker(
    config: &Config,
    store: &dyn store::Store,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<DemoStarted, StartError> {
    let token: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(32)
        .collect();
    let world = DemoWorld::kept(config, store).await?;
    let demo = DemoBroker::new(
        DemoConfig {
            seed: world.seed,
            token,
            script_start: Some(world.script_start),
            ..DemoConfig::default()
        },
        world.history_start,
    );
    let (listener, addr) = bind_local().await?;
    let mut accounts = crate::config::AccountConfig::demo_accounts(
        &demo,
        &format!("http://{addr}"),
        config.demo_transport,
    );
    let mut ctrader = None;
    if config.demo_platform == config::DemoPlatform::Ctrader {
        let (listener, simulator_addr) = bind_local().await?;
        let secret = demo.token().to_owned();
        let simulator = demo::ctrader::CtraderSimulator::new(
            demo.clone(),
            demo::ctrader::SimulatorConfig {
                client_id: "riskdeck-demo".into(),
                client_secret: secret.clone(),
                access_token: secret.clone(),
                refresh_token: format!("{secret}-refresh"),
                token_lifetime: demo::ctrader::TOKEN_LIFETIME,
                money_digits: 2,
                json: demo::ctrader::JsonForm::Numbers,
            },
        );
        for account in &mut accounts {
            account.ctrader =
                simulator
                    .account_id(&account.id)
                    .map(|account_id| config::CtraderAccount {
                        url: format!("ws://{simulator_addr}/"),
                        client_id: "riskdeck-demo".into(),
                        client_secret: secret.clone(),
                        access_token: secret.clone(),
                        refresh_token: Some(format!("{secret}-refresh")),
                        refreshed: None,
                        account_id,
                    });
            if account.ctrader.is_some() {
                account.base_url.clear();
                account.metaapi_account_id.clear();
                account.token.clear();
            }
        }
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) =
                demo::ctrader::serve(listener, simulator, async move { stop.cancelled().await })
                    .await
            {
                tracing::error!(%error, "cTrader simulator stopped");
            }
        });
        ctrader = Some(simulator_addr);
    }
    for account in &mut accounts {
        account.trader = demo_owner(&account.id).map(str::to_owned);
    }
    let stop = shutdown.clone();
    let served = demo.clone();
    tasks.spawn(async move {
        if let Err(error) =
            demo::serve(listener, served, async move { stop.cancelled().await }).await
        {
            tracing::error!(%error, "demo broker stopped");
        }
    });
    Ok(DemoStarted {
        metaapi: addr,
        ctrader,
        broker: demo,
        accounts,
    })
}

/// The demo trader who owns a demo account: `trader` the first two, `trader2` the third.
/// Other demo accounts belong to no trader (admins see them).
fn demo_owner(account: &str) -> Option<&'static str> {
    match account {
        "demo-eurusd-scalper" | "demo-gold-swing" | "demo-daily-breach" | "demo-passing" => {
            Some("trader")
        }
        "demo-index-breakout" | "demo-deposit" | "demo-overnight" | "demo-no-stop" => {
            Some("trader2")
        }
        _ => None,
    }
}
