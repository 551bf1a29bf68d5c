-- Accounts an admin created at runtime (`POST /api/accounts`), with how to track them, so they
-- are tracked again at every start. The configuration's accounts are not here. A MetaApi
-- account's token is in broker_connections (sealed); a demo account names one of the built-in
-- demo broker's accounts (its address and token change at every start).
CREATE TABLE account_setups (
    account_id          TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    connection          TEXT    NOT NULL,
    external_account_id TEXT    NOT NULL,
    preset              TEXT    NOT NULL,
    initial_balance     TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at_ms       BIGINT  NOT NULL
);
