//! Typed configuration: defaults in code, an optional TOML file, command-line overrides.
//!
//! Secrets (broker tokens, the admin password) are redacted in `Debug`, so a logged config never
//! leaks them.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the server needs to start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the web server listens on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://path/to/file.db` (created when missing).
    pub database_url: String,
    /// Directory of the per-account journals of broker records (replayable); none when unset.
    pub journal_dir: Option<PathBuf>,
    /// Directory holding the built browser app (`index.html`, `pkg/`, `style/`).
    pub assets: PathBuf,
    /// Default interval between two polls of an account.
    #[serde(with = "millis")]
    pub poll_interval: Duration,
    /// Polls failing for this long mark an account's feed as stale.
    #[serde(with = "millis")]
    pub stale_after: Duration,
    /// Between two account polls, revalue open positions from symbol quotes this often, so a
    /// trough between polls is seen (as estimated equity). Off when unset.
    #[serde(with = "opt_millis")]
    pub price_interval: Option<Duration>,
    /// At most this many account polls run at once (the rest wait their turn), so thousands of
    /// accounts stay within the broker's rate limits and this machine's sockets.
    pub max_concurrent_polls: usize,
    /// How often a tracker reads the deal history of the whole challenge (besides the recent
    /// window every poll reads), so a deal the broker files late is still applied, once.
    #[serde(with = "millis")]
    pub deal_reconcile_interval: Duration,
    /// Start the built-in demo broker and track its accounts.
    pub demo: bool,
    /// Seed of the demo broker's simulation.
    pub demo_seed: u64,
    /// Which platform the demo accounts are tracked through: `metaapi` (the MetaApi-shaped REST
    /// demo broker) or `ctrader` (the cTrader Open API simulator over the same world).
    pub demo_platform: DemoPlatform,
    /// How the demo broker's MetaApi-shaped accounts are followed: `streaming` (its `/ws`,
    /// the default) or `rest`.
    pub demo_transport: shared::api::Transport,
    /// Accounts to track.
    pub accounts: Vec<AccountConfig>,
    /// How long one request to a broker may take before it is abandoned (and retried).
    #[serde(with = "millis")]
    pub broker_timeout: Duration,
    /// Rotated journal files kept per account (each up to 64 MiB); older ones are deleted.
    pub journal_keep_files: usize,
    /// The key broker tokens are sealed under in the database: 32 random bytes as 64 hex
    /// digits or base64 (also `RISKDECK_SECRET_KEY`). Redacted in `Debug`.
    pub secret_key: Option<store::secrets::SecretKey>,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Turn on behind TLS.
    pub secure_cookies: bool,
    /// How long a session works after signing in.
    #[serde(with = "millis")]
    pub session_ttl: Duration,
    /// The first admin, created at start-up when no admin exists (outside demo mode).
    pub admin: AdminConfig,
    /// How long an account's lease runs without renewal. Several instances on one PostgreSQL
    /// database share the accounts, each tracked by the holder of its lease; when an instance
    /// dies, the others take its accounts over within about this time and a third of it (see
    /// docs/OPERATIONS.md). Holders renew every third of it.
    #[serde(with = "millis")]
    pub lease_ttl: Duration,
    /// How long a client may take to send a request's line and headers before its connection
    /// is closed (slow clients holding connections open without finishing a request).
    #[serde(with = "millis")]
    pub header_read_timeout: Duration,
    /// Client connections served at once; more wait until one closes.
    pub max_connections: usize,
    /// Live streams one user may hold open at once (a browser tab holds one).
    pub max_streams_per_user: usize,
    /// Events a live stream may fall behind by (its client reading too slowly) before it is
    /// sent a new snapshot instead.
    pub stream_buffer: usize,
    /// Recent events kept so that a reconnecting stream resumes where it left off.
    pub stream_replay: usize,
    /// Notifications: the firm's channels (Telegram, webhook, email) and the delivery
    /// schedule (`[notifications]`).
    pub notifications: crate::notify::NotifyConfig,
}

/// The admin created when the database has none.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Their sign-in name.
    pub username: String,
    /// Their password; when unset a one-time password is generated and printed at start-up.
    pub password: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            username: "admin".to_owned(),
            password: None,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The shortest password accepted for the configured admin.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted (hashing a longer one would only cost time).
