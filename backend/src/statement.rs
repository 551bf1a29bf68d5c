//! A challenge's statement for disputes on the server: assembled from the store (the owner,
//! every rule set version, the rules of the stored engine state, every stored event, every
//! closed trade) and the hub's latest view (status, rules in force, decisive events, metrics,
//! finished days), then shown to people as a printable HTML page and a PDF. All three (the
//! JSON, the page, the PDF) come from one [`Issued`] statement: its bytes are
//! `shared::statement::to_json`'s and the page and the PDF quote their SHA-256.
//!
//! Recording the hash and auditing the request are the route's (`routes::statements`).

use crate::challenge::ChallengeRun;
use crate::pdf::{Document, Font};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::api::{AccountSummary, TradeView};
use shared::domain::AccountId;
use shared::engine::edit::{RuleChange, RuleSet};
use shared::format;
use shared::statement::{
    Decision, FORMAT, RecordedEvent, Statement, StatementRuleSet, StatementRules, TradingRecord,
};
use std::fmt::Write as _;
use store::{Store, StoreError, TradeCursor};

/// Events are read a page at a time.
const EVENT_PAGE: u32 = 1_000;
/// Trades are read a page at a time.
const TRADE_PAGE: u32 = 500;

/// A statement with its bytes and their SHA-256: what one request serves.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The statement.
    pub statement: Statement,
    /// Its JSON: the statement as the firm issues it.
    pub json: Vec<u8>,
    /// The SHA-256 of `json`, 64 lower-case hex digits.
    pub sha256: String,
}

impl Issued {
    /// The statement's bytes and their hash, made once.
    pub fn new(statement: Statement) -> Self {
        let json = shared::statement::to_json(&statement);
        let sha256 = shared::statement::sha256_hex(&json);
        Self {
            statement,
            json,
            sha256,
        }
    }
}

/// Why a statement could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored engine state does not read.
    #[error("the stored challenge of {0} cannot be read: {1}")]
    Corrupt(AccountId, String),
}

/// The statement of the challenge on `summary`'s account as it stands at `now`; `None` while
/// the account has no challenge to show (it is still connecting or reading its history).
pub async fn assemble(
    store: &dyn Store,
    summary: &AccountSummary,
    now: DateTime<Utc>,
) -> Result<Option<Statement>, StatementError> {
    let Some(latest) = &summary.latest else {
        return Ok(None);
    };
    let Some(view) = &latest.challenge else {
        return Ok(None);
    };
    let id = &summary.id;
    let owner = match store.account_owner(id).await? {
        Some(user) => store.user(user).await?.map(|user| user.username),
        None => None,
    };
    let run = match store.load_challenge(id).await? {
        Some(saved) => Some(
            serde_json::from_str::<ChallengeRun>(&saved)
                .map_err(|error| StatementError::Corrupt(id.clone(), error.to_string()))?,
        ),
        None => None,
    };
    let versions = store
        .rule_set_versions(id)
        .await?
        .into_iter()
        .map(|version| StatementRuleSet {
            version: version.version,
            effective_from: version.effective_from,
            rules: version.rules,
            created_by: version.created_by,
            created_at: version.created_at,
        })
        .collect();
    let initial_balance = run
        .as_ref()
        .map(|run| run.challenge().anchors().initial_balance)
        .or_else(|| view.metrics.as_ref().map(|m| m.starting_capital));
    let zone = view.time_zone();
    Ok(Some(Statement {
        format: FORMAT.to_owned(),
        generated_at: now,
        account_id: id.clone(),
        account_name: summary.name.clone(),
        owner,
        currency: summary.currency.clone(),
        initial_balance,
        preset: view.preset.clone(),
        title: view.title.clone(),
        phase: view.phase.clone(),
        program: view.program.clone(),
        started: view.started,
        reset_clock: view.reset_clock.clone(),
        rules: StatementRules {
            versions,
            applied_version: store.challenge_rule_set_version(id).await?,
            in_force: run.as_ref().map(|run| RuleSet::of(run.challenge()).draft()),
            reports: view.rules.clone(),
        },
        decision: Decision::new(view.status, view.events.clone(), recorded(store, id).await?),
        as_of: Some(latest.time),
        metrics: view.metrics.as_deref().cloned(),
        trading: TradingRecord {
            time_zone: zone.map(|zone| zone.name().to_owned()),
            trades: trades(store, id, zone).await?,
            days: view.days.clone(),
            late_deals: view.late_deals.clone(),
        },
    }))
}

