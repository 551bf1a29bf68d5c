//! What the server pulls from the broker is journaled in the replay format and replays.

use std::time::Duration;
use tests::{TestServer, demo_config, eventually};

#[tokio::test]
async fn the_journal_of_a_live_account_replays_through_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config(&dir.path().join("r.db"));
    let journal_dir = config.journal_dir.clone().expect("journal dir");
    let server = TestServer::start(config).await.expect("server");
    let file = journal_dir.join("demo-eurusd-scalper.jsonl");
    eventually(Duration::from_secs(20), "journal lines", || {
        let file = file.clone();
        async move {
            let text = std::fs::read_to_string(&file).ok()?;
            (text
                .lines()
                .filter(|l| l.contains("accountInformation"))
                .count()
                >= 3)
                .then_some(())
        }
    })
    .await
    .expect("the journal grows");
    server.stop().await;

    let config = broker::replay::configure("ftmo-2step", 100_000.into(), None).expect("preset");
    let report = broker::replay::run(config, &file).expect("the journal replays");
    let report = serde_json::to_value(&report).expect("json");
    assert!(report["metrics"]["equity"].is_string(), "{report}");
    assert_eq!(report["rules"].as_array().map(Vec::len), Some(4));
}
