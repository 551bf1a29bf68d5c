//! Importing accounts by the thousand (issue 24): a CSV file or JSON rows, every row checked
//! with every problem named before anything is written, then every account created in one
//! transaction and tracked at once, and the import's progress (connecting, backfilling, live,
//! failed with the reason, time left) read from the hub.
//!
//! A row is [`CreateAccountRequest`] flattened ([`ImportRow`]): each is checked by
//! [`provision::check`], the same function as `POST /api/accounts`; as that names only a row's
//! first problem, a field found wrong is put right with a stand-in and the row checked again,
//! so a row's every bad field is named. Besides: ids repeated in the file or taken already,
//! owners (a trader's username, or the email address of their notification settings), and the
//! programs named. Stored, each account is started through [`Launcher::launch`], as a created
//! one is.
//!
//! Import jobs are kept in memory, the last [`KEPT_JOBS`] of this process: after a restart the
//! accounts are tracked as any created account (their progress is the overview's), and the
//! audit log's `accounts.import` entry names every account of an import.
//!
//! What it must not do: write anything of a file with a bad row, panic on any input, or put a
//! token or secret in a problem, a log line or the audit log.

use crate::hub::Hub;
use crate::programs::Loaded;
use crate::provision::{self, Checked, Context, CreateError, Launcher};
use chrono::{DateTime, Utc};
use shared::api::{
    ConnectionRequest, CreateAccountRequest, FeedStatus, ImportFailure, ImportJob, ImportProblem,
    ImportRefused, ImportReport, ImportRow, Role, Transport, UserId,
};
use shared::domain::AccountId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// The most rows one import takes.
pub const MAX_ROWS: usize = 10_000;
/// The largest import body accepted (about 800 bytes a row at the most rows).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The imports kept in memory for their progress.
pub const KEPT_JOBS: usize = 20;
/// The columns a CSV file's header must name.
const REQUIRED_COLUMNS: [&str; 5] = ["id", "name", "connection", "initial_balance", "currency"];
/// The preset a row's problem with its preset or program is put right with, to check the rest.
const STAND_IN_PRESET: &str = "ftmo-2step";
/// How often a job's progress is read until it finishes.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// A job is watched at most this long (its view is still computed when asked).
const WATCH_AT_MOST: Duration = Duration::from_secs(24 * 3600);
/// The failed rows whose reason is looked up in the store per reading of a job.
const REASONS_PER_READ: usize = 50;
/// A failed row whose tracker recorded no reason is looked up again after this long.
const REASON_AGAIN_AFTER: Duration = Duration::from_secs(30);

/// How an import body is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{ "rows": [...] }` or `[...]`.
    Json,
    /// A header line, then a line per row (RFC 4180).
    Csv,
}

/// A file that cannot be read as rows: the message names the line (and column) at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Not CSV or JSON at all (400).
    #[error("{0}")]
    Syntax(String),
    /// Read, but not an import: no rows, too many, unknown or missing columns (422).
    #[error("{0}")]
    Shape(String),
}

/// A row as read from the file, before it is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedRow {
    /// The values.
    pub row: ImportRow,
    /// The line it starts on (CSV).
    pub line: Option<u32>,
    /// What reading it found wrong (a JSON value that is not text, an unknown key).
    pub problems: Vec<(String, String)>,
}

/// Reads an import body.
pub fn parse(body: &[u8], format: Format) -> Result<Vec<ParsedRow>, FileError> {
    let rows = match format {
        Format::Json => parse_json(body)?,
        Format::Csv => parse_csv(body)?,
    };
    if rows.is_empty() {
        return Err(FileError::Shape(
            "The file has no rows: give a row per account (a CSV file: a header line, then a \
             line per account)."
                .to_owned(),
        ));
    }
    Ok(rows)
}

fn too_many(rows: usize) -> FileError {
    FileError::Shape(format!(
        "The file has more than {MAX_ROWS} rows ({rows} read so far): import at most {MAX_ROWS} \
         at once, in several files."
    ))
}

fn parse_json(body: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| FileError::Syntax(format!("The body is not JSON: {error}.")))?;
    let rows = match value {
        Value::Array(rows) => rows,
        Value::Object(mut object) => {
            let extra: Vec<String> = object
                .keys()
                .filter(|key| *key != "rows")
                .map(|key| format!("{key:?}"))
                .collect();
            if !extra.is_empty() {
                return Err(FileError::Shape(format!(
                    "The body has {}: its one field is \"rows\", an array of rows.",
                    extra.join(", ")
                )));
            }
            match object.remove("rows") {
                Some(Value::Array(rows)) => rows,
                _ => {
                    return Err(FileError::Shape(
                        "rows: give an array of rows, each an object of column names and \
                         values (e.g. {\"rows\": [{\"id\": \"jane-ftmo\", ...}]})."
                            .to_owned(),
                    ));
                }
            }
        }
        _ => {
            return Err(FileError::Shape(
                "Send {\"rows\": [...]} or an array of rows, each an object of column names \
                 and values."
                    .to_owned(),
            ));
        }
    };
    if rows.len() > MAX_ROWS {
        return Err(too_many(rows.len()));
    }
    Ok(rows.into_iter().map(json_row).collect())
}

fn json_row(value: serde_json::Value) -> ParsedRow {
    use serde_json::Value;
    let mut parsed = ParsedRow::default();
    let Value::Object(object) = value else {
        parsed.problems.push((
            "row".to_owned(),
            "a row is an object of column names and values, e.g. {\"id\": \"jane-ftmo\", ...}."
                .to_owned(),
        ));
        return parsed;
    };
    for (key, value) in object {
        let text = match value {
            Value::Null => None,
            Value::String(text) => Some(text),
            // A balance or a cTrader account id may be written as a number: read as its text.
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                parsed
                    .problems
                    .push((key.clone(), "give the value as text.".to_owned()));
                continue;
            }
        };
        if !parsed.row.set(&key, text) {
            parsed.problems.push((key, unknown_column()));
        }
    }
    parsed
}

fn unknown_column() -> String {
    format!(
        "there is no such column; the columns are: {}.",
        ImportRow::COLUMNS.join(", ")
    )
}

