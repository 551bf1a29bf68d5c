//! The store conformance suite: the same cases against SQLite (always) and PostgreSQL (when
//! `TEST_POSTGRES_URL` is set), each run in a fresh database.

use super::testing::FreshPostgres;
use super::{PostgresStore, SqliteStore, Store, StoredEvent, time_from_ms};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use shared::peaks::Peaks;

async fn peaks_round_trip_exactly(store: &dyn Store) {
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

async fn recent_samples_are_the_latest_oldest_first(store: &dyn Store) {
    let account = AccountId::from("a");
    for i in 0..10i64 {
        let point = EquityPoint {
            time: time_from_ms(1_700_000_000_000 + i * 1000).expect("time"),
            balance: Decimal::from(i),
            equity: Decimal::from(i * 2) + dec!(0.01),
        };
        store.append_sample(&account, &point).await.expect("append");
    }
    let points = store.recent_samples(&account, 3).await.expect("query");
    let balances: Vec<_> = points.iter().map(|p| p.balance).collect();
    assert_eq!(balances, vec![dec!(7), dec!(8), dec!(9)]);
    assert_eq!(points[2].equity, dec!(18.01));
    assert!(
        store
            .recent_samples(&AccountId::from("b"), 3)
            .await
            .expect("query")
            .is_empty()
    );
}

async fn challenge_state_and_events_are_saved_together(store: &dyn Store) {
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

macro_rules! suite {
    ($open:expr) => {
        #[tokio::test]
        async fn peaks_round_trip_exactly() {
            if let Some((_guard, store)) = $open.await {
                super::peaks_round_trip_exactly(&store).await;
            }
        }

        #[tokio::test]
        async fn challenge_state_and_events_are_saved_together() {
            if let Some((_guard, store)) = $open.await {
                super::challenge_state_and_events_are_saved_together(&store).await;
            }
        }

        #[tokio::test]
        async fn recent_samples_are_the_latest_oldest_first() {
            if let Some((_guard, store)) = $open.await {
                super::recent_samples_are_the_latest_oldest_first(&store).await;
            }
        }
    };
}

mod sqlite {
    use super::*;

    async fn open() -> Option<(tempfile::TempDir, SqliteStore)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.expect("open");
        Some((dir, store))
    }

    suite!(open());
}

mod postgres {
    use super::*;

    async fn open() -> Option<(FreshPostgres, PostgresStore)> {
        let fresh = FreshPostgres::create().await?;
        let store = PostgresStore::open(fresh.url()).await.expect("open");
        Some((fresh, store))
    }

    suite!(open());
}