pub const MAX_PASSWORD_CHARS: usize = 1_024;
/// The longest username.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Checks a password a person chose: 12 to 1024 characters.
pub fn validate_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "The password must be at least {MIN_PASSWORD_CHARS} characters long."
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "The password must be at most {MAX_PASSWORD_CHARS} characters long."
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(
            "The password must not contain control characters (tabs, line breaks, ...).".to_owned(),
        );
    }
    if password.chars().all(char::is_whitespace) {
        return Err("The password must not be only spaces.".to_owned());
    }
    Ok(())
}

/// Checks a username: 1 to 64 ASCII letters, digits, `.`, `_`, `-` or `@`.
pub fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_USERNAME_CHARS {
        return Err(format!(
            "username {name:?} must be 1 to {MAX_USERNAME_CHARS} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(format!(
            "username {name:?} may only contain letters, digits, '.', '_', '-' or '@'"
        ));
    }
    Ok(())
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://riskdeck.db".to_owned(),
            journal_dir: Some(PathBuf::from("journal")),
            assets: PathBuf::from("target/dist"),
            poll_interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(10),
            max_concurrent_polls: 32,
            deal_reconcile_interval: Duration::from_secs(10 * 60),
            price_interval: None,
            demo: false,
            demo_seed: 42,
            demo_platform: DemoPlatform::MetaApi,
            demo_transport: shared::api::Transport::Streaming,
            accounts: Vec::new(),
            journal_keep_files: 10,
            secret_key: None,
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 60 * 60),
            admin: AdminConfig::default(),
            broker_timeout: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(15),
            header_read_timeout: crate::ServeLimits::default().header_read_timeout,
            max_connections: crate::ServeLimits::default().max_connections,
            max_streams_per_user: 16,
            stream_buffer: crate::hub::DEFAULT_STREAM_BUFFER,
            stream_replay: crate::hub::DEFAULT_STREAM_REPLAY,
            notifications: crate::notify::NotifyConfig::default(),
        }
    }
}

/// The platform demo accounts are tracked through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoPlatform {
    /// The MetaApi-shaped REST demo broker.
    #[default]
    MetaApi,
    /// The cTrader Open API simulator.
    Ctrader,
}

impl std::str::FromStr for DemoPlatform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "metaapi" => Ok(DemoPlatform::MetaApi),
            "ctrader" => Ok(DemoPlatform::Ctrader),
            other => Err(format!(
                "unknown demo platform {other:?}: use \"metaapi\" or \"ctrader\""
            )),
        }
    }
}

/// How to reach a cTrader account through the Open API (JSON over WebSocket).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CtraderAccount {
    /// `wss://live.ctraderapi.com:5036` or `wss://demo.ctraderapi.com:5036`.
    pub url: String,
    /// The Open API application's client id.
    pub client_id: String,
    /// The application's client secret. Never logged.
    pub client_secret: String,
    /// The account owner's OAuth access token. Never logged.
    pub access_token: String,
    /// The OAuth refresh token, which trades for a new access token when this one expires
    /// (after about 30 days). Never logged. Without it an expired token stops the account.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The trading account's `ctidTraderAccountId`.
    pub account_id: i64,
    /// When the access token expires and when the pair was last refreshed, as stored after a
    /// refresh (never in the configuration file).
    #[serde(skip)]
    pub refreshed: Option<TokenDates>,
}

/// When a refreshed cTrader access token expires, and when it was refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenDates {
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for CtraderAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtraderAccount")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// A field of a cTrader connection that cannot work, and how to fix it. The configuration file
/// and the admin console word it their own way around the same rules ([`CtraderAccount::problem`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtraderProblem {
    /// The field: `url`, `client_id`, `client_secret`, `access_token` or `account_id`.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub fix: String,
}

/// The longest credential accepted (client id, client secret, access token).
const MAX_CTRADER_CREDENTIAL: usize = 8192;

