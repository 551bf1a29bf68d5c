//! What-if: an account's journal replayed under draft rules next to the rules in force, so an
//! admin sees which rules would have warned or breached, and when, before saving.
//!
//! The journal is read oldest file first (rotated files by their time, then the current one),
//! parsed once, and every record is fed to two challenges side by side. The replay is bounded:
//! at most [`MAX_RECORDS`] records and [`MAX_TIME`] of work; a replay cut short says so
//! (`truncated`) and covers the journal up to its last replayed record. Records the engine
//! refuses (out of order, malformed) are skipped and counted, as deals seen twice are fed once.

use shared::api::{WhatIfOutcome, WhatIfResponse, WhatIfRule};
use shared::domain::Money;
use shared::engine::edit::RuleSet;
use shared::engine::{Challenge, ChallengeConfig, Event, EventKind, RecordData};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most records one what-if replays.
pub const MAX_RECORDS: u64 = 500_000;
/// The most time one what-if works.
pub const MAX_TIME: Duration = Duration::from_secs(6);

/// Why a what-if could not run; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// The account has no journal file.
    #[error(
        "there is no journal for this account yet in {0}: records are journaled as they are \
         polled or pushed, so try again once the account has been tracked for a while"
    )]
    NoJournal(String),
    /// A journal file cannot be read.
    #[error("cannot read the journal {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The rules cannot start a challenge.
    #[error("{0}")]
    Setup(String),
}

/// The journal files of `account` in `dir`, oldest first.
pub fn journal_files(dir: &Path, account: &str) -> Result<Vec<PathBuf>, WhatIfError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(WhatIfError::NoJournal(dir.display().to_string()));
        }
        Err(source) => {
            return Err(WhatIfError::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let prefix = format!("{account}.");
    let mut rotated: Vec<(i64, PathBuf)> = Vec::new();
    let mut current = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        if rest == "jsonl" {
            current = Some(entry.path());
        } else if let Some(ms) = rest.strip_suffix(".jsonl")
            && let Ok(ms) = ms.parse::<i64>()
        {
            rotated.push((ms, entry.path()));
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, path)| path).collect();
    files.extend(current);
    if files.is_empty() {
        return Err(WhatIfError::NoJournal(dir.display().to_string()));
    }
    Ok(files)
}

/// One side of the replay.
struct Side {
    challenge: Challenge,
    rules: Vec<WhatIfRule>,
    decided: Option<chrono::DateTime<chrono::Utc>>,
}

impl Side {
    fn new(preset: &str, initial_balance: Money, set: &RuleSet) -> Result<Self, WhatIfError> {
        let challenge = Challenge::new(ChallengeConfig {
            preset: preset.to_owned(),
            initial_balance,
            clock: set.clock,
            rules: set.rules.clone(),
            estimated_equity_breaches: set.estimated_equity_breaches,
            interest_dividend_tax: set.interest_dividend_tax,
        })
        .map_err(|error| WhatIfError::Setup(error.to_string()))?;
        let rules = set
            .rules
            .iter()
            .map(|rule| WhatIfRule {
                id: rule.id.clone(),
                kind: rule.kind.name().to_owned(),
                status: shared::engine::RuleStatus::Pending,
                first_warning: None,
                warnings: 0,
                breached: None,
                met: None,
            })
            .collect();
        Ok(Self {
            challenge,
            rules,
            decided: None,
        })
    }

    fn note(&mut self, events: &[Event]) {
        for event in events {
            if matches!(event.kind, EventKind::Passed | EventKind::Failed) {
                self.decided.get_or_insert(event.time);
                continue;
            }
            let Some(rule) = event
                .rule
                .as_deref()
                .and_then(|id| self.rules.iter_mut().find(|r| r.id == id))
            else {
                continue;
            };
            match event.kind {
                EventKind::Warning => {
                    rule.warnings = rule.warnings.saturating_add(1);
                    rule.first_warning.get_or_insert(event.time);
                }
                EventKind::Breach => {
                    rule.breached.get_or_insert(event.time);
                }
                EventKind::ObjectiveMet => {
                    rule.met.get_or_insert(event.time);
                }
                // A held decision is neither a breach nor a warning until it is settled.
                EventKind::Passed | EventKind::Failed | EventKind::Held => {}
            }
        }
    }

    fn outcome(mut self) -> WhatIfOutcome {
        for rule in &mut self.rules {
            if let Some(status) = self.challenge.rule_status(&rule.id) {
                rule.status = status;
            }
        }
        WhatIfOutcome {
            status: self.challenge.status(),
            decided: self.decided,
            rules: self.rules,
        }
    }
}

/// Replays `files` under `draft` and `current`, within the bounds.
pub fn replay(
    files: &[PathBuf],
    preset: &str,
    initial_balance: Money,
    current: &RuleSet,
    draft: &RuleSet,
) -> Result<WhatIfResponse, WhatIfError> {
    replay_bounded(
        files,
        preset,
        initial_balance,
        current,
        draft,
        MAX_RECORDS,
        MAX_TIME,
    )
}

