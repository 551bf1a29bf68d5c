//! The firm's programs, for admins: list (with the built-in templates), create from a template
//! or from scratch, one program with its versions and challenges, the what-if of a new version
//! over the running challenges, and saving a version for new challenges only or for the running
//! ones from an instant (refused, naming them, when it cannot apply to some). Every change is
//! written to the audit log. And the promotions of passed phases: listed, approved or rejected.

use super::{JsonBody, audit};
use crate::AppState;
use crate::auth::AdminUser;
use crate::error::AppError;
use crate::programs::{self, Judged, LoadError};
use crate::tracker::{CommandError, RuleChangeRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use shared::api::{
    CreateProgramRequest, ProgramApply, ProgramChallenge, ProgramDetail, ProgramImpact,
    ProgramPhaseSummary, ProgramSaved, ProgramSummary, ProgramTemplate, ProgramVersionView,
    ProgramWhatIfRequest, ProgramWhatIfResponse, ProgramsResponse, PromotionDecision,
    PromotionState, PromotionView, PromotionsResponse, SaveProgramRequest,
};
use shared::programs::{ProgramDraft, templates};
use std::collections::HashMap;
use store::{Enrollment, ProgramVersion, StoredProgram};

impl From<programs::CreateError> for AppError {
    fn from(error: programs::CreateError) -> Self {
        match error {
            programs::CreateError::Store(error) => error.into(),
            programs::CreateError::Refused(error) => refused(&error),
            programs::CreateError::Exists(id) => AppError::Conflict(format!(
                "id: a program {id:?} exists already; choose another id."
            )),
            programs::CreateError::Encode(error) => AppError::Internal(error),
        }
    }
}

impl From<LoadError> for AppError {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Store(error) => error.into(),
            unreadable @ LoadError::Unreadable { .. } => AppError::Internal(unreadable.to_string()),
        }
    }
}

fn refused(error: &shared::programs::ProgramError) -> AppError {
    AppError::Unprocessable(format!("The program was refused: {error}."))
}

/// The rules of a phase in a few words: each rule's id with its limit or target.
fn rules_in_words(phase: &shared::programs::PhaseDraft) -> String {
    use shared::engine::rules::{Limit, RuleKind};
    let limit = |limit: &Limit| match limit {
        Limit::PercentOfInitial(p)
        | Limit::PercentOfAnchor(p)
        | Limit::PercentOfMonthStartBalance(p) => format!("{}%", p.normalize()),
        Limit::Money(m) => m.normalize().to_string(),
    };
    let mut words: Vec<String> = phase
        .rules
        .rules
        .iter()
        .map(|rule| match &rule.kind {
            RuleKind::DailyLoss { limit: l, .. }
            | RuleKind::MaxLoss { limit: l, .. }
            | RuleKind::MonthlyLoss { limit: l, .. } => format!("{} {}", rule.id, limit(l)),
            RuleKind::ProfitTarget { target, .. } => format!("{} {}", rule.id, limit(target)),
            RuleKind::MinTradingDays { days, .. } => format!("{} {days}", rule.id),
            _ => rule.id.clone(),
        })
        .collect();
    if let Some(days) = phase.time_limit_days {
        words.push(format!("{days} days"));
    }
    words.join(", ")
}

fn summary(
    stored: &StoredProgram,
    program: &ProgramDraft,
    counts: &HashMap<u32, u32>,
) -> ProgramSummary {
    ProgramSummary {
        id: stored.id.clone(),
        name: program.name.clone(),
        description: program.description.clone(),
        version: stored.latest.version,
        template: stored.template.clone(),
        phases: program
            .phases
            .iter()
            .enumerate()
            .map(|(index, phase)| ProgramPhaseSummary {
                name: phase.name.clone(),
                funded: phase.funded,
                profit_split: phase.profit_split,
                time_limit_days: phase.time_limit_days,
                rules: rules_in_words(phase),
                challenges: u32::try_from(index)
                    .ok()
                    .and_then(|i| counts.get(&i))
                    .copied()
                    .unwrap_or(0),
            })
            .collect(),
        challenges: counts.values().sum(),
        updated_by: stored.latest.created_by.clone(),
        updated_at: stored.latest.created_at,
    }
}

fn phase_counts(enrollments: &[Enrollment], program: &str) -> HashMap<u32, u32> {
    let mut counts = HashMap::new();
    for enrollment in enrollments.iter().filter(|e| e.program == program) {
        *counts.entry(enrollment.phase).or_insert(0) += 1;
    }
    counts
}

