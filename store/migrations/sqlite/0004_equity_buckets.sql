-- The equity curve in time buckets, one row per account, tier (resolution) and bucket start:
-- sample count, first and last sample time, and open, close, minimum and maximum of balance and
-- equity as exact decimal text, so no peak or trough is lost at any resolution. The tiers and how
-- long each is kept: backend::db::buckets::TIERS and docs/OPERATIONS.md.
--
-- equity_samples (0001) is no longer written: the server folds any rows left in it into buckets
-- when it opens the database, then deletes them.
CREATE TABLE equity_buckets (
    account_id    TEXT    NOT NULL,
    resolution_ms INTEGER NOT NULL,
    start_ms      INTEGER NOT NULL,
    first_ms      INTEGER NOT NULL,
    last_ms       INTEGER NOT NULL,
    samples       INTEGER NOT NULL,
    balance_open  TEXT    NOT NULL,
    balance_close TEXT    NOT NULL,
    balance_min   TEXT    NOT NULL,
    balance_max   TEXT    NOT NULL,
    equity_open   TEXT    NOT NULL,
    equity_close  TEXT    NOT NULL,
    equity_min    TEXT    NOT NULL,
    equity_max    TEXT    NOT NULL,
    PRIMARY KEY (account_id, resolution_ms, start_ms)
) WITHOUT ROWID;

-- Retention prunes a tier's old buckets across all accounts.
CREATE INDEX equity_buckets_age ON equity_buckets (resolution_ms, start_ms);
