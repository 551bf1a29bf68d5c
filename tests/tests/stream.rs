//! The live stream over a real socket: a snapshot on connect, then changes, ids increasing.

use shared::api::StreamEvent;
use std::time::Duration;
use tests::{SseReader, TestServer, demo_config};

#[tokio::test]
async fn sse_streams_account_snapshots_with_increasing_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let id = server.account_ids().await.expect("accounts")[0].clone();
    let admin = server.login("admin").await.expect("sign in");
    let mut stream = SseReader::open(&admin, &server.url(&format!("/api/stream?account={id}")))
        .await
        .expect("open stream");
    let mut views = Vec::new();
    let mut last_id = 0u64;
    while views.len() < 3 {
        let (event_id, data) = stream.next(Duration::from_secs(20)).await.expect("event");
        let event_id: u64 = event_id
            .expect("every event has an id")
            .parse()
            .expect("numeric id");
        assert!(event_id >= last_id, "ids never go backwards");
        last_id = event_id;
        match serde_json::from_str::<StreamEvent>(&data).expect("a StreamEvent") {
            StreamEvent::Account {
                account_id, view, ..
            } => {
                assert_eq!(account_id, id, "only the subscribed account");
                views.push(view);
            }
            StreamEvent::Feed { account_id, .. } | StreamEvent::Backfill { account_id, .. } => {
                assert_eq!(account_id, id)
            }
        }
    }
    assert!(views.windows(2).all(|w| w[0].time <= w[1].time));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let mut stream = SseReader::open(&admin, &server.url("/api/stream"))
        .await
        .expect("open stream");
    stream
        .next(Duration::from_secs(20))
        .await
        .expect("first event");
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("graceful shutdown completes with a stream open");
    // What was already sent may still be buffered; after it, the stream must end.
    let mut ended = false;
    for _ in 0..100 {
        if let Err(error) = stream.next(Duration::from_secs(5)).await {
            assert!(error.to_string().contains("ended"), "{error}");
            ended = true;
            break;
        }
    }
    assert!(ended, "the stream ends at shutdown");
}
