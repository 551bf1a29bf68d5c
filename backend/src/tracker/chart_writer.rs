//! One writer for every tracker's equity samples. A tracker hands its due samples over and goes
//! on at once, instead of waiting for its own transaction behind every other tracker's: at ten
//! thousand accounts a flush every 10 s each is a thousand transactions a second, which keep
//! the database's single writer busy and make a tracker that is waiting on its chart late for
//! the breach in its next packet. The writer folds whatever is waiting, of many accounts, in one
//! transaction (`Store::append_samples_batch`), in the order each account's samples came.
//!
//! What fails is kept (at most [`samples::KEEP`] points an account) and written again with a
//! growing pause; when one transaction of many fails, each account is tried on its own, so one
//! account's bad data holds up no other. At shutdown the writer takes its own sender away, so
//! that it ends once the last tracker (which flushes as it stops) has let go of its sink, after
//! writing what is left.

use super::samples;
use shared::api::EquityPoint;
use shared::domain::AccountId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The most accounts folded in one transaction.
const BATCH_ACCOUNTS: usize = 512;

/// The longest pause between attempts while the database fails.
const MAX_PAUSE: Duration = Duration::from_secs(30);

type Job = (AccountId, Vec<EquityPoint>);

/// Where a tracker hands its samples; `None` from [`ChartWriter::sink`] once shutdown began.
#[derive(Clone, Debug)]
pub struct SampleSink(mpsc::UnboundedSender<Job>);

impl SampleSink {
    /// Hands samples over; gives them back when the writer is gone (the tracker writes them
    /// itself then).
    pub(super) fn send(
        &self,
        account: &AccountId,
        points: Vec<EquityPoint>,
    ) -> Result<(), Vec<EquityPoint>> {
        self.0
            .send((account.clone(), points))
            .map_err(|mpsc::error::SendError((_, points))| points)
    }
}

/// The writer's handle: gives out sinks until shutdown.
#[derive(Debug)]
pub struct ChartWriter {
    sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

impl ChartWriter {
    /// Starts the writer; the future returned runs it until shutdown and the last sink is
    /// dropped (spawn it where shutdown waits for it).
    pub fn start(
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, impl Future<Output = ()> + Send + 'static) {
        let (sender, jobs) = mpsc::unbounded_channel();
        let writer = Arc::new(ChartWriter {
            sender: Mutex::new(Some(sender)),
        });
        let run = run(store, jobs, shutdown, writer.clone());
        (writer, run)
    }

