-- cTrader connections an admin created (`POST /api/accounts`): besides the account owner's
-- access token (in sealed_token), the Open API application's client id (not a secret) and its
-- client secret, sealed like the token (AES-256-GCM under secret_key, with the account id and
-- the field's name as associated data, so the two sealed values cannot be swapped). Both are
-- NULL for MetaApi connections. In account_setups, such an account's connection is `ctrader`
-- and its external_account_id the ctidTraderAccountId.
ALTER TABLE broker_connections ADD COLUMN client_id TEXT;
ALTER TABLE broker_connections ADD COLUMN sealed_client_secret TEXT;
