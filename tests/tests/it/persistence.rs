//! Peaks are persisted and restored: a restart on the same SQLite file never lowers them.

use rust_decimal::Decimal;
use shared::api::AccountSummary;
use shared::domain::AccountId;
use shared::peaks::Peaks;
use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

async fn live_view(server: &TestServer, id: &str) -> shared::api::AccountView {
    let admin = server.login("admin").await.expect("sign in");
    eventually(Duration::from_secs(20), "a live view", || {
        let url = server.url(&format!("/api/accounts/{id}"));
        let admin = &admin;
        async move {
            let summary: AccountSummary = admin.get(&url).send().await.ok()?.json().await.ok()?;
            summary.latest
        }
    })
    .await
    .expect("live view")
}

#[tokio::test]
async fn peaks_survive_a_restart_on_the_same_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("riskdeck.db");
    let url = format!("sqlite://{}", db.display());
    peaks_survive_a_restart(demo_config(&db), &url).await;
}

#[tokio::test]
async fn peaks_survive_a_restart_on_postgres() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // The SQLite path is not used: the URL below replaces it; journals go to `dir`.
    let mut config = demo_config(&dir.path().join("unused.db"));
    config.database_url = fresh.url().to_owned();
    peaks_survive_a_restart(config, fresh.url()).await;
}

async fn peaks_survive_a_restart(config: backend::config::Config, url: &str) {
    let server = TestServer::start(config.clone()).await.expect("server");
    let id = server.account_ids().await.expect("accounts")[0].to_string();
    let before = live_view(&server, &id).await;
    server.stop().await;

    // The first run saved its peaks.
    let store = store::open(url).await.expect("open store");
    let account = AccountId(id.clone());
    let saved = store
        .load_peaks(&account)
        .await
        .expect("load")
        .expect("peaks were saved");
    assert!(saved.peak_equity.expect("peak equity") >= before.peak_equity);

    // Raise the stored peaks far above anything the simulation reaches: after the restart they
    // must be what the account is measured against, not the fresh (lower) live values.
    let high = Peaks {
        starting_capital: saved.starting_capital,
        peak_balance: Some(Decimal::from(9_000_000)),
        peak_equity: Some(Decimal::from(9_500_000)),
    };
    store.save_peaks(&account, &high).await.expect("save");
    // The account has a challenge: its engine's anchors are the peaks shown. Raise them alike.
    let state = store
        .load_challenge(&account)
        .await
        .expect("load")
        .expect("challenge state was saved");
    let mut state: serde_json::Value = serde_json::from_str(&state).expect("state JSON");
    let anchors = &mut state["challenge"]["anchors"];
    assert!(anchors.is_object(), "{state}");
    anchors["peak_balance"] = serde_json::json!("9000000");
    anchors["peak_equity"] = serde_json::json!("9500000");
    store
        .save_challenge(&account, &state.to_string(), &[])
        .await
        .expect("save state");
    drop(store);

    let server = TestServer::start(config).await.expect("restart");
    let after = live_view(&server, &id).await;
    assert_eq!(after.peak_balance, Decimal::from(9_000_000));
    assert_eq!(after.peak_equity, Decimal::from(9_500_000));
    assert_eq!(Some(after.starting_capital), saved.starting_capital);
    assert_eq!(after.drawdown, Decimal::from(9_500_000) - after.equity);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_start_up_error() {
    let mut config = demo_config(std::path::Path::new("/nonexistent-dir/x/riskdeck.db"));
    let error = TestServer::start(config.clone())
        .await
        .err()
        .expect("cannot open");
    assert!(
        error.to_string().contains("cannot open the database"),
        "{error}"
    );
    config.database_url = "mysql://localhost/x".into();
    let error = TestServer::start(config).await.err().expect("unsupported");
    assert!(
        error.to_string().contains("unsupported database URL"),
        "{error}"
    );
}

/// Every account's challenge status once each shows a view from a poll of this run (live).
async fn live_statuses(server: &TestServer) -> Vec<(String, shared::engine::ChallengeStatus)> {
    let admin = server.login("admin").await.expect("sign in");
    eventually(Duration::from_secs(60), "every challenge live", || async {
        let accounts: shared::api::AccountsResponse = admin
            .get(server.url("/api/accounts"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        accounts
            .accounts
            .into_iter()
            .map(|summary| {
                let status = summary.latest?.challenge?.status;
                (summary.feed == shared::api::FeedStatus::Live).then_some((summary.id.0, status))
            })
            .collect::<Option<Vec<_>>>()
    })
    .await
    .expect("every challenge shows")
}

/// Issue 19, item 9: a demo restarted on the same database continues its world (the same
/// history and the same scripts, from where they were) instead of starting it again from
/// minute 0, so no demo challenge fails because of the restart.
#[tokio::test]
async fn a_demo_restarted_on_the_same_database_continues_its_world() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("riskdeck.db"));
    let clock = |server: &TestServer| {
        server
            .state
            .launcher
            .demo
            .as_ref()
            .expect("demo mode")
            .broker
            .script_clock()
    };
    let server = TestServer::start(config.clone()).await.expect("server");
    let began = clock(&server);
    let before = live_statuses(&server).await;
    server.stop().await;
    // Long enough that a world started again would start at another instant.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let server = TestServer::start(config).await.expect("restart");
    assert_eq!(clock(&server), began, "the same world, not a new one");
    let after = live_statuses(&server).await;
    assert_eq!(
        after, before,
        "no challenge changed its fate because of the restart"
    );
    server.stop().await;
}
