//! Starting trackers, at start-up and at runtime, and the accounts admins create.
//!
//! [`Launcher`] holds what every tracker needs (store, hub, leases, the poll limit, the broker
//! HTTP client, the demo broker when it runs) so that `start` and an admin's
//! `POST /api/accounts` start a tracker the same way. A created account is checked field by
//! field ([`check`], pure), stored with its setup (and, for MetaApi and cTrader, its connection
//! with the secrets sealed under `secret_key`: MetaApi's token; cTrader's access token and
//! client secret) in one transaction, shown in the hub and tracked at once; at every later
//! start [`Launcher::stored_accounts`] turns the stored setups back into accounts to track.
//! A cTrader account is tracked through [`BrokerClient`]'s cTrader connector, like a cTrader
//! account of the configuration file.
//!
//! What it must not do: return or log a token or secret, or track an account twice.

use crate::config::{AccountConfig, ChallengeSetup, CtraderAccount, CtraderProblem, TokenDates};
use crate::hub::Hub;
use crate::lease::Leases;
use crate::{live, tracker};
use broker::BrokerClient;
use broker::ctrader::client::Tokens;
use broker::ctrader::{CtraderClient, CtraderSettings, TokenStore};
use broker::journal;
use broker::metaapi::{StreamSettings, StreamingPool};
use broker::{BrokerError, metaapi::MetaApiClient};
use chrono::Utc;
use demo::DemoBroker;
use rust_decimal::Decimal;
use shared::api::{
    AccountSummary, ConnectionOptions, ConnectionRequest, CreateAccountRequest, DemoAccountOption,
    PresetOption, Role, Transport,
};
use shared::domain::AccountId;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::connections::{BrokerConnection, RefreshedPair, TokenRefresh, lineage_of};
use store::secrets::{Secret, SecretKey};
use store::{AccountSetup, Store, StoreError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The platform name of MetaApi connections (in the store).
pub const METAAPI: &str = "metaapi";
/// The platform name of cTrader connections (in the store).
pub const CTRADER: &str = "ctrader";

/// A cTrader account's whole deal history is read again at most this often: its execution
/// events bring every deal, and its application's accounts share one connection's five
/// historical requests a second (a thousand accounts reading a month of history every ten
/// minutes would need more than that).
pub const CTRADER_RECONCILE_AT_LEAST: Duration = Duration::from_secs(3600);
/// The connection name of demo broker accounts (in the store).
pub const DEMO: &str = "demo";
/// The region a MetaApi connection uses when no base URL is given.
pub const DEFAULT_REGION: &str = "london";
/// The largest initial balance accepted.
const MAX_INITIAL_BALANCE: i64 = 1_000_000_000;

/// The built-in demo broker, as new accounts connect to it.
#[derive(Clone, Debug)]
pub struct DemoLink {
    /// The broker (its accounts).
    pub broker: DemoBroker,
    /// Where it listens.
    pub base_url: String,
}

/// What a tracker needs besides its account, shared by every tracker of this instance.
pub struct Launcher {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The one writer of every tracker's equity samples.
    charts: Arc<tracker::ChartWriter>,
    /// Live views.
    pub hub: Arc<Hub>,
    /// This instance's account leases.
    pub leases: Arc<Leases>,
    /// Live updates to the other instances.
    pub fanout: live::Fanout,
    /// Bounds concurrent polls.
    pub polls: Arc<tokio::sync::Semaphore>,
    /// The broker HTTP client.
    pub http: reqwest::Client,
    /// How long one broker request may take (cTrader answers).
    pub broker_timeout: Duration,
    /// The running trackers' command queues.
    pub trackers: Arc<tracker::Commands>,
    /// Default poll interval.
    pub poll_interval: Duration,
    /// When a feed is stale.
    pub stale_after: Duration,
    /// Quotes between polls (configured); demo accounts get them by default.
    pub price_interval: Option<Duration>,
    /// How often a tracker reads its challenge's whole deal history.
    pub deal_reconcile_interval: Duration,
    /// Where journals go, if anywhere.
    pub journal_dir: Option<PathBuf>,
    /// Rotated journal files kept.
    pub journal_keep_files: usize,
    /// Seals broker secrets at rest (MetaApi tokens, cTrader credentials).
    pub secret_key: Option<SecretKey>,
    /// The demo broker, in demo mode.
    pub demo: Option<DemoLink>,
    /// Ends every tracker.
    pub shutdown: CancellationToken,
    /// MetaApi's risk trackers, fed by every tracker.
    pub risk: Arc<crate::risk::Risk>,
    tasks: Mutex<JoinSet<()>>,
    /// Accounts archived before this start (see [`Launcher::set_archived`]).
    archived: Mutex<std::collections::HashSet<AccountId>>,
    /// MetaApi streaming sockets, per server and token.
    streams: Mutex<HashMap<(String, String), StreamingPool>>,
}

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("demo", &self.demo.as_ref().map(|d| &d.base_url))
            .field("secret_key", &self.secret_key.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an account could not be created; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A field is unusable: the message names it and says how to fix it (422).
    #[error("{0}")]
    Invalid(String),
    /// The id is taken (409).
    #[error("{0}")]
    Taken(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token could not be sealed, or the broker client not built.
    #[error("{0}")]
    Internal(String),
}

/// A request that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The id.
    pub id: AccountId,
    /// The display name, trimmed.
    pub name: String,
    /// `metaapi`, `ctrader` or `demo`.
    pub connection: &'static str,
    /// The broker's id of the account (cTrader: the `ctidTraderAccountId`).
    pub external_account_id: String,
    /// MetaApi's base URL, or cTrader's WebSocket endpoint (not for the demo broker).
    pub base_url: Option<String>,
    /// A cTrader connection as checked (trimmed; its secrets redacted in `Debug`).
    pub ctrader: Option<CtraderAccount>,
    /// The preset, phase applied.
    pub preset: String,
    /// Starting capital.
    pub initial_balance: Decimal,
    /// Currency.
    pub currency: String,
    /// How a MetaApi (or demo) account is followed; a cTrader account is always polled.
    pub transport: Transport,
    /// The program and phase, when it is on one (then `preset` is the program's id).
    pub program: Option<crate::config::ProgramSetup>,
}

/// What [`check`] needs to know about this server.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The demo broker's accounts, in demo mode.
    pub demo_accounts: Option<&'a [String]>,
    /// Whether broker secrets (MetaApi tokens, cTrader credentials) can be sealed.
    pub secret_key: bool,
    /// The latest version of the program the request names, if it names one that exists.
    pub program: Option<&'a crate::programs::Loaded>,
}

