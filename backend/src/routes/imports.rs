//! Importing accounts (admins): a CSV file or JSON rows checked whole (every bad row and field
//! named, nothing written), or created in one transaction and tracked at once; an import's
//! progress; the CSV template. The work is `crate::imports`'.

use super::audit;
use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use crate::imports::{self, FileError, Format, ImportError};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::api::{ImportJob, ImportReport, ImportsResponse};
use std::time::Instant;

/// `POST /api/imports`'s query.
#[derive(Debug, Default, Deserialize)]
pub struct ImportQuery {
    dry_run: Option<String>,
}

/// `POST /api/imports`: checks every row of the file (`?dry_run=true`: only that), then
/// creates every account in one transaction and starts tracking them: 201 with the import's
/// progress, or 422 naming every bad row and field (nothing written).
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    query: Result<Query<ImportQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|_| {
        AppError::BadRequest("The query string is malformed: use dry_run=true or false.".into())
    })?;
    let dry_run = match query.dry_run.as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "dry_run {other:?} is not true or false."
            )));
        }
    };
    let format = format_of(request.headers())?;
    let body = axum::body::Bytes::from_request(request, &state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(format!(
                "The file is larger than the {} MiB accepted: import it in several files.",
                imports::MAX_BODY_BYTES / (1024 * 1024)
            )),
            _ => AppError::BadRequest(rejection.body_text()),
        })?;
    let rows = imports::parse(&body, format).map_err(|error| match error {
        FileError::Syntax(message) => AppError::BadRequest(message),
        FileError::Shape(message) => AppError::Unprocessable(message),
    })?;
    let started = Instant::now();
    let ready = match imports::check(&state.launcher, &rows).await {
        Ok(ready) => ready,
        Err(error) => return refusal(error),
    };
    let checked = started.elapsed();
    if dry_run {
        return Ok(Json(ImportReport {
            rows: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            bad_rows: 0,
            problems: Vec::new(),
            checked_ms: u64::try_from(checked.as_millis()).unwrap_or(u64::MAX),
        })
        .into_response());
    }
    // Its own task: a client that hangs up does not stop an import half-way (the accounts
    // written but not all tracked, or not audited).
    let task_state = state.clone();
    let job = tokio::spawn(async move {
        let state = task_state;
        let written =
            imports::write(&state.launcher, admin.user.username.clone(), ready, checked).await?;
        // Audited as soon as written, before the new trackers' writes queue up; the accounts
        // are tracked whatever the audit log answers.
        let after = serde_json::json!({
            "import": written.id,
            "count": written.accounts.len(),
            "ids": written.accounts,
        });
        let audited = audit(
            &state,
            &admin,
            "accounts.import",
            format!("import:{}", written.id),
            None::<&()>,
            Some(&after),
        )
        .await;
        let entries = written.entries();
        let job = imports::start(&state.launcher, &state.imports, written).await;
        enter_competitions(&state, &admin, entries).await;
        Ok::<_, ImportError>((job, audited))
    })
    .await
    .map_err(|error| AppError::Internal(format!("the import task failed: {error}")))?;
    let job = match job {
        Ok((job, audited)) => {
            audited?;
            job
        }
        Err(error) => return refusal(error),
    };
    let location = format!("/api/imports/{}", job.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(job.view(&state.hub)),
    )
        .into_response())
}

/// Enters the imported accounts in the competitions their rows name (checked not started when
/// the rows were; one that started meanwhile is logged, its accounts created all the same).
async fn enter_competitions(
    state: &AppState,
    admin: &crate::auth::CurrentUser,
    entries: Vec<(String, Vec<shared::domain::AccountId>)>,
) {
    for (competition, accounts) in entries {
        match state
            .store
            .change_entries(&competition, &accounts, &[], chrono::Utc::now())
            .await
        {
            Ok(Some(_)) => {
                if let Err(error) = state.competitions.reload(&competition).await {
                    tracing::error!(%competition, %error, "cannot reload a competition");
                }
                let after = serde_json::json!({ "add": accounts });
                if let Err(error) = audit(
                    state,
                    admin,
                    "competition.entries",
                    format!("competition:{competition}"),
                    None::<&()>,
                    Some(&after),
                )
                .await
                {
                    tracing::error!(%competition, %error, "cannot audit imported entrants");
                }
            }
            Ok(None) => tracing::warn!(
                %competition,
                accounts = accounts.len(),
                "the competition started during the import: its imported accounts were not entered"
            ),
            Err(error) => tracing::error!(
                %competition,
                %error,
                "the imported accounts could not be entered in the competition"
            ),
        }
    }
}

/// An import that did not start, as the caller sees it.
fn refusal(error: ImportError) -> Result<Response, AppError> {
    match error {
        ImportError::Refused(report) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(report.refused())).into_response())
        }
        ImportError::File(FileError::Syntax(message)) => Err(AppError::BadRequest(message)),
        ImportError::File(FileError::Shape(message)) => Err(AppError::Unprocessable(message)),
        ImportError::Store(error) => Err(AppError::Database(error)),
        ImportError::Internal(message) => Err(AppError::Internal(message)),
    }
}

/// How the body is written, from its `content-type`.
fn format_of(headers: &axum::http::HeaderMap) -> Result<Format, AppError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        json if json.starts_with("application/") && json.ends_with("+json") => Ok(Format::Json),
        "text/csv" | "application/csv" => Ok(Format::Csv),
        _ => Err(AppError::UnsupportedMediaType(
            "Send a CSV file with the header content-type: text/csv, or the rows as JSON with \
             content-type: application/json."
                .to_owned(),
        )),
    }
}

/// `GET /api/imports`: the recent imports of this server, newest first.
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Json<ImportsResponse> {
    Json(ImportsResponse {
        imports: state
            .imports
            .recent()
            .iter()
            .map(|job| job.view(&state.hub))
            .collect(),
    })
}

/// `GET /api/imports/{import}`: one import's progress.
pub async fn progress(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ImportJob>, AppError> {
    let job = state.imports.get(&id).ok_or_else(|| {
        AppError::NotFound(format!(
            "There is no import {id:?} on this server (the last {} imports are kept until \
             the server restarts; the audit log names the accounts of every import).",
            imports::KEPT_JOBS
        ))
    })?;
    Ok(Json(job.read(&state.hub, state.store.as_ref()).await?))
}

/// `GET /api/imports/template.csv`: the columns and an example row.
pub async fn template(State(state): State<AppState>, _admin: AdminUser) -> Response {
    let demo = state
        .launcher
        .demo
        .as_ref()
        .and_then(|demo| demo.broker.accounts().into_iter().next())
        .map(|account| account.id);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"riskdeck-import-template.csv\"",
            ),
        ],
        imports::template(demo.as_deref()),
    )
        .into_response()
}
