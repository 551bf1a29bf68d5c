//! `riskdeck replay`: runs the risk engine over a JSON Lines file of broker records and reports.
//! A deal that appears again (deal history is pulled in overlapping windows) is fed once, as the
//! server does.
//!
//! Input lines are `{"time": ISO-8601, plus exactly one of "accountInformation" | "positions" |
//! "deal" | "price" | "specification"}` (also `"tick": {}`), each in MetaApi's JSON shape: the
//! format the backend journals what it pulls in, so any decision can be replayed. See
//! docs/ENGINE.md.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use shared::domain::Position;
use shared::engine::{Challenge, ChallengeConfig, Record, RecordData, Report};
use std::io::BufRead;
use std::path::Path;
use wire::metaapi::{
    AccountInformation, MetaDeal, MetaPosition, MetaSymbolPrice, MetaSymbolSpecification,
};

/// Why a replay could not run; every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// An input line is malformed or refused by the engine.
    #[error("{path}, line {line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
    /// The rules file is not a valid rule set.
    #[error("rules file {path}: {message}")]
    Rules { path: String, message: String },
    /// The preset or initial balance is refused.
    #[error("{0}")]
    Setup(String),
}

/// One input line in MetaApi's shapes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Line {
    time: DateTime<Utc>,
    account_information: Option<AccountInformation>,
    positions: Option<Vec<MetaPosition>>,
    deal: Option<MetaDeal>,
    price: Option<MetaSymbolPrice>,
    specification: Option<MetaSymbolSpecification>,
    tick: Option<serde::de::IgnoredAny>,
}

const KINDS: &str = "accountInformation, positions, deal, price, specification or tick";

/// Parses one line into an engine record.
pub fn parse_line(text: &str) -> Result<Record, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut data = Vec::with_capacity(1);
    if let Some(info) = line.account_information {
        data.push(RecordData::AccountInformation(info.into()));
    }
    if let Some(positions) = line.positions {
        let positions = positions
            .into_iter()
            .map(Position::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        data.push(RecordData::Positions(positions));
    }
    if let Some(deal) = line.deal {
        data.push(RecordData::Deal(deal.into()));
    }
    if let Some(price) = line.price {
        data.push(RecordData::Price(price.into()));
    }
    if let Some(spec) = line.specification {
        data.push(RecordData::Specification(spec.into()));
    }
    if line.tick.is_some() {
        data.push(RecordData::Tick {});
    }
    match (data.pop(), data.is_empty()) {
        (Some(data), true) => Ok(Record::new(line.time, data)),
        (None, _) => Err(format!("a record needs one of {KINDS}")),
        (Some(_), false) => Err(format!(
            "a record holds exactly one of {KINDS}, not several"
        )),
    }
}

/// The challenge configuration: a preset, or a rule-set file, with this initial balance.
pub fn configure(
    preset: &str,
    initial_balance: Decimal,
    rules: Option<&Path>,
) -> Result<ChallengeConfig, ReplayError> {
    let mut config = match rules {
        None => shared::engine::preset(preset, initial_balance)
            .map_err(|e| ReplayError::Setup(e.to_string()))?,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
                path: path.display().to_string(),
                source,
            })?;
            serde_json::from_str(&text).map_err(|e| ReplayError::Rules {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
        }
    };
    config.initial_balance = initial_balance;
    Ok(config)
}

/// Replays `events` (a JSON Lines file) through a challenge built from `config`.
pub fn run(config: ChallengeConfig, events: &Path) -> Result<Report, ReplayError> {
    let path = events.display().to_string();
    let mut challenge = Challenge::new(config).map_err(|e| ReplayError::Setup(e.to_string()))?;
    let file = std::fs::File::open(events).map_err(|source| ReplayError::Io {
        path: path.clone(),
        source,
    })?;
    let mut out = Vec::new();
    // Deal history is pulled in overlapping windows: like the server, feed each deal once.
    let mut seen_deals = std::collections::HashSet::new();
    for (index, text) in std::io::BufReader::new(file).lines().enumerate() {
        let line = index + 1;
        let text = text.map_err(|e| ReplayError::Line {
            path: path.clone(),
            line,
            message: e.to_string(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let record = parse_line(&text).map_err(|message| ReplayError::Line {
            path: path.clone(),
            line,
            message,
        })?;
        if let RecordData::Deal(deal) = &record.data
            && !seen_deals.insert(deal.id.clone())
        {
            continue;
        }
        challenge
            .apply(&record, &mut out)
            .map_err(|e| ReplayError::Line {
                path: path.clone(),
                line,
                message: e.to_string(),
            })?;
        out.clear();
    }
    Ok(challenge.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_refused(line: &str, expected: &str) {
        let message = parse_line(line).expect_err("refused");
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }

    #[test]
    fn malformed_lines_are_refused_with_the_reason() {
        check_refused("not json", "expected");
        check_refused(r#"{"time":"2026-01-01T00:00:00Z"}"#, "needs one of");
        check_refused(
            r#"{"time":"2026-01-01T00:00:00Z","tick":{},"positions":[]}"#,
            "exactly one",
        );
        check_refused(r#"{"time":"yesterday","tick":{}}"#, "input");
        check_refused(
            r#"{"time":"2026-01-01T00:00:00Z","bogus":1}"#,
            "unknown field",
        );
        check_refused(
            r#"{"time":"2026-01-01T00:00:00Z","positions":[{"id":"1","type":"X","symbol":"E",
            "time":"2026-01-01T00:00:00Z","openPrice":1,"currentPrice":1,"volume":1}]}"#,
            "unknown position type",
        );
    }

    #[test]
    fn metaapi_shapes_become_engine_records() {
        let record = parse_line(
            r#"{"time":"2026-01-12T09:00:00Z","accountInformation":{"balance":100000,
            "equity":99950.5,"currency":"USD"}}"#,
        )
        .expect("parse");
        let RecordData::AccountInformation(info) = record.data else {
            panic!("account information expected");
        };
        assert_eq!(info.equity, Decimal::new(999505, 1));
    }
}
