-- cTrader access tokens last about 30 days and are refreshed with the refresh token (which
-- does not expire, but may be replaced by the refresh): the refresh token is sealed like the
-- other secrets (AES-256-GCM under secret_key, associated data `{account}/refresh_token`), and
-- the access token's expiry and the last refresh are kept for the admin console. NULL: no
-- refresh token, or not refreshed yet (the expiry is known only from a refresh).
ALTER TABLE broker_connections ADD COLUMN sealed_refresh_token TEXT;
ALTER TABLE broker_connections ADD COLUMN token_expires_at_ms BIGINT;
ALTER TABLE broker_connections ADD COLUMN token_refreshed_at_ms BIGINT;
