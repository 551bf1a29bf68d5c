-- How an admin-created MetaApi account is followed: `streaming` (MetaApi's streaming API, the
-- default) or `rest` (polling). Accounts created before default to streaming.
ALTER TABLE account_setups ADD COLUMN transport TEXT NOT NULL DEFAULT 'streaming';
