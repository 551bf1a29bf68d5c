//! Push ingestion: a bridge (a MetaTrader expert advisor, a script) posts the JSON Lines records
//! `riskdeck replay` reads to `POST /api/ingest/{account}` with the account's ingest token,
//! instead of Riskdeck polling a broker for it.
//!
//! A batch is parsed whole before anything of it is used: one malformed line refuses the batch
//! (400, naming the line) and nothing of it is kept, so the sender fixes it and sends it again;
//! so does a record dated more than [`MAX_CLOCK_SKEW`] ahead of the server's clock (422).
//! Only records the engine accepts move what is shown (peaks, the chart, the latest numbers):
//! a refused one is reported and changes nothing.
//! A good batch is journaled, fed to the account's engine in order, and stored with its events
//! in one transaction before the reply: a 200 means durable. Resending a batch is safe (a
//! timeout or a 503 leave the sender unsure): deals are fed once, by id, and account
//! information, positions and prices are states, not increments.

use broker::replay::parse_line;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use shared::api::IngestResponse;
use shared::domain::AccountId;
use shared::engine::Record;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

/// The largest body a push may carry.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The most records one push may carry.
pub const MAX_BATCH_RECORDS: usize = 10_000;

/// Batches waiting for an account's tracker before a push is told to retry.
const QUEUE: usize = 8;

/// How far ahead of the server's clock a pushed record may be dated (the sender's clock may
/// run a little fast). A record dated further ahead refuses its batch: accepted, it would
/// close days not yet begun and make every real record after it look old.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// The shortest ingest token accepted in the configuration.
pub const MIN_TOKEN_CHARS: usize = 32;

/// One pushed record, with its line as sent (the journal keeps it byte for byte).
#[derive(Debug)]
pub struct Pushed {
    /// The record for the engine.
    pub record: Record,
    /// The JSON Lines line it came from.
    pub line: String,
    /// Its line number in the body (from 1).
    pub number: u32,
}

/// A parsed batch on its way to the account's tracker, with where the outcome goes.
#[derive(Debug)]
pub struct Batch {
    /// The records, in the order sent.
    pub records: Vec<Pushed>,
    /// The tracker's answer.
    pub reply: oneshot::Sender<Result<IngestResponse, NotStored>>,
}

/// The batch was applied in memory but could not be stored yet (the database is unavailable).
/// Sending it again is safe and is how the sender makes sure it is kept.
#[derive(Debug, thiserror::Error)]
#[error("the records were received but could not be stored yet")]
pub struct NotStored;

/// Parses a JSON Lines body: every non-blank line must be a record, or the whole batch is
/// refused with the first bad line's number and reason.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Pushed>, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "the body is not UTF-8 text: send one JSON record per line".to_owned())?;
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if records.len() == MAX_BATCH_RECORDS {
            return Err(format!(
                "a push holds at most {MAX_BATCH_RECORDS} records: split the batch"
            ));
        }
        let record =
            parse_line(line).map_err(|message| format!("line {}: {message}", index + 1))?;
        records.push(Pushed {
            record,
            line: line.to_owned(),
            number: u32::try_from(index + 1).unwrap_or(u32::MAX),
        });
    }
    if records.is_empty() {
        return Err(
            "the body holds no records: send one JSON record per line, as `riskdeck replay` \
             reads them"
                .to_owned(),
        );
    }
    Ok(records)
}

/// Refuses a batch holding a record dated more than [`MAX_CLOCK_SKEW`] after `now` (the
/// server's clock), naming the first such line.
pub fn check_times(records: &[Pushed], now: DateTime<Utc>) -> Result<(), String> {
    let limit = now + MAX_CLOCK_SKEW;
    match records.iter().find(|pushed| pushed.record.time > limit) {
        None => Ok(()),
        Some(pushed) => Err(format!(
            "line {}: the record is dated {}, more than {} minutes ahead of the server's clock \
             ({}); nothing of the batch was kept: check the sender's clock and send it again",
            pushed.number,
            pushed
                .record
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            MAX_CLOCK_SKEW.num_minutes(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )),
    }
}

/// The accounts fed by pushes: each one's token (as a digest) and its tracker's queue.
#[derive(Debug, Default)]
pub struct Registry {
    accounts: HashMap<AccountId, Entry>,
}

#[derive(Debug)]
struct Entry {
    token_digest: [u8; 32],
    batches: mpsc::Sender<Batch>,
}

/// Why a push cannot be handed to its account's tracker.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such push account, or the token is not its token (indistinguishable on purpose).
    Unauthorized,
    /// The tracker has too many batches waiting.
    Busy,
    /// The server is shutting down.
    Stopped,
}

