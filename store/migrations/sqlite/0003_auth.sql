-- People who sign in. `username_key` is the lower-case username, so names are unique without
-- regard to case; the password is an Argon2id PHC string, never the password itself.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('trader', 'admin')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms INTEGER NOT NULL
);

-- Server-side sessions. Only the SHA-256 of the session token is stored: a copy of this table
-- does not let anyone sign in.
CREATE TABLE sessions (
    token_hash    TEXT    PRIMARY KEY NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at_ms);

-- Tracked accounts and who owns them (upserted from the configuration at start-up).
CREATE TABLE accounts (
    id            TEXT    PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL,
    owner_user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX accounts_owner ON accounts (owner_user_id);