/// Every stored event of the account, oldest first.
async fn recorded(store: &dyn Store, id: &AccountId) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = store.challenge_event_records(id, after, EVENT_PAGE).await?;
        let full = page.len() == EVENT_PAGE as usize;
        for record in page {
            after = record.id;
            // An event body that is not JSON (none is) is kept as the text it is.
            let event = serde_json::from_str(&record.event.body)
                .unwrap_or(serde_json::Value::String(record.event.body));
            events.push(RecordedEvent {
                id: record.id,
                time: record.event.time,
                kind: record.event.kind,
                rule: record.event.rule,
                event,
            });
        }
        if !full {
            return Ok(events);
        }
    }
}

/// Every closed trade of the account, oldest first (the store pages them newest first).
async fn trades(
    store: &dyn Store,
    id: &AccountId,
    zone: Option<chrono_tz::Tz>,
) -> Result<Vec<TradeView>, StoreError> {
    let mut trades = Vec::new();
    let mut before: Option<TradeCursor> = None;
    loop {
        let page = store.trades(id, before.as_ref(), TRADE_PAGE).await?;
        let full = page.len() == TRADE_PAGE as usize;
        before = page.last().map(|trade| TradeCursor::after(&trade.close));
        trades.extend(page.iter().filter_map(|trade| {
            TradeView::from_deals(&trade.close, trade.open.as_ref(), &trade.earlier, zone)
        }));
        if !full || before.is_none() {
            trades.reverse();
            return Ok(trades);
        }
    }
}

/// What `riskdeck statement verify` found wrong, and the exit code that says so.
#[derive(Debug)]
struct Refusal {
    code: i32,
    message: String,
}

/// `riskdeck statement verify FILE [--sha256 HEX] [--database-url URL]`: prints the file's
/// SHA-256 (and what the statement is, when it reads as one); with `expected`, whether it
/// matches; with a database, whether and when the firm issued a statement with that hash.
/// Exit code 0 when every check passes, 1 when the hash does not match or the firm issued no
/// such statement, 2 when it cannot check (the file unreadable or not a statement, the hash
/// typed wrong, the database unavailable).
pub fn verify(file: &std::path::Path, expected: Option<&str>, database_url: Option<&str>) -> i32 {
    match verify_file(file, expected, database_url) {
        Ok(()) => 0,
        Err(refusal) => {
            eprintln!("riskdeck statement verify: {}", refusal.message);
            refusal.code
        }
    }
}

fn verify_file(
    file: &std::path::Path,
    expected: Option<&str>,
    database_url: Option<&str>,
) -> Result<(), Refusal> {
    let cannot = |message: String| Refusal { code: 2, message };
    let expected = expected
        .map(|text| {
            shared::statement::parse_sha256(text).ok_or_else(|| {
                cannot(format!(
                    "--sha256 must be the 64 hexadecimal digits of a SHA-256, not {text:?}"
                ))
            })
        })
        .transpose()?;
    let bytes = std::fs::read(file)
        .map_err(|error| cannot(format!("cannot read {}: {error}", file.display())))?;
    let sha256 = shared::statement::sha256_hex(&bytes);
    println!("sha256 {sha256}  {}", file.display());
    let read = Statement::from_json(&bytes);
    if let Ok(statement) = &read {
        println!(
            "statement of account {} ({}), made {}, challenge {}",
            statement.account_id,
            statement.account_name,
            time(statement.generated_at),
            word(&statement.decision.status)
        );
    }
    if let Some(expected) = expected {
        if expected != sha256 {
            return Err(Refusal {
                code: 1,
                message: format!(
                    "the file's SHA-256 does NOT match {expected}: this is not the statement \
                     that hash belongs to, or it was altered"
                ),
            });
        }
        println!("matches the expected SHA-256");
    }
    if let Some(url) = database_url {
        let issued = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| cannot(format!("cannot start: {error}")))?
            .block_on(async {
                let store = store::open_existing(url).await?;
                store.statements_by_sha256(&sha256).await
            })
            .map_err(|error| cannot(error.to_string()))?;
        if issued.is_empty() {
            return Err(Refusal {
                code: 1,
                message: "the firm's database holds no statement with this SHA-256: the firm \
                          did not issue this file, or it was altered"
                    .to_owned(),
            });
        }
        for statement in issued {
            println!(
                "issued by the firm: account {}, made {}, asked for by {}",
                statement.account,
                time(statement.generated_at),
                statement.generated_by
            );
        }
    }
    match read {
        Ok(_) => Ok(()),
        Err(error) => Err(cannot(format!(
            "{} is not a statement Riskdeck can read: {error}",
            file.display()
        ))),
    }
}

