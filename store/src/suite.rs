//! The store conformance suite: the same cases against SQLite (always) and PostgreSQL (when
//! `TEST_POSTGRES_URL` is set), each run in a fresh database.

use super::buckets::{COARSEST, TIERS};
use super::testing::FreshPostgres;
use super::{
    AuditEntry, AuditFilter, NewSession, NotificationStatus, Store, StoreError, StoredEvent,
    time_from_ms,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shared::api::{EquityBucket, EquityPoint, Role, UserId};
use shared::domain::AccountId;
use shared::peaks::Peaks;

/// Runs one statement on the database at `url` outside the store, as an operator (or a bug)
/// could; returns the rows it affected.
async fn raw(url: &str, sql: &str) -> Result<u64, sqlx::Error> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let result = sqlx::query(sql).execute(&pool).await;
        pool.close().await;
        Ok(result?.rows_affected())
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        let result = sqlx::query(sql).execute(&pool).await;
        pool.close().await;
        Ok(result?.rows_affected())
    }
}

/// Runs a one-number query on the database at `url` outside the store.
async fn raw_count(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        let count = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        count
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let count = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        count
    }
}

/// 2023-11-14T00:00:00Z: a day boundary, so every tier's buckets start there.
const T0: i64 = 1_699_920_000_000;

fn at(ms: i64) -> DateTime<Utc> {
    time_from_ms(ms).expect("time")
}

fn point(ms: i64, balance: Decimal, equity: Decimal) -> EquityPoint {
    EquityPoint {
        time: at(ms),
        balance,
        equity,
    }
}

async fn peaks_round_trip_exactly(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    assert_eq!(store.load_peaks(&account).await.expect("load"), None);
    let peaks = Peaks {
        starting_capital: Some(dec!(100000.00)),
        peak_balance: Some(dec!(100250.55)),
        peak_equity: Some(dec!(100300.10)),
    };
    store.save_peaks(&account, &peaks).await.expect("save");
    assert_eq!(
        store.load_peaks(&account).await.expect("load"),
        Some(peaks.clone())
    );
    let higher = Peaks {
        peak_equity: Some(dec!(100400.0000001)),
        ..peaks
    };
    store
        .save_peaks(&account, &higher)
        .await
        .expect("save again");
    assert_eq!(
        store.load_peaks(&account).await.expect("load"),
        Some(higher)
    );
    assert_eq!(
        store.load_peaks(&AccountId::from("b")).await.expect("load"),
        None
    );
}

