-- Every statement for disputes the firm issued (issue 24): which account, the SHA-256 of its
-- JSON (64 lower-case hex digits), when it was generated and who asked for it, so the firm can
-- later confirm that a file is one it issued (`riskdeck statement verify`). The statement
-- itself is not kept: its hash is enough to recognise it. Append-only, like all evidence.
CREATE TABLE statements (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT    NOT NULL,
    sha256           TEXT    NOT NULL,
    generated_at_ms  INTEGER NOT NULL,
    generated_by     TEXT    NOT NULL
);
CREATE INDEX statements_sha256 ON statements (sha256);
CREATE INDEX statements_account ON statements (account_id, id);

CREATE TRIGGER statements_no_update BEFORE UPDATE ON statements
BEGIN
    SELECT RAISE(ABORT, 'statements is append-only');
END;

CREATE TRIGGER statements_no_delete BEFORE DELETE ON statements
BEGIN
    SELECT RAISE(ABORT, 'statements is append-only');
END;
