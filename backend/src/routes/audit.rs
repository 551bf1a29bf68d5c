//! The audit log, for admins: a filtered page as JSON, or every matching entry as CSV.

use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::api::{AuditEntryView, AuditResponse};
use store::{AuditFilter, AuditRecord, MAX_AUDIT_PAGE};

/// Entries returned when the caller does not say.
const DEFAULT_AUDIT_PAGE: u32 = 100;
/// The most entries one CSV export holds.
const MAX_CSV_ENTRIES: usize = 100_000;
/// The longest filter value accepted.
const MAX_FILTER_CHARS: usize = 200;

/// Every parameter as text, checked by hand so that a bad value gets the API's error body.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    account: Option<String>,
    subject: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before_id: Option<String>,
    limit: Option<String>,
}

/// `GET /api/audit`: a page of the audit log, newest first.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditResponse>, AppError> {
    let filter = audit_filter(&parsed(query)?)?;
    let records = state.store.audit_log(&filter).await?;
    let next_before_id = (records.len() == filter.limit as usize)
        .then(|| records.last().map(|record| record.id))
        .flatten();
    Ok(Json(AuditResponse {
        entries: records.into_iter().map(view).collect(),
        next_before_id,
    }))
}

/// `GET /api/audit.csv`: every entry that matches the filters, newest first, as CSV (at most
/// 100,000; `before_id` starts the export below that id, `limit` is not used).
pub async fn csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let mut filter = audit_filter(&parsed(query)?)?;
    filter.limit = MAX_AUDIT_PAGE;
    let mut text = String::from("id,time,actor,action,subject,reason,before,after\r\n");
    let mut written = 0;
    loop {
        let page = state.store.audit_log(&filter).await?;
        let full = page.len() == MAX_AUDIT_PAGE as usize;
        filter.before_id = page.last().map(|record| record.id);
        for record in page {
            write_row(&mut text, &view(record));
            written += 1;
        }
        if !full || written >= MAX_CSV_ENTRIES {
            break;
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"riskdeck-audit.csv\"",
            ),
        ],
        text,
    )
        .into_response())
}

fn parsed(query: Result<Query<AuditQuery>, QueryRejection>) -> Result<AuditQuery, AppError> {
    query.map(|Query(query)| query).map_err(|_| {
        AppError::BadRequest(
            "The query string is malformed: use actor, action, account (or subject), from, to, \
             before_id and limit."
                .into(),
        )
    })
}

fn view(record: AuditRecord) -> AuditEntryView {
    let entry = record.entry;
    AuditEntryView {
        id: record.id,
        time: entry.time,
        actor: entry.actor,
        action: entry.action,
        subject: entry.subject,
        before: entry.before,
        after: entry.after,
        reason: entry.reason,
    }
}

/// The checked filter of an audit request; empty values mean "any".
fn audit_filter(query: &AuditQuery) -> Result<AuditFilter, AppError> {
    let text = |name: &str, value: &Option<String>| -> Result<Option<String>, AppError> {
        match value.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(value) if value.chars().count() > MAX_FILTER_CHARS => Err(AppError::BadRequest(
                format!("{name} must be at most {MAX_FILTER_CHARS} characters."),
            )),
            Some(value) => Ok(Some(value.to_owned())),
        }
    };
    let instant = |name: &str, value: &Option<String>| -> Result<Option<DateTime<Utc>>, AppError> {
        text(name, value)?
            .map(|value| {
                DateTime::parse_from_rfc3339(&value)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        AppError::BadRequest(format!(
                            "{name} must be an RFC 3339 time such as 2026-11-21T09:00:00Z."
                        ))
                    })
            })
            .transpose()
    };
    let subject = match (
        text("account", &query.account)?,
        text("subject", &query.subject)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(AppError::BadRequest(
                "Give account or subject, not both (account=ID is subject=account:ID).".into(),
            ));
        }
        (Some(account), None) => Some(format!("account:{account}")),
        (None, subject) => subject,
    };
    let from = instant("from", &query.from)?;
    let to = instant("to", &query.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(AppError::BadRequest("from must not be after to.".into()));
    }
    let before_id = text("before_id", &query.before_id)?
        .map(|value| {
            value.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                AppError::BadRequest(
                    "before_id must be an entry id (a whole number, 1 or more).".into(),
                )
            })
        })
        .transpose()?;
    let limit = match text("limit", &query.limit)? {
        None => DEFAULT_AUDIT_PAGE,
        Some(value) => value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_AUDIT_PAGE}."
                ))
            })?,
    };
    Ok(AuditFilter {
        actor: text("actor", &query.actor)?,
        action: text("action", &query.action)?,
        subject,
        from,
        to,
        before_id,
        limit,
    })
}