async fn challenge_state_and_events_are_saved_together(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    assert_eq!(store.load_challenge(&account).await.expect("load"), None);
    let breach = StoredEvent {
        time: time_from_ms(1_700_000_000_000).expect("time"),
        kind: "breach".into(),
        rule: Some("daily_loss".into()),
        body: r#"{"kind":"breach"}"#.into(),
    };
    let failed = StoredEvent {
        kind: "failed".into(),
        ..breach.clone()
    };
    store
        .save_challenge(&account, r#"{"v":1}"#, std::slice::from_ref(&breach))
        .await
        .expect("save");
    store
        .save_challenge(&account, r#"{"v":2}"#, std::slice::from_ref(&failed))
        .await
        .expect("save");
    store
        .save_challenge(&account, r#"{"v":3}"#, &[])
        .await
        .expect("save");
    assert_eq!(
        store
            .load_challenge(&account)
            .await
            .expect("load")
            .as_deref(),
        Some(r#"{"v":3}"#)
    );
    assert_eq!(
        store.challenge_events(&account).await.expect("events"),
        vec![breach, failed],
        "events are append-only, in order"
    );
    assert!(
        store
            .challenge_events(&AccountId::from("b"))
            .await
            .expect("events")
            .is_empty()
    );
}

async fn samples_fold_into_buckets_of_every_tier(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    // One at a time (the tracker's way), then a batch that reaches into the same buckets.
    for (ms, equity) in [
        (1_000, dec!(100.5)),
        (4_000, dec!(99.25)),
        (12_000, dec!(101)),
    ] {
        store
            .append_sample(&account, &point(T0 + ms, dec!(100), equity))
            .await
            .expect("append");
    }
    store
        .append_samples(
            &account,
            &[
                point(T0 + 8_000, dec!(100), dec!(98.000001)),
                point(T0 + 15_000, dec!(100.10), dec!(102.5)),
            ],
        )
        .await
        .expect("append a batch");
    store.append_samples(&account, &[]).await.expect("nothing");

    let fine = store
        .equity_tier(&account, TIERS[0].resolution_ms)
        .await
        .expect("10 s tier");
    assert_eq!(fine.len(), 2);
    let first = &fine[0];
    assert_eq!((first.start, first.end), (at(T0), at(T0 + 10_000)));
    assert_eq!(
        (first.first, first.last, first.samples),
        (at(T0 + 1_000), at(T0 + 8_000), 3)
    );
    assert_eq!(first.equity.open, dec!(100.5));
    assert_eq!(first.equity.close, dec!(98.000001));
    assert_eq!(
        first.equity.min,
        dec!(98.000001),
        "exact decimals, not floats"
    );
    assert_eq!(first.equity.max, dec!(100.5));
    assert_eq!(fine[1].samples, 2);
    assert_eq!(fine[1].balance.max, dec!(100.10), "scale kept");

    for tier in &TIERS[1..] {
        let buckets = store
            .equity_tier(&account, tier.resolution_ms)
            .await
            .expect("tier");
        assert_eq!(buckets.len(), 1, "{}", tier.name);
        let day = &buckets[0];
        assert_eq!(day.samples, 5);
        assert_eq!(
            (day.equity.open, day.equity.close),
            (dec!(100.5), dec!(102.5))
        );
        assert_eq!(
            (day.equity.min, day.equity.max),
            (dec!(98.000001), dec!(102.5))
        );
        assert_eq!(
            (day.balance.min, day.balance.max),
            (dec!(100), dec!(100.10))
        );
    }
    assert!(
        store
            .equity_tier(&AccountId::from("b"), COARSEST.resolution_ms)
            .await
            .expect("other account")
            .is_empty()
    );
}

/// Thirty minutes of one sample a second, with one deep dip.
async fn half_an_hour(store: &dyn Store, account: &AccountId) -> Vec<EquityPoint> {
    let points: Vec<EquityPoint> = (0..1_800i64)
        .map(|s| {
            let equity = if s == 1_234 {
                dec!(90_000.01)
            } else {
                Decimal::from(100_000 + s % 97)
            };
            point(T0 + s * 1_000, dec!(100_000), equity)
        })
        .collect();
    store
        .append_samples(account, &points)
        .await
        .expect("append");
    points
}

async fn history_uses_the_finest_tier_that_fits(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    let points = half_an_hour(store, &account).await;
    let (from, to) = (at(T0 - 1), at(T0 + 3_600_000));
    let width = |b: &EquityBucket| (b.end - b.start).num_milliseconds();
    for (max_points, count, resolution) in [
        (1_000, 180, 10_000),
        (180, 180, 10_000),
        (179, 30, 60_000),
        (30, 30, 60_000),
        (29, 2, 900_000),
        (1, 1, 4 * 3_600_000),
    ] {
        let history = store
            .equity_history(&account, from, to, max_points)
            .await
            .expect("history");
        assert_eq!(history.len(), count, "{max_points} points");
        assert!(
            history.iter().all(|b| width(b) == resolution),
            "{max_points} points"
        );
        assert_eq!(history.iter().map(|b| b.samples).sum::<u64>(), 1_800);
        let min = history.iter().map(|b| b.equity.min).min();
        assert_eq!(
            min,
            Some(dec!(90_000.01)),
            "the dip survives at {max_points} points"
        );
        let max = history.iter().map(|b| b.equity.max).max();
        assert_eq!(max, points.iter().map(|p| p.equity).max());
    }
    // A range inside: only the buckets whose samples overlap it.
    let inner = store
        .equity_history(&account, at(T0 + 25_000), at(T0 + 44_999), 100)
        .await
        .expect("inner");
    let starts: Vec<_> = inner.iter().map(|b| b.start).collect();
    assert_eq!(
        starts,
        vec![at(T0 + 20_000), at(T0 + 30_000), at(T0 + 40_000)]
    );
    // Nothing before the data, nothing for another account, nothing for a reversed range.
    for (account, from, to) in [
        (&account, at(T0 - 10_000), at(T0 - 1)),
        (&AccountId::from("b"), from, to),
        (&account, to, from),
    ] {
        assert!(
            store
                .equity_history(account, from, to, 100)
                .await
                .expect("empty")
                .is_empty()
        );
    }
}

async fn pruned_tiers_serve_only_the_ranges_they_still_cover(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    const DAY: i64 = 86_400_000;
    let now = T0 + 30 * DAY;
    let old = point(now - 20 * DAY, dec!(1), dec!(50));
    let recent: Vec<EquityPoint> = (0..60)
        .map(|s| point(now - 3_600_000 + s * 1_000, dec!(1), Decimal::from(100 + s)))
        .collect();
    store
        .append_samples(&account, std::slice::from_ref(&old))
        .await
        .expect("old sample");
    store
        .append_samples(&account, &recent)
        .await
        .expect("recent");
    let deleted = store.prune_equity_buckets(at(now)).await.expect("prune");
    // The old sample's 10 s and 1 min buckets went; its 15 min, 4 h and day buckets stay.
    assert_eq!(deleted, 2);
    assert_eq!(store.prune_equity_buckets(at(now)).await.expect("again"), 0);
    assert_eq!(
        store
            .equity_tier(&account, TIERS[0].resolution_ms)
            .await
            .expect("10 s")
            .len(),
        6
    );

    // The last hour is still served at 10 s.
    let hour = store
        .equity_history(&account, at(now - 3_600_000), at(now), 1_000)
        .await
        .expect("hour");
    assert_eq!(hour.len(), 6);
    // A month reaches back past the 10 s and 1 min horizons: 15 min buckets, old dip included.
    let month = store
        .equity_history(&account, at(now - 30 * DAY), at(now), 1_000)
        .await
        .expect("month");
    assert!(month.iter().all(|b| (b.end - b.start).num_minutes() == 15));
    assert_eq!(month.iter().map(|b| b.samples).sum::<u64>(), 61);
    assert_eq!(month.iter().map(|b| b.equity.min).min(), Some(dec!(50)));
}

async fn legacy_samples_are_folded_into_buckets_when_the_store_opens(store: &dyn Store, url: &str) {
    let account = AccountId::from("legacy");
    for (ms, equity) in [
        (1_000, "100.5"),
        (2_000, "99"),
        (2_000, "99.5"),
        (70_000, "101"),
    ] {
        raw(
            url,
            &format!(
                "INSERT INTO equity_samples (account_id, t_ms, balance, equity)
                 VALUES ('legacy', {}, '100', '{equity}')",
                T0 + ms
            ),
        )
        .await
        .expect("a legacy row");
    }
    // Opening again (as at the next start-up) folds and deletes them.
    let reopened = super::open(url).await.expect("reopen");
    let minute = reopened
        .equity_tier(&account, TIERS[1].resolution_ms)
        .await
        .expect("1 min tier");
    assert_eq!(minute.len(), 2);
    assert_eq!(minute[0].samples, 3);
    assert_eq!(
        (
            minute[0].equity.open,
            minute[0].equity.min,
            minute[0].equity.max
        ),
        (dec!(100.5), dec!(99), dec!(100.5))
    );
    assert_eq!(
        raw(url, "DELETE FROM equity_samples")
            .await
            .expect("delete"),
        0,
        "the legacy rows are gone"
    );
    drop(reopened);
    // Nothing twice.
    let again = super::open(url).await.expect("reopen");
    assert_eq!(
        again
            .equity_tier(&account, COARSEST.resolution_ms)
            .await
            .expect("day")[0]
            .samples,
        4
    );
    assert!(store.ping().await.is_ok());
}

fn event(ms: i64, kind: &str) -> StoredEvent {
    StoredEvent {
        time: at(ms),
        kind: kind.to_owned(),
        rule: Some("daily_loss".to_owned()),
        body: format!(r#"{{"kind":"{kind}","t":{ms}}}"#),
    }
}

async fn events_are_append_only_and_each_has_one_notification(store: &dyn Store, url: &str) {
    let account = AccountId::from("a");
    store
        .save_challenge(
            &account,
            "{}",
            &[event(T0, "warning"), event(T0 + 1, "breach")],
        )
        .await
        .expect("save");
    store
        .save_challenge(&account, "{}", &[event(T0 + 2, "failed")])
        .await
        .expect("save");
    let records = store
        .challenge_event_records(&account, 0, 100)
        .await
        .expect("records");
    let kinds: Vec<_> = records.iter().map(|r| r.event.kind.as_str()).collect();
    assert_eq!(kinds, ["warning", "breach", "failed"]);
    assert!(records.windows(2).all(|w| w[0].id < w[1].id));
    let page = store
        .challenge_event_records(&account, records[0].id, 1)
        .await
        .expect("page");
    assert_eq!(page, records[1..2]);
    for record in &records {
        let notification = store
            .notification(record.id)
            .await
            .expect("notification")
            .expect("one per event");
        assert_eq!(notification.event, record.event);
        assert_eq!(notification.status, NotificationStatus::Pending);
        assert_eq!(notification.attempts, 0);
    }
    let id = records[1].id;
    // The database refuses to change or remove evidence, and a second notification.
    for sql in [
        format!("UPDATE challenge_events SET kind = 'warning' WHERE id = {id}"),
        format!("DELETE FROM challenge_events WHERE id = {id}"),
        format!(
            "INSERT INTO notification_outbox (event_id, account_id, created_at_ms, status, \
             attempts, next_attempt_at_ms) VALUES ({id}, 'a', 0, 'pending', 0, 0)"
        ),
    ] {
        assert!(raw(url, &sql).await.is_err(), "refused: {sql}");
    }
    assert_eq!(
        store
            .challenge_events(&account)
            .await
            .expect("events")
            .len(),
        3
    );
    assert_eq!(
        raw_count(url, "SELECT COUNT(*) FROM notification_outbox").await,
        3
    );
}

async fn notifications_are_claimed_once_retried_and_settled(store: &dyn Store, _url: &str) {
    let account = AccountId::from("a");
    let events: Vec<StoredEvent> = (0..5).map(|i| event(T0 + i, "warning")).collect();
    store
        .save_challenge(&account, "{}", &events)
        .await
        .expect("save");
    let now = chrono::Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    // Two senders at once: each notification goes to exactly one of them.
    let (a, b) = tokio::join!(
        store.claim_notifications(now, lease, 3),
        store.claim_notifications(now, lease, 3)
    );
    // A claim that lost the race to rows the other took may come back with fewer (even none);
    // the next claim takes what is still due.
    let rest = store
        .claim_notifications(now, lease, 10)
        .await
        .expect("claim the rest");
    let mut ids: Vec<i64> = a
        .expect("claim")
        .into_iter()
        .chain(b.expect("claim"))
        .chain(rest)
        .map(|n| n.event_id)
        .collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "no notification claimed twice");
    assert_eq!(ids.len(), 5);
    // Leased: not due again until the lease ends.
    assert!(
        store
            .claim_notifications(now, lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );

    let (first, second, third) = (ids[0], ids[1], ids[2]);
    store
        .mark_notification_delivered(first, now)
        .await
        .expect("delivered");
    let retry = now + chrono::Duration::minutes(5);
    store
        .mark_notification_failed(second, "smtp: 421", Some(retry))
        .await
        .expect("failed once");
    store
        .mark_notification_failed(third, "no such address", None)
        .await
        .expect("given up");

    // After the lease: the two never settled come back, the retried one once due.
    let after_lease = now + chrono::Duration::seconds(31);
    let due: Vec<_> = store
        .claim_notifications(after_lease, after_lease + chrono::Duration::seconds(30), 10)
        .await
        .expect("claim")
        .into_iter()
        .map(|n| (n.event_id, n.attempts))
        .collect();
    assert_eq!(due, vec![(ids[3], 2), (ids[4], 2)]);
    let later = retry + chrono::Duration::seconds(1);
    let due = store
        .claim_notifications(later, later, 10)
        .await
        .expect("claim");
    assert_eq!(due.len(), 3, "{due:?}");
    let retried = due.iter().find(|n| n.event_id == second).expect("retried");
    assert_eq!(retried.attempts, 2);
    assert_eq!(retried.last_error.as_deref(), Some("smtp: 421"));

    let settled = |id| async move { store.notification(id).await.expect("get").expect("row") };
    assert_eq!(settled(first).await.status, NotificationStatus::Delivered);
    let given_up = settled(third).await;
    assert_eq!(given_up.status, NotificationStatus::Failed);
    assert_eq!(given_up.attempts, 1);
    assert_eq!(given_up.last_error.as_deref(), Some("no such address"));
    assert_eq!(store.notification(i64::MAX).await.expect("none"), None);
}

async fn deliveries_are_planned_once_per_target_claimed_once_and_settled(
    store: &dyn Store,
    url: &str,
) {
    let account = AccountId::from("a");
    store
        .save_challenge(
            &account,
            "{}",
            &[event(T0, "warning"), event(T0 + 1, "breach")],
        )
        .await
        .expect("save");
    let now = chrono::Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    let outbox = store
        .claim_notifications(now, lease, 10)
        .await
        .expect("claim outbox");
    assert_eq!(outbox.len(), 2);
    let target = |channel: &str, recipient: &str| crate::DeliveryTarget {
        channel: channel.to_owned(),
        recipient: recipient.to_owned(),
    };
    let targets = [target("telegram", "firm"), target("webhook", "user:1")];
    for notification in &outbox {
        store
            .plan_deliveries(notification.event_id, &account, &targets, now)
            .await
            .expect("plan");
        // A fan-out repeated (after a crash) adds nothing.
        store
            .plan_deliveries(notification.event_id, &account, &targets, now)
            .await
            .expect("plan again");
        assert_eq!(
            store
                .notification(notification.event_id)
                .await
                .expect("get")
                .expect("row")
                .status,
            NotificationStatus::Delivered
        );
    }
    assert_eq!(
        raw_count(url, "SELECT COUNT(*) FROM notification_deliveries").await,
        4
    );
    // Two senders at once: each delivery goes to exactly one of them.
    let (a, b) = tokio::join!(
        store.claim_deliveries(now, lease, 3),
        store.claim_deliveries(now, lease, 3)
    );
    let rest = store
        .claim_deliveries(now, lease, 10)
        .await
        .expect("claim the rest");
    let mut keys: Vec<(i64, String, String)> = a
        .expect("claim")
        .into_iter()
        .chain(b.expect("claim"))
        .chain(rest)
        .map(|d| (d.event_id, d.channel, d.recipient))
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "no delivery claimed twice");
    assert_eq!(keys.len(), 4);
    assert!(
        store
            .claim_deliveries(now, lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased deliveries are not due"
    );
    let (e0, c0, r0) = &keys[0];
    let (e1, c1, r1) = &keys[1];
    let (e2, c2, r2) = &keys[2];
    store
        .mark_delivery_delivered(*e0, c0, r0, now)
        .await
        .expect("delivered");
    let retry = now + chrono::Duration::minutes(5);
    store
        .mark_delivery_failed(*e1, c1, r1, "telegram: HTTP 502", Some(retry))
        .await
        .expect("retry");
    store
        .mark_delivery_failed(*e2, c2, r2, "webhook: HTTP 410", None)
        .await
        .expect("given up");
    // A delivered one is never due again; a late "failed" for it changes nothing.
    store
        .mark_delivery_failed(*e0, c0, r0, "late", Some(now))
        .await
        .expect("ignored");
    let later = retry + chrono::Duration::seconds(1);
    let due: Vec<_> = store
        .claim_deliveries(later, later, 10)
        .await
        .expect("claim")
        .into_iter()
        .map(|d| (d.event_id, d.channel, d.attempts))
        .collect();
    assert_eq!(
        due.len(),
        2,
        "the retried one and the never settled one: {due:?}"
    );
    let get = |e: i64, c: &str, r: &str| {
        let (c, r) = (c.to_owned(), r.to_owned());
        async move { store.delivery(e, &c, &r).await.expect("get").expect("row") }
    };
    let delivered = get(*e0, c0, r0).await;
    assert_eq!(delivered.status, shared::api::DeliveryStatus::Delivered);
    assert!(delivered.delivered_at.is_some());
    assert_eq!(delivered.last_error, None);
    let failed = get(*e2, c2, r2).await;
    assert_eq!(failed.status, shared::api::DeliveryStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("webhook: HTTP 410"));
    assert_eq!(
        failed.event.kind,
        if *e2 == outbox[0].event_id {
            "warning"
        } else {
            "breach"
        }
    );
    let only_failed = store
        .deliveries(Some(shared::api::DeliveryStatus::Failed), 100)
        .await
        .expect("list");
    assert_eq!(only_failed, vec![failed]);
    let all = store.deliveries(None, 100).await.expect("list");
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2).all(|w| w[0].event_id >= w[1].event_id),
        "newest first"
    );
    assert_eq!(store.deliveries(None, 1).await.expect("list").len(), 1);
    // Page by page: the same order, each once, and nothing past the end.
    let mut paged = Vec::new();
    for offset in [0, 3] {
        paged.extend(store.deliveries_page(None, offset, 3).await.expect("page"));
    }
    assert_eq!(paged, all);
    assert!(
        store
            .deliveries_page(None, 4, 3)
            .await
            .expect("page")
            .is_empty()
    );
}

async fn notification_preferences_are_saved_per_user(store: &dyn Store, _url: &str) {
    let user = store
        .create_user("jane", "hash", shared::api::Role::Trader)
        .await
        .expect("create")
        .expect("new");
    assert_eq!(
        store.notification_preferences(user.id).await.expect("get"),
        None
    );
    let now = chrono::Utc::now();
    store
        .save_notification_preferences(user.id, r#"{"email":"a@b.c"}"#, now)
        .await
        .expect("save");
    store
        .save_notification_preferences(user.id, r#"{"email":"x@y.z"}"#, now)
        .await
        .expect("replace");
    assert_eq!(
        store
            .notification_preferences(user.id)
            .await
            .expect("get")
            .as_deref(),
        Some(r#"{"email":"x@y.z"}"#)
    );
}

async fn audit_entries_are_listed_newest_first_with_filters_and_pages(
    store: &dyn Store,
    url: &str,
) {
    let entry = |i: i64, actor: &str, subject: &str| AuditEntry {
        time: at(T0 + i * 1_000),
        actor: actor.to_owned(),
        action: if i % 2 == 0 {
            "rule_set.save"
        } else {
            "account.rename"
        }
        .to_owned(),
        subject: subject.to_owned(),
        before: (i > 0).then(|| serde_json::json!({ "n": i - 1 })),
        after: Some(serde_json::json!({ "n": i, "limit": "5000.00" })),
        reason: (i == 3).then(|| "typo".to_owned()),
    };
    let mut ids = Vec::new();
    for i in 0..6 {
        let (actor, subject) = if i < 4 {
            ("admin", "account:a")
        } else {
            ("system", "account:b")
        };
        ids.push(
            store
                .append_audit(&entry(i, actor, subject))
                .await
                .expect("append"),
        );
    }
    let all = store.audit_log(&AuditFilter::default()).await.expect("all");
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].id, ids[5], "newest first");
    assert_eq!(all[2].entry, entry(3, "admin", "account:a"), "round trip");

    let list = |filter: AuditFilter| async move {
        store
            .audit_log(&filter)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    let admin = || AuditFilter {
        actor: Some("admin".into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(admin()).await, vec![ids[3], ids[2], ids[1], ids[0]]);
    let first_page = list(AuditFilter {
        limit: 3,
        ..admin()
    })
    .await;
    assert_eq!(first_page, vec![ids[3], ids[2], ids[1]]);
    let next_page = list(AuditFilter {
        limit: 3,
        before_id: first_page.last().copied(),
        ..admin()
    })
    .await;
    assert_eq!(next_page, vec![ids[0]]);
    assert_eq!(
        list(AuditFilter {
            action: Some("rule_set.save".into()),
            subject: Some("account:b".into()),
            ..AuditFilter::default()
        })
        .await,
        vec![ids[4]]
    );
    assert_eq!(
        list(AuditFilter {
            from: Some(at(T0 + 1_000)),
            to: Some(at(T0 + 2_000)),
            ..AuditFilter::default()
        })
        .await,
        vec![ids[2], ids[1]]
    );
    for sql in [
        "UPDATE audit_log SET actor = 'nobody'",
        "DELETE FROM audit_log",
    ] {
        assert!(raw(url, sql).await.is_err(), "refused: {sql}");
    }
}

async fn rule_set_versions_count_up_and_apply_from_their_instant(store: &dyn Store, url: &str) {
    let account = AccountId::from("a");
    assert_eq!(
        store.rule_set_at(&account, at(T0)).await.expect("none"),
        None
    );
    let rules =
        |limit: &str| serde_json::json!({ "rules": [{ "kind": "max_loss", "limit": limit }] });
    let v1 = store
        .save_rule_set(&account, at(T0), &rules("10000"), "admin")
        .await
        .expect("v1");
    let v2 = store
        .save_rule_set(&account, at(T0 + 10_000), &rules("8000"), "admin")
        .await
        .expect("v2");
    // A correction that applies from between the two, saved later: it supersedes v2.
    let v3 = store
        .save_rule_set(&account, at(T0 + 5_000), &rules("9000"), "lead")
        .await
        .expect("v3");
    assert_eq!((v1, v2, v3), (1, 2, 3));
    let other = store
        .save_rule_set(&AccountId::from("b"), at(T0), &rules("1"), "admin")
        .await
        .expect("other account");
    assert_eq!(other, 1, "versions count per account");

    let version_at = |ms: i64| {
        let account = account.clone();
        async move {
            store
                .rule_set_at(&account, at(ms))
                .await
                .expect("at")
                .map(|r| r.version)
        }
    };
    assert_eq!(version_at(T0 - 1).await, None);
    assert_eq!(version_at(T0).await, Some(1));
    assert_eq!(version_at(T0 + 4_999).await, Some(1));
    assert_eq!(version_at(T0 + 5_000).await, Some(3));
    assert_eq!(version_at(T0 + 20_000).await, Some(3));

    let versions = store.rule_set_versions(&account).await.expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(versions[2].rules, rules("9000"));
    assert_eq!(versions[2].created_by, "lead");
    assert_eq!(versions[1].effective_from, at(T0 + 10_000));
    assert!(raw(url, "UPDATE rule_sets SET rules = '{}'").await.is_err());
    assert!(raw(url, "DELETE FROM rule_sets").await.is_err());
}

async fn broker_tokens_are_stored_sealed(store: &dyn Store, url: &str) {
    use crate::connections::{self, BrokerConnection, ConnectionError};
    use crate::secrets::{Secret, SecretError, SecretKey};
    let key = SecretKey::parse(&"5a".repeat(32)).expect("key");
    let account = AccountId::from("ftmo-1");
    assert!(
        connections::load(store, &key, &account)
            .await
            .expect("load")
            .is_none()
    );
    let mut connection = BrokerConnection {
        account: account.clone(),
        platform: "metaapi".into(),
        base_url: "https://mt-client-api-v1.london.agiliumtrade.ai".into(),
        external_account_id: "abc-123".into(),
        token: Secret::new("plaintext-token-xyz"),
        application: None,
        refresh: None,
    };
    connections::save(store, &key, &connection, at(T0))
        .await
        .expect("save");
    assert_eq!(
        raw_count(
            url,
            "SELECT COUNT(*) FROM broker_connections WHERE sealed_token LIKE '%plaintext%'"
        )
        .await,
        0,
        "the token is not stored in the clear"
    );
    let loaded = connections::load(store, &key, &account)
        .await
        .expect("load")
        .expect("saved");
    assert_eq!(loaded, connection);
    assert!(!format!("{loaded:?}").contains("plaintext-token-xyz"));

    connection.token = Secret::new("rotated-token");
    connections::save(store, &key, &connection, at(T0 + 1))
        .await
        .expect("replace");
    let stored = store
        .load_broker_connection(&account)
        .await
        .expect("load")
        .expect("saved");
    assert_eq!(stored.updated_at, at(T0 + 1));
    assert_eq!(
        connections::load(store, &key, &account)
            .await
            .expect("load")
            .map(|c| c.token),
        Some(Secret::new("rotated-token"))
    );
    let wrong = SecretKey::parse(&"a5".repeat(32)).expect("key");
    assert!(matches!(
        connections::load(store, &wrong, &account).await,
        Err(ConnectionError::Secret(SecretError::CannotOpen))
    ));

    // A cTrader connection: the access token, the client secret and the refresh token are all
    // sealed, and cannot be swapped with each other; the token's expiry and last refresh kept.
    let ctrader = BrokerConnection {
        account: AccountId::from("ctrader-1"),
        platform: "ctrader".into(),
        base_url: "wss://demo.ctraderapi.com:5036".into(),
        external_account_id: "40000001".into(),
        token: Secret::new("plaintext-access-token"),
        application: Some(("app-id".into(), Secret::new("plaintext-client-secret"))),
        refresh: Some(connections::TokenRefresh {
            token: Secret::new("plaintext-refresh-token"),
            expires_at: Some(at(T0 + 2_628_000)),
            refreshed_at: Some(at(T0)),
            lineage: None,
        }),
    };
    connections::save(store, &key, &ctrader, at(T0))
        .await
        .expect("save");
    assert_eq!(
        raw_count(
            url,
            "SELECT COUNT(*) FROM broker_connections WHERE sealed_token LIKE '%plaintext%' \
             OR sealed_client_secret LIKE '%plaintext%' \
             OR sealed_refresh_token LIKE '%plaintext%'"
        )
        .await,
        0,
        "no secret is stored in the clear"
    );
    let loaded = connections::load(store, &key, &ctrader.account)
        .await
        .expect("load")
        .expect("saved");
    let lineage = connections::lineage_of(&Secret::new("plaintext-refresh-token"));
    assert_eq!(
        loaded.refresh.as_ref().and_then(|r| r.lineage.as_deref()),
        Some(lineage.as_str()),
        "a new pair's lineage is its refresh token's"
    );
    assert!(!lineage.contains("plaintext"));
    let mut expected = ctrader.clone();
    if let Some(refresh) = expected.refresh.as_mut() {
        refresh.lineage = Some(lineage);
    }
    assert_eq!(loaded, expected);
    assert!(!format!("{loaded:?}").contains("plaintext"));
    let mut stored = store
        .load_broker_connection(&ctrader.account)
        .await
        .expect("load")
        .expect("saved");
    assert_eq!(stored.client_id.as_deref(), Some("app-id"));
    let token = stored.sealed_token.clone();
    stored.sealed_token = stored.sealed_client_secret.clone().expect("sealed");
    stored.sealed_client_secret = Some(token);
    assert!(matches!(
        connections::open(&key, stored.clone()),
        Err(SecretError::CannotOpen)
    ));
    let mut stored = store
        .load_broker_connection(&ctrader.account)
        .await
        .expect("load")
        .expect("saved");
    assert_eq!(stored.token_expires_at, Some(at(T0 + 2_628_000)));
    stored.sealed_refresh_token = Some(stored.sealed_token.clone());
    assert!(matches!(
        connections::open(&key, stored),
        Err(SecretError::CannotOpen)
    ));
}

async fn a_refreshed_token_pair_reaches_every_holder_and_never_goes_back(
    store: &dyn Store,
    _url: &str,
) {
    use crate::connections::{self, BrokerConnection, RefreshedPair, TokenRefresh};
    use crate::secrets::{Secret, SecretKey};
    let key = SecretKey::parse(&"5a".repeat(32)).expect("key");
    // Three accounts of one cTrader ID hold one pair; a fourth holds another.
    let holder = |id: &str, refresh: &str| BrokerConnection {
        account: AccountId::from(id),
        platform: "ctrader".into(),
        base_url: "wss://demo.ctraderapi.com:5036".into(),
        external_account_id: "4000".into(),
        token: Secret::new("access-0"),
        application: Some(("app".into(), Secret::new("secret"))),
        refresh: Some(TokenRefresh {
            token: Secret::new(refresh),
            expires_at: None,
            refreshed_at: None,
            lineage: None,
        }),
    };
    for (id, refresh) in [
        ("ct-a", "r0"),
        ("ct-b", "r0"),
        ("ct-c", "r0"),
        ("ct-x", "other"),
    ] {
        connections::save(store, &key, &holder(id, refresh), at(T0))
            .await
            .expect("save");
    }
    let lineage = connections::lineage_of(&Secret::new("r0"));
    assert_eq!(
        store.token_lineage_accounts(&lineage).await.expect("list"),
        vec![
            AccountId::from("ct-a"),
            AccountId::from("ct-b"),
            AccountId::from("ct-c")
        ]
    );
    let pair = |n: i64| RefreshedPair {
        access_token: Secret::new(format!("access-{n}")),
        refresh_token: Secret::new(format!("r{n}")),
        expires_at: Some(at(T0 + n * 100 + 2_628_000)),
        refreshed_at: at(T0 + n * 100),
    };
    // Another server already stored a later refresh on one of them.
    assert!(
        connections::save_refreshed(store, &key, &AccountId::from("ct-c"), &pair(2), at(T0))
            .await
            .expect("save")
    );
    assert_eq!(
        connections::spread_refreshed(store, &key, &lineage, &pair(1), at(T0))
            .await
            .expect("spread"),
        2,
        "the two holders of the older pair"
    );
    let token = |id: &'static str| {
        let key = key.clone();
        async move {
            let connection = connections::load(store, &key, &AccountId::from(id))
                .await
                .expect("load")
                .expect("saved");
            let refresh = connection.refresh.expect("refresh");
            (
                connection.token.expose().to_owned(),
                refresh.token.expose().to_owned(),
                refresh.lineage,
            )
        }
    };
    assert_eq!(token("ct-a").await.0, "access-1");
    assert_eq!(token("ct-b").await.1, "r1");
    assert_eq!(
        token("ct-c").await.0,
        "access-2",
        "a later pair is never put back"
    );
    assert_eq!(
        token("ct-x").await.0,
        "access-0",
        "another pair is untouched"
    );
    assert_eq!(
        token("ct-a").await.2,
        Some(lineage.clone()),
        "the lineage outlives the refresh token it came from"
    );
    // The same refresh again changes nothing; the later one reaches the rest.
    assert_eq!(
        connections::spread_refreshed(store, &key, &lineage, &pair(1), at(T0))
            .await
            .expect("spread"),
        0
    );
    assert_eq!(
        connections::spread_refreshed(store, &key, &lineage, &pair(2), at(T0))
            .await
            .expect("spread"),
        2
    );
    assert_eq!(token("ct-a").await.0, "access-2");
}

async fn created_accounts_are_stored_once_with_their_setup(store: &dyn Store, url: &str) {
    use super::{AccountSetup, StoredBrokerConnection};
    let owner = store
        .create_user("owner", "hash", Role::Trader)
        .await
        .expect("create")
        .expect("new");
    let setup = AccountSetup {
        account: AccountId::from("made-1"),
        connection: "metaapi".into(),
        external_account_id: "ext-1".into(),
        preset: "ftmo-2step".into(),
        initial_balance: dec!(100000.50),
        currency: "USD".into(),
        created_by: "admin".into(),
        created_at: at(T0),
        transport: shared::api::Transport::Rest,
        program: None,
    };
    let connection = StoredBrokerConnection {
        account: setup.account.clone(),
        platform: "metaapi".into(),
        base_url: "https://example.test".into(),
        external_account_id: "ext-1".into(),
        sealed_token: crate::secrets::SealedSecret::from_stored("v1.sealed".into()),
        client_id: None,
        sealed_client_secret: None,
        sealed_refresh_token: None,
        token_expires_at: None,
        token_refreshed_at: None,
        token_lineage: None,
        updated_at: at(T0),
    };
    assert!(
        store
            .create_account_setup(&setup, "Made", Some(owner.id), Some(&connection))
            .await
            .expect("create")
    );
    assert_eq!(
        store.account_setups().await.expect("setups"),
        std::slice::from_ref(&setup)
    );
    assert_eq!(
        store.account_owner(&setup.account).await.expect("owner"),
        Some(owner.id)
    );
    assert_eq!(
        store
            .load_broker_connection(&setup.account)
            .await
            .expect("load"),
        Some(connection)
    );
    // A taken id (created, or configured) writes nothing.
    let mut again = setup.clone();
    again.preset = "ftmo-1step".into();
    assert!(
        !store
            .create_account_setup(&again, "Again", None, None)
            .await
            .expect("taken")
    );
    store
        .upsert_account(&AccountId::from("configured"), "Configured", None)
        .await
        .expect("configured");
    again.account = AccountId::from("configured");
    assert!(
        !store
            .create_account_setup(&again, "Again", None, None)
            .await
            .expect("taken")
    );
    assert_eq!(
        raw_count(url, "SELECT COUNT(*) FROM account_setups").await,
        1
    );
    assert_eq!(store.account_setups().await.expect("setups"), [setup]);
}

async fn an_import_creates_every_account_in_one_transaction_or_none(store: &dyn Store, url: &str) {
    use super::{AccountSetup, NewAccount, StoredBrokerConnection};
    let owner = store
        .create_user("importer-owner", "hash", Role::Trader)
        .await
        .expect("create")
        .expect("new");
    let new = |id: &str, connection: bool| {
        let account = AccountId::from(id);
        NewAccount {
            setup: AccountSetup {
                account: account.clone(),
                connection: if connection { "metaapi" } else { "demo" }.into(),
                external_account_id: format!("ext-{id}"),
                preset: "ftmo-2step".into(),
                initial_balance: dec!(25000.50),
                currency: "USD".into(),
                created_by: "admin".into(),
                created_at: at(T0),
                transport: shared::api::Transport::Rest,
                program: None,
            },
            name: format!("Imported {id}"),
            owner: connection.then_some(owner.id),
            connection: connection.then(|| StoredBrokerConnection {
                account,
                platform: "metaapi".into(),
                base_url: "https://example.test".into(),
                external_account_id: format!("ext-{id}"),
                sealed_token: crate::secrets::SealedSecret::from_stored("v1.sealed".into()),
                client_id: None,
                sealed_client_secret: None,
                sealed_refresh_token: None,
                token_expires_at: None,
                token_refreshed_at: None,
                token_lineage: None,
                updated_at: at(T0),
            }),
        }
    };
    let rows: Vec<NewAccount> = (0..300)
        .map(|i| new(&format!("imp-{i:03}"), i % 3 == 0))
        .collect();
    assert!(
        store
            .create_account_setups(&rows)
            .await
            .expect("import")
            .is_empty()
    );
    let setups = store.account_setups().await.expect("setups");
    assert_eq!(setups.len(), 300);
    assert_eq!(setups[7], rows[7].setup);
    assert_eq!(
        store
            .account_owner(&rows[3].setup.account)
            .await
            .expect("owner"),
        Some(owner.id)
    );
    assert_eq!(
        store
            .load_broker_connection(&rows[3].setup.account)
            .await
            .expect("load"),
        rows[3].connection
    );
    // One taken id (created before, or configured) among new ones: nothing of the batch is
    // written, and every taken id is named.
    store
        .upsert_account(&AccountId::from("imp-configured"), "Configured", None)
        .await
        .expect("configured");
    let batch = vec![
        new("imp-new-1", true),
        new("imp-005", false),
        new("imp-new-2", false),
        new("imp-configured", false),
    ];
    assert_eq!(
        store.create_account_setups(&batch).await.expect("taken"),
        [
            AccountId::from("imp-005"),
            AccountId::from("imp-configured")
        ]
    );
    assert_eq!(
        raw_count(url, "SELECT COUNT(*) FROM account_setups").await,
        300
    );
    assert_eq!(
        raw_count(
            url,
            "SELECT COUNT(*) FROM accounts WHERE id LIKE 'imp-new-%'"
        )
        .await,
        0
    );
    assert!(
        store
            .load_broker_connection(&AccountId::from("imp-new-1"))
            .await
            .expect("load")
            .is_none()
    );
    assert_eq!(
        store
            .create_account_setups(&[new("imp-new-3", false), new("imp-new-3", true)])
            .await
            .expect("twice"),
        [AccountId::from("imp-new-3")]
    );
    assert_eq!(
        raw_count(
            url,
            "SELECT COUNT(*) FROM accounts WHERE id LIKE 'imp-new-%'"
        )
        .await,
        0
    );
    assert!(
        store
            .create_account_setups(&[])
            .await
            .expect("nothing")
            .is_empty()
    );
}

async fn concurrent_writers_of_different_accounts_all_succeed(store: &dyn Store, _url: &str) {
    // Each tracker writes its own account; on SQLite a read-then-write transaction must queue
    // for the write lock rather than fail when another commits first.
    let writers = (0..8).map(|a| async move {
        let account = AccountId(format!("w{a}"));
        for s in 0..25i64 {
            let sample = point(T0 + s * 1_000, dec!(100), Decimal::from(100 + s));
            store.append_sample(&account, &sample).await?;
            store
                .save_challenge(&account, "{}", &[event(T0 + s, "warning")])
                .await?;
        }
        Ok::<_, super::StoreError>(account)
    });
    for account in futures_util::future::join_all(writers).await {
        let account = account.expect("every write succeeds");
        let day = store
            .equity_tier(&account, COARSEST.resolution_ms)
            .await
            .expect("day");
        assert_eq!(day[0].samples, 25);
        assert_eq!(
            store
                .challenge_events(&account)
                .await
                .expect("events")
                .len(),
            25
        );
    }
}

/// Events, the audit log and rule sets are append-only: no statement of the store updates or
/// deletes them (the databases refuse it as well; see the cases above).
#[test]
fn no_statement_changes_or_removes_append_only_rows() {
    let sql = [
        include_str!("sql/mod.rs"),
        include_str!("sql/tracking.rs"),
        include_str!("sql/history.rs"),
        include_str!("sql/users.rs"),
        include_str!("sql/audit.rs"),
        include_str!("sql/notifications.rs"),
        include_str!("sql/connections.rs"),
        include_str!("sql/scale_out.rs"),
        include_str!("sql/statements.rs"),
    ]
    .concat()
    .to_lowercase();
    let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    for table in ["challenge_events", "audit_log", "rule_sets", "statements"] {
        for statement in [
            format!("update {table}"),
            format!("delete from {table}"),
            format!("truncate {table}"),
            format!("replace into {table}"),
        ] {
            assert!(
                !sql.contains(&statement),
                "the store must not `{statement}`"
            );
        }
        assert!(sql.contains(&format!("insert into {table}")));
    }
}

async fn usernames_are_unique_without_regard_to_case(store: &dyn Store, _url: &str) {
    assert!(!store.admin_exists().await.expect("admins"));
    let jane = store
        .create_user("Jane", "hash-1", Role::Trader)
        .await
        .expect("create")
        .expect("a new user");
    assert_eq!((jane.username.as_str(), jane.role), ("Jane", Role::Trader));
    assert!(!jane.disabled);
    assert_eq!(
        store
            .create_user("jANE", "hash-2", Role::Admin)
            .await
            .expect("create"),
        None,
        "the name is taken in another case"
    );
    let found = store
        .user_credentials("JANE")
        .await
        .expect("credentials")
        .expect("found in any case");
    assert_eq!(
        (found.user.clone(), found.password_hash.as_str()),
        (jane.clone(), "hash-1")
    );
    assert!(
        !format!("{found:?}").contains("hash-1"),
        "hashes stay out of Debug"
    );
    assert!(!store.admin_exists().await.expect("admins"));

    let promoted = store
        .upsert_user("JANE", "hash-3", Role::Admin)
        .await
        .expect("upsert");
    assert_eq!(promoted.id, jane.id, "the same user, updated");
    assert_eq!(
        (promoted.username.as_str(), promoted.role),
        ("Jane", Role::Admin)
    );
    assert_eq!(
        store
            .user_credentials("jane")
            .await
            .expect("credentials")
            .map(|c| c.password_hash),
        Some("hash-3".to_owned())
    );
    assert!(store.admin_exists().await.expect("admins"));
    let bob = store
        .upsert_user("bob", "hash-4", Role::Trader)
        .await
        .expect("upsert creates");
    assert_eq!(
        store.users().await.expect("users"),
        vec![promoted.clone(), bob.clone()]
    );
    assert_eq!(store.user(bob.id).await.expect("user"), Some(bob));
    assert_eq!(store.user(UserId(999_999)).await.expect("user"), None);
    assert_eq!(
        store.user_credentials("nobody").await.expect("credentials"),
        None
    );

    let disabled = store
        .set_user_disabled(jane.id, true)
        .await
        .expect("disable")
        .expect("exists");
    assert!(disabled.disabled);
    assert!(
        !store.admin_exists().await.expect("admins"),
        "a disabled admin does not count"
    );
    assert_eq!(
        store
            .set_user_disabled(UserId(999_999), true)
            .await
            .expect("disable"),
        None
    );
}

async fn sessions_expire_and_end_with_their_user(store: &dyn Store, _url: &str) {
    let user = store
        .create_user("ann", "h", Role::Trader)
        .await
        .expect("create")
        .expect("new");
    let t0 = time_from_ms(1_700_000_000_000).expect("time");
    let hour = chrono::Duration::hours(1);
    let new = |hash: &str| NewSession {
        token_hash: hash.to_owned(),
        user: user.id,
        csrf_token: format!("csrf-{hash}"),
        created_at: t0,
        expires_at: t0 + hour,
    };
    store.create_session(&new("s1")).await.expect("create");
    let session = store
        .session("s1", t0)
        .await
        .expect("session")
        .expect("valid");
    assert_eq!(session.user, user);
    assert_eq!(session.csrf_token, "csrf-s1");
    assert_eq!(
        (session.created_at, session.expires_at, session.last_seen),
        (t0, t0 + hour, t0)
    );
    assert_eq!(
        store.session("s1", t0 + hour).await.expect("session"),
        None,
        "expired"
    );
    assert_eq!(store.session("nope", t0).await.expect("session"), None);

    let later = t0 + chrono::Duration::minutes(5);
    store.touch_session("s1", later).await.expect("touch");
    let touched = store
        .session("s1", later)
        .await
        .expect("session")
        .expect("valid");
    assert_eq!(touched.last_seen, later);

    store.delete_session("s1").await.expect("delete");
    assert_eq!(
        store.session("s1", t0).await.expect("session"),
        None,
        "signed out"
    );

    store.create_session(&new("s2")).await.expect("create");
    store.create_session(&new("s3")).await.expect("create");
    store
        .set_user_disabled(user.id, true)
        .await
        .expect("disable")
        .expect("exists");
    assert_eq!(store.session("s2", t0).await.expect("session"), None);
    store
        .set_user_disabled(user.id, false)
        .await
        .expect("enable")
        .expect("exists");
    assert_eq!(
        store.session("s3", t0).await.expect("session"),
        None,
        "disabling ended the sessions for good"
    );

    store.create_session(&new("s8")).await.expect("create");
    let reset = store
        .set_user_password(user.id, "new-hash")
        .await
        .expect("reset")
        .expect("exists");
    assert_eq!(reset, user);
    assert_eq!(
        store.session("s8", t0).await.expect("session"),
        None,
        "a new password ended the session"
    );
    assert_eq!(
        store
            .user_credentials("ann")
            .await
            .expect("credentials")
            .expect("exists")
            .password_hash,
        "new-hash"
    );
    assert_eq!(
        store
            .set_user_password(UserId(i64::MAX), "h")
            .await
            .expect("no such user"),
        None
    );

    store.create_session(&new("s4")).await.expect("create");
    store.create_session(&new("s5")).await.expect("create");
    assert_eq!(
        store.delete_user_sessions(user.id).await.expect("delete"),
        2
    );
    store.create_session(&new("s6")).await.expect("create");
    let mut fresh = new("s7");
    fresh.expires_at = t0 + chrono::Duration::hours(3);
    store.create_session(&fresh).await.expect("create");
    assert_eq!(
        store
            .delete_expired_sessions(t0 + chrono::Duration::hours(2))
            .await
            .expect("prune"),
        1
    );
    assert!(store.session("s7", t0).await.expect("session").is_some());
}

async fn accounts_have_owners(store: &dyn Store, _url: &str) {
    let ann = store
        .create_user("ann", "h", Role::Trader)
        .await
        .expect("create")
        .expect("new");
    let bob = store
        .create_user("bob", "h", Role::Trader)
        .await
        .expect("create")
        .expect("new");
    let (a, b, c) = (
        AccountId::from("a"),
        AccountId::from("b"),
        AccountId::from("c"),
    );
    store
        .upsert_account(&a, "A", Some(ann.id))
        .await
        .expect("upsert");
    store.upsert_account(&b, "B", None).await.expect("upsert");
    store
        .upsert_account(&c, "C", Some(bob.id))
        .await
        .expect("upsert");
    assert_eq!(
        store.accounts_owned_by(ann.id).await.expect("owned"),
        vec![a.clone()]
    );
    assert_eq!(store.account_owner(&a).await.expect("owner"), Some(ann.id));
    assert_eq!(store.account_owner(&b).await.expect("owner"), None);
    assert_eq!(
        store
            .account_owner(&AccountId::from("zz"))
            .await
            .expect("owner"),
        None
    );

    store
        .upsert_account(&a, "A renamed", Some(bob.id))
        .await
        .expect("upsert again");
    assert!(
        store
            .accounts_owned_by(ann.id)
            .await
            .expect("owned")
            .is_empty()
    );
    assert_eq!(
        store.accounts_owned_by(bob.id).await.expect("owned"),
        vec![a.clone(), c.clone()]
    );
    assert!(
        store
            .set_account_owner(&b, Some(ann.id))
            .await
            .expect("assign")
    );
    assert!(store.set_account_owner(&c, None).await.expect("unassign"));
    assert!(
        !store
            .set_account_owner(&AccountId::from("zz"), Some(ann.id))
            .await
            .expect("no such account")
    );
    assert_eq!(
        store.accounts_owned_by(ann.id).await.expect("owned"),
        vec![b.clone()]
    );
    store.set_account_owner(&b, None).await.expect("unassign");
    store
        .set_account_owner(&c, Some(bob.id))
        .await
        .expect("assign");
    let listed = store.accounts().await.expect("accounts");
    let names: Vec<_> = listed
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str(), r.owner))
        .collect();
    assert_eq!(
        names,
        [
            ("a", "A renamed", Some(bob.id)),
            ("b", "B", None),
            ("c", "C", Some(bob.id))
        ]
    );
    assert!(listed.iter().all(|r| r.archived.is_none()));

    // Archiving: once, the first one standing; an unknown account is not archived.
    let archived = crate::Archived {
        at: DateTime::from_timestamp_millis(1_700_000_000_000).expect("time"),
        by: "root".to_owned(),
        reason: "Failed; kept for disputes".to_owned(),
    };
    assert!(store.archive_account(&b, &archived).await.expect("archive"));
    let again = crate::Archived {
        reason: "again".to_owned(),
        ..archived.clone()
    };
    assert!(!store.archive_account(&b, &again).await.expect("twice"));
    assert!(
        !store
            .archive_account(&AccountId::from("zz"), &archived)
            .await
            .expect("no such account")
    );
    assert_eq!(
        store.archived(&b).await.expect("read"),
        Some(archived.clone())
    );
    assert_eq!(store.archived(&a).await.expect("read"), None);
    let listed = store.accounts().await.expect("accounts");
    assert_eq!(
        listed
            .iter()
            .map(|r| r.archived.is_some())
            .collect::<Vec<_>>(),
        [false, true, false]
    );
}

async fn leases_have_one_holder_and_fence_its_saves(store: &dyn Store, url: &str) {
    let account = AccountId::from("leased");
    // A SQLite database serves one instance, which always takes the lease.
    let single = url.starts_with("sqlite:");
    let a = store
        .acquire_lease(&account, "a", at(T0), at(T0 + 10_000))
        .await
        .expect("acquire")
        .expect("a free lease is taken");
    assert_eq!((a.holder.as_str(), a.generation), ("a", 1));
    let renewed = store
        .acquire_lease(&account, "a", at(T0 + 3_000), at(T0 + 13_000))
        .await
        .expect("renew")
        .expect("the holder renews");
    assert_eq!(renewed.generation, 1, "a renewal keeps the generation");
    let early = store
        .acquire_lease(&account, "b", at(T0 + 5_000), at(T0 + 15_000))
        .await
        .expect("acquire");
    let b = if single {
        early.expect("one instance always takes the lease")
    } else {
        assert_eq!(early, None, "a running lease is not taken");
        store
            .acquire_lease(&account, "b", at(T0 + 13_000), at(T0 + 23_000))
            .await
            .expect("acquire")
            .expect("an expired lease is taken over")
    };
    assert_eq!((b.holder.as_str(), b.generation), ("b", 2));

    // The holder's fenced save is stored; the former holder's writes nothing.
    store
        .save_challenge_fenced(&account, r#"{"by":"b"}"#, &[event(T0, "breach")], &b)
        .await
        .expect("the holder saves");
    let refused = store
        .save_challenge_fenced(&account, r#"{"by":"a"}"#, &[event(T0, "breach")], &a)
        .await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost(ref id)) if id == "leased"),
        "{refused:?}"
    );
    assert_eq!(
        store
            .load_challenge(&account)
            .await
            .expect("load")
            .as_deref(),
        Some(r#"{"by":"b"}"#)
    );
    assert_eq!(
        store
            .challenge_events(&account)
            .await
            .expect("events")
            .len(),
        1,
        "the breach is stored once"
    );

    // A stale release changes nothing; the holder's frees the lease at once.
    store.release_lease(&a).await.expect("release");
    if !single {
        assert_eq!(
            store
                .acquire_lease(&account, "c", at(T0 + 14_000), at(T0 + 24_000))
                .await
                .expect("acquire"),
            None,
            "b still holds it"
        );
    }
    store.release_lease(&b).await.expect("release");
    let c = store
        .acquire_lease(&account, "c", at(T0 + 14_000), at(T0 + 24_000))
        .await
        .expect("acquire")
        .expect("a released lease is free");
    assert_eq!(c.generation, 3);
    let leases = store.leases().await.expect("leases");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].holder, "c");
    assert_eq!(leases[0].expires_at, at(T0 + 24_000));
}

async fn instances_count_while_they_heartbeat(store: &dyn Store, _url: &str) {
    let alive =
        |id: &'static str, now: i64| store.heartbeat_instance(id, at(now), at(now + 10_000));
    assert_eq!(alive("a", T0).await.expect("heartbeat"), 1);
    assert_eq!(alive("b", T0 + 1_000).await.expect("heartbeat"), 2);
    assert_eq!(alive("a", T0 + 2_000).await.expect("heartbeat"), 2);
    assert_eq!(
        alive("b", T0 + 12_500).await.expect("heartbeat"),
        1,
        "a stopped heartbeating"
    );
    store.remove_instance("b").await.expect("remove");
    assert_eq!(alive("c", T0 + 13_000).await.expect("heartbeat"), 1);
}

async fn live_views_are_kept_and_updates_reach_listeners(store: &dyn Store, _url: &str) {
    let account = AccountId::from("live");
    assert_eq!(store.live_view(&account).await.expect("read"), None);
    store.save_live_view(&account, "one").await.expect("save");
    store.save_live_view(&account, "two").await.expect("save");
    assert_eq!(
        store.live_view(&account).await.expect("read").as_deref(),
        Some("two")
    );
    let Some(mut listener) = store.listen_live().await.expect("listen") else {
        assert!(!store.shares_live_updates(), "one instance: nobody to tell");
        store.publish_live("hello").await.expect("nothing to send");
        return;
    };
    assert!(store.shares_live_updates());
    store.publish_live("hello").await.expect("notify");
    let received = tokio::time::timeout(std::time::Duration::from_secs(60), listener.recv())
        .await
        .expect("the update arrives")
        .expect("receive");
    assert_eq!(received.as_deref(), Some("hello"));
}

async fn a_challenge_links_to_a_version_of_its_rule_set(store: &dyn Store, _url: &str) {
    let account = AccountId::from("linked");
    let linked = |version: i64| store.link_challenge_rule_set(&account, version);
    assert!(!linked(1).await.expect("link"), "no challenge yet");
    store
        .save_challenge(&account, "{}", &[])
        .await
        .expect("save");
    assert!(!linked(1).await.expect("link"), "no such version yet");
    let rules = serde_json::json!({ "rules": [] });
    let v1 = store
        .save_rule_set(&account, at(T0), &rules, "admin")
        .await
        .expect("v1");
    let v2 = store
        .save_rule_set(&account, at(T0 + 1), &rules, "admin")
        .await
        .expect("v2");
    let mut other = 0;
    for _ in 0..3 {
        other = store
            .save_rule_set(&AccountId::from("other"), at(T0), &rules, "admin")
            .await
            .expect("another account's");
    }
    assert_eq!(
        store
            .challenge_rule_set_version(&account)
            .await
            .expect("read"),
        None
    );
    assert!(linked(v1).await.expect("link"));
    store
        .save_challenge(&account, r#"{"v":2}"#, &[])
        .await
        .expect("save");
    assert_eq!(
        store
            .challenge_rule_set_version(&account)
            .await
            .expect("read"),
        Some(v1),
        "saving the state keeps the link"
    );
    assert!(linked(v2).await.expect("link"));
    assert!(
        !linked(other).await.expect("link"),
        "only the account's own versions"
    );
    assert_eq!(
        store
            .challenge_rule_set_version(&account)
            .await
            .expect("read"),
        Some(v2)
    );
}

/// A competition: created once per id, entrants numbered in entry order and never renumbered,
/// edits and entry changes refused after the start, the start, a disqualification and the
/// final standings each recorded once with their notices, baselines kept once, day ranks, and
/// display names.
async fn competitions_start_once_number_entrants_and_freeze_once(store: &dyn Store, _url: &str) {
    use crate::{Baseline, CompetitionNotice, StoredCompetition, StoredDisqualification};
    let c = StoredCompetition {
        id: "spring-cup".into(),
        definition_json: "{}".into(),
        start: at(T0),
        end: at(T0 + 86_400_000),
        public_slug: None,
        started: false,
        final_json: None,
        final_at: None,
        created_by: "admin".into(),
        created_at: at(T0 - 1_000),
        updated_by: "admin".into(),
        updated_at: at(T0 - 1_000),
    };
    assert!(store.create_competition(&c).await.expect("create"));
    assert!(
        !store.create_competition(&c).await.expect("again"),
        "an id is taken once"
    );
    let (a, b, d) = (
        AccountId::from("a"),
        AccountId::from("b"),
        AccountId::from("d"),
    );
    let entries = store
        .change_entries(&c.id, &[a.clone(), b.clone()], &[], at(T0 - 500))
        .await
        .expect("add")
        .expect("not started");
    assert_eq!(entries.iter().map(|e| e.entry).collect::<Vec<_>>(), [1, 2]);
    let entries = store
        .change_entries(
            &c.id,
            &[d.clone(), a.clone()],
            std::slice::from_ref(&b),
            at(T0 - 400),
        )
        .await
        .expect("change")
        .expect("not started");
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.entry, e.account.as_str()))
            .collect::<Vec<_>>(),
        [(1, "a"), (3, "d")],
        "numbers are never reused"
    );
    assert_eq!(
        store.account_competitions(&d).await.expect("of d"),
        ["spring-cup"]
    );
    let mut edited = c.clone();
    edited.public_slug = Some("abc123".into());
    assert!(store.update_competition(&edited).await.expect("edit"));
    let notice = |account: &AccountId, kind: &str| CompetitionNotice {
        account: account.clone(),
        event: StoredEvent {
            time: at(T0),
            kind: kind.into(),
            rule: None,
            body: "{}".into(),
        },
    };
    let started = [
        notice(&a, "competition_started"),
        notice(&d, "competition_started"),
    ];
    assert!(
        store
            .start_competition(&c.id, &started)
            .await
            .expect("start")
    );
    assert!(
        !store
            .start_competition(&c.id, &started)
            .await
            .expect("again"),
        "once"
    );
    assert_eq!(store.challenge_events(&a).await.expect("events").len(), 1);
    assert!(!store.update_competition(&edited).await.expect("late edit"));
    let mut public = StoredCompetition {
        public_slug: None,
        ..edited.clone()
    };
    assert!(
        store
            .set_competition_public(&public)
            .await
            .expect("link off")
    );
    public.public_slug = Some("abc123".into());
    assert!(
        store
            .set_competition_public(&public)
            .await
            .expect("link on")
    );
    assert!(
        store
            .change_entries(&c.id, std::slice::from_ref(&b), &[], at(T0 + 1))
            .await
            .expect("late add")
            .is_none()
    );
    let baseline = Baseline {
        equity: dec!(100000.50),
        trades: 4,
        at: at(T0 + 10),
    };
    assert!(
        store
            .set_entry_baseline(&c.id, 1, &baseline)
            .await
            .expect("baseline")
    );
    let later = Baseline {
        equity: dec!(1),
        ..baseline.clone()
    };
    assert!(
        !store
            .set_entry_baseline(&c.id, 1, &later)
            .await
            .expect("once")
    );
    let why = StoredDisqualification {
        rule: "daily_loss".into(),
        label: "Maximum daily loss".into(),
        at: at(T0 + 60_000),
        evidence: "equity 94,385 below the floor 95,000".into(),
        equity: Some(dec!(94385.25)),
        trades: Some(3),
    };
    let dq = [notice(&d, "competition_disqualified")];
    assert!(
        store
            .disqualify_entry(&c.id, 3, &why, &dq)
            .await
            .expect("dq")
    );
    assert!(
        !store
            .disqualify_entry(&c.id, 3, &why, &dq)
            .await
            .expect("dq again")
    );
    let entries = store.competition_entries(&c.id).await.expect("entries");
    assert_eq!(entries[0].baseline.as_ref(), Some(&baseline));
    assert_eq!(entries[1].disqualification.as_ref(), Some(&why));
    assert!(
        store
            .save_day_ranks(&c.id, "2026-01-01", "{\"1\":2}")
            .await
            .expect("day")
    );
    assert!(
        !store
            .save_day_ranks(&c.id, "2026-01-01", "{}")
            .await
            .expect("day again")
    );
    assert!(
        store
            .save_day_ranks(&c.id, "2026-01-02", "{\"1\":1}")
            .await
            .expect("day 2")
    );
    assert_eq!(
        store.latest_day_ranks(&c.id).await.expect("latest"),
        Some(("2026-01-02".to_owned(), "{\"1\":1}".to_owned()))
    );
    let finals = [
        notice(&a, "competition_final"),
        notice(&d, "competition_final"),
    ];
    assert!(
        store
            .finish_competition(&c.id, "[]", at(T0 + 86_400_000), &finals)
            .await
            .expect("final")
    );
    assert!(
        !store
            .finish_competition(&c.id, "[1]", at(T0 + 86_400_001), &finals)
            .await
            .expect("once")
    );
    let kept = store
        .competition(&c.id)
        .await
        .expect("read")
        .expect("there");
    assert!(kept.started);
    assert_eq!(kept.final_json.as_deref(), Some("[]"));
    assert_eq!(kept.public_slug.as_deref(), Some("abc123"));
    assert_eq!(store.challenge_events(&d).await.expect("events").len(), 3);
    assert_eq!(store.competitions().await.expect("all").len(), 1);

    let user = store
        .create_user("jane", "hash", Role::Trader)
        .await
        .expect("user")
        .expect("new");
    assert_eq!(store.display_name(user.id).await.expect("none"), None);
    assert!(
        store
            .set_display_name(user.id, Some("Jane D."))
            .await
            .expect("set")
    );
    assert_eq!(
        store.display_names().await.expect("names"),
        [(user.id, "Jane D.".to_owned())]
    );
    assert!(store.set_display_name(user.id, None).await.expect("clear"));
    assert!(store.display_names().await.expect("names").is_empty());
}