impl CtraderAccount {
    /// The `ctidTraderAccountId` typed as text, with the same rule as [`Self::problem`].
    pub fn parse_account_id(text: &str) -> Result<i64, CtraderProblem> {
        match text.trim().parse::<i64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(Self::account_id_problem(text.trim())),
        }
    }

    fn account_id_problem(shown: impl std::fmt::Display) -> CtraderProblem {
        CtraderProblem {
            field: "account_id",
            fix: format!(
                "{shown} is not a ctidTraderAccountId: give the trading account's                  ctidTraderAccountId, a positive number (the Open API Playground's account                  list, or ProtoOAGetAccountListByAccessTokenReq, shows it; it is not the login                  number cTrader shows)"
            ),
        }
    }

    /// The first field that cannot work, with how to fix it; `Ok` when every field is usable.
    pub fn problem(&self) -> Result<(), CtraderProblem> {
        let websocket = (self.url.starts_with("wss://") || self.url.starts_with("ws://"))
            && url::Url::parse(&self.url)
                .is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
        if !websocket {
            return Err(CtraderProblem {
                field: "url",
                fix: format!(
                    "{:?} is not a WebSocket URL: give the Open API endpoint,                      \"wss://live.ctraderapi.com:5036\" for live accounts or                      \"wss://demo.ctraderapi.com:5036\" for demo accounts",
                    self.url
                ),
            });
        }
        for (field, value, what) in [
            (
                "client_id",
                &self.client_id,
                "your Open API application's client id (openapi.ctrader.com, Applications, \
                 Credentials)",
            ),
            (
                "client_secret",
                &self.client_secret,
                "your Open API application's secret (openapi.ctrader.com, Applications, \
                 Credentials)",
            ),
            (
                "access_token",
                &self.access_token,
                "the account owner's OAuth access token (from your application's sign-in on \
                 id.ctrader.com, or the Open API Playground)",
            ),
        ] {
            let unusable = value.trim().is_empty()
                || value.len() > MAX_CTRADER_CREDENTIAL
                || value.contains(char::is_whitespace);
            if unusable {
                let wrong = if value.trim().is_empty() {
                    "is empty"
                } else {
                    "is not one line without spaces"
                };
                return Err(CtraderProblem {
                    field,
                    fix: format!("{wrong}: give {what}, one line without spaces"),
                });
            }
        }
        if self.account_id <= 0 {
            return Err(Self::account_id_problem(self.account_id));
        }
        Ok(())
    }

    fn check(&self, id: &str) -> Result<(), String> {
        self.problem()
            .map_err(|p| format!("account {id:?}: ctrader.{}: {}", p.field, p.fix))
    }
}

/// One tracked account: a MetaTrader account reached through MetaApi (or the demo broker), a
/// cTrader account reached through the Open API (`ctrader`), or an account fed by pushes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Riskdeck's id for the account (letters, digits, `-` and `_`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// MetaApi base URL, e.g. `https://mt-client-api-v1.london.agiliumtrade.ai`; may be left
    /// out (empty) when `region` is given.
    #[serde(default)]
    pub base_url: String,
    /// MetaApi's id of the account (left out for an account fed by pushes).
    #[serde(default)]
    pub metaapi_account_id: String,
    /// MetaApi token, sent as the `auth-token` header. Never logged.
    #[serde(default)]
    pub token: String,
    /// Poll interval for this account, overriding the default.
    #[serde(default, with = "opt_millis")]
    pub poll_interval: Option<Duration>,
    /// The challenge the account is on; without one, only peaks are tracked.
    #[serde(default)]
    pub challenge: Option<ChallengeSetup>,
    /// The username of the trader who owns the account (and alone sees it, with the admins).
    #[serde(default)]
    pub trader: Option<String>,
    /// MetaApi region of the account (e.g. `london`, `new-york`): gives the base URL when
    /// `base_url` is left out.
    #[serde(default)]
    pub region: Option<String>,
    /// With a token here, the account is not polled: a bridge pushes its records to
    /// `POST /api/ingest/{id}` with `Authorization: Bearer <ingest_token>` (at least 32
    /// characters). Never logged.
    #[serde(default)]
    pub ingest_token: Option<String>,
    /// A cTrader account: polled through the Open API instead of MetaApi (leave out the MetaApi
    /// fields).
    #[serde(default)]
    pub ctrader: Option<CtraderAccount>,
    /// How a MetaApi account is followed: `streaming` (the default: MetaApi's streaming API,
    /// REST only to onboard and reconcile, REST polling while the stream is unavailable) or
    /// `rest` (polled every `poll_interval`). Not for cTrader or pushed accounts.
    #[serde(default)]
    pub transport: Option<shared::api::Transport>,
}