/// Checks every field of a request (all but the owner and whether the id is free, which need
/// the store), with a message that names the field and says how to fix it.
pub fn check(request: &CreateAccountRequest, context: Context<'_>) -> Result<Checked, String> {
    let id = request.id.trim();
    let slug = id.len() >= 3
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !slug {
        return Err(format!(
            "id: {id:?} is not a usable id: use 3 to 64 lowercase letters, digits and '-', \
             not starting or ending with '-' (e.g. \"ftmo-100k-jane\")."
        ));
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(
            "name: give a display name of 1 to 100 characters (e.g. \"Jane's FTMO 100k\")."
                .to_owned(),
        );
    }
    let mut ctrader = None;
    let (connection, external_account_id, base_url) = match &request.connection {
        ConnectionRequest::Metaapi {
            account_id,
            token,
            base_url,
        } => {
            let account_id = account_id.trim();
            if account_id.is_empty()
                || account_id.len() > 100
                || !account_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(
                    "connection.account_id: give MetaApi's account id (letters, digits, '-' \
                     and '_', as shown in MetaApi's account list)."
                        .to_owned(),
                );
            }
            if token.trim().is_empty() || token.len() > 8192 || token.contains(char::is_whitespace)
            {
                return Err(
                    "connection.token: give the MetaApi API token (one line without spaces, \
                     from MetaApi's API access page)."
                        .to_owned(),
                );
            }
            if !context.secret_key {
                return Err(
                    "connection.token: this server has no secret_key, so it cannot store broker \
                     tokens: ask the operator to set secret_key in the config file or \
                     RISKDECK_SECRET_KEY (e.g. the output of `openssl rand -hex 32`) and \
                     restart, or connect a demo account."
                        .to_owned(),
                );
            }
            let base_url = match base_url.as_deref().map(str::trim) {
                None | Some("") => broker::metaapi::client::region_base_url(DEFAULT_REGION),
                Some(url) => match url::Url::parse(url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                        url.trim_end_matches('/').to_owned()
                    }
                    _ => {
                        return Err(format!(
                            "connection.base_url: {url:?} is not an http(s) URL: give MetaApi's \
                             URL for the account's region (e.g. \
                             https://mt-client-api-v1.london.agiliumtrade.ai) or leave it out."
                        ));
                    }
                },
            };
            (METAAPI, account_id.to_owned(), Some(base_url))
        }
        ConnectionRequest::Demo { account } => {
            let Some(demo_accounts) = context.demo_accounts else {
                return Err(
                    "connection: demo accounts exist only in demo mode (riskdeck serve --demo); \
                     connect a MetaApi account instead."
                        .to_owned(),
                );
            };
            if !demo_accounts.iter().any(|a| a == account) {
                return Err(format!(
                    "connection.account: the demo broker has no account {account:?}; choose one \
                     of: {}.",
                    demo_accounts.join(", ")
                ));
            }
            (DEMO, account.clone(), None)
        }
        ConnectionRequest::Ctrader {
            url,
            client_id,
            client_secret,
            access_token,
            refresh_token,
            account_id,
        } => {
            // The configuration file's rules, worded for the form.
            let named = |p: CtraderProblem| format!("connection.{}: {}.", p.field, p.fix);
            let parsed = CtraderAccount::parse_account_id(account_id);
            let account = CtraderAccount {
                url: url.trim().to_owned(),
                client_id: client_id.trim().to_owned(),
                client_secret: client_secret.trim().to_owned(),
                access_token: access_token.trim().to_owned(),
                refresh_token: refresh_token
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
                refreshed: None,
                // An unreadable id is reported after the fields before it in the form.
                account_id: parsed.as_ref().map_or(1, |id| *id),
            };
            account.problem().map_err(named)?;
            parsed.map_err(named)?;
            if !context.secret_key {
                return Err(
                    "connection.access_token: this server has no secret_key, so it cannot store \
                     cTrader credentials: ask the operator to set secret_key in the config file \
                     or RISKDECK_SECRET_KEY (e.g. the output of `openssl rand -hex 32`) and \
                     restart, or connect a demo account."
                        .to_owned(),
                );
            }
            let external = account.account_id.to_string();
            let url = account.url.clone();
            ctrader = Some(account);
            (CTRADER, external, Some(url))
        }
    };
    let named = request
        .program
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let (preset, program) = match named {
        Some(_) if !request.preset.trim().is_empty() => {
            return Err(
                "preset: give a program or a preset, not both (a program's phases carry their                  own rules)."
                    .to_owned(),
            );
        }
        Some(name) => {
            let program = context
                .program
                .filter(|p| p.id == name)
                .ok_or_else(|| {
                    format!(
                        "program: there is no program {name:?}: create it on the programs page                          first, or choose a preset."
                    )
                })?;
            let index = match request
                .phase
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None => 0,
                Some(phase) => program
                    .program
                    .phase(phase)
                    .map(|(i, _)| i)
                    .ok_or_else(|| {
                        format!(
                            "phase: program {name:?} has no phase {phase:?}; its phases are: {}.",
                            program
                                .program
                                .phases
                                .iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?,
            };
            (name.to_owned(), Some((program, index)))
        }
        None => (
            resolve_preset(request.preset.trim(), request.phase.as_deref())?,
            None,
        ),
    };
    let text = request.initial_balance.trim();
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.matches('.').count() <= 1;
    let parsed = if plain { text.parse().ok() } else { None };
    let initial_balance: Decimal = parsed.ok_or_else(|| {
        format!(
            "initial_balance: {text:?} is not a number: write the starting capital as digits, \
             e.g. \"100000\" or \"25000.50\"."
        )
    })?;
    if initial_balance <= Decimal::ZERO || initial_balance > Decimal::from(MAX_INITIAL_BALANCE) {
        return Err(format!(
            "initial_balance: must be more than 0 and at most {MAX_INITIAL_BALANCE} (the \
             challenge's starting capital)."
        ));
    }
    if initial_balance.scale() > 2 {
        return Err("initial_balance: use at most 2 decimal places.".to_owned());
    }
    let program = match program {
        Some((program, index)) => Some(
            program
                .setup(index, initial_balance)
                .map_err(|error| format!("initial_balance: the program refuses it: {error}"))?,
        ),
        None => {
            shared::engine::preset(&preset, initial_balance)
                .map_err(|error| format!("initial_balance: the preset refuses it: {error}"))?;
            None
        }
    };
    let currency = request.currency.trim();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "currency: {currency:?} is not a currency code: use three capital letters, e.g. USD."
        ));
    }
    if connection == DEMO && currency != "USD" {
        return Err("currency: the demo broker's accounts are in USD: choose USD.".to_owned());
    }
    let transport = match (ctrader.is_some(), request.transport) {
        (true, Some(Transport::Streaming)) => {
            return Err(
                "transport: streaming is MetaApi's; a cTrader account is followed \
                 through its Open API (leave transport out, or choose \"rest\")."
                    .to_owned(),
            );
        }
        (true, _) => Transport::Rest,
        (false, transport) => transport.unwrap_or_default(),
    };
    Ok(Checked {
        id: AccountId(id.to_owned()),
        name: name.to_owned(),
        connection,
        external_account_id,
        base_url,
        ctrader,
        preset,
        initial_balance,
        currency: currency.to_owned(),
        transport,
        program,
    })
}

