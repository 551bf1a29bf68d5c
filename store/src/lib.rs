//! Persistence. All SQL lives in this crate; the server sees [`Store`]. Broker secrets reach
//! it sealed ([`secrets`], [`connections`]): the key never does.
//!
//! Money is stored as exact decimal text and times as Unix milliseconds, so the same schema
//! reads back bit-for-bit on every database.
//!
//! This crate must not know about trackers, brokers' JSON or the HTTP API.

pub mod buckets;
pub mod competitions;
pub mod connections;
mod gate;
mod postgres;
pub mod programs;
pub mod risk;
pub mod secrets;
mod sql;
mod sqlite;
pub mod statements;
#[cfg(test)]
mod suite;
pub mod testing;

pub use competitions::{
    Baseline, CompetitionNotice, StoredCompetition, StoredDisqualification, StoredEntry,
};
pub use postgres::PostgresStore;
pub use programs::{
    Enrollment, PhaseRecord, ProgramVersion, Promotion, PromotionStatus, StoredProgram,
};
pub use risk::{
    ApiToken, MAX_TRACKER_EVENTS, NewTrackerEvent, Rename, StoredTracker, TrackerEventFilter,
    TrackerEventRecord,
};
pub use sqlite::SqliteStore;
pub use statements::{IssuedStatement, Statements};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shared::api::{EquityBucket, EquityPoint, Role, UserId};
use shared::domain::AccountId;
use shared::peaks::Peaks;
use std::sync::Arc;

/// A failure of the database, with enough context to log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// An operator command was pointed at a database file that does not exist.
    #[error("there is no database at {0}: check --database-url (or database_url in the config)")]
    NoDatabase(String),
    /// Connecting or opening failed; says what to check.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// No connection could be made within the time allowed.
    #[error(
        "cannot reach the database at {0}: check that the database server is running and that \
         the URL's host and port are right"
    )]
    Unreachable(String),
    /// A SQLite URL names a file that is not a SQLite database.
    #[error(
        "{0} is not a SQLite database (or it is damaged): point database_url at a Riskdeck \
         database, or at a path where a new one may be created"
    )]
    NotADatabase(String),
    /// The database was migrated by a newer Riskdeck than this one.
    #[error(
        "the database was migrated by a newer version of Riskdeck (its migration {0} is unknown \
         to this one): run that version or a newer one, or restore a backup from before the \
         upgrade"
    )]
    NewerDatabase(i64),
    /// Applying the embedded migrations failed; says what to do.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value cannot be read back.
    #[error("corrupt value in column {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
    /// A fenced write found that this instance no longer holds the account's lease (another
    /// instance took it over): nothing was written, and this instance must stop writing it.
    #[error("account {0}: the lease was taken over by another instance; nothing was written")]
    LeaseLost(String),
}