fn parse_csv(body: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
    let text = std::str::from_utf8(body).map_err(|error| {
        let line = body[..error.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        FileError::Syntax(format!(
            "line {line}: the file is not UTF-8 text: save it as \"CSV UTF-8\"."
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv::Records::new(text);
    let header = loop {
        match records.next() {
            None => {
                return Err(FileError::Shape(
                    "The file is empty: its first line names the columns (e.g. id,name,\
                     connection,account,preset,initial_balance,currency), then a line per \
                     account."
                        .to_owned(),
                ));
            }
            Some(record) => {
                let record = record.map_err(FileError::Syntax)?;
                if !record.is_blank() {
                    break record;
                }
            }
        }
    };
    let columns: Vec<String> = header
        .fields
        .iter()
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut problems = Vec::new();
    let unknown: Vec<String> = columns
        .iter()
        .filter(|c| !ImportRow::COLUMNS.contains(&c.as_str()))
        .map(|c| format!("{c:?}"))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "the header names {} that there is no column for; the columns are: {}",
            unknown.join(", "),
            ImportRow::COLUMNS.join(", ")
        ));
    }
    let mut seen = HashSet::new();
    let repeated: Vec<String> = columns
        .iter()
        .filter(|c| !seen.insert(c.as_str()))
        .map(|c| format!("{c:?}"))
        .collect();
    if !repeated.is_empty() {
        problems.push(format!("the header names {} twice", repeated.join(", ")));
    }
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .into_iter()
        .filter(|c| !columns.iter().any(|named| named == c))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "the header has no column {}",
            missing
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(FileError::Shape(format!(
            "line {}: {}.",
            header.line,
            problems.join("; ")
        )));
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(FileError::Syntax)?;
        if record.is_blank() {
            continue;
        }
        if record.fields.len() != columns.len() {
            return Err(FileError::Syntax(format!(
                "line {}: {} fields where the header has {}: a value with a comma, a quote or \
                 a line break must be in double quotes (a quote in it doubled: \"\").",
                record.line,
                record.fields.len(),
                columns.len()
            )));
        }
        if rows.len() == MAX_ROWS {
            return Err(too_many(rows.len() + 1));
        }
        let mut parsed = ParsedRow {
            line: Some(record.line),
            ..ParsedRow::default()
        };
        for (column, value) in columns.iter().zip(record.fields) {
            parsed
                .row
                .set(column, Some(value).filter(|v| !v.trim().is_empty()));
        }
        rows.push(parsed);
    }
    Ok(rows)
}

/// The CSV template: the header and one example row (on the demo broker in demo mode).
pub fn template(demo_account: Option<&str>) -> String {
    let mut row = ImportRow {
        id: Some("jane-ftmo-100k".into()),
        name: Some("Jane's FTMO 100k".into()),
        preset: Some("ftmo-2step".into()),
        phase: Some("Phase 1".into()),
        initial_balance: Some("100000".into()),
        currency: Some("USD".into()),
        ..ImportRow::default()
    };
    match demo_account {
        Some(account) => {
            row.connection = Some("demo".into());
            row.account = Some(account.to_owned());
            row.owner = Some("trader".into());
        }
        None => {
            row.connection = Some("metaapi".into());
            row.account = Some("your-metaapi-account-id".into());
            row.token = Some("your-metaapi-api-token".into());
            row.owner = Some("jane@example.com".into());
            row.transport = Some("streaming".into());
        }
    }
    let mut text = csv::line(ImportRow::COLUMNS.iter().copied());
    text.push_str(&csv::line(
        ImportRow::COLUMNS
            .iter()
            .map(|column| row.get(column).unwrap_or_default()),
    ));
    text
}

/// The traders an import may name as owners: by username (any case) and by the email address
/// of their notification settings.
#[derive(Clone, Debug, Default)]
pub struct Owners {
    /// By `store::username_key`: id, username, role.
    by_username: HashMap<String, (UserId, String, Role)>,
    /// By lowercased address: the traders who gave it.
    by_email: HashMap<String, Vec<(UserId, String)>>,
}

impl Owners {
    /// Adds a user.
    pub fn add_user(&mut self, id: UserId, username: &str, role: Role) {
        self.by_username.insert(
            store::username_key(username),
            (id, username.to_owned(), role),
        );
    }

    /// Adds a trader's email address.
    pub fn add_email(&mut self, id: UserId, username: &str, email: &str) {
        let key = email.trim().to_lowercase();
        if !key.is_empty() {
            self.by_email
                .entry(key)
                .or_default()
                .push((id, username.to_owned()));
        }
    }

    /// Whether `owner` is a username.
    fn is_username(&self, owner: &str) -> bool {
        self.by_username
            .contains_key(&store::username_key(owner.trim()))
    }

    /// The trader `owner` names, or why none can be.
    pub fn resolve(&self, owner: &str) -> Result<UserId, String> {
        let owner = owner.trim();
        if let Some((id, username, role)) = self.by_username.get(&store::username_key(owner)) {
            return if *role == Role::Trader {
                Ok(*id)
            } else {
                Err(format!(
                    "{username} is an admin and sees every account already; choose a trader."
                ))
            };
        }
        match self.by_email.get(&owner.to_lowercase()).map(Vec::as_slice) {
            Some([(id, _)]) => Ok(*id),
            Some(several) if !several.is_empty() => Err(format!(
                "{owner:?} is the email address of several traders ({}): give the username.",
                several
                    .iter()
                    .map(|(_, name)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!(
                "there is no user {owner:?} (by username, or by the email address of a trader's \
                 notification settings): create the trader on the users page first, or leave \
                 the owner out."
            )),
        }
    }
}

/// What checking rows needs to know of this server.
#[derive(Clone, Copy, Debug)]
pub struct Lookups<'a> {
    /// The demo broker's accounts, in demo mode.
    pub demo_accounts: Option<&'a [String]>,
    /// Whether broker secrets can be sealed.
    pub secret_key: bool,
    /// The latest version of each program a row names (a name missing: no such program).
    pub programs: &'a HashMap<String, Loaded>,
    /// The traders.
    pub owners: &'a Owners,
    /// The ids taken already (stored or tracked).
    pub existing: &'a HashSet<AccountId>,
    /// Each competition a row names: `Ok` when it takes entrants (not started), else why not
    /// (a name missing: no such competition).
    pub competitions: &'a HashMap<String, Result<(), String>>,
}

/// A row that passed every check.
#[derive(Clone, Debug)]
pub struct Ready {
    /// Its row number (from 1).
    pub row: u32,
    /// The row as a request.
    pub request: CreateAccountRequest,
    /// The request checked.
    pub checked: Checked,
    /// Its owner.
    pub owner: Option<UserId>,
    /// The competition it enters once created.
    pub competition: Option<String>,
}

/// Checks every row; every problem of every row when any.
pub fn check_rows(rows: &[ParsedRow], lookups: Lookups<'_>) -> Result<Vec<Ready>, Report> {
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut ready = Vec::with_capacity(rows.len());
    let mut ids: HashMap<&str, Vec<u32>> = HashMap::new();
    for (index, parsed) in rows.iter().enumerate() {
        let row = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let mut found = parsed.problems.clone();
        if found.iter().any(|(field, _)| field == "row") {
            // Not a row at all: nothing more to say of it.
            problems.extend(found.into_iter().map(|(field, message)| ImportProblem {
                row,
                line: parsed.line,
                id: None,
                field,
                message,
            }));
            continue;
        }
        let (request, checked) = check_row(&parsed.row, lookups, &mut found);
        let owner = match parsed.row.get("owner").map(str::trim) {
            None | Some("") => None,
            Some(owner) => match lookups.owners.resolve(owner) {
                Ok(id) => Some(id),
                Err(message) => {
                    found.push(("owner".to_owned(), message));
                    None
                }
            },
        };
        let competition = parsed
            .row
            .get("competition")
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if let Some(name) = competition {
            match lookups.competitions.get(name) {
                None => found.push((
                    "competition".to_owned(),
                    format!(
                        "there is no competition {name:?}: create it on the competitions page \
                         first, or leave the column empty."
                    ),
                )),
                Some(Err(why)) => found.push(("competition".to_owned(), why.clone())),
                Some(Ok(())) => {}
            }
            if parsed
                .row
                .get("program")
                .is_some_and(|program| !program.trim().is_empty())
            {
                found.push((
                    "competition".to_owned(),
                    "an account on a program cannot enter a competition: give a preset \
                     instead of the program, or leave the competition out."
                        .to_owned(),
                ));
            }
        }
        let id = parsed.row.get("id").map(str::trim).unwrap_or_default();
        if !id.is_empty() {
            ids.entry(id).or_default().push(row);
            if lookups.existing.contains(&AccountId::from(id)) {
                found.push((
                    "id".to_owned(),
                    format!("an account {id:?} exists already; choose another id."),
                ));
            }
        }
        if found.is_empty()
            && let Some(checked) = checked
        {
            ready.push(Ready {
                row,
                request,
                checked,
                owner,
                competition: competition.map(str::to_owned),
            });
        }
        problems.extend(found.into_iter().map(|(field, message)| ImportProblem {
            row,
            line: parsed.line,
            id: Some(id.to_owned()).filter(|id| !id.is_empty()),
            field,
            message,
        }));
    }
    for (id, rows_of_id) in &ids {
        if rows_of_id.len() < 2 {
            continue;
        }
        let listed = rows_of_id
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        for row in rows_of_id {
            let index = *row as usize - 1;
            problems.push(ImportProblem {
                row: *row,
                line: rows.get(index).and_then(|r| r.line),
                id: Some((*id).to_owned()),
                field: "id".to_owned(),
                message: format!(
                    "{id:?} is the id of rows {listed}: each row needs an id of its own."
                ),
            });
        }
    }
    if problems.is_empty() {
        return Ok(ready);
    }
    let order = |field: &str| {
        ImportRow::COLUMNS
            .iter()
            .position(|c| *c == field)
            .unwrap_or(ImportRow::COLUMNS.len())
    };
    problems.sort_by(|a, b| {
        (a.row, order(&a.field), &a.field).cmp(&(b.row, order(&b.field), &b.field))
    });
    let bad_rows = problems.iter().map(|p| p.row).collect::<HashSet<_>>().len();
    Err(Report {
        rows: rows.len(),
        bad_rows,
        problems,
        checked: started.elapsed(),
    })
}

/// The problems of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Rows read.
    pub rows: usize,
    /// Rows with a problem.
    pub bad_rows: usize,
    /// Every problem, by row then column.
    pub problems: Vec<ImportProblem>,
    /// How long the check took.
    pub checked: Duration,
}

impl Report {
    /// The answer of a dry run.
    pub fn report(&self) -> ImportReport {
        ImportReport {
            rows: count(self.rows),
            bad_rows: count(self.bad_rows),
            problems: self.problems.clone(),
            checked_ms: millis(self.checked),
        }
    }

    /// The refusal (422).
    pub fn refused(&self) -> ImportRefused {
        ImportRefused {
            error: "invalid".to_owned(),
            message: format!(
                "{} of {} rows {} problems (every one is listed): nothing was imported. Fix \
                 them and send the file again.",
                self.bad_rows,
                self.rows,
                if self.bad_rows == 1 { "has" } else { "have" }
            ),
            rows: count(self.rows),
            bad_rows: count(self.bad_rows),
            problems: self.problems.clone(),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A row as a create request; what cannot be one (the connection's kind, the transport) is
/// added to `problems` and a stand-in used, so the rest is checked.
fn request_of(
    row: &ImportRow,
    problems: &mut Vec<(String, String)>,
) -> (CreateAccountRequest, bool) {
    let text = |column: &str| {
        row.get(column)
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let optional = |column: &str| {
        row.get(column)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut stand_in = false;
    let kind = text("connection").to_ascii_lowercase();
    let connection = match kind.as_str() {
        "demo" => ConnectionRequest::Demo {
            account: text("account"),
        },
        "metaapi" => ConnectionRequest::Metaapi {
            account_id: text("account"),
            token: text("token"),
            base_url: optional("base_url"),
        },
        "ctrader" => ConnectionRequest::Ctrader {
            url: text("url"),
            client_id: text("client_id"),
            client_secret: text("client_secret"),
            access_token: text("access_token"),
            refresh_token: optional("refresh_token"),
            account_id: text("account"),
        },
        other => {
            problems.push((
                "connection".to_owned(),
                if other.is_empty() {
                    "give the connection's kind: demo, metaapi or ctrader.".to_owned()
                } else {
                    format!("{other:?} is not a kind of connection: use demo, metaapi or ctrader.")
                },
            ));
            stand_in = true;
            stand_in_connection("metaapi")
        }
    };
    let transport = match text("transport").to_ascii_lowercase().as_str() {
        "" => None,
        "streaming" => Some(Transport::Streaming),
        "rest" => Some(Transport::Rest),
        other => {
            problems.push((
                "transport".to_owned(),
                format!("{other:?} is not a transport: use streaming or rest, or leave it empty."),
            ));
            None
        }
    };
    let mut request = CreateAccountRequest {
        id: text("id"),
        name: text("name"),
        connection,
        preset: text("preset"),
        program: optional("program"),
        phase: optional("phase"),
        initial_balance: text("initial_balance"),
        currency: text("currency"),
        // Owners are looked up by the import (a username or an email address).
        owner: None,
        transport,
    };
    if request.preset.is_empty() && request.program.is_none() {
        problems.push((
            "preset".to_owned(),
            "give a program (one of the firm's, on the programs page) or a preset (e.g. \
             ftmo-2step)."
                .to_owned(),
        ));
        request.preset = STAND_IN_PRESET.to_owned();
    }
    (request, stand_in)
}

/// A connection of `kind` that passes the checks (with a context that allows it), to check the
/// rest of a row whose connection is wrong.
fn stand_in_connection(kind: &str) -> ConnectionRequest {
    let text = |s: &str| s.to_owned();
    match kind {
        "demo" => ConnectionRequest::Demo {
            account: text(STAND_IN),
        },
        "ctrader" => ConnectionRequest::Ctrader {
            url: text("wss://demo.ctraderapi.com:5036"),
            client_id: text(STAND_IN),
            client_secret: text(STAND_IN),
            access_token: text(STAND_IN),
            refresh_token: None,
            account_id: text("1"),
        },
        _ => ConnectionRequest::Metaapi {
            account_id: text(STAND_IN),
            token: text(STAND_IN),
            base_url: None,
        },
    }
}

/// The value stand-ins are made of.
const STAND_IN: &str = "stand-in";

/// Checks a row with [`provision::check`], every field: each problem found is recorded and
/// the field put right with a stand-in, and the row checked again. The request, and the
/// checked row when it had no problem at all.
fn check_row(
    row: &ImportRow,
    lookups: Lookups<'_>,
    problems: &mut Vec<(String, String)>,
) -> (CreateAccountRequest, Option<Checked>) {
    let before = problems.len();
    let (original, stand_in) = request_of(row, problems);
    let mut request = original.clone();
    let stand_in_demo = [STAND_IN.to_owned()];
    let mut context = Context {
        demo_accounts: lookups.demo_accounts,
        secret_key: lookups.secret_key || stand_in,
        program: None,
    };
    let mut seen: Vec<String> = Vec::new();
    // Each round puts one field right; a field found wrong twice ends the rounds.
    for _ in 0..=ImportRow::COLUMNS.len() {
        context.program = request
            .program
            .as_deref()
            .and_then(|name| lookups.programs.get(name));
        let message = match provision::check(&request, context) {
            Ok(checked) => {
                let clean = problems.len() == before;
                return (original, clean.then_some(checked));
            }
            Err(message) => message,
        };
        let (field, text) = match message.split_once(": ") {
            Some((field, text)) if !field.contains(' ') => (field.to_owned(), text.to_owned()),
            _ => ("row".to_owned(), message.clone()),
        };
        let column = column_of(&field);
        if seen.contains(&field) {
            break;
        }
        problems.push((column.to_owned(), text));
        seen.push(field.clone());
        match field.as_str() {
            "id" => request.id = "stand-in-id".to_owned(),
            "name" => request.name = STAND_IN.to_owned(),
            connection if connection == "connection" || connection.starts_with("connection.") => {
                let kind = match &request.connection {
                    ConnectionRequest::Demo { .. } => "demo",
                    ConnectionRequest::Metaapi { .. } => "metaapi",
                    ConnectionRequest::Ctrader { .. } => "ctrader",
                };
                request.connection = stand_in_connection(kind);
                context.demo_accounts = Some(&stand_in_demo);
                context.secret_key = true;
            }
            "preset" if request.program.is_some() => request.preset.clear(),
            "preset" | "program" => {
                request.program = None;
                request.preset = STAND_IN_PRESET.to_owned();
                request.phase = None;
            }
            "phase" => request.phase = None,
            "initial_balance" => request.initial_balance = "100000".to_owned(),
            "currency" => request.currency = "USD".to_owned(),
            "transport" => request.transport = None,
            _ => break,
        }
    }
    (original, None)
}

/// The file's column a field of [`provision::check`]'s messages is in.
fn column_of(field: &str) -> &str {
    match field {
        "connection.account" | "connection.account_id" => "account",
        other => other.strip_prefix("connection.").unwrap_or(other),
    }
}

/// What an import answers when it does not start.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file does not read as rows.
    #[error(transparent)]
    File(#[from] FileError),
    /// Rows have problems: nothing was written.
    #[error("rows have problems")]
    Refused(Report),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed inside the server.
    #[error("{0}")]
    Internal(String),
}

/// Checks every row against this server: its demo accounts, programs, traders and accounts.
pub async fn check(launcher: &Launcher, rows: &[ParsedRow]) -> Result<Vec<Ready>, ImportError> {
    let store = launcher.store.as_ref();
    let mut programs = HashMap::new();
    for name in rows
        .iter()
        .filter_map(|r| r.row.get("program").map(str::trim))
        .filter(|name| !name.is_empty())
        .collect::<HashSet<_>>()
    {
        match crate::programs::latest(store, name).await {
            Ok(Some(loaded)) => {
                programs.insert(name.to_owned(), loaded);
            }
            Ok(None) => {}
            Err(crate::programs::LoadError::Store(error)) => return Err(error.into()),
            Err(other) => return Err(ImportError::Internal(other.to_string())),
        }
    }
    let now = Utc::now();
    let mut competitions = HashMap::new();
    for name in rows
        .iter()
        .filter_map(|r| r.row.get("competition").map(str::trim))
        .filter(|name| !name.is_empty())
        .collect::<HashSet<_>>()
    {
        if let Some(stored) = store.competition(name).await? {
            let takes = if stored.start > now {
                Ok(())
            } else {
                Err(format!(
                    "competition {name:?} started at {}: its entrants are fixed now.",
                    stored.start.format("%Y-%m-%d %H:%M UTC")
                ))
            };
            competitions.insert(name.to_owned(), takes);
        }
    }
    let users = store.users().await?;
    let mut owners = Owners::default();
    for user in &users {
        owners.add_user(user.id, &user.username, user.role);
    }
    // Email addresses are read only when an owner is not a username.
    let by_email = rows.iter().any(|r| {
        r.row
            .get("owner")
            .map(str::trim)
            .is_some_and(|owner| !owner.is_empty() && !owners.is_username(owner))
    });
    if by_email {
        for user in users.iter().filter(|u| u.role == Role::Trader) {
            if let Some(email) = email_of(store, user.id).await? {
                owners.add_email(user.id, &user.username, &email);
            }
        }
    }
    let mut existing: HashSet<AccountId> = store
        .accounts()
        .await?
        .into_iter()
        .map(|account| account.id)
        .collect();
    existing.extend(
        launcher
            .hub
            .summaries()
            .into_iter()
            .map(|summary| summary.id),
    );
    let demo_accounts = launcher.demo.as_ref().map(|demo| {
        demo.broker
            .accounts()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    });
    let lookups = Lookups {
        demo_accounts: demo_accounts.as_deref(),
        secret_key: launcher.secret_key.is_some(),
        programs: &programs,
        owners: &owners,
        existing: &existing,
        competitions: &competitions,
    };
    check_rows(rows, lookups).map_err(ImportError::Refused)
}

/// The email address of a user's notification settings.
async fn email_of(store: &dyn Store, user: UserId) -> Result<Option<String>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Email {
        #[serde(default)]
        email: Option<String>,
    }
    Ok(store
        .notification_preferences(user)
        .await?
        .and_then(|json| serde_json::from_str::<Email>(&json).ok())
        .and_then(|prefs| prefs.email))
}

/// An import written: every account stored in one transaction, none tracked yet.
#[derive(Debug)]
pub struct Written {
    /// The import's id.
    pub id: String,
    /// The accounts created, in row order.
    pub accounts: Vec<AccountId>,
    admin: String,
    ready: Vec<Ready>,
    stored: Vec<store::NewAccount>,
    checked: Duration,
    written: Duration,
    at: DateTime<Utc>,
    since: Instant,
}

/// Creates every checked row's account in one transaction; [`start`] then tracks them. The
/// caller writes the audit log between the two (before the new trackers' writes queue up).
pub async fn write(
    launcher: &Launcher,
    admin: String,
    ready: Vec<Ready>,
    checked: Duration,
) -> Result<Written, ImportError> {
    let now = Utc::now();
    let mut stored = Vec::with_capacity(ready.len());
    for row in &ready {
        let account = launcher
            .new_account(&row.checked, &row.request, row.owner, &admin, now)
            .map_err(|error| match error {
                CreateError::Store(error) => ImportError::Store(error),
                other => ImportError::Internal(other.to_string()),
            })?;
        stored.push(account);
    }
    let writing = Instant::now();
    let taken = launcher.store.create_account_setups(&stored).await?;
    let written = writing.elapsed();
    if !taken.is_empty() {
        // Created meanwhile by someone else: nothing was written.
        let taken: HashSet<&AccountId> = taken.iter().collect();
        let problems: Vec<ImportProblem> = ready
            .iter()
            .filter(|row| taken.contains(&row.checked.id))
            .map(|row| ImportProblem {
                row: row.row,
                line: None,
                id: Some(row.checked.id.to_string()),
                field: "id".to_owned(),
                message: format!(
                    "an account {:?} exists already; choose another id.",
                    row.checked.id.as_str()
                ),
            })
            .collect();
        return Err(ImportError::Refused(Report {
            rows: ready.len(),
            bad_rows: problems.len(),
            problems,
            checked,
        }));
    }
    let at = Utc::now();
    Ok(Written {
        id: format!("{:x}-{:04x}", at.timestamp_millis(), fastrand::u16(..)),
        accounts: ready.iter().map(|row| row.checked.id.clone()).collect(),
        admin,
        ready,
        stored,
        checked,
        written,
        at,
        since: Instant::now(),
    })
}

impl Written {
    /// The competitions rows enter, each with its new accounts in row order.
    pub fn entries(&self) -> Vec<(String, Vec<AccountId>)> {
        let mut entries: Vec<(String, Vec<AccountId>)> = Vec::new();
        for row in &self.ready {
            let Some(competition) = &row.competition else {
                continue;
            };
            match entries.iter_mut().find(|(id, _)| id == competition) {
                Some((_, accounts)) => accounts.push(row.checked.id.clone()),
                None => entries.push((competition.clone(), vec![row.checked.id.clone()])),
            }
        }
        entries
    }
}

/// Shows every account of a written import and starts tracking it (one that cannot start is
/// recorded failed, with why), and keeps the job.
pub async fn start(launcher: &Launcher, imports: &Imports, written: Written) -> Arc<Job> {
    let launching = Instant::now();
    let mut not_started = HashMap::new();
    for (index, (row, account)) in written.ready.iter().zip(&written.stored).enumerate() {
        if let Err(error) = launcher
            .launch(&account.setup, &account.name, row.checked.program.clone())
            .await
        {
            tracing::warn!(account = %account.setup.account, %error, "an imported account cannot be tracked");
            not_started.insert(index, error.to_string());
        }
    }
    let launched = launching.elapsed();
    let job = Arc::new(Job {
        id: written.id,
        created_by: written.admin,
        started_at: written.at,
        started: written.since,
        rows: written.ready.iter().map(|row| row.row).collect(),
        progress: Mutex::new(Progress {
            live: vec![false; written.accounts.len()],
            not_started,
            reasons: HashMap::new(),
            looked: HashMap::new(),
            finished_at: None,
        }),
        accounts: written.accounts,
        checked: written.checked,
        written: written.written,
        launched,
    });
    tracing::info!(
        import = %job.id,
        accounts = job.accounts.len(),
        written_ms = millis(job.written),
        launched_ms = millis(launched),
        "accounts imported"
    );
    imports.add(job.clone());
    watch(job.clone(), launcher.hub.clone(), launcher.shutdown.clone());
    job
}

/// Reads the job's progress until every account is done, so that the time it finished is
/// known even when no one asks.
fn watch(job: Arc<Job>, hub: Arc<Hub>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let until = Instant::now() + WATCH_AT_MOST;
        while Instant::now() < until {
            if job.view(&hub).finished_at.is_some() {
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
        }
    });
}

/// The imports of this process, newest last.
#[derive(Debug, Default)]
pub struct Imports {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Imports {
    fn jobs(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a job (the oldest beyond [`KEPT_JOBS`] forgotten).
    pub fn add(&self, job: Arc<Job>) {
        let mut jobs = self.jobs();
        jobs.push_back(job);
        while jobs.len() > KEPT_JOBS {
            jobs.pop_front();
        }
    }

    /// One job.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs().iter().find(|job| job.id == id).cloned()
    }

    /// Every job kept, newest first.
    pub fn recent(&self) -> Vec<Arc<Job>> {
        self.jobs().iter().rev().cloned().collect()
    }
}

/// One import: the accounts it created, in row order, and what is known of their start.
#[derive(Debug)]
pub struct Job {
    /// Its id.
    pub id: String,
    created_by: String,
    started_at: DateTime<Utc>,
    started: Instant,
    /// Each account's row number.
    rows: Vec<u32>,
    /// The accounts, in row order.
    pub accounts: Vec<AccountId>,
    checked: Duration,
    written: Duration,
    launched: Duration,
    progress: Mutex<Progress>,
}

#[derive(Debug)]
struct Progress {
    /// Whether each account was seen live (then it counts as done for good).
    live: Vec<bool>,
    /// The accounts whose tracker did not start, with why.
    not_started: HashMap<usize, String>,
    /// Why a stale account is not live, from its `feed_stale` event.
    reasons: HashMap<usize, String>,
    /// When a stale account's reason was last looked for and not found.
    looked: HashMap<usize, Instant>,
    finished_at: Option<DateTime<Utc>>,
}

/// Why a new account's feed is stale when its tracker recorded no reason.
const STALE_WITHOUT_REASON: &str =
    "the broker has not answered since tracking began (the feed is stale)";

impl Job {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The progress now, from the hub's feeds.
    pub fn view(&self, hub: &Hub) -> ImportJob {
        self.view_at(
            &hub.feeds(&self.accounts),
            Utc::now(),
            self.started.elapsed(),
        )
    }

    /// The progress with these feeds (in account order), `elapsed` after the accounts were
    /// created.
    fn view_at(
        &self,
        feeds: &[Option<FeedStatus>],
        now: DateTime<Utc>,
        elapsed: Duration,
    ) -> ImportJob {
        let mut progress = self.progress();
        let (mut connecting, mut backfilling, mut live) = (0u32, 0u32, 0u32);
        let mut failed = Vec::new();
        for (index, account) in self.accounts.iter().enumerate() {
            let feed = feeds.get(index).copied().flatten();
            let reason = if let Some(reason) = progress.not_started.get(&index) {
                reason.clone()
            } else if progress.live[index] || feed == Some(FeedStatus::Live) {
                progress.live[index] = true;
                live += 1;
                continue;
            } else {
                match feed {
                    Some(FeedStatus::Connecting) => {
                        connecting += 1;
                        continue;
                    }
                    Some(FeedStatus::Backfilling) => {
                        backfilling += 1;
                        continue;
                    }
                    Some(FeedStatus::Stale) => progress
                        .reasons
                        .get(&index)
                        .cloned()
                        .unwrap_or_else(|| STALE_WITHOUT_REASON.to_owned()),
                    // A live feed was counted above.
                    Some(FeedStatus::Archived) => "it was archived".to_owned(),
                    Some(FeedStatus::Live) | None => {
                        "it is no longer tracked on this server".to_owned()
                    }
                }
            };
            failed.push(ImportFailure {
                row: self.rows.get(index).copied().unwrap_or_default(),
                account: account.clone(),
                reason,
            });
        }
        let total = count(self.accounts.len());
        let done = live + count(failed.len());
        if done >= total && progress.finished_at.is_none() {
            progress.finished_at = Some(now);
        }
        let seconds_left = (done > 0 && done < total).then(|| {
            let per_account = elapsed.as_secs_f64() / f64::from(done);
            (per_account * f64::from(total - done)).ceil() as u64
        });
        ImportJob {
            id: self.id.clone(),
            created_by: self.created_by.clone(),
            started_at: self.started_at,
            total,
            connecting,
            backfilling,
            live,
            failed,
            done,
            seconds_left,
            finished_at: progress.finished_at,
            checked_ms: millis(self.checked),
            written_ms: millis(self.written),
            launched_ms: millis(self.launched),
        }
    }

    /// The progress now, with the reason of each failed account its tracker recorded (its
    /// latest `feed_stale` event), read from the store once.
    pub async fn read(&self, hub: &Hub, store: &dyn Store) -> Result<ImportJob, StoreError> {
        let feeds = hub.feeds(&self.accounts);
        let wanted: Vec<usize> = {
            let progress = self.progress();
            feeds
                .iter()
                .enumerate()
                .filter(|(index, feed)| {
                    **feed == Some(FeedStatus::Stale)
                        && !progress.live[*index]
                        && !progress.reasons.contains_key(index)
                        && progress
                            .looked
                            .get(index)
                            .is_none_or(|at| at.elapsed() >= REASON_AGAIN_AFTER)
                })
                .map(|(index, _)| index)
                .take(REASONS_PER_READ)
                .collect()
        };
        for index in wanted {
            let events = store.challenge_events(&self.accounts[index]).await?;
            let detail = events
                .iter()
                .rev()
                .find(|event| event.kind == "feed_stale")
                .and_then(|event| {
                    serde_json::from_str::<serde_json::Value>(&event.body)
                        .ok()?
                        .get("detail")?
                        .as_str()
                        .map(str::to_owned)
                });
            let mut progress = self.progress();
            match detail {
                Some(detail) => {
                    progress.reasons.insert(index, detail);
                }
                None => {
                    progress.looked.insert(index, Instant::now());
                }
            }
        }
        Ok(self.view_at(&feeds, Utc::now(), self.started.elapsed()))
    }
}

/// A small RFC 4180 reader and writer: fields separated by commas, records by CRLF or LF, a
/// field in double quotes may hold commas, quotes (doubled) and line breaks.
mod csv {
    /// One record and the line it starts on.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Record {
        pub line: u32,
        pub fields: Vec<String>,
    }

    impl Record {
        /// An empty line.
        pub fn is_blank(&self) -> bool {
            self.fields.len() == 1 && self.fields[0].trim().is_empty()
        }
    }

    /// The records of a text, each in turn; an error names the line.
    pub struct Records<'a> {
        rest: std::iter::Peekable<std::str::Chars<'a>>,
        line: u32,
        done: bool,
    }

    impl<'a> Records<'a> {
        pub fn new(text: &'a str) -> Self {
            Self {
                rest: text.chars().peekable(),
                line: 1,
                done: text.is_empty(),
            }
        }
    }

    impl Iterator for Records<'_> {
        type Item = Result<Record, String>;

        fn next(&mut self) -> Option<Self::Item> {
            if self.done {
                return None;
            }
            let start = self.line;
            let mut fields = Vec::new();
            let mut field = String::new();
            loop {
                // At the start of a field.
                if self.rest.peek() == Some(&'"') {
                    self.rest.next();
                    let opened = self.line;
                    loop {
                        match self.rest.next() {
                            None => {
                                self.done = true;
                                return Some(Err(format!(
                                    "line {opened}: a quoted value is never closed: end it \
                                     with a double quote (a quote inside it is written twice: \
                                     \"\")."
                                )));
                            }
                            Some('"') if self.rest.peek() == Some(&'"') => {
                                self.rest.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    self.line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    match self.rest.peek() {
                        None | Some(',' | '\n' | '\r') => {}
                        Some(_) => {
                            self.done = true;
                            return Some(Err(format!(
                                "line {}: text follows a quoted value's closing quote: put \
                                 the whole value in quotes, with each quote inside it written \
                                 twice (\"\").",
                                self.line
                            )));
                        }
                    }
                }
                // The rest of the field, up to a comma or the end of the line.
                loop {
                    match self.rest.next() {
                        None => {
                            self.done = true;
                            fields.push(std::mem::take(&mut field));
                            return Some(Ok(Record {
                                line: start,
                                fields,
                            }));
                        }
                        Some(',') => {
                            fields.push(std::mem::take(&mut field));
                            break;
                        }
                        Some('\r') if self.rest.peek() == Some(&'\n') => {}
                        Some('\n') => {
                            self.line += 1;
                            fields.push(std::mem::take(&mut field));
                            if self.rest.peek().is_none() {
                                self.done = true;
                            }
                            return Some(Ok(Record {
                                line: start,
                                fields,
                            }));
                        }
                        Some('"') => {
                            self.done = true;
                            return Some(Err(format!(
                                "line {}: a double quote inside a value that does not start \
                                 with one: put the whole value in quotes, with each quote \
                                 inside it written twice (\"\").",
                                self.line
                            )));
                        }
                        Some(c) => field.push(c),
                    }
                }
            }
        }
    }

    /// One line of CSV (quoted where needed), with its CRLF.
    pub fn line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
        let mut line = fields
            .map(|field| {
                if field.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", field.replace('"', "\"\""))
                } else {
                    field.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        line.push_str("\r\n");
        line
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn read(text: &str) -> Result<Vec<(u32, Vec<String>)>, String> {
            Records::new(text)
                .map(|record| record.map(|r| (r.line, r.fields)))
                .collect()
        }

        fn owned(fields: &[&str]) -> Vec<String> {
            fields.iter().map(|f| (*f).to_owned()).collect()
        }

        #[test]
        fn fields_are_split_by_commas_and_records_by_line_breaks() {
            assert_eq!(
                read("a,b,c\r\n1,2,3\n4,,6").expect("csv"),
                [
                    (1, owned(&["a", "b", "c"])),
                    (2, owned(&["1", "2", "3"])),
                    (3, owned(&["4", "", "6"]))
                ]
            );
            assert_eq!(read("a\n").expect("csv"), [(1, owned(&["a"]))]);
            assert_eq!(read("").expect("csv"), Vec::new());
            assert_eq!(read("a\n\nb").expect("csv").len(), 3);
        }

        #[test]
        fn quoted_fields_hold_commas_quotes_and_line_breaks() {
            assert_eq!(
                read("\"Jane, \"\"J\"\" Doe\",\"two\nlines\",x\r\nnext,\"\",\"\"\"\"\n")
                    .expect("csv"),
                [
                    (1, owned(&["Jane, \"J\" Doe", "two\nlines", "x"])),
                    (3, owned(&["next", "", "\""]))
                ]
            );
        }

        #[test]
        fn malformed_quotes_are_refused_naming_the_line() {
            let error = read("a,b\n1,\"open\n2,3\n").expect_err("unclosed");
            assert!(error.starts_with("line 2:"), "{error}");
            let error = read("a\nb\n\"x\"y\n").expect_err("after the quote");
            assert!(error.starts_with("line 3:"), "{error}");
            let error = read("a\nab\"c\n").expect_err("a quote inside");
            assert!(error.starts_with("line 2:"), "{error}");
        }

        #[test]
        fn written_lines_read_back() {
            let fields = ["plain", "with, comma", "with \"quote\"", "two\nlines", ""];
            let text = line(fields.iter().copied());
            assert_eq!(read(&text).expect("csv"), [(1, owned(&fields))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Vec<String> {
        vec![
            "demo-gold-swing".to_owned(),
            "demo-eurusd-scalper".to_owned(),
        ]
    }

    fn owners() -> Owners {
        let mut owners = Owners::default();
        owners.add_user(UserId(1), "admin", Role::Admin);
        owners.add_user(UserId(2), "Trader", Role::Trader);
        owners.add_user(UserId(3), "jane", Role::Trader);
        owners.add_email(UserId(3), "jane", "Jane@Example.com");
        owners.add_user(UserId(4), "twin-a", Role::Trader);
        owners.add_user(UserId(5), "twin-b", Role::Trader);
        owners.add_email(UserId(4), "twin-a", "twins@example.com");
        owners.add_email(UserId(5), "twin-b", "twins@example.com");
        owners
    }

    const HEADER: &str = "id,name,connection,account,preset,phase,owner,initial_balance,currency";

    fn csv_rows(lines: &[&str]) -> Vec<ParsedRow> {
        let text = format!("{HEADER}\n{}\n", lines.join("\n"));
        parse(text.as_bytes(), Format::Csv).expect("rows")
    }

    fn checked(rows: &[ParsedRow], existing: &[&str]) -> Result<Vec<Ready>, Report> {
        let demo = demo();
        let owners = owners();
        let programs = HashMap::new();
        let existing = existing.iter().map(|id| AccountId::from(*id)).collect();
        check_rows(
            rows,
            Lookups {
                demo_accounts: Some(&demo),
                secret_key: false,
                programs: &programs,
                owners: &owners,
                existing: &existing,
                competitions: &competitions(),
            },
        )
    }

    /// `spring-cup` takes entrants; `winter-cup` started already.
    fn competitions() -> HashMap<String, Result<(), String>> {
        HashMap::from([
            ("spring-cup".to_owned(), Ok(())),
            (
                "winter-cup".to_owned(),
                Err(
                    "competition \"winter-cup\" started at 2026-12-01 00:00 UTC: its entrants \
                     are fixed now."
                        .to_owned(),
                ),
            ),
        ])
    }

    fn fields(report: &Report) -> Vec<(u32, &str)> {
        report
            .problems
            .iter()
            .map(|p| (p.row, p.field.as_str()))
            .collect()
    }

    #[test]
    fn good_rows_are_ready_with_their_owners_by_username_or_email() {
        let rows = csv_rows(&[
            "a-one,A One,demo,demo-gold-swing,ftmo-2step,,trader,100000,USD",
            "a-two,\"Two, Inc\",Demo,demo-gold-swing,ftmo-2step,Phase 2,JANE@example.com,25000.50,USD",
            "a-three,Three,demo,demo-eurusd-scalper,ftmo-2step,,,50000,USD",
        ]);
        let ready = checked(&rows, &[]).expect("ready");
        assert_eq!(ready.len(), 3);
        assert_eq!(ready[0].owner, Some(UserId(2)));
        assert_eq!(ready[1].owner, Some(UserId(3)));
        assert_eq!(ready[1].checked.name, "Two, Inc");
        assert_eq!(ready[1].checked.preset, "ftmo-2step-phase2");
        assert_eq!(ready[2].owner, None);
        assert_eq!(ready[2].row, 3);
    }

    #[test]
    fn rows_enter_competitions_not_started_and_never_on_a_program() {
        let text = "id,name,connection,account,preset,program,initial_balance,currency,competition\n\
                    c-one,One,demo,demo-gold-swing,ftmo-2step,,100000,USD,spring-cup\n\
                    c-two,Two,demo,demo-gold-swing,ftmo-2step,,100000,USD,\n";
        let rows = parse(text.as_bytes(), Format::Csv).expect("rows");
        let ready = checked(&rows, &[]).expect("ready");
        assert_eq!(ready[0].competition.as_deref(), Some("spring-cup"));
        assert_eq!(ready[1].competition, None);

        let text = "id,name,connection,account,preset,program,initial_balance,currency,competition\n\
                    c-one,One,demo,demo-gold-swing,ftmo-2step,,100000,USD,autumn-cup\n\
                    c-two,Two,demo,demo-gold-swing,ftmo-2step,,100000,USD,winter-cup\n\
                    c-three,Three,demo,demo-gold-swing,,some-program,100000,USD,spring-cup\n";
        let rows = parse(text.as_bytes(), Format::Csv).expect("rows");
        let report = checked(&rows, &[]).expect_err("refused");
        let competition: Vec<(u32, &str)> = report
            .problems
            .iter()
            .filter(|p| p.field == "competition")
            .map(|p| (p.row, p.message.as_str()))
            .collect();
        assert_eq!(competition.len(), 3, "{competition:?}");
        assert!(competition[0].1.contains("no competition \"autumn-cup\""));
        assert!(competition[1].1.contains("started at"));
        assert!(competition[2].1.contains("on a program"));
    }

    #[test]
    fn every_bad_row_and_field_is_named() {
        let rows = csv_rows(&[
            "ok-row,OK,demo,demo-gold-swing,ftmo-2step,,,100000,USD",
            "bad-owner,X,demo,demo-gold-swing,ftmo-2step,,nobody,100000,USD",
            "Bad Id,,demo,demo-nowhere,ftmo-2step,Phase 9,admin,lots,usd",
            "dup-id,X,demo,demo-gold-swing,ftmo-2step,,,100000,EUR",
            "dup-id,X,demo,demo-gold-swing,ftmo-2step,,twins@example.com,100000,USD",
            "taken,X,carrier-pigeon,,,,,0,USD",
        ]);
        let report = checked(&rows, &["taken"]).expect_err("refused");
        assert_eq!(
            fields(&report),
            [
                (2, "owner"),
                (3, "id"),
                (3, "name"),
                (3, "account"),
                (3, "phase"),
                (3, "owner"),
                (3, "initial_balance"),
                (3, "currency"),
                (4, "id"),
                (4, "currency"),
                (5, "id"),
                (5, "owner"),
                (6, "id"),
                (6, "connection"),
                (6, "preset"),
                (6, "initial_balance"),
            ],
            "{:#?}",
            report.problems
        );
        assert_eq!((report.rows, report.bad_rows), (6, 5));
        let message = |row: u32, field: &str| {
            report
                .problems
                .iter()
                .find(|p| p.row == row && p.field == field)
                .map(|p| p.message.clone())
                .unwrap_or_default()
        };
        assert!(message(2, "owner").contains("no user \"nobody\""));
        assert!(message(3, "owner").contains("admin"));
        assert!(message(4, "id").contains("rows 4, 5"));
        assert!(message(5, "owner").contains("twin-a, twin-b"));
        assert!(message(6, "id").contains("exists already"));
        assert!(message(6, "connection").contains("\"carrier-pigeon\""));
        assert_eq!(report.problems[0].line, Some(3), "the header is line 1");
        assert_eq!(report.problems[0].id.as_deref(), Some("bad-owner"));
        let refused = report.refused();
        assert_eq!(refused.error, "invalid");
        assert!(refused.message.starts_with("5 of 6 rows have problems"));
    }

    #[test]
    fn a_metaapi_row_without_a_secret_key_names_its_token() {
        let text = "id,name,connection,account,token,preset,initial_balance,currency\n\
                    m-one,M,metaapi,abc,s3cret-token,ftmo-2step,100000,USD\n";
        let rows = parse(text.as_bytes(), Format::Csv).expect("rows");
        let report = checked(&rows, &[]).expect_err("no key");
        assert_eq!(fields(&report), [(1, "token")]);
        assert!(!format!("{report:?}").contains("s3cret"));
    }

    #[test]
    fn json_rows_read_as_csv_rows_do() {
        let body = r#"{"rows": [
            {"id": "j-one", "name": "J", "connection": "demo", "account": "demo-gold-swing",
             "preset": "ftmo-2step", "initial_balance": 100000, "currency": "USD"},
            {"id": "j-two", "name": "J", "connection": "demo", "account": "demo-gold-swing",
             "preset": "ftmo-2step", "initial_balance": "1000", "currency": "USD",
             "colour": "red", "owner": true},
            "not a row"
        ]}"#;
        let rows = parse(body.as_bytes(), Format::Json).expect("rows");
        assert_eq!(rows[0].row.initial_balance.as_deref(), Some("100000"));
        let report = checked(&rows, &[]).expect_err("refused");
        assert_eq!(
            fields(&report),
            [(2, "owner"), (2, "colour"), (3, "row")],
            "{:#?}",
            report.problems
        );
        let bare = parse(
            br#"[{"id": "b-one", "name": "B", "connection": "demo", "account": "demo-gold-swing",
                 "preset": "ftmo-2step", "initial_balance": "5000", "currency": "USD"}]"#,
            Format::Json,
        )
        .expect("a bare array");
        assert_eq!(checked(&bare, &[]).expect("ready").len(), 1);
    }

    #[track_caller]
    fn refused_file(body: &str, format: Format, syntax: bool, says: &str) {
        match parse(body.as_bytes(), format) {
            Err(FileError::Syntax(message)) if syntax => {
                assert!(message.contains(says), "{message}")
            }
            Err(FileError::Shape(message)) if !syntax => {
                assert!(message.contains(says), "{message}")
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }

    #[test]
    fn malformed_files_are_refused_naming_the_line() {
        use Format::{Csv, Json};
        refused_file("", Csv, false, "empty");
        refused_file(&format!("{HEADER}\n"), Csv, false, "no rows");
        refused_file(&format!("{HEADER},colour\n"), Csv, false, "\"colour\"");
        refused_file("id,name,id\n", Csv, false, "\"id\" twice");
        refused_file("id,name\n", Csv, false, "no column \"connection\"");
        refused_file(&format!("{HEADER}\na,b\n"), Csv, true, "line 2: 2 fields");
        refused_file(
            &format!("{HEADER}\n\n\"a\n,b,c,d,e,f,g,h,i\n"),
            Csv,
            true,
            "line 3: a quoted value is never closed",
        );
        refused_file(
            "\u{feff}id,name,connection,initial_balance,currency\n",
            Csv,
            false,
            "no rows",
        );
        match parse(b"id\n\xff\n", Csv) {
            Err(FileError::Syntax(message)) => assert!(message.contains("line 2"), "{message}"),
            other => panic!("{other:?}"),
        }
        refused_file("{\"rows\": [", Json, true, "line 1");
        refused_file("{\"rows\": {}}", Json, false, "rows: give an array");
        refused_file("{\"rows\": [], \"x\": 1}", Json, false, "\"x\"");
        refused_file("{\"rows\": []}", Json, false, "no rows");
        refused_file("7", Json, false, "Send");
        let many = format!(
            "{HEADER}\n{}",
            "a,b,demo,c,d,e,f,1,USD\n".repeat(MAX_ROWS + 1)
        );
        refused_file(&many, Csv, false, "more than 10000 rows");
    }

    #[test]
    fn the_template_reads_back_as_a_good_row() {
        let text = template(Some("demo-gold-swing"));
        assert!(text.starts_with("id,name,connection,account,"));
        let rows = parse(text.as_bytes(), Format::Csv).expect("rows");
        let ready = checked(&rows, &[]).expect("the example is good");
        assert_eq!(ready[0].checked.name, "Jane's FTMO 100k");
        assert_eq!(ready[0].owner, Some(UserId(2)));
        let rows = parse(template(None).as_bytes(), Format::Csv).expect("rows");
        assert_eq!(rows[0].row.connection.as_deref(), Some("metaapi"));
    }

    fn job(accounts: usize) -> Job {
        Job {
            id: "j".into(),
            created_by: "admin".into(),
            started_at: Utc::now(),
            started: Instant::now(),
            rows: (1..=count(accounts)).collect(),
            accounts: (0..accounts).map(|i| AccountId(format!("a{i}"))).collect(),
            checked: Duration::ZERO,
            written: Duration::ZERO,
            launched: Duration::ZERO,
            progress: Mutex::new(Progress {
                live: vec![false; accounts],
                not_started: HashMap::from([(3, "cannot start the tracker: no".to_owned())]),
                reasons: HashMap::from([(2, "the broker refused".to_owned())]),
                looked: HashMap::new(),
                finished_at: None,
            }),
        }
    }

    #[test]
    fn progress_counts_each_feed_and_estimates_the_time_left() {
        use FeedStatus::{Backfilling, Connecting, Live, Stale};
        let job = job(6);
        let at = Utc::now();
        let view = job.view_at(
            &[
                Some(Live),
                Some(Connecting),
                Some(Stale),
                Some(Connecting),
                Some(Backfilling),
                Some(Stale),
            ],
            at,
            Duration::from_secs(8),
        );
        assert_eq!(
            (view.total, view.live, view.connecting, view.backfilling),
            (6, 1, 1, 1)
        );
        assert_eq!(
            view.failed
                .iter()
                .map(|f| (f.row, f.reason.as_str()))
                .collect::<Vec<_>>(),
            [
                (3, "the broker refused"),
                (4, "cannot start the tracker: no"),
                (6, STALE_WITHOUT_REASON)
            ]
        );
        assert_eq!(view.done, 4);
        assert_eq!(view.seconds_left, Some(4), "2 s an account, 2 to go");
        assert_eq!(view.finished_at, None);
        // Live once, done for good; the last ones done finish it.
        let view = job.view_at(
            &[Some(Stale), Some(Live), Some(Live), None, Some(Live), None],
            at,
            Duration::from_secs(9),
        );
        assert_eq!((view.live, view.done, view.failed.len()), (4, 6, 2));
        assert_eq!(
            view.failed[1].reason,
            "it is no longer tracked on this server"
        );
        assert_eq!((view.finished_at, view.seconds_left), (Some(at), None));
    }

    #[test]
    fn imports_keep_the_latest_jobs() {
        let imports = Imports::default();
        for i in 0..(KEPT_JOBS + 3) {
            let mut job = job(0);
            job.id = format!("j{i}");
            imports.add(Arc::new(job));
        }
        let recent = imports.recent();
        assert_eq!(recent.len(), KEPT_JOBS);
        assert_eq!(recent[0].id, format!("j{}", KEPT_JOBS + 2));
        assert!(imports.get("j0").is_none());
        assert!(imports.get("j5").is_some());
    }
}
