-- The risk engine's state per account's challenge (serde JSON of shared::engine::Challenge).
CREATE TABLE challenge_state (
    account_id    TEXT PRIMARY KEY NOT NULL,
    state         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- Warnings, breaches, objectives met, passes and failures: append-only, with their evidence.
CREATE TABLE challenge_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT    NOT NULL,
    t_ms       INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    rule       TEXT,
    body       TEXT    NOT NULL
);
CREATE INDEX challenge_events_account ON challenge_events (account_id, id);