/// Everything the server persists: one trait per concern, each implemented for SQLite and
/// PostgreSQL by the same portable SQL ([`sql`]); `Arc<dyn Store>` is what the server holds.
#[async_trait]
pub trait Store:
    Tracking
    + History
    + Users
    + Audit
    + Notifications
    + Connections
    + ScaleOut
    + RiskApi
    + Programs
    + Statements
    + Competitions
{
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Competitions: their definitions and windows, entrants, day ranks, final standings, and the
/// names traders show on leaderboards (see [`competitions`]).
#[async_trait]
pub trait Competitions: Send + Sync + 'static {
    /// Creates a competition; `false` (nothing written) when the id is taken.
    async fn create_competition(&self, competition: &StoredCompetition)
    -> Result<bool, StoreError>;
    /// Every competition, by start then id.
    async fn competitions(&self) -> Result<Vec<StoredCompetition>, StoreError>;
    /// One competition.
    async fn competition(&self, id: &str) -> Result<Option<StoredCompetition>, StoreError>;
    /// Rewrites a competition's definition, window, public slug and who changed it; `false`
    /// (nothing written) once it has started.
    async fn update_competition(&self, competition: &StoredCompetition)
    -> Result<bool, StoreError>;
    /// Turns the public link on or off whatever the stage: the definition (its `public`), the
    /// slug and who changed it are rewritten, nothing else; `false` when there is no such
    /// competition.
    async fn set_competition_public(
        &self,
        competition: &StoredCompetition,
    ) -> Result<bool, StoreError>;
    /// Removes and adds entrants in one transaction (new ones numbered on from the last number
    /// ever given, in order; an account already in is left as it is); every entrant after it.
    /// `None` (nothing written) when there is no such competition or it has started.
    async fn change_entries(
        &self,
        id: &str,
        add: &[AccountId],
        remove: &[AccountId],
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<StoredEntry>>, StoreError>;
    /// A competition's entrants, by entry number.
    async fn competition_entries(&self, id: &str) -> Result<Vec<StoredEntry>, StoreError>;
    /// The competitions an account is entered in.
    async fn account_competitions(&self, account: &AccountId) -> Result<Vec<String>, StoreError>;
    /// Marks a competition started and records `notices`, in one transaction; `false` (nothing
    /// written) when it was started already (a compare-and-swap: the start is carried out once).
    async fn start_competition(
        &self,
        id: &str,
        notices: &[CompetitionNotice],
    ) -> Result<bool, StoreError>;
    /// Keeps an entrant's numbers at the start; `false` when they are kept already.
    async fn set_entry_baseline(
        &self,
        id: &str,
        entry: u32,
        baseline: &Baseline,
    ) -> Result<bool, StoreError>;
    /// Keeps an entrant's disqualification and records `notices`, in one transaction; `false`
    /// (nothing written) when it is disqualified already.
    async fn disqualify_entry(
        &self,
        id: &str,
        entry: u32,
        why: &StoredDisqualification,
        notices: &[CompetitionNotice],
    ) -> Result<bool, StoreError>;
    /// Keeps the ranks at the end of `day` (`YYYY-MM-DD`); `false` when that day has them.
    async fn save_day_ranks(
        &self,
        id: &str,
        day: &str,
        ranks_json: &str,
    ) -> Result<bool, StoreError>;
    /// The latest day's ranks: the day and the ranks as JSON.
    async fn latest_day_ranks(&self, id: &str) -> Result<Option<(String, String)>, StoreError>;
    /// Freezes the final standings and records `notices`, in one transaction; `false` (nothing
    /// written) when they are frozen already.
    async fn finish_competition(
        &self,
        id: &str,
        final_json: &str,
        at: DateTime<Utc>,
        notices: &[CompetitionNotice],
    ) -> Result<bool, StoreError>;
    /// Every user who chose a display name, with it.
    async fn display_names(&self) -> Result<Vec<(UserId, String)>, StoreError>;
    /// The display name a user chose.
    async fn display_name(&self, user: UserId) -> Result<Option<String>, StoreError>;
    /// Sets (or, with `None`, clears) a user's display name; `false` when there is no such user.
    async fn set_display_name(&self, user: UserId, name: Option<&str>) -> Result<bool, StoreError>;
}

/// The firm's programs: versions (append-only) and the challenges enrolled on them (see
/// [`programs`]).
#[async_trait]
pub trait Programs: Send + Sync + 'static {
    /// Creates a program with its first version; `false` (nothing written) when the id is
    /// taken.
    async fn create_program(
        &self,
        id: &str,
        template: Option<&str>,
        first: &ProgramVersion,
    ) -> Result<bool, StoreError>;
    /// Every program with its latest version, by id.
    async fn programs(&self) -> Result<Vec<StoredProgram>, StoreError>;
    /// One program with its latest version.
    async fn program(&self, id: &str) -> Result<Option<StoredProgram>, StoreError>;
    /// Every version of a program, newest first.
    async fn program_versions(&self, id: &str) -> Result<Vec<ProgramVersion>, StoreError>;
    /// One version of a program.
    async fn program_version(
        &self,
        id: &str,
        version: u32,
    ) -> Result<Option<ProgramVersion>, StoreError>;
    /// Stores a new version (its number must be the latest's plus one) and moves the `moved`
    /// enrollments onto it, in one transaction; `false` (nothing written) when another version
    /// took that number first.
    async fn save_program_version(
        &self,
        id: &str,
        version: &ProgramVersion,
        moved: &[AccountId],
    ) -> Result<bool, StoreError>;
    /// Enrolls an account (replacing its enrollment: a new phase, a new version).
    async fn enroll(&self, enrollment: &Enrollment) -> Result<(), StoreError>;
    /// An account's enrollment.
    async fn enrollment(&self, account: &AccountId) -> Result<Option<Enrollment>, StoreError>;
    /// The enrollments of one program (or every one), by phase then account.
    async fn enrollments(&self, program: Option<&str>) -> Result<Vec<Enrollment>, StoreError>;
    /// Records a pass's promotion; `false` (nothing written) when that pass has one already.
    async fn record_promotion(&self, promotion: &Promotion) -> Result<bool, StoreError>;
    /// The promotion of an account's pass of `phase`.
    async fn promotion(
        &self,
        account: &AccountId,
        phase: u32,
    ) -> Result<Option<Promotion>, StoreError>;
    /// Promotions, the open ones first, then the newest passes; at most `limit`.
    async fn promotions(&self, limit: u32) -> Result<Vec<Promotion>, StoreError>;
    /// Moves a promotion from `from` to `to` (a compare-and-swap: `false`, nothing written, when
    /// it is not at `from`), with who decided and when, and the next phase's account.
    async fn move_promotion(
        &self,
        promotion: &Promotion,
        from: PromotionStatus,
        to: PromotionStatus,
    ) -> Result<bool, StoreError>;
    /// Keeps a finished phase (once: a second record of the same phase is ignored).
    async fn record_phase(&self, record: &PhaseRecord) -> Result<(), StoreError>;
    /// The finished phases of a journey, oldest first.
    async fn phase_records(&self, journey: &str) -> Result<Vec<PhaseRecord>, StoreError>;
}

