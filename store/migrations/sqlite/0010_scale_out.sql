-- Scale-out: the tables are the same as on PostgreSQL, but a SQLite database serves one instance,
-- which always takes the leases (see backend::lease). The challenge's rule set link applies alike.
CREATE TABLE account_leases (
    account_id    TEXT    PRIMARY KEY NOT NULL,
    holder        TEXT    NOT NULL,
    generation    INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- The running instances, each renewing its row like a lease: how many are alive decides each
-- one's fair share of the accounts.
CREATE TABLE instances (
    id            TEXT    PRIMARY KEY NOT NULL,
    started_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- Live views too large for a NOTIFY payload: the notification names the account and listeners
-- read the view here. One row per account, replaced by each such update.
CREATE TABLE live_views (
    account_id    TEXT    PRIMARY KEY NOT NULL,
    body          TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- A challenge names the version of its account's rule set it is measured against (none until
-- one is linked).
ALTER TABLE challenge_state ADD COLUMN rule_set_version INTEGER;
