//! A real Riskdeck tracking the demo broker while the broker misbehaves, one fault knob at a
//! time: the app keeps running, the feed goes stale while the fault lasts longer than
//! `stale_after`, no pass is declared from data it did not see, no deal is lost or counted
//! twice, and the feed is live again once the fault clears. The scripted accounts meet their
//! fate at their scripted instants.
//!
//! Every test runs its own demo broker (100 ms steps, one-second script units, scripts starting
//! three seconds in) and its own server polling every 200 ms, stale after one second.

use backend::challenge::ChallengeRun;
use broker::metaapi::MetaApiClient;
use broker::metaapi::client::http_client;
use chrono::{DateTime, TimeDelta, Utc};
use demo::faults::{FaultMode, Faults};
use demo::world::{DAILY_BREACH_UNITS, PASS_UNITS};
use demo::{DemoBroker, DemoConfig, serve};
use shared::api::{AccountSummary, FeedStatus};
use shared::domain::{AccountId, DealEntry};
use shared::engine::ChallengeStatus;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};
use tokio_util::sync::CancellationToken;

const SCALPER: &str = "demo-eurusd-scalper";
const GOLD: &str = "demo-gold-swing";
const BREACH: &str = "demo-daily-breach";
const PASSING: &str = "demo-passing";
const DEPOSIT: &str = "demo-deposit";
const NO_STOP: &str = "demo-no-stop";

const POLL: Duration = Duration::from_millis(200);
const STALE_AFTER: Duration = Duration::from_secs(1);
/// Short steps make the simulated traders busy: deals keep coming while a fault lasts.
const STEP: Duration = Duration::from_millis(20);
const WAIT: Duration = Duration::from_secs(30);

/// A demo broker and a Riskdeck tracking some of its accounts.
struct Rig {
    demo: DemoBroker,
    demo_base: String,
    server: TestServer,
    /// Signed in as the admin, who sees every account.
    admin: reqwest::Client,
    database_url: String,
    journal_dir: PathBuf,
    stop_demo: CancellationToken,
    dir: tempfile::TempDir,
}

async fn rig(accounts: &[&str]) -> Rig {
    rig_with(accounts, Duration::from_millis(500)).await
}

/// A rig whose broker requests may take up to `broker_timeout`.
async fn rig_with(accounts: &[&str], broker_timeout: Duration) -> Rig {
    let now = Utc::now();
    let demo = DemoBroker::new(
        DemoConfig {
            seed: 7,
            token: "t0ken".into(),
            step: STEP,
            script_start: Some(now + TimeDelta::seconds(3)),
            script_unit: Duration::from_secs(1),
        },
        now - TimeDelta::minutes(5),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let demo_base = format!("http://{}", listener.local_addr().expect("address"));
    let stop_demo = CancellationToken::new();
    let stop = stop_demo.clone();
    tokio::spawn(serve(listener, demo.clone(), async move {
        stop.cancelled().await;
    }));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("r.db"));
    config.demo = false;
    config.poll_interval = POLL;
    config.stale_after = STALE_AFTER;
    config.broker_timeout = broker_timeout;
    config.accounts = backend::config::AccountConfig::demo_accounts(
        &demo,
        &demo_base,
        shared::api::Transport::Rest,
    )
    .into_iter()
    .filter(|a| accounts.contains(&a.id.as_str()))
    .collect();
    let database_url = config.database_url.clone();
    let journal_dir = config.journal_dir.clone().expect("a journal");
    let server = TestServer::start(config).await.expect("server");
    let admin = server.login("admin").await.expect("sign in");
    Rig {
        demo,
        demo_base,
        server,
        admin,
        database_url,
        journal_dir,
        stop_demo,
        dir,
    }
}

