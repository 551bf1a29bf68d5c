//! A challenge's statement for disputes (issue 24): the rules as they stood (every version, and
//! the rules in force at the end), the decision with its evidence, the numbers at the time and
//! the trading record, as one JSON document whose SHA-256 the firm and the trader can both
//! quote to show that a copy was not altered.
//!
//! The document's bytes are [`to_json`]'s: serde_json's pretty form (two-space indents, fields
//! in declaration order, the keys of free-form JSON sorted) and a final newline, so the same
//! statement always gives the same bytes, and so the same [`sha256_hex`]. The hash is of those
//! bytes exactly: a reader must check a file as it was downloaded, not a re-serialisation of it.
//!
//! Pure: the server assembles a statement from its store and its latest view
//! (`backend::statement`), renders it for people (HTML, PDF) and records its hash; the command
//! line (`riskdeck statement verify`) reads a file back with [`Statement::from_json`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::{EventView, TradeView};
use crate::domain::{AccountId, Money};
use crate::engine::edit::RuleSetDraft;
use crate::engine::stats::DayStats;
use crate::engine::{ChallengeStatus, EventKind, LateDeal, Metrics, RuleReport};
use crate::programs::ProgramLink;

/// The document's format: a reader checks it before anything else.
pub const FORMAT: &str = "riskdeck-statement/1";

/// What every statement's format starts with (a later version changes the number).
const FORMAT_PREFIX: &str = "riskdeck-statement/";

/// A challenge's statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statement {
    /// The document's format: `riskdeck-statement/1` in this version.
    pub format: String,
    /// When the server made it.
    pub generated_at: DateTime<Utc>,
    /// Riskdeck's id of the account.
    pub account_id: AccountId,
    /// The account's display name.
    pub account_name: String,
    /// The trader who owns the account, when it has one.
    pub owner: Option<String>,
    /// The account currency, once known.
    pub currency: Option<String>,
    /// The challenge's initial balance.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub initial_balance: Option<Money>,
    /// The rule preset (e.g. `ftmo-2step`).
    pub preset: String,
    /// The preset's or the program's name for a person (e.g. `FTMO 2-Step Challenge`).
    pub title: Option<String>,
    /// The phase (`Phase 1`, `Funded`, ...).
    pub phase: Option<String>,
    /// The program, version and phase, for a challenge on a program.
    pub program: Option<ProgramLink>,
    /// When the challenge started (its first record).
    pub started: Option<DateTime<Utc>>,
    /// The firm's daily reset: IANA time zone and local time.
    pub reset_clock: Option<String>,
    /// The rules as they stood.
    pub rules: StatementRules,
    /// The decision and its evidence.
    pub decision: Decision,
    /// When the broker data behind the numbers below was observed.
    pub as_of: Option<DateTime<Utc>>,
    /// Every metric and statistic the engine computed, as of `as_of`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metrics: Option<Metrics>,
    /// The trading record.
    pub trading: TradingRecord,
}

/// The rules as they stood: every stored version and the rules in force at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatementRules {
    /// Every version of the account's rule set, oldest first (none: the preset's or the
    /// program's rules were never changed).
    pub versions: Vec<StatementRuleSet>,
    /// The version the challenge was measured against at the end (`None`: its preset's or its
    /// program's rules).
    pub applied_version: Option<i64>,
    /// The rules in force at the end, in the rule editor's format (`None` before the
    /// challenge's state was first stored).
    pub in_force: Option<RuleSetDraft>,
    /// Every rule in force at the end with its status, budget, room and progress.
    pub reports: Vec<RuleReport>,
}

