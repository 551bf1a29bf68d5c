//! The OpenAPI document of the HTTP API, generated from the code: paths, methods and who may
//! call them come from the route table (`routes::routes()`), bodies from the wire types of
//! `shared::api` (their `utoipa` schemas, from shared's `openapi` feature), and what a route
//! says beyond that (summary, query parameters, bodies) from [`describe`] below.
//!
//! The server serves it at `GET /api/openapi.json`; `docs/openapi.json` is a committed copy,
//! and a test fails when the two drift (refresh with `RISKDECK_UPDATE_OPENAPI=1 cargo test -p
//! tests --test openapi`). A route that [`describe`] does not know is left out of the
//! document, and a test names it.

use super::{Access, Route, Verb, routes};
use crate::auth::{CSRF_HEADER, SESSION_COOKIE};
use shared::api::TradesPage;
use shared::api::{
    AccountOwnerResponse, AccountSummary, AccountsResponse, AssignAccountRequest,
    CreateUserRequest, ErrorBody, EventsResponse, HistoryResponse, LoginRequest,
    ResetPasswordRequest, RuleSetsResponse, SessionResponse, StreamEvent, UserSummary,
    UsersResponse,
};
use shared::api::{
    AccountOwnersResponse, AuditResponse, ConnectionStatus, OverrideRequest, OverrideResponse,
};
use shared::api::{AnchorCorrectionRequest, AnchorsResponse, IngestResponse};
use shared::api::{
    ApiTokenSummary, ApiTokensResponse, CreateApiTokenRequest, CreateProgramRequest,
    CreatedApiToken, ProgramDetail, ProgramSaved, ProgramSummary, ProgramWhatIfRequest,
    ProgramWhatIfResponse, ProgramsResponse, RiskTrackersResponse, SaveProgramRequest,
};
use shared::api::{ChallengesPage, ConnectionOptions, CreateAccountRequest, CreateAccountResponse};
use shared::api::{ImportJob, ImportRefused, ImportReport, ImportRequest, ImportsResponse};
use shared::api::{NotificationPreferences, NotificationsResponse};
use shared::api::{PromotionDecision, PromotionView, PromotionsResponse};
use shared::api::{RuleSetSaved, SaveRuleSetRequest, WhatIfRequest, WhatIfResponse};
use shared::competitions::{
    CompetitionDetail, CompetitionsResponse, CreateCompetitionRequest, EntriesRequest,
    EntriesResponse, LeaderboardPage, Profile, UpdateCompetitionRequest,
};
use shared::statement::Statement;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr,
    Required,
};

/// The columns of an import file (`shared::api::ImportRow::COLUMNS`).
const IMPORT_COLUMNS: &str = "id,name,connection,account,token,base_url,url,client_id,\
     client_secret,access_token,refresh_token,program,phase,preset,owner,initial_balance,\
     currency,transport";

/// The name of a schema in the document's components.
type SchemaName = fn() -> String;

fn name<T: ToSchema>() -> String {
    T::name().into_owned()
}