impl Rig {
    async fn summary(&self, id: &str) -> Option<AccountSummary> {
        self.admin
            .get(self.server.url(&format!("/api/accounts/{id}")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn status(&self, id: &str) -> Option<ChallengeStatus> {
        Some(self.summary(id).await?.latest?.challenge?.status)
    }

    async fn wait_feed(&self, id: &str, feed: FeedStatus) {
        eventually(WAIT, &format!("{id} to be {feed:?}"), || async {
            let summary = self.summary(id).await?;
            (summary.feed == feed && summary.latest.is_some()).then_some(())
        })
        .await
        .expect("the feed changes");
    }

    /// Waits for two views of `id` published after `after`: the second comes from a poll that
    /// began after `after`, so the engine has seen everything the broker had by then.
    async fn wait_two_polls(&self, id: &str, after: DateTime<Utc>) {
        let mut since = after;
        for _ in 0..2 {
            since = eventually(WAIT, &format!("a view of {id} after {since}"), || async {
                let time = self.summary(id).await?.latest?.time;
                (time > since).then_some(time)
            })
            .await
            .expect("polls go on");
        }
    }

    fn client(&self, id: &str) -> MetaApiClient {
        MetaApiClient::new(
            http_client(Duration::from_secs(5)).expect("http"),
            &self.demo_base,
            id,
            "t0ken",
        )
        .expect("client")
    }

    /// The engine's count of closing trades for `id`, as stored.
    async fn engine_trades(&self, id: &str) -> u32 {
        let store = store::open(&self.database_url).await.expect("store");
        let saved = store
            .load_challenge(&AccountId::from(id))
            .await
            .expect("readable")
            .expect("a saved challenge");
        let run: ChallengeRun = serde_json::from_str(&saved).expect("a challenge");
        run.challenge().metrics().trades
    }

    /// Stops `id` in time, waits until the engine has caught up with it, and lets it go on.
    async fn quiesce(&self, id: &str) -> Snapshot {
        let frozen = Faults {
            frozen: true,
            ..Faults::default()
        };
        self.demo.set_faults(id, frozen).expect("known account");
        let at = Utc::now();
        self.wait_two_polls(id, at).await;
        let deals = self
            .client(id)
            .deals(DateTime::<Utc>::UNIX_EPOCH, at + TimeDelta::minutes(1))
            .await
            .expect("deals");
        let trades = self.engine_trades(id).await;
        self.demo
            .set_faults(id, Faults::default())
            .expect("known account");
        self.wait_feed(id, FeedStatus::Live).await;
        Snapshot { at, trades, deals }
    }

    /// Every deal the broker filed for `id` since `before` is journaled, and the engine counted
    /// exactly the closing trades the broker made: none lost, none twice.
    async fn check_no_deal_lost(&self, id: &str, before: &Snapshot, why: &str) -> usize {
        let after = self.quiesce(id).await;
        let journaled = self.journaled_deals(id);
        for deal in after.deals.iter().filter(|d| d.time >= before.at) {
            assert!(
                journaled.contains(&deal.id),
                "{why}: deal {} of {} is not in the journal",
                deal.id,
                deal.time
            );
        }
        let made = closing(&after.deals) - closing(&before.deals);
        let counted = usize::try_from(after.trades.saturating_sub(before.trades)).unwrap_or(0);
        assert_eq!(
            counted, made,
            "{why}: the engine counted {counted} closing trades between {} and {}; the broker \
             made {made}",
            before.at, after.at
        );
        after.deals.len() - before.deals.len()
    }

    /// Ids of the deals of `id` in its journal.
    fn journaled_deals(&self, id: &str) -> HashSet<String> {
        let text = std::fs::read_to_string(self.journal_dir.join(format!("{id}.jsonl")))
            .expect("a journal");
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|record| Some(record.get("deal")?.get("id")?.as_str()?.to_owned()))
            .collect()
    }

    /// Stops the server and the broker; the files stay until the returned directory is dropped.
    async fn stop(self) -> tempfile::TempDir {
        self.server.stop().await;
        self.stop_demo.cancel();
        self.dir
    }
}

/// What the broker and the engine had of an account at one moment, the account at rest.
struct Snapshot {
    at: DateTime<Utc>,
    /// The engine's closing trades.
    trades: u32,
    /// Every deal the broker has.
    deals: Vec<shared::domain::Deal>,
}

fn closing(deals: &[shared::domain::Deal]) -> usize {
    deals
        .iter()
        .filter(|d| d.entry == Some(DealEntry::Out))
        .count()
}

/// Puts `faults` on the scalper and the passing account (once its winning position is open)
/// until both feeds are stale and the scripted pass is behind us, then clears them, and checks
/// the promises.
async fn survives(faults: Faults) {
    let rig = rig(&[SCALPER, GOLD, PASSING]).await;
    for id in [SCALPER, GOLD, PASSING] {
        rig.wait_feed(id, FeedStatus::Live).await;
    }
    eventually(WAIT, "the passing account's position", || async {
        (rig.summary(PASSING).await?.latest?.open_positions == 1).then_some(())
    })
    .await
    .expect("the script opens its position");
    let before = rig.quiesce(SCALPER).await;
    let pass_at = rig
        .demo
        .script_instant(i32::try_from(PASS_UNITS).expect("small"));
    assert!(
        Utc::now() < pass_at,
        "the test set up too slowly to fault the feed before the scripted pass"
    );
    assert_ne!(rig.status(PASSING).await, Some(ChallengeStatus::Passed));

    for id in [SCALPER, PASSING] {
        rig.demo.set_faults(id, faults).expect("known account");
    }
    let requests_before = rig.demo.faults(SCALPER).requests;
    let fault_began = std::time::Instant::now();
    let not_passed = || async {
        let status = rig.status(PASSING).await;
        assert_ne!(
            status,
            Some(ChallengeStatus::Passed),
            "{faults:?}: a pass from data the server did not see"
        );
    };
    for id in [SCALPER, PASSING] {
        eventually(WAIT, &format!("{id} to go stale"), || async {
            not_passed().await;
            let summary = rig.summary(id).await?;
            (summary.feed == FeedStatus::Stale).then_some(())
        })
        .await
        .expect("a lasting fault makes the feed stale");
    }
    eventually(WAIT, "the scripted pass to be behind us", || async {
        not_passed().await;
        (Utc::now() > pass_at + TimeDelta::seconds(1)).then_some(())
    })
    .await
    .expect("time passes");

    // The app keeps running: probes answer, a healthy account stays live and moves on.
    let health = reqwest::get(rig.server.url("/healthz"))
        .await
        .expect("the server answers");
    assert!(health.status().is_success());
    rig.wait_two_polls(GOLD, Utc::now()).await;
    assert_eq!(
        rig.summary(GOLD).await.map(|s| s.feed),
        Some(FeedStatus::Live)
    );

    rig.demo
        .set_faults("*", Faults::default())
        .expect("all accounts");
    if faults.rate_limit != FaultMode::Off {
        // One request per Retry-After at most (and one in flight when the fault began): a
        // client that ignored it would poll five times a second, three requests a poll.
        let requests = rig.demo.faults(SCALPER).requests - requests_before;
        let allowed = fault_began.elapsed().as_secs() / faults.retry_after_secs.max(1) + 2;
        assert!(
            requests <= allowed,
            "{requests} requests while rate limited, at most {allowed} allowed"
        );
    }
    for id in [SCALPER, PASSING] {
        rig.wait_feed(id, FeedStatus::Live).await;
    }
    eventually(WAIT, "the pass, now seen", || async {
        (rig.status(PASSING).await? == ChallengeStatus::Passed).then_some(())
    })
    .await
    .expect("the pass is declared once the data arrives");

    let why = format!("{faults:?}");
    rig.check_no_deal_lost(SCALPER, &before, &why).await;
    // The pass came from the one closing trade of the script, counted once.
    assert_eq!(rig.engine_trades(PASSING).await, 1);
    rig.stop().await;
}

#[tokio::test]
async fn the_app_survives_a_slow_broker() {
    survives(Faults {
        latency_ms: 1_500,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_server_errors() {
    survives(Faults {
        server_error: FaultMode::Always,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_malformed_json() {
    survives(Faults {
        malformed_json: FaultMode::Always,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_truncated_bodies() {
    survives(Faults {
        truncated_body: FaultMode::Always,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_dropped_connections() {
    survives(Faults {
        drop_connection: FaultMode::Always,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_frozen_data() {
    survives(Faults {
        frozen: true,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn the_app_survives_a_rate_limit_and_honours_retry_after() {
    survives(Faults {
        rate_limit: FaultMode::Always,
        retry_after_secs: 1,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn no_deal_is_lost_to_intermittent_faults() {
    let rig = rig(&[SCALPER]).await;
    rig.wait_feed(SCALPER, FeedStatus::Live).await;
    let before = rig.quiesce(SCALPER).await;
    // Some reads fail and some pass, so polls break off at every point: after the deals, after
    // the account information, in the middle of a page.
    let faults = Faults {
        server_error: FaultMode::Percent(15),
        drop_connection: FaultMode::Percent(10),
        truncated_body: FaultMode::Percent(10),
        malformed_json: FaultMode::Percent(10),
        ..Faults::default()
    };
    rig.demo.set_faults(SCALPER, faults).expect("known account");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let health = reqwest::get(rig.server.url("/healthz"))
        .await
        .expect("the server answers");
    assert!(health.status().is_success());
    rig.demo
        .set_faults(SCALPER, Faults::default())
        .expect("known account");
    rig.wait_feed(SCALPER, FeedStatus::Live).await;
    let filed = rig
        .check_no_deal_lost(SCALPER, &before, "intermittent faults")
        .await;
    assert!(filed > 0, "the scalper traded while the faults lasted");
    rig.stop().await;
}

#[tokio::test]
async fn scripted_accounts_meet_their_fate_at_their_scripted_instants() {
    let rig = rig(&[BREACH, PASSING, DEPOSIT, NO_STOP]).await;
    let demo = rig.demo.clone();
    let instant = |units: i64| demo.script_instant(i32::try_from(units).expect("small"));

    eventually(WAIT, "the scripted breach", || async {
        (rig.status(BREACH).await? == ChallengeStatus::Failed).then_some(())
    })
    .await
    .expect("the daily loss is breached");
    eventually(WAIT, "the scripted pass", || async {
        (rig.status(PASSING).await? == ChallengeStatus::Passed).then_some(())
    })
    .await
    .expect("the passing account passes");
    let deposited = eventually(WAIT, "the scripted deposit", || async {
        let view = rig.summary(DEPOSIT).await?.latest?;
        (view.balance == rust_decimal::Decimal::from(30_485)).then_some(view)
    })
    .await
    .expect("the deposit arrives");
    assert_eq!(
        deposited.challenge.map(|c| c.status),
        Some(ChallengeStatus::Active),
        "a deposit is not profit: no pass"
    );
    let no_stop = rig.summary(NO_STOP).await.and_then(|s| s.latest);
    assert_eq!(no_stop.map(|v| v.open_positions), Some(2));
    let database_url = rig.database_url.clone();
    let _files = rig.stop().await;

    let store = store::open(&database_url).await.expect("store");
    let events = store
        .challenge_events(&AccountId::from(BREACH))
        .await
        .expect("events");
    let breach = events
        .iter()
        .find(|e| e.kind == "breach")
        .expect("a stored breach");
    assert_eq!(breach.rule.as_deref(), Some("daily_loss"));
    let body: serde_json::Value = serde_json::from_str(&breach.body).expect("json");
    assert_eq!(body["evidence"]["limit"], "95000");
    assert_eq!(body["evidence"]["measured"], "94385");
    let seen: DateTime<Utc> =
        serde_json::from_value(body["evidence"]["time"].clone()).expect("an evidence time");
    let scripted = instant(DAILY_BREACH_UNITS);
    // Seen at the first poll after the scripted instant: never before it, and no later than
    // one poll interval and one world step after it (with a second's grace for a busy machine).
    assert!(seen >= scripted, "seen at {seen}, scripted at {scripted}");
    let latest =
        scripted + TimeDelta::from_std(POLL + STEP + Duration::from_secs(1)).expect("small");
    assert!(seen <= latest, "seen at {seen}, scripted at {scripted}");
    // The polls before it still saw the equity above the floor: no poll missed the breach.
    let buckets = store
        .equity_tier(
            &AccountId::from(BREACH),
            store::buckets::TIERS[0].resolution_ms,
        )
        .await
        .expect("buckets");
    // Samples are stored to the millisecond.
    let seen_ms = DateTime::from_timestamp_millis(seen.timestamp_millis()).expect("in range");
    // A 10 s bucket may hold both the last polls before the breach and the breach itself, so
    // whole buckets before it are checked by their minimum and the one holding it by its first
    // sample.
    let floor = rust_decimal::Decimal::from(95_000);
    let before: Vec<_> = buckets.iter().filter(|b| b.first < seen_ms).collect();
    assert!(!before.is_empty(), "polls before the breach: {buckets:?}");
    assert!(
        before.iter().all(|b| if b.last < seen_ms {
            b.equity.min >= floor
        } else {
            b.equity.open >= floor
        }),
        "{before:?}"
    );

    let passed = store
        .challenge_events(&AccountId::from(PASSING))
        .await
        .expect("events")
        .into_iter()
        .find(|e| e.kind == "passed")
        .expect("a stored pass");
    assert!(passed.time >= instant(PASS_UNITS), "{passed:?}");
    let deposit_events = store
        .challenge_events(&AccountId::from(DEPOSIT))
        .await
        .expect("events");
    assert!(deposit_events.iter().all(|e| e.kind != "passed"));
}

/// The kinds of `id`'s stored feed events, oldest first.
async fn feed_events(rig: &Rig, id: &str) -> Vec<String> {
    rig.server
        .state
        .store
        .challenge_events(&AccountId::from(id))
        .await
        .expect("events")
        .into_iter()
        .map(|event| event.kind)
        .filter(|kind| kind.starts_with("feed_"))
        .collect()
}

/// Issue 19, item 2: a tracker stuck in a slow broker call still carries out an admin's
/// command at once (it does not answer "try again" after 10 s), and a retry under the same
/// idempotency key returns the first result without applying it again.
#[tokio::test]
async fn an_admins_command_does_not_wait_for_a_slow_broker() {
    let rig = rig_with(&[SCALPER], Duration::from_secs(60)).await;
    rig.wait_feed(SCALPER, FeedStatus::Live).await;
    let balance = eventually(WAIT, "a challenge view", || async {
        let view = rig.summary(SCALPER).await?.latest?;
        view.challenge.is_some().then_some(view.balance)
    })
    .await
    .expect("a running challenge");
    // Every answer now takes 15 s: the poll under way hangs in the broker call.
    let slow = Faults {
        latency_ms: 15_000,
        ..Faults::default()
    };
    rig.demo.set_faults(SCALPER, slow).expect("known account");
    tokio::time::sleep(POLL * 5).await;
    let correct = || {
        rig.admin
            .post(rig.server.url(&format!("/api/accounts/{SCALPER}/anchors")))
            .header("Idempotency-Key", "correct-sod-1")
            .json(&serde_json::json!({
                "anchor": "start_of_day_balance",
                "value": balance,
                "reason": "checked against the broker's statement",
            }))
            .send()
    };
    let first = correct().await.expect("request");
    assert_eq!(first.status(), 200, "{:?}", first.text().await);
    let first: shared::api::AnchorsResponse = first.json().await.expect("anchors");
    let again = correct().await.expect("request");
    assert_eq!(again.status(), 200);
    let again: shared::api::AnchorsResponse = again.json().await.expect("anchors");
    assert_eq!(
        again.anchors, first.anchors,
        "the retry gets the first answer"
    );
    let corrections = rig
        .server
        .state
        .store
        .challenge_events(&AccountId::from(SCALPER))
        .await
        .expect("events")
        .into_iter()
        .filter(|event| event.kind == "anchor_corrected")
        .count();
    assert_eq!(corrections, 1, "applied once");
    // The same key for another action is refused.
    let other = rig
        .admin
        .post(
            rig.server
                .url(&format!("/api/accounts/{SCALPER}/clear-breach")),
        )
        .header("Idempotency-Key", "correct-sod-1")
        .json(&serde_json::json!({ "reason": "a retry gone wrong" }))
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 422);
    rig.demo
        .set_faults(SCALPER, Faults::default())
        .expect("known account");
    rig.stop().await;
}

/// A feed that keeps failing and answering (longer than `stale_after` each time) is recorded
/// stale once, and recovered once when it is steady again: not a pair of notifications per
/// hiccup. A lasting outage is still recorded at once.
#[tokio::test]
async fn intermittent_faults_record_a_stale_feed_once_and_its_recovery_once() {
    let rig = rig(&[SCALPER]).await;
    rig.wait_feed(SCALPER, FeedStatus::Live).await;
    eventually(WAIT, "a running challenge", || async {
        rig.summary(SCALPER).await?.latest?.challenge.map(|_| ())
    })
    .await
    .expect("a challenge");
    let failing = Faults {
        server_error: FaultMode::Always,
        ..Faults::default()
    };
    for cycle in 0..5 {
        rig.demo
            .set_faults(SCALPER, failing)
            .expect("known account");
        rig.wait_feed(SCALPER, FeedStatus::Stale).await;
        if cycle == 0 {
            eventually(WAIT, "the outage recorded", || async {
                (feed_events(&rig, SCALPER).await == ["feed_stale"]).then_some(())
            })
            .await
            .expect("a lasting outage is recorded at once");
        }
        rig.demo
            .set_faults(SCALPER, Faults::default())
            .expect("known account");
        rig.wait_feed(SCALPER, FeedStatus::Live).await;
    }
    assert_eq!(feed_events(&rig, SCALPER).await, ["feed_stale"]);
    eventually(WAIT, "the recovery recorded once steady", || async {
        (feed_events(&rig, SCALPER).await == ["feed_stale", "feed_recovered"]).then_some(())
    })
    .await
    .expect("recovered");
    rig.stop().await;
}