/// The preset to use: `preset` itself when `phase` is left out or is its own; otherwise the
/// preset of the same program with that phase (`ftmo-2step` + `Phase 2` is
/// `ftmo-2step-phase2`).
fn resolve_preset(preset: &str, phase: Option<&str>) -> Result<String, String> {
    let names: Vec<&str> = shared::engine::PRESETS.iter().map(|(n, _)| *n).collect();
    let Some((_, own)) = shared::engine::presets::describe(preset) else {
        return Err(format!(
            "preset: there is no preset {preset:?}; choose one of: {}.",
            names.join(", ")
        ));
    };
    let Some(phase) = phase.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(preset.to_owned());
    };
    if phase.eq_ignore_ascii_case(own) {
        return Ok(preset.to_owned());
    }
    let program = preset
        .trim_end_matches("-phase1")
        .trim_end_matches("-phase2");
    let mut phases = Vec::new();
    for name in names.iter().filter(|n| {
        **n == program
            || n.strip_prefix(program)
                .is_some_and(|r| r.starts_with("-phase"))
    }) {
        if let Some((_, p)) = shared::engine::presets::describe(name) {
            if p.eq_ignore_ascii_case(phase) {
                return Ok((*name).to_owned());
            }
            if !phases.contains(&p) {
                phases.push(p);
            }
        }
    }
    Err(format!(
        "phase: preset {preset:?} has no phase {phase:?}; its program has: {}.",
        phases.join(", ")
    ))
}

