//! Retention: a background task that prunes equity buckets of the fine tiers once they are older
//! than their tier's horizon (`db::buckets::TIERS`, documented in docs/OPERATIONS.md). Journals
//! are trimmed by the journal itself when it rotates.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio_util::sync::CancellationToken;

/// How often old buckets are pruned. The finest tier is kept for days, so hourly is plenty.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Prunes now, then every `interval`, until `shutdown` is cancelled. A failure is logged and
/// retried at the next turn; pruning late only keeps data a little longer.
pub async fn run(store: Arc<dyn Store>, interval: Duration, shutdown: CancellationToken) {
    loop {
        match store.prune_equity_buckets(Utc::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned equity buckets past their horizon"),
            Err(error) => tracing::warn!(%error, "cannot prune old equity buckets; will retry"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::api::EquityPoint;
    use shared::domain::AccountId;
    use store::buckets::TIERS;

    #[tokio::test]
    async fn the_task_prunes_fine_tiers_and_stops_at_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = store::open(&url).await.expect("open");
        let account = AccountId::from("a");
        let now = Utc::now();
        let point = |age: chrono::Duration| EquityPoint {
            time: now - age,
            balance: 1.into(),
            equity: 1.into(),
        };
        store
            .append_samples(
                &account,
                &[
                    point(chrono::Duration::days(5)),
                    point(chrono::Duration::seconds(30)),
                ],
            )
            .await
            .expect("samples");
        let count = |resolution_ms| {
            let store = store.clone();
            let account = account.clone();
            async move {
                store
                    .equity_tier(&account, resolution_ms)
                    .await
                    .expect("tier")
                    .len()
            }
        };
        assert_eq!(count(TIERS[0].resolution_ms).await, 2);

        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            store.clone(),
            Duration::from_millis(20),
            shutdown.clone(),
        ));
        let mut left = usize::MAX;
        for _ in 0..200 {
            left = count(TIERS[0].resolution_ms).await;
            if left == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(left, 1, "the five-day-old 10 s bucket is pruned");
        // Kept: the 1 min tier (14 days) and coarser still hold both samples.
        assert_eq!(count(TIERS[1].resolution_ms).await, 2);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task stops")
            .expect("no panic");
    }
}