/// MetaApi's risk management API: API tokens, trackers and tracker events (see [`risk`]).
#[async_trait]
pub trait RiskApi: Send + Sync + 'static {
    /// Stores a new API token with the SHA-256 (hex) of its secret.
    async fn create_api_token(&self, token: &ApiToken, secret_hash: &str)
    -> Result<(), StoreError>;
    /// Every API token, newest first.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// The token whose secret hashes to `secret_hash`, revoked or not.
    async fn api_token_by_secret(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    /// The token with id `id`, revoked or not.
    async fn api_token(&self, id: &str) -> Result<Option<ApiToken>, StoreError>;
    /// Revokes a token (the first revocation's time is kept); the token, `None` when unknown.
    async fn revoke_api_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ApiToken>, StoreError>;
    /// Records that a token was used at `at`.
    async fn touch_api_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Stores a new tracker; `false` (nothing stored) when the account has one of that name.
    async fn create_tracker(&self, tracker: &StoredTracker) -> Result<bool, StoreError>;
    /// The trackers of `account` (none: of every account), oldest first.
    async fn trackers(&self, account: Option<&AccountId>)
    -> Result<Vec<StoredTracker>, StoreError>;
    /// Renames an account's tracker, its stored definition replaced by `spec_json`.
    async fn rename_tracker(
        &self,
        account: &AccountId,
        id: &str,
        name: &str,
        spec_json: &str,
    ) -> Result<Rename, StoreError>;
    /// Deletes an account's tracker (its events stay); whether there was one.
    async fn delete_tracker(&self, account: &AccountId, id: &str) -> Result<bool, StoreError>;
    /// Saves trackers' run states (`(id, state)`; a deleted tracker's is ignored).
    async fn save_tracker_states(&self, states: &[(String, String)]) -> Result<(), StoreError>;
    /// Appends tracker events in one transaction; their sequence numbers, in order.
    async fn append_tracker_events(
        &self,
        events: &[NewTrackerEvent],
    ) -> Result<Vec<i64>, StoreError>;
    /// Tracker events matching `filter`, oldest first.
    async fn tracker_events(
        &self,
        filter: &TrackerEventFilter,
    ) -> Result<Vec<TrackerEventRecord>, StoreError>;
    /// The highest sequence number stored (0 when none).
    async fn last_tracker_event(&self) -> Result<i64, StoreError>;
}

