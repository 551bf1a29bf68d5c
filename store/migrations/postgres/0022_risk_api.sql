-- MetaApi's risk management API, served by Riskdeck (docs/METAAPI-RISK-API.md).
--
-- API tokens: what an application sends as `auth-token`. Only a SHA-256 of the secret is kept
-- (the secret is shown once, when an admin creates it); each token sees only the accounts listed
-- (a JSON array of account ids). A revoked token stays listed, with when it was revoked.
CREATE TABLE api_tokens (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    secret_hash      TEXT NOT NULL UNIQUE,
    accounts_json    TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at_ms    BIGINT NOT NULL,
    last_used_at_ms  BIGINT,
    revoked_at_ms    BIGINT
);

-- Trackers: a tracker's definition as MetaApi writes it (spec_json, camelCase, with its name),
-- its name again for the per-account uniqueness MetaApi's API keeps, where its windows count
-- from (broker time text), and the run's statistics (state_json, saved as it changes).
CREATE TABLE risk_trackers (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    spec_json      TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    state_json     TEXT,
    UNIQUE (account_id, name)
);

-- Tracker events: a threshold crossed in a period, numbered across every account (the
-- sequence number MetaApi's long poll resumes from). Kept after their tracker is deleted.
CREATE TABLE risk_tracker_events (
    sequence_number  BIGSERIAL PRIMARY KEY,
    account_id       TEXT NOT NULL,
    tracker_id       TEXT NOT NULL,
    broker_time      TEXT NOT NULL,
    body_json        TEXT NOT NULL,
    created_at_ms    BIGINT NOT NULL
);
CREATE INDEX risk_tracker_events_account ON risk_tracker_events (account_id, broker_time);