/// What a successful call answers.
#[derive(Clone, Copy)]
enum Reply {
    /// A JSON body of this schema, with this status.
    Json(u16, SchemaName),
    /// A short plain-text body.
    Text(&'static str),
    /// 204, no body.
    NoContent,
    /// A Server-Sent Events stream whose `data` fields are of this schema.
    Events(SchemaName),
    /// This document.
    Document,
    /// A CSV file (`text/csv`) with this header line.
    Csv(&'static str),
    /// A document for people: its media type and what it holds.
    File(&'static str, &'static str),
    /// MetaApi's JSON as its SDK reads it (described in `docs/METAAPI-RISK-API.md`), with
    /// this status and description.
    MetaApi(u16, &'static str),
}

/// What the document says about a route beyond its method, path and access level.
/// An admin command the account's tracker did not take in time.
const COMMAND_WITHDRAWN: (&str, &str) = (
    "503",
    "The database is unavailable, or the account's tracker did not take the command within \
     10 s: it was withdrawn and never runs; nothing changed. Retry with the same \
     Idempotency-Key.",
);

struct Doc {
    /// A stable name for client generators (`accounts_list`).
    operation_id: &'static str,
    /// The resource, to group operations.
    tag: &'static str,
    /// One line for a person.
    summary: &'static str,
    /// The JSON body the route takes, if any.
    request: Option<SchemaName>,
    /// The answer when all goes well.
    reply: Reply,
    /// Optional query parameters: name and meaning (all are text, checked by the server).
    query: &'static [(&'static str, &'static str)],
    /// Answers particular to the route: status and meaning (the body is an `ErrorBody`).
    errors: &'static [(&'static str, &'static str)],
    /// The route also takes a CSV file (`text/csv`) whose header line names these columns.
    csv_request: Option<&'static str>,
    /// The 422's body when it says more than an `ErrorBody` (a superset of it).
    refusal: Option<SchemaName>,
    /// Another successful answer: its status, when it is given and its JSON body's schema.
    other_reply: Option<(u16, &'static str, SchemaName)>,
}

const fn doc(
    operation_id: &'static str,
    tag: &'static str,
    summary: &'static str,
    reply: Reply,
) -> Doc {
    Doc {
        operation_id,
        tag,
        summary,
        request: None,
        reply,
        query: &[],
        errors: &[],
        csv_request: None,
        refusal: None,
        other_reply: None,
    }
}

/// The description of every route the server has; `None` for one it does not know (a test
/// fails for it: describe it here).
fn describe(route: &Route) -> Option<Doc> {
    use Reply::{Csv, Document, Events, File, Json, MetaApi, NoContent, Text};
    use Verb::{Delete, Get, Post, Put};
    let described = match (route.verb, route.path) {
        (Get, "/healthz") => doc(
            "health_live",
            "probes",
            "The process serves requests.",
            Text("ok"),
        ),
        (Get, "/readyz") => doc(
            "health_ready",
            "probes",
            "The database answers, so the server can do its work.",
            Text("ready"),
        ),
        (Post, "/api/auth/login") => Doc {
            request: Some(name::<LoginRequest>),
            errors: &[
                (
                    "401",
                    "The username or password is not right (one answer for both).",
                ),
                (
                    "429",
                    "Too many attempts; the Retry-After header says when to try again.",
                ),
            ],
            ..doc(
                "auth_login",
                "auth",
                "Signs in: sets the session cookie and returns the anti-forgery token.",
                Json(200, name::<SessionResponse>),
            )
        },
        (Post, "/api/auth/logout") => doc(
            "auth_logout",
            "auth",
            "Signs out: ends the session and clears its cookie.",
            NoContent,
        ),
        (Get, "/api/auth/me") => doc(
            "auth_me",
            "auth",
            "Who is signed in, and the session's anti-forgery token.",
            Json(200, name::<SessionResponse>),
        ),
        (Get, "/api/accounts") => doc(
            "accounts_list",
            "accounts",
            "Every account the caller may see (a trader: the accounts they own).",
            Json(200, name::<AccountsResponse>),
        ),
        (Get, "/api/accounts/{account}") => doc(
            "accounts_get",
            "accounts",
            "One account: feed health and latest numbers, challenge included.",
            Json(200, name::<AccountSummary>),
        ),
        (Get, "/api/accounts/{account}/history") => Doc {
            query: &[
                (
                    "from",
                    "RFC 3339 start of the range (default: the beginning).",
                ),
                ("to", "RFC 3339 end of the range (default: now)."),
                (
                    "points",
                    "At most this many buckets, 1 to 5000 (default 1000).",
                ),
            ],
            ..doc(
                "accounts_history",
                "accounts",
                "The equity curve at the finest stored resolution that fits.",
                Json(200, name::<HistoryResponse>),
            )
        },
        (Get, "/api/accounts/{account}/events") => Doc {
            query: &[
                ("after", "Only events with a larger id (default 0)."),
                (
                    "limit",
                    "At most this many events, 1 to 1000 (default 100).",
                ),
            ],
            ..doc(
                "accounts_events",
                "accounts",
                "A page of the challenge's events, oldest first.",
                Json(200, name::<EventsResponse>),
            )
        },
        (Get, "/api/accounts/{account}/rule-sets") => doc(
            "accounts_rule_sets",
            "accounts",
            "Every version of the account's rule set, oldest first.",
            Json(200, name::<RuleSetsResponse>),
        ),
        (Post, "/api/accounts/{account}/assign") => Doc {
            request: Some(name::<AssignAccountRequest>),
            ..doc(
                "accounts_assign",
                "accounts",
                "Makes a trader the account's owner (written to the audit log).",
                Json(200, name::<AccountOwnerResponse>),
            )
        },
        (Post, "/api/accounts/{account}/unassign") => doc(
            "accounts_unassign",
            "accounts",
            "Leaves the account without an owner (written to the audit log).",
            Json(200, name::<AccountOwnerResponse>),
        ),
        (Get, "/api/stream") => Doc {
            query: &[("account", "Only this account's events.")],
            ..doc(
                "stream_subscribe",
                "stream",
                "Server-Sent Events: the current state of the caller's accounts, then every \
                 change.",
                Events(name::<StreamEvent>),
            )
        },
        (Get, "/api/users") => doc(
            "users_list",
            "users",
            "Every user, in id order.",
            Json(200, name::<UsersResponse>),
        ),
        (Post, "/api/users") => Doc {
            request: Some(name::<CreateUserRequest>),
            errors: &[("409", "The username is taken (in any case).")],
            ..doc(
                "users_create",
                "users",
                "Creates a trader or an admin (written to the audit log).",
                Json(201, name::<UserSummary>),
            )
        },
        (Post, "/api/users/{user}/password") => Doc {
            request: Some(name::<ResetPasswordRequest>),
            ..doc(
                "users_reset_password",
                "users",
                "Sets a new password; the user's sessions end at once (written to the audit \
                 log).",
                Json(200, name::<UserSummary>),
            )
        },
        (Post, "/api/users/{user}/disable") => doc(
            "users_disable",
            "users",
            "Disables a user: no signing in, and their sessions end at once (written to the \
             audit log).",
            Json(200, name::<UserSummary>),
        ),
        (Post, "/api/users/{user}/enable") => doc(
            "users_enable",
            "users",
            "Enables a disabled user (written to the audit log).",
            Json(200, name::<UserSummary>),
        ),
        (Get, "/api/openapi.json") => doc("openapi", "docs", "This document.", Document),
        (Get, "/metrics") => doc(
            "metrics",
            "probes",
            "Prometheus metrics (text exposition format): accounts tracked, feeds by health, \
             the largest feed lag, events by kind, open streams, request latency. Nothing in \
             it names a person or an account.",
            Text("riskdeck_accounts_tracked 8"),
        ),
        (Post, "/api/accounts/{account}/anchors") => Doc {
            request: Some(name::<AnchorCorrectionRequest>),
            errors: &[
                (
                    "409",
                    "The account has no running challenge yet (it may still be reading its \
                     history).",
                ),
                COMMAND_WITHDRAWN,
            ],
            ..doc(
                "accounts_correct_anchor",
                "accounts",
                "Corrects one anchor of the account's challenge, with a mandatory reason: \
                 floors move at once, nothing recorded changes (stored as an event the trader \
                 sees, and in the audit log). \
                 With an `Idempotency-Key` header (a random id per action, the same on a \
                 retry), a retry gets the first answer.",
                Json(200, name::<AnchorsResponse>),
            )
        },
        (Post, "/api/ingest/{account}") => Doc {
            errors: &[
                (
                    "400",
                    "A line is not a record (the message names it); nothing of the batch is \
                     kept.",
                ),
                (
                    "422",
                    "A record is dated more than 5 minutes ahead of the server's clock (the \
                     message names it); nothing of the batch is kept.",
                ),
                (
                    "429",
                    "Earlier batches are still being stored; send this one again (resending \
                     is safe).",
                ),
            ],
            ..doc(
                "ingest_push",
                "ingest",
                "Pushes records for an account fed by a bridge: a body of JSON Lines \
                 (application/x-ndjson) in the format `riskdeck replay` reads, up to 1 MiB and \
                 10,000 records. Answers once they are stored; resending a batch is safe.",
                Json(200, name::<IngestResponse>),
            )
        },
        (Get, "/api/accounts/{account}/trades") => Doc {
            query: &[
                (
                    "before",
                    "The `next` of the previous page: only older trades (default: from the \
                     newest).",
                ),
                (
                    "limit",
                    "At most this many trades; 1 to 200 (default 50), larger or smaller \
                     numbers are clamped.",
                ),
            ],
            ..doc(
                "accounts_trades",
                "accounts",
                "A page of the account's closed trades, newest first, each with its opening \
                 price, costs and net result.",
                Json(200, name::<TradesPage>),
            )
        },
        (Get, "/api/accounts/{account}/statement") => Doc {
            errors: STATEMENT_ERRORS,
            ..doc(
                "accounts_statement",
                "accounts",
                "The challenge's statement for disputes, as a JSON download: the rules as they \
                 stood, the decision with its evidence, the numbers and the trading record. \
                 The header X-Statement-Sha256 carries the SHA-256 of the body, which the \
                 server records (with when and for whom) and audits (`statement.issue`); \
                 `riskdeck statement verify` checks a file against it.",
                Json(200, name::<Statement>),
            )
        },
        (Get, "/api/accounts/{account}/statement.pdf") => Doc {
            errors: STATEMENT_ERRORS,
            ..doc(
                "accounts_statement_pdf",
                "accounts",
                "The challenge's statement as a PDF for people, made from a new statement's \
                 JSON: its first page states the JSON's SHA-256 (also in X-Statement-Sha256) \
                 and how to verify it. Recorded and audited like the JSON.",
                File(
                    "application/pdf",
                    "A PDF 1.4 document (text in the standard fonts).",
                ),
            )
        },
        (Get, "/api/accounts/{account}/statement.html") => Doc {
            errors: STATEMENT_ERRORS,
            ..doc(
                "accounts_statement_html",
                "accounts",
                "The challenge's statement as a printable, self-contained HTML page, made from \
                 a new statement's JSON: it states the JSON's SHA-256 (also in \
                 X-Statement-Sha256), embeds that JSON for download and links to a new JSON \
                 and PDF. Recorded and audited like the JSON.",
                File(
                    "text/html",
                    "An HTML page with its own print style, no script.",
                ),
            )
        },
        (Post, "/api/accounts/{account}/rule-sets") => Doc {
            request: Some(name::<SaveRuleSetRequest>),
            errors: &[
                (
                    "409",
                    "The account has no running challenge yet (it may still be reading its \
                     history).",
                ),
                (
                    "422",
                    "The rules are impossible or contradict each other, or the instant is in \
                     the past; the message gives every reason.",
                ),
            ],
            ..doc(
                "accounts_save_rule_set",
                "accounts",
                "Saves a new version of the challenge's rules, applied from `effective_from` \
                 (now when left out): floors move at that instant, a breach stays final; the \
                 trader's dashboard shows the change live (stored as an event, and in the \
                 audit log).",
                Json(200, name::<RuleSetSaved>),
            )
        },
        (Post, "/api/accounts/{account}/rule-sets/what-if") => Doc {
            request: Some(name::<WhatIfRequest>),
            errors: &[
                (
                    "409",
                    "There is nothing to replay: the server keeps no journal, or the account \
                     has none yet, or no running challenge.",
                ),
                (
                    "422",
                    "The draft rules are refused; the message gives every reason.",
                ),
            ],
            ..doc(
                "accounts_rule_set_what_if",
                "accounts",
                "Replays the account's journal under draft rules and under the rules in \
                 force: which rules would have warned or breached, and when (bounded in \
                 records and time; a cut-short replay says so).",
                Json(200, name::<WhatIfResponse>),
            )
        },
        (Get, "/api/admin/challenges") => Doc {
            query: &[
                (
                    "q",
                    "Only challenges whose id, name or owner contains this (any case).",
                ),
                (
                    "status",
                    "Only this status: active, passed, failed, paused or none.",
                ),
                ("feed", "Only this feed health: live, stale or starting."),
                (
                    "sort",
                    "breach (closest to breach first, the default), name, equity, pl or id.",
                ),
                (
                    "dir",
                    "asc or desc (default: by the sort, e.g. breach desc, name asc).",
                ),
                ("page", "The page, from 1 (default 1)."),
                ("per_page", "Rows per page, 1 to 500 (default 50)."),
            ],
            ..doc(
                "admin_challenges",
                "admin",
                "One page of every challenge with its live status, feed health, the rule \
                 closest to breach, equity and owner, and the counts by status and feed.",
                Json(200, name::<ChallengesPage>),
            )
        },
        (Get, "/api/admin/connections") => doc(
            "admin_connections",
            "admin",
            "What a new challenge can be connected to: the demo broker's accounts (demo \
             mode), whether MetaApi tokens can be stored (a secret_key), the presets.",
            Json(200, name::<ConnectionOptions>),
        ),
        (Post, "/api/accounts") => Doc {
            request: Some(name::<CreateAccountRequest>),
            errors: &[
                ("409", "An account with this id exists already."),
                (
                    "422",
                    "A field is unusable; the message names it and says how to fix it.",
                ),
            ],
            ..doc(
                "accounts_create",
                "accounts",
                "Creates a challenge account (MetaApi, token stored sealed, or a demo broker \
                 account) and tracks it at once and at every start (written to the audit log).",
                Json(201, name::<CreateAccountResponse>),
            )
        },
        (Post, "/api/accounts/{account}/clear-breach") => Doc {
            request: Some(name::<OverrideRequest>),
            errors: &[
                (
                    "409",
                    "No rule is breached, or the account has no running challenge yet.",
                ),
                COMMAND_WITHDRAWN,
            ],
            ..doc(
                "accounts_clear_breach",
                "accounts",
                "Clears every breach of the account's challenge, with a mandatory reason: the \
                 challenge is active again and the rules measure from the next record on; the \
                 breach events keep their evidence (stored as a `breach_cleared` event the \
                 trader sees, and in the audit log). \
                 With an `Idempotency-Key` header (a random id per action, the same on a \
                 retry), a retry gets the first answer.",
                Json(200, name::<OverrideResponse>),
            )
        },
        (Post, "/api/accounts/{account}/unpause") => Doc {
            request: Some(name::<OverrideRequest>),
            errors: &[
                (
                    "409",
                    "The challenge is not paused by a soft breach, or has not started yet.",
                ),
                COMMAND_WITHDRAWN,
            ],
            ..doc(
                "accounts_unpause",
                "accounts",
                "Ends a soft breach's pause before the next daily reset, with a mandatory \
                 reason (stored as an `unpaused` event the trader sees, and in the audit log). \
                 With an `Idempotency-Key` header (a random id per action, the same on a \
                 retry), a retry gets the first answer.",
                Json(200, name::<OverrideResponse>),
            )
        },
        (Post, "/api/accounts/{account}/archive") => Doc {
            request: Some(name::<shared::api::ArchiveRequest>),
            errors: &[
                (
                    "409",
                    "The account is archived already (the message says when, by whom and why).",
                ),
                ("422", "The reason is missing or too long."),
            ],
            ..doc(
                "accounts_archive",
                "accounts",
                "Archives a challenge instead of deleting it, with a mandatory reason (in the \
                 audit log): it is no longer tracked and is read-only from now on (rules, \
                 overrides, anchors, promotions and pushed records are refused with 409), \
                 while its dashboard, history, events, trades and statement stay readable and \
                 exported. Once; never undone. The console's overview lists archived \
                 challenges only with `feed=archived`.",
                Json(200, name::<shared::api::ArchiveResponse>),
            )
        },
        (Get, "/api/accounts/{account}/connection") => doc(
            "accounts_connection",
            "accounts",
            "How the account reaches its broker and how its access token stands (cTrader: \
             whether a refresh token is stored, when the token expires and when it was last \
             refreshed), never a secret.",
            Json(200, name::<ConnectionStatus>),
        ),
        (Get, "/api/account-owners") => doc(
            "accounts_owners",
            "accounts",
            "Every account with its owner, in id order.",
            Json(200, name::<AccountOwnersResponse>),
        ),
        (Get, "/api/audit") => Doc {
            query: AUDIT_QUERY,
            ..doc(
                "audit_list",
                "audit",
                "A page of the audit log, newest first: every change an admin made, with who, \
                 when, before, after and why.",
                Json(200, name::<AuditResponse>),
            )
        },
        (Get, "/api/audit.csv") => Doc {
            query: AUDIT_QUERY,
            ..doc(
                "audit_csv",
                "audit",
                "Every audit entry that matches the filters, newest first, as CSV (every cell \
                 quoted; a cell that would start a spreadsheet formula starts with `'`).",
                Csv("id,time,actor,action,subject,reason,before,after"),
            )
        },
        (Get, "/api/notifications") => Doc {
            query: &[
                (
                    "status",
                    "Only deliveries of this status: pending, delivered or failed.",
                ),
                (
                    "offset",
                    "Skip this many (the pages before; `next_offset`).",
                ),
                ("limit", "At most this many, 1 to 500 (500 when left out)."),
            ],
            ..doc(
                "notifications_list",
                "notifications",
                "Notification deliveries (one per event, channel and recipient), newest event \
                 first, a page at a time: status, attempts, the last error.",
                Json(200, name::<NotificationsResponse>),
            )
        },
        (Get, "/api/me/notifications") => doc(
            "notifications_mine",
            "notifications",
            "The signed-in person's notification preferences: channels, kinds and rules.",
            Json(200, name::<NotificationPreferences>),
        ),
        (Post, "/api/me/notifications") => Doc {
            request: Some(name::<NotificationPreferences>),
            ..doc(
                "notifications_update_mine",
                "notifications",
                "Replaces the signed-in person's notification preferences (written to the \
                 audit log; the webhook key is never sent back).",
                Json(200, name::<NotificationPreferences>),
            )
        },
        (Get, "/api/users/{user}/notifications") => doc(
            "notifications_user",
            "notifications",
            "A user's notification preferences.",
            Json(200, name::<NotificationPreferences>),
        ),
        (Post, "/api/users/{user}/notifications") => Doc {
            request: Some(name::<NotificationPreferences>),
            ..doc(
                "notifications_update_user",
                "notifications",
                "Replaces a user's notification preferences (written to the audit log).",
                Json(200, name::<NotificationPreferences>),
            )
        },
        (Get, "/api/programs") => doc(
            "programs_list",
            "programs",
            "Every program with its latest version and its challenges per phase, and the \
             built-in templates to start one from.",
            Json(200, name::<ProgramsResponse>),
        ),
        (Post, "/api/programs") => Doc {
            request: Some(name::<CreateProgramRequest>),
            errors: &[("409", "A program with this id exists already.")],
            ..doc(
                "programs_create",
                "programs",
                "Creates a program (version 1) from a template or written out; every problem \
                 is named (written to the audit log).",
                Json(201, name::<ProgramSummary>),
            )
        },
        (Get, "/api/programs/{program}") => Doc {
            errors: &[("404", "There is no such program.")],
            ..doc(
                "programs_get",
                "programs",
                "A program: its latest version, every version newest first, and its \
                 challenges.",
                Json(200, name::<ProgramDetail>),
            )
        },
        (Post, "/api/programs/{program}/what-if") => Doc {
            request: Some(name::<ProgramWhatIfRequest>),
            errors: &[("404", "There is no such program.")],
            ..doc(
                "programs_what_if",
                "programs",
                "What a new version would do to every running challenge of the program if \
                 applied now (breach, pass, change, unchanged, decided, invalid); nothing is \
                 saved.",
                Json(200, name::<ProgramWhatIfResponse>),
            )
        },
        (Post, "/api/programs/{program}/versions") => Doc {
            request: Some(name::<SaveProgramRequest>),
            errors: &[
                ("404", "There is no such program."),
                ("409", "Another admin saved a version meanwhile."),
                (
                    "503",
                    "The version was saved but some running challenges did not take it yet.",
                ),
            ],
            ..doc(
                "programs_save",
                "programs",
                "Saves a new version of a program, for new challenges only or also for the \
                 running ones from an instant; refused, naming them, when it cannot apply to \
                 some running challenge (written to the audit log).",
                Json(200, name::<ProgramSaved>),
            )
        },
        (Get, "/api/promotions") => doc(
            "promotions_list",
            "programs",
            "Promotions of passed phases to the next: the open ones first (awaiting approval, \
             awaiting a new account), then the latest.",
            Json(200, name::<PromotionsResponse>),
        ),
        (Post, "/api/accounts/{account}/promotion") => Doc {
            request: Some(name::<PromotionDecision>),
            errors: &[(
                "409",
                "The account has no promotion awaiting approval, or another admin decided it.",
            )],
            ..doc(
                "promotions_decide",
                "programs",
                "Approves or rejects (with a reason) the account's promotion awaiting approval \
                 (written to the audit log).",
                Json(200, name::<PromotionView>),
            )
        },
        (Get, "/api/competitions") => doc(
            "competitions_list",
            "competitions",
            "Competitions: every one for an admin, those with one of the trader's accounts for \
             a trader; running first, then upcoming, then ended.",
            Json(200, name::<CompetitionsResponse>),
        ),
        (Post, "/api/competitions") => Doc {
            request: Some(name::<CreateCompetitionRequest>),
            errors: &[("409", "A competition with this id exists already.")],
            ..doc(
                "competitions_create",
                "competitions",
                "Creates a competition (window in its time zone, the rules that disqualify, \
                 the ranking); every problem is named (written to the audit log).",
                Json(201, name::<CompetitionDetail>),
            )
        },
        (Get, "/api/competitions/{competition}") => Doc {
            errors: NOT_ENTERED,
            ..doc(
                "competitions_get",
                "competitions",
                "A competition; its entrants and the disqualifications' evidence for admins.",
                Json(200, name::<CompetitionDetail>),
            )
        },
        (Post, "/api/competitions/{competition}") => Doc {
            request: Some(name::<UpdateCompetitionRequest>),
            errors: &[
                ("404", "There is no such competition."),
                ("409", "The competition has started: it is fixed."),
            ],
            ..doc(
                "competitions_update",
                "competitions",
                "Rewrites a competition before its start (turning `public` on makes its public \
                 link; written to the audit log).",
                Json(200, name::<CompetitionDetail>),
            )
        },
        (Post, "/api/competitions/{competition}/entries") => Doc {
            request: Some(name::<EntriesRequest>),
            errors: &[
                ("404", "There is no such competition."),
                ("409", "The competition has started: entrants are fixed."),
            ],
            ..doc(
                "competitions_entries",
                "competitions",
                "Adds and removes entrants before the start; any refusal (an unknown account, \
                 one on a program, in an overlapping competition, whose challenge failed) \
                 refuses all, each account named (written to the audit log).",
                Json(200, name::<EntriesResponse>),
            )
        },
        (Get, "/api/competitions/{competition}/leaderboard") => Doc {
            query: LEADERBOARD_QUERY,
            errors: NOT_ENTERED,
            ..doc(
                "competitions_leaderboard",
                "competitions",
                "A page of the leaderboard (the trader's own rows marked and pinned).",
                Json(200, name::<LeaderboardPage>),
            )
        },
        (Get, "/api/competitions/{competition}/leaderboard/stream") => Doc {
            query: LEADERBOARD_QUERY,
            errors: NOT_ENTERED,
            ..doc(
                "competitions_leaderboard_stream",
                "competitions",
                "Server-Sent Events `leaderboard`: the page at once, then whenever it (or the \
                 pinned rows) changes.",
                Events(name::<LeaderboardPage>),
            )
        },
        (Get, "/api/public/competitions/{slug}/leaderboard") => Doc {
            query: &[
                ("page", "The page, from 1."),
                ("q", "Only display names containing this, in any case."),
            ],
            errors: &[
                ("404", "No competition has this public link (or it is off)."),
                ("429", "Too many requests from this address."),
            ],
            ..doc(
                "competitions_public_leaderboard",
                "competitions",
                "The public read-only leaderboard: display names and numbers only, cached for \
                 a second.",
                Json(200, name::<LeaderboardPage>),
            )
        },
        (Get, "/api/me/profile") => doc(
            "profile_get",
            "competitions",
            "How the signed-in person appears on leaderboards.",
            Json(200, name::<Profile>),
        ),
        (Post, "/api/me/profile") => Doc {
            request: Some(name::<Profile>),
            ..doc(
                "profile_update",
                "competitions",
                "Sets (or clears) the signed-in person's display name (written to the audit \
                 log).",
                Json(200, name::<Profile>),
            )
        },
        (Post, "/api/imports") => Doc {
            request: Some(name::<ImportRequest>),
            csv_request: Some(IMPORT_COLUMNS),
            refusal: Some(name::<ImportRefused>),
            other_reply: Some((
                200,
                "With dry_run=true: every row is good; nothing was written.",
                name::<ImportReport>,
            )),
            query: &[(
                "dry_run",
                "`true`: only check every row (200 with the report); nothing is written.",
            )],
            ..doc(
                "imports_create",
                "imports",
                "Imports accounts from JSON rows or a CSV file (at most 10,000 rows, 8 MiB): \
                 every row is checked first, and any problem refuses the whole file (422 naming \
                 every bad row and field, nothing written); otherwise every account is created \
                 in one transaction and tracked at once (written to the audit log). The answer \
                 is the import's progress.",
                Json(201, name::<ImportJob>),
            )
        },
        (Get, "/api/imports") => doc(
            "imports_list",
            "imports",
            "The recent imports of this server with their progress, newest first.",
            Json(200, name::<ImportsResponse>),
        ),
        (Get, "/api/imports/template.csv") => doc(
            "imports_template",
            "imports",
            "A CSV template for imports: the header and an example row.",
            Csv(IMPORT_COLUMNS),
        ),
        (Get, "/api/imports/{import}") => doc(
            "imports_progress",
            "imports",
            "An import's progress: accounts connecting, backfilling, live, failed with the \
             reason, and the time left.",
            Json(200, name::<ImportJob>),
        ),
        (Get, "/api/api-tokens") => doc(
            "api_tokens_list",
            "api-tokens",
            "Every API token of MetaApi's risk management API, newest first (never a secret).",
            Json(200, name::<ApiTokensResponse>),
        ),
        (Post, "/api/api-tokens") => Doc {
            request: Some(name::<CreateApiTokenRequest>),
            ..doc(
                "api_tokens_create",
                "api-tokens",
                "Creates an API token for the accounts chosen; its secret is in this answer \
                 only (written to the audit log without it).",
                Json(201, name::<CreatedApiToken>),
            )
        },
        (Post, "/api/api-tokens/{token}/revoke") => doc(
            "api_tokens_revoke",
            "api-tokens",
            "Revokes an API token: it opens nothing from now on (written to the audit log).",
            Json(200, name::<ApiTokenSummary>),
        ),
        (Get, "/api/accounts/{account}/trackers") => doc(
            "accounts_trackers",
            "accounts",
            "The account's MetaApi risk trackers with their current period, and their latest \
             events, newest first.",
            Json(200, name::<RiskTrackersResponse>),
        ),
        (Post, "/users/current/accounts/{account}/trackers") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_tracker_create",
                "risk-management",
                "MetaApi's createTracker: body NewTracker; answers `{\"id\"}`.",
                MetaApi(201, "The new tracker's id."),
            )
        },
        (Get, "/users/current/accounts/{account}/trackers") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_trackers_list",
                "risk-management",
                "MetaApi's getTrackers: the account's trackers.",
                MetaApi(200, "An array of Tracker."),
            )
        },
        (Get, "/users/current/accounts/{account}/trackers/{tracker}") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_tracker_get",
                "risk-management",
                "MetaApi's getTracker.",
                MetaApi(200, "A Tracker."),
            )
        },
        (Put, "/users/current/accounts/{account}/trackers/{tracker}") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_tracker_update",
                "risk-management",
                "MetaApi's updateTracker: body `{\"name\"}` (the only change allowed).",
                NoContent,
            )
        },
        (Delete, "/users/current/accounts/{account}/trackers/{tracker}") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_tracker_delete",
                "risk-management",
                "MetaApi's deleteTracker (its events stay).",
                NoContent,
            )
        },
        (Get, "/users/current/accounts/{account}/trackers/name/{*name}") => Doc {
            errors: RISK_ERRORS,
            ..doc(
                "risk_tracker_by_name",
                "risk-management",
                "MetaApi's getTrackerByName (the name may hold `/`).",
                MetaApi(200, "A Tracker."),
            )
        },
        (Get, "/users/current/accounts/{account}/trackers/{tracker}/statistics") => Doc {
            errors: RISK_ERRORS,
            query: &[
                (
                    "realTime",
                    "`true` or `false` (statistics are always current).",
                ),
                (
                    "startTime",
                    "Broker time: only periods that started at or before it.",
                ),
                ("limit", "At most this many periods, 1 to 1000 (default 1)."),
            ],
            ..doc(
                "risk_tracker_statistics",
                "risk-management",
                "MetaApi's getTrackingStatistics: one record per period, newest first.",
                MetaApi(200, "An array of PeriodStatistics."),
            )
        },
        (Get, "/users/current/accounts/{account}/equity-chart") => Doc {
            errors: RISK_ERRORS,
            query: &[
                (
                    "realTime",
                    "`true` adds the fields of the SDK's chart stream.",
                ),
                ("startTime", "Broker time: the first hour's time."),
                ("endTime", "Broker time: the last hour's time."),
            ],
            ..doc(
                "risk_equity_chart",
                "risk-management",
                "MetaApi's getEquityChart: equity and balance by the hour, oldest first.",
                MetaApi(200, "An array of EquityChartItem."),
            )
        },
        (Get, "/users/current/tracker-events/by-broker-time") => Doc {
            errors: RISK_ERRORS,
            query: &[
                ("startBrokerTime", "Broker time: events at or after it."),
                ("endBrokerTime", "Broker time: events at or before it."),
                ("accountId", "Only this account's events."),
                ("trackerId", "Only this tracker's events."),
                ("limit", "At most this many, 1 to 1000 (default 1000)."),
            ],
            ..doc(
                "risk_events_by_broker_time",
                "risk-management",
                "MetaApi's getTrackerEvents: the token's accounts' events, oldest first.",
                MetaApi(200, "An array of TrackerEvent."),
            )
        },
        (Get, "/users/current/tracker-events/stream") => Doc {
            errors: RISK_ERRORS,
            query: &[
                (
                    "previousSequenceNumber",
                    "The last sequence number received (none: events after the request).",
                ),
                ("accountId", "Only this account's events."),
                ("trackerId", "Only this tracker's events."),
                ("limit", "At most this many, 1 to 1000 (default 1000)."),
            ],
            ..doc(
                "risk_events_stream",
                "risk-management",
                "The long poll of MetaApi's tracker event listeners: answers as soon as there \
                 are events after the cursor, or an empty array after 30 s.",
                MetaApi(
                    200,
                    "An array of TrackerEvent with sequenceNumber, ascending.",
                ),
            )
        },
        _ => return None,
    };
    Some(described)
}

