-- Rule sets per account, versioned 1, 2, 3, ...; each version applies from its effective-from
-- instant. The rules are JSON (shared::engine's rule set format). Versions never change.
CREATE TABLE rule_sets (
    account_id        TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    effective_from_ms INTEGER NOT NULL,
    rules             TEXT    NOT NULL,
    created_by        TEXT    NOT NULL,
    created_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TRIGGER rule_sets_no_update BEFORE UPDATE ON rule_sets
BEGIN
    SELECT RAISE(ABORT, 'rule_sets is append-only');
END;

CREATE TRIGGER rule_sets_no_delete BEFORE DELETE ON rule_sets
BEGIN
    SELECT RAISE(ABORT, 'rule_sets is append-only');
END;