macro_rules! suite {
    ($open:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if let Some((_guard, url)) = $open.await {
                    let store = crate::open(&url).await.expect("open");
                    super::$case(&*store, &url).await;
                }
            }
        )*

        /// For random sample streams and ranges, the history holds at most the points asked
        /// for, covers every sample in the range, and its extremes are the raw extremes of the
        /// samples in the buckets it returns (of all samples, for a range around all of them).
        #[test]
        fn downsampled_history_keeps_the_raw_extremes() {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let Some((_guard, url)) = runtime.block_on($open) else {
                return;
            };
            let store = runtime.block_on(crate::open(&url)).expect("open");
            super::history_property(&runtime, &*store);
        }

    };
}

/// The property of `downsampled_history_keeps_the_raw_extremes` on one store: each case writes
/// a fresh account.
fn history_property(runtime: &tokio::runtime::Runtime, store: &dyn Store) {
    use proptest::prelude::*;
    let cases = std::sync::atomic::AtomicU64::new(0);
    let streams = proptest::collection::vec((0i64..40_000, -500i64..500, -5_000i64..5_000), 1..250);
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    // Range ends are picked in thousandths of the stream's length, reaching a little past it.
    proptest!(config, |(steps in streams, offset in 0i64..7_200_000, from_pick in 0i64..1_200,
                        span_pick in 0i64..1_200, max_points in 1u32..40)| {
        let account = AccountId(format!(
            "p{}",
            cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut t = T0 + offset;
        let points: Vec<EquityPoint> = steps
            .iter()
            .map(|&(gap, balance, equity)| {
                t += gap;
                point(t, Decimal::new(10_000_000 + balance, 2), Decimal::new(10_000_000 + equity, 2))
            })
            .collect();
        let (first, last) = (T0 + offset, t);
        let total = last - first;
        let from = first - 60_000 + from_pick * total / 1_000;
        let to = from + span_pick * total / 1_000 + 1;
        let (history, everything) = runtime.block_on(async {
            store.append_samples(&account, &points).await.expect("append");
            let history = store
                .equity_history(&account, at(from), at(to), max_points)
                .await
                .expect("history");
            let everything = store
                .equity_history(&account, at(first), at(last), max_points)
                .await
                .expect("history");
            (history, everything)
        });
        prop_assert!(history.len() <= max_points as usize);
        prop_assert!(everything.len() <= max_points as usize);
        prop_assert!(history.windows(2).all(|w| w[0].end <= w[1].start));
        for p in points.iter().filter(|p| p.time >= at(from) && p.time <= at(to)) {
            let holder = history.iter().find(|b| b.first <= p.time && p.time <= b.last);
            prop_assert!(holder.is_some(), "a sample in the range is covered");
            let holder = holder.expect("checked");
            prop_assert!(holder.equity.min <= p.equity && p.equity <= holder.equity.max);
        }
        let inside: Vec<&EquityPoint> = points
            .iter()
            .filter(|p| history.iter().any(|b| b.start <= p.time && p.time < b.end))
            .collect();
        prop_assert_eq!(
            history.iter().map(|b| b.equity.min).min(),
            inside.iter().map(|p| p.equity).min()
        );
        prop_assert_eq!(
            history.iter().map(|b| b.equity.max).max(),
            inside.iter().map(|p| p.equity).max()
        );
        prop_assert_eq!(
            history.iter().map(|b| b.balance.min).min(),
            inside.iter().map(|p| p.balance).min()
        );
        prop_assert_eq!(
            everything.iter().map(|b| b.equity.min).min(),
            points.iter().map(|p| p.equity).min()
        );
        prop_assert_eq!(
            everything.iter().map(|b| b.equity.max).max(),
            points.iter().map(|p| p.equity).max()
        );
        prop_assert_eq!(everything.iter().map(|b| b.samples).sum::<u64>(), points.len() as u64);
    });
}

async fn limit_history_gives_the_level_in_force_and_every_change(store: &dyn Store, _url: &str) {
    use shared::api::LimitPoint;
    let account = AccountId::from("limits");
    let other = AccountId::from("other");
    let limit = |ms: i64, rule: &str, level: Decimal| LimitPoint {
        time: at(ms),
        rule: rule.to_owned(),
        kind: if rule == "target" {
            "profit_target"
        } else {
            "daily_loss"
        }
        .to_owned(),
        level,
    };
    store
        .append_limits(
            &account,
            &[
                limit(1_000, "daily", dec!(95000.00)),
                limit(1_000, "target", dec!(110000)),
                limit(5_000, "daily", dec!(95123.45)),
            ],
        )
        .await
        .expect("append");
    store
        .append_limits(&account, &[limit(9_000, "daily", dec!(94000.5))])
        .await
        .expect("append");
    store
        .append_limits(&other, &[limit(6_000, "daily", dec!(1))])
        .await
        .expect("append another account's");
    // The same rule and instant again replaces the level.
    store
        .append_limits(&account, &[limit(9_000, "daily", dec!(94000.25))])
        .await
        .expect("replace");

    let got = store
        .limit_history(&account, at(6_000), at(20_000))
        .await
        .expect("history");
    assert_eq!(
        got,
        vec![
            limit(1_000, "target", dec!(110000)),
            limit(5_000, "daily", dec!(95123.45)),
            limit(9_000, "daily", dec!(94000.25)),
        ]
    );
    let early = store
        .limit_history(&account, at(0), at(4_000))
        .await
        .expect("history");
    assert_eq!(
        early,
        vec![
            limit(1_000, "daily", dec!(95000.00)),
            limit(1_000, "target", dec!(110000)),
        ]
    );
    assert!(
        store
            .limit_history(&AccountId::from("none"), at(0), at(20_000))
            .await
            .expect("history")
            .is_empty()
    );
}

fn deal(
    id: &str,
    ms: i64,
    kind: shared::domain::DealKind,
    entry: Option<shared::domain::DealEntry>,
    position: &str,
    profit: Decimal,
) -> shared::domain::Deal {
    use shared::domain::DealKind;
    let trade = matches!(kind, DealKind::Buy | DealKind::Sell);
    shared::domain::Deal {
        id: id.to_owned(),
        kind,
        entry,
        symbol: trade.then(|| "EURUSD".to_owned()),
        time: at(ms),
        volume: trade.then_some(dec!(0.50)),
        price: trade.then_some(dec!(1.08125)),
        profit,
        commission: if trade { dec!(-3.50) } else { Decimal::ZERO },
        swap: Decimal::ZERO,
        position_id: trade.then(|| position.to_owned()),
        reason: None,
    }
}

async fn trades_are_stored_once_and_paged_newest_first(store: &dyn Store, _url: &str) {
    use super::TradeCursor;
    use shared::domain::{DealEntry, DealKind};
    let account = AccountId::from("trader");
    let other = AccountId::from("other");
    let mut deals = vec![deal("0", T0, DealKind::Balance, None, "", dec!(100000))];
    // Seven round trips; four close in the same millisecond (the deal id orders them).
    for n in 1..=7 {
        let close_ms = if n <= 4 { T0 + 60_000 } else { T0 + n * 60_000 };
        deals.push(deal(
            &format!("in{n}"),
            T0 + n,
            DealKind::Buy,
            Some(DealEntry::In),
            &format!("p{n}"),
            Decimal::ZERO,
        ));
        deals.push(deal(
            &format!("out{n}"),
            close_ms,
            DealKind::Sell,
            Some(DealEntry::Out),
            &format!("p{n}"),
            Decimal::from(n * 10),
        ));
    }
    store
        .save_challenge_with_deals(&account, "{}", &[event(T0, "warning")], &deals, None)
        .await
        .expect("save");
    assert_eq!(
        store
            .challenge_events(&account)
            .await
            .expect("events")
            .len(),
        1
    );
    // Saved again (a retry, an overlapping poll) with a changed profit: stored once, unchanged.
    let mut again = deals.clone();
    again[2].profit = dec!(-999);
    store
        .save_challenge_with_deals(&account, "{}", &[], &again, None)
        .await
        .expect("save again");
    store
        .save_challenge_with_deals(&other, "{}", &[], &deals[..3], None)
        .await
        .expect("other account");

    let mut seen = Vec::new();
    let mut before: Option<TradeCursor> = None;
    loop {
        let page = store
            .trades(&account, before.as_ref(), 3)
            .await
            .expect("page");
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        before = Some(TradeCursor::after(&last.close));
        seen.extend(page);
    }
    let ids: Vec<&str> = seen.iter().map(|t| t.close.id.as_str()).collect();
    assert_eq!(
        ids,
        ["out7", "out6", "out5", "out4", "out3", "out2", "out1"],
        "no gap, no duplicate, newest first"
    );
    let first = seen.last().expect("out1");
    assert_eq!(
        first.close.profit,
        dec!(10),
        "a deal stored again is left as it was"
    );
    assert_eq!(
        first.close.price,
        Some(dec!(1.08125)),
        "prices read back exactly"
    );
    assert_eq!(
        first.open.as_ref().map(|o| o.id.as_str()),
        Some("in1"),
        "with its opening deal"
    );
    assert_eq!(
        store.trades(&other, None, 10).await.expect("other").len(),
        1
    );
    assert!(
        store
            .trades(&AccountId::from("none"), None, 10)
            .await
            .expect("none")
            .is_empty()
    );
    let cursor = TradeCursor::decode(&TradeCursor::after(&seen[0].close).encode());
    assert_eq!(cursor, Some(TradeCursor::after(&seen[0].close)));
}

async fn a_setting_keeps_its_first_value(store: &dyn Store, _url: &str) {
    assert_eq!(
        store.keep_setting("demo_world", "one").await.expect("keep"),
        "one"
    );
    assert_eq!(
        store.keep_setting("demo_world", "two").await.expect("keep"),
        "one",
        "the first value written stays"
    );
    assert_eq!(
        store.keep_setting("other", "two").await.expect("keep"),
        "two"
    );
}

async fn api_tokens_trackers_and_tracker_events_are_kept(store: &dyn Store, _url: &str) {
    use crate::{ApiToken, NewTrackerEvent, Rename, StoredTracker, TrackerEventFilter};
    let (a, b) = (AccountId::from("a"), AccountId::from("b"));
    let token = ApiToken {
        id: "t1".into(),
        name: "dashboard app".into(),
        accounts: vec![a.clone()],
        created_by: "admin".into(),
        created_at: at(T0),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_token(&token, "hash1")
        .await
        .expect("token");
    assert_eq!(
        store.api_token_by_secret("hash1").await.expect("by secret"),
        Some(token.clone())
    );
    assert_eq!(
        store.api_token_by_secret("other").await.expect("none"),
        None
    );
    store
        .touch_api_token("t1", at(T0 + 5))
        .await
        .expect("touch");
    let revoked = store
        .revoke_api_token("t1", at(T0 + 10))
        .await
        .expect("revoke")
        .expect("known");
    assert_eq!(revoked.revoked_at, Some(at(T0 + 10)));
    assert_eq!(revoked.last_used_at, Some(at(T0 + 5)));
    let again = store
        .revoke_api_token("t1", at(T0 + 20))
        .await
        .expect("again");
    assert_eq!(
        again.and_then(|t| t.revoked_at),
        Some(at(T0 + 10)),
        "the first revocation stays"
    );
    assert_eq!(
        store.revoke_api_token("t9", at(T0)).await.expect("unknown"),
        None
    );
    assert_eq!(store.api_tokens().await.expect("list").len(), 1);
    assert_eq!(
        store
            .api_token("t1")
            .await
            .expect("by id")
            .map(|t| t.revoked_at),
        Some(Some(at(T0 + 10)))
    );
    assert_eq!(store.api_token("t9").await.expect("none"), None);

    let tracker = |id: &str, account: &AccountId, name: &str| StoredTracker {
        id: id.into(),
        account: account.clone(),
        name: name.into(),
        spec_json: format!("{{\"name\":\"{name}\"}}"),
        created_at: at(T0),
        state_json: None,
    };
    assert!(
        store
            .create_tracker(&tracker("k1", &a, "daily"))
            .await
            .expect("k1")
    );
    assert!(
        !store
            .create_tracker(&tracker("k2", &a, "daily"))
            .await
            .expect("k2"),
        "names are unique per account"
    );
    assert!(
        store
            .create_tracker(&tracker("k3", &b, "daily"))
            .await
            .expect("k3")
    );
    assert!(
        store
            .create_tracker(&tracker("k4", &a, "weekly"))
            .await
            .expect("k4")
    );
    assert_eq!(
        store
            .rename_tracker(&a, "k4", "daily", "{}")
            .await
            .expect("taken"),
        Rename::NameTaken
    );
    assert_eq!(
        store
            .rename_tracker(&b, "k4", "x", "{}")
            .await
            .expect("other account"),
        Rename::NotFound
    );
    assert_eq!(
        store
            .rename_tracker(&a, "k4", "week", "{\"name\":\"week\"}")
            .await
            .expect("rename"),
        Rename::Renamed
    );
    store
        .save_tracker_states(&[
            ("k1".into(), "{\"s\":1}".into()),
            ("gone".into(), "{}".into()),
        ])
        .await
        .expect("states");
    let mine = store.trackers(Some(&a)).await.expect("trackers");
    let names: Vec<_> = mine.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["daily", "week"]);
    assert_eq!(mine[0].state_json.as_deref(), Some("{\"s\":1}"));
    assert_eq!(mine[1].spec_json, "{\"name\":\"week\"}");
    assert_eq!(store.trackers(None).await.expect("all").len(), 3);
    assert!(!store.delete_tracker(&b, "k1").await.expect("not b's"));
    assert!(store.delete_tracker(&a, "k1").await.expect("delete"));
    assert_eq!(store.trackers(Some(&a)).await.expect("left").len(), 1);

    assert_eq!(store.last_tracker_event().await.expect("none yet"), 0);
    let event = |account: &AccountId, tracker: &str, time: &str| NewTrackerEvent {
        account: account.clone(),
        tracker_id: tracker.into(),
        broker_time: time.into(),
        body_json: "{}".into(),
        created_at: at(T0),
    };
    let numbers = store
        .append_tracker_events(&[
            event(&a, "k1", "2023-11-14 10:00:00.000"),
            event(&b, "k3", "2023-11-14 11:00:00.000"),
            event(&a, "k4", "2023-11-15 09:30:00.000"),
        ])
        .await
        .expect("events");
    assert_eq!(numbers.len(), 3);
    assert!(numbers[0] < numbers[1] && numbers[1] < numbers[2]);
    assert_eq!(store.last_tracker_event().await.expect("last"), numbers[2]);
    let read = |filter: TrackerEventFilter| async move {
        store
            .tracker_events(&filter)
            .await
            .expect("read")
            .into_iter()
            .map(|r| r.sequence_number)
            .collect::<Vec<_>>()
    };
    assert_eq!(read(TrackerEventFilter::default()).await, numbers);
    let only_a = Some(vec![a.clone()]);
    assert_eq!(
        read(TrackerEventFilter {
            within: only_a.clone(),
            ..Default::default()
        })
        .await,
        [numbers[0], numbers[2]]
    );
    assert_eq!(
        read(TrackerEventFilter {
            within: Some(Vec::new()),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        read(TrackerEventFilter {
            within: only_a.clone(),
            account: Some(b.clone()),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new(),
        "an account out of reach stays out of reach"
    );
    assert_eq!(
        read(TrackerEventFilter {
            from_broker_time: Some("2023-11-14 10:00:00.000".into()),
            to_broker_time: Some("2023-11-14 23:59:59.999".into()),
            ..Default::default()
        })
        .await,
        [numbers[0], numbers[1]],
        "bounds are inclusive"
    );
    assert_eq!(
        read(TrackerEventFilter {
            tracker_id: Some("k4".into()),
            ..Default::default()
        })
        .await,
        [numbers[2]]
    );
    assert_eq!(
        read(TrackerEventFilter {
            newest_first: true,
            limit: 2,
            ..Default::default()
        })
        .await,
        [numbers[2], numbers[1]],
        "the latest page"
    );
    assert_eq!(
        read(TrackerEventFilter {
            after_sequence: Some(numbers[0]),
            limit: 1,
            ..Default::default()
        })
        .await,
        [numbers[1]]
    );
}

async fn programs_are_versioned_and_challenges_enrolled(store: &dyn Store, url: &str) {
    use super::{AccountSetup, Enrollment, ProgramVersion};
    let version = |n: u32, definition: &str, applied_to: u32| ProgramVersion {
        version: n,
        definition_json: definition.to_owned(),
        apply_json: r#"{"to":"new_challenges"}"#.to_owned(),
        applied_to,
        created_by: "admin".to_owned(),
        created_at: at(T0 + i64::from(n)),
    };
    assert!(
        store
            .create_program("two-step", Some("ftmo-2step"), &version(1, "{\"v\":1}", 0))
            .await
            .expect("create")
    );
    assert!(
        !store
            .create_program("two-step", None, &version(1, "{}", 0))
            .await
            .expect("taken"),
        "an id is created once"
    );
    store
        .create_program("b-side", None, &version(1, "{}", 0))
        .await
        .expect("create");
    // A challenge enrolled with its account, in the account's transaction.
    let setup = AccountSetup {
        account: AccountId::from("p-1"),
        connection: "demo".into(),
        external_account_id: "demo-1".into(),
        preset: "program:two-step".into(),
        initial_balance: dec!(50000),
        currency: "USD".into(),
        created_by: "admin".into(),
        created_at: at(T0),
        transport: shared::api::Transport::Rest,
        program: Some(Enrollment {
            account: AccountId::from("p-1"),
            program: "two-step".into(),
            version: 1,
            phase: 0,
            journey: "p-1".into(),
            enrolled_at: at(T0),
        }),
    };
    assert!(
        store
            .create_account_setup(&setup, "P1", None, None)
            .await
            .expect("setup")
    );
    assert_eq!(
        store.account_setups().await.expect("setups"),
        std::slice::from_ref(&setup)
    );
    let mut other = setup.program.clone().expect("enrollment");
    other.account = AccountId::from("p-2");
    other.journey = "p-2".into();
    store.enroll(&other).await.expect("enroll");
    // Version 2 moves one running challenge onto it; a stale version number writes nothing.
    assert!(
        store
            .save_program_version(
                "two-step",
                &version(2, "{\"v\":2}", 1),
                &[other.account.clone()]
            )
            .await
            .expect("v2")
    );
    assert!(
        !store
            .save_program_version("two-step", &version(2, "{}", 0), &[])
            .await
            .expect("stale"),
        "two saves of version 2: the second writes nothing"
    );
    assert!(
        !store
            .save_program_version("nothing", &version(1, "{}", 0), &[])
            .await
            .expect("unknown")
    );
    let program = store
        .program("two-step")
        .await
        .expect("read")
        .expect("program");
    assert_eq!(program.template.as_deref(), Some("ftmo-2step"));
    assert_eq!(program.latest, version(2, "{\"v\":2}", 1));
    let versions = store.program_versions("two-step").await.expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(
        store
            .program_version("two-step", 1)
            .await
            .expect("v1")
            .map(|v| v.definition_json),
        Some("{\"v\":1}".to_owned())
    );
    let ids: Vec<_> = store
        .programs()
        .await
        .expect("all")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["b-side", "two-step"]);
    let enrolled = store.enrollments(Some("two-step")).await.expect("enrolled");
    assert_eq!(
        enrolled
            .iter()
            .map(|e| (e.account.as_str(), e.version))
            .collect::<Vec<_>>(),
        [("p-1", 1), ("p-2", 2)]
    );
    // The next phase replaces the enrollment.
    let mut next = other.clone();
    next.phase = 1;
    store.enroll(&next).await.expect("next phase");
    assert_eq!(
        store.enrollment(&next.account).await.expect("read"),
        Some(next)
    );
    assert!(
        store
            .enrollments(Some("b-side"))
            .await
            .expect("none")
            .is_empty()
    );
    // A pass is promoted once: the second record is refused, and each move is a
    // compare-and-swap.
    use super::{PhaseRecord, Promotion, PromotionStatus};
    let mut promotion = Promotion {
        account: AccountId::from("p-1"),
        phase: 0,
        next_phase: 1,
        program: "two-step".into(),
        version: 1,
        journey: "p-1".into(),
        passed_at: at(T0 + 5),
        same_account: true,
        approval: true,
        status: PromotionStatus::AwaitingApproval,
        next_account: None,
        decided_by: None,
        decided_at: None,
    };
    assert!(store.record_promotion(&promotion).await.expect("record"));
    assert!(!store.record_promotion(&promotion).await.expect("twice"));
    promotion.decided_by = Some("admin".into());
    promotion.decided_at = Some(at(T0 + 6));
    assert!(
        store
            .move_promotion(
                &promotion,
                PromotionStatus::AwaitingApproval,
                PromotionStatus::Approved
            )
            .await
            .expect("approve")
    );
    assert!(
        !store
            .move_promotion(
                &promotion,
                PromotionStatus::AwaitingApproval,
                PromotionStatus::Rejected
            )
            .await
            .expect("stale"),
        "a second decision on the same pass changes nothing"
    );
    promotion.status = PromotionStatus::Approved;
    assert_eq!(
        store.promotion(&promotion.account, 0).await.expect("read"),
        Some(promotion.clone())
    );
    let mut done = promotion.clone();
    done.next_account = Some(AccountId::from("p-1"));
    assert!(
        store
            .move_promotion(&done, PromotionStatus::Approved, PromotionStatus::Done)
            .await
            .expect("done")
    );
    let mut open = promotion.clone();
    open.account = AccountId::from("p-2");
    open.passed_at = at(T0 + 1);
    open.status = PromotionStatus::AwaitingAccount;
    store.record_promotion(&open).await.expect("record");
    let listed: Vec<_> = store
        .promotions(10)
        .await
        .expect("list")
        .into_iter()
        .map(|p| (p.account.as_str().to_owned(), p.status))
        .collect();
    assert_eq!(
        listed,
        [
            ("p-2".to_owned(), PromotionStatus::AwaitingAccount),
            ("p-1".to_owned(), PromotionStatus::Done)
        ],
        "open ones first"
    );
    let record = PhaseRecord {
        account: AccountId::from("p-1"),
        phase: 0,
        journey: "p-1".into(),
        program: "two-step".into(),
        version: 1,
        status: "passed".into(),
        started_at: Some(at(T0)),
        ended_at: at(T0 + 7),
        state_json: "{}".into(),
    };
    store.record_phase(&record).await.expect("phase");
    let mut again = record.clone();
    again.state_json = "{\"other\":1}".into();
    store.record_phase(&again).await.expect("ignored");
    assert_eq!(store.phase_records("p-1").await.expect("phases"), [record]);
    // Versions are append-only.
    assert!(
        raw(url, "UPDATE program_versions SET definition = '{}'")
            .await
            .is_err()
    );
    assert!(raw(url, "DELETE FROM program_versions").await.is_err());
}

async fn statements_issued_are_found_by_hash_and_never_change(store: &dyn Store, url: &str) {
    use super::IssuedStatement;
    let issued = |account: &str, sha: char, ms: i64, by: &str| IssuedStatement {
        account: AccountId::from(account),
        sha256: sha.to_string().repeat(64),
        generated_at: at(ms),
        generated_by: by.to_owned(),
    };
    let first = issued("a", 'a', T0, "jane");
    let again = issued("a", 'a', T0 + 1, "admin");
    let other = issued("b", 'b', T0 + 2, "bob");
    let later = issued("a", 'c', T0 + 3, "jane");
    let mut ids = Vec::new();
    for statement in [&first, &again, &other, &later] {
        ids.push(store.record_statement(statement).await.expect("record"));
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    // The same bytes issued twice are two statements, oldest first.
    assert_eq!(
        store
            .statements_by_sha256(&"a".repeat(64))
            .await
            .expect("by hash"),
        [first.clone(), again.clone()]
    );
    assert!(
        store
            .statements_by_sha256(&"d".repeat(64))
            .await
            .expect("unknown")
            .is_empty()
    );
    assert_eq!(
        store
            .account_statements(&AccountId::from("a"))
            .await
            .expect("of a"),
        [later, again, first]
    );
    // Statements are append-only.
    assert!(
        raw(url, "UPDATE statements SET sha256 = 'x'")
            .await
            .is_err()
    );
    assert!(raw(url, "DELETE FROM statements").await.is_err());
    assert_eq!(raw_count(url, "SELECT COUNT(*) FROM statements").await, 4);
}

/// Every case, listed once: each database's module runs them all.
macro_rules! every_case {
    ($open:expr) => {
        suite!($open;
            peaks_round_trip_exactly,
            challenge_state_and_events_are_saved_together,
            samples_fold_into_buckets_of_every_tier,
            history_uses_the_finest_tier_that_fits,
            pruned_tiers_serve_only_the_ranges_they_still_cover,
            legacy_samples_are_folded_into_buckets_when_the_store_opens,
            events_are_append_only_and_each_has_one_notification,
            notifications_are_claimed_once_retried_and_settled,
            audit_entries_are_listed_newest_first_with_filters_and_pages,
            rule_set_versions_count_up_and_apply_from_their_instant,
            broker_tokens_are_stored_sealed,
            a_refreshed_token_pair_reaches_every_holder_and_never_goes_back,
            usernames_are_unique_without_regard_to_case,
            sessions_expire_and_end_with_their_user,
            accounts_have_owners,
            created_accounts_are_stored_once_with_their_setup,
            an_import_creates_every_account_in_one_transaction_or_none,
            concurrent_writers_of_different_accounts_all_succeed,
            leases_have_one_holder_and_fence_its_saves,
            instances_count_while_they_heartbeat,
            live_views_are_kept_and_updates_reach_listeners,
            a_challenge_links_to_a_version_of_its_rule_set,
            limit_history_gives_the_level_in_force_and_every_change,
            trades_are_stored_once_and_paged_newest_first,
            deliveries_are_planned_once_per_target_claimed_once_and_settled,
            notification_preferences_are_saved_per_user,
            a_setting_keeps_its_first_value,
            api_tokens_trackers_and_tracker_events_are_kept,
            programs_are_versioned_and_challenges_enrolled,
            statements_issued_are_found_by_hash_and_never_change,
            competitions_start_once_number_entrants_and_freeze_once,
        );
    };
}

mod sqlite {
    async fn open() -> Option<(tempfile::TempDir, String)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Some((dir, url))
    }

    every_case!(open());
}

mod postgres {
    async fn open() -> Option<(super::FreshPostgres, String)> {
        let fresh = super::FreshPostgres::create().await?;
        let url = fresh.url().to_owned();
        Some((fresh, url))
    }

    every_case!(open());
}
