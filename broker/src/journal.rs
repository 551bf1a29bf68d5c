//! The journal: every record pulled from a broker or pushed to the server, appended per account in the replay format
//! (`{"time": ..., "accountInformation" | "positions" | "deal" | "price" | "specification": ...}`,
//! the broker's own JSON kept byte for byte), so any decision can be replayed with
//! `riskdeck replay`.
//!
//! Files are `<dir>/<account>.jsonl`; when one passes the size limit it is renamed
//! `<account>.<unix-ms>.jsonl` and a new one is started, and rotated files beyond the newest
//! `keep_files` are deleted (docs/OPERATIONS.md). Writing never stops tracking: a failure is
//! logged and the poll goes on.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Size after which a journal file is rotated.
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;

/// Rotated files kept per account unless configured otherwise.
pub const KEEP_FILES: usize = 10;

/// What kind of record a line holds (its JSON key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AccountInformation,
    Positions,
    Deal,
    Price,
    Specification,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::AccountInformation => "accountInformation",
            Kind::Positions => "positions",
            Kind::Deal => "deal",
            Kind::Price => "price",
            Kind::Specification => "specification",
        }
    }
}

/// One account's append-only journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    account: String,
    rotate_bytes: u64,
    keep_files: usize,
    file: Mutex<Option<(File, u64)>>,
}

impl Journal {
    /// A journal for `account` in `dir` (created when first written).
    pub fn new(dir: &Path, account: &str) -> Self {
        Self {
            path: dir.join(format!("{account}.jsonl")),
            account: account.to_owned(),
            rotate_bytes: ROTATE_BYTES,
            keep_files: KEEP_FILES,
            file: Mutex::new(None),
        }
    }

    /// Keeps the newest `keep` rotated files (at least one) and deletes older ones at rotation.
    pub fn keep_files(mut self, keep: usize) -> Self {
        self.keep_files = keep.max(1);
        self
    }

    /// Where the current file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record whose body is the broker's JSON, as received.
    pub fn append(&self, time: DateTime<Utc>, kind: Kind, raw_json: &[u8]) {
        if let Err(error) = self.try_append(time, kind, raw_json) {
            tracing::error!(path = %self.path.display(), %error, "cannot write the journal");
        }
    }

    /// Appends every element of a JSON array as its own record (deal history pages), all at
    /// `time`, the moment they were pulled: the order in which the server saw them.
    pub fn append_each(&self, time: DateTime<Utc>, kind: Kind, raw_array: &[u8]) {
        let Ok(items) = serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(raw_array)
        else {
            return;
        };
        for item in items {
            self.append(time, kind, item.get().as_bytes());
        }
    }

    /// Appends a pushed record: a whole line in the replay format, kept as sent (it was parsed
    /// as a record before it got here).
    pub fn append_line(&self, record_line: &str) {
        let mut line = Vec::with_capacity(record_line.len() + 1);
        line.extend(record_line.bytes().filter(|b| *b != b'\n' && *b != b'\r'));
        line.push(b'\n');
        if let Err(error) = self.write_line(&line) {
            tracing::error!(path = %self.path.display(), %error, "cannot write the journal");
        }
    }

    fn try_append(&self, time: DateTime<Utc>, kind: Kind, raw_json: &[u8]) -> std::io::Result<()> {
        // Only well-formed JSON goes in, so the journal always replays.
        if serde_json::from_slice::<serde::de::IgnoredAny>(raw_json).is_err() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the broker's body is not JSON",
            ));
        }
        let mut line = Vec::with_capacity(raw_json.len() + 64);
        line.extend_from_slice(b"{\"time\":\"");
        line.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes());
        line.extend_from_slice(b"\",\"");
        line.extend_from_slice(kind.key().as_bytes());
        line.extend_from_slice(b"\":");
        line.extend(
            raw_json
                .iter()
                .copied()
                .filter(|b| *b != b'\n' && *b != b'\r'),
        );
        line.extend_from_slice(b"}\n");
        self.write_line(&line)
    }

    /// Appends one complete line, rotating first when the file is full.
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard
            .as_ref()
            .is_some_and(|(_, size)| *size >= self.rotate_bytes)
        {
            *guard = None;
            // Never onto an existing file: two rotations within a millisecond get two names.
            let mut stamp = Utc::now().timestamp_millis();
            let mut rotated = self.path.with_extension(format!("{stamp}.jsonl"));
            while rotated.exists() {
                stamp += 1;
                rotated = self.path.with_extension(format!("{stamp}.jsonl"));
            }
            std::fs::rename(&self.path, rotated)?;
            self.trim_rotated();
        }
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = file.metadata()?.len();
            *guard = Some((file, size));
        }
        if let Some((file, size)) = guard.as_mut() {
            file.write_all(line)?;
            *size += line.len() as u64;
        }
        Ok(())
    }
}

impl Journal {
    /// This account's rotated files (`<account>.<unix-ms>.jsonl`), oldest first.
    pub fn rotated_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let Some(dir) = self.path.parent() else {
            return Ok(Vec::new());
        };
        let prefix = format!("{}.", self.account);
        let mut found: Vec<(i64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let stamp = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_prefix(&prefix))
                .and_then(|rest| rest.strip_suffix(".jsonl"))
                .and_then(|stamp| stamp.parse::<i64>().ok());
            if let Some(stamp) = stamp {
                found.push((stamp, path));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    /// Deletes rotated files beyond the newest `keep_files`; a failure is logged, not fatal.
    fn trim_rotated(&self) {
        let rotated = match self.rotated_files() {
            Ok(rotated) => rotated,
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot list rotated journals");
                return;
            }
        };
        let excess = rotated.len().saturating_sub(self.keep_files);
        for old in &rotated[..excess] {
            match std::fs::remove_file(old) {
                Ok(()) => tracing::info!(path = %old.display(), "deleted an old journal file"),
                Err(error) => {
                    tracing::warn!(path = %old.display(), %error, "cannot delete an old journal");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_replay_and_files_rotate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut journal = Journal::new(dir.path(), "acc");
        journal.rotate_bytes = 200;
        let t = DateTime::<Utc>::UNIX_EPOCH;
        for _ in 0..5 {
            journal.append(
                t,
                Kind::AccountInformation,
                b"{\"balance\":1,\n\"equity\":2,\"currency\":\"USD\"}",
            );
        }
        journal.append(t, Kind::Positions, b"not json");
        let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(files.len() >= 2, "rotated into several files");
        let text = std::fs::read_to_string(journal.path()).expect("current file");
        for line in text.lines() {
            crate::replay::parse_line(line).expect("every journal line replays");
        }
    }

    #[test]
    fn only_the_newest_rotated_files_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut journal = Journal::new(dir.path(), "acc").keep_files(2);
        journal.rotate_bytes = 100;
        // Another account's rotated file, whose name starts alike, is never touched.
        let other = dir.path().join("acc-2.1.jsonl");
        std::fs::write(&other, "{}\n").expect("other account");
        let t = DateTime::<Utc>::UNIX_EPOCH;
        let mut seen = Vec::new();
        for i in 0..12 {
            journal.append(
                t,
                Kind::Positions,
                format!("[{i}]").repeat(20).replace("][", ",").as_bytes(),
            );
            seen.extend(journal.rotated_files().expect("list"));
        }
        seen.sort();
        seen.dedup();
        let kept = journal.rotated_files().expect("list");
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(
            seen.len() > 2,
            "older files existed and were deleted: {seen:?}"
        );
        assert_eq!(&kept[..], &seen[seen.len() - 2..], "the newest are kept");
        assert!(other.exists());
        assert!(journal.path().exists());
    }
}
