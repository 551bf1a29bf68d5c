//! The live stream over a real socket: a snapshot on connect, then changes with increasing ids;
//! a reconnect with `Last-Event-ID` resumes with no gap and no duplicate; a slow client is
//! resynchronised without holding up anyone else; a user's streams are capped.

use shared::api::{ErrorBody, StreamEvent};
use std::time::Duration;
use tests::{SseReader, TestServer, demo_config, eventually};

/// Generous: the machine may be loaded.
const WAIT: Duration = Duration::from_secs(30);

/// An event as read: its id split into epoch and sequence number, and its data.
#[derive(Clone, Debug, PartialEq)]
struct Read {
    epoch: String,
    seq: u64,
    data: String,
}

impl Read {
    fn event(&self) -> StreamEvent {
        serde_json::from_str(&self.data).expect("a StreamEvent")
    }

    fn is_snapshot(&self) -> bool {
        matches!(self.event(), StreamEvent::Snapshot { .. })
    }

    fn id(&self) -> String {
        format!("{}-{}", self.epoch, self.seq)
    }
}

async fn next(stream: &mut SseReader) -> Read {
    let (id, data) = stream.next(WAIT).await.expect("an event");
    let id = id.expect("every event has an id");
    let (epoch, seq) = id.split_once('-').expect("ids are EPOCH-SEQ");
    Read {
        epoch: epoch.to_owned(),
        seq: seq.parse().expect("a numeric sequence number"),
        data,
    }
}