    /// A sink for one tracker; `None` once shutdown began.
    pub fn sink(&self) -> Option<SampleSink> {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(SampleSink)
    }
}

/// Samples waiting to be written, per account in arrival order.
#[derive(Default)]
struct Pending {
    order: Vec<AccountId>,
    points: HashMap<AccountId, Vec<EquityPoint>>,
}

impl Pending {
    fn add(&mut self, (account, points): Job) {
        let held = self.points.entry(account.clone()).or_insert_with(|| {
            self.order.push(account);
            Vec::new()
        });
        held.extend(points);
        let excess = held.len().saturating_sub(samples::KEEP);
        held.drain(..excess);
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn accounts(&self) -> usize {
        self.order.len()
    }

    /// The first `n` accounts' samples, taken out.
    fn take(&mut self, n: usize) -> Vec<Job> {
        let n = n.min(self.order.len());
        self.order
            .drain(..n)
            .map(|account| {
                let points = self.points.remove(&account).unwrap_or_default();
                (account, points)
            })
            .collect()
    }

    /// Puts back what could not be written, ahead of what came meanwhile.
    fn restore(&mut self, failed: Vec<Job>) {
        let mut later = std::mem::take(self);
        for job in failed {
            self.add(job);
        }
        for account in later.order.drain(..) {
            if let Some(points) = later.points.remove(&account) {
                self.add((account, points));
            }
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    shutdown: CancellationToken,
    writer: Arc<ChartWriter>,
) {
    let mut pending = Pending::default();
    let mut closing = false;
    let mut pause = Duration::ZERO;
    // After a failure: no new attempt before then (samples that come meanwhile wait).
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let ready = !pending.is_empty() && retry_at.is_none();
        if !ready {
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => pending.add(job),
                    // Every sink is gone (shutdown, every tracker stopped): what is left is
                    // written, a few more tries, and the writer ends.
                    None => {
                        if !write_all(store.as_ref(), &mut pending).await {
                            tracing::error!(
                                accounts = pending.accounts(),
                                "equity samples could not be written before shutdown"
                            );
                        }
                        break;
                    }
                },
                () = shutdown.cancelled(), if !closing => {
                    closing = true;
                    writer.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
                }
                () = tokio::time::sleep_until(retry_at.unwrap_or_else(tokio::time::Instant::now)),
                    if retry_at.is_some() => retry_at = None,
            }
            continue;
        }
        while pending.accounts() < BATCH_ACCOUNTS {
            match jobs.try_recv() {
                Ok(job) => pending.add(job),
                Err(_) => break,
            }
        }
        let batch = pending.take(BATCH_ACCOUNTS);
        let Err(error) = store.append_samples_batch(&batch).await else {
            pause = Duration::ZERO;
            continue;
        };
        tracing::error!(
            accounts = batch.len(),
            %error,
            "cannot write equity samples; trying each account on its own"
        );
        let mut failed = Vec::new();
        for (account, points) in batch {
            if let Err(error) = store.append_samples(&account, &points).await {
                tracing::error!(%account, %error, "cannot write equity samples; will retry");
                failed.push((account, points));
            }
        }
        if failed.is_empty() {
            pause = Duration::ZERO;
        } else {
            pending.restore(failed);
            pause = (pause * 2).clamp(Duration::from_millis(200), MAX_PAUSE);
            retry_at = Some(tokio::time::Instant::now() + pause);
        }
    }
}

/// Writes everything pending, trying a few times; whether all was written.
async fn write_all(store: &dyn Store, pending: &mut Pending) -> bool {
    for attempt in 0..5u32 {
        while !pending.is_empty() {
            let batch = pending.take(BATCH_ACCOUNTS);
            if let Err(error) = store.append_samples_batch(&batch).await {
                tracing::warn!(%error, attempt, "cannot write equity samples at shutdown yet");
                pending.restore(batch);
                break;
            }
        }
        if pending.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200) * (attempt + 1)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::samples::tests::point;

    fn times(jobs: &[Job]) -> Vec<(String, Vec<i64>)> {
        jobs.iter()
            .map(|(a, p)| {
                (
                    a.to_string(),
                    p.iter().map(|p| p.time.timestamp()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn pending_samples_keep_each_accounts_order_and_failures_go_first() {
        let mut pending = Pending::default();
        pending.add((AccountId::from("a"), vec![point(1), point(2)]));
        pending.add((AccountId::from("b"), vec![point(1)]));
        pending.add((AccountId::from("a"), vec![point(3)]));
        let first = pending.take(1);
        assert_eq!(times(&first), [("a".to_owned(), vec![1, 2, 3])]);
        pending.add((AccountId::from("a"), vec![point(4)]));
        // The write of a's 1..3 failed: they go back before a's 4, and before b.
        pending.restore(first);
        assert_eq!(
            times(&pending.take(10)),
            [
                ("a".to_owned(), vec![1, 2, 3, 4]),
                ("b".to_owned(), vec![1])
            ]
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn an_account_keeps_at_most_an_hour_of_samples_while_writes_fail() {
        let mut pending = Pending::default();
        let many: Vec<EquityPoint> = (0..samples::KEEP as i64 + 10).map(point).collect();
        pending.add((AccountId::from("a"), many));
        let kept = pending.take(1);
        assert_eq!(kept[0].1.len(), samples::KEEP);
        assert_eq!(kept[0].1[0].time.timestamp(), 10, "the newest are kept");
    }
}
