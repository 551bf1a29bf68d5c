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

/// Where a pass stands on its way to the next phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromotionStatus {
    /// An admin is to approve (or reject) it.
    AwaitingApproval,
    /// Approved (or automatic): the next phase starts on the same account at the tracker's next
    /// turn.
    Approved,
    /// The next phase is on a new account the admin is to connect.
    AwaitingAccount,
    /// The next phase has started.
    Done,
    /// An admin rejected it: the trader stays on the passed phase.
    Rejected,
}

impl PromotionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
            Self::AwaitingAccount => "awaiting_account",
            Self::Done => "done",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::AwaitingApproval,
            Self::Approved,
            Self::AwaitingAccount,
            Self::Done,
            Self::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Still waiting for someone or something.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Done | Self::Rejected)
    }
}

/// A passed phase's way to the next: one per (account, phase), so a pass is promoted once
/// whatever restarts or instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promotion {
    /// The account that passed.
    pub account: AccountId,
    /// The phase it passed (0-based) and the next one.
    pub phase: u32,
    pub next_phase: u32,
    pub program: String,
    pub version: u32,
    pub journey: String,
    pub passed_at: DateTime<Utc>,
    /// Whether the next phase is on the same account.
    pub same_account: bool,
    /// Whether an admin approves it.
    pub approval: bool,
    pub status: PromotionStatus,
    /// The account the next phase is on, once it started.
    pub next_account: Option<AccountId>,
    /// Who approved, rejected or connected the next account, and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A finished phase of a journey, kept when the next starts on the same account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseRecord {
    pub account: AccountId,
    pub phase: u32,
    pub journey: String,
    pub program: String,
    pub version: u32,
    /// `passed` (or `failed`).
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    /// The challenge's saved state when the phase ended.
    pub state_json: String,
}

pub(crate) const PROMOTION_SELECT: &str =
    "SELECT account_id, phase, next_phase, program_id, version, journey,
         passed_at_ms, same_account, approval, status, next_account, decided_by, decided_at_ms
     FROM promotions";

pub(crate) type PromotionRow = (
    String,
    i64,
    i64,
    String,
    i64,
    String,
    i64,
    bool,
    bool,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn promotion_from_row(row: PromotionRow) -> Result<Promotion, crate::StoreError> {
    let (
        account,
        phase,
        next,
        program,
        version,
        journey,
        passed,
        same,
        approval,
        status,
        next_account,
        by,
        at,
    ) = row;
    Ok(Promotion {
        account: AccountId(account),
        phase: number("promotions.phase", phase)?,
        next_phase: number("promotions.next_phase", next)?,
        program,
        version: number("promotions.version", version)?,
        journey,
        passed_at: crate::time_from_ms(passed)?,
        same_account: same,
        approval,
        status: PromotionStatus::parse(&status).ok_or(crate::StoreError::Corrupt {
            column: "promotions.status",
            value: status,
        })?,
        next_account: next_account.map(AccountId),
        decided_by: by,
        decided_at: at.map(crate::time_from_ms).transpose()?,
    })
}

pub(crate) const PHASE_SELECT: &str =
    "SELECT account_id, phase, journey, program_id, version, status,
         started_at_ms, ended_at_ms, state_json
     FROM phase_records";

pub(crate) type PhaseRow = (
    String,
    i64,
    String,
    String,
    i64,
    String,
    Option<i64>,
    i64,
    String,
);

pub(crate) fn phase_from_row(row: PhaseRow) -> Result<PhaseRecord, crate::StoreError> {
    let (account, phase, journey, program, version, status, started, ended, state_json) = row;
    Ok(PhaseRecord {
        account: AccountId(account),
        phase: number("phase_records.phase", phase)?,
        journey,
        program,
        version: number("phase_records.version", version)?,
        status,
        started_at: started.map(crate::time_from_ms).transpose()?,
        ended_at: crate::time_from_ms(ended)?,
        state_json,
    })
}