/// What people read of a statement, the same on the page and in the PDF.
enum Block {
    Heading(String),
    Text(String),
    /// Indented under the text before it.
    Detail(String),
    /// Monospaced: a hash, a command, a rule's parameters.
    Code(String),
    Facts(Vec<(String, String)>),
    Table {
        columns: &'static [&'static str],
        rows: Vec<Vec<String>>,
    },
}

/// How a statement names itself to a person.
fn title(statement: &Statement) -> String {
    format!(
        "Statement of challenge: {} ({})",
        statement.account_name, statement.account_id
    )
}

/// The verification paragraph, the first thing on the page and in the PDF after the title.
fn verification(statement: &Statement, sha256: &str, what: &str) -> Vec<Block> {
    let file = statement.file_name("json");
    vec![
        Block::Text("SHA-256 of the JSON this statement was made from:".to_owned()),
        Block::Code(sha256.to_owned()),
        Block::Text(format!(
            "The JSON file ({file}) is the statement; this {what} shows the same content for \
             people. To check that a copy of the JSON was not altered, compute its SHA-256 \
             (`sha256sum {file}` on Linux, `shasum -a 256 {file}` on macOS, `certutil \
             -hashfile {file} SHA256` on Windows) and compare it with the hash above, or run:"
        )),
        Block::Code(format!(
            "riskdeck statement verify {file} --sha256 {sha256}"
        )),
        Block::Text(
            "The firm confirms that it issued the statement by running the same command with \
             --database-url and its database: the database keeps the hash of every statement \
             issued, with when and for whom."
                .to_owned(),
        ),
    ]
}

fn time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn short_time(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn maybe_time(instant: Option<DateTime<Utc>>) -> String {
    instant.map_or_else(|| format::NONE.to_owned(), time)
}

fn amount(value: Option<Decimal>) -> String {
    format::number(value, 2)
}

/// A value's serde name (`failed`, `daily_loss`, `hard`).
fn word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => format::NONE.to_owned(),
    }
}

fn or_none(text: Option<&str>) -> String {
    text.map_or_else(|| format::NONE.to_owned(), str::to_owned)
}

/// Everything after the verification paragraph.
fn blocks(statement: &Statement) -> Vec<Block> {
    let mut blocks = Vec::new();
    blocks.push(Block::Heading("The challenge".to_owned()));
    let program = statement.program.as_ref().map(|link| {
        format!(
            "{} ({}), version {}, phase {} of {}: {}",
            link.name,
            link.program,
            link.version,
            link.phase_index + 1,
            link.phases,
            link.phase
        )
    });
    let label = match (&statement.title, &statement.phase) {
        (Some(title), Some(phase)) => format!("{title}, {phase} ({})", statement.preset),
        (Some(title), None) => format!("{title} ({})", statement.preset),
        _ => statement.preset.clone(),
    };
    let mut facts = vec![
        ("Account".to_owned(), statement.account_id.to_string()),
        ("Name".to_owned(), statement.account_name.clone()),
        ("Trader".to_owned(), or_none(statement.owner.as_deref())),
        ("Rules".to_owned(), label),
    ];
    if let Some(program) = program {
        facts.push(("Program".to_owned(), program));
    }
    facts.extend([
        (
            "Initial balance".to_owned(),
            amount(statement.initial_balance),
        ),
        (
            "Currency".to_owned(),
            or_none(statement.currency.as_deref()),
        ),
        ("Started".to_owned(), maybe_time(statement.started)),
        (
            "Daily reset".to_owned(),
            or_none(statement.reset_clock.as_deref()),
        ),
        ("Numbers as of".to_owned(), maybe_time(statement.as_of)),
        ("Statement made".to_owned(), time(statement.generated_at)),
        ("Format".to_owned(), statement.format.clone()),
    ]);
    blocks.push(Block::Facts(facts));

    decision(statement, &mut blocks);
    rules(statement, &mut blocks);
    metrics(statement, &mut blocks);
    trading(statement, &mut blocks);
    record(statement, &mut blocks);
    blocks
}

