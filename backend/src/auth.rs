//! Who is asking: passwords, sessions, login throttling, the request extractors that say who is
//! signed in and what they may see, and the users seeded at start-up.
//!
//! Passwords are stored only as Argon2id PHC strings. A session is a random token in an
//! `HttpOnly`, `SameSite=Strict` cookie; the server stores only the token's SHA-256, so a copy of
//! the database lets no one sign in. Every request that changes something also carries the
//! session's anti-forgery token in the `x-csrf-token` header. Nothing here logs a password or a
//! token.

use crate::AppState;
use crate::config::Config;
use crate::error::AppError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shared::api::{Role, SessionResponse, UserId};
use shared::domain::AccountId;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use store::{self, Store, StoreError, User};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "riskdeck_session";
/// The header that carries the anti-forgery token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Failed sign-ins one username may have from one address at once, then one more every
/// [`PAIR_REFILL`]. Only failures count, and a success forgets the pair's failures.
const PAIR_BURST: u32 = 5;
const PAIR_REFILL: Duration = Duration::from_secs(20);
/// Failed sign-ins one client address may have across usernames, then one more every
/// [`IP_REFILL`].
const IP_BURST: u32 = 30;
const IP_REFILL: Duration = Duration::from_secs(2);
/// Failed sign-ins one username may have from all addresses together (a distributed guess),
/// then one more every [`USER_REFILL`]. An address that signed in as the user before
/// ([`KNOWN_FOR`]) is not held by this ceiling: the owner still gets in.
const USER_BURST: u32 = 100;
const USER_REFILL: Duration = Duration::from_secs(5);
/// How long an address that signed in as a user stays known for that user.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Keys the throttles remember before forgetting those that are back to a full burst.
const THROTTLE_KEYS: usize = 10_000;
/// A session's last use is written at most this often.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Why a password or a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The operating system's random number generator failed.
    #[error("the system's random number generator failed: {0}")]
    Random(String),
    /// Hashing a password failed.
    #[error("cannot hash a password: {0}")]
    Hash(String),
    /// A blocking task was cancelled or panicked.
    #[error("a password task did not finish: {0}")]
    Task(String),
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        AppError::Internal(error.to_string())
    }
}

/// Authentication settings and state shared by every request.
pub struct Auth {
    /// How long a session works after signing in.
    pub session_ttl: Duration,
    /// Whether the session cookie is marked `Secure`.
    pub secure_cookies: bool,
    /// Checked for unknown usernames, so an answer takes as long whether or not the user exists.
    dummy_hash: String,
    by_pair: Failures<(String, Option<IpAddr>)>,
    by_ip: Failures<IpAddr>,
    by_user: Failures<String>,
    /// Addresses that signed in as a user, and when they last did.
    known: Mutex<HashMap<(String, IpAddr), Instant>>,
}

/// Failed attempts per key, as a leaky bucket: `burst` failures at once, then one more every
/// `refill`. Keys whose bucket is empty again are forgotten when the table grows large.
struct Failures<K> {
    burst: u32,
    refill: Duration,
    /// When the key's bucket is empty again (the "theoretical arrival time").
    empty_at: Mutex<HashMap<K, Instant>>,
}

impl<K: Eq + Hash> Failures<K> {
    fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: burst.max(1),
            refill,
            empty_at: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must wait before its next attempt, `None` when it may try now.
    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let table = self.empty_at.lock().unwrap_or_else(|e| e.into_inner());
        let empty_at = *table.get(key)?;
        let allowed_until = now + self.refill * (self.burst - 1);
        let wait = empty_at.saturating_duration_since(allowed_until);
        (!wait.is_zero()).then_some(wait)
    }

    /// Counts one failure of `key`.
    fn fail(&self, key: K, now: Instant) {
        let mut table = self.empty_at.lock().unwrap_or_else(|e| e.into_inner());
        if table.len() > THROTTLE_KEYS {
            table.retain(|_, empty_at| *empty_at > now);
        }
        let empty_at = table.entry(key).or_insert(now);
        *empty_at = (*empty_at).max(now) + self.refill;
    }

    /// Forgets the failures of `key`.
    fn forget(&self, key: &K) {
        let mut table = self.empty_at.lock().unwrap_or_else(|e| e.into_inner());
        table.remove(key);
    }
}

