-- Rule sets per account, versioned 1, 2, 3, ...; each version applies from its effective-from
-- instant. The rules are JSON (shared::engine's rule set format). Versions never change.
CREATE TABLE rule_sets (
    account_id        TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    effective_from_ms BIGINT NOT NULL,
    rules             TEXT   NOT NULL,
    created_by        TEXT   NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TRIGGER rule_sets_append_only BEFORE UPDATE OR DELETE ON rule_sets
    FOR EACH ROW EXECUTE FUNCTION riskdeck_append_only();