/// One version of the account's rule set, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatementRuleSet {
    /// 1, 2, 3, ... per account.
    pub version: i64,
    /// From when it applied.
    pub effective_from: DateTime<Utc>,
    /// The rules (the editor's format) and what they changed from the version before.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: serde_json::Value,
    /// Who saved it.
    pub created_by: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// The decision: where the challenge stands, since when, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// Active, passed, failed or paused.
    pub status: ChallengeStatus,
    /// When it passed or failed (`None` while it runs).
    pub decided_at: Option<DateTime<Utc>>,
    /// The decisive events (breaches, objectives met, held decisions, passed, failed) with
    /// their evidence, oldest first, as the engine holds them.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub decisive: Vec<EventView>,
    /// Every stored event of the challenge, oldest first: the engine's (warnings included,
    /// with the record that caused each), the feed's, and every admin action on it (anchor
    /// corrections, cleared breaches, ended pauses, rule changes).
    pub record: Vec<RecordedEvent>,
}

/// One stored event of the challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordedEvent {
    /// Increasing in the order events were stored, never reused.
    pub id: i64,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// `breach`, `failed`, `rules_changed`, ... (see `ChallengeEventView::kind`).
    pub kind: String,
    /// The rule concerned, if any.
    pub rule: Option<String>,
    /// The whole event as stored, evidence included.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: serde_json::Value,
}

/// The trading record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradingRecord {
    /// The firm's time zone (IANA name) the trades' offsets are of.
    pub time_zone: Option<String>,
    /// Every closed trade, oldest first.
    pub trades: Vec<TradeView>,
    /// Every finished trading day, oldest first.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub days: Vec<DayStats>,
    /// Deals that arrived late, with the day's closed P/L before and after each.
    pub late_deals: Vec<LateDeal>,
}

impl Decision {
    /// The decision of a challenge with status `status` whose decisive events are `decisive`
    /// (oldest first): decided at its last `passed` or `failed` event, when it is final.
    pub fn new(
        status: ChallengeStatus,
        decisive: Vec<EventView>,
        record: Vec<RecordedEvent>,
    ) -> Self {
        let decided_at = status
            .is_final()
            .then(|| {
                decisive
                    .iter()
                    .rev()
                    .find(|event| matches!(event.kind, EventKind::Passed | EventKind::Failed))
                    .map(|event| event.time)
            })
            .flatten();
        Self {
            status,
            decided_at,
            decisive,
            record,
        }
    }
}

/// Why a file is not a statement this version can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not JSON at all.
    #[error("it is not JSON ({0})")]
    NotJson(String),
    /// JSON, but without a statement's `format`.
    #[error("it is JSON but not a Riskdeck statement (it has no \"format\": \"{FORMAT}\")")]
    NotAStatement,
    /// A statement of another format version.
    #[error("it is a statement of format {0:?}, and this version of Riskdeck reads {FORMAT:?}")]
    UnknownFormat(String),
    /// The right format, but a part is missing or of the wrong shape.
    #[error("it is a statement, but incomplete or damaged ({0})")]
    Malformed(String),
}

impl Statement {
    /// Reads a statement back from its JSON, saying what is wrong with one it cannot read.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReadError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|error| ReadError::NotJson(error.to_string()))?;
        let format = value
            .get("format")
            .and_then(serde_json::Value::as_str)
            .filter(|format| format.starts_with(FORMAT_PREFIX))
            .ok_or(ReadError::NotAStatement)?;
        if format != FORMAT {
            return Err(ReadError::UnknownFormat(format.to_owned()));
        }
        serde_json::from_value(value).map_err(|error| ReadError::Malformed(error.to_string()))
    }

    /// The name a downloaded copy is saved under: `statement-<account>-<date>.<extension>`,
    /// the date the statement's (UTC), characters a file name or a header cannot carry
    /// replaced by `_`.
    pub fn file_name(&self, extension: &str) -> String {
        let account: String = self
            .account_id
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "statement-{account}-{}.{extension}",
            self.generated_at.format("%Y-%m-%d")
        )
    }
}

/// The statement's bytes, the ones its SHA-256 is of: serde_json's pretty form (two-space
/// indents, fields in declaration order, the keys of free-form JSON sorted) and a final
/// newline. Deterministic: the same statement always gives the same bytes.
pub fn to_json(statement: &Statement) -> Vec<u8> {
    match serde_json::to_vec_pretty(statement) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            bytes
        }
        // Every map in a statement has string keys, so writing it cannot fail; should it, the
        // bytes say so (and are no statement: `from_json` refuses them).
        Err(error) => {
            format!("{{\"error\":\"cannot write the statement: {error}\"}}\n").into_bytes()
        }
    }
}