/// Appends one CSV row (RFC 4180, CRLF line ends).
fn write_row(out: &mut String, entry: &AuditEntryView) {
    let json = |value: &Option<serde_json::Value>| {
        value
            .as_ref()
            .map(serde_json::Value::to_string)
            .unwrap_or_default()
    };
    let cells = [
        entry.id.to_string(),
        entry
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        entry.actor.clone(),
        entry.action.clone(),
        entry.subject.clone(),
        entry.reason.clone().unwrap_or_default(),
        json(&entry.before),
        json(&entry.after),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// Appends one cell, always quoted (quotes doubled), so commas, quotes and line breaks stay
/// inside it. A cell a spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading `'`, so opening the export runs nothing.
fn push_cell(out: &mut String, cell: &str) {
    out.push('"');
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn cell(text: &str, expected: &str) {
        let mut out = String::new();
        push_cell(&mut out, text);
        assert_eq!(out, expected);
    }

    #[test]
    fn csv_cells_are_quoted_and_cannot_start_a_formula() {
        cell("plain", "\"plain\"");
        cell("", "\"\"");
        cell("a,b", "\"a,b\"");
        cell("say \"hi\"", "\"say \"\"hi\"\"\"");
        cell("two\nlines", "\"two\nlines\"");
        cell("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
        cell("+1", "\"'+1\"");
        cell("-1", "\"'-1\"");
        cell("@SUM(A1)", "\"'@SUM(A1)\"");
        cell("\tx", "\"'\tx\"");
        cell("a=b", "\"a=b\"");
    }

    #[track_caller]
    fn check(query: AuditQuery, expected: Result<AuditFilter, &str>) {
        match (audit_filter(&query), expected) {
            (Ok(filter), Ok(expected)) => assert_eq!(filter, expected),
            (Err(AppError::BadRequest(message)), Err(expected)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}");
            }
            (other, expected) => panic!("{other:?} is not {expected:?}"),
        }
    }

    #[test]
    fn audit_filters_are_checked_with_clear_messages() {
        let some = |s: &str| Some(s.to_owned());
        check(
            AuditQuery::default(),
            Ok(AuditFilter {
                limit: 100,
                ..AuditFilter::default()
            }),
        );
        check(
            AuditQuery {
                actor: some(" admin "),
                account: some("ftmo-100k"),
                action: some(""),
                before_id: some("7"),
                limit: some("1000"),
                ..AuditQuery::default()
            },
            Ok(AuditFilter {
                actor: some("admin"),
                subject: some("account:ftmo-100k"),
                before_id: Some(7),
                limit: 1000,
                ..AuditFilter::default()
            }),
        );
        check(
            AuditQuery {
                account: some("a"),
                subject: some("user:1"),
                ..AuditQuery::default()
            },
            Err("not both"),
        );
        check(
            AuditQuery {
                from: some("yesterday"),
                ..AuditQuery::default()
            },
            Err("from must be an RFC 3339"),
        );
        check(
            AuditQuery {
                from: some("2026-01-02T00:00:00Z"),
                to: some("2026-01-01T00:00:00Z"),
                ..AuditQuery::default()
            },
            Err("from must not be after to"),
        );
        check(
            AuditQuery {
                limit: some("0"),
                ..AuditQuery::default()
            },
            Err("from 1 to 1000"),
        );
        check(
            AuditQuery {
                before_id: some("-3"),
                ..AuditQuery::default()
            },
            Err("before_id must be"),
        );
        check(
            AuditQuery {
                actor: some(&"x".repeat(201)),
                ..AuditQuery::default()
            },
            Err("at most 200"),
        );
    }
}
