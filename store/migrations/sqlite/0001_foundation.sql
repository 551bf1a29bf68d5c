-- Numbers the broker does not keep, per tracked account. Money is stored as exact decimal text.
CREATE TABLE account_peaks (
    account_id       TEXT PRIMARY KEY NOT NULL,
    starting_capital TEXT,
    peak_balance     TEXT,
    peak_equity      TEXT,
    updated_at_ms    INTEGER NOT NULL
);

-- Raw equity samples for the equity curve.
CREATE TABLE equity_samples (
    account_id TEXT    NOT NULL,
    t_ms       INTEGER NOT NULL,
    balance    TEXT    NOT NULL,
    equity     TEXT    NOT NULL
);
CREATE INDEX equity_samples_account_time ON equity_samples (account_id, t_ms);