impl Registry {
    /// Registers `account` as fed by pushes carrying `token`; returns the queue its tracker
    /// reads.
    pub fn register(&mut self, account: AccountId, token: &str) -> mpsc::Receiver<Batch> {
        let (batches, receiver) = mpsc::channel(QUEUE);
        self.accounts.insert(
            account,
            Entry {
                token_digest: digest(token),
                batches,
            },
        );
        receiver
    }

    /// Whether `bearer` is `account`'s ingest token (compared in constant time).
    pub fn authorized(&self, account: &AccountId, bearer: Option<&str>) -> bool {
        let Some(bearer) = bearer else {
            return false;
        };
        self.accounts
            .get(account)
            .is_some_and(|entry| bool::from(entry.token_digest.ct_eq(&digest(bearer))))
    }

    /// Queues `records` for `account`'s tracker when `bearer` is its token; the receiver
    /// answers once the batch is stored.
    pub fn submit(
        &self,
        account: &AccountId,
        bearer: Option<&str>,
        records: Vec<Pushed>,
    ) -> Result<oneshot::Receiver<Result<IngestResponse, NotStored>>, Refusal> {
        if !self.authorized(account, bearer) {
            return Err(Refusal::Unauthorized);
        }
        let entry = self.accounts.get(account).ok_or(Refusal::Unauthorized)?;
        let (reply, answer) = oneshot::channel();
        match entry.batches.try_send(Batch { records, reply }) {
            Ok(()) => Ok(answer),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Refusal::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refusal::Stopped),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token from an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"{"time":"2026-01-12T09:00:00Z","accountInformation":{"balance":100000,"equity":99950.5,"currency":"USD"}}"#;

    #[test]
    fn a_batch_is_parsed_whole_or_refused_naming_the_line() {
        let body = format!("{INFO}\n\n{INFO}\r\n");
        assert_eq!(parse_batch(body.as_bytes()).expect("parsed").len(), 2);
        let refused = parse_batch(format!("{INFO}\nnot json\n").as_bytes()).expect_err("bad");
        assert!(refused.starts_with("line 2: "), "{refused}");
        assert!(
            parse_batch(b"\n \n")
                .expect_err("empty")
                .contains("no records")
        );
        assert!(
            parse_batch(&[0xff, 0xfe])
                .expect_err("binary")
                .contains("UTF-8")
        );
    }

    #[test]
    fn only_the_accounts_own_token_is_accepted() {
        let mut registry = Registry::default();
        let account = AccountId::from("bridge");
        let _queue = registry.register(account.clone(), "a-token-long-enough-to-be-accepted!");
        assert!(registry.authorized(&account, Some("a-token-long-enough-to-be-accepted!")));
        assert!(!registry.authorized(&account, Some("a-token-long-enough-to-be-accepted")));
        assert!(!registry.authorized(&account, None));
        assert!(!registry.authorized(
            &AccountId::from("other"),
            Some("a-token-long-enough-to-be-accepted!")
        ));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }

    #[tokio::test]
    async fn a_full_queue_says_busy_and_a_stopped_tracker_says_stopped() {
        let mut registry = Registry::default();
        let account = AccountId::from("bridge");
        let token = "a-token-long-enough-to-be-accepted!";
        let queue = registry.register(account.clone(), token);
        let batch = || parse_batch(INFO.as_bytes()).expect("parsed");
        for _ in 0..QUEUE {
            registry
                .submit(&account, Some(token), batch())
                .expect("queued");
        }
        assert_eq!(
            registry.submit(&account, Some(token), batch()).err(),
            Some(Refusal::Busy)
        );
        drop(queue);
        assert_eq!(
            registry.submit(&account, Some(token), batch()).err(),
            Some(Refusal::Stopped)
        );
        assert_eq!(
            registry.submit(&account, Some("wrong"), batch()).err(),
            Some(Refusal::Unauthorized)
        );
    }
}
