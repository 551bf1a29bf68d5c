//! The firm's programs ([`crate::Programs`]): each program's versions (its definition as JSON,
//! append-only) and the challenges enrolled on one (program, version, phase, and the journey
//! that keeps one trader's history across phases). Reading and checking programs is
//! `shared::programs`' work; the store keeps the JSON it is given.

use chrono::{DateTime, Utc};
use shared::domain::AccountId;

/// A program as stored, with its latest version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProgram {
    /// A slug, unique.
    pub id: String,
    /// The built-in template it started from.
    pub template: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Its latest version.
    pub latest: ProgramVersion,
}

/// One version of a program: never changed once stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramVersion {
    /// 1, 2, ...
    pub version: u32,
    /// The program (`shared::programs::ProgramDraft` as JSON).
    pub definition_json: String,
    /// How it reached challenges (`shared::api::ProgramApply` as JSON).
    pub apply_json: String,
    /// How many running challenges it was applied to.
    pub applied_to: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A challenge on a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrollment {
    pub account: AccountId,
    pub program: String,
    /// The program version its rules come from.
    pub version: u32,
    /// Its phase, 0-based.
    pub phase: u32,
    /// One trader's way through the program's phases: the id of the journey's first account,
    /// shared by every account (phase) that follows it.
    pub journey: String,
    pub enrolled_at: DateTime<Utc>,
}

pub(crate) const PROGRAM_SELECT: &str =
    "SELECT p.id, p.template, p.created_by, p.created_at_ms, v.version, v.definition, v.apply_json,
         v.applied_to, v.created_by, v.created_at_ms
     FROM programs p
     JOIN program_versions v ON v.program_id = p.id
         AND v.version = (SELECT MAX(version) FROM program_versions WHERE program_id = p.id)";

pub(crate) type ProgramRow = (
    String,
    Option<String>,
    String,
    i64,
    i64,
    String,
    String,
    i64,
    String,
    i64,
);

pub(crate) fn program_from_row(row: ProgramRow) -> Result<StoredProgram, crate::StoreError> {
    let (id, template, created_by, created_ms, version, definition, apply, applied, by, at) = row;
    Ok(StoredProgram {
        id,
        template,
        created_by,
        created_at: crate::time_from_ms(created_ms)?,
        latest: version_from_row((version, definition, apply, applied, by, at))?,
    })
}

pub(crate) const VERSION_SELECT: &str =
    "SELECT version, definition, apply_json, applied_to, created_by, created_at_ms
     FROM program_versions";

pub(crate) type VersionRow = (i64, String, String, i64, String, i64);

pub(crate) fn version_from_row(row: VersionRow) -> Result<ProgramVersion, crate::StoreError> {
    let (version, definition_json, apply_json, applied, created_by, at) = row;
    Ok(ProgramVersion {
        version: number("program_versions.version", version)?,
        definition_json,
        apply_json,
        applied_to: number("program_versions.applied_to", applied)?,
        created_by,
        created_at: crate::time_from_ms(at)?,
    })
}

pub(crate) const ENROLLMENT_SELECT: &str =
    "SELECT account_id, program_id, version, phase, journey, enrolled_at_ms
     FROM program_enrollments";

pub(crate) type EnrollmentRow = (String, String, i64, i64, String, i64);

pub(crate) fn enrollment_from_row(row: EnrollmentRow) -> Result<Enrollment, crate::StoreError> {
    let (account, program, version, phase, journey, at) = row;
    Ok(Enrollment {
        account: AccountId(account),
        program,
        version: number("program_enrollments.version", version)?,
        phase: number("program_enrollments.phase", phase)?,
        journey,
        enrolled_at: crate::time_from_ms(at)?,
    })
}

fn number(column: &'static str, value: i64) -> Result<u32, crate::StoreError> {
    u32::try_from(value).map_err(|_| crate::StoreError::Corrupt {
        column,
        value: value.to_string(),
    })
}