/// The errors of MetaApi's risk management API beyond the common ones.
const RISK_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "ValidationError: a parameter or the body is not accepted; `details` names each.",
    ),
    ("500", "InternalError: the database is unavailable."),
];

/// A route's path as the document writes it (`{*name}`, the rest of the path, is `{name}`).
pub fn document_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// What a statement route answers besides the usual.
const STATEMENT_ERRORS: &[(&str, &str)] = &[(
    "409",
    "The account has no challenge to state yet (it is still connecting or reading its history).",
)];

/// What a competition's routes answer a trader without an entrant in it.
const NOT_ENTERED: &[(&str, &str)] = &[(
    "404",
    "There is no such competition, or the trader has no entrant in it.",
)];

/// A leaderboard's page and search.
const LEADERBOARD_QUERY: &[(&str, &str)] = &[
    ("page", "The page, from 1."),
    ("per_page", "Rows per page, 1 to 100 (50 when left out)."),
    ("q", "Only display names containing this, in any case."),
];

/// The audit log's filters.
const AUDIT_QUERY: &[(&str, &str)] = &[
    ("actor", "Only entries by this username."),
    ("action", "Only this action, e.g. `user.disable`."),
    ("account", "Only entries about this account."),
    (
        "subject",
        "Only entries about this subject, e.g. `user:3` (not with account).",
    ),
    ("from", "RFC 3339: only entries at or after this time."),
    ("to", "RFC 3339: only entries at or before this time."),
    (
        "before_id",
        "Only entries older than this id (the next page).",
    ),
    (
        "limit",
        "At most this many entries, 1 to 1000 (default 100; not for CSV).",
    ),
];