fn decision(statement: &Statement, blocks: &mut Vec<Block>) {
    let decision = &statement.decision;
    blocks.push(Block::Heading("The decision".to_owned()));
    blocks.push(Block::Facts(vec![
        ("Status".to_owned(), word(&decision.status).to_uppercase()),
        ("Decided".to_owned(), maybe_time(decision.decided_at)),
    ]));
    if decision.decisive.is_empty() {
        blocks.push(Block::Text(
            "No breach, objective or decision has been recorded.".to_owned(),
        ));
    } else {
        blocks.push(Block::Text(
            "The decisive events, oldest first, with the evidence the engine kept:".to_owned(),
        ));
    }
    for event in &decision.decisive {
        let mut text = format!("{}: {}", time(event.time), word(&event.kind));
        if let Some(rule) = &event.rule {
            let _ = write!(text, " of {rule}");
        }
        if event.measured.is_some() || event.limit.is_some() {
            let _ = write!(
                text,
                ": measured {} against a limit of {}",
                amount(event.measured),
                amount(event.limit)
            );
        }
        if event.estimated {
            text.push_str(" (equity estimated from quotes)");
        }
        blocks.push(Block::Text(text));
        if let Some(decided) = event.decided {
            blocks.push(Block::Detail(format!(
                "Held while a balance change was unexplained; decided when its deal arrived at \
                 {}.",
                time(decided)
            )));
        }
        if let Some(unexplained) = event.unexplained {
            blocks.push(Block::Detail(format!(
                "Decided without the deal of an unexplained balance change of {}.",
                format::money(unexplained)
            )));
        }
        if let Some(position) = &event.position_id {
            blocks.push(Block::Detail(format!("About position {position}.")));
        }
        if let Some(deal) = &event.deal_id {
            blocks.push(Block::Detail(format!("About deal {deal}.")));
        }
        if let Some(anchors) = &event.anchors {
            blocks.push(Block::Detail(format!(
                "Anchors then: initial balance {}, net deposits {}, start-of-day balance {}, \
                 start-of-day equity {}, peak balance {}, peak equity {}.",
                format::money(anchors.initial_balance),
                format::money(anchors.net_deposits),
                format::money(anchors.start_of_day_balance),
                format::money(anchors.start_of_day_equity),
                format::money(anchors.peak_balance),
                format::money(anchors.peak_equity),
            )));
        }
        for position in &event.open_positions {
            blocks.push(Block::Detail(format!(
                "Open then: position {} {} {} lots {} at {}, price {}, stop loss {}, P/L {}.",
                position.id,
                word(&position.side),
                position.volume,
                position.symbol,
                position.open_price,
                position.current_price,
                position
                    .stop_loss
                    .map_or_else(|| "none".to_owned(), |p| p.to_string()),
                format::money(position.net_profit()),
            )));
        }
    }
}