impl AccountConfig {
    /// How Riskdeck tracks the demo broker's accounts at `base_url` (where `demo` is served):
    /// one account each, on its challenge, followed by `transport`.
    pub fn demo_accounts(
        demo: &demo::DemoBroker,
        base_url: &str,
        transport: shared::api::Transport,
    ) -> Vec<AccountConfig> {
        demo.accounts()
            .into_iter()
            .map(|a| AccountConfig {
                id: a.id.clone(),
                name: a.name,
                base_url: base_url.to_owned(),
                metaapi_account_id: a.id,
                token: demo.token().to_owned(),
                poll_interval: None,
                challenge: Some(ChallengeSetup {
                    preset: a.preset,
                    initial_balance: a.initial_balance,
                    estimated_equity_breaches: false,
                    program: None,
                }),
                region: None,
                ingest_token: None,
                ctrader: None,
                trader: None,
                transport: Some(transport),
            })
            .collect()
    }

    /// The base URL requests go to: `base_url`, or the region's MetaApi URL when only a region
    /// is given.
    pub fn api_base_url(&self) -> String {
        match &self.region {
            Some(region) if self.base_url.is_empty() => {
                broker::metaapi::client::region_base_url(region)
            }
            _ => self.base_url.clone(),
        }
    }

    /// A polled account names its broker; an account fed by pushes names nothing else.
    fn check_source(&self) -> Result<(), String> {
        let id = &self.id;
        if let Some(ctrader) = &self.ctrader {
            if self.ingest_token.is_some()
                || !self.base_url.is_empty()
                || self.region.is_some()
                || !self.metaapi_account_id.is_empty()
                || !self.token.is_empty()
            {
                return Err(format!(
                    "account {id:?}: a cTrader account is reached through [accounts.ctrader] \
                     alone: leave out ingest_token, base_url, region, metaapi_account_id and token"
                ));
            }
            return ctrader.check(id);
        }
        match &self.ingest_token {
            Some(token) => {
                if token.chars().count() < crate::ingest::MIN_TOKEN_CHARS
                    || token.chars().any(char::is_whitespace)
                {
                    return Err(format!(
                        "account {id:?}: ingest_token must be at least {} characters with no \
                         spaces (e.g. the output of `openssl rand -hex 24`)",
                        crate::ingest::MIN_TOKEN_CHARS
                    ));
                }
                if !self.base_url.is_empty()
                    || self.region.is_some()
                    || !self.metaapi_account_id.is_empty()
                    || !self.token.is_empty()
                {
                    return Err(format!(
                        "account {id:?}: an account with an ingest_token is fed by pushes, not \
                         polled: leave out base_url, region, metaapi_account_id and token"
                    ));
                }
                Ok(())
            }
            None => {
                self.check_endpoint()?;
                if self.metaapi_account_id.is_empty() {
                    return Err(format!(
                        "account {id:?}: metaapi_account_id is empty (or give an ingest_token \
                         to have the account's records pushed)"
                    ));
                }
                if self.token.is_empty() {
                    return Err(format!("account {id:?}: token is empty"));
                }
                Ok(())
            }
        }
    }

    /// Base URL and region: one of them given, and consistent when both are.
    fn check_endpoint(&self) -> Result<(), String> {
        let id = &self.id;
        if let Some(region) = &self.region
            && (region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(format!(
                "account {id:?}: region {region:?} must be lowercase letters, digits and '-' \
                 (e.g. \"london\")"
            ));
        }
        if self.base_url.is_empty() && self.region.is_none() {
            return Err(format!(
                "account {id:?}: set base_url or region (e.g. region = \"london\")"
            ));
        }
        let url = self.api_base_url();
        match url::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "account {id:?}: base_url {url:?} is not an http(s) URL"
                ));
            }
        }
        if let Some(region) = &self.region
            && !self.base_url.is_empty()
        {
            let expected = broker::metaapi::client::region_base_url(region);
            if self.base_url.trim_end_matches('/') != expected {
                return Err(format!(
                    "account {id:?}: base_url {:?} is not region {region:?}'s ({expected}); \
                     give only one of them",
                    self.base_url
                ));
            }
        }
        Ok(())
    }
}