/// The routes of the table that [`describe`] does not know (and so are not in the document).
pub fn undescribed_routes() -> Vec<Route> {
    routes()
        .into_iter()
        .filter(|route| describe(route).is_none())
        .collect()
}

/// Whether a route takes a JSON request body.
pub fn takes_json(route: &Route) -> bool {
    describe(route).is_some_and(|doc| doc.request.is_some())
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for route in routes() {
        if let Some(doc) = describe(&route) {
            paths.add_path_operation(
                document_path(route.path),
                vec![method(route.verb)],
                operation(&route, &doc),
            );
        }
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas())
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie POST /api/auth/login sets.",
            ))),
        )
        .security_scheme(
            "ingest_token",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
                    .description(Some(
                        "The account's ingest token from the configuration \
                         (Authorization: Bearer).",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "api_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                super::risk_api::TOKEN_HEADER,
                "An API token an admin created in the console (MetaApi's auth-token header).",
            ))),
        )
        .security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "The session's anti-forgery token (from POST /api/auth/login or GET \
                 /api/auth/me), on every request that changes something.",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Riskdeck")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Riskdeck's JSON API. Money travels as decimal strings, times as RFC 3339 \
                     UTC. Every error has one body shape (ErrorBody). Every response carries \
                     an x-request-id header (the request's, or a new one).",
                )),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The document as the server serves it and `docs/openapi.json` holds it: pretty JSON with a
