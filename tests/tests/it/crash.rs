//! Durability under `kill -9`: the real `riskdeck serve` binary tracks an account on a scripted
//! MetaApi-shaped broker and is killed with SIGKILL, once right after a breach was committed and
//! then five times at random moments of steady ingestion. After every kill the committed breach
//! is there exactly once, no peak is lower, no committed sample is lost, and the next start
//! resumes tracking where the last one stopped without repeating an event. On SQLite and on
//! PostgreSQL (when `TEST_POSTGRES_URL` is set).

use axum::routing::get;
use rust_decimal::Decimal;
use shared::api::{AccountSummary, FeedStatus};
use shared::domain::AccountId;
use shared::engine::ChallengeStatus;
use shared::peaks::Peaks;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Store, StoredEvent, buckets::COARSEST};
use tests::broker::{ScriptedBroker, account_information};

const ACCOUNT: &str = "ftmo-100k";

/// What the scripted broker reports: equity climbs by one per account-information request from
/// `base`, or sits at 94,999, under the 5% daily floor, while `dip` is set.
struct Script {
    dip: bool,
    base: i64,
    step: i64,
}

impl Script {
    /// The next start climbs from `base`.
    fn climb_from(&mut self, base: i64) {
        self.base = base;
        self.step = 0;
    }
}

type Shared = Arc<Mutex<Script>>;

fn lock(script: &Shared) -> std::sync::MutexGuard<'_, Script> {
    script
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn scripted_broker(script: Shared) -> String {
    let account = move || {
        let equity = {
            let mut script = lock(&script);
            script.step += 1;
            if script.dip {
                "94999".to_owned()
            } else {
                format!("{}", script.base + script.step)
            }
        };
        async move { account_information(&equity) }
    };
    ScriptedBroker::new(get(account)).serve().await
}

fn write_config(dir: &Path, database_url: &str, broker: &str) -> std::path::PathBuf {
    let path = dir.join("riskdeck.toml");
    let config = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{database_url}"
journal_dir = "{journal}"
assets = "{assets}"
poll_interval = 100
stale_after = 5000
# A restart on PostgreSQL takes the killed process's lease over once it expires.
lease_ttl = 1000

[admin]
username = "admin"
password = "crash-test-password"

[[accounts]]
id = "{ACCOUNT}"
name = "FTMO 100k"
base_url = "{broker}"
metaapi_account_id = "acc"
token = "t"
challenge = {{ preset = "ftmo-2step", initial_balance = 100000 }}
"#,
        journal = dir.join("journal").display(),
        assets = dir.join("no-assets").display(),
    );
    std::fs::write(&path, config).expect("write config");
    path
}

/// The real binary, serving; killed with SIGKILL on drop at the latest.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_riskdeck-bin"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .env_remove("RISKDECK_DATABASE_URL")
            .env_remove("RISKDECK_LISTEN")
            .env_remove("RISKDECK_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start riskdeck");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Drain standard output for the life of the process, so the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("running at ").nth(1) {
                    let base = rest.split('/').take(3).collect::<Vec<_>>().join("/");
                    let _ = tx.send(base);
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server says where it is running");
        Self { child, base }
    }

    /// `kill -9`: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What is committed for the account.
#[derive(Debug)]
struct Snapshot {
    peaks: Peaks,
    events: Vec<StoredEvent>,
    samples: u64,
    deals_since: Option<chrono::DateTime<chrono::Utc>>,
}

async fn snapshot(store: &dyn Store) -> Snapshot {
    let account = AccountId::from(ACCOUNT);
    let state = store.load_challenge(&account).await.expect("state");
    let deals_since = state.and_then(|state| {
        let json: serde_json::Value = serde_json::from_str(&state).ok()?;
        serde_json::from_value(json["deals_since"].clone()).ok()
    });
    Snapshot {
        peaks: store
            .load_peaks(&account)
            .await
            .expect("peaks")
            .unwrap_or_default(),
        events: store.challenge_events(&account).await.expect("events"),
        samples: store
            .equity_tier(&account, COARSEST.resolution_ms)
            .await
            .expect("buckets")
            .iter()
            .map(|b| b.samples)
            .sum(),
        deals_since,
    }
}

