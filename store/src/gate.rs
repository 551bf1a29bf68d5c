//! One writer at a time, in order, with breaches first: SQLite has one write lock per file,
//! and connections that find it taken sleep in its busy handler (1 ms, then longer, up to
//! 100 ms a try) and retry in no order, so under a thousand writes a second a write can wait
//! seconds while later ones pass it. In process, writers queue here instead (a fair queue, no
//! sleeping) and reach the file one after another. A write that carries challenge events (a
//! breach, a pass) is `urgent`: the routine writes (samples, peaks, checkpoints) queued
//! before it step aside. PostgreSQL locks rows, not the database: its gate lets every write
//! through.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, MutexGuard, Notify};

/// The queue of writers of one database.
#[derive(Debug)]
pub(crate) struct WriteGate {
    /// `None`: every write goes through at once (PostgreSQL).
    lock: Option<Mutex<()>>,
    /// Urgent writers waiting or writing.
    urgent: AtomicUsize,
    /// Wakes routine writers when no urgent one is left.
    clear: Notify,
}

/// Held while writing; the next writer enters when it drops.
#[derive(Debug)]
pub(crate) struct Entered<'a> {
    _turn: Option<MutexGuard<'a, ()>>,
    urgent: Option<&'a WriteGate>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.urgent
            && gate.urgent.fetch_sub(1, Ordering::AcqRel) == 1
        {
            gate.clear.notify_waiters();
        }
    }
}

impl WriteGate {
    /// A gate that queues writers (SQLite).
    pub(crate) fn serial() -> Self {
        Self::with(Some(Mutex::new(())))
    }

    /// A gate that lets every writer through (PostgreSQL).
    pub(crate) fn open() -> Self {
        Self::with(None)
    }

    fn with(lock: Option<Mutex<()>>) -> Self {
        WriteGate {
            lock,
            urgent: AtomicUsize::new(0),
            clear: Notify::new(),
        }
    }

    /// Waits for this writer's turn: an urgent one after the writers queued before it (which
    /// step aside at once) and the one writing now; a routine one in order after the writers
    /// queued before it, and after every urgent one.
    pub(crate) async fn enter(&self, urgent: bool) -> Entered<'_> {
        let Some(lock) = &self.lock else {
            return Entered {
                _turn: None,
                urgent: None,
            };
        };
        if urgent {
            self.urgent.fetch_add(1, Ordering::AcqRel);
            return Entered {
                _turn: Some(lock.lock().await),
                urgent: Some(self),
            };
        }
        loop {
            // Registered before the check, so that the last urgent writer's wake-up between
            // the check and the wait is not missed.
            let clear = self.clear.notified();
            if self.urgent.load(Ordering::Acquire) > 0 {
                clear.await;
                continue;
            }
            let turn = lock.lock().await;
            if self.urgent.load(Ordering::Acquire) == 0 {
                return Entered {
                    _turn: Some(turn),
                    urgent: None,
                };
            }
            // An urgent writer queued meanwhile: it goes first.
            drop(turn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn writers_go_one_at_a_time_and_urgent_ones_first() {
        let gate = Arc::new(WriteGate::serial());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = gate.enter(false).await;
        let mut waiting = Vec::new();
        for (name, urgent) in [("a", false), ("b", false), ("breach", true), ("c", false)] {
            let (gate, order) = (gate.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = gate.enter(urgent).await;
                order.lock().expect("lock").push(name);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }));
            // Each queues before the next is spawned.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(first);
        for task in waiting {
            task.await.expect("writer");
        }
        let mut order = order.lock().expect("lock").clone();
        assert_eq!(order.first(), Some(&"breach"), "{order:?}");
        order.sort_unstable();
        assert_eq!(order, ["a", "b", "breach", "c"], "every one wrote once");

        // PostgreSQL's lets everyone through together.
        let open = WriteGate::open();
        let _one = open.enter(false).await;
        let _two = open.enter(true).await;
    }
}