/// The SHA-256 of `bytes`, as 64 lower-case hexadecimal digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// A SHA-256 as a person may type it (either case, spaces around it) in [`sha256_hex`]'s form;
/// `None` when it is not 64 hexadecimal digits.
pub fn parse_sha256(text: &str) -> Option<String> {
    let text = text.trim();
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TradeSide;
    use rust_decimal_macros::dec;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    fn event(kind: EventKind, time: &str) -> EventView {
        EventView {
            time: at(time),
            kind,
            rule: Some("daily_loss".into()),
            measured: Some(dec!(94385.00)),
            limit: Some(dec!(95000.00)),
            estimated: false,
            anchors: None,
            open_positions: Vec::new(),
            decided: None,
            unexplained: None,
            position_id: None,
            deal_id: None,
        }
    }

    fn statement() -> Statement {
        let decisive = vec![
            event(EventKind::Breach, "2026-03-02T10:05:00Z"),
            event(EventKind::Failed, "2026-03-02T10:05:00Z"),
        ];
        let record = vec![RecordedEvent {
            id: 7,
            time: at("2026-03-02T10:05:00Z"),
            kind: "breach".into(),
            rule: Some("daily_loss".into()),
            // Keys out of order: the bytes have them sorted.
            event: serde_json::json!({ "z": 1, "evidence": { "measured": "94385.00" }, "a": 2 }),
        }];
        Statement {
            format: FORMAT.into(),
            generated_at: at("2026-03-03T08:00:00.123Z"),
            account_id: AccountId::from("ftmo/100k \"x\""),
            account_name: "Jane's FTMO".into(),
            owner: Some("jane".into()),
            currency: Some("USD".into()),
            initial_balance: Some(dec!(100000.00)),
            preset: "ftmo-2step".into(),
            title: Some("FTMO 2-Step Challenge".into()),
            phase: Some("Phase 1".into()),
            program: None,
            started: Some(at("2026-03-01T00:00:00Z")),
            reset_clock: Some("Europe/Prague 00:00".into()),
            rules: StatementRules {
                versions: vec![StatementRuleSet {
                    version: 1,
                    effective_from: at("2026-03-01T00:00:00Z"),
                    rules: serde_json::json!({ "time_zone": "Europe/Prague", "rules": [] }),
                    created_by: "admin".into(),
                    created_at: at("2026-03-01T00:00:00Z"),
                }],
                applied_version: Some(1),
                in_force: None,
                reports: Vec::new(),
            },
            decision: Decision::new(ChallengeStatus::Failed, decisive, record),
            as_of: Some(at("2026-03-03T07:59:59Z")),
            metrics: None,
            trading: TradingRecord {
                time_zone: Some("Europe/Prague".into()),
                trades: vec![TradeView {
                    deal_id: "d2".into(),
                    position_id: Some("p1".into()),
                    time: at("2026-03-02T11:00:00Z"),
                    zone_offset_minutes: Some(60),
                    opened: Some(at("2026-03-02T09:00:00Z")),
                    symbol: "EURUSD".into(),
                    side: TradeSide::Buy,
                    volume: dec!(10),
                    open_price: Some(dec!(1.10008)),
                    close_price: Some(dec!(1.09300)),
                    profit: dec!(-7080.00),
                    costs: dec!(-70.00),
                    net: dec!(-7150.00),
                    reason: Some("DEAL_REASON_SL".into()),
                }],
                days: Vec::new(),
                late_deals: Vec::new(),
            },
        }
    }

    #[test]
    fn a_statement_is_decided_at_its_last_pass_or_failure() {
        let decision = Decision::new(
            ChallengeStatus::Failed,
            vec![
                event(EventKind::Breach, "2026-03-02T10:05:00Z"),
                event(EventKind::Failed, "2026-03-02T10:06:00Z"),
            ],
            Vec::new(),
        );
        assert_eq!(decision.decided_at, Some(at("2026-03-02T10:06:00Z")));
        // A running challenge is not decided, whatever its events say.
        let running = Decision::new(
            ChallengeStatus::Active,
            vec![event(EventKind::Failed, "2026-03-02T10:06:00Z")],
            Vec::new(),
        );
        assert_eq!(running.decided_at, None);
        let paused = Decision::new(ChallengeStatus::Paused, Vec::new(), Vec::new());
        assert_eq!(paused.decided_at, None);
    }

    #[test]
    fn the_bytes_are_deterministic_pretty_json_with_a_final_newline() {
        let statement = statement();
        let bytes = to_json(&statement);
        assert_eq!(bytes, to_json(&statement.clone()));
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        assert!(
            text.starts_with("{\n  \"format\": \"riskdeck-statement/1\",\n"),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        // Free-form JSON comes out with its keys sorted.
        let a = text.find("\"a\": 2").expect("a");
        let z = text.find("\"z\": 1").expect("z");
        assert!(a < z);
        // Money stays decimal text.
        assert!(
            text.contains("\"initial_balance\": \"100000.00\""),
            "{text}"
        );
        // Read back and written again, the bytes are the same.
        let read = Statement::from_json(&bytes).expect("a statement");
        assert_eq!(read, statement);
        assert_eq!(to_json(&read), bytes);
    }

    #[test]
    fn the_hash_is_sha256_in_lower_case_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let bytes = to_json(&statement());
        let mut altered = bytes.clone();
        if let Some(byte) = altered.iter_mut().find(|b| **b == b'7') {
            *byte = b'8';
        }
        assert_ne!(sha256_hex(&bytes), sha256_hex(&altered));
    }

    #[test]
    fn a_typed_hash_is_read_in_either_case_and_garbage_is_refused() {
        #[track_caller]
        fn check(text: &str, expected: Option<&str>) {
            assert_eq!(parse_sha256(text).as_deref(), expected, "{text:?}");
        }
        let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        check(hash, Some(hash));
        check(&format!("  {}\n", hash.to_uppercase()), Some(hash));
        check(&hash[1..], None);
        check(&format!("{hash}0"), None);
        check(&hash.replace('a', "g"), None);
        check("", None);
        check(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2",
            None,
        );
    }

    #[test]
    fn what_is_not_a_statement_is_named() {
        #[track_caller]
        fn check(bytes: &[u8], expected: fn(&ReadError) -> bool) {
            let error = Statement::from_json(bytes).expect_err("not a statement");
            assert!(expected(&error), "{error:?}");
        }
        check(b"", |e| matches!(e, ReadError::NotJson(_)));
        check(b"%PDF-1.4", |e| matches!(e, ReadError::NotJson(_)));
        check(b"{\"format\": ", |e| matches!(e, ReadError::NotJson(_)));
        check(b"[1, 2]", |e| *e == ReadError::NotAStatement);
        check(b"{\"format\": \"riskdeck-export/1\"}", |e| {
            *e == ReadError::NotAStatement
        });
        check(b"{\"format\": 1}", |e| *e == ReadError::NotAStatement);
        check(b"{\"format\": \"riskdeck-statement/9\"}", |e| {
            *e == ReadError::UnknownFormat("riskdeck-statement/9".into())
        });
        check(b"{\"format\": \"riskdeck-statement/1\"}", |e| {
            matches!(e, ReadError::Malformed(_))
        });
        // Every message says what the file is not, in words.
        let message = Statement::from_json(b"[]")
            .expect_err("refused")
            .to_string();
        assert!(message.contains("not a Riskdeck statement"), "{message}");
    }

    #[test]
    fn a_file_name_carries_the_account_and_the_date_and_nothing_a_header_cannot() {
        let statement = statement();
        assert_eq!(
            statement.file_name("json"),
            "statement-ftmo_100k__x_-2026-03-03.json"
        );
        assert_eq!(
            Statement {
                account_id: AccountId::from("demo-daily-breach"),
                ..statement
            }
            .file_name("pdf"),
            "statement-demo-daily-breach-2026-03-03.pdf"
        );
    }
}