#[tokio::test]
async fn sse_streams_a_snapshot_then_changes_with_increasing_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(demo_config(&dir.path().join("r.db")))
        .await
        .expect("server");
    let id = server.account_ids().await.expect("accounts")[0].clone();
    let admin = server.login("admin").await.expect("sign in");
    let mut stream = SseReader::open(&admin, &server.url(&format!("/api/stream?account={id}")))
        .await
        .expect("open stream");
    let first = next(&mut stream).await;
    match first.event() {
        StreamEvent::Snapshot { accounts } => {
            assert_eq!(accounts.len(), 1);
            assert_eq!(accounts[0].id, id, "only the subscribed account");
        }
        other => panic!("a stream starts with a snapshot, not {other:?}"),
    }
    let mut views = Vec::new();
    let mut last = first.seq;
    while views.len() < 3 {
        let read = next(&mut stream).await;
        assert_eq!(read.epoch, first.epoch, "one process, one epoch");
        assert!(read.seq > last, "ids increase: {} after {last}", read.seq);
        last = read.seq;
        match read.event() {
            StreamEvent::Account {
                account_id, view, ..
            } => {
                assert_eq!(account_id, id, "only the subscribed account");
                views.push(view);
            }
            StreamEvent::Feed { account_id, .. }
            | StreamEvent::Backfill { account_id, .. }
            | StreamEvent::Transport { account_id, .. } => assert_eq!(account_id, id),
            StreamEvent::Snapshot { .. } => panic!("no resync expected"),
        }
    }
    assert!(views.windows(2).all(|w| w[0].time <= w[1].time));
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_with_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(backend::config::Config {
        // The continuous reader must not fall behind while the test reads the others.
        stream_buffer: 65_536,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    // A trader: the stream is filtered, and the resumed part must be filtered the same way.
    let trader = server.login("trader").await.expect("sign in");
    let url = server.url("/api/stream");
    let mut continuous = SseReader::open(&trader, &url).await.expect("open");
    let mut seen = vec![next(&mut continuous).await];
    assert!(seen[0].is_snapshot());

    // A tab reads its snapshot and a few changes, then its connection drops.
    let mut tab = SseReader::open(&trader, &url).await.expect("open");
    let tab_start = next(&mut tab).await;
    assert!(tab_start.is_snapshot());
    let mut before_drop = Vec::new();
    for _ in 0..5 {
        before_drop.push(next(&mut tab).await);
    }
    drop(tab);
    let last = before_drop.last().expect("five events").clone();

    // Events happen while it is away.
    while seen.last().expect("read").seq < last.seq + 40 {
        seen.push(next(&mut continuous).await);
    }
    let caught_up_to = seen.last().expect("read").seq;

    // It comes back with the id of the last event it saw.
    let mut tab = SseReader::open_after(&trader, &url, Some(&last.id()))
        .await
        .expect("resume");
    let mut after_drop = Vec::new();
    while after_drop
        .last()
        .is_none_or(|r: &Read| r.seq < caught_up_to)
    {
        let read = next(&mut tab).await;
        assert!(
            !read.is_snapshot(),
            "a resumable id must not get a snapshot"
        );
        after_drop.push(read);
    }

    let expected: Vec<&Read> = seen
        .iter()
        .filter(|r| r.seq > tab_start.seq && r.seq <= caught_up_to)
        .collect();
    let got: Vec<&Read> = before_drop.iter().chain(&after_drop).collect();
    assert!(expected.iter().all(|r| !r.is_snapshot()));
    assert_eq!(
        got.iter().map(|r| r.seq).collect::<Vec<_>>(),
        expected.iter().map(|r| r.seq).collect::<Vec<_>>(),
        "the same events, in order, none missing and none twice"
    );
    assert_eq!(got, expected, "and the same data");
    server.stop().await;
}

#[tokio::test]
async fn an_id_that_cannot_be_resumed_gets_a_fresh_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(backend::config::Config {
        stream_replay: 4,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let url = server.url("/api/stream");
    let mut stream = SseReader::open(&admin, &url).await.expect("open");
    let first = next(&mut stream).await;
    // Wait until the ring of 4 no longer holds what followed the first event.
    let hub = server.state.hub.clone();
    eventually(WAIT, "more events than the ring holds", || {
        let hub = hub.clone();
        async move { (hub.current_seq() > first.seq + 10).then_some(()) }
    })
    .await
    .expect("events");
    for last_event_id in [
        first.id(),                            // too old
        format!("00000000-{}", first.seq + 1), // another process
        format!("{}-{}", first.epoch, u64::MAX),
        "nonsense".to_owned(),
    ] {
        let mut resumed = SseReader::open_after(&admin, &url, Some(&last_event_id))
            .await
            .expect("open");
        let read = next(&mut resumed).await;
        assert!(read.is_snapshot(), "{last_event_id}: {}", read.data);
        assert_eq!(read.epoch, first.epoch);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_slow_client_is_resynchronised_and_never_holds_up_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buffer = 64;
    let server = TestServer::start(backend::config::Config {
        stream_buffer: buffer,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    let admin = server.login("admin").await.expect("sign in");
    let url = server.url("/api/stream");
    let mut fast = SseReader::open(&admin, &url).await.expect("open");
    let mut slow = SseReader::open(&admin, &url).await.expect("open");
    let fast_first = next(&mut fast).await;
    let slow_first = next(&mut slow).await;
    assert!(fast_first.is_snapshot() && slow_first.is_snapshot());

    // Publish far more than the socket buffers between the server and the slow client hold,
    // a few events at a time, and keep the fast client reading all along. The slow one reads
    // nothing meanwhile.
    let hub = server.state.hub.clone();
    let id = server.account_ids().await.expect("accounts")[0].clone();
    let template = eventually(WAIT, "the account's first numbers", || {
        let hub = hub.clone();
        let id = id.clone();
        async move { hub.summary(&id).and_then(|s| s.latest) }
    })
    .await
    .expect("numbers");
    let event_bytes = serde_json::to_string(&template).expect("json").len().max(1);
    let events = (32 << 20) / event_bytes + 4 * buffer;
    let mut fast_last = fast_first.seq;
    for round in 0..events / 16 {
        for n in 0..16 {
            let mut view = template.clone();
            view.time += chrono::Duration::milliseconds(i64::try_from(round * 16 + n).unwrap_or(0));
            hub.publish_view(&id, "USD", view);
        }
        let published = hub.current_seq();
        while fast_last < published {
            let read = next(&mut fast).await;
            assert!(!read.is_snapshot(), "the fast client never falls behind");
            assert_eq!(read.seq, fast_last + 1, "the fast client misses nothing");
            fast_last = read.seq;
        }
    }

    // The slow client drains its backlog, then is told to resynchronise.
    let mut last = slow_first.seq;
    let resync = loop {
        let read = next(&mut slow).await;
        if read.is_snapshot() {
            break read;
        }
        assert_eq!(read.seq, last + 1, "no gap before the resync");
        last = read.seq;
    };
    assert!(resync.seq > last);
    let after = next(&mut slow).await;
    assert!(
        after.seq > resync.seq,
        "changes continue after the snapshot"
    );
    assert!(server.state.metrics.stream_resyncs.get() >= 1);
    server.stop().await;
}

#[tokio::test]
async fn a_users_streams_are_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(backend::config::Config {
        max_streams_per_user: 2,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    let trader = server.login("trader").await.expect("sign in");
    let url = server.url("/api/stream");
    let one = SseReader::open(&trader, &url).await.expect("first");
    let _two = SseReader::open(&trader, &url).await.expect("second");
    let refused = trader.get(&url).send().await.expect("request");
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: ErrorBody = refused.json().await.expect("the usual error body");
    assert_eq!(body.error, "too_many_requests");
    assert!(body.message.contains("Close a tab"), "{}", body.message);

    // Another user has their own allowance.
    let other = server.login("trader2").await.expect("sign in");
    let _theirs = SseReader::open(&other, &url).await.expect("another user");

    // A closed stream gives its place back (once the server notices the connection is gone).
    drop(one);
    let mut third = eventually(WAIT, "a place for a new stream", || {
        let (trader, url) = (trader.clone(), url.clone());
        async move { SseReader::open(&trader, &url).await.ok() }
    })
    .await
    .expect("a stream after one closed");
    assert!(next(&mut third).await.is_snapshot());
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

/// The accounts a snapshot carries.
fn snapshot_ids(read: &Read) -> Option<Vec<String>> {
    match read.event() {
        StreamEvent::Snapshot { accounts } => Some(accounts.into_iter().map(|a| a.id.0).collect()),
        _ => None,
    }
}

fn about(read: &Read, account: &str) -> bool {
    read.event()
        .account_id()
        .is_some_and(|id| id.as_str() == account)
}

/// Reads until the next snapshot; fails when an event about `account` newer than `after`
/// comes first (decided per event, not per connection).
async fn until_snapshot(stream: &mut SseReader, account: &str, after: u64) -> Read {
    loop {
        let read = next(stream).await;
        if read.is_snapshot() {
            return read;
        }
        assert!(
            !(read.seq > after && about(&read, account)),
            "an event about {account} published after it changed hands: {read:?}"
        );
    }
}

/// Issue 19, item 1: an open stream loses an account the moment an admin gives it to another
/// trader (a snapshot without it, and not one event about it after), and the new owner's open
/// stream gains it, without reconnecting.
#[tokio::test]
async fn a_stream_stops_carrying_an_account_the_moment_it_changes_hands() {
    const MOVED: &str = "demo-eurusd-scalper";
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(backend::config::Config {
        stream_buffer: 65_536,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    let trader = server.login_session("trader").await.expect("sign in");
    let trader2 = server.login_session("trader2").await.expect("sign in");
    let admin = server.login_session("admin").await.expect("sign in");
    let mut all = SseReader::open(&trader.client, &server.url("/api/stream"))
        .await
        .expect("open");
    let mut one = SseReader::open(
        &trader.client,
        &server.url(&format!("/api/stream?account={MOVED}")),
    )
    .await
    .expect("open");
    let mut gaining = SseReader::open(&trader2.client, &server.url("/api/stream"))
        .await
        .expect("open");
    let start = next(&mut all).await;
    assert!(
        snapshot_ids(&start)
            .expect("a snapshot")
            .contains(&MOVED.to_owned())
    );
    assert_eq!(
        snapshot_ids(&next(&mut one).await),
        Some(vec![MOVED.to_owned()])
    );
    let theirs = snapshot_ids(&next(&mut gaining).await).expect("a snapshot");
    assert!(!theirs.contains(&MOVED.to_owned()), "{theirs:?}");
    // The account's numbers flow to its owner.
    while !about(&next(&mut all).await, MOVED) {}

    let response = admin
        .client
        .post(server.url(&format!("/api/accounts/{MOVED}/assign")))
        .json(&serde_json::json!({ "user": trader2.user.id }))
        .send()
        .await
        .expect("assign");
    assert_eq!(response.status(), 200);
    let assigned_at = server.state.hub.current_seq();

    for stream in [&mut all, &mut one] {
        let resync = until_snapshot(stream, MOVED, assigned_at).await;
        let ids = snapshot_ids(&resync).expect("a snapshot");
        assert!(!ids.contains(&MOVED.to_owned()), "{ids:?}");
        // Nothing about it afterwards either, while the others' numbers keep coming.
        for _ in 0..10 {
            let read = match stream.next(Duration::from_secs(2)).await {
                Ok((id, data)) => Read {
                    epoch: String::new(),
                    seq: id
                        .and_then(|id| id.split_once('-').map(|(_, s)| s.to_owned()))
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_default(),
                    data,
                },
                // The single-account stream has nothing left to carry.
                Err(_) => break,
            };
            assert!(!about(&read, MOVED), "{read:?}");
        }
    }
    let gained = until_snapshot(&mut gaining, "-", u64::MAX).await;
    assert!(
        snapshot_ids(&gained)
            .expect("a snapshot")
            .contains(&MOVED.to_owned())
    );
    while !about(&next(&mut gaining).await, MOVED) {}
    let status = trader
        .client
        .get(server.url(&format!("/api/accounts/{MOVED}")))
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status, 404, "REST and the stream agree");
    server.stop().await;
}

/// An owner change the hub is not told of (made by another instance, whose notice may be
/// missed) still reaches an open stream: it reads its accounts again every few seconds.
#[tokio::test]
async fn an_owner_change_made_elsewhere_reaches_an_open_stream_at_its_next_check() {
    const MOVED: &str = "demo-gold-swing";
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(backend::config::Config {
        stream_buffer: 65_536,
        ..demo_config(&dir.path().join("r.db"))
    })
    .await
    .expect("server");
    let trader = server.login("trader").await.expect("sign in");
    let mut all = SseReader::open(&trader, &server.url("/api/stream"))
        .await
        .expect("open");
    let start = next(&mut all).await;
    assert!(
        snapshot_ids(&start)
            .expect("a snapshot")
            .contains(&MOVED.to_owned())
    );
    assert!(
        server
            .state
            .store
            .set_account_owner(&MOVED.into(), None)
            .await
            .expect("store")
    );
    let resync = until_snapshot(&mut all, "-", u64::MAX).await;
    let ids = snapshot_ids(&resync).expect("a snapshot");
    assert!(!ids.contains(&MOVED.to_owned()), "{ids:?}");
    assert!(!ids.is_empty(), "the trader's other accounts stay");
    server.stop().await;
}

/// With two instances on one PostgreSQL database, an owner change made through one reaches
/// the open streams of the other (its live-update channel carries the notice; the periodic
/// check backs it up). Runs when `TEST_POSTGRES_URL` is set.
#[tokio::test]
async fn an_owner_change_on_one_instance_reaches_streams_on_another() {
    let Some(fresh) = store::testing::FreshPostgres::create().await else {
        return;
    };
    const PUSHED: &str = "ea-bridge";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = demo_config(&dir.path().join("unused.db"));
    config.demo = false;
    config.database_url = fresh.url().to_owned();
    config.accounts = vec![backend::config::AccountConfig {
        id: PUSHED.into(),
        name: "EA bridge".into(),
        base_url: String::new(),
        metaapi_account_id: String::new(),
        token: String::new(),
        poll_interval: None,
        challenge: None,
        trader: Some("jane".into()),
        region: None,
        ingest_token: Some("bridge-token-0123456789abcdef0123456789".into()),
        ctrader: None,
        transport: Some(shared::api::Transport::Rest),
    }];
    let one = TestServer::start(config.clone())
        .await
        .expect("instance one");
    let two = TestServer::start(config).await.expect("instance two");
    let max = one
        .state
        .store
        .create_user("max", "not-a-hash", shared::api::Role::Trader)
        .await
        .expect("create")
        .expect("a new user");
    let jane = two.session_for("jane").await.expect("session").client;
    let mut stream = SseReader::open(&jane, &two.url("/api/stream"))
        .await
        .expect("open");
    let start = next(&mut stream).await;
    assert_eq!(snapshot_ids(&start), Some(vec![PUSHED.to_owned()]));

    let admin = one.session_for("admin").await.expect("session").client;
    let response = admin
        .post(one.url(&format!("/api/accounts/{PUSHED}/assign")))
        .json(&serde_json::json!({ "user": max.id }))
        .send()
        .await
        .expect("assign");
    assert_eq!(response.status(), 200);
    let resync = until_snapshot(&mut stream, "-", u64::MAX).await;
    assert_eq!(snapshot_ids(&resync), Some(vec![]));
    two.stop().await;
    one.stop().await;
}