impl Launcher {
    /// A launcher; trackers it starts run until `shutdown`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &crate::config::Config,
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        leases: Arc<Leases>,
        fanout: live::Fanout,
        http: reqwest::Client,
        demo: Option<DemoLink>,
        shutdown: CancellationToken,
        risk: Arc<crate::risk::Risk>,
    ) -> Self {
        let (charts, writer) = tracker::ChartWriter::start(store.clone(), shutdown.clone());
        let mut tasks = JoinSet::new();
        tasks.spawn(writer);
        Self {
            store,
            charts,
            hub,
            leases,
            fanout,
            polls: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_polls)),
            http,
            broker_timeout: config.broker_timeout,
            trackers: Arc::new(tracker::Commands::default()),
            poll_interval: config.poll_interval,
            stale_after: config.stale_after,
            price_interval: config.price_interval,
            deal_reconcile_interval: config.deal_reconcile_interval,
            journal_dir: config.journal_dir.clone(),
            journal_keep_files: config.journal_keep_files,
            secret_key: config.secret_key.clone(),
            demo,
            shutdown,
            risk,
            tasks: Mutex::new(tasks),
            archived: Mutex::default(),
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// The journal of an account, when journals are kept.
    pub fn journal(&self, account: &str) -> Option<Arc<journal::Journal>> {
        self.journal_dir.as_ref().map(|dir| {
            Arc::new(journal::Journal::new(dir, account).keep_files(self.journal_keep_files))
        })
    }

    /// Accounts archived before this start: their trackers show them as they stood and end.
    pub fn set_archived(&self, accounts: impl IntoIterator<Item = AccountId>) {
        self.archived
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(accounts);
    }

    /// Registers a tracker's command queue and runs it until shutdown.
    pub fn run(&self, id: AccountId, tracker: tracker::Tracker) {
        let tracker = match self.charts.sink() {
            Some(sink) => tracker.with_sample_sink(sink),
            None => tracker,
        }
        .with_risk(self.risk.clone());
        let archived = self
            .archived
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id);
        let tracker = if archived {
            tracker.archived()
        } else {
            tracker
        };
        self.trackers.register(id, tracker.command_sender());
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(tracker.run(self.shutdown.clone()));
    }

    /// Starts the tracker of a polled account (MetaApi or the demo broker). Demo broker
    /// accounts get quotes between polls unless configured otherwise.
    pub fn spawn_polled(&self, account: &AccountConfig, demo: bool) -> Result<(), BrokerError> {
        let price_interval = self
            .price_interval
            .or_else(|| demo.then(|| (self.poll_interval / 4).max(Duration::from_millis(100))));
        let journal = self.journal(&account.id);
        let mut stream = None;
        let mut ctrader_stream = None;
        let client: BrokerClient = match &account.ctrader {
            Some(ctrader) => {
                let mut client = CtraderClient::new(CtraderSettings {
                    url: ctrader.url.clone(),
                    client_id: ctrader.client_id.clone(),
                    client_secret: ctrader.client_secret.clone(),
                    access_token: ctrader.access_token.clone(),
                    refresh_token: ctrader.refresh_token.clone(),
                    account_id: ctrader.account_id,
                    timeout: self.broker_timeout,
                });
                if let Some(dates) = ctrader.refreshed {
                    client = client.with_tokens(Tokens {
                        access_token: ctrader.access_token.clone(),
                        refresh_token: ctrader.refresh_token.clone(),
                        expires_at: dates.expires_at,
                        refreshed_at: dates.refreshed_at,
                        refreshed_by: None,
                    });
                }
                if let Some(key) = &self.secret_key {
                    client = client.with_token_store(Arc::new(StoredTokens {
                        store: self.store.clone(),
                        key: key.clone(),
                        account: AccountId::from(account.id.as_str()),
                    }));
                }
                self.keep_refreshed_tokens(&account.id, ctrader, client.tokens());
                ctrader_stream = Some(tracker::Streamed::ctrader(client.clone()));
                client.into()
            }
            None => {
                let base_url = account.api_base_url();
                let client = MetaApiClient::new(
                    self.http.clone(),
                    &base_url,
                    &account.metaapi_account_id,
                    &account.token,
                )?;
                if account.transport.unwrap_or_default() == Transport::Streaming {
                    stream = Some(Some(tracker::Streamed::new(
                        self.stream_pool(&base_url, &account.token),
                        &account.metaapi_account_id,
                        journal.clone(),
                    )));
                } else {
                    stream = Some(None);
                }
                match journal {
                    Some(journal) => client.with_journal(journal),
                    None => client,
                }
                .into()
            }
        };
        let id = AccountId(account.id.clone());
        let mut tracker = tracker::Tracker::new(
            id.clone(),
            client,
            self.store.clone(),
            self.hub.clone(),
            account.poll_interval.unwrap_or(self.poll_interval),
            self.stale_after,
            account.challenge.clone(),
        )
        .with_poll_limit(self.polls.clone())
        .with_price_interval(price_interval)
        .with_deal_reconciliation(if ctrader_stream.is_some() {
            self.deal_reconcile_interval.max(CTRADER_RECONCILE_AT_LEAST)
        } else {
            self.deal_reconcile_interval
        })
        .with_leases(self.leases.clone())
        .with_fanout(self.fanout.clone());
        if let Some(stream) = stream {
            tracker = tracker.with_metaapi_transport(stream);
        }
        if let Some(stream) = ctrader_stream {
            tracker = tracker.with_stream(stream);
        }
        self.run(id, tracker);
        Ok(())
    }

    /// Stores every new token pair of a cTrader account as soon as a refresh brings it (sealed;
    /// the old refresh token may no longer work), so a restart goes on with it.
    fn keep_refreshed_tokens(
        &self,
        account: &str,
        ctrader: &CtraderAccount,
        mut tokens: tokio::sync::watch::Receiver<Tokens>,
    ) {
        let Some(key) = self.secret_key.clone() else {
            if ctrader.refresh_token.is_some() {
                tracing::warn!(
                    %account,
                    "no secret_key: a refreshed cTrader token cannot be stored, and after a \
                     restart the configured one is used again"
                );
            }
            return;
        };
        let (store, shutdown) = (self.store.clone(), self.shutdown.clone());
        let account = AccountId::from(account);
        let ctrader = ctrader.clone();
        tokens.mark_unchanged();
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(async move {
                loop {
                    // A pair published as shutdown begins is still stored.
                    let ended = tokio::select! {
                        biased;
                        changed = tokens.changed() => changed.is_err(),
                        () = shutdown.cancelled() => !tokens.has_changed().unwrap_or(false),
                    };
                    if ended {
                        break;
                    }
                    let pair = tokens.borrow_and_update().clone();
                    // The old refresh token may be spent: keep trying until the new pair is
                    // stored (a newer pair, if one comes meanwhile, replaces it).
                    let mut wait = Duration::from_millis(200);
                    while let Err(error) =
                        store_tokens(store.as_ref(), &key, &account, &ctrader, pair.clone()).await
                    {
                        tracing::error!(
                            %account,
                            %error,
                            "cannot store the refreshed cTrader token yet; trying again"
                        );
                        if tokens.has_changed().unwrap_or(false) || shutdown.is_cancelled() {
                            break;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            });
    }

    /// For a cTrader account of the configuration file: the token pair a refresh stored since,
    /// when there is one for the same application and account (the configured one may be spent).
    pub async fn with_stored_tokens(&self, account: &mut AccountConfig) {
        let (Some(key), Some(ctrader)) = (&self.secret_key, account.ctrader.as_mut()) else {
            return;
        };
        let id = AccountId::from(account.id.as_str());
        let stored = match store::connections::load(self.store.as_ref(), key, &id).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(account = %id, %error, "cannot read the stored cTrader token");
                return;
            }
        };
        let Some(stored) = stored else { return };
        let same_account = stored.platform == CTRADER
            && stored.external_account_id == ctrader.account_id.to_string()
            && stored.application.as_ref().map(|(id, _)| id) == Some(&ctrader.client_id);
        let Some(refresh) = stored
            .refresh
            .filter(|r| same_account && r.refreshed_at.is_some())
        else {
            return;
        };
        ctrader.access_token = stored.token.expose().to_owned();
        ctrader.refresh_token = Some(refresh.token.expose().to_owned());
        ctrader.refreshed = Some(TokenDates {
            expires_at: refresh.expires_at,
            refreshed_at: refresh.refreshed_at,
        });
    }

    /// The streaming sockets shared by the accounts of one MetaApi server and token.
    fn stream_pool(&self, base_url: &str, token: &str) -> StreamingPool {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((base_url.to_owned(), token.to_owned()))
            .or_insert_with(|| {
                StreamingPool::new(self.http.clone(), StreamSettings::new(base_url, token))
            })
            .clone()
    }

    /// Every tracker task, to wait for after shutdown.
    pub fn take_tasks(&self) -> JoinSet<()> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn demo_ids(&self) -> Option<Vec<String>> {
        self.demo
            .as_ref()
            .map(|demo| demo.broker.accounts().into_iter().map(|a| a.id).collect())
    }

    /// What a new challenge can be connected to.
    pub fn options(&self) -> ConnectionOptions {
        ConnectionOptions {
            demo: self.demo.is_some(),
            demo_accounts: self
                .demo
                .as_ref()
                .map(|demo| {
                    demo.broker
                        .accounts()
                        .into_iter()
                        .map(|a| DemoAccountOption {
                            id: a.id,
                            name: a.name,
                            preset: a.preset,
                            initial_balance: a.initial_balance,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            secret_key: self.secret_key.is_some(),
            presets: shared::engine::PRESETS
                .iter()
                .map(|(name, description)| PresetOption {
                    name: (*name).to_owned(),
                    description: (*description).to_owned(),
                    phase: shared::engine::presets::describe(name)
                        .map(|(_, phase)| phase.to_owned())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The account to track for a stored setup; `None` (with the reason) when it cannot be
    /// tracked on this start (a demo account without demo mode, a token that does not open).
    async fn account_of(
        &self,
        setup: &AccountSetup,
        name: String,
    ) -> Result<AccountConfig, String> {
        let program = match &setup.program {
            Some(enrollment) => Some(
                crate::programs::setup_of(self.store.as_ref(), enrollment, setup.initial_balance)
                    .await?,
            ),
            None => None,
        };
        self.account_with(setup, name, program).await
    }

    /// [`Launcher::account_of`] with the program's setup known already (a new account's, from
    /// [`check`]): its broker connection read back from the store, not its program.
    async fn account_with(
        &self,
        setup: &AccountSetup,
        name: String,
        program: Option<crate::config::ProgramSetup>,
    ) -> Result<AccountConfig, String> {
        let mut ctrader = None;
        let (base_url, token) = if setup.connection == DEMO {
            let demo = self
                .demo
                .as_ref()
                .ok_or("it is on the demo broker, which runs only in demo mode")?;
            (demo.base_url.clone(), demo.broker.token().to_owned())
        } else {
            let key = self
                .secret_key
                .as_ref()
                .ok_or("its token is sealed but no secret_key is configured")?;
            let connection = store::connections::load(self.store.as_ref(), key, &setup.account)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("its broker connection is missing")?;
            if connection
                .refresh
                .as_ref()
                .is_some_and(|refresh| refresh.lineage.is_none())
            {
                // Stored before pairs had lineages: saving it again gives it the lineage of the
                // refresh token it holds, so that the next refresh reaches it.
                if let Err(error) =
                    store::connections::save(self.store.as_ref(), key, &connection, Utc::now())
                        .await
                {
                    tracing::warn!(account = %setup.account, %error, "cannot store the token pair's lineage");
                }
            }
            if setup.connection == CTRADER {
                let (client_id, client_secret) = connection
                    .application
                    .ok_or("its cTrader application (client id and secret) is missing")?;
                let account_id = CtraderAccount::parse_account_id(&setup.external_account_id)
                    .map_err(|p| p.fix)?;
                ctrader = Some(CtraderAccount {
                    url: connection.base_url,
                    client_id,
                    client_secret: client_secret.expose().to_owned(),
                    access_token: connection.token.expose().to_owned(),
                    refresh_token: connection
                        .refresh
                        .as_ref()
                        .map(|r| r.token.expose().to_owned()),
                    refreshed: connection.refresh.as_ref().map(|r| TokenDates {
                        expires_at: r.expires_at,
                        refreshed_at: r.refreshed_at,
                    }),
                    account_id,
                });
                // A cTrader account is reached through `ctrader` alone.
                (String::new(), String::new())
            } else {
                (connection.base_url, connection.token.expose().to_owned())
            }
        };
        let metaapi_account_id = if ctrader.is_some() {
            String::new()
        } else {
            setup.external_account_id.clone()
        };
        Ok(AccountConfig {
            id: setup.account.to_string(),
            name,
            base_url,
            metaapi_account_id,
            token,
            poll_interval: None,
            challenge: Some(ChallengeSetup {
                preset: setup.preset.clone(),
                initial_balance: setup.initial_balance,
                estimated_equity_breaches: false,
                program,
            }),
            trader: None,
            region: None,
            ingest_token: None,
            ctrader,
            transport: Some(setup.transport),
        })
    }

    /// The accounts admins created, to track at this start (with whether each is on the demo
    /// broker); those that cannot be tracked now are logged and left out.
    pub async fn stored_accounts(&self) -> Result<Vec<(AccountConfig, bool)>, StoreError> {
        let names: std::collections::HashMap<AccountId, String> = self
            .store
            .accounts()
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        let mut accounts = Vec::new();
        for setup in self.store.account_setups().await? {
            let name = names
                .get(&setup.account)
                .cloned()
                .unwrap_or_else(|| setup.account.to_string());
            match self.account_of(&setup, name).await {
                Ok(account) => accounts.push((account, setup.connection == DEMO)),
                Err(reason) => tracing::warn!(
                    account = %setup.account,
                    %reason,
                    "a created account is not tracked on this start"
                ),
            }
        }
        Ok(accounts)
    }

    /// Creates an account as an admin asked: checks it, stores it (token sealed), shows it and
    /// starts tracking it. The caller writes the audit log.
    pub async fn create(
        &self,
        request: &CreateAccountRequest,
        admin: &str,
    ) -> Result<(Checked, AccountSummary), CreateError> {
        let demo_ids = self.demo_ids();
        let program = match request.program.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => crate::programs::latest(self.store.as_ref(), name)
                .await
                .map_err(|error| match error {
                    crate::programs::LoadError::Store(error) => CreateError::Store(error),
                    other => CreateError::Internal(other.to_string()),
                })?,
            _ => None,
        };
        let checked = check(
            request,
            Context {
                demo_accounts: demo_ids.as_deref(),
                secret_key: self.secret_key.is_some(),
                program: program.as_ref(),
            },
        )
        .map_err(CreateError::Invalid)?;
        let owner = match request.owner.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(username) => {
                let user = self
                    .store
                    .users()
                    .await?
                    .into_iter()
                    .find(|u| store::username_key(&u.username) == store::username_key(username))
                    .ok_or_else(|| {
                        CreateError::Invalid(format!(
                            "owner: there is no user {username:?}: create the trader on the \
                             users page first, or leave the owner out."
                        ))
                    })?;
                if user.role != Role::Trader {
                    return Err(CreateError::Invalid(format!(
                        "owner: {} is an admin and sees every account already; choose a trader.",
                        user.username
                    )));
                }
                Some(user.id)
            }
        };
        if self.hub.contains(&checked.id) {
            return Err(taken(&checked.id));
        }
        let new = self.new_account(&checked, request, owner, admin, Utc::now())?;
        if !self
            .store
            .create_account_setup(&new.setup, &new.name, owner, new.connection.as_ref())
            .await?
        {
            return Err(taken(&checked.id));
        }
        self.launch(&new.setup, &new.name, checked.program.clone())
            .await?;
        tracing::info!(account = %checked.id, connection = checked.connection, preset = %checked.preset, "account created");
        let summary = self
            .hub
            .summary(&checked.id)
            .ok_or_else(|| CreateError::Internal("the new account vanished".to_owned()))?;
        Ok((checked, summary))
    }

    /// What is stored of a checked request (by [`Launcher::create`] or an import): the setup,
    /// its program enrollment, and its broker connection with the secrets sealed.
    pub fn new_account(
        &self,
        checked: &Checked,
        request: &CreateAccountRequest,
        owner: Option<shared::api::UserId>,
        admin: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<store::NewAccount, CreateError> {
        let secrets = match (&request.connection, &checked.ctrader) {
            (ConnectionRequest::Metaapi { token, .. }, _) => Some(BrokerConnection {
                account: checked.id.clone(),
                platform: METAAPI.to_owned(),
                base_url: checked.base_url.clone().unwrap_or_default(),
                external_account_id: checked.external_account_id.clone(),
                token: Secret::new(token.trim()),
                application: None,
                refresh: None,
            }),
            (ConnectionRequest::Ctrader { .. }, Some(ctrader)) => {
                Some(ctrader_connection(&checked.id, ctrader))
            }
            _ => None,
        };
        let connection = match (&secrets, &self.secret_key) {
            (Some(secrets), Some(key)) => {
                Some(store::connections::seal(key, secrets, now).map_err(|e| {
                    CreateError::Internal(format!("cannot seal the broker secrets: {e}"))
                })?)
            }
            _ => None,
        };
        let setup = AccountSetup {
            account: checked.id.clone(),
            connection: checked.connection.to_owned(),
            external_account_id: checked.external_account_id.clone(),
            preset: checked.preset.clone(),
            initial_balance: checked.initial_balance,
            currency: checked.currency.clone(),
            created_by: admin.to_owned(),
            created_at: now,
            transport: checked.transport,
            program: checked.program.as_ref().map(|program| store::Enrollment {
                account: checked.id.clone(),
                program: program.link.program.clone(),
                version: program.link.version,
                phase: program.link.phase_index,
                journey: checked.id.as_str().to_owned(),
                enrolled_at: now,
            }),
        };
        Ok(store::NewAccount {
            setup,
            name: checked.name.clone(),
            owner,
            connection,
        })
    }

    /// Shows a new account, stored already, in the hub and starts tracking it: what follows
    /// the store's write of an account an admin created or imported. `program` is the setup
    /// [`check`] made of its program's phase (not read from the store again).
    pub async fn launch(
        &self,
        setup: &AccountSetup,
        name: &str,
        program: Option<crate::config::ProgramSetup>,
    ) -> Result<(), CreateError> {
        let account = self
            .account_with(setup, name.to_owned(), program)
            .await
            .map_err(CreateError::Internal)?;
        if !self.hub.add_account(setup.account.clone(), name.to_owned()) {
            return Err(taken(&setup.account));
        }
        self.leases.add_account();
        self.spawn_polled(&account, setup.connection == DEMO)
            .map_err(|e| CreateError::Internal(format!("cannot start the tracker: {e}")))
    }
}

/// The refusal of an id that is taken.
fn taken(id: &AccountId) -> CreateError {
    CreateError::Taken(format!(
        "id: an account {:?} exists already; choose another id.",
        id.as_str()
    ))
}

/// A cTrader account's connection as configured or as an admin gave it: its first pair.
fn ctrader_connection(account: &AccountId, ctrader: &CtraderAccount) -> BrokerConnection {
    BrokerConnection {
        account: account.clone(),
        platform: CTRADER.to_owned(),
        base_url: ctrader.url.clone(),
        external_account_id: ctrader.account_id.to_string(),
        token: Secret::new(ctrader.access_token.clone()),
        application: Some((
            ctrader.client_id.clone(),
            Secret::new(ctrader.client_secret.clone()),
        )),
        refresh: ctrader.refresh_token.as_ref().map(|token| TokenRefresh {
            token: Secret::new(token.clone()),
            expires_at: None,
            refreshed_at: None,
            lineage: None,
        }),
    }
}

/// Saves a refreshed token pair into the account's stored connection (made from the
/// configuration when the account has none yet), and into every stored holder of the pair when
/// this account's client spent the refresh token.
async fn store_tokens(
    store: &dyn store::Store,
    key: &SecretKey,
    account: &AccountId,
    ctrader: &CtraderAccount,
    pair: Tokens,
) -> Result<(), store::connections::ConnectionError> {
    let (Some(refresh_token), Some(refreshed_at)) = (pair.refresh_token, pair.refreshed_at) else {
        // Not a refresh: nothing new to keep.
        return Ok(());
    };
    let now = Utc::now();
    let own = match store::connections::load(store, key, account).await? {
        Some(connection) => connection,
        None => {
            // An account of the configuration file, refreshed for the first time: its
            // connection is stored with the configured pair, whose lineage the new pair keeps.
            let connection = ctrader_connection(account, ctrader);
            store::connections::save(store, key, &connection, now).await?;
            connection
        }
    };
    let refreshed = RefreshedPair {
        access_token: Secret::new(pair.access_token),
        refresh_token: Secret::new(refresh_token),
        expires_at: pair.expires_at,
        refreshed_at,
    };
    let lineage = own.refresh.as_ref().map(|held| {
        held.lineage
            .clone()
            .unwrap_or_else(|| lineage_of(&held.token))
    });
    match lineage {
        // This account's client spent the refresh token: every stored holder of the pair gets
        // the new one (on this server or another); the other holders here store only theirs.
        Some(lineage) if pair.refreshed_by == Some(ctrader.account_id) => {
            let replaced =
                store::connections::spread_refreshed(store, key, &lineage, &refreshed, now).await?;
            tracing::info!(%account, replaced, "refreshed cTrader token pair stored for its holders");
        }
        _ => {
            store::connections::save_refreshed(store, key, account, &refreshed, now).await?;
        }
    }
    Ok(())
}

/// Reads an account's stored token pair, for a client about to spend its refresh token: a pair
/// another server refreshed (and spread to this account) is taken instead.
struct StoredTokens {
    store: Arc<dyn store::Store>,
    key: SecretKey,
    account: AccountId,
}

impl TokenStore for StoredTokens {
    fn latest(&self) -> Pin<Box<dyn Future<Output = Option<Tokens>> + Send + '_>> {
        Box::pin(async move {
            let connection =
                match store::connections::load(self.store.as_ref(), &self.key, &self.account).await
                {
                    Ok(connection) => connection?,
                    Err(error) => {
                        tracing::warn!(
                            account = %self.account,
                            %error,
                            "cannot read the stored cTrader token before refreshing it"
                        );
                        return None;
                    }
                };
            let refresh = connection.refresh?;
            Some(Tokens {
                access_token: connection.token.expose().to_owned(),
                refresh_token: Some(refresh.token.expose().to_owned()),
                expires_at: refresh.expires_at,
                refreshed_at: refresh.refreshed_at,
                refreshed_by: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateAccountRequest {
        CreateAccountRequest {
            id: "jane-ftmo".into(),
            name: "Jane FTMO".into(),
            connection: ConnectionRequest::Demo {
                account: "demo-gold-swing".into(),
            },
            preset: "ftmo-2step".into(),
            program: None,
            phase: None,
            initial_balance: "100000".into(),
            currency: "USD".into(),
            owner: None,
            transport: None,
        }
    }

    #[track_caller]
    fn refused(change: impl FnOnce(&mut CreateAccountRequest), field: &str) {
        let mut r = request();
        change(&mut r);
        let demo = ["demo-gold-swing".to_owned()];
        let message = check(
            &r,
            Context {
                demo_accounts: Some(&demo),
                secret_key: false,
                program: None,
            },
        )
        .expect_err("refused");
        assert!(message.starts_with(&format!("{field}:")), "{message}");
    }

    #[test]
    fn a_valid_request_is_accepted_and_the_phase_picks_the_preset() {
        let demo = ["demo-gold-swing".to_owned()];
        let context = Context {
            demo_accounts: Some(&demo),
            secret_key: false,
            program: None,
        };
        let checked = check(&request(), context).expect("valid");
        assert_eq!(checked.preset, "ftmo-2step");
        assert_eq!(checked.connection, DEMO);
        let mut r = request();
        r.phase = Some("Phase 2".into());
        assert_eq!(
            check(&r, context).expect("valid").preset,
            "ftmo-2step-phase2"
        );
        r.preset = "ftmo-2step-phase2".into();
        r.phase = Some("phase 1".into());
        assert_eq!(check(&r, context).expect("valid").preset, "ftmo-2step");
    }

    #[test]
    fn every_bad_field_is_refused_naming_the_field() {
        refused(|r| r.id = "Jane FTMO".into(), "id");
        refused(|r| r.id = "-ab".into(), "id");
        refused(|r| r.name = "  ".into(), "name");
        refused(
            |r| {
                r.connection = ConnectionRequest::Demo {
                    account: "nope".into(),
                }
            },
            "connection.account",
        );
        refused(
            |r| {
                r.connection = ConnectionRequest::Metaapi {
                    account_id: "abc".into(),
                    token: "t0ken".into(),
                    base_url: None,
                }
            },
            "connection.token",
        );
        refused(|r| r.preset = "ftmo-9step".into(), "preset");
        refused(|r| r.phase = Some("Phase 7".into()), "phase");
        refused(|r| r.initial_balance = "lots".into(), "initial_balance");
        refused(|r| r.initial_balance = "-5".into(), "initial_balance");
        refused(|r| r.initial_balance = "1.001".into(), "initial_balance");
        refused(|r| r.initial_balance = "100_000".into(), "initial_balance");
        refused(|r| r.initial_balance = "1e5".into(), "initial_balance");
        refused(|r| r.currency = "usd".into(), "currency");
        refused(|r| r.currency = "EUR".into(), "currency");
    }

    #[test]
    fn connections_are_tagged_by_kind_and_tokens_stay_out_of_debug() {
        let demo: ConnectionRequest =
            serde_json::from_str(r#"{"kind":"demo","account":"demo-gold-swing"}"#).expect("demo");
        assert_eq!(
            demo,
            ConnectionRequest::Demo {
                account: "demo-gold-swing".into()
            }
        );
        let metaapi: ConnectionRequest =
            serde_json::from_str(r#"{"kind":"metaapi","account_id":"a","token":"s3cret"}"#)
                .expect("metaapi");
        assert!(!format!("{metaapi:?}").contains("s3cret"));
        assert!(
            serde_json::from_str::<ConnectionRequest>(r#"{"kind":"demo","account":"x","x":1}"#)
                .is_err(),
            "unknown fields are refused"
        );
    }

    fn ctrader(change: impl FnOnce(&mut [&str; 5])) -> ConnectionRequest {
        let mut fields = [
            "wss://demo.ctraderapi.com:5036",
            "app-id",
            "app-s3cret",
            "access-t0ken",
            "40000001",
        ];
        change(&mut fields);
        let [url, client_id, client_secret, access_token, account_id] = fields.map(str::to_owned);
        ConnectionRequest::Ctrader {
            url,
            client_id,
            client_secret,
            access_token,
            refresh_token: None,
            account_id,
        }
    }

    #[track_caller]
    fn ctrader_refused(change: impl FnOnce(&mut [&str; 5]), field: &str, says: &str) {
        let mut r = request();
        r.connection = ctrader(change);
        let message = check(
            &r,
            Context {
                demo_accounts: None,
                secret_key: true,
                program: None,
            },
        )
        .expect_err("refused");
        assert!(message.starts_with(&format!("{field}:")), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(
            !message.contains("s3cret") && !message.contains("t0ken"),
            "{message}"
        );
    }

    #[test]
    fn a_ctrader_connection_is_checked_by_the_configuration_rules_field_by_field() {
        let mut r = request();
        r.connection = ctrader(|f| f[0] = " wss://live.ctraderapi.com:5036 ");
        let checked = check(
            &r,
            Context {
                demo_accounts: None,
                secret_key: true,
                program: None,
            },
        )
        .expect("valid");
        assert_eq!(checked.connection, CTRADER);
        assert_eq!(checked.external_account_id, "40000001");
        assert_eq!(
            checked.base_url.as_deref(),
            Some("wss://live.ctraderapi.com:5036")
        );
        let account = checked.ctrader.as_ref().expect("cTrader");
        assert_eq!(account.account_id, 40_000_001);
        assert_eq!(account.access_token, "access-t0ken");
        let debug = format!("{checked:?} {r:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("t0ken"),
            "{debug}"
        );

        ctrader_refused(
            |f| f[0] = "https://demo.ctraderapi.com",
            "connection.url",
            "wss://demo",
        );
        ctrader_refused(|f| f[0] = "", "connection.url", "wss://live");
        ctrader_refused(|f| f[1] = " ", "connection.client_id", "client id");
        ctrader_refused(
            |f| f[2] = "two s3cret words",
            "connection.client_secret",
            "one line",
        );
        ctrader_refused(|f| f[3] = "", "connection.access_token", "access token");
        ctrader_refused(
            |f| f[4] = "12a",
            "connection.account_id",
            "ctidTraderAccountId",
        );
        ctrader_refused(|f| f[4] = "-5", "connection.account_id", "positive number");
        // The fields are named in the form's order.
        ctrader_refused(
            |f| {
                f[0] = "nowhere";
                f[4] = "x";
            },
            "connection.url",
            "WebSocket",
        );
        let mut r = request();
        r.connection = ctrader(|_| {});
        let message = check(
            &r,
            Context {
                demo_accounts: None,
                secret_key: false,
                program: None,
            },
        )
        .expect_err("no key");
        assert!(
            message.starts_with("connection.access_token:") && message.contains("secret_key"),
            "{message}"
        );
    }

    #[test]
    fn a_ctrader_connection_reads_from_json_and_keeps_its_secrets_out_of_debug() {
        let parsed: ConnectionRequest = serde_json::from_str(
            r#"{"kind":"ctrader","url":"wss://demo.ctraderapi.com:5036","client_id":"app",
                "client_secret":"s3cret","access_token":"t0ken","account_id":"42"}"#,
        )
        .expect("ctrader");
        assert_eq!(
            parsed,
            ctrader(|f| {
                f[1] = "app";
                f[2] = "s3cret";
                f[3] = "t0ken";
                f[4] = "42";
            })
        );
        let debug = format!("{parsed:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("t0ken"),
            "{debug}"
        );
        assert!(debug.contains("42"), "{debug}");
    }

    #[test]
    fn demo_connections_need_demo_mode() {
        let message = check(
            &request(),
            Context {
                demo_accounts: None,
                secret_key: true,
                program: None,
            },
        )
        .expect_err("no demo mode");
        assert!(message.contains("demo mode"), "{message}");
    }
}