fn rules(statement: &Statement, blocks: &mut Vec<Block>) {
    let rules = &statement.rules;
    blocks.push(Block::Heading("The rules in force at the end".to_owned()));
    blocks.push(Block::Table {
        columns: &[
            "rule", "kind", "severity", "status", "measured", "limit", "room", "since",
        ],
        rows: rules
            .reports
            .iter()
            .map(|rule| {
                vec![
                    rule.id.clone(),
                    rule.kind.clone(),
                    word(&rule.severity),
                    word(&rule.status),
                    amount(rule.measured),
                    amount(rule.limit),
                    amount(rule.remaining),
                    rule.since
                        .map_or_else(|| format::NONE.to_owned(), short_time),
                ]
            })
            .collect(),
    });
    if let Some(draft) = &rules.in_force {
        blocks.push(Block::Text(format!(
            "Their parameters (daily reset {} {}; estimated equity {} breach a loss rule):",
            draft.time_zone,
            draft.reset_time,
            if draft.estimated_equity_breaches {
                "may"
            } else {
                "may not"
            }
        )));
        for rule in &draft.rules {
            blocks.push(Block::Code(
                serde_json::to_string(rule).unwrap_or_else(|_| format::NONE.to_owned()),
            ));
        }
    }
    blocks.push(Block::Heading("The rules as they stood".to_owned()));
    if rules.versions.is_empty() {
        blocks.push(Block::Text(format!(
            "The rules were never changed: the challenge was measured against its {} rules \
             throughout.",
            if statement.program.is_some() {
                "program's"
            } else {
                "preset's"
            }
        )));
    }
    for version in &rules.versions {
        let applied = if rules.applied_version == Some(version.version) {
            " (the version applied at the end)"
        } else {
            ""
        };
        blocks.push(Block::Text(format!(
            "Version {} in force from {}{applied}, saved by {} at {}.",
            version.version,
            time(version.effective_from),
            version.created_by,
            time(version.created_at)
        )));
        let changes: Vec<RuleChange> = version
            .rules
            .get("changes")
            .and_then(|changes| serde_json::from_value(changes.clone()).ok())
            .unwrap_or_default();
        if changes.is_empty() {
            blocks.push(Block::Detail("No change recorded.".to_owned()));
        }
        for change in changes {
            blocks.push(Block::Detail(change.words()));
        }
    }
    if !rules.versions.is_empty() {
        blocks.push(Block::Text(
            "Each version's full rules are in the JSON (rules.versions).".to_owned(),
        ));
    }
}