async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(events: &[StoredEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

#[track_caller]
fn assert_not_lower(after: &Snapshot, before: &Snapshot, when: &str) {
    let not_lower = |a: Option<Decimal>, b: Option<Decimal>| b.is_none() || a >= b;
    assert!(
        not_lower(after.peaks.peak_equity, before.peaks.peak_equity),
        "{when}: peak equity went back from {:?} to {:?}",
        before.peaks.peak_equity,
        after.peaks.peak_equity
    );
    assert!(
        not_lower(after.peaks.peak_balance, before.peaks.peak_balance),
        "{when}: peak balance went back"
    );
    assert!(
        after.samples >= before.samples,
        "{when}: committed samples were lost"
    );
    assert!(
        after.deals_since >= before.deals_since,
        "{when}: the deal cursor went back"
    );
}

async fn survives_kill_9(database_url: &str, dir: &Path) {
    let script: Shared = Arc::new(Mutex::new(Script {
        dip: false,
        base: 100_000,
        step: 0,
    }));
    let broker = scripted_broker(script.clone()).await;
    let config = write_config(dir, database_url, &broker);
    let store = store::open(database_url).await.expect("store");

    // A breach, committed, then kill -9 at once.
    let server = Server::start(&config);
    until("the first committed state", || async {
        let now = snapshot(&*store).await;
        (now.deals_since.is_some() && now.peaks.peak_equity.is_some()).then_some(())
    })
    .await;
    lock(&script).dip = true;
    let committed = until("a committed breach", || async {
        let now = snapshot(&*store).await;
        (count(&now.events, "breach") > 0).then_some(now)
    })
    .await;
    server.kill();
    let after_kill = snapshot(&*store).await;
    assert_eq!(count(&after_kill.events, "breach"), 1);
    assert_eq!(after_kill.events, committed.events);
    assert_not_lower(&after_kill, &committed, "after the first kill");
    let breach_events = after_kill.events.clone();
    lock(&script).dip = false;

    // Five kills at random moments of steady ingestion. Odd rounds climb from below the stored
    // peak, so a peak that was not restored would show; even rounds set new peaks as they go.
    let mut last = after_kill;
    for round in 1..=5 {
        let base = if round % 2 == 1 {
            99_000
        } else {
            100_000 + 1_000 * round
        };
        lock(&script).climb_from(base);
        let server = Server::start(&config);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(150..1_200))).await;
        server.kill();
        let now = snapshot(&*store).await;
        let when = format!("after kill {round}");
        assert_not_lower(&now, &last, &when);
        assert_eq!(now.events, breach_events, "{when}: events changed");
        last = now;
    }

    // The next start resumes: the challenge is still failed, the peak is the stored one (not
    // the lower live equity), samples and the deal cursor move on, and no event repeats.
    lock(&script).climb_from(99_000);
    let server = Server::start(&config);
    let client = reqwest::Client::new();
    let cookie = until("signing in", || async {
        let response = client
            .post(format!("{}/api/auth/login", server.base))
            .json(&serde_json::json!({"username": "admin", "password": "crash-test-password"}))
            .send()
            .await
            .ok()?;
        let cookie = response
            .headers()
            .get(reqwest::header::SET_COOKIE)?
            .to_str()
            .ok()?;
        Some(cookie.split(';').next()?.to_owned())
    })
    .await;
    let url = format!("{}/api/accounts/{ACCOUNT}", server.base);
    let view = until("a live view after the restart", || async {
        let summary: AccountSummary = client
            .get(&url)
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        // The restored view shows at once, marked stale: wait for the first live one (a
        // round killed before its first poll leaves a restored view at the peak).
        (summary.feed == FeedStatus::Live)
            .then_some(summary.latest)
            .flatten()
    })
    .await;
    let challenge = view.challenge.as_ref().expect("the challenge is evaluated");
    assert_eq!(challenge.status, ChallengeStatus::Failed);
    let stored_peak = last.peaks.peak_equity.expect("a stored peak");
    assert!(view.peak_equity >= stored_peak, "{view:?} < {stored_peak}");
    assert!(
        view.equity < stored_peak,
        "the live equity is below the peak"
    );
    let resumed = until("tracking to resume", || async {
        let now = snapshot(&*store).await;
        // The deal cursor is stored with the state, which an unchanged challenge checkpoints
        // only now and then: it must not go back, and samples must move on.
        (now.samples >= last.samples + 5 && now.deals_since >= last.deals_since).then_some(now)
    })
    .await;
    assert_not_lower(&resumed, &last, "after the restart");
    assert_eq!(
        resumed.events, breach_events,
        "no event repeated after restarts"
    );
    assert_eq!(count(&resumed.events, "breach"), 1);
    assert_eq!(count(&resumed.events, "failed"), 1);
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_9_during_ingestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("riskdeck.db").display());
    survives_kill_9(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_9_during_ingestion() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    survives_kill_9(fresh.url(), dir.path()).await;
}