/// `GET /api/programs`.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ProgramsResponse>, AppError> {
    let enrollments = state.store.enrollments(None).await?;
    let mut programs = Vec::new();
    for stored in state.store.programs().await? {
        let loaded = programs::parse(
            &stored.id,
            stored.latest.version,
            &stored.latest.definition_json,
        )?;
        programs.push(summary(
            &stored,
            &loaded.program,
            &phase_counts(&enrollments, &stored.id),
        ));
    }
    programs.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    Ok(Json(ProgramsResponse {
        programs,
        templates: templates()
            .into_iter()
            .map(|t| ProgramTemplate {
                id: t.id.to_owned(),
                program: t.program,
            })
            .collect(),
    }))
}

/// `POST /api/programs`: a new program (version 1) from a template or written out.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(request): JsonBody<CreateProgramRequest>,
) -> Result<(StatusCode, Json<ProgramSummary>), AppError> {
    let id = request.id.trim().to_owned();
    super::check_slug(&id, "two-step-100k")?;
    let template = match request
        .template
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(name) => Some(shared::programs::template(name).ok_or_else(|| {
            AppError::Unprocessable(format!(
                "template: there is no template {name:?}; choose one of: {}.",
                templates()
                    .iter()
                    .map(|t| t.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    let program = match (request.program, &template) {
        (Some(program), _) => program,
        (None, Some(template)) => template.program.clone(),
        (None, None) => {
            return Err(AppError::Unprocessable(
                "program: give the program, or a template to start from (GET /api/programs \
                 lists them)."
                    .to_owned(),
            ));
        }
    };
    let stored = programs::create(
        state.store.as_ref(),
        &id,
        template.as_ref().map(|t| t.id),
        &program,
        &admin.user.username,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(summary(&stored, &program, &HashMap::new())),
    ))
}

fn no_program(id: &str) -> AppError {
    AppError::NotFound(format!("There is no program {id:?}."))
}

/// `GET /api/programs/{program}`.
pub async fn detail(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ProgramDetail>, AppError> {
    let stored = state
        .store
        .program(&id)
        .await?
        .ok_or_else(|| no_program(&id))?;
    let latest = programs::parse(&id, stored.latest.version, &stored.latest.definition_json)?;
    let enrollments = state.store.enrollments(Some(&id)).await?;
    let mut versions = Vec::new();
    for version in state.store.program_versions(&id).await? {
        let loaded = programs::parse(&id, version.version, &version.definition_json)?;
        versions.push(ProgramVersionView {
            version: version.version,
            program: loaded.program,
            apply: serde_json::from_str(&version.apply_json).unwrap_or(ProgramApply::NewChallenges),
            applied_to: version.applied_to,
            created_by: version.created_by,
            created_at: version.created_at,
        });
    }
    let usernames = usernames(&state).await?;
    let mut challenges = Vec::new();
    for enrollment in &enrollments {
        let summary = state.hub.summary(&enrollment.account);
        let phase = versions
            .iter()
            .find(|v| v.version == enrollment.version)
            .and_then(|v| v.program.phases.get(enrollment.phase as usize))
            .map_or_else(
                || format!("phase {}", enrollment.phase + 1),
                |p| p.name.clone(),
            );
        let owner = state.store.account_owner(&enrollment.account).await?;
        challenges.push(ProgramChallenge {
            account: enrollment.account.as_str().to_owned(),
            name: summary
                .as_ref()
                .map_or_else(|| enrollment.account.to_string(), |s| s.name.clone()),
            phase,
            phase_index: enrollment.phase,
            version: enrollment.version,
            status: summary
                .and_then(|s| s.latest)
                .and_then(|v| v.challenge)
                .map(|c| c.status),
            owner: owner.and_then(|o| usernames.get(&o).cloned()),
        });
    }
    Ok(Json(ProgramDetail {
        summary: summary(&stored, &latest.program, &phase_counts(&enrollments, &id)),
        program: latest.program,
        versions,
        challenges,
    }))
}

/// Every running challenge of the program judged against a new version.
async fn judge_all(
    state: &AppState,
    id: &str,
    version: u32,
    program: &ProgramDraft,
) -> Result<Vec<Judged>, AppError> {
    let running = programs::running(state.store.as_ref(), &state.hub, id).await?;
    Ok(running
        .iter()
        .map(|r| programs::judge(id, version, program, r))
        .collect())
}

/// `POST /api/programs/{program}/what-if`: what a new version would do to the running
/// challenges if applied now; nothing is saved.
pub async fn what_if(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ProgramWhatIfRequest>,
) -> Result<Json<ProgramWhatIfResponse>, AppError> {
    let stored = state
        .store
        .program(&id)
        .await?
        .ok_or_else(|| no_program(&id))?;
    request.program.validate().map_err(|e| refused(&e))?;
    let judged = judge_all(&state, &id, stored.latest.version + 1, &request.program).await?;
    Ok(Json(programs::what_if(&judged)))
}

/// `POST /api/programs/{program}/versions`: saves a new version; with `apply.to = running`,
/// applies it to every running challenge of the program from `apply.from` (now when left out),
/// after checking that it applies to each of them (refused, naming those it cannot, otherwise).
pub async fn save(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<SaveProgramRequest>,
) -> Result<Json<ProgramSaved>, AppError> {
    let stored = state
        .store
        .program(&id)
        .await?
        .ok_or_else(|| no_program(&id))?;
    let before = programs::parse(&id, stored.latest.version, &stored.latest.definition_json)?;
    request.program.validate().map_err(|e| refused(&e))?;
    let version = stored.latest.version + 1;
    let (from, judged) = match request.apply {
        ProgramApply::NewChallenges => (None, Vec::new()),
        ProgramApply::Running { from } => {
            let from = super::rule_sets::effective_instant(from, Utc::now(), "apply.from")?;
            let judged = judge_all(&state, &id, version, &request.program).await?;
            let invalid: Vec<String> = judged
                .iter()
                .filter(|j| j.row.impact == ProgramImpact::Invalid)
                .map(|j| {
                    format!(
                        "{} ({}): {}",
                        j.row.account,
                        j.row.phase,
                        j.row.problem.as_deref().unwrap_or("it does not apply")
                    )
                })
                .collect();
            if !invalid.is_empty() {
                return Err(AppError::Unprocessable(format!(
                    "The new version cannot apply to {} running challenge{}, so nothing was \
                     saved: {}. Fix the version, or apply it to new challenges only.",
                    invalid.len(),
                    if invalid.len() == 1 { "" } else { "s" },
                    invalid.join("; ")
                )));
            }
            (Some(from), judged)
        }
    };
    // Challenges whose rules change take the version through their tracker; those whose
    // phase's rules are the same are moved onto it at once.
    let moved: Vec<_> = judged
        .iter()
        .filter(|j| j.link.is_some())
        .map(|j| shared::domain::AccountId::from(j.row.account.as_str()))
        .collect();
    let record = ProgramVersion {
        version,
        definition_json: serde_json::to_string(&request.program)
            .map_err(|e| AppError::Internal(e.to_string()))?,
        apply_json: serde_json::to_string(&request.apply)
            .map_err(|e| AppError::Internal(e.to_string()))?,
        applied_to: u32::try_from(moved.len()).unwrap_or(u32::MAX),
        created_by: admin.user.username.clone(),
        created_at: Utc::now(),
    };
    if !state
        .store
        .save_program_version(&id, &record, &moved)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "Another admin saved version {version} of {id} meanwhile: reload the program, \
             check their change, and save again."
        )));
    }
    let mut failed = Vec::new();
    if let Some(from) = from {
        for judged in judged.iter().filter(|j| j.link.is_some()) {
            let account = shared::domain::AccountId::from(judged.row.account.as_str());
            let Some(set) = &judged.set else {
                continue;
            };
            let change = RuleChangeRequest {
                draft: set.draft(),
                effective_from: from,
                actor: admin.user.username.clone(),
                program: judged.link.clone(),
            };
            match state.trackers.change_rules(&account, change).await {
                Ok(_) => {}
                Err(CommandError::NoChallenge) => {}
                Err(error) => {
                    tracing::error!(%account, program = %id, version, %error, "a program version did not reach a running challenge");
                    failed.push(format!("{account}: {error}"));
                }
            }
        }
    }
    audit(
        &state,
        &admin,
        "program.version",
        format!("program:{id}"),
        Some(&serde_json::json!({"version": before.version, "program": before.program})),
        Some(&serde_json::json!({
            "version": version,
            "program": request.program,
            "apply": request.apply,
            "applied_to": moved,
            "failed": failed,
        })),
    )
    .await?;
    if !failed.is_empty() {
        return Err(AppError::Unavailable(format!(
            "Version {version} was saved and applied to {} of {} running challenges; these did \
             not take it yet: {}. Save the same version again to retry them.",
            moved.len() - failed.len(),
            moved.len(),
            failed.join("; ")
        )));
    }
    Ok(Json(ProgramSaved {
        version,
        applied_to: u32::try_from(moved.len()).unwrap_or(u32::MAX),
        from,
    }))
}

fn promotion_state(status: store::PromotionStatus) -> PromotionState {
    match status {
        store::PromotionStatus::AwaitingApproval => PromotionState::AwaitingApproval,
        store::PromotionStatus::Approved => PromotionState::Approved,
        store::PromotionStatus::AwaitingAccount => PromotionState::AwaitingAccount,
        store::PromotionStatus::Done => PromotionState::Done,
        store::PromotionStatus::Rejected => PromotionState::Rejected,
    }
}

async fn promotion_view(
    state: &AppState,
    promotion: &store::Promotion,
    usernames: &HashMap<shared::api::UserId, String>,
) -> Result<PromotionView, AppError> {
    let loaded =
        programs::version(state.store.as_ref(), &promotion.program, promotion.version).await?;
    let phase = |index: u32| {
        loaded
            .as_ref()
            .and_then(|l| l.program.phases.get(index as usize))
            .map_or_else(|| format!("phase {}", index + 1), |p| p.name.clone())
    };
    let owner = state.store.account_owner(&promotion.account).await?;
    Ok(PromotionView {
        account: promotion.account.as_str().to_owned(),
        name: state
            .hub
            .summary(&promotion.account)
            .map_or_else(|| promotion.account.to_string(), |s| s.name),
        owner: owner.and_then(|o| usernames.get(&o).cloned()),
        program: promotion.program.clone(),
        program_name: loaded
            .as_ref()
            .map_or_else(|| promotion.program.clone(), |l| l.program.name.clone()),
        from_phase: phase(promotion.phase),
        to_phase: phase(promotion.next_phase),
        passed_at: promotion.passed_at,
        same_account: promotion.same_account,
        approval: promotion.approval,
        state: promotion_state(promotion.status),
        next_account: promotion
            .next_account
            .as_ref()
            .map(|a| a.as_str().to_owned()),
        decided_by: promotion.decided_by.clone(),
        decided_at: promotion.decided_at,
    })
}

async fn usernames(state: &AppState) -> Result<HashMap<shared::api::UserId, String>, AppError> {
    Ok(state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

/// `GET /api/promotions`: the open promotions first, then the latest 200.
pub async fn promotions(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<PromotionsResponse>, AppError> {
    let names = usernames(&state).await?;
    let mut promotions = Vec::new();
    for promotion in state.store.promotions(200).await? {
        promotions.push(promotion_view(&state, &promotion, &names).await?);
    }
    Ok(Json(PromotionsResponse { promotions }))
}

/// `POST /api/accounts/{account}/promotion`: approves or rejects the account's promotion that
/// awaits an approval (an approved one on the same account starts the next phase within
/// seconds; on a new account, it then awaits that account).
pub async fn decide_promotion(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<PromotionDecision>,
) -> Result<Json<PromotionView>, AppError> {
    let id = shared::domain::AccountId(account);
    super::writable(&state, &id).await?;
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if request.action.trim() == "connect" {
        return connect_next_account(state, admin, id, request).await;
    }
    let approve = match request.action.trim() {
        "approve" => true,
        "reject" if reason.is_some() => false,
        "reject" => {
            return Err(AppError::Unprocessable(
                "reason: say why the promotion is rejected (the trader's record keeps it)."
                    .to_owned(),
            ));
        }
        other => {
            return Err(AppError::Unprocessable(format!(
                "action: {other:?} is unknown: use approve, reject or connect."
            )));
        }
    };
    let open = state.store.enrollment(&id).await?.map(|e| e.phase);
    let mut promotion = match open {
        Some(phase) => state.store.promotion(&id, phase).await?,
        None => None,
    }
    .filter(|p| p.status == store::PromotionStatus::AwaitingApproval)
    .ok_or_else(|| {
        AppError::Conflict(
            "This account has no promotion awaiting approval (its phase is not passed yet, or \
             it was decided already)."
                .to_owned(),
        )
    })?;
    let to = match (approve, promotion.same_account) {
        (false, _) => store::PromotionStatus::Rejected,
        (true, true) => store::PromotionStatus::Approved,
        (true, false) => store::PromotionStatus::AwaitingAccount,
    };
    promotion.decided_by = Some(admin.user.username.clone());
    promotion.decided_at = Some(Utc::now());
    if !state
        .store
        .move_promotion(&promotion, store::PromotionStatus::AwaitingApproval, to)
        .await?
    {
        return Err(AppError::Conflict(
            "Another admin decided this promotion meanwhile: reload to see it.".to_owned(),
        ));
    }
    promotion.status = to;
    audit(
        &state,
        &admin,
        if approve {
            "promotion.approve"
        } else {
            "promotion.reject"
        },
        format!("account:{id}"),
        None::<&()>,
        Some(&serde_json::json!({
            "phase": promotion.phase,
            "next_phase": promotion.next_phase,
            "program": promotion.program,
            "state": to.as_str(),
            "reason": reason,
        })),
    )
    .await?;
    let names = usernames(&state).await?;
    Ok(Json(promotion_view(&state, &promotion, &names).await?))
}

/// `connect`: the next phase's new account for a promotion awaiting one: created on the
/// program's next phase (owned by the passed account's owner unless said otherwise), on the
/// same journey, and the promotion done.
async fn connect_next_account(
    state: AppState,
    admin: crate::auth::CurrentUser,
    id: shared::domain::AccountId,
    request: PromotionDecision,
) -> Result<Json<PromotionView>, AppError> {
    let Some(mut account) = request.account else {
        return Err(AppError::Unprocessable(
            "account: give the next phase's account (as POST /api/accounts takes it) to connect."
                .to_owned(),
        ));
    };
    let phase = state.store.enrollment(&id).await?.map(|e| e.phase);
    let mut promotion = match phase {
        Some(phase) => state.store.promotion(&id, phase).await?,
        None => None,
    }
    .filter(|p| p.status == store::PromotionStatus::AwaitingAccount)
    .ok_or_else(|| {
        AppError::Conflict(
            "This account has no promotion awaiting a new account (not passed yet, awaiting \
             approval, or connected already)."
                .to_owned(),
        )
    })?;
    let loaded = programs::version(state.store.as_ref(), &promotion.program, promotion.version)
        .await?
        .ok_or_else(|| AppError::Internal("the promotion's program version is missing".into()))?;
    let next = loaded
        .program
        .phases
        .get(promotion.next_phase as usize)
        .ok_or_else(|| AppError::Internal("the promotion's next phase is missing".into()))?;
    account.preset = String::new();
    account.program = Some(promotion.program.clone());
    account.phase = Some(next.name.clone());
    if account.owner.as_deref().is_none_or(|o| o.trim().is_empty()) {
        let names = usernames(&state).await?;
        account.owner = state
            .store
            .account_owner(&id)
            .await?
            .and_then(|o| names.get(&o).cloned());
    }
    let (checked, _) = state
        .launcher
        .create(&account, &admin.user.username)
        .await?;
    if let Some(mut enrollment) = state.store.enrollment(&checked.id).await? {
        enrollment.journey.clone_from(&promotion.journey);
        state.store.enroll(&enrollment).await?;
    }
    promotion.next_account = Some(checked.id.clone());
    promotion.decided_by = Some(admin.user.username.clone());
    promotion.decided_at = Some(Utc::now());
    if !state
        .store
        .move_promotion(
            &promotion,
            store::PromotionStatus::AwaitingAccount,
            store::PromotionStatus::Done,
        )
        .await?
    {
        return Err(AppError::Conflict(format!(
            "Another admin connected this promotion meanwhile; the account {} was created all \
             the same: remove it or use it elsewhere.",
            checked.id
        )));
    }
    promotion.status = store::PromotionStatus::Done;
    audit(
        &state,
        &admin,
        "promotion.connect",
        format!("account:{id}"),
        None::<&()>,
        Some(&serde_json::json!({
            "phase": promotion.phase,
            "next_phase": promotion.next_phase,
            "program": promotion.program,
            "next_account": checked.id,
            "journey": promotion.journey,
        })),
    )
    .await?;
    let names = usernames(&state).await?;
    Ok(Json(promotion_view(&state, &promotion, &names).await?))
}