fn metrics(statement: &Statement, blocks: &mut Vec<Block>) {
    let Some(metrics) = &statement.metrics else {
        return;
    };
    blocks.push(Block::Heading(format!(
        "The numbers as of {}",
        maybe_time(statement.as_of)
    )));
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(metrics) else {
        return;
    };
    let facts = fields
        .into_iter()
        .filter_map(|(name, value)| {
            let text = match value {
                serde_json::Value::Null => return None,
                serde_json::Value::String(text) => text,
                serde_json::Value::Array(items) if items.is_empty() => return None,
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some((name.replace('_', " "), text))
        })
        .collect();
    blocks.push(Block::Facts(facts));
}

fn trading(statement: &Statement, blocks: &mut Vec<Block>) {
    let trading = &statement.trading;
    blocks.push(Block::Heading("Finished trading days".to_owned()));
    if trading.days.is_empty() {
        blocks.push(Block::Text("No trading day has finished.".to_owned()));
    } else {
        blocks.push(Block::Table {
            columns: &[
                "day",
                "start balance",
                "start equity",
                "closed P/L",
                "end balance",
                "end equity",
                "lowest equity",
            ],
            rows: trading
                .days
                .iter()
                .map(|day| {
                    vec![
                        day.date.to_string(),
                        format::money(day.start_balance),
                        format::money(day.start_equity),
                        format::money(day.closed_pl),
                        format::money(day.end_balance),
                        format::money(day.end_equity),
                        format::money(day.min_equity),
                    ]
                })
                .collect(),
        });
    }
    blocks.push(Block::Heading(format!(
        "Closed trades ({})",
        trading.trades.len()
    )));
    if trading.trades.is_empty() {
        blocks.push(Block::Text("No trade has closed.".to_owned()));
    } else {
        blocks.push(Block::Table {
            columns: &[
                "closed (UTC)",
                "symbol",
                "side",
                "lots",
                "open",
                "close",
                "net",
                "deal",
            ],
            rows: trading
                .trades
                .iter()
                .map(|trade| {
                    vec![
                        short_time(trade.time),
                        trade.symbol.clone(),
                        word(&trade.side),
                        trade.volume.normalize().to_string(),
                        trade
                            .open_price
                            .map_or_else(|| format::NONE.to_owned(), |p| p.to_string()),
                        trade
                            .close_price
                            .map_or_else(|| format::NONE.to_owned(), |p| p.to_string()),
                        format::money(trade.net),
                        trade.deal_id.clone(),
                    ]
                })
                .collect(),
        });
    }
    if !trading.late_deals.is_empty() {
        blocks.push(Block::Heading("Deals that arrived late".to_owned()));
        blocks.push(Block::Table {
            columns: &[
                "deal",
                "dated (UTC)",
                "arrived (UTC)",
                "day",
                "closed P/L",
                "day before",
                "day after",
            ],
            rows: trading
                .late_deals
                .iter()
                .map(|late| {
                    vec![
                        late.deal_id.clone(),
                        short_time(late.time),
                        short_time(late.arrived),
                        late.day.to_string(),
                        format::money(late.closed_pl),
                        format::money(late.day_closed_pl_before),
                        format::money(late.day_closed_pl_after),
                    ]
                })
                .collect(),
        });
    }
}

/// A stored event in a few words: its evidence's numbers, or who did it and why.
fn event_detail(event: &serde_json::Value) -> String {
    let text = |value: &serde_json::Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    let mut parts = Vec::new();
    if let Some(evidence) = event.get("evidence").filter(|e| e.is_object())
        && let (Some(measured), Some(limit)) = (evidence.get("measured"), evidence.get("limit"))
    {
        parts.push(format!("measured {} limit {}", text(measured), text(limit)));
    }
    for key in ["actor", "by", "reason", "detail"] {
        if let Some(value) = event.get(key).filter(|v| !v.is_null()) {
            parts.push(format!("{key}: {}", text(value)));
        }
    }
    parts.join("; ")
}

fn record(statement: &Statement, blocks: &mut Vec<Block>) {
    let record = &statement.decision.record;
    blocks.push(Block::Heading(format!(
        "The stored record ({} events)",
        record.len()
    )));
    blocks.push(Block::Text(
        "Every event stored for the challenge, oldest first: the engine's (warnings \
         included), the feed's and every admin action. The JSON holds each whole, with the \
         record that caused it."
            .to_owned(),
    ));
    if !record.is_empty() {
        blocks.push(Block::Table {
            columns: &["id", "time (UTC)", "kind", "rule", "detail"],
            rows: record
                .iter()
                .map(|event| {
                    vec![
                        event.id.to_string(),
                        short_time(event.time),
                        event.kind.clone(),
                        or_none(event.rule.as_deref()),
                        event_detail(&event.event),
                    ]
                })
                .collect(),
        });
    }
}

/// The statement as a PDF for people: the title, its hash and how to verify it on the first
/// page, then its content; every page's footer names the account and the hash.
pub fn pdf(issued: &Issued) -> Vec<u8> {
    let statement = &issued.statement;
    let mut document = Document::new(&title(statement), statement.generated_at);
    document.text(Font::Bold, 15.0, 0.0, &title(statement));
    document.space(4.0);
    for block in verification(statement, &issued.sha256, "document")
        .iter()
        .chain(&blocks(statement))
    {
        match block {
            Block::Heading(text) => {
                document.space(10.0);
                document.text(Font::Bold, 12.0, 0.0, text);
                document.space(2.0);
            }
            Block::Text(text) => document.text(Font::Regular, 9.5, 0.0, text),
            Block::Detail(text) => document.text(Font::Regular, 9.0, 14.0, text),
            Block::Code(text) => {
                document.space(2.0);
                document.text(Font::Mono, 8.5, 6.0, text);
                document.space(2.0);
            }
            Block::Facts(facts) => {
                let width = facts
                    .iter()
                    .map(|(label, _)| label.chars().count())
                    .max()
                    .unwrap_or(0);
                for (label, value) in facts {
                    document.text(Font::Mono, 8.5, 0.0, &format!("{label:<width$}  {value}"));
                }
            }
            Block::Table { columns, rows } => {
                for line in table_lines(columns, rows) {
                    document.text(Font::Mono, 7.0, 0.0, &line);
                }
            }
        }
    }
    document.finish(&format!(
        "Riskdeck statement of {} made {}; SHA-256 of its JSON {}",
        statement.account_id,
        time(statement.generated_at),
        issued.sha256
    ))
}

/// A table as monospaced lines: columns padded to their widest cell, a rule under the header.
fn table_lines(columns: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(&mut columns.iter().copied())];
    lines.push(
        widths
            .iter()
            .map(|width| "-".repeat(*width))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        lines.push(line(&mut row.iter().map(String::as_str)));
    }
    lines
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's style: for the screen, and for paper.
const STYLE: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;
  color: #111; background: #fff; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.45rem; margin-bottom: 0.5rem; }
h2 { font-size: 1.1rem; border-bottom: 1px solid #bbb; margin-top: 1.8rem; padding-bottom: 2px; }
.verify { border: 2px solid #111; padding: 0.6rem 1rem; margin: 1rem 0; }
code, pre { font-family: ui-monospace, 'SF Mono', Menlo, Consolas, monospace; font-size: 12px; }
pre { white-space: pre-wrap; word-break: break-all; margin: 0.3rem 0 0.3rem 0.5rem; }
.hash { font-size: 14px; font-weight: 600; }
.detail { margin: 0 0 0.2rem 1.5rem; color: #333; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 1.2rem; }
dt { color: #555; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { border-bottom: 1px solid #888; }
.links a { margin-right: 1.2rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  .links { display: none; }
  h2 { break-after: avoid; }
  tr, .verify { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  @page { size: A4; margin: 14mm; }
}
";

/// The statement as a printable, self-contained HTML page: the title, its hash and how to
/// verify it, links to the JSON it was made from (embedded: exactly the bytes the hash is of)
/// and to a new statement's JSON and PDF, then its content.
pub fn html(issued: &Issued) -> String {
    use base64::Engine as _;
    let statement = &issued.statement;
    let mut page = String::with_capacity(16 * 1024 + issued.json.len() * 2);
    let title = escape(&title(statement));
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <section class=\"verify\" id=\"verify\">\n"
    );
    for block in verification(statement, &issued.sha256, "page") {
        write_block(&mut page, &block, Some(&issued.sha256));
    }
    let _ = write!(
        page,
        "<p class=\"links\"><a download=\"{file}\" href=\"data:application/json;base64,{data}\">\
         Download the JSON this page was made from</a>\
         <a href=\"statement\">A new statement (JSON)</a>\
         <a href=\"statement.pdf\">A new statement (PDF)</a></p>\n\
         <p class=\"links\">A new statement is made when you ask for it and carries its own \
         hash. Print this page with your browser's Print command.</p>\n</section>\n",
        file = escape(&statement.file_name("json")),
        data = base64::engine::general_purpose::STANDARD.encode(&issued.json),
    );
    for block in blocks(statement) {
        write_block(&mut page, &block, None);
    }
    let _ = write!(
        page,
        "<footer><p>Riskdeck statement of {} made {}; SHA-256 of its JSON \
         <code>{}</code>.</p></footer>\n</body>\n</html>\n",
        escape(statement.account_id.as_str()),
        time(statement.generated_at),
        issued.sha256
    );
    page
}

fn write_block(page: &mut String, block: &Block, hash: Option<&str>) {
    let _ = match block {
        Block::Heading(text) => writeln!(page, "<h2>{}</h2>", escape(text)),
        Block::Text(text) => writeln!(page, "<p>{}</p>", escape(text)),
        Block::Detail(text) => writeln!(page, "<p class=\"detail\">{}</p>", escape(text)),
        Block::Code(text) if Some(text.as_str()) == hash => writeln!(
            page,
            "<pre class=\"hash\" id=\"sha256\">{}</pre>",
            escape(text)
        ),
        Block::Code(text) => writeln!(page, "<pre>{}</pre>", escape(text)),
        Block::Facts(facts) => {
            page.push_str("<dl>\n");
            for (label, value) in facts {
                let _ = writeln!(page, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
            }
            writeln!(page, "</dl>")
        }
        Block::Table { columns, rows } => {
            page.push_str("<table>\n<thead><tr>");
            for column in *columns {
                let _ = write!(page, "<th>{}</th>", escape(column));
            }
            page.push_str("</tr></thead>\n<tbody>\n");
            for row in rows {
                page.push_str("<tr>");
                for cell in row {
                    let _ = write!(page, "<td>{}</td>", escape(cell));
                }
                page.push_str("</tr>\n");
            }
            writeln!(page, "</tbody>\n</table>")
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use shared::api::EventView;
    use shared::engine::{ChallengeStatus, EventKind};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    fn statement() -> Statement {
        let breach = EventView {
            time: at("2026-03-02T10:05:00Z"),
            kind: EventKind::Breach,
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
        };
        let failed = EventView {
            kind: EventKind::Failed,
            ..breach.clone()
        };
        Statement {
            format: FORMAT.into(),
            generated_at: at("2026-03-03T08:00:00Z"),
            account_id: AccountId::from("demo<daily>"),
            account_name: "Daily <Breach> & co".into(),
            owner: Some("jane".into()),
            currency: Some("USD".into()),
            initial_balance: Some(dec!(100000)),
            preset: "ftmo-2step".into(),
            title: Some("FTMO 2-Step Challenge".into()),
            phase: Some("Phase 1".into()),
            program: None,
            started: Some(at("2026-03-01T00:00:00Z")),
            reset_clock: Some("Europe/Prague 00:00".into()),
            rules: StatementRules::default(),
            decision: Decision::new(
                ChallengeStatus::Failed,
                vec![breach, failed],
                vec![RecordedEvent {
                    id: 3,
                    time: at("2026-03-02T10:05:00Z"),
                    kind: "breach".into(),
                    rule: Some("daily_loss".into()),
                    event: serde_json::json!({
                        "evidence": { "measured": "94385.00", "limit": "95000.00" }
                    }),
                }],
            ),
            as_of: Some(at("2026-03-03T07:59:00Z")),
            metrics: None,
            trading: TradingRecord::default(),
        }
    }

    #[test]
    fn the_page_states_the_hash_links_the_exact_json_and_escapes_what_it_shows() {
        let issued = Issued::new(statement());
        let page = html(&issued);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains(&format!(
            "<pre class=\"hash\" id=\"sha256\">{}</pre>",
            issued.sha256
        )));
        assert!(page.contains("Daily &lt;Breach&gt; &amp; co"), "escaped");
        assert!(!page.contains("<Breach>"));
        assert!(page.contains("<dt>Status</dt><dd>FAILED</dd>"), "{page}");
        assert!(
            page.contains("breach of daily_loss: measured 94,385.00 against a limit of 95,000.00")
        );
        assert!(page.contains("href=\"statement.pdf\""));
        assert!(page.contains("@media print"));
        assert!(
            !page.contains("<script"),
            "no script: the policy allows none inline"
        );
        // The embedded JSON is exactly the bytes the hash is of.
        use base64::Engine as _;
        let data = page
            .split("data:application/json;base64,")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("embedded JSON");
        let json = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64");
        assert_eq!(json, issued.json);
        assert_eq!(shared::statement::sha256_hex(&json), issued.sha256);
    }

    #[test]
    fn the_pdf_states_the_hash_and_how_to_verify_it_on_its_first_page() {
        let issued = Issued::new(statement());
        let file = pdf(&issued);
        assert!(file.starts_with(b"%PDF-1.4"));
        let text: String = file
            .iter()
            .map(|b| if b.is_ascii() { char::from(*b) } else { '?' })
            .collect();
        let first_page_end = text.find("endstream").expect("a page");
        let first = &text[..first_page_end];
        assert!(
            first.contains(&format!("({}) Tj", issued.sha256)),
            "{first}"
        );
        assert!(first.contains("riskdeck statement verify"), "{first}");
        assert!(text.contains("(Status   FAILED) Tj"), "{text}");
    }

    #[test]
    fn tables_are_padded_to_their_widest_cell() {
        let lines = table_lines(
            &["a", "bb"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["w".into(), "22".into()],
            ],
        );
        assert_eq!(lines, ["a    bb", "---  --", "xyz  1", "w    22"]);
    }

    #[test]
    fn an_event_is_summed_up_by_its_evidence_or_who_did_it() {
        assert_eq!(
            event_detail(&serde_json::json!({
                "evidence": { "measured": "94385.00", "limit": "95000.00" }
            })),
            "measured 94385.00 limit 95000.00"
        );
        assert_eq!(
            event_detail(&serde_json::json!({ "actor": "admin", "reason": "broker error" })),
            "actor: admin; reason: broker error"
        );
        assert_eq!(event_detail(&serde_json::json!("text")), "");
    }
}
