-- Scale-out: several instances share one database and each account is tracked by exactly one of
-- them, the holder of its lease. A holder renews its lease before `expires_at_ms`; once it has
-- expired another instance may take it, which increases `generation` (the fencing token). Every
-- save of a challenge checks, in its own transaction, that its instance still holds the lease at
-- the generation it took, so an instance that lost its lease can no longer record anything.
CREATE TABLE account_leases (
    account_id    TEXT   PRIMARY KEY NOT NULL,
    holder        TEXT   NOT NULL,
    generation    BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- The running instances, each renewing its row like a lease: how many are alive decides each
-- one's fair share of the accounts.
CREATE TABLE instances (
    id            TEXT   PRIMARY KEY NOT NULL,
    started_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- Live views too large for a NOTIFY payload: the notification names the account and listeners
-- read the view here. One row per account, replaced by each such update.
CREATE TABLE live_views (
    account_id    TEXT   PRIMARY KEY NOT NULL,
    body          TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- A challenge names the version of its account's rule set it is measured against (none until
-- one is linked).
ALTER TABLE challenge_state ADD COLUMN rule_set_version BIGINT;
