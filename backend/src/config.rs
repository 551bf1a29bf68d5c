//! Typed configuration: defaults in code, an optional TOML file, command-line overrides.
//!
//! Secrets (broker tokens) are redacted in `Debug`, so a logged config never leaks them.

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
    /// Start the built-in demo broker and track its accounts.
    pub demo: bool,
    /// Seed of the demo broker's simulation.
    pub demo_seed: u64,
    /// Accounts to track.
    pub accounts: Vec<AccountConfig>,
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
            demo: false,
            demo_seed: 42,
            accounts: Vec::new(),
        }
    }
}

/// One tracked MetaTrader account reached through MetaApi (or the demo broker).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Riskdeck's id for the account (letters, digits, `-` and `_`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// MetaApi base URL, e.g. `https://mt-client-api-v1.london.agiliumtrade.ai`.
    pub base_url: String,
    /// MetaApi's id of the account.
    pub metaapi_account_id: String,
    /// MetaApi token, sent as the `auth-token` header. Never logged.
    pub token: String,
    /// Poll interval for this account, overriding the default.
    #[serde(default, with = "opt_millis")]
    pub poll_interval: Option<Duration>,
    /// The challenge the account is on; without one, only peaks are tracked.
    #[serde(default)]
    pub challenge: Option<ChallengeSetup>,
}

/// Which rules an account is measured against.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeSetup {
    /// A preset of the risk engine, e.g. `ftmo-2step` (see docs/ENGINE.md).
    pub preset: String,
    /// The challenge's starting capital.
    pub initial_balance: rust_decimal::Decimal,
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

    /// Checks what serde cannot: ids, URLs, intervals.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.poll_interval < Duration::from_millis(100) {
            return invalid("poll_interval must be at least 100 ms".into());
        }
        if self.stale_after <= self.poll_interval {
            return invalid("stale_after must be longer than poll_interval".into());
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
            match url::Url::parse(&account.base_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return invalid(format!(
                        "account {:?}: base_url {:?} is not an http(s) URL",
                        account.id, account.base_url
                    ));
                }
            }
            if account.token.is_empty() {
                return invalid(format!("account {:?}: token is empty", account.id));
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

mod millis {
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
    }
}