/// The key a username is throttled under: its case-free form, and only a bounded prefix, so a
/// long made-up name cannot grow the tables.
fn throttle_key(username: &str) -> String {
    store::username_key(username).chars().take(64).collect()
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Settings from the configuration, with empty throttles.
    pub async fn new(config: &Config) -> Result<Self, AuthError> {
        let dummy = random_password()?;
        let dummy_hash = hash_password_blocking(dummy).await?;
        Ok(Self {
            session_ttl: config.session_ttl,
            secure_cookies: config.secure_cookies,
            dummy_hash,
            by_pair: Failures::new(PAIR_BURST, PAIR_REFILL),
            by_ip: Failures::new(IP_BURST, IP_REFILL),
            by_user: Failures::new(USER_BURST, USER_REFILL),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Whether a sign-in as `username` from `ip` may be tried now; `Err` holds how long to
    /// wait. Only failures are counted (see [`Auth::failed`]): the username's failures from
    /// this address, the address's failures for any username, and the username's failures from
    /// everywhere (a much higher ceiling that does not hold an address the user signed in
    /// from before). An attacker elsewhere thus cannot keep the owner out.
    pub fn throttle(&self, username: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let user = throttle_key(username);
        let mut wait = self.by_pair.wait(&(user.clone(), ip), now);
        if let Some(ip) = ip {
            wait = wait.max(self.by_ip.wait(&ip, now));
        }
        if !self.is_known(&user, ip, now) {
            wait = wait.max(self.by_user.wait(&user, now));
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed sign-in as `username` from `ip`.
    pub fn failed(&self, username: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let user = throttle_key(username);
        self.by_pair.fail((user.clone(), ip), now);
        if let Some(ip) = ip {
            self.by_ip.fail(ip, now);
        }
        self.by_user.fail(user, now);
    }

    /// Records a successful sign-in: the pair's failures are forgotten and the address is
    /// known for the user.
    pub fn succeeded(&self, username: &str, ip: Option<IpAddr>) {
        let now = Instant::now();
        let user = throttle_key(username);
        self.by_pair.forget(&(user.clone(), ip));
        if let Some(ip) = ip {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if known.len() > THROTTLE_KEYS {
                known.retain(|_, at| now.saturating_duration_since(*at) < KNOWN_FOR);
            }
            known.insert((user, ip), now);
        }
    }

    fn is_known(&self, user: &str, ip: Option<IpAddr>, now: Instant) -> bool {
        let Some(ip) = ip else { return false };
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(&(user.to_owned(), ip))
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR)
    }

    /// The user whose password this is, or `None`: unknown user, wrong password and disabled
    /// user are one answer, and take the same time.
    pub async fn check_password(
        &self,
        store: &dyn Store,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AppError> {
        let credentials = store.user_credentials(username).await?;
        let (hash, user) = match credentials {
            Some(credentials) => (credentials.password_hash, Some(credentials.user)),
            None => (self.dummy_hash.clone(), None),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| AuthError::Task(e.to_string()))?;
        Ok(user.filter(|user| matches && !user.disabled))
    }

    /// Opens a session for `user`: the cookie to set and what the app needs to know.
    pub async fn open_session(
        &self,
        store: &dyn Store,
        user: &User,
    ) -> Result<OpenedSession, AppError> {
        let token = random_token()?;
        let csrf_token = random_token()?;
        let now = Utc::now();
        let ttl = chrono::TimeDelta::from_std(self.session_ttl)
            .map_err(|e| AppError::Internal(format!("session_ttl out of range: {e}")))?;
        store
            .create_session(&store::NewSession {
                token_hash: token_hash(&token),
                user: user.id,
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at: now + ttl,
            })
            .await?;
        // Sessions that ran out are removed now and then; signing in is a fine moment.
        if let Err(error) = store.delete_expired_sessions(now).await {
            tracing::warn!(%error, "cannot delete expired sessions");
        }
        Ok(OpenedSession {
            cookie: self.session_cookie(&token, self.session_ttl)?,
            response: SessionResponse {
                user: user.info(),
                csrf_token,
            },
        })
    }

    /// The `Set-Cookie` value carrying `token` for `max_age`; an empty token and no age clear it.
    pub fn session_cookie(&self, token: &str, max_age: Duration) -> Result<HeaderValue, AppError> {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        let cookie = cookie::Cookie::build((SESSION_COOKIE, token))
            .http_only(true)
            .same_site(cookie::SameSite::Strict)
            .path("/")
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::seconds(seconds))
            .build();
        HeaderValue::from_str(&cookie.to_string())
            .map_err(|e| AppError::Internal(format!("cannot build the session cookie: {e}")))
    }
}

/// A session just opened.
pub struct OpenedSession {
    /// The `Set-Cookie` header value.
    pub cookie: HeaderValue,
    /// The body of the sign-in answer.
    pub response: SessionResponse,
}

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes) and a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// [`hash_password`] off the async runtime (it takes tens of milliseconds on purpose).
pub async fn hash_password_blocking(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AuthError::Task(e.to_string()))?
}

/// Whether `password` matches the PHC string; a malformed stored hash matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "a stored password hash cannot be read");
            false
        }
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// 256 random bits as 64 hex digits: a session or anti-forgery token.
pub fn random_token() -> Result<String, AuthError> {
    Ok(hex(&random_bytes::<32>()?))
}

/// The stored form of a session token: its SHA-256 in hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A password a person can read and type: four groups of five characters (about 116 bits),
/// without look-alikes such as `0`/`O` and `1`/`l`.
pub fn random_password() -> Result<String, AuthError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    // The largest multiple of the alphabet's size below 256: bytes above it are skipped, so
    // every character is equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    let mut chars = Vec::with_capacity(20);
    while chars.len() < 20 {
        for byte in random_bytes::<32>()? {
            if usize::from(byte) < limit && chars.len() < 20 {
                chars.push(ALPHABET[usize::from(byte) % ALPHABET.len()]);
            }
        }
    }
    let groups: Vec<String> = chars
        .chunks(5)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect();
    Ok(groups.join("-"))
}

