-- How to reach each account's broker. The token is stored sealed (AES-256-GCM under the
-- configured secret_key, the account id as associated data): `v1.` + base64(nonce, ciphertext,
-- tag). The plaintext never reaches the database and no API returns it.
CREATE TABLE broker_connections (
    account_id          TEXT PRIMARY KEY NOT NULL,
    platform            TEXT    NOT NULL,
    base_url            TEXT    NOT NULL,
    external_account_id TEXT    NOT NULL,
    sealed_token        TEXT    NOT NULL,
    created_at_ms       BIGINT  NOT NULL,
    updated_at_ms       BIGINT  NOT NULL
);