/// Which rules an account is measured against.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeSetup {
    /// A preset of the risk engine, e.g. `ftmo-2step` (see docs/ENGINE.md).
    pub preset: String,
    /// The challenge's starting capital.
    pub initial_balance: rust_decimal::Decimal,
    /// Whether equity estimated from quotes between polls may breach (by default it only
    /// warns; a breach needs the broker's equity).
    #[serde(default)]
    pub estimated_equity_breaches: bool,
    /// The program, version and phase the challenge is on, with the phase's rules at its
    /// initial balance (accounts created on a program; never in the configuration file).
    #[serde(skip)]
    pub program: Option<ProgramSetup>,
}

/// A challenge on a program: where it is, and the engine configuration its phase gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSetup {
    pub link: shared::programs::ProgramLink,
    pub config: shared::engine::ChallengeConfig,
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("metaapi_account_id", &self.metaapi_account_id)
            .field("token", &"<redacted>")
            .field("poll_interval", &self.poll_interval)
            .field("challenge", &self.challenge)
            .field("trader", &self.trader)
            .field("region", &self.region)
            .field(
                "ingest_token",
                &self.ingest_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ctrader", &self.ctrader)
            .field("transport", &self.transport)
            .finish()
    }
}

/// A configuration that cannot be used, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The limits on clients' connections the HTTP server keeps.
    pub fn serve_limits(&self) -> crate::ServeLimits {
        crate::ServeLimits {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
        }
    }

    /// Reads a TOML file; missing keys take their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    /// The key for secrets at rest, or what to do when there is none.
    pub fn secret_key(&self) -> Result<&store::secrets::SecretKey, ConfigError> {
        self.secret_key.as_ref().ok_or_else(|| {
            ConfigError::Invalid(
                "secret_key is not set: broker tokens are stored encrypted under it; set \
                 secret_key in the config file or RISKDECK_SECRET_KEY to 32 random bytes as 64 \
                 hex digits (e.g. the output of `openssl rand -hex 32`)"
                    .to_owned(),
            )
        })
    }

    /// Checks what serde cannot: ids, URLs, intervals.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.poll_interval < Duration::from_millis(100) {
            return invalid("poll_interval must be at least 100 ms".into());
        }
        if let Some(prices) = self.price_interval
            && (prices < Duration::from_millis(100) || prices >= self.poll_interval)
        {
            return invalid(
                "price_interval must be at least 100 ms and shorter than poll_interval".into(),
            );
        }
        if !(1..=10_000).contains(&self.max_concurrent_polls) {
            return invalid("max_concurrent_polls must be between 1 and 10000".into());
        }
        if self.header_read_timeout < Duration::from_millis(100)
            || self.header_read_timeout > Duration::from_secs(600)
        {
            return invalid("header_read_timeout must be between 100 ms and 600000 ms".into());
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return invalid("max_connections must be between 1 and 1000000".into());
        }
        if !(1..=100_000).contains(&self.max_streams_per_user) {
            return invalid("max_streams_per_user must be between 1 and 100000".into());
        }
        if !(1..=1_000_000).contains(&self.stream_buffer) {
            return invalid("stream_buffer must be between 1 and 1000000 events".into());
        }
        if self.stream_replay > 1_000_000 {
            return invalid("stream_replay must be at most 1000000 events".into());
        }
        if self.deal_reconcile_interval < self.poll_interval {
            return invalid("deal_reconcile_interval must be at least poll_interval".into());
        }
        if self.stale_after <= self.poll_interval {
            return invalid("stale_after must be longer than poll_interval".into());
        }
        if self.journal_keep_files == 0 {
            return invalid(
                "journal_keep_files must be at least 1 (rotated journal files kept per account)"
                    .into(),
            );
        }
        if self.session_ttl < Duration::from_secs(60)
            || self.session_ttl > Duration::from_secs(30 * 24 * 60 * 60)
        {
            return invalid("session_ttl must be between 1 minute and 30 days (in ms)".into());
        }
        if let Err(message) = validate_username(&self.admin.username) {
            return invalid(format!("[admin]: {message}"));
        }
        if let Some(password) = &self.admin.password
            && let Err(message) = validate_password(password)
        {
            return invalid(format!(
                "[admin]: password: {message} (or leave it out to have one generated)"
            ));
        }
        if self.lease_ttl < Duration::from_secs(1) || self.lease_ttl > Duration::from_secs(3600) {
            return invalid(
                "lease_ttl must be between 1000 ms and one hour (3600000 ms): it is how long \
                 an account stays untracked when its instance dies"
                    .into(),
            );
        }
        if let Err(message) = self.notifications.validate() {
            return invalid(message);
        }
        if self.broker_timeout < Duration::from_millis(100) {
            return invalid("broker_timeout must be at least 100 ms".into());
        }
        let mut seen = std::collections::HashSet::new();
        for account in &self.accounts {
            if account.id.is_empty()
                || !account
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return invalid(format!(
                    "account id {:?} must be non-empty letters, digits, '-' or '_'",
                    account.id
                ));
            }
            if !seen.insert(account.id.as_str()) {
                return invalid(format!("account id {:?} appears twice", account.id));
            }
            if let Err(message) = account.check_source() {
                return invalid(message);
            }
            if let Some(trader) = &account.trader {
                if let Err(message) = validate_username(trader) {
                    return invalid(format!("account {:?}: trader: {message}", account.id));
                }
                if trader.eq_ignore_ascii_case(&self.admin.username) {
                    return invalid(format!(
                        "account {:?}: trader {trader:?} is the admin, who sees every account \
                         already; name a trader",
                        account.id
                    ));
                }
            }
            if let Some(setup) = &account.challenge
                && let Err(error) =
                    shared::engine::Challenge::from_preset(&setup.preset, setup.initial_balance)
            {
                return invalid(format!("account {:?}: challenge: {error}", account.id));
            }
        }
        if !self.demo && self.accounts.is_empty() {
            tracing::warn!("no accounts configured and demo mode is off: nothing to track");
        }
        Ok(())
    }
}