/// final newline.
pub fn json() -> String {
    match document().to_pretty_json() {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Serialising plain data cannot fail; should it, say so in the document's place.
        Err(error) => format!("{{\"error\":\"cannot serialise the document: {error}\"}}\n"),
    }
}

fn method(verb: Verb) -> HttpMethod {
    match verb {
        Verb::Get => HttpMethod::Get,
        Verb::Post => HttpMethod::Post,
        Verb::Put => HttpMethod::Put,
        Verb::Delete => HttpMethod::Delete,
    }
}

fn json_content(schema: SchemaName) -> ContentBuilder {
    ContentBuilder::new().schema(Some(Ref::from_schema_name(schema())))
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", json_content(name::<ErrorBody>).build())
}

/// Any JSON value.
fn any_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .build(),
    )
}

fn text_schema() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A query parameter's schema, by its name: what the server parses it as, so the document
/// refuses what the server refuses (an empty or non-numeric `limit`, a `from` that is not a
/// time).
fn query_schema(param: &str) -> Schema {
    match param {
        "limit" | "points" | "page" | "per_page" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .into(),
        "after" | "offset" | "before_id" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .into(),
        "from" | "to" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into(),
        _ => text_schema(),
    }
}

fn operation(route: &Route, doc: &Doc) -> utoipa::openapi::path::Operation {
    let mut responses = ResponsesBuilder::new();
    responses = match doc.reply {
        Reply::Json(status, schema) => responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description("Success.")
                .content("application/json", json_content(schema).build()),
        ),
        Reply::Text(body) => responses.response(
            "200",
            ResponseBuilder::new()
                .description(format!("Success: `{body}`."))
                .content(
                    "text/plain",
                    ContentBuilder::new().schema(Some(text_schema())).build(),
                ),
        ),
        Reply::NoContent => responses.response("204", ResponseBuilder::new().description("Done.")),
        Reply::Csv(header) => responses.response(
            "200",
            ResponseBuilder::new()
                .description(format!("A CSV file whose first line is `{header}`."))
                .content(
                    "text/csv",
                    ContentBuilder::new().schema(Some(text_schema())).build(),
                ),
        ),
        Reply::File(media_type, description) => responses.response(
            "200",
            ResponseBuilder::new().description(description).content(
                media_type,
                ContentBuilder::new().schema(Some(text_schema())).build(),
            ),
        ),
        Reply::Events(schema) => responses.response(
            "200",
            ResponseBuilder::new()
                .description("An event stream; each event's data is one JSON object.")
                .content("text/event-stream", json_content(schema).build()),
        ),
        Reply::MetaApi(status, description) => responses.response(
            status.to_string(),
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new().schema(Some(any_schema())).build(),
            ),
        ),
        Reply::Document => responses.response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI document.")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                ),
        ),
    };
    if let Some((status, description, schema)) = doc.other_reply {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(description)
                .content("application/json", json_content(schema).build()),
        );
    }
    if doc.request.is_some() {
        let limit = super::body_limit(route);
        let limit = if limit >= 1024 * 1024 {
            format!("{} MiB", limit / (1024 * 1024))
        } else {
            format!("{} KiB", limit / 1024)
        };
        let unprocessable = "The body is JSON of the wrong shape, or a value is not accepted.";
        responses = responses
            .response(
                "400",
                error_response(if doc.csv_request.is_some() {
                    "The body is not JSON, or not CSV (the message names the line)."
                } else {
                    "The body is not JSON."
                }),
            )
            .response(
                "413",
                error_response(&format!("The body is larger than {limit}.")),
            )
            .response(
                "415",
                error_response(if doc.csv_request.is_some() {
                    "The body is not sent as application/json or text/csv."
                } else {
                    "The body is not sent as application/json."
                }),
            )
            .response(
                "422",
                match doc.refusal {
                    Some(schema) => ResponseBuilder::new()
                        .description(
                            "Every bad row and field named (nothing written); or the body is \
                             not an import (no rows, unknown columns): an ErrorBody.",
                        )
                        .content("application/json", json_content(schema).build()),
                    None => error_response(unprocessable),
                },
            );
    } else if !doc.query.is_empty() || route.path.contains("{user}") {
        responses = responses.response("400", error_response("A parameter is not accepted."));
    }
    for (status, description) in doc.errors {
        responses = responses.response(*status, error_response(description));
    }
    if route.access == Access::ApiToken {
        responses = responses.response(
            "401",
            error_response("UnauthorizedError: no valid, unrevoked API token in auth-token."),
        );
    } else if route.access != Access::Public {
        responses = responses.response("401", error_response("No one is signed in."));
    }
    if route.access == Access::Admin
        || (!matches!(
            route.access,
            Access::Public | Access::IngestToken | Access::ApiToken
        ) && route.verb.changes_state())
    {
        responses = responses.response(
            "403",
            error_response("Not an admin, or the anti-forgery token is missing."),
        );
    }
    if route.path.contains('{') {
        responses = responses.response(
            "404",
            error_response("No such account or user (or not one the caller may see)."),
        );
    }
    if !matches!(doc.reply, Reply::Document)
        && route.path != "/healthz"
        && !doc.errors.iter().any(|(status, _)| *status == "503")
    {
        responses = responses.response(
            "503",
            error_response("The database is unavailable, or the request took too long."),
        );
    }

    let mut operation = OperationBuilder::new()
        .operation_id(Some(doc.operation_id))
        .tag(doc.tag)
        .summary(Some(doc.summary))
        .description(Some(access_text(route.access)))
        .responses(responses.build());
    for (param, description) in path_params(&document_path(route.path)) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(param)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(text_schema())),
        );
    }
    for (param, description) in doc.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(*param)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*description))
                .schema(Some(query_schema(param))),
        );
    }
    if let Some(schema) = doc.request {
        let mut body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", json_content(schema).build());
        if let Some(header) = doc.csv_request {
            body = body
                .description(Some(format!(
                    "JSON rows, or a CSV file (text/csv) whose header line names the columns, \
                     in any order: {header}."
                )))
                .content(
                    "text/csv",
                    ContentBuilder::new().schema(Some(text_schema())).build(),
                );
        }
        operation = operation.request_body(Some(body.build()));
    }
    match route.access {
        Access::Public => {}
        Access::IngestToken => {
            operation = operation.security(SecurityRequirement::new(
                "ingest_token",
                Vec::<String>::new(),
            ));
        }
        Access::ApiToken => {
            operation =
                operation.security(SecurityRequirement::new("api_token", Vec::<String>::new()));
        }
        _ if route.verb.changes_state() => {
            operation = operation.security(
                SecurityRequirement::new("session", Vec::<String>::new())
                    .add("csrf", Vec::<String>::new()),
            );
        }
        _ => {
            operation =
                operation.security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
    }
    operation.build()
}