/// A challenge's engine state with its events (and their notifications in the outbox), the deals
/// it was fed, the trade history, the peaks of accounts without a challenge, and versioned rule
/// sets.
#[async_trait]
pub trait Tracking: Send + Sync + 'static {
    /// The peaks saved for an account, if any.
    async fn load_peaks(&self, account: &AccountId) -> Result<Option<Peaks>, StoreError>;
    /// Saves an account's peaks (replacing what was saved).
    async fn save_peaks(&self, account: &AccountId, peaks: &Peaks) -> Result<(), StoreError>;
    /// The saved engine state of an account's challenge (JSON), if any.
    async fn load_challenge(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    /// Saves the engine state and appends its new events, each with its notification in the
    /// outbox, in one transaction: either all are stored or none is. Events are append-only:
    /// nothing updates or deletes them (the database refuses it too).
    async fn save_challenge(
        &self,
        account: &AccountId,
        state: &str,
        events: &[StoredEvent],
    ) -> Result<(), StoreError>;
    /// Like [`Tracking::save_challenge`], fenced: in the same transaction it checks that `lease`
    /// (holder and generation) is still the account's lease, and writes nothing, returning
    /// [`StoreError::LeaseLost`], when another instance has taken it since. A takeover waits for
    /// a fenced save in progress, so the new holder restores what that save committed.
    async fn save_challenge_fenced(
        &self,
        account: &AccountId,
        state: &str,
        events: &[StoredEvent],
        lease: &Lease,
    ) -> Result<(), StoreError>;
    /// Links an account's challenge to version `version` of its rule set. `false` (nothing
    /// changed) when the account has no stored challenge or no such rule set version.
    async fn link_challenge_rule_set(
        &self,
        account: &AccountId,
        version: i64,
    ) -> Result<bool, StoreError>;
    /// The rule set version an account's challenge is linked to, if any.
    async fn challenge_rule_set_version(
        &self,
        account: &AccountId,
    ) -> Result<Option<i64>, StoreError>;
    /// An account's events, oldest first.
    async fn challenge_events(&self, account: &AccountId) -> Result<Vec<StoredEvent>, StoreError>;
    /// An account's events with their ids, oldest first: those after event `after_id`, at most
    /// `limit` of them (for paging through long histories).
    async fn challenge_event_records(
        &self,
        account: &AccountId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// Saves a new version of an account's rule set (one more than the latest); returns it.
    async fn save_rule_set(
        &self,
        account: &AccountId,
        effective_from: DateTime<Utc>,
        rules: &serde_json::Value,
        created_by: &str,
    ) -> Result<i64, StoreError>;
    /// The rule set in force at `instant`: the highest version effective at or before it (a
    /// later version supersedes an earlier one from its effective instant on, even when it
    /// backdates a correction).
    async fn rule_set_at(
        &self,
        account: &AccountId,
        instant: DateTime<Utc>,
    ) -> Result<Option<RuleSetVersion>, StoreError>;
    /// Every version of an account's rule set, oldest first.
    async fn rule_set_versions(
        &self,
        account: &AccountId,
    ) -> Result<Vec<RuleSetVersion>, StoreError>;
    /// Like [`Tracking::save_challenge`] (fenced with `lease` as [`Tracking::save_challenge_fenced`]
    /// when given), and in the same transaction stores the deals the engine was fed: once per
    /// account and deal id (a deal stored again is left as it was), so a deal the engine has
    /// counted is always in the trade history.
    async fn save_challenge_with_deals(
        &self,
        account: &AccountId,
        state: &str,
        events: &[StoredEvent],
        deals: &[shared::domain::Deal],
        lease: Option<&Lease>,
    ) -> Result<(), StoreError>;
    /// The ids of every deal stored for an account: every deal its challenge's engine was fed
    /// (a restarted tracker feeds none of them again, however late the broker files them).
    async fn fed_deal_ids(&self, account: &AccountId) -> Result<Vec<String>, StoreError>;
    /// An account's closing trades, newest first (by time, then deal id, both descending):
    /// those strictly before `before` when given, at most `limit` of them, each with the deal
    /// that opened its position when that is stored, and the position's deals before it.
    async fn trades(
        &self,
        account: &AccountId,
        before: Option<&TradeCursor>,
        limit: u32,
    ) -> Result<Vec<StoredTrade>, StoreError>;
}

/// The equity history (buckets in tiers) and the limit levels over time: chart data.
#[async_trait]
pub trait History: Send + Sync + 'static {
    /// Folds one equity sample into a bucket of every tier ([`buckets::TIERS`]).
    async fn append_sample(
        &self,
        account: &AccountId,
        point: &EquityPoint,
    ) -> Result<(), StoreError> {
        self.append_samples(account, std::slice::from_ref(point))
            .await
    }
    /// Folds equity samples (time order) into a bucket of every tier, in one transaction: each
    /// touched bucket is read and written once, however many samples fall into it.
    async fn append_samples(
        &self,
        account: &AccountId,
        points: &[EquityPoint],
    ) -> Result<(), StoreError>;
    /// [`History::append_samples`] for many accounts in one transaction (each account's
    /// samples in time order): the writer of many trackers' samples commits once for all.
    async fn append_samples_batch(
        &self,
        batch: &[(AccountId, Vec<EquityPoint>)],
    ) -> Result<(), StoreError>;
    /// The equity curve between `from` and `to` in at most `max_points` buckets (time order):
    /// the finest tier that still holds the whole range and has at most `max_points` buckets
    /// in it, adjacent buckets merged when even the coarsest has more. Buckets whose samples
    /// overlap the range are returned whole, so the first and last may reach a little outside.
    async fn equity_history(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_points: u32,
    ) -> Result<Vec<EquityBucket>, StoreError>;
    /// Appends limit levels (a challenge rule's floor or target from an instant on); a level
    /// stored again for the same rule and instant replaces the earlier one.
    async fn append_limits(
        &self,
        account: &AccountId,
        limits: &[shared::api::LimitPoint],
    ) -> Result<(), StoreError>;
    /// The limit levels over `from..=to`: for each rule the level in force at `from` (its last
    /// change at or before it) and every change after it, in time order.
    async fn limit_history(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<shared::api::LimitPoint>, StoreError>;
    /// Every stored bucket of one tier (`resolution_ms` of one of [`buckets::TIERS`]), oldest
    /// first.
    async fn equity_tier(
        &self,
        account: &AccountId,
        resolution_ms: i64,
    ) -> Result<Vec<EquityBucket>, StoreError>;
    /// Deletes the buckets of every tier that start before that tier's horizon ends, counted
    /// back from `now`. Returns how many were deleted.
    async fn prune_equity_buckets(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Users, their sessions, and the accounts they own.
#[async_trait]
pub trait Users: Send + Sync + 'static {
    /// Creates a user, or returns `None` when the username (in any case) is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<Option<User>, StoreError>;
    /// Creates a user or, when the username (in any case) exists, sets its password hash and
    /// role (keeping its id and disabled flag).
    async fn upsert_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<User, StoreError>;
    /// A user and their password hash, by username in any case.
    async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError>;
    /// One user.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Every user, in id order.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Whether an admin who is not disabled exists.
    async fn admin_exists(&self) -> Result<bool, StoreError>;
    /// Disables or enables a user; disabling also deletes their sessions, in one transaction.
    /// `None` when there is no such user.
    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
    ) -> Result<Option<User>, StoreError>;
    /// Sets a user's password hash and deletes their sessions, in one transaction. `None` when
    /// there is no such user.
    async fn set_user_password(
        &self,
        id: UserId,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError>;
    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;
    /// The session with this token hash, when it has not expired at `now` and its user is not
    /// disabled.
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;
    /// Records that a session was used at `now`.
    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Deletes one session (signing out).
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Deletes every session of a user; returns how many there were.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;
    /// Deletes the sessions expired at `now`; returns how many there were.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Creates an account or updates its name and owner.
    async fn upsert_account(
        &self,
        id: &AccountId,
        name: &str,
        owner: Option<UserId>,
    ) -> Result<(), StoreError>;
    /// Sets (or, with `None`, clears) an account's owner; `false` when there is no such account.
    async fn set_account_owner(
        &self,
        id: &AccountId,
        owner: Option<UserId>,
    ) -> Result<bool, StoreError>;
    /// Every account, in id order.
    async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError>;
    /// The owner of an account; `None` when it has none or there is no such account.
    async fn account_owner(&self, id: &AccountId) -> Result<Option<UserId>, StoreError>;
    /// The accounts a user owns, in id order.
    async fn accounts_owned_by(&self, user: UserId) -> Result<Vec<AccountId>, StoreError>;
    /// Archives an account; `false` when there is no such account or it is archived already
    /// (the first archiving stands).
    async fn archive_account(
        &self,
        id: &AccountId,
        archived: &Archived,
    ) -> Result<bool, StoreError>;
    /// An account's archiving, if it is archived.
    async fn archived(&self, id: &AccountId) -> Result<Option<Archived>, StoreError>;
}

/// The audit log of every change an admin makes (append-only).
#[async_trait]
pub trait Audit: Send + Sync + 'static {
    /// Appends one entry to the audit log; returns its id.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;
    /// Audit entries matching `filter`, newest first.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The notification outbox and its deliveries per channel and recipient, and each person's
/// notification preferences.
#[async_trait]
pub trait Notifications: Send + Sync + 'static {
    /// Claims up to `limit` due notifications (pending, next attempt at or before `now`): each
    /// claimed one counts an attempt and is not due again until `lease_until`, so a sender that
    /// dies mid-delivery does not lose it and two senders never claim it together (a claim that
    /// races another may return fewer than are due; the next claim takes the rest).
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Marks a claimed notification delivered.
    async fn mark_notification_delivered(
        &self,
        event_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records a failed delivery: due again at `retry_at`, or given up for good when `None`.
    async fn mark_notification_failed(
        &self,
        event_id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// The notification of one event, whatever its state.
    async fn notification(&self, event_id: i64) -> Result<Option<Notification>, StoreError>;
    /// Fans a claimed outbox notification out: adds one pending delivery per target (a target
    /// already there is kept as it stands) and marks the outbox row done, in one transaction.
    async fn plan_deliveries(
        &self,
        event_id: i64,
        account: &AccountId,
        targets: &[DeliveryTarget],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` due deliveries (pending, next attempt at or before `now`), like
    /// [`Notifications::claim_notifications`]: each claimed one counts an attempt and is not due again
    /// until `lease_until`, and two senders never claim one together.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Marks a claimed delivery delivered.
    async fn mark_delivery_delivered(
        &self,
        event_id: i64,
        channel: &str,
        recipient: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records a failed attempt: due again at `retry_at`, or given up for good when `None`.
    async fn mark_delivery_failed(
        &self,
        event_id: i64,
        channel: &str,
        recipient: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// One delivery, whatever its state.
    async fn delivery(
        &self,
        event_id: i64,
        channel: &str,
        recipient: &str,
    ) -> Result<Option<Delivery>, StoreError>;
    /// At most `limit` deliveries (of one status, when given), newest event first.
    async fn deliveries(
        &self,
        status: Option<shared::api::DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.deliveries_page(status, 0, limit).await
    }
    /// Like [`Notifications::deliveries`], skipping the first `offset` (the pages before).
    async fn deliveries_page(
        &self,
        status: Option<shared::api::DeliveryStatus>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// A user's notification preferences (JSON), if they saved any.
    async fn notification_preferences(&self, user: UserId) -> Result<Option<String>, StoreError>;
    /// Saves (replacing) a user's notification preferences (JSON).
    async fn save_notification_preferences(
        &self,
        user: UserId,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// How to reach each account's broker (secrets sealed) and the setups of accounts admins
/// created.
#[async_trait]
pub trait Connections: Send + Sync + 'static {
    /// Saves (replacing) how to reach an account's broker; the token is already sealed.
    async fn save_broker_connection(
        &self,
        connection: &StoredBrokerConnection,
    ) -> Result<(), StoreError>;
    /// How to reach an account's broker, token still sealed.
    async fn load_broker_connection(
        &self,
        account: &AccountId,
    ) -> Result<Option<StoredBrokerConnection>, StoreError>;
    /// The accounts whose connection holds the token pair of `lineage`.
    async fn token_lineage_accounts(&self, lineage: &str) -> Result<Vec<AccountId>, StoreError>;
    /// Replaces a connection's token pair (access token, refresh token, expiry, last refresh)
    /// unless the stored one was refreshed at the same time or later: a compare-and-swap, so
    /// that two servers storing refreshes never put an older pair back. Whether it replaced.
    async fn save_refreshed_tokens(
        &self,
        connection: &StoredBrokerConnection,
    ) -> Result<bool, StoreError>;
    /// Creates an account (name, owner), its setup and, for a broker reached with a token, its
    /// connection (token sealed), in one transaction; `false` (nothing written) when an account
    /// with that id exists already.
    async fn create_account_setup(
        &self,
        setup: &AccountSetup,
        name: &str,
        owner: Option<UserId>,
        connection: Option<&StoredBrokerConnection>,
    ) -> Result<bool, StoreError>;
    /// Creates every account as [`Connections::create_account_setup`] does, all in one
    /// transaction (an import): the ids that exist already (or come twice), and then nothing is
    /// written; empty when every account was written.
    async fn create_account_setups(
        &self,
        accounts: &[NewAccount],
    ) -> Result<Vec<AccountId>, StoreError>;
    /// Every account created at runtime, in id order.
    async fn account_setups(&self) -> Result<Vec<AccountSetup>, StoreError>;
}

/// Several instances on one database: account leases, instances' heartbeats, live updates
/// between instances and settings shared by them.
#[async_trait]
pub trait ScaleOut: Send + Sync + 'static {
    /// Takes or renews `account`'s lease for `holder` until `until`: succeeds when `holder`
    /// holds it already, or when it is free or expired at `now` (the generation then increases:
    /// a takeover). `None` when another holder's lease is still running. A store that serves a
    /// single instance (SQLite) always grants it.
    async fn acquire_lease(
        &self,
        account: &AccountId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError>;
    /// Gives a lease up (it expires now), if it is still this holder's at this generation.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;
    /// Every account's lease, in account order.
    async fn leases(&self) -> Result<Vec<Lease>, StoreError>;
    /// Records that instance `id` is alive until `until`; returns how many instances are alive
    /// at `now`, this one included.
    async fn heartbeat_instance(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u32, StoreError>;
    /// Removes an instance that stops (its share goes to the others at once).
    async fn remove_instance(&self, id: &str) -> Result<(), StoreError>;
    /// Whether live updates travel between instances through this database (PostgreSQL's
    /// LISTEN/NOTIFY). When `false`, [`ScaleOut::publish_live`] does nothing and
    /// [`ScaleOut::listen_live`] returns `None`.
    fn shares_live_updates(&self) -> bool;
    /// Sends a live update (text under [`MAX_LIVE_PAYLOAD`] bytes) to every listening instance.
    async fn publish_live(&self, payload: &str) -> Result<(), StoreError>;
    /// Listens for live updates from every instance (including this one's).
    async fn listen_live(&self) -> Result<Option<LiveListener>, StoreError>;
    /// Replaces an account's large live view (one too big for a live update's payload).
    async fn save_live_view(&self, account: &AccountId, body: &str) -> Result<(), StoreError>;
    /// An account's large live view, if one was saved.
    async fn live_view(&self, account: &AccountId) -> Result<Option<String>, StoreError>;
    /// Keeps `value` as setting `name` unless the setting exists already, and returns the
    /// value in force (the first one written stays).
    async fn keep_setting(&self, name: &str, value: &str) -> Result<String, StoreError>;
}

/// Where a page of the trade history ends: the last closing deal's time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeCursor {
    /// The deal's time, in Unix milliseconds (as stored).
    pub t_ms: i64,
    /// The broker's deal id.
    pub deal_id: String,
}

impl TradeCursor {
    /// The cursor after `deal`.
    pub fn after(deal: &shared::domain::Deal) -> Self {
        Self {
            t_ms: deal.time.timestamp_millis(),
            deal_id: deal.id.clone(),
        }
    }

    /// As the API sends it: `<milliseconds>:<deal id>`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.t_ms, self.deal_id)
    }

    /// Reads [`TradeCursor::encode`]'s text; `None` when it is not one.
    pub fn decode(text: &str) -> Option<Self> {
        let (t_ms, deal_id) = text.split_once(':')?;
        let t_ms = t_ms.parse::<i64>().ok().filter(|ms| *ms >= 0)?;
        (!deal_id.is_empty() && deal_id.len() <= 200).then(|| Self {
            t_ms,
            deal_id: deal_id.to_owned(),
        })
    }
}

/// One closing trade as stored: the deal that closed (part of) a position and the deal that
/// opened it, when that is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTrade {
    /// The closing deal.
    pub close: shared::domain::Deal,
    /// The position's first opening deal.
    pub open: Option<shared::domain::Deal>,
    /// The position's stored deals before the closing deal, oldest first (a netting position
    /// may have been added to, reduced and reversed before).
    pub earlier: Vec<shared::domain::Deal>,
}

/// An account's lease: which instance tracks (and alone writes) the account, until when, and
/// the fencing generation, which increases at every change of holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The account.
    pub account: AccountId,
    /// The holding instance's id.
    pub holder: String,
    /// Increases whenever another holder takes the lease.
    pub generation: i64,
    /// When the lease runs out unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The largest live update payload: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
pub const MAX_LIVE_PAYLOAD: usize = 7_900;

/// The channel live updates travel on.
const LIVE_CHANNEL: &str = "riskdeck_live";

/// Receives the live updates of every instance (PostgreSQL LISTEN).
pub struct LiveListener {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for LiveListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveListener").finish_non_exhaustive()
    }
}

impl LiveListener {
    /// The next update's payload. `Ok(None)` when the connection was lost: updates sent
    /// meanwhile are missed, and the next call reconnects.
    pub async fn recv(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_owned()))
    }
}

/// A person who signs in (without their password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Their sign-in name as written when created.
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// A disabled user cannot sign in and has no working session.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// A user and their Argon2id password hash (a PHC string), for checking a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

/// A session to store. The token itself is never stored: only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// Whose session it is.
    pub user: UserId,
    /// The anti-forgery token requests that change something must carry.
    pub csrf_token: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored session and its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// Whose session it is.
    pub user: User,
    /// The anti-forgery token.
    pub csrf_token: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_seen: DateTime<Utc>,
}

/// A tracked account and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// Riskdeck's id.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// The trader who owns it, if any.
    pub owner: Option<UserId>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When, by whom and why it was archived (read-only, no longer tracked); `None` while it
    /// is in use.
    pub archived: Option<Archived>,
}

/// An account's archiving: once, never undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archived {
    pub at: DateTime<Utc>,
    /// The admin's username.
    pub by: String,
    pub reason: String,
}

/// The form of a username that is unique: names differ only if they differ in more than case.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// A user row: id, username, role, disabled, created.
type UserRow = (i64, String, String, bool, i64);

fn user_from_row(
    (id, username, role, disabled, created_at_ms): UserRow,
) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(id),
        username,
        role: Role::parse(&role).ok_or(StoreError::Corrupt {
            column: "role",
            value: role,
        })?,
        disabled,
        created_at: time_from_ms(created_at_ms)?,
    })
}

/// One engine event as stored: when, what kind, which rule, and the event itself as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event time.
    pub time: DateTime<Utc>,
    /// `warning`, `breach`, `objective_met`, `passed` or `failed`.
    pub kind: String,
    /// The rule, when the event concerns one.
    pub rule: Option<String>,
    /// The whole event (with its evidence) as JSON.
    pub body: String,
}

/// A stored event with its id (the order events were stored in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Database id: increasing, never reused.
    pub id: i64,
    /// The event.
    pub event: StoredEvent,
}

/// One audit log entry: who did what to which thing, with the thing before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// When.
    pub time: DateTime<Utc>,
    /// Who: a user name, or `system` for the server itself.
    pub actor: String,
    /// What, e.g. `rule_set.save`.
    pub action: String,
    /// To what, e.g. `account:ftmo-100k`.
    pub subject: String,
    /// The thing before the action, when there was one.
    pub before: Option<serde_json::Value>,
    /// The thing after the action, when there is one.
    pub after: Option<serde_json::Value>,
    /// Why, when given.
    pub reason: Option<String>,
}

/// A stored audit entry with its id.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Database id: increasing, never reused.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// Which audit entries to list: every set field must match. Newest first; page on with
/// `before_id` = the last id of the previous page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this subject.
    pub subject: Option<String>,
    /// Only entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries at or before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries older than this id (the next page).
    pub before_id: Option<i64>,
    /// At most this many (at most [`MAX_AUDIT_PAGE`]; zero means the maximum).
    pub limit: u32,
}

/// The largest page of audit entries one call returns.
pub const MAX_AUDIT_PAGE: u32 = 1_000;

/// Where a notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Not delivered yet; due at `next_attempt_at`.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up.
    Failed,
}

impl NotificationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt {
                column: "status",
                value: other.to_owned(),
            }),
        }
    }
}

/// One outbox row: the notification of one challenge event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The event's id (the outbox's key).
    pub event_id: i64,
    /// The account.
    pub account: AccountId,
    /// The event.
    pub event: StoredEvent,
    /// Where it stands.
    pub status: NotificationStatus,
    /// Delivery attempts so far (claims).
    pub attempts: u32,
    /// When it is next due (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// One delivery to plan: a channel (`telegram`, `webhook`, `email`) and a recipient (`firm`
/// or `user:ID`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveryTarget {
    /// The channel.
    pub channel: String,
    /// The recipient.
    pub recipient: String,
}

/// One notification of one event on one channel to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id.
    pub event_id: i64,
    /// The channel.
    pub channel: String,
    /// The recipient.
    pub recipient: String,
    /// The account.
    pub account: AccountId,
    /// The event.
    pub event: StoredEvent,
    /// Where it stands.
    pub status: shared::api::DeliveryStatus,
    /// Attempts so far (claims).
    pub attempts: u32,
    /// When it is next due (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery row joined with its event.
type DeliveryRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    i64,
    String,
    Option<String>,
    String,
);

fn delivery_from_row(
    (
        event_id,
        channel,
        recipient,
        account,
        status,
        attempts,
        next_ms,
        last_error,
        delivered_ms,
        t_ms,
        kind,
        rule,
        body,
    ): DeliveryRow,
) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        event_id,
        channel,
        recipient,
        account: AccountId(account),
        event: StoredEvent {
            time: time_from_ms(t_ms)?,
            kind,
            rule,
            body,
        },
        status: shared::api::DeliveryStatus::parse(&status).ok_or(StoreError::Corrupt {
            column: "status",
            value: status,
        })?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: time_from_ms(next_ms)?,
        last_error,
        delivered_at: delivered_ms.map(time_from_ms).transpose()?,
    })
}

/// One version of an account's rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSetVersion {
    /// 1, 2, 3, ... per account.
    pub version: i64,
    /// From when it applies.
    pub effective_from: DateTime<Utc>,
    /// The rules (JSON).
    pub rules: serde_json::Value,
    /// Who saved it.
    pub created_by: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// An account an admin created at runtime: how it is tracked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSetup {
    /// Riskdeck's id.
    pub account: AccountId,
    /// `metaapi` or `ctrader` (its connection is stored with the secrets sealed) or `demo`.
    pub connection: String,
    /// The broker's id of the account (MetaApi's, cTrader's `ctidTraderAccountId`, or the
    /// demo broker's).
    pub external_account_id: String,
    /// The risk-engine preset.
    pub preset: String,
    /// The challenge's starting capital.
    pub initial_balance: Decimal,
    /// The account currency.
    pub currency: String,
    /// The admin who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// How a MetaApi account is followed (streaming or REST polling).
    pub transport: shared::api::Transport,
    /// Its program, version and phase, when it is on one (stored in the same transaction).
    pub program: Option<Enrollment>,
}

/// A new account as an import creates it: what [`Connections::create_account_setup`] takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    /// Its setup (and program enrollment).
    pub setup: AccountSetup,
    /// Its display name.
    pub name: String,
    /// The trader who owns it.
    pub owner: Option<UserId>,
    /// Its broker connection, secrets sealed (MetaApi, cTrader).
    pub connection: Option<StoredBrokerConnection>,
}

/// How to reach an account's broker, as stored: the token sealed (see `crate::secrets`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBrokerConnection {
    /// Riskdeck's account id.
    pub account: AccountId,
    /// The platform, e.g. `metaapi`.
    pub platform: String,
    /// The broker API's base URL.
    pub base_url: String,
    /// The broker's id of the account.
    pub external_account_id: String,
    /// The token, sealed (cTrader: the account owner's access token).
    pub sealed_token: crate::secrets::SealedSecret,
    /// cTrader: the Open API application's client id (`None` for MetaApi).
    pub client_id: Option<String>,
    /// cTrader: the application's client secret, sealed (`None` for MetaApi).
    pub sealed_client_secret: Option<crate::secrets::SealedSecret>,
    /// cTrader: the OAuth refresh token, sealed.
    pub sealed_refresh_token: Option<crate::secrets::SealedSecret>,
    /// cTrader: when the access token expires, as its last refresh said.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// cTrader: when the token pair was last refreshed.
    pub token_refreshed_at: Option<DateTime<Utc>>,
    /// cTrader: the pair's lineage, shared by the connections that hold one pair (see
    /// `connections::lineage_of`); `None` without a refresh token.
    pub token_lineage: Option<String>,
    /// When the connection was last saved.
    pub updated_at: DateTime<Utc>,
}

/// Opens the store a URL names and applies its migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact(url)))
    }
}

/// Like [`open`], but a SQLite URL must name an existing file (operator commands read a
/// database; they never create an empty one).
pub async fn open_existing(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open_existing(url).await?))
    } else {
        open(url).await
    }
}

fn decimal(column: &'static str, text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.map(|value| {
        value
            .parse::<Decimal>()
            .map_err(|_| StoreError::Corrupt { column, value })
    })
    .transpose()
}

fn json(
    column: &'static str,
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|value| {
        serde_json::from_str(&value).map_err(|_| StoreError::Corrupt { column, value })
    })
    .transpose()
}

fn rule_set_from_row(
    (version, effective_from, rules, created_by, created_at): (i64, i64, String, String, i64),
) -> Result<RuleSetVersion, StoreError> {
    Ok(RuleSetVersion {
        version,
        effective_from: time_from_ms(effective_from)?,
        rules: json("rules", Some(rules))?.unwrap_or_default(),
        created_by,
        created_at: time_from_ms(created_at)?,
    })
}

/// An account's archiving from its columns (all three set, or none).
fn archived_from_row(
    at: Option<i64>,
    by: Option<String>,
    reason: Option<String>,
) -> Result<Option<Archived>, StoreError> {
    match at {
        None => Ok(None),
        Some(at) => Ok(Some(Archived {
            at: time_from_ms(at)?,
            by: by.unwrap_or_default(),
            reason: reason.unwrap_or_default(),
        })),
    }
}

fn time_from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Corrupt {
        column: "t_ms",
        value: ms.to_string(),
    })
}

/// The URL without its password, for messages. A URL that does not parse is not shown when it
/// may hold credentials.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) if url.contains('@') => "the database URL (which does not parse)".to_owned(),
        Err(_) => url.to_owned(),
    }
}

/// Why a database could not be opened, with what to do about it.
fn open_error(url: &str, error: &sqlx::Error) -> StoreError {
    let shown = redact(url);
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
            StoreError::Unreachable(format!("{shown} ({error})"))
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // SQLite reports extended result codes; the primary code is the low byte.
            let sqlite = url
                .starts_with("sqlite:")
                .then(|| code.parse::<i32>().ok().map(|c| c & 0xff))
                .flatten();
            match (sqlite, code.as_str()) {
                (Some(26), _) => StoreError::NotADatabase(shown),
                (Some(14), _) => StoreError::Open(format!(
                    "{shown}: {error}: check that its directory exists and is writable"
                )),
                (None, "3D000") => StoreError::Open(format!(
                    "{shown}: the database does not exist: create it first (e.g. `createdb NAME`) \
                     or fix the name in the URL"
                )),
                (None, "28P01" | "28000") => StoreError::Open(format!(
                    "{shown}: the server refused the login: check the user and password in the URL"
                )),
                _ => StoreError::Open(format!("{shown}: {error}")),
            }
        }
        _ => StoreError::Open(format!("{shown}: {error}")),
    }
}

/// Why the embedded migrations could not be applied, with what to do about it.
fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::VersionMissing(version) => StoreError::NewerDatabase(version),
        MigrateError::Execute(sqlx::Error::Database(db))
            if db.code().as_deref().and_then(|c| c.parse::<i32>().ok()) == Some(26) =>
        {
            StoreError::NotADatabase("the database file".to_owned())
        }
        MigrateError::VersionMismatch(version) => StoreError::Migrate(format!(
            "migration {version} was applied to this database in a different form than this \
             version of Riskdeck has: run the build that migrated it, or restore a backup"
        )),
        MigrateError::Dirty(version) => StoreError::Migrate(format!(
            "migration {version} stopped part-way on an earlier start: restore a backup from \
             before it"
        )),
        MigrateError::ExecuteMigration(error, version) => StoreError::Migrate(format!(
            "migration {version} failed ({error}): nothing of it was applied; restore a backup \
             if the database was changed by hand, or report this"
        )),
        other => StoreError::Migrate(format!(
            "{other}: restore a backup or point database_url at another database"
        )),
    }
}

impl User {
    /// The user as the app shows them.
    pub fn info(&self) -> shared::api::UserInfo {
        shared::api::UserInfo {
            id: self.id,
            username: self.username.clone(),
            role: self.role,
        }
    }

    /// The user as an admin sees them.
    pub fn summary(&self) -> shared::api::UserSummary {
        shared::api::UserSummary {
            id: self.id,
            username: self.username.clone(),
            role: self.role,
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}