/// [`replay`] with explicit bounds.
pub fn replay_bounded(
    files: &[PathBuf],
    preset: &str,
    initial_balance: Money,
    current: &RuleSet,
    draft: &RuleSet,
    max_records: u64,
    max_time: Duration,
) -> Result<WhatIfResponse, WhatIfError> {
    let started = Instant::now();
    let mut sides = [
        Side::new(preset, initial_balance, draft)?,
        Side::new(preset, initial_balance, current)?,
    ];
    let mut seen_deals = std::collections::HashSet::new();
    let mut trading = false;
    let mut events = Vec::new();
    let (mut records, mut skipped, mut truncated) = (0_u64, 0_u64, false);
    let (mut from, mut to) = (None, None);
    'files: for path in files {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            // Rotation may delete an old file between listing and reading it.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(WhatIfError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        for line in std::io::BufReader::new(file).lines() {
            if records >= max_records || (records % 256 == 0 && started.elapsed() >= max_time) {
                truncated = true;
                break 'files;
            }
            let Ok(text) = line else {
                skipped += 1;
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let Ok(record) = broker::replay::parse_line(&text) else {
                skipped += 1;
                continue;
            };
            if let RecordData::Deal(deal) = &record.data {
                // The balance operations before the first trade funded the account: as when
                // the tracker onboards a challenge from its history (`ChallengeRun::onboard`),
                // they are the initial balance, not deposits.
                if !trading && deal.is_balance_operation() {
                    continue;
                }
                trading = true;
                if !seen_deals.insert(deal.id.clone()) {
                    continue;
                }
            }
            records += 1;
            let mut refused = false;
            for side in &mut sides {
                events.clear();
                match side.challenge.apply(&record, &mut events) {
                    Ok(()) => side.note(&events),
                    Err(_) => refused = true,
                }
            }
            if refused {
                skipped += 1;
            } else {
                from.get_or_insert(record.time);
                to = Some(record.time);
            }
        }
    }
    let [draft, current] = sides;
    Ok(WhatIfResponse {
        draft: draft.outcome(),
        current: current.outcome(),
        records,
        skipped,
        truncated,
        from,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::io::Write;

    fn info(time: &str, equity: i64) -> String {
        format!(
            r#"{{"time":"{time}","accountInformation":{{"balance":100000,"equity":{equity},"currency":"USD"}}}}"#
        )
    }

    fn ftmo() -> RuleSet {
        let config = shared::engine::preset("ftmo-2step", Decimal::from(100_000)).expect("preset");
        RuleSet {
            clock: config.clock,
            rules: config.rules,
            estimated_equity_breaches: false,
            interest_dividend_tax: shared::engine::PlCounting::TradingPl,
        }
    }

    #[test]
    fn a_tighter_daily_limit_would_have_breached_where_the_current_one_only_warned() {
        let dir = tempfile::tempdir().expect("dir");
        let mut file = std::fs::File::create(dir.path().join("a1.jsonl")).expect("file");
        for line in [
            info("2026-01-12T09:00:00Z", 100_000),
            "not json".to_owned(),
            info("2026-01-12T10:00:00Z", 96_000),
            info("2026-01-12T11:00:00Z", 99_000),
        ] {
            writeln!(file, "{line}").expect("write");
        }
        std::fs::write(
            dir.path().join("a1.1000.jsonl"),
            info("2026-01-12T08:00:00Z", 100_000) + "\n",
        )
        .expect("rotated");
        std::fs::write(dir.path().join("a10.jsonl"), "other account\n").expect("other");
        let files = journal_files(dir.path(), "a1").expect("files");
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a1.1000.jsonl"), "{files:?}");
        let current = ftmo();
        let mut draft = ftmo();
        if let shared::engine::RuleKind::DailyLoss { limit, .. } = &mut draft.rules[0].kind {
            *limit = shared::engine::Limit::PercentOfInitial(Decimal::from(3));
        }
        let answer = replay(
            &files,
            "ftmo-2step",
            Decimal::from(100_000),
            &current,
            &draft,
        )
        .expect("replay");
        assert_eq!(answer.records, 4);
        assert_eq!(answer.skipped, 1);
        assert!(!answer.truncated);
        let breach = answer.draft.rules[0].breached.expect("draft breaches");
        assert_eq!(
            breach,
            "2026-01-12T10:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("t")
        );
        assert_eq!(answer.draft.status, shared::engine::ChallengeStatus::Failed);
        assert_eq!(answer.current.rules[0].breached, None);
        assert!(answer.current.rules[0].warnings > 0);
        assert_eq!(
            answer.current.status,
            shared::engine::ChallengeStatus::Active
        );

        let cut = replay_bounded(
            &files,
            "ftmo-2step",
            Decimal::from(100_000),
            &current,
            &draft,
            2,
            MAX_TIME,
        )
        .expect("replay");
        assert!(cut.truncated);
        assert_eq!(cut.records, 2);
    }

    #[test]
    fn the_deposit_that_funded_the_account_is_its_initial_balance_not_a_deposit() {
        let dir = tempfile::tempdir().expect("dir");
        let deal = |id: &str, time: &str, kind: &str, profit: i64| {
            format!(
                r#"{{"time":"2026-01-12T09:00:01Z","deal":{{"id":"{id}","time":"{time}","type":"{kind}","entryType":"DEAL_ENTRY_OUT","symbol":"EURUSD","volume":1,"price":1.1,"profit":{profit},"commission":0,"swap":0}}}}"#
            )
        };
        let journal = [
            info("2026-01-12T09:00:00Z", 100_000),
            deal("1", "2026-01-12T07:00:00Z", "DEAL_TYPE_BALANCE", 100_000),
            deal("2", "2026-01-12T08:00:00Z", "DEAL_TYPE_SELL", 0),
            info("2026-01-12T09:00:02Z", 100_000),
            // A deposit after trading began is a deposit.
            deal("3", "2026-01-12T09:30:00Z", "DEAL_TYPE_BALANCE", 5_000),
        ]
        .join("\n");
        std::fs::write(dir.path().join("a1.jsonl"), journal + "\n").expect("journal");
        let files = journal_files(dir.path(), "a1").expect("files");
        let answer = replay(
            &files,
            "ftmo-2step",
            Decimal::from(100_000),
            &ftmo(),
            &ftmo(),
        )
        .expect("replay");
        assert_eq!(answer.records, 4, "the funding deposit is not a record");
        for side in [&answer.draft, &answer.current] {
            assert_eq!(side.status, shared::engine::ChallengeStatus::Active);
            assert!(side.rules.iter().all(|r| r.breached.is_none()), "{side:?}");
        }
    }

    #[test]
    fn a_draft_with_the_new_rule_kinds_replays_them() {
        use shared::engine::{Limit, RuleDef, RuleKind};
        let dir = tempfile::tempdir().expect("dir");
        let journal = [
            info("2026-01-12T09:00:00Z", 100_000),
            r#"{"time":"2026-01-12T09:00:00Z","positions":[{"id":"p1","type":"POSITION_TYPE_BUY","symbol":"EURUSD","time":"2026-01-12T09:00:00Z","openPrice":1.1,"currentPrice":1.1,"volume":1,"profit":0,"swap":0,"commission":0}]}"#.to_owned(),
            r#"{"time":"2026-01-12T14:00:01Z","deal":{"id":"7","time":"2026-01-12T14:00:00Z","type":"DEAL_TYPE_SELL","entryType":"DEAL_ENTRY_OUT","symbol":"EURUSD","volume":1,"price":1.085,"profit":-1500,"commission":0,"swap":0,"positionId":"p1"}}"#.to_owned(),
            r#"{"time":"2026-01-12T14:00:01Z","accountInformation":{"balance":98500,"equity":98500,"currency":"USD"}}"#.to_owned(),
            r#"{"time":"2026-01-12T14:00:01Z","positions":[]}"#.to_owned(),
        ]
        .join("\n");
        std::fs::write(dir.path().join("a1.jsonl"), journal + "\n").expect("journal");
        let files = journal_files(dir.path(), "a1").expect("files");
        let mut draft = ftmo();
        // The soft holding-time rule first: the hard per-trade breach ends the challenge.
        draft.rules.push(RuleDef::new(
            "holding",
            RuleKind::MaxHoldingTime { minutes: 240 },
        ));
        draft.rules.push(RuleDef::new(
            "per_trade",
            RuleKind::MaxTradeLoss {
                limit: Limit::Money(Decimal::from(1000)),
            },
        ));
        let answer = replay(
            &files,
            "ftmo-2step",
            Decimal::from(100_000),
            &ftmo(),
            &draft,
        )
        .expect("replay");
        let at = "2026-01-12T14:00:01Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("t");
        let rule = |id: &str| {
            answer
                .draft
                .rules
                .iter()
                .find(|r| r.id == id)
                .unwrap_or_else(|| panic!("{id} replayed"))
        };
        assert_eq!(rule("per_trade").breached, Some(at));
        assert_eq!(rule("per_trade").kind, "max_trade_loss");
        assert_eq!(rule("holding").breached, Some(at));
        assert_eq!(answer.draft.status, shared::engine::ChallengeStatus::Failed);
        assert_eq!(
            answer.current.status,
            shared::engine::ChallengeStatus::Active
        );
    }

    #[test]
    fn an_account_without_a_journal_is_told_so() {
        let dir = tempfile::tempdir().expect("dir");
        let error = journal_files(dir.path(), "a1").expect_err("none");
        assert!(error.to_string().contains("no journal"), "{error}");
        let error = journal_files(&dir.path().join("missing"), "a1").expect_err("none");
        assert!(matches!(error, WhatIfError::NoJournal(_)));
    }
}