/// The session token in the request's cookies, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty())
}

/// The signed-in person making the request; 401 when there is none.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// Who they are.
    pub user: User,
    /// Their session's stored hash.
    pub token_hash: String,
    /// Their session's anti-forgery token.
    pub csrf_token: String,
}

impl CurrentUser {
    /// Whether they may see every account.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// The accounts they may see: `None` means every account (an admin).
    pub async fn visible_accounts(
        &self,
        store: &dyn Store,
    ) -> Result<Option<HashSet<AccountId>>, StoreError> {
        if self.is_admin() {
            return Ok(None);
        }
        Ok(Some(
            store
                .accounts_owned_by(self.user.id)
                .await?
                .into_iter()
                .collect(),
        ))
    }

    /// Whether they may see this account.
    pub async fn may_see(
        &self,
        store: &dyn Store,
        account: &AccountId,
    ) -> Result<bool, StoreError> {
        Ok(self.is_admin() || store.account_owner(account).await? == Some(self.user.id))
    }

    /// The request's session, if it is valid now.
    async fn resolve(parts: &Parts, store: &dyn Store) -> Result<Option<Self>, StoreError> {
        let Some(token) = session_token(&parts.headers) else {
            return Ok(None);
        };
        let hash = token_hash(&token);
        let now = Utc::now();
        let Some(session) = store.session(&hash, now).await? else {
            return Ok(None);
        };
        if now - session.last_seen >= TOUCH_EVERY
            && let Err(error) = store.touch_session(&hash, now).await
        {
            tracing::warn!(%error, "cannot record a session's last use");
        }
        Ok(Some(Self {
            user: session.user,
            token_hash: hash,
            csrf_token: session.csrf_token,
        }))
    }

    /// Whether the session still works (not signed out, not expired, user not disabled).
    pub async fn still_valid(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(store.session(&self.token_hash, now).await?.is_some())
    }

    /// Whether the request carries this session's anti-forgery token.
    pub fn csrf_matches(&self, headers: &HeaderMap) -> bool {
        use subtle::ConstantTimeEq;
        headers
            .get(CSRF_HEADER)
            .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(self.csrf_token.as_bytes())))
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(user.clone());
        }
        let user = Self::resolve(parts, state.store.as_ref())
            .await?
            .ok_or_else(unauthorized)?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A signed-in admin; 401 when no one is signed in, 403 for a trader.
#[derive(Clone, Debug)]
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            Ok(Self(user))
        } else {
            Err(AppError::Forbidden("Only an admin may do this.".to_owned()))
        }
    }
}