pub(crate) mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = r#"
        [[accounts]]
        id = "ftmo-1"
        name = "FTMO 100k"
        base_url = "https://mt-client-api-v1.london.agiliumtrade.ai"
        metaapi_account_id = "abc"
        token = "secret-token"
    "#;

    #[test]
    fn defaults_fill_missing_keys_and_tokens_stay_out_of_debug() {
        let config = Config::from_toml(ACCOUNT).expect("valid");
        assert_eq!(config.poll_interval, Duration::from_secs(1));
        assert_eq!(config.accounts.len(), 1);
        config.validate().expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
        assert_eq!(config.session_ttl, Duration::from_secs(12 * 3600));
        assert!(!config.secure_cookies);
        assert_eq!(config.admin.username, "admin");
        assert_eq!(config.lease_ttl, Duration::from_secs(15));
    }

    #[test]
    fn the_admin_password_stays_out_of_debug() {
        let config = Config::from_toml(&format!(
            "[admin]\nusername = \"root\"\npassword = \"correct horse battery\"\n{ACCOUNT}trader = \"jane\""
        ))
        .expect("valid");
        config.validate().expect("valid");
        assert_eq!(config.accounts[0].trader.as_deref(), Some("jane"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("correct horse"), "{debug}");
        assert!(debug.contains("root"), "{debug}");
    }

    #[test]
    fn the_secret_key_is_checked_said_to_be_missing_and_never_printed() {
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let config = Config::from_toml(&format!("secret_key = \"{key}\"")).expect("valid");
        assert!(config.secret_key().is_ok());
        assert!(!format!("{config:?}").contains("00112233"));
        let message = Config::from_toml("secret_key = \"abc\"").expect_err("too short");
        assert!(message.contains("64 hex digits or as base64"), "{message}");
        let missing = Config::default()
            .secret_key()
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("secret_key is not set"), "{missing}");
        assert!(missing.contains("openssl rand -hex 32"), "{missing}");
    }

    #[track_caller]
    fn check_invalid(toml: &str, expected: &str) {
        let message = match Config::from_toml(toml) {
            Err(message) => message,
            Ok(config) => config.validate().expect_err("must be refused").to_string(),
        };
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }

    #[test]
    fn malformed_config_is_refused_with_the_reason() {
        check_invalid("listen = 5", "invalid type");
        check_invalid("colour = \"red\"", "unknown field");
        check_invalid("poll_interval = 5", "at least 100 ms");
        check_invalid("max_concurrent_polls = 0", "between 1 and 10000");
        check_invalid("max_streams_per_user = 0", "max_streams_per_user");
        check_invalid("header_read_timeout = 5", "header_read_timeout");
        check_invalid("max_connections = 0", "max_connections");
        check_invalid("stream_buffer = 0", "stream_buffer");
        check_invalid("price_interval = 1000", "shorter than poll_interval");
        check_invalid(
            "journal_keep_files = 0",
            "journal_keep_files must be at least 1",
        );
        check_invalid(&ACCOUNT.replace("ftmo-1", "ftmo 1"), "letters, digits");
        check_invalid(
            &ACCOUNT.replace("https://mt", "ftp://mt"),
            "not an http(s) URL",
        );
        check_invalid(&ACCOUNT.replace("secret-token", ""), "token is empty");
        check_invalid(&format!("{ACCOUNT}{ACCOUNT}"), "appears twice");
        check_invalid(
            &format!("{ACCOUNT}challenge = {{ preset = \"ftmo-9step\", initial_balance = 1 }}"),
            "unknown preset",
        );
        check_invalid(
            &format!("{ACCOUNT}challenge = {{ preset = \"ftmo-2step\", initial_balance = -5 }}"),
            "initial balance",
        );
        check_invalid("session_ttl = 1000", "session_ttl must be between");
        check_invalid("[admin]\npassword = \"short\"", "at least 12 characters");
        check_invalid("[admin]\nusername = \"a b\"", "may only contain");
        check_invalid("[admin]\nuser = \"x\"", "unknown field");
        check_invalid(&format!("{ACCOUNT}trader = \"\""), "1 to 64 characters");
        check_invalid(&format!("{ACCOUNT}trader = \"Admin\""), "is the admin");
        check_invalid("broker_timeout = 5", "at least 100 ms");
        check_invalid("lease_ttl = 500", "lease_ttl must be between");
    }

    #[test]
    fn a_region_gives_the_base_url_and_must_agree_with_one_given() {
        let only_region = ACCOUNT.replace(
            "base_url = \"https://mt-client-api-v1.london.agiliumtrade.ai\"",
            "region = \"new-york\"",
        );
        let config = Config::from_toml(&only_region).expect("valid");
        config.validate().expect("a region alone is enough");
        assert_eq!(
            config.accounts[0].api_base_url(),
            "https://mt-client-api-v1.new-york.agiliumtrade.ai"
        );

        let both = format!("{ACCOUNT}region = \"london\"");
        let config = Config::from_toml(&both).expect("valid");
        config.validate().expect("base URL and region agree");
        assert_eq!(
            config.accounts[0].api_base_url(),
            "https://mt-client-api-v1.london.agiliumtrade.ai"
        );

        check_invalid(&format!("{ACCOUNT}region = \"vint-hill\""), "give only one");
        check_invalid(&only_region.replace("new-york", "New York"), "lowercase");
        check_invalid(
            &only_region.replace("region = \"new-york\"", ""),
            "set base_url or region",
        );
    }

    #[test]
    fn the_demo_brokers_accounts_are_tracked_each_on_its_challenge() {
        let demo = demo::DemoBroker::new(demo::DemoConfig::default(), chrono::Utc::now());
        let configs = AccountConfig::demo_accounts(
            &demo,
            "http://127.0.0.1:1",
            shared::api::Transport::Streaming,
        );
        assert_eq!(configs.len(), 8);
        assert!(configs.iter().all(|c| c.token == "demo-token"
            && c.api_base_url() == "http://127.0.0.1:1"
            && c.challenge.is_some()));
    }
}