fn access_text(access: Access) -> &'static str {
    match access {
        Access::Public => "Anyone may call it.",
        Access::Authenticated => "Anyone signed in may call it.",
        Access::Owner => {
            "The account's owner or an admin may call it; for anyone else the account does not \
             exist (404)."
        }
        Access::Admin => "Admins only (403 for traders).",
        Access::IngestToken => {
            "A bridge holding the account's ingest token (Authorization: Bearer); sessions \
             cannot call it (401)."
        }
        Access::ApiToken => {
            "MetaApi's risk management API: an application holding an API token (header \
             auth-token) that may see the account; any other account does not exist (404); \
             sessions cannot call it (401). Errors are MetaApi's: {id, error, message, \
             details}."
        }
    }
}

fn path_params(path: &str) -> Vec<(&str, &'static str)> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|param| {
            let description = match param {
                "account" => "Riskdeck's id of the account.",
                "user" => "The user's id.",
                "token" => "The API token's id.",
                "program" => "The program's id.",
                "import" => "The import's id.",
                "tracker" => "The tracker's id.",
                "name" => "The tracker's name (it may hold `/`).",
                _ => "A path parameter.",
            };
            (param, description)
        })
        .collect()
}

/// Every schema the document refers to, with the schemas they refer to.
fn schemas() -> Vec<(String, RefOr<Schema>)> {
    fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((name::<T>(), T::schema()));
        T::schemas(schemas);
    }
    let mut schemas = Vec::new();
    add::<ErrorBody>(&mut schemas);
    add::<LoginRequest>(&mut schemas);
    add::<SessionResponse>(&mut schemas);
    add::<AccountsResponse>(&mut schemas);
    add::<AccountSummary>(&mut schemas);
    add::<HistoryResponse>(&mut schemas);
    add::<EventsResponse>(&mut schemas);
    add::<RuleSetsResponse>(&mut schemas);
    add::<AssignAccountRequest>(&mut schemas);
    add::<AccountOwnerResponse>(&mut schemas);
    add::<StreamEvent>(&mut schemas);
    add::<UsersResponse>(&mut schemas);
    add::<UserSummary>(&mut schemas);
    add::<CreateUserRequest>(&mut schemas);
    add::<ResetPasswordRequest>(&mut schemas);
    add::<AnchorCorrectionRequest>(&mut schemas);
    add::<AnchorsResponse>(&mut schemas);
    add::<IngestResponse>(&mut schemas);
    add::<TradesPage>(&mut schemas);
    add::<Statement>(&mut schemas);
    add::<SaveRuleSetRequest>(&mut schemas);
    add::<RuleSetSaved>(&mut schemas);
    add::<WhatIfRequest>(&mut schemas);
    add::<WhatIfResponse>(&mut schemas);
    add::<ChallengesPage>(&mut schemas);
    add::<ConnectionOptions>(&mut schemas);
    add::<CreateAccountRequest>(&mut schemas);
    add::<CreateAccountResponse>(&mut schemas);
    add::<OverrideRequest>(&mut schemas);
    add::<OverrideResponse>(&mut schemas);
    add::<shared::api::ArchiveRequest>(&mut schemas);
    add::<shared::api::ArchiveResponse>(&mut schemas);
    add::<AuditResponse>(&mut schemas);
    add::<AccountOwnersResponse>(&mut schemas);
    add::<ConnectionStatus>(&mut schemas);
    add::<NotificationsResponse>(&mut schemas);
    add::<NotificationPreferences>(&mut schemas);
    add::<ApiTokensResponse>(&mut schemas);
    add::<ProgramsResponse>(&mut schemas);
    add::<ProgramSummary>(&mut schemas);
    add::<CreateProgramRequest>(&mut schemas);
    add::<ProgramDetail>(&mut schemas);
    add::<ProgramWhatIfRequest>(&mut schemas);
    add::<ProgramWhatIfResponse>(&mut schemas);
    add::<SaveProgramRequest>(&mut schemas);
    add::<ProgramSaved>(&mut schemas);
    add::<PromotionsResponse>(&mut schemas);
    add::<PromotionDecision>(&mut schemas);
    add::<PromotionView>(&mut schemas);
    add::<ApiTokenSummary>(&mut schemas);
    add::<CreateApiTokenRequest>(&mut schemas);
    add::<CreatedApiToken>(&mut schemas);
    add::<RiskTrackersResponse>(&mut schemas);
    add::<ImportRequest>(&mut schemas);
    add::<ImportReport>(&mut schemas);
    add::<ImportRefused>(&mut schemas);
    add::<ImportJob>(&mut schemas);
    add::<ImportsResponse>(&mut schemas);
    add::<CompetitionsResponse>(&mut schemas);
    add::<CreateCompetitionRequest>(&mut schemas);
    add::<UpdateCompetitionRequest>(&mut schemas);
    add::<CompetitionDetail>(&mut schemas);
    add::<EntriesRequest>(&mut schemas);
    add::<EntriesResponse>(&mut schemas);
    add::<LeaderboardPage>(&mut schemas);
    add::<Profile>(&mut schemas);
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_refuses_what_the_server_refuses() {
        let document: serde_json::Value =
            serde_json::from_str(&json()).expect("the document is JSON");
        let query = |path: &str, name: &str| {
            document["paths"][path]["get"]["parameters"]
                .as_array()
                .and_then(|params| params.iter().find(|p| p["name"] == name))
                .map(|p| p["schema"].clone())
                .unwrap_or_default()
        };
        // An empty or non-numeric limit, and a `from` that is not a time, are refused.
        let limit = query("/api/accounts/{account}/events", "limit");
        assert_eq!(
            (&limit["type"], &limit["minimum"]),
            (&"integer".into(), &1.into())
        );
        let from = query("/api/audit", "from");
        assert_eq!(from["format"], "date-time");
        // A reason is required and must say something.
        let reason = &document["components"]["schemas"]["OverrideRequest"];
        assert_eq!(reason["required"], serde_json::json!(["reason"]));
        assert_eq!(reason["properties"]["reason"]["minLength"], 1);
        assert_eq!(reason["properties"]["reason"]["pattern"], "\\S");
    }

    #[test]
    fn every_route_of_the_table_is_in_the_document() {
        let missing: Vec<String> = undescribed_routes()
            .iter()
            .map(|route| format!("{:?} {}", route.verb, route.path))
            .collect();
        assert!(
            missing.is_empty(),
            "describe these routes in backend::openapi::describe: {missing:?}"
        );
        let document = serde_json::to_value(document()).expect("serialise");
        for route in routes() {
            let method = route.verb.method().as_str().to_lowercase();
            assert!(
                document["paths"][document_path(route.path)][&method].is_object(),
                "{method} {} is not in the document",
                route.path
            );
        }
    }

    #[test]
    fn every_schema_referred_to_is_in_the_components() {
        let text = json();
        let document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let mut rest = text.as_str();
        let mut checked = 0;
        while let Some(at) = rest.find("#/components/schemas/") {
            rest = &rest[at + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referred to but missing"
            );
            checked += 1;
        }
        assert!(checked > 20, "{checked}");
    }
}