/// The `{account}` of the path, which the signed-in person may see: 401 when no one is signed
/// in, and the same 404 for another trader's account as for one that does not exist.
#[derive(Clone, Debug)]
pub struct OwnedAccount(pub AccountId);

impl FromRequestParts<AppState> for OwnedAccount {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(account) = parts.extensions.get::<Self>() {
            return Ok(account.clone());
        }
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| no_such_account())?;
        let id = params
            .iter()
            .find(|(name, _)| *name == "account")
            .map(|(_, value)| AccountId(value.to_owned()))
            .ok_or_else(no_such_account)?;
        if !user.may_see(state.store.as_ref(), &id).await? {
            return Err(no_such_account());
        }
        let account = Self(id);
        parts.extensions.insert(account.clone());
        Ok(account)
    }
}

/// The client's address (the TCP peer; a proxy in front is one client), when the server knows
/// it.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// The answer for no session, an expired one, or a disabled user.
pub fn unauthorized() -> AppError {
    AppError::Unauthorized("Please sign in.".to_owned())
}

/// The answer for an account that does not exist or that the caller may not see.
pub fn no_such_account() -> AppError {
    AppError::NotFound("No account with this id is tracked.".to_owned())
}

/// A password made at start-up, to be shown once to whoever started the server.
#[derive(Clone)]
pub struct Login {
    /// The sign-in name.
    pub username: String,
    /// Admin or trader.
    pub role: Role,
    /// The generated password.
    pub password: String,
    /// The accounts the user owns.
    pub accounts: Vec<AccountId>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .field("accounts", &self.accounts)
            .finish()
    }
}

/// Why the users could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A password could not be made.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The configured admin's name belongs to someone who is not an admin.
    #[error(
        "no admin exists and the [admin] username {0:?} is taken by another user: set [admin] \
         username to a new name"
    )]
    AdminNameTaken(String),
    /// A user disappeared while it was being created (another server deleted it?).
    #[error("user {0:?} could not be created nor found: start again")]
    Vanished(String),
}

/// The demo's users: the admin, and traders with the accounts they own.
pub const DEMO_USERS: [(&str, Role); 3] = [
    ("admin", Role::Admin),
    ("trader", Role::Trader),
    ("trader2", Role::Trader),
];

/// Sets up the users and account ownership at start-up; returns the passwords it made.
///
/// In demo mode the demo users get fresh passwords at every start. Otherwise, when no admin
/// exists, one is created from `[admin]` (with a generated password unless one is configured).
/// A trader named by an account who does not exist yet is created with a generated password.
/// Then every tracked account is stored with its owner: the configured trader, else the one an
/// admin assigned.
pub async fn seed(
    store: &dyn Store,
    config: &Config,
    accounts: &[crate::config::AccountConfig],
) -> Result<Vec<Login>, SeedError> {
    let mut logins = Vec::new();
    if config.demo {
        for (username, role) in DEMO_USERS {
            let password = random_password()?;
            let hash = hash_password_blocking(password.clone()).await?;
            let user = store.upsert_user(username, &hash, role).await?;
            // A new password ends every session opened with the old one.
            let ended = store.delete_user_sessions(user.id).await?;
            if ended > 0 {
                tracing::info!(%username, sessions = ended, "password rotated; sessions ended");
            }
            if user.disabled {
                store.set_user_disabled(user.id, false).await?;
            }
            logins.push(Login {
                username: username.to_owned(),
                role,
                password,
                accounts: Vec::new(),
            });
        }
    }
    if !store.admin_exists().await? {
        let admin = &config.admin;
        let (password, generated) = match &admin.password {
            Some(password) => (password.clone(), false),
            None => (random_password()?, true),
        };
        let hash = hash_password_blocking(password.clone()).await?;
        if store
            .create_user(&admin.username, &hash, Role::Admin)
            .await?
            .is_none()
        {
            return Err(SeedError::AdminNameTaken(admin.username.clone()));
        }
        if generated {
            logins.push(Login {
                username: admin.username.clone(),
                role: Role::Admin,
                password,
                accounts: Vec::new(),
            });
        } else {
            tracing::info!(username = %admin.username, "created the admin from the configuration");
        }
    }
    let mut owners: Vec<(AccountId, &str, Option<UserId>)> = Vec::new();
    for account in accounts {
        // A trader named in the configuration owns the account; otherwise the owner an admin
        // assigned over the API (if any) stays.
        let id = AccountId(account.id.clone());
        let owner = match &account.trader {
            Some(trader) => Some(ensure_trader(store, trader, &mut logins).await?),
            None => store.account_owner(&id).await?,
        };
        owners.push((id, &account.name, owner));
    }
    for (id, name, owner) in &owners {
        store.upsert_account(id, name, *owner).await?;
    }
    let users = store.users().await?;
    for login in &mut logins {
        if let Some(user) = users
            .iter()
            .find(|u| store::username_key(&u.username) == store::username_key(&login.username))
        {
            login.accounts = owners
                .iter()
                .filter(|(_, _, owner)| *owner == Some(user.id))
                .map(|(id, _, _)| id.clone())
                .collect();
        }
    }
    Ok(logins)
}

