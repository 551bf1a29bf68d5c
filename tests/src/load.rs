//! What the load harnesses (`src/bin/*-load.rs`) measure with: the clock, this process's CPU
//! time and resident memory, percentiles.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// CPU time (user + system) of this process, from /proc.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime; the kernel's USER_HZ is 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resident memory of this process, in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The `p` (0 to 1) percentile of `sorted`; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What the hub publishes, counted while a harness runs: account views, the moment each
/// account's challenge was first seen failed (Unix ms), and events a slow reader missed.
pub struct HubWatch {
    views: std::sync::Arc<std::sync::atomic::AtomicU64>,
    lagged: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failed_at: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
    task: tokio::task::AbortHandle,
}

impl HubWatch {
    /// Starts counting what `hub` publishes from now on.
    pub fn start(hub: &backend::hub::Hub) -> Self {
        use shared::api::StreamEvent;
        use shared::engine::ChallengeStatus;
        use std::sync::atomic::Ordering;
        use tokio::sync::broadcast::error::RecvError;
        let views = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let lagged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let failed_at =
            std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let mut events = hub.subscribe();
        let (v, l, f) = (views.clone(), lagged.clone(), failed_at.clone());
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(sequenced) => {
                        if let StreamEvent::Account {
                            account_id, view, ..
                        } = &sequenced.event
                        {
                            v.fetch_add(1, Ordering::Relaxed);
                            if view
                                .challenge
                                .as_ref()
                                .is_some_and(|c| c.status == ChallengeStatus::Failed)
                            {
                                f.lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .entry(account_id.to_string())
                                    .or_insert_with(unix_ms);
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        l.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        HubWatch {
            views,
            lagged,
            failed_at,
            task: task.abort_handle(),
        }
    }

    /// Account views published so far.
    pub fn views(&self) -> u64 {
        self.views.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Events missed by this watch (it fell behind the hub).
    pub fn lagged(&self) -> u64 {
        self.lagged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The milliseconds each of `drops` (account, Unix ms of the change) took to be published
    /// failed, sorted; a drop not seen failed yet is left out.
    pub fn breach_latencies(&self, drops: &[(String, u64)]) -> Vec<u64> {
        let failed = self
            .failed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut latencies: Vec<u64> = drops
            .iter()
            .filter_map(|(id, at)| failed.get(id).map(|t| t.saturating_sub(*at)))
            .collect();
        latencies.sort_unstable();
        latencies
    }
}

impl Drop for HubWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a load run left in its SQLite file, read after the server stopped: proof that the
/// numbers measured were stored, not only shown.
pub async fn stored_summary(database_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(database_url).await?;
    let (samples, accounts): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(samples), 0), COUNT(DISTINCT account_id) FROM equity_buckets
         WHERE resolution_ms = 10000",
    )
    .fetch_one(&mut db)
    .await?;
    let states: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM challenge_state")
        .fetch_one(&mut db)
        .await?;
    let breaches: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM challenge_events WHERE kind = 'breach'")
            .fetch_one(&mut db)
            .await?;
    Ok(format!(
        "{samples} samples in 10 s buckets of {accounts} accounts, {states} challenge states, \
         {breaches} breach events"
    ))
}