/// The id of the trader `username`, created with a generated password when missing.
async fn ensure_trader(
    store: &dyn Store,
    username: &str,
    logins: &mut Vec<Login>,
) -> Result<UserId, SeedError> {
    if let Some(existing) = store.user_credentials(username).await? {
        return Ok(existing.user.id);
    }
    let password = random_password()?;
    let hash = hash_password_blocking(password.clone()).await?;
    let user = match store.create_user(username, &hash, Role::Trader).await? {
        Some(user) => user,
        // Created a moment ago by another server on the same database.
        None => match store.user_credentials(username).await? {
            Some(existing) => return Ok(existing.user.id),
            None => return Err(SeedError::Vanished(username.to_owned())),
        },
    };
    logins.push(Login {
        username: user.username.clone(),
        role: Role::Trader,
        password,
        accounts: Vec::new(),
    });
    Ok(user.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse").expect("hash"),
            "salted"
        );
    }

    #[test]
    fn tokens_and_passwords_are_random_and_well_formed() {
        let (a, b) = (
            random_token().expect("token"),
            random_token().expect("token"),
        );
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        let password = random_password().expect("password");
        assert_eq!(password.len(), 23, "{password}");
        assert_eq!(password.matches('-').count(), 3, "{password}");
        assert!(
            !password.contains(['0', 'O', '1', 'l', 'I', 'o']),
            "{password}"
        );
        assert_ne!(password, random_password().expect("password"));
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_token(&headers), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; riskdeck_session=abc"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("abc"));
        let mut empty = HeaderMap::new();
        empty.append(
            header::COOKIE,
            HeaderValue::from_static("riskdeck_session="),
        );
        assert_eq!(session_token(&empty), None);
    }

    #[tokio::test]
    async fn throttles_count_failures_per_pair_address_and_username() {
        let auth = Auth::new(&Config::default()).await.expect("auth");
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..20 {
            auth.throttle("Jane", ip)
                .expect("successes are never counted");
            auth.succeeded("jane", ip);
        }
        for _ in 0..PAIR_BURST {
            auth.throttle("Jane", ip).expect("within the burst");
            auth.failed("Jane", ip);
        }
        let wait = auth
            .throttle("jane", ip)
            .expect_err("the pair is throttled");
        assert!(wait > Duration::ZERO && wait <= PAIR_REFILL, "{wait:?}");
        auth.throttle("bob", ip).expect("another username is not");
        let owner = Some(IpAddr::from([10, 0, 0, 9]));
        auth.throttle("jane", owner)
            .expect("another address is not");
        auth.succeeded("jane", ip);
        auth.throttle("jane", ip)
            .expect("a success forgets the pair's failures");

        let other_ip = Some(IpAddr::from([10, 0, 0, 2]));
        for i in 0..IP_BURST {
            auth.throttle(&format!("user{i}"), other_ip)
                .expect("within the burst");
            auth.failed(&format!("user{i}"), other_ip);
        }
        auth.throttle("someone-else", other_ip)
            .expect_err("the address is throttled");

        // A distributed guess: many addresses, a few failures each.
        for i in 0..USER_BURST {
            let ip = Some(IpAddr::from([172, 16, (i / 200) as u8, (i % 200) as u8]));
            auth.failed("root", ip);
        }
        let fresh = Some(IpAddr::from([192, 168, 1, 1]));
        auth.throttle("root", fresh)
            .expect_err("the username's ceiling holds a new address");
        auth.succeeded("root", owner);
        auth.throttle("root", owner)
            .expect("an address the user signed in from still gets through");
    }
}
